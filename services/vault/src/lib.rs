//! The vault: every subject's data key, wrapped under the partnership's master
//! key (see [`ring`]) and kept in a directory of key files ([`dir`]), or in
//! the JetStream bucket every process shares with a local copy ([`nats`]).
//!
//! Each key is a subject's private X25519 key. Sealers get only the public
//! half ([`SealKeys`]: a node asks a replica for it over NATS, see
//! `concord_bus::keys`); readers get the private key to unseal
//! ([`SubjectKeys`]). Erasure (crypto-shredding) erases the wrapped key, its bytes
//! included, from every store that holds it, after which no copy of that
//! subject's personal data anywhere in the log can be read.

use std::sync::Arc;

use async_trait::async_trait;
use concord_core::SubjectId;
use concord_core::seal::{DataKey, PublicKey, SealError, SealKeys, SubjectKeys};

pub mod dir;
pub mod nats;
pub mod ring;

pub use dir::DirKeyStore;
pub use nats::NatsKeyStore;
pub use ring::{KeyRing, MasterKey, Rewrapped};

/// Where wrapped subject keys are kept: a local store, or a store shared by
/// every process of the partnership (a JetStream key-value bucket).
pub trait KeyStore: Send + Sync {
    /// The wrapped key stored under `name`.
    fn get(&self, name: &str) -> Result<Option<Vec<u8>>, String>;
    /// Stores `value` under `name` unless something is there; returns what is stored.
    fn create(&self, name: &str, value: Vec<u8>) -> Result<Vec<u8>, String>;
    /// Erases `name` everywhere this store keeps it; returns whether it existed.
    fn delete(&self, name: &str) -> Result<bool, String>;
}

impl KeyStore for DirKeyStore {
    fn get(&self, name: &str) -> Result<Option<Vec<u8>>, String> {
        DirKeyStore::get(self, name).map_err(|e| e.to_string())
    }

    fn create(&self, name: &str, value: Vec<u8>) -> Result<Vec<u8>, String> {
        DirKeyStore::create(self, name, &value).map_err(|e| e.to_string())
    }

    fn delete(&self, name: &str) -> Result<bool, String> {
        self.erase(name).map_err(|e| e.to_string())
    }
}

/// Failures of the vault: its master keys and its local key store.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A master key file or variable does not hold a key.
    #[error("master key {from}: expected 64 hex characters (a 256-bit key)")]
    BadKey {
        /// The file or environment variable.
        from: String,
    },
    /// A wrapped subject key does not open.
    #[error("the key of {name} does not open: {reason}")]
    Unwrap {
        /// The key's name (the subject).
        name: String,
        /// Why.
        reason: &'static str,
    },
    /// A key file is not one this store wrote.
    #[error("{path}: not a subject key file (or not the key its name says)")]
    Corrupt {
        /// The file.
        path: String,
    },
    /// A key name cannot be stored.
    #[error("`{name}` cannot name a subject key")]
    BadName {
        /// The name.
        name: String,
    },
    /// An older data directory's keys could not be moved in.
    #[error("moving the subject keys of {path}: {reason}")]
    Migrate {
        /// The older store.
        path: String,
        /// What failed.
        reason: String,
    },
}

/// A shared key store (the JetStream bucket) with a local durable copy of
/// every key this process has used: events about subjects it knows can still
/// be sealed and read while the shared store is unreachable. New keys are
/// always created in the shared store first, which settles races between
/// processes.
///
/// Erasure reaches the copies: every process follows the bucket and erases
/// its copy when a key is purged there, and on connecting erases copies
/// whose shared key was erased (see [`NatsKeyStore::connect_mirrored`]). The
/// window: a process cut off from NATS keeps its copy, and can still read
/// that subject's personal data, until it reconnects.
pub struct CachedKeyStore {
    shared: NatsKeyStore,
    local: Arc<DirKeyStore>,
}

impl CachedKeyStore {
    /// Connects to the bucket (see [`NatsKeyStore::connect`]) with `local`
    /// as this process's copy, reconciled with the bucket before returning
    /// and kept so while connected.
    pub fn connect(url: &str, replicas: usize, manage: bool, local: DirKeyStore) -> Result<Self, String> {
        let local = Arc::new(local);
        let shared = NatsKeyStore::connect_mirrored(url, replicas, manage, Some(local.clone()))?;
        Ok(CachedKeyStore { shared, local })
    }

    /// The local copy.
    pub fn local(&self) -> &DirKeyStore {
        &self.local
    }

    /// The shared store.
    pub fn shared(&self) -> &NatsKeyStore {
        &self.shared
    }
}

impl KeyStore for CachedKeyStore {
    fn get(&self, name: &str) -> Result<Option<Vec<u8>>, String> {
        if let Some(v) = KeyStore::get(self.local.as_ref(), name)? {
            return Ok(Some(v));
        }
        // The shared store writes the local copy itself, in order with the
        // erasures it follows, so a copy never outlives an erasure.
        self.shared.get(name)
    }

    fn create(&self, name: &str, value: Vec<u8>) -> Result<Vec<u8>, String> {
        self.shared.create(name, value)
    }

