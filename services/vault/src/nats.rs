//! Subject keys shared by every process of the partnership, in the JetStream
//! key-value bucket `CONCORD_SUBJECT_KEYS` (values are wrapped under the
//! master key, never plain).
//!
//! The vault's interface is synchronous (sealing happens inside synchronous
//! code on both the node and the read side), so requests go to one bridge
//! thread that owns its own small runtime and the NATS connection.

use std::sync::mpsc;
use std::time::Duration;

use async_nats::jetstream::{self, kv};

use crate::KeyStore;

/// The bucket holding wrapped subject keys.
pub const BUCKET: &str = "CONCORD_SUBJECT_KEYS";

#[derive(Clone)]
enum Op {
    Get(String),
    Create(String, Vec<u8>),
    Delete(String),
}

type Reply = Result<Option<Vec<u8>>, String>;

/// A [`KeyStore`] in a JetStream key-value bucket.
pub struct NatsKeyStore {
    requests: mpsc::Sender<(Op, mpsc::SyncSender<Reply>)>,
}

/// Subject key names (`person/P-1`) as bucket keys.
fn bucket_key(name: &str) -> String {
    name.replace('/', ".")
}

async fn apply(store: &kv::Store, op: Op) -> Reply {
    match op {
        Op::Get(name) => store.get(bucket_key(&name)).await.map(|v| v.map(|b| b.to_vec())).map_err(|e| e.to_string()),
        Op::Create(name, value) => match store.create(bucket_key(&name), value.clone().into()).await {
            Ok(_) => Ok(Some(value)),
            Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => {
                store.get(bucket_key(&name)).await.map(|v| v.map(|b| b.to_vec())).map_err(|e| e.to_string())
            }
            Err(e) => Err(e.to_string()),
        },
        Op::Delete(name) => {
            let existed = store.get(bucket_key(&name)).await.map_err(|e| e.to_string())?.is_some();
            // Purge, not delete: no earlier revision of the key is kept.
            store.purge(bucket_key(&name)).await.map_err(|e| e.to_string())?;
            Ok(existed.then(Vec::new))
        }
    }
}

/// How long an operation is retried while the bucket is briefly unavailable
/// (a stream leader being elected after a server of a cluster died, a
/// reconnect): every operation is idempotent, so repeating it is safe.
const RETRY_FOR: Duration = Duration::from_secs(15);

async fn apply_retrying(store: &kv::Store, op: Op) -> Reply {
    let deadline = tokio::time::Instant::now() + RETRY_FOR;
    let mut pause = Duration::from_millis(50);
    loop {
        match apply(store, op.clone()).await {
            Err(e) if tokio::time::Instant::now() + pause < deadline => {
                tracing::debug!(error = %e, "subject key store unavailable; retrying");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(1));
            }
            result => return result,
        }
    }
}

impl NatsKeyStore {
    /// Connects to NATS and opens the bucket; with `manage`, creates or
    /// updates it (the ledger does; nodes and replicas only use it, so their
    /// NATS users need no stream management rights).
    pub fn connect(url: &str, replicas: usize, manage: bool) -> Result<Self, String> {
        let (requests, rx) = mpsc::channel::<(Op, mpsc::SyncSender<Reply>)>();
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
                let store = runtime.block_on(async {
                    let client =
                        concord_bus::nats::connect_client(&url, "concord-keystore").await.map_err(|e| e.to_string())?;
                    let js = jetstream::new(client);
                    let config = kv::Config {
                        bucket: BUCKET.to_string(),
                        history: 1,
                        num_replicas: replicas.max(1),
                        storage: jetstream::stream::StorageType::File,
                        ..Default::default()
                    };
                    for _ in 0..150 {
                        let opened = if manage {
                            js.create_or_update_key_value(config.clone()).await.map_err(|e| e.to_string())
                        } else {
                            js.get_key_value(BUCKET).await.map_err(|e| e.to_string())
                        };
                        match opened {
                            Ok(store) => return Ok(store),
                            Err(e) => {
                                tracing::warn!(error = %e, "subject key bucket not ready; retrying");
                                tokio::time::sleep(Duration::from_millis(200)).await;
                            }
                        }
                    }
                    Err("the subject key bucket could not be opened".to_string())
                });
                let store = match store {
                    Ok(s) => {
                        let _ = ready_tx.send(Ok(()));
                        s
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                while let Ok((op, reply)) = rx.recv() {
                    let result = runtime.block_on(apply_retrying(&store, op));
                    let _ = reply.send(result);
                }
            })
            .map_err(|e| e.to_string())?;
        ready_rx.recv().map_err(|_| "the key store thread stopped".to_string())??;
        Ok(NatsKeyStore { requests })
    }

    fn call(&self, op: Op) -> Reply {
        let (tx, rx) = mpsc::sync_channel(1);
        self.requests.send((op, tx)).map_err(|_| "the key store has stopped".to_string())?;
        rx.recv().map_err(|_| "the key store has stopped".to_string())?
    }
}

impl KeyStore for NatsKeyStore {
    fn get(&self, name: &str) -> Result<Option<Vec<u8>>, String> {
        self.call(Op::Get(name.to_string()))
    }

    fn create(&self, name: &str, value: Vec<u8>) -> Result<Vec<u8>, String> {
        self.call(Op::Create(name.to_string(), value))?.ok_or_else(|| format!("key {name} vanished while created"))
    }

    fn delete(&self, name: &str) -> Result<bool, String> {
        Ok(self.call(Op::Delete(name.to_string()))?.is_some())
    }
}
