//! The publishing forms, one description for every event type: the body's
//! fields, their kinds and order come from the protobuf descriptors (hints
//! from the proto comments, as the generated JSON Schema carries them), the
//! envelope's fields (subjects and the identities to attach to them, when
//! and where, sharing, a note) are the same for every type. And the way
//! back: a posted form as the `pb::Event` it describes (built as proto3
//! JSON, as `concord publish` reads it), or the fields to put right; and a
//! node's or ledger's refusal placed on the field it names.

use std::collections::HashMap;
use std::sync::LazyLock;

use concord_core::pb::{self, FILE_DESCRIPTOR_SET};
use concord_core::{AgencyId, EventType, SubjectId, codes, schema};

use crate::event::{enum_words, words as label};
use jiff::tz::TimeZone;
use prost::Message as _;
use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{DescriptorProto, EnumDescriptorProto, FileDescriptorSet};
use serde_json::{Map, Value, json};

/// How many subjects a form has rows for.
pub const SUBJECT_ROWS: usize = 2;

/// How a field is entered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// One line of text.
    Text,
    /// A whole number.
    Number,
    /// Yes when ticked.
    Checkbox,
    /// One of [`Field::choices`].
    Select,
    /// Any of [`Field::choices`], ticked.
    Checkboxes,
    /// A date and time in the partnership's zone.
    DateTime,
    /// A date.
    Date,
    /// Several values, separated by commas.
    List,
    /// Free text.
    TextArea,
}

/// One option of a select or of checkboxes.
#[derive(Debug, Clone)]
pub struct Choice {
    /// The value posted (an enum value's name, a code).
    pub value: String,
    /// What the reader reads.
    pub label: String,
}

/// One field of a form.
#[derive(Debug, Clone)]
pub struct Field {
    /// The posted name: the event's field path where there is one
    /// (`arrest.gravity_score`), so a refusal naming it lands here.
    pub name: String,
    /// Its label.
    pub label: String,
    /// Help under the label (the proto comment).
    pub hint: String,
    /// How it is entered.
    pub input: Input,
    /// The options of a select or checkboxes.
    pub choices: Vec<Choice>,
    /// What it holds before anything is typed.
    pub default: String,
}

impl Field {
    fn new(name: impl Into<String>, label: &str, hint: &str, input: Input) -> Field {
        Field {
            name: name.into(),
            label: label.to_string(),
            hint: hint.to_string(),
            input,
            choices: Vec::new(),
            default: String::new(),
        }
    }

    fn choosing(mut self, choices: Vec<Choice>) -> Field {
        self.choices = choices;
        self
    }

    fn with_default(mut self, default: &str) -> Field {
        self.default = default.to_string();
        self
    }
}

/// A group of fields under one heading.
#[derive(Debug, Clone)]
pub struct Section {
    /// The heading (a fieldset's legend).
    pub heading: String,
    /// Help under it.
    pub hint: String,
    /// Its fields.
    pub fields: Vec<Field>,
    /// Optional fields shown on asking (a GOV.UK details component).
    pub more: Vec<Field>,
    /// What asking for [`Section::more`] says.
    pub more_label: String,
}

impl Section {
    fn new(heading: &str, hint: &str, fields: Vec<Field>) -> Section {
        Section {
            heading: heading.to_string(),
            hint: hint.to_string(),
            fields,
            more: Vec::new(),
            more_label: String::new(),
        }
    }

    /// Every field, the optional ones too.
    pub fn all_fields(&self) -> impl Iterator<Item = &Field> {
        self.fields.iter().chain(&self.more)
    }
}

/// A field the reader must put right.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The field's posted name; empty for the form as a whole.
    pub field: String,
    /// What is wrong, in words.
    pub message: String,
}

impl FieldError {
    fn new(field: &str, message: impl Into<String>) -> FieldError {
        FieldError { field: field.to_string(), message: message.into() }
    }
}

/// The messages and enums of the built-in descriptor set, by full name.
struct Descriptors {
    messages: HashMap<String, DescriptorProto>,
    enums: HashMap<String, EnumDescriptorProto>,
}

