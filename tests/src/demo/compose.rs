//! The demo under docker compose.

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use super::http::{members, with_status};
use super::support::wait_for;
use crate::etcd::{free_port, repo_root};

/// A docker compose project for `docker/compose.yaml`, taken down on drop.
pub struct Compose {
    project: String,
    /// The frontend's published HTTP port on loopback.
    pub frontend: SocketAddr,
    /// Prometheus's published port on loopback.
    pub prometheus: SocketAddr,
    v2: bool,
    /// The project's cluster key (CLUSTER_SECRET_KEYS).
    pub keys: String,
    /// The project's admin token (HTTP_ADMIN_TOKEN).
    pub admin_token: String,
}

impl Compose {
    /// Waits (at most `timeout`) until the frontend shows `n` members `Up`.
    pub fn wait_members_up(&self, n: usize, timeout: Duration) {
        wait_for(
            &format!("the frontend to show {n} members Up"),
            timeout,
            || {
                let api = members(self.frontend)?;
                let up = with_status(&api, "up", None).len();
                (up == n).then_some(()).ok_or(format!("{up} up: {api}"))
            },
        );
    }

    /// A new project with a unique name and a free frontend port.
    pub fn new(tag: &str) -> Compose {
        let v2 = Command::new("docker")
            .args(["compose", "version"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        let port = free_port();
        use rand::RngCore;
        let mut key = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut key);
        let mut token = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut token);
        Compose {
            project: format!("cmtest{tag}{}", std::process::id()),
            frontend: ([127, 0, 0, 1], port).into(),
            prometheus: ([127, 0, 0, 1], free_port()).into(),
            v2,
            keys: actix_cluster::Key::from_bytes(key).to_base64(),
            admin_token: token.iter().map(|b| format!("{b:02x}")).collect(),
        }
    }

    /// `docker compose` (or `docker-compose`) on our compose file and project,
    /// with the published frontend port, no stdin.
    fn command(&self) -> Command {
        let mut cmd = if self.v2 {
            let mut c = Command::new("docker");
            c.arg("compose");
            c
        } else {
            Command::new("docker-compose")
        };
        cmd.arg("-f")
            .arg(repo_root().join("docker/compose.yaml"))
            .args(["-p", &self.project])
            .env("FRONTEND_PORT", self.frontend.port().to_string())
            .env("PROMETHEUS_PORT", self.prometheus.port().to_string())
            .env("CLUSTER_SECRET_KEYS", &self.keys)
            .env("HTTP_ADMIN_TOKEN", &self.admin_token)
            .stdin(Stdio::null());
        cmd
    }

    /// Runs `compose <args>`; returns stdout, panics with stderr on failure.
    pub fn run(&self, args: &[&str]) -> String {
        let out = self
            .command()
            .args(args)
            .env("CLUSTER_NAME", &self.project)
            .output()
            .expect("docker compose runs");
        if !out.status.success() {
            panic!(
                "compose {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Container ids of a service.
    pub fn containers(&self, service: &str) -> Vec<String> {
        self.run(&["ps", "-q", service])
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// The logs of every service (for failure messages).
    pub fn logs(&self) -> String {
        self.run(&["logs", "--no-color", "--tail=40"])
    }
}

impl Drop for Compose {
    fn drop(&mut self) {
        let _ = self
            .command()
            .args(["down", "-v", "--remove-orphans", "-t", "5"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}
