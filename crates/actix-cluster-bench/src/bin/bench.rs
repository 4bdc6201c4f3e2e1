//! The benchmark command: runs the suite in virtual time and writes
//! BENCHMARKS.md, the plots under docs/bench/ and the README's benchmark section.
//!
//! ```text
//! cargo run --release -p actix-cluster-bench --bin bench -- --out . [--quick] [--seed N] [--threads N] [--no-memory]
//! ```

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use actix_cluster_bench::{
    memory_probe, report, run_scale, run_suite, scale_markdown, splice_scale, JobDone,
    MemoryFigure, ScaleFigure, SuiteConfig, SystemKind, WallFigures, DEFAULT_SEED,
};
use anyhow::{bail, Context};
use stats_alloc::{StatsAlloc, INSTRUMENTED_SYSTEM};

/// The system allocator, counting what it hands out: the memory probe's
/// heap figure.
#[global_allocator]
static GLOBAL: &StatsAlloc<std::alloc::System> = &INSTRUMENTED_SYSTEM;

/// Bytes on the heap now: allocated less freed (the counter books a
/// reallocation's growth as allocated and its shrinking as freed).
fn heap_bytes() -> u64 {
    let s = GLOBAL.stats();
    s.bytes_allocated.saturating_sub(s.bytes_deallocated) as u64
}

struct Args {
    out: Option<PathBuf>,
    quick: bool,
    seed: u64,
    threads: usize,
    memory: bool,
    probe: Option<(SystemKind, usize)>,
    sizes: Option<Vec<usize>>,
    systems: Option<Vec<SystemKind>>,
    no_false_alarms: bool,
    no_sweep: bool,
    no_downing: bool,
    report_from: Option<PathBuf>,
    scale: bool,
    scale_one: Option<(SystemKind, usize)>,
    trials: usize,
    notes: Option<PathBuf>,
    scale_from: Option<PathBuf>,
}

