//! The actor's API: start, the system extension, queries, config errors.

mod common;

use std::time::Instant;

use actix::prelude::*;
use actix_cluster::{
    AddLeaveGuard, BeforeLeave, Cluster, ClusterConfig, ClusterError, Form, GetLeader, GetMembers,
    GetSelf, Leave, ProtocolConfig, Status, UpdateMetadata,
};
use common::*;
use tokio::sync::oneshot;

#[test]
fn start_registers_one_cluster_per_system_and_reports_the_bound_port() {
    let _serial = serial();
    let system = System::new();
    system.block_on(async {
        assert!(Cluster::current().is_none());
        let cluster = Cluster::start(config("api-0", local0())).await.unwrap();
        let me = cluster.send(GetSelf).await.unwrap();
        assert_ne!(me.bound.port(), 0);
        assert_eq!(me.id.addr, me.bound);
        assert_eq!(me.id.name, "api-0");
        // TCP listens on the same port as UDP.
        std::net::TcpStream::connect(me.bound).unwrap();

        let current = Cluster::current().expect("registered");
        assert_eq!(current.send(GetSelf).await.unwrap(), me);
        assert!(matches!(
            Cluster::start(config("api-1", local0())).await,
            Err(ClusterError::AlreadyRunning)
        ));

        // Alone: forms, is Up, is the leader; leaving alone answers at once.
        cluster.send(Form).await.unwrap();
        let members = cluster.send(GetMembers).await.unwrap();
        assert_eq!(members.len(), 1);
        assert_eq!(members[0].status, Status::Up);
        assert_eq!(cluster.send(GetLeader).await.unwrap(), Some(me.id.clone()));
        cluster.send(Leave).await.unwrap();
        let members = cluster.send(GetMembers).await.unwrap();
        assert!(matches!(members[0].status, Status::Down(_)));
    });
}

#[test]
fn config_errors_name_the_field_and_bind_nothing() {
    let _serial = serial();
    let system = System::new();
    system.block_on(async {
        let bad = ClusterConfig::new("n", "0.0.0.0:0".parse().unwrap());
        match Cluster::start(bad).await {
            Err(ClusterError::InvalidConfig { field, .. }) => assert_eq!(field, "advertise"),
            other => panic!("{:?}", other.map(|_| ())),
        }
        let bad = config("n", local0()).with_cluster_name("");
        match Cluster::start(bad).await {
            Err(ClusterError::Config(e)) => assert_eq!(e.field, "cluster_name"),
            other => panic!("{:?}", other.map(|_| ())),
        }
        let bad = ClusterConfig::new("", local0()).with_protocol(ProtocolConfig::local());
        assert!(matches!(
            Cluster::start(bad).await,
            Err(ClusterError::InvalidConfig { field: "name", .. })
        ));
        // A taken port is a bind error.
        let taken = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let bad = config("n", taken.local_addr().unwrap());
        assert!(matches!(
            Cluster::start(bad).await,
            Err(ClusterError::Bind { .. })
        ));
        assert!(Cluster::current().is_none());
    });
    // After the system, on the same thread, and on a thread that never had one.
    assert!(matches!(
        futures::executor::block_on(Cluster::start(config("n", local0()))),
        Err(ClusterError::NoSystem)
    ));
    std::thread::spawn(|| {
        assert!(matches!(
            futures::executor::block_on(Cluster::start(config("n", local0()))),
            Err(ClusterError::NoSystem)
        ));
    })
    .join()
    .unwrap();
}

#[test]
fn advertise_port_zero_means_the_bound_port() {
    let _serial = serial();
    let system = System::new();
    system.block_on(async {
        let cfg = config("adv", local0()).with_advertise("127.0.0.1:0".parse().unwrap());
        let cluster = Cluster::start(cfg).await.unwrap();
        let me = cluster.send(GetSelf).await.unwrap();
        assert_eq!(me.id.addr, me.bound);
    });
}

