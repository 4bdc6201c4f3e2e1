//! Errors of the simulator.

use std::fmt;
use std::net::SocketAddr;

/// Something the simulator cannot do as asked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SimError {
    /// A configuration value is invalid; the field is named.
    BadConfig {
        /// The field, e.g. `loss.loss_bad`.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// No node has this address.
    UnknownNode(SocketAddr),
    /// A node with this address exists already.
    DuplicateAddress(SocketAddr),
    /// The node exists but is not running (crashed or stopped).
    NotRunning(SocketAddr),
    /// The protocol core refused its configuration.
    Core(String),
    /// A scenario script could not be parsed or run.
    Script {
        /// Script name (file name).
        name: String,
        /// 1-based line number (0 when not tied to a line).
        line: usize,
        /// What is wrong.
        message: String,
    },
}

impl SimError {
    pub(crate) fn bad_field(field: &'static str, reason: String) -> Self {
        SimError::BadConfig { field, reason }
    }
}

impl fmt::Display for SimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SimError::BadConfig { field, reason } => {
                write!(f, "invalid simulator config field `{field}`: {reason}")
            }
            SimError::UnknownNode(a) => write!(f, "no simulated node has address {a}"),
            SimError::DuplicateAddress(a) => {
                write!(f, "a simulated node with address {a} exists already")
            }
            SimError::NotRunning(a) => write!(f, "simulated node {a} is not running"),
            SimError::Core(e) => write!(f, "protocol core: {e}"),
            SimError::Script {
                name,
                line,
                message,
            } => write!(f, "scenario {name}:{line}: {message}"),
        }
    }
}

impl std::error::Error for SimError {}
