//! Subject keys shared over NATS, on a real nats-server with the deploy
//! config's users (`deploy/nats/single.conf`, generated `users.conf`):
//! an erasure by one process reaches every other process's local copy
//! within seconds, and a process that was not running at the time erases its
//! copy as it reconnects (but a bucket that lost its store erases nothing);
//! the erased key's bytes are in no file of the
//! nats-server's store afterwards; and `concord keys rotate-master` rewraps
//! every key, locally and in the bucket, so that personal data sealed before
//! the rotation reads the same after it, under the new master key alone;
//! and the bucket store only awaits, so it runs on a current-thread runtime,
//! through an outage of the nats-server too.

use crate::common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::nats::NatsServer;
use concord::layout::Layout;
use concord_core::seal::{SealKeys, SubjectKeys, seal, unseal};
use concord_core::{EventId, SubjectId, pb};
use concord_vault::{CachedKeyStore, DirKeyStore, KeyRing, KeyStore, MasterKey, NatsKeyStore, Vault};

/// Creates the bucket, as the ledger does.
async fn create_bucket(nats: &NatsServer) {
    NatsKeyStore::connect(&nats.url_as("ledger"), 1, true).await.unwrap();
}

/// One process's key store: the shared bucket as NATS user `user`, with its
/// local copy in `dir`.
async fn cached(nats: &NatsServer, user: &str, dir: &Path) -> Arc<CachedKeyStore> {
    Arc::new(CachedKeyStore::connect(&nats.url_as(user), 1, false, DirKeyStore::open(dir).unwrap()).await.unwrap())
}

/// Files under `dir` whose bytes contain `needle`.
fn files_containing(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return found };
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(files_containing(&path, needle));
        } else if std::fs::read(&path).is_ok_and(|bytes| bytes.windows(needle.len()).any(|w| w == needle)) {
            found.push(path);
        }
    }
    found
}