static DESCRIPTORS: LazyLock<Descriptors> = LazyLock::new(|| {
    fn visit(prefix: &str, m: &DescriptorProto, d: &mut Descriptors) {
        let full = format!("{prefix}.{}", m.name());
        for e in &m.enum_type {
            d.enums.insert(format!("{full}.{}", e.name()), e.clone());
        }
        for n in &m.nested_type {
            visit(&full, n, d);
        }
        d.messages.insert(full, m.clone());
    }
    let mut d = Descriptors { messages: HashMap::new(), enums: HashMap::new() };
    // Built from the committed protos by concord-core's build script: an
    // undecodable set is a build defect, and leaves the forms without bodies.
    if let Ok(set) = FileDescriptorSet::decode(FILE_DESCRIPTOR_SET) {
        for file in &set.file {
            let prefix = format!(".{}", file.package());
            for e in &file.enum_type {
                d.enums.insert(format!("{prefix}.{}", e.name()), e.clone());
            }
            for m in &file.message_type {
                visit(&prefix, m, &mut d);
            }
        }
    }
    d
});

/// An enum's values as choices, without the unspecified one, in words
/// without the enum's prefix (`RISK_LEVEL_HIGH` → High).
fn enum_choices(full: &str) -> Vec<Choice> {
    let Some(e) = DESCRIPTORS.enums.get(full) else {
        return Vec::new();
    };
    e.value
        .iter()
        .filter(|v| v.number() != 0)
        .map(|v| Choice { value: v.name().to_string(), label: enum_words(v.name()) })
        .collect()
}

/// A vocabulary's codes as choices.
fn code_choices(vocabulary: &[&str]) -> Vec<Choice> {
    let mut choices: Vec<Choice> =
        vocabulary.iter().map(|code| Choice { value: code.to_string(), label: label(code) }).collect();
    choices.sort_by(|a, b| a.label.cmp(&b.label));
    choices.push(Choice { value: codes::OTHER.to_string(), label: "Other".to_string() });
    choices
}

/// The fixed vocabulary of a free string field, if it has one.
fn vocabulary(field: &str) -> Option<&'static [&'static str]> {
    match field {
        "offence_category" | "main_offence" => Some(codes::OFFENCES),
        "programme" => Some(codes::PROGRAMMES),
        _ => None,
    }
}

/// The proto comment of `field` of message `def`, from the event type's schema.
fn hint(schema: &Value, def: &str, field: &str) -> String {
    let description = &schema["$defs"][def]["properties"][field]["description"];
    description.as_str().unwrap_or_default().lines().next().unwrap_or_default().to_string()
}

/// The fields of message `full` (e.g. `.concord.v1.Arrest`), named under
/// `prefix`; a repeated message gets one entry (`prefix.actions[0].…`).
fn message_fields(full: &str, prefix: &str, schema: &Value, out: &mut Vec<Field>) {
    let Some(message) = DESCRIPTORS.messages.get(full) else {
        return;
    };
    let def = full.rsplit('.').next().unwrap_or_default();
    for f in &message.field {
        let name = format!("{prefix}.{}", f.name());
        let (lbl, hint) = (label(f.name()), hint(schema, def, f.name()));
        let repeated = f.label() == Label::Repeated;
        let field = match (f.r#type(), repeated) {
            (Type::Message, _) if f.type_name() == ".google.protobuf.Timestamp" => {
                Field::new(name, &lbl, &hint, Input::DateTime)
            }
            (Type::Message, true) => {
                let mut inner = Vec::new();
                message_fields(f.type_name(), &format!("{name}[0]"), schema, &mut inner);
                for mut field in inner {
                    field.label =
                        format!("{} 1: {}", label(f.name().trim_end_matches('s')), field.label.to_lowercase());
                    out.push(field);
                }
                continue;
            }
            (Type::Message, false) => continue,
            (Type::Enum, true) => {
                Field::new(name, &lbl, &hint, Input::Checkboxes).choosing(enum_choices(f.type_name()))
            }
            (Type::Enum, false) => Field::new(name, &lbl, &hint, Input::Select).choosing(enum_choices(f.type_name())),
            (Type::Bool, _) => Field::new(name, &lbl, &hint, Input::Checkbox),
            (Type::String, true) => Field::new(name, &lbl, &hint, Input::List),
            (Type::String, false) => match vocabulary(f.name()) {
                Some(words) => Field::new(name, &lbl, &hint, Input::Select).choosing(code_choices(words)),
                None => Field::new(name, &lbl, &hint, Input::Text),
            },
            (_, false) => Field::new(name, &lbl, &hint, Input::Number),
            (_, true) => continue,
        };
        out.push(field);
    }
}

