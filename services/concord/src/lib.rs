//! The `concord` command's building blocks: the data directory layout, the
//! platform assembly, the gRPC server, the web console's wiring and the
//! client commands. `main.rs` only parses arguments and calls into these.

pub mod bundle;
pub mod client;
pub mod cmd;
pub mod layout;
pub mod platform;
pub mod server;
pub mod tls;
pub mod web;
