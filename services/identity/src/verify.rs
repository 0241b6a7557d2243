//! Checking bearer tokens against the partnership's keys.
//!
//! The keys come from a JWKS file (the local issuer's) or from the
//! partnership's OpenID Connect provider ([`crate::oidc`]). Only EdDSA
//! (Ed25519), ES256 (P-256) and RS256 (RSA) are accepted, and the key's type
//! fixes the algorithm ([`crate::keys`]), so a token cannot choose a weaker
//! one (no `none`, no HMAC with a public key as the secret). `iss`, `aud`,
//! `exp` and `nbf` are checked. The local issuer's tokens carry Concord's own
//! claims ([`Claims`]); a provider's are mapped ([`ClaimMapping`]).

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use jsonwebtoken::{Validation, decode, decode_header, errors::ErrorKind};
use serde_json::{Map, Value};
use tonic::Status;
use tonic::metadata::MetadataMap;

use crate::IdentityError;
use crate::claims::{Claims, Principal};
use crate::keys::{ACCEPTED, KeySet};
use crate::mapping::ClaimMapping;
use crate::oidc::RemoteKeys;

/// Clock skew tolerated on `exp` and `nbf`, in seconds.
const LEEWAY_SECONDS: u64 = 30;

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No `authorization` metadata.
    #[error("no token: send `authorization: Bearer <token>` (mint one with `concord token`)")]
    Missing,
    /// Not a bearer JWT.
    #[error("malformed token: {0}")]
    Malformed(String),
    /// Signed with a key the JWKS does not hold.
    #[error("token signed with unknown key `{0}`")]
    UnknownKey(String),
    /// The signature does not verify.
    #[error("token signature does not verify")]
    BadSignature,
    /// Past its `exp`.
    #[error("token has expired: mint a new one")]
    Expired,
    /// Before its `nbf`.
    #[error("token is not valid yet")]
    NotYetValid,
    /// Another issuer.
    #[error("token is from an issuer this service does not trust")]
    WrongIssuer,
    /// For another service.
    #[error("token is for another audience")]
    WrongAudience,
    /// Claims missing or incoherent.
    #[error("token claims are not usable: {0}")]
    BadClaims(String),
    /// An algorithm other than the key's (EdDSA, ES256 or RS256).
    #[error("token algorithm {0} is not accepted (EdDSA, ES256 or RS256, as the key is)")]
    DisallowedAlgorithm(String),
    /// The identity provider's claims map to no agency, role and purpose.
    #[error("token claims map to no access in Concord: {0}")]
    Unmapped(String),
}

impl AuthError {
    /// A short, stable code for metrics and the audit trail.
    pub fn reason_code(&self) -> &'static str {
        match self {
            AuthError::Missing => "missing",
            AuthError::Malformed(_) => "malformed",
            AuthError::UnknownKey(_) => "unknown_key",
            AuthError::BadSignature => "bad_signature",
            AuthError::Expired => "expired",
            AuthError::NotYetValid => "not_yet_valid",
            AuthError::WrongIssuer => "wrong_issuer",
            AuthError::WrongAudience => "wrong_audience",
            AuthError::BadClaims(_) => "bad_claims",
            AuthError::DisallowedAlgorithm(_) => "disallowed_algorithm",
            AuthError::Unmapped(_) => "unmapped",
        }
    }
}

/// Where a verifier's keys come from.
pub(crate) enum Keys {
    /// A JWKS read once (the local issuer's).
    Fixed(KeySet),
    /// An OpenID Connect provider's JWKS, kept fresh.
    Remote(Arc<RemoteKeys>),
}

/// Verifies bearer tokens and says who they are for.
pub struct Verifier {
    keys: Keys,
    issuer: String,
    audience: String,
    /// `None`: Concord's own claims; otherwise the provider's, mapped.
    mapping: Option<ClaimMapping>,
}

impl Verifier {
    pub(crate) fn new(keys: Keys, issuer: &str, audience: &str, mapping: Option<ClaimMapping>) -> Self {
        Verifier { keys, issuer: issuer.to_string(), audience: audience.to_string(), mapping }
    }

