//! The `Cluster` actor: drives the protocol core with sockets, timers and
//! subscriptions. The state it keeps besides the core lives in a type per
//! concern, each deciding one thing and handing the effects back here:
//!
//! - `deadlines`: the core's timers, and when the one actix timer fires;
//! - `incoming`: which incoming connections get a slot and which are closed;
//! - `writers`: one writer per peer, the least recently used making room;
//! - `arbitration`: the downing arbiter and the leader's record of its side;
//! - `departure`: the graceful leave, and stopping when this member is down;
//! - `leadership`: the leader's fencing token;
//! - `generation`: what makes this process's member new.
//!
//! The actor itself keeps the one-per-`System` registry and the wiring (this
//! file), the sockets' streams (`io`) and the message handlers (`handlers`).

mod handlers;
mod io;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix::prelude::*;
use actix_cluster_proto::{
    Channel, Command, Core, Event, LocalMember, MemberId, Output, Status, Timer,
};

use crate::arbiter::ProbeFuture;
use crate::arbitration::{Arbitration, Check};
use crate::config::{ClusterConfig, TransportConfig};
use crate::counters::{inc, Counters};
use crate::deadlines::Deadlines;
use crate::departure::Departure;
use crate::error::ClusterError;
use crate::generation::{new_generation, random_u64};
use crate::incoming::Incoming;
use crate::latency::HandlingLatency;
use crate::leadership::LeaderToken;
use crate::messages::Abort;
use crate::subscription::Subscription;
use crate::transport;
use crate::writers::Writers;

/// The running clusters, one per actix `System` (keyed by the system's id).
static REGISTRY: Mutex<BTreeMap<usize, (u64, Addr<Cluster>)>> = Mutex::new(BTreeMap::new());
/// Tells apart clusters started one after the other in the same system.
static INSTANCE: AtomicU64 = AtomicU64::new(0);

/// The cluster actor: one per actix `System`. It owns the protocol core, a UDP
/// socket (probes, gossip) and a TCP listener (joins, full-state exchange) on
/// the same port, turns the core's timer requests into actix timers, and
/// publishes membership events to subscribers.
///
/// Start it with [`Cluster::start`], reach it from anywhere in the same system
/// with [`Cluster::current`], and talk to it with the messages of this crate
/// ([`Join`](crate::Join), [`Subscribe`](crate::Subscribe),
/// [`GetMembers`](crate::GetMembers), [`Leave`](crate::Leave), ...).
///
/// When the `System` stops, the actor leaves the cluster gracefully (best
/// effort, without waiting for answers), so the others see
/// `MemberDown { reason: Left }` at once rather than after failure detection.
pub struct Cluster {
    /// The protocol state machine; the only place membership state lives.
    core: Core,
    /// The epoch of the core's `now`: the actor is the only place a clock is read.
    start: Instant,
    /// Where the sockets are bound.
    bound: SocketAddr,
    roles: BTreeSet<String>,
    metadata: BTreeMap<String, String>,
    max_frame_size: usize,
    /// Non-blocking clone of the UDP socket used for every send.
    udp_send: std::net::UdpSocket,
    /// Sockets handed to the actor's streams in `started` (taken once).
    pending_io: Option<(tokio::net::UdpSocket, tokio::net::TcpListener)>,
    /// One writer per peer we send stream frames to.
    writers: Writers,
    counters: Arc<Counters>,
    /// Subscribers, each with its bounded queue.
    subs: Vec<Subscription>,
    /// The transport's slots, queues and timeouts.
    limits: TransportConfig,
    /// Queue bound per subscriber (`ClusterConfig::subscriber_buffer`).
    subscriber_buffer: usize,
    /// Events dropped for subscribers that lagged (they resynchronise).
    subscriber_dropped: Arc<AtomicU64>,
    /// Graceful leave progress, and what this member does when down.
    departure: Departure,
    /// `Abort` was received: stop without leaving.
    aborted: bool,
    /// In `stopping`: no more timers.
    shutting_down: bool,
    /// This instance in the registry.
    instance: u64,
    /// Carries the member id in every log line of this actor and its tasks.
    span: tracing::Span,
    /// The downing arbiter (see [`SetArbiter`](crate::SetArbiter)) and the side owed to it.
    arbitration: Arbitration,
    /// The fencing token granted to this node as leader (see
    /// [`SetFencingToken`](crate::SetFencingToken)).
    token: LeaderToken,
    /// The core's pending timers by deadline (on the core's clock), with one
    /// actix timer armed for the earliest.
    timers: Deadlines<Timer>,
    /// Open incoming connections: the slots and their use.
    incoming: Incoming,
    /// How long handling each datagram and each frame took.
    handling: (HandlingLatency, HandlingLatency),
}

