//! Sessions: a random id in a cookie, everything else kept here.
//!
//! The cookie holds only the session's id (256 random bits): HttpOnly,
//! SameSite=Strict, Secure (with the `__Host-` prefix) where the console is
//! served over TLS. The token the reader signed in with, and the session's
//! CSRF token, stay on the server. A session ends after [`IDLE`] unused, at
//! its token's expiry, or on sign-out; signing in starts a new session (a
//! new id and CSRF token), so an id planted before sign-in is worth nothing.
//!
//! A session signed in with the identity provider may hold the provider's
//! refresh token ([`Renewal`], kept only here and never printed): it then
//! outlives its token, whose renewal a page view asks for once the token is
//! in the last part of its life ([`Renewal::due`]); one renewal at a time.
//! A session whose renewal fails ends, saying why ([`Sessions::end_saying`])
//! to the sign-in page the reader is sent to.
//!
//! A sign-in with the identity provider waits in a session of its own
//! ([`Pending`]: the `state`, `nonce` and PKCE verifier it must be answered
//! with), named by a second cookie, SameSite=Lax: the provider's answer comes
//! as a navigation from the provider's site, on which a Strict cookie is not
//! sent. That session can be used once, and for [`PENDING`] at most.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
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

/// How long before its token expires a session renews it at most: the last
/// quarter of the token's life, and never more than this.
pub const RENEW_BEFORE: Duration = Duration::from_secs(60);

/// Who is signed in to a session.
#[derive(Clone)]
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

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("token", &REDACTED)
            .field("name", &self.name)
            .field("agency", &self.agency)
            .field("role", &self.role)
            .field("purpose", &self.purpose)
            .finish()
    }
}

/// What `Debug` shows in place of a secret.
const REDACTED: &str = "[redacted]";

/// One browser's session.
#[derive(Clone)]
pub struct Session {
    /// The token every form of this session carries.
    pub csrf: String,
    /// Who is signed in; `None` before sign-in.
    pub user: Option<User>,
    /// The sign-in with the identity provider this session awaits, if any.
    pub pending: Option<Pending>,
    /// What renews the signed-in reader's token, if anything does.
    pub renewal: Option<Renewal>,
    /// Why the reader's sign-in ended, for the sign-in page to say.
    pub ended: Option<String>,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("csrf", &REDACTED)
            .field("user", &self.user)
            .field("pending", &self.pending)
            .field("renewal", &self.renewal)
            .field("ended", &self.ended)
            .finish()
    }
}

/// What keeps a session signed in past its token's expiry: the identity
/// provider's refresh token, kept only on the server, and when the token it
/// renews was had and expires.
#[derive(Clone)]
pub struct Renewal {
    /// The provider's refresh token.
    pub refresh_token: String,
    /// The sign-in's `nonce`, which a renewed ID token may carry only unchanged.
    pub nonce: String,
    /// When the session's token was had.
    pub since: Instant,
    /// When it expires.
    pub expires: Instant,
    /// Held while the token is renewed: one renewal at a time per session.
    pub lock: Arc<tokio::sync::Mutex<()>>,
}

impl Renewal {
    /// What renews a token had now, lasting `lasts`, with `refresh_token`,
    /// for the sign-in that sent `nonce`.
    pub fn new(refresh_token: String, nonce: String, lasts: Duration) -> Renewal {
        let now = Instant::now();
        Renewal { refresh_token, nonce, since: now, expires: now + lasts, lock: Arc::default() }
    }

    /// Whether the token should be renewed at `now`: it has expired, or is
    /// in the last quarter of its life, or expires within [`RENEW_BEFORE`].
    pub fn due(&self, now: Instant) -> bool {
        now + margin(self.expires.saturating_duration_since(self.since)) >= self.expires
    }

    /// Whether the token has expired at `now`.
    pub fn expired(&self, now: Instant) -> bool {
        now >= self.expires
    }
}

impl fmt::Debug for Renewal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Renewal")
            .field("refresh_token", &REDACTED)
            .field("nonce", &REDACTED)
            .field("since", &self.since)
            .field("expires", &self.expires)
            .finish()
    }
}

