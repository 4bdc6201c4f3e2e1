//! One known member's entry in the members table, and what has been
//! published about it. An entry is small: its id is a shared handle, its
//! roles and metadata are shared (one allocation for every member without
//! any), and a suspicion lives behind a box while there is one.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::codec::{self, Record};
use crate::id::{Incarnation, MemberId};
use crate::member::{MemberInfo, Status};
use crate::suspicion::Suspicion;

/// [`Entry::live_at`] of a member not in the list of live members.
pub(crate) const NOT_LIVE: u32 = u32::MAX;

/// A member's roles and metadata, shared by its entry and the records and
/// views made from it.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct MemberData {
    pub(crate) roles: BTreeSet<String>,
    pub(crate) metadata: BTreeMap<String, String>,
}

impl MemberData {
    /// Shared data: the one empty value when both are empty.
    pub(crate) fn shared(
        roles: BTreeSet<String>,
        metadata: BTreeMap<String, String>,
    ) -> Arc<MemberData> {
        if roles.is_empty() && metadata.is_empty() {
            return empty();
        }
        Arc::new(MemberData { roles, metadata })
    }
}

/// The one empty [`MemberData`] of the process.
fn empty() -> Arc<MemberData> {
    static EMPTY: OnceLock<Arc<MemberData>> = OnceLock::new();
    EMPTY.get_or_init(Arc::default).clone()
}

/// One known member.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) id: MemberId,
    pub(crate) incarnation: Incarnation,
    pub(crate) status: Status,
    pub(crate) up_number: u64,
    /// Roles and metadata (see [`Entry::set_data`]).
    data: Arc<MemberData>,
    pub(crate) suspicion: Option<Box<Suspicion>>,
    /// The last member whose suspicion we learned (gossiped as the suspecter).
    pub(crate) suspecter: Option<MemberId>,
    /// The events already published about it.
    pub(crate) announced: Announced,
    /// A message from it reached us: it is a real, reachable process, so its
    /// silence as an indirect prober is evidence about our own health (a
    /// member known only from others' records is not).
    pub(crate) heard: bool,
    /// Not heard from since this node fenced: shown unreachable, its `Up` held
    /// back, until heard from or rejoined (like `heard`, not in its record).
    pub(crate) unconfirmed: bool,
    /// Its place in the table's list of live members, [`NOT_LIVE`] when not
    /// in it (kept by the table).
    pub(crate) live_at: u32,
    /// When this node last had first-hand evidence of it, in nanoseconds,
    /// [`NEVER`] for none on record (kept by the table: see
    /// `Table::note_heard`). Not in its record.
    heard_at: u64,
}

/// [`Entry::heard_at`] of a member with no first-hand evidence on record.
const NEVER: u64 = u64::MAX;

/// What has been published about a member, so that each event goes out once
/// and in order: `Joined`, then `Up` (unless it never was), then `Leaving`;
/// `Unreachable` and `Reachable` alternate only after `Up`. (`Down` needs no
/// mark: a member goes down once.)
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Announced {
    /// Nothing: a silent tombstone, or the local member before it starts.
    Nothing,
    /// `Joined`.
    Joined,
    /// `Joined` and `Up`; `unreachable` while an `Unreachable` stands.
    Up { unreachable: bool },
    /// `Joined`, `Up` if `up`, and `Leaving`; `unreachable` as above.
    Leaving { up: bool, unreachable: bool },
}

impl Announced {
    /// `Joined` was published.
    pub(crate) fn joined(self) -> bool {
        self != Announced::Nothing
    }

    /// `Up` was published.
    pub(crate) fn up(self) -> bool {
        matches!(
            self,
            Announced::Up { .. } | Announced::Leaving { up: true, .. }
        )
    }

    /// `Leaving` was published.
    pub(crate) fn leaving(self) -> bool {
        matches!(self, Announced::Leaving { .. })
    }

    /// An `Unreachable` stands (no `Reachable` since).
    pub(crate) fn unreachable(self) -> bool {
        matches!(
            self,
            Announced::Up { unreachable: true }
                | Announced::Leaving {
                    unreachable: true,
                    ..
                }
        )
    }

    /// After publishing `Up`.
    pub(crate) fn with_up(self) -> Announced {
        match self {
            Announced::Leaving { unreachable, .. } => Announced::Leaving {
                up: true,
                unreachable,
            },
            Announced::Up { unreachable } => Announced::Up { unreachable },
            Announced::Nothing | Announced::Joined => Announced::Up { unreachable: false },
        }
    }

    /// After publishing `Leaving`.
    pub(crate) fn with_leaving(self) -> Announced {
        match self {
            Announced::Up { unreachable } => Announced::Leaving {
                up: true,
                unreachable,
            },
            Announced::Leaving { .. } => self,
            Announced::Nothing | Announced::Joined => Announced::Leaving {
                up: false,
                unreachable: false,
            },
        }
    }

    /// After publishing `Unreachable` (`true`) or `Reachable` (`false`).
    pub(crate) fn with_unreachable(self, unreachable: bool) -> Announced {
        match self {
            Announced::Up { .. } => Announced::Up { unreachable },
            Announced::Leaving { up, .. } => Announced::Leaving { up, unreachable },
            Announced::Nothing | Announced::Joined => self,
        }
    }
}

impl Entry {
    pub(crate) fn new(id: MemberId, status: Status) -> Entry {
        Entry {
            id,
            incarnation: 0,
            status,
            up_number: 0,
            data: empty(),
            suspicion: None,
            suspecter: None,
            announced: Announced::Nothing,
            heard: false,
            unconfirmed: false,
            live_at: NOT_LIVE,
            heard_at: NEVER,
        }
    }

