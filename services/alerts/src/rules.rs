//! The alert rules: which events raise an immediate alert, and which
//! agencies it concerns (domain.md, "Cadences" and "Sharing rules"):
//!
//! - cuckooing and modern slavery of an adult → adult safeguarding;
//! - a child missing at high or very high risk → children's services and
//!   the agencies that know the child;
//! - a child's first arrest at gravity 1-2 → the YOT, for diversion. An
//!   arrest carries no age, so the rule finds it in what the log knows of
//!   the person ([`crate::age`]); it does not fire when the person is an
//!   adult or their age is unknown;
//! - MAPPA screening → the MAPPA responsible authorities (police and
//!   probation): a child rated at high or very high risk of serious harm
//!   (AssetPlus), or sentenced to custody for a violent or sexual offence.
//!
//! Whether the sharing agreement lets anyone it concerns see an alert is
//! [`crate::reach::unheard`].

use std::collections::BTreeSet;

use concord_core::{AgencyId, SubjectId, codes, pb, sensitivity};
use concord_eventlog::decode_entry;
use concord_read::{Views, storage_unavailable};
use tonic::Status;

use crate::age::{Age, age_at_event};

/// How many of a child's events are read to find the agencies that know them.
const KNOWN_BY_SCAN: usize = 1000;

/// An alert an event raises.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Raised {
    /// The rule, e.g. `high-risk-missing`.
    pub rule: &'static str,
    /// Why, in words.
    pub reason: String,
    /// Agency kinds it concerns.
    pub kinds: Vec<pb::AgencyKind>,
    /// Particular agencies it concerns.
    pub agencies: BTreeSet<String>,
}

impl Raised {
    /// Whether readers of `agency` are to be alerted.
    pub fn concerns(&self, agency: &AgencyId) -> bool {
        self.kinds.contains(&agency.kind()) || self.agencies.contains(agency.as_str())
    }
}

fn risk_name(risk: i32) -> &'static str {
    match pb::RiskLevel::try_from(risk) {
        Ok(pb::RiskLevel::VeryHigh) => "very high",
        _ => "high",
    }
}

/// Main offences (as coded) that are violent for MAPPA screening: violence
/// against the person (with or without injury), homicide and robbery.
const VIOLENT_OFFENCES: &[&str] =
    &["homicide", "robbery", "violence_against_the_person", "violence_with_injury", "violence_without_injury"];
/// Main offences (as coded) that are sexual for MAPPA screening.
const SEXUAL_OFFENCES: &[&str] = &["sexual_offences"];

/// The alert `event` raises, if any. `views` tells which agencies know a
/// child and how old an arrested person is.
pub fn raised_by(views: &Views, event: &pb::Event) -> Result<Option<Raised>, Status> {
    let exploitation = match &event.body {
        Some(pb::event::Body::ExploitationConcern(c)) => c.exploitation_type,
        Some(pb::event::Body::NrmReferral(n)) => n.exploitation_type,
        _ => pb::ExploitationType::Unspecified as i32,
    };
    let adult = sensitivity::concerns_adult_at_risk(event);
    let raised = match &event.body {
        _ if adult && exploitation == pb::ExploitationType::Cuckooing as i32 => Raised {
            rule: "cuckooing",
            reason: "cuckooing: an adult's home taken over for exploitation".into(),
            kinds: vec![pb::AgencyKind::AdultSafeguarding],
            agencies: BTreeSet::new(),
        },
        _ if adult && exploitation == pb::ExploitationType::ModernSlavery as i32 => Raised {
            rule: "modern-slavery",
            reason: "modern slavery: an adult at risk of being exploited for labour or services".into(),
            kinds: vec![pb::AgencyKind::AdultSafeguarding],
            agencies: BTreeSet::new(),
        },
        Some(pb::event::Body::MissingEpisode(m)) if m.risk >= pb::RiskLevel::High as i32 && m.returned_at.is_none() => {
            Raised {
                rule: "high-risk-missing",
                reason: format!("a child reported missing at {} risk, not yet returned", risk_name(m.risk)),
                kinds: vec![pb::AgencyKind::ChildrensServices],
                agencies: known_by(views, event)?,
            }
        }
        Some(pb::event::Body::Arrest(a)) if a.first_arrest && (1..=2).contains(&a.gravity_score) => {
            match age_at_event(views, event)? {
                Age::Child(age) => Raised {
                    rule: "first-arrest-diversion",
                    reason: format!(
                        "a child's first arrest (aged {age}) at gravity {}: consider diversion",
                        a.gravity_score
                    ),
                    kinds: vec![pb::AgencyKind::Yot],
                    agencies: BTreeSet::new(),
                },
                Age::Adult | Age::Unknown => return Ok(None),
            }
        }
        Some(pb::event::Body::AssetPlusRating(r)) if r.risk_of_serious_harm >= pb::RiskLevel::High as i32 => {
            mappa(format!("a child assessed at {} risk of serious harm", risk_name(r.risk_of_serious_harm)))
        }
        Some(pb::event::Body::YouthJusticeOutcome(o))
            if o.disposal == pb::Disposal::Custody as i32 && violent_or_sexual(&o.main_offence) =>
        {
            mappa(format!("a child sentenced to custody for {}", o.main_offence.replace('_', " ")))
        }
        _ => return Ok(None),
    };
    Ok(Some(raised))
}

/// A MAPPA screening alert for the responsible authorities the partnership
/// has as agencies (police and probation).
fn mappa(why: String) -> Raised {
    Raised {
        rule: "mappa-screening",
        reason: format!("{why}: screen for MAPPA"),
        kinds: vec![pb::AgencyKind::Police, pb::AgencyKind::Probation],
        agencies: BTreeSet::new(),
    }
}

/// Whether a main offence, as coded, is violent or sexual.
fn violent_or_sexual(offence: &str) -> bool {
    let coded = codes::code(codes::OFFENCES, offence);
    VIOLENT_OFFENCES.contains(&coded.as_str()) || SEXUAL_OFFENCES.contains(&coded.as_str())
}

/// The agencies, other than the publisher, that have published about any
/// person the event concerns.
fn known_by(views: &Views, event: &pb::Event) -> Result<BTreeSet<String>, Status> {
    let mut agencies = BTreeSet::new();
    for subject in &event.subjects {
        for known in person_events(views, subject)? {
            agencies.insert(known.agency_id);
        }
    }
    agencies.remove(&event.agency_id);
    Ok(agencies)
}

/// The first [`KNOWN_BY_SCAN`] events of a person subject's stream, as
/// stored (sealed); none for another kind of subject.
pub(crate) fn person_events(views: &Views, subject: &pb::SubjectRef) -> Result<Vec<pb::Event>, Status> {
    let Ok(subject) = SubjectId::from_ref(subject) else { return Ok(Vec::new()) };
    if subject.kind() != pb::SubjectKind::Person {
        return Ok(Vec::new());
    }
    let log = views.log();
    let mut events = Vec::new();
    for (_, position) in log.stream(&subject.stream(), 0, KNOWN_BY_SCAN).map_err(storage_unavailable)? {
        let Some(entry) = log.get(position).map_err(storage_unavailable)? else { continue };
        if let Ok((_, event)) = decode_entry(&entry.bytes) {
            events.push(event);
        }
    }
    Ok(events)
}
