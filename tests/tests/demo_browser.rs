//! A real browser against a running cluster: headless Chromium (Debian's
//! `chromium`) loads the cluster-monitor page served by the frontend, finds a
//! tile for every member, and a click on a tile's "Leave" button takes that
//! member out of the cluster; the charts (members by status, suspicions,
//! traffic) draw from `/metrics` and the event stream. The ticker
//! singleton's tile is marked and the ticks count up; the work button sends
//! jobs through the router and shows the count each backend handled.
//! Screenshots go to `tests/artifacts/`.

use std::time::Duration;

use actix_cluster_tests::demo::{
    artifacts_dir, members, singleton, wait_for, with_status, Browser, Monitor, TempDir,
};
use actix_cluster_tests::etcd::Etcd;
use serde_json::Value;

const T: Duration = Duration::from_secs(30);

/// Clicks the element `selector` names, with the mouse.
fn click(browser: &mut Browser, selector: &str) {
    let rect = browser.eval(&format!(
        "(() => {{ const b = document.querySelector({selector:?}); b.scrollIntoView({{block: 'center'}}); \
         const r = b.getBoundingClientRect(); return {{x: r.x + r.width / 2, y: r.y + r.height / 2}}; }})()"
    ));
    browser.click_at(rect["x"].as_f64().unwrap(), rect["y"].as_f64().unwrap());
}

/// The ticker singleton: one tile marked, the one `/api/singleton` names,
/// and the ticks counting up in the summary. Then the work button: its
/// counts name the three backends and add up to 1000.
fn singleton_and_work(browser: &mut Browser, front: std::net::SocketAddr, backends: &[String]) {
    let host = wait_for("the ticker's host", T, || {
        let v = singleton(front)?;
        v["host"].as_str().map(str::to_owned).ok_or(v.to_string())
    });
    wait_for("the ticker's tile marked, ticks counting", T, || {
        let s = browser.eval(
            "JSON.stringify({marked: [...document.querySelectorAll('#grid .tile[data-singleton]')].map(t => t.dataset.id), \
             ticks: Number(document.getElementById('stat-ticks').textContent) || 0})",
        );
        let v: Value = serde_json::from_str(s.as_str().unwrap_or("{}")).unwrap();
        let ok = v["marked"] == serde_json::json!([host]) && v["ticks"].as_u64().unwrap_or(0) > 0;
        ok.then_some(()).ok_or(v.to_string())
    });
    click(browser, "#work-send");
    let counts = wait_for("the work counts", T, || {
        let s = browser.eval(
            "JSON.stringify([...document.querySelectorAll('#work-counts li')].map(l => [l.dataset.id, Number(l.dataset.count)]))",
        );
        let v: Value = serde_json::from_str(s.as_str().unwrap_or("[]")).unwrap();
        let rows = v.as_array().cloned().unwrap_or_default();
        (rows.len() == 3).then_some(rows).ok_or(v.to_string())
    });
    let mut ids: Vec<&str> = counts.iter().filter_map(|r| r[0].as_str()).collect();
    ids.sort_unstable();
    let mut want: Vec<&str> = backends.iter().map(String::as_str).collect();
    want.sort_unstable();
    assert_eq!(ids, want, "{counts:?}");
    let total: u64 = counts.iter().filter_map(|r| r[1].as_u64()).sum();
    assert_eq!(total, 1000, "{counts:?}");
}

