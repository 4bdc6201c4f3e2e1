//! JSON views of members and events, as the HTTP API and the page see them.

use std::time::{SystemTime, UNIX_EPOCH};

use actix_cluster::{DownReason, Event, MemberId, MemberInfo, Status};
use serde::Serialize;

/// One member in `GET /api/members`: exactly the documented fields.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub(crate) struct MemberView {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) address: String,
    pub(crate) status: &'static str,
    pub(crate) reachable: bool,
    pub(crate) roles: Vec<String>,
}

impl MemberView {
    pub(crate) fn new(m: &MemberInfo) -> Self {
        MemberView {
            id: m.id.to_string(),
            name: m.id.name.clone(),
            address: m.id.addr.to_string(),
            status: status_str(m.status),
            reachable: m.reachable,
            roles: m.roles.iter().cloned().collect(),
        }
    }
}

/// `GET /api/members`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct MembersView {
    #[serde(rename = "self")]
    pub(crate) self_id: String,
    pub(crate) leader: Option<String>,
    pub(crate) members: Vec<MemberView>,
}

/// A member as the page's stream shows it: the API fields plus why it went
/// down and where its HTTP API is.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct StreamMember {
    #[serde(flatten)]
    pub(crate) base: MemberView,
    /// `left` or `failed` once down.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) reason: Option<&'static str>,
    /// The member's published HTTP address (metadata `http`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) http: Option<String>,
}

impl StreamMember {
    pub(crate) fn new(m: &MemberInfo) -> Self {
        StreamMember {
            base: MemberView::new(m),
            reason: match m.status {
                Status::Down(r) => Some(reason_str(r)),
                _ => None,
            },
            http: m.metadata.get("http").cloned(),
        }
    }
}

/// One message of `GET /api/events`.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub(crate) enum StreamEvent {
    /// The state when the stream starts, with the recent events for the log.
    Snapshot {
        time: u64,
        #[serde(rename = "self")]
        self_id: String,
        leader: Option<String>,
        members: Vec<StreamMember>,
        recent: Vec<StreamEvent>,
    },
    Joined {
        time: u64,
        member: StreamMember,
    },
    Up {
        time: u64,
        member: StreamMember,
    },
    Unreachable {
        time: u64,
        member: StreamMember,
    },
    Reachable {
        time: u64,
        member: StreamMember,
    },
    Leaving {
        time: u64,
        member: StreamMember,
    },
    /// Metadata or roles changed.
    Updated {
        time: u64,
        member: StreamMember,
    },
    Down {
        time: u64,
        member: StreamMember,
        reason: &'static str,
    },
    Removed {
        time: u64,
        id: String,
    },
    /// This node rejoined as a new member (`old` is down).
    #[serde(rename = "self")]
    SelfChanged {
        time: u64,
        old: String,
        new: String,
    },
    Leader {
        time: u64,
        leader: Option<String>,
    },
    /// A watched remote actor is gone (death watch).
    Terminated {
        time: u64,
        /// The member it ran on.
        member: String,
        /// Its number on that member.
        actor: u64,
        /// `stopped`, `failed`, `left` or `fenced`.
        reason: &'static str,
    },
}

impl StreamEvent {
    pub(crate) fn from_event(event: &Event, time: u64) -> Self {
        // The member's status as the event states it (the attached view may
        // already be a step further).
        let with_status = |m: &MemberInfo, status: &'static str| {
            let mut view = StreamMember::new(m);
            view.base.status = status;
            view.reason = None;
            view
        };
        match event {
            Event::Joined(m) => StreamEvent::Joined {
                time,
                member: with_status(m, "joining"),
            },
            Event::Up(m) => StreamEvent::Up {
                time,
                member: with_status(m, "up"),
            },
            Event::Unreachable(m) => StreamEvent::Unreachable {
                time,
                member: StreamMember::new(m),
            },
            Event::Reachable(m) => StreamEvent::Reachable {
                time,
                member: StreamMember::new(m),
            },
            Event::Leaving(m) => StreamEvent::Leaving {
                time,
                member: with_status(m, "leaving"),
            },
            Event::Updated(m) => StreamEvent::Updated {
                time,
                member: StreamMember::new(m),
            },
            Event::Down { member, reason } => StreamEvent::Down {
                time,
                member: StreamMember::new(member),
                reason: reason_str(*reason),
            },
            Event::Removed(id) => StreamEvent::Removed {
                time,
                id: id.to_string(),
            },
            Event::LeaderChanged(leader) => StreamEvent::Leader {
                time,
                leader: leader.as_ref().map(MemberId::to_string),
            },
            Event::SelfChanged { old, new } => StreamEvent::SelfChanged {
                time,
                old: old.to_string(),
                new: new.to_string(),
            },
        }
    }
}

pub(crate) fn status_str(status: Status) -> &'static str {
    match status {
        Status::Joining => "joining",
        Status::Up => "up",
        Status::Leaving => "leaving",
        Status::Down(_) => "down",
    }
}

pub(crate) fn reason_str(reason: DownReason) -> &'static str {
    match reason {
        DownReason::Failed => "failed",
        DownReason::Left => "left",
        DownReason::Fenced => "fenced",
    }
}

/// Milliseconds since the Unix epoch, for the page's event log.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// `{"error": "..."}` plus optional details.
#[derive(Debug, Serialize)]
pub(crate) struct ErrorView {
    pub(crate) error: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) id: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, BTreeSet};

    fn member(status: Status) -> MemberInfo {
        MemberInfo {
            id: MemberId::new("node-1", "10.0.0.5:7946".parse().unwrap(), 0x1a2b),
            status,
            reachable: true,
            incarnation: 0,
            roles: BTreeSet::from(["backend".to_owned()]),
            metadata: BTreeMap::from([("http".to_owned(), "10.0.0.5:8080".to_owned())]),
            up_number: 1,
        }
    }

    #[test]
    fn member_view_has_exactly_the_documented_fields() {
        let v = serde_json::to_value(MemberView::new(&member(Status::Up))).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"id": "node-1@10.0.0.5:7946-1a2b", "name": "node-1",
                "address": "10.0.0.5:7946", "status": "up", "reachable": true,
                "roles": ["backend"]})
        );
    }

    #[test]
    fn down_event_says_why() {
        let e = Event::Down {
            member: member(Status::Down(DownReason::Left)),
            reason: DownReason::Left,
        };
        let v = serde_json::to_value(StreamEvent::from_event(&e, 7)).unwrap();
        assert_eq!(v["type"], "down");
        assert_eq!(v["reason"], "left");
        assert_eq!(v["member"]["status"], "down");
        assert_eq!(v["member"]["http"], "10.0.0.5:8080");
        assert_eq!(v["time"], 7);
    }
}
