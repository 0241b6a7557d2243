//! `concord` commands as real child processes, killed when the test ends,
//! with their stderr kept and shown if the test fails.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A running `concord` process.
pub struct Proc {
    pub name: String,
    child: Option<Child>,
    log: PathBuf,
    args: Vec<String>,
    level: String,
    env: Vec<(String, String)>,
}

impl Proc {
    /// Starts `concord <args>`, its stderr going to `<dir>/<name>.log`.
    pub fn spawn(name: &str, dir: &Path, args: &[String]) -> Proc {
        Self::spawn_logging(name, dir, args, "warn")
    }

    /// Starts `concord <args>` logging at `level` (`RUST_LOG`).
    pub fn spawn_logging(name: &str, dir: &Path, args: &[String], level: &str) -> Proc {
        Self::spawn_with_env(name, dir, args, level, &[])
    }

    /// Starts `concord <args>` logging at `level`, with `env` set.
    pub fn spawn_with_env(name: &str, dir: &Path, args: &[String], level: &str, env: &[(&str, String)]) -> Proc {
        let mut p = Proc {
            name: name.to_string(),
            child: None,
            log: dir.join(format!("{name}.log")),
            args: args.to_vec(),
            level: level.to_string(),
            env: env.iter().map(|(k, v)| (k.to_string(), v.clone())).collect(),
        };
        p.start();
        p
    }

    /// Sends a signal by name (`HUP`, `TERM`, ...).
    pub fn signal(&self, name: &str) {
        let child = self.child.as_ref().expect("the process is running");
        let sent = Command::new("kill").arg(format!("-{name}")).arg(child.id().to_string()).status().unwrap();
        assert!(sent.success(), "kill -{name} failed");
    }

    /// Whether it is still running.
    pub fn running(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| c.try_wait().ok().flatten().is_none())
    }

    /// Waits up to `seconds` for its stderr to contain `text`.
    pub fn wait_for_output(&self, text: &str, seconds: u64) -> String {
        for _ in 0..seconds * 10 {
            let out = self.output();
            if out.contains(text) {
                return out;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("{} never said `{text}`:\n{}", self.name, self.output());
    }

    /// Starts the process again with the same arguments (after a kill).
    pub fn start(&mut self) {
        assert!(self.child.is_none(), "{} is running", self.name);
        let file = std::fs::OpenOptions::new().create(true).append(true).open(&self.log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_concord"))
            .args(&self.args)
            .env("RUST_LOG", &self.level)
            // The CA of the deploy NATS servers (`--nats-ca`): every process test runs over TLS.
            .env("CONCORD_NATS_CA", super::nats::certs().join("ca.pem"))
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .unwrap();
        self.child = Some(child);
    }

    /// SIGKILL: the process gets no chance to finish anything.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, and waits for a clean exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
            let status = child.wait().unwrap();
            assert!(status.success(), "{} exited with {status}:\n{}", self.name, self.output());
        }
    }

    /// What it wrote to stderr so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!("--- {} ---\n{}", self.name, self.output());
        }
    }
}

/// Runs `concord <args>` to completion.
pub fn concord(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_concord")).args(args).output().unwrap()
}

/// Runs `concord up` (no simulation, any free port) on `data` with the
/// agreement in `policy`, to completion: for agreements that must stop it.
/// Starts `concord up` (no simulated agencies) on `data`, serving gRPC on
/// `grpc`, with `extra` arguments; its stderr goes to `<dir>/up.log`.
impl Proc {
    /// The running process's id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }
}

pub fn spawn_up(dir: &Path, data: &Path, grpc: u16, extra: &[String]) -> Proc {
    let mut args = vec!["up".to_string(), "--no-simulate".into(), "--data".into(), data.display().to_string()];
    args.extend(["--grpc".to_string(), format!("127.0.0.1:{grpc}")]);
    args.extend_from_slice(extra);
    Proc::spawn("up", dir, &args)
}

pub fn up_with_policy(data: &Path, policy: &Path) -> std::process::Output {
    let (data, policy) = (data.to_str().unwrap(), policy.to_str().unwrap());
    concord(&["up", "--no-simulate", "--data", data, "--grpc", "127.0.0.1:0", "--policy", policy])
}
