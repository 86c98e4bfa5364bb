//! How one reply ended: [`ReplyOutcome`] (how much of it played, how that was established,
//! what of its text was heard) and [`ReplyLoudness`]. Written by the frame side into the
//! reply's shared state, read by `Playback` and carried by `Event::PlaybackFinished`.

use std::time::Duration;

use crate::text::Heard;
use crate::ReplyId;

/// How a reply's played position was established.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Position {
    /// Counted by the track on its own output: exact to the sample.
    Exact,
    /// Reported by a sink that owns playback (an avatar).
    Reported,
    /// A sink owns playback but did not report in time; the track's own count is used.
    Estimated,
}

/// How one reply ended: how much of it was actually played out, and what of its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyOutcome {
    /// The reply.
    pub reply: ReplyId,
    /// Samples per channel played out (for an interrupted reply, including its fade).
    pub played_samples: u64,
    /// `played_samples` as a duration.
    pub played: Duration,
    /// True when the reply ended by interrupt.
    pub interrupted: bool,
    /// How `played_samples` was established.
    pub position: Position,
    /// Presentation timestamp of the frame on which the reply ended.
    pub pts: u64,
    /// What normalisation measured and applied, when the track normalises replies.
    pub loudness: Option<ReplyLoudness>,
    /// What the listener heard of the reply's text, when the producer gave one: the marks
    /// whose first sample is within `played_samples` (exact), or an estimate from the whole
    /// text. `None` for a reply without text.
    pub heard: Option<Heard>,
}

/// A normalised reply's loudness: as received, and the gain it was given.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReplyLoudness {
    /// Integrated loudness of the audio received for the reply (before the gain), in LUFS;
    /// `None` when it held less than 400 ms of sound.
    pub measured_lufs: Option<f32>,
    /// The gain applied to its last samples, in dB.
    pub gain_db: f32,
}

// Both values are always finite (never NaN), so equality is total.
impl Eq for ReplyLoudness {}
