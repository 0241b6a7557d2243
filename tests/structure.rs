//! The shape of the data path, checked from the crates' manifests: a reader
//! never depends on a writer, and every reader reads through the read kernel.
//!
//! The writers are the node (an agency's publisher) and the ledger (the
//! log's only writer); only `concord`, the binary that wires processes, and
//! the bench may link them. What the writer and the readers share (the
//! log's schema, the stream follower) has crates of its own.

use std::collections::BTreeMap;
use std::path::Path;

/// The crates that write the event log or publish to it.
const WRITERS: &[&str] = &["concord-node", "concord-ledger"];

/// The crates that may link everything.
const WIRING: &[&str] = &["concord", "concord-bench"];

/// Each workspace crate's name and its normal (non-dev) dependencies.
fn crates() -> BTreeMap<String, Vec<String>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut dirs: Vec<_> = std::fs::read_dir(root.join("services")).unwrap().map(|e| e.unwrap().path()).collect();
    dirs.push(root.join("tests/bench"));
    let mut crates = BTreeMap::new();
    for dir in dirs {
        let Ok(text) = std::fs::read_to_string(dir.join("Cargo.toml")) else { continue };
        let manifest: toml::Table = text.parse().unwrap();
        let name = manifest["package"]["name"].as_str().unwrap().to_string();
        let deps = manifest.get("dependencies").and_then(|d| d.as_table()).map(|d| d.keys().cloned().collect());
        crates.insert(name, deps.unwrap_or_default());
    }
    crates
}

#[test]
fn no_reader_depends_on_a_writer() {
    let crates = crates();
    assert!(crates.contains_key("concord-read") && crates.contains_key("concord-ledger"), "{:?}", crates.keys());
    for (name, deps) in &crates {
        if WIRING.contains(&name.as_str()) {
            continue;
        }
        for writer in WRITERS {
            assert!(
                !deps.iter().any(|d| d == writer),
                "{name} depends on {writer}, a writer; what it needs belongs in concord-eventlog or concord-follow"
            );
        }
    }
}

#[test]
fn readers_read_through_the_kernel_not_the_grpc_services() {
    let crates = crates();
    for (name, deps) in &crates {
        if WIRING.contains(&name.as_str()) {
            continue;
        }
        assert!(
            !deps.iter().any(|d| d == "concord-query"),
            "{name} depends on concord-query; readers use concord-read"
        );
    }
    for reader in ["concord-query", "concord-alerts", "concord-briefing", "concord-lifecycle", "concord-directory"] {
        assert!(crates[reader].iter().any(|d| d == "concord-read"), "{reader} does not read through concord-read");
    }
}
