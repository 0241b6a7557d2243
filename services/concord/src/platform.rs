//! Assembling the parts of the data path into one running platform.
//!
//! `concord up` and the integration tests both start the platform through
//! [`Platform::start`], so what is tested is what runs.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use concord_audit::{AUDIT_LOG_ORIGIN, AuditLog, AuditReplica, Recorder};
use concord_briefing::{BriefingApi, BriefingStore, BriefingTime};
use concord_bus::{EmbeddedBus, EventBus, NatsBus, NatsConfig, audit_query_subject};
use concord_core::AgencyId;
use concord_core::sign::KeyRegistry;
use concord_directory::Directory;
use concord_identity::{OidcConfig, Verifier};
use concord_ledger::{Ledger, Quarantine, Role};
use concord_lifecycle::{AdminApi, RetentionRules};
use concord_log::kv::{self, Engine};
use concord_log::log::Log;
use concord_node::{Node, Outbox};
use concord_policy::CedarAgreement;
use concord_query::replay::Pseudonyms;
use concord_read::Views;
use concord_vault::{CachedKeyStore, DirKeyStore, Vault};

use crate::layout::{AUDIENCE, LOCAL_ISSUER, Layout};

/// The origin line of the event log's checkpoints.
pub const EVENT_LOG_ORIGIN: &str = "concord.local/events";

/// What to start.
#[derive(Debug, Clone)]
pub struct PlatformConfig {
    /// The data directory.
    pub data: PathBuf,
    /// The storage engine for every store.
    pub engine: Engine,
    /// The agencies whose nodes run in this process.
    pub agencies: Vec<AgencyId>,
    /// NATS JetStream instead of the embedded bus.
    pub nats: Option<NatsConfig>,
    /// The sharing agreement's directory; `None`: the built-in default.
    pub policy: Option<PathBuf>,
    /// When the daily briefing is.
    pub briefing_time: BriefingTime,
    /// The partnership's OpenID Connect provider; `None`: the local issuer.
    pub oidc: Option<OidcConfig>,
}

/// Connects the bus a configuration asks for.
pub async fn connect_bus(nats: Option<&NatsConfig>) -> Result<Arc<dyn EventBus>> {
    Ok(match nats {
        None => Arc::new(EmbeddedBus::new()),
        Some(config) => connect_nats(config).await?,
    })
}

/// Connects to NATS.
pub async fn connect_nats(config: &NatsConfig) -> Result<Arc<NatsBus>> {
    let bus =
        NatsBus::connect(config).await.with_context(|| format!("connecting to NATS at {}", redact_url(&config.url)))?;
    Ok(Arc::new(bus))
}

/// Loads the sharing agreement from `dir` (or the built-in default),
/// refusing one that does not parse or breaks its schema.
pub fn load_policy(dir: Option<&Path>) -> Result<Arc<CedarAgreement>> {
    let agreement = match dir {
        Some(dir) => CedarAgreement::load(dir),
        None => CedarAgreement::builtin(),
    };
    let agreement = agreement.context("the sharing agreement is invalid, so Concord will not start")?;
    tracing::info!(policy_hash = %concord_policy::Policy::policy_hash(&agreement), "sharing agreement loaded");
    Ok(Arc::new(agreement))
}

/// Loads the retention rules beside the sharing agreement in `dir`
/// (`retention.toml`), or the built-in ones; a file that does not check
/// stops the start, naming its line.
pub fn load_retention(dir: Option<&Path>) -> Result<Arc<RetentionRules>> {
    let rules = match dir {
        Some(dir) if dir.join(concord_lifecycle::retention::FILE_NAME).exists() => RetentionRules::load(dir),
        Some(dir) => {
            tracing::warn!(dir = %dir.display(), "no retention.toml beside the agreement: the built-in retention rules apply");
            RetentionRules::builtin()
        }
        None => RetentionRules::builtin(),
    };
    Ok(Arc::new(rules.context("the retention rules are invalid, so Concord will not start")?))
}

