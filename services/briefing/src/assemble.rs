//! A briefing from what the recipient may see: the window's events grouped
//! and ranked, each group's subjects' history, the open actions, rendered;
//! and the list of every event it shows, for its access record.

use std::collections::HashSet;

use concord_audit::access::{listed, shown};
use concord_core::{SubjectId, millis, pb, timestamp};

use crate::window::{BriefingTime, Window};
use crate::{actions, group, history, rank, render};

/// Who a briefing is for, what it covers, and where it comes from.
#[derive(Debug, Clone)]
pub struct Header {
    /// UUIDv7.
    pub briefing_id: String,
    /// The recipient agency.
    pub recipient: String,
    /// The window.
    pub window: Window,
    /// Start of the history before the window (milliseconds).
    pub history_from: i64,
    /// When it was generated (milliseconds).
    pub generated_at: i64,
    /// Who asked, or the schedule.
    pub generated_by: String,
    /// Whether it is stored.
    pub published: bool,
    /// The boroughs it covers (empty: every borough).
    pub boroughs: Vec<String>,
}

/// The recipient's visible events, as the read side shaped them.
#[derive(Debug, Default)]
pub struct Parts {
    /// Events that happened or were recorded in the window.
    pub window: Vec<pb::EventView>,
    /// Events about the window's subjects in the year before it.
    pub history: Vec<pb::EventView>,
    /// Briefing item events up to the end of the window.
    pub items: Vec<pb::EventView>,
    /// The agreement that decided.
    pub policy_hash: String,
}

/// Positions of the events a briefing shows, by part: what a published
/// briefing keeps (never the content).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Kept {
    /// Window events.
    pub window: Vec<u64>,
    /// History events counted.
    pub history: Vec<u64>,
    /// Briefing item events the open actions come from.
    pub items: Vec<u64>,
}

/// An assembled briefing.
#[derive(Debug)]
pub struct Assembled {
    /// The briefing, rendered.
    pub briefing: pb::Briefing,
    /// Every event it shows (each once), for the access record.
    pub shown: Vec<pb::ShownEvent>,
    /// Where those events are in the log.
    pub kept: Kept,
}

