//! Who is calling: bearer tokens mapped to a [`Principal`].
//!
//! Readers and agency systems present a JWT signed with EdDSA (Ed25519) or
//! ES256 (P-256); the keys come from a JWKS file, and `iss`, `aud`, `exp` and
//! `nbf` are checked ([`verify`]). Claims carry the caller's agency, role and
//! purpose ([`claims`]). [`issue`] mints tokens from a local key for
//! development and tests.

pub mod claims;
pub mod issue;
pub mod verify;

pub use claims::{Claims, Principal, Purpose, Role};
pub use issue::Issuer;
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
}
