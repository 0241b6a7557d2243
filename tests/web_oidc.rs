//! Signing in to the web console with the partnership's OpenID Connect
//! provider. The test is the provider, for real: discovery, JWKS, an
//! authorization endpoint whose page (a small form) the browser submits, a
//! token endpoint that checks the client (HTTP Basic), the redirect URI, the
//! code (once only) and the PKCE verifier against the challenge, and issues
//! RS256 tokens (an ID token carrying the nonce, an access token carrying
//! Keycloak's `realm_access.roles`) and a refresh token, which it honours
//! once (refreshing rotates it) unless told to refuse it, a revocation
//! endpoint and an end-session endpoint. It answers on `localhost`, the
//! console on `127.0.0.1`: two sites, as in production, so the browser
//! treats the provider's answer as a cross-site navigation.
//!
//! In headless chromium: a social worker signs in through the provider's
//! page, reads a child's timeline as the agency the mapping gives, reads it
//! again after the token has expired (the session renewed it), signs out of
//! the console and the provider (the refresh token revoked), and, signed in
//! again, is sent to sign in again, told why, once the provider refuses to
//! renew. Over HTTP, staying signed in: renewed once per token, as the same
//! person; ended, saying why and showing nothing, when the provider refuses
//! the refresh token, cannot be reached past the token's life, or renews
//! for another role or person; six page views at once spend the refresh
//! token once; a signed-out session's cookie renews nothing; and no token
//! reaches a page or cookie. From the attacker's side,
//! over HTTP: a callback with a forged or replayed state, or from another
//! browser, a code stolen from another sign-in (the provider refuses its
//! PKCE verifier), a token signed by another key or issuer, an ID token
//! with another nonce, a person whose roles map to nothing, and the
//! provider's `access_denied`: each refused with a page saying why, and no
//! session. The console over TLS: `__Host-` Secure cookies, and HSTS; and
//! the provider's sign-in is not served off loopback without TLS. And a
//! provider whose access tokens are not for Concord (as Entra ID's, for
//! Microsoft Graph): the session reads with the ID token.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode as AxumStatus, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD as B64, URL_SAFE_NO_PAD as B64URL};
use concord::cmd::OidcArg;
use concord::web::WebArg;
use concord_core::pb;
use concord_identity::{ClaimMapping, OidcConfig};
use fantoccini::Locator;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use reqwest::StatusCode;
use reqwest::Url;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::traits::PublicKeyParts;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;

use crate::common::browser::Browser;
use crate::common::{TestPlatform, arrest, publish};
use crate::web::{check, click_to, go, http, type_into};

/// The console's client id at the provider.
const CLIENT: &str = "concord-console";
/// Its client secret: characters that HTTP Basic must form-encode (RFC 6749, 2.3.1).
const SECRET: &str = "s3cret: with/odd&chars";
/// Concord's audience at the provider (the door's): the access tokens'.
const AUDIENCE: &str = "concord";
/// The child the police officer arrested.
const CHILD: &str = "P-oidcweb1";

const MAPPING: &str = r#"
claim = "realm_access.roles"

[[mapping]]
value = "met-officer"
agency = "police.met.nw"
role = "practitioner"
purpose = "safeguarding"

[[mapping]]
value = "harrow-social-worker"
agency = "childrens_services.harrow"
role = "practitioner"
purpose = "safeguarding"

[[mapping]]
value = "harrow-team-lead"
agency = "childrens_services.harrow"
role = "briefing_lead"
purpose = "safeguarding"
"#;

/// The people the provider knows, and their roles.
const PEOPLE: &[(&str, &[&str])] = &[
    ("sw-1", &["offline_access", "harrow-social-worker"]),
    ("officer-1", &["met-officer"]),
    ("stranger", &["offline_access", "default-roles-harrow"]),
];

/// One RSA signing key of the provider.
struct SigningKey {
    private: EncodingKey,
    jwk: Value,
}

impl SigningKey {
    fn generate() -> SigningKey {
        let key = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).unwrap();
        let public = key.to_public_key();
        SigningKey {
            private: EncodingKey::from_rsa_der(key.to_pkcs1_der().unwrap().as_bytes()),
            jwk: json!({
                "kty": "RSA", "use": "sig", "alg": "RS256", "kid": "k1",
                "n": B64URL.encode(public.n().to_bytes_be()),
                "e": B64URL.encode(public.e().to_bytes_be()),
            }),
        }
    }

    fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some("k1".into());
        encode(&header, claims, &self.private).unwrap()
    }
}

/// How the provider misbehaves in its next tokens (an attacker in its place).
#[derive(Clone, Copy, PartialEq)]
enum Misbehave {
    None,
    /// Signed with a key it never published, under its own key's id.
    ForgedKey,
    /// Naming another issuer.
    OtherIssuer,
    /// An ID token with another sign-in's nonce.
    WrongNonce,
    /// Tokens for another person (the police officer) than the grant's.
    OtherPerson,
}

/// An authorization request awaiting the person's answer on the provider's page.
struct Asked {
    redirect_uri: String,
    state: String,
    nonce: String,
    challenge: String,
}

/// A code issued, and what it was issued for.
struct Issued {
    redirect_uri: String,
    nonce: String,
    challenge: String,
    sub: String,
    used: bool,
}

/// A refresh token issued: whose, for which sign-in, and whether it was
/// spent (refreshing rotates it) or revoked.
struct Refresh {
    sub: String,
    nonce: String,
    spent: bool,
    revoked: bool,
}

struct ProviderState {
    issuer: String,
    /// The console's client id here.
    client: String,
    /// Whether access tokens are opaque (for another API), the roles in the
    /// ID token, as Entra ID's are; otherwise as Keycloak's: the roles in
    /// the access token, for Concord's audience, and none in the ID token.
    opaque_access: bool,
    key: SigningKey,
    forger: SigningKey,
    /// The console's registered redirect URI and where it returns after signing out.
    redirect_uri: String,
    signed_out_uri: String,
    asked: HashMap<String, Asked>,
    codes: HashMap<String, Issued>,
    misbehave: Misbehave,
    /// Why the token endpoint refused, each time it did.
    refusals: Vec<String>,
    sign_outs: usize,
    /// How long the tokens it issues last, in seconds.
    lifetime: i64,
    /// The refresh tokens it issued.
    refresh_tokens: HashMap<String, Refresh>,
    /// Whether it refuses refresh tokens (the person's session here ended).
    refuse_refresh: bool,
    /// Whether its token endpoint is down (it answers 503).
    down: bool,
    /// Roles a person now has in place of their own.
    roles_now: HashMap<String, &'static [&'static str]>,
    /// How many refresh tokens it honoured.
    refreshes: usize,
    /// The refresh tokens revoked at its revocation endpoint.
    revoked: Vec<String>,
    /// Every token it issued: none may reach the browser.
    issued: Vec<String>,
}

/// The test's OpenID Connect provider, on `localhost`.
#[derive(Clone)]
struct Provider {
    state: Arc<Mutex<ProviderState>>,
}

