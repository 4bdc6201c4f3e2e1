//! Five `cluster-monitor` nodes and a 3-member etcd in the namespaces of
//! [`super::net`], the nemesis (each fault a method that also declares who is
//! faulty, for the checker), and the bookkeeping that turns a scenario into a
//! [`History`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use serde_json::Value;

use super::checker::{self, Ending, Faulty, History, Incarnation, Partition, Time, Violation};
use super::net::{self, etcd_ip, node_ip, observe, Nft, Proc, Topology};
use super::record::Recorder;
use super::singleton::{self, Sampler};
use crate::demo::{encode, http, monitor_binary};

/// Nodes in the cluster.
pub const NODES: usize = 5;
/// etcd members.
pub const ETCDS: usize = 3;
/// A pause up to this long must not get the paused member downed; a longer
/// one makes it faulty for the checker.
pub const PAUSE_BOUND: Duration = Duration::from_secs(4);
/// After the last heal, every node's view must have recovered within this.
pub const RECOVERY_BOUND: Duration = Duration::from_secs(30);
/// `ETCD_LEASE_TTL` of the nodes.
pub const LEASE_TTL: u64 = 5;
/// The cluster name and etcd prefix.
const CLUSTER: &str = "acf";
const ETCD_PREFIX: &str = "/acf";

/// The whole test bed.
pub struct Cluster {
    etcd: Vec<Option<Proc>>,
    nodes: Vec<Option<Proc>>,
    /// Observer threads still finishing; joined before the namespaces go.
    draining: Vec<JoinHandle<()>>,
    recorder: Option<Recorder>,
    /// Samples `/api/singleton` (the singleton rule).
    singleton: Option<Sampler>,
    /// What the current scenario did.
    pub history: History,
    nft: Vec<Nft>,
    nft_seq: usize,
    /// Every pid this run started (checked at the end).
    pub pids: Vec<u32>,
    bin: PathBuf,
    t0: Instant,
    topo: Topology,
}

fn http_addr(i: usize) -> SocketAddr {
    format!("{}:{}", node_ip(i), net::HTTP_PORT)
        .parse()
        .expect("address")
}

fn endpoints() -> String {
    (1..=ETCDS)
        .map(|i| format!("http://{}:2379", etcd_ip(i)))
        .collect::<Vec<_>>()
        .join(",")
}

/// Whether every answer lists every answering node's `self` as `up` and
/// reachable.
fn all_up(views: &[Option<Value>]) -> bool {
    let Some(views) = views
        .iter()
        .map(Option::as_ref)
        .collect::<Option<Vec<&Value>>>()
    else {
        return false;
    };
    let ids: Vec<&str> = views.iter().filter_map(|v| v["self"].as_str()).collect();
    ids.len() == views.len()
        && views.iter().all(|v| {
            let members = v["members"].as_array().map(Vec::as_slice).unwrap_or(&[]);
            ids.iter().all(|id| {
                members
                    .iter()
                    .any(|m| m["id"] == *id && m["status"] == "up" && m["reachable"] == true)
            })
        })
}

/// Node index (1-based) of a node name `n<i>`.
pub fn index(name: &str) -> usize {
    name[1..].parse().expect("node name n<i>")
}

impl Cluster {
    /// Builds the namespaces and starts etcd (no nodes yet).
    pub fn new() -> Cluster {
        let topo = Topology::build(NODES, ETCDS);
        let mut c = Cluster {
            etcd: (0..ETCDS).map(|_| None).collect(),
            nodes: (0..NODES).map(|_| None).collect(),
            draining: vec![],
            recorder: None,
            singleton: None,
            history: History::default(),
            nft: vec![],
            nft_seq: 0,
            pids: vec![],
            bin: monitor_binary(),
            t0: Instant::now(),
            topo,
        };
        for i in 1..=ETCDS {
            c.start_etcd(i);
        }
        c.wait("etcd healthy", Duration::from_secs(60), |c| {
            c.etcdctl(&["endpoint", "health"]).map(|_| ())
        });
        c
    }

