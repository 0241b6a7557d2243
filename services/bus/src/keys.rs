//! Subjects' public sealing keys over NATS. A node seals personal data to
//! its subjects' public keys (see `concord_core::seal`) and holds no private
//! key: it asks for the public keys on `concord.keys.<agency_id>`, and a
//! query replica, which holds the vault, answers (creating a key for a new
//! subject). Requests go to one replica of the queue group; answers arrive
//! on the asking node's own inbox.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use concord_core::pb;
use concord_core::seal::{PublicKey, SealError, SealKeys};
use concord_core::{AgencyId, SubjectId};
use futures::StreamExt;
use prost::Message;

use crate::subject::{SEAL_KEYS_PREFIX, seal_keys_subject};
use crate::{BusError, NatsBus};

/// The most subjects one request may ask about (an event has far fewer).
pub const MAX_SUBJECTS: usize = 64;

/// How long a node keeps a public key before asking again: after a subject
/// is erased, events sealed within this window to the erased key cannot be
/// read (their personal fields only; the events themselves are kept).
pub const CACHE_FOR: Duration = Duration::from_secs(60);

/// How long a node waits for an answer.
const ANSWER_WITHIN: Duration = Duration::from_secs(15);

/// The queue group replicas answer in: each request is answered once.
const QUEUE: &str = "concord-keys";

/// A node's [`SealKeys`]: public keys asked of the replicas over NATS, kept
/// for [`CACHE_FOR`].
pub struct RemoteSealKeys {
    client: async_nats::Client,
    subject: String,
    cache: Mutex<HashMap<SubjectId, (PublicKey, Instant)>>,
}

impl RemoteSealKeys {
    /// Asks on `agency`'s own key subject over `bus`.
    pub fn new(bus: &NatsBus, agency: &AgencyId) -> Self {
        RemoteSealKeys { client: bus.client().clone(), subject: seal_keys_subject(agency), cache: Mutex::default() }
    }

    fn cached(&self, subject: &SubjectId) -> Option<PublicKey> {
        let cache = self.cache.lock().ok()?;
        cache.get(subject).filter(|(_, at)| at.elapsed() < CACHE_FOR).map(|(key, _)| *key)
    }

    /// Asks, again while no replica is there to answer (one starting, or
    /// NATS reconnecting), for at most [`ANSWER_WITHIN`].
    async fn ask(&self, subjects: &[SubjectId]) -> Result<Vec<PublicKey>, BusError> {
        let request = pb::SealKeysRequest { subjects: subjects.iter().map(SubjectId::to_ref).collect() };
        let deadline = tokio::time::Instant::now() + ANSWER_WITHIN;
        let mut pause = Duration::from_millis(50);
        let reply = loop {
            let asked = self.client.request(self.subject.clone(), request.encode_to_vec().into());
            match tokio::time::timeout_at(deadline, asked).await {
                Err(_) => {
                    return Err(BusError::Unavailable("no query replica answered for sealing keys in time".into()));
                }
                Ok(Ok(reply)) => break reply,
                Ok(Err(e)) if tokio::time::Instant::now() + pause < deadline => {
                    tracing::debug!(error = %e, "no answer for sealing keys yet; asking again");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(1));
                }
                Ok(Err(e)) => return Err(BusError::Unavailable(format!("asking for sealing keys: {e}"))),
            }
        };
        let reply = pb::SealKeysReply::decode(reply.payload.as_ref())
            .map_err(|e| BusError::Unavailable(format!("the sealing keys answer does not decode: {e}")))?;
        if !reply.error.is_empty() {
            return Err(BusError::Refused(reply.error));
        }
        let mut keys = Vec::with_capacity(subjects.len());
        for (subject, key) in subjects.iter().zip(&reply.keys) {
            let answered = key.subject.as_ref().and_then(|s| SubjectId::from_ref(s).ok());
            let public = PublicKey::from_slice(&key.public_key).filter(|_| answered.as_ref() == Some(subject));
            keys.push(public.ok_or_else(|| {
                BusError::Unavailable("the sealing keys answer is not for the subjects asked".into())
            })?);
        }
        if keys.len() != subjects.len() {
            return Err(BusError::Unavailable("the sealing keys answer is missing subjects".into()));
        }
        Ok(keys)
    }
}

#[async_trait]
impl SealKeys for RemoteSealKeys {
    async fn public_keys(&self, subjects: &[SubjectId]) -> Result<Vec<PublicKey>, SealError> {
        let cached: Vec<Option<PublicKey>> = subjects.iter().map(|s| self.cached(s)).collect();
        if let Some(keys) = cached.iter().copied().collect::<Option<Vec<_>>>() {
            return Ok(keys);
        }
        let keys = self.ask(subjects).await.map_err(|e| SealError::KeyStore(e.to_string()))?;
        if let Ok(mut cache) = self.cache.lock() {
            let now = Instant::now();
            cache.retain(|_, (_, at)| at.elapsed() < CACHE_FOR);
            for (subject, key) in subjects.iter().zip(&keys) {
                cache.insert(subject.clone(), (*key, now));
            }
        }
        Ok(keys)
    }
}

/// Answers every node's requests for sealing keys from `keys` (a replica's
/// vault), in the background, from now on. A request that does not decode,
/// or asks about too many or invalid subjects, is answered with an error.
pub async fn answer_seal_keys(bus: &NatsBus, keys: Arc<dyn SealKeys>) -> Result<(), BusError> {
    let client = bus.client().clone();
    let mut requests = client
        .queue_subscribe(format!("{SEAL_KEYS_PREFIX}.>"), QUEUE.to_string())
        .await
        .map_err(|e| BusError::Unavailable(e.to_string()))?;
    tokio::spawn(async move {
        while let Some(message) = requests.next().await {
            let Some(reply) = message.reply else { continue };
            let (client, keys) = (client.clone(), keys.clone());
            tokio::spawn(async move {
                let answer = answer(&message.payload, keys.as_ref()).await;
                if let Err(e) = client.publish(reply, answer.encode_to_vec().into()).await {
                    tracing::warn!(error = %e, "could not answer a request for sealing keys");
                }
            });
        }
    });
    Ok(())
}

async fn answer(payload: &[u8], keys: &dyn SealKeys) -> pb::SealKeysReply {
    let refused = |error: String| pb::SealKeysReply { keys: vec![], error };
    let Ok(request) = pb::SealKeysRequest::decode(payload) else {
        return refused("the request is not a SealKeysRequest".into());
    };
    if request.subjects.is_empty() || request.subjects.len() > MAX_SUBJECTS {
        return refused(format!("ask about 1 to {MAX_SUBJECTS} subjects"));
    }
    let subjects = match request.subjects.iter().map(SubjectId::from_ref).collect::<Result<Vec<_>, _>>() {
        Ok(subjects) => subjects,
        Err(e) => return refused(format!("subjects: {e}")),
    };
    match keys.public_keys(&subjects).await {
        Ok(publics) => pb::SealKeysReply {
            keys: subjects
                .iter()
                .zip(publics)
                .map(|(s, p)| pb::SealKey { subject: Some(s.to_ref()), public_key: p.0.to_vec() })
                .collect(),
            error: String::new(),
        },
        Err(e) => {
            tracing::warn!(error = %e, "could not give sealing keys");
            refused("the subject key store is unavailable; try again".into())
        }
    }
}
