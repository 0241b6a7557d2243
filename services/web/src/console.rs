//! The console as a server: its routes, and serving them on a listener,
//! over plain HTTP or TLS.

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use jiff::tz::TimeZone;
use tokio::net::TcpListener;

use crate::pages::{self, State};
use crate::services::Services;
use crate::session::{Cookie, Sessions};
use crate::signin::SignIn;
use crate::tls::{Tls, TlsListener};
use crate::{assets, security};

/// Why the console cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// The development sign-in may only be served on loopback.
    #[error("the development sign-in is served only on loopback, not on {0}")]
    DevelopmentSignInOffLoopback(std::net::SocketAddr),
    /// The sign-in with the identity provider needs TLS off loopback (its
    /// session cookies are Secure).
    #[error(
        "the sign-in with the identity provider is served off loopback only over TLS, not on http://{0}: \
         give the console a certificate (--web-tls-cert, --web-tls-key)"
    )]
    ProviderSignInWithoutTls(std::net::SocketAddr),
    /// The listener failed.
    #[error("the web console: {0}")]
    Io(#[from] std::io::Error),
}

/// The web console: the platform's services, and how readers sign in.
pub struct Console {
    state: Arc<State>,
    tls: Option<Tls>,
}

impl Console {
    /// A console reading through `services`, signing readers in as
    /// `sign_in` says, showing times in `zone`, served over plain HTTP.
    /// Readers who reach it at an `https://` address (through a proxy
    /// that ends TLS) get Secure cookies all the same.
    pub fn new(services: Services, sign_in: SignIn, zone: TimeZone) -> Console {
        let secure = matches!(&sign_in, SignIn::Oidc(oidc) if oidc.over_tls());
        let state =
            State { services, sessions: Sessions::default(), cookie: Cookie { secure }, sign_in, zone, wards: None };
        Console { state: Arc::new(state), tls: None }
    }

    /// The console served over TLS with `tls`: its session cookies Secure
    /// (`__Host-`), every answer saying to come back only over TLS (HSTS).
    /// Give it before making the router: a router made earlier keeps the
    /// console as it was.
    pub fn with_tls(mut self, tls: Tls) -> Console {
        if let Some(state) = Arc::get_mut(&mut self.state) {
            state.cookie = Cookie { secure: true };
            self.tls = Some(tls);
        }
        self
    }

    /// Whether it is served over TLS.
    pub fn over_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// The console with the wards' boundaries, so the hotspot page draws a
    /// map. Give them before making the router: a router made earlier keeps
    /// the console as it was.
    pub fn with_wards(mut self, wards: Arc<crate::geo::Wards>) -> Console {
        if let Some(state) = Arc::get_mut(&mut self.state) {
            state.wards = Some(wards);
        }
        self
    }

    /// The console's routes.
    pub fn router(&self) -> Router {
        let mut router = Router::new()
            .route("/", get(pages::signin::home))
            .route("/sign-in", get(pages::signin::form).post(pages::signin::submit))
            .route("/sign-in/start", get(pages::signin::start))
            .route("/sign-in/callback", get(pages::signin::callback))
            .route("/sign-out", post(pages::signin::sign_out))
            .route("/find", get(pages::find::form))
            .route("/find/key", post(pages::find::by_key))
            .route("/find/name", post(pages::find::by_name))
            .route("/subjects/{kind}/{key}", get(pages::timeline::page))
            .route("/events/{id}", get(pages::event::page))
            .route("/audit", get(pages::audit::form).post(pages::audit::search))
            .route("/analysis", get(pages::analysis::form).post(pages::analysis::run))
            .route("/hotspots", get(pages::hotspots::form).post(pages::hotspots::show))
            .route("/audit/export", post(pages::audit::export))
            .route("/audit/checkpoints", get(pages::checkpoints::page).post(pages::checkpoints::check))
            .route("/data-protection", get(pages::data_protection::requests))
            .route("/data-protection/file", get(pages::data_protection::file_form).post(pages::data_protection::file))
            .route(
                "/data-protection/requests/{id}",
                get(pages::data_protection::request_page).post(pages::data_protection::decide),
            )
            .route(
                "/data-protection/subject-access",
                get(pages::data_protection::access_form).post(pages::data_protection::subject_access),
            )
            .route(
                "/data-protection/retention",
                get(pages::data_protection::retention).post(pages::data_protection::retention_at),
            )
            .route("/publish", get(pages::publish::list))
            .route("/publish/{kind}", get(pages::publish::form).post(pages::publish::submit))
            .route("/cohorts", get(pages::cohort::list))
            .route("/cohorts/feed", post(pages::cohort::feed))
            .route("/briefing", get(pages::briefing::page))
            .route("/briefing/publish", post(pages::briefing::publish))
            .route("/briefing/published", get(pages::briefing::published))
            .route("/briefing/published/{id}", get(pages::briefing::published_one))
            .route("/briefing/actions/agree", post(pages::briefing::actions::agree))
            .route("/briefing/actions/change", post(pages::briefing::actions::change))
            .route("/assets/console.css", get(assets::stylesheet))
            .fallback(pages::not_found)
            .layer(axum::middleware::from_fn_with_state(self.state.clone(), pages::frame_problems))
            .with_state(self.state.clone());
        if matches!(self.state.sign_in, SignIn::Development(_)) {
            router = router.layer(axum::middleware::from_fn(security::loopback_only));
        }
        if self.tls.is_some() {
            router = router.layer(axum::middleware::from_fn(crate::tls::strict_transport));
        }
        router.layer(axum::middleware::from_fn(security::headers))
    }

    /// The console served on `listener` until `shutdown` completes, to be
    /// awaited; refused at once if it would serve the development sign-in
    /// off loopback, or the sign-in with the identity provider off loopback
    /// without TLS.
    pub fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<impl Future<Output = Result<(), WebError>> + Send, WebError> {
        let addr = listener.local_addr()?;
        if matches!(self.state.sign_in, SignIn::Development(_)) && !addr.ip().is_loopback() {
            return Err(WebError::DevelopmentSignInOffLoopback(addr));
        }
        if matches!(self.state.sign_in, SignIn::Oidc(_)) && self.tls.is_none() && !addr.ip().is_loopback() {
            return Err(WebError::ProviderSignInWithoutTls(addr));
        }
        let app = self.router().into_make_service_with_connect_info::<std::net::SocketAddr>();
        Ok(async move {
            match &self.tls {
                None => axum::serve(listener, app).with_graceful_shutdown(shutdown).await?,
                Some(tls) => {
                    // Tapped, axum gives any listener's peer address to the
                    // pages (untapped, only a plain TcpListener's).
                    let listener = TlsListener::new(listener, tls)?.tap_io(|tls| {
                        let _ = tls.get_ref().0.set_nodelay(true);
                    });
                    axum::serve(listener, app).with_graceful_shutdown(shutdown).await?
                }
            }
            Ok(())
        })
    }
}
