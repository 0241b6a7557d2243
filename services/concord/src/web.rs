//! The web console as the `concord` binary mounts it: the same query,
//! directory and audit services the gRPC server answers with, behind a door
//! of their own over the same token check and audit log, so a page view is
//! authorised, decided and recorded exactly as a gRPC call is.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use concord_alerts::AlertApi;
use concord_audit::Door;
use concord_directory::DirectoryApi;
use concord_node::PublishApi;
use concord_query::{AuditApi, LogApi, QueryApi, ReplayApi};
use concord_web::{Console, Services, SignIn};
use jiff::tz::TimeZone;
use tokio::net::TcpListener;

/// The console's address option.
#[derive(Debug, Clone, clap::Args)]
pub struct WebArg {
    /// Serve the web console on http://ADDR (e.g. 127.0.0.1:8080).
    #[arg(long = "web", env = "CONCORD_WEB")]
    pub web: Option<SocketAddr>,
    /// The wards' boundaries, for the console's hotspot map: a GeoJSON
    /// FeatureCollection of polygons, each naming its ward in the property
    /// `name` (deploy/wards/ has an illustrative one for the simulated
    /// borough). Without it, hotspots are a ranked table only.
    #[arg(long = "wards", env = "CONCORD_WARDS", value_name = "FILE.geojson")]
    pub wards: Option<PathBuf>,
}

impl WebArg {
    /// `console` with the ward boundaries of `--wards`, if given.
    pub fn with_wards(&self, console: Console) -> Result<Console> {
        let Some(path) = &self.wards else { return Ok(console) };
        let wards = concord_web::geo::Wards::load(path).with_context(|| format!("--wards {}", path.display()))?;
        Ok(console.with_wards(Arc::new(wards)))
    }
}

/// The console over what `services` serves (its query side, directory and
/// audit log; and where the process runs them, its nodes' publishing, the
/// briefing, alerts, data protection, replay and the log's checkpoints),
/// signing readers in as `sign_in` says; `None` if this process has no read
/// side.
pub fn console(services: &crate::server::Services, sign_in: SignIn, zone: TimeZone) -> Option<Console> {
    let (views, directory, audit) = (services.views.clone()?, services.directory.clone()?, services.audit.clone()?);
    let door = Door::new(services.verifier.clone(), services.recorder.clone());
    let events = views.log().clone();
    let publish = (!services.nodes.is_empty()).then(|| {
        let api = PublishApi::new(services.nodes.clone(), door.clone())
            .telling_unheard_alerts(crate::server::unheard_alerts(views.clone()));
        Arc::new(api) as _
    });
    let services = Services {
        query: Arc::new(QueryApi::new(views.clone(), door.clone())),
        directory: Arc::new(DirectoryApi::new(directory, door.clone())),
        audit: Arc::new(AuditApi::new(audit, events, door.clone())),
        log: services.log.clone().map(|log| Arc::new(LogApi::new(log, door.clone())) as _),
        publish,
        briefing: services.briefing.clone().map(|b| b as _),
        alerts: Some(Arc::new(AlertApi::new(views.clone(), door.clone())) as _),
        admin: services.admin.clone().map(|a| a as _),
        replay: services.replay.clone().map(|p| Arc::new(ReplayApi::new(views, door, p)) as _),
    };
    Some(Console::new(services, sign_in, zone))
}

/// Serves `console` on `addr` in the background; the address it listens on.
pub async fn start(console: Console, addr: SocketAddr) -> Result<SocketAddr> {
    let listener = TcpListener::bind(addr).await.with_context(|| format!("cannot serve the web console on {addr}"))?;
    let bound = listener.local_addr()?;
    if !bound.ip().is_loopback() {
        tracing::warn!(%bound, "the web console is served over plain HTTP off loopback: put TLS in front of it");
    }
    let serving = console.serve(listener, std::future::pending())?;
    tokio::spawn(async move {
        if let Err(error) = serving.await {
            tracing::error!(%error, "the web console stopped");
        }
    });
    Ok(bound)
}