/// The free text's key in `Personal.text` for `t`.
fn text_key(t: EventType) -> &'static str {
    match t {
        EventType::VveBriefingItem => "incident_summary",
        _ => "notes",
    }
}

/// The sections of `t`'s form: its subjects (each with the identities to
/// attach, so the directory can find them), when and where, the body, how
/// it is shared, and a note.
pub fn sections(t: EventType) -> Vec<Section> {
    let schema = schema::event_schema(t);
    let mut sections = Vec::new();
    for row in 0..SUBJECT_ROWS {
        let at = |field: &str| format!("subjects[{row}].{field}");
        let heading = if row == 0 { "Subject".to_string() } else { format!("Subject {} (optional)", row + 1) };
        let mut section = Section::new(
            &heading,
            "Who or what it is about, by partnership key.",
            vec![
                Field::new(at("kind"), "Kind", "", Input::Select)
                    .choosing(enum_choices(".concord.v1.SubjectKind"))
                    .with_default("SUBJECT_KIND_PERSON"),
                Field::new(
                    at("key"),
                    "Partnership key",
                    "For example, P-2ae205b8: letters, digits, '-' and '_'.",
                    Input::Text,
                ),
            ],
        );
        section.more_label = "What identifies them, so the directory can find them".to_string();
        section.more = vec![
            Field::new(at("name"), "Name", "", Input::Text),
            Field::new(at("date_of_birth"), "Date of birth", "", Input::Date),
            Field::new(at("address"), "Address", "", Input::Text),
            Field::new(at("postcode"), "Postcode", "For example, HA3 7AB.", Input::Text),
            Field::new(at("registration"), "Vehicle registration", "For example, AB12 CDE.", Input::Text),
            Field::new(
                at("scheme"),
                "Identifier scheme",
                "The register an identifier is from, e.g. police.met.nw/crn or nhs_number.",
                Input::Text,
            ),
            Field::new(at("identifier"), "Identifier", "The subject's identifier in that register.", Input::Text),
        ];
        sections.push(section);
    }
    let classification =
        if t == EventType::CamhsContact { "CLASSIFICATION_SPECIAL_CATEGORY" } else { "CLASSIFICATION_OFFICIAL" };
    sections.push(Section::new(
        "When and where",
        "",
        vec![
            Field::new("occurred_at", "When it happened", "", Input::DateTime),
            Field::new("borough", "Borough", "For example, Harrow.", Input::Text),
            Field::new("ward", "Ward", "For example, Wealdstone.", Input::Text),
        ],
    ));
    let mut body = Vec::new();
    message_fields(&format!(".concord.v1.{}", def_name(t)), t.as_str(), &schema, &mut body);
    if !body.is_empty() {
        sections.push(Section::new(&label(t.as_str()), &schema_description(&schema, t), body));
    }
    sections.push(Section::new(
        "Sharing",
        "",
        vec![
            Field::new("classification", "Classification", "", Input::Select)
                .choosing(enum_choices(".concord.v1.Classification"))
                .with_default(classification),
            Field::new(
                "lawful_basis",
                "Lawful basis",
                "Select every basis it is shared on. Without one it never leaves your agency.",
                Input::Checkboxes,
            )
            .choosing(enum_choices(".concord.v1.LawfulBasis")),
            Field::new("consent_ref", "Consent relied on", "The consent's id, when consent is a basis.", Input::Text),
            Field::new(
                "share_with",
                "Share with",
                "Agencies (by id) to share it with explicitly, separated by commas, e.g. vcs.st-giles.",
                Input::List,
            ),
        ],
    ));
    sections.push(Section::new(
        "Note",
        "",
        vec![Field::new(
            "note",
            &label(text_key(t)),
            "Free text: sealed, and withheld from readers the agreement does not show it to.",
            Input::TextArea,
        )],
    ));
    sections
}

