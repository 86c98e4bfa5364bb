//! Sinks: where a copy of the speech goes besides the track's own output (avatar
//! renderers, local speakers, recorders).
//!
//! The track never calls a sink on the frame path. Each attached sink gets a bounded
//! lock-free queue and its own worker thread; the frame path only copies the frame's speech
//! into that queue (or counts a drop when it is full) and the worker calls
//! [`Sink::handle`]. A sink that is slow, blocks or panics therefore never delays frames or
//! other sinks: its queue fills and it loses audio (counted), or it is detached (an event
//! says so).

use std::time::Duration;

use crate::{Format, ReplyId};

/// When a sink receives speech audio.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Delivery {
    /// Each frame's speech at its play-out time, with its `pts`.
    #[default]
    Paced,
    /// Ahead of play-out (lip-sync lookahead): the current reply's queued speech as soon as
    /// it is no more than `max_lead` before its play-out time. The queue therefore holds
    /// about `max_lead` of audio whatever the reply's length.
    Ahead {
        /// How far ahead of play-out audio may be delivered.
        max_lead: Duration,
    },
}

/// What a sink declares about itself when it is attached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinkInfo {
    /// A name for logs and events.
    pub name: String,
    /// True for sinks that publish the audio themselves (an avatar server): while such a
    /// sink is attached, the track's own output carries no speech, so listeners never hear
    /// the voice twice. Such a sink should report playback with [`SinkContext::report_playback`].
    pub owns_playback: bool,
    /// When the sink receives audio.
    pub delivery: Delivery,
    /// How much audio the sink's queue holds before frames are dropped (counted).
    pub queue: Duration,
}

impl SinkInfo {
    /// A paced, non-owning sink with a 1 s queue.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            owns_playback: false,
            delivery: Delivery::Paced,
            queue: Duration::from_secs(1),
        }
    }
}

/// One message to a sink, handed to [`Sink::handle`] on the sink's worker thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SinkEvent<'a> {
    /// First message: the track's format.
    Start {
        /// The format of every `Audio` message.
        format: Format,
    },
    /// A reply begins; its audio follows.
    ReplyStarted {
        /// The reply.
        reply: ReplyId,
    },
    /// Speech audio, interleaved in the track's format.
    Audio {
        /// The reply this audio belongs to.
        reply: ReplyId,
        /// Position of the first sample within the reply, in samples per channel.
        offset: u64,
        /// Presentation timestamp of the first sample (paced delivery); `None` for audio
        /// delivered ahead of play-out, whose play-out time is not yet known.
        pts: Option<u64>,
        /// The samples.
        samples: &'a [i16],
    },
    /// A text mark: a piece of the reply's text whose first sample is at `offset`. Paced
    /// sinks get it just before the audio of the frame that plays that sample, with its
    /// `pts`; ahead sinks get it just before the ahead audio that carries it (`pts: None`).
    Text {
        /// The reply.
        reply: ReplyId,
        /// The mark's position within the reply, in samples per channel.
        offset: u64,
        /// Presentation timestamp of that sample (paced delivery).
        pts: Option<u64>,
        /// The text, with the producer's own spacing.
        text: &'a str,
    },
    /// The reply's last sample plays now (for every delivery), or it was interrupted.
    /// Exactly one per reply, after its audio; the next reply's events follow it.
    ReplyEnded {
        /// The reply.
        reply: ReplyId,
        /// True when it ended by interrupt.
        interrupted: bool,
    },
    /// Barge-in: drop everything queued for `reply` and earlier, stop playing now.
    Interrupted {
        /// The newest reply the interrupt covers.
        reply: ReplyId,
    },
    /// Playback paused; hold what is queued.
    Paused,
    /// Playback resumed.
    Resumed,
    /// Last message: the sink is detached or the track is gone; flush and close.
    Stop,
}

/// What an owning sink reports about its own playback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlaybackReport {
    /// The reply.
    pub reply: ReplyId,
    /// Samples per channel the sink actually played out.
    pub played_samples: u64,
    /// True when playback stopped because of an interrupt.
    pub interrupted: bool,
}