    /// When this node last had first-hand evidence of it, if on record.
    pub(crate) fn heard_at(&self) -> Option<Duration> {
        (self.heard_at != NEVER).then(|| Duration::from_nanos(self.heard_at))
    }

    /// Records (or with `None` forgets) its first-hand evidence. Times past
    /// 584 years saturate (times are the driver's, never the network's).
    pub(crate) fn set_heard_at(&mut self, at: Option<Duration>) {
        self.heard_at = at.map_or(NEVER, |at| {
            u64::try_from(at.as_nanos()).map_or(NEVER - 1, |n| n.min(NEVER - 1))
        });
    }

    /// The shared roles and metadata.
    pub(crate) fn data(&self) -> &Arc<MemberData> {
        &self.data
    }

    /// Takes these roles and metadata; true when they differ from what was
    /// held (equal ones keep the held allocation).
    pub(crate) fn set_data(
        &mut self,
        roles: BTreeSet<String>,
        metadata: BTreeMap<String, String>,
    ) -> bool {
        if self.data.roles == roles && self.data.metadata == metadata {
            return false;
        }
        self.data = MemberData::shared(roles, metadata);
        true
    }

    /// Takes these metadata, keeping the roles; true when they changed.
    pub(crate) fn set_metadata(&mut self, metadata: BTreeMap<String, String>) -> bool {
        let roles = self.data.roles.clone();
        self.set_data(roles, metadata)
    }

    /// Shares `data` (another entry's) as this one's roles and metadata.
    pub(crate) fn share_data(&mut self, data: &Arc<MemberData>) {
        self.data = Arc::clone(data);
    }

    pub(crate) fn is_live(&self) -> bool {
        !matches!(self.status, Status::Down(_))
    }

    /// The record gossiped about it, borrowed: what both [`Entry::record`]
    /// and [`Entry::put_record`] are made of. A down member's record names
    /// no suspecter.
    fn parts(&self) -> codec::RecordParts<'_> {
        let down = matches!(self.status, Status::Down(_));
        codec::RecordParts {
            id: &self.id,
            incarnation: self.incarnation,
            status: self.status,
            suspect: if down {
                None
            } else {
                self.suspicion.as_ref().and(self.suspecter.as_ref())
            },
            up_number: self.up_number,
            // A down record carries neither (the encoder skips them).
            roles: &self.data.roles,
            metadata: &self.data.metadata,
        }
    }

    /// The record gossiped about it.
    pub(crate) fn record(&self) -> Record {
        let p = self.parts();
        let down = matches!(p.status, Status::Down(_));
        Record {
            id: p.id.clone(),
            incarnation: p.incarnation,
            status: p.status,
            suspect: p.suspect.cloned(),
            up_number: p.up_number,
            roles: if down {
                BTreeSet::new()
            } else {
                p.roles.clone()
            },
            metadata: if down {
                BTreeMap::new()
            } else {
                p.metadata.clone()
            },
        }
    }

    /// Appends its record, encoded: the bytes of [`Entry::record`]'s
    /// encoding, without the record made first.
    pub(crate) fn put_record(&self, out: &mut Vec<u8>) {
        codec::put_record_parts(out, self.parts());
    }

    /// Withdraws a standing `Unreachable` once no suspicion or fence keeps
    /// the member unreachable; true when `Reachable` is to be published.
    pub(crate) fn settle_reachable(&mut self) -> bool {
        if !self.announced.unreachable() || self.suspicion.is_some() || self.unconfirmed {
            return false;
        }
        self.announced = self.announced.with_unreachable(false);
        true
    }

    pub(crate) fn info(&self) -> MemberInfo {
        MemberInfo {
            id: self.id.clone(),
            status: self.status,
            reachable: self.suspicion.is_none()
                && !self.unconfirmed
                && !matches!(self.status, Status::Down(crate::DownReason::Failed)),
            incarnation: self.incarnation,
            roles: self.data.roles.clone(),
            metadata: self.data.metadata.clone(),
            up_number: self.up_number,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::member::DownReason;

    /// The record encoded in place is the record's encoding, byte for byte,
    /// whatever the entry holds (suspicion, roles and metadata included).
    #[test]
    fn encoding_in_place_is_the_records_encoding() {
        let id = |i: u16| MemberId::new(format!("n{i}"), ([10, 0, 0, 1], i).into(), 7);
        for status in [
            Status::Joining,
            Status::Up,
            Status::Leaving,
            Status::Down(DownReason::Failed),
            Status::Down(DownReason::Left),
            Status::Down(DownReason::Fenced),
        ] {
            for (suspected, with_data) in [(false, false), (true, false), (true, true)] {
                let mut e = Entry::new(id(1), status);
                e.incarnation = 300;
                e.up_number = 1 << 40;
                e.suspecter = Some(id(2));
                if suspected {
                    let s = Suspicion::new(
                        300,
                        id(2),
                        Duration::ZERO,
                        3,
                        Duration::ZERO,
                        Duration::ZERO,
                    );
                    e.suspicion = Some(Box::new(s));
                }
                if with_data {
                    e.set_data(
                        ["a".to_owned()].into(),
                        [("k".to_owned(), "é".to_owned())].into(),
                    );
                }
                let mut out = vec![9];
                e.put_record(&mut out);
                assert_eq!(out[1..], codec::record_bytes(&e.record()), "{status:?}");
            }
        }
    }
}
