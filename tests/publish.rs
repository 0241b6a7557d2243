//! `concord publish` loading files into a real platform: the summary of
//! refused lines by number and field, and loads interrupted (a progress file
//! behind the log, a SIGKILL, a Ctrl-C) and resumed, with every event in
//! the log exactly once.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use concord_log::kv::Engine;

use crate::common::{TestPlatform, arrest};

/// Line `i` (from 1) of a load: an arrest about its own subject (`P-` +
/// `series` + `i`), without an event id unless `with_id`.
fn line(series: &str, i: usize, with_id: bool) -> String {
    let mut event = arrest(&format!("P-{series}{i:05}"), "");
    if with_id {
        event.event_id = concord_core::EventId::new_v7().to_string();
    }
    serde_json::to_string(&event).unwrap()
}

fn write_lines(path: &Path, lines: &[String]) {
    std::fs::write(path, lines.iter().map(|l| format!("{l}\n")).collect::<String>()).unwrap();
}

fn publish(t: &TestPlatform, file: &Path, extra: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_concord"));
    command.arg("publish").arg(file).args(["--addr", &format!("http://{}", t.addr), "--data"]).arg(t.dir.path());
    command.args(extra);
    command
}

fn run(t: &TestPlatform, file: &Path, extra: &[&str]) -> (Output, String, String) {
    let output = publish(t, file, extra).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    (output, stdout, stderr)
}

#[test]
fn the_summary_names_refused_lines_and_their_fields_and_loading_again_duplicates_nothing() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let t = rt.block_on(TestPlatform::start(Engine::Redb));
    let mut lines: Vec<String> = (1..=240).map(|i| line("a", i, i % 50 == 0)).collect();
    lines[16] = "{\"agency_id\": \"police.met.nw\", not json".into();
    lines[41] = serde_json::to_string(&arrest("not a key!", "")).unwrap();
    let mut no_basis: serde_json::Value = serde_json::from_str(&lines[98]).unwrap();
    no_basis.as_object_mut().unwrap().remove("lawful_basis");
    lines[98] = no_basis.to_string();
    lines.insert(120, String::new());
    let file = t.dir.path().join("history.jsonl");
    write_lines(&file, &lines);

    let (output, stdout, stderr) = run(&t, &file, &[]);
    assert!(!output.status.success());
    assert!(stdout.contains(": 237 published, 0 already in the log, 3 refused"), "{stdout}");
    let summary = stdout.split("refused:\n").nth(1).unwrap_or_else(|| panic!("no list of refusals: {stdout}"));
    let refused: Vec<&str> = summary.lines().collect();
    assert_eq!(refused.len(), 3, "{summary}");
    assert!(refused[0].starts_with("  line 17: not a Concord event: "), "{summary}");
    assert!(refused[1].starts_with("  line 42: INVALID_ARGUMENT: ") && refused[1].ends_with("[field subjects[0]]"));
    assert!(refused[2].starts_with("  line 99: INVALID_ARGUMENT: ") && refused[2].ends_with("[field lawful_basis]"));
    assert!(stderr.contains("line 42: INVALID_ARGUMENT"), "refusals are printed as they come too: {stderr}");
    assert!(stdout.contains("line 241: published"), "the blank line keeps the numbering: {stdout}");
    assert_eq!(t.platform.log.size(), 237);

    // The same command again: the progress file says everything was done.
    let (output, stdout, stderr) = run(&t, &file, &[]);
    assert!(stderr.contains("resuming after line 241"), "{stderr}");
    assert!(!output.status.success(), "the load still has refused lines");
    assert!(stdout.contains("(with lines 1-241, done before): 237 published, 0 already in the log, 3 refused"));
    assert!(stdout.contains("  line 42: INVALID_ARGUMENT"), "{stdout}");
    assert_eq!(t.platform.log.size(), 237);

    // The whole file again: nothing is duplicated; the lines without an id
    // are known by their content, those with an id of their own cannot be
    // told from another event's and are refused.
    let (_, stdout, _) = run(&t, &file, &["--restart"]);
    assert!(stdout.contains(": 0 published, 233 already in the log, 7 refused"), "{stdout}");
    assert!(stdout.contains("line 2: already in the log as "), "{stdout}");
    assert!(stdout.contains("line 50: INVALID_ARGUMENT: ") && stdout.contains("this id is already taken"));
    assert_eq!(t.platform.log.size(), 237);
}

