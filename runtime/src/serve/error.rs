//! The control API's error: an HTTP status, a stable code and a sentence for people, answered
//! as `{error, message}` JSON; core's errors map to it by their kind.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// An API error: status, a stable code and a sentence for people, as JSON.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Machine-readable code.
    pub code: &'static str,
    /// What went wrong and what to do.
    pub message: String,
    /// The request body was left unread: close the connection after answering.
    pub close: bool,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            close: false,
        }
    }

    /// Close the connection after this answer (its request body was not read to the end).
    pub(crate) fn closing(mut self) -> Self {
        self.close = true;
        self
    }

    pub(crate) fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub(crate) fn unsupported(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            message,
        )
    }

    pub(crate) fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    pub(crate) fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": self.code, "message": self.message });
        let mut response = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            // Every 503 here is transient (a queue that frames will drain): say when to retry.
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("1"),
            );
        }
        if self.close {
            response.headers_mut().insert(
                axum::http::header::CONNECTION,
                axum::http::HeaderValue::from_static("close"),
            );
        }
        response
    }
}

impl From<voxpace_core::Error> for ApiError {
    fn from(e: voxpace_core::Error) -> Self {
        use voxpace_core::{Error as E, ErrorKind as K};
        // The status follows the kind alone; the code names the variant for clients.
        let code = match &e {
            E::ReplyInterrupted(_) => "reply_interrupted",
            E::ReplyFinished(_) => "reply_finished",
            E::IntakeClosed => "intake_closed",
            E::PartialSample { .. } => "partial_sample",
            E::PushSplitsSample { .. } => "split_sample",
            E::MarkBehindAudio { .. } | E::MarkOutOfOrder { .. } | E::TooManyMarks { .. } => {
                "bad_marks"
            }
            E::TrackClosed => "output_ended",
            E::IntakeFull => "busy",
            E::InvalidFormat(_) | E::InvalidConfig(_) => "invalid_config",
            E::SinkThread { .. } => "sink_thread",
            // A variant newer than this mapping: its kind still decides the status.
            _ => match e.kind() {
                K::InvalidInput => "invalid_input",
                K::Retryable => "busy",
                K::ReplyTerminal => "reply_ended",
                K::Fatal => "internal",
            },
        };
        let status = match e.kind() {
            K::InvalidInput => StatusCode::BAD_REQUEST,
            K::Retryable => StatusCode::SERVICE_UNAVAILABLE,
            K::ReplyTerminal => StatusCode::CONFLICT,
            // The output is gone for good; anything else fatal is the server's fault.
            K::Fatal if matches!(e, E::TrackClosed) => StatusCode::GONE,
            K::Fatal => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Self::new(status, code, e.to_string())
    }
}
