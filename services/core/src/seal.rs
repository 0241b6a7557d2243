//! Sealing personal data per subject (design.md, "Personal data").
//!
//! Each subject has its own random 256-bit data key. A subject's identifiers
//! are sealed under that subject's key; an event's free text is sealed under a
//! key derived (HKDF-SHA256) from the keys of *all* its subjects, so erasing
//! any one of them makes the text unreadable. The AEAD is ChaCha20-Poly1305,
//! with the event id, the part and the subjects as associated data so a sealed
//! record cannot be moved to another event. Hashes and signatures cover only
//! ciphertext, so destroying a key (crypto-shredding) leaves the log verifiable.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use hkdf::Hkdf;
use prost::Message;
use rand::RngCore;
use sha2::Sha256;

use crate::ids::{EventId, SubjectId};
use crate::pb;

/// A subject's data key.
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
}

/// Where subjects' data keys are kept.
pub trait SubjectKeys: Send + Sync {
    /// The subject's data key. With `create`, one is made if the subject has
    /// none; without, `None` means the subject has no key (never had one, or
    /// it was destroyed by erasure).
    fn data_key(&self, subject: &SubjectId, create: bool) -> Result<Option<DataKey>, SealError>;
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

fn text_key(keys: &[DataKey]) -> [u8; 32] {
    let mut ikm = Vec::with_capacity(32 * keys.len());
    for k in keys {
        ikm.extend_from_slice(&k.0);
    }
    let hk = Hkdf::<Sha256>::new(Some(b"concord/v1/text"), &ikm);
    let mut out = [0u8; 32];
    // 32 bytes is always a valid HKDF-SHA256 output length.
    let _ = hk.expand(b"free text", &mut out);
    out
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

/// Moves an event's plaintext `personal` part into `sealed` records. The
/// event must already carry its final `event_id` and valid subjects.
pub fn seal(event: &mut pb::Event, keys: &dyn SubjectKeys) -> Result<(), SealError> {
    let Some(personal) = event.personal.take() else {
        return Ok(());
    };
    let event_id = EventId::parse(&event.event_id).map_err(|e| SealError::Malformed(e.to_string()))?;
    let subjects = event
        .subjects
        .iter()
        .map(SubjectId::from_ref)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| SealError::Malformed(e.to_string()))?;
    let mut sealed = Vec::new();
    for identity in personal.identities {
        let subject = subjects
            .iter()
            .find(|s| s.key() == identity.subject_key)
            .ok_or_else(|| SealError::UnknownSubject(identity.subject_key.clone()))?;
        let key = keys.data_key(subject, true)?.ok_or_else(|| SealError::KeyStore("no key created".into()))?;
        let part = pb::sealed::Part::Identity;
        let (nonce, ciphertext) =
            encrypt(&key.0, &aad(&event_id, part, std::slice::from_ref(subject)), &identity.encode_to_vec())?;
        sealed.push(pb::Sealed { part: part as i32, subjects: vec![subject.to_ref()], nonce, ciphertext });
    }
    if !personal.text.is_empty() {
        let mut data_keys = Vec::with_capacity(subjects.len());
        for s in &subjects {
            data_keys.push(keys.data_key(s, true)?.ok_or_else(|| SealError::KeyStore("no key created".into()))?);
        }
        let part = pb::sealed::Part::Text;
        let text = pb::Personal { identities: vec![], text: personal.text };
        let (nonce, ciphertext) =
            encrypt(&text_key(&data_keys), &aad(&event_id, part, &subjects), &text.encode_to_vec())?;
        sealed.push(pb::Sealed {
            part: part as i32,
            subjects: subjects.iter().map(SubjectId::to_ref).collect(),
            nonce,
            ciphertext,
        });
    }
    event.sealed = sealed;
    Ok(())
}

/// What [`unseal`] could not read because a subject's key is gone (erased).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Unsealed {
    /// Sealed records left unreadable.
    pub unreadable: usize,
}

