//! Operators' metrics, read by a real Prometheus server (Debian's package,
//! installed into .tools by `make test-deps`): it scrapes `concord up`'s
//! `/metrics`, and the counters it stores match what the test did. Health
//! and readiness answer on the same port.

use crate::common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::nats::free_port;
use common::{arrest, authorized};
use concord_core::pb;
use concord_core::pb::publish_service_client::PublishServiceClient;
use concord_core::pb::query_service_client::QueryServiceClient;
use concord_identity::{Purpose, Role};

/// A plain HTTP/1.0 GET: (status code, body).
fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split_whitespace().nth(1)?.parse().ok()?;
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    Some((status, body))
}

fn prometheus_bin() -> PathBuf {
    let local = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.tools/prometheus/usr/bin/prometheus");
    if local.exists() {
        return local;
    }
    which("prometheus")
        .unwrap_or_else(|| panic!("no prometheus: run `make test-deps` (it installs Debian's package into .tools)"))
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?.to_str()?.split(':').map(|d| PathBuf::from(d).join(name)).find(|p| p.exists())
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Asks Prometheus for `query`'s single value, if it has one yet.
fn query(prometheus: u16, query: &str) -> Option<f64> {
    let encoded: String = query
        .bytes()
        .map(|b| if b.is_ascii_alphanumeric() || b == b'_' { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect();
    let (_, body) = get(prometheus, &format!("/api/v1/query?query={encoded}"))?;
    let json: serde_json::Value = serde_json::from_str(&body).ok()?;
    json["data"]["result"][0]["value"][1].as_str()?.parse().ok()
}

#[test]
fn prometheus_scrapes_counters_that_match_what_happened() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (grpc, metrics) = (free_port(), free_port());
    let up = common::process::spawn_up(dir.path(), &data, grpc, &["--metrics".into(), format!("127.0.0.1:{metrics}")]);
    let started = Instant::now();
    while get(metrics, "/healthz").is_none() {
        assert!(started.elapsed() < Duration::from_secs(60), "no metrics port:\n{}", up.output());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(get(metrics, "/healthz").unwrap(), (200, "ok\n".to_string()));
    assert_eq!(get(metrics, "/readyz").unwrap(), (200, "ready\n".to_string()));
    // Transparent huge pages are off for the process (they kept memory the
    // allocator had freed resident; see tests/bench/profiles/README.md).
    let status = std::fs::read_to_string(format!("/proc/{}/status", up.pid().unwrap())).unwrap();
    if status.contains("THP_enabled") {
        assert!(status.contains("THP_enabled:\t0"), "{status}");
    }

    let layout = concord::layout::Layout::new(&data);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let channel = concord::client::connect(&format!("http://127.0.0.1:{grpc}")).await.unwrap();
        let mint = |agency: &str, role: Role, purpose: Purpose| {
            let agency = common::agency(agency);
            layout.issuer().unwrap().mint("t", &agency, role, purpose, Duration::from_secs(600)).unwrap()
        };
        let police = mint("police.met.nw", Role::Practitioner, Purpose::CrimePrevention);
        let mut publish = PublishServiceClient::new(channel.clone());
        for _ in 0..4 {
            let request = pb::PublishRequest { event: Some(arrest("P-metric01", "")), wait_for_ledger: true };
            publish.publish(authorized(request, &police)).await.unwrap();
        }
        // A VCS worker may see none of them: its look is not counted as 4
        // withholdings, or the metrics would tell it how many there are.
        let vcs = mint("vcs.st-giles", Role::Practitioner, Purpose::Safeguarding);
        let mut reads = QueryServiceClient::new(channel);
        for token in [&police, &police, &vcs] {
            let subject = pb::SubjectRef { kind: pb::SubjectKind::Person as i32, key: "P-metric01".into() };
            let request = pb::SubjectTimelineRequest { subject: Some(subject), ..Default::default() };
            reads.subject_timeline(authorized(request, token)).await.unwrap();
        }
    });
    drop(rt);

    // A real Prometheus scrapes the port every second.
    let prometheus_port = free_port();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: concord\n    static_configs:\n      - targets: ['127.0.0.1:{metrics}']\n"
        ),
    )
    .unwrap();
    let _prometheus = Killed(
        Command::new(prometheus_bin())
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("tsdb").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{prometheus_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let expectations = [
        ("concord_events_published_total{agency=\"police.met.nw\"}", 4.0),
        ("concord_events_appended_total", 4.0),
        ("concord_rpcs_total{rpc=\"/concord.v1.PublishService/Publish\",outcome=\"ok\"}", 4.0),
        ("concord_rpcs_total{rpc=\"/concord.v1.QueryService/SubjectTimeline\",outcome=\"ok\"}", 3.0),
        ("concord_policy_decisions_total{outcome=\"show\"}", 8.0),
        ("absent(concord_policy_decisions_total{outcome=\"withhold\"})", 1.0),
        ("concord_outbox_depth{agency=\"police.met.nw\"}", 0.0),
        ("concord_rpc_seconds_count{rpc=\"/concord.v1.QueryService/SubjectTimeline\"}", 3.0),
        // 4 publishes and 3 reads, and the briefings the schedule published at start.
        ("concord_audit_write_seconds_count >= bool 7", 1.0),
        ("up{job=\"concord\"}", 1.0),
    ];
    let started = Instant::now();
    loop {
        let seen: Vec<(&str, Option<f64>)> =
            expectations.iter().map(|(q, _)| (*q, query(prometheus_port, q))).collect();
        if seen.iter().zip(&expectations).all(|((_, got), (_, want))| *got == Some(*want)) {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "Prometheus holds {seen:?}, want {expectations:?}");
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// gRPC health says NOT_SERVING while the bus is down, and SERVING again
/// once it is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn grpc_health_is_not_serving_while_the_bus_is_down() {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

    let mut nats = common::nats::NatsServer::start();
    let t = common::TestPlatform::start_nats(&nats.url()).await;
    let mut health = HealthClient::new(t.channel().await);
    let mut status_becomes = async |want: ServingStatus| {
        let started = Instant::now();
        loop {
            let request = HealthCheckRequest { service: String::new() };
            let status = health.check(request).await.unwrap().into_inner().status;
            if status == want as i32 {
                return;
            }
            assert!(started.elapsed() < Duration::from_secs(20), "health stayed {status}, want {want:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    status_becomes(ServingStatus::Serving).await;
    nats.stop();
    status_becomes(ServingStatus::NotServing).await;
    nats.restart();
    status_becomes(ServingStatus::Serving).await;
}
