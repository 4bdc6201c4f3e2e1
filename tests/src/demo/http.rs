//! A small blocking HTTP client and a server-sent-events reader.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use serde_json::Value;

/// An HTTP response: status and body.
#[derive(Debug, Clone)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Content type header, lowercased.
    pub content_type: String,
    /// Body text.
    pub body: String,
}

impl Response {
    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }
}

/// One HTTP/1.1 request with `Connection: close`.
pub fn http(method: &str, addr: SocketAddr, path: &str) -> Result<Response, String> {
    http_with(method, addr, path, &[])
}

/// One HTTP/1.1 request with `Connection: close` and extra `headers`.
pub fn http_with(
    method: &str,
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<Response, String> {
    let extra: String = headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect();
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))
        .map_err(|e| format!("connect {addr}: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\n{extra}Connection: close\r\n\r\n"
    )
    .map_err(|e| format!("write {addr}: {e}"))?;
    // Read until the body is complete (by Content-Length, the last chunk, or
    // the end of the connection): some servers keep the connection open.
    let mut raw = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let n = stream
            .read(&mut chunk)
            .map_err(|e| format!("read {addr}{path}: {e}"))?;
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&raw);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let lower = head.to_ascii_lowercase();
            let length = lower.lines().find_map(|l| {
                l.strip_prefix("content-length:")
                    .and_then(|v| v.trim().parse::<usize>().ok())
            });
            if length.is_some_and(|len| body.len() >= len)
                || (lower.contains("transfer-encoding: chunked") && body.ends_with("0\r\n\r\n"))
            {
                break;
            }
        }
    }
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("no HTTP head from {addr}{path}: {text:?}"))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line from {addr}: {head:?}"))?;
    let content_type = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-type")
                .then(|| v.trim().to_ascii_lowercase())
        })
        .unwrap_or_default();
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_owned()
    };
    Ok(Response {
        status,
        content_type,
        body,
    })
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// `GET /api/members` as JSON.
pub fn members(addr: SocketAddr) -> Result<Value, String> {
    let r = http("GET", addr, "/api/members")?;
    if r.status != 200 {
        return Err(format!("/api/members answered {}: {}", r.status, r.body));
    }
    serde_json::from_str(&r.body).map_err(|e| format!("bad JSON {e}: {}", r.body))
}

/// The members of a `/api/members` answer with the given status and role
/// (`None` for any role).
pub fn with_status<'a>(members: &'a Value, status: &str, role: Option<&str>) -> Vec<&'a Value> {
    members["members"]
        .as_array()
        .map(|all| {
            all.iter()
                .filter(|m| m["status"] == status)
                .filter(|m| {
                    role.is_none_or(|r| {
                        m["roles"]
                            .as_array()
                            .is_some_and(|rs| rs.iter().any(|x| x == r))
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Percent-encodes a path segment, as the page's `encodeURIComponent` does.
pub fn encode(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The first message of `GET /api/events`: the snapshot (members with `reason`).
pub fn event_snapshot(addr: SocketAddr) -> Result<Value, String> {
    let mut stream = EventStream::open(addr)?;
    stream.next(Duration::from_secs(5))
}

/// A server-sent-events stream from `/api/events`.
pub struct EventStream {
    reader: BufReader<TcpStream>,
}

impl EventStream {
    /// Opens the stream and checks the head.
    pub fn open(addr: SocketAddr) -> Result<EventStream, String> {
        let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))
            .map_err(|e| format!("connect {addr}: {e}"))?;
        write!(
            stream,
            "GET /api/events HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\r\n"
        )
        .map_err(|e| e.to_string())?;
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .map_err(|e| e.to_string())?;
        let mut reader = BufReader::new(stream);
        let mut head = String::new();
        loop {
            let mut line = String::new();
            let n = reader.read_line(&mut line).map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("stream closed in the head".into());
            }
            if line == "\r\n" {
                break;
            }
            head.push_str(&line);
        }
        if !head.starts_with("HTTP/1.1 200") || !head.contains("text/event-stream") {
            return Err(format!("unexpected head: {head}"));
        }
        Ok(EventStream { reader })
    }

    /// The next event's JSON (chunked transfer framing and comments skipped).
    pub fn next(&mut self, timeout: Duration) -> Result<Value, String> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            let mut line = String::new();
            match self.reader.read_line(&mut line) {
                Ok(0) => return Err("stream ended".into()),
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    continue
                }
                Err(e) => return Err(e.to_string()),
            }
            // A chunk may hold several lines; the data line itself is whole.
            for part in line.split('\n') {
                if let Some(json) = part.trim_end_matches('\r').strip_prefix("data: ") {
                    return serde_json::from_str(json).map_err(|e| format!("{e}: {json}"));
                }
            }
        }
        Err(format!("no event within {timeout:?}"))
    }
}
