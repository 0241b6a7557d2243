//! Subject keys shared by every process of the partnership, in the JetStream
//! key-value bucket `CONCORD_SUBJECT_KEYS` (values are wrapped under the
//! master key, never plain).
//!
//! The vault's interface is synchronous (sealing happens inside synchronous
//! code on both the node and the read side), so requests go to one bridge
//! thread that owns its own small runtime and the NATS connection.
//!
//! Erasure is real here too: the key's stored message is first erased
//! (JetStream's message delete, which overwrites the message's bytes in the
//! stream's files unless asked not to), then purged (which leaves a purge
//! marker every process follows). A purge alone would only mark the message
//! removed, its bytes left in the block until the server compacts it.

use std::future::Future;
use std::sync::{Arc, mpsc};
use std::time::Duration;

use async_nats::jetstream::{self, kv};
use futures::{StreamExt, TryStreamExt};
use tokio::sync::mpsc as channel;

use crate::dir::DirKeyStore;
use crate::ring::{KeyRing, Rewrapped};
use crate::{KeyStore, VaultError};

/// The bucket holding wrapped subject keys.
pub const BUCKET: &str = "CONCORD_SUBJECT_KEYS";

type Reply<T> = mpsc::SyncSender<Result<T, String>>;

enum Op {
    Get(String, Reply<Option<Vec<u8>>>),
    Create(String, Vec<u8>, Reply<Vec<u8>>),
    Delete(String, Reply<bool>),
    Rewrap(KeyRing, Reply<Rewrapped>),
}

/// A [`KeyStore`] in a JetStream key-value bucket.
pub struct NatsKeyStore {
    requests: channel::UnboundedSender<Op>,
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

fn text(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// How long an operation is retried while the bucket is briefly unavailable
/// (a stream leader being elected after a server of a cluster died, a
/// reconnect): every step is idempotent, so repeating it is safe.
const RETRY_FOR: Duration = Duration::from_secs(15);

async fn retrying<T, F: Future<Output = Result<T, String>>>(mut attempt: impl FnMut() -> F) -> Result<T, String> {
    let deadline = tokio::time::Instant::now() + RETRY_FOR;
    let mut pause = Duration::from_millis(50);
    loop {
        match attempt().await {
            Err(e) if tokio::time::Instant::now() + pause < deadline => {
                tracing::debug!(error = %e, "subject key store unavailable; retrying");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(1));
            }
            result => return result,
        }
    }
}

/// The bridge thread's side: the bucket, and the local copy it keeps in step.
struct Bridge {
    store: kv::Store,
    mirror: Option<Arc<DirKeyStore>>,
    /// Whether the stream allows erasing messages (a bucket made before
    /// erasure was real denies it, and that cannot be undone).
    erasable: bool,
}

impl Bridge {
    /// Writes (or corrects) the local copy of a key read from the bucket.
    /// Done here, in order with the erasures [`Bridge::follow`] applies, so
    /// a copy is never written after the erasure of what it copies.
    fn copy(&self, name: &str, value: &[u8]) -> Result<(), String> {
        let Some(mirror) = &self.mirror else { return Ok(()) };
        if mirror.create(name, value).map_err(text)? != value {
            mirror.replace(name, value).map_err(text)?;
        }
        Ok(())
    }

    async fn get(&self, name: &str) -> Result<Option<Vec<u8>>, String> {
        let value = self.store.get(bucket_key(name)).await.map_err(text)?.map(|b| b.to_vec());
        if let Some(value) = &value {
            self.copy(name, value)?;
        }
        Ok(value)
    }

    async fn create(&self, name: &str, value: &[u8]) -> Result<Vec<u8>, String> {
        let key = bucket_key(name);
        let stored = match self.store.create(&key, value.to_vec().into()).await {
            Ok(_) => value.to_vec(),
            Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => {
                // Erased in between: the retry creates it.
                self.store.get(&key).await.map_err(text)?.ok_or_else(|| format!("key {name} vanished"))?.to_vec()
            }
            Err(e) => return Err(e.to_string()),
        };
        self.copy(name, &stored)?;
        Ok(stored)
    }

