//! One connection per member pair: the handshake, the writer that batches
//! both lanes into sealed frames (control first), and the reader that hands
//! what arrives to local actors, waiting asks and the `Remote` actor.
//!
//! The member with the lower id dials, the other accepts, so a pair never
//! holds two connections. A peer's session outlives its connections: its
//! lanes keep their envelopes across a reconnect, and it ends when the peer is
//! gone (its lanes close).

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use actix::Addr;
use actix_cluster_proto::{Keyring, MemberId};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tracing::{debug, info_span, warn, Instrument};

use crate::config::RemoteConfig;
use crate::control::Control;
use crate::crypto::{self, CryptoError, Direction, FrameKey, TAG_LEN};
use crate::envelope::{Envelope, EnvelopeError, FrameBuilder, FrameReader, Kind, FRAME_HEADER};
use crate::error::{AskError, FailureCode};
use crate::hello::{read_hello, write_hello, Hello};
use crate::registry::OwnerWire;
use crate::remote::{FromPeer, Remote};
use crate::shared::{failure, Delivery, Outgoing, ReplyTo, Shared};

/// How often a connection checks that its key is still installed.
const KEY_CHECK: std::time::Duration = std::time::Duration::from_secs(1);

/// What every session needs.
pub(crate) struct Env {
    pub(crate) shared: Arc<Shared>,
    pub(crate) config: RemoteConfig,
    pub(crate) cluster_name: String,
    pub(crate) remote: Addr<Remote>,
    pub(crate) keyring: Mutex<Option<Keyring>>,
}

