//! Sealing personal data per subject (design.md, "Personal data").
//!
//! Each subject has its own X25519 key pair. A node seals with the subjects'
//! *public* keys only: each sealed record carries a one-time public key, and
//! its AEAD key is derived (HKDF-SHA256) from the Diffie-Hellman agreements
//! between that one-time key and each of the record's subjects. A subject's
//! identifiers are sealed to that subject alone; an event's free text to
//! *all* its subjects, so erasing any one of them makes the text unreadable.
//! Only holders of the subjects' private keys (the vault, on the read side)
//! open a record; a node that sealed one cannot open anyone else's.
//!
//! The AEAD is ChaCha20-Poly1305, with the event id, the part and the
//! subjects as associated data so a sealed record cannot be moved to another
//! event. Hashes and signatures cover only ciphertext, so destroying a
//! private key (crypto-shredding) leaves the log verifiable. Records sealed
//! before this scheme (no one-time key: sealed under the subjects' 32-byte
//! keys directly) still open.

use async_trait::async_trait;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use hkdf::Hkdf;
use prost::Message;
use rand::RngCore;
use sha2::Sha256;
use x25519_dalek::StaticSecret;

use crate::ids::{EventId, SubjectId};
use crate::pb;

/// A subject's private key: the X25519 secret that opens what was sealed to
/// the subject (and, for records sealed before version 2, the symmetric key
/// itself). Held by the vault only.
#[derive(Clone, PartialEq, Eq)]
pub struct DataKey(pub [u8; 32]);

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(..)")
    }
}

impl DataKey {
    /// A fresh random key.
    pub fn generate() -> Self {
        let mut key = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut key);
        DataKey(key)
    }

    /// The public key sealers seal this subject's data to.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(x25519_dalek::PublicKey::from(&StaticSecret::from(self.0)).to_bytes())
    }
}

/// A subject's public sealing key (X25519): enough to seal, never to open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey(pub [u8; 32]);

impl PublicKey {
    /// A public key from its 32 bytes; `None` if the length is wrong.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(PublicKey)
    }
}

/// Where a sealer (a node) gets subjects' public keys. A subject without a
/// key gets one. Async: the keys may come over the network, and a sealer
/// must never block an async worker waiting for them.
#[async_trait]
pub trait SealKeys: Send + Sync {
    /// The public keys of `subjects`, in order.
    async fn public_keys(&self, subjects: &[SubjectId]) -> Result<Vec<PublicKey>, SealError>;
}

/// Where a reader gets subjects' private keys (the vault).
pub trait SubjectKeys: Send + Sync {
    /// The subject's private key; `None` if the subject has none (never had
    /// one, or it was destroyed by erasure).
    fn data_key(&self, subject: &SubjectId) -> Result<Option<DataKey>, SealError>;
}

/// Failures to seal or unseal.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// The key store failed.
    #[error("subject key store: {0}")]
    KeyStore(String),
    /// Personal data names a subject the event does not have.
    #[error("personal data names subject key `{0}`, which is not a subject of the event")]
    UnknownSubject(String),
    /// Ciphertext failed authentication: it was altered or moved.
    #[error("sealed personal data failed authentication (altered, or not from this event)")]
    Tampered,
    /// A sealed record is malformed.
    #[error("malformed sealed record: {0}")]
    Malformed(String),
}

fn aad(event_id: &EventId, part: pb::sealed::Part, subjects: &[SubjectId]) -> Vec<u8> {
    let mut aad = event_id.as_bytes().to_vec();
    aad.push(part as u8);
    for s in subjects {
        aad.extend_from_slice(s.stream().as_bytes());
        aad.push(0);
    }
    aad
}

/// The key of a record sealed before version 2: the subjects' keys themselves.
fn legacy_key(keys: &[DataKey]) -> [u8; 32] {
    if let [key] = keys {
        return key.0;
    }
    derive(b"concord/v1/text", keys.iter().map(|k| k.0), b"free text")
}

/// HKDF-SHA256 over the concatenated `parts`.
fn derive(salt: &[u8], parts: impl Iterator<Item = [u8; 32]>, info: &[u8]) -> [u8; 32] {
    let ikm: Vec<u8> = parts.flatten().collect();
    let mut out = [0u8; 32];
    // 32 bytes is always a valid HKDF-SHA256 output length.
    let _ = Hkdf::<Sha256>::new(Some(salt), &ikm).expand(info, &mut out);
    out
}