const USAGE: &str = "usage: bench [--out DIR] [--quick] [--seed N] [--threads N] [--no-memory]
  --out DIR     where to write BENCHMARKS.md, docs/bench/*.svg and README.md's benchmark section
                (default: . for the full suite, target/bench-quick with --quick, so a
                quick run never overwrites the committed full report)
  --quick       N = 10 and 100 only, fewer trials, shorter runs (CI)
  --seed N      master seed (default 20251126)
  --threads N   worker threads (default: available cores)
  --no-memory   skip the memory-per-member measurement (child processes)
  partial runs (the report then says what was not measured):
  --sizes LIST  only these of the mode's cluster sizes, e.g. 10,100
  --systems L   only these systems: ours, plain, foca
  --no-false-alarms, --no-sweep, --no-downing  skip those scenarios
  --report-from FILE  rewrite the report from a saved docs/bench/results.json
                (no simulation; the text and plots of this build, the figures of that run)
  --scale       the scale mode instead: N = 2000 and 10000 (or --sizes), ours and foca (or
                --systems), each in a child process one after the other; writes the section
                \"Scale\" of DIR/BENCHMARKS.md and DIR/docs/bench/scale.{md,json}
  --trials N    crash and join trials per run of the scale mode (default 5)
  --scale-notes FILE  text put under the scale tables (reasons for missed goals, profiles)
  --scale-from FILE   rewrite the Scale section from a saved docs/bench/scale.json";

impl Default for Args {
    fn default() -> Args {
        Args {
            out: None,
            quick: false,
            seed: DEFAULT_SEED,
            threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
            memory: true,
            probe: None,
            sizes: None,
            systems: None,
            no_false_alarms: false,
            no_sweep: false,
            no_downing: false,
            report_from: None,
            scale: false,
            scale_one: None,
            trials: 5,
            notes: None,
            scale_from: None,
        }
    }
}

fn parse() -> anyhow::Result<Args> {
    let mut a = Args::default();
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .with_context(|| format!("{name} needs a value\n{USAGE}"))
        };
        match arg.as_str() {
            "--out" => a.out = Some(PathBuf::from(value("--out")?)),
            "--quick" => a.quick = true,
            "--seed" => {
                a.seed = value("--seed")?
                    .parse()
                    .context("--seed must be an unsigned integer")?
            }
            "--threads" => {
                a.threads = value("--threads")?
                    .parse()
                    .context("--threads must be a positive integer")?;
                if a.threads == 0 {
                    bail!("--threads must be at least 1");
                }
            }
            "--no-memory" => a.memory = false,
            "--no-false-alarms" => a.no_false_alarms = true,
            "--no-sweep" => a.no_sweep = true,
            "--no-downing" => a.no_downing = true,
            "--report-from" => a.report_from = Some(PathBuf::from(value("--report-from")?)),
            "--sizes" => {
                let v = value("--sizes")?;
                let sizes = v
                    .split(',')
                    .map(|x| x.trim().parse::<usize>())
                    .collect::<Result<Vec<_>, _>>()
                    .with_context(|| format!("--sizes wants a list like 10,100, not {v:?}"))?;
                a.sizes = Some(sizes);
            }
            "--systems" => {
                let v = value("--systems")?;
                let systems = v
                    .split(',')
                    .map(|x| {
                        SystemKind::from_short(x.trim())
                            .with_context(|| format!("unknown system {x:?} (ours, plain, foca)"))
                    })
                    .collect::<anyhow::Result<Vec<_>>>()?;
                a.systems = Some(systems);
            }
            "--memory-probe" => a.probe = Some(system_and_size(&mut value, "--memory-probe")?),
            "--scale-one" => a.scale_one = Some(system_and_size(&mut value, "--scale-one")?),
            "--scale" => a.scale = true,
            "--scale-from" => a.scale_from = Some(PathBuf::from(value("--scale-from")?)),
            "--scale-notes" => a.notes = Some(PathBuf::from(value("--scale-notes")?)),
            "--trials" => {
                a.trials = value("--trials")?
                    .parse()
                    .context("--trials must be an unsigned integer")?
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?}\n{USAGE}"),
        }
    }
    Ok(a)
}

/// The two values of `--memory-probe` and `--scale-one`: a system and a
/// cluster size.
fn system_and_size(
    value: &mut impl FnMut(&str) -> anyhow::Result<String>,
    flag: &str,
) -> anyhow::Result<(SystemKind, usize)> {
    let kind = value(flag)?;
    let kind = SystemKind::from_short(&kind)
        .with_context(|| format!("unknown system {kind:?} (ours, plain, foca)"))?;
    let n = value(flag)?
        .parse()
        .with_context(|| format!("{flag} needs a cluster size"))?;
    Ok((kind, n))
}

/// Starts one memory probe in a child process (a fresh heap).
fn spawn_probe(kind: SystemKind, n: usize, seed: u64) -> anyhow::Result<Child> {
    let exe = std::env::current_exe().context("cannot find this executable")?;
    Command::new(exe)
        .args([
            "--memory-probe",
            kind.short(),
            &n.to_string(),
            "--seed",
            &seed.to_string(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot run the memory probe")
}

/// Waits for a memory probe and reads its figure.
fn probe_result(kind: SystemKind, n: usize, child: Child) -> anyhow::Result<MemoryFigure> {
    let out = child
        .wait_with_output()
        .context("cannot wait for the memory probe")?;
    if !out.status.success() {
        bail!(
            "memory probe failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut nums = text.split_whitespace().map(str::parse::<u64>);
    match (nums.next(), nums.next()) {
        (Some(Ok(rss)), Some(Ok(entries))) => Ok(MemoryFigure {
            kind,
            n,
            rss_growth_bytes: rss,
            table_entries: entries,
            heap_growth_bytes: nums.next().and_then(Result::ok),
        }),
        _ => bail!("memory probe printed {text:?}"),
    }
}

/// `--report-from`: rewrites the report from saved results.
fn rewrite_report(path: &Path, out: Option<PathBuf>) -> anyhow::Result<()> {
    let saved = report::load(path)
        .with_context(|| format!("cannot read results from {}", path.display()))?;
    let out = out.unwrap_or_else(|| PathBuf::from("."));
    report::write_all(&out, &saved.results, &saved.wall)
        .with_context(|| format!("cannot write the report under {}", out.display()))?;
    println!(
        "bench: rewrote {} from {}",
        out.join("BENCHMARKS.md").display(),
        path.display()
    );
    Ok(())
}

/// The mode's configuration, narrowed by the partial-run options.
fn suite_config(args: &Args) -> SuiteConfig {
    let mut cfg = if args.quick {
        SuiteConfig::quick(args.seed)
    } else {
        SuiteConfig::full(args.seed)
    };
    if let Some(sizes) = &args.sizes {
        cfg.sizes.retain(|p| sizes.contains(&p.n));
    }
    if let Some(systems) = &args.systems {
        cfg.systems.clone_from(systems);
    }
    if args.no_false_alarms {
        cfg.false_alarm = std::time::Duration::ZERO;
    }
    if args.no_sweep {
        cfg.sweep_mults.clear();
    }
    if args.no_downing {
        cfg.downing.clear();
    }
    cfg
}

/// Prints a finished job to stderr.
fn progress(j: JobDone<'_>) {
    eprintln!(
        "bench: [{}/{}] {} took {:.1} s wall, {} CPU ({:.1} s elapsed)",
        j.done,
        j.total,
        j.label,
        j.took.as_secs_f64(),
        j.cpu
            .map_or("?".to_owned(), |c| format!("{:.1} s", c.as_secs_f64())),
        j.elapsed.as_secs_f64()
    );
}

/// Memory per known member of every system, each in a child process, all at
/// once (each measures only its own process).
fn measure_memory(cfg: &SuiteConfig, args: &Args, wall: &mut WallFigures, start: Instant) {
    let n = if args.quick { 100 } else { 300 };
    let children: Vec<_> = cfg
        .systems
        .iter()
        .map(|&kind| (kind, spawn_probe(kind, n, args.seed)))
        .collect();
    for (kind, child) in children {
        match child.and_then(|c| probe_result(kind, n, c)) {
            Ok(f) => wall.memory.push(f),
            Err(e) => eprintln!("bench: memory probe of {} skipped: {e:#}", kind.label()),
        }
    }
    eprintln!(
        "bench: memory probes done ({:.1} s elapsed)",
        start.elapsed().as_secs_f64()
    );
}

/// The largest size the scale mode runs foca at: its full views take about
/// 300 B per known member (measured at 2,000), so 10,000 members would need
/// some 30 GB.
const FOCA_SCALE_MAX: usize = 5000;

/// Runs one system at one size of the scale mode in a child process (a
/// fresh heap, and one large run at a time). glibc's allocator is told to
/// hand large freed blocks back: otherwise it keeps the cold start's buffers
/// and a run at 10,000 grows past 16 GB of RSS after the drain.
fn scale_child(kind: SystemKind, n: usize, args: &Args) -> anyhow::Result<ScaleFigure> {
    let exe = std::env::current_exe().context("cannot find this executable")?;
    let out = Command::new(exe)
        .args(["--scale-one", kind.short(), &n.to_string()])
        .args(["--seed", &args.seed.to_string()])
        .args(["--trials", &args.trials.to_string()])
        .env("MALLOC_MMAP_THRESHOLD_", "131072")
        .stderr(Stdio::inherit())
        .output()
        .context("cannot run the scale child")?;
    if !out.status.success() {
        bail!(
            "scale run of {} at N = {n} failed ({})",
            kind.label(),
            out.status
        );
    }
    serde_json::from_slice(&out.stdout).context("the scale child printed no figures")
}

/// `--scale`: every size and system, then the report.
fn scale_mode(args: &Args) -> anyhow::Result<()> {
    let sizes = args.sizes.clone().unwrap_or_else(|| vec![2000, 10_000]);
    let systems = args
        .systems
        .clone()
        .unwrap_or_else(|| vec![SystemKind::Ours, SystemKind::Foca]);
    let mut figs: Vec<ScaleFigure> = match &args.scale_from {
        Some(p) => serde_json::from_str(
            &std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))?,
        )
        .with_context(|| format!("{} holds no scale figures", p.display()))?,
        None => Vec::new(),
    };
    let runs = if args.scale_from.is_some() {
        &[][..]
    } else {
        &sizes[..]
    };
    for &n in runs {
        for &kind in &systems {
            if kind == SystemKind::Foca && n > FOCA_SCALE_MAX {
                eprintln!(
                    "bench: scale {} N = {n} skipped: its members keep about 300 B per known member, {:.0} GB at this size",
                    kind.label(),
                    (n * n) as f64 * 300.0 / 1e9
                );
                continue;
            }
            let t0 = Instant::now();
            match scale_child(kind, n, args) {
                Ok(f) => figs.push(f),
                Err(e) => eprintln!("bench: {e:#}"),
            }
            eprintln!(
                "bench: scale {} N = {n} took {:.0} s",
                kind.label(),
                t0.elapsed().as_secs_f64()
            );
        }
    }
    let notes = match &args.notes {
        Some(p) => {
            std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))?
        }
        None => String::new(),
    };
    let section = scale_markdown(&figs, args.seed, &notes);
    let out = args.out.clone().unwrap_or_else(|| PathBuf::from("."));
    let plots = out.join("docs").join("bench");
    std::fs::create_dir_all(&plots)?;
    std::fs::write(plots.join("scale.md"), &section)?;
    std::fs::write(
        plots.join("scale.json"),
        serde_json::to_string_pretty(&figs)? + "\n",
    )?;
    let md = out.join("BENCHMARKS.md");
    let text = std::fs::read_to_string(&md).unwrap_or_default();
    std::fs::write(&md, splice_scale(&text, &section))?;
    eprintln!("bench: wrote the Scale section of {}", md.display());
    Ok(())
}

/// `git describe --always --dirty` of the working directory, if any.
fn git_source() -> Option<String> {
    Command::new("git")
        .args(["describe", "--always", "--dirty"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .filter(|s| !s.is_empty())
}

fn main() -> anyhow::Result<()> {
    let args = parse()?;
    if let Some((kind, n)) = args.probe {
        let f = memory_probe(kind, n, args.seed, Some(heap_bytes))?;
        let heap = f.heap_growth_bytes.unwrap_or(0);
        println!("{} {} {heap}", f.rss_growth_bytes, f.table_entries);
        return Ok(());
    }
    if let Some((kind, n)) = args.scale_one {
        let f = run_scale(kind, n, args.trials, args.seed, Some(heap_bytes))?;
        println!("{}", serde_json::to_string(&f)?);
        return Ok(());
    }
    if args.scale || args.scale_from.is_some() {
        return scale_mode(&args);
    }
    if let Some(path) = &args.report_from {
        return rewrite_report(path, args.out.clone());
    }
    let start = Instant::now();
    let out = args.out.clone().unwrap_or_else(|| {
        PathBuf::from(if args.quick {
            "target/bench-quick"
        } else {
            "."
        })
    });
    let cfg = suite_config(&args);
    eprintln!(
        "bench: {} mode, seed {}, {} threads",
        cfg.mode, cfg.seed, args.threads
    );
    let (results, mut wall) = run_suite(&cfg, args.threads, &progress)?;
    if args.memory {
        measure_memory(&cfg, &args, &mut wall, start);
    }
    wall.total = start.elapsed();
    wall.source = git_source();
    report::write_all(&out, &results, &wall)
        .with_context(|| format!("cannot write the report under {}", out.display()))?;
    for g in report::goals(&results, &wall) {
        eprintln!("goal: {} -> {} [{:?}]", g.goal, g.figure, g.status);
    }
    println!(
        "bench: wrote {} (and docs/bench/*.svg, the README section) in {:.1} s wall time",
        out.join("BENCHMARKS.md").display(),
        wall.total.as_secs_f64()
    );
    Ok(())
}
