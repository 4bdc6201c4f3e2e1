//! The HTTP API and the page.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix::Addr;
use actix_cluster::{Cluster, GetLeader, GetMembers, MemberId, Status};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use futures::StreamExt;
use serde::Serialize;
use tokio::sync::mpsc::UnboundedSender;

use crate::discovery::Discovery;
use crate::listener::{Connect, CurrentSelf, Listener};
use crate::proxy;
use crate::views::{ErrorView, MemberView, MembersView};

const INDEX_HTML: &str = include_str!("page/index.html");
const APP_JS: &str = include_str!("page/app.js");
const CHARTS_JS: &str = include_str!("page/charts.js");
const STYLE_CSS: &str = include_str!("page/style.css");

/// Why the node stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shutdown {
    /// SIGTERM or SIGINT.
    Signal(&'static str),
    /// `POST /api/members/<self>/leave`.
    LeaveRequested,
}

/// Shared by every HTTP worker.
#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) cluster: Addr<Cluster>,
    pub(crate) listener: Addr<Listener>,
    /// This node's id now (it changes when the node rejoins as a new member).
    pub(crate) self_id: CurrentSelf,
    pub(crate) role: &'static str,
    pub(crate) ready: Arc<AtomicBool>,
    pub(crate) shutdown: UnboundedSender<Shutdown>,
    pub(crate) discovery: Discovery,
    /// The remote actors: the ping actors and the service listings.
    pub(crate) remote: crate::remote::DemoRemote,
    /// The ticker singleton's state on this node.
    pub(crate) ticker: crate::ticker::DemoTicker,
    /// The workers' router.
    pub(crate) work: crate::work::DemoWork,
    /// The bearer token `POST .../leave` needs; `None`: open.
    pub(crate) admin_token: Option<Arc<str>>,
    /// Renders `GET /metrics`.
    pub(crate) metrics: metrics_exporter_prometheus::PrometheusHandle,
}

/// Registers every route.
pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(index))
        .route("/index.html", web::get().to(index))
        .route("/assets/app.js", web::get().to(app_js))
        .route("/assets/charts.js", web::get().to(charts_js))
        .route("/assets/style.css", web::get().to(style_css))
        .route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .route("/api/members", web::get().to(members))
        .route("/api/events", web::get().to(events))
        .route("/api/discovery", web::get().to(discovery))
        .route("/metrics", web::get().to(render_metrics))
        .route("/api/members/{id}/leave", web::post().to(leave))
        .route("/api/members/{id}/ping", web::post().to(crate::ping::ping))
        .route("/api/services", web::get().to(crate::ping::services))
        .route("/api/singleton", web::get().to(crate::ticker::singleton))
        .route("/api/work", web::post().to(crate::work::work));
}

/// Everything else: a JSON 404 (or 405 for a known path with another method).
pub(crate) async fn not_found(req: HttpRequest) -> HttpResponse {
    json_error(
        StatusCode::NOT_FOUND,
        format!("no route for {} {}", req.method(), req.path()),
        None,
    )
}

pub(crate) fn json_error(status: StatusCode, error: String, id: Option<String>) -> HttpResponse {
    HttpResponse::build(status).json(ErrorView { error, id })
}

async fn index() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(INDEX_HTML)
}

async fn app_js() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(APP_JS)
}

async fn charts_js() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(CHARTS_JS)
}

async fn style_css() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(STYLE_CSS)
}

#[derive(Serialize)]
struct Health {
    status: &'static str,
    id: String,
    role: &'static str,
}