/// A version 2 record's key, from the agreements between its one-time key
/// and each subject's key (`shared`, in the record's subject order), bound
/// to the one-time key and every subject's public key.
fn agreed_key(ephemeral: &PublicKey, publics: &[PublicKey], shared: Vec<[u8; 32]>) -> [u8; 32] {
    let mut info = b"concord/v2/seal".to_vec();
    info.extend_from_slice(&ephemeral.0);
    for p in publics {
        info.extend_from_slice(&p.0);
    }
    derive(b"concord/v2/seal", shared.into_iter(), &info)
}

fn encrypt(key: &[u8; 32], aad: &[u8], plaintext: &[u8]) -> Result<(Vec<u8>, Vec<u8>), SealError> {
    let cipher = ChaCha20Poly1305::new(key.into());
    let mut nonce = [0u8; 12];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let ciphertext = cipher
        .encrypt(Nonce::from_slice(&nonce), Payload { msg: plaintext, aad })
        .map_err(|_| SealError::Malformed("encryption failed".into()))?;
    Ok((nonce.to_vec(), ciphertext))
}

fn decrypt(key: &[u8; 32], aad: &[u8], nonce: &[u8], ciphertext: &[u8]) -> Result<Vec<u8>, SealError> {
    if nonce.len() != 12 {
        return Err(SealError::Malformed("nonce must be 12 bytes".into()));
    }
    ChaCha20Poly1305::new(key.into())
        .decrypt(Nonce::from_slice(nonce), Payload { msg: ciphertext, aad })
        .map_err(|_| SealError::Tampered)
}

/// Seals `plaintext` to `publics` (one record of `part` about `subjects`).
fn seal_record(
    event_id: &EventId,
    part: pb::sealed::Part,
    subjects: &[SubjectId],
    publics: &[PublicKey],
    plaintext: &[u8],
) -> Result<pb::Sealed, SealError> {
    // One one-time secret agreed with every subject's key (x25519's
    // EphemeralSecret agrees only once), dropped (and zeroed) after sealing.
    let secret = StaticSecret::random_from_rng(rand::rngs::OsRng);
    let ephemeral = PublicKey(x25519_dalek::PublicKey::from(&secret).to_bytes());
    let mut shared = Vec::with_capacity(publics.len());
    for public in publics {
        let agreed = secret.diffie_hellman(&x25519_dalek::PublicKey::from(public.0));
        if !agreed.was_contributory() {
            return Err(SealError::Malformed("a subject's public key is not a valid X25519 key".into()));
        }
        shared.push(agreed.to_bytes());
    }
    let key = agreed_key(&ephemeral, publics, shared);
    let (nonce, ciphertext) = encrypt(&key, &aad(event_id, part, subjects), plaintext)?;
    Ok(pb::Sealed {
        part: part as i32,
        subjects: subjects.iter().map(SubjectId::to_ref).collect(),
        nonce,
        ciphertext,
        ephemeral: ephemeral.0.to_vec(),
    })
}

/// Opens one record with its subjects' private keys, taking its key from
/// `opened` if this reader opened it before with the same keys.
fn open_record(
    event_id: &EventId,
    record: &pb::Sealed,
    subjects: &[SubjectId],
    keys: &[DataKey],
    opened: Option<&OpenedKeys>,
) -> Result<Vec<u8>, SealError> {
    let part = pb::sealed::Part::try_from(record.part)
        .ok()
        .filter(|p| *p != pb::sealed::Part::Unspecified)
        .ok_or_else(|| SealError::Malformed(format!("unknown part {}", record.part)))?;
    if part == pb::sealed::Part::Identity && keys.len() != 1 {
        return Err(SealError::Malformed("an identity is sealed to exactly one subject".into()));
    }
    let aad = aad(event_id, part, subjects);
    if record.ephemeral.is_empty() {
        return decrypt(&legacy_key(keys), &aad, &record.nonce, &record.ciphertext);
    }
    let ephemeral = PublicKey::from_slice(&record.ephemeral)
        .ok_or_else(|| SealError::Malformed("the one-time key must be 32 bytes".into()))?;
    let agree = || {
        let their = x25519_dalek::PublicKey::from(ephemeral.0);
        let publics: Vec<PublicKey> = keys.iter().map(DataKey::public_key).collect();
        let shared = keys.iter().map(|k| StaticSecret::from(k.0).diffie_hellman(&their).to_bytes()).collect();
        agreed_key(&ephemeral, &publics, shared)
    };
    let Some(opened) = opened else {
        return decrypt(&agree(), &aad, &record.nonce, &record.ciphertext);
    };
    // A remembered key that does not open the record (another subject key
    // since, or a damaged memory) is as good as none.
    if let Some(key) = opened.recall(&ephemeral, keys)
        && let Ok(plain) = decrypt(&key, &aad, &record.nonce, &record.ciphertext)
    {
        return Ok(plain);
    }
    let key = agree();
    let plain = decrypt(&key, &aad, &record.nonce, &record.ciphertext)?;
    opened.remember(&ephemeral, keys, &key);
    Ok(plain)
}

