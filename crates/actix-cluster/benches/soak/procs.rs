//! The bench's child processes: spawning and talking to a node, reading
//! what it prints, and its RSS and CPU time from `/proc`.

use super::*;

impl NodeProc {
    pub(super) fn spawn(name: &str, seed: Option<SocketAddr>) -> Result<NodeProc, String> {
        let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
        let mut cmd = Command::new(exe);
        cmd.arg("node").arg(name);
        if let Some(s) = seed {
            cmd.arg(s.to_string());
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("spawning {name}: {e}"))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let first = lines
            .recv_timeout(Duration::from_secs(20))
            .map_err(|_| format!("{name} never said its address"))?;
        let addr = first
            .strip_prefix("addr ")
            .and_then(|a| a.parse().ok())
            .ok_or_else(|| format!("{name}: unexpected first line {first:?}"))?;
        Ok(NodeProc {
            stdin: child.stdin.take(),
            child,
            lines,
            addr,
        })
    }

    pub(super) fn pid(&self) -> u32 {
        self.child.id()
    }

    pub(super) fn tell(&mut self, line: &str) -> Result<(), String> {
        let stdin = self.stdin.as_mut().ok_or("stdin closed")?;
        writeln!(stdin, "{line}").map_err(|e| format!("telling the target {line:?}: {e}"))
    }

    pub(super) fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub(super) fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for NodeProc {
    fn drop(&mut self) {
        self.kill();
    }
}

pub(super) fn parse_line(line: &str) -> Line {
    let mut words = line.split_whitespace();
    match words.next() {
        Some("up") => words
            .next()
            .and_then(|a| a.parse().ok())
            .map_or(Line::Other, Line::Up),
        Some("unreachable") => words
            .next()
            .and_then(|a| a.parse().ok())
            .map_or(Line::Other, Line::Unreachable),
        Some("down") => words
            .next()
            .and_then(|a| a.parse().ok())
            .map_or(Line::Other, Line::Down),
        Some("sample") => {
            let n: Vec<usize> = words.filter_map(|w| w.parse().ok()).collect();
            match n[..] {
                [members, live, timers] => Line::Sample {
                    members,
                    live,
                    timers,
                },
                _ => Line::Other,
            }
        }
        Some("report") => {
            let words: Vec<&str> = words.collect();
            node::take_report(&words).map_or(Line::Other, Line::Report)
        }
        _ => Line::Other,
    }
}

/// RSS in kB and CPU time (user + system) in clock ticks of `pid`.
pub(super) fn proc_usage(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces: count fields
    // after its closing one (utime and stime are fields 14 and 15).
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((rss, utime + stime))
}

/// Clock ticks per second (for `/proc/<pid>/stat`).
pub(super) fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}
