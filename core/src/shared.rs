//! The atomics both sides of a track read and write, and the narrow views of them that the
//! sink tap, the event stream and a reply's `Playback` get.
//!
//! This file imports nothing of the track's other rooms: everything else builds on it.
//! Only atomics live here, so neither side ever waits for the other through it.
//!
//! `Shared` is no allocation of its own: it lives inside the control side's (`control.rs`),
//! the one allocation per track both sides point to, and the views keep that alive through
//! [`Owner`].

use std::sync::atomic::{fence, AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use atomic_waker::AtomicWaker;

use crate::Format;

/// State shared by the control side, the frame side and their helpers.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) format: Format,
    /// Set when the frame side (`Track`) is dropped.
    closed: AtomicBool,
    /// Requested by `pause`/`resume`; applied by the frame side at the next frame.
    pub(crate) pause_requested: AtomicBool,
    /// Set after a command is queued: the frame side reads this line every frame anyway,
    /// and looks at the mailbox (another allocation) only when it is set.
    pub(crate) commands_waiting: AtomicBool,
    /// Newest reply id an interrupt covers (0: none yet).
    pub(crate) interrupt_through: AtomicU64,
    /// What the frame side last applied, for `is_speaking`/`is_paused`.
    pub(crate) speaking: AtomicBool,
    pub(crate) paused: AtomicBool,
    /// Speech buffered and not yet played, and waking a producer waiting for room.
    pub(crate) room: Room,
    /// Where playback is, for ahead-delivering sinks' lead cap.
    pub(crate) play: PlayPosition,
    /// Woken when an event is queued (or the track closes).
    event_waker: AtomicWaker,
    pub(crate) counters: Counters,
    /// The output's momentary loudness (f32 bits; NaN: not metered or silent).
    pub(crate) output_lufs: AtomicU32,
}

impl Shared {
    pub(crate) fn new(format: Format) -> Self {
        Self {
            format,
            closed: AtomicBool::new(false),
            pause_requested: AtomicBool::new(false),
            commands_waiting: AtomicBool::new(false),
            interrupt_through: AtomicU64::new(0),
            speaking: AtomicBool::new(false),
            paused: AtomicBool::new(false),
            room: Room::default(),
            play: PlayPosition::default(),
            event_waker: AtomicWaker::new(),
            counters: Counters::default(),
            output_lufs: AtomicU32::new(f32::NAN.to_bits()),
        }
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// The frame side is gone: wake everyone who might wait on it.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.event_waker.wake();
        self.room.waker.wake();
    }

    /// An event was queued for the subscriber.
    pub(crate) fn wake_events(&self) {
        self.event_waker.wake();
    }

    /// Counters since the track was created (frames from the play position: the frame side
    /// keeps no second count of them).
    pub(crate) fn stats(&self) -> TrackStats {
        let frames = self.play.get().0 / self.format.frame_samples() as u64;
        self.counters.snapshot(frames)
    }
}

/// The allocation a track's [`Shared`] lives in; what the views hold to keep it alive.
pub(crate) trait Owner: Send + Sync + 'static {
    fn shared(&self) -> &Shared;
}

/// How much of the intake's bound (kept by the intake, control side only) is used; the
/// frame side releases room as it plays, and wakes a producer only when one announced it
/// waits.
#[derive(Debug, Default)]
pub(crate) struct Room {
    /// Values queued and not yet played, and [`WANTED`] once a producer waits for room
    /// (one word: a release learns whether to wake from the same read-modify-write).
    used: AtomicUsize,
    waker: AtomicWaker,
}

/// Set in [`Room`]'s count by a producer before it waits for room, so the frame side wakes
/// only then.
const WANTED: usize = 1 << (usize::BITS - 1);

impl Room {
    /// Values queued and not yet played.
    pub(crate) fn used(&self) -> usize {
        self.used.load(Ordering::Acquire) & !WANTED
    }

    /// The control side queued `values`.
    pub(crate) fn fill(&self, values: usize) {
        self.used.fetch_add(values, Ordering::AcqRel);
    }

    /// The frame side played or dropped `values`, or freed a ring slot (0 values): wake a
    /// waiting producer, if one announced it waits (frame side).
    pub(crate) fn release(&self, values: usize) {
        let before = if values > 0 {
            self.used.fetch_sub(values, Ordering::SeqCst)
        } else {
            // Orders the slot just freed before the load below (the other half of the
            // handshake in `poll_until`).
            fence(Ordering::SeqCst);
            self.used.load(Ordering::SeqCst)
        };
        if before & WANTED != 0 {
            self.used.fetch_and(!WANTED, Ordering::Relaxed);
            self.waker.wake();
        }
    }

    /// Room of another kind freed up (mark ring slots): wake a producer that waits (frame
    /// side).
    pub(crate) fn notify(&self) {
        self.release(0);
    }

    /// Wake a waiting producer whatever the room (interrupt, close: its push now fails).
    pub(crate) fn wake(&self) {
        self.waker.wake();
    }

    /// Ready once `ready()` holds. Dekker-style handshake with [`Room::release`]: announce,
    /// register, re-check (SeqCst), so a release between the check and the registration
    /// is never missed.
    pub(crate) fn poll_until<T>(
        &self,
        cx: &mut Context<'_>,
        mut ready: impl FnMut() -> Option<T>,
    ) -> Poll<T> {
        if let Some(v) = ready() {
            return Poll::Ready(v);
        }
        self.used.fetch_or(WANTED, Ordering::SeqCst);
        self.waker.register(cx.waker());
        fence(Ordering::SeqCst);
        match ready() {
            Some(v) => Poll::Ready(v),
            None => Poll::Pending,
        }
    }
}

