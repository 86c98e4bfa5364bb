//! One reply's intake: PCM pushed with back-pressure, refused once interrupted, and a
//! [`Playback`] future that resolves when the reply has been played out.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use atomic_waker::AtomicWaker;

use crate::events::{Position, ReplyOutcome};
use crate::track::{Entry, Shared};
use crate::Error;

/// A reply's id. Ids increase by one per reply opened on a track, from 1; interrupting a
/// reply interrupts every reply with an id up to and including it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ReplyId(pub u64);

impl std::fmt::Display for ReplyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "#{}", self.0)
    }
}

const PENDING: u8 = 0;
const DONE: u8 = 1;

/// Shared between a reply's writer, its [`Playback`] futures and the frame side.
#[derive(Debug)]
pub(crate) struct ReplyState {
    pub(crate) id: ReplyId,
    /// Set once no more audio will come (finish, drop, or a newer reply opened).
    pub(crate) finished: AtomicBool,
    /// Interleaved values accepted from the producer.
    pub(crate) accepted: AtomicU64,
    state: AtomicU8,
    played_samples: AtomicU64,
    interrupted: AtomicBool,
    position: AtomicU8,
    end_pts: AtomicU64,
    waker: AtomicWaker,
}

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
            waker: AtomicWaker::new(),
        }
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

    /// Wake waiters when the track is gone without an outcome.
    pub(crate) fn wake_closed(&self) {
        self.waker.wake();
    }

    fn outcome(&self, sample_rate: u32) -> Option<ReplyOutcome> {
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
        })
    }
}

/// A future of how a reply ended. Resolves once, on the frame that played the reply's last
/// sample (or when it was interrupted). Can be created and awaited at any time, before or
/// after the reply ends, any number of times: the outcome is never lost.
#[derive(Debug, Clone)]
pub struct Playback {
    state: Arc<ReplyState>,
    shared: Arc<Shared>,
}

impl Playback {
    /// The reply this is about.
    pub fn reply(&self) -> ReplyId {
        self.state.id
    }

    /// The outcome if the reply has already ended.
    pub fn outcome(&self) -> Option<ReplyOutcome> {
        self.state.outcome(self.shared.format.sample_rate())
    }

    /// Call `callback` with the outcome once the reply ends (the seed's
    /// `on_last_audio_byte`), on a tokio task. Works whenever it is registered.
    pub fn on_done<F>(self, callback: F) -> tokio::task::JoinHandle<()>
    where
        F: FnOnce(ReplyOutcome) + Send + 'static,
    {
        tokio::spawn(async move {
            if let Some(outcome) = self.await {
                callback(outcome);
            }
        })
    }
}

impl Future for Playback {
    /// `None` only if the track was dropped before the reply ended.
    type Output = Option<ReplyOutcome>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let rate = self.shared.format.sample_rate();
        if let Some(outcome) = self.state.outcome(rate) {
            return Poll::Ready(Some(outcome));
        }
        self.state.waker.register(cx.waker());
        if let Some(outcome) = self.state.outcome(rate) {
            return Poll::Ready(Some(outcome));
        }
        if self.shared.closed.load(Ordering::Acquire) {
            return Poll::Ready(None);
        }
        Poll::Pending
    }
}

/// The intake of one reply. Push PCM in chunks of any size, then [`ReplyWriter::finish`].
/// Dropping the writer finishes the reply too (what was pushed plays).
#[derive(Debug)]
pub struct ReplyWriter {
    pub(crate) shared: Arc<Shared>,
    pub(crate) state: Arc<ReplyState>,
    /// An odd trailing byte from the last `push_bytes`, completed by the next chunk.
    carry_byte: Option<u8>,
    /// The first channel of an incomplete stereo sample frame.
    carry_sample: Option<i16>,
}

impl ReplyWriter {
    pub(crate) fn new(shared: Arc<Shared>, state: Arc<ReplyState>) -> Self {
        Self {
            shared,
            state,
            carry_byte: None,
            carry_sample: None,
        }
    }

