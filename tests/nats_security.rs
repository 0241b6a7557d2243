//! Attacks on the bus, from the attacker's side, against the deploy config
//! (`deploy/nats/single.conf` with the generated users): an agency's NATS
//! user cannot publish as another agency, an event signed with one agency's
//! key but claiming another is quarantined, and garbage on an event subject
//! is quarantined with a counted reason while the ledger keeps running; an
//! event whose only basis is a consent that was never given is refused by the
//! node and, sent straight onto the bus past the node, by the ledger; and an
//! agency may record on the audit stream only its own publishes.

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use common::nats::NatsServer;
use common::{agency, arrest, nats_node, wait_outbox_empty};
use concord::layout::Layout;
use concord_bus::nats::EVENTS_STREAM;
use concord_bus::{EventBus, NatsBus, NatsConfig, Outbound, event_subject};
use concord_core::sign::{AgencyKey, KeyRegistry};
use concord_core::{EventType, pb};
use concord_ledger::{Ledger, Quarantine, Role};
use concord_log::kv::{Engine, open};
use concord_log::log::Log;
use prost::Message;

/// A deploy-config server and the partnership's ledger (as the `ledger` user).
struct Rig {
    nats: NatsServer,
    _dir: tempfile::TempDir,
    layout: Layout,
    ledger: Arc<Ledger>,
}

async fn rig() -> Rig {
    let nats = NatsServer::start_deploy();
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::new(dir.path());
    layout.ensure_keys(&common::agencies()).unwrap();
    let url = nats.url_as("ledger");
    concord_vault::NatsKeyStore::connect(&url, 1, true).await.unwrap();
    common::seal_key_service(&layout, &nats.url_as("serve-1"), false).await;
    let log = Arc::new(
        Log::open(
            open(Engine::Redb, &layout.store("log")).unwrap(),
            concord::platform::EVENT_LOG_ORIGIN,
            layout.ledger_signing_key().unwrap(),
        )
        .unwrap(),
    );
    let quarantine = Arc::new(Quarantine::open(open(Engine::Redb, &layout.store("quarantine")).unwrap()).unwrap());
    let bus = NatsBus::connect(&NatsConfig { url, replicas: 1, manage_streams: true }).await.unwrap();
    let registry = KeyRegistry::load(&layout.registry()).unwrap();
    let bus: Arc<dyn EventBus> = Arc::new(bus);
    bus.answer_consent(concord_ledger::consent::answerer(log.clone())).await.unwrap();
    let ledger = Arc::new(Ledger::new(log, registry, bus, quarantine, Role::Writer));
    tokio::spawn(ledger.clone().run("ledger"));
    Rig { nats, _dir: dir, layout, ledger }
}

impl Rig {
    /// The bus as one agency's NATS user.
    async fn bus_as(&self, user: &str) -> NatsBus {
        NatsBus::connect(&NatsConfig { url: self.nats.url_as(user), replicas: 1, manage_streams: false }).await.unwrap()
    }

    async fn stream_messages(&self) -> u64 {
        let client = concord_bus::nats::connect_client(&self.nats.url_as("ledger"), "test").await.unwrap();
        let mut stream = async_nats::jetstream::new(client).get_stream(EVENTS_STREAM).await.unwrap();
        stream.info().await.unwrap().state.messages
    }

