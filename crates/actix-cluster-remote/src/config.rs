//! `RemoteConfig`: the remote transport's settings, validated.

use std::net::SocketAddr;
use std::time::Duration;

use actix_cluster_proto::Keyring;

/// The remote transport's settings.
#[derive(Debug, Clone)]
pub struct RemoteConfig {
    /// The cluster's name, as in the `Cluster`'s config (default `"default"`): a
    /// connection from another cluster is refused in its handshake.
    pub cluster_name: String,
    /// Where to listen for other members' connections (default `0.0.0.0:0`: any
    /// interface, a port of the system's choice). The port is advertised in
    /// the member's metadata under [`METADATA_KEY`](crate::METADATA_KEY); the
    /// address other members dial is the member's gossip IP with that port.
    pub bind: SocketAddr,
    /// The cluster's keys: every frame is sealed with a key derived from the
    /// primary; `None` sends plaintext (the migration mode only). Use the same
    /// keyring as the `Cluster`'s.
    pub keyring: Option<Keyring>,
    /// The largest payload of one message, in bytes (default 262,144). A larger one
    /// is refused at the sender (`Rejected`) and at the receiver.
    pub max_message_size: usize,
    /// How many envelopes wait for a member's connection at most, per lane
    /// (default 4,096 ordinary, 1,024 control). A full ordinary lane is `QueueFull`
    /// to the sender.
    pub outbound_queue: usize,
    /// See [`RemoteConfig::outbound_queue`].
    pub control_queue: usize,
    /// How long an ask waits for its answer unless the call says otherwise
    /// (default 5 s).
    pub ask_timeout: Duration,
    /// The first pause between connection attempts to a member; it doubles
    /// up to [`RemoteConfig::max_backoff`] (default 50 ms).
    pub min_backoff: Duration,
    /// See [`RemoteConfig::min_backoff`] (default 2 s).
    pub max_backoff: Duration,
    /// A connection that has not completed its handshake within this is
    /// closed (default 2 s).
    pub handshake_timeout: Duration,
    /// How often local actors are checked for having stopped (their
    /// registrations leave, their watchers get `Terminated`) (default 100 ms).
    pub liveness_interval: Duration,
}

impl Default for RemoteConfig {
    fn default() -> Self {
        RemoteConfig {
            cluster_name: "default".to_owned(),
            bind: SocketAddr::from(([0, 0, 0, 0], 0)),
            keyring: None,
            max_message_size: 256 * 1024,
            outbound_queue: 4096,
            control_queue: 1024,
            ask_timeout: Duration::from_secs(5),
            min_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(2),
            handshake_timeout: Duration::from_secs(2),
            liveness_interval: Duration::from_millis(100),
        }
    }
}

/// A setting out of its range; names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("remote config: {field}: {reason}")]
pub struct RemoteConfigError {
    /// The field.
    pub field: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

impl RemoteConfig {
    /// Checks every field's range.
    pub fn validate(&self) -> Result<(), RemoteConfigError> {
        let err = |field, reason: String| Err(RemoteConfigError { field, reason });
        if !(1..=(64 << 20)).contains(&self.max_message_size) {
            return err(
                "max_message_size",
                format!("{} is outside 1..=64 MiB", self.max_message_size),
            );
        }
        if !(1..=1_000_000).contains(&self.outbound_queue) {
            return err(
                "outbound_queue",
                format!("{} is outside 1..=1000000", self.outbound_queue),
            );
        }
        if !(16..=1_000_000).contains(&self.control_queue) {
            return err(
                "control_queue",
                format!("{} is outside 16..=1000000", self.control_queue),
            );
        }
        let ms = |d: Duration| d.as_millis();
        for (field, d, lo, hi) in [
            ("ask_timeout", self.ask_timeout, 1, 3_600_000),
            ("min_backoff", self.min_backoff, 1, 60_000),
            ("max_backoff", self.max_backoff, 1, 600_000),
            ("handshake_timeout", self.handshake_timeout, 10, 60_000),
            ("liveness_interval", self.liveness_interval, 1, 60_000),
        ] {
            if !(lo..=hi).contains(&ms(d)) {
                return err(field, format!("{} ms is outside {lo}..={hi} ms", ms(d)));
            }
        }
        if self.max_backoff < self.min_backoff {
            return err("max_backoff", "is below min_backoff".into());
        }
        Ok(())
    }

    /// The largest frame on the wire: one message at its largest with its
    /// envelope, the frame header and the tag.
    pub(crate) fn max_frame(&self) -> usize {
        crate::frame_io::max_frame_for(self.max_message_size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_valid_and_errors_name_the_field() {
        RemoteConfig::default().validate().unwrap();
        let bad = [
            RemoteConfig {
                max_message_size: 0,
                ..Default::default()
            },
            RemoteConfig {
                outbound_queue: 0,
                ..Default::default()
            },
            RemoteConfig {
                ask_timeout: Duration::ZERO,
                ..Default::default()
            },
            RemoteConfig {
                min_backoff: Duration::from_secs(5),
                max_backoff: Duration::from_secs(1),
                ..Default::default()
            },
        ];
        let fields: Vec<_> = bad
            .iter()
            .map(|c| c.validate().unwrap_err().field)
            .collect();
        assert_eq!(
            fields,
            [
                "max_message_size",
                "outbound_queue",
                "ask_timeout",
                "max_backoff"
            ]
        );
    }
}
