//! # voxpace-core: the paced output track of a voice agent
//!
//! Text-to-speech audio goes in as *replies*, in chunks of any size; a perfectly paced stream
//! of fixed-length frames comes out, with background audio mixed under the speech and a copy
//! of the speech handed to sinks. The agent is told exactly what was heard and when.
//!
//! ```text
//!  ReplyWriter ──push──▶ [bounded intake] ──▶ Track::render ──▶ FrameInfo + samples
//!  TrackHandle ─pause/resume/interrupt─▶ (atomics)  │  ├─ Source (background bus, mixed)
//!                                                    │  ├─ sink queues ──▶ worker ──▶ Sink
//!  EventStream / Playback ◀──────── events ──────────┘  └─ paced by Pacer or FrameClock
//! ```
//!
//! Contents:
//! - [`Format`]: sample rate, channels, frame length, validated.
//! - [`Track`] (the frame side, owned by whoever renders frames) and [`TrackHandle`] (the
//!   control side: replies, pause, resume, interrupt, background, sinks, events).
//! - [`ReplyWriter`]: one reply's PCM intake with back-pressure; [`Playback`]: a future of
//!   how much of the reply was played ([`ReplyOutcome`]).
//! - [`Event`] and [`EventStream`]: speech started, text played, playback finished,
//!   paused, resumed, speaking changed, sink detached.
//! - Text: [`ReplyWriter::mark`] (a piece of the reply's text at a media offset, travelling
//!   with the audio) and [`ReplyWriter::set_text`] (the whole text, for an estimate),
//!   [`TextMarker`]; what was heard: [`Heard`], [`TextTiming`], [`estimate_heard`].
//! - [`Source`] and [`Limiter`]: the background bus and how it is mixed (soft knee, clip, or
//!   a true-peak limiter); [`Normalise`]: every reply at one loudness, and
//!   [`ReplyLoudness`], what it measured and applied (from `voxpace-loudness`, on ebur128).
//! - [`Sink`], [`SinkInfo`], [`SinkEvent`], [`Delivery`]: the sink fan-out.
//! - [`Clock`], [`MonotonicClock`], [`VirtualClock`]: time, injected.
//! - [`Pacer`]: one track's frames paced against a clock (async), with a defined catch-up
//!   policy; [`FrameClock`]: many tracks ticked together on one thread, scheduled as
//!   [`Scheduling`] asks (real-time if wanted and allowed).
//! - [`Error`] and [`ErrorKind`]: everything that can go wrong, and what a caller can do.
//!
//! Inside, one file per room (none imports another in a circle):
//! `shared` (the atomics both sides see, and narrow views of them), `intake` (reply
//! entries, room, push, finish: a control half and a frame half), `block` and `entries`
//! (a reply's samples, and the ring of start markers and blocks), `handle` (the control
//! side), `reply_state` and `reply` (a reply's shared state, its writer and `Playback`),
//! `outcome` (how a reply ended), `text` (a reply's marks and whole text, and what of it was
//! heard),
//! `track` (the frame side's render), `reports` (how replies end: outcomes, owning sinks'
//! reports), `commands` and `mailbox` (rare control-to-frame messages), `control` (the
//! one allocation per track: the shared atomics, the intake's control half, the mailbox,
//! the watched sinks), `sink_tap` (sink queues and workers), `events`; `prefetch` (the
//! frame clock's cache hint). `sizes` (a test) pins what a track costs.

// Public vocabulary.
mod config;
mod error;
mod format;
mod ids;
mod outcome;
mod sink;
mod source;

// Time and pacing.
mod clock;
mod clock_thread;
mod frame_clock;
mod pacer;
mod prefetch;

// The track, room by room.
mod block;
mod commands;
mod control;
mod entries;
mod events;
mod handle;
mod intake;
mod mailbox;
mod reply;
mod reply_state;
mod reports;
mod shared;
mod sink_tap;
mod text;
mod track;

pub use clock::{Clock, MonotonicClock, VirtualClock, VirtualSleep};
pub use clock_thread::Scheduling;
pub use config::TrackConfig;
pub use error::{Error, ErrorKind};
pub use events::{Event, EventStream};
pub use format::{Format, FRAME_LENGTHS_MS, SAMPLE_RATES};
pub use frame_clock::{FrameClock, FrameClockStats};
pub use handle::TrackHandle;
pub use ids::{ReplyId, SinkId};
pub use outcome::{Position, ReplyLoudness, ReplyOutcome};
pub use pacer::{CatchUp, Frame, Pacer, PacerStats};
pub use reply::{Playback, ReplyWriter, TextMarker};
pub use shared::TrackStats;
pub use sink::{
    Delivery, PlaybackReport, Playout, Sink, SinkContext, SinkError, SinkEvent, SinkInfo,
};
pub use sink_tap::SINK_RETRIES;
pub use source::{BusContext, Limiter, Source};
pub use text::{estimate_heard, Heard, TextTiming};
pub use track::{FrameInfo, Track};
pub use voxpace_loudness::Normalise;
// What a track costs, pinned.
#[cfg(test)]
mod sizes;