/// Waits up to `limit` for `check`.
async fn eventually(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !check() {
        assert!(Instant::now() < deadline, "not within {limit:?}: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn subject(name: &str) -> SubjectId {
    SubjectId::parse(name).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_erasure_reaches_every_copy_and_leaves_no_bytes_in_the_stream() {
    let nats = NatsServer::start_deploy();
    create_bucket(&nats).await;
    let ring = KeyRing::from(MasterKey::generate());
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    // A node (an agency's user) and a query replica (which runs the erasure service).
    let a = cached(&nats, "serve-1", dir_a.path()).await;
    let b = cached(&nats, "serve-2", dir_b.path()).await;
    let (vault_a, vault_b) = (Vault::new(a.clone(), ring.clone()), Vault::new(b.clone(), ring.clone()));
    let (gone, kept) = (subject("person/P-erased"), subject("person/P-kept"));
    for s in [&gone, &kept] {
        let key = vault_a.data_key(s, true).await.unwrap();
        assert_eq!(vault_b.data_key(s, false).await.unwrap(), key, "both processes use one key");
    }
    let wrapped = a.local().get(&gone.stream()).unwrap().expect("the node keeps a copy");
    assert_eq!(b.local().get(&gone.stream()).unwrap().as_ref(), Some(&wrapped), "so does the replica");
    eventually("the wrapped key is written to the stream's files", Duration::from_secs(10), || {
        !files_containing(&nats.store(), &wrapped).is_empty()
    })
    .await;

    assert!(vault_b.shred(&gone).await.unwrap());
    assert_eq!(b.local().get(&gone.stream()).unwrap(), None, "the shredding process's copy is gone at once");
    eventually("the other process's copy is erased", Duration::from_secs(5), || {
        a.local().get(&gone.stream()).unwrap().is_none()
    })
    .await;
    assert_eq!(vault_a.data_key(&gone, false).await.unwrap(), None);
    assert_eq!(files_containing(dir_a.path(), &wrapped), Vec::<PathBuf>::new());
    assert_eq!(files_containing(dir_b.path(), &wrapped), Vec::<PathBuf>::new());
    // JetStream's erase overwrites the message where it lies in the block file.
    eventually("no file of the nats-server holds the erased key", Duration::from_secs(5), || {
        files_containing(&nats.store(), &wrapped).is_empty()
    })
    .await;
    // The other subject is untouched, everywhere.
    assert!(vault_a.data_key(&kept, false).await.unwrap().is_some());
    assert!(a.local().get(&kept.stream()).unwrap().is_some());
    assert!(vault_b.data_key(&kept, false).await.unwrap().is_some());
    // A new key for the erased subject is a different key (old data stays unreadable).
    assert!(vault_a.data_key(&gone, true).await.unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_process_away_during_an_erasure_erases_its_copy_as_it_reconnects() {
    let nats = NatsServer::start_deploy();
    create_bucket(&nats).await;
    let ring = KeyRing::from(MasterKey::generate());
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let gone = subject("person/P-away");
    {
        let a = cached(&nats, "serve-1", dir_a.path()).await;
        Vault::new(a, ring.clone()).data_key(&gone, true).await.unwrap();
    } // the node stops
    let b = cached(&nats, "serve-2", dir_b.path()).await;
    assert!(Vault::new(b, ring.clone()).shred(&gone).await.unwrap());
    // The window: a copy in a process that is not connected is still there.
    assert!(DirKeyStore::open(dir_a.path()).unwrap().get(&gone.stream()).unwrap().is_some());

    let a = cached(&nats, "serve-1", dir_a.path()).await;
    assert_eq!(a.local().get(&gone.stream()).unwrap(), None, "reconciled before the store is handed out");
    assert_eq!(Vault::new(a, ring).data_key(&gone, false).await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bucket_that_lost_its_store_takes_no_copy_with_it() {
    let mut nats = NatsServer::start_deploy();
    create_bucket(&nats).await;
    let ring = KeyRing::from(MasterKey::generate());
    let dir = tempfile::tempdir().unwrap();
    let kept = subject("person/P-kept");
    let key = {
        let a = cached(&nats, "serve-1", dir.path()).await;
        Vault::new(a, ring.clone()).data_key(&kept, true).await.unwrap()
    };
    nats.stop();
    nats.wipe_store();
    nats.restart();
    create_bucket(&nats).await;

    // Not an erasure (no purge marker): the copy is all that is left, and it stays.
    let a = cached(&nats, "serve-1", dir.path()).await;
    assert!(a.local().get(&kept.stream()).unwrap().is_some());
    assert_eq!(Vault::new(a, ring).data_key(&kept, false).await.unwrap(), key);
}

/// The bucket store only ever awaits, on the caller's runtime (no thread of
/// its own): on a current-thread runtime, where one blocking wait would stop
/// everything, a key asked for while the nats-server is down is created once
/// it is back; a reader on a blocking thread gets keys through the same
/// runtime; and the copy still follows another process's erasure.
#[tokio::test(flavor = "current_thread")]
async fn the_bucket_store_only_awaits_even_on_a_current_thread_runtime() {
    let mut nats = NatsServer::start_deploy();
    create_bucket(&nats).await;
    let ring = KeyRing::from(MasterKey::generate());
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = cached(&nats, "serve-1", dir_a.path()).await;
    let vault = Vault::new(a.clone(), ring.clone());
    let (known, new) = (subject("person/P-known"), subject("person/P-new"));
    let known_public = vault.public_keys(std::slice::from_ref(&known)).await.unwrap();

    nats.stop();
    let asking = tokio::spawn({
        let vault = vault.clone();
        async move { vault.public_keys(&[new]).await }
    });
    // The runtime's one thread is free meanwhile: the call waits by awaiting.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!asking.is_finished(), "the key is asked for while the bucket is unavailable");
    // A blocking store would hold the thread through its retries (15 s), the
    // timer with it; this one gives way at once.
    let started = Instant::now();
    let waited = tokio::time::timeout(Duration::from_millis(300), KeyStore::get(a.shared(), "person/P-other")).await;
    assert!(waited.is_err() && started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    assert_eq!(vault.public_keys(std::slice::from_ref(&known)).await.unwrap(), known_public, "the local copy answers");
    nats.restart();
    let created = tokio::time::timeout(Duration::from_secs(20), asking).await.expect("created once NATS is back");
    assert_eq!(created.unwrap().unwrap().len(), 1);

    // A reader, on a blocking thread, through the vault's runtime.
    let reader = vault.clone();
    let read = tokio::task::spawn_blocking(move || SubjectKeys::data_key(&reader, &subject("person/P-new")));
    let private = read.await.unwrap().unwrap().expect("the key just created");
    assert_eq!(private.public_key(), created_public(&vault, "person/P-new").await);

    // Another process erases the known subject: this one's copy follows.
    let b = cached(&nats, "serve-2", dir_b.path()).await;
    assert!(Vault::new(b, ring).shred(&known).await.unwrap());
    eventually("the copy is erased", Duration::from_secs(10), || a.local().get(&known.stream()).unwrap().is_none())
        .await;
    assert_eq!(vault.data_key(&known, false).await.unwrap(), None);
}

/// The public key `vault` holds for `name` (which has one).
async fn created_public(vault: &Vault, name: &str) -> concord_core::seal::PublicKey {
    vault.data_key(&subject(name), false).await.unwrap().expect("a key").public_key()
}

/// A sealed arrest about `key`, as a node seals it.
async fn sealed_arrest(key: &str, keys: &dyn SealKeys) -> pb::Event {
    let mut event = common::arrest(key, "seen near the station with a knife");
    event.event_id = EventId::new_v7().to_string();
    seal(&mut event, keys).await.unwrap();
    assert!(event.personal.is_none() && !event.sealed.is_empty());
    event
}

/// The event's personal data, unsealed with `keys`.
fn read(event: &pb::Event, keys: &dyn SubjectKeys) -> pb::Personal {
    let mut copy = event.clone();
    let report = unseal(&mut copy, keys).unwrap();
    assert_eq!(report.unreadable, 0);
    copy.personal.unwrap()
}

fn concord(args: &[&str]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_concord"))
        .args(args)
        .env_remove("CONCORD_MASTER_KEY")
        .env_remove("CONCORD_MASTER_KEY_PREVIOUS")
        .env("CONCORD_NATS_CA", common::nats::certs().join("ca.pem"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "concord {args:?}: {stdout}{}", String::from_utf8_lossy(&out.stderr));
    stdout
}

#[tokio::test(flavor = "multi_thread")]
async fn rotating_the_master_key_keeps_sealed_data_readable() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().display().to_string();
    let layout = Layout::new(dir.path());
    layout.ensure_keys(&[common::agency("police.met.nw")]).unwrap();
    let vault = concord::platform::open_vault(&layout, None).await.unwrap();
    let event = sealed_arrest("P-rotated", &vault).await;
    let before = read(&event, &vault);
    assert_eq!(before.identities[0].name, "Jordan Testcase");
    drop(vault);
    let old = MasterKey::load(&layout.master_key()).unwrap().unwrap();

    let out = concord(&["keys", "rotate-master", "--data", &data, "--local"]);
    assert!(out.contains("1 rewrapped"), "{out}");
    assert!(out.contains("previous key  erased"), "{out}");
    assert!(!layout.previous_master_key().exists());
    let ring = layout.master_keys().unwrap();
    assert!(ring.previous().is_none());
    assert_ne!(ring.current(), &old);

    let vault = concord::platform::open_vault(&layout, None).await.unwrap();
    assert_eq!(read(&event, &vault), before, "sealed before the rotation, read after it");
    // The stored key no longer opens with the old master key.
    let with_old = Vault::local(DirKeyStore::open(&layout.subject_keys()).unwrap(), KeyRing::from(old));
    assert!(with_old.data_key(&subject("person/P-rotated"), false).await.is_err());
}

#[tokio::test(flavor = "multi_thread")]
async fn rotating_over_nats_rewraps_the_bucket_and_every_copy() {
    let nats = NatsServer::start_deploy();
    create_bucket(&nats).await;
    let home = tempfile::tempdir().unwrap();
    let keys = home.path().join("keys");
    let keys_arg = keys.display().to_string();
    Layout::new(home.path()).ensure_keys(&[common::agency("police.met.nw")]).unwrap();
    // Two replicas, each with its own data directory, sharing the keys.
    let process = |name: &str| Layout::with_keys(home.path().join(name), Some(keys.clone()));
    let open = |layout: Layout, user: &'static str| {
        let config = concord_bus::NatsConfig { url: nats.url_as(user), replicas: 1, manage_streams: false };
        async move { concord::platform::open_vault(&layout, Some(&config)).await.unwrap() }
    };
    let node = open(process("node"), "serve-1").await;
    let event = sealed_arrest("P-shared", &node).await;
    let replica = open(process("replica"), "serve-2").await;
    let before = read(&event, &replica);
    // A third process reads the key too, then is not running during the rotation.
    assert_eq!(read(&event, &open(process("away"), "serve-2").await), before);
    let old = MasterKey::load(&process("node").master_key()).unwrap().unwrap();

    // Stage, then restart every process: each opens keys under either master key.
    let admin = home.path().join("admin").display().to_string();
    concord(&["keys", "rotate-master", "--data", &admin, "--keys", &keys_arg, "--stage"]);
    drop((node, replica));
    let (node, replica) = (open(process("node"), "serve-1").await, open(process("replica"), "serve-2").await);
    assert_eq!(read(&event, &node), before);

    let out =
        concord(&["keys", "rotate-master", "--data", &admin, "--keys", &keys_arg, "--nats", &nats.url_as("admin")]);
    assert!(out.contains("shared keys   bucket CONCORD_SUBJECT_KEYS: 1 rewrapped"), "{out}");
    assert!(out.contains("previous key  erased"), "{out}");
    let new = KeyRing::from(process("node").master_keys().unwrap().current().clone());
    assert_ne!(new.current(), &old);

    // The running processes' copies follow the bucket to the new wrapping.
    for name in ["node", "replica"] {
        let copies = DirKeyStore::open(&process(name).subject_keys()).unwrap();
        eventually(&format!("the {name}'s copy is rewrapped"), Duration::from_secs(5), || {
            copies.get("person/P-shared").unwrap().is_some_and(|w| new.unwrap("person/P-shared", &w).is_ok())
        })
        .await;
    }
    // Restarted with the new master key alone, both read what was sealed before.
    drop((node, replica));
    let (node, replica) = (open(process("node"), "serve-1").await, open(process("replica"), "serve-2").await);
    assert!(process("node").master_keys().unwrap().previous().is_none());
    assert_eq!(read(&event, &node), before);
    assert_eq!(read(&event, &replica), before);
    // The one that was away brings its copy up to date as it connects.
    assert_eq!(read(&event, &open(process("away"), "serve-2").await), before);
}
