//! Wrapped subject keys as one small file each, so that erasing a key really
//! removes its bytes.
//!
//! A key-value engine (redb) leaves a deleted value in freed pages,
//! where someone holding the disk and the master key could still read it.
//! Here a key is erased by overwriting its file with zeros, syncing, unlinking
//! it and syncing the directory. A file is named by the SHA-256 of the key's
//! name, so a directory entry left behind says nothing; the file holds the
//! name (the wrapping's associated data, needed to rewrap it under a new
//! master key) and the wrapped key, and both are zeroed on erasure.
//!
//! Overwriting in place reaches the same disk blocks on ordinary file systems
//! (ext4, xfs); a copy-on-write file system (btrfs, zfs) or an SSD's wear
//! levelling may keep the old blocks, so run the data directory on an
//! encrypted volume too.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

use concord_log::kv::Kv;
use sha2::{Digest, Sha256};

use crate::VaultError;
use crate::ring::{KeyRing, Rewrapped};

pub use concord_core::sign::erase_file;

/// Serialise writes against reads of a key file within this process (every
/// [`DirKeyStore`] on the same directory shares them), so a reader never sees
/// a file half rewritten: one lock per group of files (by the first byte of
/// the file's name, a hash), so keys of unrelated subjects are written at
/// once. One process owns a data directory.
static FILES: [RwLock<()>; STRIPES] = [const { RwLock::new(()) }; STRIPES];

/// How many locks the key files are spread over.
const STRIPES: usize = 64;

/// The lock of the file at `path` (see [`FILES`]).
fn stripe(path: &Path) -> &'static RwLock<()> {
    let name = path.file_name().map(|n| n.as_encoded_bytes()).unwrap_or_default();
    let first = name.get(..2).and_then(|b| std::str::from_utf8(b).ok()).and_then(|h| u8::from_str_radix(h, 16).ok());
    &FILES[usize::from(first.unwrap_or(0)) % STRIPES]
}

fn reading(path: &Path) -> RwLockReadGuard<'static, ()> {
    stripe(path).read().unwrap_or_else(|e| e.into_inner())
}

fn writing(path: &Path) -> RwLockWriteGuard<'static, ()> {
    stripe(path).write().unwrap_or_else(|e| e.into_inner())
}

/// Syncs a directory for many callers at once: one sync covers every
/// caller whose change was made before it started.
#[derive(Debug, Default)]
pub(crate) struct GroupSync {
    state: Mutex<SyncState>,
    done: Condvar,
}

#[derive(Debug, Default)]
struct SyncState {
    /// Syncs started so far (the last one's number).
    started: u64,
    /// The number of the last sync that succeeded.
    finished: u64,
    running: bool,
}

impl GroupSync {
    /// Returns once a `sync` that started after this call has succeeded,
    /// running it if none is running (blocking: for blocking threads).
    pub(crate) fn sync(&self, sync: impl Fn() -> std::io::Result<()>) -> std::io::Result<()> {
        let lock = || self.state.lock().unwrap_or_else(|e| e.into_inner());
        let mut state = lock();
        // A sync running now may have started before the caller's change.
        let needed = state.started + 1;
        loop {
            if state.finished >= needed {
                return Ok(());
            }
            if !state.running {
                state.running = true;
                state.started += 1;
                let this = state.started;
                drop(state);
                let result = sync();
                state = lock();
                state.running = false;
                if result.is_ok() {
                    state.finished = this;
                }
                self.done.notify_all();
                return result;
            }
            state = self.done.wait(state).unwrap_or_else(|e| e.into_inner());
        }
    }
}

/// How many wrapped keys a store keeps at hand (about 150 bytes each).
const RECENT_KEYS: usize = 65_536;

/// The ending of a file being written (see `write_private_new`); one found
/// on opening was left by a crash and is erased.
const DRAFT_SUFFIX: &str = ".new";

