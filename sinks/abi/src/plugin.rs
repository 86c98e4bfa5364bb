//! What a plugin author implements: [`SinkPlugin`], with plain Rust types. The export macro
//! converts to and from the `#[repr(C)]` types of [`crate::types`].

use std::time::Duration;

use crate::error::SinkError;

use crate::types::{
    DeliveryKind, EventKind, PlaybackReport, RawEvent, RawHost, RawInfo, RawPlayout, StreamFormat,
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
    ///
    /// Implement this or (since ABI 1.3) [`SinkPlugin::handle_event`], whose error says
    /// what the host should do instead of always detaching. A plugin that implements
    /// neither is detached on its first event, with a message saying so.
    fn handle(&mut self, event: Event<'_>, host: &Host<'_>) -> Result<(), String> {
        let _ = (event, host);
        Err("the plugin implements neither SinkPlugin::handle nor SinkPlugin::handle_event".into())
    }

    /// ABI 1.3: one event, like [`SinkPlugin::handle`], with an error that says by its
    /// [`ErrorKind`](crate::ErrorKind) what the host does: [`SinkError::retry`] (the same
    /// event again, a few times, after short pauses), [`SinkError::skip_reply`] (the rest
    /// of this reply's audio and text is not delivered), [`SinkError::skip_event`] (this
    /// event only) or [`SinkError::fatal`] (detach). The default calls
    /// [`SinkPlugin::handle`], every error fatal. A host older than 1.3 detaches on every
    /// error, whatever its kind.
    fn handle_event(&mut self, event: Event<'_>, host: &Host<'_>) -> Result<(), SinkError> {
        self.handle(event, host).map_err(SinkError::fatal)
    }

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
    /// Ahead of play-out, for lip-sync lookahead: the current reply's audio as soon as it is
    /// at most `max_lead` before its play-out time (so the host queues about `max_lead`
    /// whatever the reply's length). Audio arrives with `pts: None`; [`Host::playout`]
    /// (ABI 1.2) says when it is scheduled to play.
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
        /// for paced delivery; `None` for audio delivered ahead of play-out (since ABI 1.2
        /// [`Host::playout`] gives its scheduled `pts` and due time).
        pts: Option<u64>,
        /// The samples; copy what you keep.
        samples: &'a [i16],
    },
    /// Exactly one per reply, after its audio: its last sample plays now (paced and ahead
    /// delivery alike), or it was interrupted (then right after `Interrupted`).
    ReplyEnded {
        /// The reply.
        reply: u64,
        /// True when it ended by interrupt.
        interrupted: bool,
    },
    /// Barge-in: drop everything queued for `reply` and earlier, stop playing now. Comes
    /// inside the interrupted reply, before its `ReplyEnded { interrupted: true }`.
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
    /// ABI 1.2: a text mark (captions in sync): a piece of the reply's text, with the
    /// producer's own spacing, heard from sample `offset` of `reply`. Paced plugins get it
    /// just before the `Audio` that carries that sample, with the sample's `pts`; ahead
    /// plugins get it with the pushed audio (`pts: None`). Only for marks the producer gave.
    Text {
        /// The reply.
        reply: u64,
        /// The mark's first sample within the reply, in samples per channel.
        offset: u64,
        /// Presentation timestamp of that sample (paced delivery); `None` ahead.
        pts: Option<u64>,
        /// The text.
        text: &'a str,
    },
}

impl<'a> Event<'a> {
    /// The event a raw event carries, decoding a `TEXT` event's text into `text` (reused
    /// from call to call); `None` for a kind added after this ABI version, which a plugin
    /// ignores.
    pub fn from_raw_with(raw: &RawEvent<'a>, text: &'a mut String) -> Option<Self> {
        if raw.kind != EventKind::TEXT {
            return Self::from_raw(raw);
        }
        text.clear();
        let units = raw.samples.as_slice().iter().map(|&u| u as u16);
        text.extend(char::decode_utf16(units).map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER)));
        Some(Event::Text {
            reply: raw.reply,
            offset: raw.offset,
            pts: raw.pts.into_option(),
            text,
        })
    }

    /// The event a raw event carries, for kinds that need no decoding (`None` for `TEXT`:
    /// use [`Event::from_raw_with`]); `None` for a kind added after this ABI version, which
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

