//! JSON Schemas (draft 2020-12) for partner imports, generated from the proto
//! descriptors.
//!
//! A submission document is an `Event` in proto3 JSON (snake_case field
//! names, enum value names, RFC 3339 timestamps) carrying one body. The
//! schemas under `schemas/` are written by `concord schemas` from the
//! descriptor set the build script compiles, with the proto comments as
//! descriptions, and a test checks the committed files equal what this module
//! generates, so they cannot drift from the proto.
//!
//! No crate generates JSON Schema from protobuf descriptors at run time (the
//! existing generators are `protoc` plugins), so the mapping is written here:
//! it follows the proto3 JSON mapping as pbjson implements it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use prost::Message;
use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{DescriptorProto, EnumDescriptorProto, FieldDescriptorProto, FileDescriptorSet};
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value, json};

use crate::ids::EventType;
use crate::pb::{self, FILE_DESCRIPTOR_SET};
use crate::validate::SCHEMA_VERSION;

/// Envelope fields a submission must carry besides its body: the ones
/// `validate::check` requires at `Stage::Submission`.
const REQUIRED: &[&str] = &[
    "agency_id",
    "agency_kind",
    "subjects",
    "occurred_at",
    "borough",
    "classification",
    "lawful_basis",
    "schema_version",
];

/// Envelope fields never allowed in a submission: the node fills them.
const FORBIDDEN: &[&str] = &["sealed"];

/// The envelope message, by full name.
const EVENT: &str = ".concord.v1.Event";

// Field numbers in descriptor.proto, for SourceCodeInfo paths.
const FILE_MESSAGE_TYPE: i32 = 4;
const FILE_ENUM_TYPE: i32 = 5;
const MESSAGE_FIELD: i32 = 2;
const MESSAGE_NESTED_TYPE: i32 = 3;
const MESSAGE_ENUM_TYPE: i32 = 4;
const ENUM_VALUE: i32 = 2;

/// Every message and enum of the descriptor set by full name (`.concord.v1.Arrest`),
/// and the proto comments of messages, enums, fields (`<message>.<field>`) and
/// enum values (`<enum>.<VALUE>`).
#[derive(Default)]
struct Descriptors {
    messages: BTreeMap<String, DescriptorProto>,
    enums: BTreeMap<String, EnumDescriptorProto>,
    comments: HashMap<String, String>,
}

/// A proto comment as one line of prose: lines joined, paragraphs kept.
fn clean(comment: &str) -> String {
    comment
        .split("\n\n")
        .map(|para| para.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" "))
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("\n\n")
}

impl Descriptors {
    fn load() -> Self {
        // The descriptor set is produced by this crate's build script from the
        // committed proto files, so failing to decode it is a build defect.
        let set = FileDescriptorSet::decode(FILE_DESCRIPTOR_SET).expect("the built-in descriptor set decodes");
        let mut d = Descriptors::default();
        for file in &set.file {
            let comments: HashMap<Vec<i32>, String> = file
                .source_code_info
                .iter()
                .flat_map(|info| &info.location)
                .filter_map(|loc| {
                    let text = loc.leading_comments.as_deref().or(loc.trailing_comments.as_deref())?;
                    let text = clean(text);
                    (!text.is_empty()).then(|| (loc.path.clone(), text))
                })
                .collect();
            let prefix = format!(".{}", file.package());
            for (i, m) in file.message_type.iter().enumerate() {
                d.add_message(&prefix, m, vec![FILE_MESSAGE_TYPE, i as i32], &comments);
            }
            for (i, e) in file.enum_type.iter().enumerate() {
                d.add_enum(&prefix, e, vec![FILE_ENUM_TYPE, i as i32], &comments);
            }
        }
        d
    }

    fn note(&mut self, name: &str, path: &[i32], comments: &HashMap<Vec<i32>, String>) {
        if let Some(text) = comments.get(path) {
            self.comments.insert(name.to_string(), text.clone());
        }
    }