/// A directory of wrapped subject keys, one file per key.
///
/// Keys read lately are kept at hand (read with no file system call), in
/// step with every write and erasure made through this store and its
/// clones: one store per directory per process (the platform opens one).
/// A change made by another process (`concord keys rotate-master --local`)
/// is seen by stores opened after it.
#[derive(Clone)]
pub struct DirKeyStore {
    dir: PathBuf,
    /// Wrapped keys read lately, by file path; changed only under the
    /// file's lock in [`FILES`].
    recent: Arc<quick_cache::sync::Cache<PathBuf, Vec<u8>>>,
    /// Syncs the directory for concurrent creations together.
    dir_sync: Arc<GroupSync>,
}

impl std::fmt::Debug for DirKeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DirKeyStore").field("dir", &self.dir).finish_non_exhaustive()
    }
}

pub(crate) fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> VaultError + '_ {
    move |source| VaultError::Io { path: path.display().to_string(), source }
}

/// A file's contents: the name, a newline, the wrapped key.
fn encode(name: &str, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(name.len() + 1 + value.len());
    out.extend_from_slice(name.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(value);
    out
}

fn decode(bytes: &[u8]) -> Option<(&str, &[u8])> {
    let newline = bytes.iter().position(|b| *b == b'\n')?;
    let name = std::str::from_utf8(&bytes[..newline]).ok()?;
    (!name.is_empty()).then_some((name, &bytes[newline + 1..]))
}

impl DirKeyStore {
    /// Opens (creating, owner-only) the directory, erasing any file a crash
    /// left half written.
    pub fn open(dir: &Path) -> Result<Self, VaultError> {
        std::fs::create_dir_all(dir).map_err(io_error(dir))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(io_error(dir))?;
        }
        let store = DirKeyStore {
            dir: dir.to_path_buf(),
            recent: Arc::new(quick_cache::sync::Cache::new(RECENT_KEYS)),
            dir_sync: Arc::default(),
        };
        // Every lock, in order: no file of this directory is being written.
        let _guards: Vec<_> = FILES.iter().map(|lock| lock.write().unwrap_or_else(|e| e.into_inner())).collect();
        for path in store.files()? {
            if path.to_string_lossy().ends_with(DRAFT_SUFFIX) {
                erase_file(&path).map_err(io_error(&path))?;
            }
        }
        Ok(store)
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(hex::encode(Sha256::digest(name.as_bytes())))
    }

    fn files(&self) -> Result<Vec<PathBuf>, VaultError> {
        let mut files = Vec::new();
        for entry in std::fs::read_dir(&self.dir).map_err(io_error(&self.dir))? {
            let entry = entry.map_err(io_error(&self.dir))?;
            if entry.file_type().map_err(io_error(&entry.path()))?.is_file() {
                files.push(entry.path());
            }
        }
        Ok(files)
    }

    /// Reads the file for `name`, or the copy at hand (the caller holds
    /// the file's lock).
    fn read(&self, name: &str) -> Result<Option<Vec<u8>>, VaultError> {
        let path = self.path(name);
        if let Some(value) = self.recent.get(&path) {
            return Ok(Some(value));
        }
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_error(&path)(e)),
        };
        match decode(&bytes) {
            Some((stored, value)) if stored == name => {
                self.recent.insert(path, value.to_vec());
                Ok(Some(value.to_vec()))
            }
            _ => Err(VaultError::Corrupt { path: path.display().to_string() }),
        }
    }

    /// The wrapped key stored under `name` if it was read or written lately
    /// (no file system call; `None` says nothing about the file).
    ///
    /// Takes no lock (async workers call it): a copy is put at hand only
    /// under the file's lock, and taken away under it before the file is
    /// changed, so one found here was the file's content at that moment.
    pub fn get_recent(&self, name: &str) -> Option<Vec<u8>> {
        self.recent.get(&self.path(name))
    }

    /// The wrapped key stored under `name`.
    pub fn get(&self, name: &str) -> Result<Option<Vec<u8>>, VaultError> {
        let _guard = reading(&self.path(name));
        self.read(name)
    }

    /// Stores `value` under `name` unless something is there already (here
    /// or by another process: the file is linked into place whole, never
    /// overwritten); returns what is stored.
    ///
    /// The file is synced, then the directory, in one sync with whatever
    /// other keys are being created meanwhile; the key is read by no one
    /// before both are done.
    pub fn create(&self, name: &str, value: &[u8]) -> Result<Vec<u8>, VaultError> {
        if name.is_empty() || name.contains('\n') {
            return Err(VaultError::BadName { name: name.to_string() });
        }
        let path = self.path(name);
        let _guard = writing(&path);
        if let Some(existing) = self.read(name)? {
            return Ok(existing);
        }
        if concord_core::sign::write_private_new(&path, &encode(name, value)).map_err(io_error(&path))? {
            self.dir_sync.sync(|| concord_core::sign::sync_dir(&self.dir)).map_err(io_error(&self.dir))?;
            return Ok(value.to_vec());
        }
        self.read(name)?.ok_or_else(|| VaultError::Corrupt { path: path.display().to_string() })
    }

    /// Replaces the value stored under `name`, in place (so the old bytes
    /// are overwritten, not left in a freed block); `false` if there is none.
    pub fn replace(&self, name: &str, value: &[u8]) -> Result<bool, VaultError> {
        let path = self.path(name);
        let _guard = writing(&path);
        self.recent.remove(&path);
        match overwrite_in_place(&path, &encode(name, value)) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(io_error(&path)(e)),
        }
    }

    /// Erases the key stored under `name` (zeros, sync, unlink, sync the
    /// directory); returns whether there was one.
    pub fn erase(&self, name: &str) -> Result<bool, VaultError> {
        let path = self.path(name);
        let _guard = writing(&path);
        self.recent.remove(&path);
        erase_file(&path).map_err(io_error(&path))
    }

    /// Every stored (name, wrapped key).
    pub fn entries(&self) -> Result<Vec<(String, Vec<u8>)>, VaultError> {
        let mut entries = Vec::new();
        for path in self.files()? {
            if path.to_string_lossy().ends_with(DRAFT_SUFFIX) {
                continue;
            }
            let read = {
                let _guard = reading(&path);
                std::fs::read(&path)
            };
            let bytes = match read {
                Ok(bytes) => bytes,
                // Erased since the directory was listed.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io_error(&path)(e)),
            };
            let (name, value) =
                decode(&bytes).ok_or_else(|| VaultError::Corrupt { path: path.display().to_string() })?;
            entries.push((name.to_string(), value.to_vec()));
        }
        Ok(entries)
    }

    /// Runs `work` on this store on a blocking thread (file work must not
    /// hold up an async worker: it writes and syncs files).
    pub async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&DirKeyStore) -> Result<T, VaultError> + Send + 'static,
    ) -> Result<T, crate::KeyStoreError> {
        let store = self.clone();
        Ok(tokio::task::spawn_blocking(move || work(&store)).await??)
    }

    /// Rewraps every key under the ring's current master key (a rotation).
    pub fn rewrap_all(&self, ring: &KeyRing) -> Result<Rewrapped, VaultError> {
        let mut counts = Rewrapped::default();
        for (name, wrapped) in self.entries()? {
            let outcome = match ring.rewrap(&name, &wrapped) {
                Ok(Some(new)) => self.replace(&name, &new).map(|_| true)?,
                Ok(None) => false,
                Err(e) => {
                    counts.count(Err(e));
                    continue;
                }
            };
            counts.count(Ok(outcome));
        }
        Ok(counts)
    }
}

