//! Sessions: a random id in a cookie, everything else kept here.
//!
//! The cookie holds only the session's id (256 random bits): HttpOnly,
//! SameSite=Strict, Secure (with the `__Host-` prefix) where the console is
//! served over TLS. The token the reader signed in with, and the session's
//! CSRF token, stay on the server. A session ends after [`IDLE`] unused, at
//! its token's expiry, or on sign-out; signing in starts a new session (a
//! new id and CSRF token), so an id planted before sign-in is worth nothing.
//!
//! A sign-in with the identity provider waits in a session of its own
//! ([`Pending`]: the `state`, `nonce` and PKCE verifier it must be answered
//! with), named by a second cookie, SameSite=Lax: the provider's answer comes
//! as a navigation from the provider's site, on which a Strict cookie is not
//! sent. That session can be used once, and for [`PENDING`] at most.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use axum::http::header::COOKIE;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use concord_core::AgencyId;
use concord_identity::{Purpose, Role};
use rand::RngCore;
use subtle::ConstantTimeEq;

/// How long a session lasts unused.
pub const IDLE: Duration = Duration::from_secs(30 * 60);

/// How many sessions nobody has signed in to are kept at most: each visit
/// to the sign-in form makes one, so beyond this the least recently used
/// is forgotten (its form must be reloaded) rather than memory growing
/// without bound. Signed-in sessions are never evicted for them.
pub const MAX_ANONYMOUS: usize = 10_000;

/// How long a sign-in with the identity provider may take.
pub const PENDING: Duration = Duration::from_secs(10 * 60);

/// Who is signed in to a session.
#[derive(Debug, Clone)]
pub struct User {
    /// The bearer token every page reads with.
    pub token: String,
    /// Who they are (the token's `sub`).
    pub name: String,
    /// Their agency.
    pub agency: AgencyId,
    /// Their role.
    pub role: Role,
    /// Why they are reading.
    pub purpose: Purpose,
}

/// One browser's session.
#[derive(Debug, Clone)]
pub struct Session {
    /// The token every form of this session carries.
    pub csrf: String,
    /// Who is signed in; `None` before sign-in.
    pub user: Option<User>,
    /// The sign-in with the identity provider this session awaits, if any.
    pub pending: Option<Pending>,
}

/// A sign-in with the identity provider, awaiting its answer: what the
/// answer must match, kept only on the server.
#[derive(Debug, Clone)]
pub struct Pending {
    /// Sent to the provider, which must send it back with the code.
    pub state: String,
    /// Sent to the provider, which must put it in the ID token.
    pub nonce: String,
    /// The PKCE code verifier: its hash went to the provider, it goes with
    /// the code to the token endpoint.
    pub code_verifier: String,
}

impl Pending {
    /// A new sign-in: `state`, `nonce` and code verifier each 256 random bits.
    pub fn new() -> Pending {
        Pending { state: random(), nonce: random(), code_verifier: random() }
    }
}

impl Default for Pending {
    fn default() -> Self {
        Pending::new()
    }
}

impl Session {
    /// Whether `presented` (a form's token) is this session's CSRF token,
    /// compared in constant time.
    pub fn csrf_matches(&self, presented: &str) -> bool {
        self.csrf.as_bytes().ct_eq(presented.as_bytes()).into()
    }
}

struct Entry {
    session: Session,
    last_used: Instant,
    ends: Instant,
}

/// The server-side store of sessions, by id.
#[derive(Default)]
pub struct Sessions {
    entries: Mutex<HashMap<String, Entry>>,
}

/// 256 random bits, URL-safe (43 characters of `A-Z a-z 0-9 - _`).
pub fn random() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    B64.encode(bytes)
}

