//! Jobs through a router: every backend serves a worker actor listed under
//! the `work` service key; `POST /api/work?n=N` sends N jobs through a
//! round-robin router over that listing (backends only) and answers how many
//! each backend handled.

use std::collections::BTreeMap;

use actix::prelude::*;
use actix_cluster_remote::{remote_message, RemoteHandle, ServiceKey};
use actix_cluster_tools::{Router, RouterConfig, Routing};
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpResponse};
use futures::StreamExt;
use serde::{Deserialize, Serialize};

use crate::http::{json_error, AppState};

/// Most jobs one request may send.
pub(crate) const MAX_JOBS: u64 = 10_000;

/// Jobs in flight at once per request.
const IN_FLIGHT: usize = 64;

/// One job; a worker answers with its member id.
#[derive(Debug, Clone, Serialize, Deserialize, Message)]
#[rtype(result = "String")]
pub(crate) struct Job(pub(crate) u64);
remote_message!(Job => String, name = "cluster-monitor.Job", version = 1);

/// The service key the backends list their worker under.
pub(crate) const WORK_KEY: ServiceKey<Job> = ServiceKey::new("work");

struct Worker {
    remote: RemoteHandle,
}

impl Actor for Worker {
    type Context = Context<Self>;
}

impl Handler<Job> for Worker {
    type Result = String;

    fn handle(&mut self, _: Job, _: &mut Context<Self>) -> String {
        self.remote.local_member().to_string()
    }
}

/// The router every node sends jobs through.
#[derive(Clone)]
pub(crate) struct DemoWork {
    router: Router<Job>,
}

impl DemoWork {
    /// Serves and lists a worker when `serve_worker` (on backends); starts the
    /// router over the backends' workers.
    pub(crate) fn start(remote: &RemoteHandle, serve_worker: bool) -> DemoWork {
        if serve_worker {
            let worker = Worker {
                remote: remote.clone(),
            }
            .start();
            let reference = remote.serve::<Job, _>(worker);
            remote.register(&WORK_KEY, &reference);
        }
        let config = RouterConfig {
            routing: Routing::RoundRobin,
            role: Some("backend".to_owned()),
        };
        DemoWork {
            router: Router::start(remote, WORK_KEY, config),
        }
    }
}

#[derive(Deserialize)]
pub(crate) struct WorkQuery {
    n: Option<String>,
}

/// `POST /api/work` answer.
#[derive(Debug, Serialize)]
pub(crate) struct WorkAnswer {
    /// Jobs sent.
    pub(crate) sent: u64,
    /// Member id -> jobs it handled.
    pub(crate) counts: BTreeMap<String, u64>,
    /// Jobs that got no answer (no routee, member gone, timeout).
    pub(crate) failed: u64,
    /// The first failure, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) error: Option<String>,
}

/// Parses `n`: a whole number in `1..=MAX_JOBS`.
pub(crate) fn parse_n(n: Option<&str>) -> Result<u64, String> {
    let Some(raw) = n else {
        return Err(format!(
            "POST /api/work needs ?n=N, the number of jobs (1..={MAX_JOBS})"
        ));
    };
    match raw.parse::<u64>() {
        Ok(n) if (1..=MAX_JOBS).contains(&n) => Ok(n),
        Ok(n) => Err(format!(
            "n={n} is out of range: at most {MAX_JOBS} jobs, at least 1"
        )),
        Err(_) => Err(format!(
            "n={raw:?} is not a number of jobs (1..={MAX_JOBS})"
        )),
    }
}

/// `POST /api/work?n=N`: sends N jobs through the round-robin router, at
/// most [`IN_FLIGHT`] at once; 200 with the count per backend; 400 for a bad
/// `n`; 503 when no job got an answer.
pub(crate) async fn work(query: web::Query<WorkQuery>, state: web::Data<AppState>) -> HttpResponse {
    let n = match parse_n(query.n.as_deref()) {
        Ok(n) => n,
        Err(e) => return json_error(StatusCode::BAD_REQUEST, e, None),
    };
    let router = state.work.router.clone();
    let mut answers = futures::stream::iter(0..n)
        .map(|i| {
            let router = router.clone();
            async move { router.ask(Job(i)).await }
        })
        .buffer_unordered(IN_FLIGHT);
    let mut out = WorkAnswer {
        sent: n,
        counts: BTreeMap::new(),
        failed: 0,
        error: None,
    };
    while let Some(answer) = answers.next().await {
        match answer {
            Ok(member) => *out.counts.entry(member).or_default() += 1,
            Err(e) => {
                out.failed += 1;
                out.error.get_or_insert_with(|| e.to_string());
            }
        }
    }
    if out.counts.is_empty() {
        let why = out.error.unwrap_or_default();
        return json_error(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("no job was handled: {why}"),
            None,
        );
    }
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .json(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn n_must_be_a_number_of_jobs_in_range() {
        assert_eq!(parse_n(Some("1")), Ok(1));
        assert_eq!(parse_n(Some("10000")), Ok(10_000));
        for bad in [
            None,
            Some("0"),
            Some("10001"),
            Some("-1"),
            Some("ten"),
            Some(""),
        ] {
            let e = parse_n(bad).unwrap_err();
            assert!(e.contains("10000"), "{e}");
        }
    }
}