/// The provider's paths, under its issuer.
const AUTH: &str = "/realms/harrow/protocol/openid-connect/auth";
const TOKEN: &str = "/realms/harrow/protocol/openid-connect/token";
const LOGOUT: &str = "/realms/harrow/protocol/openid-connect/logout";
const REVOKE: &str = "/realms/harrow/protocol/openid-connect/revoke";

impl Provider {
    /// Starts the provider for a console at `console` (its address as
    /// browsers reach it), known here as `client`.
    async fn start(console: &str, client: &str, opaque_access: bool) -> Provider {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = ProviderState {
            issuer: format!("http://localhost:{port}/realms/harrow"),
            client: client.to_string(),
            opaque_access,
            key: SigningKey::generate(),
            forger: SigningKey::generate(),
            redirect_uri: format!("{console}/sign-in/callback"),
            signed_out_uri: format!("{console}/sign-in"),
            asked: HashMap::new(),
            codes: HashMap::new(),
            misbehave: Misbehave::None,
            refusals: Vec::new(),
            sign_outs: 0,
            lifetime: 300,
            refresh_tokens: HashMap::new(),
            refuse_refresh: false,
            down: false,
            roles_now: HashMap::new(),
            refreshes: 0,
            revoked: Vec::new(),
            issued: Vec::new(),
        };
        let provider = Provider { state: Arc::new(Mutex::new(state)) };
        let app = Router::new()
            .route("/realms/harrow/.well-known/openid-configuration", get(discovery))
            .route("/realms/harrow/protocol/openid-connect/certs", get(jwks))
            .route(AUTH, get(authorize_page).post(authorize_answer))
            .route(TOKEN, axum::routing::post(token))
            .route(LOGOUT, get(logout))
            .route(REVOKE, axum::routing::post(revoke))
            .with_state(provider.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        provider
    }

    fn issuer(&self) -> String {
        self.state.lock().unwrap().issuer.clone()
    }

    /// What the platform (and the console) trust: this provider, with [`MAPPING`].
    fn config(&self) -> OidcConfig {
        OidcConfig::new(&self.issuer(), AUDIENCE, ClaimMapping::parse(MAPPING, "mapping.toml").unwrap())
    }

    fn misbehave(&self, how: Misbehave) {
        self.state.lock().unwrap().misbehave = how;
    }

    fn refusals(&self) -> Vec<String> {
        self.state.lock().unwrap().refusals.clone()
    }

    /// Changes how the provider behaves from now on.
    fn set(&self, change: impl FnOnce(&mut ProviderState)) {
        change(&mut self.state.lock().unwrap());
    }

    fn refreshes(&self) -> usize {
        self.state.lock().unwrap().refreshes
    }

    /// An access token for `sub` (for publishing as the officer).
    fn access_token(&self, sub: &str) -> String {
        let state = self.state.lock().unwrap();
        state.key.sign(&access_claims(&state.issuer, sub, roles(sub), 600))
    }
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// The roles of `sub`.
fn roles(sub: &str) -> &'static [&'static str] {
    PEOPLE.iter().find(|(p, _)| *p == sub).map(|(_, roles)| *roles).unwrap_or_default()
}

/// An access token's claims, as Keycloak's: for Concord's audience, with
/// the person's `roles`, lasting `lasts` seconds.
fn access_claims(issuer: &str, sub: &str, roles: &[&str], lasts: i64) -> Value {
    json!({
        "iss": issuer, "aud": [AUDIENCE, "account"], "sub": sub, "exp": now() + lasts, "iat": now() - 5,
        "jti": format!("at-{sub}-{}", rand::random::<u32>()), "typ": "Bearer", "azp": CLIENT,
        "realm_access": { "roles": roles },
    })
}

fn json_answer(status: AxumStatus, body: Value) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

async fn discovery(State(p): State<Provider>) -> Response {
    let issuer = p.issuer();
    json_answer(
        AxumStatus::OK,
        json!({
            "issuer": issuer,
            "authorization_endpoint": format!("{issuer}/protocol/openid-connect/auth"),
            "token_endpoint": format!("{issuer}/protocol/openid-connect/token"),
            "jwks_uri": format!("{issuer}/protocol/openid-connect/certs"),
            "end_session_endpoint": format!("{issuer}/protocol/openid-connect/logout"),
            "revocation_endpoint": format!("{issuer}/protocol/openid-connect/revoke"),
            "response_types_supported": ["code"],
            "code_challenge_methods_supported": ["S256"],
            "id_token_signing_alg_values_supported": ["RS256"],
        }),
    )
}

async fn jwks(State(p): State<Provider>) -> Response {
    let jwk = p.state.lock().unwrap().key.jwk.clone();
    json_answer(AxumStatus::OK, json!({ "keys": [jwk] }))
}

/// The authorization endpoint: checks the request as a provider must (a
/// known client, its registered redirect URI, a code with S256 PKCE, the
/// openid scope), then shows the sign-in page.
async fn authorize_page(State(p): State<Provider>, Query(q): Query<HashMap<String, String>>) -> Response {
    let mut state = p.state.lock().unwrap();
    let field = |name: &str| q.get(name).cloned().unwrap_or_default();
    let checks = [
        (field("client_id") == state.client, "unknown client"),
        (field("redirect_uri") == state.redirect_uri, "redirect_uri not registered"),
        (field("response_type") == "code", "response_type must be code"),
        (field("scope").split(' ').any(|s| s == "openid"), "scope must hold openid"),
        (field("code_challenge_method") == "S256", "PKCE S256 required"),
        (field("code_challenge").len() == 43, "code_challenge missing"),
        (!field("state").is_empty() && !field("nonce").is_empty(), "state and nonce required"),
    ];
    if let Some((_, why)) = checks.iter().find(|(ok, _)| !ok) {
        return (AxumStatus::BAD_REQUEST, *why).into_response();
    }
    let id = format!("{:032x}", rand::random::<u128>());
    let asked = Asked {
        redirect_uri: field("redirect_uri"),
        state: field("state"),
        nonce: field("nonce"),
        challenge: field("code_challenge"),
    };
    state.asked.insert(id.clone(), asked);
    let people: String = PEOPLE.iter().map(|(sub, _)| format!("<option value=\"{sub}\">{sub}</option>")).collect();
    Html(format!(
        "<!DOCTYPE html><html lang=\"en\"><head><title>Test provider</title></head><body><main>\
         <h1>Sign in to the test provider</h1>\
         <form method=\"post\" action=\"{AUTH}\"><input type=\"hidden\" name=\"request\" value=\"{id}\">\
         <label for=\"person\">Who you are</label> <select id=\"person\" name=\"person\">{people}</select>\
         <button id=\"approve\" name=\"decision\" value=\"approve\">Sign in</button>\
         <button id=\"deny\" name=\"decision\" value=\"deny\">Cancel</button></form></main></body></html>"
    ))
    .into_response()
}

#[derive(Deserialize)]
struct AuthorizeAnswer {
    request: String,
    person: String,
    decision: String,
}

/// The person's answer: back to the console with a code, or `access_denied`.
async fn authorize_answer(State(p): State<Provider>, Form(answer): Form<AuthorizeAnswer>) -> Response {
    let mut state = p.state.lock().unwrap();
    let Some(asked) = state.asked.remove(&answer.request) else {
        return (AxumStatus::BAD_REQUEST, "no such request").into_response();
    };
    let mut back = Url::parse(&asked.redirect_uri).unwrap();
    if answer.decision == "approve" {
        let code = format!("{:032x}", rand::random::<u128>());
        let issued = Issued {
            redirect_uri: asked.redirect_uri.clone(),
            nonce: asked.nonce,
            challenge: asked.challenge,
            sub: answer.person,
            used: false,
        };
        state.codes.insert(code.clone(), issued);
        back.query_pairs_mut().append_pair("code", &code);
    } else {
        back.query_pairs_mut().append_pair("error", "access_denied");
    }
    back.query_pairs_mut().append_pair("state", &asked.state).append_pair("iss", &state.issuer);
    Redirect::to(back.as_str()).into_response()
}

/// `value` form-decoded.
fn form_decoded(value: &str) -> String {
    let url = Url::parse(&format!("http://decode.invalid/?v={value}")).unwrap();
    url.query_pairs().next().map(|(_, v)| v.into_owned()).unwrap_or_default()
}

/// The client an HTTP Basic `authorization` names: its id and secret.
fn basic_client(headers: &HeaderMap) -> Option<(String, String)> {
    let basic = headers.get(header::AUTHORIZATION)?.to_str().ok()?.strip_prefix("Basic ")?;
    let text = String::from_utf8(B64.decode(basic).ok()?).ok()?;
    text.split_once(':').map(|(id, secret)| (form_decoded(id), form_decoded(secret)))
}

/// The token endpoint: the client by HTTP Basic; for a code, the code once
/// only, for the redirect URI it was issued for, and the PKCE verifier
/// whose S256 hash is the code's challenge; for a refresh token, one it
/// issued, not revoked, and not yet spent (refreshing rotates it), unless
/// told to refuse them. Each grant issues new tokens and a new refresh token.
async fn token(State(p): State<Provider>, headers: HeaderMap, Form(form): Form<HashMap<String, String>>) -> Response {
    let mut state = p.state.lock().unwrap();
    let refuse = |state: &mut ProviderState, error: &str, why: &str| {
        state.refusals.push(why.to_string());
        json_answer(AxumStatus::BAD_REQUEST, json!({ "error": error, "error_description": why }))
    };
    if state.down {
        return (AxumStatus::SERVICE_UNAVAILABLE, "down for maintenance").into_response();
    }
    if basic_client(&headers) != Some((state.client.clone(), SECRET.to_string())) {
        return refuse(&mut state, "invalid_client", "client authentication failed");
    }
    let field = |name: &str| form.get(name).cloned().unwrap_or_default();
    let granted = match field("grant_type").as_str() {
        "authorization_code" => code_grant(&mut state, &field("code"), &field("redirect_uri"), &field("code_verifier")),
        "refresh_token" => refresh_grant(&mut state, &field("refresh_token")),
        _ => return refuse(&mut state, "unsupported_grant_type", "grant_type"),
    };
    match granted {
        Ok((sub, nonce)) => issue(&mut state, &sub, &nonce),
        Err(why) => refuse(&mut state, "invalid_grant", why),
    }
}

/// Whose sign-in (`sub`, `nonce`) a code is, if it may be exchanged.
fn code_grant(
    state: &mut ProviderState,
    code: &str,
    redirect_uri: &str,
    verifier: &str,
) -> Result<(String, String), &'static str> {
    let issued = state.codes.get_mut(code).ok_or("unknown code")?;
    if issued.used {
        return Err("code already used");
    }
    issued.used = true;
    if issued.redirect_uri != redirect_uri {
        return Err("redirect_uri differs");
    }
    if B64URL.encode(Sha256::digest(verifier.as_bytes())) != issued.challenge {
        return Err("code_verifier does not match the code_challenge");
    }
    Ok((issued.sub.clone(), issued.nonce.clone()))
}

