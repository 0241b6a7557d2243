//! Concord's domain model, shared by every part of the data path.
//!
//! - [`pb`]: the wire format generated from `proto/concord/v1` (prost types,
//!   tonic services, proto3 JSON via pbjson).
//! - [`ids`]: typed identifiers (agencies, subjects, event ids and types).
//! - [`validate`]: the schema and sharing rules an event must meet.
//! - [`sign`]: agency signing keys and the registry the ledger verifies against.
//! - [`seal`]: per-subject encryption of personal data.
//! - [`sensitivity`]: special category (health) data and adults at risk, by content.
//! - [`status`]: gRPC statuses that name the field at fault.
//! - [`schema`]: JSON Schemas for partner imports, generated from the proto.
//! - [`codes`]: the fixed vocabulary of each free string field of a body.

pub mod codes;
pub mod consent;
pub mod ids;
pub mod metric;
pub mod pb;
pub mod schema;
pub mod seal;
pub mod sensitivity;
pub mod sign;
pub mod status;
pub mod validate;

pub use ids::{AgencyId, EventId, EventType, IdError, SubjectId};

/// A protobuf timestamp as milliseconds since the epoch (saturating).
pub fn millis(ts: &pbjson_types::Timestamp) -> i64 {
    ts.seconds.saturating_mul(1000).saturating_add(i64::from(ts.nanos / 1_000_000))
}

/// Milliseconds since the epoch as a protobuf timestamp.
pub fn timestamp(millis: i64) -> pbjson_types::Timestamp {
    pbjson_types::Timestamp { seconds: millis.div_euclid(1000), nanos: (millis.rem_euclid(1000) * 1_000_000) as i32 }
}

/// The time now in milliseconds since the epoch.
pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A timestamp as an index value that sorts in time order (milliseconds since
/// the epoch, big-endian with the sign bit flipped).
pub fn sortable_time(ts: &pbjson_types::Timestamp) -> [u8; 8] {
    ((millis(ts) as u64) ^ (1 << 63)).to_be_bytes()
}