/// Reloads the sharing agreement from `dir` whenever the process gets
/// SIGHUP. A new agreement that does not check is refused (logged, naming the
/// line) and the one in force stays; the built-in agreement has nothing to
/// reload.
pub fn reload_policy_on_hangup(views: Arc<Views>, dir: Option<PathBuf>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        // Listening starts here, before the caller reports itself ready, so
        // a SIGHUP after that never meets the default action (exit).
        let Ok(mut hangups) = signal(SignalKind::hangup()) else {
            tracing::warn!("cannot listen for SIGHUP: the sharing agreement will not be reloaded");
            return;
        };
        tokio::spawn(async move {
            while hangups.recv().await.is_some() {
                let Some(dir) = &dir else {
                    tracing::info!(
                        "SIGHUP: the built-in sharing agreement is in force; start with --policy DIR to reload one"
                    );
                    continue;
                };
                match CedarAgreement::load(dir) {
                    Ok(agreement) => {
                        let hash = concord_policy::Policy::policy_hash(&agreement).to_string();
                        views.set_policy(Arc::new(agreement));
                        tracing::info!(policy_hash = %hash, "SIGHUP: sharing agreement reloaded and in force");
                    }
                    Err(e) => {
                        let kept = views.policy().policy_hash().to_string();
                        tracing::error!(error = %e, policy_hash = %kept, "SIGHUP: new sharing agreement refused; the one in force stays");
                    }
                }
            }
        });
    }
    #[cfg(not(unix))]
    let _ = (views, dir);
}

/// Opens a store of the data directory with the chosen engine.
pub fn open_store(layout: &Layout, engine: Engine, name: &str) -> Result<Arc<dyn concord_log::kv::Kv>> {
    let dir = layout.store(name);
    kv::open(engine, &dir).with_context(|| format!("opening the {name} store in {}", dir.display()))
}

/// Where a reader remembers the keys of the sealed records it has opened
/// (masked with the subjects' keys; a cache that may be deleted while the
/// process is down).
pub fn open_opened_keys(layout: &Layout, engine: Engine) -> Result<concord_core::seal::OpenedKeys> {
    let dir = layout.store("opened-keys");
    let store = concord_vault::OpenedStore::open(engine, &dir)
        .with_context(|| format!("opening the opened records' keys in {}", dir.display()))?;
    Ok(store.into_opened_keys())
}

/// Keeps the reader's opened records' keys ahead of the log on a thread of
/// its own (see [`Views::open_ahead`]), until `views` is dropped.
pub fn open_ahead(views: &Arc<Views>) {
    let views = Arc::downgrade(views);
    let spawned = std::thread::Builder::new().name("open-ahead".into()).spawn(move || {
        loop {
            let Some(v) = views.upgrade() else { return };
            let pause = match v.open_ahead(256) {
                Ok(0) => std::time::Duration::from_secs(1),
                Ok(_) => std::time::Duration::ZERO,
                Err(error) => {
                    tracing::warn!(%error, "cannot open records ahead of readers; trying again");
                    std::time::Duration::from_secs(10)
                }
            };
            drop(v);
            std::thread::sleep(pause);
        }
    });
    if let Err(error) = spawned {
        tracing::warn!(%error, "cannot start opening records ahead of readers; they will be opened as read");
    }
}

/// The partnership directory over `views`, its index in the data
/// directory's `directory` store, its key kept in `vault` (made on first
/// use, the same for every replica sharing the key store); kept up to date
/// with the log on a thread of its own.
pub async fn open_directory(
    layout: &Layout,
    engine: Engine,
    views: &Arc<Views>,
    vault: &Arc<Vault>,
) -> Result<Arc<Directory>> {
    let secret = vault.secret(concord_directory::DIRECTORY_SECRET).await.context("the directory's key")?;
    let key = concord_directory::DirectoryKey::new(secret.0);
    let directory =
        Arc::new(Directory::new(views.clone(), open_store(layout, engine, "directory")?, key, vault.clone()));
    index_ahead(&directory);
    Ok(directory)
}

/// Keeps the directory's index up to date with the log on a thread of its
/// own (a search also catches up first), until `directory` is dropped.
fn index_ahead(directory: &Arc<Directory>) {
    let directory = Arc::downgrade(directory);
    let spawned = std::thread::Builder::new().name("directory".into()).spawn(move || {
        loop {
            let Some(d) = directory.upgrade() else { return };
            let pause = match d.index_ahead(256) {
                Ok(0) => std::time::Duration::from_secs(1),
                Ok(_) => std::time::Duration::ZERO,
                Err(error) => {
                    tracing::warn!(%error, "cannot index the directory; trying again");
                    std::time::Duration::from_secs(10)
                }
            };
            drop(d);
            std::thread::sleep(pause);
        }
    });
    if let Err(error) = spawned {
        tracing::warn!(%error, "cannot start indexing the directory; searches will index as they come");
    }
}

