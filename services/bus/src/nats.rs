//! The bus over NATS JetStream.
//!
//! Events go to stream `CONCORD_EVENTS` (subjects `concord.events.>`), each
//! published with `Nats-Msg-Id` = event id and confirmed by its PubAck.
//! Consumers are durable pull consumers that deliver in stream order from a
//! position the consumer keeps itself (see [`crate::StreamPosition`]), and
//! acknowledge only after their own durable write. Receipts travel on plain
//! NATS subjects `concord.receipts.<agency_id>`: a lost receipt only means the
//! node sends the event again and the ledger's deduplication answers it.

use std::path::PathBuf;
use std::sync::RwLock;
use std::time::Duration;

use async_nats::jetstream::{self, consumer, stream};
use async_trait::async_trait;
use concord_core::AgencyId;
use concord_core::pb;
use futures::StreamExt;
use prost::Message;

use crate::subject::{consent_subject, receipt_subject};
use crate::{
    Acker, BusError, ConsentAnswerer, Delivery, EventBus, EventConsumer, Outbound, ReceiptStream, StreamPosition,
};

/// The JetStream stream of events.
pub const EVENTS_STREAM: &str = "CONCORD_EVENTS";
/// The subjects it holds.
pub const EVENTS_SUBJECTS: &str = "concord.events.>";
/// The JetStream stream of audit records.
pub const AUDIT_STREAM: &str = "CONCORD_AUDIT";
/// The subjects it holds.
pub const AUDIT_SUBJECTS: &str = "concord.audit.>";
/// The message header that carries W3C trace context.
const TRACEPARENT: &str = "traceparent";
/// The largest message the stream takes: above the ledger's own limit, so an
/// oversize event reaches the ledger and is quarantined with a reason.
pub const MAX_MESSAGE_BYTES: i32 = 2 * 1024 * 1024;

/// How to reach NATS.
#[derive(Debug, Clone)]
pub struct NatsConfig {
    /// Server URL(s), comma-separated; credentials may be in the URL
    /// (`nats://user:password@host:4222`).
    pub url: String,
    /// Replicas of the streams this process creates (1 single node, 3 cluster).
    pub replicas: usize,
    /// Whether this process creates or updates the streams (the ledger does;
    /// nodes, whose users may not manage streams, do not).
    pub manage_streams: bool,
}

/// The bus over a NATS connection.
pub struct NatsBus {
    client: async_nats::Client,
    js: jetstream::Context,
    config: NatsConfig,
}

fn unavailable(e: impl std::fmt::Display) -> BusError {
    BusError::Unavailable(e.to_string())
}

/// TLS for this process's NATS connections: the CA that signed the servers'
/// certificates and, if the servers ask for one, this process's client
/// certificate. A server that offers TLS is then verified against `ca`; a
/// `tls://` URL also refuses a server that does not offer it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NatsTls {
    /// PEM file of the CA the servers' certificates are checked against.
    pub ca: Option<PathBuf>,
    /// PEM files of this process's client certificate and its key.
    pub client: Option<(PathBuf, PathBuf)>,
}

/// The TLS every NATS connection of this process uses (see [`use_tls`]).
static TLS: RwLock<Option<NatsTls>> = RwLock::new(None);

/// Makes every later NATS connection of this process (the bus, the subject
/// key store, requests) use `tls`. It is process-wide because a process talks
/// to one NATS deployment, and its connections are made in several crates
/// from a URL alone.
pub fn use_tls(tls: NatsTls) {
    let mut current = TLS.write().unwrap_or_else(|poisoned| poisoned.into_inner());
    *current = Some(tls);
}

/// Adds the process's [`NatsTls`] to `options`.
fn with_tls(mut options: async_nats::ConnectOptions) -> async_nats::ConnectOptions {
    let tls = TLS.read().unwrap_or_else(|poisoned| poisoned.into_inner()).clone();
    if let Some(tls) = tls {
        if let Some(ca) = tls.ca {
            options = options.add_root_certificates(ca);
        }
        if let Some((cert, key)) = tls.client {
            options = options.add_client_certificate(cert, key);
        }
    }
    options
}