/// The message name of `t`'s body (`missing_episode` → `MissingEpisode`).
fn def_name(t: EventType) -> String {
    t.as_str()
        .split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next().map(|f| f.to_uppercase().chain(c).collect::<String>()).unwrap_or_default()
        })
        .collect()
}

/// What `t` is, from its body's proto comment.
fn schema_description(schema: &Value, t: EventType) -> String {
    schema["$defs"][def_name(t)]["description"].as_str().unwrap_or_default().to_string()
}

/// What `t` is, in a sentence (its body's proto comment's first).
pub fn about(t: EventType) -> String {
    let description = schema_description(&schema::event_schema(t), t);
    description.split_inclusive(". ").next().unwrap_or_default().trim().to_string()
}

/// A posted form: each name with its values in order (checkboxes repeat).
#[derive(Debug, Clone, Default)]
pub struct Posted(pub Vec<(String, String)>);

impl Posted {
    /// The first value posted as `name`, trimmed; empty if none.
    pub fn get(&self, name: &str) -> &str {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v.trim()).unwrap_or_default()
    }

    /// Every non-empty value posted as `name`.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0.iter().filter(|(n, v)| n == name && !v.trim().is_empty()).map(|(_, v)| v.trim()).collect()
    }
}

/// `value` (`2026-12-07T19:30`, as a datetime-local input posts it) in
/// `zone`, as RFC 3339.
fn date_time(value: &str, zone: &TimeZone) -> Option<String> {
    let civil: jiff::civil::DateTime = value.parse().ok()?;
    Some(zone.to_ambiguous_timestamp(civil).compatible().ok()?.to_string())
}

/// The value of one field for the event's proto3 JSON; `Ok(None)` when
/// nothing was entered.
fn json_value(field: &Field, posted: &Posted, zone: &TimeZone) -> Result<Option<Value>, FieldError> {
    let text = posted.get(&field.name);
    let value = match field.input {
        Input::Checkbox => (!text.is_empty()).then_some(Value::Bool(true)),
        Input::Checkboxes => {
            let chosen = posted.all(&field.name);
            (!chosen.is_empty()).then(|| json!(chosen))
        }
        Input::List => {
            let items: Vec<&str> = text.split([',', ' ', '\n']).map(str::trim).filter(|s| !s.is_empty()).collect();
            (!items.is_empty()).then(|| json!(items))
        }
        _ if text.is_empty() => None,
        Input::Number => match text.parse::<u32>() {
            Ok(n) => Some(json!(n)),
            Err(_) => {
                return Err(FieldError::new(&field.name, format!("{} must be a whole number, like 3", field.label)));
            }
        },
        Input::DateTime => match date_time(text, zone) {
            Some(t) => Some(json!(t)),
            None => return Err(FieldError::new(&field.name, format!("{} must be a real date and time", field.label))),
        },
        Input::Date => match text.parse::<jiff::civil::Date>() {
            Ok(d) => Some(json!(d.to_string())),
            Err(_) => return Err(FieldError::new(&field.name, format!("{} must be a real date", field.label))),
        },
        Input::Select if !field.choices.iter().any(|c| c.value == text) => {
            return Err(FieldError::new(&field.name, format!("Choose one of the listed options for {}", field.label)));
        }
        Input::Text | Input::Select | Input::TextArea => Some(json!(text)),
    };
    Ok(value)
}

