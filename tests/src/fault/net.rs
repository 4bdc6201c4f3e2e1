//! The fault tier's network: one network namespace per node and per etcd
//! member, each joined by a veth pair to a bridge in a namespace of its own,
//! on 10.213.0.0/24; nothing is routed out, nothing is added to the root
//! namespace. The observer (the test's HTTP and event-stream clients) runs in
//! threads that `setns(2)` into the bridge namespace, where the bridge holds
//! 10.213.0.254.
//!
//! Every name starts with [`PREFIX`]: a run first sweeps what a crashed
//! earlier run left (processes in those namespaces, then the namespaces), and
//! [`Topology`]'s `Drop` removes what this run made. [`leftovers`] lists
//! whatever is still there, so the tier can fail on it.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sched::{setns, CloneFlags};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// Prefix of every namespace this tier creates.
pub const PREFIX: &str = "acf-";
/// The bridge namespace (also the observer's).
pub const BRIDGE_NS: &str = "acf-br";
/// The observer's address, on the bridge.
pub const OBSERVER_IP: &str = "10.213.0.254";
/// Gossip port of every node.
pub const GOSSIP_PORT: u16 = 7946;
/// HTTP port of every node.
pub const HTTP_PORT: u16 = 8080;

/// The address of node `i` (1-based): 10.213.0.i.
pub fn node_ip(i: usize) -> String {
    format!("10.213.0.{i}")
}

/// The address of etcd member `i` (1-based): 10.213.0.(10 + i).
pub fn etcd_ip(i: usize) -> String {
    format!("10.213.0.{}", 10 + i)
}

/// Runs a command; `Err` with its stderr when it fails.
pub fn run(cmd: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(cmd)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{cmd}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{cmd} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn must(cmd: &str, args: &[&str]) -> String {
    run(cmd, args).unwrap_or_else(|e| panic!("{e}"))
}

/// Why the tier cannot run here, or `None` when it can (root, `ip`, `nft`,
/// `etcd`, `etcdctl`).
pub fn unavailable() -> Option<String> {
    if run("id", &["-u"]).map(|u| u.trim() == "0") != Ok(true) {
        return Some("needs root (network namespaces, nftables)".into());
    }
    for bin in ["ip", "nft", "etcd", "etcdctl"] {
        if run("sh", &["-c", &format!("command -v {bin}")]).is_err() {
            return Some(format!(
                "`{bin}` not found (apt-get install iproute2 nftables etcd-server etcd-client)"
            ));
        }
    }
    None
}

/// The namespaces whose name starts with [`PREFIX`].
pub fn our_namespaces() -> Vec<String> {
    run("ip", &["netns", "list"])
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with(PREFIX))
        .map(str::to_owned)
        .collect()
}

