//! Harness for the cluster-monitor demo tests: the `cluster-monitor` binary as
//! child processes, a small blocking HTTP client, a server-sent-events reader,
//! docker compose, and headless Chromium driven over the DevTools protocol.
//!
//! One file per concern: `http` (the blocking HTTP client and the event
//! stream reader), `monitor` (the child processes), `browser` (Chromium),
//! `compose` (docker compose), `tools` (the ticker singleton, the work
//! router and the fenced resource), and `support` (waiting, paths, temporary
//! directories, the demo images).

mod browser;
mod compose;
mod http;
mod monitor;
mod support;
mod tools;

pub use self::browser::{chromium_binary, Browser};
pub use self::compose::Compose;
pub use self::http::{
    encode, event_snapshot, http, http_with, members, with_status, EventStream, Response,
};
pub use self::monitor::Monitor;
pub use self::support::{
    artifacts_dir, docker_available, ensure_demo_images, monitor_binary, monitor_binary_release,
    target_dir, wait_for, TempDir,
};
pub use self::tools::{fenced_write, host_token_ticks, singleton, token_key, token_value, work};
