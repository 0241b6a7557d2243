//! Subject keys shared by every process of the partnership, in the JetStream
//! key-value bucket `CONCORD_SUBJECT_KEYS` (values are wrapped under the
//! master key, never plain).
//!
//! Everything here runs on the caller's Tokio runtime: requests go to the
//! bucket directly (async-nats), waits and retries only await, the local
//! copy's file work runs on blocking threads, and the bucket is followed by a
//! task spawned on that runtime (stopped when the store is dropped).
//!
//! Erasure is real here too: the key's stored message is first erased
//! (JetStream's message delete, which overwrites the message's bytes in the
//! stream's files unless asked not to), then purged (which leaves a purge
//! marker every process follows). A purge alone would only mark the message
//! removed, its bytes left in the block until the server compacts it.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, kv};
use futures::{StreamExt, TryStreamExt};
use tokio::sync::RwLock;
use tokio::task::JoinHandle;

use crate::dir::DirKeyStore;
use crate::ring::{KeyRing, Rewrapped};
use crate::{KeyStore, KeyStoreError, VaultError};

/// The bucket holding wrapped subject keys.
pub const BUCKET: &str = "CONCORD_SUBJECT_KEYS";

/// A [`KeyStore`] in a JetStream key-value bucket.
pub struct NatsKeyStore {
    bucket: Arc<Bucket>,
    /// The task following the bucket for the local copy, if there is one.
    follower: Option<JoinHandle<()>>,
}

impl Drop for NatsKeyStore {
    /// Stops following the bucket: a store no longer used keeps no copy in step.
    fn drop(&mut self) {
        if let Some(follower) = &self.follower {
            follower.abort();
        }
    }
}

/// Subject key names (`person/P-1`) as bucket keys (`person.P-1`).
fn bucket_key(name: &str) -> String {
    name.replace('/', ".")
}

/// A bucket key's name: subject kinds and keys have no `.`, so the first
/// one is the `/`.
fn key_name(key: &str) -> String {
    key.replacen('.', "/", 1)
}

/// How long an operation is retried while the bucket is briefly unavailable
/// (a stream leader being elected after a server of a cluster died, a
/// reconnect): every step is idempotent, so repeating it is safe.
const RETRY_FOR: Duration = Duration::from_secs(15);

/// Runs `attempt` until it succeeds, fails other than by the bucket being
/// unavailable, or [`RETRY_FOR`] has passed; pauses only await.
async fn retrying<T, F: Future<Output = Result<T, KeyStoreError>>>(
    mut attempt: impl FnMut() -> F,
) -> Result<T, KeyStoreError> {
    let deadline = tokio::time::Instant::now() + RETRY_FOR;
    let mut pause = Duration::from_millis(50);
    loop {
        match attempt().await {
            Err(e @ KeyStoreError::Unavailable(_)) if tokio::time::Instant::now() + pause < deadline => {
                tracing::debug!(error = %e, "subject key store unavailable; retrying");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(1));
            }
            result => return result,
        }
    }
}

/// The bucket, and the local copy kept in step with it.
struct Bucket {
    store: kv::Store,
    mirror: Option<DirKeyStore>,
    /// Whether the stream allows erasing messages (a bucket made before
    /// erasure was real denies it, and that cannot be undone).
    erasable: bool,
    /// Orders the local copy's writes. A copy is written holding it shared,
    /// from before the bucket is read until the file is written (several
    /// at once); every change followed from the bucket, every erasure and
    /// every reconciling holds it exclusively. So a copy is never written
    /// after the erasure of what it copies: either the copy is written
    /// first and the erasure then erases it, or the bucket was read after
    /// the erasure and there is nothing to copy. The guards are owned so
    /// that they can go to the blocking thread doing the file work, and be
    /// released only when it is done (even if the caller gave up waiting).
    order: Arc<RwLock<()>>,
}

impl Bucket {
    /// Writes (or corrects) the local copy of a key read from the bucket,
    /// holding `copying` (see [`Bucket::order`]) until it is written.
    async fn copy(
        &self,
        copying: tokio::sync::OwnedRwLockReadGuard<()>,
        name: &str,
        value: &[u8],
    ) -> Result<(), KeyStoreError> {
        let Some(mirror) = &self.mirror else { return Ok(()) };
        let (name, value) = (name.to_string(), value.to_vec());
        mirror
            .blocking(move |mirror| {
                let _copying = copying;
                if mirror.create(&name, &value)? != value {
                    mirror.replace(&name, &value)?;
                }
                Ok(())
            })
            .await
    }

