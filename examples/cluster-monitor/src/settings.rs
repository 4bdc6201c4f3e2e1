//! The settings the node runs with: the raw flags of `cli` checked at start,
//! so a bad value fails with a message naming its variable, and host names
//! resolved.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::time::Duration;

use actix_cluster::{Keyring, OnFenced, ProtocolConfig, Strategy};
use actix_cluster_etcd::DiscoveryConfig;
use anyhow::{bail, Context as _};

use crate::cli::{Args, EtcdArgs, KeysMode, Role};

impl EtcdArgs {
    /// The discovery config, or `None` without endpoints (neither flag nor file).
    fn discovery_config(&self, cluster_name: &str) -> anyhow::Result<Option<DiscoveryConfig>> {
        let base = match &self.etcd_config {
            Some(path) => DiscoveryConfig::from_toml_file(path)
                .with_context(|| format!("ETCD_CONFIG (--etcd-config) = {}", path.display()))?,
            None if self
                .etcd_endpoints
                .as_deref()
                .is_none_or(|e| e.trim().is_empty()) =>
            {
                return Ok(None)
            }
            None => DiscoveryConfig::default(),
        };
        let vars: Vec<(&str, Option<&String>)> = vec![
            ("ETCD_ENDPOINTS", self.etcd_endpoints.as_ref()),
            ("ETCD_PREFIX", self.etcd_prefix.as_ref()),
            ("ETCD_LEASE_TTL", self.etcd_lease_ttl.as_ref()),
            (
                "ETCD_CONNECT_TIMEOUT_MS",
                self.etcd_connect_timeout_ms.as_ref(),
            ),
            (
                "ETCD_REQUEST_TIMEOUT_MS",
                self.etcd_request_timeout_ms.as_ref(),
            ),
            (
                "ETCD_ARBITER_PROBE_TIMEOUT_MS",
                self.etcd_arbiter_probe_timeout_ms.as_ref(),
            ),
            (
                "ETCD_KEEP_ALIVE_INTERVAL_MS",
                self.etcd_keep_alive_interval_ms.as_ref(),
            ),
            ("ETCD_BACKOFF_MIN_MS", self.etcd_backoff_min_ms.as_ref()),
            ("ETCD_BACKOFF_MAX_MS", self.etcd_backoff_max_ms.as_ref()),
            ("ETCD_MAX_SEEDS", self.etcd_max_seeds.as_ref()),
            ("ETCD_FALLBACK_SEEDS", self.etcd_fallback_seeds.as_ref()),
            ("ETCD_CA_FILE", self.etcd_ca_file.as_ref()),
            ("ETCD_CERT_FILE", self.etcd_cert_file.as_ref()),
            ("ETCD_KEY_FILE", self.etcd_key_file.as_ref()),
            ("ETCD_USER", self.etcd_user.as_ref()),
            ("ETCD_PASSWORD", self.etcd_password.as_ref()),
        ];
        let config = base
            .with_env_from(|name| {
                if name == "CLUSTER_NAME" {
                    return Some(cluster_name.to_owned());
                }
                vars.iter()
                    .find(|(n, _)| *n == name)
                    .and_then(|(_, v)| v.cloned())
            })
            .map_err(|e| anyhow::anyhow!("etcd discovery (ETCD_* variables): {e}"))?;
        Ok(Some(config))
    }
}

/// The checked configuration the node runs with.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) role: Role,
    pub(crate) cluster_name: String,
    /// `None`: derive from the host name once the HTTP port is known.
    pub(crate) node_name: Option<String>,
    pub(crate) cluster_bind: SocketAddr,
    /// `Some` when the node must advertise another address than the bound one;
    /// port 0 means "the bound port".
    pub(crate) cluster_advertise: Option<SocketAddr>,
    pub(crate) cluster_seeds: Vec<SocketAddr>,
    pub(crate) protocol: ProtocolConfig,
    pub(crate) http_bind: SocketAddr,
    /// Host part of the published HTTP address (port added once bound), or a full address.
    pub(crate) http_advertise: HttpAdvertise,
    pub(crate) sse_buffer: usize,
    pub(crate) shutdown_timeout: Duration,
    pub(crate) max_incoming_per_ip: usize,
    /// `None`: no etcd.
    pub(crate) etcd: Option<DiscoveryConfig>,
    /// The bearer token of `POST .../leave`; `None`: open.
    pub(crate) admin_token: Option<AdminToken>,
}

