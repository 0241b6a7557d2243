//! Five agency nodes, a ledger and two query replicas as separate `concord`
//! processes over a real nats-server: every published event is queryable
//! exactly once, and the replicas report the same Merkle root. Every publish
//! and read is recorded on the audit stream, both replicas build the same
//! audit log from it, a read answered by a replica that then dies is still
//! in the other's audit log, and without the audit stream no read is answered.

use crate::common;

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::nats::{NatsServer, free_port};
use common::process::Proc;
use common::{authorized, connect};
use concord_core::pb;
use concord_core::pb::audit_service_client::AuditServiceClient;
use concord_core::pb::log_service_client::LogServiceClient;
use concord_core::pb::publish_service_client::PublishServiceClient;
use concord_core::pb::query_service_client::QueryServiceClient;
use concord_identity::{Purpose, Role};

/// The example events by publishing agency, consent records first (the
/// examples that rely on consent need it recorded before them).
fn examples_by_agency() -> HashMap<String, Vec<pb::Event>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schemas/examples");
    let mut out: HashMap<String, Vec<pb::Event>> = HashMap::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        let event: pb::Event = serde_json::from_str(&text).unwrap();
        out.entry(event.agency_id.clone()).or_default().push(event);
    }
    for events in out.values_mut() {
        events.sort_by_key(|e| !is_consent_record(e));
    }
    out
}

fn is_consent_record(e: &pb::Event) -> bool {
    matches!(e.body, Some(pb::event::Body::ConsentRecorded(_)))
}

