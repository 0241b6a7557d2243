//! Agency signing keys and the partnership's key registry.
//!
//! A node signs the exact encoded `Event` bytes with its agency's Ed25519 key;
//! the ledger verifies the signature against the registry and checks that the
//! key belongs to the agency the event names. No canonical form is needed
//! because the signed bytes are the stored bytes.

use std::collections::BTreeMap;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use ed25519_dalek::{Signer, SigningKey, Verifier, VerifyingKey};
use prost::Message;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::ids::AgencyId;
use crate::pb;
use crate::validate::{self, Checked, Stage, ValidationError};

/// Failures to load, sign or verify.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// A key file could not be read or written.
    #[error("key file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A key file's contents are not a key.
    #[error("key file {path}: {reason}")]
    BadKeyFile {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

/// Why a signed event was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The bytes do not decode as an `Event`.
    #[error("not a Concord event: {0}")]
    Malformed(String),
    /// The key id is not in the registry.
    #[error("unknown signing key `{0}`")]
    UnknownKey(String),
    /// The signature does not verify.
    #[error("bad signature from key `{0}`")]
    BadSignature(String),
    /// The key belongs to a different agency than the event claims.
    #[error("key `{key_id}` belongs to {key_agency}, but the event claims to be from {claimed}")]
    WrongAgency {
        /// The signing key.
        key_id: String,
        /// Whose key it is.
        key_agency: String,
        /// The agency the event names.
        claimed: String,
    },
    /// The event breaks the schema or sharing rules.
    #[error("invalid event: {0}")]
    Invalid(#[from] ValidationError),
}

impl VerifyError {
    /// A short, stable reason code for counting quarantined messages.
    pub fn reason_code(&self) -> &'static str {
        match self {
            VerifyError::Malformed(_) => "malformed",
            VerifyError::UnknownKey(_) => "unknown_key",
            VerifyError::BadSignature(_) => "bad_signature",
            VerifyError::WrongAgency { .. } => "wrong_agency",
            VerifyError::Invalid(_) => "invalid_event",
        }
    }
}

/// The key id of a public key: the agency id and the first 8 bytes of the
/// key's SHA-256, e.g. `police.met.nw#1a2b3c4d5e6f7081`.
pub fn key_id(agency: &AgencyId, key: &VerifyingKey) -> String {
    let digest = Sha256::digest(key.as_bytes());
    format!("{agency}#{}", hex::encode(&digest[..8]))
}

/// An agency's signing key.
pub struct AgencyKey {
    agency: AgencyId,
    key_id: String,
    signing: SigningKey,
}

impl AgencyKey {
    /// A fresh random key for an agency.
    pub fn generate(agency: AgencyId) -> Self {
        let signing = SigningKey::generate(&mut rand::rngs::OsRng);
        Self::from_signing_key(agency, signing)
    }

    /// Wraps an existing key.
    pub fn from_signing_key(agency: AgencyId, signing: SigningKey) -> Self {
        let key_id = key_id(&agency, &signing.verifying_key());
        AgencyKey { agency, key_id, signing }
    }

    /// Loads a PKCS#8 PEM private key file.
    pub fn load(agency: AgencyId, path: &Path) -> Result<Self, SignError> {
        let signing = load_signing_key(path)?;
        Ok(Self::from_signing_key(agency, signing))
    }

    /// Writes the private key as PKCS#8 PEM (mode 0600 on Unix).
    pub fn save(&self, path: &Path) -> Result<(), SignError> {
        save_signing_key(&self.signing, path)
    }

    /// The agency this key signs for.
    pub fn agency(&self) -> &AgencyId {
        &self.agency
    }

    /// The key's id in the registry.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The public half.
    pub fn verifying_key(&self) -> VerifyingKey {
        self.signing.verifying_key()
    }

    /// Encodes the event and signs the exact bytes.
    pub fn sign(&self, event: &pb::Event) -> pb::SignedEvent {
        let bytes = event.encode_to_vec();
        let signature = self.signing.sign(&bytes);
        pb::SignedEvent { event: bytes, key_id: self.key_id.clone(), signature: signature.to_bytes().to_vec() }
    }
}

/// Reads an Ed25519 private key from a PKCS#8 PEM file.
pub fn load_signing_key(path: &Path) -> Result<SigningKey, SignError> {
    let pem =
        std::fs::read_to_string(path).map_err(|source| SignError::Io { path: path.display().to_string(), source })?;
    SigningKey::from_pkcs8_pem(&pem).map_err(|e| SignError::BadKeyFile {
        path: path.display().to_string(),
        reason: format!("not an Ed25519 PKCS#8 PEM key ({e})"),
    })
}