/// `HTTP_ADMIN_TOKEN`; `Debug` does not show it.
#[derive(Clone)]
pub(crate) struct AdminToken(String);

impl AdminToken {
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminToken(..)")
    }
}

#[derive(Debug, Clone)]
pub(crate) enum HttpAdvertise {
    /// Use this IP with the bound HTTP port.
    Ip(IpAddr),
    /// Use exactly this address.
    Addr(SocketAddr),
}

impl Settings {
    /// Checks every value and resolves host names; errors name the variable.
    pub(crate) fn from_args(args: Args) -> anyhow::Result<Settings> {
        check_name("CLUSTER_NAME", &args.cluster_name)?;
        if let Some(name) = &args.node_name {
            check_name("NODE_NAME", name)?;
        }
        if args.sse_buffer == 0 || args.sse_buffer > 100_000 {
            bail!(
                "SSE_BUFFER (--sse-buffer) = {}: must be between 1 and 100000",
                args.sse_buffer
            );
        }
        if args.cluster_max_incoming_per_ip == 0 || args.cluster_max_incoming_per_ip > 65_536 {
            bail!(
                "CLUSTER_MAX_INCOMING_PER_IP (--cluster-max-incoming-per-ip) = {}: must be between 1 and 65536",
                args.cluster_max_incoming_per_ip
            );
        }
        if args.shutdown_timeout == 0 || args.shutdown_timeout > 300 {
            bail!(
                "SHUTDOWN_TIMEOUT (--shutdown-timeout) = {}: must be between 1 and 300 seconds",
                args.shutdown_timeout
            );
        }
        let etcd = args.etcd.discovery_config(&args.cluster_name)?;

        let cluster_advertise = cluster_advertise(&args)?;
        let http_advertise = http_advertise(&args, cluster_advertise)?;

        let base = args.cluster_protocol.config();
        let mut protocol = ProtocolConfig {
            cluster_name: args.cluster_name.clone(),
            ..base
        };
        apply_downing(&args, etcd.is_some(), &mut protocol)?;
        apply_keys(&args, &mut protocol)?;
        let admin_token = admin_token(&args)?;

        Ok(Settings {
            role: args.cluster_role,
            cluster_name: args.cluster_name,
            node_name: args.node_name,
            cluster_bind: args.cluster_bind,
            cluster_advertise,
            cluster_seeds: args.cluster_seeds,
            protocol,
            http_bind: args.http_bind,
            http_advertise,
            sse_buffer: args.sse_buffer,
            shutdown_timeout: Duration::from_secs(args.shutdown_timeout),
            max_incoming_per_ip: args.cluster_max_incoming_per_ip,
            etcd,
            admin_token,
        })
    }

    /// The member name: given, or the host name made unique per HTTP port.
    pub(crate) fn member_name(&self, http_port: u16) -> String {
        if let Some(name) = &self.node_name {
            return name.clone();
        }
        let host: String = host_name()
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_' {
                    c
                } else {
                    '-'
                }
            })
            .take(48)
            .collect();
        let host = if host.is_empty() {
            "node".to_owned()
        } else if host.len() == 12 && host.bytes().all(|b| b.is_ascii_hexdigit()) {
            // Docker names containers' hosts by their id: say the role instead.
            format!("{}-{}", self.role.as_str(), &host[..6])
        } else {
            host
        };
        if http_port == 8080 {
            host
        } else {
            format!("{host}-{http_port}")
        }
    }

    /// The HTTP address published in the member metadata.
    pub(crate) fn published_http(&self, bound: SocketAddr) -> SocketAddr {
        match self.http_advertise {
            HttpAdvertise::Addr(addr) => addr,
            HttpAdvertise::Ip(ip) => SocketAddr::new(ip, bound.port()),
        }
    }
}

