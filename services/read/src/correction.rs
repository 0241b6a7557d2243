//! Corrections: an event whose `corrects` names an earlier event is shown
//! with the fields it changed, from → to, like a case-management audit trail.

use std::collections::BTreeMap;

use concord_core::pb;
use serde_json::Value;

/// Envelope fields that differ between any two events and say nothing about
/// what was corrected.
const NOT_CHANGES: [&str; 7] =
    ["event_id", "recorded_at", "corrects", "sealed", "expected_versions", "schema_version", "agency_kind"];

fn flatten(prefix: &str, value: &Value, out: &mut BTreeMap<String, String>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                if prefix.is_empty() && NOT_CHANGES.contains(&key.as_str()) {
                    continue;
                }
                let path = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
                flatten(&path, v, out);
            }
        }
        other => {
            out.insert(prefix.to_string(), other.to_string());
        }
    }
}

/// The fields that differ between `from` (the corrected event) and `to` (the
/// correction), as both are shown to the same reader.
pub fn changes(from: &pb::Event, to: &pb::Event) -> Vec<pb::FieldChange> {
    let (mut before, mut after) = (BTreeMap::new(), BTreeMap::new());
    flatten("", &serde_json::to_value(from).unwrap_or(Value::Null), &mut before);
    flatten("", &serde_json::to_value(to).unwrap_or(Value::Null), &mut after);
    let fields: std::collections::BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    fields
        .into_iter()
        .filter(|f| before.get(*f) != after.get(*f))
        .map(|f| pb::FieldChange {
            field: f.clone(),
            from: before.get(f).cloned().unwrap_or_default(),
            to: after.get(f).cloned().unwrap_or_default(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_correction_lists_what_changed_from_and_to() {
        let from = pb::Event {
            event_id: "a".into(),
            ward: "Wealdstone".into(),
            body: Some(pb::event::Body::Arrest(pb::Arrest {
                offence_category: "robbery".into(),
                gravity_score: 3,
                ..Default::default()
            })),
            ..Default::default()
        };
        let mut to = from.clone();
        to.event_id = "b".into();
        to.corrects = "a".into();
        if let Some(pb::event::Body::Arrest(a)) = &mut to.body {
            a.gravity_score = 2;
            a.weapon = true;
        }
        let changes = changes(&from, &to);
        let summary: Vec<(&str, &str, &str)> =
            changes.iter().map(|c| (c.field.as_str(), c.from.as_str(), c.to.as_str())).collect();
        assert_eq!(summary, vec![("arrest.gravity_score", "3", "2"), ("arrest.weapon", "", "true")]);
    }
}