    /// Seconds since the run started.
    pub fn now(&self) -> Time {
        self.t0.elapsed().as_secs_f64()
    }

    /// Polls `cond` every 200 ms until it is `Ok` or `timeout` passes; panics then.
    pub fn wait<T>(
        &mut self,
        what: &str,
        timeout: Duration,
        mut cond: impl FnMut(&mut Cluster) -> Result<T, String>,
    ) -> T {
        let deadline = Instant::now() + timeout;
        loop {
            match cond(self) {
                Ok(v) => return v,
                Err(e) if Instant::now() >= deadline => {
                    panic!("timed out after {timeout:?} waiting for {what}: {e}")
                }
                Err(_) => std::thread::sleep(Duration::from_millis(200)),
            }
        }
    }

    // ------------------------------------------------------------ etcd

    fn start_etcd(&mut self, i: usize) {
        let ip = etcd_ip(i);
        let cluster = (1..=ETCDS)
            .map(|k| format!("e{k}=http://{}:2380", etcd_ip(k)))
            .collect::<Vec<_>>()
            .join(",");
        let args: Vec<String> = [
            format!("--name=e{i}"),
            format!(
                "--data-dir={}",
                self.topo.dir.join(format!("e{i}")).display()
            ),
            format!("--listen-client-urls=http://{ip}:2379"),
            format!("--advertise-client-urls=http://{ip}:2379"),
            format!("--listen-peer-urls=http://{ip}:2380"),
            format!("--initial-advertise-peer-urls=http://{ip}:2380"),
            format!("--initial-cluster={cluster}"),
            "--initial-cluster-state=new".into(),
            format!("--initial-cluster-token=acf-{}", std::process::id()),
        ]
        .into();
        let log = self.topo.dir.join(format!("etcd-e{i}.log"));
        let p = Proc::spawn(
            &format!("acf-e{i}"),
            std::path::Path::new("etcd"),
            &args,
            &[],
            log,
        );
        self.pids.push(p.pid());
        self.etcd[i - 1] = Some(p);
    }

    /// `etcdctl` against every member, run in the bridge namespace.
    pub fn etcdctl(&self, args: &[&str]) -> Result<String, String> {
        self.etcdctl_at(&endpoints(), args)
    }

    /// `etcdctl` against the given endpoints (comma-separated URLs).
    fn etcdctl_at(&self, endpoints: &str, args: &[&str]) -> Result<String, String> {
        let eps = format!("--endpoints={endpoints}");
        let mut full = vec![
            "netns",
            "exec",
            net::BRIDGE_NS,
            "etcdctl",
            &eps,
            "--dial-timeout=1s",
            "--command-timeout=2s",
        ];
        full.extend_from_slice(args);
        net::run("ip", &full)
    }

    /// The member ids registered (`members/<id>` keys).
    pub fn registrations(&self) -> Result<Vec<String>, String> {
        let prefix = format!("{ETCD_PREFIX}/{CLUSTER}/members/");
        let out = self.etcdctl(&["get", "--prefix", "--keys-only", &prefix])?;
        Ok(out
            .lines()
            .filter_map(|l| l.strip_prefix(&prefix))
            .map(str::to_owned)
            .collect())
    }

    /// The index (1-based) of etcd's leader, asked of each running member
    /// alone (`endpoint status` fails as a whole when one member is down).
    pub fn etcd_leader(&self) -> Result<usize, String> {
        let mut last = String::from("no member running");
        for i in (1..=ETCDS).filter(|i| self.etcd[i - 1].is_some()) {
            let ep = format!("http://{}:2379", etcd_ip(i));
            let out = match self.etcdctl_at(&ep, &["endpoint", "status", "-w", "json"]) {
                Ok(out) => out,
                Err(e) => {
                    last = e;
                    continue;
                }
            };
            let v: Value = serde_json::from_str(&out).map_err(|e| format!("{e}: {out}"))?;
            let st = &v[0]["Status"];
            if st["leader"].as_u64().is_some_and(|l| l != 0)
                && st["leader"] == st["header"]["member_id"]
            {
                return Ok(i);
            }
            last = format!("e{i} is not the leader: {out}");
        }
        Err(last)
    }