    async fn get(&self, name: &str) -> Result<Option<Vec<u8>>, KeyStoreError> {
        let copying = self.order.clone().read_owned().await;
        let value = self.store.get(bucket_key(name)).await.map_err(KeyStoreError::unavailable)?.map(|b| b.to_vec());
        if let Some(value) = &value {
            self.copy(copying, name, value).await?;
        }
        Ok(value)
    }

    async fn create(&self, name: &str, value: &[u8]) -> Result<Vec<u8>, KeyStoreError> {
        let copying = self.order.clone().read_owned().await;
        let key = bucket_key(name);
        let stored = match self.store.create(&key, value.to_vec().into()).await {
            Ok(_) => value.to_vec(),
            Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => {
                // Erased in between: the retry creates it.
                let now = self.store.get(&key).await.map_err(KeyStoreError::unavailable)?;
                now.ok_or_else(|| KeyStoreError::unavailable(format!("key {name} vanished")))?.to_vec()
            }
            Err(e) => return Err(KeyStoreError::unavailable(e)),
        };
        self.copy(copying, name, &stored).await?;
        Ok(stored)
    }

    /// Overwrites the key's stored message (JetStream's erase: async-nats
    /// sends no `no_erase`, so the server overwrites the bytes); returns
    /// whether there was a key.
    async fn erase_stored(&self, key: &str) -> Result<bool, KeyStoreError> {
        let Some(entry) = self.store.entry(key).await.map_err(KeyStoreError::unavailable)? else { return Ok(false) };
        if entry.operation != kv::Operation::Put {
            return Ok(false);
        }
        if !self.erasable {
            return Ok(true);
        }
        if let Err(e) = self.store.stream.delete_message(entry.revision).await {
            // Gone meanwhile (erased by another process) is as good as erased.
            let now = self.store.entry(key).await.map_err(KeyStoreError::unavailable)?;
            if now.is_some_and(|now| now.revision == entry.revision) {
                return Err(KeyStoreError::unavailable(e));
            }
        }
        Ok(true)
    }

    async fn delete(&self, name: &str) -> Result<bool, KeyStoreError> {
        let key = bucket_key(name);
        let existed = retrying(|| self.erase_stored(&key)).await?;
        // The purge marker is what every other process follows to erase its
        // copy, now or when it reconnects; it is never removed.
        retrying(|| async { self.store.purge(&key).await.map_err(KeyStoreError::unavailable) }).await?;
        if let Some(mirror) = &self.mirror {
            let erasing = self.order.clone().write_owned().await;
            let name = name.to_string();
            mirror
                .blocking(move |mirror| {
                    let _erasing = erasing;
                    mirror.erase(&name)
                })
                .await?;
        }
        Ok(existed)
    }

    /// Rewraps one key under the ring's current master key: `None` if it is
    /// gone; `Some(Ok(true))` if rewrapped, `Some(Ok(false))` if it was
    /// current already.
    async fn rewrap_one(&self, key: &str, ring: &KeyRing) -> Result<Option<Result<bool, VaultError>>, KeyStoreError> {
        loop {
            let Some(entry) = self.store.entry(key).await.map_err(KeyStoreError::unavailable)? else {
                return Ok(None);
            };
            if entry.operation != kv::Operation::Put {
                return Ok(None);
            }
            let new = match ring.rewrap(&key_name(key), &entry.value) {
                Ok(Some(new)) => new,
                Ok(None) => return Ok(Some(Ok(false))),
                Err(e) => return Ok(Some(Err(e))),
            };
            match self.store.update(key, new.into(), entry.revision).await {
                Ok(_) => return Ok(Some(Ok(true))),
                // Changed (or erased) since it was read: look again.
                Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => continue,
                Err(e) => return Err(KeyStoreError::unavailable(e)),
            }
        }
    }

    /// Rewraps every key of the bucket. Each is replaced only if unchanged
    /// since it was read, so a key created or erased meanwhile is never
    /// overwritten. The replaced value is removed by the bucket's history
    /// limit, not erased: it is wrapped under the previous master key, which
    /// is destroyed when the rotation ends.
    async fn rewrap(&self, ring: &KeyRing) -> Result<Rewrapped, KeyStoreError> {
        let keys: Vec<String> = retrying(|| async {
            let keys = self.store.keys().await.map_err(KeyStoreError::unavailable)?;
            keys.try_collect().await.map_err(KeyStoreError::unavailable)
        })
        .await?;
        let mut counts = Rewrapped::default();
        for key in keys {
            if let Some(outcome) = retrying(|| self.rewrap_one(&key, ring)).await? {
                counts.count(outcome);
            }
        }
        Ok(counts)
    }

