//! End-to-end tests of the platform as users meet it: publishing through the
//! node, querying over a real gRPC socket with tokens, bad input, the store
//! files, and `concord up` killed with SIGKILL mid-stream.

use crate::common;

use std::collections::HashSet;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{TestPlatform, arrest, authorized, publish};
use concord_bus::{Outbound, event_subject};
use concord_core::pb::log_service_client::LogServiceClient;
use concord_core::pb::query_service_client::QueryServiceClient;
use concord_core::{EventType, pb, status};
use concord_identity::{Claims, Issuer, Purpose, Role};
use concord_log::kv::Engine;
use futures::StreamExt;
use prost::Message;
use tonic::Code;

fn person(key: &str) -> pb::SubjectRef {
    pb::SubjectRef { kind: pb::SubjectKind::Person as i32, key: key.into() }
}

#[tokio::test]
async fn published_events_are_queryable_over_grpc() {
    for engine in Engine::ALL {
        let t = TestPlatform::start(engine).await;
        let police = t.token("police.met.nw", Role::Practitioner, Purpose::CrimePrevention);
        let mut ids = Vec::new();
        for i in 0..3 {
            let r = publish(&t, arrest("P-e2e00001", &format!("note {i}")), &police).await.unwrap();
            assert_eq!(r.position, i + 1);
            ids.push(r.event_id);
        }
        let social = t.token("childrens_services.harrow", Role::Practitioner, Purpose::Safeguarding);
        let mut query = QueryServiceClient::new(t.channel().await);

        let page = query
            .subject_timeline(authorized(
                pb::SubjectTimelineRequest {
                    subject: Some(person("P-e2e00001")),
                    page_size: 2,
                    page_token: String::new(),
                },
                &social,
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(page.events.len(), 2);
        assert!(!page.next_page_token.is_empty());
        let first = &page.events[0];
        assert_eq!(first.visibility, pb::Visibility::Show as i32);
        let event = first.event.as_ref().unwrap();
        assert_eq!(event.event_id, ids[0]);
        let personal = event.personal.as_ref().unwrap();
        assert_eq!(personal.identities[0].name, "Jordan Testcase", "shown events are unsealed");
        assert!(event.sealed.is_empty());
        let rest = query
            .subject_timeline(authorized(
                pb::SubjectTimelineRequest {
                    subject: Some(person("P-e2e00001")),
                    page_size: 2,
                    page_token: page.next_page_token,
                },
                &social,
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(rest.events.len(), 1);
        assert!(rest.next_page_token.is_empty());

        let found = query
            .search(authorized(
                pb::SearchRequest { event_type: "arrest".into(), ward: "wealdstone".into(), ..Default::default() },
                &social,
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(found.events.len(), 3);
        let none = query
            .search(authorized(
                pb::SearchRequest { event_type: "missing_episode".into(), ..Default::default() },
                &social,
            ))
            .await
            .unwrap()
            .into_inner();
        assert!(none.events.is_empty());

        let got = query
            .get_event(authorized(pb::GetEventRequest { event_id: ids[2].clone() }, &social))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(got.position, 3);

        let mut stream = query
            .subscribe(authorized(pb::SubscribeRequest { after_position: 1, ..Default::default() }, &social))
            .await
            .unwrap()
            .into_inner();
        let a = stream.next().await.unwrap().unwrap();
        let b = stream.next().await.unwrap().unwrap();
        assert_eq!((a.position, b.position), (2, 3));
        publish(&t, arrest("P-e2e00002", ""), &police).await.unwrap();
        let live = tokio::time::timeout(Duration::from_secs(5), stream.next()).await.unwrap().unwrap().unwrap();
        assert_eq!(live.position, 4, "subscribers get new events as they are appended");
    }
}

#[tokio::test]
async fn the_sharing_rules_decide_what_each_reader_sees() {
    let t = TestPlatform::start(Engine::Redb).await;
    let police = t.token("police.met.nw", Role::Practitioner, Purpose::CrimePrevention);
    publish(&t, arrest("P-rules001", "seen at the station"), &police).await.unwrap();
    let mut query = QueryServiceClient::new(t.channel().await);
    let timeline = |token: String| {
        let mut q = query.clone();
        async move {
            q.subject_timeline(authorized(
                pb::SubjectTimelineRequest { subject: Some(person("P-rules001")), ..Default::default() },
                &token,
            ))
            .await
            .unwrap()
            .into_inner()
            .events
        }
    };
    // A VCS partner is not party to a police arrest shared under safeguarding.
    assert!(timeline(t.token("vcs.st-giles", Role::Practitioner, Purpose::Safeguarding)).await.is_empty());
    // Analysts do not read timelines: only the replay, pseudonymised (see replay::).
    let analyst = t.token("childrens_services.harrow", Role::Analyst, Purpose::Analysis);
    let request = pb::SubjectTimelineRequest { subject: Some(person("P-rules001")), ..Default::default() };
    let refused = query.clone().subject_timeline(authorized(request, &analyst)).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::PermissionDenied);
    // Auditors see access records, not content.
    assert!(timeline(t.token("childrens_services.harrow", Role::Auditor, Purpose::Audit)).await.is_empty());
    // A withheld event is indistinguishable from a missing one.
    let id = query
        .subject_timeline(authorized(
            pb::SubjectTimelineRequest { subject: Some(person("P-rules001")), ..Default::default() },
            &police,
        ))
        .await
        .unwrap()
        .into_inner()
        .events[0]
        .event
        .as_ref()
        .unwrap()
        .event_id
        .clone();
    let vcs = t.token("vcs.st-giles", Role::Practitioner, Purpose::Safeguarding);
    let withheld = query.get_event(authorized(pb::GetEventRequest { event_id: id }, &vcs)).await.unwrap_err();
    let missing = query
        .get_event(authorized(pb::GetEventRequest { event_id: concord_core::EventId::new_v7().to_string() }, &vcs))
        .await
        .unwrap_err();
    assert_eq!(withheld.code(), Code::NotFound);
    assert_eq!(missing.code(), Code::NotFound);
}

#[tokio::test]
async fn forged_expired_and_wrong_audience_tokens_are_refused() {
    let t = TestPlatform::start(Engine::Redb).await;
    let issuer = t.layout().issuer().unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let base = Claims {
        sub: "mallory".into(),
        agency_id: "childrens_services.harrow".into(),
        agency_kind: "childrens_services".into(),
        role: "practitioner".into(),
        purpose: "safeguarding".into(),
        iss: concord::layout::LOCAL_ISSUER.into(),
        aud: concord::layout::AUDIENCE.into(),
        exp: now + 600,
        nbf: now - 10,
        iat: now - 10,
        jti: "t1".into(),
    };
    let expired =
        issuer.mint_claims(&Claims { exp: now - 3600, nbf: now - 7200, iat: now - 7200, ..base.clone() }).unwrap();
    let wrong_aud = issuer.mint_claims(&Claims { aud: "another-service".into(), ..base.clone() }).unwrap();
    let forger = Issuer::generate("local-1", concord::layout::LOCAL_ISSUER, concord::layout::AUDIENCE);
    let forged = forger.mint_claims(&base).unwrap();
    let good = issuer.mint_claims(&base).unwrap();

    let mut query = QueryServiceClient::new(t.channel().await);
    let request = || pb::SubjectTimelineRequest { subject: Some(person("P-any")), ..Default::default() };
    let no_token = query.subject_timeline(tonic::Request::new(request())).await.unwrap_err();
    assert_eq!(no_token.code(), Code::Unauthenticated);
    for (name, token) in [("expired", &expired), ("wrong audience", &wrong_aud), ("forged", &forged)] {
        let err = query.subject_timeline(authorized(request(), token)).await.unwrap_err();
        assert_eq!(err.code(), Code::Unauthenticated, "{name} token must be refused");
    }
    query.subject_timeline(authorized(request(), &good)).await.unwrap();
}

#[tokio::test]
async fn bad_input_gets_a_clear_error_and_changes_nothing() {
    let t = TestPlatform::start(Engine::Redb).await;
    let police = t.token("police.met.nw", Role::Practitioner, Purpose::CrimePrevention);
    publish(&t, arrest("P-bad00001", ""), &police).await.unwrap();
    let before = (t.platform.log.size(), t.platform.log.root_at(1).unwrap());

    let mut no_basis = arrest("P-bad00002", "");
    no_basis.lawful_basis.clear();
    let err = publish(&t, no_basis, &police).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(status::field_of(&err).as_deref(), Some("lawful_basis"));

    let mut gravity = arrest("P-bad00002", "");
    if let Some(pb::event::Body::Arrest(a)) = &mut gravity.body {
        a.gravity_score = 9;
    }
    let err = publish(&t, gravity, &police).await.unwrap_err();
    assert_eq!(status::field_of(&err).as_deref(), Some("arrest.gravity_score"));

    let mut no_body = arrest("P-bad00002", "");
    no_body.body = None;
    assert_eq!(status::field_of(&publish(&t, no_body, &police).await.unwrap_err()).as_deref(), Some("body"));

    // An agency publishing as another is refused before it reaches a node.
    let yot = t.token("yot.harrow", Role::Practitioner, Purpose::CaseManagement);
    assert_eq!(publish(&t, arrest("P-bad00002", ""), &yot).await.unwrap_err().code(), Code::PermissionDenied);

    // Straight onto the bus: garbage, a bad signature, and police signing as CAMHS.
    let police_node = t.platform.node(&common::agency("police.met.nw")).unwrap();
    let (_, good) = police_node.prepare(arrest("P-bad00003", "")).await.unwrap();
    let mut tampered = pb::SignedEvent::decode(good.payload.as_ref()).unwrap();
    tampered.signature[0] ^= 1;
    let mut as_camhs = arrest("P-bad00004", "");
    as_camhs.agency_id = "camhs.nwl".into();
    as_camhs.agency_kind = pb::AgencyKind::Camhs as i32;
    let police_key = concord_core::sign::AgencyKey::load(
        common::agency("police.met.nw"),
        &t.layout().agency_key(&common::agency("police.met.nw")),
    )
    .unwrap();
    let mut sealed_camhs = as_camhs.clone();
    sealed_camhs.event_id = concord_core::EventId::new_v7().to_string();
    sealed_camhs.recorded_at = sealed_camhs.occurred_at;
    sealed_camhs.personal = None;
    let impostor = police_key.sign(&sealed_camhs);
    let camhs_subject = event_subject(&common::agency("camhs.nwl"), EventType::Arrest);
    let garbage: Vec<(String, Vec<u8>)> = vec![
        (good.subject.clone(), b"\x00\xffnot protobuf at all".to_vec()),
        (good.subject.clone(), good.payload[..good.payload.len() / 2].to_vec()),
        (good.subject.clone(), tampered.encode_to_vec()),
        (camhs_subject, impostor.encode_to_vec()),
        ("concord.events.nonsense".into(), good.payload.to_vec()),
        (good.subject.clone(), vec![7u8; 2 * 1024 * 1024]),
    ];
    for (subject, payload) in garbage {
        t.platform
            .bus
            .publish(Outbound { subject, msg_id: "x".into(), payload: payload.into(), traceparent: None })
            .await
            .unwrap();
    }
    for _ in 0..200 {
        if t.platform.ledger.quarantine().counts().values().sum::<u64>() >= 6 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let counts = t.platform.ledger.quarantine().counts();
    assert_eq!(counts.values().sum::<u64>(), 6, "{counts:?}");
    for reason in ["malformed", "bad_signature", "wrong_agency", "bad_subject", "oversize"] {
        assert!(counts.contains_key(reason), "{reason} missing from {counts:?}");
    }
    // The ledger is still running and the log is exactly as it was.
    assert_eq!((t.platform.log.size(), t.platform.log.root_at(1).unwrap()), before);
    publish(&t, arrest("P-bad00005", ""), &police).await.unwrap();
    assert_eq!(t.platform.log.size(), 2);
}

#[tokio::test]
async fn personal_plaintext_never_reaches_the_store_files() {
    let t = TestPlatform::start(Engine::Redb).await;
    let police = t.token("police.met.nw", Role::Practitioner, Purpose::CrimePrevention);
    let mut event = arrest("P-plain001", "Xylophone-Quartz seen at Zanzibar Court");
    event.personal.as_mut().unwrap().identities[0].name = "Quillon Marchbanks".into();
    publish(&t, event, &police).await.unwrap();
    // Every committed write is in the files now: scan them all.
    let mut files = 0;
    for entry in walk(t.dir.path()) {
        let bytes = std::fs::read(&entry).unwrap();
        files += 1;
        for needle in ["Quillon Marchbanks", "Xylophone-Quartz", "Zanzibar Court", "2009-02-03"] {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
                "{needle} found in {}",
                entry.display()
            );
        }
    }
    assert!(files > 3);
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[test]
fn publish_cli_reports_errors_by_line_number() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let t = rt.block_on(TestPlatform::start(Engine::Redb));
    let good = serde_json::to_string(&arrest("P-cli00001", "")).unwrap();
    let mut no_basis: serde_json::Value = serde_json::from_str(&good).unwrap();
    no_basis.as_object_mut().unwrap().remove("lawful_basis");
    let mut wrong_type: serde_json::Value = serde_json::from_str(&good).unwrap();
    wrong_type["arrest"]["gravity_score"] = "high".into();
    let mut unknown: serde_json::Value = serde_json::from_str(&good).unwrap();
    let body = unknown.as_object_mut().unwrap().remove("arrest").unwrap();
    unknown["burglary"] = body;
    let file = t.dir.path().join("events.jsonl");
    // Another event: a line repeated word for word is the same event (its id is derived from it).
    let other = serde_json::to_string(&arrest("P-cli00002", "")).unwrap();
    let lines =
        [good.clone(), "{not json".into(), no_basis.to_string(), wrong_type.to_string(), unknown.to_string(), other];
    std::fs::write(&file, lines.join("\n")).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_concord"))
        .args(["publish", "--addr", &format!("http://{}", t.addr), "--data"])
        .arg(t.dir.path())
        .arg(&file)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stdout.contains("line 1: published"), "{stdout}");
    assert!(stdout.contains("line 6: published"), "{stdout}");
    assert!(stderr.contains("line 2: not a Concord event"), "{stderr}");
    assert!(stderr.contains("line 3:") && stderr.contains("lawful_basis"), "{stderr}");
    assert!(stderr.contains("line 4:") && stderr.contains("gravity_score"), "{stderr}");
    assert!(stderr.contains("line 5:") && stderr.contains("burglary"), "{stderr}");
    assert!(stdout.contains("2 published, 0 already in the log, 4 refused"), "{stdout}");
    assert_eq!(t.platform.log.size(), 2);
}

/// Starts `concord up` as a real process, kills it with SIGKILL while the
/// simulated agencies are publishing, and checks the log after each restart.
#[test]
fn sigkill_mid_stream_loses_and_duplicates_nothing() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let addr = format!("127.0.0.1:{port}");
    let layout = concord::layout::Layout::new(dir.path());
    let mut previous: Option<pb::Checkpoint> = None;
    for round in 0..3u64 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_concord"))
            .args(["up", "--grpc", &addr, "--backfill-days", "20", "--seconds-per-day", "1", "--data"])
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let checkpoint = rt.block_on(async {
            let mut last_err = None;
            for _ in 0..300 {
                tokio::time::sleep(Duration::from_millis(100)).await;
                let Ok(issuer) = layout.issuer() else {
                    continue;
                };
                let token = issuer
                    .mint(
                        "killer",
                        &common::agency("police.met.nw"),
                        Role::Admin,
                        Purpose::Administration,
                        Duration::from_secs(60),
                    )
                    .unwrap();
                let Ok(channel) = concord::client::connect(&format!("http://{addr}")).await else {
                    continue;
                };
                // Let it publish a while, then take a checkpoint just before the kill.
                tokio::time::sleep(Duration::from_millis(300 + 400 * round)).await;
                match LogServiceClient::new(channel)
                    .get_checkpoint(authorized(pb::GetCheckpointRequest {}, &token))
                    .await
                {
                    Ok(c) => return c.into_inner(),
                    Err(e) => last_err = Some(e),
                }
            }
            panic!("concord up never served: {last_err:?}");
        });
        child.kill().unwrap();
        child.wait().unwrap();

        let log = concord_log::log::Log::open(
            concord_log::kv::open(Engine::DEFAULT, &layout.store("log")).unwrap(),
            concord::platform::EVENT_LOG_ORIGIN,
            layout.ledger_signing_key().unwrap(),
        )
        .unwrap();
        assert!(checkpoint.size > 0, "round {round}: nothing was published");
        assert!(log.size() >= checkpoint.size, "round {round}: committed events were lost");
        assert_eq!(log.root_at(checkpoint.size).unwrap().to_vec(), checkpoint.root, "round {round}: history changed");
        if let Some(prev) = &previous {
            let proof = log.consistency_proof(prev.size, checkpoint.size).unwrap();
            concord_log::verify::verify_consistency(
                prev.size,
                checkpoint.size,
                &prev.root.clone().try_into().unwrap(),
                &checkpoint.root.clone().try_into().unwrap(),
                &proof,
            )
            .unwrap();
        }
        let mut ids = HashSet::new();
        let mut after = 0;
        loop {
            let entries = log.read_from(after, 1000).unwrap();
            let Some(last) = entries.last() else { break };
            after = last.position;
            for entry in &entries {
                let (_, event) = concord_eventlog::decode_entry(&entry.bytes).unwrap();
                assert!(ids.insert(event.event_id.clone()), "round {round}: {} is in the log twice", event.event_id);
            }
        }
        assert_eq!(ids.len() as u64, log.size());
        previous = Some(checkpoint);
    }
}

#[tokio::test]
async fn health_and_reflection_let_any_grpc_client_discover_the_services() {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

    let t = TestPlatform::start(Engine::Redb).await;
    let mut health = HealthClient::new(t.channel().await);
    for service in ["concord.v1.QueryService", "concord.v1.LogService", "concord.v1.PublishService"] {
        let status = health.check(HealthCheckRequest { service: service.into() }).await.unwrap().into_inner().status;
        assert_eq!(status, ServingStatus::Serving as i32, "{service}");
    }
    let mut reflection = ServerReflectionClient::new(t.channel().await);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = reflection.server_reflection_info(futures::stream::iter([request])).await.unwrap().into_inner();
    let Some(MessageResponse::ListServicesResponse(list)) = responses.next().await.unwrap().unwrap().message_response
    else {
        panic!("expected a service list");
    };
    let names: Vec<_> = list.service.iter().map(|s| s.name.as_str()).collect();
    for service in
        ["concord.v1.QueryService", "concord.v1.LogService", "concord.v1.PublishService", "grpc.health.v1.Health"]
    {
        assert!(names.contains(&service), "{service} not in {names:?}");
    }
}

#[tokio::test]
async fn reflection_v1alpha_answers_for_the_clients_that_speak_only_it() {
    // Python's grpcio-reflection, older grpcurl and Postman ask
    // /grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo.
    use tonic_reflection::pb::v1alpha::ServerReflectionRequest;
    use tonic_reflection::pb::v1alpha::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1alpha::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1alpha::server_reflection_response::MessageResponse;

    let t = TestPlatform::start(Engine::Redb).await;
    let mut reflection = ServerReflectionClient::new(t.channel().await);
    let requests = [
        MessageRequest::ListServices(String::new()),
        MessageRequest::FileContainingSymbol("concord.v1.QueryService".into()),
    ]
    .map(|message| ServerReflectionRequest { host: String::new(), message_request: Some(message) });
    let mut responses = reflection.server_reflection_info(futures::stream::iter(requests)).await.unwrap().into_inner();
    let Some(MessageResponse::ListServicesResponse(list)) = responses.next().await.unwrap().unwrap().message_response
    else {
        panic!("expected a service list");
    };
    let names: Vec<_> = list.service.iter().map(|s| s.name.as_str()).collect();
    for service in
        ["concord.v1.QueryService", "concord.v1.LogService", "concord.v1.PublishService", "grpc.health.v1.Health"]
    {
        assert!(names.contains(&service), "{service} not in {names:?}");
    }
    let Some(MessageResponse::FileDescriptorResponse(files)) =
        responses.next().await.unwrap().unwrap().message_response
    else {
        panic!("expected the file declaring QueryService");
    };
    let declared = files.file_descriptor_proto.iter().any(|bytes| {
        let file = <prost_types::FileDescriptorProto as prost::Message>::decode(bytes.as_slice()).unwrap();
        file.service.iter().any(|s| s.name() == "QueryService")
    });
    assert!(declared, "QueryService is not described");
}