impl Sessions {
    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        // Entries are only inserted and removed whole: a poisoned map is still consistent.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn insert(&self, session: Session, lasts: Duration) -> String {
        let id = random();
        let now = Instant::now();
        let mut entries = self.entries();
        entries.retain(|_, e| e.live(now));
        if session.user.is_none() {
            let anonymous = entries.values().filter(|e| e.session.user.is_none()).count();
            if anonymous >= MAX_ANONYMOUS {
                let oldest = entries
                    .iter()
                    .filter(|(_, e)| e.session.user.is_none())
                    .min_by_key(|(_, e)| e.last_used)
                    .map(|(id, _)| id.clone());
                if let Some(oldest) = oldest {
                    entries.remove(&oldest);
                }
            }
        }
        entries.insert(id.clone(), Entry { session, last_used: now, ends: now + lasts });
        id
    }

    /// A new session nobody is signed in to (for the sign-in form's CSRF
    /// token); its id.
    pub fn begin(&self) -> (String, Session) {
        let session = Session { csrf: random(), user: None, pending: None };
        (self.insert(session.clone(), IDLE), session)
    }

    /// A new session awaiting the identity provider's answer to `pending`,
    /// for [`PENDING`] at most; its id.
    pub fn begin_pending(&self, pending: Pending) -> String {
        self.insert(Session { csrf: random(), user: None, pending: Some(pending) }, PENDING)
    }

    /// Ends session `id` and gives the sign-in it awaited, if it is live and
    /// awaited one: each pending sign-in is answered at most once.
    pub fn take_pending(&self, id: &str) -> Option<Pending> {
        let entry = self.entries().remove(id)?;
        if entry.live(Instant::now()) { entry.session.pending } else { None }
    }

    /// The live session `id`, marked as used now; `None` if there is none
    /// (or it has ended, when it is forgotten).
    pub fn get(&self, id: &str) -> Option<Session> {
        let now = Instant::now();
        let mut entries = self.entries();
        let entry = entries.get_mut(id)?;
        if !entry.live(now) {
            entries.remove(id);
            return None;
        }
        entry.last_used = now;
        Some(entry.session.clone())
    }

    /// Ends session `previous` (if any) and starts one for `user`, lasting
    /// at most `lasts`; the new session's id.
    pub fn sign_in(&self, previous: Option<&str>, user: User, lasts: Duration) -> String {
        if let Some(previous) = previous {
            self.end(previous);
        }
        self.insert(Session { csrf: random(), user: Some(user), pending: None }, lasts)
    }

    /// Ends session `id`.
    pub fn end(&self, id: &str) {
        self.entries().remove(id);
    }
}

impl Entry {
    fn live(&self, now: Instant) -> bool {
        now < self.ends && now.duration_since(self.last_used) < IDLE
    }
}

/// The session cookie's name and attributes.
#[derive(Debug, Clone, Copy)]
pub struct Cookie {
    /// Whether the console is served over TLS (the cookie is then Secure).
    pub secure: bool,
}

impl Cookie {
    /// The cookie's name: `__Host-` prefixed (Secure, no Domain, Path=/) over TLS.
    pub fn name(self) -> &'static str {
        if self.secure { "__Host-concord-session" } else { "concord-session" }
    }

    /// The `Set-Cookie` value that gives the browser session `id`.
    pub fn set(self, id: &str) -> String {
        let secure = if self.secure { "; Secure" } else { "" };
        format!("{}={id}; Path=/; HttpOnly; SameSite=Strict{secure}", self.name())
    }

    /// The `Set-Cookie` value that removes the session cookie.
    pub fn clear(self) -> String {
        let secure = if self.secure { "; Secure" } else { "" };
        format!("{}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict{secure}", self.name())
    }

    /// The session id a request's `Cookie` headers carry, if any.
    pub fn id(self, headers: &HeaderMap) -> Option<String> {
        value(headers, self.name())
    }

    /// The name of the cookie naming a pending sign-in with the identity
    /// provider (`__Host-` prefixed over TLS).
    pub fn pending_name(self) -> &'static str {
        if self.secure { "__Host-concord-sign-in" } else { "concord-sign-in" }
    }

    /// The `Set-Cookie` value naming pending sign-in `id`: SameSite=Lax, so
    /// that the browser sends it with the provider's answer (a navigation
    /// from the provider's site), and gone after [`PENDING`].
    pub fn set_pending(self, id: &str) -> String {
        let secure = if self.secure { "; Secure" } else { "" };
        let max_age = PENDING.as_secs();
        format!("{}={id}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}", self.pending_name())
    }

    /// The `Set-Cookie` value that removes the pending sign-in's cookie.
    pub fn clear_pending(self) -> String {
        let secure = if self.secure { "; Secure" } else { "" };
        format!("{}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax{secure}", self.pending_name())
    }

    /// The pending sign-in's session id a request's `Cookie` headers carry, if any.
    pub fn pending_id(self, headers: &HeaderMap) -> Option<String> {
        value(headers, self.pending_name())
    }
}

