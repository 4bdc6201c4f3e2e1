//! A private etcd per test: a docker container from `actix-cluster/etcd:3.4`
//! (built with `docker/etcd/build.sh` when missing), or, where docker is not
//! available (or `ACTIX_CLUSTER_NO_DOCKER=1`, or `ACTIX_CLUSTER_ETCD=process`),
//! the local `etcd` binary as a child process with its own data directory.
//! `ACTIX_CLUSTER_ETCD_BIN=/path/to/etcd` runs that binary instead (always as a
//! process; the `etcdctl` beside it, if any, answers [`Etcd::ctl`]): the test
//! command runs the etcd tests a second time that way against etcd 3.5.
//! Dropping the handle removes the container or kills the process and deletes
//! its data.
//!
//! etcd runs with its defaults but for the raft timing (a 100 ms heartbeat, a
//! 1 s election timeout, so that tests that kill members are quick). Never
//! its gRPC keep-alive flags (`--grpc-keepalive-*`): a client that pings more
//! often than a stock etcd accepts must fail the tests, not be let off.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The etcd image the docker backend runs.
pub const IMAGE: &str = "actix-cluster/etcd:3.4";

static SEQ: AtomicU32 = AtomicU32::new(0);

fn unique(tag: &str) -> String {
    format!(
        "actix-etcd-test-{}-{}-{}",
        tag,
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    )
}

/// A free TCP port on loopback (bound and released; good enough for tests).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// Which way etcd runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// A container from [`IMAGE`].
    Docker,
    /// The local `etcd` binary.
    Process,
}

/// The etcd binary the process backend runs: `ACTIX_CLUSTER_ETCD_BIN`, else
/// `etcd` on the `PATH`.
pub fn etcd_bin() -> PathBuf {
    if let Some(bin) = chosen_bin() {
        assert!(
            bin.is_file(),
            "ACTIX_CLUSTER_ETCD_BIN={} is not a file",
            bin.display()
        );
        return bin;
    }
    which("etcd").expect("the etcd binary (apt-get install etcd-server)")
}

fn chosen_bin() -> Option<PathBuf> {
    std::env::var_os("ACTIX_CLUSTER_ETCD_BIN")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// The `etcdctl` to use: the one beside `ACTIX_CLUSTER_ETCD_BIN` if there is
/// one, else `etcdctl` on the `PATH`.
fn etcdctl_bin() -> Option<PathBuf> {
    chosen_bin()
        .and_then(|b| b.parent().map(|d| d.join("etcdctl")))
        .filter(|p| p.is_file())
        .or_else(|| which("etcdctl"))
}

/// The version of the etcd the tests run (`3.4.23`, `3.5.1`, ...), from the
/// binary's `--version` (the docker image holds Debian's 3.4).
pub fn etcd_version() -> String {
    static VERSION: OnceLock<String> = OnceLock::new();
    VERSION
        .get_or_init(|| {
            if backend() == Backend::Docker {
                return "3.4 (docker image)".to_owned();
            }
            let out = run(Command::new(etcd_bin()).arg("--version"));
            out.ok()
                .and_then(|o| {
                    String::from_utf8_lossy(&o.stdout)
                        .lines()
                        .find_map(|l| l.strip_prefix("etcd Version: ").map(str::to_owned))
                })
                .unwrap_or_else(|| "unknown".to_owned())
        })
        .clone()
}

/// Flags the harness must never pass to etcd: they would let a client that
/// breaks a stock etcd's rules pass the tests.
const HIDING_FLAGS: &[&str] = &["--grpc-keepalive"];

fn check_flags<'a>(args: impl IntoIterator<Item = &'a str>) {
    for a in args {
        assert!(
            !HIDING_FLAGS.iter().any(|f| a.starts_with(f)),
            "the etcd test harness must run etcd with its defaults, not {a}"
        );
    }
}