    /// Overwrites the key's stored message (JetStream's erase: async-nats
    /// sends no `no_erase`, so the server overwrites the bytes); returns
    /// whether there was a key.
    async fn erase_stored(&self, key: &str) -> Result<bool, String> {
        let Some(entry) = self.store.entry(key).await.map_err(text)? else { return Ok(false) };
        if entry.operation != kv::Operation::Put {
            return Ok(false);
        }
        if !self.erasable {
            return Ok(true);
        }
        if let Err(e) = self.store.stream.delete_message(entry.revision).await {
            // Gone meanwhile (erased by another process) is as good as erased.
            let now = self.store.entry(key).await.map_err(text)?;
            if now.is_some_and(|now| now.revision == entry.revision) {
                return Err(e.to_string());
            }
        }
        Ok(true)
    }

    async fn delete(&self, name: &str) -> Result<bool, String> {
        let key = bucket_key(name);
        let existed = retrying(|| self.erase_stored(&key)).await?;
        // The purge marker is what every other process follows to erase its
        // copy, now or when it reconnects; it is never removed.
        retrying(|| async { self.store.purge(&key).await.map_err(text) }).await?;
        if let Some(mirror) = &self.mirror {
            mirror.erase(name).map_err(text)?;
        }
        Ok(existed)
    }

    /// Rewraps one key under the ring's current master key: `None` if it is
    /// gone; `Some(Ok(true))` if rewrapped, `Some(Ok(false))` if it was
    /// current already.
    async fn rewrap_one(&self, key: &str, ring: &KeyRing) -> Result<Option<Result<bool, VaultError>>, String> {
        loop {
            let Some(entry) = self.store.entry(key).await.map_err(text)? else { return Ok(None) };
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
                Err(e) => return Err(e.to_string()),
            }
        }
    }

    /// Rewraps every key of the bucket. Each is replaced only if unchanged
    /// since it was read, so a key created or erased meanwhile is never
    /// overwritten. The replaced value is removed by the bucket's history
    /// limit, not erased: it is wrapped under the previous master key, which
    /// is destroyed when the rotation ends.
    async fn rewrap(&self, ring: &KeyRing) -> Result<Rewrapped, String> {
        let keys: Vec<String> = self.store.keys().await.map_err(text)?.try_collect().await.map_err(text)?;
        let mut counts = Rewrapped::default();
        for key in keys {
            if let Some(outcome) = retrying(|| self.rewrap_one(&key, ring)).await? {
                counts.count(outcome);
            }
        }
        Ok(counts)
    }

    async fn apply(&self, op: Op) {
        match op {
            Op::Get(name, reply) => {
                let _ = reply.send(retrying(|| self.get(&name)).await);
            }
            Op::Create(name, value, reply) => {
                let _ = reply.send(retrying(|| self.create(&name, &value)).await);
            }
            Op::Delete(name, reply) => {
                let _ = reply.send(self.delete(&name).await);
            }
            Op::Rewrap(ring, reply) => {
                let _ = reply.send(self.rewrap(&ring).await);
            }
        }
    }

