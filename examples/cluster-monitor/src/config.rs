//! Configuration: command-line flags, each with an environment variable of the
//! same meaning, checked at start so a bad value fails with a message naming it.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::time::Duration;

use actix_cluster::{Keyring, OnFenced, ProtocolConfig, Strategy};
use actix_cluster_etcd::DiscoveryConfig;
use anyhow::{bail, Context as _};
use clap::{Args as ClapArgs, Parser, Subcommand, ValueEnum};

/// The role of a node; it is the member's only role in the cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum Role {
    /// Serves the live page to users (every node serves the API).
    Frontend,
    /// A worker node; shows up in the page.
    Backend,
}

impl Role {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Role::Frontend => "frontend",
            Role::Backend => "backend",
        }
    }
}

/// Steps of moving a plaintext cluster to keys (see the README, "Security").
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum KeysMode {
    /// Seal everything, accept only sealed messages: the default.
    Enforce,
    /// Rollout step 2: seal everything, still accept plaintext.
    Seal,
    /// Rollout step 1: send plaintext, accept sealed and plaintext.
    Accept,
}

/// How the node writes its logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum LogFormat {
    /// Human-readable lines: the default.
    Text,
    /// One JSON object per line, with the current span and the span list.
    Json,
}

/// Commands other than running a node.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Prints a fresh random cluster key (base64 of 32 bytes) for
    /// CLUSTER_SECRET_KEYS, and exits.
    Keygen,
}

/// Protocol timing presets of `actix-cluster`. Their help text is made from the
/// presets' [`ProtocolConfig`] values, so it cannot drift from them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Preset {
    /// `ProtocolConfig::lan()`: the default.
    Lan,
    /// `ProtocolConfig::wan()`.
    Wan,
    /// `ProtocolConfig::local()`: fast timings for loopback tests.
    Local,
}

impl Preset {
    const ALL: [Preset; 3] = [Preset::Lan, Preset::Wan, Preset::Local];

    fn name(self) -> &'static str {
        match self {
            Preset::Lan => "lan",
            Preset::Wan => "wan",
            Preset::Local => "local",
        }
    }

    /// The preset's protocol configuration.
    pub(crate) fn config(self) -> ProtocolConfig {
        match self {
            Preset::Lan => ProtocolConfig::lan(),
            Preset::Wan => ProtocolConfig::wan(),
            Preset::Local => ProtocolConfig::local(),
        }
    }

    /// One line about the preset's timings, from its configuration.
    fn summary(self) -> String {
        let c = self.config();
        let what = match self {
            Preset::Lan => "the default",
            Preset::Wan => "slower, for latency and loss",
            Preset::Local => "fast, for loopback tests",
        };
        format!(
            "{what}: probes every {} (timeout {}); a suspicion times out after {} to {} \
             at 10 members, {} to {} at 1000; downing waits for {} without change, \
             pauses shorter than {} never down a member",
            human(c.probe_interval),
            human(c.probe_timeout),
            human(c.suspicion_min_timeout(10)),
            human(c.suspicion_max_timeout(10)),
            human(c.suspicion_min_timeout(1000)),
            human(c.suspicion_max_timeout(1000)),
            human(c.downing.stable_after),
            human(c.downing.max_pause),
        )
    }
}

impl ValueEnum for Preset {
    fn value_variants<'a>() -> &'a [Self] {
        &Preset::ALL
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.name()).help(self.summary()))
    }
}

/// A duration for people: `200 ms`, `3 s`, `1.5 s`.
fn human(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms} ms")
    } else if ms.is_multiple_of(1000) {
        format!("{} s", ms / 1000)
    } else {
        format!("{} s", d.as_secs_f64())
    }
}

/// `[default: the preset's: lan X, wan Y, local Z]` for a per-preset setting, in ms.
fn preset_defaults_ms(field: fn(&ProtocolConfig) -> Duration) -> String {
    let each: Vec<String> = Preset::ALL
        .iter()
        .map(|p| format!("{} {}", p.name(), field(&p.config()).as_millis()))
        .collect();
    format!("[default: the preset's: {}]", each.join(", "))
}

