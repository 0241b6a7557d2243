//! The web console: server-rendered pages for the people who share.
//!
//! Every page that shows data calls one of the platform's gRPC services
//! in-process ([`Services`]), as the signed-in reader, through the same
//! door as a gRPC client: the same token check, the same agreement, one
//! access record per page view naming the events shown. The console itself
//! holds no data and decides nothing about visibility.
//!
//! The parts: sessions and their CSRF tokens ([`session`]), how people sign
//! in ([`signin`], with the identity provider [`oidc`]), serving over TLS
//! ([`tls`]), the headers every answer carries ([`security`]), the
//! stylesheet ([`assets`]), how events are shown ([`event`]), the pages
//! ([`pages`]) and what a page says when it cannot show what was asked
//! ([`problem`]).

pub mod assets;
mod console;
pub mod csv;
pub mod event;
pub mod forms;
pub mod geo;
pub mod oidc;
pub mod pages;
pub mod problem;
pub mod security;
pub mod services;
pub mod session;
pub mod signin;
pub mod tls;

pub use console::{Console, WebError};
pub use services::Services;
pub use signin::SignIn;
