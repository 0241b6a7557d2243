//! Tokens from the partnership's OpenID Connect provider.
//!
//! [`Verifier::discover`] reads the issuer's discovery document
//! (`/.well-known/openid-configuration`), then its JWKS. The keys are kept
//! in memory and fetched again (asynchronously, never on a blocking call)
//! when a token names a key id not yet seen, as after the provider rotates
//! its key, and every [`PERIODIC_REFRESH`], so a withdrawn key stops working.
//! Fetches on an unknown key id are at most one per [`OidcConfig::min_refresh`]
//! and one at a time, so a flood of tokens with made-up key ids costs the
//! provider almost nothing.
//!
//! Only an `https` issuer is trusted, or `http` on loopback (development and
//! tests). The provider's claims become a principal through a
//! [`ClaimMapping`].

use std::net::IpAddr;
use std::sync::{Arc, PoisonError, RwLock, Weak};
use std::time::{Duration, Instant};

use reqwest::Url;
use serde::Deserialize;

use crate::IdentityError;
use crate::keys::KeySet;
use crate::mapping::ClaimMapping;
use crate::verify::{Keys, Verifier};

/// The least time between two fetches of the JWKS on unknown key ids.
pub const MIN_REFRESH: Duration = Duration::from_secs(30);

/// How often the JWKS is fetched in any case.
pub const PERIODIC_REFRESH: Duration = Duration::from_secs(3600);

/// How long one HTTP request to the provider may take.
const HTTP_TIMEOUT: Duration = Duration::from_secs(10);

/// The largest discovery document or JWKS read.
const MAX_DOCUMENT: usize = 1 << 20;

/// Where tokens come from when an OpenID Connect provider issues them.
#[derive(Debug, Clone)]
pub struct OidcConfig {
    /// The issuer, exactly as its discovery document and its tokens' `iss` say.
    pub issuer: String,
    /// The audience tokens must be for (`aud`): the client id Concord has at the provider.
    pub audience: String,
    /// From the provider's claims to agency, role and purpose.
    pub mapping: ClaimMapping,
    /// The least time between two fetches of the JWKS on unknown key ids.
    pub min_refresh: Duration,
}

impl OidcConfig {
    /// A configuration with the default [`MIN_REFRESH`].
    pub fn new(issuer: &str, audience: &str, mapping: ClaimMapping) -> Self {
        OidcConfig { issuer: issuer.to_string(), audience: audience.to_string(), mapping, min_refresh: MIN_REFRESH }
    }
}

/// The part of a discovery document used here.
#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
}

/// The provider's keys, as last fetched.
pub(crate) struct RemoteKeys {
    http: reqwest::Client,
    jwks_uri: Url,
    min_refresh: Duration,
    current: RwLock<Arc<KeySet>>,
    /// When the JWKS was last fetched; held while fetching, so fetches are one at a time.
    last_fetch: tokio::sync::Mutex<Instant>,
}