fn stable_after_help() -> String {
    format!(
        "How long the reachability picture must be unchanged before a downing \
         decision, in milliseconds {}",
        preset_defaults_ms(|c| c.downing.stable_after)
    )
}

fn max_pause_help() -> String {
    format!(
        "Pauses shorter than this never down a member, in milliseconds {}",
        preset_defaults_ms(|c| c.downing.max_pause)
    )
}

const ABOUT: &str = "The actix-cluster demo node: joins a cluster through etcd and serves a live \
membership page and a small HTTP API.";

const AFTER_HELP: &str = "\
Every flag can also be given by the environment variable shown in brackets.

HTTP endpoints (on HTTP_BIND):
  GET  /                              the live page
  GET  /healthz                       200 while the process is healthy
  GET  /readyz                        200 once this node is Up, 503 before and after
  GET  /api/members                   members, leader and this node's id as JSON
  GET  /api/events                    server-sent events: a snapshot, then every event
  GET  /api/discovery                 the etcd discovery status as JSON
  POST /api/members/<member id>/leave asks that member to leave gracefully
                                      (with HTTP_ADMIN_TOKEN set: only with
                                      `Authorization: Bearer <token>`, else 401)

Keys: `cluster-monitor keygen` prints a fresh key. Without CLUSTER_SECRET_KEYS
(or CLUSTER_SECRET_KEYS_FILE) gossip is plaintext and anyone who reaches the
gossip port can join, read and steer the cluster; the node says so at start.

SIGTERM or SIGINT makes the node leave the cluster gracefully and exit 0.
Logging: RUST_LOG (default info) filters; LOG_FORMAT=json writes JSON lines.
A variable set to the empty string (or only spaces) counts as unset.";

/// Environment variables the program reads outside its flags.
const OTHER_VARS: [&str; 1] = ["RUST_LOG"];

/// Every variable the program reads (its flags' and [`OTHER_VARS`]) that is
/// set to the empty string, or only spaces, as compose and Kubernetes templates
/// often leave them. They count as unset.
pub(crate) fn empty_vars() -> Vec<String> {
    use clap::CommandFactory as _;
    let cmd = Args::command();
    let flag_vars = cmd
        .get_arguments()
        .filter_map(|a| a.get_env())
        .map(|n| n.to_string_lossy().into_owned());
    flag_vars
        .chain(OTHER_VARS.iter().map(|n| (*n).to_owned()))
        .filter(|name| {
            std::env::var_os(name).is_some_and(|v| v.to_string_lossy().trim().is_empty())
        })
        .collect()
}

/// The raw flags.
#[derive(Debug, Parser)]
#[command(name = "cluster-monitor", version, about = ABOUT, after_help = AFTER_HELP)]
pub(crate) struct Args {
    #[command(subcommand)]
    pub(crate) command: Option<Command>,

    /// Role of this node: `frontend` or `backend`.
    #[arg(long, env = "CLUSTER_ROLE", value_name = "CLUSTER_ROLE", value_enum, default_value_t = Role::Backend)]
    pub(crate) cluster_role: Role,

