//! The command line: every flag, each with an environment variable of the
//! same meaning, and the help text made from the library's own defaults. The
//! checks and the resolution of these raw values are in `settings`.

use std::net::SocketAddr;
use std::time::Duration;

use actix_cluster::ProtocolConfig;
use actix_cluster_etcd::DiscoveryConfig;
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

/// Steps of moving a plaintext cluster to keys (see docs/OPERATING.md, "Security").
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

    /// Incoming gossip TCP connections (joins, full-state exchange) one IP
    /// address may hold open at once. Raise it when many members share one
    /// address, e.g. a hundred processes on loopback.
    #[arg(
        long,
        env = "CLUSTER_MAX_INCOMING_PER_IP",
        value_name = "CLUSTER_MAX_INCOMING_PER_IP",
        default_value_t = actix_cluster::TransportConfig::default().max_incoming_per_ip
    )]
    pub(crate) cluster_max_incoming_per_ip: usize,

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
        env = "ETCD_ARBITER_PROBE_TIMEOUT_MS",
        value_name = "ETCD_ARBITER_PROBE_TIMEOUT_MS",
        help = etcd_help("How long a partition's minority waits for etcd to answer before it fences itself, in milliseconds", |d| d.arbiter_probe_timeout_ms.to_string())
    )]
    pub(crate) etcd_arbiter_probe_timeout_ms: Option<String>,
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

#[cfg(test)]
mod tests {
    use super::*;

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
            (
                "--etcd-arbiter-probe-timeout-ms",
                d.arbiter_probe_timeout_ms.to_string(),
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
}
