//! From an identity provider's claims to a [`Principal`].
//!
//! A partnership's OpenID Connect provider knows its staff by groups or
//! roles, not by Concord's agency, role and purpose. A mapping file says
//! which claim holds those groups or roles, and what each one grants:
//!
//! ```toml
//! # The claim holding the caller's groups or roles: a top-level claim
//! # ("groups", "roles"), or a dotted path into nested ones
//! # ("realm_access.roles", "resource_access.concord.roles").
//! claim = "groups"
//!
//! [[mapping]]
//! value = "0d6a4b1e-5c2f-4a8e-9f3b-7e1d2c3b4a59"   # a group id (Entra ID) or a role name (Keycloak)
//! agency = "childrens_services.harrow"
//! role = "practitioner"
//! purpose = "safeguarding"
//! ```
//!
//! A token whose claim matches no mapping is refused; so is one matching
//! mappings that grant different things (a caller acts as one agency, role
//! and purpose at a time, and the mapping does not choose for them).

use std::collections::BTreeSet;
use std::path::Path;

use concord_core::AgencyId;
use serde::Deserialize;
use serde_json::{Map, Value};
use toml::Spanned;

use crate::claims::{Principal, Purpose, Role};
use crate::verify::AuthError;

/// A mapping file that cannot be used, naming the line at fault.
#[derive(Debug, thiserror::Error)]
pub enum MappingError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file does not parse or a value is not valid.
    #[error("{path}, line {line}: {message}")]
    Invalid {
        /// The file.
        path: String,
        /// The line (1-based).
        line: usize,
        /// What is wrong.
        message: String,
    },
}

/// What holding one claim value grants.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Grant {
    agency: AgencyId,
    role: Role,
    purpose: Purpose,
}

/// Maps a provider's group or role claim to agency, role and purpose.
#[derive(Debug, Clone)]
pub struct ClaimMapping {
    claim: String,
    mappings: Vec<(String, Grant)>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    claim: Spanned<String>,
    #[serde(default)]
    mapping: Vec<Entry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    value: Spanned<String>,
    agency: Spanned<String>,
    role: Spanned<String>,
    purpose: Spanned<String>,
}

impl ClaimMapping {
    /// Reads a mapping file.
    pub fn load(path: &Path) -> Result<Self, MappingError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| MappingError::Io { path: path.display().to_string(), source })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses a mapping file's text; `path` names it in errors.
    pub fn parse(text: &str, path: &str) -> Result<Self, MappingError> {
        let line_of = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
        let invalid = |offset: usize, message: String| MappingError::Invalid {
            path: path.to_string(),
            line: line_of(offset),
            message,
        };
        let file: File = toml::from_str(text).map_err(|e| {
            let offset = e.span().map_or(0, |s| s.start);
            invalid(offset, e.message().to_string())
        })?;
        let claim = file.claim.get_ref().trim();
        if claim.is_empty() {
            return Err(invalid(file.claim.span().start, "claim: name the claim holding groups or roles".into()));
        }
        let mut mappings: Vec<(String, Grant)> = Vec::new();
        for entry in file.mapping {
            let field =
                |value: &Spanned<String>, name: &str, e: String| invalid(value.span().start, format!("{name}: {e}"));
            let value = entry.value.get_ref().clone();
            if value.is_empty() {
                return Err(field(&entry.value, "value", "must not be empty".into()));
            }
            if mappings.iter().any(|(v, _)| *v == value) {
                return Err(field(&entry.value, "value", format!("`{value}` is mapped twice")));
            }
            let grant = Grant {
                agency: AgencyId::parse(entry.agency.get_ref())
                    .map_err(|e| field(&entry.agency, "agency", e.to_string()))?,
                role: entry.role.get_ref().parse().map_err(|e| field(&entry.role, "role", e))?,
                purpose: entry.purpose.get_ref().parse().map_err(|e| field(&entry.purpose, "purpose", e))?,
            };
            mappings.push((value, grant));
        }
        if mappings.is_empty() {
            return Err(invalid(text.len(), "no [[mapping]]: nobody could sign in".into()));
        }
        Ok(ClaimMapping { claim: claim.to_string(), mappings })
    }

    /// The claim the mapping reads.
    pub fn claim(&self) -> &str {
        &self.claim
    }

    /// The principal a verified token's claims establish, if they map to
    /// exactly one grant.
    pub fn principal(&self, claims: &Map<String, Value>) -> Result<Principal, AuthError> {
        let sub = match claims.get("sub") {
            Some(Value::String(sub)) if !sub.is_empty() => sub.clone(),
            _ => return Err(AuthError::BadClaims("no `sub`".into())),
        };
        let held = claim_values(claims, &self.claim);
        let grants: BTreeSet<&Grant> =
            self.mappings.iter().filter(|(value, _)| held.contains(&value.as_str())).map(|(_, grant)| grant).collect();
        let grant = match grants.len() {
            1 => grants.into_iter().next().ok_or_else(|| AuthError::Unmapped(String::new()))?,
            0 => return Err(AuthError::Unmapped(format!("no value of the `{}` claim is mapped", self.claim))),
            n => {
                return Err(AuthError::Unmapped(format!(
                    "the `{}` claim matches {n} mappings granting different access",
                    self.claim
                )));
            }
        };
        Ok(Principal {
            sub,
            agency: grant.agency.clone(),
            role: grant.role,
            purpose: grant.purpose,
            token_id: claims.get("jti").and_then(Value::as_str).map(str::to_string),
            expires_at: claims.get("exp").and_then(Value::as_i64).unwrap_or_default(),
        })
    }
}