/// Opens the event log of a data directory.
pub fn open_log(layout: &Layout, engine: Engine) -> Result<Arc<Log>> {
    let log = Log::open(open_log_store(layout, engine)?, EVENT_LOG_ORIGIN, layout.checkpoint_signing_key()?)
        .context("opening the event log")?;
    upgraded(log)
}

/// The event log, brought up to date with what this version indexes.
fn upgraded(log: Log) -> Result<Arc<Log>> {
    let removed = concord_eventlog::upgrade(&log).context("bringing the event log's indexes up to date")?;
    if removed > 0 {
        tracing::info!(rows = removed, "removed the event log's rows of indexes nothing reads");
    }
    Ok(Arc::new(log))
}

/// The event log's store, with the larger page cache every read goes through.
fn open_log_store(layout: &Layout, engine: Engine) -> Result<Arc<dyn concord_log::kv::Kv>> {
    let dir = layout.store("log");
    kv::open_with_cache(engine, &dir, kv::LOG_CACHE_BYTES)
        .with_context(|| format!("opening the log store in {}", dir.display()))
}

/// Opens the audit log of a data directory (its own Merkle log, checkpoints
/// signed with the ledger's key under the audit origin), and the recorder
/// reads are recorded with. Alone, records go straight into the local log;
/// over NATS (`nats`, with this replica's name) they go to the audit stream,
/// which this replica follows into its local log in the background. Needs a
/// runtime.
pub async fn open_audit(
    layout: &Layout,
    engine: Engine,
    nats: Option<(&NatsConfig, &str)>,
) -> Result<(Arc<AuditLog>, Arc<Recorder>)> {
    let log = Log::open(open_store(layout, engine, "audit")?, AUDIT_LOG_ORIGIN, layout.checkpoint_signing_key()?)
        .context("opening the audit log")?;
    let audit = Arc::new(AuditLog::new(Arc::new(log)));
    let upgraded = audit.upgrade().context("bringing the audit log's indexes up to date")?;
    if upgraded > 0 {
        tracing::info!(rows = upgraded, "removed the audit log's index by event id (records are found by subject now)");
    }
    let Some((config, replica)) = nats else {
        let recorder = Arc::new(Recorder::local(&audit));
        return Ok((audit, recorder));
    };
    if !concord_bus::valid_replica_name(replica) {
        anyhow::bail!("the replica name `{replica}` may use only letters, digits, `-` and `_`");
    }
    let bus = connect_nats(config).await?;
    let quarantine = Arc::new(Quarantine::open(open_store(layout, engine, "audit-quarantine")?)?);
    let follower = Arc::new(AuditReplica::new(&audit, bus.clone(), quarantine));
    let durable = format!("audit-{replica}");
    tokio::spawn(async move {
        if let Err(e) = follower.run(&durable).await {
            tracing::error!(error = %e, "this replica stopped following the audit stream");
        }
    });
    let recorder = Arc::new(Recorder::stream(bus, audit_query_subject(replica)));
    Ok((audit, recorder))
}

/// How often a log that grew gets a new signed checkpoint, stored with it
/// (what `concord audit verify` checks against).
pub const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

/// Signs and stores a checkpoint of `log` every [`CHECKPOINT_EVERY`] while it
/// grows, so there is always a recent one to verify against.
pub fn checkpoint_periodically(log: Arc<Log>) {
    tokio::spawn(async move {
        let mut signed = 0;
        loop {
            tokio::time::sleep(CHECKPOINT_EVERY).await;
            if log.size() != signed {
                signed = log.size();
                store_checkpoint(&log).await;
            }
        }
    });
}

/// Signs and stores a checkpoint of `log` now (e.g. on a clean shutdown).
pub async fn store_checkpoint(log: &Arc<Log>) {
    let log = log.clone();
    match tokio::task::spawn_blocking(move || log.checkpoint()).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "could not store a checkpoint"),
        Err(e) => tracing::warn!(error = %e, "checkpoint task failed"),
    }
}

