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

pub mod nats;

pub use nats::NatsKeyStore;

/// Where wrapped subject keys are kept: a local store, or a store shared by
/// every process of the partnership (a JetStream key-value bucket).
pub trait KeyStore: Send + Sync {
    /// The wrapped key stored under `name`.
    fn get(&self, name: &str) -> Result<Option<Vec<u8>>, String>;
    /// Stores `value` under `name` unless something is there; returns what is stored.
    fn create(&self, name: &str, value: Vec<u8>) -> Result<Vec<u8>, String>;
    /// Removes `name`; returns whether it existed.
    fn delete(&self, name: &str) -> Result<bool, String>;
}

/// A key store in a local ordered KV store (one process).
pub struct KvKeyStore {
    kv: Arc<dyn Kv>,
    /// Serialises create-if-missing so two callers never make two keys.
    create: Mutex<()>,
}

impl KvKeyStore {
    /// Wraps a KV store.
    pub fn new(kv: Arc<dyn Kv>) -> Self {
        KvKeyStore { kv, create: Mutex::new(()) }
    }
}

fn kv_key(name: &str) -> Vec<u8> {
    let mut key = b"k/".to_vec();
    key.extend_from_slice(name.as_bytes());
    key
}

impl KeyStore for KvKeyStore {
    fn get(&self, name: &str) -> Result<Option<Vec<u8>>, String> {
        self.kv.get(&kv_key(name)).map_err(|e| e.to_string())
    }

    fn create(&self, name: &str, value: Vec<u8>) -> Result<Vec<u8>, String> {
        let _guard = self.create.lock().map_err(|_| "vault lock poisoned".to_string())?;
        if let Some(existing) = self.get(name)? {
            return Ok(existing);
        }
        let mut batch = WriteBatch::default();
        batch.put(kv_key(name), value.clone());
        self.kv.commit(batch).map_err(|e| e.to_string())?;
        Ok(value)
    }

    fn delete(&self, name: &str) -> Result<bool, String> {
        let _guard = self.create.lock().map_err(|_| "vault lock poisoned".to_string())?;
        let existed = self.get(name)?.is_some();
        let mut batch = WriteBatch::default();
        batch.delete(kv_key(name));
        self.kv.commit(batch).map_err(|e| e.to_string())?;
        Ok(existed)
    }
}

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

/// A shared key store with a local durable copy of every key this process
/// has used: events about subjects it knows can still be sealed and read
/// while the shared store is unreachable. New keys are always created in the
/// shared store first, which settles races between processes.
///
/// Erasure must also reach these copies: until it does (issue 10, erasure),
/// a key shredded in the shared store stays readable where it was copied.
pub struct CachedKeyStore {
    shared: Arc<dyn KeyStore>,
    local: KvKeyStore,
}

impl CachedKeyStore {
    /// Wraps a shared store with a local copy.
    pub fn new(shared: Arc<dyn KeyStore>, local: Arc<dyn Kv>) -> Self {
        CachedKeyStore { shared, local: KvKeyStore::new(local) }
    }
}

impl KeyStore for CachedKeyStore {
    fn get(&self, name: &str) -> Result<Option<Vec<u8>>, String> {
        if let Some(v) = self.local.get(name)? {
            return Ok(Some(v));
        }
        let Some(v) = self.shared.get(name)? else { return Ok(None) };
        self.local.create(name, v.clone())?;
        Ok(Some(v))
    }

    fn create(&self, name: &str, value: Vec<u8>) -> Result<Vec<u8>, String> {
        let stored = self.shared.create(name, value)?;
        self.local.create(name, stored.clone())?;
        Ok(stored)
    }

    fn delete(&self, name: &str) -> Result<bool, String> {
        let shared = self.shared.delete(name)?;
        Ok(self.local.delete(name)? || shared)
    }
}

/// The key that wraps every subject's data key.
#[derive(Clone)]
pub struct MasterKey([u8; 32]);

impl MasterKey {
    /// Reads a master key file (64 hex characters), or creates one (mode 0600)
    /// if it does not exist.
    pub fn load_or_create(path: &Path) -> Result<Self, VaultError> {
        concord_core::sign::load_or_create_secret(path).map(MasterKey).map_err(|e| match e.kind() {
            std::io::ErrorKind::InvalidData => VaultError::BadKey { path: path.display().to_string() },
            _ => VaultError::Io { path: path.display().to_string(), source: e },
        })
    }

    /// A master key from raw bytes (e.g. from the environment).
    pub fn from_bytes(key: [u8; 32]) -> Self {
        MasterKey(key)
    }
}

/// Subject data keys in a [`KeyStore`], wrapped with ChaCha20-Poly1305 under
/// the master key (the subject's stream id is the associated data, so a
/// wrapped key cannot be moved to another subject).
pub struct Vault {
    store: Arc<dyn KeyStore>,
    master: ChaCha20Poly1305,
}

fn store_error(e: impl std::fmt::Display) -> SealError {
    SealError::KeyStore(e.to_string())
}

impl Vault {
    /// A vault over any key store.
    pub fn new(store: Arc<dyn KeyStore>, master: &MasterKey) -> Self {
        Vault { store, master: ChaCha20Poly1305::new((&master.0).into()) }
    }

    /// A vault over a local KV store (one process).
    pub fn local(kv: Arc<dyn Kv>, master: &MasterKey) -> Self {
        Self::new(Arc::new(KvKeyStore::new(kv)), master)
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
        self.store.delete(&subject.stream()).map_err(store_error)
    }
}

impl SubjectKeys for Vault {
    fn data_key(&self, subject: &SubjectId, create: bool) -> Result<Option<DataKey>, SealError> {
        let name = subject.stream();
        if let Some(wrapped) = self.store.get(&name).map_err(store_error)? {
            return self.unwrap_key(subject, &wrapped).map(Some);
        }
        if !create {
            return Ok(None);
        }
        // If another caller (or process) created one first, theirs is kept and used.
        let wrapped = self.store.create(&name, self.wrap_key(subject, &DataKey::generate())?).map_err(store_error)?;
        self.unwrap_key(subject, &wrapped).map(Some)
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
            let vault = Vault::local(open(Engine::Redb, &dir.path().join("kv")).unwrap(), &master);
            assert_eq!(vault.data_key(&subject, false).unwrap(), None);
            vault.data_key(&subject, true).unwrap().unwrap()
        };
        let kv = open(Engine::Redb, &dir.path().join("kv")).unwrap();
        let vault = Vault::local(kv.clone(), &master);
        assert_eq!(vault.data_key(&subject, false).unwrap(), Some(first.clone()));
        let stored = kv.get(&kv_key(&subject.stream())).unwrap().unwrap();
        assert!(!stored.windows(32).any(|w| w == first.0), "the data key is stored wrapped");

        let other_master = MasterKey::from_bytes([7; 32]);
        let wrong = Vault::local(kv.clone(), &other_master);
        assert!(wrong.data_key(&subject, false).is_err());

        assert!(vault.shred(&subject).unwrap());
        assert_eq!(vault.data_key(&subject, false).unwrap(), None);
        assert!(!vault.shred(&subject).unwrap());
    }
}
