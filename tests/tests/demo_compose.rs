//! The demo in containers, end to end, with `docker/compose.yaml`: etcd, a
//! frontend and backends that scale; scaled up and down, members come and go;
//! a crashed backend is shown down and Docker brings a new one up. The
//! cluster tools work across the containers: the ticker singleton runs on a
//! backend with a fencing token every node agrees on, and `POST /api/work`
//! spreads jobs evenly over the backends.
//!
//! Skips (and says so) only where docker is not available.

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

use actix_cluster_tests::demo::{
    docker_available, encode, ensure_demo_images, event_snapshot, host_token_ticks, http, members,
    singleton, wait_for, with_status, work, Compose,
};
use serde_json::Value;

const T: Duration = Duration::from_secs(90);

fn ids(members: &[&Value]) -> BTreeSet<String> {
    members
        .iter()
        .map(|m| m["id"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Waits until the frontend shows `frontends` + `backends` members Up.
fn wait_up(compose: &Compose, backends: usize) -> Value {
    wait_for(
        &format!("the frontend to show 1 frontend and {backends} backends Up"),
        T,
        || {
            let api = members(compose.frontend)?;
            let f = with_status(&api, "up", Some("frontend")).len();
            let b = with_status(&api, "up", Some("backend")).len();
            if f == 1 && b == backends {
                Ok(api)
            } else {
                Err(format!("{f} frontend and {b} backends up: {api}"))
            }
        },
    )
}

#[test]
fn compose_demo_scales_and_heals() {
    if !docker_available("compose_demo_scales_and_heals") {
        return;
    }
    ensure_demo_images();
    let compose = Compose::new("demo");

    // Up: etcd, the frontend and one backend.
    compose.run(&["up", "-d", "--scale", "backend=1"]);
    let api = wait_up(&compose, 1);
    assert_eq!(api["members"].as_array().unwrap().len(), 2, "{api}");

    // Scaled to 4 backends: 5 members Up.
    compose.run(&["up", "-d", "--no-recreate", "--scale", "backend=4"]);
    let api = wait_up(&compose, 4);
    let five = ids(&with_status(&api, "up", None));
    assert_eq!(five.len(), 5, "{api}");
    // Remote actors across the containers: every node's ping actor is
    // listed, and the frontend's ask of each one answers.
    wait_for("5 ping actors listed", T, || {
        let r = http("GET", compose.frontend, "/api/services")?;
        let listed: BTreeSet<String> = r.json()["services"]["ping"]
            .as_array()
            .ok_or(r.body.clone())?
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect();
        (listed == five).then_some(()).ok_or(r.body)
    });
    for id in &five {
        let path = format!("/api/members/{}/ping", encode(id));
        let r = wait_for(&format!("a ping of {id}"), T, || {
            let r = http("POST", compose.frontend, &path)?;
            (r.status == 200).then_some(r.clone()).ok_or(r.body)
        });
        assert!(r.json()["rtt_us"].is_u64(), "{}", r.body);
    }
    // The cluster tools: the ticker runs on a backend, with a token; the
    // router spreads 400 jobs evenly over the 4 backends.
    let backends = ids(&with_status(&api, "up", Some("backend")));
    let (host, _, _) = wait_for("the ticker on a backend", T, || {
        let v = singleton(compose.frontend)?;
        host_token_ticks(&v).ok_or(v.to_string())
    });
    assert!(backends.contains(&host), "{host} not in {backends:?}");
    let (status, body) = wait_for("the work router over 4 backends", T, || {
        let (status, body) = work(compose.frontend, "400")?;
        let counts = body["counts"].as_object().map_or(0, |c| c.len());
        (status == 200 && counts == 4)
            .then_some((status, body.clone()))
            .ok_or(body.to_string())
    });
    assert_eq!(status, 200);
    for (id, n) in body["counts"].as_object().unwrap() {
        assert!(backends.contains(id), "{body}");
        assert_eq!(n, 100, "round robin: {body}");
    }

    // Scaled back to 2: compose stops two (SIGTERM); they leave gracefully and
    // are shown as left, the 3 others stay Up.
    compose.run(&["up", "-d", "--no-recreate", "--scale", "backend=2"]);
    let api = wait_up(&compose, 2);
    let three = ids(&with_status(&api, "up", None));
    let gone: Vec<String> = five.difference(&three).cloned().collect();
    assert_eq!(gone.len(), 2, "{api}");
    wait_for("the two stopped backends shown as left", T, || {
        let snap = event_snapshot(compose.frontend)?;
        let left = snap["members"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| gone.iter().any(|g| m["id"] == g.as_str()))
            .filter(|m| m["status"] == "down" && m["reason"] == "left")
            .count();
        (left == 2).then_some(()).ok_or(snap.to_string())
    });

    // A backend whose process crashes (SIGKILL from the host; `docker kill`
    // would count as a manual stop, which restart policies ignore): shown down,
    // and Docker restarts it as a new member that comes Up.
    let backends = compose.containers("backend");
    assert_eq!(backends.len(), 2, "{backends:?}");
    let victim = &backends[0];
    let inspect = |fmt: &str| -> String {
        let out = Command::new("docker")
            .args(["inspect", "-f", fmt, victim])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    let pid = inspect("{{.State.Pid}}");
    let victim_ip = inspect("{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}");
    let before = members(compose.frontend).unwrap();
    let victim_id = with_status(&before, "up", Some("backend"))
        .into_iter()
        .find(|m| {
            m["address"]
                .as_str()
                .unwrap_or_default()
                .starts_with(&format!("{victim_ip}:"))
        })
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .unwrap_or_else(|| panic!("no member at {victim_ip}: {before}"));
    let status = Command::new("kill").args(["-KILL", &pid]).status().unwrap();
    assert!(status.success(), "kill -KILL {pid}");
    wait_for("the crashed backend shown down (failed)", T, || {
        let snap = event_snapshot(compose.frontend)?;
        let m = snap["members"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["id"] == victim_id.as_str())
            .cloned()
            .ok_or("not in the snapshot")?;
        (m["status"] == "down" && m["reason"] == "failed")
            .then_some(())
            .ok_or(m.to_string())
    });
    // The frontend watched its ping actor: one `terminated` (failed).
    wait_for("the crashed backend's actor terminated", T, || {
        let snap = event_snapshot(compose.frontend)?;
        let seen = snap["recent"].as_array().unwrap().iter().any(|e| {
            e["type"] == "terminated"
                && e["member"] == victim_id.as_str()
                && e["reason"] == "failed"
        });
        seen.then_some(()).ok_or(snap["recent"].to_string())
    });
    let api = wait_up(&compose, 2);
    let now_up = ids(&with_status(&api, "up", None));
    assert!(!now_up.contains(&victim_id), "{api}");
    assert_eq!(
        now_up.difference(&three).count(),
        1,
        "a new member replaced the crashed one: {api}"
    );
    assert!(
        inspect("{{.RestartCount}}").parse::<u32>().unwrap_or(0) >= 1,
        "Docker restarted the container"
    );
    drop(compose);
}