impl RemoteKeys {
    /// The keys held now.
    pub(crate) fn current(&self) -> Arc<KeySet> {
        self.current.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Fetches the JWKS again for a token naming `kid`, unless another
    /// fetch already brought it or the last fetch was too recent; whether
    /// the key is now held.
    pub(crate) async fn refresh_for(&self, kid: &str) -> bool {
        let mut last = self.last_fetch.lock().await;
        if self.current().has(kid) {
            return true;
        }
        if last.elapsed() < self.min_refresh {
            tracing::debug!(kid, "unknown key id: the JWKS was fetched too recently to fetch again");
            return false;
        }
        *last = Instant::now();
        self.fetch().await;
        self.current().has(kid)
    }

    /// Fetches the JWKS and keeps it if it holds a usable key.
    async fn fetch(&self) {
        match get(&self.http, &self.jwks_uri).await.and_then(|body| KeySet::published(&body)) {
            Ok(keys) => *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(keys),
            Err(error) => {
                tracing::warn!(jwks_uri = %self.jwks_uri, %error, "cannot refresh the identity provider's keys; keeping those held")
            }
        }
    }
}

/// Fetches the JWKS every [`PERIODIC_REFRESH`] while the verifier lives.
async fn refresh_periodically(keys: Weak<RemoteKeys>) {
    loop {
        tokio::time::sleep(PERIODIC_REFRESH).await;
        let Some(keys) = keys.upgrade() else { return };
        let mut last = keys.last_fetch.lock().await;
        *last = Instant::now();
        keys.fetch().await;
    }
}

impl Verifier {
    /// A verifier of the tokens of the OpenID Connect provider `config`
    /// names: reads its discovery document and JWKS now (failing if either
    /// cannot be had), and keeps the keys fresh in the background. Needs a
    /// Tokio runtime.
    pub async fn discover(config: OidcConfig) -> Result<Verifier, IdentityError> {
        let failed = |reason: String| IdentityError::Provider { issuer: config.issuer.clone(), reason };
        let http = reqwest::Client::builder()
            .timeout(HTTP_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| failed(e.to_string()))?;
        let discovery_url =
            trusted_url(&format!("{}/.well-known/openid-configuration", config.issuer.trim_end_matches('/')))
                .map_err(failed)?;
        let body = get(&http, &discovery_url).await.map_err(failed)?;
        let discovery: Discovery = serde_json::from_slice(&body)
            .map_err(|e| failed(format!("{discovery_url}: not a discovery document: {e}")))?;
        if discovery.issuer != config.issuer {
            return Err(failed(format!(
                "the discovery document names issuer `{}`: configure exactly that",
                discovery.issuer
            )));
        }
        let jwks_uri = trusted_url(&discovery.jwks_uri).map_err(failed)?;
        let body = get(&http, &jwks_uri).await.map_err(failed)?;
        let keys = KeySet::published(&body).map_err(|e| failed(format!("{jwks_uri}: {e}")))?;
        let remote = Arc::new(RemoteKeys {
            http,
            jwks_uri,
            min_refresh: config.min_refresh,
            current: RwLock::new(Arc::new(keys)),
            last_fetch: tokio::sync::Mutex::new(Instant::now()),
        });
        tokio::spawn(refresh_periodically(Arc::downgrade(&remote)));
        tracing::info!(issuer = %config.issuer, audience = %config.audience, claim = config.mapping.claim(), "tokens come from the OpenID Connect provider");
        Ok(Verifier::new(Keys::Remote(remote), &config.issuer, &config.audience, Some(config.mapping)))
    }
}

/// `url` if it may be trusted for keys: `https`, or `http` on loopback.
fn trusted_url(url: &str) -> Result<Url, String> {
    let parsed = Url::parse(url).map_err(|e| format!("`{url}`: {e}"))?;
    let host = parsed.host_str().unwrap_or_default();
    let loopback = host == "localhost"
        || host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    match parsed.scheme() {
        "https" => Ok(parsed),
        "http" if loopback => Ok(parsed),
        _ => Err(format!("`{url}`: the identity provider must be reached over https (http only on loopback)")),
    }
}

/// The body of a successful GET, up to [`MAX_DOCUMENT`] bytes.
async fn get(http: &reqwest::Client, url: &Url) -> Result<Vec<u8>, String> {
    let mut response = http.get(url.clone()).send().await.map_err(|e| format!("{url}: {}", with_causes(&e)))?;
    if !response.status().is_success() {
        return Err(format!("{url}: HTTP {}", response.status()));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| format!("{url}: {}", with_causes(&e)))? {
        if body.len() + chunk.len() > MAX_DOCUMENT {
            return Err(format!("{url}: larger than {MAX_DOCUMENT} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// An error and its causes, one after the other (reqwest's own message
/// leaves out why, e.g. that the connection was refused).
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(e) = cause {
        text.push_str(&format!(": {e}"));
        cause = e.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::trusted_url;

    #[test]
    fn only_https_or_loopback_http_is_trusted() {
        for ok in [
            "https://login.example.org/tenant/v2.0",
            "http://127.0.0.1:8080/realms/x",
            "http://localhost/",
            "http://[::1]:9/",
        ] {
            assert!(trusted_url(ok).is_ok(), "{ok}");
        }
        for bad in ["http://login.example.org/", "http://10.0.0.1/", "ftp://127.0.0.1/", "not a url"] {
            assert!(trusted_url(bad).is_err(), "{bad}");
        }
    }
}
