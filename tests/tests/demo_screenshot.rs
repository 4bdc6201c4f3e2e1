//! Makes the README's screenshot, `docs/cluster-monitor.png`: the compose
//! demo with a frontend and four backends, the page open in headless Chromium
//! for about two minutes so the charts have a history, with one backend's
//! process killed on the way (Docker restarts it; it rejoins as a new member).
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

fn wait_up(compose: &Compose, n: usize) {
    wait_for(&format!("{n} members Up"), T, || {
        let api = members(compose.frontend)?;
        let up = with_status(&api, "up", None).len();
        (up == n).then_some(()).ok_or(format!("{up} up"))
    });
}

/// Waits until the members chart holds at least `n` samples.
fn wait_points(browser: &mut Browser, n: u64) {
    wait_for(
        &format!("{n} chart samples"),
        Duration::from_secs(300),
        || {
            let p = browser
                .eval("Number(document.getElementById('chart-members').dataset.points || 0)");
            let p = p.as_u64().unwrap_or(0);
            (p >= n).then_some(()).ok_or(format!("{p} samples"))
        },
    );
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
    wait_up(&compose, 5);

    let mut browser = Browser::start(1440, 980);
    browser.navigate(&format!("http://{}/", compose.frontend));
    wait_points(&mut browser, 25);

    // A backend crashes (SIGKILL from the host, so Docker restarts it).
    let victim = compose.containers("backend")[1].clone();
    let out = Command::new("docker")
        .args(["inspect", "-f", "{{.State.Pid}}", &victim])
        .output()
        .unwrap();
    let pid = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(Command::new("kill")
        .args(["-KILL", &pid])
        .status()
        .unwrap()
        .success());
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
