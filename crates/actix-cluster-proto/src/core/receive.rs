//! Receiving: decoding within the channel's limits, and one handler per
//! message kind. Each handler gets the sender explicitly; answers go to its
//! gossip address.

use std::net::SocketAddr;
use std::time::Duration;

use tracing::{debug, trace};

use super::{Channel, Core};
use crate::codec::{self, Body, FullState, Message, Record};
use crate::error::DecodeError;
use crate::id::{Incarnation, MemberId};
use crate::member::Status;

/// What the core made of one received datagram or stream frame, so that the
/// driver can close a connection that does not carry our protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Received {
    /// Decoded and handled (which includes being ignored as stale, early or
    /// after a leave).
    Accepted,
    /// Rejected and counted in one of the [`Stats`](super::Stats)
    /// `rejected_*` counters (except `rejected_members_full`, which refuses
    /// records, not the message): malformed, another cluster or version, not
    /// opened with our keys, plaintext where keys are required, too many
    /// records, or from an address other than its sender's.
    Rejected,
}

impl Core {
    /// Decodes within the channel's size limit, rejects (and counts) what is
    /// invalid or arrived on the wrong channel, and handles the rest.
    pub(super) fn receive(
        &mut self,
        now: Duration,
        from: SocketAddr,
        bytes: &[u8],
        channel: Channel,
    ) -> Received {
        let (limit, wrong_channel) = match channel {
            Channel::Datagram => (
                self.config.max_datagram_size,
                "stream-only message in a datagram",
            ),
            Channel::Stream => (
                self.config.max_frame_size,
                "datagram-only message in a stream",
            ),
        };
        let keys = self.config.keyring.as_ref();
        let accept_plain = keys.is_none() || !self.config.verify_incoming;
        let table = &self.table;
        let decoded = codec::decode_keyed(
            bytes,
            &self.config.cluster_name,
            limit,
            self.config.max_members,
            keys,
            accept_plain,
            &|r| table.find(r),
        );
        match decoded {
            Ok((msg, sealed)) => {
                let allowed = match channel {
                    Channel::Datagram => msg.body.datagram_ok(),
                    Channel::Stream => msg.body.stream_ok(),
                };
                if !allowed {
                    self.reject(from, DecodeError::Malformed(wrong_channel))
                } else if !sealed && !from_sender(from, &msg.sender, channel) {
                    // Answers go to the sender's address: an unauthenticated
                    // message must come from there (a stream from its host,
                    // since a stream's source port is ephemeral).
                    self.stats.rejected_source += 1;
                    debug!(member = %self.local, %from, sender = %msg.sender,
                        "plaintext message from another address than its sender's: dropped");
                    Received::Rejected
                } else {
                    self.stats.messages_received += 1;
                    self.authenticated = sealed;
                    // Only a ping, a ping-req (answered after a leave) and a
                    // who-are-you are answered by datagram within the limit:
                    // the others spare its two lookups.
                    let answered = matches!(
                        msg.body,
                        Body::Ping { .. } | Body::PingReq { .. } | Body::WhoAreYou
                    );
                    let reply_limit = match channel {
                        Channel::Datagram if answered => self.reply_limit(&msg.sender, bytes.len()),
                        Channel::Datagram | Channel::Stream => self.datagram_budget(),
                    };
                    let received = self.on_message(now, msg, reply_limit);
                    self.authenticated = false;
                    received
                }
            }
            Err(e) => self.reject(from, e),
        }
    }

    fn reject(&mut self, from: SocketAddr, e: DecodeError) -> Received {
        match e {
            DecodeError::WrongCluster(_) => self.stats.rejected_wrong_cluster += 1,
            DecodeError::UnsupportedVersion(_) => self.stats.rejected_version += 1,
            DecodeError::Unauthenticated(_) => self.stats.rejected_unauthenticated += 1,
            DecodeError::Plaintext => self.stats.rejected_plaintext += 1,
            DecodeError::TooManyRecords { .. } => self.stats.rejected_too_many_records += 1,
            _ => self.stats.rejected_malformed += 1,
        }
        debug!(member = %self.local, %from, error = %e, "message rejected");
        Received::Rejected
    }

