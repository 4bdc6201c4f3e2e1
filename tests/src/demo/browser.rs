//! Headless Chromium driven over the DevTools protocol.

use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use super::http::http;
use super::support::{wait_for, TempDir};
use crate::etcd::free_port;

/// Headless Chromium driven over the DevTools protocol (a websocket).
pub struct Browser {
    child: Child,
    socket: tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<TcpStream>>,
    next_id: u64,
    _profile: TempDir,
}

/// The Chromium binary: `$CHROMIUM`, or `chromium` / `chromium-browser` / `google-chrome` on PATH.
pub fn chromium_binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let paths = std::env::var_os("PATH")?;
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .flat_map(|b| std::env::split_paths(&paths).map(move |p| p.join(b)))
        .find(|p| p.is_file())
}

impl Browser {
    /// Starts headless Chromium with a `width`x`height` window.
    pub fn start(width: u32, height: u32) -> Browser {
        let bin = chromium_binary()
            .expect("chromium not found: apt-get install chromium (or set CHROMIUM)");
        let profile = TempDir::new("chromium");
        let port = free_port();
        // Its own process group: the launcher is a shell script and Chromium
        // runs several processes; the whole group is killed on drop.
        let child = Command::new(bin)
            .process_group(0)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--hide-scrollbars",
                "--no-first-run",
                "--mute-audio",
                &format!("--remote-debugging-port={port}"),
                &format!("--user-data-dir={}", profile.0.display()),
                &format!("--window-size={width},{height}"),
                "about:blank",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromium starts");
        let devtools: SocketAddr = ([127, 0, 0, 1], port).into();
        let ws_url = wait_for(
            "chromium DevTools endpoint",
            Duration::from_secs(30),
            || {
                let r = http("GET", devtools, "/json/list")?;
                let list: Value = serde_json::from_str(&r.body).map_err(|e| e.to_string())?;
                list.as_array()
                    .and_then(|l| l.iter().find(|t| t["type"] == "page"))
                    .and_then(|t| t["webSocketDebuggerUrl"].as_str())
                    .map(str::to_owned)
                    .ok_or_else(|| format!("no page target yet: {}", r.body))
            },
        );
        let (socket, _) = tungstenite::connect(ws_url.as_str()).expect("DevTools websocket");
        if let tungstenite::stream::MaybeTlsStream::Plain(s) = socket.get_ref() {
            let _ = s.set_read_timeout(Some(Duration::from_secs(30)));
        }
        let mut browser = Browser {
            child,
            socket,
            next_id: 0,
            _profile: profile,
        };
        browser.call(
            "Emulation.setDeviceMetricsOverride",
            serde_json::json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": false}),
        );
        browser
    }

    /// One DevTools command; returns its `result` (events are skipped).
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let msg = serde_json::json!({"id": id, "method": method, "params": params});
        self.socket
            .send(tungstenite::Message::text(msg.to_string()))
            .expect("DevTools send");
        loop {
            let reply = self.socket.read().expect("DevTools reply");
            let tungstenite::Message::Text(text) = reply else {
                continue;
            };
            let v: Value = serde_json::from_str(text.as_str()).expect("DevTools JSON");
            if v["id"] == id {
                if let Some(err) = v.get("error") {
                    panic!("DevTools {method} failed: {err}");
                }
                return v["result"].clone();
            }
        }
    }

    /// The page's member tiles (`id`, `name`, `status` each) when exactly
    /// `up` of them show `up`; else what it shows, for a `wait_for` message.
    pub fn tiles_when_up(&mut self, up: usize) -> Result<Value, String> {
        let tiles = self.eval(
            "JSON.stringify([...document.querySelectorAll('#grid .tile')].map(t => ({id: t.dataset.id, \
             name: t.querySelector('.name').textContent, status: t.dataset.status})))",
        );
        let tiles: Value = serde_json::from_str(tiles.as_str().unwrap_or("[]")).unwrap_or_default();
        let shown = tiles
            .as_array()
            .map_or(0, |ts| ts.iter().filter(|t| t["status"] == "up").count());
        (shown == up)
            .then_some(tiles.clone())
            .ok_or(tiles.to_string())
    }

    /// Evaluates a JavaScript expression in the page; returns its value.
    pub fn eval(&mut self, expression: &str) -> Value {
        let r = self.call(
            "Runtime.evaluate",
            serde_json::json!({"expression": expression, "returnByValue": true, "awaitPromise": true}),
        );
        if let Some(ex) = r.get("exceptionDetails") {
            panic!("page script failed: {ex}");
        }
        r["result"]["value"].clone()
    }

    /// Opens `url`.
    pub fn navigate(&mut self, url: &str) {
        self.call("Page.navigate", serde_json::json!({"url": url}));
    }

    /// A real mouse click (pressed and released) at page coordinates.
    pub fn click_at(&mut self, x: f64, y: f64) {
        for kind in ["mouseMoved", "mousePressed", "mouseReleased"] {
            self.call(
                "Input.dispatchMouseEvent",
                serde_json::json!({"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1}),
            );
        }
    }

    /// Saves a PNG screenshot of the whole page.
    pub fn screenshot(&mut self, path: &Path) {
        let r = self.call(
            "Page.captureScreenshot",
            serde_json::json!({"format": "png", "captureBeyondViewport": true}),
        );
        let data = r["data"].as_str().expect("screenshot data");
        std::fs::write(path, base64_decode(data)).expect("write screenshot");
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.socket.close(None);
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0;
    for c in text.bytes().filter_map(value) {
        acc = (acc << 6) | c;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}
