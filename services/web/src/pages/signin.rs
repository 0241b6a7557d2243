//! Signing in and out.
//!
//! The development sign-in's form gets a session of its own first (so even
//! it carries a CSRF token); signing in replaces that session with a new one.
//!
//! With the identity provider, "Sign in" is a link, not a form: the
//! console's Content-Security-Policy lets forms post only to the console,
//! and browsers hold the redirect to the provider that follows a form to
//! that too. Following it begins a pending sign-in ([`Pending`]) and sends
//! the browser to the provider; the provider sends it back to the callback,
//! which makes a new session. Because that answer is a navigation from the
//! provider's site, on which the browser withholds the SameSite=Strict
//! session cookie, and still would on a redirect onward, the callback
//! answers with a page that moves on by itself (`Refresh`): a navigation
//! from the console's own page, which carries the new cookie.
//!
//! Signed in with the provider, a session that has its refresh token is
//! kept signed in as its token nears its end ([`keep_signed_in`], on every
//! page view); where that fails, the session ends and the sign-in page says
//! why.

use std::sync::Arc;
use std::time::Instant;

use askama::Template;
use axum::extract::{self, Form, Query};
use axum::http::header::{REFRESH, SET_COOKIE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{AppendHeaders, IntoResponse, Redirect, Response};
use concord_identity::{Purpose, Role};
use serde::Deserialize;

use super::{Frame, State, Visit, render};
use crate::oidc::{Answer, Lapse, Refusal};
use crate::problem::Problem;
use crate::session::{Pending, Session};
use crate::signin::{DEVELOPMENT_TOKEN_LIFETIME, SignIn};

/// Where a reader in `role` starts: auditors with the audit log, data
/// protection with its requests, everyone else with the search.
fn start_page(role: Role) -> &'static str {
    match role {
        Role::Auditor => "/audit",
        Role::DataProtection => "/data-protection",
        _ => "/find",
    }
}

/// `/`: the reader's start page once signed in, the sign-in page before.
pub async fn home(visit: Result<Visit, Problem>) -> Redirect {
    match visit {
        Ok(visit) => Redirect::to(start_page(visit.user.role)),
        Err(_) => Redirect::to("/sign-in"),
    }
}