/// Where a reader keeps what [`OpenedKeys`] remembers: 16-byte ids to
/// 32-byte masked keys. It may forget anything at any time.
pub trait KeyMemory: Send + Sync {
    /// The masked key stored under `id`, if any.
    fn recall(&self, id: &[u8; 16]) -> Option<[u8; 32]>;
    /// The masked keys stored under `ids`, in order: one look for many (a
    /// store reads them together).
    fn recall_many(&self, ids: &[[u8; 16]]) -> Vec<Option<[u8; 32]>> {
        ids.iter().map(|id| self.recall(id)).collect()
    }
    /// Stores `masked` under `id` (perhaps later, perhaps never).
    fn remember(&self, id: [u8; 16], masked: [u8; 32]);
    /// The log position up to which records were opened ahead of readers.
    fn cursor(&self) -> u64;
    /// Records that records were opened ahead up to `position`.
    fn set_cursor(&self, position: u64);
}

/// A bounded [`KeyMemory`] in this process's memory (least recently used
/// first out).
pub struct InMemory(quick_cache::sync::Cache<[u8; 16], [u8; 32]>, std::sync::atomic::AtomicU64);

impl InMemory {
    /// Holds up to `capacity` keys (about 80 bytes each).
    pub fn new(capacity: usize) -> Self {
        InMemory(quick_cache::sync::Cache::new(capacity.max(1)), std::sync::atomic::AtomicU64::new(0))
    }

    /// How many keys it holds.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl KeyMemory for InMemory {
    fn recall(&self, id: &[u8; 16]) -> Option<[u8; 32]> {
        self.0.get(id)
    }

    fn remember(&self, id: [u8; 16], masked: [u8; 32]) {
        self.0.insert(id, masked);
    }

    fn cursor(&self) -> u64 {
        self.1.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn set_cursor(&self, position: u64) {
        self.1.store(position, std::sync::atomic::Ordering::Relaxed);
    }
}

/// A memory with some of its keys already read ([`OpenedKeys::recalling`]).
struct Recalled {
    found: std::collections::HashMap<[u8; 16], [u8; 32]>,
    memory: std::sync::Arc<dyn KeyMemory>,
}

impl KeyMemory for Recalled {
    fn recall(&self, id: &[u8; 16]) -> Option<[u8; 32]> {
        self.found.get(id).copied().or_else(|| self.memory.recall(id))
    }

    fn remember(&self, id: [u8; 16], masked: [u8; 32]) {
        self.memory.remember(id, masked);
    }

    fn cursor(&self) -> u64 {
        self.memory.cursor()
    }

    fn set_cursor(&self, position: u64) {
        self.memory.set_cursor(position);
    }
}

/// The keys of version 2 records a reader has opened, so that opening one
/// again costs no key agreement (two X25519 operations per subject, by far
/// the dearest part of a read).
///
/// A record's key is kept under its one-time key, masked (XOR) with a key
/// derived from the *private keys* of the record's subjects, which the
/// reader fetches for every read. So what is kept, in memory or on disk, is
/// worthless without those keys: once a subject's key is erased (or
/// replaced) the record no longer opens, remembered or not, and the memory
/// can be kept anywhere a reader keeps its caches.
#[derive(Clone)]
pub struct OpenedKeys {
    memory: std::sync::Arc<dyn KeyMemory>,
}

impl OpenedKeys {
    /// Remembers in `memory`.
    pub fn new(memory: std::sync::Arc<dyn KeyMemory>) -> Self {
        OpenedKeys { memory }
    }

    /// The log position up to which records were opened ahead of readers.
    pub fn cursor(&self) -> u64 {
        self.memory.cursor()
    }

    /// Records that records were opened ahead up to `position`.
    pub fn set_cursor(&self, position: u64) {
        self.memory.set_cursor(position);
    }

