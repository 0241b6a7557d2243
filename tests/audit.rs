//! Every read is recorded before it is released: many principals make random
//! calls through the real gRPC API, and afterwards every event anyone got
//! back is in an access record for them, and no record names an event they
//! did not get. Failed authentications are recorded too, and an auditor's
//! question ("who saw this subject's events?") is answered from the indexes.
//! When the audit store cannot be written, reads fail instead of passing
//! unaudited, and nothing recorded before is lost.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use common::{TestPlatform, arrest, authorized};
use concord_core::pb;
use concord_core::pb::audit_service_client::AuditServiceClient;
use concord_core::pb::query_service_client::QueryServiceClient;
use concord_identity::{Purpose, Role};
use concord_log::kv::Engine;
use futures::StreamExt;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

type Who = (String, String, String);

fn person(key: &str) -> pb::SubjectRef {
    pb::SubjectRef { kind: pb::SubjectKind::Person as i32, key: key.into() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_event_returned_is_in_an_access_record_and_nothing_else_is() {
    let t = TestPlatform::start(Engine::Redb).await;
    let subjects: Vec<String> = (0..6).map(|i| format!("P-aud{i:04}")).collect();
    let mut ids = Vec::new();
    let police = t.platform.node(&common::agency("police.met.nw")).unwrap().clone();
    let camhs = t.platform.node(&common::agency("camhs.nwl")).unwrap().clone();
    for (i, subject) in subjects.iter().enumerate() {
        for n in 0..5 {
            let mut event = arrest(subject, "seen near the station");
            if n % 2 == 1 {
                event.lawful_basis = vec![pb::LawfulBasis::LegalObligation as i32];
            }
            let published = police.publish(event, Some(Duration::from_secs(10))).await.unwrap();
            ids.push(published.event_id.to_string());
        }
        let contact = common::as_camhs_contact(arrest(subject, ""));
        if i % 2 == 0 {
            let published = camhs.publish(contact, Some(Duration::from_secs(10))).await.unwrap();
            ids.push(published.event_id.to_string());
        }
    }

    let readers: Vec<(&str, Role, Purpose)> = vec![
        ("police.met.nw", Role::Practitioner, Purpose::CrimePrevention),
        ("childrens_services.harrow", Role::Practitioner, Purpose::Safeguarding),
        ("childrens_services.harrow", Role::BriefingLead, Purpose::Briefing),
        ("yot.harrow", Role::Practitioner, Purpose::CaseManagement),
        ("camhs.nwl", Role::Practitioner, Purpose::DirectCare),
        ("vcs.st-giles", Role::Practitioner, Purpose::Safeguarding),
        ("yot.harrow", Role::Auditor, Purpose::Audit),
        // (Analysts read only through the replay: see replay::.)
    ];
    let mut rng = StdRng::seed_from_u64(7);
    let mut client = QueryServiceClient::new(t.channel().await);
    let mut returned: BTreeMap<Who, BTreeSet<String>> = BTreeMap::new();
    let mut calls = 0;
    for _ in 0..150 {
        let (agency, role, purpose) = readers[rng.gen_range(0..readers.len())];
        let token = t.token(agency, role, purpose);
        let who = (agency.to_string(), role.to_string(), purpose.to_string());
        let got = returned.entry(who).or_default();
        let subject = &subjects[rng.gen_range(0..subjects.len())];
        calls += 1;
        match rng.gen_range(0..4) {
            0 => {
                let event_id = ids[rng.gen_range(0..ids.len())].clone();
                if let Ok(view) = client.get_event(authorized(pb::GetEventRequest { event_id }, &token)).await {
                    got.insert(view.into_inner().event.unwrap().event_id);
                }
            }
            1 => {
                let request = pb::SubjectTimelineRequest {
                    subject: Some(person(subject)),
                    page_size: rng.gen_range(1..8),
                    page_token: String::new(),
                };
                let page = client.subject_timeline(authorized(request, &token)).await.unwrap().into_inner();
                got.extend(page.events.into_iter().map(|v| v.event.unwrap().event_id));
            }
            2 => {
                let event_type = ["", "arrest", "camhs_contact"][rng.gen_range(0..3)].to_string();
                let request = pb::SearchRequest { event_type, page_size: rng.gen_range(1..20), ..Default::default() };
                let page = client.search(authorized(request, &token)).await.unwrap().into_inner();
                got.extend(page.events.into_iter().map(|v| v.event.unwrap().event_id));
            }
            _ => {
                // Read a subject's whole feed (as many as its timeline shows), then hang up.
                let request = pb::SubjectTimelineRequest {
                    subject: Some(person(subject)),
                    page_size: 1000,
                    page_token: String::new(),
                };
                let visible = client.subject_timeline(authorized(request, &token)).await.unwrap().into_inner().events;
                got.extend(visible.iter().map(|v| v.event.as_ref().unwrap().event_id.clone()));
                let request = pb::SubscribeRequest { subject: Some(person(subject)), ..Default::default() };
                let mut stream = client.subscribe(authorized(request, &token)).await.unwrap().into_inner();
                for _ in 0..visible.len() {
                    let view =
                        tokio::time::timeout(Duration::from_secs(10), stream.next()).await.unwrap().unwrap().unwrap();
                    got.insert(view.event.unwrap().event_id);
                }
            }
        }
    }
    // Two callers with no valid token.
    for token in ["not-a-token", ""] {
        let status = client
            .search(authorized(pb::SearchRequest::default(), token))
            .await
            .expect_err("a read without a valid token");
        assert_eq!(status.code(), tonic::Code::Unauthenticated);
    }
    // Let any subscription deliveries in flight be recorded.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let audit = t.platform.audit.clone();
    let mut recorded: BTreeMap<Who, BTreeSet<String>> = BTreeMap::new();
    let mut unauthenticated = 0;
    let size = audit.log().size();
    assert!(size >= calls, "{size} records for {calls} calls");
    for position in 1..=size {
        let record = audit.get(position).unwrap().unwrap();
        assert!(record.at.is_some() && !record.record_id.is_empty() && !record.rpc.is_empty());
        if record.principal.is_empty() {
            assert!(record.outcome.starts_with("Unauthenticated"), "{record:?}");
            unauthenticated += 1;
            continue;
        }
        if record.outcome == "ok" {
            assert!(record.policy_hash.starts_with("cedar:") || record.shown.is_empty(), "{record:?}");
        }
        let who = (record.agency_id.clone(), record.role.clone(), record.purpose.clone());
        recorded.entry(who).or_default().extend(record.shown.iter().map(|s| s.event_id.clone()));
    }
    assert_eq!(unauthenticated, 2);
    returned.retain(|_, got| !got.is_empty());
    recorded.retain(|_, got| !got.is_empty());
    assert_eq!(recorded, returned, "zero unaudited reads, and no record of a read that did not happen");

    // Who saw P-aud0000's events? Answered from the subject index: exactly the
    // records that showed one of them, or asked about P-aud0000 by name (a
    // timeline, even one the agreement answered with nothing).
    let about = audit.find(concord_audit::BY_SUBJECT, b"person/P-aud0000", 0, 10_000).unwrap();
    let from_index: BTreeSet<u64> = about.iter().map(|(p, _)| *p).collect();
    let by_scan: BTreeSet<u64> = (1..=size)
        .filter(|p| {
            let record = audit.get(*p).unwrap().unwrap();
            record.shown.iter().any(|s| s.subjects.contains(&person("P-aud0000")))
                || record.asked_about.contains(&person("P-aud0000"))
        })
        .collect();
    assert!(!from_index.is_empty(), "somebody read P-aud0000");
    assert_eq!(from_index, by_scan);

    // The same question over AuditService, narrowed to arrests and to today,
    // page by page; and the answer is provably in the audit log.
    let mut auditing = AuditServiceClient::new(t.channel().await);
    let auditor = t.token("yot.harrow", Role::Auditor, Purpose::Audit);
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let ask = |page_token: String| pb::ListAccessRequest {
        subject: Some(person("P-aud0000")),
        event_type: "arrest".into(),
        from: Some(pbjson_types::Timestamp { seconds: now - 3600, nanos: 0 }),
        to: Some(pbjson_types::Timestamp { seconds: now + 3600, nanos: 0 }),
        page_size: 3,
        page_token,
        ..Default::default()
    };
    let mut answered = BTreeSet::new();
    let mut page_token = String::new();
    loop {
        let page = auditing.list_access(authorized(ask(page_token), &auditor)).await.unwrap().into_inner();
        for entry in &page.records {
            let record = entry.record.as_ref().unwrap();
            assert!(record.shown.iter().any(|s| s.event_type == "arrest"), "{record:?}");
            answered.insert(entry.position);
        }
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    let arrests: BTreeSet<u64> =
        about.iter().filter(|(_, r)| r.shown.iter().any(|s| s.event_type == "arrest")).map(|(p, _)| *p).collect();
    assert_eq!(answered, arrests);
    let checkpoint =
        auditing.get_checkpoint(authorized(pb::GetCheckpointRequest {}, &auditor)).await.unwrap().into_inner();
    let position = *answered.iter().next().unwrap();
    let proof = auditing
        .get_inclusion_proof(authorized(pb::InclusionProofRequest { position, tree_size: checkpoint.size }, &auditor))
        .await
        .unwrap()
        .into_inner();
    let hashes: Vec<[u8; 32]> = proof.hashes.iter().map(|h| h.as_slice().try_into().unwrap()).collect();
    let leaf = concord_log::hash::leaf_hash(&audit.log().get(position).unwrap().unwrap().bytes);
    let root: [u8; 32] = checkpoint.root.as_slice().try_into().unwrap();
    concord_log::verify::verify_inclusion(&leaf, position - 1, checkpoint.size, &hashes, &root).unwrap();

    // Only auditors may ask.
    let practitioner = t.token("yot.harrow", Role::Practitioner, Purpose::CaseManagement);
    let denied = auditing.list_access(authorized(ask(String::new()), &practitioner)).await.unwrap_err();
    assert_eq!(denied.code(), tonic::Code::PermissionDenied);

    // The auditors' own reads, and the refused one, are on the record too.
    let by_auditors: Vec<_> = (size + 1..=audit.log().size())
        .map(|p| audit.get(p).unwrap().unwrap())
        .filter(|r| r.rpc.starts_with("/concord.v1.AuditService/"))
        .collect();
    assert!(by_auditors.iter().any(|r| r.role == "auditor" && r.rpc.ends_with("ListAccess") && r.outcome == "ok"));
    assert!(by_auditors.iter().any(|r| r.rpc.ends_with("GetInclusionProof")));
    assert!(by_auditors.iter().any(|r| r.role == "practitioner" && r.outcome.starts_with("PermissionDenied")));
}

/// The real redb store with a switch that makes every write fail, as a full
/// or failed disk would.
struct Unwritable {
    inner: std::sync::Arc<dyn concord_log::kv::Kv>,
    broken: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl concord_log::kv::Kv for Unwritable {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, concord_log::kv::KvError> {
        self.inner.get(key)
    }

    fn scan(
        &self,
        start: &[u8],
        end: Option<&[u8]>,
        limit: usize,
        reverse: bool,
    ) -> Result<concord_log::kv::Pairs, concord_log::kv::KvError> {
        self.inner.scan(start, end, limit, reverse)
    }

    fn commit(&self, batch: concord_log::kv::WriteBatch) -> Result<(), concord_log::kv::KvError> {
        if self.broken.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(concord_log::kv::KvError::Storage {
                engine: Engine::Redb,
                message: "No space left on device (os error 28)".into(),
            });
        }
        self.inner.commit(batch)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reads_fail_rather_than_pass_unaudited_when_the_audit_store_cannot_be_written() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    let t = TestPlatform::start(Engine::Redb).await;
    let police = t.platform.node(&common::agency("police.met.nw")).unwrap().clone();
    let first = police.publish(arrest("P-full0001", ""), Some(Duration::from_secs(10))).await.unwrap();

    // The query services again, over an audit store whose disk can fail.
    let broken = Arc::new(AtomicBool::new(false));
    let store = concord_log::kv::open(Engine::Redb, &t.dir.path().join("audit-under-test")).unwrap();
    let kv: Arc<dyn concord_log::kv::Kv> = Arc::new(Unwritable { inner: store, broken: broken.clone() });
    let log =
        concord_log::log::Log::open(kv, concord_audit::AUDIT_LOG_ORIGIN, t.layout().ledger_signing_key().unwrap())
            .unwrap();
    let audit = Arc::new(concord_audit::AuditLog::new(Arc::new(log)));
    let recorder = Arc::new(concord_audit::Recorder::local(&audit));
    let policy = concord::platform::load_policy(None).unwrap();
    let views =
        Arc::new(concord_read::Views::new(t.platform.log.clone(), policy, t.platform.vault.clone(), recorder.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let services = concord::server::Services {
        verifier: t.platform.verifier.clone(),
        recorder,
        views: Some(views),
        audit: None,
        replay: None,
        log: None,
        nodes: vec![],
        admin: None,
        briefing: None,
        directory: None,
        ready: None,
    };
    tokio::spawn(concord::server::serve(services, listener, None, std::future::pending()));
    let channel = concord::client::connect(&format!("http://{addr}")).await.unwrap();
    let mut client = QueryServiceClient::new(channel);
    let token = t.token("childrens_services.harrow", Role::Practitioner, Purpose::Safeguarding);
    let get = |id: String| authorized(pb::GetEventRequest { event_id: id }, &token);

    client.get_event(get(first.event_id.to_string())).await.unwrap();
    let request = pb::SubscribeRequest { subject: Some(person("P-full0001")), ..Default::default() };
    let mut stream = client.subscribe(authorized(request, &token)).await.unwrap().into_inner();
    let delivered = tokio::time::timeout(Duration::from_secs(10), stream.next()).await.unwrap().unwrap().unwrap();
    assert_eq!(delivered.event.unwrap().event_id, first.event_id.to_string());
    let recorded = audit.log().size();
    assert_eq!(recorded, 3, "the get, the subscription and its delivery");

    broken.store(true, Ordering::SeqCst);
    let status = client.get_event(get(first.event_id.to_string())).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    assert!(status.message().contains("audit log"), "{status:?}");
    let request = pb::SubjectTimelineRequest { subject: Some(person("P-full0001")), ..Default::default() };
    let status = client.subject_timeline(authorized(request, &token)).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unavailable);
    let status = client.search(authorized(pb::SearchRequest::default(), &token)).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unavailable);
    // A live subscription gets an error, not the next event.
    police.publish(arrest("P-full0001", ""), Some(Duration::from_secs(10))).await.unwrap();
    let next = tokio::time::timeout(Duration::from_secs(10), stream.next()).await.unwrap().unwrap();
    assert_eq!(next.unwrap_err().code(), tonic::Code::Unavailable);
    assert_eq!(audit.log().size(), recorded, "nothing was recorded, so nothing was returned");

    // The disk is back, but a log that failed a commit stays closed until it
    // is reopened (its state in memory is not trusted): still no unaudited read.
    broken.store(false, Ordering::SeqCst);
    let status = client.get_event(get(first.event_id.to_string())).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unavailable);

    // Reopened (as a restart does), every record made before is intact.
    let reopened = concord_log::log::Log::open(
        audit.log().kv().clone(),
        concord_audit::AUDIT_LOG_ORIGIN,
        t.layout().ledger_signing_key().unwrap(),
    )
    .unwrap();
    assert_eq!(reopened.size(), recorded);
    let reopened = concord_audit::AuditLog::new(Arc::new(reopened));
    for position in 1..=recorded {
        assert!(reopened.get(position).unwrap().is_some());
    }
    let recorder = concord_audit::Recorder::local(&reopened);
    recorder.record(pb::AccessRecord { principal: "after".into(), ..Default::default() }).await.unwrap();
    assert_eq!(reopened.log().size(), recorded + 1);
}

/// The store key of the log entry at `position` (b'e' then the position, big-endian).
fn entry_key(position: u64) -> Vec<u8> {
    let mut k = vec![b'e'];
    k.extend_from_slice(&position.to_be_bytes());
    k
}

/// Flips the last byte of the entry at `position` in the store at `dir`.
fn flip(dir: &std::path::Path, position: u64) -> Vec<u8> {
    let kv = concord_log::kv::open(Engine::Redb, dir).unwrap();
    let original = kv.get(&entry_key(position)).unwrap().unwrap();
    let mut altered = original.clone();
    *altered.last_mut().unwrap() ^= 0x01;
    let mut batch = concord_log::kv::WriteBatch::new();
    batch.put(entry_key(position), altered);
    kv.commit(batch).unwrap();
    original
}

fn put_back(dir: &std::path::Path, position: u64, original: Vec<u8>) {
    let kv = concord_log::kv::open(Engine::Redb, dir).unwrap();
    let mut batch = concord_log::kv::WriteBatch::new();
    batch.put(entry_key(position), original);
    kv.commit(batch).unwrap();
}

#[test]
fn concord_audit_verify_finds_one_flipped_byte_in_either_log() {
    use concord_core::pb::publish_service_client::PublishServiceClient;

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let port = common::nats::free_port();
    let mut up = common::process::spawn_up(dir.path(), &data, port, &[]);
    let layout = concord::layout::Layout::new(&data);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let channel =
            common::try_connect(port).await.unwrap_or_else(|| panic!("concord up did not start:\n{}", up.output()));
        let mint = |agency: &str, role: Role, purpose: Purpose| {
            layout
                .issuer()
                .unwrap()
                .mint("t", &common::agency(agency), role, purpose, Duration::from_secs(600))
                .unwrap()
        };
        let police = mint("police.met.nw", Role::Practitioner, Purpose::CrimePrevention);
        let mut publish = PublishServiceClient::new(channel.clone());
        for _ in 0..5 {
            let request = pb::PublishRequest { event: Some(arrest("P-verify01", "")), wait_for_ledger: true };
            publish.publish(authorized(request, &police)).await.unwrap();
        }
        let mut query = QueryServiceClient::new(channel.clone());
        for _ in 0..3 {
            let request = pb::SubjectTimelineRequest { subject: Some(person("P-verify01")), ..Default::default() };
            query.subject_timeline(authorized(request, &police)).await.unwrap();
        }
        // The subject is erased: the logs must verify all the same.
        let mint_person = |sub: &str, agency: &str| {
            let agency = common::agency(agency);
            let issuer = layout.issuer().unwrap();
            issuer.mint(sub, &agency, Role::DataProtection, Purpose::Administration, Duration::from_secs(600)).unwrap()
        };
        let (asker, approver) =
            (mint_person("cs-dpo", "childrens_services.harrow"), mint_person("p-dpo", "police.met.nw"));
        let mut lifecycle = concord_core::pb::admin_service_client::AdminServiceClient::new(channel.clone());
        let erase = pb::FileRequestRequest {
            kind: pb::RequestKind::Erasure as i32,
            subject: Some(person("P-verify01")),
            reason: "upheld".into(),
        };
        let request_id = lifecycle.file_request(authorized(erase, &asker)).await.unwrap().into_inner().request_id;
        let approve = pb::DecideRequestRequest {
            request_id,
            decision: pb::RequestDecision::Approve as i32,
            ..Default::default()
        };
        assert!(lifecycle.decide_request(authorized(approve, &approver)).await.unwrap().into_inner().had_key);
    });
    drop(rt);
    // A clean stop leaves signed checkpoints of both logs behind.
    up.stop();

    let verify = || {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_concord"))
            .args(["audit", "verify", "--data", &data.display().to_string()])
            .output()
            .unwrap();
        (out.status.success(), String::from_utf8_lossy(&out.stdout).to_string())
    };
    let (ok, out) = verify();
    assert!(ok && out.contains("event log: OK, 5 entries") && out.contains("audit log: OK"), "{out}");

    let original = flip(&layout.store("log"), 3);
    let (ok, out) = verify();
    assert!(!ok && out.contains("event log: FAILED: entry 3 has been altered"), "{out}");
    put_back(&layout.store("log"), 3, original);

    let original = flip(&layout.store("audit"), 2);
    let (ok, out) = verify();
    assert!(
        !ok && out.contains("audit log: FAILED: entry 2 has been altered") && out.contains("event log: OK"),
        "{out}"
    );
    put_back(&layout.store("audit"), 2, original);
    assert!(verify().0);

    // An export (5 publishes, 3 timelines, an erasure request and its approval) is
    // checked elsewhere with the public key alone.
    let concord = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_concord")).args(args).output().unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        (out.status.success(), text)
    };
    let auditor = tempfile::tempdir().unwrap();
    let (export, public) = (auditor.path().join("audit.jsonl"), auditor.path().join("ledger.pub"));
    std::fs::copy(layout.ledger_public_key(), &public).unwrap();
    let (ok, out) =
        concord(&["audit", "export", "--data", &data.display().to_string(), "--out", &export.display().to_string()]);
    assert!(ok && out.contains("access records"), "{out}");
    let check = |path: &std::path::Path| {
        let nowhere = auditor.path().join("no-data-here").display().to_string();
        let (path, public) = (path.display().to_string(), public.display().to_string());
        concord(&["audit", "verify", "--data", &nowhere, "--export", &path, "--public-key", &public])
    };
    // The 5 publishes, 3 timelines, the erasure request and its approval, and whatever
    // briefings the daily schedule published when `up` started.
    let lines: Vec<serde_json::Value> =
        std::fs::read_to_string(&export).unwrap().lines().skip(1).map(|l| serde_json::from_str(l).unwrap()).collect();
    let ours = lines.iter().filter(|l| l["record"]["principal"] != concord_briefing::SCHEDULE_PRINCIPAL).count();
    assert_eq!(ours, 10, "{lines:#?}");
    let (ok, out) = check(&export);
    assert!(ok && out.contains(&format!("OK, {} access records proven", lines.len())), "{out}");
    // One character of one record's stored bytes changed: named by line.
    let text = std::fs::read_to_string(&export).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let mut entry: serde_json::Value = serde_json::from_str(&lines[4]).unwrap();
    let bytes = entry["entry"].as_str().unwrap().to_string();
    let swapped = if bytes.starts_with('C') { "D" } else { "C" };
    entry["entry"] = format!("{swapped}{}", &bytes[1..]).into();
    lines[4] = entry.to_string();
    let tampered = auditor.path().join("tampered.jsonl");
    std::fs::write(&tampered, lines.join("\n")).unwrap();
    let (ok, out) = check(&tampered);
    assert!(!ok && out.contains("line 5 (entry 4)"), "{out}");
}

