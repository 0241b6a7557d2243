//! The alert rules: which events raise an immediate alert, and which
//! agencies it concerns (domain.md, "Cadences": cuckooing and modern
//! slavery of an adult → adult safeguarding; high-risk missing; a first
//! arrest at low gravity → the YOT for diversion), and whether the sharing
//! agreement lets anyone it concerns see it ([`unheard`]).

use std::collections::BTreeSet;

use concord_core::{AgencyId, SubjectId, pb, sensitivity};
use concord_eventlog::decode_entry;
use concord_log::log::{Log, LogError};

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

/// The alert `event` raises, if any. `log` tells which agencies know a child.
pub fn raised_by(log: &Log, event: &pb::Event) -> Result<Option<Raised>, LogError> {
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
                agencies: known_by(log, event)?,
            }
        }
        Some(pb::event::Body::Arrest(a)) if a.first_arrest && (1..=2).contains(&a.gravity_score) => Raised {
            rule: "first-arrest-diversion",
            reason: format!("a first arrest at gravity {}: consider diversion", a.gravity_score),
            kinds: vec![pb::AgencyKind::Yot],
            agencies: BTreeSet::new(),
        },
        _ => return Ok(None),
    };
    Ok(Some(raised))
}

/// The agencies, other than the publisher, that have published about any
/// person the event concerns.
fn known_by(log: &Log, event: &pb::Event) -> Result<BTreeSet<String>, LogError> {
    let mut agencies = BTreeSet::new();
    for subject in &event.subjects {
        let Ok(subject) = SubjectId::from_ref(subject) else { continue };
        if subject.kind() != pb::SubjectKind::Person {
            continue;
        }
        for (_, position) in log.stream(&subject.stream(), 0, KNOWN_BY_SCAN)? {
            let Some(entry) = log.get(position)? else { continue };
            if let Ok((_, known)) = decode_entry(&entry.bytes) {
                agencies.insert(known.agency_id);
            }
        }
    }
    agencies.remove(&event.agency_id);
    Ok(agencies)
}
