//! The control API's error: a stable code, a sentence for people and what a client can do
//! about it (its kind), answered as `{error, message, kind}` JSON with the status that
//! [`status`] gives: the one place where kinds become HTTP statuses.
//!
//! Every crate's error says its kind (`voxpace_core::ErrorKind`); [`ApiError::by_kind`]
//! keeps it. What HTTP says beyond the kinds (not found, unauthorized, too large, a media
//! type, a body that stalled, an output that ended, too many listeners) is an [`Answer`].
//! Control flow reads `kind` and the typed [`Stop`], never the code.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::contract::error::{ApiKind, ErrorBody};

/// What an answer says beyond its kind: the HTTP notions the kinds do not carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// The kind alone decides.
    ByKind,
    /// No such output, reply, clip or route.
    NotFound,
    /// A token is needed, or the one sent is not valid here.
    Unauthorized,
    /// The token is valid but does not open this endpoint (RFC 6750 §3.1 `insufficient_scope`).
    Forbidden,
    /// The request conflicts with the state (it exists, another request streams, no
    /// background configured).
    Conflict,
    /// The body is larger than the server reads.
    TooLarge,
    /// The body's media type is not one the server reads.
    UnsupportedMedia,
    /// The body did not arrive in time.
    Timeout,
    /// The output ended while the request was under way.
    Gone,
    /// Every slot of this kind is in use.
    TooMany,
}

/// The status of an answer: the one place kinds and answers become HTTP statuses.
pub fn status(answer: Answer, kind: ApiKind) -> StatusCode {
    match answer {
        Answer::ByKind => match kind {
            ApiKind::InvalidInput => StatusCode::BAD_REQUEST,
            ApiKind::Retryable => StatusCode::SERVICE_UNAVAILABLE,
            ApiKind::ReplyTerminal => StatusCode::CONFLICT,
            ApiKind::Fatal => StatusCode::INTERNAL_SERVER_ERROR,
        },
        Answer::NotFound => StatusCode::NOT_FOUND,
        Answer::Unauthorized => StatusCode::UNAUTHORIZED,
        Answer::Forbidden => StatusCode::FORBIDDEN,
        Answer::Conflict => StatusCode::CONFLICT,
        Answer::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        Answer::UnsupportedMedia => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        Answer::Timeout => StatusCode::REQUEST_TIMEOUT,
        Answer::Gone => StatusCode::GONE,
        Answer::TooMany => StatusCode::TOO_MANY_REQUESTS,
    }
}

/// The code and kind of an error status something other than [`ApiError`] answered (axum's
/// extractors and method router, the WHEP service, hyper itself): the way back from a
/// status to a kind, for answers that come with a status only.
pub fn foreign(status: StatusCode) -> (&'static str, ApiKind) {
    let code = match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::UNPROCESSABLE_ENTITY => "unprocessable_entity",
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::REQUEST_TIMEOUT => "body_timeout",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::URI_TOO_LONG => "uri_too_long",
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => "headers_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::TOO_MANY_REQUESTS => "too_many_requests",
        StatusCode::SERVICE_UNAVAILABLE => "busy",
        s if s.is_client_error() => "bad_request",
        _ => "internal",
    };
    let kind = if matches!(
        status,
        StatusCode::REQUEST_TIMEOUT
            | StatusCode::TOO_MANY_REQUESTS
            | StatusCode::SERVICE_UNAVAILABLE
    ) {
        ApiKind::Retryable
    } else if status.is_client_error() {
        ApiKind::InvalidInput
    } else {
        ApiKind::Fatal
    };
    (code, kind)
}

/// Why a request's audio stopped before its body ended (typed, so the reply engine never
/// reads codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// The output was ended while the body was arriving.
    OutputEnded,
    /// The body fell behind real time (`server.body_idle_timeout_ms`).
    BodyTimeout,
    /// A compressed body broke mid-stream.
    Damaged,
}

impl Stop {
    /// The code clients see (and `reply_incomplete`'s `reason`).
    pub fn code(self) -> &'static str {
        match self {
            Stop::OutputEnded => "output_ended",
            Stop::BodyTimeout => "body_timeout",
            Stop::Damaged => "damaged_audio",
        }
    }
}

/// An API error: status, a stable code, a sentence for people and its kind, as JSON.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status (from [`status`]).
    pub(crate) status: StatusCode,
    /// Machine-readable code, for clients (never for control flow).
    pub(crate) code: &'static str,
    /// What went wrong and what to do.
    pub(crate) message: String,
    /// What a client can do about it.
    pub(crate) kind: ApiKind,
    /// Why the request's audio stopped early, when that is what happened.
    pub(crate) stop: Option<Stop>,
    /// The request body was left unread: close the connection after answering.
    pub(crate) close: bool,
}

impl ApiError {
    /// An error answered as `answer` says, with `kind`.
    pub(crate) fn of(
        answer: Answer,
        kind: ApiKind,
        code: &'static str,
        message: impl Into<String>,
    ) -> Self {
        Self {
            status: status(answer, kind),
            code,
            message: message.into(),
            kind,
            stop: None,
            close: false,
        }
    }