/// What the sign-in page shows.
enum Way {
    /// The development sign-in's form, with the agencies to pick from.
    Development(Vec<String>),
    /// A link to sign in with the identity provider.
    Provider,
    /// No sign-in is configured.
    None,
    /// Signed in: moving on to `next`.
    SignedIn(&'static str),
    /// Signed out of the console; moving on to sign out of the provider at
    /// this address.
    SignedOut(String),
}

#[derive(Template)]
#[template(path = "sign_in.html")]
struct SignInPage {
    frame: Frame,
    way: Way,
    /// Why the last sign-in failed.
    error: Option<String>,
    /// Why the reader's sign-in ended, sending them here.
    ended: Option<String>,
    roles: Vec<&'static str>,
    purposes: Vec<&'static str>,
}

impl SignInPage {
    fn new(frame: Frame, way: Way, error: Option<String>) -> SignInPage {
        SignInPage {
            frame,
            way,
            error,
            ended: None,
            roles: Role::ALL.iter().map(|r| r.as_str()).collect(),
            purposes: Purpose::ALL.iter().map(|p| p.as_str()).collect(),
        }
    }
}

/// The sign-in page; the development sign-in's form in a new session of its
/// own. If the browser's session ended as its token could not be renewed,
/// the page says why, and that session and its cookie are gone.
pub async fn form(extract::State(state): extract::State<Arc<State>>, headers: HeaderMap) -> Result<Response, Problem> {
    let ended = state.cookie.id(&headers).and_then(|id| state.sessions.take_ended(&id));
    let clear = ended.is_some().then(|| state.cookie.clear());
    let (cookie, mut page) = match &state.sign_in {
        SignIn::Development(d) => {
            let (id, session) = state.sessions.begin();
            let agencies = d.agencies().iter().map(|a| a.to_string()).collect();
            (Some(state.cookie.set(&id)), SignInPage::new(Frame::of(&session), Way::Development(agencies), None))
        }
        SignIn::Oidc(_) => (clear, SignInPage::new(Frame::anonymous(), Way::Provider, None)),
        SignIn::None => (clear, SignInPage::new(Frame::anonymous(), Way::None, None)),
    };
    page.ended = ended;
    Ok((AppendHeaders(cookie.map(|c| (SET_COOKIE, c))), render(&page)?).into_response())
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
    let id = state.sessions.sign_in(previous.as_deref(), user, DEVELOPMENT_TOKEN_LIFETIME, None);
    Ok(([(SET_COOKIE, state.cookie.set(&id))], Redirect::to(start_page(role))).into_response())
}

/// `/sign-in/start`: begins a sign-in with the identity provider and sends
/// the browser there.
pub async fn start(extract::State(state): extract::State<Arc<State>>) -> Result<Response, Problem> {
    let SignIn::Oidc(oidc) = &state.sign_in else {
        return Err(Problem::NotFound);
    };
    let pending = Pending::new();
    let to = oidc.authorization_url(&pending);
    let id = state.sessions.begin_pending(pending);
    Ok(([(SET_COOKIE, state.cookie.set_pending(&id))], Redirect::to(to.as_str())).into_response())
}

/// `/sign-in/callback`: the identity provider's answer. The pending sign-in
/// is used up whatever the answer; signed in, a new session; refused, the
/// sign-in page says why, and no session is made.
pub async fn callback(
    extract::State(state): extract::State<Arc<State>>,
    headers: HeaderMap,
    answer: Result<Query<Answer>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, Problem> {
    let SignIn::Oidc(oidc) = &state.sign_in else {
        return Err(Problem::NotFound);
    };
    let pending = state.cookie.pending_id(&headers).and_then(|id| state.sessions.take_pending(&id));
    let answer = answer.map(|Query(answer)| answer).unwrap_or_default();
    let clear = (SET_COOKIE, state.cookie.clear_pending());
    let signed_in = match pending {
        Some(pending) => oidc.finish(&pending, &answer).await,
        None => Err(Refusal::State),
    };
    let (user, lasts, renewal) = match signed_in {
        Ok(signed_in) => signed_in,
        Err(refusal) => {
            tracing::info!(reason = %refusal, "a sign-in with the identity provider was refused");
            let page = SignInPage::new(Frame::anonymous(), Way::Provider, Some(sentence(&refusal.to_string())));
            return Ok((StatusCode::FORBIDDEN, [clear], render(&page)?).into_response());
        }
    };
    let next = start_page(user.role);
    let id = state.sessions.sign_in(None, user, lasts, renewal);
    let session = state.sessions.get(&id).ok_or(Problem::SignIn)?;
    let page = SignInPage::new(Frame::of(&session), Way::SignedIn(next), None);
    let cookies = [clear, (SET_COOKIE, state.cookie.set(&id)), (REFRESH, format!("0; url={next}"))];
    Ok((cookies, render(&page)?).into_response())
}

/// `text` as a sentence: a capital first letter and a full stop.
fn sentence(text: &str) -> String {
    let mut chars = text.chars();
    let first = chars.next().map(|c| c.to_uppercase().collect::<String>()).unwrap_or_default();
    format!("{first}{}.", chars.as_str())
}

/// The sign-out form's fields.
#[derive(Deserialize)]
pub struct SignOutForm {
    csrf: String,
}

/// Ends the session, revoking its refresh token at the identity provider
/// (in the background: best effort); then, with a provider that says
/// where, signs out of the provider too (a page moving on by itself, as a
/// form's redirect may go only to the console).
pub async fn sign_out(
    extract::State(state): extract::State<Arc<State>>,
    visit: Visit,
    Form(form): Form<SignOutForm>,
) -> Result<Response, Problem> {
    visit.check(&form.csrf)?;
    state.sessions.end(&visit.id);
    let clear = (SET_COOKIE, state.cookie.clear());
    let SignIn::Oidc(oidc) = &state.sign_in else {
        return Ok(([clear], Redirect::to("/sign-in")).into_response());
    };
    if let Some(renewal) = visit.session.renewal {
        let oidc = Arc::clone(oidc);
        tokio::spawn(async move { oidc.revoke(&renewal.refresh_token).await });
    }
    let Some(provider) = oidc.end_session_url() else {
        return Ok(([clear], Redirect::to("/sign-in")).into_response());
    };
    let page = SignInPage::new(Frame::anonymous(), Way::SignedOut(provider.to_string()), None);
    Ok(([clear, (REFRESH, format!("0; url={provider}"))], render(&page)?).into_response())
}

/// `session` (named `id`) reading with a token good for a while yet: where
/// the token nears its end ([`crate::session::Renewal::due`]) and the
/// session has the provider's refresh token, renewed. One renewal at a time
/// per session: a page view arriving meanwhile waits, then reads with the
/// renewed token. A renewal the provider refuses, or whose token is for
/// another person or other access, ends the session, as does a provider
/// that cannot be reached once the token has expired; the reader is sent to
/// the sign-in page, which says why.
pub async fn keep_signed_in(state: &State, id: &str, session: Session) -> Result<Session, Problem> {
    let (SignIn::Oidc(oidc), Some(renewal)) = (&state.sign_in, &session.renewal) else {
        return Ok(session);
    };
    if !renewal.due(Instant::now()) {
        return Ok(session);
    }
    let lock = Arc::clone(&renewal.lock);
    let _renewing = lock.lock().await;
    // Another page view may have renewed the token, or ended the session, meanwhile.
    let session = state.sessions.get(id).ok_or(Problem::SignIn)?;
    let (Some(user), Some(renewal)) = (&session.user, &session.renewal) else {
        return Err(Problem::SignIn);
    };
    if !renewal.due(Instant::now()) {
        return Ok(session);
    }
    let lapse = match oidc.renew(user, renewal).await {
        Ok((user, refresh_token, lasts)) => match state.sessions.renew(id, user, refresh_token.clone(), lasts) {
            Some(session) => return Ok(session),
            // Signed out (or idle) meanwhile: its new refresh token is not wanted either.
            None => {
                if let Some(refresh_token) = refresh_token {
                    oidc.revoke(&refresh_token).await;
                }
                return Err(Problem::SignIn);
            }
        },
        // Not reached, the token still reads until it expires; the next page view tries again.
        Err(Lapse::Unreachable) if !renewal.expired(Instant::now()) => return Ok(session),
        Err(lapse) => lapse,
    };
    tracing::info!(reason = %lapse, "a console session's token was not renewed: the session ends");
    state.sessions.end_saying(id, lapse.to_string());
    Err(Problem::SignIn)
}
