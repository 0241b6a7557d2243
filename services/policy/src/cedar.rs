//! The sharing agreement in Cedar.
//!
//! For every event a reader asks for, the agreement is asked two questions:
//! may the reader `see` the event (learn that it exists, redacted) and may
//! they `see_detail` (read it in full)? Both allowed: show; only `see`:
//! show redacted; otherwise withhold. The reader and the event become Cedar
//! entities carrying only the attributes the schema names, never content
//! (what the content implies, special category and adults at risk, comes
//! from `concord_core::sensitivity`).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use cedar_policy::{
    Authorizer, Context, Decision as CedarDecision, Entities, Entity, EntityId, EntityTypeName, EntityUid, PolicySet,
    Request, RestrictedExpression, Schema, ValidationMode, Validator,
};
use concord_core::EventType;
use concord_core::ids::agency_kind_name;
use concord_core::pb::{self, AgencyKind};
use concord_core::sensitivity;
use concord_identity::Principal;
use miette::Diagnostic;
use sha2::{Digest, Sha256};

use crate::{Decision, Explanation, Facts, Policy};

/// The agreement file in a policy directory.
pub const AGREEMENT_FILE: &str = "agreement.cedar";
/// The schema file in a policy directory.
pub const SCHEMA_FILE: &str = "concord.cedarschema";

/// The default agreement (the one in `deploy/policy/`), built in so that
/// `concord up` works from any directory.
const BUILTIN_AGREEMENT: &str = include_str!("../../../deploy/policy/agreement.cedar");
const BUILTIN_SCHEMA: &str = include_str!("../../../deploy/policy/concord.cedarschema");

/// Why an agreement could not be loaded. Concord refuses to start with one.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The schema or the policies do not parse, or break the schema.
    #[error("{file}:{line}:{column}: {message}")]
    Invalid {
        /// The file at fault.
        file: String,
        /// 1-based line of the first problem.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong.
        message: String,
    },
}

/// The partnership's sharing agreement, parsed and validated once.
pub struct CedarAgreement {
    policies: PolicySet,
    schema: Schema,
    authorizer: Authorizer,
    hash: String,
    see: EntityUid,
    see_detail: EntityUid,
}

/// Line and column (1-based) of a byte offset in `text`.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// A Cedar diagnostic as an error naming the file, line and column.
fn invalid(file: &str, text: &str, diagnostic: &dyn Diagnostic) -> PolicyError {
    let offset = diagnostic.labels().and_then(|mut labels| labels.next()).map_or(0, |l| l.offset());
    let (line, column) = line_col(text, offset);
    let mut message = diagnostic.to_string();
    if let Some(help) = diagnostic.help() {
        message.push_str(&format!(" ({help})"));
    }
    PolicyError::Invalid { file: file.to_string(), line, column, message }
}

fn uid(type_name: &str, id: &str) -> EntityUid {
    // The type names are this module's constants, so they always parse.
    let type_name = EntityTypeName::from_str(type_name).expect("a valid Cedar type name");
    EntityUid::from_type_name_and_id(type_name, EntityId::new(id))
}

/// An enum value's proto name without its prefix, lower case
/// (`CLASSIFICATION_SPECIAL_CATEGORY` → `special_category`).
fn short(name: &str, prefix: &str) -> String {
    name.strip_prefix(prefix).unwrap_or(name).to_ascii_lowercase()
}

fn string(s: impl Into<String>) -> RestrictedExpression {
    RestrictedExpression::new_string(s.into())
}

fn strings(items: impl IntoIterator<Item = String>) -> RestrictedExpression {
    RestrictedExpression::new_set(items.into_iter().map(RestrictedExpression::new_string))
}

impl CedarAgreement {
    /// The default agreement of `deploy/policy/`, as built into the binary.
    pub fn builtin() -> Result<Self, PolicyError> {
        Self::from_texts(
            ("deploy/policy/agreement.cedar", BUILTIN_AGREEMENT),
            ("deploy/policy/concord.cedarschema", BUILTIN_SCHEMA),
        )
    }

