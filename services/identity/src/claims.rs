//! Token claims, and the principal they establish.

use std::fmt;
use std::str::FromStr;

use concord_core::{AgencyId, pb};
use serde::{Deserialize, Serialize};

macro_rules! named_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident => $text:literal => $pb:ident,)* }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $(#[doc = $text] $variant,)* }

        impl $name {
            /// Every value.
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];

            /// The lowercase name used in tokens and on the command line.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text,)* }
            }

            /// The wire enum.
            pub fn to_pb(self) -> pb::$name {
                match self { $($name::$variant => pb::$name::$pb,)* }
            }
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                $name::ALL.iter().copied().find(|v| v.as_str() == s).ok_or_else(|| {
                    let names: Vec<_> = $name::ALL.iter().map(|v| v.as_str()).collect();
                    format!("unknown {} `{s}`: expected one of {}", stringify!($name).to_lowercase(), names.join(", "))
                })
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

named_enum! {
    /// What a caller does in the partnership.
    Role {
        Practitioner => "practitioner" => Practitioner,
        BriefingLead => "briefing_lead" => BriefingLead,
        Analyst => "analyst" => Analyst,
        Auditor => "auditor" => Auditor,
        Admin => "admin" => Admin,
        DataProtection => "data_protection" => DataProtection,
    }
}

named_enum! {
    /// Why a caller is asking.
    Purpose {
        Safeguarding => "safeguarding" => Safeguarding,
        CrimePrevention => "crime_prevention" => CrimePrevention,
        CaseManagement => "case_management" => CaseManagement,
        Briefing => "briefing" => Briefing,
        Analysis => "analysis" => Analysis,
        Audit => "audit" => Audit,
        DirectCare => "direct_care" => DirectCare,
        Administration => "administration" => Administration,
    }
}

/// The claims of a Concord token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The person or system.
    pub sub: String,
    /// Their agency, e.g. `childrens_services.harrow`.
    pub agency_id: String,
    /// Their agency's kind, e.g. `childrens_services`; must agree with the id.
    pub agency_kind: String,
    /// Their role (see [`Role`]).
    pub role: String,
    /// Their purpose (see [`Purpose`]).
    pub purpose: String,
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: String,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
    /// Not before, seconds since the epoch.
    pub nbf: i64,
    /// Issued at, seconds since the epoch.
    pub iat: i64,
    /// Token id.
    pub jti: String,
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Who (the token's `sub`).
    pub sub: String,
    /// Their agency.
    pub agency: AgencyId,
    /// Their role.
    pub role: Role,
    /// Their purpose.
    pub purpose: Purpose,
    /// The token's id, for the audit trail.
    pub token_id: Option<String>,
    /// When the token expires (seconds since the epoch).
    pub expires_at: i64,
}

impl Claims {
    /// The principal these claims establish, if they are coherent.
    pub fn principal(&self) -> Result<Principal, String> {
        let agency = AgencyId::parse(&self.agency_id).map_err(|e| e.to_string())?;
        let kind = concord_core::ids::agency_kind_name(agency.kind());
        if self.agency_kind != kind {
            return Err(format!("agency_kind `{}` does not match agency {agency} (a {kind})", self.agency_kind));
        }
        Ok(Principal {
            sub: self.sub.clone(),
            agency,
            role: self.role.parse()?,
            purpose: self.purpose.parse()?,
            token_id: (!self.jti.is_empty()).then(|| self.jti.clone()),
            expires_at: self.exp,
        })
    }
}