#[test]
fn metadata_updates_reach_the_other_members() {
    let _serial = serial();
    let nodes = cluster("meta", 2);
    wait_all_up(&nodes, &ids(&nodes));
    let meta: std::collections::BTreeMap<String, String> =
        [("http".to_string(), "127.0.0.1:8080".to_string())].into();
    nodes[0].ask(UpdateMetadata(meta.clone())).unwrap();
    assert_eq!(nodes[0].ask(GetSelf).metadata, meta);
    // Metadata over the limits is refused, and GetSelf keeps what is in force.
    let too_big: std::collections::BTreeMap<String, String> =
        [(String::new(), "x".to_string())].into();
    let err = nodes[0].ask(UpdateMetadata(too_big)).unwrap_err();
    assert!(err.to_string().contains("metadata"), "{err}");
    assert_eq!(nodes[0].ask(GetSelf).metadata, meta);
    let deadline = Instant::now() + DEADLINE;
    let id = nodes[0].id();
    loop {
        let members = nodes[1].members();
        if members.iter().any(|m| m.id == id && m.metadata == meta) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "metadata never arrived: {members:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    for node in nodes {
        node.leave();
    }
}

#[test]
fn stats_time_the_handling_of_every_datagram_and_frame() {
    let _serial = serial();
    let nodes = cluster("latency", 2);
    wait_all_up(&nodes, &ids(&nodes));
    // The join travelled as frames; probes and acks as datagrams. Every
    // datagram handed to the core is timed (one actor handles both the
    // counter's datagrams and the stats request, in order).
    let deadline = Instant::now() + DEADLINE;
    let stats = loop {
        let s = nodes[0].stats();
        if s.datagram_handling.count() > 0 && s.frame_handling.count() > 0 {
            break s;
        }
        assert!(Instant::now() < deadline, "nothing timed: {s:?}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let d = &stats.datagram_handling;
    assert_eq!(d.count(), stats.transport.datagrams_received);
    assert!(d.p50() <= d.p99() && d.p99() <= d.max(), "{d:?}");
    assert!(d.max() > std::time::Duration::ZERO);
    let f = &stats.frame_handling;
    assert!(f.p99() <= f.max() && f.max() > std::time::Duration::ZERO);
    // An interval from a later snapshot counts only what came after it.
    let later = nodes[0].stats();
    let interval = later.datagram_handling.since(d);
    assert_eq!(
        interval.count(),
        later.transport.datagrams_received - stats.transport.datagrams_received
    );
    for node in nodes {
        node.leave();
    }
}

/// A leave guard that says when it is asked and answers when released.
struct Guard {
    asked: Option<oneshot::Sender<()>>,
    release: Option<oneshot::Receiver<()>>,
}

impl Actor for Guard {
    type Context = Context<Self>;
}

impl Handler<BeforeLeave> for Guard {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, _: BeforeLeave, _: &mut Context<Self>) -> Self::Result {
        if let Some(asked) = self.asked.take() {
            let _ = asked.send(());
        }
        let release = self.release.take();
        Box::pin(async move {
            if let Some(release) = release {
                let _ = release.await;
            }
        })
    }
}

#[test]
fn a_leave_waits_for_its_guards_and_the_member_stays_up_meanwhile() {
    let _serial = serial();
    System::new().block_on(async {
        let cluster = Cluster::start(config("guard-0", local0())).await.unwrap();
        cluster.send(Form).await.unwrap();
        let (asked_tx, asked) = oneshot::channel();
        let (release, release_rx) = oneshot::channel();
        let guard = Guard {
            asked: Some(asked_tx),
            release: Some(release_rx),
        }
        .start();
        cluster
            .send(AddLeaveGuard(guard.recipient()))
            .await
            .unwrap();
        // A guard whose actor stopped counts as answered.
        let stopped = Guard {
            asked: None,
            release: None,
        }
        .start();
        cluster
            .send(AddLeaveGuard(stopped.clone().recipient()))
            .await
            .unwrap();
        stopped.send(StopGuard).await.unwrap();
        let leave = actix_rt::spawn(cluster.send(Leave));
        asked.await.unwrap();
        let members = cluster.send(GetMembers).await.unwrap();
        assert_eq!(members[0].status, Status::Up, "not left before the answer");
        assert!(!leave.is_finished());
        release.send(()).unwrap();
        leave.await.unwrap().unwrap();
        let members = cluster.send(GetMembers).await.unwrap();
        assert!(matches!(members[0].status, Status::Down(_)));
    });
}

#[derive(Message)]
#[rtype(result = "()")]
struct StopGuard;

impl Handler<StopGuard> for Guard {
    type Result = ();

    fn handle(&mut self, _: StopGuard, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}