/// The value of cookie `name` in a request's `Cookie` headers, if any. (A
/// cookie header is `name=value` pairs split by `;`: too little to need a crate.)
fn value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, value)| value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> User {
        User {
            token: "t".into(),
            name: "n".into(),
            agency: AgencyId::parse("police.met.nw").unwrap(),
            role: Role::Practitioner,
            purpose: Purpose::Safeguarding,
        }
    }

    #[test]
    fn signing_in_replaces_the_session_and_its_csrf_token() {
        let sessions = Sessions::default();
        let (before, anonymous) = sessions.begin();
        let after = sessions.sign_in(Some(&before), user(), IDLE);
        assert_ne!(before, after);
        assert!(sessions.get(&before).is_none(), "the id from before sign-in still works");
        let signed_in = sessions.get(&after).unwrap();
        assert!(signed_in.user.is_some());
        assert!(!signed_in.csrf_matches(&anonymous.csrf));
        assert!(signed_in.csrf_matches(&signed_in.csrf.clone()));
        assert!(!signed_in.csrf_matches(""));
    }

    #[test]
    fn a_session_ends_at_its_limit_and_on_sign_out() {
        let sessions = Sessions::default();
        let short = sessions.sign_in(None, user(), Duration::from_millis(1));
        std::thread::sleep(Duration::from_millis(5));
        assert!(sessions.get(&short).is_none());
        let id = sessions.sign_in(None, user(), IDLE);
        sessions.end(&id);
        assert!(sessions.get(&id).is_none());
    }

    #[test]
    fn sign_in_forms_cannot_crowd_out_signed_in_sessions() {
        let sessions = Sessions::default();
        let signed_in = sessions.sign_in(None, user(), IDLE);
        let (first, _) = sessions.begin();
        for _ in 0..MAX_ANONYMOUS {
            sessions.begin();
        }
        assert_eq!(sessions.entries().len(), MAX_ANONYMOUS + 1);
        assert!(sessions.get(&first).is_none(), "the least recently used form's session is forgotten");
        assert!(sessions.get(&signed_in).is_some());
    }

    #[test]
    fn a_pending_sign_in_is_answered_once() {
        let sessions = Sessions::default();
        let pending = Pending::new();
        assert_eq!(pending.code_verifier.len(), 43, "PKCE asks for 43 to 128 characters");
        let id = sessions.begin_pending(pending.clone());
        assert!(sessions.get(&id).is_some_and(|s| s.user.is_none()));
        assert_eq!(sessions.take_pending(&id).map(|p| p.state), Some(pending.state));
        assert!(sessions.take_pending(&id).is_none(), "a pending sign-in answered twice");
        assert!(sessions.get(&id).is_none());
        let (plain, _) = sessions.begin();
        assert!(sessions.take_pending(&plain).is_none(), "a session that awaited no sign-in");
        let tls = Cookie { secure: true };
        assert_eq!(
            tls.set_pending("abc"),
            "__Host-concord-sign-in=abc; Path=/; Max-Age=600; HttpOnly; SameSite=Lax; Secure"
        );
    }

    #[test]
    fn the_cookie_carries_only_the_id_with_strict_attributes() {
        let plain = Cookie { secure: false };
        assert_eq!(plain.set("abc"), "concord-session=abc; Path=/; HttpOnly; SameSite=Strict");
        let tls = Cookie { secure: true };
        assert_eq!(tls.set("abc"), "__Host-concord-session=abc; Path=/; HttpOnly; SameSite=Strict; Secure");
        let mut headers = HeaderMap::new();
        headers.insert(COOKIE, "other=1; concord-session=xyz".parse().unwrap());
        assert_eq!(plain.id(&headers).as_deref(), Some("xyz"));
        assert_eq!(tls.id(&headers), None);
    }
}
