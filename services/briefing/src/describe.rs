//! Events in words, for the rendered briefing: what happened, the names
//! the reader may see, and the free text they may read.

use std::collections::BTreeMap;

use concord_core::pb::{self, event::Body};
use concord_core::{EventType, SubjectId};

/// A wire enum's value name in words: `CUSTODY_OUTCOME_NO_FURTHER_ACTION`
/// with prefix `CUSTODY_OUTCOME_` becomes "no further action".
fn words(name: &str, prefix: &str) -> String {
    name.strip_prefix(prefix).unwrap_or(name).to_lowercase().replace('_', " ")
}

/// An event type's name in words, e.g. "missing episode".
pub fn type_words(event_type: &str) -> String {
    event_type.replace('_', " ")
}

/// A risk level in words ("high"), empty when unspecified.
pub fn risk(value: i32) -> String {
    match pb::RiskLevel::try_from(value) {
        Ok(pb::RiskLevel::Unspecified) | Err(_) => String::new(),
        Ok(r) => words(r.as_str_name(), "RISK_LEVEL_"),
    }
}

/// An exploitation type in words.
pub fn exploitation(value: i32) -> String {
    match pb::ExploitationType::try_from(value) {
        Ok(pb::ExploitationType::Criminal) => "criminal exploitation / county lines".into(),
        Ok(t) => words(t.as_str_name(), "EXPLOITATION_TYPE_"),
        Err(_) => "exploitation".into(),
    }
}

/// A threshold decision in words, empty when not yet decided.
pub fn decision(value: i32) -> String {
    match pb::ThresholdDecision::try_from(value) {
        Ok(pb::ThresholdDecision::Unspecified) | Err(_) => String::new(),
        Ok(pb::ThresholdDecision::StrategyDiscussion) => "strategy discussion".into(),
        Ok(d) => words(d.as_str_name(), "THRESHOLD_DECISION_"),
    }
}

/// An action status in words.
pub fn status(value: i32) -> String {
    pb::ActionStatus::try_from(value).map_or_else(|_| "unknown".into(), |s| words(s.as_str_name(), "ACTION_STATUS_"))
}

fn enum_words<E: TryFrom<i32>>(value: i32, prefix: &str, name: impl Fn(&E) -> &'static str) -> String {
    E::try_from(value).ok().map(|e| words(name(&e), prefix)).filter(|w| w != "unspecified").unwrap_or_default()
}

/// What happened, in one line: the type and its main facts, e.g.
/// "arrest: possession of weapons, gravity 3, weapon, bailed".
pub fn summary(event: &pb::Event) -> String {
    let Some(body) = &event.body else { return "event".into() };
    let name = type_words(EventType::of(body).as_str());
    let facts: Vec<String> = match body {
        Body::Arrest(a) => vec![
            a.offence_category.replace('_', " "),
            format!("gravity {}", a.gravity_score),
            if a.weapon { "weapon".into() } else { String::new() },
            if a.first_arrest { "first arrest".into() } else { String::new() },
            enum_words(a.custody_outcome, "CUSTODY_OUTCOME_", pb::CustodyOutcome::as_str_name),
        ],
        Body::StopAndSearch(s) => vec![
            enum_words(s.grounds, "SEARCH_GROUNDS_", pb::SearchGrounds::as_str_name),
            if s.find { "find".into() } else { "nothing found".into() },
            enum_words(s.outcome, "SEARCH_OUTCOME_", pb::SearchOutcome::as_str_name),
        ],
        Body::MissingEpisode(m) => vec![
            format!("{} risk", risk(m.risk)),
            if m.returned_at.is_some() {
                format!("returned, found in {}", m.found_ward)
            } else {
                "still missing".into()
            },
            if m.exploitation_concern { "exploitation concern".into() } else { String::new() },
            if m.return_interview_held { "return interview held".into() } else { String::new() },
        ],
        Body::MashReferral(m) => vec![
            format!("referred by {}", m.referrer_agency_id),
            enum_words(m.reason, "MASH_REASON_", pb::MashReason::as_str_name),
            match decision(m.decision) {
                d if d.is_empty() => "awaiting decision".into(),
                d => format!("decision: {d}"),
            },
        ],
        Body::ExploitationConcern(c) => vec![exploitation(c.exploitation_type), format!("{} risk", risk(c.risk))],
        Body::NrmReferral(n) => {
            vec![exploitation(n.exploitation_type), if n.minor { "child".into() } else { "adult".into() }]
        }
        Body::VveBriefingItem(i) => {
            vec![format!("item {}", i.item_id), i.area.clone(), format!("{} risk", risk(i.risk))]
        }
        Body::YouthJusticeOutcome(o) => vec![
            enum_words(o.disposal, "DISPOSAL_", pb::Disposal::as_str_name),
            o.main_offence.replace('_', " "),
            if o.first_time_entrant { "first-time entrant".into() } else { String::new() },
        ],
        Body::Reoffence(r) => vec![r.offence_category.replace('_', " ")],
        Body::AssetPlusRating(a) => vec![
            enum_words(a.intervention_level, "INTERVENTION_LEVEL_", pb::InterventionLevel::as_str_name),
            format!("risk of serious harm {}", risk(a.risk_of_serious_harm)),
            format!("vulnerability {}", risk(a.vulnerability)),
        ],
        Body::CamhsContact(c) => vec![
            enum_words(c.stage, "CAMHS_STAGE_", pb::CamhsStage::as_str_name),
            enum_words(c.outcome, "ENGAGEMENT_OUTCOME_", pb::EngagementOutcome::as_str_name),
        ],
        Body::VcsEngagement(v) => vec![
            v.programme.replace('_', " "),
            format!("{} sessions", v.sessions),
            enum_words(v.outcome, "ENGAGEMENT_OUTCOME_", pb::EngagementOutcome::as_str_name),
        ],
        Body::ConsentRecorded(c) => vec![format!("consent {}", c.consent_id)],
        Body::ConsentWithdrawn(c) => vec![format!("consent {} withdrawn", c.consent_id)],
        Body::ReleaseFromCustody(r) => vec![format!("aged {}", r.age)],
        // What identifies the subject is personal data: never in a summary.
        Body::SubjectIdentified(_) => vec![],
        Body::SubjectsMerged(_) => vec!["merged".into()],
        Body::SubjectsUnmerged(_) => vec!["merge undone".into()],
        Body::CohortChanged(c) => vec![format!("{} cohort {}", if c.removed { "left" } else { "joined" }, c.cohort)],
    };
    let facts: Vec<String> = facts.into_iter().map(|f| f.trim().to_string()).filter(|f| !f.is_empty()).collect();
    if facts.is_empty() { name } else { format!("{name}: {}", facts.join(", ")) }
}