impl Cluster {
    /// Binds the sockets, creates this member (with a generation new to this
    /// process start) and starts the actor in the current actix `System`, where
    /// it is then reachable through [`Cluster::current`]. The node is not in any
    /// cluster yet: send it [`Join`](crate::Join) (seed addresses) or
    /// [`Form`](crate::Form).
    ///
    /// Binding port 0 picks a free port for both UDP and TCP; [`GetSelf`](crate::GetSelf)
    /// reports it. Errors: invalid config (named field, see
    /// [`ClusterConfig::validate`]), bind failure, no running system, or a
    /// cluster already running in this system.
    pub async fn start(config: ClusterConfig) -> Result<Addr<Cluster>, ClusterError> {
        let system = System::try_current().ok_or(ClusterError::NoSystem)?;
        if actix_rt::Arbiter::try_current().is_none()
            || tokio::runtime::Handle::try_current().is_err()
        {
            // A system was registered on this thread but is not running here.
            return Err(ClusterError::NoSystem);
        }
        if Self::current().is_some() {
            return Err(ClusterError::AlreadyRunning);
        }
        config.validate()?;
        let max_datagram = config.protocol.max_datagram_size;
        #[cfg(feature = "metrics")]
        let strategy = config.protocol.downing.strategy.name();
        let actor = Cluster::new(config)?;
        let instance = actor.instance;
        let addr = Cluster::create(move |ctx| {
            let mut actor = actor;
            #[cfg(feature = "metrics")]
            publish_metrics(ctx, strategy);
            if let Some((udp, tcp)) = actor.pending_io.take() {
                ctx.add_stream(transport::datagrams(
                    udp,
                    max_datagram,
                    actor.counters.clone(),
                ));
                ctx.add_stream(transport::accepts(tcp));
            }
            actor
        });
        register(&system, instance, addr)
    }

    /// Binds the sockets and creates the member and its core, from a
    /// validated `config`.
    fn new(config: ClusterConfig) -> Result<Cluster, ClusterError> {
        let bound = transport::bind(config.bind)?;
        let advertise = match config.advertise {
            Some(a) if a.port() == 0 => SocketAddr::new(a.ip(), bound.local.port()),
            Some(a) => a,
            None => bound.local,
        };
        let id = MemberId::new(config.name.clone(), advertise, new_generation());
        let local = LocalMember {
            id: id.clone(),
            roles: config.roles.clone(),
            metadata: config.metadata.clone(),
        };
        let start = Instant::now();
        let core = Core::new(local, config.protocol.clone(), random_u64())?;
        let span = tracing::info_span!("cluster", member = %id);
        span.in_scope(|| log_started(bound.local, &config.protocol));
        let counters = Arc::new(Counters::default());
        Ok(Cluster {
            core,
            start,
            bound: bound.local,
            roles: config.roles,
            metadata: config.metadata,
            max_frame_size: config.protocol.max_frame_size,
            udp_send: bound.udp_send,
            pending_io: Some((bound.udp, bound.tcp)),
            writers: Writers::new(config.transport, counters.clone()),
            counters,
            subs: Vec::new(),
            subscriber_buffer: config.subscriber_buffer,
            limits: config.transport,
            subscriber_dropped: Arc::new(AtomicU64::new(0)),
            departure: Departure::new(config.protocol.downing.on_fenced),
            aborted: false,
            shutting_down: false,
            instance: INSTANCE.fetch_add(1, Ordering::Relaxed),
            span,
            arbitration: Arbitration::new(leaderless_probe(&config.protocol.downing)),
            token: LeaderToken::default(),
            timers: Deadlines::default(),
            incoming: Incoming::default(),
            handling: Default::default(),
        })
    }

    /// The `Cluster` running in the current actix `System`, if any.
    pub fn current() -> Option<Addr<Cluster>> {
        let system = System::try_current()?;
        let registry = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
        registry
            .get(&system.id())
            .filter(|(_, addr)| addr.connected())
            .map(|(_, addr)| addr.clone())
    }