    // ------------------------------------------------------------ nodes

    fn spawn_node(&mut self, i: usize) {
        let name = format!("n{i}");
        let env: Vec<(&str, String)> = vec![
            ("RUST_LOG", "info".into()),
            (
                "CLUSTER_ROLE",
                if i == 1 { "frontend" } else { "backend" }.into(),
            ),
            ("CLUSTER_NAME", CLUSTER.into()),
            ("NODE_NAME", name.clone()),
            (
                "CLUSTER_BIND",
                format!("{}:{}", node_ip(i), net::GOSSIP_PORT),
            ),
            ("HTTP_BIND", http_addr(i).to_string()),
            ("CLUSTER_PROTOCOL", "lan".into()),
            ("ETCD_ENDPOINTS", endpoints()),
            ("ETCD_PREFIX", ETCD_PREFIX.into()),
            ("ETCD_LEASE_TTL", LEASE_TTL.to_string()),
        ];
        let log = self
            .topo
            .dir
            .join(format!("{name}-{}.log", self.pids.len()));
        let bin = self.bin.clone();
        let p = Proc::spawn(&format!("acf-{name}"), &bin, &[], &env, log);
        self.pids.push(p.pid());
        self.nodes[i - 1] = Some(p);
        let start = self.now();
        self.history.incarnations.push(Incarnation {
            node: name,
            id: String::new(),
            start,
            end: None,
        });
    }

    /// Waits until node `i` answers `/readyz` 200 and records its id.
    fn wait_ready(&mut self, i: usize) {
        let id = self.wait(&format!("n{i} ready"), Duration::from_secs(30), |c| {
            let p = c.nodes[i - 1].as_mut().ok_or("not running")?;
            if p.exited() {
                panic!("n{i} exited; log:\n{}", p.log_tail(30));
            }
            let r = observe(|| http("GET", http_addr(i), "/readyz"))?;
            let v: Value = serde_json::from_str(&r.body).map_err(|e| e.to_string())?;
            match (r.status, v["id"].as_str()) {
                (200, Some(id)) => Ok(id.to_owned()),
                (s, _) => Err(format!("/readyz {s}")),
            }
        });
        if let Some(inc) = self.latest(i) {
            inc.id = id;
        }
    }

    /// Node `i`'s latest process (the only one that can still run).
    fn latest(&mut self, i: usize) -> Option<&mut Incarnation> {
        let k = self.latest_index(i)?;
        self.history.incarnations.get_mut(k)
    }

    fn latest_index(&self, i: usize) -> Option<usize> {
        let node = format!("n{i}");
        self.history
            .incarnations
            .iter()
            .rposition(|inc| inc.node == node)
    }

    /// Starts (or restarts) node `i` and waits until it is ready.
    pub fn start_node(&mut self, i: usize) {
        self.spawn_node(i);
        self.wait_ready(i);
    }

    fn end_incarnation(&mut self, i: usize, how: Ending) {
        let t = self.now();
        if let Some(inc) = self.latest(i).filter(|inc| inc.end.is_none()) {
            inc.end = Some((t, how));
        }
    }

    /// The current id of node `i` (as it became ready).
    pub fn id(&self, i: usize) -> String {
        self.latest_index(i)
            .map(|k| self.history.incarnations[k].id.clone())
            .unwrap_or_default()
    }

    /// The id node `i` calls itself now: the `self` of its latest sample
    /// (it changes when the member is reborn within its process), else the
    /// id it had when it became ready.
    pub fn self_id(&self, i: usize) -> String {
        let name = format!("n{i}");
        self.observed()
            .samples
            .iter()
            .rev()
            .filter(|s| s.node == name)
            .find_map(|s| s.view.as_ref().map(|v| v.self_id.clone()))
            .unwrap_or_else(|| self.id(i))
    }