/// Whose sign-in (`sub`, `nonce`) a refresh token is, if it may be spent.
fn refresh_grant(state: &mut ProviderState, refresh_token: &str) -> Result<(String, String), &'static str> {
    let refresh = state.refresh_tokens.get_mut(refresh_token).ok_or("unknown refresh token")?;
    if refresh.revoked {
        return Err("refresh token revoked");
    }
    if refresh.spent {
        return Err("refresh token already used");
    }
    refresh.spent = true;
    let granted = (refresh.sub.clone(), refresh.nonce.clone());
    if state.refuse_refresh {
        return Err("session not active");
    }
    state.refreshes += 1;
    Ok(granted)
}

/// New tokens for `sub`'s sign-in with `nonce` (as Keycloak, the ID token
/// carries the nonce at each refresh too), as the provider now misbehaves.
fn issue(state: &mut ProviderState, sub: &str, nonce: &str) -> Response {
    let issuer = match state.misbehave {
        Misbehave::OtherIssuer => "http://localhost:9/realms/other".to_string(),
        _ => state.issuer.clone(),
    };
    let signed_nonce = if state.misbehave == Misbehave::WrongNonce { "another-sign-in" } else { nonce };
    let sub = if state.misbehave == Misbehave::OtherPerson { "officer-1" } else { sub };
    let lasts = state.lifetime;
    let roles = state.roles_now.get(sub).copied().unwrap_or(roles(sub));
    let mut id_claims = json!({
        "iss": issuer, "aud": state.client, "azp": state.client, "sub": sub, "exp": now() + lasts, "iat": now() - 5,
        "nonce": signed_nonce, "typ": "ID",
    });
    let signer = if state.misbehave == Misbehave::ForgedKey { &state.forger } else { &state.key };
    let access_token = if state.opaque_access {
        id_claims["realm_access"] = json!({ "roles": roles });
        format!("opaque-{:032x}", rand::random::<u128>())
    } else {
        signer.sign(&access_claims(&issuer, sub, roles, lasts))
    };
    let id_token = signer.sign(&id_claims);
    let refresh_token = format!("refresh-{:032x}", rand::random::<u128>());
    let refresh = Refresh { sub: sub.to_string(), nonce: nonce.to_string(), spent: false, revoked: false };
    state.refresh_tokens.insert(refresh_token.clone(), refresh);
    state.issued.extend([id_token.clone(), access_token.clone(), refresh_token.clone()]);
    let tokens = json!({
        "token_type": "Bearer", "expires_in": lasts, "refresh_expires_in": 1800,
        "id_token": id_token, "access_token": access_token, "refresh_token": refresh_token,
    });
    json_answer(AxumStatus::OK, tokens)
}

/// The revocation endpoint (RFC 7009): the client by HTTP Basic; a refresh
/// token it issued is revoked.
async fn revoke(State(p): State<Provider>, headers: HeaderMap, Form(form): Form<HashMap<String, String>>) -> Response {
    let mut state = p.state.lock().unwrap();
    if basic_client(&headers) != Some((state.client.clone(), SECRET.to_string())) {
        return json_answer(AxumStatus::UNAUTHORIZED, json!({ "error": "invalid_client" }));
    }
    let token = form.get("token").cloned().unwrap_or_default();
    if let Some(refresh) = state.refresh_tokens.get_mut(&token) {
        refresh.revoked = true;
        state.revoked.push(token);
    }
    AxumStatus::OK.into_response()
}