    /// The same memory, with the keys of the sealed records of `events`
    /// recalled at once (one read of the memory for a page of events rather
    /// than one per record); pass it to [`unseal_remembering`] for them.
    pub fn recalling<'a>(&self, events: impl IntoIterator<Item = &'a pb::Event>) -> OpenedKeys {
        let ids: Vec<[u8; 16]> = events
            .into_iter()
            .flat_map(|event| &event.sealed)
            .filter_map(|record| PublicKey::from_slice(&record.ephemeral))
            .map(|ephemeral| Self::id(&ephemeral))
            .collect();
        if ids.is_empty() {
            return self.clone();
        }
        let recalled = self.memory.recall_many(&ids);
        let found = ids.into_iter().zip(recalled).filter_map(|(id, masked)| Some((id, masked?))).collect();
        OpenedKeys { memory: std::sync::Arc::new(Recalled { found, memory: self.memory.clone() }) }
    }

    fn id(ephemeral: &PublicKey) -> [u8; 16] {
        let mut id = [0u8; 16];
        id.copy_from_slice(&ephemeral.0[..16]);
        id
    }

    fn mask(ephemeral: &PublicKey, keys: &[DataKey]) -> [u8; 32] {
        derive(b"concord/v2/remember", keys.iter().map(|k| k.0), &ephemeral.0)
    }

    fn recall(&self, ephemeral: &PublicKey, keys: &[DataKey]) -> Option<[u8; 32]> {
        let masked = self.memory.recall(&Self::id(ephemeral))?;
        let mask = Self::mask(ephemeral, keys);
        Some(std::array::from_fn(|i| masked[i] ^ mask[i]))
    }

    fn remember(&self, ephemeral: &PublicKey, keys: &[DataKey], key: &[u8; 32]) {
        let mask = Self::mask(ephemeral, keys);
        self.memory.remember(Self::id(ephemeral), std::array::from_fn(|i| key[i] ^ mask[i]));
    }
}

impl std::fmt::Debug for OpenedKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OpenedKeys(..)")
    }
}

/// A [`SubjectKeys`] that asks `keys` for each subject's key once: for one
/// batch of reads, so a timeline fetches its subject's key once rather than
/// for every record.
pub struct KeysOnce<'a> {
    keys: &'a dyn SubjectKeys,
    fetched: std::sync::Mutex<std::collections::HashMap<SubjectId, Option<DataKey>>>,
}

impl<'a> KeysOnce<'a> {
    /// Fetches from `keys`, each subject's key at most once.
    pub fn new(keys: &'a dyn SubjectKeys) -> Self {
        KeysOnce { keys, fetched: std::sync::Mutex::default() }
    }
}

impl SubjectKeys for KeysOnce<'_> {
    fn data_key(&self, subject: &SubjectId) -> Result<Option<DataKey>, SealError> {
        // A map only ever inserted into is whole even if a holder panicked.
        let fetched = || self.fetched.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(key) = fetched().get(subject) {
            return Ok(key.clone());
        }
        let key = self.keys.data_key(subject)?;
        fetched().insert(subject.clone(), key.clone());
        Ok(key)
    }
}

fn subjects_of(refs: &[pb::SubjectRef]) -> Result<Vec<SubjectId>, SealError> {
    refs.iter().map(SubjectId::from_ref).collect::<Result<Vec<_>, _>>().map_err(|e| SealError::Malformed(e.to_string()))
}

/// Moves an event's plaintext `personal` part into `sealed` records, sealed
/// to its subjects' public keys. The event must already carry its final
/// `event_id` and valid subjects.
pub async fn seal(event: &mut pb::Event, keys: &dyn SealKeys) -> Result<(), SealError> {
    if event.personal.is_none() {
        return Ok(());
    }
    let subjects = subjects_of(&event.subjects)?;
    let publics = keys.public_keys(&subjects).await?;
    if publics.len() != subjects.len() {
        return Err(SealError::KeyStore(format!("asked for {} keys, got {}", subjects.len(), publics.len())));
    }
    seal_to(event, &subjects, &publics)
}

/// [`seal`] with the subjects' public keys at hand (`publics[i]` is
/// `subjects[i]`'s).
pub fn seal_to(event: &mut pb::Event, subjects: &[SubjectId], publics: &[PublicKey]) -> Result<(), SealError> {
    let Some(personal) = event.personal.take() else {
        return Ok(());
    };
    let event_id = EventId::parse(&event.event_id).map_err(|e| SealError::Malformed(e.to_string()))?;
    let mut sealed = Vec::new();
    for identity in personal.identities {
        let i = subjects
            .iter()
            .position(|s| s.key() == identity.subject_key)
            .ok_or_else(|| SealError::UnknownSubject(identity.subject_key.clone()))?;
        let part = pb::sealed::Part::Identity;
        let (subject, public) = (std::slice::from_ref(&subjects[i]), std::slice::from_ref(&publics[i]));
        sealed.push(seal_record(&event_id, part, subject, public, &identity.encode_to_vec())?);
    }
    if !personal.text.is_empty() {
        let text = pb::Personal { identities: vec![], text: personal.text };
        sealed.push(seal_record(&event_id, pb::sealed::Part::Text, subjects, publics, &text.encode_to_vec())?);
    }
    event.sealed = sealed;
    Ok(())
}

