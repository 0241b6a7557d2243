//! What a page says when it cannot show what was asked, and with which
//! status. A subject or event the reader may not see, and one that does not
//! exist, give the very same page.

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use tonic::Code;

use crate::pages::Frame;

/// Why a page is not shown.
#[derive(Debug, thiserror::Error)]
pub enum Problem {
    /// Not signed in (or the session ended): go to the sign-in page.
    #[error("not signed in")]
    SignIn,
    /// Nothing the reader may see is there (or nothing at all).
    #[error("not found")]
    NotFound,
    /// The reader's role or purpose may not use this page.
    #[error("not open to you: {0}")]
    Denied(String),
    /// A form without this session's CSRF token.
    #[error("form not from this session")]
    Forged,
    /// A request the page cannot answer (the door's reason).
    #[error("invalid: {0}")]
    Invalid(String),
    /// The platform cannot answer now (storage, audit log).
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// A page failed to render.
    #[error(transparent)]
    Render(#[from] askama::Error),
}

impl From<tonic::Status> for Problem {
    fn from(status: tonic::Status) -> Self {
        match status.code() {
            Code::Unauthenticated => Problem::SignIn,
            Code::NotFound => Problem::NotFound,
            Code::PermissionDenied => Problem::Denied(status.message().to_string()),
            Code::InvalidArgument | Code::FailedPrecondition => Problem::Invalid(status.message().to_string()),
            _ => Problem::Unavailable(status.message().to_string()),
        }
    }
}

#[derive(Template)]
#[template(path = "problem.html")]
struct ProblemPage<'a> {
    frame: Frame,
    heading: &'a str,
    detail: &'a str,
}

/// What a problem page says, kept on its response so that the page can be
/// framed again for the signed-in reader (their menu and sign-out form; see
/// [`crate::pages::frame_problems`]).
#[derive(Debug, Clone)]
pub struct Words {
    heading: &'static str,
    detail: String,
}

impl Words {
    /// The page saying these words with `status`, in `frame`.
    pub fn page(&self, status: StatusCode, frame: Frame) -> Response {
        let page = ProblemPage { frame, heading: self.heading, detail: &self.detail };
        let mut response = match page.render() {
            Ok(html) => (status, Html(html)).into_response(),
            Err(_) => {
                let mut response = (status, self.heading).into_response();
                response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
                response
            }
        };
        response.extensions_mut().insert(self.clone());
        response
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let (status, heading, detail) = match self {
            Problem::SignIn => return Redirect::to("/sign-in").into_response(),
            Problem::NotFound => (
                StatusCode::NOT_FOUND,
                "Page not found",
                "There is nothing here that you may see. If you typed a partnership key, check it.".to_string(),
            ),
            Problem::Denied(why) => (StatusCode::FORBIDDEN, "This page is not open to you", why),
            Problem::Forged => (
                StatusCode::FORBIDDEN,
                "Your form could not be accepted",
                "It did not come from your current session. Go back, reload the page and try again.".to_string(),
            ),
            Problem::Invalid(why) => (StatusCode::BAD_REQUEST, "There is a problem with your request", why),
            Problem::Unavailable(why) => {
                tracing::warn!(reason = %why, "a console page could not be answered");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Sorry, there is a problem with the service",
                    "Concord cannot answer now, and nothing was shown. Try again later.".to_string(),
                )
            }
            Problem::Render(error) => {
                tracing::error!(%error, "a console page failed to render");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Sorry, there is a problem with the service",
                    "Try again later.".to_string(),
                )
            }
        };
        Words { heading, detail }.page(status, Frame::anonymous())
    }
}
