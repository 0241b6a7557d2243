//! A subject's history before the window, as counts of each type of event
//! the recipient may see about them.

use std::collections::{BTreeMap, BTreeSet};

use concord_core::{EventType, SubjectId, pb, timestamp};

/// The history of `subject` from `events` (the recipient's visible events
/// before the window; those not about the subject are ignored), over
/// `[from, to)` in milliseconds.
pub fn summarise(subject: &SubjectId, events: &[&pb::Event], from: i64, to: i64) -> pb::SubjectHistory {
    let wanted = subject.to_ref();
    let mut counts: BTreeMap<&'static str, u32> = BTreeMap::new();
    let mut event_ids = Vec::new();
    let mut boroughs = BTreeSet::new();
    for event in events.iter().filter(|e| e.subjects.contains(&wanted)) {
        let Some(body) = &event.body else { continue };
        *counts.entry(EventType::of(body).as_str()).or_default() += 1;
        event_ids.push(event.event_id.clone());
        if !event.borough.trim().is_empty() {
            boroughs.insert(event.borough.trim().to_string());
        }
    }
    let mut counts: Vec<pb::TypeCount> =
        counts.into_iter().map(|(t, count)| pb::TypeCount { event_type: t.to_string(), count }).collect();
    counts.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.event_type.cmp(&b.event_type)));
    pb::SubjectHistory {
        subject: Some(wanted),
        from: Some(timestamp(from)),
        to: Some(timestamp(to)),
        counts,
        event_ids,
        boroughs: boroughs.into_iter().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use concord_core::pb::event::Body;

    fn about(key: &str, id: &str, body: Body) -> pb::Event {
        pb::Event {
            event_id: id.into(),
            subjects: vec![pb::SubjectRef { kind: pb::SubjectKind::Person as i32, key: key.into() }],
            body: Some(body),
            ..Default::default()
        }
    }

    #[test]
    fn counts_by_type_most_frequent_first_and_only_about_the_subject() {
        let missing = || Body::MissingEpisode(pb::MissingEpisode::default());
        let events = [
            about("P-1", "a", Body::Arrest(pb::Arrest::default())),
            about("P-1", "b", missing()),
            about("P-2", "c", missing()),
            about("P-1", "d", missing()),
        ];
        let events: Vec<&pb::Event> = events.iter().collect();
        let subject = SubjectId::parse("person/P-1").unwrap();
        let history = summarise(&subject, &events, 0, 1000);
        let counts: Vec<(&str, u32)> = history.counts.iter().map(|c| (c.event_type.as_str(), c.count)).collect();
        assert_eq!(counts, [("missing_episode", 2), ("arrest", 1)]);
        assert_eq!(history.event_ids, ["a", "b", "d"]);
        assert!(history.boroughs.is_empty());
        assert_eq!(history.to, Some(timestamp(1000)));
    }
}
