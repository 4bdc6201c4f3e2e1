//! A keyed cluster of five cluster-monitor processes (seeds, no etcd): it
//! stays converged while forged plaintext and wrong-key packets arrive and a
//! node with a wrong key tries to join, and through a key rotation by rolling
//! restart; POST leave needs the admin token (401 without or with a wrong one,
//! 202 with it) and is forwarded with it.

use std::io::Write;
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use actix_cluster::{Key, Keyring, MemberId, ProtocolConfig};
use actix_cluster_proto::{Command as CoreCommand, Core, LocalMember, Output};
use actix_cluster_tests::demo::{
    encode, http, http_with, members, monitor_binary, wait_for, with_status, Browser, TempDir,
};
use actix_cluster_tests::etcd::free_port;
use serde_json::Value;

const T: Duration = Duration::from_secs(30);
const CLUSTER: &str = "keyed-demo";
const TOKEN: &str = "test-admin-token-0123456789";

fn key(b: u8) -> Key {
    Key::from_bytes([b; 32])
}

fn keys(list: &[u8]) -> String {
    list.iter()
        .map(|b| key(*b).to_base64())
        .collect::<Vec<_>>()
        .join(",")
}

/// One cluster-monitor process on fixed ports.
struct Proc {
    child: Child,
    name: String,
    gossip: SocketAddr,
    http: SocketAddr,
    id: String,
}

