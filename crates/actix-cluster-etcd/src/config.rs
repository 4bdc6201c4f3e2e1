//! Discovery configuration: defaults, environment variables, TOML, validation.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::ConfigError;

/// TLS material for talking to etcd over `https://`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM file of the CA that signed etcd's server certificate
    /// (`ETCD_CA_FILE`).
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate for mutual TLS (`ETCD_CERT_FILE`); needs `key_file`.
    pub cert_file: Option<PathBuf>,
    /// PEM private key of the client certificate (`ETCD_KEY_FILE`); needs `cert_file`.
    pub key_file: Option<PathBuf>,
}

/// How to find etcd and how to use it for discovery.
///
/// Every field has a default (see [`DiscoveryConfig::default`]) and an
/// environment variable ([`DiscoveryConfig::from_env`]); a TOML file uses the
/// field names as keys ([`DiscoveryConfig::from_toml_file`]). Call
/// [`DiscoveryConfig::validate`] (the extension does) to get an error that names
/// a bad field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DiscoveryConfig {
    /// etcd client URLs (`http://host:port` or `https://host:port`); the client
    /// balances over them and fails over when one is down. Env `ETCD_ENDPOINTS`,
    /// comma-separated. Default `["http://127.0.0.1:2379"]`.
    pub endpoints: Vec<String>,
    /// Key prefix under which every cluster is registered. Env `ETCD_PREFIX`.
    /// Default `/actix-cluster`.
    pub prefix: String,
    /// Name of the cluster: keys live under `<prefix>/<cluster_name>/`. Use the
    /// same name as the cluster's protocol config. Env `CLUSTER_NAME`.
    /// Default `default`.
    pub cluster_name: String,
    /// TTL of this node's lease, in seconds: after a crash its registration
    /// disappears within this time. Kept alive every TTL/3. Env
    /// `ETCD_LEASE_TTL`. Default 10, at least 2.
    pub lease_ttl_secs: u64,
    /// Timeout to open a connection to an endpoint, in milliseconds. Env
    /// `ETCD_CONNECT_TIMEOUT_MS`. Default 2000.
    pub connect_timeout_ms: u64,
    /// Timeout of one etcd request, in milliseconds. Env
    /// `ETCD_REQUEST_TIMEOUT_MS`. Default 3000. It also bounds the answer to
    /// an HTTP/2 keep-alive ping.
    pub request_timeout_ms: u64,
    /// How long the downing arbiter's reachability probe may take, in
    /// milliseconds: connecting to etcd and one linearizable read. A
    /// minority side (strategy lease-majority) probes while it waits its
    /// turn to ask; a probe that fails or takes longer fences it at once (a
    /// side that cannot reach etcd cannot win). Shorter fences a cut-off
    /// minority sooner; too short for a slow etcd fences a minority that
    /// could have won (its majority gone). Env
    /// `ETCD_ARBITER_PROBE_TIMEOUT_MS`. Default 1000.
    pub arbiter_probe_timeout_ms: u64,
    /// How long a connection to etcd may be silent before the client sends an
    /// HTTP/2 keep-alive ping, in milliseconds; 0 sends none. Env
    /// `ETCD_KEEP_ALIVE_INTERVAL_MS`. Default 10000; otherwise 5000 to
    /// 3600000.
    ///
    /// etcd (3.4 and 3.5 alike) refuses pings that come more often than its
    /// `--grpc-keepalive-min-time`, 5 s by default: after a few such pings it
    /// answers `GOAWAY` (`too_many_pings`) and closes the connection, and the
    /// watch and the lease keep-alive on it break. The pings only find a dead
    /// connection under an open stream faster; a dead etcd is detected anyway
    /// by the request timeout and by the lease keep-alive (an answer every
    /// TTL/3, the session ends when none came within the TTL).
    pub keep_alive_interval_ms: u64,
    /// Smallest delay before retrying etcd or restarting a failed child actor,
    /// in milliseconds; doubled on each consecutive failure, with jitter. Env
    /// `ETCD_BACKOFF_MIN_MS`. Default 200.
    pub backoff_min_ms: u64,
    /// Largest such delay, in milliseconds. Env `ETCD_BACKOFF_MAX_MS`.
    /// Default 5000.
    pub backoff_max_ms: u64,
    /// At most this many seed addresses are handed to the cluster (oldest
    /// registered members first). Env `ETCD_MAX_SEEDS`. Default 5.
    pub max_seeds: usize,
    /// Gossip addresses to join through while etcd cannot be reached at start.
    /// Env `ETCD_FALLBACK_SEEDS`, comma-separated. Default none.
    pub fallback_seeds: Vec<SocketAddr>,
    /// TLS settings; needed for `https://` endpoints with a private CA or for
    /// client certificates. Default none.
    pub tls: Option<TlsConfig>,
    /// etcd user name (`ETCD_USER`). Default none.
    pub user: Option<String>,
    /// etcd password (`ETCD_PASSWORD`); required with `user`. Default none.
    pub password: Option<String>,
}