/// Rewrites an existing file's contents in place (same blocks, not a new
/// file renamed over it) and syncs it.
pub fn overwrite_in_place(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new().write(true).open(path)?;
    file.write_all(bytes)?;
    file.set_len(bytes.len() as u64)?;
    file.sync_all()
}

/// Erases every file under `dir` (see [`erase_file`]), then removes it.
pub fn wipe_dir(dir: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            wipe_dir(&entry.path())?;
        } else {
            erase_file(&entry.path())?;
        }
    }
    std::fs::remove_dir(dir)
}

/// How an older data directory kept subject keys: in a KV store (redb), under
/// `k/<name>`.
const KV_PREFIX: &[u8] = b"k/";

/// Moves the subject keys of an older data directory's KV store at `old`
/// into `to`, then erases every file of that store (deleting them inside the
/// store would leave their bytes in freed pages). The store is recognised by
/// its files (`concord_log::kv::stored_engine`; a sled store, which older
/// versions could also keep, is refused with the reason); a directory holding no store
/// is left alone. Returns how many keys moved, `None` if there was no store.
pub fn migrate_kv_store(old: &Path, to: &DirKeyStore) -> Result<Option<usize>, VaultError> {
    let engine = match concord_log::kv::stored_engine(old) {
        Ok(Some(engine)) => engine,
        Ok(None) => return Ok(None),
        Err(e) => return Err(VaultError::Migrate { path: old.display().to_string(), reason: e.to_string() }),
    };
    let migrate = |e: String| VaultError::Migrate { path: old.display().to_string(), reason: e };
    let moved = {
        let kv = concord_log::kv::open(engine, old).map_err(|e| migrate(e.to_string()))?;
        copy_kv_keys(kv.as_ref(), to).map_err(|e| migrate(e.to_string()))?
    };
    wipe_dir(old).map_err(io_error(old))?;
    Ok(Some(moved))
}