    /// The most bytes a datagram answer to `sender` may have, for a request
    /// of `request_len` bytes: the usual budget when the answer goes to a
    /// member's address (or the request was sealed), else no more than the
    /// request, so a forged source address never makes us an amplifier.
    fn reply_limit(&self, sender: &MemberId, request_len: usize) -> usize {
        let member_addr = self
            .table
            .newest_at(&sender.addr)
            .is_some_and(|id| self.table.get(id).is_some_and(|e| e.is_live()));
        if self.authenticated || member_addr {
            self.datagram_budget()
        } else {
            // What we send may be sealed: the overhead counts against it.
            let seal = self.config.max_datagram_size - self.datagram_budget();
            request_len.saturating_sub(seal).min(self.datagram_budget())
        }
    }

    /// Handles a decoded message; datagram answers stay within `reply_limit`
    /// bytes (see [`Core::reply_limit`]; only pings, ping-reqs and
    /// who-are-yous are answered within it).
    fn on_message(&mut self, now: Duration, msg: Message, reply_limit: usize) -> Received {
        if !self.phase.started() {
            trace!(member = %self.local, "message before join/form ignored");
            return Received::Accepted;
        }
        let Message { sender, body } = msg;
        let sender = self.table.canonical(sender);
        if sender != self.local {
            let was_silent = self.silent(now);
            self.last_heard = now;
            self.table.mark_heard(&sender);
            self.note_heard(&sender, now);
            if was_silent {
                self.check_leader();
            }
        }
        let datagram = body.datagram_ok() && !matches!(body, Body::WhoAreYou);
        if self.phase.left() {
            self.on_message_after_leave(&sender, &body, reply_limit);
            return Received::Accepted;
        }
        let mut received = Received::Accepted;
        match body {
            Body::Ping {
                seq,
                target_gen,
                target_inc,
                updates,
            } => self.on_ping(
                now,
                &sender,
                (seq, target_gen, target_inc),
                updates,
                reply_limit,
            ),
            Body::Ack { seq, updates } => {
                self.apply_all(now, &sender, updates);
                self.on_ack(now, seq);
            }
            Body::PingReq {
                seq,
                target,
                updates,
            } => {
                self.apply_all(now, &sender, updates);
                self.on_ping_req(&sender, seq, target);
            }
            Body::Nack { seq, updates } => {
                self.apply_all(now, &sender, updates);
                self.on_nack(seq);
            }
            Body::Gossip { updates } => self.apply_all(now, &sender, updates),
            Body::WhoAreYou => {
                let rec = self.own_record();
                self.tell_within(sender.addr, rec, reply_limit);
            }
            Body::JoinRequest { record } => received = self.on_join_request(now, &sender, record),
            Body::JoinAck { accepted, members } => {
                self.on_join_ack(now, &sender, accepted, members)
            }
            Body::PushPull { reply, members } => self.on_push_pull(now, &sender, reply, members),
        }
        if datagram && !self.phase.left() {
            self.ask_if_unknown(now, &sender);
        }
        // Heard from after a fence: shown as it is again (after the message,
        // which may have introduced it).
        if sender != self.local {
            self.confirm(&sender);
        }
        received
    }

    /// After leaving: answer probes and requests with our leave, ignore the
    /// rest.
    fn on_message_after_leave(&mut self, sender: &MemberId, body: &Body, reply_limit: usize) {
        if matches!(
            body,
            Body::Ping { .. }
                | Body::PingReq { .. }
                | Body::JoinRequest { .. }
                | Body::PushPull { reply: false, .. }
        ) {
            let rec = self.own_record();
            let limit = if body.datagram_ok() {
                reply_limit
            } else {
                self.datagram_budget()
            };
            self.tell_within(sender.addr, rec, limit);
        }
    }

    /// A ping `(seq, target generation, target incarnation)`.
    fn on_ping(
        &mut self,
        now: Duration,
        sender: &MemberId,
        (seq, target_gen, target_inc): (u32, u64, Incarnation),
        updates: Vec<Record>,
        reply_limit: usize,
    ) {
        self.apply_all(now, sender, updates);
        if target_gen != self.local.generation {
            // Someone probes an older (or other) process at our address:
            // tell it who lives here now.
            let me = self.own_record();
            self.tell_within(sender.addr, me, reply_limit);
            return;
        }
        // A zombie learns it is gone; a prober with old news about us gets
        // our current record first.
        let mut news = self.zombie_news(sender);
        if news.is_none() && target_inc < self.local_entry().incarnation {
            news = self.own_record();
        }
        self.send_within(
            sender.addr,
            Body::Ack {
                seq,
                updates: vec![],
            },
            news,
            reply_limit,
        );
    }

