//! `concord` commands as child processes (`ledger`, `up`): starting and
//! stopping them, when they are ready, their metrics and peak memory.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// The `concord` binary: `explicit`, or the one built beside this benchmark.
pub fn binary(explicit: Option<&Path>) -> Result<PathBuf> {
    if let Some(p) = explicit {
        return Ok(p.to_path_buf());
    }
    let exe = std::env::current_exe().context("locating this program")?;
    let beside = exe.with_file_name("concord");
    anyhow::ensure!(
        beside.is_file(),
        "no concord binary at {}: build it with `cargo build --release -p concord` (make bench does)",
        beside.display()
    );
    Ok(beside)
}

/// A running `concord` process; killed when dropped.
pub struct Proc {
    name: String,
    log: PathBuf,
    child: Child,
}

impl Proc {
    /// Starts `concord <args>`, its stderr going to `<dir>/<name>.log`.
    pub fn spawn(binary: &Path, name: &str, dir: &Path, args: &[String]) -> Result<Proc> {
        let log = dir.join(format!("{name}.log"));
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .with_context(|| format!("creating {}", log.display()))?;
        let child = Command::new(binary)
            .args(args)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .with_context(|| format!("starting concord {name}"))?;
        Ok(Proc { name: name.to_string(), log, child })
    }

    /// Its peak resident memory so far, bytes.
    pub fn peak_memory(&self) -> Result<u64> {
        super::peak_memory(self.child.id())
    }

    /// CPU time it has used so far, seconds (from /proc/PID/stat).
    pub fn cpu_secs(&self) -> Result<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))?;
        // Fields after the command name (which is in parentheses): utime and stime are the 12th and 13th.
        let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or_default();
        Ok((ticks(11) + ticks(12)) / 100.0)
    }

    /// Waits (up to `limit`) until it uses under 5% of a core over a second:
    /// what it does on its own after starting (e.g. `concord up`'s daily
    /// briefings) is over before anything is measured against it.
    pub async fn settle(&mut self, limit: Duration) -> Result<()> {
        let deadline = Instant::now() + limit;
        let mut before = self.cpu_secs()?;
        while Instant::now() < deadline {
            tokio::time::sleep(Duration::from_secs(1)).await;
            self.check_running()?;
            let now = self.cpu_secs()?;
            if now - before < 0.05 {
                return Ok(());
            }
            before = now;
        }
        Ok(())
    }

    /// Fails (with its log) if it has exited.
    pub fn check_running(&mut self) -> Result<()> {
        if let Ok(Some(status)) = self.child.try_wait() {
            bail!("concord {} exited with {status}:\n{}", self.name, self.output());
        }
        Ok(())
    }

    /// SIGTERM, then waits for it to finish (killed after a minute).
    pub fn stop(&mut self) {
        super::stop(&mut self.child, "TERM", Duration::from_secs(60));
    }

    /// What it wrote to stderr.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until the gRPC health check at `addr` answers SERVING; returns when.
pub async fn wait_serving(proc: &mut Proc, addr: SocketAddr, limit: Duration) -> Result<Instant> {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(channel) = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))?.connect().await {
            let answer = HealthClient::new(channel).check(HealthCheckRequest { service: String::new() }).await;
            if answer.is_ok_and(|a| a.into_inner().status == ServingStatus::Serving as i32) {
                return Ok(Instant::now());
            }
        }
        proc.check_running()?;
        if Instant::now() > deadline {
            bail!("concord was not SERVING on {addr} within {limit:?}:\n{}", proc.output());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
