//! One connection per member pair, and the session that outlives it: the
//! writer that batches both lanes into sealed frames (control first), the
//! reader (see `inbound.rs`), reconnecting with backoff. The handshake is in
//! `handshake.rs`.
//!
//! The member with the lower id dials, the other accepts, so a pair never
//! holds two connections. A peer's session outlives its connections: its
//! lanes keep their envelopes across a reconnect, and it ends when the peer is
//! gone (its lanes close).

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use actix_cluster_proto::MemberId;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::mpsc;
use tracing::{debug, info_span, Instrument};

use crate::crypto::{FrameKey, TAG_LEN};
use crate::env::{Env, FromPeer};
use crate::envelope::{Envelope, FrameBuilder, Kind};
use crate::error::AskError;
use crate::frame_io::{max_frame_for, read_frame, write_frame, ConnError, PREFIX};
use crate::frame_io::{Accepted, Keys};
use crate::handshake::dial;
use crate::inbound::handle_frame;
use crate::shared::Outgoing;

/// How often a connection checks that its key is still installed.
const KEY_CHECK: std::time::Duration = std::time::Duration::from_secs(1);

/// The lanes' receiving ends, kept across reconnects.
pub(crate) struct Lanes {
    pub(crate) data: mpsc::Receiver<Outgoing>,
    pub(crate) control: mpsc::Receiver<Outgoing>,
    pub(crate) accepted: mpsc::Receiver<Box<Accepted>>,
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
                    Some(c) => *c,
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

/// One connection's life: write and read until either fails, its key is
/// removed, or a newer connection from the peer replaces it.
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
    let (r, w) = stream.into_split();
    let Keys { send, recv } = keys;
    let Lanes {
        data,
        control,
        accepted,
    } = lanes;
    let replaced = async {
        match accepted.recv().await {
            Some(newer) => Ok(newer),
            None => Err(ConnError::Closed),
        }
    };
    tokio::select! {
        r = writer(env, peer, w, send, data, control, carry, limits) => r,
        r = reader(env, peer, r, recv) => r,
        r = key_removed(env, key_id) => r,
        newer = replaced, if env.shared.local() > *peer => {
            // The dialer reconnected (it saw this connection fail first):
            // the new one wins, and the session goes on with it.
            let newer = newer?;
            Box::pin(connection(env, peer, *newer, lanes, carry)).await
        }
    }
}

/// Sends what the lanes hold, a frame at a time, until the connection fails.
#[allow(clippy::too_many_arguments)]
async fn writer(
    env: &Env,
    peer: &MemberId,
    mut w: OwnedWriteHalf,
    mut key: Option<FrameKey>,
    data: &mut mpsc::Receiver<Outgoing>,
    control: &mut mpsc::Receiver<Outgoing>,
    carry: &mut Option<Outgoing>,
    limits: Limits,
) -> Result<(), ConnError> {
    loop {
        let (frame, count) = next_frame(env, peer, data, control, carry, limits).await?;
        let bytes = write_frame(&mut w, &mut key, frame).await?;
        let c = &env.shared.counters;
        c.sent_frames.fetch_add(1, Ordering::Relaxed);
        c.sent_messages.fetch_add(count as u64, Ordering::Relaxed);
        c.sent_bytes.fetch_add(bytes as u64, Ordering::Relaxed);
    }
}

/// Reads frames and hands them on, until the connection fails or the peer is
/// no longer a current member (its frames are then dropped and counted).
async fn reader(
    env: &Env,
    peer: &MemberId,
    mut r: OwnedReadHalf,
    mut key: Option<FrameKey>,
) -> Result<(), ConnError> {
    let max_frame = env.config.max_frame();
    let mut buf = Vec::new();
    loop {
        let bytes = read_frame(&mut r, &mut key, max_frame, &mut buf).await?;
        let c = &env.shared.counters;
        c.received_frames.fetch_add(1, Ordering::Relaxed);
        c.received_bytes.fetch_add(bytes as u64, Ordering::Relaxed);
        if !env.shared.has_link(peer) {
            c.dropped_stale_member.fetch_add(1, Ordering::Relaxed);
            return Err(ConnError::Closed);
        }
        handle_frame(env, peer, &buf).await;
        // A connection that once read a large frame does not keep its
        // buffer for life.
        if buf.capacity() > 64 * 1024 && buf.len() < 16 * 1024 {
            buf.shrink_to(16 * 1024);
        }
    }
}

/// A key removed from the keyring (the last step of a rotation) ends the
/// connections sealed under it; the dialer reconnects with the primary.
async fn key_removed(env: &Env, key_id: Option<u32>) -> Result<(), ConnError> {
    loop {
        tokio::time::sleep(KEY_CHECK).await;
        let installed = match (key_id, env.keyring()) {
            (Some(id), Some(ring)) => ring.get(actix_cluster_proto::KeyId(id)).is_some(),
            (None, None) => true,
            _ => false,
        };
        if !installed {
            return Err(ConnError::Refused("its key was removed".into()));
        }
    }
}

/// What the peer accepts.
#[derive(Debug, Clone, Copy)]
struct Limits {
    frame: usize,
    payload: usize,
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
    // The buffer is made only once there is something to send, so an idle
    // connection holds none.
    let mut first = carry.take();
    let mut builder = loop {
        let o = match first.take() {
            Some(o) => o,
            None => tokio::select! {
                biased;
                c = control.recv() => c.ok_or(ConnError::Closed)?,
                d = data.recv() => d.ok_or(ConnError::Closed)?,
            },
        };
        let mut builder = FrameBuilder::with_headroom(PREFIX, limits.frame - TAG_LEN);
        push(env, peer, &mut builder, o, limits);
        if !builder.is_empty() {
            break builder;
        }
    };
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