    /// An error whose status its kind decides.
    pub(crate) fn by_kind(
        kind: impl Into<ApiKind>,
        code: &'static str,
        message: impl Into<String>,
    ) -> Self {
        Self::of(Answer::ByKind, kind.into(), code, message)
    }

    /// Close the connection after this answer (its request body was not read to the end).
    pub(crate) fn closing(mut self) -> Self {
        self.close = true;
        self
    }

    /// The request was wrong (400).
    pub(crate) fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::by_kind(ApiKind::InvalidInput, code, message)
    }

    /// Transient: try again shortly (503).
    pub(crate) fn busy(code: &'static str, message: impl Into<String>) -> Self {
        Self::by_kind(ApiKind::Retryable, code, message)
    }

    /// The server failed (500).
    pub(crate) fn internal(code: &'static str, message: impl Into<String>) -> Self {
        Self::by_kind(ApiKind::Fatal, code, message)
    }

    /// A media type the server does not read (415).
    pub(crate) fn unsupported(message: impl Into<String>) -> Self {
        Self::of(
            Answer::UnsupportedMedia,
            ApiKind::InvalidInput,
            "unsupported_media_type",
            message,
        )
    }

    /// No such thing (404).
    pub(crate) fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::of(Answer::NotFound, ApiKind::InvalidInput, code, message)
    }

    /// A conflict with the state (409); `kind` says whether waiting can help.
    pub(crate) fn conflict(kind: ApiKind, code: &'static str, message: impl Into<String>) -> Self {
        Self::of(Answer::Conflict, kind, code, message)
    }

    /// The request's audio stopped early (`stop`): 410 for an ended output, 408 for a
    /// stalled body, 400 for a broken stream; the reply is over in each case.
    pub(crate) fn stopped(stop: Stop, message: impl Into<String>) -> Self {
        let answer = match stop {
            Stop::OutputEnded => Answer::Gone,
            Stop::BodyTimeout => Answer::Timeout,
            Stop::Damaged => Answer::ByKind,
        };
        let kind = match stop {
            Stop::OutputEnded | Stop::BodyTimeout => ApiKind::ReplyTerminal,
            Stop::Damaged => ApiKind::InvalidInput,
        };
        let mut e = Self::of(answer, kind, stop.code(), message);
        e.stop = Some(stop);
        e
    }

    /// The answer's JSON body.
    pub(crate) fn body(&self) -> ErrorBody {
        ErrorBody {
            error: self.code.to_owned(),
            message: self.message.clone(),
            kind: self.kind,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(self.body())).into_response();
        if self.kind == ApiKind::Retryable {
            // Transient (a queue that frames will drain, a slot that frees): say when.
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

/// Core's errors keep their kind and code; a track that is gone is an ended output.
impl From<voxpace_core::Error> for ApiError {
    fn from(e: voxpace_core::Error) -> Self {
        if e == voxpace_core::Error::TrackClosed {
            return Self::stopped(Stop::OutputEnded, e.to_string());
        }
        Self::by_kind(e.kind(), e.code(), e.to_string())
    }
}

/// The runtime's own errors (a background or clip file, a sink) keep their kind.
impl From<crate::Error> for ApiError {
    fn from(e: crate::Error) -> Self {
        Self::by_kind(e.kind(), e.code(), e.to_string())
    }
}

/// A compressed body the decoder refused: a codec it does not decode is a media type (415),
/// anything else keeps its kind.
impl From<voxpace_sources::Error> for ApiError {
    fn from(e: voxpace_sources::Error) -> Self {
        if matches!(e, voxpace_sources::Error::Unsupported { .. }) {
            return Self::unsupported(e.to_string());
        }
        Self::by_kind(e.kind(), "bad_audio", e.to_string())
    }
}

#[cfg(feature = "webrtc")]
impl From<voxpace_transport::Error> for ApiError {
    fn from(e: voxpace_transport::Error) -> Self {
        Self::by_kind(e.kind(), "transport", e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_decide_the_status_of_crate_errors() {
        let e = ApiError::from(voxpace_core::Error::IntakeFull);
        assert_eq!(
            (e.status, e.kind),
            (StatusCode::SERVICE_UNAVAILABLE, ApiKind::Retryable)
        );
        let e = ApiError::from(voxpace_core::Error::ReplyFinished(voxpace_core::ReplyId(3)));
        assert_eq!((e.status, e.code), (StatusCode::CONFLICT, "reply_finished"));
        let e = ApiError::from(voxpace_core::Error::TrackClosed);
        assert_eq!(
            (e.status, e.stop),
            (StatusCode::GONE, Some(Stop::OutputEnded))
        );
        let io = voxpace_sources::Error::Io {
            path: "a.wav".into(),
            message: "EIO".into(),
        };
        assert_eq!(ApiError::from(io).status, StatusCode::SERVICE_UNAVAILABLE);
        let e = ApiError::from(voxpace_sources::Error::Unsupported {
            path: "a.opus".into(),
            what: "opus".into(),
        });
        assert_eq!(e.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }
}