/// Names: 1 to 64 characters out of letters, digits, `-`, `_` and `.`.
/// `CLUSTER_ADVERTISE`, or this host's address when bound to all interfaces.
fn cluster_advertise(args: &Args) -> anyhow::Result<Option<SocketAddr>> {
    let cluster_advertise = match &args.cluster_advertise {
        Some(text) => Some(
            resolve_host_port(text)
                .with_context(|| format!("CLUSTER_ADVERTISE (--cluster-advertise) = {text:?}"))?,
        ),
        None if args.cluster_bind.ip().is_unspecified() => {
            // In a container the host name resolves to the container's own IP.
            let host = host_name();
            let ip = resolve_host_port(&host)
                .map(|a| a.ip())
                .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
            Some(SocketAddr::new(ip, 0))
        }
        None => None,
    };
    if let Some(adv) = cluster_advertise {
        if adv.ip().is_unspecified() {
            bail!("CLUSTER_ADVERTISE (--cluster-advertise) = {adv}: an unspecified address cannot be reached; give this node's IP or host name");
        }
    }
    Ok(cluster_advertise)
}

/// `HTTP_ADVERTISE`, or an address derived from the bound ones.
fn http_advertise(
    args: &Args,
    cluster_advertise: Option<SocketAddr>,
) -> anyhow::Result<HttpAdvertise> {
    let http_advertise = match &args.http_advertise {
        Some(text) => {
            let addr = resolve_host_port(text)
                .with_context(|| format!("HTTP_ADVERTISE (--http-advertise) = {text:?}"))?;
            if addr.port() == 0 {
                HttpAdvertise::Ip(addr.ip())
            } else {
                HttpAdvertise::Addr(addr)
            }
        }
        None if !args.http_bind.ip().is_unspecified() => HttpAdvertise::Ip(args.http_bind.ip()),
        None => HttpAdvertise::Ip(cluster_advertise.map(|a| a.ip()).unwrap_or(
            if args.cluster_bind.ip().is_unspecified() {
                IpAddr::V4(Ipv4Addr::LOCALHOST)
            } else {
                args.cluster_bind.ip()
            },
        )),
    };
    Ok(http_advertise)
}

/// `HTTP_ADMIN_TOKEN`: unset, or at least 16 printable characters.
fn admin_token(args: &Args) -> anyhow::Result<Option<AdminToken>> {
    let admin_token = match args.http_admin_token.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(t) if t.len() < 16 => bail!(
            "HTTP_ADMIN_TOKEN (--http-admin-token): {} characters; use at least 16 \
             (e.g. `cluster-monitor keygen`)",
            t.len()
        ),
        Some(t) if t.len() > 512 || !t.bytes().all(|b| b.is_ascii_graphic()) => bail!(
            "HTTP_ADMIN_TOKEN (--http-admin-token): use at most 512 printable ASCII \
             characters without spaces"
        ),
        Some(t) => Some(AdminToken(t.to_owned())),
    };
    Ok(admin_token)
}

