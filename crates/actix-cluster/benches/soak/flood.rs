//! The floods.

use super::forge::{self, fake, record, Id, St};
use super::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Connections of the slot exhaustion.
pub(super) const SLOT_CONNECTIONS: usize = 160;

/// Floods `to` with `kind` until `stop`, counting what it sent.
pub(super) fn run(
    kind: Kind,
    to: SocketAddr,
    rate: u32,
    frame_rate: u32,
    stop: &AtomicBool,
    count: &AtomicU64,
) -> Result<(), String> {
    match kind {
        Kind::UdpRecords => udp(to, rate, stop, count, records_datagram),
        Kind::UdpRequests => udp(to, rate, stop, count, request_datagram),
        Kind::TcpRecords => tcp_records(to, frame_rate, stop, count),
        Kind::HealthPoison => health_poison(to, stop, count),
        Kind::SlotExhaustion => slots(to, stop, count),
    }
}

/// Calls `send` `rate` times a second, in batches every 10 ms.
fn paced(
    rate: u32,
    stop: &AtomicBool,
    mut send: impl FnMut() -> Result<(), String>,
) -> Result<(), String> {
    let start = Instant::now();
    let mut done: u64 = 0;
    while !stop.load(Ordering::Relaxed) {
        let due = (start.elapsed().as_secs_f64() * f64::from(rate)) as u64;
        while done < due {
            send()?;
            done += 1;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(())
}

/// A UDP flood from one socket of the datagrams `make` builds.
fn udp(
    to: SocketAddr,
    rate: u32,
    stop: &AtomicBool,
    count: &AtomicU64,
    make: fn(&Id, u64) -> Vec<u8>,
) -> Result<(), String> {
    let socket = UdpSocket::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let from = socket.local_addr().map_err(|e| e.to_string())?;
    let me = Id {
        name: "flooder".into(),
        addr: from,
        generation: 1,
    };
    let mut n = 0u64;
    paced(rate, stop, || {
        n += 1;
        let d = make(&me, n);
        // A full receive buffer drops some: that is the flood.
        let _ = socket.send_to(&d, to);
        count.fetch_add(1, Ordering::Relaxed);
        Ok(())
    })
}

/// Datagram `n` of the record flood: as many new records as fit, fake
/// `Up` members in odd datagrams, tombstones in even ones.
fn records_datagram(me: &Id, n: u64) -> Vec<u8> {
    let mut recs = Vec::new();
    let mut count = 0u8;
    let mut next = n * 64;
    while recs.len() + 40 < 1400 - 60 && count < 255 {
        let status = if n % 2 == 1 { St::Up } else { St::DownFailed };
        record(&mut recs, &fake(next), status, 0, next);
        next += 1;
        count += 1;
    }
    forge::gossip(me, count, &recs)
}

/// Datagram `n` of the request flood: who-are-you from a new sender at
/// our address, a ping for another generation, a who-are-you naming a
/// spoofed sender, a join request as a datagram.
fn request_datagram(me: &Id, n: u64) -> Vec<u8> {
    let fresh = Id {
        name: format!("asker-{n}"),
        addr: me.addr,
        generation: 10 + n,
    };
    match n % 4 {
        0 => forge::who_are_you(&fresh),
        1 => forge::ping_other_generation(&fresh, n as u32),
        2 => forge::who_are_you(&Id {
            addr: "127.0.0.1:9".parse().expect("an address"),
            ..fresh
        }),
        _ => forge::join_request(&fresh),
    }
}

fn framed(body: &[u8]) -> Vec<u8> {
    let mut out = (body.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(body);
    out
}

/// The TCP sender: at 127.0.0.1 (a stream is accepted from the sender's
/// host), on a port where nobody listens (the answers are refused).
fn tcp_sender(name: &str) -> Id {
    Id {
        name: name.into(),
        addr: "127.0.0.1:9".parse().expect("an address"),
        generation: 1,
    }
}

/// Writes frames from `make` to `to`, reconnecting when the connection
/// is closed, `rate` frames a second.
fn frames(
    to: SocketAddr,
    rate: u32,
    stop: &AtomicBool,
    count: &AtomicU64,
    mut make: impl FnMut(u64) -> Vec<u8>,
) -> Result<(), String> {
    let mut conn: Option<std::net::TcpStream> = None;
    let mut n = 0u64;
    paced(rate, stop, || {
        n += 1;
        let frame = framed(&make(n));
        if conn.is_none() {
            conn = std::net::TcpStream::connect(to).ok();
        }
        if let Some(c) = conn.as_mut() {
            if c.write_all(&frame).is_err() {
                conn = None;
            }
        }
        count.fetch_add(1, Ordering::Relaxed);
        Ok(())
    })
}

fn tcp_records(
    to: SocketAddr,
    rate: u32,
    stop: &AtomicBool,
    count: &AtomicU64,
) -> Result<(), String> {
    let me = tcp_sender("flooder-tcp");
    frames(to, rate, stop, count, |n| {
        // Fake `Up` members, tombstones, then the record bound exactly
        // and one record over it.
        let (join_ack, status, records) = match n % 4 {
            0 => (false, St::Up, forge::FRAME_RECORDS),
            1 => (true, St::DownFailed, forge::FRAME_RECORDS),
            2 => (false, St::Up, forge::RECORD_BOUND),
            _ => (false, St::Up, forge::RECORD_BOUND + 1),
        };
        let mut recs = Vec::with_capacity(records * 32);
        let base = 1_000_000 + n * forge::RECORD_BOUND as u64 + n;
        for i in 0..records as u64 {
            record(&mut recs, &fake(base + i), status, 0, base + i);
        }
        forge::full_state(join_ack, &me, records as u64, &recs)
    })
}

fn health_poison(to: SocketAddr, stop: &AtomicBool, count: &AtomicU64) -> Result<(), String> {
    let me = tcp_sender("flooder-poison");
    frames(to, 5, stop, count, |n| {
        let mut recs = Vec::new();
        for i in 0..forge::POISON_MEMBERS as u64 {
            // Ever higher incarnations refute any suspicion of them.
            record(&mut recs, &fake(5_000_000 + i), St::Up, n as u32, 1 + i);
        }
        forge::full_state(false, &me, forge::POISON_MEMBERS as u64, &recs)
    })
}

/// Connections from 127.0.2.x and up, each holding two bytes of a
/// length prefix until the target closes it, then reconnecting.
fn slots(to: SocketAddr, stop: &AtomicBool, count: &AtomicU64) -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async {
        let stop_flag = Arc::new(AtomicBool::new(false));
        let opened = Arc::new(AtomicU64::new(0));
        let mut tasks = Vec::new();
        for i in 0..SLOT_CONNECTIONS {
            let ip = IpAddr::V4(Ipv4Addr::new(
                127,
                0,
                2 + (i / 200) as u8,
                2 + (i % 200) as u8,
            ));
            let (stop_flag, opened) = (stop_flag.clone(), opened.clone());
            tasks.push(tokio::spawn(async move {
                while !stop_flag.load(Ordering::Relaxed) {
                    let Ok(socket) = tokio::net::TcpSocket::new_v4() else {
                        return;
                    };
                    if socket.bind(SocketAddr::new(ip, 0)).is_err() {
                        return;
                    }
                    let Ok(mut s) = socket.connect(to).await else {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    };
                    opened.fetch_add(1, Ordering::Relaxed);
                    let _ = s.write_all(&[0, 0]).await;
                    let mut buf = [0u8; 16];
                    // Held until the target closes it (or the flood ends).
                    loop {
                        let read =
                            tokio::time::timeout(Duration::from_millis(200), s.read(&mut buf));
                        match read.await {
                            Ok(Ok(0)) | Ok(Err(_)) => break,
                            Ok(Ok(_)) => {}
                            Err(_) if stop_flag.load(Ordering::Relaxed) => break,
                            Err(_) => {}
                        }
                    }
                }
            }));
        }
        while !stop.load(Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        stop_flag.store(true, Ordering::Relaxed);
        for t in tasks {
            let _ = t.await;
        }
        count.store(opened.load(Ordering::Relaxed), Ordering::Relaxed);
    });
    Ok(())
}