    /// Starts following the bucket and reconciles the local copy with it:
    /// a copy whose key was erased from the bucket (its last entry there is
    /// the purge marker erasure leaves) is erased, and one whose key was
    /// rewrapped is replaced. A key the bucket has no entry for at all is
    /// kept: that is a bucket that lost its store, not an erasure, and the
    /// copies are then all that is left. The watch starts first, so nothing
    /// that happens during the reconciling is missed.
    async fn follow(&self, mirror: &DirKeyStore) -> Result<kv::Watch, String> {
        let watch = self.store.watch_all().await.map_err(text)?;
        let checked: Vec<(String, Vec<u8>, Option<kv::Entry>)> = futures::stream::iter(mirror.entries().map_err(text)?)
            .map(|(name, copy)| async move {
                let entry = self.store.entry(bucket_key(&name)).await.map_err(text)?;
                Ok::<_, String>((name, copy, entry))
            })
            .buffer_unordered(32)
            .try_collect()
            .await?;
        let mut erased = 0;
        for (name, copy, entry) in checked {
            match entry.map(|e| (e.operation, e.value)) {
                Some((kv::Operation::Put, value)) if value != copy => {
                    mirror.replace(&name, &value).map_err(text)?;
                }
                Some((kv::Operation::Put, _)) | None => {}
                Some((kv::Operation::Delete | kv::Operation::Purge, _)) => {
                    erased += usize::from(mirror.erase(&name).map_err(text)?);
                }
            }
        }
        if erased > 0 {
            tracing::info!(erased, "erased local copies of subject keys erased from the shared bucket");
        }
        Ok(watch)
    }

    /// Applies one change of the bucket to the local copy.
    fn apply_change(&self, mirror: &DirKeyStore, entry: kv::Entry) -> Result<(), VaultError> {
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
    }

