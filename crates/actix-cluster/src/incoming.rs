//! The registry of open incoming connections: who gets a slot (a share per
//! IP address, then eviction of the connection least worth keeping), and
//! which connection is closed because a frame on it was rejected. The actor
//! carries out what it decides (cancelling a connection's stream closes it).

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use actix::SpawnHandle;

use crate::config::TransportConfig;

/// Open incoming connections, by number: the slots and their use.
#[derive(Default)]
pub(crate) struct Incoming {
    conns: HashMap<u64, Conn>,
    /// The number of the last connection admitted.
    last: u64,
}

/// One open incoming connection.
struct Conn {
    ip: IpAddr,
    /// Its frame stream in the actor (cancelling it closes the connection).
    handle: SpawnHandle,
    opened: Instant,
    /// When a frame on it was last accepted by the protocol.
    good: Option<Instant>,
}

/// Whether a new connection gets a slot.
pub(crate) enum Room {
    /// A slot is free.
    Free,
    /// Every slot was taken: this connection was dropped from the registry to
    /// make room; the caller closes it.
    Evicted(SpawnHandle),
    /// Its IP address holds `max_incoming_per_ip` connections already, each
    /// busy within `evict_idle`.
    PerIpFull,
    /// Every slot is taken by a connection busy within `evict_idle`.
    AllBusy,
}

impl Incoming {
    /// Whether a connection from `ip` may open at `now`: its address's share
    /// first, then a free slot, else the connection least worth keeping makes
    /// room (one that never carried an accepted frame, oldest first; else the
    /// one idle longest), unless all were busy within `limits.evict_idle`.
    ///
    /// A full share makes room the same way among that address's own
    /// connections: members behind one address (several on a host, or behind
    /// a NAT) each leave an idle connection behind after a join, and refusing
    /// the next ones would keep them out until those close by themselves
    /// (`idle_timeout`). An address still never holds more than its share,
    /// and never takes a slot from another address this way.
    pub(crate) fn room_for(&mut self, ip: IpAddr, limits: &TransportConfig, now: Instant) -> Room {
        let from_ip = self.conns.values().filter(|c| c.ip == ip).count();
        if from_ip >= limits.max_incoming_per_ip {
            return match self.evict(Some(ip), limits.evict_idle, now) {
                Some(handle) => Room::Evicted(handle),
                None => Room::PerIpFull,
            };
        }
        if self.conns.len() < limits.max_incoming {
            return Room::Free;
        }
        match self.evict(None, limits.evict_idle, now) {
            Some(handle) => Room::Evicted(handle),
            None => Room::AllBusy,
        }
    }

    /// Drops the connection least worth keeping (from `ip` only, when given),
    /// idle for `evict_idle` at least, and gives its handle back.
    fn evict(
        &mut self,
        ip: Option<IpAddr>,
        evict_idle: Duration,
        now: Instant,
    ) -> Option<SpawnHandle> {
        let victim = self
            .conns
            .iter()
            .filter(|(_, c)| ip.is_none_or(|ip| c.ip == ip))
            .map(|(&id, c)| (id, c.good.is_some(), c.good.unwrap_or(c.opened)))
            .filter(|(_, _, last)| now.duration_since(*last) >= evict_idle)
            .min_by_key(|&(id, useful, last)| (useful, last, id))
            .map(|(id, _, _)| id)?;
        self.conns.remove(&victim).map(|c| c.handle)
    }

    /// The number the next connection gets.
    pub(crate) fn next_number(&mut self) -> u64 {
        self.last += 1;
        self.last
    }

    /// Connection `conn` from `ip` opened at `now`, its stream is `handle`.
    pub(crate) fn opened(&mut self, conn: u64, ip: IpAddr, handle: SpawnHandle, now: Instant) {
        let entry = Conn {
            ip,
            handle,
            opened: now,
            good: None,
        };
        self.conns.insert(conn, entry);
    }

    /// Connection `conn` ended by itself.
    pub(crate) fn closed(&mut self, conn: u64) {
        self.conns.remove(&conn);
    }

