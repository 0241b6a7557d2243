//! The vault: every subject's data key, wrapped under the partnership's master
//! key and kept in an ordered key-value store.
//!
//! Nodes ask it for a subject's key to seal personal data; readers ask it to
//! unseal. Erasure (crypto-shredding) deletes the wrapped key, after which no
//! copy of that subject's personal data anywhere in the log can be read.

use std::path::Path;
use std::sync::{Arc, Mutex};

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use concord_core::SubjectId;
use concord_core::seal::{DataKey, SealError, SubjectKeys};
use concord_log::kv::{Kv, WriteBatch};
use rand::RngCore;

/// Failures to load the master key.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// The master key file could not be read or written.
    #[error("master key {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The master key file does not hold a key.
    #[error("master key {path}: expected 64 hex characters (a 256-bit key)")]
    BadKey {
        /// The file.
        path: String,
    },
}

/// The key that wraps every subject's data key.
#[derive(Clone)]
pub struct MasterKey([u8; 32]);

impl MasterKey {
    /// Reads a master key file (64 hex characters), or creates one (mode 0600)
    /// if it does not exist.
    pub fn load_or_create(path: &Path) -> Result<Self, VaultError> {
        let io = |source| VaultError::Io { path: path.display().to_string(), source };
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let bytes =
                    hex::decode(text.trim()).map_err(|_| VaultError::BadKey { path: path.display().to_string() })?;
                let key: [u8; 32] =
                    bytes.try_into().map_err(|_| VaultError::BadKey { path: path.display().to_string() })?;
                Ok(MasterKey(key))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut key = [0u8; 32];
                rand::rngs::OsRng.fill_bytes(&mut key);
                concord_core::sign::write_private(path, hex::encode(key).as_bytes()).map_err(io)?;
                Ok(MasterKey(key))
            }
            Err(e) => Err(io(e)),
        }
    }

    /// A master key from raw bytes (e.g. from the environment).
    pub fn from_bytes(key: [u8; 32]) -> Self {
        MasterKey(key)
    }
}

/// Subject data keys in a KV store, wrapped with ChaCha20-Poly1305 under the
/// master key (the subject's stream id is the associated data, so a wrapped
/// key cannot be moved to another subject).
pub struct Vault {
    kv: Arc<dyn Kv>,
    master: ChaCha20Poly1305,
    /// Serialises create-if-missing so two callers never make two keys.
    create: Mutex<()>,
}

const PREFIX: &[u8] = b"k/";

fn kv_key(subject: &SubjectId) -> Vec<u8> {
    let mut key = PREFIX.to_vec();
    key.extend_from_slice(subject.stream().as_bytes());
    key
}

fn store_error(e: impl std::fmt::Display) -> SealError {
    SealError::KeyStore(e.to_string())
}

impl Vault {
    /// A vault over a KV store.
    pub fn new(kv: Arc<dyn Kv>, master: &MasterKey) -> Self {
        Vault { kv, master: ChaCha20Poly1305::new((&master.0).into()), create: Mutex::new(()) }
    }

    fn unwrap_key(&self, subject: &SubjectId, wrapped: &[u8]) -> Result<DataKey, SealError> {
        if wrapped.len() < 12 {
            return Err(SealError::KeyStore(format!("wrapped key of {subject} is truncated")));
        }
        let (nonce, ciphertext) = wrapped.split_at(12);
        let aad = subject.stream();
        let plain = self
            .master
            .decrypt(Nonce::from_slice(nonce), Payload { msg: ciphertext, aad: aad.as_bytes() })
            .map_err(|_| SealError::KeyStore(format!("key of {subject} does not open with this master key")))?;
        let key: [u8; 32] =
            plain.try_into().map_err(|_| SealError::KeyStore(format!("key of {subject} has the wrong length")))?;
        Ok(DataKey(key))
    }

    fn wrap_key(&self, subject: &SubjectId, key: &DataKey) -> Result<Vec<u8>, SealError> {
        let mut nonce = [0u8; 12];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let aad = subject.stream();
        let ciphertext = self
            .master
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: &key.0, aad: aad.as_bytes() })
            .map_err(|_| SealError::KeyStore("wrapping failed".into()))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ciphertext);
        Ok(out)
    }

    /// Destroys a subject's data key (crypto-shredding). Returns whether it had one.
    pub fn shred(&self, subject: &SubjectId) -> Result<bool, SealError> {
        let _guard = self.create.lock().map_err(|_| store_error("vault lock poisoned"))?;
        let key = kv_key(subject);
        let existed = self.kv.get(&key).map_err(store_error)?.is_some();
        let mut batch = WriteBatch::default();
        batch.delete(key);
        self.kv.commit(batch).map_err(store_error)?;
        Ok(existed)
    }
}

impl SubjectKeys for Vault {
    fn data_key(&self, subject: &SubjectId, create: bool) -> Result<Option<DataKey>, SealError> {
        let key = kv_key(subject);
        if let Some(wrapped) = self.kv.get(&key).map_err(store_error)? {
            return self.unwrap_key(subject, &wrapped).map(Some);
        }
        if !create {
            return Ok(None);
        }
        let _guard = self.create.lock().map_err(|_| store_error("vault lock poisoned"))?;
        if let Some(wrapped) = self.kv.get(&key).map_err(store_error)? {
            return self.unwrap_key(subject, &wrapped).map(Some);
        }
        let data_key = DataKey::generate();
        let mut batch = WriteBatch::default();
        batch.put(key, self.wrap_key(subject, &data_key)?);
        self.kv.commit(batch).map_err(store_error)?;
        Ok(Some(data_key))
    }
}

#[cfg(test)]
mod tests {
    use concord_log::kv::{Engine, open};

    use super::*;

    #[test]
    fn keys_persist_wrapped_and_shred() {
        let dir = tempfile::tempdir().unwrap();
        let master = MasterKey::load_or_create(&dir.path().join("master.key")).unwrap();
        let subject = SubjectId::parse("person/P-1").unwrap();
        let first = {
            let vault = Vault::new(open(Engine::Redb, &dir.path().join("kv")).unwrap(), &master);
            assert_eq!(vault.data_key(&subject, false).unwrap(), None);
            vault.data_key(&subject, true).unwrap().unwrap()
        };
        let vault = Vault::new(open(Engine::Redb, &dir.path().join("kv")).unwrap(), &master);
        assert_eq!(vault.data_key(&subject, false).unwrap(), Some(first.clone()));
        let stored = vault.kv.get(&kv_key(&subject)).unwrap().unwrap();
        assert!(!stored.windows(32).any(|w| w == first.0), "the data key is stored wrapped");

        let other_master = MasterKey::from_bytes([7; 32]);
        let wrong = Vault::new(vault.kv.clone(), &other_master);
        assert!(wrong.data_key(&subject, false).is_err());

        assert!(vault.shred(&subject).unwrap());
        assert_eq!(vault.data_key(&subject, false).unwrap(), None);
        assert!(!vault.shred(&subject).unwrap());
    }
}