/// Connects to NATS at `url` (one address or several, comma-separated),
/// retrying in the background while no server answers. Credentials may be in
/// the URL (`nats://user:password@host:4222`): async-nats does not send those
/// by itself, so they are taken from the first address that has them, and
/// the user's replies arrive under its own inbox prefix
/// ([`crate::subject::inbox_prefix`]), the only one its permissions let it
/// subscribe to.
pub async fn connect_client(url: &str, name: &str) -> Result<async_nats::Client, async_nats::ConnectError> {
    let servers: Vec<&str> = url.split(',').map(str::trim).filter(|u| !u.is_empty()).collect();
    let mut options = async_nats::ConnectOptions::new();
    let credentials = servers.iter().filter_map(|u| u.parse::<async_nats::ServerAddr>().ok()).find_map(|a| {
        let user = a.username()?.to_string();
        Some((user, a.password().unwrap_or_default().to_string()))
    });
    if let Some((user, password)) = credentials {
        options = async_nats::ConnectOptions::with_user_and_password(user.clone(), password)
            .custom_inbox_prefix(crate::subject::inbox_prefix(&user));
    }
    with_tls(options).name(name).retry_on_initial_connect().max_reconnects(None).connect(servers).await
}

impl NatsBus {
    /// Connects (retrying in the background if the server is down, so a node
    /// keeps accepting events into its outbox) and, if asked, creates or
    /// updates the streams.
    pub async fn connect(config: &NatsConfig) -> Result<Self, BusError> {
        let client = connect_client(&config.url, "concord").await.map_err(unavailable)?;
        let js = jetstream::new(client.clone());
        let bus = NatsBus { client, js, config: config.clone() };
        if config.manage_streams {
            bus.ensure_streams(config.replicas).await?;
        }
        Ok(bus)
    }

    /// Creates the streams, or updates them to this configuration (idempotent).
    pub async fn ensure_streams(&self, replicas: usize) -> Result<(), BusError> {
        for (name, subjects) in [(EVENTS_STREAM, EVENTS_SUBJECTS), (AUDIT_STREAM, AUDIT_SUBJECTS)] {
            self.js
                .create_or_update_stream(stream::Config {
                    name: name.to_string(),
                    subjects: vec![subjects.to_string()],
                    storage: stream::StorageType::File,
                    num_replicas: replicas.max(1),
                    max_message_size: MAX_MESSAGE_BYTES,
                    duplicate_window: Duration::from_secs(120),
                    ..Default::default()
                })
                .await
                .map_err(unavailable)?;
        }
        Ok(())
    }

    /// Opens the durable pull consumer `durable` on stream `name` (only its
    /// `subjects`), delivering in stream order from just after `resume` (from
    /// the start if `resume` is `None` or from an earlier incarnation).
    pub async fn stream_consumer(
        &self,
        name: &str,
        subjects: &str,
        durable: &str,
        resume: Option<StreamPosition>,
    ) -> Result<Box<dyn EventConsumer>, BusError> {
        if self.config.manage_streams {
            // After a server lost its store, the stream is created again here.
            self.ensure_streams(self.config.replicas).await?;
        }
        let mut stream = self.js.get_stream(name).await.map_err(unavailable)?;
        let info = stream.info().await.map_err(unavailable)?;
        let epoch = info.created.unix_timestamp_nanos() as i64;
        let start = match resume {
            Some(p) if p.epoch == epoch => p.sequence + 1,
            Some(p) => {
                tracing::warn!(
                    stream = name,
                    old = p.epoch,
                    new = epoch,
                    "the stream was recreated; reading it from the start"
                );
                1
            }
            None => 1,
        };
        // The consumer's position is ours (kept with our own writes), so start
        // it afresh exactly where we left off: no stale redeliveries can
        // arrive out of order.
        let _ = stream.delete_consumer(durable).await;
        let consumer = stream
            .create_consumer(consumer::pull::Config {
                durable_name: Some(durable.to_string()),
                deliver_policy: consumer::DeliverPolicy::ByStartSequence { start_sequence: start },
                ack_policy: consumer::AckPolicy::Explicit,
                ack_wait: Duration::from_secs(60),
                max_ack_pending: 20_000,
                filter_subject: subjects.to_string(),
                ..Default::default()
            })
            .await
            .map_err(unavailable)?;
        Ok(Box::new(NatsConsumer { consumer, epoch }))
    }

    /// The underlying client (for flushing in tests and tools).
    pub fn client(&self) -> &async_nats::Client {
        &self.client
    }
}

struct JsAck(jetstream::Message);

#[async_trait]
impl Acker for JsAck {
    async fn ack(self: Box<Self>) -> Result<(), BusError> {
        self.0.ack().await.map_err(unavailable)
    }
}

struct NatsConsumer {
    consumer: consumer::Consumer<consumer::pull::Config>,
    epoch: i64,
}