#[test]
fn a_load_resumed_after_lines_it_had_sent_but_not_recorded_adds_each_event_once() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let t = rt.block_on(TestPlatform::start(Engine::Redb));
    let lines: Vec<String> = (1..=300).map(|i| line("b", i, (130..=140).contains(&i))).collect();
    let dir = t.dir.path();
    let (file, first_120, first_200) = (dir.join("all.jsonl"), dir.join("120.jsonl"), dir.join("200.jsonl"));
    write_lines(&file, &lines);
    write_lines(&first_120, &lines[..120]);
    write_lines(&first_200, &lines[..200]);
    let progress = dir.join("all.progress");
    let progress_arg = progress.to_str().unwrap();

    // The state an interruption leaves: the progress file's watermark at
    // line 120 (the same bytes begin both files), lines 121-200 sent and
    // appended without their outcome being recorded.
    let (output, _, stderr) = run(&t, &first_120, &["--progress", progress_arg]);
    assert!(output.status.success(), "{stderr}");
    let (output, _, stderr) = run(&t, &first_200, &["--progress", dir.join("other.progress").to_str().unwrap()]);
    assert!(output.status.success(), "{stderr}");
    assert_eq!(t.platform.log.size(), 200);
    let mut state: serde_json::Value = serde_json::from_slice(&std::fs::read(&progress).unwrap()).unwrap();
    assert_eq!(state["through_line"], 120);
    state["sent_through"] = 200.into();
    std::fs::write(&progress, state.to_string()).unwrap();

    let (output, stdout, stderr) = run(&t, &file, &["--progress", progress_arg]);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stderr.contains("resuming after line 120"), "{stderr}");
    assert!(stdout.contains("line 121: already in the log as "), "{stdout}");
    assert!(stdout.contains("line 135: already in the log as ") && stdout.contains("(sent before the interruption)"));
    assert!(stdout.contains("line 201: published"), "{stdout}");
    assert!(!stdout.contains("line 120:"), "lines before the watermark are not sent again");
    assert!(stdout.contains("(with lines 1-120, done before): 220 published, 80 already in the log, 0 refused"));
    assert_eq!(t.platform.log.size(), 300, "none lost, none twice");

    // A file that changed before the watermark is not resumed.
    let mut changed = lines.clone();
    changed[3] = line("b", 9999, false);
    write_lines(&file, &changed);
    let (output, _, stderr) = run(&t, &file, &["--progress", progress_arg]);
    assert!(!output.status.success());
    assert!(stderr.contains("the file changed") && stderr.contains("--restart"), "{stderr}");
    assert_eq!(t.platform.log.size(), 300);
}

/// Starts a load of `file`, waits until it has printed `lines` outcomes,
/// then sends it `signal`; returns its exit status and output.
fn interrupt(t: &TestPlatform, file: &Path, lines: usize, signal: &str) -> (std::process::ExitStatus, String) {
    let mut child = publish(t, file, &["--window", "4"]).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut said = String::new();
    for _ in 0..lines {
        if stdout.read_line(&mut said).unwrap() == 0 {
            break;
        }
    }
    let sent = Command::new("kill").arg(format!("-{signal}")).arg(child.id().to_string()).status().unwrap();
    assert!(sent.success());
    let mut rest = String::new();
    let _ = std::io::Read::read_to_string(&mut stdout, &mut rest);
    (child.wait().unwrap(), said + &rest)
}

fn load_file(t: &TestPlatform, name: &str, n: usize) -> PathBuf {
    let file = t.dir.path().join(format!("{name}.jsonl"));
    write_lines(&file, &(1..=n).map(|i| line(name, i, false)).collect::<Vec<_>>());
    file
}

#[test]
fn a_load_killed_or_stopped_part_way_and_run_again_has_every_event_in_the_log_once() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let t = rt.block_on(TestPlatform::start(Engine::Redb));

    // SIGKILL: no chance to write anything; the progress file is whatever
    // it last wrote (if anything), and what was in flight may be in the log.
    let file = load_file(&t, "killed", 1500);
    let (status, _) = interrupt(&t, &file, 400, "KILL");
    assert!(!status.success());
    let (output, stdout, stderr) = run(&t, &file, &[]);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert_eq!(t.platform.log.size(), 1500, "none lost, none twice: {stderr}");
    let summary = stdout.lines().last().unwrap_or_default();
    let counts: Vec<u64> = summary
        .rsplit(": ")
        .next()
        .unwrap_or_default()
        .split(", ")
        .filter_map(|part| part.split(' ').next()?.parse().ok())
        .collect();
    assert_eq!(counts.len(), 3, "{summary}");
    assert_eq!(counts[0] + counts[1], 1500, "every line accounted for once: {summary}");

    // Ctrl-C: the load stops sending, finishes what is in flight, records
    // exactly how far it got and says how to go on.
    let before = t.platform.log.size();
    let file = load_file(&t, "stopped", 1500);
    let (status, said) = interrupt(&t, &file, 400, "INT");
    assert!(!status.success());
    let stopped = said.lines().find(|l| l.starts_with("stopped: interrupted")).unwrap_or_else(|| panic!("{said}"));
    let after = stopped.rsplit("after line ").next().unwrap().parse::<u64>().unwrap();
    assert!(after >= 400, "{stopped}");
    let (output, stdout, stderr) = run(&t, &file, &[]);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stderr.contains(&format!("resuming after line {after}")), "{stderr}");
    assert!(!stdout.contains("already in the log as"), "the watermark was exact: nothing is sent twice");
    assert_eq!(t.platform.log.size(), before + 1500);
}
