//! Compiles `proto/concord/v1/*.proto` with protox (pure Rust: no system
//! `protoc`), then generates prost types, tonic services and pbjson serde impls.

use std::path::PathBuf;

use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    let files = [
        "concord/v1/common.proto",
        "concord/v1/events.proto",
        "concord/v1/directory.proto",
        "concord/v1/envelope.proto",
        "concord/v1/publish.proto",
        "concord/v1/query.proto",
        "concord/v1/directory_service.proto",
        "concord/v1/policy.proto",
        "concord/v1/audit.proto",
        "concord/v1/replay.proto",
        "concord/v1/admin.proto",
        "concord/v1/briefing.proto",
        "concord/v1/alerts.proto",
    ];
    println!("cargo:rerun-if-changed={}", root.display());
    let fds = protox::compile(files, [&root])?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    let fds_bytes = fds.encode_to_vec();
    std::fs::write(out.join("concord_descriptor.bin"), &fds_bytes)?;

    tonic_prost_build::configure()
        .compile_well_known_types(true)
        .extern_path(".google.protobuf", "::pbjson_types")
        .compile_fds(fds)?;

    pbjson_build::Builder::new().register_descriptors(&fds_bytes)?.preserve_proto_field_names().build(&[".concord"])?;
    Ok(())
}
