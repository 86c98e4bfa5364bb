//! The error body every 4xx/5xx answer carries, and the kind that decided its status.

use serde::Serialize;
use utoipa::ToSchema;
use voxpace_core::ErrorKind;

/// What a client can do about an error: the runtime's side of
/// [`voxpace_core::ErrorKind`], as the `kind` of every error body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ApiKind {
    /// The request was wrong (a body, a parameter, an id): change it before retrying.
    InvalidInput,
    /// Transient (busy, shutting down, a slot in use): the same request may succeed later.
    Retryable,
    /// The reply (or request) is over; open a new reply.
    ReplyTerminal,
    /// The server could not do it and will not be able to (a sink that cannot start, a
    /// broken component).
    Fatal,
}

impl From<ErrorKind> for ApiKind {
    fn from(kind: ErrorKind) -> Self {
        match kind {
            ErrorKind::InvalidInput => ApiKind::InvalidInput,
            ErrorKind::Retryable => ApiKind::Retryable,
            ErrorKind::ReplyTerminal => ApiKind::ReplyTerminal,
            ErrorKind::Fatal => ApiKind::Fatal,
        }
    }
}

/// Every 4xx/5xx answer: a stable code, a message for people, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[schema(as = Error)]
pub(crate) struct ErrorBody {
    /// A stable code, e.g. `unknown_output`, `body_timeout`, `unauthorized`, `busy`.
    pub error: String,
    /// What went wrong and what to do, for people.
    pub message: String,
    /// What a client can do about it.
    pub kind: ApiKind,
}