    fn add_message(
        &mut self,
        prefix: &str,
        message: &DescriptorProto,
        path: Vec<i32>,
        comments: &HashMap<Vec<i32>, String>,
    ) {
        let name = format!("{prefix}.{}", message.name());
        self.note(&name, &path, comments);
        for (i, f) in message.field.iter().enumerate() {
            let field_path = [path.as_slice(), &[MESSAGE_FIELD, i as i32]].concat();
            self.note(&format!("{name}.{}", f.name()), &field_path, comments);
        }
        for (i, nested) in message.nested_type.iter().enumerate() {
            self.add_message(&name, nested, [path.as_slice(), &[MESSAGE_NESTED_TYPE, i as i32]].concat(), comments);
        }
        for (i, e) in message.enum_type.iter().enumerate() {
            self.add_enum(&name, e, [path.as_slice(), &[MESSAGE_ENUM_TYPE, i as i32]].concat(), comments);
        }
        self.messages.insert(name, message.clone());
    }

    fn add_enum(
        &mut self,
        prefix: &str,
        e: &EnumDescriptorProto,
        path: Vec<i32>,
        comments: &HashMap<Vec<i32>, String>,
    ) {
        let name = format!("{prefix}.{}", e.name());
        self.note(&name, &path, comments);
        for (i, v) in e.value.iter().enumerate() {
            let value_path = [path.as_slice(), &[ENUM_VALUE, i as i32]].concat();
            self.note(&format!("{name}.{}", v.name()), &value_path, comments);
        }
        self.enums.insert(name, e.clone());
    }

    fn comment(&self, name: &str) -> Option<&str> {
        self.comments.get(name).map(String::as_str)
    }

    fn is_map_entry(&self, field: &FieldDescriptorProto) -> Option<&DescriptorProto> {
        if field.r#type() != Type::Message {
            return None;
        }
        self.messages.get(field.type_name()).filter(|m| m.options.as_ref().is_some_and(|o| o.map_entry()))
    }

    /// An enum as a list of its value names, without the zero `*_UNSPECIFIED`
    /// value (proto3 JSON omits it), described by the enum's and its values' comments.
    fn enum_schema(&self, full: &str) -> Value {
        self.enum_subset(full, |_| true)
    }

    /// [`Self::enum_schema`] restricted to the values `keep` accepts.
    fn enum_subset(&self, full: &str, keep: impl Fn(&str) -> bool) -> Value {
        let Some(e) = self.enums.get(full) else { return json!({ "type": "string" }) };
        let values: Vec<_> = e.value.iter().filter(|v| v.number() != 0 && keep(v.name())).collect();
        let mut schema = json!({ "type": "string", "enum": values.iter().map(|v| v.name()).collect::<Vec<_>>() });
        let mut lines: Vec<String> = self.comment(full).map(str::to_string).into_iter().collect();
        for v in &values {
            if let Some(c) = self.comment(&format!("{full}.{}", v.name())) {
                lines.push(format!("{}: {c}", v.name()));
            }
        }
        if !lines.is_empty() {
            schema["description"] = json!(lines.join("\n"));
        }
        schema
    }

    /// The schema of one value of a field (an element, if the field is
    /// repeated), noting the messages it refers to in `refs`.
    fn value_schema(&self, field: &FieldDescriptorProto, refs: &mut BTreeSet<String>) -> Value {
        match field.r#type() {
            Type::String => json!({ "type": "string" }),
            Type::Bool => json!({ "type": "boolean" }),
            Type::Int32 | Type::Sint32 | Type::Sfixed32 => {
                json!({ "type": "integer", "minimum": i32::MIN, "maximum": i32::MAX })
            }
            Type::Uint32 | Type::Fixed32 => json!({ "type": "integer", "minimum": 0, "maximum": u32::MAX }),
            // proto3 JSON writes 64-bit integers as decimal strings and accepts numbers too.
            Type::Int64 | Type::Sint64 | Type::Sfixed64 => {
                json!({ "type": ["string", "integer"], "pattern": "^-?[0-9]+$" })
            }
            Type::Uint64 | Type::Fixed64 => {
                json!({ "type": ["string", "integer"], "pattern": "^[0-9]+$", "minimum": 0 })
            }
            Type::Double | Type::Float => json!({ "type": "number" }),
            Type::Bytes => json!({ "type": "string", "contentEncoding": "base64" }),
            Type::Enum => self.enum_schema(field.type_name()),
            Type::Message | Type::Group => {
                let name = field.type_name();
                if name == ".google.protobuf.Timestamp" {
                    return json!({ "type": "string", "format": "date-time" });
                }
                if let Some(entry) = self.is_map_entry(field) {
                    let value = entry.field.iter().find(|f| f.number() == 2).map(|f| self.value_schema(f, refs));
                    return json!({ "type": "object", "additionalProperties": value.unwrap_or(json!({})) });
                }
                refs.insert(name.to_string());
                json!({ "$ref": format!("#/$defs/{}", def_name(name)) })
            }
        }
    }

    /// The schema of a field of `message`, with the field's comment.
    fn field_schema(&self, message: &str, field: &FieldDescriptorProto, refs: &mut BTreeSet<String>) -> Value {
        let value = self.value_schema(field, refs);
        let mut schema = if field.label() == Label::Repeated && self.is_map_entry(field).is_none() {
            json!({ "type": "array", "items": value })
        } else {
            value
        };
        if let Some(c) = self.comment(&format!("{message}.{}", field.name())) {
            let text = match schema.get("description").and_then(Value::as_str) {
                Some(type_doc) => format!("{c}\n{type_doc}"),
                None => c.to_string(),
            };
            schema["description"] = json!(text);
        }
        schema
    }

    /// A message's schema for `$defs`: its fields, nothing else.
    fn message_schema(&self, full: &str, refs: &mut BTreeSet<String>) -> Value {
        let mut properties = Map::new();
        if let Some(m) = self.messages.get(full) {
            for f in &m.field {
                properties.insert(f.name().to_string(), self.field_schema(full, f, refs));
            }
        }
        let mut schema = json!({ "type": "object", "properties": properties, "additionalProperties": false });
        if let Some(c) = self.comment(full) {
            schema["description"] = json!(c);
        }
        schema
    }
}