    /// The core's clock.
    fn now(&self) -> Duration {
        self.start.elapsed()
    }

    /// Carries out every pending effect of the core.
    fn drain(&mut self, ctx: &mut Context<Self>) {
        while let Some(output) = self.core.poll_output() {
            match output {
                Output::Send {
                    to,
                    channel: Channel::Datagram,
                    bytes,
                } => transport::send_datagram(&self.udp_send, to, &bytes, &self.counters),
                Output::Send {
                    to,
                    channel: Channel::Stream,
                    bytes,
                } => self.send_frame(to, bytes),
                Output::Schedule { after, timer } => {
                    if !self.shutting_down {
                        let at = self.now() + after;
                        self.timers.push(at, timer);
                        self.arm_timer(ctx);
                    }
                }
                Output::Event(event) => {
                    let leaderless = matches!(event, Event::LeaderChanged(None));
                    self.publish(event);
                    if leaderless && self.leaderless() {
                        self.probe_arbiter(ctx);
                    }
                }
                Output::Arbitrate { round, side } => self.arbitrate(round, side, ctx),
                Output::CheckArbiter { round, within } => self.check_arbiter(round, within, ctx),
            }
        }
        if self.arbitration.owes_record() {
            self.record_side(ctx);
        }
    }

    /// Arms the one actix timer for the earliest pending deadline (re-arming
    /// it when a new deadline comes first).
    fn arm_timer(&mut self, ctx: &mut Context<Self>) {
        let Some((first, later)) = self.timers.arm_for() else {
            return;
        };
        if let Some(handle) = later {
            ctx.cancel_future(handle);
        }
        let after = first.saturating_sub(self.now());
        let handle = ctx.run_later(after, |act, ctx| {
            act.timers.fired();
            act.fire_timers(ctx);
        });
        self.timers.armed(first, handle);
    }

    /// Hands every due timer to the core, then arms the next one.
    fn fire_timers(&mut self, ctx: &mut Context<Self>) {
        let _enter = self.span.clone().entered();
        let now = self.now();
        while let Some(timer) = self.timers.pop_due(now) {
            self.core.handle_timer(now, timer);
            self.drain(ctx);
        }
        if !self.shutting_down {
            self.arm_timer(ctx);
        }
    }

    /// As the leader, tells the arbiter who the surviving side is now: every
    /// member this node sees as reachable and not down. One record in flight
    /// at a time; a change meanwhile sends another after it.
    fn record_side(&mut self, ctx: &mut Context<Self>) {
        let me = self.core.local_id().clone();
        let leads = self.core.leader().as_ref() == Some(&me);
        let core = &self.core;
        let side = || {
            core.members()
                .into_iter()
                .filter(|m| m.reachable && matches!(m.status, Status::Up | Status::Joining))
                .map(|m| m.id)
                .collect()
        };
        let Some((fut, members)) = self.arbitration.record(&me, leads, side) else {
            return;
        };
        ctx.spawn(fut.into_actor(self).map(move |answer, act, ctx| {
            let _enter = act.span.clone().entered();
            match answer {
                Ok(recorded) => tracing::debug!(recorded, members, "surviving side recorded"),
                Err(reason) => tracing::debug!(%reason, "the surviving side could not be recorded"),
            }
            if act.arbitration.recorded() {
                act.record_side(ctx);
            }
        }));
    }

    /// Queues a stream frame towards `to`, starting a writer when needed.
    fn send_frame(&mut self, to: SocketAddr, frame: Vec<u8>) {
        if self.shutting_down {
            // No runtime to carry a connection any more: the leave rides on
            // datagrams.
            inc(&self.counters.frames_dropped);
            return;
        }
        self.writers.send(to, frame, &self.span);
    }

    /// Hands an event to the subscribers, dropping those that stopped.
    fn publish(&mut self, event: Event) {
        tracing::debug!(?event, "membership event");
        #[cfg(feature = "metrics")]
        crate::metrics::on_event(&event);
        self.prune_subscribers();
        match &event {
            Event::Up(member) => {
                tracing::info!(peer = %member.id, "member up");
                self.arbitration.side_changed();
            }
            Event::Down { member, reason } => {
                tracing::info!(peer = %member.id, ?reason, "member down");
                self.arbitration.side_changed();
                if member.id == *self.core.local_id() && self.departure.own_down(*reason) {
                    tracing::warn!(
                        ?reason,
                        "this member is down and configured to stop: stopping the System"
                    );
                    System::current().stop();
                }
            }
            Event::LeaderChanged(leader) => self.token.leader_changed(leader.as_ref()),
            Event::SelfChanged { old, new } => {
                tracing::warn!(%old, %new, "this member rejoins as a new member");
                self.span = tracing::info_span!(parent: None, "cluster", member = %new);
            }
            _ => {}
        }
        self.subs.retain_mut(|s| s.offer(&event));
    }

