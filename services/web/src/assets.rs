//! The console's stylesheet, compiled into the binary: nothing is fetched
//! from anywhere else at run time. It follows the GOV.UK Design System's
//! look (colours, type scale, focus states, components), written for
//! Concord rather than vendored, since the pages need only a few components.

use axum::http::header;
use axum::response::IntoResponse;

/// The stylesheet.
pub const CONSOLE_CSS: &[u8] = include_bytes!("../assets/console.css");

/// Serves the stylesheet.
pub async fn stylesheet() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], CONSOLE_CSS)
}