/// Sets `path` (`a.b[0].c`) in `object` to `value`.
fn set(object: &mut Map<String, Value>, path: &str, value: Value) {
    let (head, rest) = match path.split_once('.') {
        Some((head, rest)) => (head, Some(rest)),
        None => (path, None),
    };
    let Some(rest) = rest else {
        object.insert(head.to_string(), value);
        return;
    };
    // `actions[0]`: the first entry of a list of objects.
    let slot = match head.split_once('[') {
        Some((list, _)) => {
            let items = object.entry(list).or_insert_with(|| json!([{}]));
            match items.as_array_mut().and_then(|a| a.first_mut()) {
                Some(item) => item,
                None => return,
            }
        }
        None => object.entry(head).or_insert_with(|| json!({})),
    };
    if let Some(inner) = slot.as_object_mut() {
        set(inner, rest, value);
    }
}

/// The event a posted form describes, published by `agency`: built as
/// proto3 JSON, as `concord publish` reads it. The subject rows used are
/// returned too, in order (a refusal naming `subjects[i]` means the i-th of
/// them). Nothing the node checks is checked here; only what cannot be put
/// into an event at all (a number that is not one, a date that is not
/// real, an identity without its subject's key).
pub fn event(
    t: EventType,
    agency: &AgencyId,
    posted: &Posted,
    zone: &TimeZone,
) -> Result<(pb::Event, Vec<usize>), Vec<FieldError>> {
    let mut errors = Vec::new();
    let mut json = Map::new();
    json.insert("event_id".into(), json!(posted.get("event_id")));
    json.insert("agency_id".into(), json!(agency.as_str()));
    json.insert("agency_kind".into(), json!(agency.kind().as_str_name()));
    json.insert("schema_version".into(), json!(concord_core::validate::SCHEMA_VERSION));
    json.insert(t.as_str().into(), json!({}));
    let (mut subjects, mut identities, mut rows) = (Vec::new(), Vec::new(), Vec::new());
    for section in sections(t) {
        for field in section.all_fields() {
            match json_value(field, posted, zone) {
                Err(e) => errors.push(e),
                Ok(None) => {}
                Ok(Some(_)) if field.name.starts_with("subjects[") || field.name == "note" => {}
                Ok(Some(value)) => set(&mut json, &field.name, value),
            }
        }
    }
    for row in 0..SUBJECT_ROWS {
        let at = |field: &str| format!("subjects[{row}].{field}");
        let key = posted.get(&at("key"));
        let details = ["name", "date_of_birth", "address", "postcode", "registration", "scheme", "identifier"];
        let described = details.iter().any(|d| !posted.get(&at(d)).is_empty());
        if key.is_empty() {
            if described {
                errors.push(FieldError::new(
                    &at("key"),
                    "Enter the partnership key of the subject these details identify",
                ));
            }
            continue;
        }
        let kind = pb::SubjectKind::from_str_name(posted.get(&at("kind"))).unwrap_or(pb::SubjectKind::Person);
        if let Err(e) = SubjectId::from_ref(&pb::SubjectRef { kind: kind as i32, key: key.to_string() }) {
            errors.push(FieldError::new(&at("key"), format!("Partnership key: {}", e.reason)));
        }
        rows.push(row);
        subjects.push(json!({ "kind": kind.as_str_name(), "key": key }));
        if !described {
            continue;
        }
        let mut identity = Map::new();
        identity.insert("subject_key".into(), json!(key));
        for detail in ["name", "address", "postcode", "registration"] {
            if !posted.get(&at(detail)).is_empty() {
                identity.insert(detail.into(), json!(posted.get(&at(detail))));
            }
        }
        if let Ok(Some(born)) = json_value(&Field::new(at("date_of_birth"), "", "", Input::Date), posted, zone) {
            identity.insert("date_of_birth".into(), born);
        }
        let (scheme, value) = (posted.get(&at("scheme")), posted.get(&at("identifier")));
        match (scheme.is_empty(), value.is_empty()) {
            (false, false) => {
                identity.insert("identifiers".into(), json!([{ "scheme": scheme, "value": value }]));
            }
            (true, false) => errors.push(FieldError::new(&at("scheme"), "Enter the register the identifier is from")),
            (false, true) => errors.push(FieldError::new(&at("identifier"), "Enter the identifier")),
            (true, true) => {}
        }
        identities.push(Value::Object(identity));
    }
    json.insert("subjects".into(), Value::Array(subjects));
    let note = posted.get("note");
    if !identities.is_empty() || !note.is_empty() {
        let mut personal = json!({ "identities": identities });
        if !note.is_empty() {
            personal["text"] = json!({ text_key(t): note });
        }
        json.insert("personal".into(), personal);
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    match serde_json::from_value::<pb::Event>(Value::Object(json)) {
        Ok(event) => Ok((event, rows)),
        Err(e) => Err(vec![FieldError::new("", format!("The form does not make an event: {e}"))]),
    }
}

/// The form field a refusal's field path (`arrest.gravity_score`,
/// `subjects[1]`, `personal.identities[0].identifiers[0].scheme`) names, if
/// the form has one; `rows` are the subject rows the event was built from.
pub fn field_for(path: &str, t: EventType, rows: &[usize]) -> Option<String> {
    let index = |s: &str| s.split_once('[').and_then(|(_, rest)| rest.split(']').next()?.parse::<usize>().ok());
    let row = |i: Option<usize>| rows.get(i.unwrap_or(0)).copied().unwrap_or(0);
    if path == "subjects" || path.starts_with("subjects[") {
        return Some(format!("subjects[{}].key", row(index(path))));
    }
    if let Some(rest) = path.strip_prefix("personal.identities") {
        let r = row(index(rest));
        let detail = match rest.rsplit('.').next().unwrap_or_default() {
            "scheme" => "scheme",
            "value" => "identifier",
            d @ ("name" | "date_of_birth" | "address" | "postcode" | "registration") => d,
            _ if rest.is_empty() => "name",
            _ => "key",
        };
        return Some(format!("subjects[{r}].{detail}"));
    }
    if path.starts_with("personal.text") {
        return Some("note".to_string());
    }
    if path.starts_with("share_with") {
        return Some("share_with".to_string());
    }
    // `vve_briefing_item.actions[2].status` is the form's one action.
    let path = path.split('[').next().map_or(path.to_string(), |head| {
        let tail = path.split_once(']').map_or("", |(_, tail)| tail);
        if head == path { path.to_string() } else { format!("{head}[0]{tail}") }
    });
    sections(t).iter().flat_map(Section::all_fields).find(|f| f.name == path).map(|f| f.name.clone())
}

/// A field's posted name as an element id (`subjects[0].key` →
/// `subjects-0-key`).
pub fn element_id(name: &str) -> String {
    let dashed: String = name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '-' }).collect();
    dashed.replace("--", "-").trim_end_matches('-').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone() -> TimeZone {
        TimeZone::get("Europe/London").unwrap()
    }

    fn posted(pairs: &[(&str, &str)]) -> Posted {
        Posted(pairs.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect())
    }

    #[test]
    fn every_type_has_a_form_from_its_descriptor() {
        let arrest = sections(EventType::Arrest);
        let body = arrest.iter().find(|s| s.heading == "Arrest").unwrap();
        let names: Vec<&str> = body.fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "arrest.offence_category",
                "arrest.gravity_score",
                "arrest.first_arrest",
                "arrest.custody_outcome",
                "arrest.weapon"
            ]
        );
        let outcome = &body.fields[3];
        assert_eq!(outcome.input, Input::Select);
        assert_eq!(outcome.choices[1].label, "Bailed");
        assert!(body.fields[1].hint.contains("1 (least) to 5"), "{:?}", body.fields[1]);
        let missing = sections(EventType::MissingEpisode);
        let returned =
            missing.iter().flat_map(|s| &s.fields).find(|f| f.name == "missing_episode.returned_at").unwrap();
        assert_eq!(returned.input, Input::DateTime);
        let item = sections(EventType::VveBriefingItem);
        assert!(item.iter().flat_map(|s| &s.fields).any(|f| f.name == "vve_briefing_item.actions[0].status"));
        assert_eq!(about(EventType::Arrest), "An arrest (police).");
        let consent = sections(EventType::ConsentRecorded);
        let purposes = consent.iter().flat_map(|s| &s.fields).find(|f| f.name == "consent_recorded.purposes").unwrap();
        assert_eq!(purposes.input, Input::Checkboxes);
        for t in EventType::ALL {
            assert!(!sections(*t).is_empty(), "{t}");
        }
    }

    #[test]
    fn a_posted_form_is_the_event_it_describes() {
        let agency = AgencyId::parse("police.met.nw").unwrap();
        let form = posted(&[
            ("subjects[0].kind", "SUBJECT_KIND_PERSON"),
            ("subjects[0].key", "P-1"),
            ("subjects[0].name", "Jo Bloggs"),
            ("subjects[0].date_of_birth", "2009-02-03"),
            ("occurred_at", "2026-07-01T10:30"),
            ("borough", "Harrow"),
            ("arrest.offence_category", "robbery"),
            ("arrest.gravity_score", "3"),
            ("arrest.custody_outcome", "CUSTODY_OUTCOME_BAILED"),
            ("arrest.weapon", "true"),
            ("classification", "CLASSIFICATION_OFFICIAL"),
            ("lawful_basis", "LAWFUL_BASIS_SAFEGUARDING"),
            ("lawful_basis", "LAWFUL_BASIS_CRIME_AND_DISORDER"),
            ("share_with", "vcs.st-giles, yot.harrow"),
            ("note", "seen <b>near</b> the station"),
        ]);
        let (event, rows) = event(EventType::Arrest, &agency, &form, &zone()).unwrap();
        assert_eq!(rows, [0]);
        assert_eq!(event.agency_kind, pb::AgencyKind::Police as i32);
        assert_eq!(event.lawful_basis.len(), 2);
        assert_eq!(event.share_with, ["vcs.st-giles", "yot.harrow"]);
        assert_eq!(event.occurred_at.unwrap().seconds, 1_782_898_200, "10:30 in London in summer is 09:30 UTC");
        let Some(pb::event::Body::Arrest(arrest)) = event.body else { panic!("an arrest") };
        assert_eq!((arrest.gravity_score, arrest.weapon, arrest.first_arrest), (3, true, false));
        let personal = event.personal.unwrap();
        assert_eq!(personal.identities[0].date_of_birth, "2009-02-03");
        assert_eq!(personal.text["notes"], "seen <b>near</b> the station");
        concord_core::validate::check(&event_again(&form), concord_core::validate::Stage::Submission).unwrap();
    }

    fn event_again(form: &Posted) -> pb::Event {
        let agency = AgencyId::parse("police.met.nw").unwrap();
        event(EventType::Arrest, &agency, form, &zone()).unwrap().0
    }

    #[test]
    fn what_cannot_be_an_event_is_put_on_its_field() {
        let agency = AgencyId::parse("police.met.nw").unwrap();
        let form = posted(&[
            ("subjects[1].name", "Jo"),
            ("occurred_at", "yesterday"),
            ("arrest.gravity_score", "three"),
            ("arrest.custody_outcome", "CUSTODY_OUTCOME_EATEN"),
        ]);
        let errors = event(EventType::Arrest, &agency, &form, &zone()).unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["occurred_at", "arrest.gravity_score", "arrest.custody_outcome", "subjects[1].key"]);
    }

    #[test]
    fn a_refusal_lands_on_the_field_it_names() {
        let t = EventType::VveBriefingItem;
        assert_eq!(field_for("subjects[0]", t, &[1]).as_deref(), Some("subjects[1].key"));
        assert_eq!(
            field_for("personal.identities[0].identifiers[0].scheme", t, &[1]).as_deref(),
            Some("subjects[1].scheme")
        );
        assert_eq!(
            field_for("vve_briefing_item.actions[3].status", t, &[0]).as_deref(),
            Some("vve_briefing_item.actions[0].status")
        );
        assert_eq!(field_for("lawful_basis", t, &[0]).as_deref(), Some("lawful_basis"));
        assert_eq!(field_for("agency_kind", t, &[0]), None);
        assert_eq!(element_id("subjects[0].key"), "subjects-0-key");
        assert_eq!(element_id("vve_briefing_item.actions[0].status"), "vve_briefing_item-actions-0-status");
    }
}
