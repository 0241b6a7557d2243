//! A nats-server with JetStream on a free port and its own store directory,
//! with the default fsync policy or `sync_interval: always`.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// The nats-server binary: `explicit`, `CONCORD_NATS_SERVER`, one on PATH,
/// or the pinned one `make test-deps` installs into `.tools/venv/bin`.
pub fn binary(explicit: Option<&Path>) -> Result<PathBuf> {
    if let Some(p) = explicit {
        return Ok(p.to_path_buf());
    }
    if let Some(p) = std::env::var_os("CONCORD_NATS_SERVER") {
        return Ok(p.into());
    }
    if let Some(path) = std::env::var_os("PATH")
        && let Some(found) = std::env::split_paths(&path).map(|d| d.join("nats-server")).find(|c| c.is_file())
    {
        return Ok(found);
    }
    let venv = super::workspace().join(".tools/venv/bin/nats-server");
    if venv.is_file() {
        return Ok(venv);
    }
    bail!("no nats-server on PATH or in {}: run `make bench-deps`", venv.display())
}

/// A running nats-server; killed when dropped.
pub struct NatsServer {
    /// Its client port.
    pub port: u16,
    store: PathBuf,
    log: PathBuf,
    child: Child,
}

impl NatsServer {
    /// Starts a server whose config and JetStream store live in `dir`;
    /// `sync_always` sets `sync_interval: always`.
    pub fn start(binary: &Path, dir: &Path, sync_always: bool) -> Result<NatsServer> {
        let mut last = String::new();
        for _ in 0..5 {
            match Self::try_start(binary, dir, sync_always) {
                Ok(server) => return Ok(server),
                Err(e) => last = format!("{e:#}"),
            }
        }
        bail!("nats-server would not start: {last}")
    }

    fn try_start(binary: &Path, dir: &Path, sync_always: bool) -> Result<NatsServer> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let port = super::free_port()?;
        let store = dir.join("jetstream");
        let sync = if sync_always { "\n  sync_interval: always" } else { "" };
        let config = dir.join("nats.conf");
        std::fs::write(
            &config,
            format!(
                "listen: 127.0.0.1:{port}\nmax_payload: 4MB\njetstream {{\n  store_dir: \"{}\"{sync}\n}}\n",
                store.display()
            ),
        )
        .with_context(|| format!("writing {}", config.display()))?;
        let log = dir.join("nats-server.log");
        let stderr = std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let child = Command::new(binary)
            .arg("-c")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let mut server = NatsServer { port, store, log, child };
        let deadline = Instant::now() + Duration::from_secs(15);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = server.child.try_wait() {
                bail!("nats-server exited with {status}: {}", std::fs::read_to_string(&server.log).unwrap_or_default());
            }
            if Instant::now() > deadline {
                bail!("nats-server did not listen on {port} within 15 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(server)
    }

    /// The client URL.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Bytes its JetStream store takes on disk.
    pub fn store_bytes(&self) -> u64 {
        super::disk_bytes(&self.store)
    }

    /// Its peak resident memory, bytes.
    pub fn peak_memory(&self) -> Result<u64> {
        super::peak_memory(self.child.id())
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        super::stop(&mut self.child, "TERM", Duration::from_secs(10));
    }
}