    /// Starts following the bucket and reconciles the local copy with it:
    /// a copy whose key was erased from the bucket (its last entry there is
    /// the purge marker erasure leaves) is erased, and one whose key was
    /// rewrapped is replaced. A key the bucket has no entry for at all is
    /// kept: that is a bucket that lost its store, not an erasure, and the
    /// copies are then all that is left. The watch starts first, so nothing
    /// that happens during the reconciling is missed.
    async fn follow(&self, mirror: &DirKeyStore) -> Result<kv::Watch, KeyStoreError> {
        let reconciling = self.order.clone().write_owned().await;
        let watch = self.store.watch_all().await.map_err(KeyStoreError::unavailable)?;
        let copies = mirror.blocking(DirKeyStore::entries).await?;
        let checked: Vec<(String, Vec<u8>, Option<kv::Entry>)> = futures::stream::iter(copies)
            .map(|(name, copy)| async move {
                let entry = self.store.entry(bucket_key(&name)).await.map_err(KeyStoreError::unavailable)?;
                Ok::<_, KeyStoreError>((name, copy, entry))
            })
            .buffer_unordered(32)
            .try_collect()
            .await?;
        let erased = mirror
            .blocking(move |mirror| {
                let _reconciling = reconciling;
                let mut erased = 0;
                for (name, copy, entry) in checked {
                    match entry.map(|e| (e.operation, e.value)) {
                        Some((kv::Operation::Put, value)) if value != copy => {
                            mirror.replace(&name, &value)?;
                        }
                        Some((kv::Operation::Put, _)) | None => {}
                        Some((kv::Operation::Delete | kv::Operation::Purge, _)) => {
                            erased += usize::from(mirror.erase(&name)?);
                        }
                    }
                }
                Ok(erased)
            })
            .await?;
        if erased > 0 {
            tracing::info!(erased, "erased local copies of subject keys erased from the shared bucket");
        }
        Ok(watch)
    }

    /// Applies one change of the bucket to the local copy.
    async fn apply_change(&self, mirror: &DirKeyStore, entry: kv::Entry) -> Result<(), KeyStoreError> {
        let applying = self.order.clone().write_owned().await;
        mirror
            .blocking(move |mirror| {
                let _applying = applying;
                let name = key_name(&entry.key);
                match entry.operation {
                    kv::Operation::Put => {
                        // A key rewrapped under a new master key: keep the copy the same.
                        if mirror.get(&name)?.is_some_and(|copy| copy != entry.value) {
                            mirror.replace(&name, &entry.value)?;
                        }
                    }
                    kv::Operation::Delete | kv::Operation::Purge => {
                        if mirror.erase(&name)? {
                            tracing::debug!("erased the local copy of a subject key erased from the shared bucket");
                        }
                    }
                }
                Ok(())
            })
            .await
    }

    /// Follows the bucket for the local copy, from `watch`, until the store
    /// is dropped (which aborts this task); a watch that fails is started
    /// again (reconciling again) every second until it succeeds.
    async fn keep_following(self: Arc<Self>, mirror: DirKeyStore, mut watch: kv::Watch) {
        loop {
            match watch.next().await {
                Some(Ok(entry)) => {
                    if let Err(e) = self.apply_change(&mirror, entry).await {
                        tracing::error!(error = %e, "could not apply a change of the subject key bucket locally");
                    }
                    continue;
                }
                Some(Err(e)) => tracing::warn!(error = %e, "following the subject key bucket failed; starting again"),
                None => tracing::warn!("following the subject key bucket ended; starting again"),
            }
            watch = loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                match self.follow(&mirror).await {
                    Ok(watch) => break watch,
                    Err(e) => tracing::warn!(error = %e, "cannot follow the subject key bucket yet"),
                }
            };
        }
    }
}

/// The bucket's stream: a key-value bucket's (one value per key, rollups
/// for purges, direct gets) except that it allows message deletes, which a
/// bucket made the usual way denies for good, and which erasure needs.
fn bucket_stream_config(replicas: usize) -> jetstream::stream::Config {
    jetstream::stream::Config {
        name: format!("KV_{BUCKET}"),
        description: Some("Concord: subjects' data keys, wrapped under the master key".into()),
        subjects: vec![format!("$KV.{BUCKET}.>")],
        max_messages_per_subject: 1,
        storage: jetstream::stream::StorageType::File,
        allow_rollup: true,
        deny_delete: false,
        deny_purge: false,
        allow_direct: true,
        num_replicas: replicas.max(1),
        discard: jetstream::stream::DiscardPolicy::New,
        ..Default::default()
    }
}

