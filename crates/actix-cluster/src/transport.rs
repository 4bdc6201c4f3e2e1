//! Sockets: one UDP socket and one TCP listener on the same port.
//!
//! Nothing here blocks the actor. Datagrams come in as a stream the actor polls,
//! and go out with a non-blocking `send_to` on a plain `std` clone of the socket
//! (which also works while the runtime shuts down, for the leave on stop). Each
//! accepted TCP connection becomes a stream of length-prefixed frames
//! (`u32` big-endian length, then the bytes). Outgoing frames go through one
//! small bounded queue per peer, drained by a writer task that owns the
//! connection, so a slow or dead peer costs at most a queue's worth of memory.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::{Message, Recipient};
use futures::{Stream, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc;

use crate::config::TransportConfig;
use crate::counters::{add, inc, Counters};
use crate::error::ClusterError;

/// Attempts at binding UDP and TCP on one free port when asked for port 0.
const BIND_ATTEMPTS: usize = 8;

/// The bound sockets.
#[derive(Debug)]
pub(crate) struct Bound {
    /// Receives datagrams (registered with the runtime).
    pub(crate) udp: UdpSocket,
    /// The same socket, non-blocking, for sends that must not need the runtime.
    pub(crate) udp_send: std::net::UdpSocket,
    /// Accepts stream connections.
    pub(crate) tcp: TcpListener,
    /// The address both are bound to.
    pub(crate) local: SocketAddr,
}

/// Binds UDP on `addr`, then TCP on the port UDP got. With port 0, a TCP port
/// clash (someone holds the TCP side of the port UDP picked) is retried with a
/// new port.
pub(crate) fn bind(addr: SocketAddr) -> Result<Bound, ClusterError> {
    let attempts = if addr.port() == 0 { BIND_ATTEMPTS } else { 1 };
    let mut last_err = None;
    for _ in 0..attempts {
        let err = |source| ClusterError::Bind { addr, source };
        let udp_std = std::net::UdpSocket::bind(addr).map_err(err)?;
        let local = udp_std.local_addr().map_err(err)?;
        match std::net::TcpListener::bind(local) {
            Ok(tcp_std) => {
                let fail = |source| ClusterError::Bind {
                    addr: local,
                    source,
                };
                udp_std.set_nonblocking(true).map_err(fail)?;
                tcp_std.set_nonblocking(true).map_err(fail)?;
                let udp_send = udp_std.try_clone().map_err(fail)?;
                let udp = UdpSocket::from_std(udp_std).map_err(fail)?;
                let tcp = TcpListener::from_std(tcp_std).map_err(fail)?;
                return Ok(Bound {
                    udp,
                    udp_send,
                    tcp,
                    local,
                });
            }
            Err(e) => {
                tracing::debug!(%local, error = %e, "TCP port taken, retrying");
                last_err = Some(ClusterError::Bind {
                    addr: local,
                    source: e,
                });
            }
        }
    }
    Err(last_err.unwrap_or(ClusterError::Bind {
        addr,
        source: io::Error::new(io::ErrorKind::AddrInUse, "no free port"),
    }))
}

/// One received datagram.
#[derive(Debug)]
pub(crate) struct Datagram {
    pub(crate) from: SocketAddr,
    pub(crate) bytes: Vec<u8>,
}

/// Datagrams received on `udp`; oversized ones are counted and skipped here.
pub(crate) fn datagrams(
    udp: UdpSocket,
    max: usize,
    counters: Arc<Counters>,
) -> impl Stream<Item = Datagram> {
    // One spare byte tells a datagram of exactly `max` from a bigger one that
    // the kernel truncated into the buffer.
    let buf = vec![0u8; max + 1];
    futures::stream::unfold(
        (udp, buf, counters),
        move |(udp, mut buf, counters)| async move {
            loop {
                match udp.recv_from(&mut buf).await {
                    Ok((n, from)) if n > max => {
                        inc(&counters.datagrams_oversized);
                        tracing::debug!(%from, "dropped datagram larger than {max} bytes");
                    }
                    Ok((n, from)) => {
                        inc(&counters.datagrams_received);
                        add(&counters.datagram_bytes_received, n);
                        let d = Datagram {
                            from,
                            bytes: buf[..n].to_vec(),
                        };
                        return Some((d, (udp, buf, counters)));
                    }
                    Err(e) => {
                        // E.g. ICMP errors reported on some platforms; never fatal.
                        tracing::debug!(error = %e, "UDP receive error");
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                }
            }
        },
    )
}

/// Sends one datagram without blocking; a full socket buffer drops it (UDP may
/// lose it anyway) and counts the failure.
pub(crate) fn send_datagram(
    udp: &std::net::UdpSocket,
    to: SocketAddr,
    bytes: &[u8],
    counters: &Counters,
) {
    match udp.send_to(bytes, to) {
        Ok(n) => {
            inc(&counters.datagrams_sent);
            add(&counters.datagram_bytes_sent, n);
        }
        Err(e) => {
            inc(&counters.datagrams_send_failed);
            tracing::debug!(%to, error = %e, "datagram not sent");
        }
    }
}

/// Accepted connections.
pub(crate) fn accepts(listener: TcpListener) -> impl Stream<Item = (TcpStream, SocketAddr)> {
    futures::stream::unfold(listener, |listener| async move {
        loop {
            match listener.accept().await {
                Ok((stream, peer)) => return Some(((stream, peer), listener)),
                Err(e) => {
                    // Typically out of file descriptors: back off, keep serving.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    })
}

/// What an incoming connection yields: its frames, then that it closed.
#[derive(Debug)]
pub(crate) enum Inbound {
    /// One frame received on connection `conn`.
    Frame {
        conn: u64,
        from: SocketAddr,
        bytes: Vec<u8>,
    },
    /// Connection `conn` ended (EOF, error, a bad frame, or a timeout).
    Closed { conn: u64 },
}

/// Decrements the open-incoming count when the connection's stream is dropped.
struct IncomingGuard(Arc<Counters>);

impl Drop for IncomingGuard {
    fn drop(&mut self) {
        self.0.incoming_open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The frames of an accepted connection (the `Cluster` decides on admission
/// and keeps the slots: see the `incoming` registry), numbered `conn`,
/// then [`Inbound::Closed`].
pub(crate) fn admit(
    stream: TcpStream,
    peer: SocketAddr,
    max_frame: usize,
    limits: TransportConfig,
    counters: &Arc<Counters>,
    conn: u64,
) -> impl Stream<Item = Inbound> {
    counters.incoming_open.fetch_add(1, Ordering::Relaxed);
    let guard = IncomingGuard(counters.clone());
    inc(&counters.connections_accepted);
    frames(stream, peer, max_frame, limits, guard, conn).chain(futures::stream::once(async move {
        Inbound::Closed { conn }
    }))
}

/// The frames of one incoming connection, until EOF, an error or a bad frame.
/// The first frame must arrive within `first_frame_timeout`; later ones
/// within the idle timeout of each other.
fn frames(
    stream: TcpStream,
    peer: SocketAddr,
    max_frame: usize,
    limits: TransportConfig,
    guard: IncomingGuard,
    conn: u64,
) -> impl Stream<Item = Inbound> {
    futures::stream::unfold(Some((stream, guard, true)), move |state| async move {
        let (mut stream, guard, first) = state?;
        let wait = if first {
            limits.first_frame_timeout
        } else {
            limits.idle_timeout
        };
        match read_frame(&mut stream, max_frame, wait, limits.frame_read_timeout).await {
            Ok(Some(bytes)) => {
                inc(&guard.0.frames_received);
                add(&guard.0.frame_bytes_received, bytes.len());
                let frame = Inbound::Frame {
                    conn,
                    from: peer,
                    bytes,
                };
                Some((frame, Some((stream, guard, false))))
            }
            Ok(None) => None,
            Err(FrameError::TooLarge(len)) => {
                inc(&guard.0.frames_oversized);
                tracing::warn!(%peer, len, max_frame, "frame too large, closing connection");
                None
            }
            Err(FrameError::Io(e)) => {
                inc(&guard.0.frame_read_errors);
                tracing::debug!(%peer, error = %e, "closing connection");
                None
            }
        }
    })
}

#[derive(Debug)]
enum FrameError {
    TooLarge(u64),
    Io(io::Error),
}

/// Reads one frame: `Ok(None)` on a clean EOF between frames (or when no
/// frame starts within `wait`). The length is checked before anything is
/// allocated.
async fn read_frame(
    stream: &mut TcpStream,
    max: usize,
    wait: Duration,
    read_timeout: Duration,
) -> Result<Option<Vec<u8>>, FrameError> {
    let mut len = [0u8; 4];
    // Wait for the first byte as long as `wait` allows.
    let first = match tokio::time::timeout(wait, stream.read(&mut len[..1])).await {
        Err(_) => return Ok(None),
        Ok(Err(e)) => return Err(FrameError::Io(e)),
        Ok(Ok(0)) => return Ok(None),
        Ok(Ok(n)) => n,
    };
    debug_assert_eq!(first, 1);
    let rest = async {
        stream.read_exact(&mut len[1..]).await?;
        let n = u32::from_be_bytes(len) as u64;
        if n > max as u64 {
            return Err(FrameError::TooLarge(n));
        }
        let mut buf = vec![0u8; n as usize];
        stream.read_exact(&mut buf).await?;
        Ok(buf)
    };
    match tokio::time::timeout(read_timeout, rest).await {
        Err(_) => Err(FrameError::Io(io::Error::new(
            io::ErrorKind::TimedOut,
            "frame not received in time",
        ))),
        Ok(r) => r.map(Some),
    }
}

impl From<io::Error> for FrameError {
    fn from(e: io::Error) -> Self {
        FrameError::Io(e)
    }
}

/// The sending side towards one peer: a bounded queue drained by a writer task.
#[derive(Debug)]
pub(crate) struct Outgoing {
    tx: mpsc::Sender<Vec<u8>>,
    /// When a frame was last queued (the least recently used writer makes
    /// room when every writer slot is taken).
    last_used: std::cell::Cell<std::time::Instant>,
}

impl Outgoing {
    /// Starts a writer task for `to` on the current runtime. Outside a runtime
    /// (while it shuts down) the writer is born closed.
    /// A refused connection (nothing listens at `to`) is told to `refused`.
    pub(crate) fn spawn(
        to: SocketAddr,
        limits: TransportConfig,
        counters: Arc<Counters>,
        span: tracing::Span,
        refused: Option<Recipient<Refused>>,
    ) -> Self {
        let (tx, rx) = mpsc::channel(limits.outgoing_queue);
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            let task = writer(to, rx, limits, counters, refused);
            handle.spawn(tracing::Instrument::instrument(task, span));
        }
        Outgoing {
            tx,
            last_used: std::cell::Cell::new(std::time::Instant::now()),
        }
    }

    /// When a frame was last queued.
    pub(crate) fn last_used(&self) -> std::time::Instant {
        self.last_used.get()
    }

    /// True once the writer exited (idle, or the peer was unreachable).
    pub(crate) fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// Queues a frame; gives it back when the writer is gone, drops it (and
    /// counts) when the queue is full.
    pub(crate) fn push(&self, frame: Vec<u8>, counters: &Counters) -> Result<(), Vec<u8>> {
        self.last_used.set(std::time::Instant::now());
        match self.tx.try_send(frame) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(_)) => {
                inc(&counters.frames_dropped);
                tracing::debug!("queue towards a slow peer is full, frame dropped");
                Ok(())
            }
            Err(mpsc::error::TrySendError::Closed(frame)) => Err(frame),
        }
    }
}

/// Writer -> `Cluster`: a connection to this address was refused.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Refused(pub(crate) SocketAddr);

/// Writes queued frames to `to`, connecting on demand; exits (dropping what is
/// queued) when the peer cannot be reached, and after an idle period.
async fn writer(
    to: SocketAddr,
    mut rx: mpsc::Receiver<Vec<u8>>,
    limits: TransportConfig,
    counters: Arc<Counters>,
    refused: Option<Recipient<Refused>>,
) {
    let mut conn: Option<TcpStream> = None;
    loop {
        let frame = match tokio::time::timeout(limits.idle_timeout, rx.recv()).await {
            Ok(Some(frame)) => frame,
            Ok(None) | Err(_) => return,
        };
        // A reused connection may have been closed by the peer (e.g. it
        // restarted): one retry on a fresh connection.
        let mut sent = false;
        for _attempt in 0..2 {
            let fresh = conn.is_none();
            if fresh {
                match tokio::time::timeout(limits.connect_timeout, TcpStream::connect(to)).await {
                    Ok(Ok(s)) => {
                        let _ = s.set_nodelay(true);
                        conn = Some(s);
                    }
                    Ok(Err(e)) => {
                        tracing::debug!(%to, error = %e, "connect failed");
                        if e.kind() == io::ErrorKind::ConnectionRefused {
                            if let Some(r) = &refused {
                                r.do_send(Refused(to));
                            }
                        }
                        break;
                    }
                    Err(_) => {
                        tracing::debug!(%to, "connect timed out");
                        break;
                    }
                }
            }
            let Some(stream) = conn.as_mut() else { break };
            match tokio::time::timeout(limits.write_timeout, write_frame(stream, &frame)).await {
                Ok(Ok(())) => {
                    sent = true;
                    break;
                }
                Ok(Err(e)) => tracing::debug!(%to, error = %e, "write failed"),
                Err(_) => tracing::debug!(%to, "write timed out"),
            }
            conn = None;
            if fresh {
                break;
            }
        }
        if sent {
            inc(&counters.frames_sent);
            add(&counters.frame_bytes_sent, frame.len());
        } else {
            inc(&counters.frames_dropped);
            if conn.is_none() {
                // Unreachable: give up on what is queued; the actor starts a
                // new writer on the next frame.
                rx.close();
                while rx.recv().await.is_some() {
                    inc(&counters.frames_dropped);
                }
                return;
            }
        }
    }
}

async fn write_frame(stream: &mut TcpStream, frame: &[u8]) -> io::Result<()> {
    let len = u32::try_from(frame.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "frame too large"))?;
    stream.write_all(&len.to_be_bytes()).await?;
    stream.write_all(frame).await?;
    stream.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn port_zero_binds_udp_and_tcp_on_the_same_port() {
        rt().block_on(async {
            let b = bind("127.0.0.1:0".parse().unwrap()).unwrap();
            assert_ne!(b.local.port(), 0);
            assert_eq!(b.udp.local_addr().unwrap(), b.local);
            assert_eq!(b.tcp.local_addr().unwrap(), b.local);
            // The same explicit port again is taken.
            assert!(matches!(bind(b.local), Err(ClusterError::Bind { .. })));
        });
    }

    /// A writer to `to` with the default limits, no span, no refusal report.
    fn test_writer(to: SocketAddr, counters: &Arc<Counters>) -> Outgoing {
        Outgoing::spawn(
            to,
            TransportConfig::default(),
            counters.clone(),
            tracing::Span::none(),
            None,
        )
    }

    #[test]
    fn frames_round_trip_through_a_writer_and_oversized_frames_close() {
        rt().block_on(async {
            let counters = Arc::new(Counters::default());
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let to = listener.local_addr().unwrap();
            let out = test_writer(to, &counters);
            out.push(b"hello".to_vec(), &counters).unwrap();
            out.push(Vec::new(), &counters).unwrap();
            out.push(vec![7; 100], &counters).unwrap();

            let (stream, peer) = listener.accept().await.unwrap();
            let frames = admit(stream, peer, 64, TransportConfig::default(), &counters, 7);
            // The 100-byte frame exceeds the reader's limit of 64: the stream
            // ends there, and says so.
            let got: Vec<Inbound> = frames.collect().await;
            let bytes: Vec<&[u8]> = got
                .iter()
                .filter_map(|f| match f {
                    Inbound::Frame { conn: 7, bytes, .. } => Some(bytes.as_slice()),
                    _ => None,
                })
                .collect();
            assert_eq!(bytes, vec![b"hello".as_slice(), b"".as_slice()]);
            assert!(matches!(got.last(), Some(Inbound::Closed { conn: 7 })));
            let snapshot = counters.snapshot();
            assert_eq!(snapshot.frames_received, 2);
            assert_eq!(snapshot.frames_oversized, 1);
            assert_eq!(counters.incoming_open.load(Ordering::Relaxed), 0);
        });
    }

    #[test]
    fn huge_length_prefix_is_refused_before_allocating() {
        rt().block_on(async {
            let counters = Arc::new(Counters::default());
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let to = listener.local_addr().unwrap();
            let mut client = TcpStream::connect(to).await.unwrap();
            client.write_all(&u32::MAX.to_be_bytes()).await.unwrap();
            let (stream, peer) = listener.accept().await.unwrap();
            let frames = admit(stream, peer, 1024, TransportConfig::default(), &counters, 1);
            let got: Vec<Inbound> = frames.collect().await;
            assert!(matches!(got.as_slice(), [Inbound::Closed { conn: 1 }]));
            assert_eq!(counters.snapshot().frames_oversized, 1);
            assert_eq!(counters.incoming_open.load(Ordering::Relaxed), 0);
        });
    }

    #[test]
    fn unreachable_peer_drops_frames_and_closes_the_writer() {
        rt().block_on(async {
            let counters = Arc::new(Counters::default());
            // A port nobody listens on: bind, note it, close.
            let to = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap();
            let out = test_writer(to, &counters);
            out.push(b"x".to_vec(), &counters).unwrap();
            let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
            while !out.is_closed() {
                assert!(tokio::time::Instant::now() < deadline);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            assert_eq!(counters.snapshot().frames_dropped, 1);
            // A closed writer hands the frame back so the caller can restart it.
            assert!(out.push(b"y".to_vec(), &counters).is_err());
        });
    }

    #[test]
    fn oversized_datagrams_are_dropped_before_the_core() {
        rt().block_on(async {
            let counters = Arc::new(Counters::default());
            let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let to = udp.local_addr().unwrap();
            let mut incoming = Box::pin(datagrams(udp, 10, counters.clone()));
            let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            tx.send_to(&[1; 11], to).unwrap();
            tx.send_to(&[2; 10], to).unwrap();
            let d = incoming.next().await.unwrap();
            assert_eq!(d.bytes, vec![2; 10]);
            assert_eq!(d.from, tx.local_addr().unwrap());
            assert_eq!(counters.snapshot().datagrams_oversized, 1);
        });
    }
}
