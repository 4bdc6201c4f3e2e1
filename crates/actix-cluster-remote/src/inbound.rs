//! What arrives on a connection: each frame's envelopes handed to local
//! actors, to the asks waiting for answers, or (control) to the `Remote`
//! actor.

use std::sync::atomic::Ordering;

use actix_cluster_proto::MemberId;
use tracing::{debug, warn};

use crate::control::Control;
use crate::env::{Env, FromPeer};
use crate::envelope::{Envelope, EnvelopeError, FrameReader, Kind};
use crate::error::{AskError, FailureCode};
use crate::shared::{failure, Delivery, ReplyTo};

pub(crate) async fn handle_frame(env: &Env, peer: &MemberId, frame: &[u8]) {
    let shared = &env.shared;
    let reader = match FrameReader::new(frame, shared.max_message_size) {
        Ok(r) => r,
        Err(e) => {
            shared
                .counters
                .frames_refused
                .fetch_add(1, Ordering::Relaxed);
            warn!(error = %e, "remote frame refused");
            return;
        }
    };
    for item in reader {
        match item {
            Ok(env_) => handle_envelope(env, peer, env_).await,
            Err(EnvelopeError::Oversize {
                kind, correlation, ..
            }) => {
                shared
                    .counters
                    .dropped_oversize
                    .fetch_add(1, Ordering::Relaxed);
                if kind == Kind::Ask {
                    let to = ReplyTo::Remote {
                        member: peer.clone(),
                        correlation,
                    };
                    let f = failure(FailureCode::Oversize, "over the receiver's limit");
                    shared.reply(to, crate::control::CONTROL_TAG, Err(f));
                }
            }
            Err(e) => {
                shared
                    .counters
                    .frames_refused
                    .fetch_add(1, Ordering::Relaxed);
                warn!(error = %e, "rest of a remote frame dropped");
            }
        }
    }
}

async fn handle_envelope(env: &Env, peer: &MemberId, e: Envelope<'_>) {
    let shared = &env.shared;
    shared
        .counters
        .received_messages
        .fetch_add(1, Ordering::Relaxed);
    match e.kind {
        Kind::Tell => match shared.deliver(e.to, e.tag, e.payload, Delivery::RemoteTell) {
            Ok(Some(wait)) => wait.await,
            Ok(None) => {}
            Err(f) => {
                debug!(tag = e.tag.name_hash, version = e.tag.version, actor = e.to.0, failure = ?f.code, "tell not delivered");
                shared
                    .counters
                    .dropped_undeliverable
                    .fetch_add(1, Ordering::Relaxed);
            }
        },
        Kind::Ask => {
            let to = ReplyTo::Remote {
                member: peer.clone(),
                correlation: e.correlation,
            };
            if let Err(f) = shared.deliver(e.to, e.tag, e.payload, Delivery::Ask(to.clone())) {
                shared
                    .counters
                    .dropped_undeliverable
                    .fetch_add(1, Ordering::Relaxed);
                shared.reply(to, e.tag, Err(f));
            }
        }
        Kind::Reply => shared.answer(peer, e.correlation, Ok(e.payload.to_vec())),
        Kind::Failure => {
            let error = match crate::payload::decode::<crate::Failure>(e.payload) {
                Ok(f) => AskError::from(f),
                Err(err) => AskError::Rejected(err.to_string()),
            };
            shared.answer(peer, e.correlation, Err(error));
        }
        Kind::Control => match crate::payload::decode::<Control>(e.payload) {
            Ok(control) => env.remote.do_send(FromPeer {
                member: peer.clone(),
                control: Some(control),
            }),
            Err(err) => {
                shared
                    .counters
                    .frames_refused
                    .fetch_add(1, Ordering::Relaxed);
                warn!(error = %err, "undecodable control message");
            }
        },
    }
}
