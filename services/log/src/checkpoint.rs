//! Signed checkpoints (tree size + root) in the C2SP tlog-checkpoint signed-note form.
//!
//! ```text
//! <origin>
//! <size>
//! <base64 root>
//! timestamp <unix millis>
//!
//! — <key name> <base64(4-byte key id || 64-byte Ed25519 signature)>
//! ```
//! The signature covers the note text (the first four lines, each ending in a newline).
//! The key id is `SHA-256(key name || 0x0A || 0x01 || public key)[:4]` (c2sp.org/signed-note).
//! The `timestamp` line is this log's extension line; parsing is strict (canonical form only).

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

const TIMESTAMP_PREFIX: &str = "timestamp ";
const SIGNATURE_PREFIX: &str = "\u{2014} ";
/// The c2sp.org/signed-note signature type byte for Ed25519.
const ED25519_TYPE: u8 = 0x01;

/// Why a checkpoint could not be made, parsed or verified.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    /// The origin is empty or contains control characters.
    #[error("invalid origin {0:?}")]
    InvalidOrigin(String),
    /// The key name is empty or contains spaces or `+`.
    #[error("invalid key name {0:?}")]
    InvalidKeyName(String),
    /// The text is not a checkpoint in canonical signed-note form.
    #[error("malformed checkpoint: {0}")]
    Malformed(&'static str),
    /// No signature line was made by the given key.
    #[error("checkpoint is not signed by this key")]
    UnknownKey,
    /// A signature by the given key does not verify.
    #[error("checkpoint signature does not verify")]
    BadSignature,
}

/// A statement that the log had `size` entries with Merkle root `root`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's unique name (first line of the note).
    pub origin: String,
    /// Number of entries.
    pub size: u64,
    /// RFC 6962 root of the first `size` entries.
    pub root: [u8; 32],
    /// When the checkpoint was made, Unix milliseconds.
    pub timestamp_ms: i64,
}

/// One signature line of a note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    /// The key name on the line.
    pub key_name: String,
    /// The 4-byte key id.
    pub key_id: [u8; 4],
    /// The signature bytes after the key id.
    pub signature: Vec<u8>,
}

/// A checkpoint with its signed-note text and signatures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCheckpoint {
    /// The parsed checkpoint.
    pub checkpoint: Checkpoint,
    /// The signature lines.
    pub signatures: Vec<NoteSignature>,
    text: String,
}

/// The c2sp.org/signed-note key id of an Ed25519 key.
pub fn key_id(key_name: &str, key: &VerifyingKey) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(key_name.as_bytes());
    h.update([b'\n', ED25519_TYPE]);
    h.update(key.as_bytes());
    let d = h.finalize();
    [d[0], d[1], d[2], d[3]]
}

impl Checkpoint {
    /// The note text that is signed: four lines, each ending in a newline.
    pub fn note_text(&self) -> String {
        format!("{}\n{}\n{}\n{TIMESTAMP_PREFIX}{}\n", self.origin, self.size, B64.encode(self.root), self.timestamp_ms)
    }

    /// Signs the checkpoint with `key` under `key_name`.
    pub fn sign(&self, key: &SigningKey, key_name: &str) -> Result<SignedCheckpoint, CheckpointError> {
        if self.origin.is_empty() || self.origin.chars().any(char::is_control) {
            return Err(CheckpointError::InvalidOrigin(self.origin.clone()));
        }
        if key_name.is_empty() || key_name.chars().any(|c| c.is_whitespace() || c.is_control() || c == '+') {
            return Err(CheckpointError::InvalidKeyName(key_name.to_string()));
        }
        let note = self.note_text();
        let sig = NoteSignature {
            key_name: key_name.to_string(),
            key_id: key_id(key_name, &key.verifying_key()),
            signature: key.sign(note.as_bytes()).to_bytes().to_vec(),
        };
        let mut blob = sig.key_id.to_vec();
        blob.extend_from_slice(&sig.signature);
        let text = format!("{note}\n{SIGNATURE_PREFIX}{key_name} {}\n", B64.encode(blob));
        Ok(SignedCheckpoint { checkpoint: self.clone(), signatures: vec![sig], text })
    }
}

impl SignedCheckpoint {
    /// Parses a signed checkpoint. The note text must be in the canonical form that
    /// [`Checkpoint::note_text`] produces. Does not check signatures: call [`Self::verify`].
    pub fn parse(text: &str) -> Result<Self, CheckpointError> {
        let split = text.rfind("\n\n").ok_or(CheckpointError::Malformed("no blank line before signatures"))?;
        let note = &text[..=split];
        let checkpoint = parse_note(note)?;
        let sig_block = text[split + 2..]
            .strip_suffix('\n')
            .ok_or(CheckpointError::Malformed("signatures must end with a newline"))?;
        let signatures = sig_block.split('\n').map(parse_signature).collect::<Result<Vec<_>, _>>()?;
        Ok(Self { checkpoint, signatures, text: text.to_string() })
    }

    /// Checks that a signature line made by `key` is present and verifies over the note text.
    /// Lines from other keys are ignored.
    pub fn verify(&self, key: &VerifyingKey) -> Result<(), CheckpointError> {
        let note = self.checkpoint.note_text();
        let mut found = false;
        for s in &self.signatures {
            if key_id(&s.key_name, key) != s.key_id {
                continue;
            }
            found = true;
            let sig = Signature::from_slice(&s.signature).map_err(|_| CheckpointError::BadSignature)?;
            key.verify_strict(note.as_bytes(), &sig).map_err(|_| CheckpointError::BadSignature)?;
        }
        if found { Ok(()) } else { Err(CheckpointError::UnknownKey) }
    }

