//! The core's counters.

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
}