    /// This reply's id.
    pub fn id(&self) -> ReplyId {
        self.state.id
    }

    /// A future of this reply's outcome (see [`Playback`]).
    pub fn playback(&self) -> Playback {
        Playback {
            state: self.state.clone(),
            shared: self.shared.clone(),
        }
    }

    /// Push signed 16-bit little-endian PCM bytes in the track's format. A chunk may end
    /// mid-sample: the odd byte is kept and completed by the next chunk. Waits while the
    /// track's bounded buffer is full.
    pub async fn push_bytes(&mut self, bytes: &[u8]) -> Result<(), Error> {
        self.check_open()?;
        let mut rest = bytes;
        let mut samples = Vec::with_capacity(bytes.len().div_ceil(2));
        if let Some(low) = self.carry_byte.take() {
            match rest.split_first() {
                Some((high, tail)) => {
                    samples.push(i16::from_le_bytes([low, *high]));
                    rest = tail;
                }
                None => {
                    self.carry_byte = Some(low);
                    return Ok(());
                }
            }
        }
        let mut pairs = rest.chunks_exact(2);
        samples.extend(pairs.by_ref().map(|p| i16::from_le_bytes([p[0], p[1]])));
        self.carry_byte = pairs.remainder().first().copied();
        self.push_owned(samples).await
    }

    /// Push interleaved samples in the track's format. A stereo chunk may end mid sample
    /// frame: the lone sample is kept for the next chunk. Waits while the buffer is full.
    pub async fn push_samples(&mut self, samples: &[i16]) -> Result<(), Error> {
        self.check_open()?;
        self.push_owned(samples.to_vec()).await
    }

    async fn push_owned(&mut self, mut samples: Vec<i16>) -> Result<(), Error> {
        let channels = self.shared.format.channels() as usize;
        if channels == 2 {
            if let Some(first) = self.carry_sample.take() {
                samples.insert(0, first);
            }
            if samples.len() % 2 == 1 {
                self.carry_sample = samples.pop();
            }
        }
        if samples.is_empty() {
            return Ok(());
        }
        // A chunk larger than the whole buffer goes in pieces, each waiting for room.
        let piece = self.shared.bound_values.max(channels);
        let piece = piece - piece % channels;
        if samples.len() <= piece {
            return self.push_piece(samples.into_boxed_slice()).await;
        }
        for part in samples.chunks(piece) {
            self.push_piece(part.to_vec().into_boxed_slice()).await?;
        }
        Ok(())
    }

    async fn push_piece(&mut self, piece: Box<[i16]>) -> Result<(), Error> {
        let len = piece.len();
        std::future::poll_fn(|cx| self.shared.poll_room(self.state.id, len, cx)).await?;
        self.shared.push_entry(&self.state, Entry::Pcm(piece))
    }

    fn check_open(&self) -> Result<(), Error> {
        self.shared.check_writable(&self.state)
    }

    /// No more audio for this reply. The tail shorter than one frame is padded with silence
    /// and played; the reply never runs into the next one. Returns the reply's [`Playback`].
    ///
    /// Fails with [`Error::PartialSample`] if an odd byte (or half a stereo sample frame)
    /// was left over; everything before it still plays.
    pub fn finish(mut self) -> Result<Playback, Error> {
        let playback = self.playback();
        let leftover = self.carry_byte.take().map(|_| 1).unwrap_or(0)
            + self.carry_sample.take().map(|_| 2).unwrap_or(0);
        self.shared.finish_reply(&self.state);
        if leftover > 0 {
            return Err(Error::PartialSample {
                reply: self.state.id,
                bytes: leftover,
            });
        }
        Ok(playback)
    }
}

impl Drop for ReplyWriter {
    fn drop(&mut self) {
        self.shared.finish_reply(&self.state);
    }
}
