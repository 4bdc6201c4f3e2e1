//! Simulator throughput at 1000 members. Ignored by default (a measurement, not
//! a test); run in release mode:
//! `cargo test --release -p actix-cluster-sim --test perf -- --ignored --nocapture`.

use std::time::{Duration, Instant};

use actix_cluster_proto::Config;
use actix_cluster_sim::{CoreNode, CoreOpts, NetConfig, Sim};

#[test]
#[ignore]
fn thousand_members_for_two_minutes() {
    let mut sim: Sim<CoreNode> = Sim::new(1, NetConfig::default()).unwrap();
    sim.set_keep_log(false);
    sim.set_check_interval(Duration::from_millis(100));
    let opts = CoreOpts {
        record_events: false,
        ..CoreOpts::with_config(Config::lan())
    };
    let wall = Instant::now();
    let addrs = sim.start_cluster(1000, 3, &opts).unwrap();
    let up = sim.run_until_condition(Duration::from_secs(60), |s| s.all_see_up());
    println!(
        "1000 members: converged at {up:?} (virtual) after {:?} wall, {} actions",
        wall.elapsed(),
        sim.actions_processed()
    );
    let start = sim.now();
    let (w, a) = (Instant::now(), sim.actions_processed());
    sim.reset_stats();
    sim.run_for(Duration::from_secs(60));
    let idle = w.elapsed();
    let bytes = sim.total_stats().bytes_sent();
    println!(
        "idle 60 s virtual: {idle:?} wall, {} actions, {:.0} member-s per wall s, {:.0} bit/s per member",
        sim.actions_processed() - a,
        1000.0 * 60.0 / idle.as_secs_f64(),
        bytes as f64 * 8.0 / 60.0 / 1000.0
    );
    let w = Instant::now();
    sim.crash(addrs[500]).unwrap();
    let down = sim.run_until_condition(sim.now() + Duration::from_secs(60), |s| {
        s.all_see_down(addrs[500])
    });
    println!(
        "crash seen down everywhere after {:?} virtual, {:?} wall",
        down.map(|t| t - start - Duration::from_secs(60)),
        w.elapsed()
    );
    println!(
        "total wall {:?}, events {}",
        wall.elapsed(),
        sim.events_total()
    );
}