/// The string values of a claim: the claim named exactly, or else the
/// dotted path into nested objects; a string or an array of strings.
fn claim_values<'a>(claims: &'a Map<String, Value>, name: &str) -> Vec<&'a str> {
    let found = claims.get(name).or_else(|| {
        let mut parts = name.split('.');
        let first = claims.get(parts.next()?)?;
        parts.try_fold(first, |value, part| value.get(part))
    });
    match found {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const FILE: &str = r#"claim = "realm_access.roles"

[[mapping]]
value = "harrow-sw"
agency = "childrens_services.harrow"
role = "practitioner"
purpose = "safeguarding"

[[mapping]]
value = "met-lead"
agency = "police.met.nw"
role = "briefing_lead"
purpose = "briefing"
"#;

    fn claims(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap()
    }

    #[test]
    fn a_nested_role_maps_to_its_grant() {
        let mapping = ClaimMapping::parse(FILE, "m.toml").unwrap();
        let p = mapping
            .principal(&claims(
                json!({"sub": "u1", "exp": 9, "jti": "j", "realm_access": {"roles": ["x", "met-lead"]}}),
            ))
            .unwrap();
        assert_eq!(
            (p.sub.as_str(), p.agency.as_str(), p.role, p.purpose),
            ("u1", "police.met.nw", Role::BriefingLead, Purpose::Briefing)
        );
        assert_eq!((p.token_id.as_deref(), p.expires_at), (Some("j"), 9));
    }

    #[test]
    fn a_top_level_string_claim_maps_too() {
        let text = FILE.replace("realm_access.roles", "role");
        let mapping = ClaimMapping::parse(&text, "m.toml").unwrap();
        let p = mapping.principal(&claims(json!({"sub": "u1", "role": "harrow-sw"}))).unwrap();
        assert_eq!(p.agency.as_str(), "childrens_services.harrow");
    }

    #[test]
    fn unmapped_and_ambiguous_claims_are_refused() {
        let mapping = ClaimMapping::parse(FILE, "m.toml").unwrap();
        for roles in [json!([]), json!(["other"]), json!("harrow"), json!(["harrow-sw", "met-lead"])] {
            let c = claims(json!({"sub": "u1", "realm_access": {"roles": roles}}));
            assert!(matches!(mapping.principal(&c), Err(AuthError::Unmapped(_))), "{roles}");
        }
        let c = claims(json!({"sub": "u1", "groups": ["harrow-sw"]}));
        assert!(matches!(mapping.principal(&c), Err(AuthError::Unmapped(_))));
        let c = claims(json!({"realm_access": {"roles": ["harrow-sw"]}}));
        assert!(matches!(mapping.principal(&c), Err(AuthError::BadClaims(_))));
    }

    #[test]
    fn the_deployed_examples_parse() {
        for (name, text) in [
            ("entra-groups.toml", include_str!("../../../deploy/oidc/entra-groups.toml")),
            ("keycloak-roles.toml", include_str!("../../../deploy/oidc/keycloak-roles.toml")),
        ] {
            let mapping = ClaimMapping::parse(text, name).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(mapping.mappings.len(), 3, "{name}");
        }
    }

    #[test]
    fn errors_name_the_line() {
        let bad_role = FILE.replace("\"briefing_lead\"", "\"superuser\"");
        let e = ClaimMapping::parse(&bad_role, "m.toml").unwrap_err().to_string();
        assert!(e.starts_with("m.toml, line 12: role: unknown role `superuser`"), "{e}");
        let bad_agency = FILE.replace("police.met.nw", "nobody");
        let e = ClaimMapping::parse(&bad_agency, "m.toml").unwrap_err().to_string();
        assert!(e.starts_with("m.toml, line 11: agency:"), "{e}");
        let twice = FILE.replace("met-lead", "harrow-sw");
        let e = ClaimMapping::parse(&twice, "m.toml").unwrap_err().to_string();
        assert!(e.starts_with("m.toml, line 10: value: `harrow-sw` is mapped twice"), "{e}");
        let unknown = FILE.replace("purpose = \"briefing\"", "purpose = \"briefing\"\nrank = 3");
        let e = ClaimMapping::parse(&unknown, "m.toml").unwrap_err().to_string();
        assert!(e.starts_with("m.toml, line 14:") && e.contains("rank"), "{e}");
        let syntax = FILE.replace("[[mapping]]\nvalue = \"met-lead\"", "[[mapping]\nvalue = \"met-lead\"");
        let e = ClaimMapping::parse(&syntax, "m.toml").unwrap_err().to_string();
        assert!(e.starts_with("m.toml, line 9:"), "{e}");
        let e = ClaimMapping::parse("claim = \"groups\"\n", "m.toml").unwrap_err().to_string();
        assert!(e.contains("no [[mapping]]"), "{e}");
    }
}
