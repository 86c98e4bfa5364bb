//! The one error type of `voxpace-transport`.

/// Everything that can go wrong while encoding or delivering a track over WebRTC.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration value is out of range; the text names it and the accepted range.
    #[error("invalid transport configuration: {0}")]
    InvalidConfig(String),
    /// The Opus encoder or decoder refused a call; the text says which one and why.
    #[error("opus: {0}")]
    Opus(String),
    /// The WebRTC stack failed (peer connection, negotiation, media write).
    #[error("webrtc: {0}")]
    WebRtc(String),
    /// An SDP offer or answer was unusable; the text says what was missing or malformed.
    #[error("sdp: {0}")]
    Sdp(String),
    /// An HTTP signalling request failed before a response arrived (connection, TLS, URL).
    #[error("http request to {url} failed: {reason}")]
    Http {
        /// The request URL.
        url: String,
        /// What went wrong.
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

impl From<webrtc::error::Error> for Error {
    fn from(e: webrtc::error::Error) -> Self {
        Error::WebRtc(e.to_string())
    }
}

impl From<audiopus::Error> for Error {
    fn from(e: audiopus::Error) -> Self {
        Error::Opus(e.to_string())
    }
}