fn pids_in(ns: &str) -> Vec<i32> {
    run("ip", &["netns", "pids", ns])
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// Kills every process inside our namespaces, deletes the namespaces
/// (their veths and the bridge go with them) and the data directories of
/// runs that are gone.
pub fn sweep() {
    remove_namespaces(&our_namespaces());
    // Data directories `acf-<pid>` of runs whose process is gone.
    for entry in std::fs::read_dir(std::env::temp_dir())
        .into_iter()
        .flatten()
        .flatten()
    {
        let name = entry.file_name().to_string_lossy().into_owned();
        let pid = name
            .strip_prefix(PREFIX)
            .and_then(|p| p.parse::<u32>().ok());
        if pid.is_some_and(|p| !Path::new(&format!("/proc/{p}")).exists()) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Kills every process inside `namespaces`, waits until they are gone, and
/// deletes the namespaces.
fn remove_namespaces(namespaces: &[String]) {
    for ns in namespaces {
        for pid in pids_in(ns) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
    for ns in namespaces {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !pids_in(ns).is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = run("ip", &["netns", "del", ns]);
    }
}

/// What is left of this tier: namespaces, root-namespace interfaces or
/// nftables tables named like ours, and any of `pids` still running.
pub fn leftovers(pids: &[u32]) -> Vec<String> {
    let mut left: Vec<String> = our_namespaces()
        .into_iter()
        .map(|n| format!("namespace {n}"))
        .collect();
    for line in run("ip", &["-o", "link", "show"])
        .unwrap_or_default()
        .lines()
    {
        if let Some(name) = line.split(':').nth(1).map(str::trim) {
            if name.starts_with(PREFIX) || name.starts_with("acf") {
                left.push(format!("interface {name}"));
            }
        }
    }
    for line in run("nft", &["list", "tables"]).unwrap_or_default().lines() {
        if line
            .split_whitespace()
            .last()
            .is_some_and(|t| t.starts_with("acf"))
        {
            left.push(format!("nftables {line}"));
        }
    }
    for pid in pids {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let cmd = String::from_utf8_lossy(&cmdline);
        // A zombie or a reused pid running something else is not ours.
        let state = stat
            .rsplit(')')
            .next()
            .and_then(|s| s.split_whitespace().next());
        if state.is_some_and(|s| s != "Z")
            && (cmd.contains("cluster-monitor") || cmd.contains("etcd"))
        {
            left.push(format!("process {pid} ({})", cmd.replace('\0', " ").trim()));
        }
    }
    left
}

/// Moves the calling thread into the bridge namespace, so the sockets it
/// opens reach 10.213.0.0/24 (and nothing else).
pub fn enter_observer() {
    let f = File::open(format!("/run/netns/{BRIDGE_NS}")).expect("bridge namespace");
    setns(&f, CloneFlags::CLONE_NEWNET).expect("setns into the bridge namespace");
}

/// Runs `f` on a thread inside the bridge namespace.
pub fn observe<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| {
        s.spawn(|| {
            enter_observer();
            f()
        })
        .join()
        .expect("observer thread")
    })
}

/// The namespaces and links; removed on drop.
pub struct Topology {
    /// Every namespace made, bridge first.
    pub namespaces: Vec<String>,
    /// Data directories and logs.
    pub dir: PathBuf,
}

impl Topology {
    /// Sweeps leftovers, then builds the bridge namespace with `nodes` node
    /// namespaces (`acf-n1`..) and `etcds` etcd namespaces (`acf-e1`..).
    pub fn build(nodes: usize, etcds: usize) -> Topology {
        sweep();
        let dir = std::env::temp_dir().join(format!("acf-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        let mut topo = Topology {
            namespaces: vec![],
            dir,
        };
        topo.add_ns(BRIDGE_NS);
        let br = BRIDGE_NS;
        must("ip", &["-n", br, "link", "add", "br0", "type", "bridge"]);
        must(
            "ip",
            &[
                "-n",
                br,
                "addr",
                "add",
                &format!("{OBSERVER_IP}/24"),
                "dev",
                "br0",
            ],
        );
        must("ip", &["-n", br, "link", "set", "br0", "up"]);
        let hosts = (1..=nodes)
            .map(|i| (format!("acf-n{i}"), format!("vn{i}"), node_ip(i)))
            .chain((1..=etcds).map(|i| (format!("acf-e{i}"), format!("ve{i}"), etcd_ip(i))));
        for (ns, port, ip) in hosts {
            topo.add_ns(&ns);
            must(
                "ip",
                &[
                    "-n", br, "link", "add", &port, "type", "veth", "peer", "name", "eth0",
                    "netns", &ns,
                ],
            );
            must(
                "ip",
                &["-n", br, "link", "set", &port, "master", "br0", "up"],
            );
            must(
                "ip",
                &["-n", &ns, "addr", "add", &format!("{ip}/24"), "dev", "eth0"],
            );
            must("ip", &["-n", &ns, "link", "set", "eth0", "up"]);
        }
        topo
    }

    fn add_ns(&mut self, ns: &str) {
        must("ip", &["netns", "add", ns]);
        self.namespaces.push(ns.to_owned());
        must("ip", &["-n", ns, "link", "set", "lo", "up"]);
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        let mut namespaces = self.namespaces.clone();
        namespaces.reverse();
        remove_namespaces(&namespaces);
        if std::env::var_os("ACF_KEEP_LOGS").is_some() {
            // For a post-mortem: the next run's sweep removes it.
            eprintln!("fault tier: logs kept in {}", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// A child process started inside a namespace with `ip netns exec` (which
/// execs, so the child's pid is the program's); killed on drop.
pub struct Proc {
    /// The process.
    pub child: Child,
    /// Its log file.
    pub log: PathBuf,
    stopped: bool,
}

impl Proc {
    /// Starts `bin args` in `ns` with `env` (and nothing else but PATH).
    pub fn spawn(
        ns: &str,
        bin: &Path,
        args: &[String],
        env: &[(&str, String)],
        log: PathBuf,
    ) -> Proc {
        let file = File::create(&log).expect("log file");
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", ns])
            .arg(bin)
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log file"))
            .stderr(file);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("ip netns exec starts");
        Proc {
            child,
            log,
            stopped: false,
        }
    }

    /// The pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal.
    pub fn signal(&self, sig: Signal) {
        let _ = kill(Pid::from_raw(self.child.id() as i32), sig);
    }

    /// SIGSTOP.
    pub fn pause(&mut self) {
        self.signal(Signal::SIGSTOP);
        self.stopped = true;
    }

    /// SIGCONT.
    pub fn resume(&mut self) {
        self.signal(Signal::SIGCONT);
        self.stopped = false;
    }

    /// Whether it has exited.
    pub fn exited(&mut self) -> bool {
        self.child.try_wait().ok().flatten().is_some()
    }

    /// SIGKILL and reap.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The last `n` lines of the log.
    pub fn log_tail(&self, n: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.stopped {
            self.resume();
        }
        self.kill();
    }
}

/// Rule lines with a counter before their verdict (`... drop` becomes
/// `... counter drop`).
fn counted(rules: &[String]) -> String {
    rules
        .iter()
        .map(|r| match r.strip_suffix(" drop") {
            Some(m) => format!("{m} counter drop"),
            None => r.clone(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// An nftables table of the nemesis inside one namespace: input and output
/// rules; deleted by [`Nft::heal`] (and with the namespace).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Nft {
    /// The namespace.
    pub ns: String,
    /// The table name (`acf_<n>`, in family `inet`).
    pub table: String,
}

impl Nft {
    /// Installs `table inet <name>` with `input` and `output` rule lines.
    pub fn install(ns: &str, name: &str, input: &[String], output: &[String]) -> Nft {
        let script = format!(
            "table inet {name} {{\n chain input {{ type filter hook input priority 0; policy accept;\n{}\n }}\n chain output {{ type filter hook output priority 0; policy accept;\n{}\n }}\n}}\n",
            counted(input),
            counted(output)
        );
        let mut child = Command::new("ip")
            .args(["netns", "exec", ns, "nft", "-f", "-"])
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("nft runs");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(script.as_bytes())
            .expect("nft script");
        let out = child.wait_with_output().expect("nft");
        assert!(
            out.status.success(),
            "nft in {ns} failed: {}\n{script}",
            String::from_utf8_lossy(&out.stderr)
        );
        Nft {
            ns: ns.to_owned(),
            table: name.to_owned(),
        }
    }

    /// Packets the table's rules dropped so far (every rule has a counter).
    pub fn dropped(&self) -> u64 {
        run(
            "ip",
            &[
                "netns",
                "exec",
                &self.ns,
                "nft",
                "list",
                "table",
                "inet",
                &self.table,
            ],
        )
        .unwrap_or_default()
        .split_whitespace()
        .collect::<Vec<_>>()
        .windows(2)
        .filter(|w| w[0] == "packets")
        .filter_map(|w| w[1].parse::<u64>().ok())
        .sum()
    }

    /// Deletes the table.
    pub fn heal(&self) {
        let _ = run(
            "ip",
            &[
                "netns",
                "exec",
                &self.ns,
                "nft",
                "delete",
                "table",
                "inet",
                &self.table,
            ],
        );
    }
}