/// The `downing` section from `CLUSTER_DOWNING`, `CLUSTER_STABLE_AFTER`,
/// `CLUSTER_MAX_PAUSE` and `CLUSTER_ON_FENCED`.
fn apply_downing(
    args: &Args,
    with_etcd: bool,
    protocol: &mut ProtocolConfig,
) -> anyhow::Result<()> {
    let d = &mut protocol.downing;
    d.strategy = match args.cluster_downing.as_deref().map(str::trim) {
        None | Some("") if with_etcd => Strategy::LeaseMajority,
        None | Some("") => Strategy::KeepMajority,
        Some(text) => Strategy::parse(text).with_context(|| {
            format!(
                "CLUSTER_DOWNING (--cluster-downing) = {text:?}: expected lease-majority, \
                 keep-majority, static-quorum:N (N >= 1), keep-oldest, \
                 keep-oldest:down-if-alone or down-all"
            )
        })?,
    };
    if d.strategy == Strategy::LeaseMajority && !with_etcd {
        bail!("CLUSTER_DOWNING (--cluster-downing) = lease-majority needs etcd (ETCD_ENDPOINTS)");
    }
    if let Some(ms) = args.cluster_stable_after {
        d.stable_after = Duration::from_millis(ms);
    }
    if let Some(ms) = args.cluster_max_pause {
        d.max_pause = Duration::from_millis(ms);
    }
    d.on_fenced = match args.cluster_on_fenced.as_deref().map(str::trim) {
        None | Some("") | Some("rejoin") => OnFenced::Rejoin,
        Some("stop") => OnFenced::Stop,
        Some(other) => {
            bail!("CLUSTER_ON_FENCED (--cluster-on-fenced) = {other:?}: expected rejoin or stop")
        }
    };
    protocol.validate().map_err(|e| {
        let var = match e.field {
            "downing.stable_after" => "CLUSTER_STABLE_AFTER (--cluster-stable-after)",
            "downing.max_pause" => "CLUSTER_MAX_PAUSE (--cluster-max-pause)",
            _ => "CLUSTER_PROTOCOL",
        };
        anyhow::anyhow!("{var}: {e}")
    })
}

/// The keyring from `CLUSTER_SECRET_KEYS` or `CLUSTER_SECRET_KEYS_FILE`, and
/// `CLUSTER_KEYS_MODE`.
fn apply_keys(args: &Args, protocol: &mut ProtocolConfig) -> anyhow::Result<()> {
    let given = args
        .cluster_secret_keys
        .as_deref()
        .filter(|s| !s.trim().is_empty());
    let ring = match (given, &args.cluster_secret_keys_file) {
        (Some(_), Some(_)) => {
            bail!("CLUSTER_SECRET_KEYS and CLUSTER_SECRET_KEYS_FILE are both set: give one of them")
        }
        (Some(text), None) => Some(Keyring::parse("CLUSTER_SECRET_KEYS", text)?),
        (None, Some(path)) => {
            let meta = std::fs::metadata(path).with_context(|| {
                format!(
                    "CLUSTER_SECRET_KEYS_FILE (--cluster-secret-keys-file) = {}",
                    path.display()
                )
            })?;
            if meta.len() > 16 * 1024 {
                bail!(
                    "CLUSTER_SECRET_KEYS_FILE (--cluster-secret-keys-file) = {}: {} bytes; \
                     a key file is at most 16 KiB",
                    path.display(),
                    meta.len()
                );
            }
            let text = std::fs::read_to_string(path).with_context(|| {
                format!(
                    "CLUSTER_SECRET_KEYS_FILE (--cluster-secret-keys-file) = {}",
                    path.display()
                )
            })?;
            Some(Keyring::parse("CLUSTER_SECRET_KEYS_FILE", &text)?)
        }
        (None, None) => None,
    };
    match ring {
        Some(ring) => {
            protocol.keyring = Some(ring);
            (protocol.seal_outgoing, protocol.verify_incoming) = match args.cluster_keys_mode {
                KeysMode::Enforce => (true, true),
                KeysMode::Seal => (true, false),
                KeysMode::Accept => (false, false),
            };
        }
        None if args.cluster_keys_mode != KeysMode::Enforce => bail!(
            "CLUSTER_KEYS_MODE (--cluster-keys-mode) = {:?} needs keys (CLUSTER_SECRET_KEYS)",
            args.cluster_keys_mode
        ),
        None => {}
    }
    Ok(())
}