/// The end-session endpoint: back to the console's registered page.
async fn logout(State(p): State<Provider>, Query(q): Query<HashMap<String, String>>) -> Response {
    let mut state = p.state.lock().unwrap();
    let back = q.get("post_logout_redirect_uri").cloned().unwrap_or_default();
    if q.get("client_id") != Some(&state.client) || back != state.signed_out_uri {
        return (AxumStatus::BAD_REQUEST, "unknown client or post_logout_redirect_uri").into_response();
    }
    state.sign_outs += 1;
    Redirect::to(&back).into_response()
}

/// A platform trusting the provider, a police officer's arrest of
/// [`CHILD`] published with the provider's token, and the console, signing
/// in with the provider.
struct Setup {
    t: TestPlatform,
    provider: Provider,
    url: String,
    files: tempfile::TempDir,
}

/// The console's and the provider's options, as `concord serve` and `concord up` take them.
#[derive(clap::Parser)]
struct Flags {
    #[command(flatten)]
    web: WebArg,
    #[command(flatten)]
    oidc: OidcArg,
}

/// Parses `flags` (after the provider's) as the command line would.
fn flags(provider: &Provider, files: &std::path::Path, flags: &[&str]) -> Flags {
    let mapping = files.join("mapping.toml");
    std::fs::write(&mapping, MAPPING).unwrap();
    let issuer = provider.issuer();
    let mapping = mapping.display().to_string();
    let oidc = ["--oidc-issuer", &issuer, "--oidc-audience", AUDIENCE, "--oidc-claims", &mapping];
    let args = ["concord"].iter().chain(&oidc).chain(flags).copied();
    <Flags as clap::Parser>::try_parse_from(args).unwrap()
}

/// The console with the sign-in `flags` configure, over `t`.
async fn console(t: &TestPlatform, flags: &Flags) -> concord_web::Console {
    let oidc = flags.oidc.config().unwrap().unwrap();
    let sign_in = flags.web.provider_sign_in(&oidc, t.platform.services().verifier.clone()).await.unwrap();
    assert!(matches!(sign_in, concord_web::SignIn::Oidc(_)));
    let zone = jiff::tz::TimeZone::get("Europe/London").unwrap();
    let console = concord::web::console(&t.platform.services(), sign_in, zone).unwrap();
    flags.web.with_tls(console).unwrap()
}

/// The console listening on `listener` (its address as browsers reach it:
/// `url`), over TLS if `tls` names a certificate and key; the console is
/// [`CLIENT`] at the provider, or where `opaque_access`, is known there by
/// Concord's audience (the default client id).
async fn setup(listener: TcpListener, url: &str, tls: Option<(String, String)>, opaque_access: bool) -> Setup {
    let client = if opaque_access { AUDIENCE } else { CLIENT };
    let provider = Provider::start(url, client, opaque_access).await;
    let t = TestPlatform::start_oidc(provider.config()).await;
    publish(&t, arrest(CHILD, "Seen near the station"), &provider.access_token("officer-1")).await.unwrap();
    let files = tempfile::tempdir().unwrap();
    let secret = files.path().join("client-secret");
    std::fs::write(&secret, format!("{SECRET}\n")).unwrap();
    let secret = secret.display().to_string();
    let mut args = vec!["--web-url", url, "--web-client-secret-file", &secret];
    if !opaque_access {
        args.extend(["--web-client-id", CLIENT]);
    }
    let (cert_path, key_path) = (files.path().join("web.pem"), files.path().join("web-key.pem"));
    let (cert_arg, key_arg) = (cert_path.display().to_string(), key_path.display().to_string());
    if let Some((cert, key)) = tls {
        std::fs::write(&cert_path, cert).unwrap();
        std::fs::write(&key_path, key).unwrap();
        args.extend(["--web-tls-cert", &cert_arg, "--web-tls-key", &key_arg]);
    }
    let flags = flags(&provider, files.path(), &args);
    let serving = console(&t, &flags).await.serve(listener, std::future::pending()).unwrap();
    tokio::spawn(serving);
    Setup { t, provider, url: url.to_string(), files }
}

/// A console on a loopback port over plain HTTP.
async fn plain() -> Setup {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    setup(listener, &url, None, false).await
}

/// The access records from `from` on (1-based positions).
fn records_from(t: &TestPlatform, from: u64) -> Vec<pb::AccessRecord> {
    let audit = &t.platform.audit;
    (from..=audit.log().size()).map(|position| audit.get(position).unwrap().unwrap()).collect()
}