/// The free text of an event the reader may read, by field, without the
/// actions' descriptions (shown with the actions).
pub fn free_text(event: &pb::Event) -> BTreeMap<String, String> {
    let Some(personal) = &event.personal else { return BTreeMap::new() };
    personal
        .text
        .iter()
        .filter(|(field, text)| !field.starts_with("action.") && !text.trim().is_empty())
        .map(|(field, text)| (field.replace('_', " "), text.clone()))
        .collect()
}

/// Names of subjects the reader may see, by subject key, from `events`.
pub fn names<'a>(events: impl IntoIterator<Item = &'a pb::Event>) -> BTreeMap<String, String> {
    let mut names = BTreeMap::new();
    for event in events {
        for identity in event.personal.iter().flat_map(|p| &p.identities) {
            if !identity.name.trim().is_empty() {
                names.entry(identity.subject_key.clone()).or_insert_with(|| identity.name.clone());
            }
        }
    }
    names
}

/// A subject for people: "Jordan Smith (person/P-1a2b)" when the name may
/// be seen, else "person/P-1a2b".
pub fn subject(subject: &pb::SubjectRef, names: &BTreeMap<String, String>) -> String {
    let id = SubjectId::from_ref(subject).map_or_else(|_| subject.key.clone(), |s| s.to_string());
    match names.get(&subject.key) {
        Some(name) => format!("{name} ({id})"),
        None => id,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(body: Body) -> pb::Event {
        pb::Event { body: Some(body), ..Default::default() }
    }

    #[test]
    fn summaries_name_the_facts_that_matter() {
        let arrest = with(Body::Arrest(pb::Arrest {
            offence_category: "possession_of_weapons".into(),
            gravity_score: 3,
            first_arrest: false,
            custody_outcome: pb::CustodyOutcome::NoFurtherAction as i32,
            weapon: true,
        }));
        assert_eq!(summary(&arrest), "arrest: possession of weapons, gravity 3, weapon, no further action");
        let mash = with(Body::MashReferral(pb::MashReferral {
            referrer_agency_id: "police.met.nw".into(),
            reason: pb::MashReason::Exploitation as i32,
            decision: pb::ThresholdDecision::StrategyDiscussion as i32,
            decided_at: None,
        }));
        assert_eq!(
            summary(&mash),
            "mash referral: referred by police.met.nw, exploitation, decision: strategy discussion"
        );
        // A redacted health contact says only that it exists.
        assert_eq!(summary(&with(Body::CamhsContact(pb::CamhsContact::default()))), "camhs contact");
    }

    #[test]
    fn names_and_free_text_come_only_from_what_was_unsealed() {
        let mut event = with(Body::Arrest(pb::Arrest::default()));
        let subject_ref = pb::SubjectRef { kind: pb::SubjectKind::Person as i32, key: "P-1".into() };
        assert_eq!(subject(&subject_ref, &names([&event])), "person/P-1");
        event.personal = Some(pb::Personal {
            identities: vec![pb::Identity {
                subject_key: "P-1".into(),
                name: "Jo Bloggs".into(),
                ..Default::default()
            }],
            text: [("notes".to_string(), "seen at the station".to_string()), ("action.A1".into(), "visit".into())]
                .into_iter()
                .collect(),
        });
        assert_eq!(subject(&subject_ref, &names([&event])), "Jo Bloggs (person/P-1)");
        let text = free_text(&event);
        assert_eq!(text.len(), 1, "action descriptions are shown with the actions");
        assert_eq!(text["notes"], "seen at the station");
    }
}