/// How long before a token lasting `lifetime` expires it is renewed: the
/// last quarter of its life, at most [`RENEW_BEFORE`].
pub fn margin(lifetime: Duration) -> Duration {
    (lifetime / 4).min(RENEW_BEFORE)
}

/// A sign-in with the identity provider, awaiting its answer: what the
/// answer must match, kept only on the server.
#[derive(Clone)]
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

impl fmt::Debug for Pending {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pending")
            .field("state", &REDACTED)
            .field("nonce", &REDACTED)
            .field("code_verifier", &REDACTED)
            .finish()
    }
}

impl Default for Pending {
    fn default() -> Self {
        Pending::new()
    }
}

impl Session {
    /// A session nobody is signed in to, with a new CSRF token.
    fn anonymous() -> Session {
        Session { csrf: random(), user: None, pending: None, renewal: None, ended: None }
    }

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
        let session = Session::anonymous();
        (self.insert(session.clone(), IDLE), session)
    }

    /// A new session awaiting the identity provider's answer to `pending`,
    /// for [`PENDING`] at most; its id.
    pub fn begin_pending(&self, pending: Pending) -> String {
        self.insert(Session { pending: Some(pending), ..Session::anonymous() }, PENDING)
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
    /// at most `lasts` unless `renewal` renews its token; the new session's id.
    pub fn sign_in(&self, previous: Option<&str>, user: User, lasts: Duration, renewal: Option<Renewal>) -> String {
        if let Some(previous) = previous {
            self.end(previous);
        }
        self.insert(Session { user: Some(user), renewal, ..Session::anonymous() }, lasts)
    }

    /// Gives live session `id` the renewed token of `user`, lasting `lasts`
    /// from now, and the provider's new refresh token if it gave one; the
    /// session as it now is.
    pub fn renew(&self, id: &str, user: User, refresh_token: Option<String>, lasts: Duration) -> Option<Session> {
        let now = Instant::now();
        let mut entries = self.entries();
        let entry = entries.get_mut(id).filter(|e| e.live(now))?;
        let renewal = entry.session.renewal.as_mut()?;
        if let Some(refresh_token) = refresh_token {
            renewal.refresh_token = refresh_token;
        }
        (renewal.since, renewal.expires) = (now, now + lasts);
        entry.session.user = Some(user);
        (entry.ends, entry.last_used) = (now + lasts, now);
        Some(entry.session.clone())
    }

    /// Ends the sign-in of session `id`, keeping only `why` for the sign-in
    /// page to say (see [`Sessions::take_ended`]).
    pub fn end_saying(&self, id: &str, why: String) {
        let now = Instant::now();
        if let Some(entry) = self.entries().get_mut(id) {
            *entry = Entry {
                session: Session { ended: Some(why), ..Session::anonymous() },
                last_used: now,
                ends: now + PENDING,
            };
        }
    }

    /// Why the sign-in of session `id` ended, if it did: the session is
    /// then gone.
    pub fn take_ended(&self, id: &str) -> Option<String> {
        let mut entries = self.entries();
        let ended = entries.get(id).filter(|e| e.live(Instant::now()))?.session.ended.clone()?;
        entries.remove(id);
        Some(ended)
    }

    /// Ends session `id`.
    pub fn end(&self, id: &str) {
        self.entries().remove(id);
    }
}

impl Entry {
    /// Whether the session is live at `now`: used within [`IDLE`], and its
    /// token not yet expired, or renewable.
    fn live(&self, now: Instant) -> bool {
        now.duration_since(self.last_used) < IDLE && (now < self.ends || self.session.renewal.is_some())
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
        let after = sessions.sign_in(Some(&before), user(), IDLE, None);
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
        let short = sessions.sign_in(None, user(), Duration::from_millis(1), None);
        std::thread::sleep(Duration::from_millis(5));
        assert!(sessions.get(&short).is_none());
        let id = sessions.sign_in(None, user(), IDLE, None);
        sessions.end(&id);
        assert!(sessions.get(&id).is_none());
    }

