//! The JSON Schemas in `schemas/` match the proto, every example validates
//! and round-trips into the protobuf types, and bad documents are refused
//! with the field named.

use std::path::PathBuf;

use concord_core::validate::{Stage, check};
use concord_core::{EventType, pb, schema};
use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../schemas")
}

fn example(t: EventType) -> Value {
    let path = root().join("examples").join(format!("{}.json", t.as_str()));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

fn validator(t: EventType) -> jsonschema::Validator {
    let path = root().join(format!("{}.schema.json", t.as_str()));
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    jsonschema::options().should_validate_formats(true).build(&schema).unwrap()
}

fn errors(v: &jsonschema::Validator, doc: &Value) -> Vec<String> {
    v.iter_errors(doc).map(|e| format!("{} at {}", e, e.instance_path())).collect()
}

#[test]
fn every_event_type_has_a_schema_matching_the_proto() {
    schema::check_schemas(&root()).unwrap();
    assert_eq!(schema::all_schemas().len(), EventType::ALL.len());
}

#[test]
fn every_example_validates_and_round_trips() {
    for &t in EventType::ALL {
        let doc = example(t);
        let v = validator(t);
        assert!(errors(&v, &doc).is_empty(), "{t}: {:?}", errors(&v, &doc));
        let event: pb::Event = serde_json::from_value(doc.clone()).unwrap_or_else(|e| panic!("{t}: {e}"));
        assert_eq!(event.body.as_ref().map(EventType::of), Some(t));
        check(&event, Stage::Submission).unwrap_or_else(|e| panic!("{t}: {e}"));
        assert_eq!(serde_json::to_value(&event).unwrap(), doc, "{t} does not round-trip");
        // And through the binary wire form.
        let bytes = prost::Message::encode_to_vec(&event);
        assert_eq!(<pb::Event as prost::Message>::decode(bytes.as_slice()).unwrap(), event);
    }
}

#[test]
fn bad_documents_are_refused_naming_the_field() {
    let v = validator(EventType::Arrest);
    let good = example(EventType::Arrest);

    let mut unknown_body = good.clone();
    let body = unknown_body.as_object_mut().unwrap().remove("arrest").unwrap();
    unknown_body["burglary"] = body;
    let e = errors(&v, &unknown_body).join("; ");
    assert!(e.contains("burglary") && e.contains("arrest"), "{e}");

    let mut wrong_type = good.clone();
    wrong_type["arrest"]["gravity_score"] = "high".into();
    let e = errors(&v, &wrong_type).join("; ");
    assert!(e.contains("/arrest/gravity_score"), "{e}");

    let mut no_basis = good.clone();
    no_basis.as_object_mut().unwrap().remove("lawful_basis");
    let e = errors(&v, &no_basis).join("; ");
    assert!(e.contains("lawful_basis"), "{e}");

    let mut extra = good.clone();
    extra["colour"] = "blue".into();
    let e = errors(&v, &extra).join("; ");
    assert!(e.contains("colour"), "{e}");

    let mut other_body = good;
    other_body["missing_episode"] = serde_json::json!({});
    assert!(!errors(&v, &other_body).is_empty(), "an arrest document carries one body only");
}