    /// Starts a scenario: every node killed, etcd's keys cleared, a new
    /// history and recorder, five fresh nodes started together.
    pub fn begin(&mut self) {
        self.end_recording();
        for n in self.nodes.iter_mut() {
            *n = None;
        }
        for f in std::mem::take(&mut self.nft) {
            f.heal();
        }
        self.wait("etcd to answer", Duration::from_secs(30), |c| {
            c.etcdctl(&["del", "--prefix", &format!("{ETCD_PREFIX}/")])
                .map(|_| ())
        });
        self.history = History::default();
        let addrs: Vec<(String, SocketAddr)> = (1..=NODES)
            .map(|i| (format!("n{i}"), http_addr(i)))
            .collect();
        self.recorder = Some(Recorder::start(self.t0, &addrs));
        self.singleton = Some(Sampler::start(self.t0, &addrs));
        for i in 1..=NODES {
            self.spawn_node(i);
        }
        for i in 1..=NODES {
            self.wait_ready(i);
        }
    }

    /// The history so far, with the recorder's observations and etcd's
    /// registrations now.
    pub fn history_now(&self) -> History {
        let mut h = self.observed();
        h.registrations = self.registrations().ok();
        h
    }

    /// The history so far with the recorder's observations (no etcd query).
    pub fn observed(&self) -> History {
        let mut h = self.history.clone();
        if let Some(r) = &self.recorder {
            (h.downs, h.terminated, h.samples) = r.snapshot();
        }
        if let Some(s) = &self.singleton {
            h.singleton = s.snapshot();
        }
        h
    }