    /// The protocol accepted a frame on `conn` at `now`.
    pub(crate) fn accepted(&mut self, conn: u64, now: Instant) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.good = Some(now);
        }
    }

    /// The protocol rejected a frame on `conn`: a slot is for a member talking
    /// the protocol, so the connection leaves the registry and its handle
    /// comes back for the caller to close it (`None` if it had gone already).
    pub(crate) fn rejected(&mut self, conn: u64) -> Option<SpawnHandle> {
        self.conns.remove(&conn).map(|c| c.handle)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max_incoming: usize, max_incoming_per_ip: usize) -> TransportConfig {
        TransportConfig {
            max_incoming,
            max_incoming_per_ip,
            ..TransportConfig::default()
        }
    }

    /// Opens a connection from `ip` at `at`, with a handle of its own.
    fn open(reg: &mut Incoming, ip: [u8; 4], at: Instant) -> (u64, SpawnHandle) {
        let conn = reg.next_number();
        let mut handle = SpawnHandle::default();
        for _ in 0..conn {
            handle = handle.next();
        }
        reg.opened(conn, IpAddr::from(ip), handle, at);
        (conn, handle)
    }

    #[test]
    fn one_address_gets_its_share_only() {
        let mut reg = Incoming::default();
        let t0 = Instant::now();
        let l = limits(4, 2);
        open(&mut reg, [10, 0, 0, 1], t0);
        open(&mut reg, [10, 0, 0, 1], t0);
        assert!(matches!(
            reg.room_for(IpAddr::from([10, 0, 0, 1]), &l, t0),
            Room::PerIpFull
        ));
        assert!(matches!(
            reg.room_for(IpAddr::from([10, 0, 0, 2]), &l, t0),
            Room::Free
        ));
    }

    #[test]
    fn a_full_share_makes_room_among_its_own_idle_connections_only() {
        let mut reg = Incoming::default();
        let t0 = Instant::now();
        let l = limits(8, 2);
        let idle = l.evict_idle;
        let (_, other) = open(&mut reg, [10, 0, 0, 9], t0);
        let (useful, _) = open(&mut reg, [10, 0, 0, 1], t0);
        let (_, never_useful) = open(&mut reg, [10, 0, 0, 1], t0 + Duration::from_millis(1));
        reg.accepted(useful, t0 + Duration::from_millis(2));
        let ip = IpAddr::from([10, 0, 0, 1]);
        // Both busy within `evict_idle`: the newcomer is refused.
        assert!(matches!(
            reg.room_for(ip, &l, t0 + idle / 2),
            Room::PerIpFull
        ));
        // Later, the one that never carried an accepted frame makes room; the
        // older connection of another address is never taken.
        let later = t0 + idle * 2;
        match reg.room_for(ip, &l, later) {
            Room::Evicted(h) => {
                assert_eq!(h, never_useful);
                assert_ne!(h, other);
            }
            _ => panic!("expected an eviction"),
        }
        // The share holds: one slot freed, one taken.
        open(&mut reg, [10, 0, 0, 1], later);
        let from_ip = reg.conns.values().filter(|c| c.ip == ip).count();
        assert_eq!(from_ip, 2);
        assert_eq!(reg.conns.len(), 3);
    }

    #[test]
    fn a_full_registry_evicts_the_least_useful_idle_connection() {
        let mut reg = Incoming::default();
        let t0 = Instant::now();
        let l = limits(3, 3);
        let idle = l.evict_idle;
        let (useful, _) = open(&mut reg, [10, 0, 0, 1], t0);
        let (_, never_useful) = open(&mut reg, [10, 0, 0, 2], t0 + Duration::from_millis(1));
        open(&mut reg, [10, 0, 0, 3], t0 + Duration::from_millis(2));
        reg.accepted(useful, t0);
        // Everyone busy within `evict_idle`: no room.
        assert!(matches!(
            reg.room_for(IpAddr::from([10, 0, 0, 4]), &l, t0 + idle / 2),
            Room::AllBusy
        ));
        // Later, one that never carried an accepted frame goes first (oldest
        // first), before the one that did.
        let later = t0 + idle * 2;
        match reg.room_for(IpAddr::from([10, 0, 0, 4]), &l, later) {
            Room::Evicted(h) => assert_eq!(h, never_useful),
            _ => panic!("expected an eviction"),
        }
    }

    #[test]
    fn a_rejected_frame_closes_its_connection_once() {
        let mut reg = Incoming::default();
        let (conn, handle) = open(&mut reg, [10, 0, 0, 1], Instant::now());
        assert_eq!(reg.rejected(conn), Some(handle));
        assert_eq!(reg.rejected(conn), None);
        let (conn, _) = open(&mut reg, [10, 0, 0, 1], Instant::now());
        reg.closed(conn);
        assert_eq!(reg.rejected(conn), None);
    }
}