/// Writes an Ed25519 private key as PKCS#8 PEM, readable by its owner only.
pub fn save_signing_key(key: &SigningKey, path: &Path) -> Result<(), SignError> {
    let io = |source| SignError::Io { path: path.display().to_string(), source };
    let pem = key
        .to_pkcs8_pem(Default::default())
        .map_err(|e| SignError::BadKeyFile { path: path.display().to_string(), reason: e.to_string() })?;
    write_private(path, pem.as_bytes()).map_err(io)
}

/// Writes a file that only its owner may read.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Writes `bytes` to `path` (readable by its owner only), whole, but only if
/// nothing is there yet: it is written beside the path and linked into place.
/// Processes starting together on a fresh keys directory so end up with one
/// file; `false` means another got there first (read theirs).
pub fn write_private_new(path: &Path, bytes: &[u8]) -> std::io::Result<bool> {
    let mut draft = path.as_os_str().to_owned();
    draft.push(format!(".{:016x}.new", rand::rngs::OsRng.next_u64()));
    let draft = std::path::PathBuf::from(draft);
    write_private(&draft, bytes)?;
    let linked = std::fs::hard_link(&draft, path);
    match linked {
        Ok(()) => {
            // The draft is now a second name of the file itself: unlink it only.
            let _ = std::fs::remove_file(&draft);
            Ok(true)
        }
        Err(e) => {
            // A losing draft holds a secret nobody uses: leave no copy of it.
            let _ = erase_file(&draft);
            if e.kind() == std::io::ErrorKind::AlreadyExists { Ok(false) } else { Err(e) }
        }
    }
}

/// Syncs a directory, so a file created or removed in it stays so after a crash.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    std::fs::File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Overwrites a file's bytes with zeros, syncs, unlinks it and syncs its
/// directory; returns whether it existed.
pub fn erase_file(path: &Path) -> std::io::Result<bool> {
    let mut file = match std::fs::OpenOptions::new().write(true).open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    let len = usize::try_from(file.metadata()?.len()).map_err(std::io::Error::other)?;
    std::io::Write::write_all(&mut file, &vec![0u8; len])?;
    file.sync_all()?;
    drop(file);
    match std::fs::remove_file(path) {
        // Removed meanwhile by whoever else was erasing it.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        other => other?,
    }
    sync_dir(path.parent().unwrap_or(Path::new(".")))?;
    Ok(true)
}

/// Reads a 32-byte secret kept as 64 hex characters in `path`, or creates
/// one (see [`write_private_new`]) if there is none.
pub fn load_or_create_secret(path: &Path) -> std::io::Result<[u8; 32]> {
    let invalid = || std::io::Error::new(std::io::ErrorKind::InvalidData, "not 64 hex characters");
    match std::fs::read_to_string(path) {
        Ok(text) => hex::decode(text.trim()).ok().and_then(|b| b.try_into().ok()).ok_or_else(invalid),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut secret = [0u8; 32];
            rand::rngs::OsRng.fill_bytes(&mut secret);
            if write_private_new(path, hex::encode(secret).as_bytes())? {
                Ok(secret)
            } else {
                load_or_create_secret(path)
            }
        }
        Err(e) => Err(e),
    }
}

/// Reads the Ed25519 key at `path`, or creates one (see
/// [`write_private_new`]) if there is none.
pub fn load_or_create_signing_key(path: &Path) -> Result<SigningKey, SignError> {
    if path.exists() {
        return load_signing_key(path);
    }
    let key = SigningKey::generate(&mut rand::rngs::OsRng);
    let pem = key
        .to_pkcs8_pem(Default::default())
        .map_err(|e| SignError::BadKeyFile { path: path.display().to_string(), reason: e.to_string() })?;
    let io = |source| SignError::Io { path: path.display().to_string(), source };
    if write_private_new(path, pem.as_bytes()).map_err(io)? { Ok(key) } else { load_signing_key(path) }
}

/// One registered public key.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RegisteredKey {
    /// The key's id.
    pub key_id: String,
    /// The agency it signs for.
    pub agency_id: String,
    /// The Ed25519 public key, base64.
    pub public_key: String,
}

/// The partnership's registry of agency public keys (`registry.json`).
#[derive(Debug, Clone, Default)]
pub struct KeyRegistry {
    keys: BTreeMap<String, (AgencyId, VerifyingKey)>,
}

/// An event whose signature, agency and content were checked.
#[derive(Debug, Clone)]
pub struct VerifiedEvent {
    /// The decoded event.
    pub event: pb::Event,
    /// The signed form, exactly as received (what the log stores).
    pub signed: pb::SignedEvent,
    /// Facts established by validation.
    pub checked: Checked,
}