/// Replaces an event's `sealed` records with the plaintext `personal` part,
/// as far as the subjects' keys still exist. Records whose key was destroyed
/// are dropped and counted.
pub fn unseal(event: &mut pb::Event, keys: &dyn SubjectKeys) -> Result<Unsealed, SealError> {
    let sealed = std::mem::take(&mut event.sealed);
    if sealed.is_empty() {
        return Ok(Unsealed::default());
    }
    let event_id = EventId::parse(&event.event_id).map_err(|e| SealError::Malformed(e.to_string()))?;
    let mut personal = pb::Personal::default();
    let mut report = Unsealed::default();
    'records: for record in sealed {
        let subjects = record
            .subjects
            .iter()
            .map(SubjectId::from_ref)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| SealError::Malformed(e.to_string()))?;
        let mut data_keys = Vec::with_capacity(subjects.len());
        for s in &subjects {
            match keys.data_key(s, false)? {
                Some(k) => data_keys.push(k),
                None => {
                    report.unreadable += 1;
                    continue 'records;
                }
            }
        }
        match pb::sealed::Part::try_from(record.part) {
            Ok(pb::sealed::Part::Identity) => {
                let [key] = data_keys.as_slice() else {
                    return Err(SealError::Malformed("an identity is sealed under exactly one subject".into()));
                };
                let aad = aad(&event_id, pb::sealed::Part::Identity, &subjects);
                let plain = decrypt(&key.0, &aad, &record.nonce, &record.ciphertext)?;
                let identity =
                    pb::Identity::decode(plain.as_slice()).map_err(|e| SealError::Malformed(e.to_string()))?;
                personal.identities.push(identity);
            }
            Ok(pb::sealed::Part::Text) => {
                let aad = aad(&event_id, pb::sealed::Part::Text, &subjects);
                let plain = decrypt(&text_key(&data_keys), &aad, &record.nonce, &record.ciphertext)?;
                let text = pb::Personal::decode(plain.as_slice()).map_err(|e| SealError::Malformed(e.to_string()))?;
                personal.text.extend(text.text);
            }
            _ => {
                return Err(SealError::Malformed(format!("unknown part {}", record.part)));
            }
        }
    }
    event.personal = Some(personal);
    Ok(report)
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
        fn data_key(&self, subject: &SubjectId, create: bool) -> Result<Option<DataKey>, SealError> {
            let mut map = self.0.lock().unwrap();
            if create {
                return Ok(Some(map.entry(subject.clone()).or_insert_with(DataKey::generate).clone()));
            }
            Ok(map.get(subject).cloned())
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
                    address: String::new(),
                }],
                text,
            }),
            ..Default::default()
        }
    }

    #[test]
    fn seal_then_unseal_round_trips_and_hides_plaintext() {
        let keys = MemKeys::default();
        let original = event();
        let mut e = original.clone();
        seal(&mut e, &keys).unwrap();
        assert!(e.personal.is_none());
        let bytes = e.encode_to_vec();
        for needle in ["Jamie", "Wealdstone", "2009-04-17"] {
            assert!(!bytes.windows(needle.len()).any(|w| w == needle.as_bytes()), "{needle} leaked");
        }
        unseal(&mut e, &keys).unwrap();
        assert_eq!(e.personal, original.personal);
        assert!(e.sealed.is_empty());
    }

    #[test]
    fn erasing_one_subject_hides_their_identity_and_the_shared_text() {
        let keys = MemKeys::default();
        let mut e = event();
        seal(&mut e, &keys).unwrap();
        keys.0.lock().unwrap().remove(&SubjectId::parse("person/P-2").unwrap());
        let report = unseal(&mut e, &keys).unwrap();
        assert_eq!(report.unreadable, 1, "the text needs both subjects' keys");
        let personal = e.personal.unwrap();
        assert_eq!(personal.identities.len(), 1, "P-1's identity is still readable");
        assert!(personal.text.is_empty());
    }

    #[test]
    fn moved_or_altered_ciphertext_is_refused() {
        let keys = MemKeys::default();
        let mut e = event();
        seal(&mut e, &keys).unwrap();
        let mut other = e.clone();
        other.event_id = EventId::new_v7().to_string();
        assert!(matches!(unseal(&mut other, &keys), Err(SealError::Tampered)));
        e.sealed[0].ciphertext[0] ^= 1;
        assert!(matches!(unseal(&mut e, &keys), Err(SealError::Tampered)));
    }
}
