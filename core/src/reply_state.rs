//! A reply's state shared by its writer, its `Playback` futures and the frame side: whether
//! more audio may come, how much was accepted, how the reply ended, and its text.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::task::Waker;

use atomic_waker::AtomicWaker;

use crate::outcome::{Position, ReplyLoudness, ReplyOutcome};
use crate::text::{Heard, TextLog};
use crate::ReplyId;

const PENDING: u8 = 0;
const DONE: u8 = 1;

#[derive(Debug)]
pub(crate) struct ReplyState {
    pub(crate) id: ReplyId,
    /// Set once no more audio will come (finish, drop, interrupt, or a newer reply opened).
    pub(crate) finished: AtomicBool,
    /// Interleaved values accepted from the producer.
    pub(crate) accepted: AtomicU64,
    state: AtomicU8,
    played_samples: AtomicU64,
    interrupted: AtomicBool,
    position: AtomicU8,
    end_pts: AtomicU64,
    /// The writer's loudness figures as two f32s (measured LUFS, NaN for none; gain dB),
    /// `NO_LOUDNESS` when the reply is not normalised.
    loudness: AtomicU64,
    waker: AtomicWaker,
    /// Marks and whole text: control side only (producers, event and outcome readers);
    /// the frame side never takes this lock.
    text: Mutex<TextLog>,
}

const NO_LOUDNESS: u64 = u64::MAX;

impl ReplyState {
    pub(crate) fn new(id: ReplyId) -> Self {
        Self {
            id,
            finished: AtomicBool::new(false),
            accepted: AtomicU64::new(0),
            state: AtomicU8::new(PENDING),
            played_samples: AtomicU64::new(0),
            interrupted: AtomicBool::new(false),
            position: AtomicU8::new(0),
            end_pts: AtomicU64::new(0),
            loudness: AtomicU64::new(NO_LOUDNESS),
            waker: AtomicWaker::new(),
            text: Mutex::new(TextLog::default()),
        }
    }

    pub(crate) fn is_finished(&self) -> bool {
        self.finished.load(Ordering::Acquire)
    }

    /// No more audio for this reply; true if it was open until now.
    pub(crate) fn mark_finished(&self) -> bool {
        !self.finished.swap(true, Ordering::AcqRel)
    }

    /// Record the outcome and wake whoever awaits it (frame side; lock-free).
    pub(crate) fn complete(&self, outcome: &ReplyOutcome) {
        self.played_samples
            .store(outcome.played_samples, Ordering::Relaxed);
        self.interrupted
            .store(outcome.interrupted, Ordering::Relaxed);
        self.position.store(
            match outcome.position {
                Position::Exact => 0,
                Position::Reported => 1,
                Position::Estimated => 2,
            },
            Ordering::Relaxed,
        );
        self.end_pts.store(outcome.pts, Ordering::Relaxed);
        self.state.store(DONE, Ordering::Release);
        self.waker.wake();
    }

    /// The writer's latest loudness figures (producer side, after each push).
    pub(crate) fn set_loudness(&self, l: ReplyLoudness) {
        let measured = l.measured_lufs.unwrap_or(f32::NAN).to_bits() as u64;
        let gain = l.gain_db.to_bits() as u64;
        self.loudness
            .store(measured << 32 | gain, Ordering::Relaxed);
    }

    pub(crate) fn loudness(&self) -> Option<ReplyLoudness> {
        let bits = self.loudness.load(Ordering::Relaxed);
        (bits != NO_LOUDNESS).then(|| {
            let measured = f32::from_bits((bits >> 32) as u32);
            ReplyLoudness {
                measured_lufs: (!measured.is_nan()).then_some(measured),
                gain_db: f32::from_bits(bits as u32),
            }
        })
    }

    /// Wake waiters when the track is gone without an outcome.
    pub(crate) fn wake_closed(&self) {
        self.waker.wake();
    }

    pub(crate) fn wake_on_outcome(&self, waker: &Waker) {
        self.waker.register(waker);
    }

    /// The reply's text (control side).
    pub(crate) fn text(&self) -> MutexGuard<'_, TextLog> {
        // Nothing panics while holding it; recover if a caller's code did.
        self.text.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// What was heard of this reply's text when `played` samples per channel of it played.
    pub(crate) fn heard(&self, played: u64, channels: u16) -> Option<Heard> {
        let accepted = self.accepted.load(Ordering::Acquire) / channels as u64;
        self.text().heard(played, accepted)
    }

    pub(crate) fn outcome(&self, sample_rate: u32, channels: u16) -> Option<ReplyOutcome> {
        if self.state.load(Ordering::Acquire) != DONE {
            return None;
        }
        let played_samples = self.played_samples.load(Ordering::Relaxed);
        Some(ReplyOutcome {
            reply: self.id,
            played_samples,
            played: std::time::Duration::from_nanos(
                (played_samples as u128 * 1_000_000_000 / sample_rate as u128) as u64,
            ),
            interrupted: self.interrupted.load(Ordering::Relaxed),
            position: match self.position.load(Ordering::Relaxed) {
                0 => Position::Exact,
                1 => Position::Reported,
                _ => Position::Estimated,
            },
            pts: self.end_pts.load(Ordering::Relaxed),
            loudness: self.loudness(),
            heard: self.heard(played_samples, channels),
        })
    }
}
