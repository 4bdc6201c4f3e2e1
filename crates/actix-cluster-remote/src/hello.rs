//! The handshake that opens a connection between two members.
//!
//! The member that accepts speaks first, so that its fresh salt is in both
//! directions' keys before anything is sealed:
//!
//! ```text
//! acceptor -> dialer: hello { cluster, member (acceptor), salt_a }
//! dialer -> acceptor: hello { cluster, member (dialer), peer (acceptor), key id, salt_d }
//! ```
//!
//! Each hello is a length-prefixed postcard record of at most
//! [`MAX_HELLO`] bytes. From then on every frame is sealed with the keys
//! derived from the key named by the dialer and both salts (see
//! `crypto.rs`); a dialer without the key cannot produce a frame that opens,
//! and a replayed session does not open under a new acceptor salt.

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::crypto::SALT_LEN;
use crate::registry::OwnerWire;

/// The largest hello, in bytes.
pub(crate) const MAX_HELLO: usize = 1024;
/// The first bytes of every hello.
const MAGIC: [u8; 4] = *b"ACR1";

/// One side's hello.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Hello {
    pub(crate) magic: [u8; 4],
    pub(crate) cluster: String,
    pub(crate) member: OwnerWire,
    /// The dialer names whom it meant to reach (a reborn acceptor is not it).
    pub(crate) peer: Option<OwnerWire>,
    /// The key the dialer chose (its primary); `None` for plaintext.
    pub(crate) key_id: Option<u32>,
    pub(crate) salt: [u8; SALT_LEN],
    /// The largest payload this side accepts: the other side never sends a
    /// larger one, so that a difference in settings costs the message (its
    /// ask is answered `Rejected` at the sender), never the connection.
    pub(crate) max_message: u32,
}

impl Hello {
    pub(crate) fn new(
        cluster: &str,
        member: OwnerWire,
        salt: [u8; SALT_LEN],
        max_message: usize,
    ) -> Hello {
        Hello {
            max_message: u32::try_from(max_message).unwrap_or(u32::MAX),
            magic: MAGIC,
            cluster: cluster.to_owned(),
            member,
            peer: None,
            key_id: None,
            salt,
        }
    }
}

/// Why a handshake failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum HelloError {
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    #[error("hello of {0} bytes exceeds {MAX_HELLO}")]
    TooLarge(usize),
    #[error("undecodable hello: {0}")]
    Decode(String),
    #[error("not an actix-cluster remote hello")]
    Magic,
    #[error("hello from cluster {0:?}")]
    Cluster(String),
}

pub(crate) async fn write_hello<W: AsyncWrite + Unpin>(
    w: &mut W,
    hello: &Hello,
) -> Result<(), HelloError> {
    let body = postcard::to_stdvec(hello).map_err(|e| HelloError::Decode(e.to_string()))?;
    if body.len() > MAX_HELLO {
        return Err(HelloError::TooLarge(body.len()));
    }
    let mut buf = Vec::with_capacity(4 + body.len());
    buf.extend_from_slice(&(body.len() as u32).to_be_bytes());
    buf.extend_from_slice(&body);
    w.write_all(&buf).await?;
    Ok(())
}

pub(crate) async fn read_hello<R: AsyncRead + Unpin>(
    r: &mut R,
    cluster: &str,
) -> Result<Hello, HelloError> {
    let mut len = [0u8; 4];
    r.read_exact(&mut len).await?;
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_HELLO {
        return Err(HelloError::TooLarge(len));
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body).await?;
    let hello: Hello =
        crate::payload::decode(&body).map_err(|e| HelloError::Decode(e.to_string()))?;
    if hello.magic != MAGIC {
        return Err(HelloError::Magic);
    }
    if hello.cluster != cluster {
        return Err(HelloError::Cluster(hello.cluster));
    }
    Ok(hello)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner() -> OwnerWire {
        OwnerWire {
            name: "n1".into(),
            addr: "127.0.0.1:7001".parse().unwrap(),
            generation: 3,
        }
    }

    #[actix_rt::test]
    async fn a_hello_round_trips_and_checks_its_cluster() {
        let mut buf = Vec::new();
        let mut hello = Hello::new("c", owner(), [5; SALT_LEN], 1000);
        hello.key_id = Some(9);
        write_hello(&mut buf, &hello).await.unwrap();
        assert_eq!(read_hello(&mut &buf[..], "c").await.unwrap(), hello);
        assert!(matches!(
            read_hello(&mut &buf[..], "other").await,
            Err(HelloError::Cluster(_))
        ));
    }

    #[actix_rt::test]
    async fn an_oversize_or_garbage_hello_is_refused() {
        let big = (MAX_HELLO as u32 + 1).to_be_bytes();
        assert!(matches!(
            read_hello(&mut &big[..], "c").await,
            Err(HelloError::TooLarge(_))
        ));
        let garbage = [0, 0, 0, 3, 1, 2, 3];
        assert!(read_hello(&mut &garbage[..], "c").await.is_err());
    }
}
