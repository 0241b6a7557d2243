//! The results: every figure with its runs, median, spread and ratio to its
//! baseline (both from this invocation), written as Markdown and JSON.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::stats::{Summary, ratio, summarize};

/// The sections of the results page, in order, with what each measures.
pub const SECTIONS: &[(&str, &str, &str)] = &[
    (
        "ingest",
        "1. Ingest",
        "Events per second end to end. Concord: the agencies' nodes publish (validate, seal personal data, sign, \
         durable outbox), JetStream carries the events, the ledger verifies every signature and appends durably, \
         and the run ends when every event is receipted. Raw JetStream: the same signed payloads published \
         asynchronously (256 in flight, as Concord's outbox) with `Nats-Msg-Id`, read by a durable pull consumer \
         that acks each one. PostgreSQL: the same payloads as batched multi-row INSERTs (each its own committed \
         transaction) into an events table with a unique id and a per-subject index. Higher is better.",
    ),
    (
        "durability",
        "5. Durability cost",
        "The same ingest with NATS `sync_interval: always` (every write fsynced before the PubAck) against the \
         default (fsync every 2 minutes). Concord is durable end to end either way (the node keeps each event in \
         its fsynced outbox until the ledger's receipt), so `always` buys it nothing but costs what the ratio says. \
         Higher is better.",
    ),
    (
        "query",
        "2. Query",
        "Concurrent clients over gRPC against `concord up` on the large log, each call authenticated (JWT), every \
         event decided by the Cedar sharing agreement, personal data unsealed where shown, and the access record \
         durable in the audit log before the answer leaves. GetEvent asks for events spread over the log (one the \
         agreement withholds answers NOT_FOUND, counted as an answer). Baseline: the same query shape on the \
         PostgreSQL events table holding the same events (no policy, no audit). Latency lower is better; \
         throughput higher.",
    ),
    (
        "replay",
        "3. Replay",
        "Events per second replaying the whole large log. Concord: `ReplayService` over gRPC as an analyst (as \
         `concord profile` does): every batch decided by the agreement, pseudonymised and audited, then applied to \
         the national indicators projection. Baseline: a raw scan of the same store (every entry read, nothing \
         decoded). Higher is better.",
    ),
    (
        "footprint",
        "4. Footprint",
        "Bytes on disk per event of the event log (its store directory, as `du` counts it) against the mean \
         encoded payload (the signed event as it travels); the JetStream store and the PostgreSQL table holding \
         the same events for comparison. Peak memory is the process's VmHWM. Restart-to-ready is from starting \
         `concord up` to its gRPC health check answering SERVING.",
    ),
    (
        "directory",
        "7. Directory",
        "Searching the partnership directory by name and date of birth through `DirectoryService.Find` against \
         `concord up`: each search authenticated (JWT), its candidates decided by the Cedar agreement, and its \
         access record (terms as keyed hashes) durable in the audit log before the answer leaves. Latency lower \
         is better; the directory store's bytes per subject, lower.",
    ),
    (
        "publish",
        "6. Loading a file",
        "Events per second loading a partner's history with `concord publish FILE` into `concord up`: the file \
         streamed (JSON Lines), a window of publishes in flight, each through the node (validate, seal, sign, \
         outbox) and waiting for the ledger's receipt, a progress file kept for resuming. Baseline: the same \
         command one publish at a time, as it worked before. Higher is better; its peak memory, lower.",
    ),
];

/// Whether more or less is better for a figure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Better {
    /// Throughput and the like.
    Higher,
    /// Latency, bytes, time.
    Lower,
}

/// One measured figure and its runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Figure {
    /// A stable id, e.g. `ingest.concord.redb`.
    pub id: String,
    /// The section id (see [`SECTIONS`]).
    pub section: String,
    /// What it is, for people.
    pub label: String,
    /// Its unit, e.g. `events/s`, `ms`, `MiB`.
    pub unit: String,
    /// Which way is better.
    pub better: Better,
    /// One value per run.
    pub samples: Vec<f64>,
    /// The ids of the figures it is compared with.
    pub baselines: Vec<String>,
}

/// Machine and versions, as shown at the top of the page.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Environment {
    /// (name, value) pairs in display order.
    pub facts: Vec<(String, String)>,
}

/// Everything one invocation measured.
#[derive(Debug, Default, Serialize)]
pub struct Results {
    /// When it started (RFC 3339, UTC).
    pub started: String,
    /// How long it took, seconds.
    pub duration_secs: f64,
    /// The command line.
    pub command: String,
    /// Machine and versions.
    pub environment: Environment,
    /// Sizes and runs: (name, value).
    pub settings: Vec<(String, String)>,
    /// The figures, in the order measured.
    pub figures: Vec<Figure>,
    /// How the large log was built, and anything a reader should know.
    pub notes: Vec<String>,
}

