//! JSON Schemas for partner imports, generated from the proto descriptors.
//!
//! A submission document is an `Event` in proto3 JSON (snake_case field
//! names, enum value names, RFC 3339 timestamps) carrying one body. The
//! schemas under `schemas/` are written by `concord schemas` and a test checks
//! they equal what this module generates, so they cannot drift from the proto.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use prost::Message;
use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{DescriptorProto, EnumDescriptorProto, FileDescriptorSet};
use serde_json::{Map, Value, json};

use crate::ids::EventType;
use crate::pb::FILE_DESCRIPTOR_SET;

/// Envelope fields a submission must carry (beyond its body).
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

/// Envelope fields never allowed in a submission.
const FORBIDDEN: &[&str] = &["sealed"];

struct Descriptors {
    messages: BTreeMap<String, DescriptorProto>,
    enums: BTreeMap<String, EnumDescriptorProto>,
}

fn index(prefix: &str, message: &DescriptorProto, d: &mut Descriptors) {
    let name = format!("{prefix}.{}", message.name());
    for nested in &message.nested_type {
        index(&name, nested, d);
    }
    for e in &message.enum_type {
        d.enums.insert(format!("{name}.{}", e.name()), e.clone());
    }
    d.messages.insert(name, message.clone());
}

fn descriptors() -> Descriptors {
    // The descriptor set is produced by this crate's build script from the
    // committed proto files, so failing to decode it is a build defect.
    let set = FileDescriptorSet::decode(FILE_DESCRIPTOR_SET).expect("the built-in descriptor set decodes");
    let mut d = Descriptors { messages: BTreeMap::new(), enums: BTreeMap::new() };
    for file in &set.file {
        let prefix = format!(".{}", file.package());
        for m in &file.message_type {
            index(&prefix, m, &mut d);
        }
        for e in &file.enum_type {
            d.enums.insert(format!("{prefix}.{}", e.name()), e.clone());
        }
    }
    d
}

fn short(full: &str) -> String {
    full.trim_start_matches(".concord.v1.").replace('.', "_")
}

impl Descriptors {
    fn enum_schema(&self, full: &str) -> Value {
        let names: Vec<Value> = self
            .enums
            .get(full)
            .map(|e| e.value.iter().filter(|v| v.number() != 0).map(|v| json!(v.name())).collect())
            .unwrap_or_default();
        json!({ "type": "string", "enum": names })
    }

    /// The schema of one field's value (without `repeated`), noting messages to define.
    fn value_schema(&self, field: &prost_types::FieldDescriptorProto, defs: &mut BTreeSet<String>) -> Value {
        match field.r#type() {
            Type::String => json!({ "type": "string" }),
            Type::Bool => json!({ "type": "boolean" }),
            Type::Int32 | Type::Sint32 | Type::Sfixed32 => json!({ "type": "integer" }),
            Type::Uint32 | Type::Fixed32 => json!({ "type": "integer", "minimum": 0 }),
            Type::Int64 | Type::Sint64 | Type::Sfixed64 | Type::Uint64 | Type::Fixed64 => {
                json!({ "type": ["integer", "string"], "pattern": "^-?[0-9]+$" })
            }
            Type::Double | Type::Float => json!({ "type": "number" }),
            Type::Bytes => json!({ "type": "string", "contentEncoding": "base64" }),
            Type::Enum => self.enum_schema(field.type_name()),
            Type::Message | Type::Group => {
                let name = field.type_name();
                if name == ".google.protobuf.Timestamp" {
                    return json!({ "type": "string", "format": "date-time" });
                }
                if let Some(entry) =
                    self.messages.get(name).filter(|m| m.options.as_ref().is_some_and(|o| o.map_entry()))
                {
                    let value = entry.field.iter().find(|f| f.number() == 2).map(|f| self.value_schema(f, defs));
                    return json!({ "type": "object", "additionalProperties": value.unwrap_or(json!({})) });
                }
                defs.insert(name.to_string());
                json!({ "$ref": format!("#/$defs/{}", short(name)) })
            }
        }
    }

    fn field_schema(&self, field: &prost_types::FieldDescriptorProto, defs: &mut BTreeSet<String>) -> Value {
        let value = self.value_schema(field, defs);
        let is_map = value.get("additionalProperties").is_some() && field.r#type() == Type::Message;
        if field.label() == Label::Repeated && !is_map { json!({ "type": "array", "items": value }) } else { value }
    }

    fn message_schema(&self, full: &str, defs: &mut BTreeSet<String>) -> Value {
        let mut properties = Map::new();
        if let Some(m) = self.messages.get(full) {
            for f in &m.field {
                properties.insert(f.name().to_string(), self.field_schema(f, defs));
            }
        }
        json!({ "type": "object", "properties": properties, "additionalProperties": false })
    }
}