    /// Loads the public keys of a JWKS file; tokens must name `issuer` and `audience`.
    pub fn from_jwks_file(path: &Path, issuer: &str, audience: &str) -> Result<Self, IdentityError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| IdentityError::Io { path: path.display().to_string(), source })?;
        Self::from_jwks(&text, issuer, audience)
            .map_err(|reason| IdentityError::BadFile { path: path.display().to_string(), reason })
    }

    /// Loads the public keys of a JWKS document; every key must be usable.
    pub fn from_jwks(jwks: &str, issuer: &str, audience: &str) -> Result<Self, String> {
        Ok(Verifier::new(Keys::Fixed(KeySet::strict(jwks)?), issuer, audience, None))
    }

    /// Checks a token against the keys held now, and returns who it is for.
    /// A token naming a key not held is refused here; [`Verifier::check`]
    /// fetches a provider's keys again first.
    pub fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        let header = decode_header(token).map_err(|e| AuthError::Malformed(e.to_string()))?;
        if !ACCEPTED.contains(&header.alg) {
            return Err(AuthError::DisallowedAlgorithm(format!("{:?}", header.alg)));
        }
        let remote;
        let keys = match &self.keys {
            Keys::Fixed(keys) => keys,
            Keys::Remote(keys) => {
                remote = keys.current();
                &remote
            }
        };
        let key = keys.find(header.kid.as_deref())?;
        if key.algorithm != header.alg {
            return Err(AuthError::DisallowedAlgorithm(format!("{:?}", header.alg)));
        }
        let mut validation = Validation::new(key.algorithm);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.leeway = LEEWAY_SECONDS;
        validation.validate_nbf = true;
        // Providers' tokens need not carry `nbf`; when they do, it is checked.
        let required: &[&str] =
            if self.mapping.is_some() { &["exp", "iss", "aud", "sub"] } else { &["exp", "nbf", "iss", "aud", "sub"] };
        validation.required_spec_claims = required.iter().map(|s| s.to_string()).collect::<HashSet<_>>();
        let refused = |e: jsonwebtoken::errors::Error| match e.kind() {
            ErrorKind::ExpiredSignature => AuthError::Expired,
            ErrorKind::ImmatureSignature => AuthError::NotYetValid,
            ErrorKind::InvalidIssuer => AuthError::WrongIssuer,
            ErrorKind::InvalidAudience => AuthError::WrongAudience,
            ErrorKind::InvalidSignature => AuthError::BadSignature,
            ErrorKind::InvalidAlgorithm => AuthError::DisallowedAlgorithm(format!("{:?}", header.alg)),
            ErrorKind::MissingRequiredClaim(_) | ErrorKind::InvalidClaimFormat(_) | ErrorKind::Json(_) => {
                AuthError::BadClaims(e.to_string())
            }
            _ => AuthError::Malformed(e.to_string()),
        };
        match &self.mapping {
            None => decode::<Claims>(token, &key.key, &validation)
                .map_err(refused)?
                .claims
                .principal()
                .map_err(AuthError::BadClaims),
            Some(mapping) => {
                mapping.principal(&decode::<Map<String, Value>>(token, &key.key, &validation).map_err(refused)?.claims)
            }
        }
    }

    /// As [`Verifier::verify`]; a token from this verifier's provider naming
    /// a key not held yet (the provider rotated its key) makes it fetch the
    /// provider's keys again, at most once per its minimum interval, and
    /// never on a blocking call.
    pub async fn check(&self, token: &str) -> Result<Principal, AuthError> {
        let outcome = self.verify(token);
        let (Keys::Remote(remote), Err(AuthError::UnknownKey(_))) = (&self.keys, &outcome) else {
            return outcome;
        };
        // Only a named key can be looked for, and only for a token claiming
        // this issuer: other tokens cannot make the provider be asked.
        let Some(kid) = decode_header(token).ok().and_then(|h| h.kid) else { return outcome };
        if unverified_issuer(token).as_deref() != Some(self.issuer.as_str()) {
            return Err(AuthError::WrongIssuer);
        }
        if remote.refresh_for(&kid).await { self.verify(token) } else { outcome }
    }

    /// Reads `authorization: Bearer <token>` from gRPC metadata and verifies it.
    /// Refusals are UNAUTHENTICATED with the reason; the token is never echoed.
    pub async fn authenticate(&self, metadata: &MetadataMap) -> Result<Principal, Status> {
        self.authenticate_detailed(metadata).await.map_err(|e| Status::unauthenticated(e.to_string()))
    }

    /// As [`Verifier::authenticate`], keeping the reason as an [`AuthError`].
    pub async fn authenticate_detailed(&self, metadata: &MetadataMap) -> Result<Principal, AuthError> {
        let value = metadata.get("authorization").ok_or(AuthError::Missing)?;
        let value = value.to_str().map_err(|_| AuthError::Malformed("authorization is not text".into()))?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .ok_or_else(|| AuthError::Malformed("use the Bearer scheme: `authorization: Bearer <token>`".into()))?;
        self.check(token.trim()).await
    }
}

/// The `iss` a token claims, before anything about it is checked.
fn unverified_issuer(token: &str) -> Option<String> {
    let payload = B64URL.decode(token.split('.').nth(1)?).ok()?;
    let claims: Map<String, Value> = serde_json::from_slice(&payload).ok()?;
    claims.get("iss")?.as_str().map(str::to_string)
}
