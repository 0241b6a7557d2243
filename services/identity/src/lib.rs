//! Who is calling: bearer tokens mapped to a [`Principal`].
//!
//! Readers and agency systems present a JWT signed with EdDSA (Ed25519),
//! ES256 (P-256) or RS256 (RSA); `iss`, `aud`, `exp` and `nbf` are checked
//! ([`verify`]). The keys come from a JWKS file, for tokens the local issuer
//! ([`issue`], for development and tests) mints with Concord's own claims
//! ([`claims`]: agency, role and purpose); or from the partnership's OpenID
//! Connect provider ([`oidc`]), whose group or role claims a mapping file
//! turns into agency, role and purpose ([`mapping`]).

pub mod claims;
pub mod issue;
mod keys;
pub mod mapping;
pub mod oidc;
pub mod verify;

pub use claims::{Claims, Principal, Purpose, Role};
pub use issue::Issuer;
pub use mapping::{ClaimMapping, MappingError};
pub use oidc::OidcConfig;
pub use verify::{AuthError, Verifier};

/// Failures to load or use identity keys.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A file's contents are not what was expected.
    #[error("{path}: {reason}")]
    BadFile {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// Signing a token failed.
    #[error("cannot sign a token: {0}")]
    Signing(String),
    /// The OpenID Connect provider's discovery document or keys cannot be had.
    #[error("OpenID Connect issuer {issuer}: {reason}")]
    Provider {
        /// The configured issuer.
        issuer: String,
        /// What went wrong.
        reason: String,
    },
}