/// Loads the partnership's key registry.
pub fn load_registry(layout: &Layout) -> Result<KeyRegistry> {
    KeyRegistry::load(&layout.registry())
        .with_context(|| format!("no key registry at {}: run `concord keys` first", layout.registry().display()))
}

/// The token verifier: of the OpenID Connect provider `oidc` names (its
/// discovery document and keys are fetched now), or else of the local
/// issuer (its JWKS in the data directory's keys).
pub async fn load_verifier(layout: &Layout, oidc: Option<&OidcConfig>) -> Result<Arc<Verifier>> {
    let verifier = match oidc {
        Some(config) => Verifier::discover(config.clone()).await?,
        None => Verifier::from_jwks_file(&layout.jwks(), LOCAL_ISSUER, AUDIENCE)
            .with_context(|| format!("loading {}", layout.jwks().display()))?,
    };
    Ok(Arc::new(verifier))
}

/// Loads the partnership's key registry and the token verifier.
pub async fn load_trust(layout: &Layout, oidc: Option<&OidcConfig>) -> Result<(KeyRegistry, Arc<Verifier>)> {
    Ok((load_registry(layout)?, load_verifier(layout, oidc).await?))
}

/// The vault of subjects' keys: in the data directory's key directory, or,
/// when the parts talk over NATS, in the JetStream bucket every process
/// shares, with a local copy of the keys this process has used (kept in step
/// with the bucket, erasures included). Keys an older data directory kept in
/// its `vault` KV store are moved into the key directory first, and that
/// store is erased.
pub async fn open_vault(layout: &Layout, nats: Option<&NatsConfig>) -> Result<Vault> {
    let ring = layout.master_keys()?;
    let local = DirKeyStore::open(&layout.subject_keys())?;
    if let Some(moved) = concord_vault::dir::migrate_kv_store(&layout.store("vault"), &local)? {
        tracing::info!(moved, "subject keys moved from the old vault store into {}", layout.subject_keys().display());
    }
    Ok(match nats {
        None => Vault::local(local, ring),
        Some(config) => {
            let store = CachedKeyStore::connect(&config.url, config.replicas, config.manage_streams, local)
                .await
                .context("opening the shared subject key store")?;
            Vault::new(Arc::new(store), ring)
        }
    })
}

/// Whether a process can work: its log store answers and its bus is
/// connected (either may be absent).
pub fn readiness(log: Option<Arc<Log>>, bus: Option<Arc<dyn EventBus>>) -> concord_telemetry::Readiness {
    Arc::new(move || {
        if let Some(log) = &log {
            log.cursor(concord_follow::BUS_CURSOR).map_err(|e| format!("the log store: {e}"))?;
        }
        if let Some(bus) = &bus {
            bus.ready().map_err(|e| format!("the bus: {e}"))?;
        }
        Ok(())
    })
}

/// A NATS URL with any password replaced, for messages.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => format!("{}://***@{}", &url[..scheme], &url[at + 1..]),
        _ => url.to_string(),
    }
}

/// A running platform: ledger, nodes and the read side over one log.
pub struct Platform {
    /// The data directory layout.
    pub layout: Layout,
    /// The event log.
    pub log: Arc<Log>,
    /// Subjects' data keys.
    pub vault: Arc<Vault>,
    /// The ledger (consuming the bus in the background).
    pub ledger: Arc<Ledger>,
    /// The bus between nodes and ledger.
    pub bus: Arc<dyn EventBus>,
    /// One node per local agency.
    pub nodes: Vec<Arc<Node>>,
    /// Checks readers' tokens.
    pub verifier: Arc<Verifier>,
    /// The read side's decision point and views.
    pub views: Arc<Views>,
    /// The audit log (built from the audit stream over NATS).
    pub audit: Arc<AuditLog>,
    /// The secret of analysts' pseudonyms.
    pub replay_key: [u8; 32],
    /// Erasure, subject access and retention (`AdminService`).
    pub admin: Arc<AdminApi>,
    /// The daily VVE briefing (`BriefingService`).
    pub briefing: Arc<BriefingApi>,
    /// The partnership directory (`DirectoryService`).
    pub directory: Arc<Directory>,
}