#[async_trait]
impl EventConsumer for NatsConsumer {
    async fn next_batch(&mut self, max: usize, wait: Duration) -> Result<Vec<Delivery>, BusError> {
        let mut messages =
            self.consumer.fetch().max_messages(max).expires(wait).messages().await.map_err(unavailable)?;
        let mut batch = Vec::new();
        while let Some(message) = messages.next().await {
            let message = message.map_err(unavailable)?;
            let info = message.info().map_err(unavailable)?;
            let (sequence, pending) = (info.stream_sequence, info.pending);
            let subject = message.subject.to_string();
            let payload = message.payload.clone();
            let position = StreamPosition { epoch: self.epoch, sequence };
            let traceparent = message.headers.as_ref().and_then(|h| h.get(TRACEPARENT)).map(|v| v.as_str().to_string());
            let delivery = Delivery::new(subject, payload, Some(position), Box::new(JsAck(message)));
            batch.push(delivery.with_pending(pending).with_traceparent(traceparent));
        }
        Ok(batch)
    }
}

struct NatsReceipts {
    subscriber: async_nats::Subscriber,
}

#[async_trait]
impl ReceiptStream for NatsReceipts {
    async fn next(&mut self) -> Option<pb::Receipt> {
        loop {
            let message = self.subscriber.next().await?;
            match pb::Receipt::decode(message.payload.as_ref()) {
                Ok(receipt) => return Some(receipt),
                Err(e) => tracing::warn!(error = %e, "ignored a malformed receipt"),
            }
        }
    }
}

#[async_trait]
impl EventBus for NatsBus {
    fn ready(&self) -> Result<(), String> {
        match self.client().connection_state() {
            async_nats::connection::State::Connected => Ok(()),
            state => Err(format!("NATS is {state}")),
        }
    }

    async fn publish(&self, message: Outbound) -> Result<(), BusError> {
        let mut publish =
            jetstream::message::PublishMessage::build().payload(message.payload).message_id(&message.msg_id);
        if let Some(traceparent) = &message.traceparent {
            publish = publish.header(TRACEPARENT, traceparent.as_str());
        }
        let ack = self.js.send_publish(message.subject, publish).await.map_err(|e| {
            if e.to_string().to_lowercase().contains("permission") {
                BusError::Refused(e.to_string())
            } else {
                unavailable(e)
            }
        })?;
        ack.await.map_err(unavailable)?;
        Ok(())
    }

    async fn consumer(
        &self,
        durable: &str,
        resume: Option<StreamPosition>,
    ) -> Result<Box<dyn EventConsumer>, BusError> {
        self.stream_consumer(EVENTS_STREAM, EVENTS_SUBJECTS, durable, resume).await
    }

    async fn publish_receipt(&self, agency: &AgencyId, receipt: &pb::Receipt) -> Result<(), BusError> {
        self.client.publish(receipt_subject(agency), receipt.encode_to_vec().into()).await.map_err(unavailable)
    }

    async fn receipts(&self, agency: &AgencyId) -> Result<Box<dyn ReceiptStream>, BusError> {
        let subscriber = self.client.subscribe(receipt_subject(agency)).await.map_err(unavailable)?;
        Ok(Box::new(NatsReceipts { subscriber }))
    }

    async fn ask_consent(
        &self,
        agency: &AgencyId,
        query: &pb::ConsentQuery,
        timeout: Duration,
    ) -> Result<pb::ConsentAnswer, BusError> {
        let request = self.client.request(consent_subject(agency), query.encode_to_vec().into());
        let reply = tokio::time::timeout(timeout, request)
            .await
            .map_err(|_| BusError::Unavailable("no consent answer in time".into()))?
            .map_err(unavailable)?;
        pb::ConsentAnswer::decode(reply.payload.as_ref())
            .map_err(|e| BusError::Unavailable(format!("the consent answer does not decode: {e}")))
    }

    async fn answer_consent(&self, answer: ConsentAnswerer) -> Result<(), BusError> {
        let mut questions = self.client.subscribe("concord.consent.>").await.map_err(unavailable)?;
        let client = self.client.clone();
        tokio::spawn(async move {
            while let Some(message) = questions.next().await {
                let Some(reply) = message.reply else { continue };
                // Who asks is the subject's agency: only its NATS user may publish there.
                let asking = message.subject.strip_prefix("concord.consent.").and_then(|a| AgencyId::parse(a).ok());
                let Some(asking) = asking else { continue };
                // A question that does not decode is answered "none": never an error.
                let query = pb::ConsentQuery::decode(message.payload.as_ref()).unwrap_or_default();
                let answer = answer.clone();
                let Ok(answer) = tokio::task::spawn_blocking(move || answer(&asking, query)).await else { continue };
                if let Err(e) = client.publish(reply, answer.encode_to_vec().into()).await {
                    tracing::warn!(error = %e, "could not answer a consent question");
                }
            }
        });
        Ok(())
    }
}