impl Proc {
    fn start(
        name: &str,
        gossip: SocketAddr,
        http: SocketAddr,
        seeds: &str,
        keys: &str,
        logs: &Path,
    ) -> Proc {
        let log = logs.join(format!("{name}-{}.log", http.port()));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("log file");
        let mut cmd = Command::new(monitor_binary());
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("RUST_LOG", "info")
            .env("CLUSTER_ROLE", "backend")
            .env("CLUSTER_NAME", CLUSTER)
            .env("NODE_NAME", name)
            .env("CLUSTER_BIND", gossip.to_string())
            .env("CLUSTER_PROTOCOL", "local")
            .env("HTTP_ADMIN_TOKEN", TOKEN)
            .env("HTTP_BIND", http.to_string())
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log file"))
            .stderr(file);
        for (var, value) in [("CLUSTER_SEEDS", seeds), ("CLUSTER_SECRET_KEYS", keys)] {
            if !value.is_empty() {
                cmd.env(var, value);
            }
        }
        let child = cmd.spawn().expect("cluster-monitor starts");
        let http_addr = http;
        let mut p = Proc {
            child,
            name: name.to_owned(),
            gossip,
            http,
            id: String::new(),
        };
        p.id = wait_for(&format!("{name} ready"), T, || {
            if let Ok(Some(status)) = p.child.try_wait() {
                panic!(
                    "{name} exited with {status}: {}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            let r = actix_cluster_tests::demo::http("GET", http_addr, "/readyz")?;
            if r.status != 200 {
                return Err(format!("readyz {}", r.status));
            }
            Ok(r.json()["id"].as_str().unwrap_or_default().to_owned())
        });
        p
    }

    fn stop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        wait_for(&format!("{} to exit", self.name), T, || {
            self.child
                .try_wait()
                .map_err(|e| e.to_string())?
                .ok_or_else(|| "running".to_owned())
        });
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every process sees exactly the current ids `Up`, and nothing else live.
fn wait_converged(procs: &[Proc], what: &str) {
    let ids: Vec<&str> = procs.iter().map(|p| p.id.as_str()).collect();
    for p in procs {
        wait_for(
            &format!("{} to see the 5 current members up ({what})", p.name),
            T,
            || {
                let api = members(p.http)?;
                let mut up: Vec<&str> = with_status(&api, "up", None)
                    .iter()
                    .filter_map(|m| m["id"].as_str())
                    .collect();
                up.sort_unstable();
                let mut want = ids.clone();
                want.sort_unstable();
                if up == want {
                    Ok(())
                } else {
                    Err(api.to_string())
                }
            },
        );
    }
}

/// No member this process knows is down for a failure, and none is
/// unknown to the test.
fn assert_no_failures(p: &Proc, known: &[String]) {
    let api: Value = members(p.http).unwrap();
    for m in api["members"].as_array().unwrap() {
        let id = m["id"].as_str().unwrap();
        assert!(
            known.iter().any(|k| k == id),
            "{} knows a stranger: {m}",
            p.name
        );
    }
    let snap = actix_cluster_tests::demo::event_snapshot(p.http).unwrap();
    for m in snap["members"].as_array().into_iter().flatten() {
        assert_ne!(m["reason"], "failed", "{} shows a failure: {m}", p.name);
    }
}

/// What a core with `protocol` sends when it joins through `to` as `id`.
fn join_frames(protocol: ProtocolConfig, id: MemberId, to: SocketAddr) -> Vec<Vec<u8>> {
    let local = LocalMember {
        id,
        roles: ["backend".to_owned()].into(),
        metadata: [("http".to_owned(), "127.0.0.1:9".to_owned())].into(),
    };
    let mut core = Core::new(local, protocol, 1).unwrap();
    core.handle_command(Duration::ZERO, CoreCommand::Join { seeds: vec![to] });
    let mut out = Vec::new();
    while let Some(o) = core.poll_output() {
        if let Output::Send { bytes, .. } = o {
            out.push(bytes);
        }
    }
    out
}

/// Forged messages against `victim` (its address, generation u64::MAX), a
/// made-up member, plaintext and sealed with a wrong key, to every process.
fn forge(procs: &[Proc], victim: &Proc, udp: &UdpSocket) -> usize {
    let plain = ProtocolConfig::local().with_cluster_name(CLUSTER);
    let wrong = plain.clone().with_keyring(Keyring::new(key(99)));
    let mut sent = 0;
    for target in procs {
        let forged_ids = [
            MemberId::new(victim.name.clone(), victim.gossip, u64::MAX),
            MemberId::new("evil", "127.0.0.1:9".parse().unwrap(), 1),
        ];
        for id in forged_ids {
            for config in [plain.clone(), wrong.clone()] {
                for bytes in join_frames(config, id.clone(), target.gossip) {
                    if let Ok(mut s) = TcpStream::connect(target.gossip) {
                        let mut frame = (bytes.len() as u32).to_be_bytes().to_vec();
                        frame.extend_from_slice(&bytes);
                        let _ = s.write_all(&frame);
                    }
                    let _ = udp.send_to(&bytes, target.gossip);
                    sent += 2;
                }
            }
        }
    }
    sent
}

/// `n` pairs of free loopback addresses (gossip, HTTP) and the gossip ones as
/// a `CLUSTER_SEEDS` value.
fn loopback_ports(n: usize) -> (Vec<(SocketAddr, SocketAddr)>, String) {
    let ports: Vec<(SocketAddr, SocketAddr)> = (0..n)
        .map(|_| {
            (
                SocketAddr::from(([127, 0, 0, 1], free_port())),
                SocketAddr::from(([127, 0, 0, 1], free_port())),
            )
        })
        .collect();
    let seeds = ports
        .iter()
        .map(|(g, _)| g.to_string())
        .collect::<Vec<_>>()
        .join(",");
    (ports, seeds)
}

#[test]
fn a_keyed_cluster_stays_converged_under_forgeries_and_through_a_rotation() {
    let logs = TempDir::new("keys");
    let (ports, seeds) = loopback_ports(5);
    let mut procs: Vec<Proc> = Vec::new();
    for (i, (g, h)) in ports.iter().enumerate() {
        procs.push(Proc::start(
            &format!("k{i}"),
            *g,
            *h,
            &seeds,
            &keys(&[1]),
            &logs.0,
        ));
    }
    wait_converged(&procs, "started");
    let mut known: Vec<String> = procs.iter().map(|p| p.id.clone()).collect();

    // A process with a wrong key tries to join through every seed.
    let (wg, wh) = (
        SocketAddr::from(([127, 0, 0, 1], free_port())),
        SocketAddr::from(([127, 0, 0, 1], free_port())),
    );
    let wrong_seeds = format!("{wg},{seeds}");
    // It forms a cluster of its own (nobody answers it).
    let stranger = Proc::start("stranger", wg, wh, &wrong_seeds, &keys(&[7]), &logs.0);
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut sent = 0;
    for round in 0..30 {
        let victim = &procs[round % procs.len()];
        sent += forge(&procs, victim, &udp);
    }
    assert!(sent > 0);
    wait_converged(&procs, "after the forgeries");
    for p in &procs {
        assert_no_failures(p, &known);
    }
    let api = members(stranger.http).unwrap();
    assert_eq!(
        api["members"].as_array().unwrap().len(),
        1,
        "the stranger knows only itself: {api}"
    );
    drop(stranger);

    // The admin token: 401 without or with a wrong one, GET open.
    let path = format!("/api/members/{}/leave", encode(&procs[4].id));
    let r = http("POST", procs[0].http, &path).unwrap();
    assert_eq!(r.status, 401, "{}", r.body);
    let r = http_with(
        "POST",
        procs[0].http,
        &path,
        &[("Authorization", "Bearer wrong-token-0123456789")],
    )
    .unwrap();
    assert_eq!(r.status, 401, "{}", r.body);
    assert_eq!(
        http("GET", procs[0].http, "/api/members").unwrap().status,
        200
    );
    wait_converged(&procs, "after refused leaves");

    // Rotation by rolling restart: [1, 2], then [2, 1], then [2].
    for list in [&[1u8, 2][..], &[2, 1], &[2]] {
        for i in 0..procs.len() {
            procs[i].stop();
            let (g, h, name) = (procs[i].gossip, procs[i].http, procs[i].name.clone());
            // Through the others (never itself first: it would form alone).
            let others = ports
                .iter()
                .filter(|(og, _)| *og != g)
                .map(|(og, _)| og.to_string())
                .collect::<Vec<_>>()
                .join(",");
            procs[i] = Proc::start(&name, g, h, &others, &keys(list), &logs.0);
            known.push(procs[i].id.clone());
            wait_converged(&procs, &format!("{name} restarted with keys {list:?}"));
        }
    }
    for p in &procs {
        assert_no_failures(p, &known);
    }

    // With the token, a leave forwarded from k0 to k4 is accepted.
    let path = format!("/api/members/{}/leave", encode(&procs[4].id));
    let auth = format!("Bearer {TOKEN}");
    let r = http_with(
        "POST",
        procs[0].http,
        &path,
        &[("Authorization", auth.as_str())],
    )
    .unwrap();
    assert_eq!(r.status, 202, "{}", r.body);
    let left = procs.remove(4);
    let mut left = left;
    wait_for("k4 to exit after the leave", T, || {
        left.child
            .try_wait()
            .map_err(|e| e.to_string())?
            .ok_or_else(|| "running".to_owned())
    });
    wait_converged(&procs, "after k4 left");
}

/// A member whose `http` metadata points at another host than its gossip
/// address (here a forged member of a plaintext cluster): its leave is not
/// forwarded, nothing connects to that address, and the answer says why.
#[test]
fn leave_is_never_forwarded_off_a_members_gossip_host() {
    let logs = TempDir::new("forward");
    let (g, h) = (
        SocketAddr::from(([127, 0, 0, 1], free_port())),
        SocketAddr::from(([127, 0, 0, 1], free_port())),
    );
    let node = Proc::start("plain", g, h, "", "", &logs.0);
    // The "internal service" the forged metadata names, on another host.
    let internal = std::net::TcpListener::bind("127.0.0.2:0").unwrap();
    internal.set_nonblocking(true).unwrap();
    let target = internal.local_addr().unwrap();
    let evil = MemberId::new("evil", SocketAddr::from(([127, 0, 0, 1], free_port())), 1);
    let local = LocalMember {
        id: evil.clone(),
        roles: ["backend".to_owned()].into(),
        metadata: [("http".to_owned(), target.to_string())].into(),
    };
    let mut core = Core::new(local, ProtocolConfig::local().with_cluster_name(CLUSTER), 1).unwrap();
    core.handle_command(Duration::ZERO, CoreCommand::Join { seeds: vec![g] });
    while let Some(o) = core.poll_output() {
        if let Output::Send { bytes, .. } = o {
            let mut s = TcpStream::connect(g).unwrap();
            let mut frame = (bytes.len() as u32).to_be_bytes().to_vec();
            frame.extend_from_slice(&bytes);
            s.write_all(&frame).unwrap();
        }
    }
    let evil_id = evil.to_string();
    wait_for("the forged member listed", T, || {
        let api = members(node.http)?;
        let listed = api["members"].as_array().is_some_and(|ms| {
            ms.iter()
                .any(|m| m["id"] == evil_id.as_str() && m["status"] != "down")
        });
        listed.then_some(()).ok_or(api.to_string())
    });
    let auth = format!("Bearer {TOKEN}");
    let path = format!("/api/members/{}/leave", encode(&evil_id));
    let r = http_with(
        "POST",
        node.http,
        &path,
        &[("Authorization", auth.as_str())],
    )
    .unwrap();
    assert_eq!(r.status, 502, "{}", r.body);
    assert!(r.body.contains("another host"), "{}", r.body);
    match internal.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("the node connected to the forged address: {other:?}"),
    }
}

/// The page with HTTP_ADMIN_TOKEN set: the first Leave is answered 401, the
/// page asks for the token (once), retries with it and the member leaves; a
/// second Leave uses the token it kept without asking again.
#[test]
fn the_page_asks_for_the_admin_token_once() {
    let logs = TempDir::new("token-page");
    let (ports, seeds) = loopback_ports(3);
    let mut procs: Vec<Proc> = ports
        .iter()
        .enumerate()
        .map(|(i, (g, h))| Proc::start(&format!("p{i}"), *g, *h, &seeds, &keys(&[1]), &logs.0))
        .collect();
    wait_converged(&procs, "started");
    let mut browser = Browser::start(1280, 800);
    browser.navigate(&format!("http://{}/", procs[0].http));
    wait_for("three tiles up", T, || {
        let n = browser.eval("document.querySelectorAll('#grid .tile[data-status=up]').length");
        (n == 3).then_some(()).ok_or(n.to_string())
    });
    // The prompt answers with the token and counts how often it was asked.
    browser.eval(&format!(
        "window.__asked = 0; window.prompt = () => {{ window.__asked += 1; return {TOKEN:?}; }}; true"
    ));
    for (i, asked) in [(2usize, 1u64), (1, 1)] {
        let target = procs[i].id.clone();
        browser.eval(&format!(
            "[...document.querySelectorAll('#grid .tile')].find(t => t.dataset.id === {target:?}).querySelector('button.leave').click(); true"
        ));
        let mut p = procs.remove(i);
        wait_for(&format!("{} to exit after Leave", p.name), T, || {
            p.child
                .try_wait()
                .map_err(|e| e.to_string())?
                .ok_or_else(|| "running".to_owned())
        });
        assert_eq!(browser.eval("window.__asked"), asked, "asked once in all");
    }
}
