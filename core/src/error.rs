//! The one error type of `voxpace-core`, and [`ErrorKind`]: what a caller can do about an
//! error, which every crate's `Error::kind()` answers with.

use crate::ReplyId;

/// Everything that can go wrong in the core track.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The requested format is not supported; the text says which part.
    #[error("invalid track format: {0}")]
    InvalidFormat(String),
    /// A configuration value is out of range; the text names it.
    #[error("invalid track configuration: {0}")]
    InvalidConfig(String),
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
    /// Samples were pushed while the reply's last byte push ended in the middle of a
    /// sample; nothing of this push was taken. Push the sample's other byte first.
    #[error("reply {reply}: samples pushed while the last byte push ended mid-sample; push the missing byte first")]
    PushSplitsSample {
        /// The reply.
        reply: ReplyId,
    },
    /// The intake holds as many queued replies as it can (32 entries); frames must play
    /// some before another reply can be opened. Retry after a frame period.
    #[error(
        "the track's intake is full (32 replies or blocks queued): retry once frames have played"
    )]
    IntakeFull,
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
    /// The reply was interrupted; audio pushed for it is refused and will never play.
    #[error("reply {0} was interrupted; its audio is refused")]
    ReplyInterrupted(ReplyId),
    /// The reply was already finished; no more audio can be added to it.
    #[error("reply {0} is already finished")]
    ReplyFinished(ReplyId),
    /// Intake is closed after an interrupt in manual input mode; call `enable_input` first.
    #[error("audio intake is closed after an interrupt (manual input control): call enable_input() before opening a reply")]
    IntakeClosed,
    /// The track was dropped (its frame side is gone).
    #[error("the track is closed")]
    TrackClosed,
    /// A sink could not be attached because the operating system refused its worker thread
    /// (out of threads or memory): the process is in trouble, not the sink.
    #[error("sink {name}: could not start its worker thread: {reason}")]
    SinkThread {
        /// The sink's name.
        name: String,
        /// The operating system's error.
        reason: String,
    },
    /// A sink could not handle an event and says what the track should do about it
    /// (see [`crate::Sink::handle`]): `Retryable`, the event is delivered again;
    /// `ReplyTerminal`, the rest of that reply is skipped for this sink; `InvalidInput`,
    /// that one event is skipped; `Fatal`, the sink is detached.
    #[error("{reason}")]
    SinkFailed {
        /// What the track should do.
        kind: ErrorKind,
        /// The sink's explanation.
        reason: String,
    },
}

/// What a caller can do about an error. Defined in `voxpace-loudness`, the bottom crate,
/// so that every crate's `Error::kind()` (loudness included) answers with the same enum;
/// core is where callers name it.
pub use voxpace_loudness::ErrorKind;

impl Error {
    /// A stable name of the error, for programs on the other side of a wire (the runtime's
    /// HTTP error bodies): `reply_interrupted`, `intake_full`, ... Never parse the message.
    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidFormat(_) => "invalid_format",
            Error::InvalidConfig(_) => "invalid_config",
            Error::PartialSample { .. } => "partial_sample",
            Error::PushSplitsSample { .. } => "split_sample",
            Error::IntakeFull => "intake_full",
            Error::MarkBehindAudio { .. }
            | Error::MarkOutOfOrder { .. }
            | Error::TooManyMarks { .. } => "bad_marks",
            Error::ReplyInterrupted(_) => "reply_interrupted",
            Error::ReplyFinished(_) => "reply_finished",
            Error::IntakeClosed => "intake_closed",
            Error::TrackClosed => "track_closed",
            Error::SinkThread { .. } => "sink_thread",
            Error::SinkFailed { .. } => "sink_failed",
        }
    }

    /// What the caller can do about this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidFormat(_)
            | Error::InvalidConfig(_)
            | Error::PartialSample { .. }
            | Error::PushSplitsSample { .. }
            | Error::MarkBehindAudio { .. }
            | Error::MarkOutOfOrder { .. }
            | Error::TooManyMarks { .. } => ErrorKind::InvalidInput,
            Error::IntakeFull => ErrorKind::Retryable,
            Error::ReplyInterrupted(_) | Error::ReplyFinished(_) | Error::IntakeClosed => {
                ErrorKind::ReplyTerminal
            }
            Error::TrackClosed | Error::SinkThread { .. } => ErrorKind::Fatal,
            Error::SinkFailed { kind, .. } => *kind,
        }
    }
}
