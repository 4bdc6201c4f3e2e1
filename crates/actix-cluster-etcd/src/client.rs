//! Connecting to etcd, and bounded requests.

use std::future::Future;

use etcd_client::{Certificate, Client, ConnectOptions, Identity, TlsOptions};

use crate::config::DiscoveryConfig;
use crate::error::DiscoveryError;

/// Builds a client for every configured endpoint. Connections are made lazily
/// and balanced; a dead endpoint is skipped.
///
/// The options follow what a stock etcd (3.4 and 3.5) enforces on its gRPC
/// server: pings no more often than `--grpc-keepalive-min-time` (5 s by
/// default; `keep_alive_interval_ms` is validated against it), and none on a
/// connection without an open stream, since etcd does not permit pings without
/// a stream (each counts as a strike, and the third strike closes the
/// connection with `GOAWAY too_many_pings`). etcd's own pings come every 2 h
/// (`--grpc-keepalive-interval`), so they do not keep anything alive. A dead
/// etcd shows up as a request timeout, as a lease keep-alive with no answer
/// within the TTL, and as a watch that answers no progress request.
pub(crate) async fn connect(config: &DiscoveryConfig) -> Result<Client, DiscoveryError> {
    let mut options = ConnectOptions::new()
        .with_connect_timeout(config.connect_timeout())
        .with_keep_alive_while_idle(false)
        // A member cut off from its quorum cancels our watches instead of
        // keeping them silent, so the watcher moves to another endpoint.
        .with_require_leader(true);
    if let Some(interval) = config.keep_alive_interval() {
        options = options.with_keep_alive(interval, config.request_timeout());
    }
    if let (Some(user), Some(password)) = (&config.user, &config.password) {
        options = options.with_user(user.clone(), password.clone());
    }
    if let Some(tls) = &config.tls {
        let mut t = TlsOptions::new();
        if let Some(ca) = &tls.ca_file {
            t = t.ca_certificate(Certificate::from_pem(read(ca)?));
        }
        if let (Some(cert), Some(key)) = (&tls.cert_file, &tls.key_file) {
            t = t.identity(Identity::from_pem(read(cert)?, read(key)?));
        }
        options = options.with_tls(t);
    }
    let endpoints = config.endpoints.clone();
    bounded(config, "connect", Client::connect(endpoints, Some(options))).await
}

impl DiscoveryConfig {
    /// A client for this configuration's endpoints, credentials and TLS, set
    /// up as discovery's own: pings only as often as a stock etcd permits and
    /// never on a connection without an open stream (etcd closes such a
    /// connection after three), and watches that need a leader. For an
    /// application's own keys, under [`DiscoveryConfig::app_prefix`].
    ///
    /// # Errors
    /// A TLS file that cannot be read, or no endpoint answering within the
    /// connect timeout.
    pub async fn connect(&self) -> Result<Client, DiscoveryError> {
        connect(self).await
    }
}

fn read(path: &std::path::Path) -> Result<Vec<u8>, DiscoveryError> {
    std::fs::read(path).map_err(|e| DiscoveryError::Tls {
        path: path.display().to_string(),
        reason: e.to_string(),
    })
}

/// Runs one etcd request with the configured request timeout.
pub(crate) async fn bounded<T>(
    config: &DiscoveryConfig,
    what: &'static str,
    fut: impl Future<Output = Result<T, etcd_client::Error>>,
) -> Result<T, DiscoveryError> {
    match tokio::time::timeout(config.request_timeout(), fut).await {
        Ok(r) => r.map_err(DiscoveryError::from),
        Err(_) => Err(DiscoveryError::Timeout(what)),
    }
}
