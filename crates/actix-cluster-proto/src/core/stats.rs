//! The core's counters.

use std::time::Duration;

/// Counters for observability and for the hostile-input tests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Messages sent.
    pub messages_sent: u64,
    /// Bytes sent.
    pub bytes_sent: u64,
    /// Messages received and accepted.
    pub messages_received: u64,
    /// Messages rejected because they failed to decode (bad magic, truncated,
    /// malformed, too large).
    pub rejected_malformed: u64,
    /// Messages rejected because they carried another cluster's name.
    pub rejected_wrong_cluster: u64,
    /// Messages rejected because of an unsupported protocol version.
    pub rejected_version: u64,
    /// Sealed messages that did not open (truncated, tampered with, sealed
    /// with a key not installed, or this node has no keys): dropped before
    /// anything of them was decoded.
    pub rejected_unauthenticated: u64,
    /// Plaintext messages dropped because this node accepts only sealed ones.
    pub rejected_plaintext: u64,
    /// Push-pull and join-ack messages refused because they carry more
    /// member records than `max_members`.
    pub rejected_too_many_records: u64,
    /// Plaintext messages dropped because the sender they name is not at
    /// the address they came from (a datagram from another address, a stream
    /// from another host): an answer would go to a third party.
    pub rejected_source: u64,
    /// Suspicions this node raised.
    pub suspicions_raised: u64,
    /// News of new members dropped because the table held `max_members`.
    pub rejected_members_full: u64,
    /// Suspicions of this node that it refuted.
    pub refutations: u64,
    /// Datagram answers to an address with no live member (a source that
    /// may be forged) cut short or not sent, because they would have been
    /// larger than the request.
    pub replies_withheld: u64,
    /// Probe rounds started (one per probed member; the second direct ping
    /// and the indirect pings of the same round are not counted).
    pub probes_sent: u64,
    /// Probe rounds that ended without any ack (direct or indirect).
    pub probes_failed: u64,
    /// Probe rounds acked, directly or through a helper.
    pub probes_acked: u64,
    /// Round-trip times (first ping to first ack) of the last acked probes,
    /// oldest first, at most [`Stats::RECENT_PROBE_RTTS`]. The last
    /// `probes_acked - previous probes_acked` of them are new since an earlier
    /// snapshot, so a driver sampling now and then misses none unless more
    /// than that many were acked in between.
    pub recent_probe_rtts: Vec<Duration>,
    /// Downing decisions this node took whose verdict was that its side
    /// survives (it downed the unreachable members; also a won arbiter round).
    pub downing_survived: u64,
    /// Downing decisions by which this node's side lost and it fenced itself.
    pub downing_fenced: u64,
    /// Downing decisions handed to the arbiter (lease-majority).
    pub downing_arbitrated: u64,
    /// Pings sent by roll calls before downing decisions (see
    /// `docs/PROTOCOL.md`, "Downing"): at most a sample per picture in a
    /// large cluster, unless the sample cannot settle the verdict.
    pub roll_call_pings: u64,
    /// Full-state exchanges this node started while catching up after its
    /// join (see `docs/PROTOCOL.md`, "Anti-entropy").
    pub catch_up_exchanges: u64,
    /// Push-pull requests merged but not answered, because this node had
    /// answered as many as it may in the last `gossip_interval`.
    pub state_answers_withheld: u64,
}

impl Stats {
    /// How many probe round-trip times [`Stats::recent_probe_rtts`] keeps.
    pub const RECENT_PROBE_RTTS: usize = 64;

    /// Records an acked probe's round-trip time.
    pub(crate) fn probe_acked(&mut self, rtt: Duration) {
        self.probes_acked += 1;
        if self.recent_probe_rtts.len() >= Self::RECENT_PROBE_RTTS {
            self.recent_probe_rtts.remove(0);
        }
        self.recent_probe_rtts.push(rtt);
    }
}
