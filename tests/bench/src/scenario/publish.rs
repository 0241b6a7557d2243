//! Scenario 6: loading a partner's history with `concord publish`: a
//! JSON Lines file of simulated events, without event ids (as a case system
//! exports them), streamed into `concord up` with a window of publishes in
//! flight, each waiting for the ledger's receipt; against the same command
//! one publish at a time (what it did before issue #24) on the first lines.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use concord_log::kv::Engine;

use super::{Ctx, footprint, in_runtime, mib};
use crate::report::{Better, Results};
use crate::setup::{peak_memory, workload};

/// Lines the one-at-a-time baseline sends (it is slow).
const SEQUENTIAL_LINES: usize = 5_000;
/// The command's default window.
const WINDOW: usize = 64;
/// How long one load may take before it counts as stuck.
const STUCK: Duration = Duration::from_secs(3600);

/// What one load did.
struct Loaded {
    secs: f64,
    published: u64,
    already: u64,
    refused: u64,
    /// The `concord publish` process's peak memory, bytes.
    peak: u64,
}

/// Runs the scenario, adding its figures to `results`.
pub fn run(ctx: &Ctx, results: &mut Results) -> Result<()> {
    let s = &ctx.settings;
    let n = s.publish_lines;
    ctx.say(format!("publish: simulating {n} events into a JSON Lines file"));
    let dir = ctx.dir("publish-files")?;
    let events = workload::simulate(n);
    let (file, head) = (dir.join("history.jsonl"), dir.join("head.jsonl"));
    let bytes = write_lines(&file, &events)?;
    let k = n.min(SEQUENTIAL_LINES);
    write_lines(&head, &events[..k])?;
    drop(events);
    let mut taken = Vec::new();
    for run in 1..=s.runs {
        let say = |what: &str| ctx.say(format!("publish run {run}/{}: {what}", s.runs));
        say(&format!("concord publish, {n} lines, window {WINDOW}"));
        let loaded = load(ctx, &file, WINDOW)?;
        results.add(
            "publish.concord",
            "publish",
            &format!("`concord publish` of a {n}-line file into `concord up` (window {WINDOW})"),
            "events/s",
            Better::Higher,
            loaded.published as f64 / loaded.secs,
        );
        results.add(
            "publish.memory",
            "publish",
            &format!("`concord publish` peak memory ({n} lines, {:.0} MiB file)", mib(bytes)),
            "MiB",
            Better::Lower,
            mib(loaded.peak),
        );
        taken.push((loaded.published, loaded.already, loaded.refused));
        say(&format!("concord publish, first {k} lines, one at a time"));
        let sequential = load(ctx, &head, 1)?;
        results.add(
            "publish.sequential",
            "publish",
            &format!("the same, one publish at a time (window 1, as before #24; first {k} lines)"),
            "events/s",
            Better::Higher,
            sequential.published as f64 / sequential.secs,
        );
    }
    results.compare("publish.concord", "publish.sequential");
    results.compare("publish.concord", "ingest.concord.redb");
    results.compare("publish.concord", "ingest.jetstream");
    let outcomes: Vec<String> =
        taken.iter().map(|(p, a, r)| format!("{p} published, {a} already in the log, {r} refused")).collect();
    results.note(format!(
        "Publish: {n} simulated events ({} simulated borough(s) at scale {}) written as JSON Lines without their \
         event ids ({:.0} MiB), loaded by `concord publish FILE --addr ... --data ...` (tokens minted from the data \
         directory) into a fresh `concord up` (embedded bus, redb) per run; from starting the command until it \
         exits, every line's publish having waited for the ledger's receipt. Rates count published events. \
         Outcomes per run: {}. A refused line relies on a consent the simulator records only later in the file \
         (it is refused one at a time too). Peak memory is the command's VmHWM, sampled every 100 ms.",
        workload::boroughs(n),
        workload::SCALE,
        mib(bytes),
        outcomes.join("; "),
    ));
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// Writes `events` as JSON Lines without their ids; the file's size.
fn write_lines(path: &Path, events: &[concord_core::pb::Event]) -> Result<u64> {
    use std::io::Write;
    let file = std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut out = std::io::BufWriter::new(file);
    for event in events {
        let event = concord_core::pb::Event { event_id: String::new(), ..event.clone() };
        serde_json::to_writer(&mut out, &event)?;
        out.write_all(b"\n")?;
    }
    out.flush().with_context(|| format!("writing {}", path.display()))?;
    Ok(std::fs::metadata(path)?.len())
}

/// Loads `file` into a fresh `concord up` with `--window window`.
fn load(ctx: &Ctx, file: &Path, window: usize) -> Result<Loaded> {
    let dir = ctx.dir("publish-run")?;
    let data = dir.join("data");
    let engine = Engine::Redb;
    let (mut up, addr) = in_runtime(async {
        let (mut up, addr, _) = footprint::start_up(ctx, &data, engine).await?;
        up.settle(Duration::from_secs(60)).await?;
        Ok((up, addr))
    })?;
    let (stdout, stderr) = (dir.join("publish.out"), dir.join("publish.err"));
    let started = Instant::now();
    let mut child = Command::new(&ctx.concord)
        .arg("publish")
        .arg(file)
        // Each run loads into a fresh `concord up`: the previous run's
        // progress file is of another load.
        .args(["--restart", "--addr", &format!("http://{addr}"), "--window", &window.to_string(), "--data"])
        .arg(&data)
        .stdout(Stdio::from(std::fs::File::create(&stdout)?))
        .stderr(Stdio::from(std::fs::File::create(&stderr)?))
        .spawn()
        .context("starting concord publish")?;
    let mut peak = 0;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        peak = peak.max(peak_memory(child.id()).unwrap_or(0));
        if started.elapsed() > STUCK {
            let _ = child.kill();
            bail!("concord publish had not finished after {STUCK:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let secs = started.elapsed().as_secs_f64();
    up.check_running()?;
    up.stop();
    let said = std::fs::read_to_string(&stdout).unwrap_or_default();
    let Some((published, already, refused)) = summary(&said) else {
        let errors = std::fs::read_to_string(&stderr).unwrap_or_default();
        bail!("concord publish ({status}) printed no summary:\n{}", tail(&errors));
    };
    let _ = std::fs::remove_dir_all(&dir);
    Ok(Loaded { secs, published, already, refused, peak })
}

/// The counts of the summary line `FILE: N published, N already in the log, N refused`.
fn summary(stdout: &str) -> Option<(u64, u64, u64)> {
    let line = stdout.lines().rev().find(|l| l.ends_with(" refused") && l.contains(" published, "))?;
    let counts: Vec<u64> =
        line.rsplit(": ").next()?.split(", ").filter_map(|part| part.split(' ').next()?.parse().ok()).collect();
    match counts[..] {
        [published, already, refused] => Some((published, already, refused)),
        _ => None,
    }
}

fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_summary_line() {
        let out = "line 1: published x at position 1\nh.jsonl: 98 published, 1 already in the log, 2 refused\n\
                   refused:\n  line 7: INVALID_ARGUMENT: y\n";
        assert_eq!(summary(out), Some((98, 1, 2)));
        let resumed = "h.jsonl (with lines 1-5, done before): 3 published, 0 already in the log, 0 refused\n";
        assert_eq!(summary(resumed), Some((3, 0, 0)));
        assert_eq!(summary("nothing"), None);
    }
}