/// What [`unseal`] could not read.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Unsealed {
    /// Sealed records left unreadable: a subject's key is gone (erased), or
    /// the record does not open (damaged, or not sealed to these keys).
    pub unreadable: usize,
}

/// Replaces an event's `sealed` records with the plaintext `personal` part,
/// as far as they open. A record whose key was destroyed, or that does not
/// open, is dropped and counted: one unreadable record never hides the rest
/// of the event. Only a failing key store is an error.
pub fn unseal(event: &mut pb::Event, keys: &dyn SubjectKeys) -> Result<Unsealed, SealError> {
    unseal_remembering(event, keys, None)
}

/// [`unseal`], taking the keys of records opened before from `opened` and
/// remembering those it opens now.
pub fn unseal_remembering(
    event: &mut pb::Event,
    keys: &dyn SubjectKeys,
    opened: Option<&OpenedKeys>,
) -> Result<Unsealed, SealError> {
    let sealed = std::mem::take(&mut event.sealed);
    if sealed.is_empty() {
        return Ok(Unsealed::default());
    }
    let mut personal = pb::Personal::default();
    let mut report = Unsealed::default();
    let Ok(event_id) = EventId::parse(&event.event_id) else {
        report.unreadable = sealed.len();
        event.personal = Some(personal);
        return Ok(report);
    };
    'records: for record in sealed {
        let Ok(subjects) = subjects_of(&record.subjects) else {
            report.unreadable += 1;
            continue;
        };
        let mut data_keys = Vec::with_capacity(subjects.len());
        for s in &subjects {
            match keys.data_key(s)? {
                Some(k) => data_keys.push(k),
                None => {
                    report.unreadable += 1;
                    continue 'records;
                }
            }
        }
        let result = open_record(&event_id, &record, &subjects, &data_keys, opened).and_then(|plain| {
            match pb::sealed::Part::try_from(record.part) {
                Ok(pb::sealed::Part::Identity) => {
                    let identity =
                        pb::Identity::decode(plain.as_slice()).map_err(|e| SealError::Malformed(e.to_string()))?;
                    personal.identities.push(identity);
                }
                _ => {
                    let text =
                        pb::Personal::decode(plain.as_slice()).map_err(|e| SealError::Malformed(e.to_string()))?;
                    personal.text.extend(text.text);
                }
            }
            Ok(())
        });
        if let Err(e) = result {
            tracing::warn!(event_id = %event.event_id, error = %e, "a sealed record does not open; shown as unreadable");
            report.unreadable += 1;
        }
    }
    event.personal = Some(personal);
    Ok(report)
}

/// Checks that an event's sealed records are well formed, without opening
/// them: a known part, valid subjects of the event, a 12-byte nonce, a
/// 32-byte one-time key (or none, as sealed before version 2), a whole tag,
/// and an identity sealed to exactly one subject.
pub fn check_sealed(event: &pb::Event) -> Result<(), SealError> {
    for record in &event.sealed {
        let part = pb::sealed::Part::try_from(record.part)
            .ok()
            .filter(|p| *p != pb::sealed::Part::Unspecified)
            .ok_or_else(|| SealError::Malformed(format!("unknown part {}", record.part)))?;
        let subjects = subjects_of(&record.subjects)?;
        if subjects.is_empty() || record.subjects.iter().any(|s| !event.subjects.contains(s)) {
            return Err(SealError::Malformed("a sealed record names subjects the event does not have".into()));
        }
        if part == pb::sealed::Part::Identity && subjects.len() != 1 {
            return Err(SealError::Malformed("an identity is sealed to exactly one subject".into()));
        }
        if record.nonce.len() != 12 {
            return Err(SealError::Malformed("nonce must be 12 bytes".into()));
        }
        // Empty: a record sealed before version 2, which the log still holds.
        if !matches!(record.ephemeral.len(), 0 | 32) {
            return Err(SealError::Malformed("the one-time key must be 32 bytes".into()));
        }
        if record.ciphertext.len() < 16 {
            return Err(SealError::Malformed("the ciphertext is shorter than its tag".into()));
        }
    }
    Ok(())
}

