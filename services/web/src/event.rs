//! How an event is shown: a title, its times in the partnership's zone,
//! what the agreement or an erasure left out and what a correction changed,
//! said plainly; and, on its own page, every field the reader was given.
//!
//! Fields are listed from the event's JSON form (the same one `concord
//! query` prints), so every event type is shown without a template of its
//! own; the sealed ciphertext and the envelope's bookkeeping are left out.

use std::collections::HashMap;
use std::sync::LazyLock;

use concord_core::pb::{self, EventView, Visibility};
use concord_core::{EventType, SubjectId};
use jiff::tz::TimeZone;
use prost::Message as _;
use prost_types::{DescriptorProto, EnumDescriptorProto, FileDescriptorSet};
use serde_json::Value;

/// Something the reader should know about what they see.
#[derive(Debug, Clone)]
pub struct Note {
    /// `redacted`, `erased`, `corrected` or `correction` (its style).
    pub kind: &'static str,
    /// A one-word label.
    pub label: &'static str,
    /// What it means.
    pub text: String,
    /// The related event's page, if any, and what to call the link.
    pub link: Option<(String, &'static str)>,
}

/// One field a correction changed.
#[derive(Debug, Clone)]
pub struct Change {
    /// The field's path.
    pub field: String,
    /// Its value before (empty: absent).
    pub from: String,
    /// Its value now.
    pub to: String,
}

/// An event as a list entry or page heading shows it.
#[derive(Debug, Clone)]
pub struct Shown {
    /// The event's page.
    pub href: String,
    /// Its type, in words.
    pub title: String,
    /// When it happened.
    pub occurred: String,
    /// When the agency recorded it.
    pub recorded: String,
    /// The publishing agency.
    pub agency: String,
    /// Its ward.
    pub ward: String,
    /// Redactions, erasures and corrections.
    pub notes: Vec<Note>,
    /// What it changed, if it is a correction.
    pub changes: Vec<Change>,
}

/// One labelled field of an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// The field, in words.
    pub label: String,
    /// Its value, in words.
    pub value: String,
}

/// A subject an event is about, with its timeline's address.
#[derive(Debug, Clone)]
pub struct SubjectLink {
    /// The partnership key, e.g. `person/P-2ae205b8`.
    pub key: String,
    /// Its timeline page.
    pub href: String,
}

/// The timeline page of `subject` (its pseudonymous key is all the address holds).
pub fn subject_href(subject: &SubjectId) -> String {
    format!("/subjects/{subject}")
}

/// The page of event `id`.
pub fn event_href(id: &str) -> String {
    format!("/events/{id}")
}

/// Abbreviations written in capitals.
const ABBREVIATIONS: &[&str] =
    &["vcs", "vve", "camhs", "mash", "nrm", "yot", "nfa", "cse", "cce", "mappa", "uprn", "dto"];

