//! Checking bearer tokens against the partnership's JWKS.
//!
//! Only EdDSA (Ed25519 `OKP` keys) and ES256 (P-256 `EC` keys) are accepted;
//! the key's type fixes the algorithm, so a token cannot choose a weaker one
//! (no `none`, no HMAC with a public key as the secret).

use std::collections::HashSet;
use std::path::Path;

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header, errors::ErrorKind};
use tonic::Status;
use tonic::metadata::MetadataMap;

use crate::IdentityError;
use crate::claims::{Claims, Principal};

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
    /// An algorithm other than the key's (EdDSA or ES256).
    #[error("token algorithm {0} is not accepted (EdDSA or ES256 only)")]
    DisallowedAlgorithm(String),
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
        }
    }
}

struct Key {
    kid: Option<String>,
    algorithm: Algorithm,
    key: DecodingKey,
}

/// Verifies tokens against a fixed set of public keys.
pub struct Verifier {
    keys: Vec<Key>,
    issuer: String,
    audience: String,
}

impl Verifier {
    /// Loads the public keys of a JWKS file; tokens must name `issuer` and `audience`.
    pub fn from_jwks_file(path: &Path, issuer: &str, audience: &str) -> Result<Self, IdentityError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| IdentityError::Io { path: path.display().to_string(), source })?;
        Self::from_jwks(&text, issuer, audience)
            .map_err(|reason| IdentityError::BadFile { path: path.display().to_string(), reason })
    }

    /// Loads the public keys of a JWKS document.
    pub fn from_jwks(jwks: &str, issuer: &str, audience: &str) -> Result<Self, String> {
        let set: JwkSet = serde_json::from_str(jwks).map_err(|e| format!("not a JWKS: {e}"))?;
        let mut keys = Vec::new();
        for (i, jwk) in set.keys.iter().enumerate() {
            let algorithm = match &jwk.algorithm {
                AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => Algorithm::EdDSA,
                AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P256 => Algorithm::ES256,
                _ => {
                    return Err(format!("key {i}: only Ed25519 (EdDSA) and P-256 (ES256) keys are accepted"));
                }
            };
            let key = DecodingKey::from_jwk(jwk).map_err(|e| format!("key {i}: {e}"))?;
            keys.push(Key { kid: jwk.common.key_id.clone(), algorithm, key });
        }
        if keys.is_empty() {
            return Err("the JWKS holds no keys".into());
        }
        Ok(Verifier { keys, issuer: issuer.to_string(), audience: audience.to_string() })
    }

    /// Checks a token and returns who it is for.
    pub fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        let header = decode_header(token).map_err(|e| AuthError::Malformed(e.to_string()))?;
        if !matches!(header.alg, Algorithm::EdDSA | Algorithm::ES256) {
            return Err(AuthError::DisallowedAlgorithm(format!("{:?}", header.alg)));
        }
        let key = match &header.kid {
            Some(kid) => self
                .keys
                .iter()
                .find(|k| k.kid.as_deref() == Some(kid))
                .ok_or_else(|| AuthError::UnknownKey(kid.clone()))?,
            None => match self.keys.as_slice() {
                [only] => only,
                _ => return Err(AuthError::UnknownKey("(no kid)".into())),
            },
        };
        if key.algorithm != header.alg {
            return Err(AuthError::DisallowedAlgorithm(format!("{:?}", header.alg)));
        }
        let mut validation = Validation::new(key.algorithm);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.leeway = LEEWAY_SECONDS;
        validation.validate_nbf = true;
        validation.required_spec_claims =
            ["exp", "nbf", "iss", "aud", "sub"].iter().map(|s| s.to_string()).collect::<HashSet<_>>();
        let data = decode::<Claims>(token, &key.key, &validation).map_err(|e| match e.kind() {
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
        })?;
        data.claims.principal().map_err(AuthError::BadClaims)
    }

    /// Reads `authorization: Bearer <token>` from gRPC metadata and verifies it.
    /// Refusals are UNAUTHENTICATED with the reason; the token is never echoed.
    pub fn authenticate(&self, metadata: &MetadataMap) -> Result<Principal, Status> {
        self.authenticate_detailed(metadata).map_err(|e| Status::unauthenticated(e.to_string()))
    }

    /// As [`Verifier::authenticate`], keeping the reason as an [`AuthError`].
    pub fn authenticate_detailed(&self, metadata: &MetadataMap) -> Result<Principal, AuthError> {
        let value = metadata.get("authorization").ok_or(AuthError::Missing)?;
        let value = value.to_str().map_err(|_| AuthError::Malformed("authorization is not text".into()))?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .ok_or_else(|| AuthError::Malformed("use the Bearer scheme: `authorization: Bearer <token>`".into()))?;
        self.verify(token.trim())
    }
}
