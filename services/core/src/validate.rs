//! The rules every event must meet before it is published and again before
//! the ledger appends it: well-formed ids, a lawful basis, the right publisher
//! for its type and the domain's field rules (domain.md).

use crate::ids::{AgencyId, EventId, EventType, SubjectId, agency_kind_name};
use crate::pb;

/// The schema version this build understands.
pub const SCHEMA_VERSION: u32 = 1;

/// What is wrong with an event: the field at fault and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct ValidationError {
    /// The field at fault, e.g. `lawful_basis` or `arrest.gravity_score`.
    pub field: String,
    /// What is wrong and, where it helps, what to do.
    pub reason: String,
}

fn fail(field: &str, reason: impl Into<String>) -> ValidationError {
    ValidationError { field: field.to_string(), reason: reason.into() }
}

/// Where in the data path an event is being checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Submitted by an agency system: personal data in plaintext, nothing sealed.
    Submission,
    /// Signed and on its way into the log: personal data sealed, no plaintext.
    Sealed,
}

/// The facts of an event that passed validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// The event's id.
    pub id: EventId,
    /// The publishing agency.
    pub agency: AgencyId,
    /// Which body it carries.
    pub event_type: EventType,
    /// Its subjects, in order.
    pub subjects: Vec<SubjectId>,
}

/// Checks an event against the schema and the sharing rules. At
/// [`Stage::Submission`] an empty `event_id` is allowed (the node assigns one).
pub fn check(event: &pb::Event, stage: Stage) -> Result<Checked, ValidationError> {
    let id = if event.event_id.is_empty() && stage == Stage::Submission {
        EventId::new_v7()
    } else {
        EventId::parse(&event.event_id).map_err(|e| fail("event_id", e.to_string()))?
    };
    let agency = AgencyId::parse(&event.agency_id).map_err(|e| fail("agency_id", e.to_string()))?;
    if event.agency_kind != agency.kind() as i32 {
        return Err(fail("agency_kind", format!("agency {agency} is of kind {}", agency_kind_name(agency.kind()))));
    }
    if event.schema_version != SCHEMA_VERSION {
        return Err(fail(
            "schema_version",
            format!("version {} is not supported; use {SCHEMA_VERSION}", event.schema_version),
        ));
    }
    let body =
        event.body.as_ref().ok_or_else(|| fail("body", "an event needs exactly one body, e.g. \"arrest\": {...}"))?;
    let event_type = EventType::of(body);
    let publishers = event_type.publishers();
    if !publishers.is_empty() && !publishers.contains(&agency.kind()) {
        let names: Vec<_> = publishers.iter().map(|k| agency_kind_name(*k)).collect();
        return Err(fail("agency_kind", format!("{event_type} events are published by {} only", names.join(", "))));
    }

    if event.subjects.is_empty() {
        return Err(fail("subjects", "an event needs at least one subject"));
    }
    let mut subjects = Vec::with_capacity(event.subjects.len());
    for (i, s) in event.subjects.iter().enumerate() {
        let s = SubjectId::from_ref(s).map_err(|e| fail(&format!("subjects[{i}]"), e.to_string()))?;
        if subjects.contains(&s) {
            return Err(fail(&format!("subjects[{i}]"), format!("{s} is listed twice")));
        }
        subjects.push(s);
    }

    if event.occurred_at.is_none() {
        return Err(fail("occurred_at", "when it happened is required"));
    }
    if stage == Stage::Sealed && event.recorded_at.is_none() {
        return Err(fail("recorded_at", "the node must set the report time"));
    }
    if event.borough.trim().is_empty() {
        return Err(fail("borough", "the borough is required"));
    }
    let classification = pb::Classification::try_from(event.classification).unwrap_or(pb::Classification::Unspecified);
    if classification == pb::Classification::Unspecified {
        return Err(fail("classification", "use OFFICIAL, OFFICIAL_SENSITIVE or SPECIAL_CATEGORY"));
    }

    check_lawful_basis(event)?;
    for (i, a) in event.share_with.iter().enumerate() {
        AgencyId::parse(a).map_err(|e| fail(&format!("share_with[{i}]"), e.to_string()))?;
    }
    if !event.corrects.is_empty() {
        EventId::parse(&event.corrects).map_err(|e| fail("corrects", e.to_string()))?;
    }
    for (i, ev) in event.expected_versions.iter().enumerate() {
        if !ev.item_id.is_empty() {
            let field = format!("expected_versions[{i}].item_id");
            if ev.subject.is_some() {
                return Err(fail(&field, "name a subject or an item_id, not both"));
            }
            match &event.body {
                Some(pb::event::Body::VveBriefingItem(item)) if item.item_id == ev.item_id => continue,
                _ => return Err(fail(&field, format!("`{}` is not this event's briefing item", ev.item_id))),
            }
        }
        let field = format!("expected_versions[{i}].subject");
        let s = ev.subject.as_ref().ok_or_else(|| fail(&field, "required (or item_id)"))?;
        let s = SubjectId::from_ref(s).map_err(|e| fail(&field, e.to_string()))?;
        if !subjects.contains(&s) {
            return Err(fail(&field, format!("{s} is not a subject of this event")));
        }
    }

    match stage {
        Stage::Submission => {
            if !event.sealed.is_empty() {
                return Err(fail("sealed", "submit personal data in plaintext under \"personal\"; the node seals it"));
            }
            if let Some(p) = &event.personal {
                for (i, ident) in p.identities.iter().enumerate() {
                    if !subjects.iter().any(|s| s.key() == ident.subject_key) {
                        return Err(fail(
                            &format!("personal.identities[{i}].subject_key"),
                            format!("`{}` is not a subject of this event", ident.subject_key),
                        ));
                    }
                }
            }
        }
        Stage::Sealed => {
            if event.personal.is_some() {
                return Err(fail("personal", "plaintext personal data must never enter the log"));
            }
            crate::seal::check_sealed(event).map_err(|e| fail("sealed", e.to_string()))?;
        }
    }

    check_body(body, event)?;
    Ok(Checked { id, agency, event_type, subjects })
}

