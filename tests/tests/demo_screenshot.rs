//! Makes the README's screenshot, `docs/cluster-monitor.png`: the compose
//! demo with a frontend and four backends, the page open in headless Chromium
//! for about two minutes so the charts have a history, with one backend
//! paused until suspected (then refuted) and another one's process killed on
//! the way (Docker restarts it; it rejoins as a new member).
//! Not a check: ignored by default, run it by hand to refresh the picture:
//!
//! ```sh
//! cargo test -p actix-cluster-tests --test demo_screenshot -- --ignored --nocapture
//! ```

use std::process::Command;
use std::time::Duration;

use actix_cluster_tests::demo::{
    docker_available, ensure_demo_images, members, wait_for, with_status, Browser, Compose,
};
use actix_cluster_tests::etcd::repo_root;
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

fn pid_of(container: &str) -> String {
    let out = Command::new("docker")
        .args(["inspect", "-f", "{{.State.Pid}}", container])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn signal(sig: &str, pid: &str) {
    let ok = Command::new("kill")
        .args([&format!("-{sig}"), pid])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -{sig} {pid}");
}

#[test]
#[ignore = "makes docs/cluster-monitor.png; run by hand"]
fn readme_screenshot() {
    if !docker_available("readme_screenshot") {
        return;
    }
    ensure_demo_images();
    let compose = Compose::new("shot");
    compose.run(&["up", "-d", "--scale", "backend=4"]);
    compose.wait_members_up(5, T);

    let mut browser = Browser::start(1440, 980);
    browser.navigate(&format!("http://{}/", compose.frontend));
    wait_points(&mut browser, 20);

    // A backend pauses (SIGSTOP) until it is suspected, then goes on: the
    // suspicion is refuted, nobody is downed (the pause is shorter than
    // max_pause).
    let backends = compose.containers("backend");
    let paused = pid_of(&backends[0]);
    signal("STOP", &paused);
    wait_for("a suspected member", T, || {
        let api = members(compose.frontend)?;
        let suspected = api["members"]
            .as_array()
            .is_some_and(|ms| ms.iter().any(|m| m["reachable"] == false));
        suspected.then_some(()).ok_or(api.to_string())
    });
    signal("CONT", &paused);
    wait_for("everyone reachable again", T, || {
        let api = members(compose.frontend)?;
        let all = api["members"]
            .as_array()
            .is_some_and(|ms| ms.iter().all(|m| m["reachable"] == true));
        all.then_some(()).ok_or(api.to_string())
    });
    wait_points(&mut browser, 35);

    // A backend crashes (SIGKILL from the host, so Docker restarts it).
    signal("KILL", &pid_of(&backends[1]));
    wait_for("the crashed backend's successor Up", T, || {
        let api = members(compose.frontend)?;
        let down = api["members"]
            .as_array()
            .map(|ms| ms.iter().filter(|m| m["status"] == "down").count())
            .unwrap_or(0);
        let up = with_status(&api, "up", None).len();
        (up == 5 && down >= 1).then_some(()).ok_or(api.to_string())
    });
    wait_points(&mut browser, 60);
    let charts: Value = browser.eval("document.getElementById('chart-members').dataset.points");
    eprintln!("samples in the members chart: {charts}");
    let path = repo_root().join("docs/cluster-monitor.png");
    browser.screenshot(&path);
    eprintln!("wrote {}", path.display());
}