/// The figures shown first, if measured: the headline of each scenario.
const AT_A_GLANCE: &[&str] = &[
    "ingest.concord.redb",
    "publish.concord",
    "query.timeline.concord.redb.p50",
    "query.search.concord.redb.p50",
    "replay.concord.redb",
    "footprint.log.redb",
    "footprint.ingest_log.redb",
    "footprint.restart.redb",
    "footprint.query_memory.redb",
    "durability.concord.always",
    "durability.jetstream.always",
];

/// A figure with its summary and ratio, as written to JSON.
#[derive(Serialize)]
struct FigureOut<'a> {
    #[serde(flatten)]
    figure: &'a Figure,
    #[serde(flatten)]
    summary: Summary,
    /// Baseline id to the ratio of the medians.
    ratios: serde_json::Map<String, serde_json::Value>,
}

impl Results {
    /// Adds one run's value to figure `id`, creating the figure on first use.
    pub fn add(&mut self, id: &str, section: &str, label: &str, unit: &str, better: Better, value: f64) {
        if let Some(f) = self.figures.iter_mut().find(|f| f.id == id) {
            f.samples.push(value);
            return;
        }
        self.figures.push(Figure {
            id: id.to_string(),
            section: section.to_string(),
            label: label.to_string(),
            unit: unit.to_string(),
            better,
            samples: vec![value],
            baselines: Vec::new(),
        });
    }

    /// Names `baseline` as a figure `id` is compared with.
    pub fn compare(&mut self, id: &str, baseline: &str) {
        if let Some(f) = self.figures.iter_mut().find(|f| f.id == id)
            && !f.baselines.iter().any(|b| b == baseline)
        {
            f.baselines.push(baseline.to_string());
        }
    }

    /// Adds a note.
    pub fn note(&mut self, note: impl Into<String>) {
        self.notes.push(note.into());
    }

    /// Results read back from [`Results::json`] (to render the page again).
    pub fn from_json(text: &str) -> Result<Results> {
        let v: serde_json::Value = serde_json::from_str(text).context("not JSON")?;
        let pairs = |key: &str| -> Vec<(String, String)> {
            v[key]
                .as_object()
                .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())).collect())
                .unwrap_or_default()
        };
        Ok(Results {
            started: v["started"].as_str().unwrap_or_default().to_string(),
            duration_secs: v["duration_secs"].as_f64().unwrap_or_default(),
            command: v["command"].as_str().unwrap_or_default().to_string(),
            environment: Environment { facts: pairs("environment") },
            settings: pairs("settings"),
            figures: serde_json::from_value(v["figures"].clone()).context("reading the figures")?,
            notes: serde_json::from_value(v["notes"].clone()).context("reading the notes")?,
        })
    }

    fn figure(&self, id: &str) -> Option<&Figure> {
        self.figures.iter().find(|f| f.id == id)
    }

    /// The median of `figure` over that of each of its baselines, with the baseline.
    fn ratios_of(&self, figure: &Figure) -> Vec<(f64, &Figure)> {
        let median = summarize(&figure.samples).median;
        figure
            .baselines
            .iter()
            .filter_map(|id| self.figure(id))
            .filter_map(|base| Some((ratio(median, summarize(&base.samples).median)?, base)))
            .collect()
    }

    /// Writes `results.md` and `results.json` into `dir`.
    pub fn write(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let md = dir.join("results.md");
        std::fs::write(&md, self.markdown()).with_context(|| format!("writing {}", md.display()))?;
        let json = dir.join("results.json");
        std::fs::write(&json, self.json()? + "\n").with_context(|| format!("writing {}", json.display()))?;
        Ok(())
    }

    /// The results as JSON: every figure with its runs, summary and ratio.
    pub fn json(&self) -> Result<String> {
        let figures: Vec<FigureOut> = self
            .figures
            .iter()
            .map(|f| FigureOut {
                figure: f,
                summary: summarize(&f.samples),
                ratios: self
                    .ratios_of(f)
                    .into_iter()
                    .map(|(r, base)| (base.id.clone(), serde_json::json!(r)))
                    .collect(),
            })
            .collect();
        let value = serde_json::json!({
            "started": self.started,
            "duration_secs": self.duration_secs,
            "command": self.command,
            "environment": pairs(&self.environment.facts),
            "settings": pairs(&self.settings),
            "figures": figures,
            "notes": self.notes,
        });
        Ok(serde_json::to_string_pretty(&value)?)
    }

    /// The results page.
    pub fn markdown(&self) -> String {
        let mut md = String::new();
        let minutes = self.duration_secs / 60.0;
        let _ = writeln!(md, "# Concord benchmarks\n");
        let _ = writeln!(
            md,
            "Concord measured side by side with raw NATS JetStream and a PostgreSQL events table, on the same \
             machine, in one run (started {}, {minutes:.1} minutes). Every figure is the median of its runs with \
             the spread (min–max) of those runs; every ratio divides two medians measured in this same run.\n",
            self.started
        );
        let _ = writeln!(md, "Reproduce with `make bench` (options: `make bench BENCH_ARGS=\"--help\"`).");
        let _ = writeln!(md, "This page was written by: `{}`\n", self.command);
        let _ = writeln!(md, "## Machine and versions\n");
        let _ = writeln!(md, "| | |\n|---|---|");
        for (k, v) in &self.environment.facts {
            let _ = writeln!(md, "| {k} | {v} |");
        }
        let _ = writeln!(md, "\n## Sizes and runs\n");
        let _ = writeln!(md, "| | |\n|---|---|");
        for (k, v) in &self.settings {
            let _ = writeln!(md, "| {k} | {v} |");
        }
        let glance: Vec<&Figure> = AT_A_GLANCE.iter().filter_map(|id| self.figure(id)).collect();
        if !glance.is_empty() {
            let _ = writeln!(md, "\n## At a glance\n");
            self.table(&mut md, &glance);
        }
        let order = ["ingest", "publish", "query", "replay", "footprint", "durability", "directory"];
        for id in order {
            let Some((_, title, about)) = SECTIONS.iter().find(|s| s.0 == id) else { continue };
            let figures: Vec<&Figure> = self.figures.iter().filter(|f| f.section == id).collect();
            if figures.is_empty() {
                continue;
            }
            let _ = writeln!(md, "\n## {title}\n\n{about}\n");
            self.table(&mut md, &figures);
        }
        if !self.notes.is_empty() {
            let _ = writeln!(md, "\n## How these were measured\n");
            for n in &self.notes {
                let _ = writeln!(md, "- {n}");
            }
        }
        md
    }
}

