//! What the track tells the agent: [`Event`]s on an [`EventStream`], and each reply's
//! [`ReplyOutcome`].

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use crate::shared::{Counters, Liveness, Shared};
use crate::{ReplyId, SinkId};

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

/// How one reply ended: how much of it was actually played out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

/// Something the track did, in the order it happened on the media timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The first frame carrying this reply's speech went out.
    SpeechStarted {
        /// The reply.
        reply: ReplyId,
        /// The frame's pts.
        pts: u64,
    },
    /// A reply ended: completed (on the frame that carries its last sample) or interrupted.
    PlaybackFinished(ReplyOutcome),
    /// Playback paused (speech held, silence out).
    Paused {
        /// The first paused frame's pts.
        pts: u64,
    },
    /// Playback resumed.
    Resumed {
        /// The first resumed frame's pts.
        pts: u64,
    },
    /// Speaking state changed; false only after the grace period without speech.
    SpeakingChanged {
        /// The new state.
        speaking: bool,
        /// The frame's pts.
        pts: u64,
    },
    /// The background source panicked and was removed; speech goes on without it.
    BackgroundFailed {
        /// The frame it failed on.
        pts: u64,
        /// The panic's message.
        reason: String,
    },
    /// A sink was detached because it failed (error or panic) or was removed.
    SinkDetached {
        /// The sink.
        sink: SinkId,
        /// Its name.
        name: String,
        /// Why.
        reason: String,
    },
}

/// The track's events, in order. Only the newest stream receives events: calling
/// [`crate::TrackHandle::events`] again ends the previous one. Ends (`None`) when the track
/// is dropped.
#[derive(Debug)]
pub struct EventStream {
    rx: rtrb::Consumer<Event>,
    track: Liveness,
}

impl EventStream {
    pub(crate) fn new(rx: rtrb::Consumer<Event>, track: Liveness) -> Self {
        Self { rx, track }
    }

    /// The next event; `None` once the track is gone or a newer stream replaced this one.
    pub async fn next(&mut self) -> Option<Event> {
        std::future::poll_fn(|cx| self.poll_next_event(cx)).await
    }

    /// The next event if one is queued, without waiting.
    pub fn try_next(&mut self) -> Option<Event> {
        self.rx.pop().ok()
    }

    fn poll_next_event(&mut self, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        if let Ok(ev) = self.rx.pop() {
            return Poll::Ready(Some(ev));
        }
        self.track.wake_on_event(cx.waker());
        if let Ok(ev) = self.rx.pop() {
            return Poll::Ready(Some(ev));
        }
        if self.rx.is_abandoned() || self.track.is_closed() {
            return Poll::Ready(self.rx.pop().ok());
        }
        Poll::Pending
    }
}

impl futures_core::Stream for EventStream {
    type Item = Event;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        self.get_mut().poll_next_event(cx)
    }
}

/// The frame side's end of the event stream: queues events for the newest subscriber,
/// counts the ones it had no room for, and wakes the subscriber.
pub(crate) struct EventSender {
    tx: Option<rtrb::Producer<Event>>,
    shared: Arc<Shared>,
}

impl EventSender {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { tx: None, shared }
    }

    /// A new subscriber replaces the previous one (whose stream then ends).
    pub(crate) fn subscribe(&mut self, tx: rtrb::Producer<Event>) {
        self.tx = Some(tx);
    }

    pub(crate) fn emit(&mut self, event: Event) {
        let Some(tx) = self.tx.as_mut() else {
            return;
        };
        if tx.push(event).is_err() {
            Counters::count(&self.shared.counters.events_dropped);
        }
        self.shared.wake_events();
    }
}
