//! `cluster-monitor`: the actix-cluster demo node. One binary for the frontend
//! and backend roles; every node serves the page, the JSON API and the probes.
//! See `cluster-monitor --help` and docs/DEMO.md.

mod cli;
mod discovery;
mod fence;
mod http;
mod listener;
mod metrics;
mod ping;
mod proxy;
mod remote;
mod settings;
mod ticker;
mod views;
mod work;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use actix_cluster::{Cluster, ClusterConfig, GetSelf, Leave, SelfInfo, Subscribe};
use actix_cluster_tools::Topics;
use actix_rt::signal::unix::{signal, SignalKind};
use actix_web::{web, App, HttpServer};
use anyhow::Context as _;
use clap::Parser;
use tokio::sync::mpsc;

use crate::cli::{Args, Command, LogFormat};
use crate::discovery::Discovery;
use crate::http::{AppState, Shutdown};
use crate::listener::{CloseAll, CurrentSelf, Listener};
use crate::settings::Settings;

fn main() -> ExitCode {
    // An empty variable means "unset", for every variable: drop them before the
    // flags are parsed (no other thread runs yet).
    for name in cli::empty_vars() {
        std::env::remove_var(name);
    }
    let args = Args::parse();
    if let Some(Command::Keygen) = args.command {
        return keygen();
    }
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false);
    match args.log_format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .init(),
    }
    let settings = match Settings::from_args(args) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("cluster-monitor: invalid configuration: {e:#}");
            return ExitCode::from(2);
        }
    };
    let result = actix_rt::System::new().block_on(run(settings));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cluster-monitor: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Prints a fresh key from the operating system's random source.
fn keygen() -> ExitCode {
    use rand::RngCore;
    let mut bytes = [0u8; actix_cluster::KEY_LEN];
    if let Err(e) = rand::rngs::OsRng.try_fill_bytes(&mut bytes) {
        eprintln!("cluster-monitor keygen: no randomness from the operating system: {e}");
        return ExitCode::FAILURE;
    }
    println!("{}", actix_cluster::Key::from_bytes(bytes).to_base64());
    ExitCode::SUCCESS
}

async fn run(settings: Settings) -> anyhow::Result<()> {
    let metrics = metrics::install().context("cannot install the metrics recorder")?;
    // Bind HTTP first: the member publishes the real port in its metadata.
    let http_listener = std::net::TcpListener::bind(settings.http_bind)
        .with_context(|| format!("HTTP_BIND {}: cannot bind", settings.http_bind))?;
    let http_bound = http_listener.local_addr()?;
    let http_published = settings.published_http(http_bound);
    let name = settings.member_name(http_bound.port());

    let (cluster, me, cluster_config) =
        start_cluster(&settings, name, http_bound, http_published).await?;

    let ready = Arc::new(AtomicBool::new(false));
    let current = CurrentSelf::new(me.id.clone());
    let listener = Listener::new(current.clone(), ready.clone(), settings.sse_buffer).start();
    cluster
        .send(Subscribe {
            events: Some(listener.clone().recipient()),
            ..Default::default()
        })
        .await?;

    let frontend = settings.role.as_str() == "frontend";
    let remote =
        remote::DemoRemote::start(cluster.clone(), &cluster_config, listener.clone(), frontend)
            .await?;
    let discovery = Discovery::start(&settings, &cluster).await?;
    let (ticker, work) = start_tools(&settings, &remote, &discovery, frontend).await?;

    let (shutdown_tx, mut shutdown_rx) = mpsc::unbounded_channel();
    let state = AppState {
        cluster: cluster.clone(),
        listener: listener.clone(),
        self_id: current,
        role: settings.role.as_str(),
        ready: ready.clone(),
        shutdown: shutdown_tx.clone(),
        discovery: discovery.clone(),
        remote,
        ticker: ticker.clone(),
        work,
        admin_token: settings.admin_token.as_ref().map(|t| Arc::from(t.as_str())),
        metrics,
    };
    if settings.admin_token.is_none() {
        tracing::warn!(
            "HTTP_ADMIN_TOKEN is not set: anyone who reaches the HTTP port can make members leave"
        );
    }
    let server = http_server(state, http_listener)?;
    let server_handle = server.handle();
    let server_task = actix_rt::spawn(server);

    forward_signals(&shutdown_tx)?;

    let reason = tokio::select! {
        reason = shutdown_rx.recv() => reason,
        result = server_task => {
            result.context("HTTP server task")?.context("HTTP server")?;
            None
        }
    };
    tracing::info!(?reason, "leaving the cluster");
    if reason == Some(Shutdown::LeaveRequested) {
        // Let the 202 answer reach the caller first.
        actix_rt::time::sleep(Duration::from_millis(100)).await;
    }
    listener.do_send(CloseAll);
    leave(&cluster, &ticker, settings.shutdown_timeout).await;
    let _ = tokio::time::timeout(Duration::from_secs(2), discovery.stop()).await;
    let _ = tokio::time::timeout(Duration::from_secs(2), server_handle.stop(true)).await;
    System::current().stop();
    tracing::info!("bye");
    Ok(())
}

