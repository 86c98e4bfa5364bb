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
    /// A text mark was added at an offset whose audio was already pushed: a mark must go in
    /// before the audio that carries it.
    #[error("reply {reply}: a text mark at sample {offset} comes after audio up to sample {accepted} was pushed; add each mark before the audio that carries it")]
    MarkBehindAudio {
        /// The reply.
        reply: ReplyId,
        /// The mark's offset (samples per channel from the reply's start).
        offset: u64,
        /// Samples per channel of the reply pushed so far.
        accepted: u64,
    },
    /// A text mark went back in time: marks come in playing order.
    #[error("reply {reply}: a text mark at sample {offset} comes after one at sample {previous}; add marks in playing order")]
    MarkOutOfOrder {
        /// The reply.
        reply: ReplyId,
        /// The mark's offset.
        offset: u64,
        /// The previous mark's offset.
        previous: u64,
    },
    /// More text marks at one sample than one piece of audio carries (16).
    #[error("reply {reply}: more than 16 text marks at sample {offset}; join their texts into fewer marks")]
    TooManyMarks {
        /// The reply.
        reply: ReplyId,
        /// The offset they share.
        offset: u64,
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
            Error::InvalidFormat(_)
            | Error::InvalidConfig(_)
            | Error::PartialSample { .. }
            | Error::MarkBehindAudio { .. }
            | Error::MarkOutOfOrder { .. }
            | Error::TooManyMarks { .. } => ErrorKind::InvalidInput,
            Error::CommandQueueFull => ErrorKind::Retryable,
            Error::ReplyInterrupted(_) | Error::ReplyFinished(_) | Error::IntakeClosed => {
                ErrorKind::ReplyTerminal
            }
            Error::TrackClosed | Error::Sink { .. } => ErrorKind::Fatal,
        }
    }
}
