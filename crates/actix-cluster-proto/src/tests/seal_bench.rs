//! The cost of sealing (ignored tests, run in release):
//!
//! ```text
//! cargo test -p actix-cluster-proto --release seal_bench -- --ignored --nocapture
//! BENCH_N=1000 cargo test -p actix-cluster-proto --release keyed_idle -- --ignored --nocapture
//! ```

use std::hint::black_box;
use std::time::{Duration, Instant};

use super::bench::{converge, idle_traffic};
use super::*;
use crate::codec::{self, Sealer, SALT_LEN};
use crate::{Key, Keyring, SEAL_OVERHEAD};

/// This thread's time on a CPU so far (Linux: `/proc/thread-self/schedstat`),
/// so that a shared, loaded machine does not count others' time.
fn cpu_time() -> Option<Duration> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = text.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

/// Runs `f` `n` times; wall and CPU time per call.
fn per_call(n: u32, mut f: impl FnMut()) -> (Duration, Option<Duration>) {
    let (t, c) = (Instant::now(), cpu_time());
    for _ in 0..n {
        f();
    }
    let cpu = c.zip(cpu_time()).map(|(a, b)| (b - a) / n);
    (t.elapsed() / n, cpu)
}

/// ns per seal, per open, per seal + open of one datagram of
/// `max_datagram_size` (1400) bytes once sealed.
#[test]
#[ignore]
fn seal_bench_per_datagram() {
    let keys = Keyring::new(Key::from_bytes([3; 32]));
    let prefix = codec::prefix("default");
    let mut plain = prefix.clone();
    plain.resize(1400 - SEAL_OVERHEAD, 0xab);
    let mut sealer = Sealer::new([1; SALT_LEN]);
    let n = 200_000u32;
    let sealed = sealer.seal(&keys, &plain, prefix.len()).unwrap();
    assert_eq!(sealed.len(), 1400);
    let (seal_wall, seal_cpu) = per_call(n, || {
        black_box(sealer.seal(&keys, black_box(&plain), prefix.len()));
    });
    let (open_wall, open_cpu) = per_call(n, || {
        // Opening fails only at decoding (the payload is not a message): the
        // tag was checked and the body decrypted before.
        let r = codec::decode_keyed(
            black_box(&sealed),
            "default",
            1400,
            usize::MAX,
            Some(&keys),
            false,
            &codec::unknown,
        );
        assert!(!matches!(r, Err(crate::DecodeError::Unauthenticated(_))));
    });
    let ns = |d: Option<Duration>| d.map_or("?".to_owned(), |d| d.as_nanos().to_string());
    println!(
        "per 1400-byte datagram: seal {} ns, open {} ns, seal + open {} ns on CPU \
         (wall: {} / {} ns); {SEAL_OVERHEAD} bytes added per message",
        ns(seal_cpu),
        ns(open_cpu),
        ns(seal_cpu.zip(open_cpu).map(|(a, b)| a + b)),
        seal_wall.as_nanos(),
        open_wall.as_nanos(),
    );
}

/// Idle traffic per member, plaintext then keyed, at `BENCH_N` members
/// (default 100).
#[test]
#[ignore]
fn keyed_idle_traffic() {
    let n: usize = std::env::var("BENCH_N")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100);
    for keyed in [false, true] {
        let mut config = Config::lan();
        if keyed {
            config = config.with_keyring(Keyring::new(Key::from_bytes([3; 32])));
        }
        println!("keys: {keyed}");
        let mut net = Net::new(n, config, 42);
        converge(&mut net);
        idle_traffic(&mut net);
        assert_eq!(net.oversize_datagrams, 0);
    }
}
