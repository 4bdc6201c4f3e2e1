//! Frames on a remote connection: a length prefix, then the (sealed) frame;
//! and why a connection ends.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

use tokio::net::TcpStream;

use crate::crypto::{CryptoError, FrameKey, TAG_LEN};
use crate::envelope::{FrameBuilder, FRAME_HEADER};

/// Why a connection ended.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnError {
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

/// The largest frame on the wire for payloads of at most `payload` bytes:
/// one envelope at its largest, the frame header and the tag.
pub(crate) fn max_frame_for(payload: usize) -> usize {
    payload.saturating_add(crate::envelope::MAX_ENVELOPE_HEADER + FRAME_HEADER + TAG_LEN)
}

/// Room a frame buffer keeps before the frame for its length prefix.
pub(crate) const PREFIX: usize = 4;

/// Writes a frame built with [`PREFIX`] bytes of headroom: the length goes
/// there and the frame is sealed in place (no copy).
pub(crate) async fn write_frame(
    w: &mut OwnedWriteHalf,
    key: &mut Option<FrameKey>,
    mut buf: Vec<u8>,
) -> Result<usize, ConnError> {
    let plain_len = buf.len() - PREFIX;
    let sealed_len = plain_len + if key.is_some() { TAG_LEN } else { 0 };
    buf[..PREFIX].copy_from_slice(&(sealed_len as u32).to_be_bytes());
    if let Some(k) = key {
        k.seal(&mut buf, PREFIX)?;
    }
    w.write_all(&buf).await?;
    Ok(buf.len())
}

pub(crate) async fn read_frame(
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

pub(crate) fn empty_frame() -> Vec<u8> {
    FrameBuilder::with_headroom(PREFIX, FRAME_HEADER).finish()
}

/// A connection from a peer that passed the handshake.
#[derive(Debug)]
pub(crate) struct Accepted {
    pub(crate) stream: TcpStream,
    pub(crate) keys: Keys,
    /// The largest payload the peer accepts.
    pub(crate) peer_max: usize,
    /// The cluster key the connection's keys derive from.
    pub(crate) key_id: Option<u32>,
}

#[derive(Debug)]
pub(crate) struct Keys {
    pub(crate) send: Option<FrameKey>,
    pub(crate) recv: Option<FrameKey>,
}