/// ABI 1.2: when something plays out, from [`Host::playout`] and [`Host::now`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Playout {
    /// Track time in samples per channel: the same timeline as the `pts` of paced audio.
    pub pts: u64,
    /// The same moment on the host's play-out clock. That clock is the track's media clock:
    /// zero at the track's first frame, one frame period per frame played, so it advances
    /// in real time while the host serves and in virtual time in `voxpace render` (where
    /// it is as deterministic as `pts`). Compare it only with other `due` values and with
    /// [`Host::now`]: `due - now` is how far ahead of its play-out something arrived.
    pub due: Duration,
    /// The reply playing at that moment (0: none).
    pub reply: u64,
    /// How far into `reply`, in samples per channel: for `Interrupted` and `ReplyEnded`,
    /// how much of the reply played (the fade included), which is what an owning plugin
    /// that follows the host's schedule reports.
    pub offset: u64,
}

impl Playout {
    fn from_raw(raw: RawPlayout) -> Self {
        Self {
            pts: raw.pts,
            due: Duration::from_nanos(raw.due_ns),
            reply: raw.reply,
            offset: raw.offset,
        }
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

    /// Report how much of `reply` the plugin played. For plugins that own playback: once
    /// per reply, on its `ReplyEnded` (all of it, or as far as it got) or on an
    /// `Interrupted` (the position reached; [`Host::playout`] says where the host's
    /// output stopped). `played_samples` counts samples **per channel** from the reply's
    /// start (a stereo frame of 960 values is 480). The host uses the first report of a
    /// reply and ignores later ones.
    ///
    /// Returns `true` when the host took the report, `false` when it could not: its
    /// report queue was full or the track is gone (the host then ends the reply with an
    /// estimated position after its report timeout). Reporting again does not help.
    pub fn report_playback(&self, reply: u64, played_samples: u64, interrupted: bool) -> bool {
        let report = PlaybackReport {
            reply,
            played_samples,
            interrupted,
        };
        (self.raw.vtable.report_playback())(self.raw.ctx, report)
    }

    /// ABI 1.2: when the event being handled plays out:
    /// - `Audio`: its first sample (for ahead delivery: when it is scheduled to play,
    ///   assuming no pause; a pause delays everything after it by its length);
    /// - `ReplyEnded`: the end of the reply's last played sample (the host sends
    ///   `ReplyEnded` when that frame plays, for ahead delivery too);
    /// - `Interrupted`: where the host's output fell silent (after its short fade);
    /// - `Paused`, `Resumed`: the frame where it took effect.
    ///
    /// `None` for other events, and always from a host older than 1.2.
    pub fn playout(&self) -> Option<Playout> {
        let f = self.raw.vtable.playout()?;
        f(self.raw.ctx).into_option().map(Playout::from_raw)
    }

    /// ABI 1.2: what is playing now: the first sample of the frame the host was playing
    /// when it queued the event being handled (for `Start`, the frame that took the
    /// plugin), with the reply playing in that frame and how far into it. One snapshot,
    /// handed with the event: its parts always agree, and in `voxpace render` it is the
    /// same on every run. `playout().due - now().due` is how far ahead of its play-out the
    /// event was handed over (0 for paced audio; at most `max_lead` for ahead audio).
    /// `None` from a host older than 1.2.
    pub fn now(&self) -> Option<Playout> {
        let f = self.raw.vtable.now()?;
        f(self.raw.ctx).into_option().map(Playout::from_raw)
    }
}
