//! A throwaway PostgreSQL cluster (Debian's server package, unpacked into
//! `.tools/` by `make bench-deps`) on a temp dir, reached over a unix socket
//! in that dir, with PostgreSQL's default (durable) settings.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// The directory of `postgres` and `initdb`: `explicit`,
/// `CONCORD_BENCH_PG_BIN`, the package `make bench-deps` unpacked into
/// `.tools/postgresql`, or a system-wide one.
pub fn bin_dir(explicit: Option<&Path>) -> Result<PathBuf> {
    if let Some(p) = explicit {
        return Ok(p.to_path_buf());
    }
    if let Some(p) = std::env::var_os("CONCORD_BENCH_PG_BIN") {
        return Ok(p.into());
    }
    let unpacked = super::workspace().join(".tools/postgresql/usr/lib/postgresql");
    for root in [unpacked, PathBuf::from("/usr/lib/postgresql")] {
        let mut versions: Vec<PathBuf> = std::fs::read_dir(&root)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path().join("bin"))
            .filter(|bin| bin.join("postgres").is_file())
            .collect();
        versions.sort();
        if let Some(bin) = versions.pop() {
            return Ok(bin);
        }
    }
    bail!("no PostgreSQL server found: run `make bench-deps` (it unpacks Debian's postgresql package into .tools/)")
}

/// Libraries unpacked beside the server (e.g. libpq), for LD_LIBRARY_PATH.
fn library_path() -> Option<String> {
    let lib = super::workspace().join(".tools/postgresql/usr/lib/x86_64-linux-gnu");
    if !lib.is_dir() {
        return None;
    }
    let mut path = lib.display().to_string();
    if let Some(old) = std::env::var_os("LD_LIBRARY_PATH") {
        path = format!("{path}:{}", old.to_string_lossy());
    }
    Some(path)
}

/// The user PostgreSQL runs as when we are root (it refuses root).
fn server_user() -> Option<(String, String)> {
    if !super::running_as_root() {
        return None;
    }
    let group_of = |user: &str| {
        Command::new("id")
            .args(["-gn", user])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    for user in ["postgres", "nobody"] {
        if let Some(group) = group_of(user) {
            return Some((user.to_string(), group));
        }
    }
    None
}

/// A command run as the server user (when we are root), with the unpacked libraries.
fn command(program: &Path, user: &Option<(String, String)>) -> Command {
    let mut cmd = match user {
        Some((user, group)) => {
            let mut c = Command::new("setpriv");
            c.arg(format!("--reuid={user}")).arg(format!("--regid={group}")).arg("--init-groups").arg(program);
            c
        }
        None => Command::new(program),
    };
    if let Some(path) = library_path() {
        cmd.env("LD_LIBRARY_PATH", path);
    }
    cmd
}

/// A running PostgreSQL server; stopped (fast shutdown) when dropped.
pub struct Postgres {
    port: u16,
    socket: PathBuf,
    child: Child,
}

impl Postgres {
    /// Creates a cluster in `dir` (which must not exist) and starts it.
    pub async fn start(bin: &Path, dir: &Path) -> Result<Postgres> {
        let user = server_user();
        let (data, socket) = (dir.join("data"), dir.join("socket"));
        super::open_dir(dir)?;
        super::open_dir(&socket)?;
        if let Some((user, group)) = &user {
            let owner = format!("{user}:{group}");
            let status = Command::new("chown").args(["-R", &owner]).arg(dir).status().context("running chown")?;
            anyhow::ensure!(status.success(), "chown {owner} {} failed", dir.display());
        }
        let out = command(&bin.join("initdb"), &user)
            .arg("-D")
            .arg(&data)
            .args(["-U", "bench", "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync"])
            .output()
            .context("running initdb")?;
        if !out.status.success() {
            bail!("initdb failed: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        }
        let port = super::free_port()?;
        let log = dir.join("postgres.log");
        let stderr = std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let child = command(&bin.join("postgres"), &user)
            .arg("-D")
            .arg(&data)
            .arg("-p")
            .arg(port.to_string())
            .arg("-k")
            .arg(&socket)
            .args(["-c", "listen_addresses="])
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .context("starting postgres")?;
        let mut server = Postgres { port, socket, child };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match server.connect().await {
                Ok(_) => return Ok(server),
                Err(e) if Instant::now() > deadline => {
                    bail!("PostgreSQL did not accept connections: {e:#}\n{}", std::fs::read_to_string(&log)?)
                }
                Err(_) => {}
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                bail!("postgres exited with {status}: {}", std::fs::read_to_string(&log).unwrap_or_default());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A new connection (its connection task runs on the current runtime).
    pub async fn connect(&self) -> Result<tokio_postgres::Client> {
        let (client, connection) = tokio_postgres::Config::new()
            .host_path(&self.socket)
            .port(self.port)
            .user("bench")
            .dbname("postgres")
            .connect(tokio_postgres::NoTls)
            .await
            .context("connecting to PostgreSQL")?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(client)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        super::stop(&mut self.child, "INT", Duration::from_secs(30));
    }
}
