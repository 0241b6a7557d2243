//! The logs' signed checkpoints, for auditors: the event log's
//! (`LogService.GetCheckpoint`) and the audit log's
//! (`AuditService.GetCheckpoint`, auditors only), each a call through the
//! door, recorded. Given the public key that signs them (the ledger's, or
//! a query replica's where one serves the console; the auditor holds it,
//! as for `concord audit verify --public-key`), the page checks each
//! checkpoint's signature; given a checkpoint seen before (the page fills in
//! the one it shows, so checking again later needs nothing kept), it asks
//! the log for a consistency proof and checks that the log only grew. These
//! are the platform's own checks (`concord_log`'s signed-note and RFC 9162
//! proof verification); the console adds none of its own.

use std::sync::Arc;

use askama::Template;
use axum::extract::{self, Form};
use axum::response::Html;
use concord_core::pb;
use concord_log::SignedCheckpoint;
use concord_log::verify::verify_consistency;
use ed25519_dalek::VerifyingKey;
use serde::Deserialize;

use super::find::FieldError;
use super::{Frame, State, Visit, render};
use crate::event::when;
use crate::problem::Problem;

/// A check's result, in words.
pub struct Verdict {
    /// Whether it holds.
    pub ok: bool,
    /// What was found.
    pub text: String,
}

impl Verdict {
    fn holds(text: impl Into<String>) -> Verdict {
        Verdict { ok: true, text: text.into() }
    }

    fn fails(text: impl Into<String>) -> Verdict {
        Verdict { ok: false, text: text.into() }
    }
}

/// One log's checkpoint, and what was checked about it.
pub struct LogCheckpoint {
    /// The log, in words.
    pub name: &'static str,
    /// Its id on the page, and its form field's prefix.
    pub id: &'static str,
    /// The log's name in the checkpoint.
    pub origin: String,
    /// Entries the checkpoint covers.
    pub size: u64,
    /// Its Merkle root, in hex.
    pub root: String,
    /// When it was signed.
    pub at: String,
    /// Who signed it (the note's key names).
    pub signers: String,
    /// The signed note, as the service gave it.
    pub note: String,
    /// Its signature, checked against the key given.
    pub signature: Option<Verdict>,
    /// Consistency with the checkpoint seen before.
    pub consistency: Option<Verdict>,
}

#[derive(Template, Default)]
#[template(path = "audit_checkpoints.html")]
struct CheckpointsPage {
    frame: Frame,
    errors: Vec<FieldError>,
    public_key: String,
    logs: Vec<LogCheckpoint>,
    /// Set when this process serves no event log checkpoint.
    no_event_log: bool,
}

impl CheckpointsPage {
    fn error_for(&self, field: &str) -> Option<&'static str> {
        self.errors.iter().find(|e| e.field == field).map(|e| e.message)
    }

    /// The error about the checkpoint seen before of the log `id`.
    fn before_error(&self, id: &str) -> Option<&'static str> {
        self.errors.iter().find(|e| e.field.strip_suffix("_before") == Some(id)).map(|e| e.message)
    }
}

/// The check form's fields.
#[derive(Deserialize)]
pub struct CheckForm {
    csrf: String,
    #[serde(default)]
    public_key: String,
    #[serde(default)]
    event_log_before: String,
    #[serde(default)]
    audit_log_before: String,
}

/// Which log, and how to ask it for a consistency proof.
#[derive(Clone, Copy)]
enum Which {
    Event,
    Audit,
}

impl Which {
    fn name(self) -> &'static str {
        match self {
            Which::Event => "Event log",
            Which::Audit => "Audit log",
        }
    }

    fn id(self) -> &'static str {
        match self {
            Which::Event => "event_log",
            Which::Audit => "audit_log",
        }
    }
}

