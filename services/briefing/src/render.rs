//! A briefing as people read it: the lines both renderings share, and the
//! Markdown ([`markdown`]) and HTML ([`html`]) documents.

pub mod html;
pub mod markdown;

use std::collections::BTreeMap;

use concord_core::{millis, pb};

use crate::describe;
use crate::window::BriefingTime;

/// The names the briefing's readers may see, by subject key.
pub fn names(briefing: &pb::Briefing) -> BTreeMap<String, String> {
    describe::names(briefing.groups.iter().flat_map(|g| &g.events).filter_map(|v| v.event.as_ref()))
}

/// The briefing's title.
pub fn title(briefing: &pb::Briefing) -> String {
    match briefing.boroughs.as_slice() {
        [] => format!("VVE briefing for {}", briefing.recipient_agency_id),
        boroughs => format!("VVE briefing for {}: {}", briefing.recipient_agency_id, boroughs.join(", ")),
    }
}

/// The window, generation and provenance in one line.
pub fn provenance(briefing: &pb::Briefing, time: &BriefingTime) -> String {
    let at = |t: &Option<pbjson_types::Timestamp>| t.as_ref().map(|t| time.local(millis(t))).unwrap_or_default();
    format!(
        "{} to {} ({}); generated {} by {}; briefing {}{}; agreement {}",
        at(&briefing.from),
        at(&briefing.to),
        briefing.time_zone,
        at(&briefing.generated_at),
        briefing.generated_by,
        briefing.briefing_id,
        if briefing.published { " (published)" } else { "" },
        briefing.policy_hash.get(..12).unwrap_or(&briefing.policy_hash),
    )
}

/// What a group is about, e.g. "Jo Bloggs (person/P-1), person/P-2".
pub fn group_title(group: &pb::BriefingGroup, names: &BTreeMap<String, String>) -> String {
    let subjects: Vec<String> = group.subjects.iter().map(|s| describe::subject(s, names)).collect();
    match pb::BriefingGroupKind::try_from(group.kind) {
        Ok(pb::BriefingGroupKind::Ward) => format!("ward {}", group.ward),
        _ if subjects.is_empty() => format!("ward {}", group.ward),
        _ => subjects.join(", "),
    }
}

/// The group's reasons, e.g. "weapon arrest; repeat missing (3 in 90 days)".
pub fn reasons(group: &pb::BriefingGroup) -> String {
    if group.reasons.is_empty() {
        return "no risk markers".into();
    }
    group.reasons.iter().map(|r| r.label.as_str()).collect::<Vec<_>>().join("; ")
}

/// One event: when, what and who published it, whether it was redacted,
/// and when it was recorded if that was after it happened and after the
/// start of the window (`from`): a late report of an earlier incident.
pub fn event_line(view: &pb::EventView, time: &BriefingTime, from: i64) -> String {
    let Some(event) = &view.event else { return "event".into() };
    let occurred = event.occurred_at.as_ref().map(millis);
    let when = occurred.map(|t| time.local(t)).unwrap_or_default();
    let redacted = match pb::Visibility::try_from(view.visibility) {
        Ok(pb::Visibility::ShowRedacted) => " [redacted]",
        _ => "",
    };
    let late = match (occurred, event.recorded_at.as_ref().map(millis)) {
        (Some(occurred), Some(recorded)) if occurred < from && recorded >= from => {
            format!(" [recorded late: {}]", time.local(recorded))
        }
        _ => String::new(),
    };
    let ward = if event.ward.is_empty() { String::new() } else { format!(", {}", event.ward) };
    format!("{when} {} ({}{ward}){redacted}{late}", describe::summary(event), event.agency_id)
}

/// A subject's history, e.g. "person/P-1 in the 12 months before: 2 missing episode, 1 arrest".
/// Boroughs outside those the briefing covers (`covered`; every borough when
/// empty) are named: the subject is known across the border.
pub fn history_line(history: &pb::SubjectHistory, names: &BTreeMap<String, String>, covered: &[String]) -> String {
    let who = history.subject.as_ref().map(|s| describe::subject(s, names)).unwrap_or_default();
    if history.counts.is_empty() {
        return format!("{who}: nothing in the 12 months before");
    }
    let counts: Vec<String> =
        history.counts.iter().map(|c| format!("{} {}", c.count, describe::type_words(&c.event_type))).collect();
    let elsewhere: Vec<&str> = history
        .boroughs
        .iter()
        .filter(|b| !covered.iter().any(|c| c.eq_ignore_ascii_case(b)))
        .map(String::as_str)
        .collect();
    let across = match (covered.is_empty(), elsewhere.as_slice()) {
        // A briefing of every borough names them when there are several.
        (true, [_, _, ..]) => format!("; in {}", elsewhere.join(", ")),
        (false, [_, ..]) => format!("; also known in {}", elsewhere.join(", ")),
        _ => String::new(),
    };
    format!("{who} in the 12 months before: {}{across}", counts.join(", "))
}

/// One open action: status, due, owner and item.
pub fn action_line(action: &pb::OpenAction, time: &BriefingTime) -> String {
    let due = action.due.as_ref().map(|t| format!("due {}", time.local(millis(t)))).unwrap_or("no due date".into());
    let overdue = if action.overdue { "OVERDUE: " } else { "" };
    let risk = describe::risk(action.risk);
    let risk = if risk.is_empty() { String::new() } else { format!(", {risk} risk") };
    format!(
        "{overdue}{} {}, {due}, owner {} (item {}, {}{risk})",
        action.action_id,
        describe::status(action.status),
        action.owner_agency_id,
        action.item_id,
        action.area,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_line_says_when_a_report_came_late_and_what_was_redacted() {
        let at = |s: &str| s.parse::<jiff::Timestamp>().unwrap().as_millisecond();
        let mut view = pb::EventView {
            visibility: pb::Visibility::ShowRedacted as i32,
            event: Some(pb::Event {
                agency_id: "police.met.nw".into(),
                ward: "Wealdstone".into(),
                occurred_at: Some(concord_core::timestamp(at("2026-02-23T21:10:00Z"))),
                recorded_at: Some(concord_core::timestamp(at("2026-02-24T10:00:00Z"))),
                body: Some(pb::event::Body::StopAndSearch(pb::StopAndSearch::default())),
                ..Default::default()
            }),
            ..Default::default()
        };
        let time = BriefingTime::default();
        let line = event_line(&view, &time, at("2026-02-24T08:30:00Z"));
        assert_eq!(
            line,
            "Mon 23 Feb 2026 21:10 stop and search: nothing found (police.met.nw, Wealdstone) [redacted] \
             [recorded late: Tue 24 Feb 2026 10:00]"
        );
        view.visibility = pb::Visibility::Show as i32;
        let line = event_line(&view, &time, at("2026-02-23T08:30:00Z"));
        assert!(line.ends_with("(police.met.nw, Wealdstone)"), "{line}");
    }
}