impl KeyRegistry {
    /// Adds a key for an agency.
    pub fn insert(&mut self, agency: AgencyId, key: VerifyingKey) {
        self.keys.insert(key_id(&agency, &key), (agency, key));
    }

    /// The agency a key id belongs to.
    pub fn agency_of(&self, key_id: &str) -> Option<&AgencyId> {
        self.keys.get(key_id).map(|(a, _)| a)
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether there are no keys.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Every registered key.
    pub fn entries(&self) -> Vec<RegisteredKey> {
        self.keys
            .iter()
            .map(|(id, (agency, key))| RegisteredKey {
                key_id: id.clone(),
                agency_id: agency.to_string(),
                public_key: B64.encode(key.as_bytes()),
            })
            .collect()
    }

    /// Loads `registry.json` (a JSON array of [`RegisteredKey`]).
    pub fn load(path: &Path) -> Result<Self, SignError> {
        let bad = |reason: String| SignError::BadKeyFile { path: path.display().to_string(), reason };
        let text = std::fs::read_to_string(path)
            .map_err(|source| SignError::Io { path: path.display().to_string(), source })?;
        let entries: Vec<RegisteredKey> =
            serde_json::from_str(&text).map_err(|e| bad(format!("not a key registry: {e}")))?;
        let mut registry = KeyRegistry::default();
        for entry in entries {
            let agency = AgencyId::parse(&entry.agency_id).map_err(|e| bad(e.to_string()))?;
            let raw = B64.decode(&entry.public_key).map_err(|e| bad(format!("key {}: {e}", entry.key_id)))?;
            let raw: [u8; 32] =
                raw.try_into().map_err(|_| bad(format!("key {}: an Ed25519 public key is 32 bytes", entry.key_id)))?;
            let key = VerifyingKey::from_bytes(&raw).map_err(|e| bad(format!("key {}: {e}", entry.key_id)))?;
            if key_id(&agency, &key) != entry.key_id {
                return Err(bad(format!("key id {} does not match its key", entry.key_id)));
            }
            registry.insert(agency, key);
        }
        Ok(registry)
    }

    /// Writes `registry.json`.
    pub fn save(&self, path: &Path) -> Result<(), SignError> {
        let text = serde_json::to_string_pretty(&self.entries())
            .map_err(|e| SignError::BadKeyFile { path: path.display().to_string(), reason: e.to_string() })?;
        std::fs::write(path, text).map_err(|source| SignError::Io { path: path.display().to_string(), source })
    }

    /// Verifies a signed event: known key, valid signature, the key's agency
    /// is the event's agency, and the event passes validation as sealed.
    pub fn verify(&self, signed: pb::SignedEvent) -> Result<VerifiedEvent, VerifyError> {
        let (key_agency, key) =
            self.keys.get(&signed.key_id).ok_or_else(|| VerifyError::UnknownKey(signed.key_id.clone()))?;
        let signature = ed25519_dalek::Signature::from_slice(&signed.signature)
            .map_err(|_| VerifyError::BadSignature(signed.key_id.clone()))?;
        key.verify(&signed.event, &signature).map_err(|_| VerifyError::BadSignature(signed.key_id.clone()))?;
        let event = pb::Event::decode(signed.event.as_slice()).map_err(|e| VerifyError::Malformed(e.to_string()))?;
        if event.agency_id != key_agency.as_str() {
            return Err(VerifyError::WrongAgency {
                key_id: signed.key_id.clone(),
                key_agency: key_agency.to_string(),
                claimed: event.agency_id.clone(),
            });
        }
        let checked = validate::check(&event, Stage::Sealed)?;
        Ok(VerifiedEvent { event, signed, checked })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn processes_starting_together_agree_on_one_signing_key_and_one_secret() {
        for _ in 0..10 {
            let dir = tempfile::tempdir().unwrap();
            let (key_path, secret_path) = (dir.path().join("ledger.pem"), dir.path().join("replay.key"));
            let (keys, secrets): (Vec<_>, Vec<_>) = std::thread::scope(|scope| {
                let racers: Vec<_> = (0..8)
                    .map(|_| {
                        scope.spawn(|| {
                            let key = load_or_create_signing_key(&key_path).unwrap().verifying_key();
                            (key, load_or_create_secret(&secret_path).unwrap())
                        })
                    })
                    .collect();
                racers.into_iter().map(|r| r.join().unwrap()).unzip()
            });
            assert!(keys.iter().all(|k| *k == keys[0]), "two signing keys were created");
            assert!(secrets.iter().all(|s| *s == secrets[0]), "two secrets were created");
            assert_eq!(load_signing_key(&key_path).unwrap().verifying_key(), keys[0], "the one on disk");
            assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2, "no draft left behind");
        }
    }
}