async fn healthz(state: web::Data<AppState>) -> HttpResponse {
    let healthy = state.cluster.connected() && state.listener.connected();
    let body = Health {
        status: if healthy { "ok" } else { "unhealthy" },
        id: state.self_id.get().to_string(),
        role: state.role,
    };
    if healthy {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let ready = state.ready.load(Ordering::SeqCst);
    let body = Health {
        status: if ready { "up" } else { "not-up" },
        id: state.self_id.get().to_string(),
        role: state.role,
    };
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

async fn members(state: web::Data<AppState>) -> HttpResponse {
    let (members, leader) = match futures::try_join!(
        state.cluster.send(GetMembers),
        state.cluster.send(GetLeader)
    ) {
        Ok(answer) => answer,
        Err(e) => {
            return json_error(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("cluster actor unavailable: {e}"),
                None,
            )
        }
    };
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .json(MembersView {
            self_id: state.self_id.get().to_string(),
            leader: leader.map(|l| l.to_string()),
            members: members.iter().map(MemberView::new).collect(),
        })
}

async fn events(state: web::Data<AppState>) -> HttpResponse {
    let rx = match state.listener.send(Connect).await {
        Ok(rx) => rx,
        Err(e) => {
            return json_error(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("listener unavailable: {e}"),
                None,
            )
        }
    };
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header(("x-accel-buffering", HeaderValue::from_static("no")))
        .streaming(rx.map(Ok::<_, actix_web::Error>))
}

async fn discovery(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .json(state.discovery.status().await)
}

#[derive(Serialize)]
struct LeaveAccepted {
    leaving: String,
    /// `self`, or the HTTP address the request was forwarded to.
    via: String,
}

async fn leave(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let Ok(bearer) = authorize(&req, state.admin_token.as_deref()) else {
        return HttpResponse::Unauthorized()
            .insert_header((header::WWW_AUTHENTICATE, "Bearer"))
            .json(ErrorView {
                error: "POST needs `Authorization: Bearer <HTTP_ADMIN_TOKEN>`".to_owned(),
                id: None,
            });
    };
    let raw = path.into_inner();
    let id: MemberId = match raw.parse() {
        Ok(id) => id,
        Err(e) => return json_error(StatusCode::BAD_REQUEST, e, Some(raw)),
    };
    let me = state.self_id.get();
    if id == me {
        tracing::info!(%id, "leave requested over HTTP");
        let _ = state.shutdown.send(Shutdown::LeaveRequested);
        return HttpResponse::Accepted().json(LeaveAccepted {
            leaving: id.to_string(),
            via: "self".to_owned(),
        });
    }
    if req.headers().contains_key(proxy::FORWARDED_HEADER) {
        return json_error(
            StatusCode::NOT_FOUND,
            format!("member {id} is not this node ({me})"),
            Some(id.to_string()),
        );
    }
    let addr = match forward_target(&state, &id).await {
        Ok(addr) => addr,
        Err(response) => return response,
    };
    let path = format!(
        "/api/members/{}/leave",
        proxy::encode_segment(&id.to_string())
    );
    match proxy::post(addr, &path, bearer, Duration::from_secs(3)).await {
        Ok((code, _)) if (200..300).contains(&code) => {
            tracing::info!(%id, %addr, "leave request forwarded");
            HttpResponse::Accepted().json(LeaveAccepted {
                leaving: id.to_string(),
                via: addr.to_string(),
            })
        }
        // The member's answer is not echoed: only its status code.
        Ok((code, _)) => json_error(
            StatusCode::BAD_GATEWAY,
            format!("member {id} at {addr} refused the leave (HTTP {code})"),
            Some(id.to_string()),
        ),
        Err(e) => json_error(
            StatusCode::BAD_GATEWAY,
            format!("cannot reach member {id} at {addr}: {e:#}"),
            Some(id.to_string()),
        ),
    }
}

/// The HTTP address to forward a leave of member `id` to (its own, on its
/// gossip host), or the answer that refuses it.
async fn forward_target(state: &AppState, id: &MemberId) -> Result<SocketAddr, HttpResponse> {
    let id = id.clone();
    let members = match state.cluster.send(GetMembers).await {
        Ok(m) => m,
        Err(e) => {
            return Err(json_error(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("cluster actor unavailable: {e}"),
                None,
            ))
        }
    };
    let Some(member) = members.into_iter().find(|m| m.id == id) else {
        return Err(json_error(
            StatusCode::NOT_FOUND,
            format!("unknown member {id}"),
            Some(id.to_string()),
        ));
    };
    if let Status::Down(_) = member.status {
        return Err(json_error(
            StatusCode::CONFLICT,
            format!("member {id} is already down"),
            Some(id.to_string()),
        ));
    }
    let Some(http) = member.metadata.get("http") else {
        return Err(json_error(
            StatusCode::BAD_GATEWAY,
            format!("member {id} publishes no HTTP address (metadata `http`)"),
            Some(id.to_string()),
        ));
    };
    let Ok(addr) = http.parse::<SocketAddr>() else {
        return Err(json_error(
            StatusCode::BAD_GATEWAY,
            format!("member {id} publishes a bad HTTP address"),
            Some(id.to_string()),
        ));
    };
    // Only to the member's own host: its gossip address is the one the
    // cluster authenticated (sealed messages, or plaintext from that very
    // address); metadata could name any host (a request forger's target).
    if addr.ip() != id.addr.ip() || addr.port() == 0 {
        tracing::warn!(%id, "leave not forwarded: the member's HTTP address is not on its gossip host");
        return Err(json_error(
            StatusCode::BAD_GATEWAY,
            format!(
                "member {id} publishes an HTTP address on another host than its gossip address; \
                 not forwarded"
            ),
            Some(id.to_string()),
        ));
    }
    Ok(addr)
}

/// `GET /metrics`.
async fn render_metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(state.metrics.render())
}

/// A request without the admin token.
struct Unauthorized;

/// With a token configured, a request passes only with
/// `Authorization: Bearer <token>`. Returns the bearer token to pass on when
/// forwarding.
fn authorize<'a>(
    req: &'a HttpRequest,
    token: Option<&str>,
) -> Result<Option<&'a str>, Unauthorized> {
    let Some(token) = token else {
        return Ok(None);
    };
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match given {
        Some(g) if same(g.as_bytes(), token.as_bytes()) => Ok(Some(g)),
        _ => Err(Unauthorized),
    }
}

/// Compares in time independent of where the first difference is.
fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
