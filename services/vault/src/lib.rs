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
mod opened;
pub mod ring;

pub use dir::DirKeyStore;
pub use nats::NatsKeyStore;
pub use opened::OpenedStore;
pub use ring::{KeyRing, MasterKey, Rewrapped};

/// Where wrapped subject keys are kept: a local store, or a store shared by
/// every process of the partnership (a JetStream key-value bucket).
///
/// Every method only awaits: a store that has to wait on the network or the
/// disk does so without holding up the async worker that calls it.
#[async_trait]
pub trait KeyStore: Send + Sync {
    /// The wrapped key stored under `name`.
    async fn get(&self, name: &str) -> Result<Option<Vec<u8>>, KeyStoreError>;
    /// Stores `value` under `name` unless something is there; returns what is stored.
    async fn create(&self, name: &str, value: Vec<u8>) -> Result<Vec<u8>, KeyStoreError>;
    /// Erases `name` everywhere this store keeps it; returns whether it existed.
    async fn delete(&self, name: &str) -> Result<bool, KeyStoreError>;
    /// The wrapped key stored under `name` if the store has it at hand
    /// without waiting (read lately); `None` says nothing: ask [`KeyStore::get`].
    fn get_at_hand(&self, _name: &str) -> Option<Vec<u8>> {
        None
    }
}

