//! The wire format generated from `proto/concord/v1/*.proto`.
#![allow(missing_docs, clippy::all, clippy::pedantic)]

include!(concat!(env!("OUT_DIR"), "/concord.v1.rs"));
include!(concat!(env!("OUT_DIR"), "/concord.v1.serde.rs"));

/// The encoded `FileDescriptorSet` of every Concord proto, for gRPC reflection
/// and for generating the JSON Schemas.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/concord_descriptor.bin"));
