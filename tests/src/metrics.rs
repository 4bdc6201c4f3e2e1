//! Reading `GET /metrics` (the Prometheus text format) with a real parser,
//! and asking a Prometheus server's HTTP API.

use std::net::SocketAddr;

use prometheus_parse::{Scrape, Value};

use crate::demo::{encode, http};

/// `GET /metrics` of a node, parsed. Fails on a non-200 answer, a content
/// type other than the text format, or text the parser rejects.
pub fn scrape(addr: SocketAddr) -> Result<Scrape, String> {
    let r = http("GET", addr, "/metrics")?;
    if r.status != 200 {
        return Err(format!("/metrics answered {}: {}", r.status, r.body));
    }
    if !r.content_type.starts_with("text/plain") {
        return Err(format!("/metrics content type {:?}", r.content_type));
    }
    Scrape::parse(r.body.lines().map(|l| Ok(l.to_owned())))
        .map_err(|e| format!("/metrics does not parse: {e}"))
}

/// The kind of a parsed sample's value.
pub fn kind(v: &Value) -> &'static str {
    match v {
        Value::Counter(_) => "counter",
        Value::Gauge(_) => "gauge",
        Value::Histogram(_) => "histogram",
        Value::Summary(_) => "summary",
        Value::Untyped(_) => "untyped",
    }
}

/// The samples of family `name` whose labels include every pair of `labels`.
pub fn samples<'a>(
    s: &'a Scrape,
    name: &str,
    labels: &[(&str, &str)],
) -> Vec<&'a prometheus_parse::Sample> {
    s.samples
        .iter()
        .filter(|x| x.metric == name && labels.iter().all(|(k, v)| x.labels.get(k) == Some(*v)))
        .collect()
}

/// The sum of the counter or gauge samples of `name` matching `labels`, or
/// `None` when there is none.
pub fn sum(s: &Scrape, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let found = samples(s, name, labels);
    if found.is_empty() {
        return None;
    }
    Some(
        found
            .iter()
            .map(|x| match x.value {
                Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => v,
                _ => 0.0,
            })
            .sum(),
    )
}

/// The observation count of histogram `name` (its `+Inf` bucket).
pub fn histogram_count(s: &Scrape, name: &str) -> Option<f64> {
    samples(s, name, &[]).iter().find_map(|x| match &x.value {
        Value::Histogram(buckets) => buckets
            .iter()
            .find(|b| b.less_than.is_infinite())
            .map(|b| b.count),
        _ => None,
    })
}

/// A Prometheus server's instant query (`/api/v1/query`): the result vector
/// as `(labels, value)` pairs.
pub fn prometheus_query(
    prometheus: SocketAddr,
    query: &str,
) -> Result<Vec<(serde_json::Value, f64)>, String> {
    let r = http(
        "GET",
        prometheus,
        &format!("/api/v1/query?query={}", encode(query)),
    )?;
    if r.status != 200 {
        return Err(format!("query {query:?} answered {}: {}", r.status, r.body));
    }
    let v: serde_json::Value =
        serde_json::from_str(&r.body).map_err(|e| format!("bad JSON {e}: {}", r.body))?;
    if v["status"] != "success" {
        return Err(format!("query {query:?}: {}", r.body));
    }
    let result = v["data"]["result"]
        .as_array()
        .ok_or_else(|| format!("query {query:?}: no result vector: {}", r.body))?;
    result
        .iter()
        .map(|e| {
            let value = e["value"][1]
                .as_str()
                .and_then(|s| s.parse::<f64>().ok())
                .ok_or_else(|| format!("query {query:?}: bad sample {e}"))?;
            Ok((e["metric"].clone(), value))
        })
        .collect()
}
