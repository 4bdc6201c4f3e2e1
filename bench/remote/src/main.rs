//! The remote messaging benchmark: Akka's MaxThroughputSpec and LatencySpec
//! shapes over loopback, our remote layer (sealed and plaintext) side by
//! side with actix-telepathy and ractor_cluster in one run.
//!
//! `remote-bench --out DIR [--write BENCHMARKS.md] [--quick]` is the
//! orchestrator: it starts every sender and receiver as a child process of
//! its own (this binary with `child SYSTEM ROLE key=value...`), reads their
//! lines, reads their memory from `/proc/<pid>/status`, stops them by pid,
//! and writes `DIR/remote-messaging.md` (and the "Remote messaging" section
//! of the file given to `--write`).

mod common;
mod orchestrate;
mod ours;
mod ractor_peer;
mod telepathy;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("child") {
        let (system, role) = (&args[1], &args[2]);
        let kv = common::Args::parse(&args[3..]);
        match system.as_str() {
            "ours-sealed" => ours::run(role, &kv, true),
            "ours-plain" => ours::run(role, &kv, false),
            "ours-members" => ours::run_members(role, &kv),
            "telepathy" => telepathy::run(role, &kv),
            "ractor" => ractor_peer::run(role, &kv),
            other => anyhow::bail!("unknown system {other}"),
        }
        return Ok(());
    }
    orchestrate::main(&args)
}