    /// A join request: let it in with our full state when we are `Up`.
    fn on_join_request(&mut self, now: Duration, sender: &MemberId, record: Record) -> Received {
        let accepted = self.local_status() == Status::Up;
        debug!(member = %self.local, joiner = %record.id, accepted, "join request");
        if &record.id != sender {
            self.stats.rejected_malformed += 1;
            return Received::Rejected;
        }
        let news = self.zombie_news(sender);
        self.apply_record(now, sender, record);
        let head = codec::StateHead::JoinAck { accepted };
        let bytes = if accepted {
            self.full_state(head, news)
        } else {
            // Not `Up` ourselves (still joining, or leaving): we cannot let it
            // in, so spare it our (possibly large) state; our own record is
            // enough for it to know us.
            let mut ack = FullState::new(&self.prefix, &self.sender, head, usize::MAX);
            ack.add(&self.own_record().unwrap_or_default());
            if let Some(n) = news {
                ack.add(&n);
            }
            ack.finish()
        };
        self.send(sender.addr, Channel::Stream, bytes);
        Received::Accepted
    }

    fn on_join_ack(
        &mut self,
        now: Duration,
        sender: &MemberId,
        accepted: bool,
        members: Vec<Record>,
    ) {
        debug!(member = %self.local, from = %sender, accepted, n = members.len(), "join ack");
        self.from_state = true;
        self.apply_all(now, sender, members);
        self.from_state = false;
        if accepted && !self.phase.left() && self.local_status() == Status::Joining {
            self.become_up();
            self.start_catch_up();
            // The member that let us in knows us as Joining, and what we
            // tell the newcomers in our exchanges may never reach it (it is
            // not catching up): it hears our Up from us.
            let me = self.own_record();
            self.tell(sender.addr, me);
        }
    }

    fn on_push_pull(
        &mut self,
        now: Duration,
        sender: &MemberId,
        reply: bool,
        members: Vec<Record>,
    ) {
        // A state with fewer records than our table lacks some we hold.
        let fewer = members.len() < self.table.len();
        if !reply {
            let news = self.zombie_news(sender);
            if self.may_answer_state() {
                let bytes = self.full_state(codec::StateHead::PushPull { reply: true }, news);
                self.send(sender.addr, Channel::Stream, bytes);
            } else if news.is_some() {
                // A member we hold down still learns it, if not our state.
                self.tell(sender.addr, news);
            }
        }
        self.from_state = true;
        self.state_behind = fewer;
        self.apply_all(now, sender, members);
        self.from_state = false;
        if reply {
            self.exchange_answered(self.state_behind);
        }
    }

    /// A datagram came from a member we have never heard of (its news has not
    /// reached us yet, e.g. in a join storm): ask it for its record, at most
    /// once per probe interval per member.
    fn ask_if_unknown(&mut self, now: Duration, sender: &MemberId) {
        if sender == &self.local
            || self.table.contains(sender)
            || self.table.is_removed(sender)
            || sender.addr == self.local.addr
            || self
                .table
                .newest_at(&sender.addr)
                .is_some_and(|n| n.generation > sender.generation)
        {
            return;
        }
        if let Some(t) = self.asked.get(sender) {
            if now < *t + self.config.probe_interval {
                return;
            }
        }
        // At most `max_members` askings remembered (one per unknown sender
        // per probe interval).
        if self.asked.len() >= self.config.max_members {
            let horizon = now.saturating_sub(self.config.probe_interval);
            self.asked.retain(|_, t| *t > horizon);
            if self.asked.len() >= self.config.max_members {
                return;
            }
        }
        self.asked.insert(sender.clone(), now);
        let bytes = self.encode(Body::WhoAreYou);
        trace!(member = %self.local, unknown = %sender, "asking an unknown sender who it is");
        self.send(sender.addr, Channel::Datagram, bytes);
    }

    /// Encodes a message from us with `body`.
    pub(super) fn encode(&self, body: Body) -> Vec<u8> {
        let msg = Message {
            sender: self.local.clone(),
            body,
        };
        codec::encode(&self.prefix, &msg)
    }
}

/// Whether a message from `from` on `channel` may be from `sender`: a
/// datagram from its very address, a stream from its host.
fn from_sender(from: SocketAddr, sender: &MemberId, channel: Channel) -> bool {
    match channel {
        Channel::Datagram => from == sender.addr,
        Channel::Stream => from.ip() == sender.addr.ip(),
    }
}
