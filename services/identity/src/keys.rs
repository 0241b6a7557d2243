//! Public keys from a JWKS document.
//!
//! A key's type fixes the one algorithm it verifies: Ed25519 (`OKP`) for
//! EdDSA, P-256 (`EC`) for ES256, RSA of 2048 bits or more for RS256. A token
//! cannot choose a weaker one (no `none`, no HMAC with a public key as the
//! secret), and a JWKS offering a symmetric key is never trusted.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;

use crate::verify::AuthError;

/// The algorithms a token may be signed with.
pub const ACCEPTED: [Algorithm; 3] = [Algorithm::EdDSA, Algorithm::ES256, Algorithm::RS256];

/// The smallest RSA modulus accepted, in bits.
const MIN_RSA_BITS: usize = 2048;

/// One verification key.
pub(crate) struct Key {
    pub(crate) kid: Option<String>,
    pub(crate) algorithm: Algorithm,
    pub(crate) key: DecodingKey,
}

/// The keys of one JWKS document.
pub(crate) struct KeySet {
    keys: Vec<Key>,
}

/// A JWKS as published: each key is read on its own, so one key of a kind
/// this verifier does not use cannot make the whole set unreadable.
#[derive(Deserialize)]
struct RawSet {
    keys: Vec<serde_json::Value>,
}

impl KeySet {
    /// Reads a JWKS this deployment wrote (the local issuer's, or one an
    /// operator placed): every key must be usable.
    pub(crate) fn strict(jwks: &str) -> Result<KeySet, String> {
        let raw: RawSet = serde_json::from_str(jwks).map_err(|e| format!("not a JWKS: {e}"))?;
        let mut keys = Vec::new();
        for (i, value) in raw.keys.iter().enumerate() {
            match key_of(value).map_err(|e| format!("key {i}: {e}"))? {
                Some(key) => keys.push(key),
                None => return Err(format!("key {i}: not a signing key")),
            }
        }
        KeySet::non_empty(keys)
    }

    /// Reads a JWKS an identity provider publishes: its encryption keys and
    /// keys of kinds not accepted here (which providers list beside their
    /// signing keys) are skipped, and a token naming one is refused as
    /// signed by an unknown key.
    pub(crate) fn published(jwks: &[u8]) -> Result<KeySet, String> {
        let raw: RawSet = serde_json::from_slice(jwks).map_err(|e| format!("not a JWKS: {e}"))?;
        let mut keys = Vec::new();
        for (i, value) in raw.keys.iter().enumerate() {
            match key_of(value) {
                Ok(Some(key)) => keys.push(key),
                Ok(None) => {}
                Err(e) => tracing::debug!(key = i, kid = ?value.get("kid"), "JWKS key skipped: {e}"),
            }
        }
        KeySet::non_empty(keys)
    }

    fn non_empty(keys: Vec<Key>) -> Result<KeySet, String> {
        if keys.is_empty() {
            return Err("the JWKS holds no usable signing key (Ed25519, P-256 or RSA of 2048 bits or more)".into());
        }
        Ok(KeySet { keys })
    }

    /// Whether a key with this id is in the set.
    pub(crate) fn has(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k.kid.as_deref() == Some(kid))
    }

    /// The key a token's header names; with no `kid`, the only key.
    pub(crate) fn find(&self, kid: Option<&str>) -> Result<&Key, AuthError> {
        match kid {
            Some(kid) => self
                .keys
                .iter()
                .find(|k| k.kid.as_deref() == Some(kid))
                .ok_or_else(|| AuthError::UnknownKey(kid.into())),
            None => match self.keys.as_slice() {
                [only] => Ok(only),
                _ => Err(AuthError::UnknownKey("(no kid)".into())),
            },
        }
    }
}

/// The verification key of one JWK; `None` for a key published for
/// encryption (`"use": "enc"`).
fn key_of(value: &serde_json::Value) -> Result<Option<Key>, String> {
    if value.get("use").and_then(|u| u.as_str()).is_some_and(|u| u != "sig") {
        return Ok(None);
    }
    let jwk: Jwk = serde_json::from_value(value.clone()).map_err(|e| format!("not a usable JWK: {e}"))?;
    let algorithm = match &jwk.algorithm {
        AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => Algorithm::EdDSA,
        AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P256 => Algorithm::ES256,
        AlgorithmParameters::RSA(p) => {
            let bits = B64URL.decode(&p.n).map_err(|e| format!("RSA modulus: {e}"))?.len() * 8;
            if bits < MIN_RSA_BITS {
                return Err(format!("RSA key of {bits} bits: at least {MIN_RSA_BITS} are required"));
            }
            Algorithm::RS256
        }
        _ => return Err("only Ed25519 (EdDSA), P-256 (ES256) and RSA (RS256) keys are accepted".into()),
    };
    // A key that says which algorithm it is for must say the one its type fixes.
    match value.get("alg").and_then(|a| a.as_str()) {
        Some(declared) if declared != format!("{algorithm:?}") => {
            return Err(format!("key declares algorithm {declared}, not {algorithm:?}"));
        }
        _ => {}
    }
    let key = DecodingKey::from_jwk(&jwk).map_err(|e| e.to_string())?;
    Ok(Some(Key { kid: jwk.common.key_id.clone(), algorithm, key }))
}