/// The schema of a submission carrying `event_type`'s body.
pub fn event_schema(event_type: EventType) -> Value {
    let d = descriptors();
    let event = d.messages.get(".concord.v1.Event").cloned().unwrap_or_default();
    let mut defs = BTreeSet::new();
    let mut properties = Map::new();
    for f in &event.field {
        let name = f.name();
        if FORBIDDEN.contains(&name) || (f.oneof_index.is_some() && name != event_type.as_str()) {
            continue;
        }
        let mut schema = d.field_schema(f, &mut defs);
        match name {
            "subjects" | "lawful_basis" => {
                schema["minItems"] = json!(1);
            }
            "schema_version" => schema = json!({ "const": crate::validate::SCHEMA_VERSION }),
            "event_id" => schema["format"] = json!("uuid"),
            _ => {}
        }
        properties.insert(name.to_string(), schema);
    }
    let mut definitions = Map::new();
    let mut done = BTreeSet::new();
    while let Some(name) = defs.iter().find(|n| !done.contains(*n)).cloned() {
        done.insert(name.clone());
        let schema = d.message_schema(&name, &mut defs);
        definitions.insert(short(&name), schema);
    }
    let mut required: Vec<Value> = REQUIRED.iter().map(|r| json!(r)).collect();
    required.push(json!(event_type.as_str()));
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": format!("https://concord.example/schemas/{}.schema.json", event_type.as_str()),
        "title": format!("Concord {} event", event_type.as_str().replace('_', " ")),
        "description": "A submission to a Concord node: the event envelope in proto3 JSON (proto/concord/v1/envelope.proto) with one body. Personal data goes in `personal` in plaintext; the node seals it before the event leaves the agency.",
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": false,
        "$defs": definitions,
    })
}

/// Every event type's schema.
pub fn all_schemas() -> Vec<(EventType, Value)> {
    EventType::ALL.iter().map(|t| (*t, event_schema(*t))).collect()
}

fn file_name(t: EventType) -> String {
    format!("{}.schema.json", t.as_str())
}

fn render(schema: &Value) -> String {
    let mut text = serde_json::to_string_pretty(schema).unwrap_or_default();
    text.push('\n');
    text
}

/// Writes `<dir>/<event_type>.schema.json` for every type.
pub fn write_schemas(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    for (t, schema) in all_schemas() {
        let path = dir.join(file_name(t));
        std::fs::write(&path, render(&schema))?;
        written.push(path);
    }
    Ok(written)
}

/// Checks that `dir` holds exactly the generated schemas.
pub fn check_schemas(dir: &Path) -> Result<(), String> {
    let mut problems = Vec::new();
    for (t, schema) in all_schemas() {
        let path = dir.join(file_name(t));
        match std::fs::read_to_string(&path) {
            Ok(text) if text == render(&schema) => {}
            Ok(_) => problems.push(format!("{} differs from the proto", path.display())),
            Err(_) => problems.push(format!("{} is missing", path.display())),
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("{}; run `concord schemas --out {}`", problems.join("; "), dir.display()))
    }
}