impl Platform {
    /// Creates missing keys, opens the stores, starts the ledger and nodes on
    /// an embedded bus.
    pub async fn start(config: &PlatformConfig) -> Result<Platform> {
        let policy = load_policy(config.policy.as_deref())?;
        let retention = load_retention(config.policy.as_deref())?;
        let layout = Layout::new(&config.data);
        let agency_keys = layout.ensure_keys(&config.agencies)?;
        let open = |name: &str| {
            let dir = layout.store(name);
            kv::open(config.engine, &dir).with_context(|| format!("opening the {name} store in {}", dir.display()))
        };
        let log = upgraded(
            Log::open(open_log_store(&layout, config.engine)?, EVENT_LOG_ORIGIN, layout.ledger_signing_key()?)
                .context("opening the event log")?,
        )?;
        let vault = Arc::new(open_vault(&layout, config.nats.as_ref()).await?);
        let quarantine = Arc::new(Quarantine::open(open("quarantine")?)?);
        let registry = KeyRegistry::load(&layout.registry())?;
        let bus = connect_bus(config.nats.as_ref()).await?;
        if let Some(nats) = &config.nats {
            // Nodes elsewhere seal to public keys this process (holding the vault) gives.
            concord_bus::answer_seal_keys(&*connect_nats(nats).await?, vault.clone()).await?;
        }

        let ledger = Arc::new(Ledger::new(log.clone(), registry, bus.clone(), quarantine, Role::Writer));
        bus.answer_consent(concord_ledger::consent::answerer(log.clone())).await?;
        let running = ledger.clone();
        tokio::spawn(async move {
            if let Err(e) = running.run("ledger").await {
                tracing::error!(error = %e, "the ledger stopped");
            }
        });

        let mut nodes = Vec::new();
        for key in agency_keys {
            let outbox = Outbox::open(open(&format!("outbox/{}", key.agency()))?)?;
            nodes.push(Node::start(key, vault.clone(), bus.clone(), outbox).await?);
        }
        let verifier = load_verifier(&layout, config.oidc.as_ref()).await?;
        let (audit, recorder) = open_audit(&layout, config.engine, config.nats.as_ref().map(|n| (n, "up"))).await?;
        checkpoint_periodically(log.clone());
        checkpoint_periodically(audit.log().clone());
        let views = Arc::new(
            Views::new(log.clone(), policy, vault.clone(), recorder)
                .remembering(open_opened_keys(&layout, config.engine)?),
        );
        open_ahead(&views);
        reload_policy_on_hangup(views.clone(), config.policy.clone());
        let replay_key = layout.replay_key()?;
        let directory = open_directory(&layout, config.engine, &views, &vault).await?;
        let admin = Arc::new(
            AdminApi::new(views.clone(), vault.clone(), audit.clone(), retention, verifier.clone())
                .forgetting_in(directory.clone()),
        );
        let briefings = Arc::new(BriefingStore::new(open("briefings")?));
        let briefing =
            Arc::new(BriefingApi::new(views.clone(), verifier.clone(), briefings, config.briefing_time.clone()));
        Ok(Platform {
            layout,
            log,
            vault,
            ledger,
            bus,
            nodes,
            verifier,
            views,
            audit,
            replay_key,
            admin,
            briefing,
            directory,
        })
    }

    /// Whether it can work: the log store answers and the bus is connected.
    pub fn readiness(&self) -> concord_telemetry::Readiness {
        readiness(Some(self.log.clone()), Some(self.bus.clone()))
    }

    /// What this platform serves over gRPC.
    pub fn services(&self) -> crate::server::Services {
        crate::server::Services {
            verifier: self.verifier.clone(),
            recorder: self.views.recorder().clone(),
            views: Some(self.views.clone()),
            audit: Some(self.audit.clone()),
            replay: Some(Pseudonyms::new(self.replay_key, self.briefing.time().zone().clone())),
            log: Some(self.log.clone()),
            nodes: self.nodes.clone(),
            admin: Some(self.admin.clone()),
            briefing: Some(self.briefing.clone()),
            directory: Some(self.directory.clone()),
            ready: Some(self.readiness()),
        }
    }

    /// The node for an agency, if it runs here.
    pub fn node(&self, agency: &AgencyId) -> Option<&Arc<Node>> {
        self.nodes.iter().find(|n| n.agency() == agency)
    }
}