/// Removes all personal data, sealed or not, from an event.
pub fn redact(event: &mut pb::Event) {
    event.personal = None;
    event.sealed.clear();
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Mutex;

    use super::*;

    /// An in-memory key store for unit tests of the sealing itself.
    #[derive(Default)]
    struct MemKeys(Mutex<HashMap<SubjectId, DataKey>>);

    impl SubjectKeys for MemKeys {
        fn data_key(&self, subject: &SubjectId) -> Result<Option<DataKey>, SealError> {
            Ok(self.0.lock().unwrap().get(subject).cloned())
        }
    }

    #[async_trait]
    impl SealKeys for MemKeys {
        async fn public_keys(&self, subjects: &[SubjectId]) -> Result<Vec<PublicKey>, SealError> {
            let mut map = self.0.lock().unwrap();
            Ok(subjects.iter().map(|s| map.entry(s.clone()).or_insert_with(DataKey::generate).public_key()).collect())
        }
    }

    /// Seals to the public keys only: what a node holds.
    struct PublicOnly(Vec<PublicKey>);

    #[async_trait]
    impl SealKeys for PublicOnly {
        async fn public_keys(&self, _: &[SubjectId]) -> Result<Vec<PublicKey>, SealError> {
            Ok(self.0.clone())
        }
    }

    fn event() -> pb::Event {
        let mut text = HashMap::new();
        text.insert("notes".to_string(), "Seen with older males at Wealdstone station".to_string());
        pb::Event {
            event_id: EventId::new_v7().to_string(),
            subjects: vec![
                pb::SubjectRef { kind: pb::SubjectKind::Person as i32, key: "P-1".into() },
                pb::SubjectRef { kind: pb::SubjectKind::Person as i32, key: "P-2".into() },
            ],
            personal: Some(pb::Personal {
                identities: vec![pb::Identity {
                    subject_key: "P-1".into(),
                    name: "Jamie Example".into(),
                    date_of_birth: "2009-04-17".into(),
                    ..Default::default()
                }],
                text,
            }),
            ..Default::default()
        }
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        // The futures here never wait: poll once on a no-op waker.
        let mut f = std::pin::pin!(f);
        let waker = std::task::Waker::noop();
        match f.as_mut().poll(&mut std::task::Context::from_waker(waker)) {
            std::task::Poll::Ready(v) => v,
            std::task::Poll::Pending => panic!("a test key store waited"),
        }
    }

    #[test]
    fn seal_then_unseal_round_trips_and_hides_plaintext() {
        let keys = MemKeys::default();
        let original = event();
        let mut e = original.clone();
        block_on(seal(&mut e, &keys)).unwrap();
        assert!(e.personal.is_none());
        check_sealed(&e).unwrap();
        let bytes = e.encode_to_vec();
        for needle in ["Jamie", "Wealdstone", "2009-04-17"] {
            assert!(!bytes.windows(needle.len()).any(|w| w == needle.as_bytes()), "{needle} leaked");
        }
        assert_eq!(unseal(&mut e, &keys).unwrap().unreadable, 0);
        assert_eq!(e.personal, original.personal);
        assert!(e.sealed.is_empty());
    }

    #[test]
    fn a_sealer_with_public_keys_only_cannot_open_what_it_sealed() {
        let keys = MemKeys::default();
        let subjects = subjects_of(&event().subjects).unwrap();
        let publics = block_on(keys.public_keys(&subjects)).unwrap();
        let mut e = event();
        block_on(seal(&mut e, &PublicOnly(publics.clone()))).unwrap();
        // The sealer's view: the public keys used as if they were private keys open nothing.
        let as_if_private = MemKeys::default();
        for (s, p) in subjects.iter().zip(&publics) {
            as_if_private.0.lock().unwrap().insert(s.clone(), DataKey(p.0));
        }
        let mut copy = e.clone();
        assert_eq!(unseal(&mut copy, &as_if_private).unwrap().unreadable, 2);
        assert_eq!(copy.personal, Some(pb::Personal::default()));
        // The vault's view: the private keys open it.
        assert_eq!(unseal(&mut e, &keys).unwrap().unreadable, 0);
        assert_eq!(e.personal, event().personal);
    }

    #[test]
    fn records_sealed_before_version_2_still_open() {
        let keys = MemKeys::default();
        let mut e = event();
        let subjects = subjects_of(&e.subjects).unwrap();
        block_on(keys.public_keys(&subjects)).unwrap();
        let id = EventId::parse(&e.event_id).unwrap();
        let personal = e.personal.take().unwrap();
        let key = |s: &SubjectId| keys.data_key(s).unwrap().unwrap();
        let identity = personal.identities[0].encode_to_vec();
        let part = pb::sealed::Part::Identity;
        let (nonce, ciphertext) = encrypt(&key(&subjects[0]).0, &aad(&id, part, &subjects[..1]), &identity).unwrap();
        e.sealed.push(pb::Sealed {
            part: part as i32,
            subjects: vec![subjects[0].to_ref()],
            nonce,
            ciphertext,
            ephemeral: vec![],
        });
        let text = pb::Personal { identities: vec![], text: personal.text.clone() }.encode_to_vec();
        let part = pb::sealed::Part::Text;
        let both = [key(&subjects[0]), key(&subjects[1])];
        let (nonce, ciphertext) = encrypt(&legacy_key(&both), &aad(&id, part, &subjects), &text).unwrap();
        e.sealed.push(pb::Sealed {
            part: part as i32,
            subjects: e.subjects.clone(),
            nonce,
            ciphertext,
            ephemeral: vec![],
        });
        assert_eq!(unseal(&mut e, &keys).unwrap().unreadable, 0);
        assert_eq!(e.personal, Some(personal));
    }

    #[test]
    fn erasing_one_subject_hides_their_identity_and_the_shared_text() {
        let keys = MemKeys::default();
        let mut e = event();
        block_on(seal(&mut e, &keys)).unwrap();
        keys.0.lock().unwrap().remove(&SubjectId::parse("person/P-2").unwrap());
        let report = unseal(&mut e, &keys).unwrap();
        assert_eq!(report.unreadable, 1, "the text needs both subjects' keys");
        let personal = e.personal.unwrap();
        assert_eq!(personal.identities.len(), 1, "P-1's identity is still readable");
        assert!(personal.text.is_empty());
    }

    /// A memory that counts its reads.
    #[derive(Default)]
    struct Counted(InMemoryOf, std::sync::atomic::AtomicUsize, std::sync::atomic::AtomicUsize);
    type InMemoryOf = std::sync::Mutex<HashMap<[u8; 16], [u8; 32]>>;

    impl KeyMemory for Counted {
        fn recall(&self, id: &[u8; 16]) -> Option<[u8; 32]> {
            self.1.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            self.0.lock().unwrap().get(id).copied()
        }
        fn recall_many(&self, ids: &[[u8; 16]]) -> Vec<Option<[u8; 32]>> {
            self.2.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let memory = self.0.lock().unwrap();
            ids.iter().map(|id| memory.get(id).copied()).collect()
        }
        fn remember(&self, id: [u8; 16], masked: [u8; 32]) {
            self.0.lock().unwrap().insert(id, masked);
        }
        fn cursor(&self) -> u64 {
            0
        }
        fn set_cursor(&self, _: u64) {}
    }

    #[test]
    fn a_page_of_events_recalls_its_keys_in_one_read_and_opens_the_same() {
        let keys = MemKeys::default();
        let memory = std::sync::Arc::new(Counted::default());
        let opened = OpenedKeys::new(memory.clone());
        let mut page: Vec<pb::Event> = (0..3).map(|_| event()).collect();
        for e in &mut page {
            e.event_id = EventId::new_v7().to_string();
            block_on(seal(e, &keys)).unwrap();
        }
        // First read: nothing remembered, keys agreed and remembered.
        for mut e in page.clone() {
            assert_eq!(unseal_remembering(&mut e, &KeysOnce::new(&keys), Some(&opened)).unwrap().unreadable, 0);
        }
        assert_eq!(memory.0.lock().unwrap().len(), 6);
        let singles = memory.1.load(std::sync::atomic::Ordering::Relaxed);
        // Then a page: one read of the memory for its six records.
        let recalled = opened.recalling(&page);
        assert_eq!(memory.2.load(std::sync::atomic::Ordering::Relaxed), 1);
        for mut e in page.clone() {
            let report = unseal_remembering(&mut e, &KeysOnce::new(&keys), Some(&recalled)).unwrap();
            assert_eq!((report.unreadable, e.personal), (0, event().personal));
        }
        assert_eq!(memory.1.load(std::sync::atomic::Ordering::Relaxed), singles, "no record read on its own");
    }

    #[test]
    fn remembered_keys_open_again_but_never_after_an_erasure_or_a_new_key() {
        let keys = MemKeys::default();
        let memory = std::sync::Arc::new(InMemory::new(100));
        let opened = OpenedKeys::new(memory.clone());
        let mut sealed = event();
        block_on(seal(&mut sealed, &keys)).unwrap();
        let read = |keys: &MemKeys| {
            let mut e = sealed.clone();
            let report = unseal_remembering(&mut e, &KeysOnce::new(keys), Some(&opened)).unwrap();
            (report.unreadable, e.personal.unwrap())
        };
        assert_eq!(read(&keys), (0, event().personal.unwrap()));
        assert_eq!(memory.len(), 2, "both records' keys remembered");
        // From the side of someone holding the memory (the disk) but not
        // the subject's key: what is stored does not open the record; only
        // unmasked with the subject's private key does it.
        let record = &sealed.sealed[0];
        let ephemeral = PublicKey::from_slice(&record.ephemeral).unwrap();
        let stored = memory.recall(&OpenedKeys::id(&ephemeral)).expect("remembered");
        let subjects = subjects_of(&record.subjects).unwrap();
        let id = EventId::parse(&sealed.event_id).unwrap();
        let aad = aad(&id, pb::sealed::Part::try_from(record.part).unwrap(), &subjects);
        assert!(decrypt(&stored, &aad, &record.nonce, &record.ciphertext).is_err());
        let with_wrong_key = opened.recall(&ephemeral, &[DataKey::generate()]).unwrap();
        assert!(decrypt(&with_wrong_key, &aad, &record.nonce, &record.ciphertext).is_err());
        let data_keys: Vec<DataKey> = subjects.iter().map(|s| keys.data_key(s).unwrap().unwrap()).collect();
        let unmasked = opened.recall(&ephemeral, &data_keys).unwrap();
        assert!(decrypt(&unmasked, &aad, &record.nonce, &record.ciphertext).is_ok());
        assert_eq!(read(&keys), (0, event().personal.unwrap()), "and opened again with them");
        // P-2 gets a new key (as if erased and seen again): the remembered
        // key of the shared text is not found with it.
        let p2 = SubjectId::parse("person/P-2").unwrap();
        keys.0.lock().unwrap().insert(p2.clone(), DataKey::generate());
        let (unreadable, personal) = read(&keys);
        assert_eq!(unreadable, 1);
        assert!(personal.text.is_empty());
        // P-2 erased: the same.
        keys.0.lock().unwrap().remove(&p2);
        let (unreadable, personal) = read(&keys);
        assert_eq!((unreadable, personal.identities.len()), (1, 1));
        assert!(personal.text.is_empty());
    }

    #[test]
    fn keys_once_asks_the_store_once_per_subject() {
        struct Counting(MemKeys, Mutex<usize>);
        impl SubjectKeys for Counting {
            fn data_key(&self, subject: &SubjectId) -> Result<Option<DataKey>, SealError> {
                *self.1.lock().unwrap() += 1;
                self.0.data_key(subject)
            }
        }
        let keys = Counting(MemKeys::default(), Mutex::new(0));
        let mut events = vec![event(), event(), event()];
        for e in &mut events {
            block_on(seal(e, &keys.0)).unwrap();
        }
        let once = KeysOnce::new(&keys);
        for e in &mut events {
            assert_eq!(unseal(e, &once).unwrap().unreadable, 0);
        }
        assert_eq!(*keys.1.lock().unwrap(), 2, "two subjects, three events, five records");
    }

    #[test]
    fn moved_or_altered_records_are_unreadable_not_errors() {
        let keys = MemKeys::default();
        let mut e = event();
        block_on(seal(&mut e, &keys)).unwrap();
        let mut other = e.clone();
        other.event_id = EventId::new_v7().to_string();
        assert_eq!(unseal(&mut other, &keys).unwrap().unreadable, 2, "moved to another event");
        let mut altered = e.clone();
        altered.sealed[0].ciphertext[0] ^= 1;
        let report = unseal(&mut altered, &keys).unwrap();
        assert_eq!(report.unreadable, 1, "only the altered record is lost");
        assert_eq!(altered.personal.unwrap().text.len(), 1, "the rest of the event still reads");
    }

    #[test]
    fn malformed_records_are_refused_before_they_enter_the_log() {
        let keys = MemKeys::default();
        let mut e = event();
        block_on(seal(&mut e, &keys)).unwrap();
        type Damage = fn(&mut pb::Sealed);
        let cases: [(&str, Damage); 5] = [
            ("unknown part", |r| r.part = 9),
            ("nonce", |r| r.nonce.pop().map(drop).unwrap_or(())),
            ("one-time key", |r| r.ephemeral.truncate(31)),
            ("subjects", |r| r.subjects[0].key = "P-other".into()),
            ("tag", |r| r.ciphertext.truncate(3)),
        ];
        for (what, damage) in cases {
            let mut bad = e.clone();
            damage(&mut bad.sealed[0]);
            let err = check_sealed(&bad).unwrap_err().to_string();
            assert!(err.contains("malformed"), "{what}: {err}");
        }
    }
}
