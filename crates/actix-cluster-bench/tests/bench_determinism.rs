//! The benchmark's figures depend only on the seed: the same tiny configuration
//! run twice (on different thread counts) gives equal results, and the report
//! written from them is the same too.

use actix_cluster_bench::{report, run_suite, SuiteConfig, SystemKind, WallFigures};

#[test]
fn same_seed_same_figures() {
    let cfg = SuiteConfig::tiny(7);
    let quiet = |_: actix_cluster_bench::JobDone<'_>| {};
    let (a, _) = run_suite(&cfg, 1, &quiet).expect("first run");
    let (b, _) = run_suite(&cfg, 2, &quiet).expect("second run");
    assert_eq!(a, b, "same seed, different figures");

    // Every system measured every scenario.
    for kind in SystemKind::ALL {
        let w = a.world(kind, 6).expect("world of every system");
        assert_eq!(w.world.crash_down.trials(), 2);
        assert_eq!(w.world.join.trials(), 2);
        assert_eq!(w.cold_start.trials(), 2);
        assert!(
            w.world.idle.msgs_per_member_s > 0.0,
            "{kind:?} sent nothing"
        );
    }
    assert_eq!(a.false_alarms.len(), 9);
    assert_eq!(a.sweep.len(), 3);

    // A different seed gives a different run (the seed is really used).
    let (c, _) = run_suite(&SuiteConfig::tiny(8), 2, &quiet).expect("third run");
    assert_ne!(a, c);

    // The report is a function of the figures.
    let wall = WallFigures::default();
    assert_eq!(report::markdown(&a, &wall), report::markdown(&b, &wall));
    let dir = std::env::temp_dir().join(format!("bench-report-{}", std::process::id()));
    report::write_all(&dir, &a, &wall).expect("write report");
    let md = std::fs::read_to_string(dir.join("BENCHMARKS.md")).expect("BENCHMARKS.md");
    assert!(md.contains("## Goals"));
    for svg in ["crash_detection.svg", "join.svg", "idle_traffic.svg"] {
        let text = std::fs::read_to_string(dir.join("docs/bench").join(svg)).expect(svg);
        assert!(text.starts_with("<svg"), "{svg} is not SVG");
    }
    // No README.md in `dir`: the section goes beside the plots.
    assert!(dir.join("docs/bench/readme-section.md").exists());
    let readme = "# T\n<!-- benchmarks:begin (written by the bench binary) -->\nold\n<!-- benchmarks:end -->\ntail\n";
    let spliced = report::splice_readme(readme, "## Benchmarks\nnew").expect("markers");
    assert!(spliced.contains("## Benchmarks\nnew") && !spliced.contains("old"));
    assert!(spliced.ends_with("<!-- benchmarks:end -->\ntail\n"));
    assert!(report::splice_readme("# no markers", "x").is_none());
    let _ = std::fs::remove_dir_all(&dir);
}
