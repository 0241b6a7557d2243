//! Signing in with the partnership's OpenID Connect provider: the
//! authorization code flow with PKCE (S256).
//!
//! The console sends the browser to the provider's authorization endpoint
//! with a `state`, a `nonce` and a code challenge, all random and kept on the
//! server in a pending sign-in ([`Pending`]) that can be answered once. The
//! provider sends the browser back to `/sign-in/callback` with a code; the
//! console exchanges it at the token endpoint, from the server (with the code
//! verifier, and the client secret by HTTP Basic if it has one), and checks
//! the ID token with the platform's own [`Verifier`] (signature, issuer,
//! audience = the console's client id, expiry), then its `nonce`.
//!
//! Which token the session reads with: the token the door itself checks for
//! gRPC callers, so a page view is authorised exactly as a call is. That is
//! the access token when the door accepts it (a JWT for Concord's audience,
//! mapping to an agency, role and purpose) and it is for the person the ID
//! token names: an access token is what the provider issues for calling an
//! API, and the one the partnership's other clients send. Otherwise it is the
//! ID token, which the door accepts where the console's client id is
//! Concord's audience (a provider whose access tokens are opaque, or for
//! another API, as Entra ID's for Microsoft Graph are). If the door accepts
//! neither, nobody could read through the console: the sign-in is refused.
//!
//! Staying signed in: the provider's refresh token (an ordinary one, tied
//! to the reader's session at the provider: no `offline_access`) is kept in
//! the session, on the server. A page view arriving in the last part of its
//! token's life renews the token ([`Oidc::renew`]): the refresh token is
//! spent at the token endpoint, and the new tokens are checked as at
//! sign-in, for the same person with the same agency, role and purpose;
//! anything else ends the session ([`Lapse`]). Signing out revokes the
//! refresh token where the provider has a revocation endpoint (RFC 7009).
//!
//! The provider's endpoints come from its discovery document, and are
//! trusted only over `https` (or `http` on loopback, for development and
//! tests), as the identity crate trusts its keys.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use concord_identity::{AuthError, OidcConfig, Principal, Verifier};
use reqwest::Url;
use serde::Deserialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::session::{Pending, Renewal, User};

/// How long one HTTP request to the provider may take.
const HTTP_TIMEOUT: Duration = Duration::from_secs(10);

/// The largest discovery document or token response read.
const MAX_DOCUMENT: usize = 1 << 20;

/// Where the provider sends the browser back, under the console's address.
pub const CALLBACK: &str = "/sign-in/callback";

/// Where the provider sends the browser after signing out of it.
pub const SIGNED_OUT: &str = "/sign-in";

/// The console as the provider knows it.
#[derive(Clone)]
pub struct Client {
    /// The console's client id at the provider.
    pub id: String,
    /// Its client secret, if it is a confidential client (sent by HTTP Basic).
    pub secret: Option<String>,
    /// The console's address as browsers reach it (`https://concord.example.org`).
    pub url: Url,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secret = self.secret.as_ref().map(|_| "[redacted]");
        f.debug_struct("Client").field("id", &self.id).field("secret", &secret).field("url", &self.url).finish()
    }
}

/// Why the sign-in with the provider cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// The provider's discovery document cannot be had or used.
    #[error("OpenID Connect issuer {issuer}: {reason}")]
    Provider {
        /// The configured issuer.
        issuer: String,
        /// What went wrong.
        reason: String,
    },
    /// The console's own address cannot be used.
    #[error("the console's address `{0}`: give its https:// (or, on loopback, http://) address, without a path")]
    Url(String),
    /// The ID tokens' verifier cannot be set up.
    #[error(transparent)]
    Identity(#[from] concord_identity::IdentityError),
}

