//! The pages, and what every page shares: the console's state, who is
//! visiting ([`Visit`]), and the frame around each page ([`Frame`]).
//!
//! Each page that shows data makes exactly one call to the platform's
//! services, so each page view is one access record naming what it showed.

pub mod analysis;
pub mod audit;
pub mod briefing;
pub mod checkpoints;
pub mod cohort;
pub mod data_protection;
pub mod event;
pub mod find;
pub mod hotspots;
pub mod publish;
pub mod signin;
pub mod timeline;

use std::net::SocketAddr;
use std::sync::Arc;

use askama::Template;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::response::Html;
use jiff::tz::TimeZone;

use crate::problem::Problem;
use crate::services::{Reader, Services};
use crate::session::{Cookie, Session, Sessions, User};
use crate::signin::SignIn;

/// What every page handler is given.
pub struct State {
    /// The platform's services.
    pub services: Services,
    /// Live sessions.
    pub sessions: Sessions,
    /// The session cookie.
    pub cookie: Cookie,
    /// How readers sign in.
    pub sign_in: SignIn,
    /// The partnership's time zone, for times shown.
    pub zone: TimeZone,
    /// The wards' boundaries, for the hotspot map (`--wards`), if configured.
    pub wards: Option<Arc<crate::geo::Wards>>,
}

/// The signed-in reader, as the page header shows them.
pub struct Who {
    /// Their agency.
    pub agency: String,
    /// Their role.
    pub role: String,
    /// Their purpose.
    pub purpose: String,
    /// Whether their role publishes events (the menu's Publish and Cohorts).
    pub publishes: bool,
}

/// What the frame around every page needs: who is signed in (for the
/// header and its sign-out form) and the session's CSRF token.
#[derive(Default)]
pub struct Frame {
    /// Who is signed in.
    pub user: Option<Who>,
    /// The session's CSRF token.
    pub csrf: String,
}

impl Frame {
    /// The frame of a page for nobody in particular (a problem page).
    pub fn anonymous() -> Frame {
        Frame::default()
    }

    /// The frame of `session`'s pages.
    pub fn of(session: &Session) -> Frame {
        Frame {
            user: session.user.as_ref().map(|u| Who {
                agency: u.agency.to_string(),
                role: u.role.to_string(),
                purpose: u.purpose.to_string(),
                publishes: publish::role_publishes(u.role),
            }),
            csrf: session.csrf.clone(),
        }
    }
}

/// A page view by a signed-in reader: their session and where they are.
pub struct Visit {
    /// The session's id.
    pub id: String,
    /// The session.
    pub session: Session,
    /// Who is signed in.
    pub user: User,
    /// The browser's address.
    pub peer: SocketAddr,
}

impl Visit {
    /// Who the page's service calls are made as.
    pub fn reader(&self) -> Reader<'_> {
        Reader { token: &self.user.token, peer: self.peer }
    }

    /// The page frame.
    pub fn frame(&self) -> Frame {
        Frame::of(&self.session)
    }

    /// Refuses a form that does not carry this session's CSRF token.
    pub fn check(&self, csrf: &str) -> Result<(), Problem> {
        if self.session.csrf_matches(csrf) { Ok(()) } else { Err(Problem::Forged) }
    }
}

/// The browser's address (unspecified if the server was not told).
fn peer(parts: &Parts) -> SocketAddr {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0)
        .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)))
}

impl FromRequestParts<Arc<State>> for Visit {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<State>) -> Result<Self, Problem> {
        let id = state.cookie.id(&parts.headers).ok_or(Problem::SignIn)?;
        let session = state.sessions.get(&id).ok_or(Problem::SignIn)?;
        let session = signin::keep_signed_in(state, &id, session).await?;
        let user = session.user.clone().ok_or(Problem::SignIn)?;
        Ok(Visit { id, session, user, peer: peer(parts) })
    }
}

/// A rendered page.
pub fn render(page: &impl Template) -> Result<Html<String>, Problem> {
    Ok(Html(page.render()?))
}

/// Frames a problem page for the signed-in reader who met it: their menu
/// and sign-out form stay (a problem is rendered without the session).
pub async fn frame_problems(
    axum::extract::State(state): axum::extract::State<Arc<State>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let session = state.cookie.id(request.headers()).and_then(|id| state.sessions.get(&id));
    let response = next.run(request).await;
    match (response.extensions().get::<crate::problem::Words>(), session) {
        (Some(words), Some(session)) if session.user.is_some() => words.page(response.status(), Frame::of(&session)),
        _ => response,
    }
}

/// Any address the console does not serve.
pub async fn not_found() -> Problem {
    Problem::NotFound
}