/// Assembles the briefing of `header` from `parts`, showing times in `time`'s zone.
pub fn assemble(header: &Header, parts: Parts, time: &BriefingTime) -> Assembled {
    let mut kept = Kept { window: parts.window.iter().map(|v| v.position).collect(), ..Kept::default() };
    let mut listed_events: Vec<pb::ShownEvent> = Vec::new();
    let mut seen: HashSet<(String, i32)> = HashSet::new();
    let mut list = |entries: Vec<pb::ShownEvent>| {
        for entry in entries {
            if seen.insert((entry.event_id.clone(), entry.visibility)) {
                listed_events.push(entry);
            }
        }
    };

    let history_events: Vec<&pb::Event> = parts.history.iter().filter_map(|v| v.event.as_ref()).collect();
    let window_events: Vec<pb::Event> = parts.window.iter().filter_map(|v| v.event.clone()).collect();
    let mut groups = Vec::new();
    let mut counted: HashSet<String> = HashSet::new();
    for g in group::group(parts.window) {
        let subjects: Vec<SubjectId> = g.subjects.iter().filter_map(|s| SubjectId::from_ref(s).ok()).collect();
        let window: Vec<&pb::Event> = g.events.iter().filter_map(|v| v.event.as_ref()).collect();
        let known: Vec<&pb::Event> = history_events
            .iter()
            .copied()
            .chain(window_events.iter())
            .filter(|e| subjects.iter().any(|s| e.subjects.contains(&s.to_ref())))
            .collect();
        let reasons = rank::reasons(&rank::Evidence { window: &window, known: &known, to: header.window.to });
        let history: Vec<pb::SubjectHistory> = subjects
            .iter()
            .map(|s| history::summarise(s, &history_events, header.history_from, header.window.from))
            .collect();
        counted.extend(history.iter().flat_map(|h| h.event_ids.iter().cloned()));
        groups.push(pb::BriefingGroup {
            kind: g.kind as i32,
            subjects: g.subjects,
            ward: g.ward,
            score: rank::score(&reasons, g.events.len()),
            reasons,
            events: g.events,
            history,
        });
    }
    // Highest score first; ties: the most recent activity first.
    let latest = |g: &pb::BriefingGroup| {
        g.events.iter().filter_map(|v| v.event.as_ref()?.occurred_at.as_ref().map(millis)).max().unwrap_or(i64::MIN)
    };
    groups.sort_by(|a, b| b.score.cmp(&a.score).then_with(|| latest(b).cmp(&latest(a))));
    for g in &groups {
        list(g.events.iter().flat_map(shown).collect());
    }

    for view in &parts.history {
        if let Some(event) = view.event.as_ref().filter(|e| counted.contains(&e.event_id)) {
            kept.history.push(view.position);
            list(vec![listed(event, view.visibility)]);
        }
    }
    let (open_actions, sources) = actions::open_actions(&parts.items, header.window.to);
    for view in &parts.items {
        if let Some(event) = view.event.as_ref().filter(|e| sources.contains(&e.event_id)) {
            kept.items.push(view.position);
            list(vec![listed(event, view.visibility)]);
        }
    }

    let mut briefing = pb::Briefing {
        briefing_id: header.briefing_id.clone(),
        recipient_agency_id: header.recipient.clone(),
        from: Some(timestamp(header.window.from)),
        to: Some(timestamp(header.window.to)),
        generated_at: Some(timestamp(header.generated_at)),
        generated_by: header.generated_by.clone(),
        policy_hash: parts.policy_hash,
        published: header.published,
        time_zone: time.zone_name().to_string(),
        groups,
        open_actions,
        markdown: String::new(),
        html: String::new(),
        boroughs: header.boroughs.clone(),
    };
    briefing.markdown = render::markdown::render(&briefing, time);
    briefing.html = render::html::render(&briefing, time);
    Assembled { briefing, shown: listed_events, kept }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::group::tests::{person, view};
    use concord_core::pb::event::Body;

    fn header() -> Header {
        Header {
            briefing_id: "b-1".into(),
            recipient: "police.met.nw".into(),
            window: Window { from: 100_000, to: 200_000 },
            history_from: 0,
            generated_at: 200_500,
            generated_by: "tester".into(),
            published: false,
            boroughs: Vec::new(),
        }
    }

    #[test]
    fn every_event_shown_is_listed_once_and_kept_by_part() {
        let mut weapon = view(10, 150, vec![person("P-2")]);
        if let Some(Body::Arrest(a)) = weapon.event.as_mut().and_then(|e| e.body.as_mut()) {
            a.weapon = true;
        }
        let parts = Parts {
            window: vec![view(9, 120, vec![person("P-1")]), weapon],
            history: vec![view(3, 50, vec![person("P-1")]), view(4, 60, vec![person("P-9")])],
            items: vec![],
            policy_hash: "abc".into(),
        };
        let assembled = assemble(&header(), parts, &BriefingTime::default());
        let b = &assembled.briefing;
        assert_eq!(b.groups.len(), 2);
        assert_eq!(b.groups[0].subjects, vec![person("P-2")], "the weapon arrest ranks first");
        assert_eq!(b.groups[1].history[0].event_ids, ["e3"]);
        let ids: Vec<&str> = assembled.shown.iter().map(|s| s.event_id.as_str()).collect();
        assert_eq!(ids, ["e10", "e9", "e3"], "history about no subject of the briefing is not shown");
        assert_eq!(assembled.kept, Kept { window: vec![9, 10], history: vec![3], items: vec![] });
        assert!(b.markdown.contains("weapon arrest") && b.html.contains("weapon arrest"));
        assert_eq!(b.policy_hash, "abc");
    }
}