    /// Answers requests and, with a local copy, follows the bucket until the
    /// store is dropped; a watch that fails is started again (reconciling
    /// again) every second until it succeeds.
    async fn run(self, mut requests: channel::UnboundedReceiver<Op>, mut watch: Option<kv::Watch>) {
        loop {
            let following = watch.is_some();
            tokio::select! {
                op = requests.recv() => match op {
                    Some(op) => self.apply(op).await,
                    None => return,
                },
                change = async { match watch.as_mut() { Some(w) => w.next().await, None => std::future::pending().await } }, if following => {
                    match (change, &self.mirror) {
                        (Some(Ok(entry)), Some(mirror)) => {
                            if let Err(e) = self.apply_change(mirror, entry) {
                                tracing::error!(error = %e, "could not apply a change of the subject key bucket locally");
                            }
                        }
                        (Some(Ok(_)), None) => {}
                        (Some(Err(e)), _) => {
                            tracing::warn!(error = %e, "following the subject key bucket failed; starting again");
                            watch = None;
                        }
                        (None, _) => {
                            tracing::warn!("following the subject key bucket ended; starting again");
                            watch = None;
                        }
                    }
                },
                _ = tokio::time::sleep(Duration::from_secs(1)), if !following && self.mirror.is_some() => {
                    if let Some(mirror) = &self.mirror {
                        match self.follow(mirror).await {
                            Ok(w) => watch = Some(w),
                            Err(e) => tracing::warn!(error = %e, "cannot follow the subject key bucket yet"),
                        }
                    }
                },
            }
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
async fn create_bucket(js: &jetstream::Context, replicas: usize) -> Result<(), String> {
    let mut stream = js.get_or_create_stream(bucket_stream_config(replicas)).await.map_err(text)?;
    let config = stream.info().await.map_err(text)?.config.clone();
    if config.num_replicas != replicas.max(1) {
        js.update_stream(jetstream::stream::Config { num_replicas: replicas.max(1), ..config }).await.map_err(text)?;
    }
    Ok(())
}

/// Opens the bucket (creating it with `manage`), retrying for about 30
/// seconds while it is not there yet.
async fn open_bucket(url: &str, replicas: usize, manage: bool) -> Result<kv::Store, String> {
    let client = concord_bus::nats::connect_client(url, "concord-keystore").await.map_err(text)?;
    let js = jetstream::new(client);
    let mut last = String::new();
    for _ in 0..150 {
        let opened = async {
            if manage {
                create_bucket(&js, replicas).await?;
            }
            js.get_key_value(BUCKET).await.map_err(text)
        };
        match opened.await {
            Ok(store) => return Ok(store),
            Err(e) => {
                tracing::warn!(error = %e, "subject key bucket not ready; retrying");
                last = e;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    Err(format!("the subject key bucket could not be opened: {last}"))
}

impl NatsKeyStore {
    /// Connects to NATS and opens the bucket; with `manage`, creates or
    /// updates it, letting its messages be erased (the ledger does; nodes and
    /// replicas only use it, so their NATS users need no stream management
    /// rights).
    pub fn connect(url: &str, replicas: usize, manage: bool) -> Result<Self, String> {
        Self::connect_mirrored(url, replicas, manage, None)
    }

    /// As [`NatsKeyStore::connect`], keeping `mirror` (this process's local
    /// copy of the keys it has used) in step with the bucket: keys read or
    /// created here are copied into it, and the bucket is followed so a key
    /// erased or rewrapped by any process is erased or rewrapped in the copy
    /// too. Before this returns, copies whose key was erased from the bucket
    /// while this process was not running are erased (see [`Bridge::follow`]).
    ///
    /// The window: while this process is cut off from NATS its copies stay
    /// as they are; they are reconciled when following resumes.
    pub fn connect_mirrored(
        url: &str,
        replicas: usize,
        manage: bool,
        mirror: Option<Arc<DirKeyStore>>,
    ) -> Result<Self, String> {
        let (requests, rx) = channel::unbounded_channel::<Op>();
        let (ready_tx, ready_rx) = mpsc::sync_channel::<Result<(), String>>(1);
        let url = url.to_string();
        std::thread::Builder::new()
            .name("concord-keystore".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    Ok(r) => r,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e.to_string()));
                        return;
                    }
                };
                runtime.block_on(async move {
                    let store = match open_bucket(&url, replicas, manage).await {
                        Ok(store) => store,
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                            return;
                        }
                    };
                    let erasable = !store.stream.cached_info().config.deny_delete;
                    if !erasable {
                        tracing::warn!(
                            "the subject key bucket was made by an older Concord and denies message deletes: an \
                             erased key is purged but its bytes stay in the stream's files until JetStream compacts \
                             them; move the keys into a new bucket to make erasure overwrite them"
                        );
                    }
                    let bridge = Bridge { store, mirror, erasable };
                    let watch = match &bridge.mirror {
                        None => None,
                        Some(mirror) => match retrying(|| bridge.follow(mirror)).await {
                            Ok(watch) => Some(watch),
                            Err(e) => {
                                let _ = ready_tx.send(Err(format!("following the subject key bucket: {e}")));
                                return;
                            }
                        },
                    };
                    let _ = ready_tx.send(Ok(()));
                    bridge.run(rx, watch).await;
                });
            })
            .map_err(text)?;
        ready_rx.recv().map_err(|_| "the key store thread stopped".to_string())??;
        Ok(NatsKeyStore { requests })
    }

    fn call<T>(&self, op: impl FnOnce(Reply<T>) -> Op) -> Result<T, String> {
        let (tx, rx) = mpsc::sync_channel(1);
        self.requests.send(op(tx)).map_err(|_| "the key store has stopped".to_string())?;
        rx.recv().map_err(|_| "the key store has stopped".to_string())?
    }

    /// Rewraps every key in the bucket under the ring's current master key
    /// (a rotation; see [`crate::ring`]).
    pub fn rewrap_all(&self, ring: &KeyRing) -> Result<Rewrapped, String> {
        self.call(|reply| Op::Rewrap(ring.clone(), reply))
    }
}

impl KeyStore for NatsKeyStore {
    fn get(&self, name: &str) -> Result<Option<Vec<u8>>, String> {
        self.call(|reply| Op::Get(name.to_string(), reply))
    }

    fn create(&self, name: &str, value: Vec<u8>) -> Result<Vec<u8>, String> {
        self.call(|reply| Op::Create(name.to_string(), value, reply))
    }

    fn delete(&self, name: &str) -> Result<bool, String> {
        self.call(|reply| Op::Delete(name.to_string(), reply))
    }
}