fn check_name(var: &str, value: &str) -> anyhow::Result<()> {
    if value.is_empty() || value.len() > 64 {
        bail!("{var} = {value:?}: must be 1 to 64 characters long");
    }
    if let Some(c) = value
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        bail!(
            "{var} = {value:?}: character {c:?} not allowed (use letters, digits, '-', '_', '.')"
        );
    }
    Ok(())
}

/// Parses `ip`, `ip:port`, `[v6]:port`, `host` or `host:port`; port 0 when absent.
fn resolve_host_port(text: &str) -> anyhow::Result<SocketAddr> {
    let text = text.trim();
    if text.is_empty() {
        bail!("empty address");
    }
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, 0));
    }
    let (host, port) = match text.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => {
            let port: u16 = port.parse().with_context(|| format!("bad port {port:?}"))?;
            (host, port)
        }
        _ => (text, 0),
    };
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .with_context(|| format!("cannot resolve host name {host:?}"))?
        .collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4() && !a.ip().is_loopback())
        .or_else(|| addrs.iter().find(|a| !a.ip().is_loopback()))
        .or_else(|| addrs.first())
        .copied()
        .with_context(|| format!("host name {host:?} resolves to no address"))
}

/// This machine's host name (the container id in docker).
pub(crate) fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "node".to_owned())
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;

    fn parse(args: &[&str]) -> anyhow::Result<Settings> {
        let mut full = vec!["cluster-monitor"];
        full.extend_from_slice(args);
        Settings::from_args(Args::try_parse_from(full)?)
    }

    #[test]
    fn defaults_are_valid() {
        let s = parse(&[
            "--cluster-bind",
            "127.0.0.1:0",
            "--http-bind",
            "127.0.0.1:0",
        ])
        .unwrap();
        assert_eq!(s.role, Role::Backend);
        assert!(s.cluster_advertise.is_none());
        assert_eq!(s.protocol.downing.strategy, Strategy::KeepMajority);
        let with_etcd = parse(&["--etcd-endpoints", "http://e:2379"]).unwrap();
        assert_eq!(with_etcd.protocol.downing.strategy, Strategy::LeaseMajority);
        let quorum = parse(&[
            "--cluster-downing",
            "static-quorum:3",
            "--cluster-max-pause",
            "8000",
        ])
        .unwrap();
        assert_eq!(quorum.protocol.downing.strategy, Strategy::StaticQuorum(3));
        assert_eq!(quorum.protocol.downing.max_pause, Duration::from_secs(8));
        assert_eq!(
            s.published_http("127.0.0.1:4242".parse().unwrap()),
            "127.0.0.1:4242".parse().unwrap()
        );
    }

    #[test]
    fn bad_values_name_the_variable() {
        let err = parse(&["--node-name", "a b"]).unwrap_err().to_string();
        assert!(err.contains("NODE_NAME"), "{err}");
        let err = parse(&["--sse-buffer", "0"]).unwrap_err().to_string();
        assert!(err.contains("SSE_BUFFER"), "{err}");
        let err = format!(
            "{:#}",
            parse(&["--cluster-advertise", "no-such-host.invalid"]).unwrap_err()
        );
        assert!(err.contains("CLUSTER_ADVERTISE"), "{err}");
        let err = Args::try_parse_from(["cluster-monitor", "--cluster-bind", "nope"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("CLUSTER_BIND"), "{err}");
        let err = format!(
            "{:#}",
            parse(&["--etcd-endpoints", "http://e:2379", "--etcd-lease-ttl", "1"]).unwrap_err()
        );
        assert!(err.contains("lease_ttl_secs"), "{err}");
        let err = format!(
            "{:#}",
            parse(&["--etcd-endpoints", "nonsense"]).unwrap_err()
        );
        assert!(err.contains("endpoints"), "{err}");
        let err = format!(
            "{:#}",
            parse(&["--cluster-downing", "majority"]).unwrap_err()
        );
        assert!(err.contains("CLUSTER_DOWNING"), "{err}");
        let err = format!(
            "{:#}",
            parse(&["--cluster-downing", "lease-majority"]).unwrap_err()
        );
        assert!(err.contains("needs etcd"), "{err}");
        let err = format!("{:#}", parse(&["--cluster-stable-after", "0"]).unwrap_err());
        assert!(err.contains("CLUSTER_STABLE_AFTER"), "{err}");
        let err = format!("{:#}", parse(&["--cluster-on-fenced", "sulk"]).unwrap_err());
        assert!(err.contains("CLUSTER_ON_FENCED"), "{err}");
        let err = Args::try_parse_from(["cluster-monitor", "--cluster-role", "boss"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("CLUSTER_ROLE"), "{err}");
    }

    #[test]
    fn keys_and_token() {
        let k = actix_cluster::Key::from_bytes([5; 32]).to_base64();
        let k2 = actix_cluster::Key::from_bytes([6; 32]).to_base64();
        let s = parse(&["--cluster-secret-keys", &format!("{k},{k2}")]).unwrap();
        let ring = s.protocol.keyring.clone().unwrap();
        assert_eq!(ring.ids().len(), 2);
        assert!(s.protocol.seal_outgoing && s.protocol.verify_incoming);
        let s = parse(&["--cluster-secret-keys", &k, "--cluster-keys-mode", "accept"]).unwrap();
        assert!(!s.protocol.seal_outgoing && !s.protocol.verify_incoming);
        assert!(parse(&[]).unwrap().protocol.keyring.is_none());

        let dir = std::env::temp_dir().join(format!("cm-keys-{}", std::process::id()));
        std::fs::write(&dir, format!("{k2}\n{k}\n")).unwrap();
        let s = parse(&["--cluster-secret-keys-file", dir.to_str().unwrap()]).unwrap();
        assert_eq!(
            s.protocol.keyring.unwrap().primary(),
            &actix_cluster::Key::from_bytes([6; 32])
        );
        let err = format!(
            "{:#}",
            parse(&[
                "--cluster-secret-keys",
                &k,
                "--cluster-secret-keys-file",
                dir.to_str().unwrap()
            ])
            .unwrap_err()
        );
        assert!(err.contains("both set"), "{err}");
        std::fs::remove_file(&dir).unwrap();

        let err = format!(
            "{:#}",
            parse(&["--cluster-secret-keys", "c2hvcnQ="]).unwrap_err()
        );
        assert!(
            err.contains("CLUSTER_SECRET_KEYS") && err.contains("5 bytes"),
            "{err}"
        );
        assert!(!err.contains("c2hvcnQ"), "the key is not echoed: {err}");
        let err = format!("{:#}", parse(&["--cluster-keys-mode", "seal"]).unwrap_err());
        assert!(err.contains("needs keys"), "{err}");

        let err = format!("{:#}", parse(&["--http-admin-token", "short"]).unwrap_err());
        assert!(err.contains("HTTP_ADMIN_TOKEN"), "{err}");
        let s = parse(&["--http-admin-token", "0123456789abcdef"]).unwrap();
        let token = s.admin_token.as_ref().map(AdminToken::as_str);
        assert_eq!(token, Some("0123456789abcdef"));
        assert!(!format!("{s:?}").contains("0123456789abcdef"));
    }

    #[test]
    fn advertise_forms() {
        assert_eq!(
            resolve_host_port("10.0.0.5").unwrap(),
            "10.0.0.5:0".parse().unwrap()
        );
        assert_eq!(
            resolve_host_port("10.0.0.5:7000").unwrap(),
            "10.0.0.5:7000".parse().unwrap()
        );
        assert_eq!(resolve_host_port("localhost:7000").unwrap().port(), 7000);
    }

    #[test]
    fn default_name_is_unique_per_port() {
        let s = parse(&["--cluster-bind", "127.0.0.1:0"]).unwrap();
        assert!(s.member_name(9001).ends_with("-9001"));
        assert!(!s.member_name(8080).ends_with("-8080"));
    }
}
