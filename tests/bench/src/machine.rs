//! What the results were measured on: the machine and every version involved.

use std::path::Path;
use std::process::Command;

use crate::report::Environment;

/// The first line a command prints (stdout, else stderr), or `unknown`.
pub fn command_line(program: &Path, args: &[&str]) -> String {
    let Ok(out) = Command::new(program).args(args).output() else { return "unknown".into() };
    let text = if out.stdout.is_empty() { out.stderr } else { out.stdout };
    String::from_utf8_lossy(&text).lines().next().unwrap_or("unknown").trim().to_string()
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// The CPU model, from /proc/cpuinfo.
fn cpu_model() -> String {
    read("/proc/cpuinfo")
        .lines()
        .find_map(|l| l.strip_prefix("model name").and_then(|r| r.split_once(':')).map(|(_, v)| v.trim().to_string()))
        .unwrap_or_else(|| "unknown".into())
}

/// Total memory, from /proc/meminfo.
fn memory() -> String {
    read("/proc/meminfo")
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map(|kb| format!("{:.1} GiB", kb / 1024.0 / 1024.0))
        .unwrap_or_else(|| "unknown".into())
}

fn os() -> String {
    read("/etc/os-release")
        .lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME=").map(|v| v.trim_matches('"').to_string()))
        .unwrap_or_else(|| std::env::consts::OS.to_string())
}

/// The git revision of the workspace, marked `-dirty` if it has changes.
fn git_revision(workspace: &Path) -> String {
    let git = |args: &[&str]| Command::new("git").arg("-C").arg(workspace).args(args).output().ok();
    let Some(rev) = git(&["rev-parse", "--short=12", "HEAD"]).filter(|o| o.status.success()) else {
        return "unknown".into();
    };
    let rev = String::from_utf8_lossy(&rev.stdout).trim().to_string();
    let dirty = git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|o| !o.stdout.is_empty());
    if dirty { format!("{rev}-dirty") } else { rev }
}

/// The 1, 5 and 15 minute load averages: other work on the machine shows here.
pub fn load_average() -> String {
    read("/proc/loadavg").split_whitespace().take(3).collect::<Vec<_>>().join(", ")
}

/// Machine and versions.
pub fn environment(workspace: &Path, nats_server: &Path, postgres: &Path) -> Environment {
    let cores = std::thread::available_parallelism().map(|n| n.get().to_string()).unwrap_or_else(|_| "?".into());
    let facts = vec![
        ("CPU".to_string(), cpu_model()),
        ("cores".to_string(), cores),
        ("memory".to_string(), memory()),
        ("kernel".to_string(), read("/proc/sys/kernel/osrelease").trim().to_string()),
        ("OS".to_string(), os()),
        ("rustc".to_string(), command_line(Path::new("rustc"), &["--version"])),
        ("nats-server".to_string(), command_line(nats_server, &["--version"])),
        ("PostgreSQL".to_string(), command_line(postgres, &["--version"])),
        ("concord (git)".to_string(), git_revision(workspace)),
        ("build".to_string(), if cfg!(debug_assertions) { "debug".into() } else { "release".into() }),
        ("load average at start (1, 5, 15 min)".to_string(), load_average()),
    ];
    Environment { facts }
}