impl Default for DiscoveryConfig {
    fn default() -> Self {
        DiscoveryConfig {
            endpoints: vec!["http://127.0.0.1:2379".to_owned()],
            prefix: "/actix-cluster".to_owned(),
            cluster_name: "default".to_owned(),
            lease_ttl_secs: 10,
            connect_timeout_ms: 2000,
            request_timeout_ms: 3000,
            arbiter_probe_timeout_ms: 1000,
            keep_alive_interval_ms: 10_000,
            backoff_min_ms: 200,
            backoff_max_ms: 5000,
            max_seeds: 5,
            fallback_seeds: Vec::new(),
            tls: None,
            user: None,
            password: None,
        }
    }
}

/// The smallest non-zero [`DiscoveryConfig::keep_alive_interval_ms`]: etcd's
/// default `--grpc-keepalive-min-time` (5 s). A client that pings more often is
/// disconnected by a stock etcd (`GOAWAY`, `too_many_pings`).
pub(crate) const MIN_KEEP_ALIVE_INTERVAL_MS: u64 = 5_000;

/// The environment variables [`DiscoveryConfig::from_env`] reads, with the field
/// each one sets.
pub const ENV_VARS: &[(&str, &str)] = &[
    ("ETCD_ENDPOINTS", "endpoints"),
    ("ETCD_PREFIX", "prefix"),
    ("CLUSTER_NAME", "cluster_name"),
    ("ETCD_LEASE_TTL", "lease_ttl_secs"),
    ("ETCD_CONNECT_TIMEOUT_MS", "connect_timeout_ms"),
    ("ETCD_REQUEST_TIMEOUT_MS", "request_timeout_ms"),
    ("ETCD_ARBITER_PROBE_TIMEOUT_MS", "arbiter_probe_timeout_ms"),
    ("ETCD_KEEP_ALIVE_INTERVAL_MS", "keep_alive_interval_ms"),
    ("ETCD_BACKOFF_MIN_MS", "backoff_min_ms"),
    ("ETCD_BACKOFF_MAX_MS", "backoff_max_ms"),
    ("ETCD_MAX_SEEDS", "max_seeds"),
    ("ETCD_FALLBACK_SEEDS", "fallback_seeds"),
    ("ETCD_CA_FILE", "tls.ca_file"),
    ("ETCD_CERT_FILE", "tls.cert_file"),
    ("ETCD_KEY_FILE", "tls.key_file"),
    ("ETCD_USER", "user"),
    ("ETCD_PASSWORD", "password"),
];

/// The field the environment variable `name` of [`ENV_VARS`] sets.
fn field_of(name: &str) -> &'static str {
    ENV_VARS
        .iter()
        .find(|(var, _)| *var == name)
        .map_or("?", |(_, field)| field)
}