    fn quarantined(&self) -> u64 {
        self.ledger.quarantine().counts().values().sum()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_agency_user_cannot_publish_on_another_agencys_subjects() {
    let rig = rig().await;
    let police = rig.bus_as("police.met.nw").await;
    let camhs = agency("camhs.nwl");
    let forged = Outbound {
        subject: event_subject(&camhs, EventType::CamhsContact),
        msg_id: "forged-1".into(),
        payload: b"anything at all".to_vec().into(),
        traceparent: None,
    };
    let refused = tokio::time::timeout(Duration::from_secs(30), police.publish(forged)).await;
    assert!(matches!(refused, Ok(Err(_))), "NATS took a police message on the CAMHS subject: {refused:?}");
    // Nor under its own prefix with extra tokens that name another agency.
    let deeper = Outbound {
        subject: "concord.events.police.police.met.nw.camhs.arrest".into(),
        msg_id: "forged-2".into(),
        payload: b"anything".to_vec().into(),
        traceparent: None,
    };
    let refused = tokio::time::timeout(Duration::from_secs(30), police.publish(deeper)).await;
    assert!(matches!(refused, Ok(Err(_))), "NATS took a police message outside its subjects: {refused:?}");
    assert_eq!(rig.stream_messages().await, 0, "nothing reached the stream");

    // The same user on its own subject, through a real node, is accepted.
    let node = nats_node(&rig.layout, &agency("police.met.nw"), &rig.nats.url_as("police.met.nw")).await;
    let published = node.publish(arrest("P-sec0001", ""), Some(Duration::from_secs(30))).await.unwrap();
    assert_eq!(published.position, Some(1));
    assert_eq!(rig.ledger.log().size(), 1);
    assert_eq!(rig.quarantined(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn forged_and_garbage_messages_are_quarantined_and_the_ledger_keeps_running() {
    let rig = rig().await;
    let police_key =
        AgencyKey::load(agency("police.met.nw"), &rig.layout.agency_key(&agency("police.met.nw"))).unwrap();

    // Signed with the police key, claiming to be CAMHS, sent as the CAMHS user.
    let mut claim = arrest("P-sec0002", "");
    claim.agency_id = "camhs.nwl".into();
    claim.agency_kind = pb::AgencyKind::Camhs as i32;
    claim.personal = None;
    let camhs = rig.bus_as("camhs.nwl").await;
    camhs
        .publish(Outbound {
            subject: event_subject(&agency("camhs.nwl"), EventType::Arrest),
            msg_id: "claims-camhs".into(),
            payload: police_key.sign(&claim).encode_to_vec().into(),
            traceparent: None,
        })
        .await
        .unwrap();

    // Garbage on the police user's own subject.
    let police = rig.bus_as("police.met.nw").await;
    let subject = event_subject(&agency("police.met.nw"), EventType::Arrest);
    let genuine = police_key.sign(&arrest("P-sec0003", "")).encode_to_vec();
    let random: Vec<u8> = (0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let garbage = [
        ("random", random),
        ("truncated", genuine[..genuine.len() / 2].to_vec()),
        ("oversize", vec![7u8; 1536 * 1024]),
    ];
    for (id, payload) in garbage {
        police
            .publish(Outbound {
                subject: subject.clone(),
                msg_id: id.into(),
                payload: payload.into(),
                traceparent: None,
            })
            .await
            .unwrap();
    }

    // A genuine event after all that is still appended.
    let node = nats_node(&rig.layout, &agency("police.met.nw"), &rig.nats.url_as("police.met.nw")).await;
    let published = node.publish(arrest("P-sec0004", ""), Some(Duration::from_secs(60))).await.unwrap();
    assert_eq!(published.position, Some(1), "the ledger kept running and appended the genuine event");
    wait_outbox_empty(&node, Duration::from_secs(30)).await;

    let counts = rig.ledger.quarantine().counts();
    assert_eq!(rig.quarantined(), 4, "every bad message quarantined once: {counts:?}");
    assert_eq!(counts.get("wrong_agency"), Some(&1), "{counts:?}");
    assert_eq!(counts.get("oversize"), Some(&1), "{counts:?}");
    assert_eq!(rig.ledger.log().size(), 1, "nothing bad was appended");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_event_relying_on_absent_consent_is_refused_by_the_node_and_by_the_ledger() {
    let rig = rig().await;
    let police = agency("police.met.nw");
    let node = nats_node(&rig.layout, &police, &rig.nats.url_as("police.met.nw")).await;
    let wait = Some(Duration::from_secs(30));
    let relying = || {
        let mut e = arrest("P-sec0005", "");
        e.lawful_basis = vec![pb::LawfulBasis::Consent as i32];
        e.consent_ref = "C-sec".into();
        e
    };

    // The node asks the ledger (over NATS, as the police user) and refuses.
    let refused = node.publish(relying(), wait).await.unwrap_err();
    assert!(refused.to_string().contains("consent `C-sec` is none"), "{refused}");

    // Signed with the police key and sent straight onto the bus, the ledger refuses it.
    let key = AgencyKey::load(police.clone(), &rig.layout.agency_key(&police)).unwrap();
    let mut bypass = relying();
    bypass.event_id = concord_core::EventId::new_v7().to_string();
    bypass.recorded_at = bypass.occurred_at;
    bypass.personal = None;
    let bus = rig.bus_as("police.met.nw").await;
    let mut receipts = bus.receipts(&police).await.unwrap();
    bus.publish(Outbound {
        subject: event_subject(&police, EventType::Arrest),
        msg_id: bypass.event_id.clone(),
        payload: key.sign(&bypass).encode_to_vec().into(),
        traceparent: None,
    })
    .await
    .unwrap();
    let receipt = loop {
        let r = tokio::time::timeout(Duration::from_secs(30), receipts.next()).await.unwrap().unwrap();
        if r.event_id == bypass.event_id {
            break r;
        }
    };
    let Some(pb::receipt::Outcome::Rejected(reason)) = receipt.outcome else {
        panic!("the ledger took an event with no lawful basis: {receipt:?}");
    };
    assert!(reason.contains("consent_ref"), "{reason}");
    assert_eq!(rig.ledger.log().size(), 0);
    assert_eq!(rig.quarantined(), 0, "a lawful agency's event is refused, not quarantined");

    // Once the consent is recorded, the same event goes through.
    let mut record = arrest("P-sec0005", "");
    record.body = Some(pb::event::Body::ConsentRecorded(pb::ConsentRecorded {
        consent_id: "C-sec".into(),
        given_by: pb::ConsentGiver::AdultSubject as i32,
        agency_kinds: vec![pb::AgencyKind::Yot as i32],
        agency_ids: vec![],
        purposes: vec![pb::Purpose::Safeguarding as i32],
        expires_at: None,
    }));
    node.publish(record, wait).await.unwrap();
    let published = node.publish(relying(), wait).await.unwrap();
    assert_eq!(published.position, Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn agencies_and_replicas_can_record_only_as_themselves_on_the_audit_stream() {
    let rig = rig().await;
    // A query replica's audit log, following the stream as replica serve-2's user.
    let store = |name: &str| open(Engine::Redb, &rig.layout.store(name)).unwrap();
    let audit_log =
        Log::open(store("audit"), concord_audit::AUDIT_LOG_ORIGIN, rig.layout.ledger_signing_key().unwrap());
    let audit = concord_audit::AuditLog::new(Arc::new(audit_log.unwrap()));
    let quarantine = Arc::new(Quarantine::open(store("audit-quarantine")).unwrap());
    let query = Arc::new(rig.bus_as("serve-2").await);
    let replica = Arc::new(concord_audit::AuditReplica::new(&audit, query, quarantine.clone()));
    tokio::spawn(replica.run("audit-serve-2"));

    let police = Arc::new(rig.bus_as("police.met.nw").await);
    let camhs = agency("camhs.nwl");
    let record = |agency_id: &str| pb::AccessRecord {
        record_id: concord_core::EventId::new_v7().to_string(),
        at: Some(pbjson_types::Timestamp { seconds: 1_800_000_000, nanos: 0 }),
        principal: "mallory".into(),
        agency_id: agency_id.into(),
        rpc: "/concord.v1.PublishService/Publish".into(),
        outcome: "ok".into(),
        ..Default::default()
    };
    let send = |subject: String, payload: Vec<u8>| {
        let police = police.clone();
        async move {
            let message = Outbound {
                subject,
                msg_id: concord_core::EventId::new_v7().to_string(),
                payload: payload.into(),
                traceparent: None,
            };
            tokio::time::timeout(Duration::from_secs(30), police.publish(message)).await
        }
    };

    // NATS refuses a police record on CAMHS's audit subject or a replica's.
    let on_camhs = send(concord_bus::audit_node_subject(&camhs), record("camhs.nwl").encode_to_vec()).await;
    assert!(matches!(on_camhs, Ok(Err(_))), "NATS took a police record as CAMHS: {on_camhs:?}");
    let as_replica = send(concord_bus::audit_query_subject("serve-1"), record("police.met.nw").encode_to_vec()).await;
    assert!(matches!(as_replica, Ok(Err(_))), "NATS took a police record as a query replica: {as_replica:?}");

    // On its own subject: a record about CAMHS, records claiming to have
    // shown events (listed or by position), and garbage are quarantined; its
    // own publish is kept.
    let own = concord_bus::audit_node_subject(&agency("police.met.nw"));
    let mut showing = record("police.met.nw");
    showing.shown = vec![pb::ShownEvent { event_id: "e-1".into(), ..Default::default() }];
    let mut positioned = record("police.met.nw");
    positioned.shown_positions =
        Some(concord_audit::positions::shown_positions(0, 8, &[1, 2], pb::Visibility::Pseudonymised, []));
    let genuine = record("police.met.nw");
    for payload in [
        record("camhs.nwl").encode_to_vec(),
        showing.encode_to_vec(),
        positioned.encode_to_vec(),
        b"\xff\xff garbage".to_vec(),
    ] {
        send(own.clone(), payload).await.unwrap().unwrap();
    }
    send(own, genuine.encode_to_vec()).await.unwrap().unwrap();

    // Replica serve-1 cannot record as serve-2: NATS refuses its user on
    // serve-2's subject, and a record on its own subject claiming serve-2
    // made it is quarantined. What it records through its Recorder names it.
    let serve_1 = Arc::new(rig.bus_as("serve-1").await);
    let mut as_other = record("police.met.nw");
    as_other.rpc = "/concord.v1.QueryService/GetEvent".into();
    let forged = Outbound {
        subject: concord_bus::audit_query_subject("serve-2"),
        msg_id: as_other.record_id.clone(),
        payload: as_other.encode_to_vec().into(),
        traceparent: None,
    };
    let refused = tokio::time::timeout(Duration::from_secs(30), serve_1.publish(forged)).await;
    assert!(matches!(refused, Ok(Err(_))), "NATS took serve-1's record as serve-2's: {refused:?}");
    as_other.served_by = "serve-2".into();
    let claimed = Outbound {
        subject: concord_bus::audit_query_subject("serve-1"),
        msg_id: as_other.record_id.clone(),
        payload: as_other.encode_to_vec().into(),
        traceparent: None,
    };
    serve_1.publish(claimed).await.unwrap();
    // A replica's record whose positions run past their range is malformed.
    let mut overrun = record("police.met.nw");
    overrun.rpc = "/concord.v1.ReplayService/Replay".into();
    overrun.shown_positions = Some(pb::ShownPositions { after: 0, through: 4, bits: vec![0xff], ..Default::default() });
    let overrun = Outbound {
        subject: concord_bus::audit_query_subject("serve-1"),
        msg_id: overrun.record_id.clone(),
        payload: overrun.encode_to_vec().into(),
        traceparent: None,
    };
    serve_1.publish(overrun).await.unwrap();
    let recorder = concord_audit::Recorder::stream(serve_1, concord_bus::audit_query_subject("serve-1"));
    let mut read = record("police.met.nw");
    read.rpc = "/concord.v1.QueryService/GetEvent".into();
    let read_id = recorder.record(read).await.unwrap();

    for _ in 0..300 {
        if audit.log().size() >= 2 && quarantine.counts().values().sum::<u64>() >= 6 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let counts = quarantine.counts();
    assert_eq!(counts.get("subject_mismatch"), Some(&4), "{counts:?}");
    assert_eq!(counts.get("malformed"), Some(&2), "{counts:?}");
    assert_eq!(audit.log().size(), 2, "only the genuine records are in the audit log");
    assert_eq!(audit.get(1).unwrap().unwrap().record_id, genuine.record_id);
    let replica_record = audit.get(2).unwrap().unwrap();
    assert_eq!((replica_record.record_id, replica_record.served_by.as_str()), (read_id, "serve-1"));
}

/// A raw client as NATS user `user` (on its own inbox prefix, as Concord
/// connects), collecting every error the server sends it.
async fn raw_client(nats: &NatsServer, user: &str) -> (async_nats::Client, Arc<std::sync::Mutex<Vec<String>>>) {
    let errors = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = errors.clone();
    let client = async_nats::ConnectOptions::with_user_and_password(user.into(), common::nats::password(user))
        .custom_inbox_prefix(concord_bus::inbox_prefix(user))
        .add_root_certificates(common::nats::certs().join("ca.pem"))
        .event_callback(move |event| {
            let seen = seen.clone();
            async move { seen.lock().unwrap().push(event.to_string().to_lowercase()) }
        })
        .connect(nats.url())
        .await
        .unwrap();
    (client, errors)
}

/// Waits until the server has told `errors`' client that `what` on `subject`
/// is a permissions violation.
async fn refused(errors: &std::sync::Mutex<Vec<String>>, what: &str, subject: &str) {
    let needle = format!("permissions violation for {what} to \"{}\"", subject.to_lowercase());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !errors.lock().unwrap().iter().any(|e| e.contains(&needle)) {
        assert!(tokio::time::Instant::now() < deadline, "the server did not refuse {what} to {subject}: {errors:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_agency_user_hears_nothing_but_its_own_receipts_and_replies() {
    let rig = rig().await;
    const WIDE: [&str; 13] = [
        ">",
        "_INBOX.>",
        "$JS.>",
        "$KV.>",
        "concord.>",
        "concord.events.>",
        "concord.receipts.>",
        "concord.keys.>",
        "concord.consent.>",
        "concord.audit.>",
        "_INBOX.police:met:nw.>",
        "_INBOX.serve-1.>",
        "_INBOX.ledger.>",
    ];
    // Every other agency listens everywhere it can think of.
    let mut listeners = Vec::new();
    for eavesdropper in ["childrens_services.harrow", "yot.harrow", "camhs.nwl", "vcs.st-giles"] {
        let (client, errors) = raw_client(&rig.nats, eavesdropper).await;
        let mut subscriptions = Vec::new();
        for subject in WIDE {
            subscriptions.push(client.subscribe(subject).await.unwrap());
        }
        client.flush().await.unwrap();
        listeners.push((eavesdropper, client, errors, futures::stream::select_all(subscriptions)));
    }
    // Police listens for its own receipts: what it is allowed to hear, it hears.
    let (police_client, _) = raw_client(&rig.nats, "police.met.nw").await;
    let mut receipts = police_client.subscribe("concord.receipts.police.met.nw").await.unwrap();
    police_client.flush().await.unwrap();

    // Police publishes personal data through its node (asking a replica for
    // sealing keys, the ledger appending and receipting), a consent-based
    // event makes it ask the ledger about consent, and a replica reads both streams.
    let node = nats_node(&rig.layout, &agency("police.met.nw"), &rig.nats.url_as("police.met.nw")).await;
    for i in 0..5 {
        let event = arrest(&format!("P-eaves{i:03}"), "seen near the station with a knife");
        node.publish(event, Some(Duration::from_secs(30))).await.unwrap();
    }
    let mut on_consent = arrest("P-eaves-consent", "");
    on_consent.lawful_basis = vec![pb::LawfulBasis::Consent as i32];
    on_consent.consent_ref = "C-never-given".into();
    assert!(node.publish(on_consent, Some(Duration::from_secs(30))).await.is_err(), "refused on the ledger's answer");
    let serve = rig.bus_as("serve-2").await;
    let mut consumer = serve.consumer("serve-2", None).await.unwrap();
    let read = consumer.next_batch(10, Duration::from_secs(5)).await.unwrap();
    assert_eq!(read.len(), 5, "the replica reads the events");

    use futures::StreamExt;
    for _ in 0..5 {
        let receipt = tokio::time::timeout(Duration::from_secs(5), receipts.next()).await;
        assert!(matches!(receipt, Ok(Some(_))), "police hears its own receipts");
    }
    for (eavesdropper, _client, errors, mut heard) in listeners {
        if let Ok(Some(message)) = tokio::time::timeout(Duration::from_millis(500), heard.next()).await {
            panic!("{eavesdropper} heard a message on {}", message.subject);
        }
        for subject in WIDE {
            refused(&errors, "subscription", subject).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_agency_user_can_write_nothing_outside_its_own_subjects() {
    let rig = rig().await;
    // A subject key exists in the shared bucket (a replica made it for police).
    let node = nats_node(&rig.layout, &agency("police.met.nw"), &rig.nats.url_as("police.met.nw")).await;
    node.publish(arrest("P-sec-key", "notes"), Some(Duration::from_secs(30))).await.unwrap();
    let replica = concord_bus::nats::connect_client(&rig.nats.url_as("serve-1"), "test").await.unwrap();
    let bucket = async_nats::jetstream::new(replica).get_key_value(concord_vault::nats::BUCKET).await.unwrap();
    let stored = bucket.entry("person.P-sec-key").await.unwrap().expect("the key is in the bucket");

    let (vcs, errors) = raw_client(&rig.nats, "vcs.st-giles").await;
    for subject in [
        "$KV.CONCORD_SUBJECT_KEYS.person.P-sec-key",
        "$JS.API.STREAM.INFO.CONCORD_EVENTS",
        "$JS.API.STREAM.PURGE.KV_CONCORD_SUBJECT_KEYS",
        "$JS.API.STREAM.MSG.DELETE.KV_CONCORD_SUBJECT_KEYS",
        "$JS.API.DIRECT.GET.KV_CONCORD_SUBJECT_KEYS.$KV.CONCORD_SUBJECT_KEYS.person.P-sec-key",
        "$JS.API.CONSUMER.CREATE.CONCORD_EVENTS.mine.concord.events.>",
        "$JS.API.CONSUMER.CREATE.CONCORD_AUDIT.mine.concord.audit.>",
        "concord.receipts.police.met.nw",
        "concord.events.police.police.met.nw.arrest",
        "concord.consent.police.met.nw",
        "concord.keys.police.met.nw",
        "concord.audit.node.police.met.nw",
        "concord.audit.query.serve-1",
        "_INBOX.police:met:nw.anything",
    ] {
        vcs.publish(subject, "forged".into()).await.unwrap();
        vcs.flush().await.unwrap();
        refused(&errors, "publish", subject).await;
    }
    // Nor can the ledger's user read or write a subject key: it holds no master
    // key, and its NATS user cannot even fetch the wrapped ones.
    let (ledger, ledger_errors) = raw_client(&rig.nats, "ledger").await;
    for subject in [
        "$KV.CONCORD_SUBJECT_KEYS.person.P-sec-key",
        "$JS.API.DIRECT.GET.KV_CONCORD_SUBJECT_KEYS.$KV.CONCORD_SUBJECT_KEYS.person.P-sec-key",
        "$JS.API.STREAM.MSG.GET.KV_CONCORD_SUBJECT_KEYS",
        "$JS.API.CONSUMER.CREATE.KV_CONCORD_SUBJECT_KEYS",
    ] {
        ledger.publish(subject, "forged".into()).await.unwrap();
        ledger.flush().await.unwrap();
        refused(&ledger_errors, "publish", subject).await;
    }
    let after = bucket.entry("person.P-sec-key").await.unwrap().expect("still there");
    assert_eq!((after.revision, after.value), (stored.revision, stored.value), "the subject key was not touched");
    assert_eq!(rig.stream_messages().await, 1, "nothing forged reached the event stream");
}

/// Over TLS only: a client speaking plaintext to the deploy config is refused
/// before it can send its password (which would otherwise cross the wire in
/// the clear), however right the password.
#[test]
fn a_plaintext_client_is_refused() {
    use std::io::{BufRead, BufReader, Read, Write};
    let nats = NatsServer::start_deploy();
    let stream = std::net::TcpStream::connect(("127.0.0.1", nats.port)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut info = String::new();
    reader.read_line(&mut info).unwrap();
    assert!(info.contains("\"tls_required\":true"), "the server does not require TLS: {info}");
    let connect = format!(
        "CONNECT {{\"user\":\"ledger\",\"pass\":\"{}\",\"verbose\":false,\"pedantic\":false}}\r\nPING\r\n",
        common::nats::password("ledger")
    );
    let mut writer = stream;
    let _ = writer.write_all(connect.as_bytes());
    let mut answer = String::new();
    let _ = reader.read_to_string(&mut answer);
    assert!(!answer.contains("PONG"), "a plaintext client was let in: {answer}");
}

/// The cluster's routes: a server that is not one of the partnership's
/// (no route certificate, or a certificate from the partnership's other CA)
/// is refused, hears nothing published on the cluster and is not routed to;
/// one with the route certificate joins (the control).
#[test]
fn a_server_without_the_route_certificate_cannot_join_the_cluster() {
    use common::nats::{NatsCluster, RawServer, certs, free_port, routed_to};
    let cluster = NatsCluster::start_deploy();
    let dir = tempfile::tempdir().unwrap();
    let certs = certs().display().to_string();
    let routes =
        cluster.routes.iter().map(|p| format!("\"nats-route://127.0.0.1:{p}\"")).collect::<Vec<_>>().join(", ");
    // Each trusts the routes' CA, so any refusal is the cluster's, not its own.
    let impostors = [
        ("no-tls", String::new()),
        (
            "wrong-certificate",
            format!(
                "tls {{ cert_file: \"{certs}/nats-server.pem\", key_file: \"{certs}/nats-server.key\", \
                 ca_file: \"{certs}/route-ca.pem\" }}"
            ),
        ),
        (
            "control",
            format!(
                "tls {{ cert_file: \"{certs}/nats-route.pem\", key_file: \"{certs}/nats-route.key\", \
                 ca_file: \"{certs}/route-ca.pem\" }}"
            ),
        ),
    ];
    let rt = tokio::runtime::Runtime::new().unwrap();
    for (name, tls) in impostors {
        let (client, http) = (free_port(), free_port());
        let config = format!(
            "server_name: {name}\nlisten: 127.0.0.1:{client}\nhttp: 127.0.0.1:{http}\n\
             cluster {{\n  name: concord\n  listen: 127.0.0.1:{}\n  {tls}\n  routes: [{routes}]\n}}\n",
            free_port()
        );
        let impostor = RawServer::start(dir.path(), name, &config);
        // Give it time to try every route (and the cluster to route back).
        std::thread::sleep(Duration::from_secs(3));
        let joined = routed_to(http);
        if name == "control" {
            assert_eq!(joined.len(), 3, "the control server did not join: {}", impostor.log());
            continue;
        }
        assert!(joined.is_empty(), "{name} has routes to {joined:?}");
        for http in &cluster.http {
            assert!(!routed_to(*http).contains(&name.to_string()), "the cluster routes to {name}");
        }
        // A message published on the cluster does not reach the impostor.
        let heard = rt.block_on(async {
            use futures::StreamExt;
            let listener = async_nats::connect(format!("nats://127.0.0.1:{client}")).await.unwrap();
            let mut sub = listener.subscribe("concord.>").await.unwrap();
            listener.flush().await.unwrap();
            let ledger = concord_bus::nats::connect_client(&cluster.url_as("ledger"), "test").await.unwrap();
            ledger.publish("concord.receipts.police.met.nw", "secret".into()).await.unwrap();
            ledger.flush().await.unwrap();
            tokio::time::timeout(Duration::from_secs(2), sub.next()).await.is_ok()
        });
        assert!(!heard, "{name} heard a message published on the cluster");
    }
}
