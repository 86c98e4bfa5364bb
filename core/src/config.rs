//! How a track behaves: [`TrackConfig`].

use std::time::Duration;

use crate::{Limiter, Normalise};

/// How a track behaves. All durations are media time.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackConfig {
    /// The most speech the track buffers; a producer pushing more waits (back-pressure).
    pub buffer: Duration,
    /// How long after the last speech frame the track still counts as speaking (bridges
    /// gaps in streaming TTS). 500 ms by default.
    pub grace_period: Duration,
    /// Linear fade (full level toward silence) applied to speech in the frame after an
    /// interrupt; 0 is a hard cut. At most one frame long. Sinks receive it as played.
    pub interrupt_fade: Duration,
    /// Play a reply only once this much of it is buffered (or it is finished). 0 = at once.
    pub start_threshold: Duration,
    /// Manual input control: after an interrupt, no reply can be opened until
    /// [`crate::TrackHandle::enable_input`] (the agent decides when the user is done).
    pub manual_input: bool,
    /// How speech and background are summed (and, with [`Limiter::TruePeak`], kept below a
    /// true-peak ceiling).
    pub limiter: Limiter,
    /// Normalise every reply to one integrated loudness as it is pushed (ITU-R BS.1770, see
    /// [`Normalise`]); `None`: replies play at their own level.
    pub loudness: Option<Normalise>,
    /// Measure the output's momentary loudness (400 ms) for
    /// [`crate::TrackHandle::output_loudness`]; costs about a microsecond per frame.
    pub output_meter: bool,
    /// How long to wait for an owning sink's playback report before ending a reply with an
    /// estimated position.
    pub report_timeout: Duration,
}

impl Default for TrackConfig {
    fn default() -> Self {
        Self {
            buffer: Duration::from_secs(10),
            grace_period: Duration::from_millis(500),
            interrupt_fade: Duration::from_millis(10),
            start_threshold: Duration::ZERO,
            manual_input: false,
            limiter: Limiter::SoftKnee,
            loudness: None,
            output_meter: false,
            report_timeout: Duration::from_secs(2),
        }
    }
}