    /// Asks the arbiter whether our side wins; the answer goes back to the core.
    fn arbitrate(&mut self, round: u64, side: Vec<MemberId>, ctx: &mut Context<Self>) {
        let me = self.core.local_id().clone();
        let Some(fut) = self.arbitration.acquire(&me, &side) else {
            tracing::warn!("lease-majority decision without an arbiter: this side cannot win");
            let now = self.now();
            self.core.handle_arbiter(now, round, None);
            return;
        };
        ctx.spawn(fut.into_actor(self).map(move |answer, act, ctx| {
            let _enter = act.span.clone().entered();
            let won = match answer {
                Ok(won) => Some(won),
                Err(reason) => {
                    tracing::warn!(%reason, "the arbiter could not be asked");
                    None
                }
            };
            let now = act.now();
            act.core.handle_arbiter(now, round, won);
            act.drain(ctx);
        }));
    }

    /// This side is a minority and asks the arbiter only after `within` (its
    /// delay): if the arbiter is known unreachable (this node has been
    /// probing it since it named no leader, in vain), the core fences it
    /// now; otherwise the next probe tells, and a failure, or no answer
    /// within `within`, fences it then, rather than after the delay and the
    /// request's own timeout.
    fn check_arbiter(&mut self, round: u64, within: Duration, ctx: &mut Context<Self>) {
        match self.arbitration.check(round) {
            Check::Unreachable => {
                tracing::warn!("minority: the arbiter cannot be reached, this side cannot win");
                let now = self.now();
                self.core.handle_arbiter_unreachable(now, round);
            }
            Check::Probe(probe) => self.run_probe(probe, within, ctx),
            Check::Wait => {}
        }
    }

    /// With lease-majority, while this node names no leader (it may be on
    /// a partition's minority): probes the arbiter, and again while it
    /// fails, so that a minority's verdict finds it known unreachable.
    fn probe_arbiter(&mut self, ctx: &mut Context<Self>) {
        let Some(bound) = self.arbitration.leaderless_probe() else {
            return;
        };
        if let Some(probe) = self.arbitration.probe() {
            self.run_probe(probe, bound, ctx);
        }
    }

    /// Runs `probe` for at most `bound` and hands the result to the
    /// arbitration; after a failure, probes again while this node names no
    /// leader, at most one probe per `PROBE_PACE`.
    fn run_probe(&mut self, probe: ProbeFuture, bound: Duration, ctx: &mut Context<Self>) {
        let started = self.now();
        let bounded = tokio::time::timeout(bound, probe);
        ctx.spawn(bounded.into_actor(self).map(move |answer, act, ctx| {
            let _enter = act.span.clone().entered();
            let failure = match answer {
                Ok(Ok(())) => None,
                Ok(Err(reason)) => Some(reason),
                Err(_) => Some(format!("no answer within {bound:?}")),
            };
            let again = failure.is_some() && act.leaderless();
            if let Some(reason) = &failure {
                tracing::debug!(%reason, again, "the arbiter did not answer its probe");
            }
            if let Some(round) = act.arbitration.probed(failure.is_none(), again) {
                tracing::warn!(
                    round,
                    "minority: the arbiter cannot be reached, this side cannot win"
                );
                let now = act.now();
                act.core.handle_arbiter_unreachable(now, round);
                act.drain(ctx);
            }
            if again {
                let next = PROBE_PACE.saturating_sub(act.now().saturating_sub(started));
                ctx.run_later(next, |act, ctx| {
                    if act.leaderless() {
                        act.probe_arbiter(ctx);
                    } else {
                        act.arbitration.stop_probing();
                    }
                });
            }
        }));
    }

    /// `Up` and naming no leader: this node cannot reach a majority by its
    /// own view.
    fn leaderless(&self) -> bool {
        let me = self.core.local_id();
        self.core.leader().is_none() && self.core.member(me).is_some_and(|m| m.status == Status::Up)
    }