/// Why a sign-in with the provider failed: the reader is told, and no
/// session is made.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// No pending sign-in answers to this browser and `state` (none begun
    /// here, already answered, expired, or another browser's).
    #[error("this sign-in was not started in this browser, was already used, or took too long")]
    State,
    /// The provider did not sign the reader in (`error=access_denied`...).
    #[error("the identity provider did not sign you in ({0})")]
    Provider(String),
    /// The provider would not exchange the code (or could not be reached).
    #[error("the identity provider would not complete the sign-in ({0})")]
    Exchange(String),
    /// The ID token does not verify, or does not map to access.
    #[error("the identity provider's token was not accepted: {0}")]
    Token(AuthError),
    /// The ID token is not for this sign-in.
    #[error("the identity provider's token was not issued for this sign-in")]
    Nonce,
    /// The provider's claims give the person no agency, role and purpose.
    #[error("your organisation's account is not given access to Concord ({0})")]
    Unmapped(AuthError),
    /// The door accepts neither of the provider's tokens.
    #[error("Concord does not accept the identity provider's tokens for reading ({0})")]
    NotForConcord(AuthError),
}

/// Why a session's token could not be renewed; each sentence is what the
/// sign-in page tells the reader.
#[derive(Debug, thiserror::Error)]
pub enum Lapse {
    /// The provider refused the refresh token (`invalid_grant`: the
    /// person's session there ended, or they were disabled).
    #[error("Your organisation's account no longer keeps you signed in ({0}): sign in again.")]
    Refused(String),
    /// The provider could not be reached, or gave no tokens.
    #[error("Your sign-in expired, and your organisation's account could not be reached to renew it: sign in again.")]
    Unreachable,
    /// A renewed token does not verify, or maps to no access.
    #[error("Your organisation's account gave a token Concord does not accept ({0}): sign in again.")]
    Token(AuthError),
    /// The renewed token is for another person, agency, role or purpose.
    #[error("What your organisation's account gives you has changed since you signed in ({0}): sign in again.")]
    Changed(String),
}

impl From<Refusal> for Lapse {
    /// A renewed token refused as it would be at sign-in.
    fn from(refusal: Refusal) -> Lapse {
        match refusal {
            Refusal::Unmapped(_) => Lapse::Changed("now: no access to Concord".into()),
            Refusal::NotForConcord(error) | Refusal::Token(error) => Lapse::Token(error),
            other => Lapse::Token(AuthError::BadClaims(other.to_string())),
        }
    }
}

/// How a request to one of the provider's endpoints failed.
enum Failed {
    /// It answered with an OAuth error (its code) or an HTTP client error.
    Refused(String),
    /// It could not be reached, or failed itself (an HTTP server error).
    Unreachable(String),
}

/// The part of a discovery document used here.
#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    end_session_endpoint: Option<String>,
    revocation_endpoint: Option<String>,
}

/// The token endpoint's answer.
#[derive(Deserialize)]
struct Tokens {
    id_token: Option<String>,
    access_token: Option<String>,
    refresh_token: Option<String>,
}

/// The token endpoint's refusal.
#[derive(Deserialize)]
struct TokenError {
    error: String,
}

/// The sign-in with the partnership's OpenID Connect provider.
pub struct Oidc {
    http: reqwest::Client,
    issuer: String,
    client: Client,
    authorization: Url,
    token: Url,
    end_session: Option<Url>,
    revocation: Option<Url>,
    /// The ID tokens' verifier: the provider's keys, the console's client id as audience.
    id_tokens: Verifier,
    /// The door's verifier, the one every page view passes.
    door: Arc<Verifier>,
}

