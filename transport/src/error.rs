//! The one error type of `voxpace-transport`.

use voxpace_core::ErrorKind;

/// Everything that can go wrong while encoding or delivering a track over WebRTC.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration value is out of range; the text names it and the accepted range.
    #[error("invalid transport configuration: {0}")]
    InvalidConfig(String),
    /// A signalling URL does not parse (or a `Location` header made it unusable).
    #[error("invalid URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The Opus encoder or decoder refused a call; the text says which one and why.
    #[error("opus: {0}")]
    Opus(String),
    /// The WebRTC stack failed (peer connection, negotiation, media write).
    #[error("webrtc: {0}")]
    WebRtc(String),
    /// An SDP offer or answer was unusable; the text says what was missing or malformed.
    #[error("sdp: {0}")]
    Sdp(String),
    /// An HTTP signalling request failed before a response arrived (connection refused,
    /// timeout, TLS). `reason` is the whole cause chain, e.g. "... tcp connect error:
    /// Connection refused (os error 111)".
    #[error("http request to {url} failed: {reason}")]
    Http {
        /// The request URL.
        url: String,
        /// What went wrong, with every cause.
        reason: String,
    },
    /// The signalling server answered with an error status.
    #[error("{url} answered {status}: {message}")]
    Rejected {
        /// The request URL.
        url: String,
        /// The HTTP status code.
        status: u16,
        /// The response body (the server's explanation), trimmed.
        message: String,
    },
    /// ICE/DTLS did not reach the connected state in time, or the connection failed.
    #[error("peer connection did not connect: {0}")]
    NotConnected(String),
    /// The publisher or session is closed.
    #[error("{0} is closed")]
    Closed(&'static str),
}

impl Error {
    /// What the caller can do about this error. The WHIP publisher retries
    /// [`ErrorKind::Retryable`] errors with backoff, keeps retrying
    /// [`ErrorKind::InvalidInput`] ones only at its slowest pace (the remote side may be
    /// reconfigured: a room created, a token rotated) and gives up on the rest.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidConfig(_) | Error::InvalidUrl { .. } | Error::Opus(_) => {
                ErrorKind::InvalidInput
            }
            Error::Http { .. } | Error::NotConnected(_) | Error::WebRtc(_) | Error::Sdp(_) => {
                ErrorKind::Retryable
            }
            Error::Rejected { status, .. } => status_kind(*status),
            Error::Closed(_) => ErrorKind::Fatal,
        }
    }
}

/// The kind of an HTTP error status from a signalling server. 403 is retryable: WHIP
/// servers answer it for "endpoint in use" (a stale resource of an earlier run, freed when
/// it times out) as well as for a wrong token; 408, 409, 425 and 429 are transient by
/// definition; the other 4xx say the request itself (URL, token, offer) is wrong.
fn status_kind(status: u16) -> ErrorKind {
    match status {
        403 | 408 | 409 | 425 | 429 => ErrorKind::Retryable,
        400..=499 => ErrorKind::InvalidInput,
        // 5xx: the server's trouble, worth a retry; below 400 a server that answered
        // something unusable (a 1xx-3xx where an answer was due) may answer properly later.
        0..=399 | 500..=u16::MAX => ErrorKind::Retryable,
    }
}

/// `e` and every error in its `source()` chain, joined with ": " (reqwest's and hyper's
/// top-level messages leave out the cause, e.g. "connection refused").
pub(crate) fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        // Some layers repeat their inner error in their own message.
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

impl From<webrtc::error::Error> for Error {
    fn from(e: webrtc::error::Error) -> Self {
        Error::WebRtc(with_causes(&e))
    }
}

impl From<audiopus::Error> for Error {
    fn from(e: audiopus::Error) -> Self {
        Error::Opus(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_say_what_a_caller_can_do() {
        let rejected = |status| Error::Rejected {
            url: "http://sfu/whip".into(),
            status,
            message: String::new(),
        };
        assert_eq!(rejected(403).kind(), ErrorKind::Retryable, "in use");
        assert_eq!(rejected(503).kind(), ErrorKind::Retryable);
        assert_eq!(rejected(500).kind(), ErrorKind::Retryable);
        assert_eq!(rejected(429).kind(), ErrorKind::Retryable);
        assert_eq!(rejected(401).kind(), ErrorKind::InvalidInput);
        assert_eq!(rejected(404).kind(), ErrorKind::InvalidInput);
        let http = Error::Http {
            url: "u".into(),
            reason: "connection refused".into(),
        };
        assert_eq!(http.kind(), ErrorKind::Retryable);
        assert_eq!(
            Error::NotConnected("timeout".into()).kind(),
            ErrorKind::Retryable
        );
        assert_eq!(
            Error::InvalidConfig("x".into()).kind(),
            ErrorKind::InvalidInput
        );
        assert_eq!(Error::Closed("publisher").kind(), ErrorKind::Fatal);
    }

    #[test]
    fn the_cause_chain_is_kept() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused");
        #[derive(Debug, thiserror::Error)]
        #[error("error sending request")]
        struct Outer(#[source] std::io::Error);
        assert_eq!(
            with_causes(&Outer(io)),
            "error sending request: connection refused"
        );
    }
}
