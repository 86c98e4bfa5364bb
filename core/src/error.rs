//! The one error type of `voxpace-core`.

use crate::ReplyId;

/// Everything that can go wrong in the core track.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The requested format or configuration is not supported; the text says which part.
    #[error("invalid track format: {0}")]
    InvalidFormat(String),
    /// A configuration value is out of range; the text names it.
    #[error("invalid track configuration: {0}")]
    InvalidConfig(String),
    /// The reply was interrupted; audio pushed for it is refused and will never play.
    #[error("reply {0} was interrupted; its audio is refused")]
    ReplyInterrupted(ReplyId),
    /// The reply was already finished; no more audio can be added to it.
    #[error("reply {0} is already finished")]
    ReplyFinished(ReplyId),
    /// Intake is closed after an interrupt in manual input mode; call `enable_input` first.
    #[error("audio intake is closed after an interrupt (manual input control): call enable_input() before opening a reply")]
    IntakeClosed,
    /// The reply ended with an incomplete sample (an odd byte, or half a stereo sample
    /// frame); everything before it plays.
    #[error(
        "reply {reply} finished with {bytes} byte(s) of an incomplete sample, which were dropped"
    )]
    PartialSample {
        /// The reply.
        reply: ReplyId,
        /// How many bytes were dropped.
        bytes: usize,
    },
    /// The track was dropped (its frame side is gone).
    #[error("the track is closed")]
    TrackClosed,
    /// The intake queue holds its maximum number of chunks (64); frames must play some
    /// before another reply can be opened.
    #[error("the track's intake queue is full (64 chunks queued): render frames, or push fewer, larger chunks")]
    CommandQueueFull,
    /// A sink's queue was full or the sink is gone; recoverable by the caller.
    #[error("sink {name}: {reason}")]
    Sink {
        /// The sink's name.
        name: String,
        /// What went wrong.
        reason: String,
    },
}

/// What a caller can do about an error: every crate's `Error::kind()` answers with one of
/// these, so callers (the runtime's HTTP mapping, a publisher's retry loop) decide by kind
/// instead of matching variants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The input was wrong (a format, a configuration value, a request body): retrying the
    /// same call cannot help; fix the input.
    InvalidInput,
    /// Transient: the same call may succeed later (a full queue, a busy peer, a network
    /// fault). Back off and retry.
    Retryable,
    /// This reply (or this request) is over: what it still holds will not play. Open a new
    /// reply; the track itself is fine.
    ReplyTerminal,
    /// The component is gone or broken (the track was dropped, a thread could not start):
    /// nothing on it will work again; rebuild it.
    Fatal,
}

impl ErrorKind {
    /// True when retrying the same call later may succeed.
    pub fn is_retryable(self) -> bool {
        self == ErrorKind::Retryable
    }
}

impl Error {
    /// What the caller can do about this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidFormat(_) | Error::InvalidConfig(_) | Error::PartialSample { .. } => {
                ErrorKind::InvalidInput
            }
            Error::CommandQueueFull => ErrorKind::Retryable,
            Error::ReplyInterrupted(_) | Error::ReplyFinished(_) | Error::IntakeClosed => {
                ErrorKind::ReplyTerminal
            }
            Error::TrackClosed | Error::Sink { .. } => ErrorKind::Fatal,
        }
    }
}