    /// The agreement in `dir` (`agreement.cedar` and `concord.cedarschema`).
    pub fn load(dir: &Path) -> Result<Self, PolicyError> {
        let read = |name: &str| -> Result<(String, String), PolicyError> {
            let path: PathBuf = dir.join(name);
            let text = std::fs::read_to_string(&path)
                .map_err(|source| PolicyError::Read { path: path.display().to_string(), source })?;
            Ok((path.display().to_string(), text))
        };
        let (policy_file, policy_text) = read(AGREEMENT_FILE)?;
        let (schema_file, schema_text) = read(SCHEMA_FILE)?;
        Self::from_texts((&policy_file, &policy_text), (&schema_file, &schema_text))
    }

    /// Parses and validates an agreement against its schema (strictly: a rule
    /// naming an attribute or action the schema does not have is an error).
    pub fn from_texts(policy: (&str, &str), schema: (&str, &str)) -> Result<Self, PolicyError> {
        let (policy_file, policy_text) = policy;
        let (schema_file, schema_text) = schema;
        let (parsed_schema, _warnings) =
            Schema::from_cedarschema_str(schema_text).map_err(|e| invalid(schema_file, schema_text, &e))?;
        let policies = PolicySet::from_str(policy_text).map_err(|e| invalid(policy_file, policy_text, &e))?;
        let result = Validator::new(parsed_schema.clone()).validate(&policies, ValidationMode::Strict);
        if let Some(error) = result.validation_errors().next() {
            return Err(invalid(policy_file, policy_text, error));
        }
        let mut digest = Sha256::new();
        digest.update(policy_text.as_bytes());
        digest.update([0u8]);
        digest.update(schema_text.as_bytes());
        Ok(CedarAgreement {
            policies,
            schema: parsed_schema,
            authorizer: Authorizer::new(),
            hash: format!("cedar:{}", hex::encode(&digest.finalize()[..16])),
            see: uid("Concord::Action", "see"),
            see_detail: uid("Concord::Action", "see_detail"),
        })
    }

    fn reader(principal: &Principal) -> Entity {
        let attrs = HashMap::from([
            ("agency_id".to_string(), string(principal.agency.as_str())),
            ("agency_kind".to_string(), string(agency_kind_name(principal.agency.kind()))),
            ("role".to_string(), string(principal.role.as_str())),
            ("purpose".to_string(), string(principal.purpose.as_str())),
        ]);
        // Attribute values are plain strings and sets of strings, which always evaluate.
        Entity::new(uid("Concord::Reader", &principal.sub), attrs, HashSet::new()).expect("reader attributes evaluate")
    }

    fn event(index: usize, facts: &Facts<'_>) -> Entity {
        let event = facts.event;
        let consent = facts.consent;
        let kind = AgencyKind::try_from(event.agency_kind).unwrap_or(AgencyKind::Unspecified);
        let classification = pb::Classification::try_from(event.classification)
            .map(|c| short(c.as_str_name(), "CLASSIFICATION_"))
            .unwrap_or_default();
        let bases = event
            .lawful_basis
            .iter()
            .filter_map(|b| pb::LawfulBasis::try_from(*b).ok())
            .map(|b| short(b.as_str_name(), "LAWFUL_BASIS_"));
        let event_type = event.body.as_ref().map(|b| EventType::of(b).to_string()).unwrap_or_default();
        let exploitation = match &event.body {
            Some(pb::event::Body::ExploitationConcern(c)) => c.exploitation_type,
            Some(pb::event::Body::NrmReferral(n)) => n.exploitation_type,
            _ => pb::ExploitationType::Unspecified as i32,
        };
        let exploitation = pb::ExploitationType::try_from(exploitation)
            .ok()
            .filter(|t| *t != pb::ExploitationType::Unspecified)
            .map(|t| short(t.as_str_name(), "EXPLOITATION_TYPE_"))
            .unwrap_or_default();
        let attrs = HashMap::from([
            ("agency_id".to_string(), string(event.agency_id.clone())),
            ("agency_kind".to_string(), string(agency_kind_name(kind))),
            ("event_type".to_string(), string(event_type)),
            ("classification".to_string(), string(classification)),
            ("special_category".to_string(), RestrictedExpression::new_bool(sensitivity::is_special_category(event))),
            ("exploitation".to_string(), string(exploitation)),
            ("adult_at_risk".to_string(), RestrictedExpression::new_bool(sensitivity::concerns_adult_at_risk(event))),
            ("lawful_basis".to_string(), strings(bases)),
            ("share_with".to_string(), strings(event.share_with.iter().cloned())),
            (
                "consent".to_string(),
                RestrictedExpression::new_record([
                    ("state".to_string(), string(consent.status.as_str())),
                    ("agency_ids".to_string(), strings(consent.agency_ids.iter().cloned())),
                    ("agency_kinds".to_string(), strings(consent.agency_kinds.iter().cloned())),
                    ("purposes".to_string(), strings(consent.purposes.iter().cloned())),
                ])
                .expect("distinct record keys"),
            ),
        ]);
        Entity::new(uid("Concord::Event", &index.to_string()), attrs, HashSet::new())
            .expect("event attributes evaluate")
    }

