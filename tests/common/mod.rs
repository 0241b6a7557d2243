//! Helpers shared by the cross-service tests: a platform on a temp dir with
//! its gRPC server on a free port, tokens, and clients.
#![allow(dead_code)]

pub mod browser;
pub mod nats;
pub mod process;
pub mod sharing;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use concord::layout::Layout;
use concord::platform::{Platform, PlatformConfig};
use concord_core::AgencyId;
use concord_core::pb;
use concord_identity::{Purpose, Role};
use concord_log::kv::Engine;
use tokio::net::TcpListener;
use tonic::Request;
use tonic::transport::Channel;

/// A running in-process platform with its server.
pub struct TestPlatform {
    pub dir: tempfile::TempDir,
    pub platform: Arc<Platform>,
    pub addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

pub fn agencies() -> Vec<AgencyId> {
    ["police.met.nw", "childrens_services.harrow", "yot.harrow", "camhs.nwl", "vcs.st-giles"]
        .iter()
        .map(|a| AgencyId::parse(a).unwrap())
        .collect()
}

pub fn agency(id: &str) -> AgencyId {
    AgencyId::parse(id).unwrap()
}

impl TestPlatform {
    pub async fn start(engine: Engine) -> TestPlatform {
        Self::start_on(engine, None).await
    }

    /// A platform whose parts talk over NATS JetStream at `url`.
    pub async fn start_nats(url: &str) -> TestPlatform {
        let nats = concord_bus::NatsConfig { url: url.to_string(), replicas: 1, manage_streams: true };
        Self::start_on(Engine::Redb, Some(nats)).await
    }

    async fn start_on(engine: Engine, nats: Option<concord_bus::NatsConfig>) -> TestPlatform {
        Self::start_in(tempfile::tempdir().unwrap(), engine, nats).await
    }

    /// A platform over an existing data directory (e.g. one a test filled first).
    pub async fn start_in(
        dir: tempfile::TempDir,
        engine: Engine,
        nats: Option<concord_bus::NatsConfig>,
    ) -> TestPlatform {
        let config = PlatformConfig {
            data: dir.path().to_path_buf(),
            engine,
            agencies: agencies(),
            nats,
            policy: None,
            briefing_time: Default::default(),
            oidc: None,
        };
        Self::launch(dir, config).await
    }

    /// A platform (embedded bus, redb) with nodes for exactly `agencies`.
    pub async fn start_for(agencies: Vec<AgencyId>) -> TestPlatform {
        let dir = tempfile::tempdir().unwrap();
        let config = PlatformConfig {
            data: dir.path().to_path_buf(),
            engine: Engine::Redb,
            agencies,
            nats: None,
            policy: None,
            briefing_time: Default::default(),
            oidc: None,
        };
        Self::launch(dir, config).await
    }

    /// A platform (embedded bus, redb) whose tokens come from the OpenID
    /// Connect provider `oidc` names.
    pub async fn start_oidc(oidc: concord_identity::OidcConfig) -> TestPlatform {
        let dir = tempfile::tempdir().unwrap();
        let config = PlatformConfig {
            data: dir.path().to_path_buf(),
            engine: Engine::Redb,
            agencies: agencies(),
            nats: None,
            policy: None,
            briefing_time: Default::default(),
            oidc: Some(oidc),
        };
        Self::launch(dir, config).await
    }

    async fn launch(dir: tempfile::TempDir, config: PlatformConfig) -> TestPlatform {
        let platform = Arc::new(Platform::start(&config).await.unwrap());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let serving = platform.clone();
        tokio::spawn(async move {
            concord::server::serve(serving.services(), listener, None, async {
                let _ = rx.await;
            })
            .await
            .unwrap();
        });
        TestPlatform { dir, platform, addr, shutdown: Some(tx) }
    }

    pub fn layout(&self) -> Layout {
        Layout::new(self.dir.path())
    }