fn copy_kv_keys(kv: &dyn Kv, to: &DirKeyStore) -> Result<usize, VaultError> {
    let migrate = |e: String| VaultError::Migrate { path: to.dir.display().to_string(), reason: e };
    let mut start = KV_PREFIX.to_vec();
    let mut moved = 0;
    loop {
        // `k0` is the first key after every `k/...`.
        let page = kv.scan(&start, Some(b"k0"), 1000, false).map_err(|e| migrate(e.to_string()))?;
        let Some((last, _)) = page.last() else { return Ok(moved) };
        start = last.clone();
        start.push(0);
        for (key, value) in &page {
            let name = std::str::from_utf8(&key[KV_PREFIX.len()..]).map_err(|e| migrate(e.to_string()))?;
            if to.create(name, value)? != *value {
                return Err(migrate(format!("{name} already holds a different key")));
            }
            moved += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use concord_core::seal::DataKey;
    use concord_log::kv::{Engine, WriteBatch};

    use super::*;
    use crate::ring::MasterKey;

    /// Every byte of every file under `dir`, one buffer per file.
    fn every_file(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                out.extend(every_file(&path));
            } else {
                out.push((path.clone(), std::fs::read(&path).unwrap()));
            }
        }
        out
    }

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

    #[test]
    fn create_get_replace_erase() {
        let dir = tempfile::tempdir().unwrap();
        let store = DirKeyStore::open(&dir.path().join("keys")).unwrap();
        assert_eq!(store.get("person/P-1").unwrap(), None);
        assert_eq!(store.create("person/P-1", b"first").unwrap(), b"first");
        assert_eq!(store.create("person/P-1", b"second").unwrap(), b"first", "the first key stays");
        assert_eq!(store.get("person/P-1").unwrap().as_deref(), Some(&b"first"[..]));

        // Reopened (as after a restart), the key is there; its file name is a hash.
        let store = DirKeyStore::open(&dir.path().join("keys")).unwrap();
        assert_eq!(store.get("person/P-1").unwrap().as_deref(), Some(&b"first"[..]));
        let files = every_file(store.dir());
        assert_eq!(files.len(), 1);
        let file_name = files[0].0.file_name().unwrap().to_string_lossy().to_string();
        assert!(file_name.len() == 64 && !file_name.contains("P-1"), "{file_name}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&files[0].0).unwrap().permissions().mode() & 0o077, 0);
        }

        assert!(store.replace("person/P-1", b"third").unwrap());
        assert!(!store.replace("person/P-2", b"x").unwrap(), "replace never creates");
        assert_eq!(store.get("person/P-1").unwrap().as_deref(), Some(&b"third"[..]));
        assert_eq!(store.entries().unwrap(), vec![("person/P-1".to_string(), b"third".to_vec())]);

        // Read lately, the key is at hand; replaced or erased through a
        // clone (as the bucket's follower does), it is not.
        assert_eq!(store.get_recent("person/P-1").as_deref(), Some(&b"third"[..]));
        let follower = store.clone();
        assert!(follower.replace("person/P-1", b"fourth").unwrap());
        assert_eq!(store.get_recent("person/P-1"), None);
        assert_eq!(store.get("person/P-1").unwrap().as_deref(), Some(&b"fourth"[..]));
        assert!(follower.erase("person/P-1").unwrap());
        assert_eq!(store.get_recent("person/P-1"), None);
        assert!(!store.erase("person/P-1").unwrap());
        assert_eq!(store.get("person/P-1").unwrap(), None);
        assert!(store.create("bad\nname", b"x").is_err());
    }

    #[test]
    fn an_erased_key_is_in_no_file_of_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        let store = DirKeyStore::open(dir.path()).unwrap();
        let ring = KeyRing::from(MasterKey::generate());
        let mut wrapped = Vec::new();
        for n in 0..20 {
            let name = format!("person/P-{n}");
            let value = ring.wrap(&name, &DataKey::generate()).unwrap();
            store.create(&name, &value).unwrap();
            wrapped.push((name, value));
        }
        let (gone, gone_value) = &wrapped[7];
        assert!(every_file(dir.path()).iter().any(|(_, bytes)| contains(bytes, gone_value)));
        assert!(store.erase(gone).unwrap());
        for (path, bytes) in every_file(dir.path()) {
            assert!(!contains(&bytes, gone_value), "{} still holds the erased key", path.display());
            assert!(!contains(&bytes, gone.as_bytes()), "{} still names the erased subject", path.display());
        }
        assert_eq!(every_file(dir.path()).len(), 19);
        // The others are untouched.
        for (name, value) in wrapped.iter().filter(|(name, _)| name != gone) {
            assert_eq!(store.get(name).unwrap().as_ref(), Some(value));
        }
    }

    #[test]
    fn racing_creates_agree_on_one_key() {
        let dir = tempfile::tempdir().unwrap();
        for round in 0..20 {
            let name = format!("person/P-{round}");
            let stores: Vec<DirKeyStore> = (0..8).map(|_| DirKeyStore::open(dir.path()).unwrap()).collect();
            let stored: Vec<Vec<u8>> = std::thread::scope(|s| {
                let handles: Vec<_> = (0..8u8)
                    .zip(stores)
                    .map(|(t, store)| {
                        let name = name.clone();
                        s.spawn(move || {
                            if t % 2 == 0 {
                                store.create(&name, &[t; 60]).unwrap()
                            } else {
                                // Another process: it links its file in without this process's lock.
                                let mine = encode(&name, &[t; 60]);
                                concord_core::sign::write_private_new(&store.path(&name), &mine).unwrap();
                                store.get(&name).unwrap().unwrap()
                            }
                        })
                    })
                    .collect();
                handles.into_iter().map(|h| h.join().unwrap()).collect()
            });
            assert!(stored.iter().all(|v| v == &stored[0]), "round {round}: {stored:?}");
            let store = DirKeyStore::open(dir.path()).unwrap();
            assert_eq!(store.get(&name).unwrap().as_ref(), Some(&stored[0]));
        }
        assert_eq!(every_file(dir.path()).len(), 20, "no drafts are left behind");
    }

    /// Concurrent callers share directory syncs, yet each returns only once
    /// a sync that started after its call has succeeded; a failed sync is
    /// its callers' error and the others sync again.
    #[test]
    fn directory_syncs_are_shared_and_each_caller_waits_for_one_after_its_change() {
        use std::time::{Duration, Instant};
        let group = GroupSync::default();
        // Each sync: (started, finished).
        let syncs: Mutex<Vec<(Instant, Option<Instant>)>> = Mutex::default();
        let sync = || {
            let n = {
                let mut syncs = syncs.lock().unwrap();
                syncs.push((Instant::now(), None));
                syncs.len() - 1
            };
            std::thread::sleep(Duration::from_millis(20));
            syncs.lock().unwrap()[n].1 = Some(Instant::now());
            Ok(())
        };
        std::thread::scope(|s| {
            for _ in 0..32 {
                s.spawn(|| {
                    let called = Instant::now();
                    group.sync(sync).unwrap();
                    let syncs = syncs.lock().unwrap();
                    assert!(
                        syncs.iter().any(|(started, finished)| *started >= called && finished.is_some()),
                        "returned before a sync that started after its call had finished"
                    );
                });
            }
        });
        let count = syncs.lock().unwrap().len();
        assert!(count < 16, "32 callers took {count} syncs");

        let failing = std::sync::atomic::AtomicBool::new(true);
        let flaky = || {
            if failing.swap(false, std::sync::atomic::Ordering::SeqCst) {
                return Err(std::io::Error::other("disk on fire"));
            }
            Ok(())
        };
        assert!(group.sync(flaky).is_err());
        group.sync(flaky).unwrap();
    }

    #[test]
    fn concurrent_creates_of_different_keys_all_last() {
        let dir = tempfile::tempdir().unwrap();
        let store = DirKeyStore::open(dir.path()).unwrap();
        std::thread::scope(|s| {
            for t in 0..16 {
                let store = store.clone();
                s.spawn(move || {
                    for n in 0..20 {
                        let name = format!("person/P-{t}-{n}");
                        assert_eq!(store.create(&name, name.as_bytes()).unwrap(), name.as_bytes());
                    }
                });
            }
        });
        let reopened = DirKeyStore::open(dir.path()).unwrap();
        assert_eq!(reopened.entries().unwrap().len(), 320);
        assert_eq!(reopened.get("person/P-15-19").unwrap().as_deref(), Some(&b"person/P-15-19"[..]));
    }

    #[test]
    fn rewrap_all_moves_every_key_to_the_current_master_key() {
        let dir = tempfile::tempdir().unwrap();
        let store = DirKeyStore::open(dir.path()).unwrap();
        let (old, new) = (MasterKey::generate(), MasterKey::generate());
        let old_ring = KeyRing::from(old.clone());
        let keys: Vec<(String, DataKey)> = (0..5).map(|n| (format!("person/P-{n}"), DataKey::generate())).collect();
        for (name, key) in &keys {
            store.create(name, &old_ring.wrap(name, key).unwrap()).unwrap();
        }
        store
            .create(
                "person/stranger",
                &KeyRing::from(MasterKey::generate()).wrap("person/stranger", &keys[0].1).unwrap(),
            )
            .unwrap();

        let ring = KeyRing::new(new.clone(), Some(old));
        let counts = ring_rewrap(&store, &ring);
        assert_eq!(counts, Rewrapped { rewrapped: 5, current: 0, unreadable: 1 });
        assert_eq!(ring_rewrap(&store, &ring), Rewrapped { rewrapped: 0, current: 5, unreadable: 1 });
        let only_new = KeyRing::from(new);
        for (name, key) in &keys {
            assert_eq!(&only_new.unwrap(name, &store.get(name).unwrap().unwrap()).unwrap(), key);
        }
    }

    fn ring_rewrap(store: &DirKeyStore, ring: &KeyRing) -> Rewrapped {
        store.rewrap_all(ring).unwrap()
    }

    #[test]
    fn an_older_kv_store_is_moved_in_and_wiped() {
        for engine in Engine::ALL {
            let dir = tempfile::tempdir().unwrap();
            let old = dir.path().join("vault");
            {
                let kv = concord_log::kv::open(engine, &old).unwrap();
                let mut batch = WriteBatch::new();
                for n in 0..1500 {
                    batch.put(format!("k/person/P-{n}").into_bytes(), format!("wrapped-{n}").into_bytes());
                }
                kv.commit(batch).unwrap();
            }
            let store = DirKeyStore::open(&dir.path().join("subject-keys")).unwrap();
            assert_eq!(migrate_kv_store(&old, &store).unwrap(), Some(1500), "{engine}");
            assert!(!old.exists(), "{engine}: the old store is gone");
            assert_eq!(store.get("person/P-1499").unwrap().as_deref(), Some(&b"wrapped-1499"[..]));
            assert_eq!(store.entries().unwrap().len(), 1500);
            assert_eq!(migrate_kv_store(&old, &store).unwrap(), None, "{engine}: once");
        }
        // A directory that is no KV store is left alone.
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("notes.txt"), "mine").unwrap();
        let store = DirKeyStore::open(&dir.path().join("keys")).unwrap();
        assert_eq!(migrate_kv_store(dir.path(), &store).unwrap(), None);
        assert!(dir.path().join("notes.txt").exists());
    }
}
