//! gRPC statuses that name what is wrong, shared by every service.
//!
//! INVALID_ARGUMENT carries a `google.rpc.BadRequest` detail with the field at
//! fault, so a client can point at it; the message says the same in words.

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::validate::ValidationError;

/// INVALID_ARGUMENT naming the field at fault.
pub fn invalid_argument(field: &str, reason: &str) -> Status {
    Status::with_error_details(
        Code::InvalidArgument,
        format!("{field}: {reason}"),
        ErrorDetails::with_bad_request_violation(field, reason),
    )
}

impl From<ValidationError> for Status {
    fn from(e: ValidationError) -> Self {
        invalid_argument(&e.field, &e.reason)
    }
}

/// The field named by an INVALID_ARGUMENT status, if it carries one.
pub fn field_of(status: &Status) -> Option<String> {
    let details = status.get_error_details();
    let violation = details.bad_request()?.field_violations.first()?.clone();
    Some(violation.field)
}
