//! Memory per known member, measured in a fresh child process.

use std::time::Duration;

use actix_cluster_sim::{derive_seed, NetConfig, SimError};

use crate::suite::ours;
use crate::{world, BenchSystem, Foca, MemoryFigure, SystemKind};

/// Resident set size of this process in bytes (Linux `/proc/self/statm`), if
/// available.
pub fn rss_bytes() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = s.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

/// Bytes this process holds on its heap, as a counting global allocator
/// tells (so the figure does not depend on the machine's allocator or page
/// size).
pub type HeapCounter = fn() -> u64;

fn probe<S: BenchSystem>(
    sys: S,
    n: usize,
    seed: u64,
    heap: Option<HeapCounter>,
) -> Result<MemoryFigure, SimError> {
    let kind = sys.kind();
    let before = rss_bytes().unwrap_or(0);
    let heap_before = heap.map(|h| h());
    let mut w = world::World::new(
        sys,
        derive_seed(seed, 0x3005, n as u64),
        NetConfig::default(),
        n,
    )?;
    w.cold_start(n)?;
    w.converge(Duration::from_secs(180));
    w.run_for(Duration::from_secs(5));
    let after = rss_bytes().unwrap_or(0);
    let heap_growth = heap.zip(heap_before).map(|(h, b)| h().saturating_sub(b));
    let table_entries = w
        .sim
        .live()
        .into_iter()
        .filter_map(|a| w.sim.node(a))
        .map(|node| S::table_len(node) as u64)
        .sum();
    Ok(MemoryFigure {
        kind,
        n,
        rss_growth_bytes: after.saturating_sub(before),
        table_entries,
        heap_growth_bytes: heap_growth,
    })
}

/// Builds and converges a cluster of `n` of `kind` and measures how much the
/// resident set grew. Meant to run alone in a fresh process (the binary's
/// `--memory-probe`), so nothing else allocates meanwhile. With `heap`, the
/// heap's growth is counted too.
pub fn memory_probe(
    kind: SystemKind,
    n: usize,
    seed: u64,
    heap: Option<HeapCounter>,
) -> Result<MemoryFigure, SimError> {
    match kind {
        SystemKind::Foca => probe(Foca::default(), n, seed, heap),
        k => probe(ours(k), n, seed, heap),
    }
}
