//! Sessions: a random id in a cookie, everything else kept here.
//!
//! The cookie holds only the session's id (256 random bits): HttpOnly,
//! SameSite=Strict, Secure (with the `__Host-` prefix) where the console is
//! served over TLS. The token the reader signed in with, and the session's
//! CSRF token, stay on the server. A session ends after [`IDLE`] unused, at
//! its token's expiry, or on sign-out; signing in starts a new session (a
//! new id and CSRF token), so an id planted before sign-in is worth nothing.

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

/// 256 random bits, URL-safe.
fn random() -> String {
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
        let session = Session { csrf: random(), user: None };
        (self.insert(session.clone(), IDLE), session)
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
        self.insert(Session { csrf: random(), user: Some(user) }, lasts)
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

    /// The session id a request's `Cookie` headers carry, if any. (A cookie
    /// header is `name=value` pairs split by `;`: too little to need a crate.)
    pub fn id(self, headers: &HeaderMap) -> Option<String> {
        headers
            .get_all(COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(name, _)| *name == self.name())
            .map(|(_, value)| value.to_string())
    }
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