    /// The full signed-note text.
    pub fn text(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for SignedCheckpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Parses the four note lines and insists the text is exactly their canonical rendering.
fn parse_note(note: &str) -> Result<Checkpoint, CheckpointError> {
    let mut lines = note.split('\n');
    let mut next = |what| lines.next().ok_or(CheckpointError::Malformed(what));
    let origin = next("missing origin")?.to_string();
    let size = next("missing size")?.parse().map_err(|_| CheckpointError::Malformed("bad size"))?;
    let root = B64
        .decode(next("missing root")?)
        .ok()
        .and_then(|r| <[u8; 32]>::try_from(r).ok())
        .ok_or(CheckpointError::Malformed("bad root hash"))?;
    let timestamp_ms = next("missing timestamp")?
        .strip_prefix(TIMESTAMP_PREFIX)
        .and_then(|t| t.parse().ok())
        .ok_or(CheckpointError::Malformed("bad timestamp line"))?;
    let checkpoint = Checkpoint { origin, size, root, timestamp_ms };
    if checkpoint.note_text() != note {
        return Err(CheckpointError::Malformed("not in canonical form"));
    }
    Ok(checkpoint)
}

/// Parses `— <key name> <base64(key id || signature)>`.
fn parse_signature(line: &str) -> Result<NoteSignature, CheckpointError> {
    let rest = line
        .strip_prefix(SIGNATURE_PREFIX)
        .ok_or(CheckpointError::Malformed("signature line must start with an em dash"))?;
    let (key_name, blob) = rest.split_once(' ').ok_or(CheckpointError::Malformed("signature line needs a key name"))?;
    let blob = B64.decode(blob).map_err(|_| CheckpointError::Malformed("bad signature base64"))?;
    if key_name.is_empty() || blob.len() < 5 {
        return Err(CheckpointError::Malformed("short signature line"));
    }
    Ok(NoteSignature {
        key_name: key_name.to_string(),
        key_id: [blob[0], blob[1], blob[2], blob[3]],
        signature: blob[4..].to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    fn sample() -> Checkpoint {
        Checkpoint {
            origin: "concord.example/log".to_string(),
            size: 42,
            root: [9; 32],
            timestamp_ms: 1_700_000_000_123,
        }
    }

    #[test]
    fn round_trip() {
        let signed = sample().sign(&key(1), "concord.example/log").unwrap();
        let text = signed.to_string();
        let lines: Vec<&str> = text.split('\n').collect();
        assert_eq!(lines[0], "concord.example/log");
        assert_eq!(lines[1], "42");
        assert_eq!(lines[2], B64.encode([9u8; 32]));
        assert_eq!(lines[3], "timestamp 1700000000123");
        assert_eq!(lines[4], "");
        assert!(lines[5].starts_with("\u{2014} concord.example/log "));
        assert_eq!(lines[6], "");
        let parsed = SignedCheckpoint::parse(&text).unwrap();
        assert_eq!(parsed, signed);
        assert_eq!(parsed.checkpoint, sample());
        parsed.verify(&key(1).verifying_key()).unwrap();
    }

    #[test]
    fn tampering_is_detected() {
        let text = sample().sign(&key(1), "concord.example/log").unwrap().to_string();
        let vk = key(1).verifying_key();
        let root = B64.encode([9u8; 32]);
        let other_root = B64.encode([8u8; 32]);
        for tampered in [
            text.replace("\n42\n", "\n43\n"),
            text.replace(&root, &other_root),
            text.replace("timestamp 1700000000123", "timestamp 1700000000124"),
            text.replace("concord.example/log\n", "concord.example/lag\n"),
        ] {
            let parsed = SignedCheckpoint::parse(&tampered).unwrap();
            assert_eq!(parsed.verify(&vk), Err(CheckpointError::BadSignature));
        }
    }

    #[test]
    fn wrong_key_is_rejected() {
        let signed = sample().sign(&key(1), "concord.example/log").unwrap();
        assert_eq!(signed.verify(&key(2).verifying_key()), Err(CheckpointError::UnknownKey));
        // Same key id (the name is part of it) but a signature by another key.
        let mut forged = sample().sign(&key(2), "concord.example/log").unwrap();
        forged.signatures[0].key_id = key_id("concord.example/log", &key(1).verifying_key());
        assert_eq!(forged.verify(&key(1).verifying_key()), Err(CheckpointError::BadSignature));
    }

    #[test]
    fn malformed_text_is_rejected() {
        let text = sample().sign(&key(1), "concord.example/log").unwrap().to_string();
        for bad in [
            "",
            "no signatures\n",
            &text.replace("\n42\n", "\n042\n"),
            &text.replace("\n42\n", "\n+42\n"),
            &text.replace("timestamp ", "time "),
            &text.replace("\n\n", "\nextra\n\n"),
            &text.replace('\u{2014}', "-"),
            text.trim_end(),
        ] {
            assert!(SignedCheckpoint::parse(bad).is_err(), "accepted {bad:?}");
        }
    }

    #[test]
    fn bad_names_are_refused() {
        let mut c = sample();
        assert!(c.sign(&key(1), "has space").is_err());
        assert!(c.sign(&key(1), "a+b").is_err());
        assert!(c.sign(&key(1), "").is_err());
        c.origin = "two\nlines".to_string();
        assert!(c.sign(&key(1), "k").is_err());
    }
}