/// The key prefix of index `name` in a log store (`x`, the name's length, the name).
fn index_prefix(name: &str) -> Vec<u8> {
    let mut k = vec![b'x'];
    k.extend_from_slice(&(name.len() as u32).to_be_bytes());
    k.extend_from_slice(name.as_bytes());
    k
}

/// An index key: its prefix, the value (text, so nothing to escape), `00 01`, the position.
fn index_key(name: &str, value: &str, position: u64) -> Vec<u8> {
    [index_prefix(name), value.as_bytes().to_vec(), vec![0, 1], position.to_be_bytes().to_vec()].concat()
}

/// The first key in [start, end) of the store at `dir`.
fn first_key(engine: Engine, dir: &std::path::Path, start: &[u8], end: &[u8]) -> Vec<u8> {
    let kv = concord_log::kv::open(engine, dir).unwrap();
    kv.scan(start, Some(end), 1, false).unwrap().pop().unwrap().0
}

/// Applies puts (of empty values) and deletes to the store at `dir`; returns
/// a function that undoes them.
fn tamper(engine: Engine, dir: &std::path::Path, puts: &[Vec<u8>], deletes: &[Vec<u8>]) -> impl FnOnce() + use<> {
    let kv = concord_log::kv::open(engine, dir).unwrap();
    let mut undo = concord_log::kv::WriteBatch::new();
    let mut batch = concord_log::kv::WriteBatch::new();
    for key in puts {
        assert!(kv.get(key).unwrap().is_none(), "a forged key must be new");
        batch.put(key.clone(), Vec::new());
        undo.delete(key.clone());
    }
    for key in deletes {
        undo.put(key.clone(), kv.get(key).unwrap().expect("the key to delete exists"));
        batch.delete(key.clone());
    }
    kv.commit(batch).unwrap();
    drop(kv);
    let dir = dir.to_path_buf();
    move || concord_log::kv::open(engine, &dir).unwrap().commit(undo).unwrap()
}