/// A ratio with enough digits to tell small ones apart.
fn ratio_text(r: f64) -> String {
    if r >= 10.0 {
        format!("{r:.0}")
    } else if r >= 0.1 {
        format!("{r:.2}")
    } else {
        format!("{r:.3}")
    }
}

/// (name, value) pairs as a JSON object.
fn pairs(pairs: &[(String, String)]) -> serde_json::Map<String, serde_json::Value> {
    pairs.iter().map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone()))).collect()
}

impl Results {
    /// A table of `figures`: median, spread, runs and ratios.
    fn table(&self, md: &mut String, figures: &[&Figure]) {
        let _ = writeln!(md, "| figure | median | spread (min–max) | runs | ratio of medians |");
        let _ = writeln!(md, "|---|--:|--:|--:|---|");
        for f in figures {
            let s = summarize(&f.samples);
            let ratios: Vec<String> =
                self.ratios_of(f).into_iter().map(|(r, base)| format!("{} × {}", ratio_text(r), base.label)).collect();
            let _ = writeln!(
                md,
                "| {} | {} {} | {} – {} | {} | {} |",
                f.label,
                number(s.median),
                f.unit,
                number(s.min),
                number(s.max),
                s.runs,
                ratios.join("<br>")
            );
        }
    }
}

/// A number as people read it: thousands separated, a few significant digits.
pub fn number(x: f64) -> String {
    if !x.is_finite() {
        return "–".into();
    }
    let a = x.abs();
    if a >= 1000.0 {
        let rounded = x.round() as i64;
        let digits = rounded.unsigned_abs().to_string();
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(c);
        }
        if rounded < 0 { format!("-{out}") } else { out }
    } else if a >= 100.0 {
        format!("{x:.0}")
    } else if a >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_well() {
        assert_eq!(number(1234567.4), "1,234,567");
        assert_eq!(number(999.6), "1000");
        assert_eq!(number(12.345), "12.3");
        assert_eq!(number(1.2345), "1.23");
        assert_eq!(number(f64::NAN), "–");
    }

    #[test]
    fn ratios_divide_the_medians_of_this_run() {
        let mut r = Results::default();
        for v in [100.0, 300.0, 200.0] {
            r.add("a", "ingest", "A", "events/s", Better::Higher, v);
        }
        for v in [400.0, 400.0, 1000.0] {
            r.add("b", "ingest", "B", "events/s", Better::Higher, v);
        }
        r.compare("a", "b");
        let a = r.figure("a").cloned().unwrap_or_else(|| panic!("figure a"));
        assert_eq!(r.ratios_of(&a).first().map(|x| x.0), Some(0.5));
        let md = r.markdown();
        assert!(md.contains("| A | 200 events/s | 100 – 300 | 3 | 0.50 × B |"), "{md}");
        let json = r.json().unwrap_or_default();
        assert!(json.contains("\"b\": 0.5"), "{json}");
        let again = Results::from_json(&json).map(|r| r.markdown()).unwrap_or_default();
        assert_eq!(again, md);
    }
}