    /// Asks one question; returns whether it was allowed and the ids of the
    /// rules that decided. Any evaluation error counts as a refusal.
    fn ask(
        &self,
        reader: &EntityUid,
        action: &EntityUid,
        resource: EntityUid,
        entities: &Entities,
    ) -> (bool, Vec<String>) {
        let Ok(request) = Request::new(reader.clone(), action.clone(), resource, Context::empty(), Some(&self.schema))
        else {
            return (false, Vec::new());
        };
        let response = self.authorizer.is_authorized(&request, &self.policies, entities);
        let rules = response
            .diagnostics()
            .reason()
            .map(|id| self.policies.annotation(id, "id").map_or_else(|| id.to_string(), str::to_string))
            .collect();
        (response.decision() == CedarDecision::Allow && response.diagnostics().errors().next().is_none(), rules)
    }

    fn decide_all(&self, principal: &Principal, events: &[Facts<'_>]) -> Vec<Explanation> {
        let reader = Self::reader(principal);
        let reader_uid = reader.uid();
        let entities = std::iter::once(reader).chain(events.iter().enumerate().map(|(i, e)| Self::event(i, e)));
        let Ok(entities) = Entities::from_entities(entities, Some(&self.schema)) else {
            // Entities that break the schema get nothing (default deny).
            return events.iter().map(|_| self.explanation(Decision::Withhold)).collect();
        };
        (0..events.len())
            .map(|i| {
                let resource = || uid("Concord::Event", &i.to_string());
                let (see, see_rules) = self.ask(&reader_uid, &self.see, resource(), &entities);
                let (detail, detail_rules) = self.ask(&reader_uid, &self.see_detail, resource(), &entities);
                let decision = match (see, detail) {
                    (true, true) => Decision::Show,
                    (true, false) => Decision::ShowRedacted,
                    _ => Decision::Withhold,
                };
                let forbids =
                    |rules: &[String]| -> Vec<String> { rules.iter().filter(|r| self.is_forbid(r)).cloned().collect() };
                let mut forbidden_by = forbids(&see_rules);
                forbidden_by.extend(forbids(&detail_rules).into_iter().filter(|r| !see_rules.contains(r)));
                Explanation {
                    decision,
                    see: if see { see_rules } else { Vec::new() },
                    see_detail: if detail { detail_rules } else { Vec::new() },
                    forbidden_by,
                    policy_hash: self.hash.clone(),
                }
            })
            .collect()
    }

    fn is_forbid(&self, rule: &str) -> bool {
        self.policies.policies().any(|p| {
            p.effect() == cedar_policy::Effect::Forbid && p.annotation("id").unwrap_or(p.id().as_ref()) == rule
        })
    }

    fn explanation(&self, decision: Decision) -> Explanation {
        Explanation { decision, see: vec![], see_detail: vec![], forbidden_by: vec![], policy_hash: self.hash.clone() }
    }
}

impl Policy for CedarAgreement {
    fn policy_hash(&self) -> &str {
        &self.hash
    }

    fn decide(&self, principal: &Principal, events: &[Facts<'_>]) -> Vec<Decision> {
        self.decide_all(principal, events).into_iter().map(|e| e.decision).collect()
    }

    fn explain(&self, principal: &Principal, facts: Facts<'_>) -> Explanation {
        self.decide_all(principal, &[facts]).remove(0)
    }
}
