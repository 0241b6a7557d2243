//! Signing in and out.
//!
//! The sign-in form gets a session of its own first (so even it carries a
//! CSRF token); signing in replaces that session with a new one.

use std::sync::Arc;

use askama::Template;
use axum::extract::{self, Form};
use axum::http::HeaderMap;
use axum::http::header::SET_COOKIE;
use axum::response::{IntoResponse, Redirect, Response};
use concord_identity::{Purpose, Role};
use serde::Deserialize;

use super::{Frame, State, Visit, render};
use crate::problem::Problem;
use crate::signin::{DEVELOPMENT_TOKEN_LIFETIME, SignIn};

/// Where a reader in `role` starts: auditors with the audit log, data
/// protection with its requests, everyone else with the search.
fn start(role: Role) -> &'static str {
    match role {
        Role::Auditor => "/audit",
        Role::DataProtection => "/data-protection",
        _ => "/find",
    }
}

/// `/`: the reader's start page once signed in, the sign-in page before.
pub async fn home(visit: Result<Visit, Problem>) -> Redirect {
    match visit {
        Ok(visit) => Redirect::to(start(visit.user.role)),
        Err(_) => Redirect::to("/sign-in"),
    }
}

#[derive(Template)]
#[template(path = "sign_in.html")]
struct SignInPage {
    frame: Frame,
    development: Option<Vec<String>>,
    roles: Vec<&'static str>,
    purposes: Vec<&'static str>,
}

/// The sign-in form, in a new session of its own.
pub async fn form(extract::State(state): extract::State<Arc<State>>) -> Result<Response, Problem> {
    let (id, session) = state.sessions.begin();
    let development = match &state.sign_in {
        SignIn::Development(d) => Some(d.agencies().iter().map(|a| a.to_string()).collect()),
        SignIn::None => None,
    };
    let page = SignInPage {
        frame: Frame::of(&session),
        development,
        roles: Role::ALL.iter().map(|r| r.as_str()).collect(),
        purposes: Purpose::ALL.iter().map(|p| p.as_str()).collect(),
    };
    Ok(([(SET_COOKIE, state.cookie.set(&id))], render(&page)?).into_response())
}

/// The sign-in form's fields.
#[derive(Deserialize)]
pub struct SignInForm {
    csrf: String,
    agency: String,
    role: String,
    purpose: String,
}

/// Signs in (development sign-in) and goes to the search page.
pub async fn submit(
    extract::State(state): extract::State<Arc<State>>,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> Result<Response, Problem> {
    let previous = state.cookie.id(&headers);
    let session = previous.as_deref().and_then(|id| state.sessions.get(id)).ok_or(Problem::Forged)?;
    if !session.csrf_matches(&form.csrf) {
        return Err(Problem::Forged);
    }
    let SignIn::Development(development) = &state.sign_in else {
        return Err(Problem::NotFound);
    };
    let role: Role = form.role.parse().map_err(Problem::Invalid)?;
    let purpose: Purpose = form.purpose.parse().map_err(Problem::Invalid)?;
    let user = development.sign_in(&form.agency, role, purpose).map_err(|e| Problem::Invalid(e.to_string()))?;
    let id = state.sessions.sign_in(previous.as_deref(), user, DEVELOPMENT_TOKEN_LIFETIME);
    Ok(([(SET_COOKIE, state.cookie.set(&id))], Redirect::to(start(role))).into_response())
}

/// The sign-out form's fields.
#[derive(Deserialize)]
pub struct SignOutForm {
    csrf: String,
}

/// Ends the session.
pub async fn sign_out(
    extract::State(state): extract::State<Arc<State>>,
    visit: Visit,
    Form(form): Form<SignOutForm>,
) -> Result<Response, Problem> {
    visit.check(&form.csrf)?;
    state.sessions.end(&visit.id);
    Ok(([(SET_COOKIE, state.cookie.clear())], Redirect::to("/sign-in")).into_response())
}
