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
    /// Serve the console over HTTPS with this certificate chain (PEM): its
    /// session cookie is then Secure (`__Host-`), and browsers are told to
    /// come back only over HTTPS (HSTS).
    #[arg(long, env = "CONCORD_WEB_TLS_CERT", requires = "web_tls_key", value_name = "CHAIN.pem")]
    pub web_tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM).
    #[arg(long, env = "CONCORD_WEB_TLS_KEY", requires = "web_tls_cert", value_name = "KEY.pem")]
    pub web_tls_key: Option<PathBuf>,
    /// The console's address as browsers reach it (e.g.
    /// https://concord.example.org). With --oidc-issuer, readers sign in with
    /// that provider, which must know URL/sign-in/callback as a redirect URI
    /// (and URL/sign-in as where to return after signing out).
    #[arg(long, env = "CONCORD_WEB_URL", requires = "oidc_issuer", value_name = "URL")]
    pub web_url: Option<String>,
    /// The console's client id at the provider (default: --oidc-audience).
    #[arg(long, env = "CONCORD_WEB_CLIENT_ID", requires = "web_url")]
    pub web_client_id: Option<String>,
    /// A file holding the console's client secret at the provider, for a
    /// confidential client (sent by HTTP Basic). Never on the command line.
    #[arg(long, env = "CONCORD_WEB_CLIENT_SECRET_FILE", requires = "web_url", value_name = "FILE")]
    pub web_client_secret_file: Option<PathBuf>,
}

impl WebArg {
    /// `console` with the ward boundaries of `--wards`, if given.
    pub fn with_wards(&self, console: Console) -> Result<Console> {
        let Some(path) = &self.wards else { return Ok(console) };
        let wards = concord_web::geo::Wards::load(path).with_context(|| format!("--wards {}", path.display()))?;
        Ok(console.with_wards(Arc::new(wards)))
    }

    /// `console` over TLS with the certificate of `--web-tls-cert` and
    /// `--web-tls-key`, if given.
    pub fn with_tls(&self, console: Console) -> Result<Console> {
        let (Some(cert), Some(key)) = (&self.web_tls_cert, &self.web_tls_key) else { return Ok(console) };
        let tls = concord_web::tls::Tls::from_pem(&crate::tls::read(cert)?, &crate::tls::read(key)?)?;
        Ok(console.with_tls(tls))
    }

    /// The sign-in with the OpenID Connect provider `oidc`, whose tokens
    /// `door` (the platform's verifier) accepts: needs `--web-url`; without
    /// it the console has no sign-in, and says so. Reads the provider's
    /// discovery document and keys now.
    pub async fn provider_sign_in(
        &self,
        oidc: &concord_identity::OidcConfig,
        door: Arc<concord_identity::Verifier>,
    ) -> Result<SignIn> {
        let Some(url) = &self.web_url else {
            tracing::warn!(
                "the web console has no sign-in: give --web-url to sign in with the OpenID Connect provider"
            );
            return Ok(SignIn::None);
        };
        let url = url.parse().with_context(|| format!("--web-url {url}"))?;
        let secret = match &self.web_client_secret_file {
            Some(path) => {
                let secret = String::from_utf8(crate::tls::read(path)?)
                    .with_context(|| format!("{}: not text", path.display()))?;
                let secret = secret.trim();
                anyhow::ensure!(!secret.is_empty(), "{}: holds no client secret", path.display());
                Some(secret.to_string())
            }
            None => None,
        };
        let id = self.web_client_id.clone().unwrap_or_else(|| oidc.audience.clone());
        let client = concord_web::oidc::Client { id, secret, url };
        Ok(SignIn::Oidc(Arc::new(concord_web::oidc::Oidc::discover(oidc, client, door).await?)))
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
    if !bound.ip().is_loopback() && !console.over_tls() {
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