    /// Marks everything healed now and waits (up to [`RECOVERY_BOUND`]) until
    /// the final state holds; returns the seconds it took, or the violations.
    pub fn recover(&mut self) -> Result<f64, Vec<Violation>> {
        let healed = self.now();
        self.history.healed = healed;
        let deadline = Instant::now() + RECOVERY_BOUND;
        loop {
            let h = self.history_now();
            let v = checker::final_state(&h);
            if v.is_empty() {
                return Ok(self.now() - healed);
            }
            if Instant::now() >= deadline {
                return Err(v);
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// Polls every running node's `/api/members` every 100 ms until each
    /// one lists every running node's current id `up` and reachable (its
    /// own view of itself included); returns the seconds since `since`, or
    /// `None` if that takes longer than `timeout`.
    pub fn wait_all_up(&mut self, since: Instant, timeout: Duration) -> Option<f64> {
        let running: Vec<usize> = (1..=NODES)
            .filter(|&i| self.nodes[i - 1].as_mut().is_some_and(|p| !p.exited()))
            .collect();
        loop {
            let views: Vec<Option<Value>> = observe(|| {
                running
                    .iter()
                    .map(|&i| {
                        http("GET", http_addr(i), "/api/members")
                            .ok()
                            .filter(|r| r.status == 200)
                            .and_then(|r| serde_json::from_str(&r.body).ok())
                    })
                    .collect()
            });
            if all_up(&views) {
                return Some(since.elapsed().as_secs_f64());
            }
            if since.elapsed() >= timeout {
                return None;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn end_recording(&mut self) {
        if let Some(r) = self.recorder.take() {
            self.draining.extend(r.stop());
        }
        if let Some(s) = self.singleton.take() {
            self.draining.extend(s.stop());
        }
    }

    /// Ends the scenario: the final history (the nodes still running are
    /// live in it; the next [`Cluster::begin`] kills them).
    pub fn finish(&mut self) -> History {
        let mut h = self.history_now();
        let key = format!("{ETCD_PREFIX}/{CLUSTER}/app/ticker/token");
        h.fence_tokens = singleton::fence_tokens(&endpoints(), &key);
        self.end_recording();
        for f in std::mem::take(&mut self.nft) {
            f.heal();
        }
        for p in self.nodes.iter_mut() {
            if let Some(p) = p.as_mut() {
                if p.exited() {
                    continue;
                }
                p.resume();
            }
        }
        h.healed = self.history.healed;
        h
    }

    // ------------------------------------------------------------ the nemesis

    /// SIGKILL of node `i`: a crash.
    pub fn crash(&mut self, i: usize) {
        if let Some(mut p) = self.nodes[i - 1].take() {
            p.kill();
        }
        self.end_incarnation(i, Ending::Crashed);
    }

    /// Waits until every other live node shows `id` down (up to `timeout`);
    /// returns whether they all did.
    pub fn wait_down_everywhere(&mut self, id: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            let h = self.observed();
            let all = h
                .live_nodes()
                .iter()
                .filter(|n| **n != checker::id_name(id))
                .all(|n| h.showed_down(Some(n), id));
            if all {
                return true;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        false
    }

    /// A graceful leave of node `i`, requested through node `via`'s API.
    pub fn leave(&mut self, i: usize, via: usize) {
        let path = format!("/api/members/{}/leave", encode(&self.id(i)));
        let r = observe(|| http("POST", http_addr(via), &path)).expect("leave request");
        assert_eq!(r.status, 202, "leave answered {r:?}");
        self.end_incarnation(i, Ending::Left);
        self.wait(&format!("n{i} to exit"), Duration::from_secs(15), |c| {
            let p = c.nodes[i - 1].as_mut().ok_or("gone")?;
            if p.exited() {
                Ok(())
            } else {
                Err("running".into())
            }
        });
        self.nodes[i - 1] = None;
    }

    pub(crate) fn install(&mut self, node: usize, input: Vec<String>, output: Vec<String>) {
        self.nft_seq += 1;
        let name = format!("acf_{}", self.nft_seq);
        self.nft.push(Nft::install(
            &format!("acf-n{node}"),
            &name,
            &input,
            &output,
        ));
    }

    /// Removes every nftables rule of the nemesis; returns how many packets
    /// they dropped.
    pub fn heal_network(&mut self) -> u64 {
        let mut dropped = 0;
        for f in std::mem::take(&mut self.nft) {
            dropped += f.dropped();
            f.heal();
        }
        dropped
    }

    /// A partition into `sides` (node indices); etcd stays with the first
    /// side. Every side but the largest is declared faulty until
    /// [`Cluster::heal_partition`].
    pub fn partition(&mut self, sides: &[Vec<usize>]) {
        let from = self.now();
        for (k, side) in sides.iter().enumerate() {
            let mut others: Vec<String> = sides
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != k)
                .flat_map(|(_, s)| s.iter().map(|&n| node_ip(n)))
                .collect();
            if k != 0 {
                others.extend((1..=ETCDS).map(etcd_ip));
            }
            let set = others.join(", ");
            for &n in side {
                self.install(
                    n,
                    vec![format!("ip saddr {{ {set} }} drop")],
                    vec![format!("ip daddr {{ {set} }} drop")],
                );
            }
        }
        self.history.partitions.push(Partition {
            sides: sides
                .iter()
                .map(|s| s.iter().map(|n| format!("n{n}")).collect())
                .collect(),
            from,
            to: f64::INFINITY,
        });
        let largest = sides.iter().map(Vec::len).max().unwrap_or(0);
        let mut majority_seen = false;
        for side in sides {
            if side.len() == largest && !majority_seen {
                majority_seen = true;
                continue;
            }
            for &n in side {
                self.history.faulty.push(Faulty {
                    node: format!("n{n}"),
                    from,
                    to: f64::INFINITY,
                });
            }
        }
    }

    fn close_open_faults(&mut self) {
        let t = self.now();
        let h = &mut self.history;
        let ends = h.faulty.iter_mut().map(|f| &mut f.to);
        for to in ends.chain(h.partitions.iter_mut().map(|p| &mut p.to)) {
            if to.is_infinite() {
                *to = t;
            }
        }
    }

    /// Heals every network fault and closes the faulty intervals; returns
    /// how many packets the rules dropped.
    pub fn heal_partition(&mut self) -> u64 {
        let dropped = self.heal_network();
        self.close_open_faults();
        dropped
    }

    /// Node `to` no longer receives from node `from` (one way); `to` is
    /// declared faulty (behind a faulty link) until healed.
    pub fn cut_one_way(&mut self, from: usize, to: usize) {
        self.install(to, vec![format!("ip saddr {} drop", node_ip(from))], vec![]);
        let t = self.now();
        self.history.faulty.push(Faulty {
            node: format!("n{to}"),
            from: t,
            to: f64::INFINITY,
        });
    }

    /// Node `i` loses every packet from the other nodes while it still sends
    /// (and still reaches etcd): Rapid's "flip-flop" member, whose observers
    /// must not be downed by it. It is declared faulty until healed.
    pub fn cut_inbound(&mut self, i: usize) {
        let others = (1..=NODES)
            .filter(|&n| n != i)
            .map(node_ip)
            .collect::<Vec<_>>()
            .join(", ");
        self.install(i, vec![format!("ip saddr {{ {others} }} drop")], vec![]);
        let t = self.now();
        self.history.faulty.push(Faulty {
            node: format!("n{i}"),
            from: t,
            to: f64::INFINITY,
        });
    }

    /// Random loss of `pct`% of the packets between nodes, on every node's
    /// input (so each direction of each link loses `pct`%). Nobody is
    /// declared faulty: loss is the network's, and must not down anyone.
    pub fn loss(&mut self, nodes: &[usize], pct: u32) {
        let set = (1..=NODES).map(node_ip).collect::<Vec<_>>().join(", ");
        for &n in nodes {
            self.install(
                n,
                vec![format!(
                    "ip saddr {{ {set} }} numgen random mod 100 < {pct} drop"
                )],
                vec![],
            );
        }
    }

    /// SIGSTOP of node `i` for `len`, then SIGCONT. Beyond [`PAUSE_BOUND`]
    /// the node is declared faulty for the pause.
    pub fn pause(&mut self, i: usize, len: Duration) {
        let from = self.now();
        if let Some(p) = self.nodes[i - 1].as_mut() {
            p.pause();
        }
        std::thread::sleep(len);
        if let Some(p) = self.nodes[i - 1].as_mut() {
            p.resume();
        }
        if len > PAUSE_BOUND {
            let to = self.now();
            self.history.faulty.push(Faulty {
                node: format!("n{i}"),
                from,
                to,
            });
        }
    }

    /// SIGSTOP of every etcd member for `len`, then SIGCONT.
    pub fn stop_etcd(&mut self, len: Duration) {
        for p in self.etcd.iter().flatten() {
            p.signal(Signal::SIGSTOP);
        }
        std::thread::sleep(len);
        for p in self.etcd.iter().flatten() {
            p.signal(Signal::SIGCONT);
        }
    }

    /// SIGKILL of etcd's leader; waits for the two others to elect a new
    /// one, then restarts it on its data and waits until all are healthy.
    /// Returns (old leader, seconds until a new leader).
    pub fn kill_etcd_leader(&mut self) -> (usize, f64) {
        let old = self.wait("an etcd leader", Duration::from_secs(20), |c| {
            c.etcd_leader()
        });
        if let Some(mut p) = self.etcd[old - 1].take() {
            p.kill();
        }
        let t = Instant::now();
        self.wait("a new etcd leader", Duration::from_secs(30), |c| {
            c.etcd_leader()
                .and_then(|l| if l != old { Ok(l) } else { Err("old".into()) })
        });
        let elected = t.elapsed().as_secs_f64();
        self.start_etcd(old);
        self.wait("etcd healthy again", Duration::from_secs(60), |c| {
            c.etcdctl(&["endpoint", "health"]).map(|_| ())
        });
        (old, elected)
    }

    /// Stops everything (observer threads joined, processes killed) and
    /// removes the namespaces; returns what is left, which must be nothing.
    pub fn teardown(mut self) -> Vec<String> {
        self.end_recording();
        for t in std::mem::take(&mut self.draining) {
            let _ = t.join();
        }
        let pids = std::mem::take(&mut self.pids);
        drop(self);
        net::leftovers(&pids)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.end_recording();
        for t in std::mem::take(&mut self.draining) {
            let _ = t.join();
        }
        for n in self.nodes.iter_mut().chain(self.etcd.iter_mut()) {
            *n = None;
        }
        // `topo` drops last: it kills whatever is still in the namespaces
        // and deletes them.
    }
}

impl Default for Cluster {
    fn default() -> Self {
        Cluster::new()
    }
}