impl Env {
    fn keyring(&self) -> Option<Keyring> {
        self.keyring
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Follows the cluster's keyring (rotation).
    pub(crate) fn set_keyring(&self, keyring: Option<Keyring>) {
        *self.keyring.lock().unwrap_or_else(|e| e.into_inner()) = keyring;
    }
}

/// A connection from a peer that passed the handshake.
#[derive(Debug)]
pub(crate) struct Accepted {
    stream: TcpStream,
    keys: Keys,
    /// The largest payload the peer accepts.
    peer_max: usize,
    /// The cluster key the connection's keys derive from.
    key_id: Option<u32>,
}

#[derive(Debug)]
struct Keys {
    send: Option<FrameKey>,
    recv: Option<FrameKey>,
}

/// Why a connection ended.
#[derive(Debug, thiserror::Error)]
enum ConnError {
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    #[error("handshake: {0}")]
    Hello(#[from] crate::hello::HelloError),
    #[error("frame of {0} bytes exceeds the limit")]
    FrameTooLarge(usize),
    #[error("{0}")]
    Crypto(#[from] CryptoError),
    #[error("refused: {0}")]
    Refused(String),
    #[error("the peer's lanes closed")]
    Closed,
}

fn own_wire(id: &MemberId) -> OwnerWire {
    OwnerWire {
        name: id.name.clone(),
        addr: id.addr,
        generation: id.generation,
    }
}

fn wire_id(w: &OwnerWire) -> MemberId {
    MemberId::new(w.name.clone(), w.addr, w.generation)
}

// ---- frames ----------------------------------------------------------------

async fn write_frame(
    w: &mut OwnedWriteHalf,
    key: &mut Option<FrameKey>,
    mut plain: Vec<u8>,
) -> Result<usize, ConnError> {
    let sealed_len = plain.len() + if key.is_some() { TAG_LEN } else { 0 };
    let prefix = (sealed_len as u32).to_be_bytes();
    let mut buf = Vec::with_capacity(4 + sealed_len);
    buf.extend_from_slice(&prefix);
    buf.append(&mut plain);
    if let Some(k) = key {
        k.seal(&mut buf, 4)?;
    }
    w.write_all(&buf).await?;
    Ok(buf.len())
}

async fn read_frame(
    r: &mut OwnedReadHalf,
    key: &mut Option<FrameKey>,
    max_frame: usize,
    buf: &mut Vec<u8>,
) -> Result<usize, ConnError> {
    let mut prefix = [0u8; 4];
    r.read_exact(&mut prefix).await?;
    let len = u32::from_be_bytes(prefix) as usize;
    if len > max_frame {
        return Err(ConnError::FrameTooLarge(len));
    }
    buf.resize(len, 0);
    r.read_exact(buf).await?;
    let plain = match key {
        Some(k) => k.open(&prefix, buf)?,
        None => len,
    };
    buf.truncate(plain);
    Ok(4 + len)
}

fn empty_frame() -> Vec<u8> {
    FrameBuilder::new(FRAME_HEADER).finish()
}

// ---- handshake -------------------------------------------------------------

fn derive(
    keyring: &Option<Keyring>,
    key_id: Option<u32>,
    dialer_salt: &[u8; crypto::SALT_LEN],
    acceptor_salt: &[u8; crypto::SALT_LEN],
    dialer: bool,
) -> Result<Keys, ConnError> {
    let secret = match (keyring, key_id) {
        (None, None) => {
            return Ok(Keys {
                send: None,
                recv: None,
            })
        }
        (Some(ring), Some(id)) => ring
            .get(actix_cluster_proto::KeyId(id))
            .ok_or_else(|| ConnError::Refused(format!("key {id:08x} is not installed")))?
            .secret(),
        (Some(_), None) => return Err(ConnError::Refused("plaintext from a keyed cluster".into())),
        (None, Some(_)) => {
            return Err(ConnError::Refused(
                "sealed, but this node has no keys".into(),
            ))
        }
    };
    let key = |d| Some(FrameKey::derive(secret, dialer_salt, acceptor_salt, d));
    let (send, recv) = if dialer {
        (Direction::DialerToAcceptor, Direction::AcceptorToDialer)
    } else {
        (Direction::AcceptorToDialer, Direction::DialerToAcceptor)
    };
    Ok(Keys {
        send: key(send),
        recv: key(recv),
    })
}

/// Each side proves it holds the key by sending an empty sealed frame the
/// other must open, before the connection is used.
async fn prove(
    stream: TcpStream,
    mut keys: Keys,
    max_frame: usize,
) -> Result<(TcpStream, Keys), ConnError> {
    let (mut r, mut w) = stream.into_split();
    write_frame(&mut w, &mut keys.send, empty_frame()).await?;
    let mut buf = Vec::new();
    read_frame(&mut r, &mut keys.recv, max_frame, &mut buf).await?;
    let stream = r
        .reunite(w)
        .map_err(|e| ConnError::Refused(e.to_string()))?;
    Ok((stream, keys))
}

async fn dial(env: &Env, peer: &MemberId, addr: SocketAddr) -> Result<Accepted, ConnError> {
    let mut stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let theirs = read_hello(&mut stream, &env.cluster_name).await?;
    if wire_id(&theirs.member) != *peer {
        return Err(ConnError::Refused(format!(
            "reached {} instead",
            wire_id(&theirs.member)
        )));
    }
    let keyring = env.keyring();
    let mut mine = Hello::new(
        &env.cluster_name,
        own_wire(&env.shared.local()),
        crypto::salt(),
        env.config.max_message_size,
    );
    mine.peer = Some(own_wire(peer));
    mine.key_id = keyring.as_ref().map(|k| k.primary().id().0);
    write_hello(&mut stream, &mine).await?;
    let keys = derive(&keyring, mine.key_id, &mine.salt, &theirs.salt, true)?;
    let (stream, keys) = prove(stream, keys, env.config.max_frame()).await?;
    let peer_max = theirs.max_message as usize;
    Ok(Accepted {
        stream,
        keys,
        peer_max,
        key_id: mine.key_id,
    })
}

async fn accept(env: &Env, mut stream: TcpStream) -> Result<(MemberId, Accepted), ConnError> {
    stream.set_nodelay(true)?;
    let local = env.shared.local();
    let mine = Hello::new(
        &env.cluster_name,
        own_wire(&local),
        crypto::salt(),
        env.config.max_message_size,
    );
    write_hello(&mut stream, &mine).await?;
    let theirs = read_hello(&mut stream, &env.cluster_name).await?;
    let dialer = wire_id(&theirs.member);
    if theirs.peer.as_ref().map(wire_id) != Some(local.clone()) {
        return Err(ConnError::Refused("meant for another member".into()));
    }
    if dialer >= local {
        return Err(ConnError::Refused("the lower member id dials".into()));
    }
    if !env.shared.has_link(&dialer) {
        return Err(ConnError::Refused(format!(
            "{dialer} is not a current member"
        )));
    }
    let keys = derive(
        &env.keyring(),
        theirs.key_id,
        &theirs.salt,
        &mine.salt,
        false,
    )?;
    let (stream, keys) = prove(stream, keys, env.config.max_frame()).await?;
    let peer_max = theirs.max_message as usize;
    Ok((
        dialer,
        Accepted {
            stream,
            keys,
            peer_max,
            key_id: theirs.key_id,
        },
    ))
}

/// Accepts connections for as long as the listener lives.
pub(crate) async fn listen(env: Arc<Env>, listener: TcpListener) {
    loop {
        let Ok((stream, from)) = listener.accept().await else {
            continue;
        };
        let env = env.clone();
        actix_rt::spawn(async move {
            let bound = env.config.handshake_timeout;
            match tokio::time::timeout(bound, accept(&env, stream)).await {
                Ok(Ok((peer, accepted))) => match env.shared.accepted_sender(&peer) {
                    Some(tx) => {
                        let _ = tx.send(accepted).await;
                    }
                    None => refused(&env, from, "peer gone"),
                },
                Ok(Err(e)) => refused(&env, from, &e.to_string()),
                Err(_) => refused(&env, from, "handshake timed out"),
            }
        });
    }
}

fn refused(env: &Env, from: SocketAddr, why: &str) {
    env.shared
        .counters
        .handshakes_refused
        .fetch_add(1, Ordering::Relaxed);
    debug!(%from, why, "remote connection refused");
}

// ---- a peer's session ------------------------------------------------------

/// The lanes' receiving ends, kept across reconnects.
pub(crate) struct Lanes {
    pub(crate) data: mpsc::Receiver<Outgoing>,
    pub(crate) control: mpsc::Receiver<Outgoing>,
    pub(crate) accepted: mpsc::Receiver<Accepted>,
}

/// Runs a peer's session until its lanes close.
pub(crate) async fn run(env: Arc<Env>, peer: MemberId, addr: SocketAddr, mut lanes: Lanes) {
    let dialer = env.shared.local() < peer;
    let span = info_span!("remote_session", member = %env.shared.local(), peer = %peer, dialer);
    async move {
        let mut backoff = env.config.min_backoff;
        let mut carry: Option<Outgoing> = None;
        loop {
            let conn = if dialer {
                if !env.shared.has_link(&peer) {
                    return;
                }
                match tokio::time::timeout(env.config.handshake_timeout, dial(&env, &peer, addr))
                    .await
                {
                    Ok(Ok(c)) => c,
                    Ok(Err(e)) => {
                        debug!(error = %e, ?backoff, "dial failed");
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(env.config.max_backoff);
                        continue;
                    }
                    Err(_) => {
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(env.config.max_backoff);
                        continue;
                    }
                }
            } else {
                match lanes.accepted.recv().await {
                    Some(c) => c,
                    None => return,
                }
            };
            backoff = env.config.min_backoff;
            env.shared
                .counters
                .connections_opened
                .fetch_add(1, Ordering::Relaxed);
            env.remote.do_send(FromPeer {
                member: peer.clone(),
                control: None,
            });
            match connection(&env, &peer, conn, &mut lanes, &mut carry).await {
                Err(ConnError::Closed) => return,
                Err(e) => debug!(error = %e, "remote connection ended"),
                Ok(()) => {}
            }
        }
    }
    .instrument(span)
    .await
}

/// One connection's life: write and read until either fails, or a newer
/// connection from the peer replaces it.
async fn connection(
    env: &Env,
    peer: &MemberId,
    conn: Accepted,
    lanes: &mut Lanes,
    carry: &mut Option<Outgoing>,
) -> Result<(), ConnError> {
    let Accepted {
        stream,
        keys,
        peer_max,
        key_id,
    } = conn;
    let limits = Limits {
        frame: max_frame_for(peer_max).min(env.config.max_frame()),
        payload: peer_max,
    };
    let (mut r, mut w) = stream.into_split();
    let Keys { mut send, mut recv } = keys;
    let max_frame = env.config.max_frame();
    let Lanes {
        data,
        control,
        accepted,
    } = lanes;
    let writer = async {
        loop {
            let frame = next_frame(env, peer, data, control, carry, limits).await?;
            let count = frame.1;
            let bytes = write_frame(&mut w, &mut send, frame.0).await?;
            let c = &env.shared.counters;
            c.sent_frames.fetch_add(1, Ordering::Relaxed);
            c.sent_messages.fetch_add(count as u64, Ordering::Relaxed);
            c.sent_bytes.fetch_add(bytes as u64, Ordering::Relaxed);
        }
    };
    let reader = async {
        let mut buf = Vec::new();
        loop {
            let bytes = read_frame(&mut r, &mut recv, max_frame, &mut buf).await?;
            let c = &env.shared.counters;
            c.received_frames.fetch_add(1, Ordering::Relaxed);
            c.received_bytes.fetch_add(bytes as u64, Ordering::Relaxed);
            if !env.shared.has_link(peer) {
                c.dropped_stale_member.fetch_add(1, Ordering::Relaxed);
                return Err::<(), _>(ConnError::Closed);
            }
            handle_frame(env, peer, &buf).await;
        }
    };
    let replaced = async {
        match accepted.recv().await {
            Some(newer) => Ok(newer),
            None => Err(ConnError::Closed),
        }
    };
    // A key removed from the keyring (the last step of a rotation) ends the
    // connections sealed under it; the dialer reconnects with the primary.
    let key_removed = async {
        loop {
            tokio::time::sleep(KEY_CHECK).await;
            let installed = match (key_id, env.keyring()) {
                (Some(id), Some(ring)) => ring.get(actix_cluster_proto::KeyId(id)).is_some(),
                (None, None) => true,
                _ => false,
            };
            if !installed {
                return Err::<(), _>(ConnError::Refused("its key was removed".into()));
            }
        }
    };
    tokio::select! {
        r = writer => r,
        r = reader => r,
        r = key_removed => r,
        newer = replaced, if env.shared.local() > *peer => {
            // The dialer reconnected (it saw this connection fail first):
            // the new one wins, and the session goes on with it.
            let newer = newer?;
            Box::pin(connection(env, peer, newer, lanes, carry)).await
        }
    }
}

/// What the peer accepts.
#[derive(Debug, Clone, Copy)]
struct Limits {
    frame: usize,
    payload: usize,
}

fn max_frame_for(payload: usize) -> usize {
    payload.saturating_add(crate::envelope::MAX_ENVELOPE_HEADER + FRAME_HEADER + TAG_LEN)
}

/// Waits for at least one envelope, then takes what else is queued (control
/// first) into one frame. An envelope over the peer's limit is not sent: its
/// ask is answered `Rejected` here.
async fn next_frame(
    env: &Env,
    peer: &MemberId,
    data: &mut mpsc::Receiver<Outgoing>,
    control: &mut mpsc::Receiver<Outgoing>,
    carry: &mut Option<Outgoing>,
    limits: Limits,
) -> Result<(Vec<u8>, usize), ConnError> {
    let mut builder = FrameBuilder::new(limits.frame - TAG_LEN);
    if let Some(o) = carry.take() {
        push(env, peer, &mut builder, o, limits);
    }
    while builder.is_empty() {
        let first = tokio::select! {
            biased;
            c = control.recv() => c.ok_or(ConnError::Closed)?,
            d = data.recv() => d.ok_or(ConnError::Closed)?,
        };
        push(env, peer, &mut builder, first, limits);
    }
    for lane in [&mut *control, &mut *data] {
        while let Ok(o) = lane.try_recv() {
            if let Some(o) = push(env, peer, &mut builder, o, limits) {
                *carry = Some(o);
                let n = builder.len();
                return Ok((builder.finish(), n));
            }
        }
    }
    let n = builder.len();
    Ok((builder.finish(), n))
}

/// Adds an envelope to the frame; gives it back when the frame is full.
fn push(
    env: &Env,
    peer: &MemberId,
    builder: &mut FrameBuilder,
    o: Outgoing,
    limits: Limits,
) -> Option<Outgoing> {
    if o.payload.len() > limits.payload {
        env.shared
            .counters
            .dropped_oversize
            .fetch_add(1, Ordering::Relaxed);
        if o.kind == Kind::Ask {
            let why = format!(
                "Oversize: {} bytes exceed the receiver's limit of {}",
                o.payload.len(),
                limits.payload
            );
            env.shared
                .answer(peer, o.correlation, Err(AskError::Rejected(why)));
        }
        return None;
    }
    let fits = builder.push(&Envelope {
        kind: o.kind,
        to: o.to,
        tag: o.tag,
        correlation: o.correlation,
        payload: &o.payload,
    });
    (!fits).then_some(o)
}

async fn handle_frame(env: &Env, peer: &MemberId, frame: &[u8]) {
    let shared = &env.shared;
    let reader = match FrameReader::new(frame, shared.max_message_size) {
        Ok(r) => r,
        Err(e) => {
            shared
                .counters
                .frames_refused
                .fetch_add(1, Ordering::Relaxed);
            warn!(error = %e, "remote frame refused");
            return;
        }
    };
    for item in reader {
        match item {
            Ok(env_) => handle_envelope(env, peer, env_).await,
            Err(EnvelopeError::Oversize {
                kind, correlation, ..
            }) => {
                shared
                    .counters
                    .dropped_oversize
                    .fetch_add(1, Ordering::Relaxed);
                if kind == Kind::Ask {
                    let to = ReplyTo::Remote {
                        member: peer.clone(),
                        correlation,
                    };
                    let f = failure(FailureCode::Oversize, "over the receiver's limit");
                    shared.reply(to, crate::control::CONTROL_TAG, Err(f));
                }
            }
            Err(e) => {
                shared
                    .counters
                    .frames_refused
                    .fetch_add(1, Ordering::Relaxed);
                warn!(error = %e, "rest of a remote frame dropped");
            }
        }
    }
}

async fn handle_envelope(env: &Env, peer: &MemberId, e: Envelope<'_>) {
    let shared = &env.shared;
    shared
        .counters
        .received_messages
        .fetch_add(1, Ordering::Relaxed);
    match e.kind {
        Kind::Tell => match shared.deliver(e.to, e.tag, e.payload, Delivery::RemoteTell) {
            Ok(Some(wait)) => wait.await,
            Ok(None) => {}
            Err(f) => {
                debug!(tag = e.tag.name_hash, version = e.tag.version, actor = e.to.0, failure = ?f.code, "tell not delivered");
                shared
                    .counters
                    .dropped_undeliverable
                    .fetch_add(1, Ordering::Relaxed);
            }
        },
        Kind::Ask => {
            let to = ReplyTo::Remote {
                member: peer.clone(),
                correlation: e.correlation,
            };
            if let Err(f) = shared.deliver(e.to, e.tag, e.payload, Delivery::Ask(to.clone())) {
                shared
                    .counters
                    .dropped_undeliverable
                    .fetch_add(1, Ordering::Relaxed);
                shared.reply(to, e.tag, Err(f));
            }
        }
        Kind::Reply => shared.answer(peer, e.correlation, Ok(e.payload.to_vec())),
        Kind::Failure => {
            let error = match crate::payload::decode::<crate::Failure>(e.payload) {
                Ok(f) => AskError::from(f),
                Err(err) => AskError::Rejected(err.to_string()),
            };
            shared.answer(peer, e.correlation, Err(error));
        }
        Kind::Control => match crate::payload::decode::<Control>(e.payload) {
            Ok(control) => env.remote.do_send(FromPeer {
                member: peer.clone(),
                control: Some(control),
            }),
            Err(err) => {
                shared
                    .counters
                    .frames_refused
                    .fetch_add(1, Ordering::Relaxed);
                warn!(error = %err, "undecodable control message");
            }
        },
    }
}