/// Waits for the browser to be at `path`, however it got there (a page
/// that moves on by itself).
async fn arrive(b: &Browser, path: &str) {
    for _ in 0..100 {
        let at = b.client.current_url().await.unwrap();
        let ready = b.client.execute("return document.readyState", vec![]).await.unwrap();
        if at.path() == path && ready == "complete" {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("never reached {path}: {}", b.client.source().await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reader_signs_in_with_the_provider_in_a_browser_and_reads_as_the_mapped_agency() {
    let s = plain().await;
    // Tokens lasting seconds, as Keycloak's last minutes: the session renews them.
    s.provider.set(|p| p.lifetime = LIFETIME);
    let start = s.t.platform.audit.log().size() + 1;
    let b = Browser::start().await;
    let mut visited = Vec::new();

    go(&b, &s.url, "/sign-in").await;
    let page = check(&b, "sign-in-provider", &mut visited).await;
    assert!(page.contains("href=\"/sign-in/start\""), "{page}");
    // To the provider's page (on another site), which asks who you are.
    click_to(&b, Locator::Id("sign-in"), AUTH).await;
    let at = b.client.current_url().await.unwrap();
    assert_eq!(at.host_str(), Some("localhost"), "{at}");
    b.client.find(Locator::Id("person")).await.unwrap().select_by_value("sw-1").await.unwrap();
    // Back through the callback, signed in, and on to the search.
    b.client.find(Locator::Id("approve")).await.unwrap().click().await.unwrap();
    arrive(&b, "/find").await;
    let find = check(&b, "find-after-provider-sign-in", &mut visited).await;
    assert!(find.contains("practitioner at childrens_services.harrow, for safeguarding"), "{find}");

    // The police officer's arrest, read as children's services.
    type_into(&b, "key", &format!("person/{CHILD}")).await;
    let timeline = format!("/subjects/person/{CHILD}");
    click_to(&b, Locator::Id("find-key"), &timeline).await;
    let page = check(&b, "timeline-after-provider-sign-in", &mut visited).await;
    assert!(page.contains("Arrest"), "{page}");
    // Read again once the token has expired: the session renewed it.
    outlive_tokens().await;
    go(&b, &s.url, &timeline).await;
    assert!(b.client.source().await.unwrap().contains("Arrest"));
    assert!(s.provider.refreshes() >= 1);
    let records = records_from(&s.t, start);
    let reads: Vec<_> = records.iter().filter(|r| r.rpc.ends_with("/SubjectTimeline")).collect();
    assert_eq!(reads.len(), 2, "{records:?}");
    for read in reads {
        assert_eq!(
            (read.principal.as_str(), read.agency_id.as_str(), read.role.as_str(), read.outcome.as_str()),
            ("sw-1", "childrens_services.harrow", "practitioner", "ok")
        );
        assert!(read.peer.starts_with("127.0.0.1:"), "{read:?}");
    }

    // Signing out ends the session, revokes its refresh token, and signs
    // out of the provider too, which sends the browser back to the sign-in page.
    b.client.find(Locator::Css("header button")).await.unwrap().click().await.unwrap();
    arrive(&b, "/sign-in").await;
    assert_eq!(s.provider.state.lock().unwrap().sign_outs, 1);
    assert_eq!(revoked(&s.provider, 1).await.len(), 1);
    b.client.goto(&format!("{}/find", s.url)).await.unwrap();
    arrive(&b, "/sign-in").await;

    // Cancelling at the provider: the sign-in page says why, and signs nobody in.
    click_to(&b, Locator::Id("sign-in"), AUTH).await;
    b.client.find(Locator::Id("deny")).await.unwrap().click().await.unwrap();
    arrive(&b, "/sign-in/callback").await;
    let refused = check(&b, "sign-in-refused", &mut visited).await;
    assert!(refused.contains("You could not be signed in") && refused.contains("access_denied"), "{refused}");
    assert!(!refused.contains("Sign out"), "{refused}");

    // Signed in again, until the provider ends the person's session there:
    // the next page view past the token's life lands on the sign-in page,
    // which says so.
    click_to(&b, Locator::Id("sign-in"), AUTH).await;
    b.client.find(Locator::Id("approve")).await.unwrap().click().await.unwrap();
    arrive(&b, "/find").await;
    s.provider.set(|p| p.refuse_refresh = true);
    outlive_tokens().await;
    b.client.goto(&format!("{}{timeline}", s.url)).await.unwrap();
    arrive(&b, "/sign-in").await;
    let again = check(&b, "sign-in-again-after-refused-renewal", &mut visited).await;
    assert!(again.contains("You need to sign in again") && again.contains("invalid_grant"), "{again}");
    assert!(!again.contains("Arrest") && !again.contains("Sign out"), "{again}");
    b.close().await;
}

/// A sign-in begun at the console: the pending sign-in's cookie
/// (`name=value`) and the provider's authorization URL.
async fn begin(s: &Setup, client: &reqwest::Client) -> (String, Url) {
    let started = client.get(format!("{}/sign-in/start", s.url)).send().await.unwrap();
    assert_eq!(started.status(), StatusCode::SEE_OTHER);
    let cookie = set_cookies(&started).into_iter().next().expect("a pending sign-in's cookie");
    let to = Url::parse(started.headers()[LOCATION].to_str().unwrap()).unwrap();
    (cookie.split(';').next().unwrap().to_string(), to)
}

/// The provider's answer as `person` ("approve" or "deny"): the console's
/// callback address it sends the browser to.
async fn authorize(to: &Url, person: &str, decision: &str) -> Url {
    let page = http().get(to.clone()).send().await.unwrap().text().await.unwrap();
    let request = page.split("name=\"request\" value=\"").nth(1).and_then(|r| r.split('"').next()).unwrap();
    let answer = [("request", request), ("person", person), ("decision", decision)];
    let answered = http().post(to.as_str().split('?').next().unwrap()).form(&answer).send().await.unwrap();
    Url::parse(answered.headers()[LOCATION].to_str().unwrap()).unwrap()
}

/// Follows `callback` with `cookie`.
async fn callback(client: &reqwest::Client, callback: &Url, cookie: Option<&str>) -> reqwest::Response {
    let mut request = client.get(callback.clone());
    if let Some(cookie) = cookie {
        request = request.header(COOKIE, cookie);
    }
    request.send().await.unwrap()
}

/// Every `Set-Cookie` of an answer.
fn set_cookies(response: &reqwest::Response) -> Vec<String> {
    response.headers().get_all(SET_COOKIE).iter().map(|v| v.to_str().unwrap().to_string()).collect()
}

/// `callback` with its query parameter `name` set to `value`.
fn with_param(callback: &Url, name: &str, value: &str) -> Url {
    let mut changed = callback.clone();
    let pairs: Vec<(String, String)> = callback
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == name { value.to_string() } else { v.into_owned() };
            (k.into_owned(), v)
        })
        .collect();
    changed.query_pairs_mut().clear().extend_pairs(pairs);
    changed
}

/// A refused sign-in: a page saying `why`, the pending sign-in's cookie
/// cleared, and no session.
async fn assert_refused(response: reqwest::Response, why: &str) {
    assert_eq!(response.status(), StatusCode::FORBIDDEN, "{why}");
    let cookies = set_cookies(&response);
    assert!(cookies.iter().all(|c| !c.contains("concord-session")), "{why}: {cookies:?}");
    assert!(cookies.iter().any(|c| c.starts_with("concord-sign-in=;") && c.contains("Max-Age=0")), "{cookies:?}");
    let page = response.text().await.unwrap();
    assert!(page.contains("You could not be signed in") && page.contains(why), "{why}: {page}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn forged_replayed_stolen_and_unmapped_sign_ins_are_refused_without_a_session() {
    let s = plain().await;
    let client = http();

    // A genuine sign-in, over HTTP: a new session, and a page moving on to the search.
    let (cookie, to) = begin(&s, &client).await;
    assert!(to.as_str().starts_with(&format!("{}/protocol/openid-connect/auth?", s.provider.issuer())), "{to}");
    let back = authorize(&to, "sw-1", "approve").await;
    assert_eq!(back.path(), "/sign-in/callback");
    let signed_in = callback(&client, &back, Some(&cookie)).await;
    assert_eq!(signed_in.status(), StatusCode::OK);
    assert_eq!(signed_in.headers()["refresh"], "0; url=/find");
    let session = set_cookies(&signed_in).into_iter().find(|c| c.starts_with("concord-session=")).unwrap();
    assert!(session.contains("HttpOnly") && session.contains("SameSite=Strict"), "{session}");
    let session = session.split(';').next().unwrap().to_string();
    let find = client.get(format!("{}/find", s.url)).header(COOKIE, &session).send().await.unwrap();
    assert_eq!(find.status(), StatusCode::OK);
    assert!(find.text().await.unwrap().contains("practitioner at childrens_services.harrow"));

    // The same answer again (a replayed callback): the pending sign-in is used up.
    assert_refused(callback(&client, &back, Some(&cookie)).await, "already used").await;

    // A forged state; then the genuine one, too late: the forgery used it up.
    let (cookie, to) = begin(&s, &client).await;
    let back = authorize(&to, "sw-1", "approve").await;
    assert_refused(callback(&client, &with_param(&back, "state", "forged"), Some(&cookie)).await, "already used").await;
    assert_refused(callback(&client, &back, Some(&cookie)).await, "already used").await;

    // An answer naming another issuer (a mix-up: RFC 9207).
    let (cookie, to) = begin(&s, &client).await;
    let back = authorize(&to, "sw-1", "approve").await;
    let mixed_up = with_param(&back, "iss", "https://login.example.org/evil");
    assert_refused(callback(&client, &mixed_up, Some(&cookie)).await, "names another issuer").await;

    // Another browser's answer (login CSRF: the victim has no pending sign-in).
    let (_, to) = begin(&s, &client).await;
    let back = authorize(&to, "sw-1", "approve").await;
    assert_refused(callback(&client, &back, None).await, "not started in this browser").await;

    // The person cancels at the provider.
    let (cookie, to) = begin(&s, &client).await;
    let back = authorize(&to, "sw-1", "deny").await;
    assert_refused(callback(&client, &back, Some(&cookie)).await, "access_denied").await;

    // A code stolen from another sign-in, injected into the attacker's own:
    // the console sends its own sign-in's PKCE verifier, and the provider
    // refuses it.
    let (_, victims) = begin(&s, &client).await;
    let stolen = authorize(&victims, "sw-1", "approve").await;
    let stolen_code = stolen.query_pairs().find(|(k, _)| k == "code").unwrap().1.into_owned();
    let (cookie, to) = begin(&s, &client).await;
    let own = authorize(&to, "stranger", "approve").await;
    let injected = with_param(&own, "code", &stolen_code);
    assert_refused(callback(&client, &injected, Some(&cookie)).await, "invalid_grant").await;
    assert_eq!(s.provider.refusals().last().unwrap(), "code_verifier does not match the code_challenge");

    // Tokens the provider's keys did not sign, or naming another issuer,
    // or an ID token carrying another sign-in's nonce.
    for (how, why) in [
        (Misbehave::ForgedKey, "signature does not verify"),
        (Misbehave::OtherIssuer, "issuer this service does not trust"),
        (Misbehave::WrongNonce, "not issued for this sign-in"),
    ] {
        s.provider.misbehave(how);
        let (cookie, to) = begin(&s, &client).await;
        let back = authorize(&to, "sw-1", "approve").await;
        assert_refused(callback(&client, &back, Some(&cookie)).await, why).await;
    }
    s.provider.misbehave(Misbehave::None);

    // Someone the provider knows, whose roles the mapping grants nothing.
    let (cookie, to) = begin(&s, &client).await;
    let back = authorize(&to, "stranger", "approve").await;
    assert_refused(callback(&client, &back, Some(&cookie)).await, "map to no access").await;

    // Behind a proxy that ends TLS: reached at an https:// address, the
    // console on a plain loopback port sets Secure cookies all the same.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxied = format!("http://{}", listener.local_addr().unwrap());
    let behind = ["--web-url", "https://concord.example.org", "--web-client-id", CLIENT];
    let behind = console(&s.t, &flags(&s.provider, s.files.path(), &behind)).await;
    tokio::spawn(behind.serve(listener, std::future::pending()).unwrap());
    let started = client.get(format!("{proxied}/sign-in/start")).send().await.unwrap();
    let pending = set_cookies(&started).into_iter().next().unwrap();
    assert!(pending.starts_with("__Host-concord-sign-in=") && pending.ends_with("; Secure"), "{pending}");

    // The provider's sign-in is not served off loopback over plain HTTP.
    let listener = TcpListener::bind("0.0.0.0:0").await.unwrap();
    let public = flags(&s.provider, s.files.path(), &["--web-url", "http://127.0.0.1:1", "--web-client-id", CLIENT]);
    let console = console(&s.t, &public).await;
    let refused = console.serve(listener, std::future::pending()).err().expect("refused off loopback without TLS");
    assert!(refused.to_string().contains("only over TLS"), "{refused}");
    // And the console's address means nothing without a provider.
    let alone = <Flags as clap::Parser>::try_parse_from(["concord", "--web-url", "https://concord.example.org"]);
    assert!(alone.err().unwrap().to_string().contains("--oidc-issuer"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn over_tls_the_console_sets_host_prefixed_secure_cookies_and_hsts() {
    let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    let (cert, key) = (certified.cert.pem(), certified.signing_key.serialize_pem());
    // Served on every interface: over TLS the provider's sign-in may be.
    let listener = TcpListener::bind("0.0.0.0:0").await.unwrap();
    let url = format!("https://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let s = setup(listener, &url, Some((cert.clone(), key)), false).await;
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert.as_bytes()).unwrap())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let hsts = |response: &reqwest::Response| {
        response
            .headers()
            .get("strict-transport-security")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };

    let page = client.get(format!("{url}/sign-in")).send().await.unwrap();
    assert_eq!((page.status(), hsts(&page).as_str()), (StatusCode::OK, "max-age=31536000"));

    let started = client.get(format!("{url}/sign-in/start")).send().await.unwrap();
    let pending = set_cookies(&started).into_iter().next().unwrap();
    assert!(pending.starts_with("__Host-concord-sign-in="), "{pending}");
    assert!(pending.ends_with("; Path=/; Max-Age=600; HttpOnly; SameSite=Lax; Secure"), "{pending}");
    let to = Url::parse(started.headers()[LOCATION].to_str().unwrap()).unwrap();
    let redirect_uri = to.query_pairs().find(|(k, _)| k == "redirect_uri").unwrap().1.into_owned();
    assert_eq!(redirect_uri, format!("{url}/sign-in/callback"));

    let back = authorize(&to, "sw-1", "approve").await;
    let cookie = pending.split(';').next().unwrap();
    let signed_in = callback(&client, &back, Some(cookie)).await;
    assert_eq!((signed_in.status(), hsts(&signed_in).as_str()), (StatusCode::OK, "max-age=31536000"));
    let cookies = set_cookies(&signed_in);
    let session = cookies.iter().find(|c| c.starts_with("__Host-concord-session=")).expect("a __Host- session cookie");
    assert!(session.ends_with("; Path=/; HttpOnly; SameSite=Strict; Secure"), "{session}");
    let find =
        client.get(format!("{url}/find")).header(COOKIE, session.split(';').next().unwrap()).send().await.unwrap();
    assert_eq!((find.status(), hsts(&find).as_str()), (StatusCode::OK, "max-age=31536000"));
    // Plain HTTP on the TLS port gets no page.
    let plain = http().get(format!("http://127.0.0.1:{}/sign-in", Url::parse(&url).unwrap().port().unwrap())).send();
    assert!(plain.await.is_err(), "a page over plain HTTP on the TLS port");
    drop(s);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn where_access_tokens_are_not_for_concord_the_session_reads_with_the_id_token() {
    // As Entra ID: the access token is for another API (here opaque), the
    // roles are in the ID token, and the console's client id is Concord's
    // audience (the default, as no --web-client-id is given).
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let s = setup(listener, &url, None, true).await;
    let client = http();
    let (cookie, to) = begin(&s, &client).await;
    let client_id = to.query_pairs().find(|(k, _)| k == "client_id").unwrap().1.into_owned();
    assert_eq!(client_id, AUDIENCE);
    let back = authorize(&to, "sw-1", "approve").await;
    let signed_in = callback(&client, &back, Some(&cookie)).await;
    assert_eq!(signed_in.status(), StatusCode::OK);
    let session = set_cookies(&signed_in).into_iter().find(|c| c.starts_with("concord-session=")).unwrap();
    let session = session.split(';').next().unwrap().to_string();
    let start = s.t.platform.audit.log().size() + 1;
    let timeline = client.get(format!("{url}/subjects/person/{CHILD}")).header(COOKIE, &session).send().await.unwrap();
    assert_eq!(timeline.status(), StatusCode::OK);
    assert!(timeline.text().await.unwrap().contains("Arrest"));
    let records = records_from(&s.t, start);
    assert_eq!(
        records.iter().map(|r| (r.principal.as_str(), r.agency_id.as_str(), r.outcome.as_str())).collect::<Vec<_>>(),
        [("sw-1", "childrens_services.harrow", "ok")]
    );
    // Someone the ID token's roles map to nothing is told so.
    let (cookie, to) = begin(&s, &client).await;
    let back = authorize(&to, "stranger", "approve").await;
    assert_refused(callback(&client, &back, Some(&cookie)).await, "not given access to Concord").await;
}

/// How long the provider's tokens last where a test outlives them, in seconds.
const LIFETIME: i64 = 3;

/// Waits until tokens issued now, lasting [`LIFETIME`], have expired.
async fn outlive_tokens() {
    tokio::time::sleep(std::time::Duration::from_secs(LIFETIME as u64 + 1)).await;
}

/// The refresh tokens the provider revoked, once there are `count` (a
/// signed-out session's is revoked in the background).
async fn revoked(provider: &Provider, count: usize) -> Vec<String> {
    for _ in 0..100 {
        let revoked = provider.state.lock().unwrap().revoked.clone();
        if revoked.len() >= count {
            return revoked;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("fewer than {count} refresh tokens revoked");
}

/// A console page as a browser gets it: status, where it sends the
/// browser, cookies and page.
struct Viewed {
    status: StatusCode,
    location: String,
    cookies: Vec<String>,
    page: String,
}

/// GETs `path` of the console with cookie `session`, keeping all the
/// browser was given in `shown`.
async fn view(s: &Setup, client: &reqwest::Client, path: &str, session: &str, shown: &mut Vec<String>) -> Viewed {
    let response = client.get(format!("{}{path}", s.url)).header(COOKIE, session).send().await.unwrap();
    let status = response.status();
    let location = response.headers().get(LOCATION).map(|l| l.to_str().unwrap().to_string()).unwrap_or_default();
    let cookies = set_cookies(&response);
    let page = response.text().await.unwrap();
    shown.extend(cookies.iter().cloned().chain([location.clone(), page.clone()]));
    Viewed { status, location, cookies, page }
}

/// Signs `person` in over HTTP, keeping all the browser was given in
/// `shown`; the session's cookie (`name=value`).
async fn http_sign_in(s: &Setup, client: &reqwest::Client, person: &str, shown: &mut Vec<String>) -> String {
    let (cookie, to) = begin(s, client).await;
    let back = authorize(&to, person, "approve").await;
    let signed_in = callback(client, &back, Some(&cookie)).await;
    assert_eq!(signed_in.status(), StatusCode::OK);
    let cookies = set_cookies(&signed_in);
    shown.extend(cookies.iter().cloned().chain([signed_in.text().await.unwrap()]));
    let session = cookies.iter().find(|c| c.starts_with("concord-session=")).expect("a session");
    session.split(';').next().unwrap().to_string()
}

/// Reads [`CHILD`]'s timeline as the signed-in `session`, asserting it is shown.
async fn read_timeline(s: &Setup, client: &reqwest::Client, session: &str, shown: &mut Vec<String>) {
    let timeline = view(s, client, &format!("/subjects/person/{CHILD}"), session, shown).await;
    assert_eq!(timeline.status, StatusCode::OK, "{}", timeline.page);
    assert!(timeline.page.contains("Arrest"), "{}", timeline.page);
}

/// A page view of [`CHILD`]'s timeline by `session` whose renewal failed:
/// sent to sign in, with no page data and no access record; the sign-in
/// page then says `why` (once: the session is gone).
async fn assert_sent_to_sign_in_again(
    s: &Setup,
    client: &reqwest::Client,
    session: &str,
    why: &str,
    shown: &mut Vec<String>,
) {
    let records = s.t.platform.audit.log().size();
    let timeline = view(s, client, &format!("/subjects/person/{CHILD}"), session, shown).await;
    assert_eq!((timeline.status, timeline.location.as_str()), (StatusCode::SEE_OTHER, "/sign-in"), "{why}");
    assert!(!timeline.page.contains("Arrest"), "{why}: {}", timeline.page);
    assert_eq!(s.t.platform.audit.log().size(), records, "{why}: the page view reached the service");
    let sign_in = view(s, client, "/sign-in", session, shown).await;
    assert_eq!(sign_in.status, StatusCode::OK);
    assert!(sign_in.page.contains("You need to sign in again") && sign_in.page.contains(why), "{}", sign_in.page);
    assert!(!sign_in.page.contains("Sign out"), "{}", sign_in.page);
    assert!(sign_in.cookies.iter().any(|c| c.starts_with("concord-session=;") && c.contains("Max-Age=0")));
    let again = view(s, client, "/sign-in", session, shown).await;
    assert!(!again.page.contains("You need to sign in again"), "said twice: {}", again.page);
    let gone = view(s, client, &format!("/subjects/person/{CHILD}"), session, shown).await;
    assert_eq!((gone.status, gone.location.as_str()), (StatusCode::SEE_OTHER, "/sign-in"));
}

/// No token the provider issued (ID, access or refresh) is in anything the
/// browser was given.
fn assert_no_token_shown(provider: &Provider, shown: &[String]) {
    let issued = provider.state.lock().unwrap().issued.clone();
    assert!(!issued.is_empty() && !shown.is_empty());
    for token in &issued {
        // A JWT's signature alone would name it; a refresh token is one piece.
        let tail = token.rsplit('.').next().unwrap();
        assert!(shown.iter().all(|text| !text.contains(tail)), "a token reached the browser");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_session_renews_its_short_lived_token_until_the_provider_ends_it() {
    let s = plain().await;
    s.provider.set(|p| p.lifetime = LIFETIME);
    let client = http();
    let mut shown = Vec::new();
    let start = s.t.platform.audit.log().size() + 1;

    // Read, and read again past the token's life: the session renewed it
    // once, and reads as the same person.
    let session = http_sign_in(&s, &client, "sw-1", &mut shown).await;
    read_timeline(&s, &client, &session, &mut shown).await;
    assert_eq!(s.provider.refreshes(), 0);
    outlive_tokens().await;
    read_timeline(&s, &client, &session, &mut shown).await;
    assert_eq!(s.provider.refreshes(), 1);
    read_timeline(&s, &client, &session, &mut shown).await;
    assert_eq!(s.provider.refreshes(), 1, "a fresh token renewed again");
    let records = records_from(&s.t, start);
    assert_eq!(
        records.iter().map(|r| (r.principal.as_str(), r.agency_id.as_str(), r.role.as_str())).collect::<Vec<_>>(),
        [("sw-1", "childrens_services.harrow", "practitioner"); 3]
    );

    // The provider cannot be reached once the token has expired: the
    // session ends, and the sign-in page says why.
    s.provider.set(|p| p.down = true);
    outlive_tokens().await;
    assert_sent_to_sign_in_again(&s, &client, &session, "could not be reached", &mut shown).await;
    s.provider.set(|p| p.down = false);

    // The provider refuses the refresh token (the person's session there
    // ended): so does the console's session. Its cookie, stolen, renews
    // nothing more.
    let session = http_sign_in(&s, &client, "sw-1", &mut shown).await;
    read_timeline(&s, &client, &session, &mut shown).await;
    s.provider.set(|p| p.refuse_refresh = true);
    outlive_tokens().await;
    assert_sent_to_sign_in_again(&s, &client, &session, "invalid_grant", &mut shown).await;
    assert_eq!(s.provider.refusals().last().unwrap(), "session not active");
    s.provider.set(|p| p.refuse_refresh = false);

    // Signing out revokes the session's refresh token at the provider; the
    // cookie, replayed, neither reads nor renews.
    let session = http_sign_in(&s, &client, "sw-1", &mut shown).await;
    let find = view(&s, &client, "/find", &session, &mut shown).await;
    let csrf = find.page.split("name=\"csrf\" value=\"").nth(1).and_then(|c| c.split('"').next()).unwrap();
    let out = client
        .post(format!("{}/sign-out", s.url))
        .header(COOKIE, &session)
        .form(&[("csrf", csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::OK);
    shown.extend(set_cookies(&out).into_iter().chain([out.text().await.unwrap()]));
    let revoked = revoked(&s.provider, 1).await;
    let refreshes = s.provider.refreshes();
    outlive_tokens().await;
    let replayed = view(&s, &client, &format!("/subjects/person/{CHILD}"), &session, &mut shown).await;
    assert_eq!(replayed.location, "/sign-in");
    assert_eq!(s.provider.refreshes(), refreshes);
    let state = s.provider.state.lock().unwrap();
    assert!(state.refresh_tokens[&revoked[0]].revoked && !state.refresh_tokens[&revoked[0]].spent, "not the session's");
    drop(state);
    assert_no_token_shown(&s.provider, &shown);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refresh_token_is_spent_once_and_a_renewal_for_other_access_ends_the_session() {
    let s = plain().await;
    s.provider.set(|p| p.lifetime = LIFETIME);
    let client = http();
    let mut shown = Vec::new();

    // The provider spends a refresh token once: refreshing rotates it.
    let verifier = "v".repeat(43);
    let mut to = Url::parse(&format!("{}{}", s.provider.issuer(), AUTH.trim_start_matches("/realms/harrow"))).unwrap();
    let redirect_uri = format!("{}/sign-in/callback", s.url);
    to.query_pairs_mut()
        .append_pair("client_id", CLIENT)
        .append_pair("redirect_uri", &redirect_uri)
        .append_pair("response_type", "code")
        .append_pair("scope", "openid")
        .append_pair("state", "a-state")
        .append_pair("nonce", "a-nonce")
        .append_pair("code_challenge", &B64URL.encode(Sha256::digest(verifier.as_bytes())))
        .append_pair("code_challenge_method", "S256");
    let back = authorize(&to, "sw-1", "approve").await;
    let code = back.query_pairs().find(|(k, _)| k == "code").unwrap().1.into_owned();
    let code_grant = [
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("redirect_uri", &redirect_uri),
        ("code_verifier", &verifier),
    ];
    let (status, tokens) = token_endpoint(&s.provider, &code_grant).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let first = tokens["refresh_token"].as_str().unwrap();
    let (status, rotated) =
        token_endpoint(&s.provider, &[("grant_type", "refresh_token"), ("refresh_token", first)]).await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    assert_ne!(rotated["refresh_token"].as_str().unwrap(), first);
    let (status, reused) =
        token_endpoint(&s.provider, &[("grant_type", "refresh_token"), ("refresh_token", first)]).await;
    assert_eq!((status, reused["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")));
    assert_eq!(s.provider.refusals().last().unwrap(), "refresh token already used");

    // Page views arriving together past the token's life: one renewal, the
    // others wait for it and read with its token; none spends the refresh
    // token it rotated away.
    let refreshes = s.provider.refreshes();
    let refusals = s.provider.refusals().len();
    let session = http_sign_in(&s, &client, "sw-1", &mut shown).await;
    outlive_tokens().await;
    let mut views = tokio::task::JoinSet::new();
    for _ in 0..6 {
        let (client, session) = (client.clone(), session.clone());
        let url = format!("{}/subjects/person/{CHILD}", s.url);
        views.spawn(async move { client.get(url).header(COOKIE, session).send().await.unwrap() });
    }
    for answer in views.join_all().await {
        assert_eq!(answer.status(), StatusCode::OK);
        assert!(answer.text().await.unwrap().contains("Arrest"));
    }
    assert_eq!((s.provider.refreshes(), s.provider.refusals().len()), (refreshes + 1, refusals));
    // The rotated refresh token was kept: it renews the next time.
    outlive_tokens().await;
    read_timeline(&s, &client, &session, &mut shown).await;
    assert_eq!((s.provider.refreshes(), s.provider.refusals().len()), (refreshes + 2, refusals));

    // The person's roles change at the provider: the renewed token maps to
    // another role, and the session ends rather than read as it.
    s.provider.set(|p| _ = p.roles_now.insert("sw-1".into(), &["harrow-team-lead"]));
    outlive_tokens().await;
    assert_sent_to_sign_in_again(&s, &client, &session, "now: briefing_lead at childrens_services.harrow", &mut shown)
        .await;
    s.provider.set(|p| p.roles_now.clear());

    // The provider renews with tokens for another person: the session ends.
    let session = http_sign_in(&s, &client, "sw-1", &mut shown).await;
    s.provider.misbehave(Misbehave::OtherPerson);
    outlive_tokens().await;
    assert_sent_to_sign_in_again(&s, &client, &session, "another person", &mut shown).await;
    s.provider.misbehave(Misbehave::None);
    assert_no_token_shown(&s.provider, &shown);
}

/// The provider's token endpoint's answer to `form` from the console's
/// client: its status and body.
async fn token_endpoint(provider: &Provider, form: &[(&str, &str)]) -> (StatusCode, Value) {
    let encoded = |text: &str| {
        let mut url = Url::parse("http://encode.invalid/").unwrap();
        url.query_pairs_mut().append_pair("v", text);
        url.query().unwrap()["v=".len()..].to_string()
    };
    let url = format!("{}{}", provider.issuer(), TOKEN.trim_start_matches("/realms/harrow"));
    let response = http().post(url).basic_auth(encoded(CLIENT), Some(encoded(SECRET))).form(form).send().await.unwrap();
    let status = response.status();
    (status, serde_json::from_slice(&response.bytes().await.unwrap()).unwrap())
}
