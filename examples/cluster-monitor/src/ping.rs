//! `POST /api/members/<id>/ping` and `GET /api/services`: the demo's remote
//! actors over HTTP.

use std::collections::BTreeMap;

use actix_cluster::{GetMembers, MemberId, Status};
use actix_cluster_remote::{AskError, GetServices};
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpResponse};
use serde::Serialize;

use crate::http::{json_error, AppState};
use crate::remote::PingOutcome;

#[derive(Serialize)]
struct PingAnswer {
    member: String,
    rtt_us: u64,
}

/// Asks the member's ping actor: 200 with the round trip; 404 for a member
/// not known; 503 when it is down, left, unreachable or lists no ping actor;
/// 504 when no answer came within `PING_TIMEOUT_MS`.
pub(crate) async fn ping(path: web::Path<String>, state: web::Data<AppState>) -> HttpResponse {
    let raw = path.into_inner();
    let id: MemberId = match raw.parse() {
        Ok(id) => id,
        Err(e) => return json_error(StatusCode::BAD_REQUEST, e, Some(raw)),
    };
    let members = match state.cluster.send(GetMembers).await {
        Ok(m) => m,
        Err(e) => {
            return json_error(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("cluster actor unavailable: {e}"),
                None,
            )
        }
    };
    let Some(member) = members.into_iter().find(|m| m.id == id) else {
        return json_error(
            StatusCode::NOT_FOUND,
            format!("unknown member {id}"),
            Some(id.to_string()),
        );
    };
    let unavailable =
        |why: String| json_error(StatusCode::SERVICE_UNAVAILABLE, why, Some(id.to_string()));
    if let Status::Down(reason) = member.status {
        return unavailable(format!("member {id} is down ({reason:?})"));
    }
    if !member.reachable {
        return unavailable(format!("member {id} is unreachable"));
    }
    match state.remote.ping(&id).await {
        PingOutcome::Rtt(rtt) => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-cache"))
            .json(PingAnswer {
                member: id.to_string(),
                rtt_us: u64::try_from(rtt.as_micros()).unwrap_or(u64::MAX),
            }),
        PingOutcome::NotListed => unavailable(format!("member {id} lists no ping actor")),
        PingOutcome::Failed(AskError::Timeout) => json_error(
            StatusCode::GATEWAY_TIMEOUT,
            format!("no answer from {id} within PING_TIMEOUT_MS"),
            Some(id.to_string()),
        ),
        PingOutcome::Failed(
            e @ (AskError::MemberDown
            | AskError::Unreachable
            | AskError::QueueFull
            | AskError::NoSuchActor),
        ) => unavailable(format!("member {id}: {e}")),
        PingOutcome::Failed(e) => json_error(
            StatusCode::BAD_GATEWAY,
            format!("member {id}: {e}"),
            Some(id.to_string()),
        ),
    }
}

#[derive(Serialize)]
struct ServicesView {
    services: BTreeMap<String, Vec<String>>,
}

/// This node's listings: service key -> member ids (reachable members).
pub(crate) async fn services(state: web::Data<AppState>) -> HttpResponse {
    let listings = state
        .remote
        .handle
        .actor()
        .send(GetServices {
            include_unreachable: false,
        })
        .await
        .unwrap_or_default();
    let services = listings
        .into_iter()
        .map(|(key, members)| (key, members.iter().map(MemberId::to_string).collect()))
        .collect();
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .json(ServicesView { services })
}
