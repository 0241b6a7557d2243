//! How people sign in to the console.
//!
//! The development sign-in lets anyone at the machine pick an agency, a role
//! and a purpose, and mints them a token with the platform's local issuer:
//! it exists only in `concord up`, and the console refuses to serve it off
//! loopback ([`crate::Console::serve`]). Everywhere else readers sign in
//! with the partnership's OpenID Connect provider (authorization code +
//! PKCE, [`crate::oidc`]), served off loopback only over TLS. Either way the
//! sign-in ends in a token the door checks, kept in the session as
//! [`crate::session::User`]; the provider's refresh token, if it gives one,
//! renews it ([`crate::session::Renewal`]).

use std::sync::Arc;
use std::time::Duration;

use concord_core::AgencyId;
use concord_identity::{Issuer, Purpose, Role};

use crate::oidc::Oidc;
use crate::session::User;

/// How long a development sign-in's token (and so its session) lasts.
pub const DEVELOPMENT_TOKEN_LIFETIME: Duration = Duration::from_secs(8 * 60 * 60);

/// How readers sign in.
#[derive(Clone)]
pub enum SignIn {
    /// Pick agency, role and purpose; tokens from the local issuer. Only in
    /// `concord up`, only on loopback.
    Development(Arc<Development>),
    /// With the partnership's OpenID Connect provider.
    Oidc(Arc<Oidc>),
    /// No way to sign in is configured here (the provider's sign-in needs
    /// the console's address): the sign-in page says so.
    None,
}

/// The development sign-in: the local issuer and the agencies to pick from.
pub struct Development {
    issuer: Issuer,
    agencies: Vec<AgencyId>,
}

/// Why a development sign-in failed.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    /// The agency is not one of the choices.
    #[error("choose one of the agencies listed")]
    UnknownAgency,
    /// The issuer could not sign a token.
    #[error(transparent)]
    Identity(#[from] concord_identity::IdentityError),
}

impl Development {
    /// Signs in as any of `agencies`, with tokens minted by `issuer`.
    pub fn new(issuer: Issuer, agencies: Vec<AgencyId>) -> Self {
        Development { issuer, agencies }
    }

    /// The agencies to pick from.
    pub fn agencies(&self) -> &[AgencyId] {
        &self.agencies
    }

    /// Signs in a reader of `agency` as `role` for `purpose`.
    pub fn sign_in(&self, agency: &str, role: Role, purpose: Purpose) -> Result<User, SignInError> {
        let agency = self.agencies.iter().find(|a| a.as_str() == agency).ok_or(SignInError::UnknownAgency)?;
        let name = format!("console:{role}@{agency}");
        let token = self.issuer.mint(&name, agency, role, purpose, DEVELOPMENT_TOKEN_LIFETIME)?;
        Ok(User { token, name, agency: agency.clone(), role, purpose })
    }
}
