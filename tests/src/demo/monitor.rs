//! The `cluster-monitor` binary as child processes.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use super::http::{http, Response};
use super::support::{monitor_binary, wait_for};
use crate::etcd::free_port;

/// A `cluster-monitor` child process.
pub struct Monitor {
    /// The process.
    pub child: Child,
    /// Its HTTP address.
    pub http: SocketAddr,
    /// Its role.
    pub role: String,
    /// Its name.
    pub name: String,
    log: PathBuf,
}

impl Monitor {
    /// Starts a node with the fast `local` protocol preset, gossip on a free
    /// loopback port, against `etcd_endpoints` with `cluster` as its name.
    pub fn start(
        role: &str,
        name: &str,
        cluster: &str,
        etcd_endpoints: &str,
        logs: &Path,
    ) -> Monitor {
        let http: SocketAddr = ([127, 0, 0, 1], free_port()).into();
        Self::start_on(role, name, cluster, etcd_endpoints, logs, http)
    }

    /// The demo's shape: a frontend named `frontend` and three backends
    /// `backend-1..=3`, in that order.
    pub fn start_demo(cluster: &str, etcd_endpoints: &str, logs: &Path) -> Vec<Monitor> {
        let mut nodes = vec![Monitor::start(
            "frontend",
            "frontend",
            cluster,
            etcd_endpoints,
            logs,
        )];
        for i in 1..=3 {
            let name = format!("backend-{i}");
            nodes.push(Monitor::start(
                "backend",
                &name,
                cluster,
                etcd_endpoints,
                logs,
            ));
        }
        nodes
    }

    /// Like [`Monitor::start`], with HTTP on the given address.
    pub fn start_on(
        role: &str,
        name: &str,
        cluster: &str,
        etcd_endpoints: &str,
        logs: &Path,
        http: SocketAddr,
    ) -> Monitor {
        Self::start_with(role, name, cluster, etcd_endpoints, logs, http, &[])
    }

    /// Like [`Monitor::start_on`], with `env` set last (so it overrides the
    /// defaults above, e.g. `CLUSTER_BIND` or `ETCD_PREFIX`, or adds e.g.
    /// `LD_PRELOAD`).
    pub fn start_with(
        role: &str,
        name: &str,
        cluster: &str,
        etcd_endpoints: &str,
        logs: &Path,
        http: SocketAddr,
        env: &[(&str, &str)],
    ) -> Monitor {
        let http_bind = http.to_string();
        let mut envs = vec![
            ("RUST_LOG", "info"),
            ("CLUSTER_ROLE", role),
            ("CLUSTER_NAME", cluster),
            ("NODE_NAME", name),
            ("CLUSTER_BIND", "127.0.0.1:0"),
            ("CLUSTER_PROTOCOL", "local"),
            ("HTTP_BIND", http_bind.as_str()),
            ("ETCD_ENDPOINTS", etcd_endpoints),
            ("ETCD_LEASE_TTL", "4"),
        ];
        envs.extend_from_slice(env);
        let mut monitor = Monitor::spawn(name, http, logs, &envs, &[]);
        monitor.role = role.to_owned();
        monitor
    }

    /// A node with exactly the given environment (plus `PATH`) and flags, its
    /// output in `logs`; `http` is only where the harness looks for it, so the
    /// environment or flags must bind HTTP there.
    pub fn spawn(
        name: &str,
        http: SocketAddr,
        logs: &Path,
        envs: &[(&str, &str)],
        args: &[&str],
    ) -> Monitor {
        Self::spawn_bin(&monitor_binary(), name, http, logs, envs, args)
    }

    /// Like [`Monitor::spawn`], running the given `cluster-monitor` binary
    /// (e.g. the release build of [`super::monitor_binary_release`]).
    pub fn spawn_bin(
        bin: &Path,
        name: &str,
        http: SocketAddr,
        logs: &Path,
        envs: &[(&str, &str)],
        args: &[&str],
    ) -> Monitor {
        let log = logs.join(format!("{name}-{}.log", http.port()));
        let file = std::fs::File::create(&log).expect("log file");
        let child = Command::new(bin)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs(envs.iter().copied())
            .args(args)
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log file"))
            .stderr(file)
            .spawn()
            .expect("cluster-monitor starts");
        Monitor {
            child,
            http,
            role: String::new(),
            name: name.to_owned(),
            log,
        }
    }

    /// Waits until `/readyz` says 200; returns this node's member id.
    pub fn wait_ready(&mut self, timeout: Duration) -> String {
        let http = self.http;
        let name = self.name.clone();
        let log = self.log.clone();
        let child = &mut self.child;
        wait_for(&format!("{name} ready"), timeout, || {
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "{name} exited with {status}; log:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            let r = http_get_ok(http, "/readyz")?;
            Ok(r.json()["id"].as_str().unwrap_or_default().to_owned())
        })
    }

    /// Sends a signal by name (`TERM`, `INT`, `KILL`).
    pub fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .args([format!("-{sig}"), self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{sig} failed");
    }

    /// Waits for the process to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let name = self.name.clone();
        let child = &mut self.child;
        wait_for(&format!("{name} to exit"), timeout, || {
            child
                .try_wait()
                .map_err(|e| e.to_string())?
                .ok_or_else(|| "still running".to_owned())
        })
    }

    /// The log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn http_get_ok(addr: SocketAddr, path: &str) -> Result<Response, String> {
    let r = http("GET", addr, path)?;
    if r.status == 200 {
        Ok(r)
    } else {
        Err(format!("{path} answered {}", r.status))
    }
}