    /// Name of the cluster; nodes with another name ignore this one. Also the
    /// cluster name under the etcd key prefix.
    #[arg(
        long,
        env = "CLUSTER_NAME",
        value_name = "CLUSTER_NAME",
        default_value = "cluster-monitor"
    )]
    pub(crate) cluster_name: String,

    /// Member name shown in the page. Default: the host name, followed by
    /// `-<http port>` when the HTTP port is not 8080 (several nodes on one host);
    /// a docker container id as host name becomes `<role>-<first 6 hex digits>`.
    #[arg(long, env = "NODE_NAME", value_name = "NODE_NAME")]
    pub(crate) node_name: Option<String>,

    /// Local gossip address (UDP and TCP on the same port); port 0 picks a free one.
    #[arg(
        long,
        env = "CLUSTER_BIND",
        value_name = "CLUSTER_BIND",
        default_value = "0.0.0.0:7946"
    )]
    pub(crate) cluster_bind: SocketAddr,

    /// Gossip address the others use to reach this node: `ip`, `ip:port`, `host`
    /// or `host:port` (a host name is resolved at start; without a port the bound
    /// gossip port is used). Default: the bound address, or, when binding
    /// 0.0.0.0, this machine's host name resolved (a container's own IP).
    #[arg(long, env = "CLUSTER_ADVERTISE", value_name = "CLUSTER_ADVERTISE")]
    pub(crate) cluster_advertise: Option<String>,

    /// Fallback seed gossip addresses (comma-separated `ip:port`), used when no
    /// etcd endpoints are given. Neither etcd nor seeds: the node forms a cluster alone.
    #[arg(
        long,
        env = "CLUSTER_SEEDS",
        value_name = "CLUSTER_SEEDS",
        value_delimiter = ','
    )]
    pub(crate) cluster_seeds: Vec<SocketAddr>,

    /// Protocol timing preset: `lan`, `wan` or `local`.
    #[arg(long, env = "CLUSTER_PROTOCOL", value_name = "CLUSTER_PROTOCOL", value_enum, default_value_t = Preset::Lan)]
    pub(crate) cluster_protocol: Preset,

    /// Downing strategy: `lease-majority` (etcd decides which side of a
    /// partition survives; the default with etcd), `keep-majority` (the
    /// default without etcd), `static-quorum:N`, `keep-oldest`,
    /// `keep-oldest:down-if-alone` or `down-all`.
    #[arg(long, env = "CLUSTER_DOWNING", value_name = "CLUSTER_DOWNING")]
    pub(crate) cluster_downing: Option<String>,

    // Help from the presets' values (`stable_after_help`).
    #[arg(
        long,
        env = "CLUSTER_STABLE_AFTER",
        value_name = "CLUSTER_STABLE_AFTER",
        help = stable_after_help()
    )]
    pub(crate) cluster_stable_after: Option<u64>,

    // Help from the presets' values (`max_pause_help`).
    #[arg(
        long,
        env = "CLUSTER_MAX_PAUSE",
        value_name = "CLUSTER_MAX_PAUSE",
        help = max_pause_help()
    )]
    pub(crate) cluster_max_pause: Option<u64>,

    /// What a member on a losing side does: `rejoin` (a new member, once it can
    /// reach the survivors; the default) or `stop` (the process exits).
    #[arg(long, env = "CLUSTER_ON_FENCED", value_name = "CLUSTER_ON_FENCED")]
    pub(crate) cluster_on_fenced: Option<String>,

    /// Cluster keys: comma-separated base64 32-byte keys, the first one seals
    /// (primary), every one opens. Every message is then authenticated and
    /// encrypted. Make one with `cluster-monitor keygen`.
    #[arg(
        long,
        env = "CLUSTER_SECRET_KEYS",
        value_name = "CLUSTER_SECRET_KEYS",
        hide_env_values = true
    )]
    pub(crate) cluster_secret_keys: Option<String>,

    /// A file holding the cluster keys in the form of CLUSTER_SECRET_KEYS
    /// (commas or one key a line), e.g. a mounted Kubernetes Secret.
    #[arg(
        long,
        env = "CLUSTER_SECRET_KEYS_FILE",
        value_name = "CLUSTER_SECRET_KEYS_FILE"
    )]
    pub(crate) cluster_secret_keys_file: Option<std::path::PathBuf>,

    /// With keys: `enforce` (the default: only sealed messages), `seal`
    /// (rollout step 2: seal, still accept plaintext) or `accept` (rollout
    /// step 1: send plaintext, accept sealed too).
    #[arg(long, env = "CLUSTER_KEYS_MODE", value_name = "CLUSTER_KEYS_MODE", value_enum, default_value_t = KeysMode::Enforce)]
    pub(crate) cluster_keys_mode: KeysMode,

    /// A bearer token that `POST /api/members/<id>/leave` must carry
    /// (`Authorization: Bearer <token>`); GET endpoints stay open. Unset:
    /// anyone who reaches the HTTP port can make members leave.
    #[arg(
        long,
        env = "HTTP_ADMIN_TOKEN",
        value_name = "HTTP_ADMIN_TOKEN",
        hide_env_values = true
    )]
    pub(crate) http_admin_token: Option<String>,

    /// HTTP listen address (page, API, probes); port 0 picks a free one.
    #[arg(
        long,
        env = "HTTP_BIND",
        value_name = "HTTP_BIND",
        default_value = "0.0.0.0:8080"
    )]
    pub(crate) http_bind: SocketAddr,

    /// HTTP address published to the others in the member metadata (key `http`),
    /// used to forward leave requests. Default: the advertised gossip host with the
    /// bound HTTP port.
    #[arg(long, env = "HTTP_ADVERTISE", value_name = "HTTP_ADVERTISE")]
    pub(crate) http_advertise: Option<String>,

    /// Events buffered per page stream; a browser that falls this far behind is
    /// disconnected (it reconnects and gets a fresh snapshot).
    #[arg(
        long,
        env = "SSE_BUFFER",
        value_name = "SSE_BUFFER",
        default_value_t = 256
    )]
    pub(crate) sse_buffer: usize,

    /// Longest time a graceful leave may take on SIGTERM, in seconds.
    #[arg(
        long,
        env = "SHUTDOWN_TIMEOUT",
        value_name = "SHUTDOWN_TIMEOUT",
        default_value_t = 5
    )]
    pub(crate) shutdown_timeout: u64,

    /// Log format on stderr: `text` (one readable line per event) or `json`
    /// (one JSON object per line; span fields such as the member id under
    /// `span` and `spans`). RUST_LOG filters either.
    #[arg(long, env = "LOG_FORMAT", value_name = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub(crate) log_format: LogFormat,

    #[command(flatten)]
    pub(crate) etcd: EtcdArgs,
}