/// Where playback is: the pts just after the newest rendered frame, and the reply played
/// last with how far it played (samples per channel). Written by the frame side once per
/// frame, read by any thread as one snapshot: a sequence lock (the writer makes the count
/// odd while it stores, readers retry a read that overlapped a store), so the three never
/// disagree and the frame side never waits.
#[derive(Debug, Default)]
pub(crate) struct PlayPosition {
    seq: AtomicU64,
    reply: AtomicU64,
    offset: AtomicU64,
    pts: AtomicU64,
}

impl PlayPosition {
    /// Publish a new position (frame side only: one writer).
    pub(crate) fn publish(&self, pts: u64, reply: u64, offset: u64) {
        let seq = self.seq.load(Ordering::Relaxed);
        self.seq.store(seq.wrapping_add(1), Ordering::Relaxed);
        fence(Ordering::Release);
        self.pts.store(pts, Ordering::Relaxed);
        self.reply.store(reply, Ordering::Relaxed);
        self.offset.store(offset, Ordering::Relaxed);
        self.seq.store(seq.wrapping_add(2), Ordering::Release);
    }

    /// (pts, reply id, offset), all from the same frame.
    pub(crate) fn get(&self) -> (u64, u64, u64) {
        loop {
            let before = self.seq.load(Ordering::Acquire);
            if before % 2 == 1 {
                std::hint::spin_loop();
                continue;
            }
            let read = (
                self.pts.load(Ordering::Relaxed),
                self.reply.load(Ordering::Relaxed),
                self.offset.load(Ordering::Relaxed),
            );
            fence(Ordering::Acquire);
            if self.seq.load(Ordering::Relaxed) == before {
                return read;
            }
        }
    }
}

/// Counters since the track was created.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TrackStats {
    /// Frames rendered.
    pub frames: u64,
    /// Frames that carried speech.
    pub speech_frames: u64,
    /// Frames inside a started, unfinished reply that ran short of audio.
    pub underruns: u64,
    /// Frames handed out late by a pacer (see [`crate::Pacer`]).
    pub late_frames: u64,
    /// Frames of speech dropped because a sink's queue was full.
    pub sink_drops: u64,
    /// Events dropped because the subscriber did not keep up.
    pub events_dropped: u64,
    /// Replies played to the end.
    pub replies_completed: u64,
    /// Replies ended by interrupt.
    pub replies_interrupted: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) speech_frames: AtomicU64,
    pub(crate) underruns: AtomicU64,
    pub(crate) late_frames: AtomicU64,
    pub(crate) sink_drops: AtomicU64,
    pub(crate) events_dropped: AtomicU64,
    pub(crate) replies_completed: AtomicU64,
    pub(crate) replies_interrupted: AtomicU64,
}

impl Counters {
    pub(crate) fn count(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn snapshot(&self, frames: u64) -> TrackStats {
        TrackStats {
            frames,
            speech_frames: self.speech_frames.load(Ordering::Relaxed),
            underruns: self.underruns.load(Ordering::Relaxed),
            late_frames: self.late_frames.load(Ordering::Relaxed),
            sink_drops: self.sink_drops.load(Ordering::Relaxed),
            events_dropped: self.events_dropped.load(Ordering::Relaxed),
            replies_completed: self.replies_completed.load(Ordering::Relaxed),
            replies_interrupted: self.replies_interrupted.load(Ordering::Relaxed),
        }
    }
}

/// What a sink's tap and worker see of their track: its format, where playback is (the
/// lead cap of ahead delivery), and the drop counter.
#[derive(Clone)]
pub(crate) struct SinkLink(Arc<dyn Owner>);

impl std::fmt::Debug for SinkLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("SinkLink").field(&self.format()).finish()
    }
}

impl SinkLink {
    pub(crate) fn new(owner: Arc<dyn Owner>) -> Self {
        Self(owner)
    }

    pub(crate) fn format(&self) -> Format {
        self.0.shared().format
    }

    /// (pts, reply id, offset) of what plays now, as the newest frame left it (one
    /// snapshot).
    pub(crate) fn now(&self) -> (u64, u64, u64) {
        self.0.shared().play.get()
    }

    pub(crate) fn count_drop(&self) {
        Counters::count(&self.0.shared().counters.sink_drops);
    }
}

/// What an event stream or a `Playback` future sees of its track: whether it is gone, and
/// the waker the frame side wakes when an event is queued.
#[derive(Clone)]
pub(crate) struct Liveness(Arc<dyn Owner>);

impl std::fmt::Debug for Liveness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Liveness").field(&self.format()).finish()
    }
}

impl Liveness {
    pub(crate) fn new(owner: Arc<dyn Owner>) -> Self {
        Self(owner)
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.0.shared().is_closed()
    }

    pub(crate) fn format(&self) -> Format {
        self.0.shared().format
    }

    /// Be woken with the next event (or when the track closes).
    pub(crate) fn wake_on_event(&self, waker: &Waker) {
        self.0.shared().event_waker.register(waker);
    }
}