/// Creates the bucket if it is missing, and sets its replicas.
async fn create_bucket(js: &jetstream::Context, replicas: usize) -> Result<(), KeyStoreError> {
    let mut stream =
        js.get_or_create_stream(bucket_stream_config(replicas)).await.map_err(KeyStoreError::unavailable)?;
    let config = stream.info().await.map_err(KeyStoreError::unavailable)?.config.clone();
    if config.num_replicas != replicas.max(1) {
        js.update_stream(jetstream::stream::Config { num_replicas: replicas.max(1), ..config })
            .await
            .map_err(KeyStoreError::unavailable)?;
    }
    Ok(())
}

/// Opens the bucket (creating it with `manage`), retrying for about 30
/// seconds while it is not there yet.
async fn open_bucket(url: &str, replicas: usize, manage: bool) -> Result<kv::Store, KeyStoreError> {
    let client =
        concord_bus::nats::connect_client(url, "concord-keystore").await.map_err(KeyStoreError::unavailable)?;
    let js = jetstream::new(client);
    let mut last = None;
    for _ in 0..150 {
        let opened = async {
            if manage {
                create_bucket(&js, replicas).await?;
            }
            js.get_key_value(BUCKET).await.map_err(KeyStoreError::unavailable)
        };
        match opened.await {
            Ok(store) => return Ok(store),
            Err(e) => {
                tracing::warn!(error = %e, "subject key bucket not ready; retrying");
                last = Some(e);
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    Err(last.unwrap_or_else(|| KeyStoreError::unavailable("the subject key bucket could not be opened")))
}

impl NatsKeyStore {
    /// Connects to NATS and opens the bucket; with `manage`, creates or
    /// updates it, letting its messages be erased (the ledger does; nodes and
    /// replicas only use it, so their NATS users need no stream management
    /// rights).
    pub async fn connect(url: &str, replicas: usize, manage: bool) -> Result<Self, KeyStoreError> {
        Self::connect_mirrored(url, replicas, manage, None).await
    }

    /// As [`NatsKeyStore::connect`], keeping `mirror` (this process's local
    /// copy of the keys it has used) in step with the bucket: keys read or
    /// created here are copied into it, and the bucket is followed (by a
    /// task spawned on the current runtime, until the store is dropped) so a
    /// key erased or rewrapped by any process is erased or rewrapped in the
    /// copy too. Before this returns, copies whose key was erased from the
    /// bucket while this process was not running are erased.
    ///
    /// The window: while this process is cut off from NATS its copies stay
    /// as they are; they are reconciled when following resumes.
    pub async fn connect_mirrored(
        url: &str,
        replicas: usize,
        manage: bool,
        mirror: Option<DirKeyStore>,
    ) -> Result<Self, KeyStoreError> {
        let store = open_bucket(url, replicas, manage).await?;
        let erasable = !store.stream.cached_info().config.deny_delete;
        if !erasable {
            tracing::warn!(
                "the subject key bucket was made by an older Concord and denies message deletes: an erased key is \
                 purged but its bytes stay in the stream's files until JetStream compacts them; move the keys into \
                 a new bucket to make erasure overwrite them"
            );
        }
        let bucket = Arc::new(Bucket { store, mirror, erasable, order: Arc::new(RwLock::new(())) });
        let follower = match &bucket.mirror {
            None => None,
            Some(mirror) => {
                let watch = retrying(|| bucket.follow(mirror)).await?;
                Some(tokio::spawn(bucket.clone().keep_following(mirror.clone(), watch)))
            }
        };
        Ok(NatsKeyStore { bucket, follower })
    }

    /// Rewraps every key in the bucket under the ring's current master key
    /// (a rotation; see [`crate::ring`]).
    pub async fn rewrap_all(&self, ring: &KeyRing) -> Result<Rewrapped, KeyStoreError> {
        self.bucket.rewrap(ring).await
    }
}

#[async_trait::async_trait]
impl KeyStore for NatsKeyStore {
    async fn get(&self, name: &str) -> Result<Option<Vec<u8>>, KeyStoreError> {
        retrying(|| self.bucket.get(name)).await
    }

    async fn create(&self, name: &str, value: Vec<u8>) -> Result<Vec<u8>, KeyStoreError> {
        retrying(|| self.bucket.create(name, &value)).await
    }

    async fn delete(&self, name: &str) -> Result<bool, KeyStoreError> {
        self.bucket.delete(name).await
    }
}
