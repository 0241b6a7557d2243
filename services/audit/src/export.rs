//! Exporting the audit log for auditors, and checking an export offline.
//!
//! An export is JSON Lines: first a header with the signed checkpoint it is
//! proven against, then one line per access record with the record's exact
//! stored bytes (base64), its inclusion proof in that checkpoint (hex), and
//! the record as JSON for people to read. [`verify_export`] trusts nothing in
//! the file but a key the auditor holds: it checks the checkpoint's
//! signature, each entry's proof, that the JSON says what the bytes say, and
//! the root rebuilt from all entries by its plain definition; the first bad
//! line is named.

use std::io::{BufRead, Write};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use concord_core::pb;
use concord_log::checkpoint::SignedCheckpoint;
use concord_log::hash::{Hash, leaf_hash};
use concord_log::log::Log;
use concord_log::offline::tree_hash;
use concord_log::verify::verify_inclusion;
use ed25519_dalek::VerifyingKey;
use prost::Message;
use serde::{Deserialize, Serialize};

use crate::AUDIT_LOG_ORIGIN;

/// The first line of an export.
#[derive(Debug, Serialize, Deserialize)]
struct Header {
    /// The signed checkpoint (C2SP tlog-checkpoint text) every entry is proven in.
    checkpoint: String,
}

/// One entry of an export.
#[derive(Debug, Serialize, Deserialize)]
struct Line {
    position: u64,
    /// The stored bytes (an encoded `AccessRecord`), base64.
    entry: String,
    /// The inclusion proof of the entry in the checkpoint, hex hashes.
    proof: Vec<String>,
    /// The record, for reading; checked against `entry`.
    record: pb::AccessRecord,
}

/// Why an export does not check.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The file could not be read or written.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The log could not be read.
    #[error("the audit log cannot be read: {0}")]
    Log(#[from] concord_log::log::LogError),
    /// The header is missing or its checkpoint is not valid.
    #[error("line 1: {0}")]
    Header(String),
    /// An entry line is malformed, out of order, altered or not proven.
    #[error("line {line} (entry {position}): {reason}")]
    Entry {
        /// The line in the file (1-based).
        line: usize,
        /// The entry's position, as far as it could be read.
        position: u64,
        /// What is wrong.
        reason: String,
    },
    /// The file ends before the checkpoint's last entry, or goes past it.
    #[error("the export has {found} entries; its checkpoint covers {size}")]
    Count {
        /// Entries found.
        found: u64,
        /// Entries the checkpoint covers.
        size: u64,
    },
    /// All entries were proven but do not rebuild the root.
    #[error("the entries do not rebuild the checkpoint's root")]
    Root,
}

/// Writes every record of `log` with a new signed checkpoint; returns how
/// many records were written.
pub fn write_export(log: &Log, out: &mut impl Write) -> Result<u64, ExportError> {
    let checkpoint = log.checkpoint()?;
    let size = checkpoint.checkpoint.size;
    serde_json::to_writer(&mut *out, &Header { checkpoint: checkpoint.text().to_string() }).map_err(io_error)?;
    writeln!(out)?;
    let mut after = 0;
    while after < size {
        for entry in log.read_from(after, 1024)? {
            if entry.position > size {
                break;
            }
            let proof = log.inclusion_proof(entry.position, size)?;
            let record = pb::AccessRecord::decode(entry.bytes.as_slice()).unwrap_or_default();
            let line = Line {
                position: entry.position,
                entry: B64.encode(&entry.bytes),
                proof: proof.iter().map(hex::encode).collect(),
                record,
            };
            serde_json::to_writer(&mut *out, &line).map_err(io_error)?;
            writeln!(out)?;
            after = entry.position;
        }
    }
    out.flush()?;
    Ok(size)
}

fn io_error(e: serde_json::Error) -> std::io::Error {
    std::io::Error::other(e)
}

