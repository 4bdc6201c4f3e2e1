//! The leader's fencing token: granted to this node as leader by the arbiter
//! integration ([`SetFencingToken`]), dropped when leadership moves, and
//! answered with the leader to [`GetLeadership`](crate::GetLeadership). Who the
//! leader is stays the protocol core's rule (`Core::leader`).

use actix_cluster_proto::MemberId;

use crate::messages::{Leadership, SetFencingToken};

/// The fencing token this node holds, if any.
#[derive(Default)]
pub(crate) struct LeaderToken {
    /// The leader it was granted to, and the token.
    held: Option<(MemberId, i64)>,
}

impl LeaderToken {
    /// Keeps the grant when it names the current `leader`; true if kept.
    pub(crate) fn grant(&mut self, leader: Option<&MemberId>, grant: SetFencingToken) -> bool {
        if leader != Some(&grant.leader) {
            return false;
        }
        self.held = Some((grant.leader, grant.token));
        true
    }

    /// The leader is now `leader`: a token granted to another one is gone.
    pub(crate) fn leader_changed(&mut self, leader: Option<&MemberId>) {
        if self.held.as_ref().map(|(l, _)| l) != leader {
            self.held = None;
        }
    }

    /// The answer to `GetLeadership`, for `leader` seen from `me`: the token
    /// only while `me` is that leader.
    pub(crate) fn leadership(&self, leader: Option<MemberId>, me: &MemberId) -> Leadership {
        let token = self
            .held
            .as_ref()
            .filter(|(l, _)| Some(l) == leader.as_ref() && l == me)
            .map(|(_, t)| *t);
        Leadership { leader, token }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(n: u16) -> MemberId {
        MemberId::new(format!("m{n}"), ([127, 0, 0, 1], 7000 + n).into(), 1)
    }

    #[test]
    fn the_token_is_held_by_the_current_leader_only() {
        let (me, other) = (member(1), member(2));
        let mut t = LeaderToken::default();
        let grant = |leader: &MemberId| SetFencingToken {
            leader: leader.clone(),
            token: 7,
        };
        // A grant to someone who is not the leader is ignored.
        assert!(!t.grant(Some(&other), grant(&me)));
        assert_eq!(t.leadership(Some(other.clone()), &me).token, None);
        assert!(t.grant(Some(&me), grant(&me)));
        assert_eq!(t.leadership(Some(me.clone()), &me).token, Some(7));
        // Another node never reports our token.
        assert_eq!(t.leadership(Some(me.clone()), &other).token, None);
        // Leadership moves: the token goes.
        t.leader_changed(Some(&other));
        assert_eq!(t.leadership(Some(me.clone()), &me).token, None);
    }
}
