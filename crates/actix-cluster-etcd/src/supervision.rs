//! What the [`DiscoveryActor`](crate::DiscoveryActor) and its two children
//! say to each other, and the session plumbing both children share.
//!
//! The children know their parent only as a `Recipient<ChildReport>`, and the
//! parent knows them only through the messages below, so neither actor module
//! imports the other's internals.

use std::future::Future;
use std::net::SocketAddr;

use actix::prelude::*;
use serde::Serialize;
#[cfg(feature = "testing")]
use tracing::warn;

use crate::error::DiscoveryError;
use crate::span::MemberSpan;

/// One of the two supervised children.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Child {
    /// The [`LeaseKeeper`](crate::LeaseKeeper).
    LeaseKeeper,
    /// The [`SeedWatcher`](crate::SeedWatcher).
    SeedWatcher,
}

impl Child {
    /// The name in log lines.
    #[cfg(feature = "testing")]
    fn label(self) -> &'static str {
        match self {
            Child::LeaseKeeper => "lease keeper",
            Child::SeedWatcher => "seed watcher",
        }
    }
}

/// What the children need to know about this member, shared through a
/// `tokio::sync::watch` channel with their running sessions.
#[derive(Clone, Debug, Default)]
pub(crate) struct Control {
    /// This member is `Up` in the cluster.
    pub(crate) up: bool,
    /// This member is leaving (or left).
    pub(crate) leaving: bool,
    /// The lease currently held by the keeper.
    pub(crate) lease: Option<i64>,
    /// This member's registration now; the id changes when the member
    /// rejoins as a new member (`Event::SelfChanged`), and the keeper then
    /// moves its keys to the new id. `None` until discovery starts.
    pub(crate) registration: Option<crate::keys::Registration>,
}

/// Parent -> child: start a session (sent at start and after each backoff).
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Run;

/// Parent -> child: fail now (test hook, see [`FailChild`](crate::FailChild)).
#[cfg(feature = "testing")]
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct InjectFailure;

/// Parent -> `LeaseKeeper`: revoke the lease now and never register again
/// (graceful leave).
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Revoke;

/// Child -> parent.
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub(crate) enum ChildReport {
    /// The keeper registered under this lease.
    Registered { lease: i64 },
    /// The keeper's lease was renewed.
    Alive,
    /// The keeper revoked its lease (or had none) on leave.
    Revoked,
    /// The watcher listed the registrations.
    Listed,
    /// The watcher's picture after a list or a watch event.
    Watched {
        revision: i64,
        seeds: Vec<SocketAddr>,
        members: usize,
        /// Keys under the prefix that are not ours: `"<key>: <reason>"`.
        ignored: Vec<String>,
    },
    /// The watcher sent `Form`.
    Formed,
    /// The watcher's revision was compacted; it lists again.
    Compacted,
    /// Our own keys were deleted from etcd: the keeper should put them again.
    OwnKeysDeleted,
    /// A child's session failed; the child stopped and waits for `Run`.
    Failed { child: Child, error: DiscoveryError },
}

/// A child's link to its parent and its running session, kept by the child
/// actor (which its supervisor keeps across restarts).
pub(crate) struct ChildLink {
    /// Which child this is, for the reports.
    child: Child,
    /// Where the reports go.
    parent: Recipient<ChildReport>,
    /// The session in progress, cancelled by a new `Run` (or a revoke).
    session: Option<SpawnHandle>,
    /// The member's span, shared with the parent (which follows rebirths).
    span: MemberSpan,
}

impl ChildLink {
    pub(crate) fn new(child: Child, parent: Recipient<ChildReport>, span: MemberSpan) -> Self {
        ChildLink {
            child,
            parent,
            session: None,
            span,
        }
    }

    /// The member's span, for the child's handlers and futures.
    pub(crate) fn span(&self) -> &MemberSpan {
        &self.span
    }

    /// A handle on the parent for a session future.
    pub(crate) fn parent(&self) -> Recipient<ChildReport> {
        self.parent.clone()
    }

    /// Cancels the running session, if any.
    pub(crate) fn cancel_session<A>(&mut self, ctx: &mut Context<A>)
    where
        A: Actor<Context = Context<A>>,
    {
        if let Some(h) = self.session.take() {
            ctx.cancel_future(h);
        }
    }

    /// Forgets the session (the supervisor restarted the actor, and its
    /// futures with it).
    pub(crate) fn restarting(&mut self) {
        self.session = None;
    }
}

/// A child actor of the `DiscoveryActor`.
pub(crate) trait SupervisedChild: Actor<Context = Context<Self>> {
    /// The link to the parent.
    fn link(&mut self) -> &mut ChildLink;
}

/// Starts a new session of `act` (cancelling the one running), inside the
/// member's span. A session that
/// ends with an error is reported as [`ChildReport::Failed`] and stops the
/// actor: its supervisor restarts it, and the parent sends [`Run`] again after
/// a jittered backoff.
pub(crate) fn start_session<A: SupervisedChild>(
    act: &mut A,
    ctx: &mut Context<A>,
    session: impl Future<Output = Result<(), DiscoveryError>> + 'static,
) {
    act.link().cancel_session(ctx);
    let session = act.link().span.instrument(session);
    let handle = ctx.spawn(session.into_actor(act).map(|res, act: &mut A, ctx| {
        act.link().session = None;
        if let Err(e) = res {
            fail(act, ctx, e);
        }
    }));
    act.link().session = Some(handle);
}

/// Reports the failure to the parent and stops (the supervisor restarts us).
fn fail<A: SupervisedChild>(act: &mut A, ctx: &mut Context<A>, error: DiscoveryError) {
    let link = act.link();
    link.parent.do_send(ChildReport::Failed {
        child: link.child,
        error,
    });
    ctx.stop();
}

/// Handles [`InjectFailure`]: fails as if etcd had returned an error.
#[cfg(feature = "testing")]
pub(crate) fn inject_failure<A: SupervisedChild>(act: &mut A, ctx: &mut Context<A>) {
    let _span = act.link().span.enter();
    warn!("{}: failure injected for testing", act.link().child.label());
    fail(act, ctx, DiscoveryError::Injected);
}
