//! Makes the README's screenshot, `docs/cluster-monitor.png`: a frontend and
//! four backends as local processes against a real etcd, the page open in
//! headless Chromium for about two minutes so the charts have a history, with
//! one backend paused until suspected (then refuted) and another one killed
//! on the way (a new process takes its place as a new member). The ticker
//! singleton's tile is marked with its ticks, and the work button has sent
//! 1,000 jobs through the router: the counts per backend are shown.
//! Not a check: ignored by default, run it by hand to refresh the picture:
//!
//! ```sh
//! cargo test -p actix-cluster-tests --test demo_screenshot -- --ignored --nocapture
//! ```

use std::time::Duration;

use actix_cluster_tests::demo::{
    members, singleton, wait_for, with_status, Browser, Monitor, TempDir,
};
use actix_cluster_tests::etcd::{fresh_cluster_name, repo_root, Etcd};
use serde_json::Value;

const T: Duration = Duration::from_secs(120);

/// Waits until the members chart holds at least `n` samples.
fn wait_points(browser: &mut Browser, n: u64) {
    wait_for(
        &format!("{n} chart samples"),
        Duration::from_secs(300),
        || {
            let p = browser
                .eval("Number((document.getElementById('chart-members') || {dataset: {}}).dataset.points || 0)");
            let p = p.as_u64().unwrap_or(0);
            (p >= n).then_some(()).ok_or(format!("{p} samples"))
        },
    );
}

#[test]
#[ignore = "makes docs/cluster-monitor.png; run by hand"]
fn readme_screenshot() {
    let etcd = Etcd::start();
    let logs = TempDir::new("shot");
    let cluster = fresh_cluster_name("shot");
    let endpoints = etcd.endpoints();
    let mut nodes = Monitor::start_demo(&cluster, &endpoints, &logs.0);
    nodes.push(Monitor::start(
        "backend",
        "backend-4",
        &cluster,
        &endpoints,
        &logs.0,
    ));
    for n in nodes.iter_mut() {
        n.wait_ready(T);
    }
    let front = nodes[0].http;
    let up = |n: usize| {
        wait_for(&format!("{n} members Up"), T, || {
            let api = members(front)?;
            let up = with_status(&api, "up", None).len();
            (up == n).then_some(api.clone()).ok_or(api.to_string())
        })
    };
    up(5);

    let mut browser = Browser::start(1440, 1180);
    browser.navigate(&format!("http://{front}/"));
    wait_points(&mut browser, 20);

    // A backend pauses (SIGSTOP) until it is suspected, then goes on: the
    // suspicion is refuted, nobody is downed.
    nodes[1].signal("STOP");
    wait_for("a suspected member", T, || {
        let api = members(front)?;
        let suspected = api["members"]
            .as_array()
            .is_some_and(|ms| ms.iter().any(|m| m["reachable"] == false));
        suspected.then_some(()).ok_or(api.to_string())
    });
    nodes[1].signal("CONT");
    wait_for("everyone reachable again", T, || {
        let api = members(front)?;
        let all = api["members"]
            .as_array()
            .is_some_and(|ms| ms.iter().all(|m| m["reachable"] == true));
        all.then_some(()).ok_or(api.to_string())
    });
    wait_points(&mut browser, 35);

    // A backend crashes (SIGKILL); a new process takes its place.
    nodes[2].signal("KILL");
    wait_for("the crashed backend shown down", T, || {
        let api = members(front)?;
        let down = with_status(&api, "down", None).len();
        (down >= 1).then_some(()).ok_or(api.to_string())
    });
    let mut next = Monitor::start("backend", "backend-5", &cluster, &endpoints, &logs.0);
    next.wait_ready(T);
    nodes.push(next);
    up(5);

    // The ticker's tile is marked; 1,000 jobs through the router.
    wait_for("the ticker's tile marked", T, || {
        let host = singleton(front)?["host"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let n = browser.eval("document.querySelectorAll('#grid .tile[data-singleton]').length");
        (n == 1 && !host.is_empty())
            .then_some(())
            .ok_or(n.to_string())
    });
    browser.eval("document.getElementById('work-send').click()");
    wait_for("the work counts", T, || {
        let n = browser.eval("document.querySelectorAll('#work-counts li').length");
        (n == 4).then_some(()).ok_or(n.to_string())
    });
    wait_points(&mut browser, 60);
    let charts: Value = browser.eval("document.getElementById('chart-members').dataset.points");
    eprintln!("samples in the members chart: {charts}");
    let path = repo_root().join("docs/cluster-monitor.png");
    browser.screenshot(&path);
    eprintln!("wrote {}", path.display());
}
