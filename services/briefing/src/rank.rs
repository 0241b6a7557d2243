//! Why a group matters: the reasons its events give for discussing it
//! first, each with a weight, and the group's score.
//!
//! The reasons are those a VVE briefing lead looks for: a child missing
//! while exploited, weapon arrests, repeat missing, new exploitation
//! concerns, MASH decisions, high-risk missing, high-risk briefing items,
//! NRM referrals, high risk of serious harm and custody. Each reason counts
//! once per group, at its highest weight; the score is the sum of the
//! weights plus one per event, so busier groups break ties.

use std::collections::{BTreeMap, BTreeSet};

use concord_core::pb::{self, event::Body};
use concord_core::{SubjectId, millis};

use crate::describe;

/// How far back repeat missing looks from the end of the window.
pub const REPEAT_MISSING_DAYS: i64 = 90;
/// Missing episodes in [`REPEAT_MISSING_DAYS`] that make a child a repeat missing child.
pub const REPEAT_MISSING_AT: usize = 3;

/// What ranking looks at for one group.
#[derive(Debug, Clone, Copy)]
pub struct Evidence<'a> {
    /// The group's events in the window.
    pub window: &'a [&'a pb::Event],
    /// Everything the recipient may see about the group's subjects: their
    /// history before the window and the window's events.
    pub known: &'a [&'a pb::Event],
    /// The end of the window (milliseconds).
    pub to: i64,
}

fn reason(code: &str, label: impl Into<String>, weight: u32) -> pb::RankReason {
    pb::RankReason { code: code.into(), label: label.into(), weight }
}

fn people(event: &pb::Event) -> impl Iterator<Item = SubjectId> + '_ {
    event.subjects.iter().filter_map(|s| SubjectId::from_ref(s).ok()).filter(|s| s.kind() == pb::SubjectKind::Person)
}

fn about(event: &pb::Event, person: &SubjectId) -> bool {
    people(event).any(|p| &p == person)
}

/// Whether `person` is known to be exploited: a concern or an NRM referral
/// about them that the recipient may see.
fn exploited(known: &[&pb::Event], person: &SubjectId) -> bool {
    known
        .iter()
        .any(|e| matches!(e.body, Some(Body::ExploitationConcern(_) | Body::NrmReferral(_))) && about(e, person))
}

/// Distinct missing episodes of `person` in the `REPEAT_MISSING_DAYS` to `to`.
fn missing_episodes(known: &[&pb::Event], person: &SubjectId, to: i64) -> usize {
    let since = to - REPEAT_MISSING_DAYS * 86_400_000;
    let episodes: BTreeSet<&str> = known
        .iter()
        .filter(|e| e.occurred_at.as_ref().map(millis).is_some_and(|t| since <= t && t < to) && about(e, person))
        .filter_map(|e| match &e.body {
            Some(Body::MissingEpisode(m)) => {
                Some(if m.episode_id.is_empty() { e.event_id.as_str() } else { &m.episode_id })
            }
            _ => None,
        })
        .collect();
    episodes.len()
}

fn risk_bonus(risk: i32) -> u32 {
    match pb::RiskLevel::try_from(risk) {
        Ok(pb::RiskLevel::VeryHigh) => 20,
        Ok(pb::RiskLevel::High) => 10,
        _ => 0,
    }
}

fn high(risk: i32) -> bool {
    matches!(pb::RiskLevel::try_from(risk), Ok(pb::RiskLevel::High | pb::RiskLevel::VeryHigh))
}