/// An attacker with the data directory alters, removes or forges index entries
/// (hiding a record from the auditors' questions, or an event from a subject's
/// timeline) without touching an entry: `concord audit verify` names the index,
/// in either log, on both engines.
#[test]
fn concord_audit_verify_finds_an_altered_removed_or_forged_index_entry_in_either_log() {
    for engine in Engine::ALL {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let port = common::nats::free_port();
        let mut up = common::process::spawn_up(dir.path(), &data, port, &["--engine".into(), engine.to_string()]);
        let layout = concord::layout::Layout::new(&data);
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let channel =
                common::try_connect(port).await.unwrap_or_else(|| panic!("concord up did not start:\n{}", up.output()));
            let police = layout
                .issuer()
                .unwrap()
                .mint(
                    "t",
                    &common::agency("police.met.nw"),
                    Role::Practitioner,
                    Purpose::CrimePrevention,
                    Duration::from_secs(600),
                )
                .unwrap();
            let mut publish = concord_core::pb::publish_service_client::PublishServiceClient::new(channel.clone());
            for subject in ["P-index001", "P-index002", "P-index001"] {
                let request = pb::PublishRequest { event: Some(arrest(subject, "")), wait_for_ledger: true };
                publish.publish(authorized(request, &police)).await.unwrap();
            }
            let mut query = QueryServiceClient::new(channel);
            let request = pb::SubjectTimelineRequest { subject: Some(person("P-index001")), ..Default::default() };
            assert_eq!(
                query.subject_timeline(authorized(request, &police)).await.unwrap().into_inner().events.len(),
                2
            );
        });
        drop(rt);
        up.stop();

        let verify = || {
            let out = std::process::Command::new(env!("CARGO_BIN_EXE_concord"))
                .args(["audit", "verify", "--data", &data.display().to_string(), "--engine", &engine.to_string()])
                .output()
                .unwrap();
            (out.status.success(), String::from_utf8_lossy(&out.stdout).to_string())
        };
        let (ok, out) = verify();
        assert!(ok && out.contains("event log: OK, 3 entries") && out.contains("audit log: OK"), "{engine}: {out}");
        let fails = |log: &str, index: &str, undo: Box<dyn FnOnce()>| {
            let (ok, out) = verify();
            let other = if log == "event log" { "audit log: OK" } else { "event log: OK" };
            assert!(
                !ok && out.contains(&format!("{log}: FAILED: {index} does not match the entries"))
                    && out.contains(other),
                "{engine}: {log}, {index}: {out}"
            );
            undo();
            assert!(verify().0, "{engine}: undone");
        };

        // The event log: entry 2 moved to another type, entry 3 dropped from its
        // agency, entry 1 forged into another agency's, a subject's last event
        // dropped from its stream (hidden from the timeline).
        let log = layout.store("log");
        let undo = tamper(engine, &log, &[index_key("type", "referral", 2)], &[index_key("type", "arrest", 2)]);
        fails("event log", "index `type`", Box::new(undo));
        fails(
            "event log",
            "index `agency`",
            Box::new(tamper(engine, &log, &[], &[index_key("agency", "police.met.nw", 3)])),
        );
        fails(
            "event log",
            "index `agency`",
            Box::new(tamper(engine, &log, &[index_key("agency", "camhs.nwl", 1)], &[])),
        );
        let last_version = {
            let kv = concord_log::kv::open(engine, &log).unwrap();
            kv.scan(b"s", Some(&b"t"[..]), 1, true).unwrap().pop().unwrap().0
        };
        fails("event log", "stream table", Box::new(tamper(engine, &log, &[], &[last_version])));

        // An index an older version wrote and nothing reads (by ward): found
        // by verify until this version opens the log, which removes its rows.
        let _ = tamper(engine, &log, &[index_key("ward", "harrow/wealdstone", 1)], &[]);
        let (ok, out) = verify();
        assert!(!ok && out.contains("index `ward`"), "{engine}: {out}");
        drop(concord::platform::open_log(&layout, engine).unwrap());
        let (ok, out) = verify();
        assert!(ok && out.contains("event log: OK, 3 entries"), "{engine}: upgraded: {out}");

        // The audit log: a record moved to another agency, a record dropped from
        // a subject's, a record forged into an event's.
        let audit = layout.store("audit");
        let prefix = index_prefix("agency");
        let first = first_key(engine, &audit, &prefix, &index_prefix("agencz"));
        let moved = [prefix.clone(), b"forged.agency".to_vec(), vec![0, 1], first[first.len() - 8..].to_vec()].concat();
        fails("audit log", "index `agency`", Box::new(tamper(engine, &audit, &[moved], &[first])));
        let first = first_key(engine, &audit, &index_prefix("subject"), &index_prefix("subjecu"));
        fails("audit log", "index `subject`", Box::new(tamper(engine, &audit, &[], &[first])));
        let forged = index_key("event", &concord_core::EventId::new_v7().to_string(), 1);
        fails("audit log", "index `event`", Box::new(tamper(engine, &audit, &[forged], &[])));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_correction_shows_what_changed_from_and_to_and_only_its_publisher_may_correct() {
    let t = TestPlatform::start(Engine::Redb).await;
    let wait = Some(Duration::from_secs(10));
    let police = t.platform.node(&common::agency("police.met.nw")).unwrap().clone();
    let cs = t.platform.node(&common::agency("childrens_services.harrow")).unwrap().clone();
    let original = police.publish(arrest("P-corr0001", ""), wait).await.unwrap();

    let mut correction = arrest("P-corr0001", "");
    correction.corrects = original.event_id.to_string();
    correction.ward = "Marlborough".into();
    correction.share_with = vec!["vcs.st-giles".into()];
    if let Some(pb::event::Body::Arrest(a)) = &mut correction.body {
        a.gravity_score = 2;
    }
    let corrected = police.publish(correction.clone(), wait).await.unwrap();

    // Another agency may not correct the police's record, nor may anyone correct what is not there.
    let mut theirs = correction.clone();
    theirs.agency_id = "childrens_services.harrow".into();
    theirs.agency_kind = pb::AgencyKind::ChildrensServices as i32;
    theirs.body = Some(pb::event::Body::ExploitationConcern(pb::ExploitationConcern {
        exploitation_type: pb::ExploitationType::Criminal as i32,
        risk: pb::RiskLevel::High as i32,
        adult: false,
    }));
    let refused = cs.publish(theirs, wait).await.unwrap_err();
    assert!(refused.to_string().contains("corrects only its own events"), "{refused}");
    let mut nothing = correction.clone();
    nothing.corrects = concord_core::EventId::new_v7().to_string();
    let refused = police.publish(nothing, wait).await.unwrap_err();
    assert!(refused.to_string().contains("no event"), "{refused}");

    let mut client = QueryServiceClient::new(t.channel().await);
    let social_worker = t.token("childrens_services.harrow", Role::Practitioner, Purpose::Safeguarding);
    let request = pb::SubjectTimelineRequest { subject: Some(person("P-corr0001")), ..Default::default() };
    let page = client.subject_timeline(authorized(request.clone(), &social_worker)).await.unwrap().into_inner();
    assert_eq!(page.events.len(), 2);
    let view =
        page.events.iter().find(|v| v.event.as_ref().unwrap().event_id == corrected.event_id.to_string()).unwrap();
    let changes: Vec<(&str, &str, &str)> =
        view.changes.iter().map(|c| (c.field.as_str(), c.from.as_str(), c.to.as_str())).collect();
    assert!(changes.contains(&("arrest.gravity_score", "3", "2")), "{changes:?}");
    assert!(changes.contains(&("ward", "\"Wealdstone\"", "\"Marlborough\"")), "{changes:?}");
    assert!(changes.iter().all(|(f, ..)| !f.starts_with("personal")), "same personal data: {changes:?}");
    // The original says which event now holds the current values.
    let old = page.events.iter().find(|v| v.event.as_ref().unwrap().event_id == original.event_id.to_string()).unwrap();
    assert_eq!(old.superseded_by, corrected.event_id.to_string());
    assert!(view.superseded_by.is_empty());
    // The access record names the corrected event too: its values were shown.
    let audit = &t.platform.audit;
    let record = audit.get(audit.log().size()).unwrap().unwrap();
    let ids: BTreeSet<String> = record.shown.iter().map(|s| s.event_id.clone()).collect();
    assert!(ids.contains(&original.event_id.to_string()) && ids.contains(&corrected.event_id.to_string()));

    // The VCS, shared the correction but not the original, sees no "from".
    let vcs = t.token("vcs.st-giles", Role::Practitioner, Purpose::Safeguarding);
    let page = client.subject_timeline(authorized(request, &vcs)).await.unwrap().into_inner();
    assert_eq!(page.events.len(), 1);
    assert!(page.events[0].changes.is_empty(), "{:?}", page.events[0].changes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_publish_is_recorded_without_its_content_and_auditors_find_who_added_an_event() {
    use concord_core::pb::publish_service_client::PublishServiceClient;

    let t = TestPlatform::start(Engine::Redb).await;
    let mut publish = PublishServiceClient::new(t.channel().await);
    let officer = t.token("police.met.nw", Role::Practitioner, Purpose::CaseManagement);
    let mut event = arrest("P-pub00001", "seen with Kyle Brennan near the station");
    event.personal.as_mut().unwrap().identities[0].name = "Jordan Whitlock".into();
    let request = pb::PublishRequest { event: Some(event.clone()), wait_for_ledger: true };
    let published = publish.publish(authorized(request, &officer)).await.unwrap().into_inner();

    // Refused publishes are recorded too: another agency's event, a role that
    // does not publish, and a forged token.
    let mut as_camhs = event.clone();
    as_camhs.agency_id = "camhs.nwl".into();
    let request = pb::PublishRequest { event: Some(as_camhs), wait_for_ledger: false };
    let refused = publish.publish(authorized(request, &officer)).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::PermissionDenied);
    let analyst = t.token("police.met.nw", Role::Analyst, Purpose::Analysis);
    let request = pb::PublishRequest { event: Some(event.clone()), wait_for_ledger: false };
    let refused = publish.publish(authorized(request, &analyst)).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::PermissionDenied);
    let request = pb::PublishRequest { event: Some(event.clone()), wait_for_ledger: false };
    let refused = publish.publish(authorized(request, &format!("{officer}x"))).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unauthenticated);

    let audit = &t.platform.audit;
    let records: Vec<pb::AccessRecord> = (1..=audit.log().size()).map(|p| audit.get(p).unwrap().unwrap()).collect();
    let publishes: Vec<&pb::AccessRecord> =
        records.iter().filter(|r| r.rpc == "/concord.v1.PublishService/Publish").collect();
    assert_eq!(publishes.len(), 4, "{records:?}");
    let ok = publishes[0];
    assert_eq!((ok.principal.as_str(), ok.agency_id.as_str(), ok.outcome.as_str()), ("tester", "police.met.nw", "ok"));
    assert_eq!(ok.added.len(), 1);
    assert_eq!(ok.added[0].event_id, published.event_id);
    assert_eq!(ok.added[0].event_type, "arrest");
    assert_eq!(ok.added[0].subjects, vec![person("P-pub00001")]);
    assert!(ok.shown.is_empty(), "a publish shows nothing");
    assert!(publishes[1].outcome.starts_with("PermissionDenied") && publishes[1].added.is_empty());
    assert!(publishes[2].outcome.starts_with("PermissionDenied") && publishes[2].role == "analyst");
    assert!(publishes[3].outcome.starts_with("Unauthenticated") && publishes[3].principal.is_empty());
    for record in &records {
        let text = String::from_utf8_lossy(&prost::Message::encode_to_vec(record)).to_string();
        for personal in ["Jordan Whitlock", "Kyle Brennan", "seen with"] {
            assert!(!text.contains(personal), "`{personal}` in an access record: {record:?}");
        }
    }

    // An auditor asking about the event finds who added it and who read it.
    let reader = t.token("yot.harrow", Role::Practitioner, Purpose::Safeguarding);
    let mut query = QueryServiceClient::new(t.channel().await);
    let get = pb::GetEventRequest { event_id: published.event_id.clone() };
    query.get_event(authorized(get, &reader)).await.unwrap();
    let auditor = t.token("childrens_services.harrow", Role::Auditor, Purpose::Audit);
    let mut audits = AuditServiceClient::new(t.channel().await);
    let request = pb::ListAccessRequest { event_id: published.event_id.clone(), ..Default::default() };
    let page = audits.list_access(authorized(request, &auditor)).await.unwrap().into_inner();
    let who: Vec<(String, String)> =
        page.records.iter().map(|e| e.record.as_ref().unwrap()).map(|r| (r.agency_id.clone(), r.rpc.clone())).collect();
    assert_eq!(
        who,
        vec![
            ("police.met.nw".to_string(), "/concord.v1.PublishService/Publish".to_string()),
            ("yot.harrow".to_string(), "/concord.v1.QueryService/GetEvent".to_string()),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_search_page_records_only_the_events_withheld_from_that_page() {
    let t = TestPlatform::start(Engine::Redb).await;
    // The voluntary-sector reader sees only what is shared with it: every
    // other arrest.
    let police = t.platform.node(&common::agency("police.met.nw")).unwrap().clone();
    for i in 0..12 {
        let mut event = arrest(&format!("P-page{i:04}"), "");
        event.share_with = if i % 2 == 0 { vec!["vcs.st-giles".into()] } else { vec![] };
        police.publish(event, None).await.unwrap();
    }
    t.wait_for_size(12).await;
    let reader = t.token("vcs.st-giles", Role::Practitioner, Purpose::Safeguarding);
    let mut client = QueryServiceClient::new(t.channel().await);
    let everything = pb::SearchRequest { page_size: 1000, ..Default::default() };
    let all = client.search(authorized(everything, &reader)).await.unwrap().into_inner().events;
    assert!(all.len() >= 3 && all.len() < 12, "the setup needs some events withheld: {} shown", all.len());

    let first = pb::SearchRequest { page_size: 2, ..Default::default() };
    let page = client.search(authorized(first, &reader)).await.unwrap().into_inner().events;
    let cut = page[1].position;
    let audit = &t.platform.audit;
    let record = audit.get(audit.log().size()).unwrap().unwrap();
    assert_eq!(record.shown.len(), 2);
    let passed_over = cut as usize - 2;
    let withheld_after_cut = (12 - cut as usize) - all.iter().filter(|v| v.position > cut).count();
    assert!(withheld_after_cut > 0, "the setup needs withheld events after the page");
    assert_eq!(record.withheld as usize, passed_over, "only the events this page passed over");
}

/// Every access record an auditor can list, oldest first, through AuditService.
async fn listed_by_auditor(t: &TestPlatform) -> Vec<pb::AccessRecord> {
    let mut auditing = AuditServiceClient::new(t.channel().await);
    let auditor = t.token("yot.harrow", Role::Auditor, Purpose::Audit);
    let (mut records, mut page_token) = (Vec::new(), String::new());
    loop {
        let ask = pb::ListAccessRequest { page_size: 100, page_token, ..Default::default() };
        let page = auditing.list_access(authorized(ask, &auditor)).await.unwrap().into_inner();
        records.extend(page.records.into_iter().map(|e| e.record.unwrap()));
        if page.next_page_token.is_empty() {
            return records;
        }
        page_token = page.next_page_token;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn log_service_calls_and_their_refusals_are_in_the_audit_log() {
    use concord_core::pb::log_service_client::LogServiceClient;

    let t = TestPlatform::start(Engine::Redb).await;
    let police = t.platform.node(&common::agency("police.met.nw")).unwrap().clone();
    for _ in 0..3 {
        police.publish(arrest("P-logs0001", ""), Some(Duration::from_secs(10))).await.unwrap();
    }
    let mut log = LogServiceClient::new(t.channel().await);
    let reader = t.token("yot.harrow", Role::Practitioner, Purpose::CaseManagement);
    let checkpoint = log.get_checkpoint(authorized(pb::GetCheckpointRequest {}, &reader)).await.unwrap().into_inner();
    assert!(checkpoint.size >= 3);
    let request = pb::ConsistencyProofRequest { old_size: 1, new_size: checkpoint.size };
    log.get_consistency_proof(authorized(request, &reader)).await.unwrap();
    let request = pb::InclusionProofRequest { position: 2, tree_size: checkpoint.size };
    log.get_inclusion_proof(authorized(request, &reader)).await.unwrap();

    // A forged token (signed by a key the partnership does not hold), and none at all.
    let forger =
        concord_identity::Issuer::generate("local-1", concord::layout::LOCAL_ISSUER, concord::layout::AUDIENCE);
    let forged = forger
        .mint(
            "tester",
            &common::agency("yot.harrow"),
            Role::Practitioner,
            Purpose::CaseManagement,
            Duration::from_secs(600),
        )
        .unwrap();
    let refused = log.get_checkpoint(authorized(pb::GetCheckpointRequest {}, &forged)).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unauthenticated, "{refused:?}");
    let request = tonic::Request::new(pb::InclusionProofRequest { position: 1, tree_size: checkpoint.size });
    let refused = log.get_inclusion_proof(request).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unauthenticated, "{refused:?}");

    // An auditor finds each of them, in order, with who made it and how it ended.
    let records = listed_by_auditor(&t).await;
    let calls: Vec<(&str, &str, &str, &str)> = records
        .iter()
        .filter(|r| r.rpc.starts_with("/concord.v1.LogService/"))
        .map(|r| (r.rpc.as_str(), r.principal.as_str(), r.agency_id.as_str(), r.outcome.split(':').next().unwrap()))
        .collect();
    assert_eq!(
        calls,
        vec![
            ("/concord.v1.LogService/GetCheckpoint", "tester", "yot.harrow", "ok"),
            ("/concord.v1.LogService/GetConsistencyProof", "tester", "yot.harrow", "ok"),
            ("/concord.v1.LogService/GetInclusionProof", "tester", "yot.harrow", "ok"),
            ("/concord.v1.LogService/GetCheckpoint", "", "", "Unauthenticated"),
            ("/concord.v1.LogService/GetInclusionProof", "", "", "Unauthenticated"),
        ],
        "{records:?}"
    );
    let proofs: Vec<&pb::AccessRecord> =
        records.iter().filter(|r| r.rpc.ends_with("LogService/GetInclusionProof")).collect();
    assert!(
        proofs.iter().all(|r| r.parameters.contains("treeSize") || r.parameters.contains("tree_size")),
        "{proofs:?}"
    );
    assert!(records.iter().filter(|r| r.rpc.starts_with("/concord.v1.LogService/")).all(|r| !r.peer.is_empty()));
}

/// Every RPC of every Concord service the server offers (as gRPC reflection
/// lists them), called with no token, is refused UNAUTHENTICATED, and the
/// refusal is in the audit log: a service added later cannot skip the door.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_rpc_of_every_service_refuses_a_call_without_a_token_and_records_it() {
    use prost::Message;
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

    let t = TestPlatform::start(Engine::Redb).await;
    let channel = t.channel().await;

    // The services the server says it offers; the standard health and
    // reflection services are open to any client by design.
    let mut reflection = ServerReflectionClient::new(channel.clone());
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = reflection.server_reflection_info(futures::stream::iter([request])).await.unwrap().into_inner();
    let Some(MessageResponse::ListServicesResponse(list)) = responses.next().await.unwrap().unwrap().message_response
    else {
        panic!("expected a service list");
    };
    let services: BTreeSet<String> =
        list.service.into_iter().map(|s| s.name).filter(|name| !name.starts_with("grpc.")).collect();

    // Each one's methods, from the descriptors the server was built with.
    let descriptors = prost_types::FileDescriptorSet::decode(concord_core::pb::FILE_DESCRIPTOR_SET).unwrap();
    let mut methods = Vec::new();
    for file in &descriptors.file {
        for service in &file.service {
            let name = format!("{}.{}", file.package(), service.name());
            if services.contains(&name) {
                methods.extend(service.method.iter().map(|m| (format!("/{name}/{}", m.name()), m.server_streaming())));
            }
        }
    }
    assert!(services.len() >= 9 && methods.len() >= 21, "{services:?} {methods:?}");

    // Each called with an empty message and no token.
    let mut grpc = tonic::client::Grpc::new(channel);
    for (path, streaming) in &methods {
        grpc.ready().await.unwrap();
        let route: tonic::codegen::http::uri::PathAndQuery = path.parse().unwrap();
        let codec = tonic_prost::ProstCodec::<(), ()>::default();
        let answer = if *streaming {
            grpc.server_streaming(tonic::Request::new(()), route, codec).await.map(drop)
        } else {
            grpc.unary(tonic::Request::new(()), route, codec).await.map(drop)
        };
        let status = answer.expect_err(path);
        assert_eq!(status.code(), tonic::Code::Unauthenticated, "{path}: {status:?}");
    }

    // And each refusal is on the record, with the RPC it was for.
    let audit = &t.platform.audit;
    let refused: BTreeSet<String> = (1..=audit.log().size())
        .map(|p| audit.get(p).unwrap().unwrap())
        .filter(|r| r.principal.is_empty() && r.outcome.starts_with("Unauthenticated"))
        .map(|r| r.rpc)
        .collect();
    let called: BTreeSet<String> = methods.into_iter().map(|(path, _)| path).collect();
    assert_eq!(refused, called);
}