/// A public key as typed: 64 hex characters (as in KEYS/ledger.pub).
fn public_key(text: &str) -> Option<VerifyingKey> {
    let bytes: [u8; 32] = hex::decode(text.trim()).ok()?.try_into().ok()?;
    VerifyingKey::from_bytes(&bytes).ok()
}

/// A signed checkpoint as pasted (line endings as the service wrote them).
fn pasted(text: &str) -> Option<SignedCheckpoint> {
    let text = text.trim().replace("\r\n", "\n");
    SignedCheckpoint::parse(&format!("{text}\n")).ok()
}

/// Both logs' checkpoints (the audit log's first: it is the one only
/// auditors may ask for).
async fn checkpoints(state: &State, visit: &Visit) -> Result<Vec<(Which, pb::Checkpoint)>, Problem> {
    let request = || visit.reader().request(pb::GetCheckpointRequest {});
    let audit = state.services.audit.get_checkpoint(request()).await?.into_inner();
    let mut logs = Vec::new();
    if let Some(log) = &state.services.log {
        logs.push((Which::Event, log.get_checkpoint(request()).await?.into_inner()));
    }
    logs.push((Which::Audit, audit));
    Ok(logs)
}

/// `checkpoint` in words, unchecked.
fn shown(which: Which, checkpoint: &pb::Checkpoint, state: &State) -> LogCheckpoint {
    let parsed = SignedCheckpoint::parse(&checkpoint.signed_note).ok();
    let at = parsed.as_ref().map(|p| concord_core::timestamp(p.checkpoint.timestamp_ms));
    LogCheckpoint {
        name: which.name(),
        id: which.id(),
        origin: parsed.as_ref().map(|p| p.checkpoint.origin.clone()).unwrap_or_default(),
        size: checkpoint.size,
        root: hex::encode(&checkpoint.root),
        at: when(at.as_ref(), &state.zone),
        signers: parsed
            .as_ref()
            .map(|p| p.signatures.iter().map(|s| s.key_name.as_str()).collect::<Vec<_>>().join(", "))
            .unwrap_or_default(),
        note: checkpoint.signed_note.clone(),
        signature: None,
        consistency: None,
    }
}

/// Whether `checkpoint`'s note is signed by `key` and says what the
/// service's answer says.
fn signature(checkpoint: &pb::Checkpoint, key: &VerifyingKey) -> Verdict {
    let Ok(note) = SignedCheckpoint::parse(&checkpoint.signed_note) else {
        return Verdict::fails("The service's checkpoint is not a signed checkpoint.");
    };
    if note.checkpoint.size != checkpoint.size || note.checkpoint.root.as_slice() != checkpoint.root.as_slice() {
        return Verdict::fails("The signed note does not say the size and root the service gave.");
    }
    match note.verify(key) {
        Ok(()) => Verdict::holds("Signed by the key you gave: the signature verifies."),
        Err(concord_log::CheckpointError::UnknownKey) => Verdict::fails("Not signed by the key you gave."),
        Err(e) => Verdict::fails(format!("The signature does not verify: {e}.")),
    }
}