/// The `$defs` key of a message: its name without the package, nested names joined by `_`.
fn def_name(full: &str) -> String {
    full.trim_start_matches('.').trim_start_matches("concord.v1.").replace('.', "_")
}

/// The proto names of the agency kinds that may publish `event_type`, if it is restricted.
fn publisher_names(event_type: EventType) -> Vec<&'static str> {
    event_type.publishers().iter().map(|k| k.as_str_name()).collect()
}

/// The schema of a submission document carrying `event_type`'s body: the
/// `Event` envelope in proto3 JSON with that one body key, `sealed` left out,
/// and the envelope fields validation requires at submission marked required.
pub fn event_schema(event_type: EventType) -> Value {
    let d = Descriptors::load();
    let event = d.messages.get(EVENT).cloned().unwrap_or_default();
    let body = event_type.as_str();
    let mut refs = BTreeSet::new();
    let mut properties = Map::new();
    for f in &event.field {
        let name = f.name();
        let other_body = f.oneof_index.is_some() && name != body;
        if FORBIDDEN.contains(&name) || other_body {
            continue;
        }
        let mut schema = d.field_schema(EVENT, f, &mut refs);
        match name {
            "subjects" | "lawful_basis" => schema["minItems"] = json!(1),
            "schema_version" => schema["const"] = json!(SCHEMA_VERSION),
            "event_id" => schema["format"] = json!("uuid"),
            "agency_kind" => {
                let publishers = publisher_names(event_type);
                if !publishers.is_empty() {
                    schema = d.enum_subset(f.type_name(), |v| publishers.contains(&v));
                    let note = format!("{body} events are published by {} only.", publishers.join(", "));
                    let text = schema["description"].as_str().map(|c| format!("{c}\n{note}")).unwrap_or(note);
                    schema["description"] = json!(text);
                }
            }
            // validate.rs: CAMHS contacts are health data, always special category.
            "classification" if event_type == EventType::CamhsContact => {
                let special = pb::Classification::SpecialCategory.as_str_name();
                schema = d.enum_subset(f.type_name(), |v| v == special);
                let note = "CAMHS contacts are health data: always special category.";
                let text = schema["description"].as_str().map(|c| format!("{c}\n{note}")).unwrap_or(note.into());
                schema["description"] = json!(text);
            }
            _ => {}
        }
        properties.insert(name.to_string(), schema);
    }

    let mut defs = Map::new();
    let mut done = BTreeSet::new();
    while let Some(name) = refs.iter().find(|n| !done.contains(*n)).cloned() {
        let schema = d.message_schema(&name, &mut refs);
        defs.insert(def_name(&name), schema);
        done.insert(name);
    }

    let mut required: Vec<&str> = REQUIRED.to_vec();
    required.push(body);
    let mut description = d.comment(EVENT).map(|c| format!("{c}\n\n")).unwrap_or_default();
    description.push_str(&format!(
        "A submission to a Concord node in proto3 JSON (proto/concord/v1/envelope.proto) carrying one `{body}` body. \
         Generated from the proto by `concord schemas`; do not edit."
    ));
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": format!("https://concord.example/schemas/{body}.schema.json"),
        "title": format!("Concord {} event", body.replace('_', " ")),
        "description": description,
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": false,
        "$defs": defs,
    })
}