impl DiscoveryConfig {
    /// The defaults overridden by the environment variables in [`ENV_VARS`],
    /// validated.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::default().with_env_from(|k| std::env::var(k).ok())
    }

    /// These settings (e.g. from a TOML file) overridden by the environment
    /// variables in [`ENV_VARS`], validated.
    pub fn with_env(self) -> Result<Self, ConfigError> {
        self.with_env_from(|k| std::env::var(k).ok())
    }

    /// Overrides fields from variables looked up by `get` (same names as
    /// [`from_env`](Self::from_env)), then validates. Empty values are ignored.
    pub fn with_env_from(
        mut self,
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let var = |name: &str| get(name).filter(|v| !v.trim().is_empty());
        if let Some(v) = var("ETCD_ENDPOINTS") {
            self.endpoints = split_list(&v);
        }
        if let Some(v) = var("ETCD_PREFIX") {
            self.prefix = v;
        }
        if let Some(v) = var("CLUSTER_NAME") {
            self.cluster_name = v;
        }
        let num = |name: &'static str| -> Result<Option<u64>, ConfigError> {
            var(name)
                .map(|v| {
                    v.trim().parse::<u64>().map_err(|e| ConfigError::Invalid {
                        field: field_of(name),
                        reason: format!("{name}={v:?} is not a whole number: {e}"),
                    })
                })
                .transpose()
        };
        for (name, slot) in self.numbers_mut() {
            if let Some(v) = num(name)? {
                *slot = v;
            }
        }
        if let Some(v) = num("ETCD_MAX_SEEDS")? {
            self.max_seeds = usize::try_from(v).unwrap_or(usize::MAX);
        }
        if let Some(v) = var("ETCD_FALLBACK_SEEDS") {
            self.fallback_seeds = split_list(&v)
                .iter()
                .map(|s| {
                    s.parse::<SocketAddr>().map_err(|e| ConfigError::Invalid {
                        field: "fallback_seeds",
                        reason: format!("{s:?} is not an ip:port address: {e}"),
                    })
                })
                .collect::<Result<_, _>>()?;
        }
        for (name, slot) in [
            ("ETCD_CA_FILE", 0usize),
            ("ETCD_CERT_FILE", 1),
            ("ETCD_KEY_FILE", 2),
        ] {
            if let Some(v) = var(name) {
                let tls = self.tls.get_or_insert_with(TlsConfig::default);
                let path = Some(PathBuf::from(v));
                match slot {
                    0 => tls.ca_file = path,
                    1 => tls.cert_file = path,
                    _ => tls.key_file = path,
                }
            }
        }
        if let Some(v) = var("ETCD_USER") {
            self.user = Some(v);
        }
        if let Some(v) = var("ETCD_PASSWORD") {
            self.password = Some(v);
        }
        self.validate()?;
        Ok(self)
    }

    /// The whole-number fields in seconds or milliseconds, by their
    /// environment variables.
    fn numbers_mut(&mut self) -> [(&'static str, &mut u64); 7] {
        [
            ("ETCD_LEASE_TTL", &mut self.lease_ttl_secs),
            ("ETCD_CONNECT_TIMEOUT_MS", &mut self.connect_timeout_ms),
            ("ETCD_REQUEST_TIMEOUT_MS", &mut self.request_timeout_ms),
            (
                "ETCD_ARBITER_PROBE_TIMEOUT_MS",
                &mut self.arbiter_probe_timeout_ms,
            ),
            (
                "ETCD_KEEP_ALIVE_INTERVAL_MS",
                &mut self.keep_alive_interval_ms,
            ),
            ("ETCD_BACKOFF_MIN_MS", &mut self.backoff_min_ms),
            ("ETCD_BACKOFF_MAX_MS", &mut self.backoff_max_ms),
        ]
    }

    /// Parses a TOML document (field names as keys; missing fields take their
    /// defaults) and validates it.
    pub fn from_toml_str(text: &str) -> Result<Self, ConfigError> {
        let config: DiscoveryConfig =
            toml::from_str(text).map_err(|e| ConfigError::Toml(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    /// Reads and parses a TOML file; see [`from_toml_str`](Self::from_toml_str).
    pub fn from_toml_file(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
        Self::from_toml_str(&text)
    }

    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_names()?;
        self.validate_timing()?;
        self.validate_rest()
    }

    /// Endpoints, prefix and cluster name.
    fn validate_names(&self) -> Result<(), ConfigError> {
        let bad = |field: &'static str, reason: String| Err(ConfigError::Invalid { field, reason });
        if self.endpoints.is_empty() {
            return bad("endpoints", "at least one etcd endpoint is needed".into());
        }
        for e in &self.endpoints {
            let rest = e
                .strip_prefix("http://")
                .or_else(|| e.strip_prefix("https://"))
                .unwrap_or(e);
            let hostport = rest.trim_end_matches('/');
            let ok = match hostport.rsplit_once(':') {
                Some((host, port)) => !host.is_empty() && port.parse::<u16>().is_ok(),
                None => false,
            };
            if !ok || hostport.contains('/') || e.trim() != e {
                return bad(
                    "endpoints",
                    format!("{e:?} is not an endpoint like http://host:port"),
                );
            }
        }
        if !self.prefix.starts_with('/') || self.prefix.len() < 2 || self.prefix.ends_with('/') {
            return bad(
                "prefix",
                format!(
                    "{:?} must start with '/', not end with '/', and not be empty",
                    self.prefix
                ),
            );
        }
        if self.cluster_name.is_empty()
            || self.cluster_name.len() > 64
            || self.cluster_name.contains('/')
        {
            return bad(
                "cluster_name",
                format!("{:?} must be 1 to 64 bytes without '/'", self.cluster_name),
            );
        }
        Ok(())
    }

    /// Lease TTL, timeouts, keep-alive and backoff.
    fn validate_timing(&self) -> Result<(), ConfigError> {
        let bad = |field: &'static str, reason: String| Err(ConfigError::Invalid { field, reason });
        if !(2..=3600).contains(&self.lease_ttl_secs) {
            return bad(
                "lease_ttl_secs",
                format!("{} is outside 2..=3600 seconds", self.lease_ttl_secs),
            );
        }
        if !(10..=600_000).contains(&self.connect_timeout_ms) {
            return bad(
                "connect_timeout_ms",
                format!("{} is outside 10..=600000 ms", self.connect_timeout_ms),
            );
        }
        if !(10..=600_000).contains(&self.request_timeout_ms) {
            return bad(
                "request_timeout_ms",
                format!("{} is outside 10..=600000 ms", self.request_timeout_ms),
            );
        }
        if !(10..=600_000).contains(&self.arbiter_probe_timeout_ms) {
            return bad(
                "arbiter_probe_timeout_ms",
                format!(
                    "{} is outside 10..=600000 ms",
                    self.arbiter_probe_timeout_ms
                ),
            );
        }
        if self.keep_alive_interval_ms != 0
            && !(MIN_KEEP_ALIVE_INTERVAL_MS..=3_600_000).contains(&self.keep_alive_interval_ms)
        {
            return bad(
                "keep_alive_interval_ms",
                format!(
                    "{} is outside {MIN_KEEP_ALIVE_INTERVAL_MS}..=3600000 ms (or 0 for no pings): \
                     etcd closes connections that ping more often than its \
                     --grpc-keepalive-min-time, 5 s by default",
                    self.keep_alive_interval_ms
                ),
            );
        }
        if !(1..=600_000).contains(&self.backoff_min_ms) {
            return bad(
                "backoff_min_ms",
                format!("{} is outside 1..=600000 ms", self.backoff_min_ms),
            );
        }
        if self.backoff_max_ms < self.backoff_min_ms || self.backoff_max_ms > 3_600_000 {
            return bad(
                "backoff_max_ms",
                format!(
                    "{} must be at least backoff_min_ms ({}) and at most 3600000 ms",
                    self.backoff_max_ms, self.backoff_min_ms
                ),
            );
        }
        Ok(())
    }

    /// Seeds, TLS files and credentials.
    fn validate_rest(&self) -> Result<(), ConfigError> {
        let bad = |field: &'static str, reason: String| Err(ConfigError::Invalid { field, reason });
        if !(1..=100).contains(&self.max_seeds) {
            return bad(
                "max_seeds",
                format!("{} is outside 1..=100", self.max_seeds),
            );
        }
        if let Some(tls) = &self.tls {
            if tls.cert_file.is_some() != tls.key_file.is_some() {
                let field = if tls.cert_file.is_some() {
                    "tls.key_file"
                } else {
                    "tls.cert_file"
                };
                return bad(
                    field,
                    "a client certificate needs both tls.cert_file and tls.key_file".into(),
                );
            }
            for (field, path) in [
                ("tls.ca_file", &tls.ca_file),
                ("tls.cert_file", &tls.cert_file),
                ("tls.key_file", &tls.key_file),
            ] {
                if let Some(p) = path {
                    if !p.is_file() {
                        return bad(field, format!("{} is not a readable file", p.display()));
                    }
                }
            }
        }
        match (&self.user, &self.password) {
            (Some(u), _) if u.is_empty() => return bad("user", "is empty".into()),
            (Some(_), None) => return bad("password", "is required when user is set".into()),
            (None, Some(_)) => return bad("user", "is required when password is set".into()),
            _ => {}
        }
        Ok(())
    }

    /// The lease TTL.
    pub fn lease_ttl(&self) -> Duration {
        Duration::from_secs(self.lease_ttl_secs)
    }

    /// The connect timeout.
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_timeout_ms)
    }

    /// The request timeout.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }

    /// The bound of the downing arbiter's reachability probe.
    pub fn arbiter_probe_timeout(&self) -> Duration {
        Duration::from_millis(self.arbiter_probe_timeout_ms)
    }

    /// The HTTP/2 keep-alive interval; `None` when pings are off.
    pub fn keep_alive_interval(&self) -> Option<Duration> {
        (self.keep_alive_interval_ms > 0)
            .then(|| Duration::from_millis(self.keep_alive_interval_ms))
    }

    /// `<prefix>/<cluster_name>/`: every key of this cluster starts with it.
    pub fn cluster_prefix(&self) -> String {
        format!("{}/{}/", self.prefix, self.cluster_name)
    }

    /// Where the application may keep keys of its own beside the cluster's
    /// (`<prefix>/<cluster>/app/`, e.g. a resource fenced by a singleton's
    /// token): discovery ignores them, where it warns about any other key
    /// under the cluster's prefix that is not its own.
    pub fn app_prefix(&self) -> String {
        format!("{}app/", self.cluster_prefix())
    }
}

