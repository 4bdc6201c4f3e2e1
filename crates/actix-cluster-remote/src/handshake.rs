//! Opening a connection between two members: the member with the lower id
//! dials, the acceptor speaks first (see `hello.rs`), both derive the
//! connection's keys and prove them with a sealed empty frame.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use actix_cluster_proto::{Keyring, MemberId};
use tokio::net::{TcpListener, TcpStream};
use tracing::debug;

use crate::crypto::{self, Direction, FrameKey};
use crate::env::Env;
use crate::frame_io::{empty_frame, read_frame, write_frame, Accepted, ConnError, Keys};
use crate::hello::{read_hello, write_hello, Hello};
use crate::registry::OwnerWire;

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

/// Both hellos as each side saw them, hashed into the keys: a hello changed
/// on the way (a claimed id, a limit) gives the two sides different keys, so
/// the proof frames do not open.
fn transcript(acceptor: &Hello, dialer: &Hello) -> [u8; 32] {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    for hello in [acceptor, dialer] {
        let bytes = postcard::to_stdvec(hello).unwrap_or_default();
        ctx.update(&(bytes.len() as u32).to_be_bytes());
        ctx.update(&bytes);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

fn derive(
    keyring: &Option<Keyring>,
    acceptor_hello: &Hello,
    dialer_hello: &Hello,
    dialer: bool,
) -> Result<Keys, ConnError> {
    let key_id = dialer_hello.key_id;
    let (dialer_salt, acceptor_salt) = (&dialer_hello.salt, &acceptor_hello.salt);
    let transcript = transcript(acceptor_hello, dialer_hello);
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
    let key = |d| {
        Some(FrameKey::derive(
            secret,
            dialer_salt,
            acceptor_salt,
            &transcript,
            d,
        ))
    };
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

pub(crate) async fn dial(
    env: &Env,
    peer: &MemberId,
    addr: SocketAddr,
) -> Result<Accepted, ConnError> {
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
    let keys = derive(&keyring, &theirs, &mine, true)?;
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
    let keys = derive(&env.keyring(), &mine, &theirs, false)?;
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
                        let _ = tx.send(Box::new(accepted)).await;
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
