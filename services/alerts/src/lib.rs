//! Immediate alerts (`AlertService`): the events that must not wait for the
//! next daily briefing, pushed to the agencies they concern as the ledger
//! appends them.
//!
//! - [`rules`]: which events raise an alert, and for whom.
//! - [`age`]: how old a person was, from what the log knows (an arrest
//!   carries no age).
//! - [`reach`]: whether the agreement lets anyone it concerns see it (the
//!   publisher is told when nobody will be alerted).
//! - [`service`]: the gRPC stream, on the read side's live loop (every
//!   delivery decided by the sharing agreement and recorded first).

pub mod age;
pub mod reach;
pub mod rules;
pub mod service;

pub use service::AlertApi;