/// The reasons one window event gives.
fn reasons_of(event: &pb::Event, evidence: &Evidence<'_>) -> Vec<pb::RankReason> {
    let mut out = Vec::new();
    match &event.body {
        Some(Body::MissingEpisode(m)) => {
            if m.exploitation_concern || people(event).any(|p| exploited(evidence.known, &p)) {
                out.push(reason("missing_while_exploited", "missing while exploited", 50));
            }
            if high(m.risk) {
                out.push(reason("high_risk_missing", format!("{}-risk missing", describe::risk(m.risk)), 20));
            }
            let repeats = people(event).map(|p| missing_episodes(evidence.known, &p, evidence.to)).max().unwrap_or(0);
            if repeats >= REPEAT_MISSING_AT {
                let label = format!("repeat missing ({repeats} in {REPEAT_MISSING_DAYS} days)");
                out.push(reason("repeat_missing", label, 30 + 2 * u32::try_from(repeats).unwrap_or(u32::MAX).min(20)));
            }
        }
        Some(Body::Arrest(a)) if a.weapon => out.push(reason("weapon_arrest", "weapon arrest", 40)),
        Some(Body::Arrest(a)) => {
            out.push(reason("arrest", format!("arrest (gravity {})", a.gravity_score), 3 * a.gravity_score.min(5)))
        }
        Some(Body::StopAndSearch(s)) if s.find && s.grounds == pb::SearchGrounds::Weapons as i32 => {
            out.push(reason("weapon_found", "weapon found on stop and search", 20));
        }
        Some(Body::ExploitationConcern(c)) => {
            let label = format!(
                "new exploitation concern: {} ({} risk)",
                describe::exploitation(c.exploitation_type),
                describe::risk(c.risk)
            );
            out.push(reason("new_exploitation_concern", label, 25 + risk_bonus(c.risk)));
            if c.exploitation_type == pb::ExploitationType::Cuckooing as i32 {
                out.push(reason("cuckooing", "cuckooing: adult safeguarding", 20));
            }
        }
        Some(Body::MashReferral(m)) => {
            let (label, weight) = match pb::ThresholdDecision::try_from(m.decision) {
                Ok(pb::ThresholdDecision::StrategyDiscussion) => ("MASH decision: strategy discussion".to_string(), 30),
                Ok(pb::ThresholdDecision::ChildInNeedAssessment) => {
                    ("MASH decision: child in need assessment".into(), 15)
                }
                Ok(pb::ThresholdDecision::EarlyHelp) => ("MASH decision: early help".into(), 5),
                Ok(pb::ThresholdDecision::NoFurtherAction) => ("MASH decision: no further action".into(), 1),
                _ => ("MASH referral awaiting decision".into(), 10),
            };
            out.push(reason("mash_decision", label, weight));
        }
        Some(Body::NrmReferral(_)) => out.push(reason("nrm_referral", "NRM referral", 15)),
        Some(Body::VveBriefingItem(i)) if high(i.risk) => {
            out.push(reason(
                "briefing_item_risk",
                format!("briefing item: {} risk", describe::risk(i.risk)),
                10 + risk_bonus(i.risk),
            ));
        }
        Some(Body::AssetPlusRating(a)) if high(a.risk_of_serious_harm) => {
            let label = format!("risk of serious harm: {}", describe::risk(a.risk_of_serious_harm));
            out.push(reason("serious_harm", label, 10 + risk_bonus(a.risk_of_serious_harm)));
        }
        Some(Body::YouthJusticeOutcome(o))
            if matches!(pb::Disposal::try_from(o.disposal), Ok(pb::Disposal::Custody | pb::Disposal::Remand)) =>
        {
            out.push(reason("custody", "custody or remand", 15));
        }
        _ => {}
    }
    out
}

/// The group's reasons, one per code at its highest weight, heaviest first.
pub fn reasons(evidence: &Evidence<'_>) -> Vec<pb::RankReason> {
    let mut best: BTreeMap<String, pb::RankReason> = BTreeMap::new();
    for event in evidence.window {
        for r in reasons_of(event, evidence) {
            match best.get(&r.code) {
                Some(kept) if kept.weight >= r.weight => {}
                _ => {
                    best.insert(r.code.clone(), r);
                }
            }
        }
    }
    let mut out: Vec<pb::RankReason> = best.into_values().collect();
    out.sort_by(|a, b| b.weight.cmp(&a.weight).then_with(|| a.code.cmp(&b.code)));
    out
}

