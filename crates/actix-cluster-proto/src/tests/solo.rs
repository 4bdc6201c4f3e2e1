//! One core with a hand-cranked clock and hand-made records: the harness of
//! the single-core rule tests (the multi-core ones use [`Net`](super::Net)).

use std::net::SocketAddr;
use std::time::Duration;

use super::*;
use crate::codec::{self, Body, Message, Record};
use crate::{DownReason, Event};

/// One core with a hand-cranked clock; timers fire in order on `advance`.
pub(super) struct Solo {
    pub(super) core: Core,
    pub(super) now: Duration,
    pub(super) timers: Vec<(Duration, Timer)>,
    pub(super) sent: Vec<(SocketAddr, Channel, Vec<u8>)>,
    pub(super) events: Vec<Event>,
    pub(super) cluster: String,
}

impl Solo {
    pub(super) fn new(config: Config) -> Solo {
        Solo::started(config, Command::Form)
    }

    /// A core that asked member `seed` to let it in, not answered yet.
    pub(super) fn joining(config: Config, seed: usize) -> Solo {
        let seeds = vec![addr(seed)];
        Solo::started(config, Command::Join { seeds })
    }

    fn started(config: Config, start: Command) -> Solo {
        let cluster = config.cluster_name.clone();
        let core = Core::new(local(0, 1), config, 1).unwrap();
        let mut s = Solo {
            core,
            now: Duration::ZERO,
            timers: Vec::new(),
            sent: Vec::new(),
            events: Vec::new(),
            cluster,
        };
        s.core.handle_command(Duration::ZERO, start);
        s.drain();
        s
    }

    /// Member `from` lets us in with `members` as its state.
    pub(super) fn join_ack(&mut self, from: usize, members: Vec<Record>) {
        let msg = Message {
            sender: id(from, 1),
            body: Body::JoinAck {
                accepted: true,
                members,
            },
        };
        let bytes = codec::encode(&codec::prefix(&self.cluster), &msg);
        self.core.handle_stream(self.now, addr(from), &bytes);
        self.drain();
    }

    pub(super) fn drain(&mut self) {
        while let Some(o) = self.core.poll_output() {
            match o {
                Output::Send { to, channel, bytes } => self.sent.push((to, channel, bytes)),
                Output::Schedule { after, timer } => self.timers.push((self.now + after, timer)),
                Output::Event(e) => self.events.push(e),
                Output::Arbitrate { round, .. } => {
                    self.core.handle_arbiter(self.now, round, None);
                }
                Output::CheckArbiter { .. } => {}
            }
        }
    }

    pub(super) fn gossip(&mut self, from: usize, records: Vec<Record>) {
        let msg = Message {
            sender: id(from, 1),
            body: Body::Gossip { updates: records },
        };
        let bytes = codec::encode(&codec::prefix(&self.cluster), &msg);
        self.core.handle_datagram(self.now, addr(from), &bytes);
        self.drain();
    }

    /// Members 1..=`n` `Up` at incarnation 1, told by member `from`.
    pub(super) fn members_up(&mut self, from: usize, n: usize) {
        let records = (1..=n)
            .map(|i| alive(i, 1, Status::Up, i as u64 + 1))
            .collect();
        self.gossip(from, records);
    }

    pub(super) fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        loop {
            let next = self
                .timers
                .iter()
                .enumerate()
                .filter(|(_, (t, _))| *t <= end)
                .min_by_key(|(_, (t, _))| *t)
                .map(|(i, _)| i);
            let Some(i) = next else { break };
            let (t, timer) = self.timers.remove(i);
            self.now = t;
            self.core.handle_timer(t, timer);
            self.drain();
        }
        self.now = end;
    }

    pub(super) fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    pub(super) fn sent_messages(&self) -> Vec<(SocketAddr, Message)> {
        self.sent
            .iter()
            .map(|(to, _, b)| (*to, codec::decode(b, &self.cluster, usize::MAX).unwrap()))
            .collect()
    }

    /// Timers of `kind` scheduled so far (due time).
    pub(super) fn timers_of(&self, kind: &str) -> Vec<Duration> {
        self.timers
            .iter()
            .filter(|(_, t)| self.core.timer_name(t) == Some(kind))
            .map(|(d, _)| *d)
            .collect()
    }
}

pub(super) fn alive(i: usize, inc: u32, status: Status, up: u64) -> Record {
    let l = local(i, 1);
    Record {
        id: l.id,
        incarnation: inc,
        status,
        suspect: None,
        up_number: up,
        roles: l.roles,
        metadata: l.metadata,
    }
}

pub(super) fn suspect(i: usize, inc: u32, by: usize) -> Record {
    Record {
        suspect: Some(id(by, 1)),
        ..alive(i, inc, Status::Up, 2)
    }
}

pub(super) fn down(i: usize, inc: u32, reason: DownReason) -> Record {
    Record {
        id: id(i, 1),
        incarnation: inc,
        status: Status::Down(reason),
        suspect: None,
        up_number: 0,
        roles: Default::default(),
        metadata: Default::default(),
    }
}

pub(super) fn kinds(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .map(|e| match e {
            Event::Joined(m) => format!("joined {}", m.id.name),
            Event::Up(m) => format!("up {}", m.id.name),
            Event::Unreachable(m) => format!("unreachable {}", m.id.name),
            Event::Reachable(m) => format!("reachable {}", m.id.name),
            Event::Leaving(m) => format!("leaving {}", m.id.name),
            Event::Updated(m) => format!("updated {}", m.id.name),
            Event::Down { member, reason } => format!("down {:?} {}", reason, member.id.name),
            Event::Removed(m) => format!("removed {}", m.name),
            Event::LeaderChanged(l) => {
                format!("leader {}", l.as_ref().map_or("none", |m| m.name.as_str()))
            }
            Event::SelfChanged { old, new } => {
                format!("self {}-{} -> {}", old.name, old.generation, new.generation)
            }
        })
        .collect()
}