    #[test]
    fn a_token_is_renewed_in_the_last_quarter_of_its_life_or_its_last_minute() {
        assert_eq!(margin(Duration::from_secs(300)), RENEW_BEFORE, "Keycloak's five minutes");
        assert_eq!(margin(Duration::from_secs(3600)), RENEW_BEFORE, "Entra ID's hour");
        assert_eq!(margin(Duration::from_secs(4)), Duration::from_secs(1));
        let renewal = Renewal::new("r".into(), "n".into(), Duration::from_secs(4));
        let at = |secs: f64| renewal.since + Duration::from_secs_f64(secs);
        assert!(!renewal.due(at(0.0)) && !renewal.due(at(2.9)));
        assert!(renewal.due(at(3.0)) && !renewal.expired(at(3.9)));
        assert!(renewal.due(at(4.0)) && renewal.expired(at(4.0)));
    }

    #[test]
    fn a_renewable_session_outlives_its_token_until_idle_or_its_renewal_fails() {
        let sessions = Sessions::default();
        let lasts = Duration::from_millis(1);
        let renewing = sessions.sign_in(None, user(), lasts, Some(Renewal::new("r1".into(), "n".into(), lasts)));
        std::thread::sleep(Duration::from_millis(5));
        let session = sessions.get(&renewing).expect("a renewable session outlives its token");
        let renewal = session.renewal.unwrap();
        assert!(renewal.expired(Instant::now()));
        let renewed = User { token: "t2".into(), ..user() };
        let session = sessions.renew(&renewing, renewed, Some("r2".into()), IDLE).unwrap();
        let again = session.renewal.as_ref().unwrap();
        assert_eq!((session.user.unwrap().token.as_str(), again.refresh_token.as_str()), ("t2", "r2"));
        assert!(!again.due(Instant::now()));
        assert!(Arc::ptr_eq(&again.lock, &renewal.lock), "one lock for the session's renewals");
        // Not rotated: the refresh token stays.
        let session = sessions.renew(&renewing, user(), None, IDLE).unwrap();
        assert_eq!(session.renewal.unwrap().refresh_token, "r2");

        // A renewal that fails ends the sign-in, keeping only why, once.
        sessions.end_saying(&renewing, "why".into());
        assert!(sessions.get(&renewing).is_some_and(|s| s.user.is_none() && s.renewal.is_none()));
        assert!(sessions.renew(&renewing, user(), None, IDLE).is_none(), "an ended sign-in renewed");
        assert_eq!(sessions.take_ended(&renewing).as_deref(), Some("why"));
        assert_eq!(sessions.take_ended(&renewing), None);
        assert!(sessions.get(&renewing).is_none());
        let (plain, _) = sessions.begin();
        assert_eq!(sessions.take_ended(&plain), None);
        assert!(sessions.get(&plain).is_some(), "a session whose sign-in did not end is kept");

        // Unused for IDLE, it ends whatever its refresh token.
        let idle = sessions.sign_in(None, user(), IDLE, Some(Renewal::new("r".into(), "n".into(), IDLE)));
        if let Some(entry) = sessions.entries().get_mut(&idle) {
            entry.last_used = entry.last_used.checked_sub(IDLE).unwrap();
        }
        assert!(sessions.get(&idle).is_none());
    }

    #[test]
    fn debug_shows_no_token() {
        let sessions = Sessions::default();
        let user = User { token: "reading-token-value".into(), ..user() };
        let renewal = Renewal::new("refresh-token-value".into(), "nonce-value".into(), IDLE);
        let id = sessions.sign_in(None, user, IDLE, Some(renewal));
        let session = sessions.get(&id).unwrap();
        let shown = format!("{session:?} {:?}", Pending::new());
        assert!(shown.contains("police.met.nw") && shown.contains("[redacted]"), "{shown}");
        for secret in ["reading-token-value", "refresh-token-value", "nonce-value", session.csrf.as_str()] {
            assert!(!shown.contains(secret), "{shown}");
        }
    }

    #[test]
    fn sign_in_forms_cannot_crowd_out_signed_in_sessions() {
        let sessions = Sessions::default();
        let signed_in = sessions.sign_in(None, user(), IDLE, None);
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
