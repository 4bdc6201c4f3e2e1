//! What a remote tell or ask can fail with.

use serde::{Deserialize, Serialize};

/// Why an ask got no reply (or a tell was refused at the sender).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AskError {
    /// No answer within the ask's timeout.
    #[error("no answer within the timeout")]
    Timeout,
    /// The target's member is Down, Left or Fenced (by the downing decision),
    /// or the reference names a generation that is not the member's current
    /// one: the actor is gone with its process.
    #[error("the target's member is down")]
    MemberDown,
    /// The target's member is unreachable right now (suspected, or no
    /// connection could be made); it may come back.
    #[error("the target's member is unreachable")]
    Unreachable,
    /// The member is up but has no actor with that id (it stopped).
    #[error("no such actor on the target member")]
    NoSuchActor,
    /// The receiver refused the message: over the size limit, an unknown type
    /// or version, or a payload it could not decode. The connection stays up.
    #[error("rejected by the receiver: {0}")]
    Rejected(String),
    /// The outbound queue to that member is full: back off and retry.
    #[error("the outbound queue to the target member is full")]
    QueueFull,
}

/// The payload of a failure envelope: what the receiver tells the sender of a
/// message it could not deliver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// What went wrong.
    pub code: FailureCode,
    /// A short explanation for logs (bounded by the sender of the failure).
    pub detail: String,
}

/// The reasons a receiver can give.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FailureCode {
    /// No actor with that id.
    NoSuchActor,
    /// No handler for the message's name.
    UnknownType,
    /// A handler for the name, but not that version.
    UnknownVersion,
    /// The payload did not decode as the registered type.
    Undecodable,
    /// The payload exceeded the receiver's limit.
    Oversize,
    /// The recipient's mailbox or the receiver's inbound queue was full.
    QueueFull,
}

impl From<Failure> for AskError {
    fn from(f: Failure) -> Self {
        match f.code {
            FailureCode::NoSuchActor => AskError::NoSuchActor,
            FailureCode::QueueFull => AskError::QueueFull,
            FailureCode::UnknownType
            | FailureCode::UnknownVersion
            | FailureCode::Undecodable
            | FailureCode::Oversize => AskError::Rejected(format!("{:?}: {}", f.code, f.detail)),
        }
    }
}