/// etcd discovery settings: the `actix-cluster-etcd` configuration, one flag
/// per field. `CLUSTER_NAME` is shared with the cluster.
#[derive(Debug, Clone, Default, ClapArgs)]
#[command(next_help_heading = "etcd discovery (actix-cluster-etcd)")]
pub(crate) struct EtcdArgs {
    // The numbers in the help come from `DiscoveryConfig::default()` (`etcd_help`).
    /// etcd endpoints, comma-separated (e.g. `http://etcd:2379`). Unset: no etcd
    /// (the node joins CLUSTER_SEEDS, or forms a cluster alone).
    #[arg(long, env = "ETCD_ENDPOINTS", value_name = "ETCD_ENDPOINTS")]
    pub(crate) etcd_endpoints: Option<String>,
    /// A TOML file with the discovery settings (field names as keys); the flags
    /// and variables here override it.
    #[arg(long, env = "ETCD_CONFIG", value_name = "ETCD_CONFIG")]
    pub(crate) etcd_config: Option<std::path::PathBuf>,
    #[arg(
        long,
        env = "ETCD_PREFIX",
        value_name = "ETCD_PREFIX",
        help = etcd_help("Key prefix under which clusters register", |d| d.prefix.clone())
    )]
    pub(crate) etcd_prefix: Option<String>,
    #[arg(
        long,
        env = "ETCD_LEASE_TTL",
        value_name = "ETCD_LEASE_TTL",
        help = etcd_help("Lease TTL in seconds: a crashed node's registration vanishes within it", |d| d.lease_ttl_secs.to_string())
    )]
    pub(crate) etcd_lease_ttl: Option<String>,
    #[arg(
        long,
        env = "ETCD_CONNECT_TIMEOUT_MS",
        value_name = "ETCD_CONNECT_TIMEOUT_MS",
        help = etcd_help("Connect timeout in milliseconds", |d| d.connect_timeout_ms.to_string())
    )]
    pub(crate) etcd_connect_timeout_ms: Option<String>,
    #[arg(
        long,
        env = "ETCD_REQUEST_TIMEOUT_MS",
        value_name = "ETCD_REQUEST_TIMEOUT_MS",
        help = etcd_help("Request timeout in milliseconds", |d| d.request_timeout_ms.to_string())
    )]
    pub(crate) etcd_request_timeout_ms: Option<String>,
    #[arg(
        long,
        env = "ETCD_KEEP_ALIVE_INTERVAL_MS",
        value_name = "ETCD_KEEP_ALIVE_INTERVAL_MS",
        help = etcd_help("HTTP/2 keep-alive ping interval in milliseconds, at least 5000 (etcd's --grpc-keepalive-min-time), 0 for none", |d| d.keep_alive_interval_ms.to_string())
    )]
    pub(crate) etcd_keep_alive_interval_ms: Option<String>,
    #[arg(
        long,
        env = "ETCD_BACKOFF_MIN_MS",
        value_name = "ETCD_BACKOFF_MIN_MS",
        help = etcd_help("Smallest retry delay in milliseconds, doubled per failure", |d| d.backoff_min_ms.to_string())
    )]
    pub(crate) etcd_backoff_min_ms: Option<String>,
    #[arg(
        long,
        env = "ETCD_BACKOFF_MAX_MS",
        value_name = "ETCD_BACKOFF_MAX_MS",
        help = etcd_help("Largest retry delay in milliseconds", |d| d.backoff_max_ms.to_string())
    )]
    pub(crate) etcd_backoff_max_ms: Option<String>,
    #[arg(
        long,
        env = "ETCD_MAX_SEEDS",
        value_name = "ETCD_MAX_SEEDS",
        help = etcd_help("Most seed addresses handed to the cluster, oldest members first", |d| d.max_seeds.to_string())
    )]
    pub(crate) etcd_max_seeds: Option<String>,
    /// Gossip addresses (comma-separated ip:port) to join while etcd is unreachable at start.
    #[arg(long, env = "ETCD_FALLBACK_SEEDS", value_name = "ETCD_FALLBACK_SEEDS")]
    pub(crate) etcd_fallback_seeds: Option<String>,
    /// PEM file of the CA of etcd's server certificate (https endpoints).
    #[arg(long, env = "ETCD_CA_FILE", value_name = "ETCD_CA_FILE")]
    pub(crate) etcd_ca_file: Option<String>,
    /// PEM client certificate for mutual TLS (with ETCD_KEY_FILE).
    #[arg(long, env = "ETCD_CERT_FILE", value_name = "ETCD_CERT_FILE")]
    pub(crate) etcd_cert_file: Option<String>,
    /// PEM private key of the client certificate.
    #[arg(long, env = "ETCD_KEY_FILE", value_name = "ETCD_KEY_FILE")]
    pub(crate) etcd_key_file: Option<String>,
    /// etcd user name (with ETCD_PASSWORD).
    #[arg(long, env = "ETCD_USER", value_name = "ETCD_USER")]
    pub(crate) etcd_user: Option<String>,
    /// etcd password.
    #[arg(
        long,
        env = "ETCD_PASSWORD",
        value_name = "ETCD_PASSWORD",
        hide_env_values = true
    )]
    pub(crate) etcd_password: Option<String>,
}