/// Every event type's schema, in [`EventType::ALL`] order.
pub fn all_schemas() -> Vec<(EventType, Value)> {
    EventType::ALL.iter().map(|t| (*t, event_schema(*t))).collect()
}

/// The file a type's schema lives in: `<event_type>.schema.json`.
fn file_name(t: EventType) -> String {
    format!("{}.schema.json", t.as_str())
}

/// Serializes a JSON value with every object's keys sorted, whatever map
/// `serde_json` was built with (`preserve_order` keeps insertion order), so
/// the files are the same from every build.
struct Sorted<'a>(&'a Value);

impl Serialize for Sorted<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Object(m) => {
                let mut entries: Vec<_> = m.iter().collect();
                entries.sort_by(|a, b| a.0.cmp(b.0));
                let mut map = s.serialize_map(Some(entries.len()))?;
                for (k, v) in entries {
                    map.serialize_entry(k, &Sorted(v))?;
                }
                map.end()
            }
            Value::Array(items) => s.collect_seq(items.iter().map(Sorted)),
            other => other.serialize(s),
        }
    }
}

/// A schema as its file holds it: pretty, keys sorted, a trailing newline.
fn render(schema: &Value) -> serde_json::Result<String> {
    let mut text = serde_json::to_string_pretty(&Sorted(schema))?;
    text.push('\n');
    Ok(text)
}

/// Writes `<dir>/<event_type>.schema.json` for every type, creating `dir` if
/// needed, and returns the paths written.
pub fn write_schemas(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    for (t, schema) in all_schemas() {
        let path = dir.join(file_name(t));
        std::fs::write(&path, render(&schema)?)?;
        written.push(path);
    }
    Ok(written)
}

/// Checks that `dir` holds exactly the schemas the proto generates: names
/// every file that is missing, differs, or belongs to no event type, and
/// says how to regenerate them.
pub fn check_schemas(dir: &Path) -> Result<(), String> {
    let mut problems = Vec::new();
    for (t, schema) in all_schemas() {
        let path = dir.join(file_name(t));
        let expected = render(&schema).map_err(|e| format!("rendering the {t} schema: {e}"))?;
        match std::fs::read_to_string(&path) {
            Ok(text) if text == expected => {}
            Ok(_) => problems.push(format!("{} differs from what the proto generates", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                problems.push(format!("{} is missing", path.display()))
            }
            Err(e) => problems.push(format!("{} cannot be read: {e}", path.display())),
        }
    }
    let known: BTreeSet<String> = EventType::ALL.iter().map(|t| file_name(*t)).collect();
    if let Ok(entries) = std::fs::read_dir(dir) {
        let mut stale: Vec<String> = entries
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.ends_with(".schema.json") && !known.contains(n))
            .collect();
        stale.sort();
        for n in stale {
            problems.push(format!("{} is for no event type in the proto: delete it", dir.join(n).display()));
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    let out = if dir.ends_with("schemas") { "schemas/".to_string() } else { format!("{}/", dir.display()) };
    Err(format!(
        "the JSON Schemas are out of date with the proto:\n  {}\nrun `concord schemas --out {out}` to regenerate them",
        problems.join("\n  ")
    ))
}