/// `snake_case` or `SCREAMING_CASE` as words with a capital first letter.
pub fn words(name: &str) -> String {
    let lower = name.replace('_', " ").to_lowercase();
    let spelt: Vec<String> =
        lower.split(' ').map(|w| if ABBREVIATIONS.contains(&w) { w.to_uppercase() } else { w.to_string() }).collect();
    let joined = spelt.join(" ");
    let mut chars = joined.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

/// Each enum value's name without its enum's prefix (`RISK_LEVEL_HIGH` →
/// `HIGH`), from the built-in descriptors: proto3 JSON names values in full.
static ENUM_VALUES: LazyLock<HashMap<String, String>> = LazyLock::new(|| {
    fn add(e: &EnumDescriptorProto, map: &mut HashMap<String, String>) {
        let names: Vec<&str> = e.value.iter().map(|v| v.name()).collect();
        // The enum's prefix: what all its values share, up to an underscore.
        let shared = names.first().map_or(0, |first| {
            let common = names.iter().map(|n| first.bytes().zip(n.bytes()).take_while(|(a, b)| a == b).count()).min();
            first[..common.unwrap_or(0)].rfind('_').map_or(0, |i| i + 1)
        });
        for name in names {
            map.insert(name.to_string(), name[shared..].to_string());
        }
    }
    fn visit(m: &DescriptorProto, map: &mut HashMap<String, String>) {
        m.enum_type.iter().for_each(|e| add(e, map));
        m.nested_type.iter().for_each(|n| visit(n, map));
    }
    let mut map = HashMap::new();
    // Built from the committed protos by concord-core's build script; an
    // undecodable set leaves names in full.
    if let Ok(set) = FileDescriptorSet::decode(pb::FILE_DESCRIPTOR_SET) {
        for file in &set.file {
            file.enum_type.iter().for_each(|e| add(e, &mut map));
            file.message_type.iter().for_each(|m| visit(m, &mut map));
        }
    }
    map
});

/// An enum value's proto name (`ACTION_STATUS_IN_PROGRESS`) in words
/// without its enum's prefix (`In progress`).
pub fn enum_words(name: &str) -> String {
    words(ENUM_VALUES.get(name).map_or(name, String::as_str))
}

/// A time in `zone`, as GOV.UK writes dates: `7 December 2026, 19:30`.
pub fn when(time: Option<&pbjson_types::Timestamp>, zone: &TimeZone) -> String {
    time.and_then(|t| jiff::Timestamp::from_millisecond(concord_core::millis(t)).ok())
        .map(|t| zone.to_datetime(t).strftime("%-d %B %Y, %H:%M").to_string())
        .unwrap_or_else(|| "not given".to_string())
}

/// The event's type, in words.
fn title(event: &pb::Event) -> String {
    event.body.as_ref().map(|b| words(EventType::of(b).as_str())).unwrap_or_else(|| "Event".to_string())
}

/// What the reader should know about `view`: what the agreement withheld,
/// what an erasure made unreadable, and how it relates to corrections.
fn notes(view: &EventView, event: &pb::Event) -> Vec<Note> {
    let mut notes = Vec::new();
    if view.visibility == Visibility::ShowRedacted as i32 {
        notes.push(Note {
            kind: "redacted",
            label: "Redacted",
            text: "Free text and health detail are withheld from you by the sharing agreement.".into(),
            link: None,
        });
    }
    if view.erased > 0 {
        let records = if view.erased == 1 { "record".to_string() } else { format!("{} records", view.erased) };
        notes.push(Note {
            kind: "erased",
            label: "Erased",
            text: format!("Personal data ({records}) can no longer be read: a subject's data was erased."),
            link: None,
        });
    }
    if !view.superseded_by.is_empty() {
        notes.push(Note {
            kind: "corrected",
            label: "Corrected",
            text: "A later event corrects this one and holds the current values:".into(),
            link: Some((event_href(&view.superseded_by), "the correction")),
        });
    }
    if !event.corrects.is_empty() {
        notes.push(Note {
            kind: "correction",
            label: "Correction",
            text: "This event corrects an earlier one:".into(),
            link: Some((event_href(&event.corrects), "the event it corrects")),
        });
    }
    notes
}

/// `view` as a list entry or page heading shows it; `None` for a view
/// without an event (never given by the query service).
pub fn shown(view: &EventView, zone: &TimeZone) -> Option<Shown> {
    let event = view.event.as_ref()?;
    Some(Shown {
        href: event_href(&event.event_id),
        title: title(event),
        occurred: when(event.occurred_at.as_ref(), zone),
        recorded: when(event.recorded_at.as_ref(), zone),
        agency: event.agency_id.clone(),
        ward: event.ward.clone(),
        notes: notes(view, event),
        changes: view
            .changes
            .iter()
            .map(|c| Change { field: c.field.clone(), from: c.from.clone(), to: c.to.clone() })
            .collect(),
    })
}

/// The subjects `event` is about, with their timelines.
pub fn subjects(event: &pb::Event) -> Vec<SubjectLink> {
    event
        .subjects
        .iter()
        .filter_map(|r| SubjectId::from_ref(r).ok())
        .map(|s| SubjectLink { key: s.to_string(), href: subject_href(&s) })
        .collect()
}

/// A JSON value in words: enum names and codes as words, booleans as Yes
/// and No, lists joined.
fn value(value: &Value) -> String {
    match value {
        Value::String(s)
            if !s.is_empty() && s.chars().all(|c| c.is_ascii_uppercase() || c == '_' || c.is_ascii_digit()) =>
        {
            enum_words(s)
        }
        // A code (`possession_of_weapons`): in words.
        Value::String(s)
            if s.contains('_') && s.chars().all(|c| c.is_ascii_lowercase() || c == '_' || c.is_ascii_digit()) =>
        {
            words(s)
        }
        Value::String(s) => s.clone(),
        Value::Bool(true) => "Yes".into(),
        Value::Bool(false) => "No".into(),
        Value::Array(items) => items.iter().map(self::value).collect::<Vec<_>>().join(", "),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// `value` under `label` as rows, nested objects' fields labelled below it.
fn flatten(label: &str, v: &Value, rows: &mut Vec<Row>) {
    match v {
        Value::Object(fields) => {
            for (name, field) in fields {
                let sub =
                    if label.is_empty() { words(name) } else { format!("{label}: {}", words(name).to_lowercase()) };
                flatten(&sub, field, rows);
            }
        }
        Value::Array(items) if items.iter().any(Value::is_object) => {
            for (i, item) in items.iter().enumerate() {
                flatten(&format!("{label} {}", i + 1), item, rows);
            }
        }
        _ => rows.push(Row { label: label.to_string(), value: value(v) }),
    }
}

/// The envelope fields a reader is shown on an event's page (the rest is
/// bookkeeping: ids, sealed ciphertext, expected versions).
const ENVELOPE: &[&str] = &["borough", "ward", "classification", "lawful_basis", "consent_ref", "share_with"];

/// Every field of `event` the reader was given, labelled: the envelope's,
/// the body's, and the personal data (names, dates of birth, free text)
/// when the agreement showed it.
pub fn rows(event: &pb::Event) -> Vec<Row> {
    let Ok(Value::Object(json)) = serde_json::to_value(event) else {
        return Vec::new();
    };
    let mut rows = Vec::new();
    for name in ENVELOPE {
        if let Some(v) = json.get(*name) {
            flatten(&words(name), v, &mut rows);
        }
    }
    if let Some(body) = event.body.as_ref().and_then(|b| json.get(EventType::of(b).as_str())) {
        flatten("", body, &mut rows);
    }
    if let Some(Value::Object(personal)) = json.get("personal") {
        if let Some(Value::Array(identities)) = personal.get("identities") {
            for identity in identities.iter().filter_map(Value::as_object) {
                let whose = identity.get("subject_key").and_then(Value::as_str).unwrap_or_default();
                for (name, field) in identity.iter().filter(|(name, _)| *name != "subject_key") {
                    let label = if whose.is_empty() { words(name) } else { format!("{} of {whose}", words(name)) };
                    flatten(&label, field, &mut rows);
                }
            }
        }
        if let Some(text) = personal.get("text") {
            flatten("", text, &mut rows);
        }
    }
    rows.retain(|r| !r.value.is_empty());
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arrest() -> pb::Event {
        pb::Event {
            event_id: "0190a0a0-0000-7000-8000-000000000001".into(),
            agency_id: "police.met.nw".into(),
            subjects: vec![pb::SubjectRef { kind: pb::SubjectKind::Person as i32, key: "P-1".into() }],
            occurred_at: Some(concord_core::timestamp(1_790_000_000_000)),
            ward: "Wealdstone".into(),
            corrects: "0190a0a0-0000-7000-8000-000000000000".into(),
            personal: Some(pb::Personal {
                identities: vec![pb::Identity { name: "Jordan <b>Test</b>".into(), ..Default::default() }],
                text: [("notes".to_string(), "seen".to_string())].into(),
            }),
            body: Some(pb::event::Body::Arrest(pb::Arrest {
                offence_category: "possession_of_weapons".into(),
                gravity_score: 3,
                weapon: true,
                custody_outcome: pb::CustodyOutcome::Bailed as i32,
                ..Default::default()
            })),
            ..Default::default()
        }
    }

    #[test]
    fn an_event_is_shown_in_words_with_its_redaction_erasure_and_correction() {
        let view = EventView {
            event: Some(arrest()),
            visibility: Visibility::ShowRedacted as i32,
            erased: 2,
            superseded_by: "0190a0a0-0000-7000-8000-000000000002".into(),
            ..Default::default()
        };
        let shown = shown(&view, &TimeZone::get("Europe/London").unwrap()).unwrap();
        assert_eq!(shown.title, "Arrest");
        assert_eq!(shown.occurred, "21 September 2026, 15:13", "14:13 UTC is 15:13 in London in summer");
        let kinds: Vec<_> = shown.notes.iter().map(|n| n.kind).collect();
        assert_eq!(kinds, ["redacted", "erased", "corrected", "correction"]);
        assert!(shown.notes[1].text.contains("2 records"));
        let link = shown.notes[3].link.as_ref().map(|(href, _)| href.as_str());
        assert_eq!(link, Some("/events/0190a0a0-0000-7000-8000-000000000000"));
    }

    #[test]
    fn every_field_given_is_a_row_in_words() {
        let rows = rows(&arrest());
        let row = |label: &str| rows.iter().find(|r| r.label == label).map(|r| r.value.as_str());
        assert_eq!(row("Ward"), Some("Wealdstone"));
        assert_eq!(row("Offence category"), Some("Possession of weapons"));
        assert_eq!(row("Weapon"), Some("Yes"));
        assert_eq!(row("Custody outcome"), Some("Bailed"));
        assert_eq!(row("Name"), Some("Jordan <b>Test</b>"), "{rows:?}");
        assert_eq!(row("Notes"), Some("seen"));
        assert!(rows.iter().all(|r| !r.label.contains("Sealed")), "{rows:?}");
    }
}
