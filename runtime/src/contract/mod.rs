//! The HTTP API's contract: the typed request and response bodies of every route, and the
//! OpenAPI document generated from them (utoipa), so the document cannot drift from the
//! types the handlers use.
//!
//! - [`error`]: the one error body, `{error, message, kind}`, and its [`ApiKind`].
//! - [`outputs`]: agent outputs (create, state, list, end) and their background.
//! - [`replies`]: replies (open, append, finish, state), their text marks, the audio query.
//! - [`control`]: interrupt, pause, resume, enable-input, clips.
//! - [`info`]: server information and readiness.
//! - [`paths`]: every route, with its parameters, body and answers.
//! - [`strict`]: reading a JSON request body against its schema: unknown fields, a wrong
//!   JSON type (an array where an object is documented) and values past the stated limits
//!   are refused with a message naming the field.

pub(crate) mod control;
pub(crate) mod error;
pub(crate) mod info;
pub(crate) mod outputs;
mod paths;
pub(crate) mod replies;
pub(crate) mod strict;

pub(crate) use error::{ApiKind, ErrorBody};
pub(crate) use paths::document;
