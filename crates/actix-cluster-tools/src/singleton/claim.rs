//! The fenced claim an instance may be required to hold: one key per
//! singleton in a linearizable store (etcd), whose create revision is the
//! fencing token.

use std::future::Future;
use std::pin::Pin;

/// What a claim store answers.
pub type ClaimFuture<T> = Pin<Box<dyn Future<Output = Result<T, ClaimError>>>>;

/// The outcome of [`SingletonClaim::claim`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claimed {
    /// The caller holds the key; its fencing token (the key's create
    /// revision: larger for every later holder).
    Token(i64),
    /// Another member holds the key (its member id's string form).
    HeldBy(String),
}

/// Why a claim store could not answer.
#[derive(Debug, Clone, thiserror::Error)]
#[error("singleton claim store: {0}")]
pub struct ClaimError(pub String);

/// A fenced claim on one key per singleton, bound to its holder's liveness
/// (etcd: the member's registration lease). The manager claims before it
/// starts the instance, displaces an earlier holder only once that holder is
/// `Down` in its view, checks every second that it still holds the key (the
/// instance stops if not), and releases the key once the instance stopped.
pub trait SingletonClaim: Send + Sync {
    /// Creates the key for `holder` if it does not exist, else says who
    /// holds it (the holder asking again gets its token again).
    fn claim(&self, name: &str, holder: &str) -> ClaimFuture<Claimed>;
    /// Deletes the key if `holder` holds it; true when deleted.
    fn release(&self, name: &str, holder: &str) -> ClaimFuture<bool>;
    /// Whether `holder` still holds the key with `token`.
    fn holds(&self, name: &str, holder: &str, token: i64) -> ClaimFuture<bool>;
}