/// Checks an export against `key` (the ledger's public key, which the
/// auditor holds); returns the number of records proven.
pub fn verify_export(input: impl BufRead, key: &VerifyingKey) -> Result<u64, ExportError> {
    let mut lines = input.lines();
    let header = lines.next().ok_or_else(|| ExportError::Header("the export is empty".into()))??;
    let header: Header =
        serde_json::from_str(&header).map_err(|e| ExportError::Header(format!("not an export header: {e}")))?;
    let checkpoint =
        SignedCheckpoint::parse(&header.checkpoint).map_err(|e| ExportError::Header(format!("checkpoint: {e}")))?;
    checkpoint.verify(key).map_err(|e| ExportError::Header(format!("checkpoint: {e}")))?;
    if checkpoint.checkpoint.origin != AUDIT_LOG_ORIGIN {
        return Err(ExportError::Header(format!(
            "the checkpoint is for `{}`, not the audit log",
            checkpoint.checkpoint.origin
        )));
    }
    let (size, root) = (checkpoint.checkpoint.size, checkpoint.checkpoint.root);
    let mut leaves: Vec<Hash> = Vec::new();
    for (i, text) in lines.enumerate() {
        let (line, expected) = (i + 2, leaves.len() as u64 + 1);
        let text = text?;
        if text.trim().is_empty() {
            continue;
        }
        let bad = |reason: String| ExportError::Entry { line, position: expected, reason };
        let entry: Line = serde_json::from_str(&text).map_err(|e| bad(format!("not an export entry: {e}")))?;
        if entry.position != expected {
            return Err(bad(format!("found entry {} where entry {expected} belongs", entry.position)));
        }
        if expected > size {
            return Err(ExportError::Count { found: expected, size });
        }
        let bytes = B64.decode(&entry.entry).map_err(|e| bad(format!("entry bytes: {e}")))?;
        let mut proof = Vec::with_capacity(entry.proof.len());
        for hash in &entry.proof {
            let hash: Hash = hex::decode(hash)
                .ok()
                .and_then(|h| h.try_into().ok())
                .ok_or_else(|| bad("the proof holds a hash that is not 32 bytes of hex".into()))?;
            proof.push(hash);
        }
        let leaf = leaf_hash(&bytes);
        verify_inclusion(&leaf, expected - 1, size, &proof, &root)
            .map_err(|e| bad(format!("altered: its bytes are not in the checkpoint ({e})")))?;
        let stored = pb::AccessRecord::decode(bytes.as_slice()).map_err(|e| bad(format!("not a record: {e}")))?;
        if stored != entry.record {
            return Err(bad("the readable record differs from the proven bytes".into()));
        }
        leaves.push(leaf);
    }
    if leaves.len() as u64 != size {
        return Err(ExportError::Count { found: leaves.len() as u64, size });
    }
    if tree_hash(&leaves) != root {
        return Err(ExportError::Root);
    }
    Ok(size)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use concord_log::kv::{Engine, open};

    use super::*;
    use crate::{AuditLog, Recorder};

    async fn log_with(records: usize) -> (tempfile::TempDir, AuditLog, ed25519_dalek::SigningKey) {
        let dir = tempfile::tempdir().unwrap();
        let key = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
        let log = Log::open(open(Engine::Redb, dir.path()).unwrap(), AUDIT_LOG_ORIGIN, key.clone()).unwrap();
        let audit = AuditLog::new(Arc::new(log));
        let recorder = Recorder::local(&audit);
        for i in 0..records {
            let record = pb::AccessRecord { principal: format!("reader-{i}"), ..Default::default() };
            recorder.record(record).await.unwrap();
        }
        (dir, audit, key)
    }

    fn export(audit: &AuditLog) -> Vec<String> {
        let mut out = Vec::new();
        write_export(audit.log(), &mut out).unwrap();
        String::from_utf8(out).unwrap().lines().map(str::to_string).collect()
    }

    fn check(lines: &[String], key: &VerifyingKey) -> Result<u64, ExportError> {
        verify_export(lines.join("\n").as_bytes(), key)
    }

    #[tokio::test]
    async fn an_export_verifies_and_any_change_is_named() {
        let (_dir, audit, key) = log_with(11).await;
        let lines = export(&audit);
        assert_eq!(lines.len(), 12);
        assert_eq!(check(&lines, &key.verifying_key()).unwrap(), 11);

        // Someone else's key: the checkpoint does not verify.
        let other = ed25519_dalek::SigningKey::from_bytes(&[3; 32]).verifying_key();
        assert!(matches!(check(&lines, &other), Err(ExportError::Header(_))));

        // One record's bytes changed (a reader's name), on line 6.
        let mut altered = lines.clone();
        let mut line: serde_json::Value = serde_json::from_str(&altered[5]).unwrap();
        let mut record =
            pb::AccessRecord::decode(B64.decode(line["entry"].as_str().unwrap()).unwrap().as_slice()).unwrap();
        record.principal = "someone-else".into();
        line["entry"] = B64.encode(record.encode_to_vec()).into();
        altered[5] = line.to_string();
        let err = check(&altered, &key.verifying_key()).unwrap_err();
        assert!(matches!(err, ExportError::Entry { line: 6, position: 5, .. }), "{err}");

        // Only the readable copy changed: caught too.
        let mut relabelled = lines.clone();
        relabelled[3] = relabelled[3].replace("reader-2", "reader-X");
        let err = check(&relabelled, &key.verifying_key()).unwrap_err();
        assert!(matches!(err, ExportError::Entry { line: 4, .. }), "{err}");

        // A record removed, or the last one dropped.
        let mut removed = lines.clone();
        removed.remove(7);
        assert!(matches!(check(&removed, &key.verifying_key()), Err(ExportError::Entry { line: 8, .. })));
        assert!(matches!(
            check(&lines[..lines.len() - 1], &key.verifying_key()),
            Err(ExportError::Count { found: 10, size: 11 })
        ));
    }
}