fn check_lawful_basis(event: &pb::Event) -> Result<(), ValidationError> {
    if event.lawful_basis.is_empty() {
        return Err(fail(
            "lawful_basis",
            "no lawful basis: an event without one never leaves its agency (use e.g. LAWFUL_BASIS_SAFEGUARDING)",
        ));
    }
    for b in &event.lawful_basis {
        match pb::LawfulBasis::try_from(*b) {
            Ok(pb::LawfulBasis::Unspecified) | Err(_) => {
                return Err(fail("lawful_basis", format!("{b} is not a lawful basis")));
            }
            Ok(_) => {}
        }
    }
    if event.lawful_basis.contains(&(pb::LawfulBasis::Consent as i32)) && event.consent_ref.is_empty() {
        return Err(fail("consent_ref", "consent is a basis, so the consent relied on must be named"));
    }
    Ok(())
}

fn check_body(body: &pb::event::Body, event: &pb::Event) -> Result<(), ValidationError> {
    use pb::event::Body;
    fn required_enum(field: &str, value: i32) -> Result<(), ValidationError> {
        if value == 0 { Err(fail(field, "required")) } else { Ok(()) }
    }
    match body {
        Body::Arrest(a) => {
            if !(1..=5).contains(&a.gravity_score) {
                return Err(fail("arrest.gravity_score", "must be 1 to 5"));
            }
            if a.offence_category.trim().is_empty() {
                return Err(fail("arrest.offence_category", "required"));
            }
            required_enum("arrest.custody_outcome", a.custody_outcome)
        }
        Body::StopAndSearch(s) => {
            required_enum("stop_and_search.grounds", s.grounds)?;
            required_enum("stop_and_search.outcome", s.outcome)
        }
        Body::MissingEpisode(m) => {
            if m.episode_id.is_empty() {
                return Err(fail("missing_episode.episode_id", "required"));
            }
            if m.reported_missing_at.is_none() {
                return Err(fail("missing_episode.reported_missing_at", "required"));
            }
            required_enum("missing_episode.risk", m.risk)
        }
        Body::MashReferral(m) => {
            AgencyId::parse(&m.referrer_agency_id)
                .map_err(|e| fail("mash_referral.referrer_agency_id", e.to_string()))?;
            required_enum("mash_referral.reason", m.reason)?;
            if m.decision != 0 && m.decided_at.is_none() {
                return Err(fail("mash_referral.decided_at", "required once a threshold decision is made"));
            }
            Ok(())
        }
        Body::ExploitationConcern(c) => {
            required_enum("exploitation_concern.exploitation_type", c.exploitation_type)?;
            required_enum("exploitation_concern.risk", c.risk)
        }
        Body::NrmReferral(n) => {
            required_enum("nrm_referral.exploitation_type", n.exploitation_type)?;
            if !n.minor && !event.lawful_basis.contains(&(pb::LawfulBasis::Consent as i32)) {
                return Err(fail(
                    "lawful_basis",
                    "an adult's NRM referral needs their consent (LAWFUL_BASIS_CONSENT and consent_ref)",
                ));
            }
            Ok(())
        }
        Body::VveBriefingItem(v) => {
            if v.item_id.is_empty() {
                return Err(fail("vve_briefing_item.item_id", "required"));
            }
            required_enum("vve_briefing_item.risk", v.risk)?;
            for (i, a) in v.actions.iter().enumerate() {
                if a.action_id.is_empty() {
                    return Err(fail(&format!("vve_briefing_item.actions[{i}].action_id"), "required"));
                }
                AgencyId::parse(&a.owner_agency_id)
                    .map_err(|e| fail(&format!("vve_briefing_item.actions[{i}].owner_agency_id"), e.to_string()))?;
                required_enum(&format!("vve_briefing_item.actions[{i}].status"), a.status)?;
            }
            Ok(())
        }
        Body::YouthJusticeOutcome(y) => {
            required_enum("youth_justice_outcome.disposal", y.disposal)?;
            if !(10..=17).contains(&y.age) {
                return Err(fail("youth_justice_outcome.age", "youth justice covers children aged 10 to 17"));
            }
            required_enum("youth_justice_outcome.gender", y.gender)?;
            required_enum("youth_justice_outcome.ethnicity", y.ethnicity)?;
            if y.offence_date.is_none() {
                return Err(fail("youth_justice_outcome.offence_date", "required"));
            }
            Ok(())
        }
        Body::Reoffence(r) => {
            if r.original_offence_date.is_none() {
                return Err(fail("reoffence.original_offence_date", "required: reoffending is counted by it"));
            }
            if r.reoffence_date.is_none() {
                return Err(fail("reoffence.reoffence_date", "required"));
            }
            if !r.original_event_id.is_empty() {
                EventId::parse(&r.original_event_id).map_err(|e| fail("reoffence.original_event_id", e.to_string()))?;
            }
            if !r.proven_by_event_id.is_empty() {
                EventId::parse(&r.proven_by_event_id)
                    .map_err(|e| fail("reoffence.proven_by_event_id", e.to_string()))?;
            }
            if let (Some(proven), Some(committed)) = (&r.proven_date, &r.reoffence_date)
                && crate::millis(proven) < crate::millis(committed)
            {
                return Err(fail("reoffence.proven_date", "an offence is proven after it is committed"));
            }
            Ok(())
        }
        Body::ReleaseFromCustody(r) => {
            // A detention and training order can run past 18; youth custody ends by 21.
            if !(10..=21).contains(&r.age) {
                return Err(fail("release_from_custody.age", "youth custody holds people aged 10 to 21"));
            }
            if !r.sentence_event_id.is_empty() {
                EventId::parse(&r.sentence_event_id)
                    .map_err(|e| fail("release_from_custody.sentence_event_id", e.to_string()))?;
            }
            Ok(())
        }
        Body::AssetPlusRating(a) => {
            required_enum("asset_plus_rating.intervention_level", a.intervention_level)?;
            required_enum("asset_plus_rating.risk_of_serious_harm", a.risk_of_serious_harm)?;
            required_enum("asset_plus_rating.vulnerability", a.vulnerability)?;
            if a.vulnerability == pb::RiskLevel::VeryHigh as i32 {
                return Err(fail("asset_plus_rating.vulnerability", "is rated low, medium or high"));
            }
            let high = a.risk_of_serious_harm >= pb::RiskLevel::High as i32;
            if high && !a.mappa_screening {
                return Err(fail(
                    "asset_plus_rating.mappa_screening",
                    "a high or very high risk of serious harm requires MAPPA screening",
                ));
            }
            Ok(())
        }
        Body::CamhsContact(c) => {
            if event.classification != pb::Classification::SpecialCategory as i32 {
                return Err(fail("classification", "CAMHS contacts are health data: SPECIAL_CATEGORY"));
            }
            required_enum("camhs_contact.stage", c.stage)
        }
        Body::VcsEngagement(v) => {
            if v.programme.trim().is_empty() {
                return Err(fail("vcs_engagement.programme", "required"));
            }
            required_enum("vcs_engagement.outcome", v.outcome)
        }
        Body::ConsentRecorded(c) => {
            if c.consent_id.is_empty() {
                return Err(fail("consent_recorded.consent_id", "required"));
            }
            required_enum("consent_recorded.given_by", c.given_by)?;
            let people = event.subjects.iter().filter(|s| s.kind == pb::SubjectKind::Person as i32).count();
            let own = [pb::ConsentGiver::Child as i32, pb::ConsentGiver::AdultSubject as i32].contains(&c.given_by);
            if people == 0 || (own && people != 1) {
                return Err(fail(
                    "subjects",
                    "a consent names the people it covers: exactly one when given by the child or adult themselves, one or more (their children) when given by a parent or carer",
                ));
            }
            if c.agency_kinds.is_empty() && c.agency_ids.is_empty() {
                return Err(fail("consent_recorded.agency_kinds", "name the agencies the consent covers"));
            }
            if c.purposes.is_empty() {
                return Err(fail("consent_recorded.purposes", "name the purposes the consent covers"));
            }
            for (i, a) in c.agency_ids.iter().enumerate() {
                AgencyId::parse(a).map_err(|e| fail(&format!("consent_recorded.agency_ids[{i}]"), e.to_string()))?;
            }
            Ok(())
        }
        Body::ConsentWithdrawn(c) => {
            if c.consent_id.is_empty() {
                return Err(fail("consent_withdrawn.consent_id", "required"));
            }
            Ok(())
        }
        Body::SubjectIdentified(_) => check_identified(event),
        Body::SubjectsMerged(_) | Body::SubjectsUnmerged(_) => check_merge(event),
        Body::CohortChanged(c) => {
            let name_ok = |ch: char| ch.is_ascii_alphanumeric() || "._-".contains(ch);
            if c.cohort.is_empty() || c.cohort.len() > 64 || !c.cohort.chars().all(name_ok) {
                return Err(fail(
                    "cohort_changed.cohort",
                    "1 to 64 letters, digits, '.', '_' or '-', e.g. yot-caseload",
                ));
            }
            Ok(())
        }
    }
}