#[test]
fn the_page_shows_every_member_and_a_click_makes_one_leave() {
    let etcd = Etcd::start();
    let logs = TempDir::new("browser");
    let cluster = format!("browser-{}", std::process::id());
    let endpoints = etcd.endpoints();
    let mut nodes = Monitor::start_demo(&cluster, &endpoints, &logs.0);
    let ids: Vec<String> = nodes.iter_mut().map(|n| n.wait_ready(T)).collect();
    let front = nodes[0].http;
    wait_for("the frontend to see 4 members Up", T, || {
        let api = members(front)?;
        (with_status(&api, "up", None).len() == 4)
            .then_some(())
            .ok_or(api.to_string())
    });

    let mut browser = Browser::start(1440, 900);
    browser.navigate(&format!("http://{front}/"));

    // A tile per member, each Up, with its name; the stream is live.
    let tiles: Value = wait_for("a tile per member in the page", T, || {
        browser.tiles_when_up(4)
    });
    for (node, id) in nodes.iter().zip(&ids) {
        let tile = tiles
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["id"] == id.as_str());
        let tile = tile.unwrap_or_else(|| panic!("no tile for {id}: {tiles}"));
        assert_eq!(tile["name"], node.name.as_str());
    }
    wait_for("the connection state to say live", T, || {
        let s = browser.eval("document.getElementById('conn').dataset.state");
        (s == "live").then_some(()).ok_or(s.to_string())
    });
    assert_eq!(
        browser.eval("document.querySelectorAll('#grid .tile[data-leader]').length"),
        1
    );
    // The charts: an SVG each with a line per series and a few samples; the
    // members chart's last sample is this node's view (4 Up), traffic flows.
    let charts = wait_for("the charts to draw with data", T, || {
        let c = browser.eval(
            "JSON.stringify(['chart-members', 'chart-suspicions', 'chart-traffic'].map(id => { \
             const e = document.getElementById(id); return {id, points: Number(e.dataset.points || 0), \
             lines: e.querySelectorAll('svg polyline').length, up: e.dataset.lastUp || '', \
             sent: Number(e.dataset.lastOut || 0), received: Number(e.dataset.lastIn || 0)}; }))",
        );
        let c: Value = serde_json::from_str(c.as_str().unwrap_or("[]")).unwrap();
        let ok = c.as_array().is_some_and(|cs| {
            cs.len() == 3
                && cs.iter().all(|x| x["points"].as_u64().unwrap_or(0) >= 5)
                && cs[0]["lines"] == 5
                && cs[0]["up"] == "4"
                && cs[1]["lines"] == 2
                && cs[2]["lines"] == 2
                && cs[2]["sent"].as_f64().unwrap_or(0.0) > 0.0
                && cs[2]["received"].as_f64().unwrap_or(0.0) > 0.0
        });
        ok.then_some(c.clone()).ok_or(c.to_string())
    });
    eprintln!("charts: {charts}");
    // Every tile shows the round trip of an ask from this node to that
    // member's ping actor (the remote actors).
    wait_for("a round trip on every tile", T, || {
        let n = browser.eval("document.querySelectorAll('#grid .tile .rtt[data-rtt-us]').length");
        (n == 4).then_some(()).ok_or(n.to_string())
    });
    singleton_and_work(&mut browser, front, &ids[1..]);
    browser.screenshot(&artifacts_dir().join("cluster-monitor-browser.png"));

    // Click "Leave" on backend-2's tile, with the mouse.
    let target = &ids[2];
    let rect = browser.eval(&format!(
        "(() => {{ const b = [...document.querySelectorAll('#grid .tile')].find(t => t.dataset.id === {target:?}).querySelector('button.leave'); \
         b.scrollIntoView({{block: 'center'}}); const r = b.getBoundingClientRect(); \
         return {{x: r.x + r.width / 2, y: r.y + r.height / 2}}; }})()"
    ));
    browser.click_at(rect["x"].as_f64().unwrap(), rect["y"].as_f64().unwrap());

    // The member leaves: its process exits 0, the page and the API show it left.
    let status = nodes[2].wait_exit(Duration::from_secs(15));
    assert!(status.success(), "exit {status}; log:\n{}", nodes[2].log());
    wait_for("the page to show the member as left", T, || {
        let s = browser.eval(&format!(
            "(() => {{ const t = [...document.querySelectorAll('#grid .tile')].find(t => t.dataset.id === {target:?}); \
             return t ? t.dataset.status + '/' + (t.dataset.reason || '') : 'removed'; }})()"
        ));
        (s == "down/left" || s == "removed")
            .then_some(())
            .ok_or(s.to_string())
    });
    let api = members(front).unwrap();
    assert!(
        api["members"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["id"] != target.as_str() || m["status"] == "down"),
        "{api}"
    );
    assert_eq!(with_status(&api, "up", None).len(), 3, "{api}");
    let log = browser.eval("document.getElementById('events').textContent");
    assert!(
        log.as_str().unwrap().contains("backend-2 left the cluster"),
        "{log}"
    );
    browser.screenshot(&artifacts_dir().join("cluster-monitor-browser-after-leave.png"));

    // The stream drops when the frontend stops; the page says so, and
    // reconnects by itself once a frontend serves that address again.
    nodes[0].signal("TERM");
    assert!(nodes[0].wait_exit(Duration::from_secs(15)).success());
    wait_for("the page to notice the stream dropped", T, || {
        let s = browser.eval("document.getElementById('conn').dataset.state");
        (s != "live").then_some(()).ok_or(s.to_string())
    });
    let mut again = Monitor::start_on(
        "frontend",
        "frontend-again",
        &cluster,
        &endpoints,
        &logs.0,
        front,
    );
    let again_id = again.wait_ready(T);
    wait_for("the page to reconnect to the new frontend", T, || {
        let s = browser.eval(
            "document.getElementById('conn').dataset.state + ' ' + document.getElementById('self-name').textContent",
        );
        (s == "live frontend-again")
            .then_some(())
            .ok_or(s.to_string())
    });
    wait_for("the new frontend's tile", T, || {
        let n = browser.eval(&format!(
            "[...document.querySelectorAll('#grid .tile')].filter(t => t.dataset.id === {again_id:?} && t.dataset.status === 'up').length"
        ));
        (n == 1).then_some(()).ok_or(n.to_string())
    });
    drop(etcd);
}
