//! A tiny HTTP/1.1 client: forwards a leave request to the member it is about,
//! at the HTTP address that member publishes in its metadata.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{bail, Context as _};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Header that marks a forwarded request, so it is never forwarded again.
pub(crate) const FORWARDED_HEADER: &str = "x-cluster-monitor-forwarded";

/// Largest response head read.
const MAX_HEAD: usize = 16 * 1024;

/// `POST http://{addr}{path}` with an empty body (and the bearer token, when
/// given); returns the status code and body.
pub(crate) async fn post(
    addr: SocketAddr,
    path: &str,
    bearer: Option<&str>,
    timeout: Duration,
) -> anyhow::Result<(u16, String)> {
    tokio::time::timeout(timeout, post_inner(addr, path, bearer))
        .await
        .with_context(|| format!("no answer from {addr} within {timeout:?}"))?
}

async fn post_inner(
    addr: SocketAddr,
    path: &str,
    bearer: Option<&str>,
) -> anyhow::Result<(u16, String)> {
    let mut stream = TcpStream::connect(addr)
        .await
        .with_context(|| format!("cannot connect to {addr}"))?;
    let auth = bearer
        .filter(|t| t.bytes().all(|b| b.is_ascii_graphic()))
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\n{auth}{FORWARDED_HEADER}: 1\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await?;
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.len() > MAX_HEAD {
            break;
        }
    }
    let text = String::from_utf8_lossy(&buf);
    let status_line = text.lines().next().unwrap_or_default();
    let mut parts = status_line.split_whitespace();
    let (Some(version), Some(code)) = (parts.next(), parts.next()) else {
        bail!("{addr} sent no HTTP status line");
    };
    if !version.starts_with("HTTP/1.") {
        bail!("{addr} answered {status_line:?}, not HTTP/1.x");
    }
    let code: u16 = code
        .parse()
        .with_context(|| format!("{addr} sent a bad status line {status_line:?}"))?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((code, body))
}

/// Percent-encodes a path segment (everything but RFC 3986 unreserved characters).
pub(crate) fn encode_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len() * 3);
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_member_ids() {
        assert_eq!(
            encode_segment("n-1@[::1]:7946-1f"),
            "n-1%40%5B%3A%3A1%5D%3A7946-1f"
        );
    }

    #[actix_rt::test]
    async fn refused_connection_is_an_error() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        assert!(post(addr, "/", None, Duration::from_secs(2)).await.is_err());
    }
}