/// A merge or unmerge names exactly two subjects of one kind: the one kept,
/// then the duplicate.
fn check_merge(event: &pb::Event) -> Result<(), ValidationError> {
    match event.subjects.as_slice() {
        [kept, duplicate] if kept.kind == duplicate.kind && kept.key != duplicate.key => Ok(()),
        _ => Err(fail("subjects", "exactly two subjects of one kind: the one kept, then the duplicate")),
    }
}

/// An identification carries identities (in plaintext on submission, sealed
/// in the log), and each identifier names its scheme and a value.
fn check_identified(event: &pb::Event) -> Result<(), ValidationError> {
    let identities = event.personal.as_ref().map_or(&[][..], |p| p.identities.as_slice());
    let sealed = event.sealed.iter().any(|s| s.part == pb::sealed::Part::Identity as i32);
    if identities.is_empty() && !sealed {
        return Err(fail("personal.identities", "required: the identifiers and details to attach to the subject"));
    }
    for (i, identity) in identities.iter().enumerate() {
        for (j, id) in identity.identifiers.iter().enumerate() {
            let field = |f: &str| format!("personal.identities[{i}].identifiers[{j}].{f}");
            let scheme_ok = |c: char| c.is_ascii_alphanumeric() || "._-/".contains(c);
            if id.scheme.is_empty() || id.scheme.len() > 64 || !id.scheme.chars().all(scheme_ok) {
                return Err(fail(
                    &field("scheme"),
                    "1 to 64 letters, digits, '.', '_', '-' or '/', e.g. \"police.met.nw/crn\" or \"nhs_number\"",
                ));
            }
            if id.value.trim().is_empty() {
                return Err(fail(&field("value"), "required"));
            }
        }
    }
    Ok(())
}