impl Oidc {
    /// The sign-in with the provider `config` names (its audience: Concord's
    /// at the provider, the door's), for `client`; reads the discovery
    /// document and keys now, failing if they cannot be had. `door` is the
    /// verifier every page view passes.
    pub async fn discover(config: &OidcConfig, client: Client, door: Arc<Verifier>) -> Result<Oidc, OidcError> {
        if !matches!(client.url.path(), "" | "/") || trusted(client.url.as_str()).is_err() {
            return Err(OidcError::Url(client.url.to_string()));
        }
        let failed = |reason: String| OidcError::Provider { issuer: config.issuer.clone(), reason };
        let http = reqwest::Client::builder()
            .timeout(HTTP_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| failed(e.to_string()))?;
        let id_tokens = Verifier::discover(OidcConfig { audience: client.id.clone(), ..config.clone() }).await?;
        let url = trusted(&format!("{}/.well-known/openid-configuration", config.issuer.trim_end_matches('/')))
            .map_err(failed)?;
        let response = http.get(url.clone()).send().await.map_err(|e| failed(format!("{url}: {e}")))?;
        if !response.status().is_success() {
            return Err(failed(format!("{url}: HTTP {}", response.status())));
        }
        let discovery: Discovery = serde_json::from_slice(&body(response).await.map_err(failed)?)
            .map_err(|e| failed(format!("{url}: not a discovery document: {e}")))?;
        if discovery.issuer != config.issuer {
            return Err(failed(format!("the discovery document names issuer `{}`", discovery.issuer)));
        }
        Ok(Oidc {
            http,
            issuer: config.issuer.clone(),
            authorization: trusted(&discovery.authorization_endpoint).map_err(failed)?,
            token: trusted(&discovery.token_endpoint).map_err(failed)?,
            end_session: discovery.end_session_endpoint.as_deref().map(trusted).transpose().map_err(failed)?,
            revocation: discovery.revocation_endpoint.as_deref().map(trusted).transpose().map_err(failed)?,
            client,
            id_tokens,
            door,
        })
    }

    /// Whether browsers reach the console over TLS, as its address says.
    pub fn over_tls(&self) -> bool {
        self.client.url.scheme() == "https"
    }

