//! Helpers shared by the cross-service tests.
