//! Minting tokens from a local Ed25519 key, for development and tests.
//!
//! A real partnership's identity provider issues tokens; `concord up` uses a
//! local issuer so a new user can try everything on one machine. Its files:
//! `jwt-signing.pem` (private, 0600), `jwt-issuer.json` (kid, iss, aud) and
//! `jwks.json` (the public key, which the services verify against).

use std::path::Path;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use concord_core::AgencyId;
use concord_core::sign::{load_signing_key, save_signing_key};
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::EncodePrivateKey;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::IdentityError;
use crate::claims::{Claims, Purpose, Role};

#[derive(Serialize, Deserialize)]
struct IssuerFile {
    kid: String,
    iss: String,
    aud: String,
}

/// A local token issuer.
pub struct Issuer {
    kid: String,
    iss: String,
    aud: String,
    signing: SigningKey,
}

impl Issuer {
    /// A new issuer with a fresh key.
    pub fn generate(kid: &str, issuer: &str, audience: &str) -> Self {
        Issuer {
            kid: kid.to_string(),
            iss: issuer.to_string(),
            aud: audience.to_string(),
            signing: SigningKey::generate(&mut rand::rngs::OsRng),
        }
    }

    /// Loads `jwt-signing.pem` and `jwt-issuer.json` from `dir`.
    pub fn load(dir: &Path) -> Result<Self, IdentityError> {
        let path = dir.join("jwt-issuer.json");
        let text = std::fs::read_to_string(&path)
            .map_err(|source| IdentityError::Io { path: path.display().to_string(), source })?;
        let file: IssuerFile = serde_json::from_str(&text)
            .map_err(|e| IdentityError::BadFile { path: path.display().to_string(), reason: e.to_string() })?;
        let signing = load_signing_key(&dir.join("jwt-signing.pem")).map_err(|e| IdentityError::BadFile {
            path: dir.join("jwt-signing.pem").display().to_string(),
            reason: e.to_string(),
        })?;
        Ok(Issuer { kid: file.kid, iss: file.iss, aud: file.aud, signing })
    }

    /// Writes the private key, the issuer settings and the public JWKS into `dir`.
    pub fn save(&self, dir: &Path) -> Result<(), IdentityError> {
        let io = |path: &Path| {
            let path = path.display().to_string();
            move |source| IdentityError::Io { path, source }
        };
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let pem = dir.join("jwt-signing.pem");
        save_signing_key(&self.signing, &pem)
            .map_err(|e| IdentityError::BadFile { path: pem.display().to_string(), reason: e.to_string() })?;
        let settings = serde_json::to_string_pretty(&IssuerFile {
            kid: self.kid.clone(),
            iss: self.iss.clone(),
            aud: self.aud.clone(),
        })
        .map_err(|e| IdentityError::Signing(e.to_string()))?;
        let path = dir.join("jwt-issuer.json");
        std::fs::write(&path, settings).map_err(io(&path))?;
        let path = dir.join("jwks.json");
        std::fs::write(&path, serde_json::to_string_pretty(&self.jwks()).unwrap_or_default()).map_err(io(&path))
    }

    /// The public key as a JWKS document.
    pub fn jwks(&self) -> serde_json::Value {
        json!({ "keys": [{
            "kty": "OKP",
            "crv": "Ed25519",
            "x": B64URL.encode(self.signing.verifying_key().as_bytes()),
            "kid": self.kid,
            "alg": "EdDSA",
            "use": "sig",
        }]})
    }

    /// Mints a token for a caller, valid from now for `ttl`.
    pub fn mint(
        &self,
        sub: &str,
        agency: &AgencyId,
        role: Role,
        purpose: Purpose,
        ttl: Duration,
    ) -> Result<String, IdentityError> {
        let now = jiff::Timestamp::now().as_second();
        self.mint_claims(&Claims {
            sub: sub.to_string(),
            agency_id: agency.to_string(),
            agency_kind: concord_core::ids::agency_kind_name(agency.kind()).to_string(),
            role: role.as_str().to_string(),
            purpose: purpose.as_str().to_string(),
            iss: self.iss.clone(),
            aud: self.aud.clone(),
            exp: now + ttl.as_secs() as i64,
            nbf: now,
            iat: now,
            jti: uuid::Uuid::now_v7().to_string(),
        })
    }

    /// Signs arbitrary claims (tests use this for expired or misdirected tokens).
    pub fn mint_claims(&self, claims: &Claims) -> Result<String, IdentityError> {
        let der = self.signing.to_pkcs8_der().map_err(|e| IdentityError::Signing(e.to_string()))?;
        let key = EncodingKey::from_ed_der(der.as_bytes());
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        encode(&header, claims, &key).map_err(|e| IdentityError::Signing(e.to_string()))
    }
}
