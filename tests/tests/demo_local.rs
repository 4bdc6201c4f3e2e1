//! The demo without Docker: `scripts/demo.sh local` brings up etcd, one
//! frontend and three backends as local processes; headless Chromium sees the
//! four members Up on the page; `scripts/demo.sh local down` stops every
//! process the script recorded in its pid files.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use actix_cluster_tests::demo::{monitor_binary, wait_for, Browser, TempDir};
use actix_cluster_tests::etcd::free_port;
use serde_json::Value;

const T: Duration = Duration::from_secs(30);

/// `scripts/demo.sh local` with its own ports, directory and keys.
struct LocalDemo {
    dir: TempDir,
    frontend_port: u16,
    etcd_port: u16,
    etcd_peer_port: u16,
}

impl LocalDemo {
    fn run_dir(&self) -> PathBuf {
        self.dir.0.join("run")
    }

    fn script(&self, args: &[&str]) -> Output {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        Command::new(root.join("scripts/demo.sh"))
            .arg("local")
            .args(args)
            .env("DEMO_LOCAL_DIR", self.run_dir())
            .env("DEMO_SECRETS", self.dir.0.join("secrets.env"))
            .env("FRONTEND_PORT", self.frontend_port.to_string())
            .env("DEMO_ETCD_PORT", self.etcd_port.to_string())
            .env("DEMO_ETCD_PEER_PORT", self.etcd_peer_port.to_string())
            .env("CLUSTER_MONITOR_BIN", monitor_binary())
            .env("CLUSTER_NAME", format!("demo-local-{}", std::process::id()))
            // Loopback timings: the same cluster, quicker to agree.
            .env("CLUSTER_PROTOCOL", "local")
            .env("DEMO_TIMEOUT", "60")
            .output()
            .expect("scripts/demo.sh runs")
    }

    /// The pids in the run directory's pid files, by file name.
    fn recorded_pids(&self) -> Vec<(String, u32)> {
        let mut pids = Vec::new();
        for entry in std::fs::read_dir(self.run_dir()).expect("the run directory") {
            let path = entry.expect("a directory entry").path();
            if path.extension().is_some_and(|e| e == "pid") {
                let text = std::fs::read_to_string(&path).expect("a pid file");
                let pid = text.trim().parse().expect("a pid");
                pids.push((
                    path.file_name().unwrap().to_string_lossy().into_owned(),
                    pid,
                ));
            }
        }
        pids.sort();
        pids
    }
}

impl Drop for LocalDemo {
    /// A failed assertion must not leave the processes running.
    fn drop(&mut self) {
        let _ = self.script(&["down"]);
    }
}

/// Whether `pid` is a live process (a zombie, exited but not yet reaped by
/// whoever inherited it, counts as gone).
fn running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        // "pid (comm) S ...": the state follows the last ')'.
        stat.rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z'))
    })
}

fn show(out: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn local_demo_shows_four_members_up_and_down_stops_every_process() {
    let demo = LocalDemo {
        dir: TempDir::new("demo-local"),
        frontend_port: free_port(),
        etcd_port: free_port(),
        etcd_peer_port: free_port(),
    };
    let up = demo.script(&[]);
    assert!(up.status.success(), "scripts/demo.sh local: {}", show(&up));
    let pids = demo.recorded_pids();
    let names: Vec<&str> = pids.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "backend-1.pid",
            "backend-2.pid",
            "backend-3.pid",
            "etcd.pid",
            "frontend.pid"
        ]
    );
    assert!(pids.iter().all(|&(_, pid)| running(pid)), "{pids:?}");

    let mut browser = Browser::start(1280, 800);
    browser.navigate(&format!("http://127.0.0.1:{}/", demo.frontend_port));
    let tiles: Value = wait_for("4 tiles Up in the page", T, || browser.tiles_when_up(4));
    let mut shown: Vec<&str> = tiles
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    shown.sort_unstable();
    assert_eq!(shown, ["backend-1", "backend-2", "backend-3", "frontend"]);
    drop(browser);

    let down = demo.script(&["down"]);
    assert!(
        down.status.success(),
        "scripts/demo.sh local down: {}",
        show(&down)
    );
    let left: Vec<_> = pids.iter().filter(|&&(_, pid)| running(pid)).collect();
    assert!(left.is_empty(), "still running after down: {left:?}");
    assert!(
        demo.recorded_pids().is_empty(),
        "down leaves no pid file behind"
    );
}