/// A sink's error. Its kind decides what the track does: a boxed
/// [`Error::SinkFailed`](crate::Error::SinkFailed) (or any other [`crate::Error`]) is acted
/// on by its [`ErrorKind`](crate::ErrorKind) (see [`Sink::handle`]); any other error detaches
/// the sink.
pub type SinkError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A consumer of the track's speech, called on its own worker thread.
pub trait Sink: Send + 'static {
    /// Name, delivery mode, queue size, whether it publishes the audio itself.
    fn info(&self) -> SinkInfo;

    /// Handle one message. An error says by its kind what the track does next:
    /// - [`Retryable`](crate::ErrorKind::Retryable): the same message is delivered again
    ///   after a short pause, at most [`SINK_RETRIES`](crate::SINK_RETRIES) times; if it
    ///   still fails the sink is detached;
    /// - [`ReplyTerminal`](crate::ErrorKind::ReplyTerminal): the rest of that reply's audio
    ///   and text is skipped for this sink (its `Interrupted`/`ReplyEnded` still come);
    /// - [`InvalidInput`](crate::ErrorKind::InvalidInput): that one message is skipped;
    /// - [`Fatal`](crate::ErrorKind::Fatal), an error that is not a [`crate::Error`], or a
    ///   panic: the sink is detached (an event says why).
    ///
    /// Return `Err(Box::new(Error::SinkFailed { kind, reason }))` to choose the kind.
    fn handle(&mut self, event: SinkEvent<'_>, cx: &SinkContext) -> Result<(), SinkError>;
}

/// When something plays out: where on the track's timeline, and which reply plays then.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Playout {
    /// Track time in samples per channel (the `pts` of paced audio).
    pub pts: u64,
    /// The same moment on the track's play-out clock: its media clock, zero at the first
    /// frame and one frame period per frame (so `pts` as a duration).
    pub due: std::time::Duration,
    /// The reply playing then, if any.
    pub reply: Option<ReplyId>,
    /// Position within that reply, in samples per channel.
    pub offset: u64,
}

/// Handed to [`Sink::handle`]: the way back from a sink to the track, and when the event
/// being handled plays out.
#[derive(Debug)]
pub struct SinkContext {
    reports: std::sync::Mutex<rtrb::Producer<PlaybackReport>>,
    track: crate::shared::SinkLink,
    pub(crate) playout: Option<Playout>,
    /// What played when the frame side queued the event being handled.
    pub(crate) now: Option<Playout>,
}

impl SinkContext {
    pub(crate) fn new(
        reports: rtrb::Producer<PlaybackReport>,
        track: crate::shared::SinkLink,
    ) -> Self {
        Self {
            reports: std::sync::Mutex::new(reports),
            track,
            playout: None,
            now: None,
        }
    }

    /// Report how much of a reply the sink played (owning sinks). The track then emits its
    /// `PlaybackFinished` from this report instead of its own estimate; the first report
    /// of a reply counts, later ones are ignored. Returns false when the report could not
    /// be queued (the track is not keeping up or is gone).
    pub fn report_playback(&self, report: PlaybackReport) -> bool {
        match self.reports.lock() {
            Ok(mut q) => q.push(report).is_ok(),
            Err(_) => false,
        }
    }

    /// When the event being handled plays out:
    /// - `Audio`: its first sample (ahead delivery: when it is scheduled to play if
    ///   nothing pauses it);
    /// - `ReplyEnded`: the end of the reply's last played sample (`offset`: how much of it
    ///   played, the interrupt fade included);
    /// - `Interrupted`: where the output fell silent (after the fade);
    /// - `Paused`, `Resumed`: the frame where it took effect.
    ///
    /// `None` for `Start`, `ReplyStarted` and `Stop`.
    pub fn playout(&self) -> Option<Playout> {
        self.playout
    }

    /// What is playing now: the first sample of the frame the track was rendering when it
    /// queued the event being handled (for `Start`, the frame that took the sink), with the
    /// reply playing then (none before a reply's first sample) and how far it played.
    ///
    /// One snapshot per frame, handed with each event: its parts always agree, and in a
    /// render on a virtual clock it is the same on every run. A sink that falls behind
    /// sees the "now" of when its event was queued, so `playout().due - now().due` is how
    /// far ahead of its play-out the event was handed over.
    pub fn now(&self) -> Playout {
        if let Some(now) = self.now {
            return now;
        }
        // Only a sink stopped before its track took it gets here.
        let (pts, reply, offset) = self.track.now();
        Playout {
            pts,
            due: self.track.format().duration_of(pts),
            reply: (reply > 0).then_some(ReplyId(reply)),
            offset,
        }
    }
}
