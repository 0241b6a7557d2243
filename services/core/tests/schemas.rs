//! The JSON Schemas in `schemas/` match the proto, every example in
//! `schemas/examples/` validates against its schema, passes the submission
//! rules and round-trips through the protobuf types, and bad documents are
//! refused with the field named.
//!
//! `CONCORD_BLESS_SCHEMAS=1 cargo test -p concord-core --test schemas`
//! rewrites the committed schemas from the proto first (what
//! `concord schemas --out schemas/` does).

use std::path::PathBuf;
use std::sync::Once;

use concord_core::validate::{Stage, check};
use concord_core::{EventType, pb, schema};
use serde_json::{Value, json};

fn root() -> PathBuf {
    static BLESS: Once = Once::new();
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../schemas");
    BLESS.call_once(|| {
        if std::env::var_os("CONCORD_BLESS_SCHEMAS").is_some() {
            schema::write_schemas(&dir).expect("write the schemas");
        }
    });
    dir
}

fn read_json(path: PathBuf) -> Value {
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn example(t: EventType) -> Value {
    read_json(root().join("examples").join(format!("{t}.json")))
}

fn committed_schema(t: EventType) -> Value {
    read_json(root().join(format!("{t}.schema.json")))
}

fn validator(t: EventType) -> jsonschema::Validator {
    jsonschema::options().should_validate_formats(true).build(&committed_schema(t)).unwrap()
}

/// Every error as `<instance path>: <keyword>: <message>`.
fn errors(v: &jsonschema::Validator, doc: &Value) -> Vec<String> {
    v.iter_errors(doc).map(|e| format!("{}: {}: {e}", e.instance_path(), e.kind().keyword())).collect()
}

/// Asserts the schema refuses `doc` with an error at `path` that mentions `needle`.
fn assert_refused(v: &jsonschema::Validator, doc: &Value, path: &str, needle: &str) -> String {
    let errs = errors(v, doc);
    assert!(
        errs.iter().any(|e| e.starts_with(&format!("{path}: ")) && e.contains(needle)),
        "expected an error at `{path}` naming `{needle}`, got {errs:#?}"
    );
    errs.join("; ")
}

#[test]
fn every_event_type_has_a_committed_schema_matching_the_proto() {
    for &t in EventType::ALL {
        let path = root().join(format!("{t}.schema.json"));
        assert!(path.is_file(), "{} is missing", path.display());
        let s = committed_schema(t);
        jsonschema::meta::validate(&s).unwrap_or_else(|e| panic!("{t}: not a valid JSON Schema: {e}"));
        assert_eq!(s["$schema"], "https://json-schema.org/draft/2020-12/schema");
    }
    assert_eq!(schema::all_schemas().len(), EventType::ALL.len());
    schema::check_schemas(&root()).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn check_schemas_names_missing_changed_and_stale_files() {
    let dir = tempfile::tempdir().unwrap();
    let written = schema::write_schemas(dir.path()).unwrap();
    assert_eq!(written.len(), EventType::ALL.len());
    schema::check_schemas(dir.path()).unwrap();
    // Written twice, byte for byte the same: the key order is stable.
    let first = std::fs::read(&written[0]).unwrap();
    schema::write_schemas(dir.path()).unwrap();
    assert_eq!(std::fs::read(&written[0]).unwrap(), first);
    let text = String::from_utf8(first).unwrap();
    assert!(text.starts_with("{\n  \"$defs\": {") && text.ends_with("}\n"), "{text}");

    let arrest = dir.path().join("arrest.schema.json");
    std::fs::write(&arrest, std::fs::read_to_string(&arrest).unwrap().replace("CUSTODY_OUTCOME_BAILED", "BAILED"))
        .unwrap();
    std::fs::remove_file(dir.path().join("reoffence.schema.json")).unwrap();
    std::fs::write(dir.path().join("burglary.schema.json"), "{}\n").unwrap();
    std::fs::write(dir.path().join("README.md"), "not a schema\n").unwrap();
    let e = schema::check_schemas(dir.path()).unwrap_err();
    assert!(e.contains("arrest.schema.json differs from what the proto generates"), "{e}");
    assert!(e.contains("reoffence.schema.json is missing"), "{e}");
    assert!(e.contains("burglary.schema.json is for no event type"), "{e}");
    assert!(!e.contains("README"), "{e}");
    assert!(e.contains("run `concord schemas --out "), "{e}");
    assert!(!e.contains("stop_and_search"), "only the files at fault are named: {e}");
}

#[test]
fn schemas_follow_the_proto_and_the_submission_rules() {
    let s = schema::event_schema(EventType::Arrest);
    assert_eq!(s["title"], "Concord arrest event");
    assert_eq!(s["additionalProperties"], false);
    let required: Vec<&str> = s["required"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(
        required,
        [
            "agency_id",
            "agency_kind",
            "subjects",
            "occurred_at",
            "borough",
            "classification",
            "lawful_basis",
            "schema_version",
            "arrest"
        ]
    );
    let p = &s["properties"];
    // One body key only, and nothing sealed.
    assert!(p.get("arrest").is_some());
    for other in EventType::ALL.iter().filter(|t| **t != EventType::Arrest) {
        assert!(p.get(other.as_str()).is_none(), "{other} must not be allowed in an arrest document");
    }
    assert!(p.get("sealed").is_none());
    assert!(s["$defs"].get("Sealed").is_none());
    // Types.
    assert_eq!(
        p["occurred_at"],
        json!({ "type": "string", "format": "date-time", "description": "When it happened." })
    );
    assert_eq!(p["subjects"]["type"], "array");
    assert_eq!(p["subjects"]["minItems"], 1);
    assert_eq!(p["subjects"]["items"]["$ref"], "#/$defs/SubjectRef");
    assert_eq!(p["lawful_basis"]["minItems"], 1);
    assert_eq!(p["schema_version"]["const"], 1);
    assert_eq!(p["event_id"]["format"], "uuid");
    assert_eq!(p["personal"]["$ref"], "#/$defs/Personal");
    assert_eq!(s["$defs"]["Personal"]["properties"]["text"]["additionalProperties"], json!({ "type": "string" }));
    assert_eq!(s["$defs"]["ExpectedVersion"]["properties"]["version"]["type"], json!(["string", "integer"]));
    let arrest = &s["$defs"]["Arrest"];
    assert_eq!(arrest["additionalProperties"], false);
    assert_eq!(arrest["properties"]["gravity_score"]["type"], "integer");
    assert_eq!(arrest["properties"]["first_arrest"]["type"], "boolean");
    // Enums: value names, without the zero value.
    let outcomes = arrest["properties"]["custody_outcome"]["enum"].as_array().unwrap();
    assert_eq!(outcomes.len(), 4);
    assert!(!outcomes.contains(&json!("CUSTODY_OUTCOME_UNSPECIFIED")));
    // Only the agency kinds that may publish the type.
    assert_eq!(p["agency_kind"]["enum"], json!(["AGENCY_KIND_POLICE"]));
    assert_eq!(
        schema::event_schema(EventType::MashReferral)["properties"]["agency_kind"]["enum"].as_array().unwrap().len(),
        10
    );
    assert_eq!(
        schema::event_schema(EventType::CamhsContact)["properties"]["classification"]["enum"],
        json!(["CLASSIFICATION_SPECIAL_CATEGORY"])
    );
    // The proto comments are the descriptions.
    assert!(arrest["description"].as_str().unwrap().starts_with("An arrest (police)."));
    assert_eq!(arrest["properties"]["gravity_score"]["description"], "Gravity score 1 (least) to 5 (most serious).");
    let kind = p["agency_kind"]["description"].as_str().unwrap();
    assert!(kind.ends_with("arrest events are published by AGENCY_KIND_POLICE only."), "{kind}");
    let mash = schema::event_schema(EventType::MashReferral);
    let kind = mash["properties"]["agency_kind"]["description"].as_str().unwrap();
    assert!(kind.contains("\nAGENCY_KIND_YOT: Youth offending team."), "{kind}");
    let basis = p["lawful_basis"]["description"].as_str().unwrap();
    assert!(basis.starts_with("One or more lawful bases for sharing."), "{basis}");
    assert!(s["description"].as_str().unwrap().starts_with("One event."));
}

#[test]
fn every_example_validates_and_round_trips() {
    let mut names: Vec<String> = std::fs::read_dir(root().join("examples"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    let mut expected: Vec<String> = EventType::ALL.iter().map(|t| format!("{t}.json")).collect();
    expected.sort();
    assert_eq!(names, expected, "one example per event type");

    for &t in EventType::ALL {
        let doc = example(t);
        let v = validator(t);
        let errs = errors(&v, &doc);
        assert!(errs.is_empty(), "{t}: {errs:#?}");
        let event: pb::Event = serde_json::from_value(doc.clone()).unwrap_or_else(|e| panic!("{t}: {e}"));
        assert_eq!(event.body.as_ref().map(EventType::of), Some(t));
        let checked = check(&event, Stage::Submission).unwrap_or_else(|e| panic!("{t}: {e}"));
        assert_eq!(checked.event_type, t);
        assert_eq!(serde_json::to_value(&event).unwrap(), doc, "{t} does not round-trip");
        // And through the binary wire form.
        let bytes = prost::Message::encode_to_vec(&event);
        assert_eq!(<pb::Event as prost::Message>::decode(bytes.as_slice()).unwrap(), event);
        // Each example is refused by every other type's schema.
        for &other in EventType::ALL.iter().filter(|o| **o != t) {
            assert!(!validator(other).is_valid(&doc), "the {other} schema accepts the {t} example");
        }
    }
}

#[test]
fn the_readme_line_is_a_valid_submission() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let line = readme.lines().find(|l| l.starts_with("{\"agency_id\"")).expect("a JSON Lines example");
    let doc: Value = serde_json::from_str(line).unwrap();
    let t = EventType::ALL.iter().copied().find(|t| doc.get(t.as_str()).is_some()).unwrap();
    let errs = errors(&validator(t), &doc);
    assert!(errs.is_empty(), "{errs:#?}");
    let event: pb::Event = serde_json::from_value(doc).unwrap();
    check(&event, Stage::Submission).unwrap();
}

#[test]
fn bad_documents_are_refused_naming_the_field() {
    let v = validator(EventType::Arrest);
    let good = example(EventType::Arrest);
    assert!(v.is_valid(&good));

    // An unknown body key, in place of the arrest.
    let mut unknown_body = good.clone();
    let body = unknown_body.as_object_mut().unwrap().remove("arrest").unwrap();
    unknown_body["burglary"] = body;
    assert_refused(&v, &unknown_body, "", "burglary");
    assert_refused(&v, &unknown_body, "", "\"arrest\" is a required property");

    // A wrong type.
    let mut wrong_type = good.clone();
    wrong_type["arrest"]["gravity_score"] = "high".into();
    let e = assert_refused(&v, &wrong_type, "/arrest/gravity_score", "type");
    assert!(e.contains("\"high\""), "{e}");

    // No lawful basis, or an empty list of them.
    let mut no_basis = good.clone();
    no_basis.as_object_mut().unwrap().remove("lawful_basis");
    assert_refused(&v, &no_basis, "", "\"lawful_basis\" is a required property");
    let mut empty_basis = good.clone();
    empty_basis["lawful_basis"] = json!([]);
    assert_refused(&v, &empty_basis, "/lawful_basis", "minItems");

    // An unknown field, at the top and inside the body.
    let mut extra = good.clone();
    extra["colour"] = "blue".into();
    assert_refused(&v, &extra, "", "colour");
    let mut extra_in_body = good.clone();
    extra_in_body["arrest"]["knife"] = true.into();
    assert_refused(&v, &extra_in_body, "/arrest", "knife");

    // A second body.
    let mut two_bodies = good.clone();
    two_bodies["missing_episode"] = json!({});
    assert_refused(&v, &two_bodies, "", "missing_episode");

    // Sealed data is the node's business, not a submission's.
    let mut sealed = good.clone();
    sealed["sealed"] = json!([{ "part": "PART_TEXT", "nonce": "AAAA", "ciphertext": "AAAA" }]);
    assert_refused(&v, &sealed, "", "sealed");

    // The zero enum value, an unknown value, a publisher that may not publish arrests.
    let mut unspecified = good.clone();
    unspecified["classification"] = "CLASSIFICATION_UNSPECIFIED".into();
    assert_refused(&v, &unspecified, "/classification", "enum");
    let mut unknown_value = good.clone();
    unknown_value["arrest"]["custody_outcome"] = "CUSTODY_OUTCOME_CAUTIONED".into();
    assert_refused(&v, &unknown_value, "/arrest/custody_outcome", "enum");
    let mut wrong_publisher = good.clone();
    wrong_publisher["agency_kind"] = "AGENCY_KIND_VCS".into();
    assert_refused(&v, &wrong_publisher, "/agency_kind", "enum");

    // No subjects, a bad time, another schema version.
    let mut no_subjects = good.clone();
    no_subjects["subjects"] = json!([]);
    assert_refused(&v, &no_subjects, "/subjects", "minItems");
    let mut bad_time = good.clone();
    bad_time["occurred_at"] = "last Tuesday".into();
    assert_refused(&v, &bad_time, "/occurred_at", "format");
    let mut version = good;
    version["schema_version"] = 2.into();
    assert_refused(&v, &version, "/schema_version", "const");
}