    /// Forgets subscribers whose actor stopped.
    fn prune_subscribers(&mut self) {
        self.subs.retain(|s| s.connected());
    }

    /// Starts a graceful leave (once).
    fn start_leave(&mut self, ctx: &mut Context<Self>) {
        if self.departure.begin() {
            tracing::info!("leaving the cluster");
            let now = self.now();
            self.core.handle_command(now, Command::Leave);
            self.drain(ctx);
        }
    }

    /// True when another member could hear a leave from us.
    fn has_peers(&self) -> bool {
        let me = self.core.local_id();
        self.core.members().iter().any(|m| {
            m.id != *me && matches!(m.status, Status::Joining | Status::Up | Status::Leaving)
        })
    }

    /// The longest a `Leave` waits for the leave to be disseminated.
    fn leave_bound(&self) -> Duration {
        Duration::from_secs(2)
    }
}

/// At most one probe of the arbiter starts per this while it keeps failing: a
/// refused connection fails at once, and a failure this recent still says
/// the arbiter cannot be reached now.
const PROBE_PACE: Duration = Duration::from_secs(1);

/// With lease-majority (and a minority's delay), this node probes the arbiter
/// while it names no leader, each probe bounded by that delay.
fn leaderless_probe(downing: &actix_cluster_proto::DowningConfig) -> Option<Duration> {
    (downing.strategy == actix_cluster_proto::Strategy::LeaseMajority)
        .then_some(downing.acquire_delay_for_minority)
}

/// Enters the started actor as this system's cluster, unless another start
/// won the race (then the new actor stops at once).
fn register(
    system: &System,
    instance: u64,
    addr: Addr<Cluster>,
) -> Result<Addr<Cluster>, ClusterError> {
    let mut registry = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
    match registry.get(&system.id()) {
        Some((_, other)) if other.connected() => {
            // Lost a race with another start in this system.
            addr.do_send(Abort);
            Err(ClusterError::AlreadyRunning)
        }
        _ => {
            registry.insert(system.id(), (instance, addr.clone()));
            Ok(addr)
        }
    }
}

/// Says where the node listens and how its messages are protected.
fn log_started(bound: SocketAddr, protocol: &actix_cluster_proto::Config) {
    tracing::info!(%bound, "cluster node started");
    match &protocol.keyring {
        None => tracing::warn!(
            "running without keys: messages are plaintext and anyone who reaches \
             this port can join, read the member list and change members' status"
        ),
        Some(ring) => {
            let keys: Vec<String> = ring.ids().iter().map(|k| k.to_string()).collect();
            tracing::info!(
                ?keys,
                seal_outgoing = protocol.seal_outgoing,
                verify_incoming = protocol.verify_incoming,
                "messages sealed"
            );
            if !protocol.verify_incoming {
                tracing::warn!("keys installed but plaintext still accepted (rollout mode)");
            }
        }
    }
}

/// Publishes the metrics every [`crate::metrics::INTERVAL`] while the actor
/// runs, from the actor's own snapshots.
#[cfg(feature = "metrics")]
fn publish_metrics(ctx: &mut Context<Cluster>, strategy: String) {
    let mut publisher = crate::metrics::Publisher::start(strategy);
    ctx.run_interval(crate::metrics::INTERVAL, move |act, _| {
        let stats = act.stats();
        let members = act.core.members();
        publisher.publish(&stats, &members);
    });
}

impl Actor for Cluster {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.writers.report_refusals_to(ctx.address().recipient());
        // Consider any effects the core produced on creation.
        let _enter = self.span.clone().entered();
        self.drain(ctx);
    }

    fn stopping(&mut self, ctx: &mut Context<Self>) -> Running {
        let _enter = self.span.clone().entered();
        self.shutting_down = true;
        if !self.aborted && self.departure.is_member() && self.has_peers() {
            // Best effort: the leave datagrams go out synchronously through the
            // std socket, which works even while the runtime shuts down.
            tracing::info!("system stopping: leaving the cluster");
            self.start_leave(ctx);
        }
        self.departure.done();
        Running::Stop
    }

    fn stopped(&mut self, _ctx: &mut Context<Self>) {
        let _enter = self.span.clone().entered();
        tracing::info!(aborted = self.aborted, "cluster node stopped");
        let mut registry = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
        registry.retain(|_, (instance, _)| *instance != self.instance);
    }
}
