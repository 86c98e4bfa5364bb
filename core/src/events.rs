//! What the track tells the agent: [`Event`]s on an [`EventStream`] (each reply's
//! [`ReplyOutcome`] among them).

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::outcome::ReplyOutcome;
use crate::reply_state::ReplyState;
use crate::shared::{Counters, Liveness, Shared};
use crate::{ReplyId, SinkId};

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
    /// A text mark's first sample went out (on the frame that carries it).
    TextPlayed {
        /// The reply.
        reply: ReplyId,
        /// The mark's text, with the producer's own spacing.
        text: String,
        /// The mark's offset in the reply, in samples per channel.
        offset: u64,
        /// Presentation timestamp of that sample.
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
    rx: rtrb::Consumer<Emitted>,
    track: Liveness,
}

/// An event as the frame side queues it: what needs text is completed on the reading
/// side (the mark's text is shared, the heard text is built there), so the frame side
/// never allocates for it.
#[derive(Debug)]
pub(crate) enum Emitted {
    Event(Event),
    TextPlayed {
        reply: ReplyId,
        text: std::sync::Arc<str>,
        offset: u64,
        pts: u64,
    },
    Finished {
        outcome: ReplyOutcome,
        state: Arc<ReplyState>,
    },
}

impl Emitted {
    fn into_event(self, channels: u16) -> Event {
        match self {
            Emitted::Event(e) => e,
            Emitted::TextPlayed {
                reply,
                text,
                offset,
                pts,
            } => Event::TextPlayed {
                reply,
                text: text.to_string(),
                offset,
                pts,
            },
            Emitted::Finished { mut outcome, state } => {
                outcome.heard = state.heard(outcome.played_samples, channels);
                Event::PlaybackFinished(outcome)
            }
        }
    }
}

impl EventStream {
    pub(crate) fn new(rx: rtrb::Consumer<Emitted>, track: Liveness) -> Self {
        Self { rx, track }
    }

    fn pop(&mut self) -> Option<Event> {
        let channels = self.track.format().channels();
        self.rx.pop().ok().map(|e| e.into_event(channels))
    }

    /// The next event; `None` once the track is gone or a newer stream replaced this one.
    pub async fn next(&mut self) -> Option<Event> {
        std::future::poll_fn(|cx| self.poll_next_event(cx)).await
    }

    /// The next event if one is queued, without waiting.
    pub fn try_next(&mut self) -> Option<Event> {
        self.pop()
    }

    fn poll_next_event(&mut self, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        if let Some(ev) = self.pop() {
            return Poll::Ready(Some(ev));
        }
        self.track.wake_on_event(cx.waker());
        if let Some(ev) = self.pop() {
            return Poll::Ready(Some(ev));
        }
        if self.rx.is_abandoned() || self.track.is_closed() {
            return Poll::Ready(self.pop());
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
    /// Boxed: an unsubscribed track (most) keeps one pointer for it.
    tx: Option<Box<rtrb::Producer<Emitted>>>,
}

impl EventSender {
    pub(crate) fn new() -> Self {
        Self { tx: None }
    }

    /// A new subscriber replaces the previous one (whose stream then ends).
    pub(crate) fn subscribe(&mut self, tx: Box<rtrb::Producer<Emitted>>) {
        self.tx = Some(tx);
    }

    pub(crate) fn emit(&mut self, shared: &Shared, event: Event) {
        self.queue(shared, Emitted::Event(event));
    }

    /// A mark played: its text travels as the shared handle (no copy here).
    pub(crate) fn text_played(
        &mut self,
        shared: &Shared,
        reply: ReplyId,
        text: &Arc<str>,
        offset: u64,
        pts: u64,
    ) {
        if self.tx.is_none() {
            return;
        }
        self.queue(
            shared,
            Emitted::TextPlayed {
                reply,
                text: text.clone(),
                offset,
                pts,
            },
        );
    }

    /// A reply ended; the reader completes its heard text from the reply's state.
    pub(crate) fn finished(
        &mut self,
        shared: &Shared,
        outcome: ReplyOutcome,
        state: &Arc<ReplyState>,
    ) {
        if self.tx.is_none() {
            return;
        }
        self.queue(
            shared,
            Emitted::Finished {
                outcome,
                state: state.clone(),
            },
        );
    }

    fn queue(&mut self, shared: &Shared, emitted: Emitted) {
        let Some(tx) = self.tx.as_mut() else {
            return;
        };
        // A refused event is dropped here; the frame side still holds the reply's state
        // and the mark's text, so this never frees them.
        if tx.push(emitted).is_err() {
            Counters::count(&shared.counters.events_dropped);
        }
        shared.wake_events();
    }
}
