//! Five agency nodes, a ledger and two query replicas as separate `concord`
//! processes over a real nats-server: every published event is queryable
//! exactly once, and the replicas report the same Merkle root.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::authorized;
use common::nats::{NatsServer, free_port};
use common::process::Proc;
use concord_core::pb;
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

async fn connect(port: u16) -> tonic::transport::Channel {
    for _ in 0..300 {
        if let Ok(c) = concord::client::connect(&format!("http://127.0.0.1:{port}")).await {
            return c;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("nothing listening on {port}");
}

#[test]
fn separate_processes_deliver_every_event_once_and_replicas_agree() {
    // The deploy config, with every process as its own NATS user.
    let nats = NatsServer::start_deploy();
    let work = tempfile::tempdir().unwrap();
    let keys_home = work.path().join("partnership");
    let status =
        Command::new(env!("CARGO_BIN_EXE_concord")).arg("keys").arg("--data").arg(&keys_home).output().unwrap();
    assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
    let keys = keys_home.join("keys").display().to_string();
    let dir = |name: &str| work.path().join(name).display().to_string();
    let s = |x: &str| x.to_string();

    let _ledger = Proc::spawn(
        "ledger",
        work.path(),
        &[s("ledger"), s("--data"), dir("ledger"), s("--keys"), keys.clone(), s("--nats"), nats.url_as("ledger")],
    );
    let mut replicas = Vec::new();
    let mut procs = Vec::new();
    for name in ["serve-a", "serve-b"] {
        let port = free_port();
        procs.push(Proc::spawn(
            name,
            work.path(),
            &[
                s("serve"),
                s("--data"),
                dir(name),
                s("--keys"),
                keys.clone(),
                s("--nats"),
                nats.url_as("query"),
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
                keys.clone(),
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
        let issuer = concord::layout::Layout::new(&keys_home).issuer().unwrap();
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
    });
}