    pub fn token(&self, agency: &str, role: Role, purpose: Purpose) -> String {
        self.layout()
            .issuer()
            .unwrap()
            .mint("tester", &AgencyId::parse(agency).unwrap(), role, purpose, Duration::from_secs(600))
            .unwrap()
    }

    pub async fn channel(&self) -> Channel {
        concord::client::connect(&format!("http://{}", self.addr)).await.unwrap()
    }

    /// Waits until the log holds `size` entries.
    pub async fn wait_for_size(&self, size: u64) {
        self.wait_for_size_within(size, Duration::from_secs(5)).await;
    }

    /// Waits up to `limit` until the log holds `size` entries.
    pub async fn wait_for_size_within(&self, size: u64, limit: Duration) {
        for _ in 0..limit.as_millis() / 25 {
            if self.platform.log.size() >= size {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("log reached {} of {size} entries", self.platform.log.size());
    }
}

impl Drop for TestPlatform {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// The briefing of `token`'s agency for the two hours around now (what
/// was just published falls in it).
pub async fn briefing_around_now(t: &TestPlatform, token: &str) -> pb::Briefing {
    let now = concord_core::now_millis();
    let window = pb::GenerateBriefingRequest {
        from: Some(concord_core::timestamp(now - 3_600_000)),
        to: Some(concord_core::timestamp(now + 3_600_000)),
        ..Default::default()
    };
    let mut client = pb::briefing_service_client::BriefingServiceClient::new(t.channel().await);
    client.generate(authorized(window, token)).await.unwrap().into_inner()
}

/// A channel to a gRPC server on `port` of this machine, once something
/// listens there (up to 30 seconds).
pub async fn try_connect(port: u16) -> Option<Channel> {
    for _ in 0..300 {
        if let Ok(c) = concord::client::connect(&format!("http://127.0.0.1:{port}")).await {
            return Some(c);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

/// As [`try_connect`], failing the test if nothing listens.
pub async fn connect(port: u16) -> Channel {
    try_connect(port).await.unwrap_or_else(|| panic!("nothing listening on {port}"))
}

pub fn authorized<T>(message: T, token: &str) -> Request<T> {
    concord::client::authorized(message, token).unwrap()
}

/// A valid arrest submission about `subject`.
pub fn arrest(subject: &str, notes: &str) -> pb::Event {
    let mut text = std::collections::HashMap::new();
    if !notes.is_empty() {
        text.insert("notes".to_string(), notes.to_string());
    }
    pb::Event {
        agency_id: "police.met.nw".into(),
        agency_kind: pb::AgencyKind::Police as i32,
        subjects: vec![pb::SubjectRef { kind: pb::SubjectKind::Person as i32, key: subject.into() }],
        occurred_at: Some(pbjson_types::Timestamp { seconds: 1_790_000_000, nanos: 0 }),
        borough: "Harrow".into(),
        ward: "Wealdstone".into(),
        classification: pb::Classification::OfficialSensitive as i32,
        lawful_basis: vec![pb::LawfulBasis::Safeguarding as i32],
        schema_version: 1,
        personal: Some(pb::Personal {
            identities: vec![pb::Identity {
                subject_key: subject.into(),
                name: "Jordan Testcase".into(),
                date_of_birth: "2009-02-03".into(),
                ..Default::default()
            }],
            text,
        }),
        body: Some(pb::event::Body::Arrest(pb::Arrest {
            offence_category: "possession_of_weapons".into(),
            gravity_score: 3,
            first_arrest: true,
            custody_outcome: pb::CustodyOutcome::Bailed as i32,
            weapon: true,
        })),
        ..Default::default()
    }
}

/// `event` (e.g. an [`arrest`]) re-made as a CAMHS assessment contact:
/// special category data.
pub fn as_camhs_contact(mut event: pb::Event) -> pb::Event {
    event.agency_id = "camhs.nwl".into();
    event.agency_kind = pb::AgencyKind::Camhs as i32;
    event.classification = pb::Classification::SpecialCategory as i32;
    event.body = Some(pb::event::Body::CamhsContact(pb::CamhsContact {
        stage: pb::CamhsStage::Assessment as i32,
        ..Default::default()
    }));
    event
}

/// `event` (e.g. an [`arrest`]) re-made as the YOT's low-risk AssetPlus rating.
pub fn as_yot_rating(mut event: pb::Event) -> pb::Event {
    event.agency_id = "yot.harrow".into();
    event.agency_kind = pb::AgencyKind::Yot as i32;
    event.body = Some(pb::event::Body::AssetPlusRating(pb::AssetPlusRating {
        intervention_level: pb::InterventionLevel::Standard as i32,
        risk_of_serious_harm: pb::RiskLevel::Low as i32,
        vulnerability: pb::RiskLevel::Low as i32,
        mappa_screening: false,
    }));
    event
}

/// One agency's node in this process, over NATS at `url` (credentials in the
/// URL), opened as `concord node` opens it: its signing key from `layout`,
/// subject keys in the shared bucket (created here only with
/// `create_bucket`) with a local cache, its outbox in `outbox/<agency>`.
pub async fn nats_node(layout: &Layout, agency: &AgencyId, url: &str) -> Arc<concord_node::Node> {
    let key = concord_core::sign::AgencyKey::load(agency.clone(), &layout.agency_key(agency)).unwrap();
    let nats = concord_bus::NatsConfig { url: url.to_string(), replicas: 1, manage_streams: false };
    let outbox = concord_node::Outbox::open(
        concord::platform::open_store(layout, Engine::Redb, &format!("outbox/{agency}")).unwrap(),
    )
    .unwrap();
    let bus = concord::platform::connect_nats(&nats).await.unwrap();
    let keys = Arc::new(concord_bus::RemoteSealKeys::new(&bus, agency));
    concord_node::Node::start(key, keys, bus, outbox).await.unwrap()
}

/// Gives nodes their subjects' public sealing keys over NATS at `url`, as a
/// query replica does, from a vault in `layout` (creating the key bucket if
/// `create_bucket`), until the runtime ends.
pub async fn seal_key_service(layout: &Layout, url: &str, create_bucket: bool) {
    let nats = concord_bus::NatsConfig { url: url.to_string(), replicas: 1, manage_streams: create_bucket };
    let vault = Arc::new(concord::platform::open_vault(layout, Some(&nats)).await.unwrap());
    let bus = concord::platform::connect_nats(&nats).await.unwrap();
    concord_bus::answer_seal_keys(&bus, vault).await.unwrap();
}

/// Publishes `count` events from `make` through `node`, `concurrency` at a
/// time (so the outbox groups them), returning their ids.
pub async fn publish_many(
    node: &Arc<concord_node::Node>,
    count: usize,
    concurrency: usize,
    make: impl Fn(usize) -> pb::Event,
) -> Vec<String> {
    use futures::StreamExt;
    let events: Vec<pb::Event> = (0..count).map(make).collect();
    futures::stream::iter(events)
        .map(|event| {
            let node = node.clone();
            async move { node.publish(event, None).await.unwrap().event_id.to_string() }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await
}

/// Waits until `node` has a receipt for everything it published.
pub async fn wait_outbox_empty(node: &concord_node::Node, limit: Duration) {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let depth = node.outbox_stats().depth;
        if depth == 0 {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "{depth} events never receipted");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Publishes `event` over gRPC to `t` with `token`, waiting for the ledger.
pub async fn publish(t: &TestPlatform, event: pb::Event, token: &str) -> Result<pb::PublishResponse, tonic::Status> {
    let mut client = concord_core::pb::publish_service_client::PublishServiceClient::new(t.channel().await);
    client
        .publish(authorized(pb::PublishRequest { event: Some(event), wait_for_ledger: true }, token))
        .await
        .map(|r| r.into_inner())
}