/// Whether the log of `now` holds the log of `before`: `before` must be
/// signed by `key`, of the same log, and a consistency proof from the log
/// (asked of its service) must verify from its root to `now`'s.
async fn consistency(
    state: &State,
    visit: &Visit,
    which: Which,
    before: &SignedCheckpoint,
    now: &pb::Checkpoint,
    key: &VerifyingKey,
) -> Result<Verdict, Problem> {
    let (was, root_now) = (&before.checkpoint, now.root.as_slice());
    if before.verify(key).is_err() {
        return Ok(Verdict::fails("The checkpoint you saw before is not signed by the key you gave."));
    }
    let origin_now = SignedCheckpoint::parse(&now.signed_note).map(|n| n.checkpoint.origin).unwrap_or_default();
    if was.origin != origin_now {
        return Ok(Verdict::fails(format!("The checkpoint you saw before is of {}, not of this log.", was.origin)));
    }
    if was.size > now.size {
        return Ok(Verdict::fails(format!(
            "The log now holds {} entries, fewer than the {} you saw before: it was rolled back, or this replica is behind.",
            now.size, was.size
        )));
    }
    let request = visit.reader().request(pb::ConsistencyProofRequest { old_size: was.size, new_size: now.size });
    let proof = match which {
        Which::Audit => state.services.audit.get_consistency_proof(request).await?,
        Which::Event => match &state.services.log {
            Some(log) => log.get_consistency_proof(request).await?,
            None => return Ok(Verdict::fails("This console cannot ask the event log for proofs.")),
        },
    };
    let hashes: Option<Vec<[u8; 32]>> = proof.into_inner().hashes.into_iter().map(|h| h.try_into().ok()).collect();
    let Some(hashes) = hashes else { return Ok(Verdict::fails("The log's proof holds a hash of the wrong length.")) };
    let Ok(root_now) = <[u8; 32]>::try_from(root_now) else {
        return Ok(Verdict::fails("The log's root is not a hash."));
    };
    Ok(match verify_consistency(was.size, now.size, &was.root, &root_now, &hashes) {
        Ok(()) => Verdict::holds(format!(
            "The log only grew: its first {} entries are the ones you saw before, and it has {} more.",
            was.size,
            now.size - was.size
        )),
        Err(e) => Verdict::fails(format!("The log is not consistent with what you saw before: {e}.")),
    })
}

/// `/audit/checkpoints`: both logs' checkpoints.
pub async fn page(extract::State(state): extract::State<Arc<State>>, visit: Visit) -> Result<Html<String>, Problem> {
    let logs = checkpoints(&state, &visit).await?;
    render(&CheckpointsPage {
        frame: visit.frame(),
        no_event_log: state.services.log.is_none(),
        logs: logs.iter().map(|(which, c)| shown(*which, c, &state)).collect(),
        ..CheckpointsPage::default()
    })
}

/// Both logs' checkpoints, checked against the key given and the
/// checkpoints seen before.
pub async fn check(
    extract::State(state): extract::State<Arc<State>>,
    visit: Visit,
    Form(form): Form<CheckForm>,
) -> Result<Html<String>, Problem> {
    visit.check(&form.csrf)?;
    let mut errors = Vec::new();
    let key = public_key(&form.public_key);
    if key.is_none() {
        errors.push(FieldError {
            field: "public_key",
            message: "Enter the public key that signs the checkpoints: 64 hexadecimal characters, as in ledger.pub",
        });
    }
    let before = |text: &str, field: &'static str, errors: &mut Vec<FieldError>| {
        if text.trim().is_empty() {
            return None;
        }
        let parsed = pasted(text);
        if parsed.is_none() {
            errors.push(FieldError {
                field,
                message: "Paste a signed checkpoint as this page shows it (its lines, then a blank line, then its signature), or leave it empty",
            });
        }
        parsed
    };
    let event_before = before(&form.event_log_before, "event_log_before", &mut errors);
    let audit_before = before(&form.audit_log_before, "audit_log_before", &mut errors);
    let logs = checkpoints(&state, &visit).await?;
    let mut page = CheckpointsPage {
        frame: visit.frame(),
        public_key: form.public_key.trim().to_string(),
        no_event_log: state.services.log.is_none(),
        ..CheckpointsPage::default()
    };
    for (which, checkpoint) in &logs {
        let mut shown = shown(*which, checkpoint, &state);
        if let (Some(key), true) = (&key, errors.is_empty()) {
            shown.signature = Some(signature(checkpoint, key));
            let before = match which {
                Which::Event => &event_before,
                Which::Audit => &audit_before,
            };
            if let Some(before) = before {
                shown.consistency = Some(consistency(&state, &visit, *which, before, checkpoint, key).await?);
            }
        }
        page.logs.push(shown);
    }
    page.errors = errors;
    render(&page)
}