    fn delete(&self, name: &str) -> Result<bool, String> {
        let shared = self.shared.delete(name)?;
        Ok(KeyStore::delete(self.local.as_ref(), name)? || shared)
    }
}

/// Subjects' private keys in a [`KeyStore`], wrapped with ChaCha20-Poly1305
/// under the master key ring (the subject's stream id is the associated
/// data, so a wrapped key cannot be moved to another subject).
#[derive(Clone)]
pub struct Vault {
    store: Arc<dyn KeyStore>,
    ring: KeyRing,
}

fn store_error(e: impl std::fmt::Display) -> SealError {
    SealError::KeyStore(e.to_string())
}

impl Vault {
    /// A vault over any key store.
    pub fn new(store: Arc<dyn KeyStore>, ring: KeyRing) -> Self {
        Vault { store, ring }
    }

    /// A vault over a local key directory (one process).
    pub fn local(store: DirKeyStore, ring: KeyRing) -> Self {
        Self::new(Arc::new(store), ring)
    }

    /// Destroys a subject's data key (crypto-shredding). Returns whether it had one.
    pub fn shred(&self, subject: &SubjectId) -> Result<bool, SealError> {
        self.store.delete(&subject.stream()).map_err(store_error)
    }
}

impl Vault {
    /// The subject's private key. With `create`, one is made if the subject
    /// has none; without, `None` means it has none (never had one, or it
    /// was erased). Blocking: may wait on the shared store.
    pub fn data_key(&self, subject: &SubjectId, create: bool) -> Result<Option<DataKey>, SealError> {
        let name = subject.stream();
        if let Some(wrapped) = self.store.get(&name).map_err(store_error)? {
            return self.ring.unwrap(&name, &wrapped).map(Some).map_err(store_error);
        }
        if !create {
            return Ok(None);
        }
        // If another caller (or process) created one first, theirs is kept and used.
        let mine = self.ring.wrap(&name, &DataKey::generate()).map_err(store_error)?;
        let wrapped = self.store.create(&name, mine).map_err(store_error)?;
        self.ring.unwrap(&name, &wrapped).map(Some).map_err(store_error)
    }
}

impl SubjectKeys for Vault {
    fn data_key(&self, subject: &SubjectId) -> Result<Option<DataKey>, SealError> {
        Vault::data_key(self, subject, false)
    }
}

#[async_trait]
impl SealKeys for Vault {
    /// The subjects' public keys, creating keys for new subjects, off the
    /// async workers (the store may wait on NATS).
    async fn public_keys(&self, subjects: &[SubjectId]) -> Result<Vec<PublicKey>, SealError> {
        let (vault, subjects) = (self.clone(), subjects.to_vec());
        tokio::task::spawn_blocking(move || {
            subjects
                .iter()
                .map(|s| {
                    let key = vault.data_key(s, true)?.ok_or_else(|| SealError::KeyStore("no key created".into()))?;
                    Ok(key.public_key())
                })
                .collect()
        })
        .await
        .map_err(|e| SealError::KeyStore(format!("the key task failed: {e}")))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_persist_wrapped_and_shred() {
        let dir = tempfile::tempdir().unwrap();
        let keys = dir.path().join("subject-keys");
        let ring = KeyRing::from(MasterKey::load_or_create(&dir.path().join("master.key")).unwrap());
        let subject = SubjectId::parse("person/P-1").unwrap();
        let first = {
            let vault = Vault::local(DirKeyStore::open(&keys).unwrap(), ring.clone());
            assert_eq!(vault.data_key(&subject, false).unwrap(), None);
            vault.data_key(&subject, true).unwrap().unwrap()
        };
        let store = DirKeyStore::open(&keys).unwrap();
        let vault = Vault::local(store.clone(), ring.clone());
        assert_eq!(vault.data_key(&subject, true).unwrap(), Some(first.clone()), "the same key after a restart");
        let stored = store.get(&subject.stream()).unwrap().unwrap();
        assert!(!stored.windows(32).any(|w| w == first.0), "the data key is stored wrapped");

        let wrong = Vault::local(store.clone(), KeyRing::from(MasterKey::from_bytes([7; 32])));
        let err = wrong.data_key(&subject, false).unwrap_err().to_string();
        assert!(err.contains("person/P-1") && err.contains("master key"), "{err}");

        assert!(vault.shred(&subject).unwrap());
        assert_eq!(vault.data_key(&subject, false).unwrap(), None);
        assert!(!vault.shred(&subject).unwrap());
    }

    #[test]
    fn sealed_data_stays_readable_across_a_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let store = DirKeyStore::open(dir.path()).unwrap();
        let (old, new) = (MasterKey::generate(), MasterKey::generate());
        let subject = SubjectId::parse("person/P-9").unwrap();
        let before = Vault::local(store.clone(), KeyRing::from(old.clone())).data_key(&subject, true).unwrap();

        let ring = KeyRing::new(new.clone(), Some(old));
        assert_eq!(Vault::local(store.clone(), ring.clone()).data_key(&subject, false).unwrap(), before);
        assert_eq!(store.rewrap_all(&ring).unwrap().rewrapped, 1);
        assert_eq!(Vault::local(store, KeyRing::from(new)).data_key(&subject, false).unwrap(), before);
    }
}