/// The cluster tools: the ticks topic, the ticker singleton (instances on
/// backends, claimed and fenced in etcd when there is etcd), the workers (on
/// backends) and their router.
async fn start_tools(
    settings: &Settings,
    remote: &remote::DemoRemote,
    discovery: &Discovery,
    frontend: bool,
) -> anyhow::Result<(ticker::DemoTicker, work::DemoWork)> {
    let topics = Topics::start(&remote.handle);
    let etcd = match (&settings.etcd, discovery) {
        (Some(config), Discovery::Etcd { actor, .. }) if !frontend => Some((config, actor)),
        _ => None,
    };
    let fence = etcd.and_then(|(config, _)| fence::Fence::start(Some(config)));
    let ticker = ticker::DemoTicker::start(&remote.handle, &topics, "backend", etcd, fence).await?;
    let work = work::DemoWork::start(&remote.handle, !frontend);
    Ok((ticker, work))
}

/// Starts the cluster node as `name`, its HTTP address `http_published` in
/// its metadata, and logs what it bound.
async fn start_cluster(
    settings: &Settings,
    name: String,
    http_bound: SocketAddr,
    http_published: SocketAddr,
) -> anyhow::Result<(Addr<Cluster>, SelfInfo, ClusterConfig)> {
    let mut cluster_config = ClusterConfig::new(name, settings.cluster_bind)
        .with_protocol(settings.protocol.clone())
        .with_role(settings.role.as_str())
        .with_metadata("http", http_published.to_string());
    let transport = &mut cluster_config.transport;
    transport.max_incoming_per_ip = settings.max_incoming_per_ip;
    transport.max_incoming = transport.max_incoming.max(settings.max_incoming_per_ip);
    if let Some(advertise) = settings.cluster_advertise {
        cluster_config = cluster_config.with_advertise(advertise);
    }
    let cluster = Cluster::start(cluster_config.clone())
        .await
        .with_context(|| {
            format!(
                "CLUSTER_BIND {}: cannot start the cluster node",
                settings.cluster_bind
            )
        })?;
    let me = cluster.send(GetSelf).await?;
    tracing::info!(
        id = %me.id,
        role = settings.role.as_str(),
        gossip = %me.bound,
        http = %http_bound,
        published_http = %http_published,
        "node started"
    );
    Ok((cluster, me, cluster_config))
}

/// The HTTP server on the bound listener (its own signal handling off: the
/// node's shutdown path stops it).
fn http_server(
    state: AppState,
    listener: std::net::TcpListener,
) -> std::io::Result<actix_web::dev::Server> {
    Ok(HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(state.clone()))
            .configure(http::routes)
            .default_service(web::to(http::not_found))
    })
    .workers(2)
    .disable_signals()
    .shutdown_timeout(1)
    .listen(listener)?
    .run())
}

/// Turns SIGTERM and SIGINT into a shutdown request on `shutdown_tx`.
fn forward_signals(shutdown_tx: &mpsc::UnboundedSender<Shutdown>) -> anyhow::Result<()> {
    for (kind, label) in [
        (SignalKind::terminate(), "SIGTERM"),
        (SignalKind::interrupt(), "SIGINT"),
    ] {
        let mut stream = signal(kind).context("cannot install a signal handler")?;
        let tx = shutdown_tx.clone();
        actix_rt::spawn(async move {
            if stream.recv().await.is_some() {
                let _ = tx.send(Shutdown::Signal(label));
            }
        });
    }
    Ok(())
}

/// Hands the ticker over, then leaves the cluster gracefully, waiting at
/// most `timeout` for each.
async fn leave(cluster: &Addr<Cluster>, ticker: &ticker::DemoTicker, timeout: Duration) {
    if tokio::time::timeout(timeout, ticker.hand_over())
        .await
        .is_err()
    {
        tracing::warn!("the ticker's handover did not finish in time; leaving anyway");
    }
    match tokio::time::timeout(timeout, cluster.send(Leave)).await {
        Ok(Ok(())) => tracing::info!("left the cluster"),
        Ok(Err(e)) => tracing::warn!("leave failed: {e}"),
        Err(_) => tracing::warn!("leave not confirmed within {:?}; stopping anyway", timeout),
    }
}
