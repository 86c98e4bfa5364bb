//! What a plugin author implements: [`SinkPlugin`], with plain Rust types. The export macro
//! converts to and from the `#[repr(C)]` types of [`crate::types`].

use std::time::Duration;

use crate::types::{
    DeliveryKind, EventKind, PlaybackReport, RawEvent, RawHost, RawInfo, StreamFormat,
};

/// A sink plugin. Implement it, then `voxpace_sink_abi::export_sink_plugin!(YourType);`.
///
/// Every method runs on the sink's own worker thread, never on the frame clock: a slow
/// `handle` only fills this plugin's queue (its audio is then dropped and counted). A panic
/// in any method is caught inside the plugin and detaches it; it never takes the host down.
pub trait SinkPlugin: Send + Sized + 'static {
    /// Build an instance from the configuration text the host passes through (for the
    /// voxpace runtime: the plugin's `config` table, as TOML). `Err` rejects it: the host
    /// refuses to attach the plugin and shows the reason next to the plugin's file name.
    fn new(config: &str) -> Result<Self, String>;

    /// What this instance declares. Called once, after [`SinkPlugin::new`].
    fn info(&self) -> Info;

    /// One event, in order: `Start` first, `Stop` last. `Err` detaches the plugin.
    fn handle(&mut self, event: Event<'_>, host: &Host<'_>) -> Result<(), String>;

    /// ABI 1.1: the configuration keys [`SinkPlugin::new`] accepts, shown by
    /// `voxpace plugin check`. One `key = default  # meaning` per line is a good shape.
    const CONFIG_HELP: &'static str = "";
}

/// When the plugin receives speech.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Delivery {
    /// Each frame at its play-out time, with its `pts` (speakers, recorders).
    #[default]
    Paced,
    /// As soon as the speech is accepted, for lip-sync lookahead, but never more than
    /// `max_lead` ahead of play-out. Audio arrives with `pts: None`.
    Ahead {
        /// The cap on how far ahead of play-out audio may arrive.
        max_lead: Duration,
    },
}

/// What a plugin instance declares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Info {
    /// Name for logs and events.
    pub name: String,
    /// True when the plugin publishes the audio itself (an avatar service): the host's own
    /// output carries no speech while the plugin is attached, and the host takes the
    /// reply's played position from [`Host::report_playback`].
    pub owns_playback: bool,
    /// When audio arrives.
    pub delivery: Delivery,
    /// How much audio the host queues for the plugin before dropping (counted).
    pub queue: Duration,
}

impl Info {
    /// A paced plugin that does not own playback, with a 1 s queue.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            owns_playback: false,
            delivery: Delivery::Paced,
            queue: Duration::from_secs(1),
        }
    }

    /// Set whether the plugin publishes the audio itself.
    pub fn owns_playback(mut self, owns: bool) -> Self {
        self.owns_playback = owns;
        self
    }

    /// Set the delivery mode.
    pub fn delivery(mut self, delivery: Delivery) -> Self {
        self.delivery = delivery;
        self
    }

    /// Set the queue bound.
    pub fn queue(mut self, queue: Duration) -> Self {
        self.queue = queue;
        self
    }

    pub(crate) fn to_raw(&self) -> RawInfo {
        let (delivery, max_lead) = match self.delivery {
            Delivery::Paced => (DeliveryKind::PACED, Duration::ZERO),
            Delivery::Ahead { max_lead } => (DeliveryKind::AHEAD, max_lead),
        };
        RawInfo {
            name: self.name.as_str().into(),
            owns_playback: self.owns_playback,
            delivery,
            max_lead_ms: millis_u32(max_lead),
            queue_ms: millis_u32(self.queue),
        }
    }
}

fn millis_u32(d: Duration) -> u32 {
    u32::try_from(d.as_millis()).unwrap_or(u32::MAX)
}

/// One event from the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event<'a> {
    /// First event: the format of all audio that follows.
    Start {
        /// Sample rate, channels and frame length.
        format: StreamFormat,
    },
    /// A reply begins; its audio follows.
    ReplyStarted {
        /// The reply (ids increase).
        reply: u64,
    },
    /// Speech, interleaved in the start format.
    Audio {
        /// The reply the audio belongs to.
        reply: u64,
        /// Position of the first sample within the reply, in samples per channel.
        offset: u64,
        /// Presentation timestamp (track time in samples per channel) of the first sample,
        /// for paced delivery; `None` for audio delivered ahead of play-out.
        pts: Option<u64>,
        /// The samples; copy what you keep.
        samples: &'a [i16],
    },
    /// The reply's last audio was delivered, or it was interrupted.
    ReplyEnded {
        /// The reply.
        reply: u64,
        /// True when it ended by interrupt.
        interrupted: bool,
    },
    /// Barge-in: drop everything queued for `reply` and earlier, stop playing now.
    Interrupted {
        /// The newest reply the interrupt covers.
        reply: u64,
    },
    /// Hold what is queued; play nothing.
    Paused,
    /// Continue playing.
    Resumed,
    /// Last event: flush and close files.
    Stop,
}

impl<'a> Event<'a> {
    /// The event a raw event carries; `None` for a kind added after this ABI version, which
    /// a plugin ignores.
    pub fn from_raw(raw: &RawEvent<'a>) -> Option<Self> {
        Some(match raw.kind {
            EventKind::START => Event::Start { format: raw.format },
            EventKind::REPLY_STARTED => Event::ReplyStarted { reply: raw.reply },
            EventKind::AUDIO => Event::Audio {
                reply: raw.reply,
                offset: raw.offset,
                pts: raw.pts.into_option(),
                samples: raw.samples.as_slice(),
            },
            EventKind::REPLY_ENDED => Event::ReplyEnded {
                reply: raw.reply,
                interrupted: raw.interrupted,
            },
            EventKind::INTERRUPTED => Event::Interrupted { reply: raw.reply },
            EventKind::PAUSED => Event::Paused,
            EventKind::RESUMED => Event::Resumed,
            EventKind::STOP => Event::Stop,
            _ => return None,
        })
    }
}

/// The host, during one [`SinkPlugin::handle`] call.
#[derive(Debug, Clone, Copy)]
pub struct Host<'a> {
    raw: RawHost<'a>,
}

impl<'a> Host<'a> {
    /// Wrap the raw host of one call.
    pub fn from_raw(raw: RawHost<'a>) -> Self {
        Self { raw }
    }

    /// Report how much of `reply` the plugin played (plugins that own playback: on the
    /// reply's end, and on an interrupt with the position reached). Returns false when the
    /// host could not take the report.
    pub fn report_playback(&self, reply: u64, played_samples: u64, interrupted: bool) -> bool {
        let report = PlaybackReport {
            reply,
            played_samples,
            interrupted,
        };
        (self.raw.vtable.report_playback())(self.raw.ctx, report)
    }
}