    /// The console's address for `path`.
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.client.url.as_str().trim_end_matches('/'))
    }

    /// Where to send the browser to sign in, for the sign-in `pending`.
    pub fn authorization_url(&self, pending: &Pending) -> Url {
        let challenge = B64.encode(Sha256::digest(pending.code_verifier.as_bytes()));
        let mut url = self.authorization.clone();
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.client.id)
            .append_pair("redirect_uri", &self.url(CALLBACK))
            .append_pair("scope", "openid")
            .append_pair("state", &pending.state)
            .append_pair("nonce", &pending.nonce)
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256");
        url
    }

    /// Where to send the browser once signed out of the console, to sign
    /// out of the provider too, if the provider says; it sends the browser
    /// back to the sign-in page. (The client id, not the ID token, tells the
    /// provider who asks: no token in an address.)
    pub fn end_session_url(&self) -> Option<Url> {
        let mut url = self.end_session.clone()?;
        url.query_pairs_mut()
            .append_pair("client_id", &self.client.id)
            .append_pair("post_logout_redirect_uri", &self.url(SIGNED_OUT));
        Some(url)
    }

    /// Checks the provider's answer to the sign-in `pending` (its `state`,
    /// the issuer it names if it names one, its `error` or `code`),
    /// exchanges the code and checks the tokens; who signed in, with the
    /// token their session reads with, how long that token lasts, and what
    /// renews it, if the provider gave a refresh token.
    pub async fn finish(
        &self,
        pending: &Pending,
        answer: &Answer,
    ) -> Result<(User, Duration, Option<Renewal>), Refusal> {
        let state = answer.state.as_deref().unwrap_or_default();
        if !bool::from(state.as_bytes().ct_eq(pending.state.as_bytes())) {
            return Err(Refusal::State);
        }
        if answer.iss.as_deref().is_some_and(|iss| iss != self.issuer) {
            return Err(Refusal::Provider("the answer names another issuer".into()));
        }
        if let Some(error) = &answer.error {
            return Err(Refusal::Provider(error_code(error)));
        }
        let code = answer.code.as_deref().filter(|c| !c.is_empty()).ok_or(Refusal::Provider("no code".into()))?;
        let tokens = self.exchange(pending, code).await?;
        let id_token = tokens.id_token.ok_or(Refusal::Exchange("no ID token".into()))?;
        let claims = self.id_token_claims(&id_token).await.map_err(Refusal::Token)?;
        let nonce = claims.get("nonce").and_then(Value::as_str).unwrap_or_default();
        if !bool::from(nonce.as_bytes().ct_eq(pending.nonce.as_bytes())) || nonce.is_empty() {
            return Err(Refusal::Nonce);
        }
        let person = claims.get("sub").and_then(Value::as_str).unwrap_or_default();
        let (token, principal) = self.reading_token(tokens.access_token, Some(id_token), person).await?;
        let lasts = lifetime(&principal);
        let renewal = tokens.refresh_token.map(|refresh| Renewal::new(refresh, pending.nonce.clone(), lasts));
        Ok((reader(token, principal), lasts, renewal))
    }

    /// Renews the token of `user` with `renewal`'s refresh token. The new
    /// tokens are checked as at sign-in, and must be for the same person,
    /// with the same agency, role and purpose. The renewed user, the
    /// provider's new refresh token if it gave one (rotating it), and how
    /// long the new token lasts.
    pub async fn renew(&self, user: &User, renewal: &Renewal) -> Result<(User, Option<String>, Duration), Lapse> {
        let unreachable = |error: String| {
            tracing::warn!(token_endpoint = %self.token, %error, "cannot renew a session's token");
            Lapse::Unreachable
        };
        let form = vec![("grant_type", "refresh_token"), ("refresh_token", renewal.refresh_token.as_str())];
        let body = self.post(&self.token, form).await.map_err(|failed| match failed {
            Failed::Refused(error) => Lapse::Refused(error),
            Failed::Unreachable(error) => unreachable(error),
        })?;
        let tokens: Tokens = serde_json::from_slice(&body).map_err(|_| unreachable("not a token response".into()))?;
        // A renewed ID token names the same person and, if it carries a
        // nonce, the sign-in's (OpenID Connect Core, 12.2).
        if let Some(id_token) = &tokens.id_token {
            let claims = self.id_token_claims(id_token).await.map_err(Lapse::Token)?;
            if claims.get("sub").and_then(Value::as_str) != Some(user.name.as_str()) {
                return Err(Lapse::Changed("the token names another person".into()));
            }
            let nonce = claims.get("nonce").and_then(Value::as_str);
            if nonce.is_some_and(|nonce| !bool::from(nonce.as_bytes().ct_eq(renewal.nonce.as_bytes()))) {
                return Err(Lapse::Token(AuthError::BadClaims("the ID token is for another sign-in".into())));
            }
        }
        let (token, principal) = self.reading_token(tokens.access_token, tokens.id_token, &user.name).await?;
        if principal.sub != user.name {
            return Err(Lapse::Changed("the token names another person".into()));
        }
        if (&principal.agency, principal.role, principal.purpose) != (&user.agency, user.role, user.purpose) {
            let now = format!("now: {} at {}, for {}", principal.role, principal.agency, principal.purpose);
            return Err(Lapse::Changed(now));
        }
        let lasts = lifetime(&principal);
        Ok((reader(token, principal), tokens.refresh_token, lasts))
    }

    /// Revokes a signed-out session's `refresh_token` where the provider has
    /// a revocation endpoint (RFC 7009). Best effort: a failure is logged.
    pub async fn revoke(&self, refresh_token: &str) {
        let Some(endpoint) = &self.revocation else {
            return;
        };
        let form = vec![("token", refresh_token), ("token_type_hint", "refresh_token")];
        if let Err(Failed::Refused(error) | Failed::Unreachable(error)) = self.post(endpoint, form).await {
            tracing::warn!(revocation_endpoint = %endpoint, %error, "cannot revoke a signed-out session's refresh token");
        }
    }

    /// The claims of `id_token` if it verifies as the console's (signature,
    /// issuer, audience: the console's client id, expiry). Claims that map
    /// to nothing still make a good ID token: some providers put groups and
    /// roles only in the access token (Keycloak's realm roles, by default).
    async fn id_token_claims(&self, id_token: &str) -> Result<Map<String, Value>, AuthError> {
        match self.id_tokens.check(id_token).await {
            Ok(_) | Err(AuthError::Unmapped(_)) => Ok(verified_claims(id_token).unwrap_or_default()),
            Err(error) => Err(error),
        }
    }

    /// The token the session reads with, and who the door takes it for:
    /// the access token if the door accepts it for `person`, else the ID
    /// token if there is one and the door accepts that (see the module's
    /// documentation).
    async fn reading_token(
        &self,
        access_token: Option<String>,
        id_token: Option<String>,
        person: &str,
    ) -> Result<(String, Principal), Refusal> {
        let access_refused = match access_token {
            Some(access) => match self.door.check(&access).await {
                Ok(principal) if principal.sub == person => return Ok((access, principal)),
                Ok(_) => Some(AuthError::BadClaims("the access token is for someone else".into())),
                Err(error) => Some(error),
            },
            None => None,
        };
        let id_refused = match id_token {
            Some(id_token) => match self.door.check(&id_token).await {
                Ok(principal) => return Ok((id_token, principal)),
                Err(error) => error,
            },
            None => AuthError::BadClaims("no ID token".into()),
        };
        // Claims that map to nothing, in either token, are the person's
        // reason; anything else is the provider's set-up.
        match access_refused {
            Some(unmapped @ AuthError::Unmapped(_)) => Err(Refusal::Unmapped(unmapped)),
            _ if matches!(id_refused, AuthError::Unmapped(_)) => Err(Refusal::Unmapped(id_refused)),
            _ => Err(Refusal::NotForConcord(id_refused)),
        }
    }

    /// Exchanges `code` at the token endpoint with the sign-in's code verifier.
    async fn exchange(&self, pending: &Pending, code: &str) -> Result<Tokens, Refusal> {
        let redirect_uri = self.url(CALLBACK);
        let form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri.as_str()),
            ("code_verifier", pending.code_verifier.as_str()),
        ];
        let body = self.post(&self.token, form).await.map_err(|failed| match failed {
            Failed::Refused(error) => Refusal::Exchange(error),
            Failed::Unreachable(error) => {
                tracing::warn!(token_endpoint = %self.token, %error, "cannot exchange a sign-in's code");
                Refusal::Exchange("it could not be reached".into())
            }
        })?;
        serde_json::from_slice(&body).map_err(|e| Refusal::Exchange(format!("not a token response: {e}")))
    }

    /// Posts `form` to the provider's `endpoint` as the console (its client
    /// id and secret by HTTP Basic, or its client id in the form if it has
    /// no secret); the answer's body.
    async fn post<'a>(&'a self, endpoint: &Url, mut form: Vec<(&'a str, &'a str)>) -> Result<Vec<u8>, Failed> {
        let mut request = self.http.post(endpoint.clone()).header(reqwest::header::ACCEPT, "application/json");
        match &self.client.secret {
            // client_secret_basic: id and secret form-encoded, then Basic (RFC 6749, 2.3.1).
            Some(secret) => request = request.basic_auth(form_encoded(&self.client.id), Some(form_encoded(secret))),
            None => form.push(("client_id", self.client.id.as_str())),
        }
        let response = request.form(&form).send().await.map_err(|e| Failed::Unreachable(e.to_string()))?;
        let status = response.status();
        let body = body(response).await.map_err(Failed::Unreachable)?;
        if status.is_success() {
            return Ok(body);
        }
        match serde_json::from_slice::<TokenError>(&body) {
            Ok(refused) => Err(Failed::Refused(error_code(&refused.error))),
            Err(_) if status.is_client_error() => Err(Failed::Refused(format!("HTTP {status}"))),
            Err(_) => Err(Failed::Unreachable(format!("HTTP {status}"))),
        }
    }
}

