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
use std::sync::{Mutex, PoisonError};

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
    reader_type: EntityTypeName,
    event_type: EntityTypeName,
    /// The `@id` of every `forbid` rule.
    forbid_rules: HashSet<String>,
    memo: Mutex<Memo>,
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

fn type_name(name: &str) -> EntityTypeName {
    // The type names are this module's constants, so they always parse.
    EntityTypeName::from_str(name).expect("a valid Cedar type name")
}

fn uid(name: &str, id: &str) -> EntityUid {
    EntityUid::from_type_name_and_id(type_name(name), EntityId::new(id))
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
        let forbid_rules = policies
            .policies()
            .filter(|p| p.effect() == cedar_policy::Effect::Forbid)
            .map(|p| p.annotation("id").unwrap_or(p.id().as_ref()).to_string())
            .collect();
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
            reader_type: type_name("Concord::Reader"),
            event_type: type_name("Concord::Event"),
            forbid_rules,
            memo: Mutex::default(),
        })
    }

    fn reader(&self, facts: &ReaderFacts) -> Entity {
        let attrs = HashMap::from([
            ("agency_id".to_string(), string(facts.agency_id.clone())),
            ("agency_kind".to_string(), string(facts.agency_kind)),
            ("role".to_string(), string(facts.role)),
            ("purpose".to_string(), string(facts.purpose)),
        ]);
        let uid = EntityUid::from_type_name_and_id(self.reader_type.clone(), EntityId::new(&facts.sub));
        // Attribute values are plain strings and sets of strings, which always evaluate.
        Entity::new(uid, attrs, HashSet::new()).expect("reader attributes evaluate")
    }

    fn event(&self, index: usize, facts: &EventFacts) -> Entity {
        let consent = &facts.consent;
        let attrs = HashMap::from([
            ("agency_id".to_string(), string(facts.agency_id.clone())),
            ("agency_kind".to_string(), string(facts.agency_kind)),
            ("event_type".to_string(), string(facts.event_type.clone())),
            ("classification".to_string(), string(facts.classification.clone())),
            ("special_category".to_string(), RestrictedExpression::new_bool(facts.special_category)),
            ("exploitation".to_string(), string(facts.exploitation.clone())),
            ("adult_at_risk".to_string(), RestrictedExpression::new_bool(facts.adult_at_risk)),
            ("lawful_basis".to_string(), strings(facts.lawful_basis.iter().cloned())),
            ("share_with".to_string(), strings(facts.share_with.iter().cloned())),
            ("action_owners".to_string(), strings(facts.action_owners.iter().cloned())),
            (
                "consent".to_string(),
                RestrictedExpression::new_record([
                    ("state".to_string(), string(consent.state.clone())),
                    ("agency_ids".to_string(), strings(consent.agency_ids.iter().cloned())),
                    ("agency_kinds".to_string(), strings(consent.agency_kinds.iter().cloned())),
                    ("purposes".to_string(), strings(consent.purposes.iter().cloned())),
                ])
                .expect("distinct record keys"),
            ),
        ]);
        Entity::new(self.event_uid(index), attrs, HashSet::new()).expect("event attributes evaluate")
    }

    fn event_uid(&self, index: usize) -> EntityUid {
        EntityUid::from_type_name_and_id(self.event_type.clone(), EntityId::new(index.to_string()))
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

    /// Decides every event for `principal`: each distinct question once,
    /// from the memo if it was asked before.
    fn decide_all(&self, principal: &Principal, events: &[Facts<'_>]) -> Vec<Explanation> {
        let reader = ReaderFacts::of(principal);
        let questions: Vec<EventFacts> = events.iter().map(EventFacts::of).collect();
        let mut answers: Vec<Option<Explanation>> = {
            let memo = self.memo.lock().unwrap_or_else(PoisonError::into_inner);
            let known = memo.answers.get(&reader);
            questions.iter().map(|q| known.and_then(|k| k.get(q)).cloned()).collect()
        };
        // The questions not in the memo, each once.
        let mut unknown: Vec<&EventFacts> = Vec::new();
        for (question, answer) in questions.iter().zip(&answers) {
            if answer.is_none() && !unknown.contains(&question) {
                unknown.push(question);
            }
        }
        if unknown.is_empty() {
            return answers.into_iter().flatten().collect();
        }
        let decided = self.ask_cedar(&reader, &unknown);
        let mut memo = self.memo.lock().unwrap_or_else(PoisonError::into_inner);
        for (question, explanation) in unknown.iter().zip(&decided) {
            memo.remember(&reader, question, explanation);
        }
        drop(memo);
        for (question, answer) in questions.iter().zip(answers.iter_mut()) {
            if answer.is_none() {
                let i = unknown.iter().position(|u| *u == question).expect("every unknown question was asked");
                *answer = Some(decided[i].clone());
            }
        }
        answers.into_iter().flatten().collect()
    }

    /// Asks Cedar the two questions about each event.
    fn ask_cedar(&self, reader: &ReaderFacts, events: &[&EventFacts]) -> Vec<Explanation> {
        let reader = self.reader(reader);
        let reader_uid = reader.uid();
        let entities = std::iter::once(reader).chain(events.iter().enumerate().map(|(i, e)| self.event(i, e)));
        let Ok(entities) = Entities::from_entities(entities, Some(&self.schema)) else {
            // Entities that break the schema get nothing (default deny).
            return events.iter().map(|_| self.explanation(Decision::Withhold)).collect();
        };
        (0..events.len())
            .map(|i| {
                let (see, see_rules) = self.ask(&reader_uid, &self.see, self.event_uid(i), &entities);
                let (detail, detail_rules) = self.ask(&reader_uid, &self.see_detail, self.event_uid(i), &entities);
                let decision = match (see, detail) {
                    (true, true) => Decision::Show,
                    (true, false) => Decision::ShowRedacted,
                    _ => Decision::Withhold,
                };
                let forbids = |rules: &[String]| -> Vec<String> {
                    rules.iter().filter(|r| self.forbid_rules.contains(*r)).cloned().collect()
                };
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

    fn explanation(&self, decision: Decision) -> Explanation {
        Explanation { decision, see: vec![], see_detail: vec![], forbidden_by: vec![], policy_hash: self.hash.clone() }
    }
}

/// What a decision knows of the reader: exactly the attributes of its
/// Cedar entity, and its id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct ReaderFacts {
    sub: String,
    agency_id: String,
    agency_kind: &'static str,
    role: &'static str,
    purpose: &'static str,
}

impl ReaderFacts {
    fn of(principal: &Principal) -> Self {
        ReaderFacts {
            sub: principal.sub.clone(),
            agency_id: principal.agency.as_str().to_string(),
            agency_kind: agency_kind_name(principal.agency.kind()),
            role: principal.role.as_str(),
            purpose: principal.purpose.as_str(),
        }
    }
}

/// What a decision knows of an event: exactly the attributes of its Cedar
/// entity (never content), so two events with the same facts are decided
/// alike.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct EventFacts {
    agency_id: String,
    agency_kind: &'static str,
    event_type: String,
    classification: String,
    special_category: bool,
    exploitation: String,
    adult_at_risk: bool,
    lawful_basis: Vec<String>,
    share_with: Vec<String>,
    /// The owners of a briefing item's actions, sorted, each once.
    action_owners: Vec<String>,
    consent: ConsentFacts,
}

/// The consent an event relies on, as the agreement sees it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct ConsentFacts {
    state: String,
    agency_ids: Vec<String>,
    agency_kinds: Vec<String>,
    purposes: Vec<String>,
}

impl EventFacts {
    fn of(facts: &Facts<'_>) -> Self {
        let event = facts.event;
        let consent = facts.consent;
        let kind = AgencyKind::try_from(event.agency_kind).unwrap_or(AgencyKind::Unspecified);
        let classification = pb::Classification::try_from(event.classification)
            .map(|c| short(c.as_str_name(), "CLASSIFICATION_"))
            .unwrap_or_default();
        let lawful_basis = event
            .lawful_basis
            .iter()
            .filter_map(|b| pb::LawfulBasis::try_from(*b).ok())
            .map(|b| short(b.as_str_name(), "LAWFUL_BASIS_"))
            .collect();
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
        let mut action_owners: Vec<String> = match &event.body {
            Some(pb::event::Body::VveBriefingItem(item)) => {
                item.actions.iter().map(|a| a.owner_agency_id.clone()).collect()
            }
            _ => Vec::new(),
        };
        action_owners.sort();
        action_owners.dedup();
        EventFacts {
            agency_id: event.agency_id.clone(),
            agency_kind: agency_kind_name(kind),
            event_type,
            classification,
            special_category: sensitivity::is_special_category(event),
            exploitation,
            adult_at_risk: sensitivity::concerns_adult_at_risk(event),
            lawful_basis,
            share_with: event.share_with.clone(),
            action_owners,
            consent: ConsentFacts {
                state: consent.status.as_str().to_string(),
                agency_ids: consent.agency_ids.clone(),
                agency_kinds: consent.agency_kinds.clone(),
                purposes: consent.purposes.clone(),
            },
        }
    }
}

/// How many answers the memo keeps before it starts again. The facts of
/// events vary little (agencies, types, classifications, bases, consent),
/// so a partnership's answers for its readers fit many times over.
const MEMO_ANSWERS: usize = 50_000;

/// Answers already given by this agreement. An answer depends only on the
/// facts the entities are built from (and the agreement, which never
/// changes: a new agreement is a new [`CedarAgreement`] with an empty memo).
#[derive(Default)]
struct Memo {
    answers: HashMap<ReaderFacts, HashMap<EventFacts, Explanation>>,
    size: usize,
}

impl Memo {
    fn remember(&mut self, reader: &ReaderFacts, event: &EventFacts, explanation: &Explanation) {
        if self.size >= MEMO_ANSWERS {
            self.answers.clear();
            self.size = 0;
        }
        let known = self.answers.entry(reader.clone()).or_default();
        if known.insert(event.clone(), explanation.clone()).is_none() {
            self.size += 1;
        }
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