/// Failures of a [`KeyStore`].
#[derive(Debug, thiserror::Error)]
pub enum KeyStoreError {
    /// The shared store (NATS, the bucket) did not answer, or not in time
    /// (after retrying for a while: see [`nats`]).
    #[error("the shared subject key store is unavailable: {0}")]
    Unavailable(async_nats::Error),
    /// The local key directory failed.
    #[error(transparent)]
    Local(#[from] VaultError),
    /// A blocking task doing the store's file work panicked or was cancelled.
    #[error("a subject key store task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

impl KeyStoreError {
    /// The shared store failed with `e`.
    pub(crate) fn unavailable(e: impl Into<async_nats::Error>) -> Self {
        KeyStoreError::Unavailable(e.into())
    }
}

/// The directory's file operations are synchronous (they write and sync
/// small files): each runs on a blocking thread.
#[async_trait]
impl KeyStore for DirKeyStore {
    async fn get(&self, name: &str) -> Result<Option<Vec<u8>>, KeyStoreError> {
        if let Some(value) = self.get_recent(name) {
            return Ok(Some(value));
        }
        let name = name.to_string();
        self.blocking(move |store| store.get(&name)).await
    }

    fn get_at_hand(&self, name: &str) -> Option<Vec<u8>> {
        self.get_recent(name)
    }

    async fn create(&self, name: &str, value: Vec<u8>) -> Result<Vec<u8>, KeyStoreError> {
        let name = name.to_string();
        self.blocking(move |store| DirKeyStore::create(store, &name, &value)).await
    }

    async fn delete(&self, name: &str) -> Result<bool, KeyStoreError> {
        let name = name.to_string();
        self.blocking(move |store| store.erase(&name)).await
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
    local: DirKeyStore,
}

impl CachedKeyStore {
    /// Connects to the bucket (see [`NatsKeyStore::connect`]) with `local`
    /// as this process's copy, reconciled with the bucket before returning
    /// and kept so while connected (by a task on the caller's runtime).
    pub async fn connect(url: &str, replicas: usize, manage: bool, local: DirKeyStore) -> Result<Self, KeyStoreError> {
        let shared = NatsKeyStore::connect_mirrored(url, replicas, manage, Some(local.clone())).await?;
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

#[async_trait]
impl KeyStore for CachedKeyStore {
    async fn get(&self, name: &str) -> Result<Option<Vec<u8>>, KeyStoreError> {
        if let Some(v) = KeyStore::get(&self.local, name).await? {
            return Ok(Some(v));
        }
        // The shared store writes the local copy itself, in order with the
        // erasures it follows, so a copy never outlives an erasure.
        self.shared.get(name).await
    }

    async fn create(&self, name: &str, value: Vec<u8>) -> Result<Vec<u8>, KeyStoreError> {
        self.shared.create(name, value).await
    }

    fn get_at_hand(&self, name: &str) -> Option<Vec<u8>> {
        self.local.get_recent(name)
    }

    async fn delete(&self, name: &str) -> Result<bool, KeyStoreError> {
        let shared = self.shared.delete(name).await?;
        Ok(KeyStore::delete(&self.local, name).await? || shared)
    }
}

/// Subjects' private keys in a [`KeyStore`], wrapped with ChaCha20-Poly1305
/// under the master key ring (the subject's stream id is the associated
/// data, so a wrapped key cannot be moved to another subject).
///
/// A vault belongs to the Tokio runtime it was made on: its synchronous
/// [`SubjectKeys`] side waits on that runtime for the store.
#[derive(Clone)]
pub struct Vault {
    store: Arc<dyn KeyStore>,
    ring: KeyRing,
    runtime: tokio::runtime::Handle,
    /// Subjects' public keys worked out lately, with the wrapped key each
    /// came from: used only while the store still holds those very bytes,
    /// so an erased or rewrapped key is never sealed to from here.
    publics: Arc<quick_cache::sync::Cache<String, (Vec<u8>, PublicKey)>>,
}

/// How many subjects' public keys a vault keeps at hand (about 200 bytes each).
const PUBLIC_KEYS_AT_HAND: usize = 65_536;

fn store_error(e: impl std::fmt::Display) -> SealError {
    SealError::KeyStore(e.to_string())
}

impl Vault {
    /// A vault over any key store.
    ///
    /// # Panics
    /// Outside a Tokio runtime (the vault keeps a handle to the current one).
    pub fn new(store: Arc<dyn KeyStore>, ring: KeyRing) -> Self {
        Vault {
            store,
            ring,
            runtime: tokio::runtime::Handle::current(),
            publics: Arc::new(quick_cache::sync::Cache::new(PUBLIC_KEYS_AT_HAND)),
        }
    }

    /// A vault over a local key directory (one process).
    ///
    /// # Panics
    /// Outside a Tokio runtime, as [`Vault::new`].
    pub fn local(store: DirKeyStore, ring: KeyRing) -> Self {
        Self::new(Arc::new(store), ring)
    }

    /// Destroys a subject's data key (crypto-shredding). Returns whether it had one.
    pub async fn shred(&self, subject: &SubjectId) -> Result<bool, SealError> {
        self.store.delete(&subject.stream()).await.map_err(store_error)
    }

    /// The subject's private key. With `create`, one is made if the subject
    /// has none; without, `None` means it has none (never had one, or it
    /// was erased).
    pub async fn data_key(&self, subject: &SubjectId, create: bool) -> Result<Option<DataKey>, SealError> {
        self.key_named(&subject.stream(), create).await
    }

    /// The partnership's secret `name`, made on first use: a key that is no
    /// subject's (e.g. the directory's index key), wrapped and stored like
    /// subjects' keys, so every process sharing the store has the same one
    /// and only processes holding the master key can use it. `name` must
    /// not be a subject's stream: `concord/...` never is (no subject kind is
    /// `concord`).
    pub async fn secret(&self, name: &str) -> Result<DataKey, SealError> {
        let key = self.key_named(name, true).await?;
        key.ok_or_else(|| SealError::KeyStore(format!("the secret {name} was not created")))
    }

    /// The key stored under `name`; with `create`, one is made if none is.
    async fn key_named(&self, name: &str, create: bool) -> Result<Option<DataKey>, SealError> {
        if let Some(wrapped) = self.store.get(name).await.map_err(store_error)? {
            return self.ring.unwrap(name, &wrapped).map(Some).map_err(store_error);
        }
        if !create {
            return Ok(None);
        }
        // If another caller (or process) created one first, theirs is kept and used.
        let mine = self.ring.wrap(name, &DataKey::generate()).map_err(store_error)?;
        let wrapped = self.store.create(name, mine).await.map_err(store_error)?;
        self.ring.unwrap(name, &wrapped).map(Some).map_err(store_error)
    }
}

impl SubjectKeys for Vault {
    /// Blocking: waits on the vault's runtime for the store. Call it from a
    /// blocking thread (`spawn_blocking`, as readers do), never from an
    /// async worker. On a worker of a multi-threaded runtime it still works
    /// (the worker's other tasks are moved off it first, see
    /// [`tokio::task::block_in_place`]); on a current-thread runtime's own
    /// thread it panics rather than deadlock.
    fn data_key(&self, subject: &SubjectId) -> Result<Option<DataKey>, SealError> {
        let name = subject.stream();
        if let Some(wrapped) = self.store.get_at_hand(&name) {
            return self.ring.unwrap(&name, &wrapped).map(Some).map_err(store_error);
        }
        tokio::task::block_in_place(|| self.runtime.block_on(Vault::data_key(self, subject, false)))
    }
}

impl Vault {
    /// The subject's public key, creating a key if the subject has none.
    /// Unwrapping the key and deriving its public half (an X25519 scalar
    /// multiplication) is skipped when the store still holds the wrapped
    /// key it was last derived from.
    async fn public_key(&self, subject: &SubjectId) -> Result<PublicKey, SealError> {
        let name = subject.stream();
        let wrapped = match self.store.get(&name).await.map_err(store_error)? {
            Some(wrapped) => wrapped,
            None => {
                // If another caller (or process) created one first, theirs is kept and used.
                let mine = self.ring.wrap(&name, &DataKey::generate()).map_err(store_error)?;
                self.store.create(&name, mine).await.map_err(store_error)?
            }
        };
        if let Some((from, public)) = self.publics.get(&name)
            && from == wrapped
        {
            return Ok(public);
        }
        let public = self.ring.unwrap(&name, &wrapped).map_err(store_error)?.public_key();
        self.publics.insert(name, (wrapped, public));
        Ok(public)
    }
}

#[async_trait]
impl SealKeys for Vault {
    /// The subjects' public keys, creating keys for new subjects (all of
    /// them at once: a new key is a round trip to the shared store).
    async fn public_keys(&self, subjects: &[SubjectId]) -> Result<Vec<PublicKey>, SealError> {
        futures::future::try_join_all(subjects.iter().map(|subject| self.public_key(subject))).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn keys_persist_wrapped_and_shred() {
        let dir = tempfile::tempdir().unwrap();
        let keys = dir.path().join("subject-keys");
        let ring = KeyRing::from(MasterKey::load_or_create(&dir.path().join("master.key")).unwrap());
        let subject = SubjectId::parse("person/P-1").unwrap();
        let first = {
            let vault = Vault::local(DirKeyStore::open(&keys).unwrap(), ring.clone());
            assert_eq!(vault.data_key(&subject, false).await.unwrap(), None);
            vault.data_key(&subject, true).await.unwrap().unwrap()
        };
        let store = DirKeyStore::open(&keys).unwrap();
        let vault = Vault::local(store.clone(), ring.clone());
        assert_eq!(vault.data_key(&subject, true).await.unwrap(), Some(first.clone()), "the same key after a restart");
        let stored = store.get(&subject.stream()).unwrap().unwrap();
        assert!(!stored.windows(32).any(|w| w == first.0), "the data key is stored wrapped");

        let wrong = Vault::local(store.clone(), KeyRing::from(MasterKey::from_bytes([7; 32])));
        let err = wrong.data_key(&subject, false).await.unwrap_err().to_string();
        assert!(err.contains("person/P-1") && err.contains("master key"), "{err}");

        assert!(vault.shred(&subject).await.unwrap());
        assert_eq!(vault.data_key(&subject, false).await.unwrap(), None);
        assert!(!vault.shred(&subject).await.unwrap());
    }

    /// Readers unseal on blocking threads: there the synchronous side waits
    /// on the vault's runtime, a current-thread one included.
    #[tokio::test(flavor = "current_thread")]
    async fn readers_on_blocking_threads_get_keys_through_the_vaults_runtime() {
        let dir = tempfile::tempdir().unwrap();
        let vault = Vault::local(DirKeyStore::open(dir.path()).unwrap(), KeyRing::from(MasterKey::generate()));
        let subject = SubjectId::parse("person/P-3").unwrap();
        let key = vault.data_key(&subject, true).await.unwrap();
        let reader = vault.clone();
        let read = tokio::task::spawn_blocking(move || SubjectKeys::data_key(&reader, &subject)).await.unwrap();
        assert_eq!(read.unwrap(), key);
    }

    /// Publishes about the same new subject at once end with one key, and
    /// the public keys kept at hand follow erasure and rotation.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn public_keys_agree_and_follow_erasure() {
        let dir = tempfile::tempdir().unwrap();
        let store = DirKeyStore::open(dir.path()).unwrap();
        let master = MasterKey::generate();
        let vault = Vault::local(store.clone(), KeyRing::from(master.clone()));
        let subject = SubjectId::parse("person/P-5").unwrap();
        let racing = (0..16).map(|_| {
            let (vault, subject) = (vault.clone(), subject.clone());
            tokio::spawn(async move { vault.public_keys(&[subject]).await.unwrap()[0] })
        });
        let publics = futures::future::try_join_all(racing).await.unwrap();
        let key = vault.data_key(&subject, false).await.unwrap().unwrap();
        assert!(publics.iter().all(|p| *p == key.public_key()), "one key for everyone");
        assert_eq!(store.entries().unwrap().len(), 1);

        assert!(vault.shred(&subject).await.unwrap());
        let after = vault.public_keys(std::slice::from_ref(&subject)).await.unwrap()[0];
        assert_ne!(after, key.public_key(), "an erased key is never sealed to again");
        assert_eq!(Some(after), vault.data_key(&subject, false).await.unwrap().map(|k| k.public_key()));

        let ring = KeyRing::new(MasterKey::generate(), Some(master));
        store.rewrap_all(&ring).unwrap();
        let rotated = Vault::local(store, ring);
        assert_eq!(rotated.public_keys(&[subject]).await.unwrap()[0], after, "the same key, rewrapped");
    }

    #[tokio::test]
    async fn sealed_data_stays_readable_across_a_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let store = DirKeyStore::open(dir.path()).unwrap();
        let (old, new) = (MasterKey::generate(), MasterKey::generate());
        let subject = SubjectId::parse("person/P-9").unwrap();
        let before = Vault::local(store.clone(), KeyRing::from(old.clone())).data_key(&subject, true).await.unwrap();

        let ring = KeyRing::new(new.clone(), Some(old));
        assert_eq!(Vault::local(store.clone(), ring.clone()).data_key(&subject, false).await.unwrap(), before);
        assert_eq!(store.rewrap_all(&ring).unwrap().rewrapped, 1);
        assert_eq!(Vault::local(store, KeyRing::from(new)).data_key(&subject, false).await.unwrap(), before);
    }
}