#[test]
fn separate_processes_deliver_every_event_once_and_replicas_agree() {
    // The deploy config, with every process as its own NATS user.
    let mut nats = NatsServer::start_deploy();
    let work = tempfile::tempdir().unwrap();
    let keys_home = work.path().join("partnership");
    let status =
        Command::new(env!("CARGO_BIN_EXE_concord")).arg("keys").arg("--data").arg(&keys_home).output().unwrap();
    assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
    // Each process gets only its own key bundle.
    let bundle = |name: &str| keys_home.join("bundles").join(name).display().to_string();
    assert_bundles_hold_only_what_each_role_needs(&keys_home.join("bundles"));
    let dir = |name: &str| work.path().join(name).display().to_string();
    let s = |x: &str| x.to_string();

    let _ledger = Proc::spawn(
        "ledger",
        work.path(),
        &[s("ledger"), s("--data"), dir("ledger"), s("--keys"), bundle("ledger"), s("--nats"), nats.url_as("ledger")],
    );
    let mut replicas = Vec::new();
    let mut procs = Vec::new();
    for name in ["serve-1", "serve-2"] {
        let port = free_port();
        procs.push(Proc::spawn(
            name,
            work.path(),
            &[
                s("serve"),
                s("--data"),
                dir(name),
                s("--keys"),
                bundle("replica"),
                s("--nats"),
                nats.url_as(name),
                s("--grpc"),
                format!("127.0.0.1:{port}"),
                s("--replica"),
                s(name),
            ],
        ));
        replicas.push(port);
    }
    let examples = examples_by_agency();
    let mut nodes = Vec::new();
    for agency in examples.keys() {
        let port = free_port();
        procs.push(Proc::spawn(
            agency,
            work.path(),
            &[
                s("node"),
                s("--data"),
                dir(agency),
                s("--keys"),
                bundle(&format!("node-{agency}")),
                s("--agency"),
                agency.clone(),
                s("--nats"),
                nats.url_as(agency),
                s("--grpc"),
                format!("127.0.0.1:{port}"),
            ],
        ));
        nodes.push((agency.clone(), port));
    }
    // The agency recording consent publishes (and waits for the ledger) first.
    nodes.sort_by_key(|(agency, _)| !examples[agency].iter().any(is_consent_record));

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let issuer =
            concord::layout::Layout::with_keys(&keys_home, Some(keys_home.join("bundles/issuer"))).issuer().unwrap();
        let token = |agency: &str| {
            issuer
                .mint(
                    "test",
                    &common::agency(agency),
                    Role::Practitioner,
                    Purpose::CaseManagement,
                    Duration::from_secs(600),
                )
                .unwrap()
        };
        let mut published: HashMap<String, Vec<String>> = HashMap::new();
        for (agency, port) in &nodes {
            let mut client = PublishServiceClient::new(connect(*port).await);
            for round in 0..4 {
                for event in &examples[agency] {
                    let request = pb::PublishRequest { event: Some(event.clone()), wait_for_ledger: round == 0 };
                    let r = client.publish(authorized(request, &token(agency))).await.unwrap().into_inner();
                    published.entry(agency.clone()).or_default().push(r.event_id);
                }
            }
        }
        let total: usize = published.values().map(Vec::len).sum();
        let mut roots = Vec::new();
        for port in &replicas {
            let channel = connect(*port).await;
            let mut log = LogServiceClient::new(channel.clone());
            let any = token("police.met.nw");
            let mut checkpoint = pb::Checkpoint::default();
            for _ in 0..600 {
                checkpoint =
                    log.get_checkpoint(authorized(pb::GetCheckpointRequest {}, &any)).await.unwrap().into_inner();
                if checkpoint.size as usize >= total {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            assert_eq!(checkpoint.size as usize, total, "replica on {port} has every event, once");
            roots.push(checkpoint.root);
            let mut query = QueryServiceClient::new(channel);
            for (agency, ids) in &published {
                let request = pb::SearchRequest { agency_id: agency.clone(), page_size: 1000, ..Default::default() };
                let page = query.search(authorized(request, &token(agency))).await.unwrap().into_inner();
                let mut seen: Vec<_> = page.events.iter().map(|v| v.event.as_ref().unwrap().event_id.clone()).collect();
                let mut want = ids.clone();
                seen.sort();
                want.sort();
                assert_eq!(seen, want, "{agency}'s events on the replica on {port}");
            }
        }
        assert_eq!(roots[0], roots[1], "replicas at the same position have the same Merkle root");

        // Every publish (recorded by its node) and every search (by the
        // replica that answered it) reaches both replicas' audit logs.
        let auditor = issuer
            .mint(
                "auditor",
                &common::agency("childrens_services.harrow"),
                Role::Auditor,
                Purpose::Audit,
                Duration::from_secs(600),
            )
            .unwrap();
        let all_ids: BTreeSet<String> = published.values().flatten().cloned().collect();
        let expected = total + replicas.len() * published.len();
        let mut audits = Vec::new();
        for port in &replicas {
            let mut audit = AuditServiceClient::new(connect(*port).await);
            let mut records = Vec::new();
            let mut checkpoint_reads = 0;
            for _ in 0..300 {
                let request = pb::ListAccessRequest { principal: "test".into(), page_size: 1000, ..Default::default() };
                records = audit.list_access(authorized(request, &auditor)).await.unwrap().into_inner().records;
                // The checkpoint polls above are recorded too, as many as it took.
                let (log_calls, rest): (Vec<_>, Vec<_>) = records
                    .into_iter()
                    .partition(|e| e.record.as_ref().is_some_and(|r| r.rpc.starts_with("/concord.v1.LogService/")));
                checkpoint_reads = log_calls.len();
                records = rest;
                if records.len() >= expected {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            assert_eq!(records.len(), expected, "the replica on {port} holds every publish and search record");
            assert!(checkpoint_reads >= replicas.len(), "each replica's checkpoint reads are recorded");
            let records: Vec<pb::AccessRecord> = records.into_iter().map(|e| e.record.unwrap()).collect();
            let added: BTreeSet<String> = records.iter().flat_map(|r| &r.added).map(|a| a.event_id.clone()).collect();
            assert_eq!(added, all_ids, "each publish names the event it added");
            let searches = records.iter().filter(|r| r.rpc == "/concord.v1.QueryService/Search").count();
            assert_eq!(searches, replicas.len() * published.len(), "both replicas' searches");
            for record in &records {
                let bytes = prost::Message::encode_to_vec(record);
                assert!(
                    !String::from_utf8_lossy(&bytes).contains("Jayden Okafor"),
                    "personal data in an access record: {record:?}"
                );
            }
            audits.push(audit);
        }

        // The two audit logs are one: the second replica's extends the first's.
        let a = audits[0].get_checkpoint(authorized(pb::GetCheckpointRequest {}, &auditor)).await.unwrap().into_inner();
        let mut b = pb::Checkpoint::default();
        for _ in 0..300 {
            b = audits[1].get_checkpoint(authorized(pb::GetCheckpointRequest {}, &auditor)).await.unwrap().into_inner();
            if b.size >= a.size {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let request = pb::ConsistencyProofRequest { old_size: a.size, new_size: b.size };
        let proof = audits[1].get_consistency_proof(authorized(request, &auditor)).await.unwrap().into_inner();
        let hashes: Vec<[u8; 32]> = proof.hashes.iter().map(|h| h.as_slice().try_into().unwrap()).collect();
        let (old, new): ([u8; 32], [u8; 32]) = (a.root.try_into().unwrap(), b.root.try_into().unwrap());
        concord_log::verify::verify_consistency(a.size, b.size, &old, &new, &hashes)
            .expect("the replicas' audit logs agree");

        // A read answered by the first replica, which dies straight after,
        // is in the second replica's audit log: it was durable on the stream
        // before the answer left.
        let last = issuer
            .mint(
                "last-reader",
                &common::agency("yot.harrow"),
                Role::Practitioner,
                Purpose::CaseManagement,
                Duration::from_secs(600),
            )
            .unwrap();
        let request = pb::SearchRequest { page_size: 5, ..Default::default() };
        let mut query = QueryServiceClient::new(connect(replicas[0]).await);
        let page = query.search(authorized(request, &last)).await.unwrap().into_inner();
        let seen: BTreeSet<String> = page.events.iter().map(|v| v.event.as_ref().unwrap().event_id.clone()).collect();
        assert!(!seen.is_empty());
        procs[0].kill();
        let mut found = Vec::new();
        for _ in 0..300 {
            let request = pb::ListAccessRequest { principal: "last-reader".into(), ..Default::default() };
            found = audits[1].list_access(authorized(request, &auditor)).await.unwrap().into_inner().records;
            if !found.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(found.len(), 1, "the dead replica's last read is recorded on the survivor");
        let shown: BTreeSet<String> =
            found[0].record.as_ref().unwrap().shown.iter().map(|s| s.event_id.clone()).collect();
        assert_eq!(shown, seen);

        // With the audit stream gone, the survivor answers no read at all.
        nats.stop();
        let request = pb::SearchRequest { page_size: 5, ..Default::default() };
        let mut query = QueryServiceClient::new(connect(replicas[1]).await);
        let refused = query.search(authorized(request, &last)).await.unwrap_err();
        assert_eq!(refused.code(), tonic::Code::Unavailable, "{refused:?}");
        assert!(refused.message().contains("audit"), "{refused:?}");
    });
}

/// Every file under `dir`, relative to it.
fn files(dir: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if path.is_dir() {
            out.extend(files(&path).into_iter().map(|f| format!("{name}/{f}")));
        } else {
            out.insert(name);
        }
    }
    out
}

/// A node's bundle signs for its agency only: no other agency's key, no
/// master or replay key (nothing that unseals), no issuer key (it cannot mint
/// a token), no checkpoint key; the ledger's holds no master key; only the
/// replicas' unseals.
fn assert_bundles_hold_only_what_each_role_needs(bundles: &Path) {
    let public = ["jwks.json", "ledger.pub", "registry.json", "replica.pub"];
    let expect = |extra: &[&str]| public.iter().chain(extra).map(|f| f.to_string()).collect::<BTreeSet<_>>();
    assert_eq!(files(&bundles.join("node-police.met.nw")), expect(&["agencies/police.met.nw.pem"]));
    assert_eq!(files(&bundles.join("ledger")), expect(&["ledger.pem"]));
    assert_eq!(files(&bundles.join("replica")), expect(&["master.key", "replay.key", "replica.pem"]));
    assert_eq!(files(&bundles.join("public")), expect(&[]));
    let issuer: BTreeSet<String> = ["jwks.json", "jwt-issuer.json", "jwt-signing.pem"].map(String::from).into();
    assert_eq!(files(&bundles.join("issuer")), issuer);
    // With a node's bundle, `concord token` cannot mint.
    let minted = Command::new(env!("CARGO_BIN_EXE_concord"))
        .args(["token", "--agency", "police.met.nw", "--keys"])
        .arg(bundles.join("node-police.met.nw"))
        .output()
        .unwrap();
    assert!(!minted.status.success(), "a node's bundle minted a token");
    assert!(String::from_utf8_lossy(&minted.stderr).contains("no local token issuer"), "{minted:?}");
}

/// gRPC over TLS: `concord up` with a server certificate and a client CA
/// answers only a client that trusts its CA and presents a certificate from
/// that CA; a plaintext client, one without the CA and one without a client
/// certificate are refused.
#[test]
fn grpc_over_tls_needs_the_ca_and_a_client_certificate() {
    use tonic::transport::{Certificate, ClientTlsConfig, Identity};
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_client::HealthClient;
    let certs = common::nats::certs();
    let dir = tempfile::tempdir().unwrap();
    let grpc = free_port();
    let pem = |name: &str| std::fs::read(certs.join(name)).unwrap();
    let tls = [
        "--tls-cert".to_string(),
        certs.join("grpc-server.pem").display().to_string(),
        "--tls-key".into(),
        certs.join("grpc-server.key").display().to_string(),
        "--tls-client-ca".into(),
        certs.join("ca.pem").display().to_string(),
    ];
    let up = common::process::spawn_up(dir.path(), &dir.path().join("data"), grpc, &tls);
    let https = format!("https://127.0.0.1:{grpc}");
    let trusting = || ClientTlsConfig::new().ca_certificate(Certificate::from_pem(pem("ca.pem")));
    let with_certificate = trusting().identity(Identity::from_pem(pem("client-user.pem"), pem("client-user.key")));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let check = |addr: &str, tls: Option<ClientTlsConfig>| {
        rt.block_on(async {
            let channel = concord::client::connect_tls(addr, tls).await.map_err(|e| format!("{e:#}"))?;
            HealthClient::new(channel).check(HealthCheckRequest::default()).await.map_err(|e| e.to_string())?;
            Ok::<(), String>(())
        })
    };
    let started = std::time::Instant::now();
    while let Err(e) = check(&https, Some(with_certificate.clone())) {
        assert!(started.elapsed() < Duration::from_secs(60), "never answered over TLS ({e}):\n{}", up.output());
        std::thread::sleep(Duration::from_millis(200));
    }
    let others_ca = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(pem("route-ca.pem")));
    for (what, addr, tls) in [
        ("plaintext", format!("http://127.0.0.1:{grpc}"), None),
        ("a client trusting another CA", https.clone(), Some(others_ca)),
        ("a client without a certificate", https.clone(), Some(trusting())),
    ] {
        assert!(check(&addr, tls).is_err(), "{what} was answered");
    }
    // The CLI: --ca and a client certificate are required for an https:// address.
    let no_ca = concord::client::connect_tls(&https, None);
    assert!(rt.block_on(no_ca).unwrap_err().to_string().contains("--ca"));
}

/// Plaintext gRPC is for loopback only: `serve` and `node` refuse to listen
/// on any other address without a certificate, naming the flag.
#[test]
fn plaintext_grpc_off_loopback_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().display().to_string();
    for command in [
        vec!["serve", "--nats", "tls://127.0.0.1:1", "--grpc", "0.0.0.0:0", "--data", &data],
        vec![
            "node",
            "--agency",
            "police.met.nw",
            "--nats",
            "tls://127.0.0.1:1",
            "--grpc",
            "0.0.0.0:0",
            "--data",
            &data,
        ],
        vec!["up", "--no-simulate", "--grpc", "0.0.0.0:0", "--data", &data],
    ] {
        let out = common::process::concord(&command);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{command:?} started");
        assert!(stderr.contains("--tls-cert"), "{command:?} did not name the flag: {stderr}");
    }
}