/// An etcd flag's help with `[default: ...]` from [`DiscoveryConfig::default`],
/// so it cannot drift from the library's defaults.
fn etcd_help(text: &str, field: fn(&DiscoveryConfig) -> String) -> String {
    format!("{text} [default: {}]", field(&DiscoveryConfig::default()))
}

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
        if args.shutdown_timeout == 0 || args.shutdown_timeout > 300 {
            bail!(
                "SHUTDOWN_TIMEOUT (--shutdown-timeout) = {}: must be between 1 and 300 seconds",
                args.shutdown_timeout
            );
        }
        let etcd = args.etcd.discovery_config(&args.cluster_name)?;

        let cluster_advertise =
            match &args.cluster_advertise {
                Some(text) => Some(resolve_host_port(text).with_context(|| {
                    format!("CLUSTER_ADVERTISE (--cluster-advertise) = {text:?}")
                })?),
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

        let base = args.cluster_protocol.config();
        let mut protocol = ProtocolConfig {
            cluster_name: args.cluster_name.clone(),
            ..base
        };
        apply_downing(&args, etcd.is_some(), &mut protocol)?;
        apply_keys(&args, &mut protocol)?;
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
    fn help_names_the_presets_real_values() {
        use clap::CommandFactory as _;
        let help = Args::command().render_long_help().to_string();
        for preset in Preset::ALL {
            let c = preset.config();
            let line = help
                .lines()
                .find(|l| l.trim_start().starts_with(&format!("- {}:", preset.name())))
                .unwrap_or_else(|| panic!("no help line for {preset:?}:\n{help}"));
            for value in [
                format!("probes every {}", human(c.probe_interval)),
                format!("(timeout {})", human(c.probe_timeout)),
                format!(
                    "after {} to {} at 10 members",
                    human(c.suspicion_min_timeout(10)),
                    human(c.suspicion_max_timeout(10))
                ),
                format!(
                    "{} to {} at 1000",
                    human(c.suspicion_min_timeout(1000)),
                    human(c.suspicion_max_timeout(1000))
                ),
                format!("waits for {} without change", human(c.downing.stable_after)),
                format!("shorter than {} never", human(c.downing.max_pause)),
            ] {
                assert!(
                    line.contains(&value),
                    "{preset:?}: {value:?} not in {line:?}"
                );
            }
            for ms in [c.downing.stable_after, c.downing.max_pause] {
                let named = format!("{} {}", preset.name(), ms.as_millis());
                assert!(help.contains(&named), "{named:?} not in the help:\n{help}");
            }
        }
        // The lan line says what docs/PROTOCOL.md says: 200 ms probes.
        assert_eq!(
            ProtocolConfig::lan().probe_interval,
            Duration::from_millis(200)
        );
        assert!(help.contains("probes every 200 ms"), "{help}");
        assert!(!help.contains("1 s probe"), "{help}");
    }

    #[test]
    fn help_names_the_etcd_defaults() {
        use clap::CommandFactory as _;
        let help = Args::command().render_long_help().to_string();
        let d = DiscoveryConfig::default();
        for (flag, value) in [
            ("--etcd-prefix", d.prefix.clone()),
            ("--etcd-lease-ttl", d.lease_ttl_secs.to_string()),
            (
                "--etcd-connect-timeout-ms",
                d.connect_timeout_ms.to_string(),
            ),
            (
                "--etcd-request-timeout-ms",
                d.request_timeout_ms.to_string(),
            ),
            ("--etcd-backoff-min-ms", d.backoff_min_ms.to_string()),
            ("--etcd-backoff-max-ms", d.backoff_max_ms.to_string()),
            ("--etcd-max-seeds", d.max_seeds.to_string()),
        ] {
            let at = help.find(&format!("{flag} <")).expect(flag);
            let next = help[at..].lines().nth(1).unwrap_or_default();
            assert!(
                next.ends_with(&format!("[default: {value}]")),
                "{flag}: {next:?}"
            );
        }
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(human(Duration::from_millis(200)), "200 ms");
        assert_eq!(human(Duration::from_secs(3)), "3 s");
        assert_eq!(human(Duration::from_millis(1500)), "1.5 s");
    }

    #[test]
    fn log_format_flag() {
        let a = Args::try_parse_from(["cluster-monitor"]).unwrap();
        assert_eq!(a.log_format, LogFormat::Text);
        let a = Args::try_parse_from(["cluster-monitor", "--log-format", "json"]).unwrap();
        assert_eq!(a.log_format, LogFormat::Json);
        let err = Args::try_parse_from(["cluster-monitor", "--log-format", "xml"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("LOG_FORMAT"), "{err}");
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
