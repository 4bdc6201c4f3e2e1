//! What the demo tests share: waiting for a condition, the binary and
//! artifact paths, temporary directories, the demo images.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::etcd::{image_present, repo_root};

/// Polls `check` until it returns `Some`, or panics after `timeout` with
/// `what` and the last observation.
pub fn wait_for<T>(
    what: &str,
    timeout: Duration,
    mut check: impl FnMut() -> Result<T, String>,
) -> T {
    let deadline = Instant::now() + timeout;
    let mut last = String::from("never checked");
    while Instant::now() < deadline {
        match check() {
            Ok(v) => return v,
            Err(e) => last = e,
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("timed out after {timeout:?} waiting for {what}; last seen: {last}");
}

/// Whether docker can be used; prints why not.
pub fn docker_available(test: &str) -> bool {
    if std::env::var("ACTIX_CLUSTER_NO_DOCKER").is_ok_and(|v| v == "1") {
        eprintln!("SKIPPED {test}: ACTIX_CLUSTER_NO_DOCKER=1 (docker is not available)");
        return false;
    }
    let ok = Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("SKIPPED {test}: docker is not installed or its daemon is not running");
    }
    ok
}

/// The cargo target directory of this workspace.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|p| {
            if p.is_absolute() {
                p
            } else {
                repo_root().join(p)
            }
        })
        .unwrap_or_else(|| repo_root().join("target"))
}

/// The `cluster-monitor` binary. The tests crate cannot depend on a binary of
/// another package, so this uses `target/debug/cluster-monitor` when it is newer
/// than every source it is built from (CI builds the workspace first), and
/// otherwise runs `cargo build -p cluster-monitor` once per test process.
pub fn monitor_binary() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| fresh_monitor_binary(false)).clone()
}

/// Like [`monitor_binary`], the release build (`target/release/cluster-monitor`,
/// built with `cargo build --release -p cluster-monitor` when older than its
/// sources): for benchmarks that run many processes on few cores.
pub fn monitor_binary_release() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| fresh_monitor_binary(true)).clone()
}

fn fresh_monitor_binary(release: bool) -> PathBuf {
    let profile = if release { "release" } else { "debug" };
    let bin = target_dir().join(profile).join("cluster-monitor");
    let built = std::fs::metadata(&bin).and_then(|m| m.modified()).ok();
    let root = repo_root();
    let mut newest = std::time::SystemTime::UNIX_EPOCH;
    for dir in ["examples/cluster-monitor", "crates"] {
        newest_mtime(&root.join(dir), &mut newest);
    }
    newest_mtime(&root.join("Cargo.lock"), &mut newest);
    if built.is_some_and(|b| b >= newest) {
        return bin;
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut args = vec!["build", "-q", "-p", "cluster-monitor"];
    if release {
        args.push("--release");
    }
    let status = Command::new(cargo)
        .args(&args)
        .current_dir(&root)
        .status()
        .expect("cargo runs");
    assert!(status.success(), "cargo {} failed", args.join(" "));
    assert!(bin.exists(), "{} missing after the build", bin.display());
    bin
}

fn newest_mtime(path: &Path, newest: &mut std::time::SystemTime) {
    let Ok(meta) = std::fs::metadata(path) else {
        return;
    };
    if meta.is_dir() {
        if path.file_name().is_some_and(|n| n == "target") {
            return;
        }
        for entry in std::fs::read_dir(path).into_iter().flatten().flatten() {
            newest_mtime(&entry.path(), newest);
        }
    } else if let Ok(m) = meta.modified() {
        *newest = (*newest).max(m);
    }
}

/// Where tests keep artifacts (screenshots): `tests/artifacts/`.
pub fn artifacts_dir() -> PathBuf {
    let dir = repo_root().join("tests/artifacts");
    std::fs::create_dir_all(&dir).expect("tests/artifacts");
    dir
}

/// A temporary directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// A fresh directory under the system temp dir.
    pub fn new(tag: &str) -> TempDir {
        static SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "cluster-monitor-{tag}-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Makes sure the demo images exist, building them with the scripts under
/// `docker/` (the cluster-monitor image from the release binary when present).
pub fn ensure_demo_images() {
    let present = image_present;
    let root = repo_root();
    if !present("actix-cluster/etcd:3.4") {
        let ok = Command::new("bash")
            .arg(root.join("docker/etcd/build.sh"))
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "docker/etcd/build.sh failed");
    }
    if !present("actix-cluster/prometheus:latest") {
        let ok = Command::new("bash")
            .arg(root.join("docker/prometheus/build.sh"))
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "docker/prometheus/build.sh failed");
    }
    if !present("actix-cluster/cluster-monitor:latest") {
        let ok = Command::new("bash")
            .arg(root.join("docker/cluster-monitor/build.sh"))
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "docker/cluster-monitor/build.sh failed");
    }
}