fn split_list(v: &str) -> Vec<String> {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> Result<DiscoveryConfig, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        DiscoveryConfig::default().with_env_from(|k| map.get(k).cloned())
    }

    fn field_of(r: Result<DiscoveryConfig, ConfigError>) -> String {
        match r {
            Err(ConfigError::Invalid { field, .. }) => field.to_owned(),
            other => panic!("expected an Invalid error, got {other:?}"),
        }
    }

    #[test]
    fn defaults_are_valid() {
        DiscoveryConfig::default().validate().unwrap();
    }

    /// The default pings no more often than a stock etcd accepts, with room
    /// for timer and network jitter; 0 turns the pings off.
    #[test]
    fn keep_alive_respects_etcds_default_min_time() {
        let d = DiscoveryConfig::default();
        assert!(d.keep_alive_interval_ms >= 2 * MIN_KEEP_ALIVE_INTERVAL_MS);
        let off = env(&[("ETCD_KEEP_ALIVE_INTERVAL_MS", "0")]).unwrap();
        assert_eq!(off.keep_alive_interval(), None);
        env(&[("ETCD_KEEP_ALIVE_INTERVAL_MS", "5000")]).unwrap();
        let msg = env(&[("ETCD_KEEP_ALIVE_INTERVAL_MS", "4999")])
            .unwrap_err()
            .to_string();
        assert!(msg.contains("grpc-keepalive-min-time"), "{msg}");
    }

    #[test]
    fn env_sets_every_field() {
        let c = env(&[
            ("ETCD_ENDPOINTS", "http://a:1, http://b:2"),
            ("ETCD_PREFIX", "/p"),
            ("CLUSTER_NAME", "c"),
            ("ETCD_LEASE_TTL", "3"),
            ("ETCD_CONNECT_TIMEOUT_MS", "100"),
            ("ETCD_REQUEST_TIMEOUT_MS", "200"),
            ("ETCD_ARBITER_PROBE_TIMEOUT_MS", "300"),
            ("ETCD_KEEP_ALIVE_INTERVAL_MS", "30000"),
            ("ETCD_BACKOFF_MIN_MS", "10"),
            ("ETCD_BACKOFF_MAX_MS", "20"),
            ("ETCD_MAX_SEEDS", "2"),
            ("ETCD_FALLBACK_SEEDS", "127.0.0.1:1,127.0.0.1:2"),
            ("ETCD_USER", "u"),
            ("ETCD_PASSWORD", "p"),
        ])
        .unwrap();
        assert_eq!(c.endpoints, vec!["http://a:1", "http://b:2"]);
        assert_eq!(c.prefix, "/p");
        assert_eq!(c.cluster_name, "c");
        assert_eq!(c.lease_ttl_secs, 3);
        assert_eq!(c.connect_timeout_ms, 100);
        assert_eq!(c.request_timeout_ms, 200);
        assert_eq!(c.arbiter_probe_timeout(), Duration::from_millis(300));
        assert_eq!(c.keep_alive_interval_ms, 30_000);
        assert_eq!(c.keep_alive_interval(), Some(Duration::from_secs(30)));
        assert_eq!(c.backoff_min_ms, 10);
        assert_eq!(c.backoff_max_ms, 20);
        assert_eq!(c.max_seeds, 2);
        assert_eq!(c.fallback_seeds.len(), 2);
        assert_eq!(c.user.as_deref(), Some("u"));
        assert_eq!(c.password.as_deref(), Some("p"));
        assert_eq!(c.cluster_prefix(), "/p/c/");
    }

    #[test]
    fn every_bad_field_is_named() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("ETCD_ENDPOINTS", "nonsense")], "endpoints"),
            (&[("ETCD_ENDPOINTS", "http://a:99999")], "endpoints"),
            (&[("ETCD_PREFIX", "no-slash")], "prefix"),
            (&[("ETCD_PREFIX", "/trailing/")], "prefix"),
            (&[("CLUSTER_NAME", "a/b")], "cluster_name"),
            (&[("ETCD_LEASE_TTL", "1")], "lease_ttl_secs"),
            (&[("ETCD_LEASE_TTL", "ten")], "lease_ttl_secs"),
            (&[("ETCD_CONNECT_TIMEOUT_MS", "0")], "connect_timeout_ms"),
            (&[("ETCD_REQUEST_TIMEOUT_MS", "-5")], "request_timeout_ms"),
            (
                &[("ETCD_ARBITER_PROBE_TIMEOUT_MS", "5")],
                "arbiter_probe_timeout_ms",
            ),
            (
                &[("ETCD_KEEP_ALIVE_INTERVAL_MS", "3333")],
                "keep_alive_interval_ms",
            ),
            (
                &[("ETCD_KEEP_ALIVE_INTERVAL_MS", "soon")],
                "keep_alive_interval_ms",
            ),
            (&[("ETCD_BACKOFF_MIN_MS", "0")], "backoff_min_ms"),
            (
                &[
                    ("ETCD_BACKOFF_MIN_MS", "100"),
                    ("ETCD_BACKOFF_MAX_MS", "50"),
                ],
                "backoff_max_ms",
            ),
            (&[("ETCD_MAX_SEEDS", "0")], "max_seeds"),
            (&[("ETCD_FALLBACK_SEEDS", "localhost")], "fallback_seeds"),
            (&[("ETCD_CA_FILE", "/nonexistent/ca.pem")], "tls.ca_file"),
            (&[("ETCD_CERT_FILE", "/nonexistent/c.pem")], "tls.key_file"),
            (&[("ETCD_USER", "u")], "password"),
            (&[("ETCD_PASSWORD", "p")], "user"),
        ];
        for (vars, field) in cases {
            let got = field_of(env(vars));
            assert_eq!(&got, field, "for {vars:?}");
            let msg = env(vars).unwrap_err().to_string();
            assert!(msg.contains(field), "message {msg:?} names {field}");
        }
    }

    #[test]
    fn toml_round_trip_and_errors() {
        let c = DiscoveryConfig::from_toml_str(
            r#"
            endpoints = ["http://10.0.0.1:2379", "http://10.0.0.2:2379"]
            cluster_name = "shop"
            lease_ttl_secs = 5
            fallback_seeds = ["10.0.0.9:7946"]
            "#,
        )
        .unwrap();
        assert_eq!(c.endpoints.len(), 2);
        assert_eq!(c.cluster_name, "shop");
        assert_eq!(c.lease_ttl_secs, 5);
        assert_eq!(c.prefix, "/actix-cluster");
        let text = toml::to_string(&c).unwrap();
        assert_eq!(DiscoveryConfig::from_toml_str(&text).unwrap(), c);

        let err = DiscoveryConfig::from_toml_str("lease_ttl_secs = 0").unwrap_err();
        assert!(err.to_string().contains("lease_ttl_secs"), "{err}");
        let err = DiscoveryConfig::from_toml_str("lease_ttl = 5").unwrap_err();
        assert!(err.to_string().contains("lease_ttl"), "{err}");
        let err = DiscoveryConfig::from_toml_str("max_seeds = \"many\"").unwrap_err();
        assert!(err.to_string().contains("max_seeds"), "{err}");
        let err = DiscoveryConfig::from_toml_file("/nonexistent/discovery.toml").unwrap_err();
        assert!(
            err.to_string().contains("/nonexistent/discovery.toml"),
            "{err}"
        );
    }
}