/// The score of a group with `reasons` and `events` events in the window.
pub fn score(reasons: &[pb::RankReason], events: usize) -> u32 {
    reasons.iter().map(|r| r.weight).sum::<u32>().saturating_add(u32::try_from(events).unwrap_or(u32::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400;

    fn event(seconds: i64, person: &str, body: Body) -> pb::Event {
        pb::Event {
            event_id: format!("{person}-{seconds}"),
            subjects: vec![pb::SubjectRef { kind: pb::SubjectKind::Person as i32, key: person.into() }],
            occurred_at: Some(pbjson_types::Timestamp { seconds, nanos: 0 }),
            body: Some(body),
            ..Default::default()
        }
    }

    fn missing(seconds: i64, person: &str, episode: &str) -> pb::Event {
        let body =
            pb::MissingEpisode { episode_id: episode.into(), risk: pb::RiskLevel::Medium as i32, ..Default::default() };
        event(seconds, person, Body::MissingEpisode(body))
    }

    fn arrest(seconds: i64, person: &str, weapon: bool) -> pb::Event {
        event(seconds, person, Body::Arrest(pb::Arrest { gravity_score: 2, weapon, ..Default::default() }))
    }

    fn ranked(window: &[pb::Event], history: &[pb::Event], to: i64) -> Vec<pb::RankReason> {
        let window: Vec<&pb::Event> = window.iter().collect();
        let known: Vec<&pb::Event> = history.iter().chain(window.iter().copied()).collect();
        reasons(&Evidence { window: &window, known: &known, to: to * 1000 })
    }

    fn codes(reasons: &[pb::RankReason]) -> Vec<&str> {
        reasons.iter().map(|r| r.code.as_str()).collect()
    }

    #[test]
    fn a_weapon_arrest_outranks_an_ordinary_one() {
        let weapon = ranked(&[arrest(100 * DAY, "P-1", true)], &[], 101 * DAY);
        let ordinary = ranked(&[arrest(100 * DAY, "P-1", false)], &[], 101 * DAY);
        assert_eq!(codes(&weapon), ["weapon_arrest"]);
        assert_eq!(weapon[0].label, "weapon arrest");
        assert!(score(&weapon, 1) > score(&ordinary, 1));
    }

    #[test]
    fn missing_while_exploited_is_seen_from_the_childs_history() {
        let to = 200 * DAY;
        let now = [missing(to - DAY, "P-1", "ME-1")];
        assert!(!codes(&ranked(&now, &[], to)).contains(&"missing_while_exploited"));
        // A concern about someone else does not count.
        let elsewhere = [event(to - 30 * DAY, "P-2", Body::ExploitationConcern(pb::ExploitationConcern::default()))];
        assert!(!codes(&ranked(&now, &elsewhere, to)).contains(&"missing_while_exploited"));
        let concern = [event(to - 30 * DAY, "P-1", Body::ExploitationConcern(pb::ExploitationConcern::default()))];
        let reasons = ranked(&now, &concern, to);
        assert_eq!(codes(&reasons)[0], "missing_while_exploited", "{reasons:?}");
    }

    #[test]
    fn repeat_missing_counts_distinct_episodes_in_ninety_days() {
        let to = 200 * DAY;
        let now = [missing(to - DAY, "P-1", "ME-3")];
        let two_before = [
            missing(to - 10 * DAY, "P-1", "ME-2"),
            missing(to - 10 * DAY + 60, "P-1", "ME-2"), // the same episode's return
            missing(to - 80 * DAY, "P-1", "ME-1"),
            missing(to - 95 * DAY, "P-1", "ME-0"), // too long ago
        ];
        let reasons = ranked(&now, &two_before, to);
        let repeat = reasons.iter().find(|r| r.code == "repeat_missing").expect("repeat missing");
        assert_eq!(repeat.label, "repeat missing (3 in 90 days)");
        assert!(!codes(&ranked(&now, &two_before[..2], to)).contains(&"repeat_missing"));
    }

    #[test]
    fn reasons_count_once_per_group_at_their_highest_weight() {
        let to = 10 * DAY;
        let concern = |risk: pb::RiskLevel| {
            event(
                DAY,
                "P-1",
                Body::ExploitationConcern(pb::ExploitationConcern {
                    exploitation_type: 1,
                    risk: risk as i32,
                    adult: false,
                }),
            )
        };
        let reasons = ranked(&[concern(pb::RiskLevel::Low), concern(pb::RiskLevel::VeryHigh)], &[], to);
        assert_eq!(reasons.len(), 1);
        assert_eq!(reasons[0].label, "new exploitation concern: criminal exploitation / county lines (very high risk)");
        assert_eq!(score(&reasons, 2), 25 + 20 + 2);
        let mash = event(DAY, "P-1", Body::MashReferral(pb::MashReferral { decision: 4, ..Default::default() }));
        assert_eq!(ranked(&[mash], &[], to)[0].label, "MASH decision: strategy discussion");
    }
}