/// Who a token the door accepted is for, reading with `token`.
fn reader(token: String, principal: Principal) -> User {
    User { token, name: principal.sub, agency: principal.agency, role: principal.role, purpose: principal.purpose }
}

/// How long from now the token the door took for `principal` lasts.
fn lifetime(principal: &Principal) -> Duration {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs();
    Duration::from_secs(u64::try_from(principal.expires_at).unwrap_or(0).saturating_sub(now))
}

/// The provider's answer, as the callback's query carries it.
#[derive(Debug, Default, Deserialize)]
pub struct Answer {
    /// The authorization code.
    pub code: Option<String>,
    /// The `state` sent.
    pub state: Option<String>,
    /// Why the provider did not sign the reader in.
    pub error: Option<String>,
    /// The issuer answering (RFC 9207), where the provider says.
    pub iss: Option<String>,
}

/// An OAuth error code as shown to the reader: only its letters and `_`
/// (it comes from elsewhere; it is escaped too when shown).
fn error_code(error: &str) -> String {
    error.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_').take(64).collect()
}

/// `text` form-encoded (`application/x-www-form-urlencoded`).
fn form_encoded(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// The claims of a token the verifier has just accepted (so its signature
/// is known good and its payload can be read as it is).
fn verified_claims(token: &str) -> Option<Map<String, Value>> {
    let payload = B64.decode(token.split('.').nth(1)?).ok()?;
    serde_json::from_slice(&payload).ok()
}

/// `url` if the provider may be reached there: `https`, or `http` on loopback.
fn trusted(url: &str) -> Result<Url, String> {
    let parsed = Url::parse(url).map_err(|e| format!("`{url}`: {e}"))?;
    let host = parsed.host_str().unwrap_or_default();
    let loopback = host == "localhost"
        || host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    match parsed.scheme() {
        "https" => Ok(parsed),
        "http" if loopback => Ok(parsed),
        _ => Err(format!("`{url}`: must be https (http only on loopback)")),
    }
}

/// A response's body, up to [`MAX_DOCUMENT`] bytes.
async fn body(mut response: reqwest::Response) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
        if body.len() + chunk.len() > MAX_DOCUMENT {
            return Err(format!("larger than {MAX_DOCUMENT} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_code_challenge_is_rfc_7636s_s256() {
        // RFC 7636, appendix B.
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert_eq!(B64.encode(Sha256::digest(verifier.as_bytes())), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
    }

    #[test]
    fn provider_error_codes_are_shown_as_codes_only() {
        assert_eq!(error_code("access_denied"), "access_denied");
        assert_eq!(error_code("<script>x</script> y"), "scriptxscripty");
        assert_eq!(form_encoded("a b:c&d"), "a+b%3Ac%26d");
    }

    #[test]
    fn a_renewed_token_refused_as_at_sign_in_says_why_the_session_ends() {
        let unmapped = Lapse::from(Refusal::Unmapped(AuthError::Unmapped("no role".into())));
        assert!(matches!(&unmapped, Lapse::Changed(now) if now == "now: no access to Concord"), "{unmapped:?}");
        let expired = Lapse::from(Refusal::NotForConcord(AuthError::Expired));
        assert!(matches!(expired, Lapse::Token(AuthError::Expired)));
        let said = Lapse::Refused("invalid_grant".into()).to_string();
        assert!(said.contains("(invalid_grant)") && said.ends_with("sign in again."), "{said}");
    }

    #[test]
    fn debug_shows_no_client_secret() {
        let client = Client {
            id: "console".into(),
            secret: Some("s3cret".into()),
            url: Url::parse("https://c.example").unwrap(),
        };
        let shown = format!("{client:?}");
        assert!(shown.contains("console") && !shown.contains("s3cret"), "{shown}");
    }

    #[test]
    fn only_https_or_loopback_http_is_trusted() {
        assert!(trusted("https://login.example.org/authorize").is_ok());
        assert!(trusted("http://127.0.0.1:9/token").is_ok());
        assert!(trusted("http://localhost:9/token").is_ok());
        assert!(trusted("http://login.example.org/token").is_err());
    }
}