/// Docker if it works and the image exists or can be built; else processes.
/// A binary named by `ACTIX_CLUSTER_ETCD_BIN` always runs as a process.
pub fn backend() -> Backend {
    static CHOSEN: OnceLock<Backend> = OnceLock::new();
    *CHOSEN.get_or_init(|| {
        let forced = std::env::var("ACTIX_CLUSTER_ETCD").unwrap_or_default();
        if forced == "process"
            || chosen_bin().is_some()
            || std::env::var("ACTIX_CLUSTER_NO_DOCKER").is_ok_and(|v| v == "1")
        {
            return Backend::Process;
        }
        let docker_ok = Command::new("docker")
            .args(["info", "--format", "{{.ServerVersion}}"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if docker_ok && ensure_image() {
            Backend::Docker
        } else {
            assert!(
                forced != "docker",
                "ACTIX_CLUSTER_ETCD=docker but docker or the image {IMAGE} is not available"
            );
            eprintln!("etcd tests: docker unavailable, using the local etcd binary");
            Backend::Process
        }
    })
}

/// Whether the local docker engine has the image `img`.
pub fn image_present(img: &str) -> bool {
    Command::new("docker")
        .args(["image", "inspect", img])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn ensure_image() -> bool {
    let present = image_present;
    if present(IMAGE) {
        return true;
    }
    let script = repo_root().join("docker/etcd/build.sh");
    eprintln!("etcd tests: building {IMAGE} with {}", script.display());
    let ok = Command::new("bash")
        .arg(&script)
        .status()
        .is_ok_and(|s| s.success());
    ok && present(IMAGE)
}

/// The workspace root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_owned()
}

fn run(cmd: &mut Command) -> std::io::Result<std::process::Output> {
    cmd.stdin(Stdio::null()).output()
}

fn docker(args: &[&str]) -> std::process::Output {
    let out = run(Command::new("docker").args(args)).expect("docker runs");
    if !out.status.success() {
        panic!(
            "docker {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    out
}

/// One etcd member as run by the harness.
struct Member {
    name: String,
    client_port: u16,
    peer_port: u16,
    /// Docker: the container name. Process: the running child.
    container: Option<String>,
    process: Option<Child>,
    data_dir: PathBuf,
}

fn which(bin: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(bin))
            .find(|p| p.is_file())
    })
}

/// An etcd with one or several members.
pub struct Etcd {
    backend: Backend,
    members: Vec<Member>,
    network: Option<String>,
    initial_cluster: String,
    tmp: PathBuf,
    /// Directory with `ca.pem`, `server.pem`, `server-key.pem`, `client.pem`,
    /// `client-key.pem` when etcd serves TLS with client certificates.
    tls: Option<PathBuf>,
}

impl Etcd {
    /// A single-member etcd, ready to answer.
    pub fn start() -> Etcd {
        Self::start_n(1)
    }

    /// An etcd cluster of `n` members, ready to answer.
    pub fn start_n(n: usize) -> Etcd {
        Self::start_opts(n, false)
    }

    /// A single-member etcd that serves TLS only and requires client
    /// certificates (generated with `openssl` for this test); see
    /// [`Etcd::tls_dir`].
    pub fn start_tls() -> Etcd {
        Self::start_opts(1, true)
    }

    /// The directory with the TLS files, when started with [`Etcd::start_tls`].
    pub fn tls_dir(&self) -> Option<&Path> {
        self.tls.as_deref()
    }

    fn start_opts(n: usize, tls: bool) -> Etcd {
        let backend = backend();
        let tag = unique("");
        let tmp = std::env::temp_dir().join(&tag);
        std::fs::create_dir_all(&tmp).expect("temp dir");
        let network = (backend == Backend::Docker && n > 1).then(|| {
            docker(&["network", "create", &tag]);
            tag.clone()
        });
        let members: Vec<Member> = (0..n)
            .map(|i| Member {
                name: format!("{tag}-m{i}"),
                client_port: free_port(),
                peer_port: free_port(),
                container: None,
                process: None,
                data_dir: tmp.join(format!("m{i}")),
            })
            .collect();
        let initial_cluster = members
            .iter()
            .map(|m| match backend {
                Backend::Docker if n > 1 => format!("{0}=http://{0}:2380", m.name),
                Backend::Docker => format!("{}=http://127.0.0.1:2380", m.name),
                Backend::Process => format!("{}=http://127.0.0.1:{}", m.name, m.peer_port),
            })
            .collect::<Vec<_>>()
            .join(",");
        let tls = tls.then(|| make_certs(&tmp.join("certs")));
        let mut etcd = Etcd {
            backend,
            members,
            network,
            initial_cluster,
            tmp,
            tls,
        };
        for i in 0..n {
            etcd.launch(i);
        }
        etcd.wait_healthy(Duration::from_secs(60));
        etcd
    }

    fn launch(&mut self, i: usize) {
        let n = self.members.len();
        let cluster = self.initial_cluster.clone();
        let network = self.network.clone();
        let tls = self.tls.clone();
        let scheme = if tls.is_some() { "https" } else { "http" };
        let tls_args: Vec<String> = tls
            .iter()
            .flat_map(|d| {
                [
                    format!("--cert-file={}", d.join("server.pem").display()),
                    format!("--key-file={}", d.join("server-key.pem").display()),
                    format!("--trusted-ca-file={}", d.join("ca.pem").display()),
                    "--client-cert-auth".to_owned(),
                ]
            })
            .collect();
        let m = &mut self.members[i];
        match self.backend {
            Backend::Docker => {
                if let Some(c) = &m.container {
                    docker(&["start", c]);
                    return;
                }
                let peer_host = if n > 1 {
                    m.name.clone()
                } else {
                    "127.0.0.1".into()
                };
                let publish = format!("127.0.0.1:{}:2379", m.client_port);
                let mut args: Vec<String> = vec![
                    "run".into(),
                    "-d".into(),
                    "--name".into(),
                    m.name.clone(),
                    "-p".into(),
                    publish,
                ];
                if let Some(net) = &network {
                    args.extend(["--network".into(), net.clone()]);
                }
                if let Some(d) = &tls {
                    args.extend(["-v".into(), format!("{0}:{0}:ro", d.display())]);
                }
                args.extend([
                    IMAGE.into(),
                    format!("--name={}", m.name),
                    "--data-dir=/var/lib/etcd/data".into(),
                    format!("--listen-client-urls={scheme}://0.0.0.0:2379"),
                    format!(
                        "--advertise-client-urls={scheme}://127.0.0.1:{}",
                        m.client_port
                    ),
                    "--listen-peer-urls=http://0.0.0.0:2380".into(),
                    format!("--initial-advertise-peer-urls=http://{peer_host}:2380"),
                    format!("--initial-cluster={cluster}"),
                    "--initial-cluster-state=new".into(),
                    "--heartbeat-interval=100".into(),
                    "--election-timeout=1000".into(),
                ]);
                args.extend(tls_args.iter().cloned());
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                check_flags(args.iter().copied());
                docker(&args);
                m.container = Some(m.name.clone());
            }
            Backend::Process => {
                let bin = etcd_bin();
                std::fs::create_dir_all(&m.data_dir).expect("data dir");
                let log = std::fs::File::create(m.data_dir.with_extension("log")).expect("log");
                let mut args = vec![
                    format!("--name={}", m.name),
                    format!("--data-dir={}", m.data_dir.join("data").display()),
                    format!(
                        "--listen-client-urls={scheme}://127.0.0.1:{}",
                        m.client_port
                    ),
                    format!(
                        "--advertise-client-urls={scheme}://127.0.0.1:{}",
                        m.client_port
                    ),
                ];
                args.extend(tls_args.iter().cloned());
                args.extend([
                    format!("--listen-peer-urls=http://127.0.0.1:{}", m.peer_port),
                    format!(
                        "--initial-advertise-peer-urls=http://127.0.0.1:{}",
                        m.peer_port
                    ),
                    format!("--initial-cluster={cluster}"),
                    "--initial-cluster-state=new".into(),
                    "--heartbeat-interval=100".into(),
                    "--election-timeout=1000".into(),
                ]);
                check_flags(args.iter().map(String::as_str));
                let child = Command::new(bin)
                    .args(&args)
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(log)
                    .spawn()
                    .expect("etcd starts");
                m.process = Some(child);
            }
        }
    }

    /// Which backend runs this etcd.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The client URL of every member, comma-separated (for `ETCD_ENDPOINTS`).
    pub fn endpoints(&self) -> String {
        self.members
            .iter()
            .map(|m| format!("{}://127.0.0.1:{}", self.scheme(), m.client_port))
            .collect::<Vec<_>>()
            .join(",")
    }

    fn scheme(&self) -> &'static str {
        if self.tls.is_some() {
            "https"
        } else {
            "http"
        }
    }

    fn tls_ctl_args(&self) -> Vec<String> {
        self.tls
            .iter()
            .flat_map(|d| {
                [
                    format!("--cacert={}", d.join("ca.pem").display()),
                    format!("--cert={}", d.join("client.pem").display()),
                    format!("--key={}", d.join("client-key.pem").display()),
                ]
            })
            .collect()
    }

    fn ctl_endpoints(&self) -> String {
        self.members
            .iter()
            .map(|m| format!("127.0.0.1:{}", m.client_port))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// A lease of `ttl` seconds granted through etcdctl (for keys put by
    /// hand), as its hex id.
    pub fn grant_lease(&self, ttl: u32) -> String {
        let out = self
            .ctl(&["lease", "grant", &ttl.to_string()])
            .expect("lease grant");
        // "lease 694d7c1f2a3b4c5d granted with TTL(60s)"
        out.split_whitespace()
            .nth(1)
            .expect("a lease id in the answer")
            .to_owned()
    }

    /// Runs `etcdctl` (the host binary, or the one in the container) against
    /// this etcd; returns stdout, or the error text.
    pub fn ctl(&self, args: &[&str]) -> Result<String, String> {
        let out = if let Some(bin) = etcdctl_bin() {
            run(Command::new(bin)
                .env("ETCDCTL_API", "3")
                .arg(format!("--endpoints={}", self.ctl_endpoints()))
                .arg("--command-timeout=3s")
                .args(self.tls_ctl_args())
                .args(args))
        } else {
            let c = self
                .members
                .iter()
                .find_map(|m| m.container.clone())
                .ok_or("no etcdctl on this machine (apt-get install etcd-client)")?;
            run(Command::new("docker")
                .args(["exec", "-e", "ETCDCTL_API=3", &c, "etcdctl"])
                .arg(format!("--endpoints={}://127.0.0.1:2379", self.scheme()))
                .arg("--command-timeout=3s")
                .args(self.tls_ctl_args())
                .args(args))
        }
        .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// Keys under a prefix (`etcdctl` retried for up to 10 s; panics if etcd
    /// does not answer).
    pub fn keys(&self, prefix: &str) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match self.ctl(&["get", "--prefix", "--keys-only", prefix]) {
                Ok(out) => {
                    return out
                        .lines()
                        .filter(|l| !l.is_empty())
                        .map(str::to_owned)
                        .collect()
                }
                Err(e) if Instant::now() > deadline => panic!("etcdctl get {prefix}: {e}"),
                Err(_) => std::thread::sleep(Duration::from_millis(200)),
            }
        }
    }

    /// The current revision.
    pub fn revision(&self) -> i64 {
        let out = self
            .ctl(&["endpoint", "status", "-w", "json"])
            .expect("endpoint status");
        let v: serde_json::Value = serde_json::from_str(&out).expect("json");
        v.as_array()
            .and_then(|a| {
                a.iter()
                    .filter_map(|s| s["Status"]["header"]["revision"].as_i64())
                    .max()
            })
            .expect("a revision")
    }

    /// Waits until every running member answers.
    pub fn wait_healthy(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            if self.ctl(&["endpoint", "health"]).is_ok() && self.ctl(&["get", "probe"]).is_ok() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "etcd at {} not healthy after {timeout:?}",
                self.endpoints()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stops member `i` abruptly (container killed / process killed); its data stays.
    pub fn stop_member(&mut self, i: usize) {
        let m = &mut self.members[i];
        if let Some(c) = &m.container {
            docker(&["kill", c]);
        }
        if let Some(mut p) = m.process.take() {
            let _ = p.kill();
            let _ = p.wait();
        }
    }

    /// Starts member `i` again with the same data.
    pub fn start_member(&mut self, i: usize) {
        self.launch(i);
    }

    /// Stops every member.
    pub fn stop(&mut self) {
        for i in 0..self.members.len() {
            self.stop_member(i);
        }
    }

    /// Starts every member again and waits until etcd answers.
    pub fn restart(&mut self) {
        for i in 0..self.members.len() {
            self.start_member(i);
        }
        self.wait_healthy(Duration::from_secs(60));
    }

    /// Index of the current raft leader.
    pub fn leader(&self) -> usize {
        let out = self
            .ctl(&["endpoint", "status", "-w", "json"])
            .expect("endpoint status");
        let v: serde_json::Value = serde_json::from_str(&out).expect("json");
        let list = v.as_array().expect("a list");
        for s in list {
            let id = s["Status"]["header"]["member_id"].as_u64();
            let leader = s["Status"]["leader"].as_u64();
            if id.is_some() && id == leader {
                let ep = s["Endpoint"].as_str().unwrap_or_default();
                let port: u16 = ep
                    .rsplit(':')
                    .next()
                    .and_then(|p| p.parse().ok())
                    .unwrap_or(0);
                if let Some(i) = self.members.iter().position(|m| m.client_port == port) {
                    return i;
                }
            }
        }
        panic!("no leader in {out}");
    }

    /// Client endpoint of member `i` (for `etcdctl`-like checks).
    pub fn member_endpoint(&self, i: usize) -> String {
        format!(
            "{}://127.0.0.1:{}",
            self.scheme(),
            self.members[i].client_port
        )
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        for m in &mut self.members {
            if let Some(c) = &m.container {
                let _ = run(Command::new("docker").args(["rm", "-f", "-v", c]));
            }
            if let Some(mut p) = m.process.take() {
                let _ = p.kill();
                let _ = p.wait();
            }
        }
        if let Some(net) = &self.network {
            let _ = run(Command::new("docker").args(["network", "rm", net]));
        }
        let _ = std::fs::remove_dir_all(&self.tmp);
    }
}

/// Creates a CA, a server certificate for 127.0.0.1 and a client certificate
/// in `dir` with `openssl`.
fn make_certs(dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir).expect("certs dir");
    let script = r#"
set -e
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca-key.pem -out ca.pem -days 2 -subj /CN=actix-cluster-test-ca
openssl req -newkey rsa:2048 -nodes -keyout server-key.pem -out server.csr -subj /CN=etcd
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost
extendedKeyUsage=serverAuth,clientAuth
' > server.ext
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -out server.pem -days 2 -extfile server.ext
openssl req -newkey rsa:2048 -nodes -keyout client-key.pem -out client.csr -subj /CN=client
printf 'extendedKeyUsage=clientAuth
' > client.ext
openssl x509 -req -in client.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -out client.pem -days 2 -extfile client.ext
chmod 644 *.pem
"#;
    let out = run(Command::new("sh").arg("-c").arg(script).current_dir(dir)).expect("sh runs");
    assert!(
        out.status.success(),
        "openssl failed (apt-get install openssl): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir.to_owned()
}

/// A cluster name unique to this test run (letters, digits and dashes, at
/// most 60 bytes), for processes that take it as `CLUSTER_NAME`.
pub fn fresh_cluster_name(test: &str) -> String {
    fresh_prefix(test)
        .replace(['/', '_'], "-")
        .trim_matches('-')
        .chars()
        .take(60)
        .collect()
}

/// A fresh key prefix, unique in this test process.
pub fn fresh_prefix(test: &str) -> String {
    static LOCK: Mutex<()> = Mutex::new(());
    let _g = LOCK.lock();
    format!(
        "/t-{}-{}-{}",
        test,
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    )
}
