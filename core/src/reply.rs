//! One reply's intake, [`ReplyWriter`]: PCM pushed with back-pressure, refused once
//! interrupted; and [`Playback`], a future that resolves when the reply has been played.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use crate::events::{ReplyLoudness, ReplyOutcome};
use crate::intake::Intake;
use crate::reply_state::ReplyState;
use crate::shared::Liveness;
use crate::{Error, ReplyId};

/// A future of how a reply ended. Resolves once, on the frame that played the reply's last
/// sample (or when it was interrupted). Can be created and awaited at any time, before or
/// after the reply ends, any number of times: the outcome is never lost. To run code when
/// the reply ends, spawn a task that awaits it.
#[derive(Debug, Clone)]
pub struct Playback {
    state: Arc<ReplyState>,
    track: Liveness,
}

impl Playback {
    /// The reply this is about.
    pub fn reply(&self) -> ReplyId {
        self.state.id
    }

    /// The outcome if the reply has already ended.
    pub fn outcome(&self) -> Option<ReplyOutcome> {
        let format = self.track.format();
        self.state.outcome(format.sample_rate(), format.channels())
    }
}

impl Future for Playback {
    /// `None` only if the track was dropped before the reply ended.
    type Output = Option<ReplyOutcome>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let format = self.track.format();
        let (rate, channels) = (format.sample_rate(), format.channels());
        if let Some(outcome) = self.state.outcome(rate, channels) {
            return Poll::Ready(Some(outcome));
        }
        self.state.wake_on_outcome(cx.waker());
        if let Some(outcome) = self.state.outcome(rate, channels) {
            return Poll::Ready(Some(outcome));
        }
        if self.track.is_closed() {
            return Poll::Ready(None);
        }
        Poll::Pending
    }
}

/// The intake of one reply. Push PCM in chunks of any size, then [`ReplyWriter::finish`].
/// Dropping the writer finishes the reply too (what was pushed plays).
#[derive(Debug)]
pub struct ReplyWriter {
    intake: Arc<Intake>,
    state: Arc<ReplyState>,
    /// An odd trailing byte from the last `push_bytes`, completed by the next chunk.
    carry_byte: Option<u8>,
    /// The first channel of an incomplete stereo sample frame.
    carry_sample: Option<i16>,
    /// Measures the reply as it is pushed and applies its gain (when normalising).
    gain: Option<voxpace_loudness::ReplyGain>,
}

impl ReplyWriter {
    pub(crate) fn new(intake: Arc<Intake>, state: Arc<ReplyState>) -> Self {
        let gain = intake.reply_gain();
        if gain.is_some() {
            state.set_loudness(ReplyLoudness {
                measured_lufs: None,
                gain_db: 0.0,
            });
        }
        Self {
            intake,
            state,
            carry_byte: None,
            carry_sample: None,
            gain,
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
            track: Liveness::new(self.intake.shared()),
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
        let shared = self.intake.shared();
        let channels = shared.format.channels() as usize;
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
        let piece = shared.room.bound.max(channels);
        let piece = piece - piece % channels;
        if samples.len() <= piece {
            return self.push_piece(samples.into_boxed_slice()).await;
        }
        for part in samples.chunks(piece) {
            self.push_piece(part.to_vec().into_boxed_slice()).await?;
        }
        Ok(())
    }

    async fn push_piece(&mut self, mut piece: Box<[i16]>) -> Result<(), Error> {
        let channels = self.intake.shared().format.channels() as usize;
        loop {
            let start = self.state.accepted.load(Ordering::Acquire) / channels as u64;
            let end = start + (piece.len() / channels) as u64;
            // A piece carries at most a mark ring's worth of marks: split it before the
            // first mark that would not fit (rare: the ring holds 64).
            let split = self.state.text().split_before(start, end);
            let rest = split.map(|at| {
                let cut = (at - start) as usize * channels;
                let rest: Box<[i16]> = piece[cut..].into();
                piece = piece[..cut].into();
                rest
            });
            let len = piece.len();
            let marks = self.state.text().due(start + (len / channels) as u64);
            std::future::poll_fn(|cx| self.intake.poll_room(self.state.id, len, marks, cx)).await?;
            // Measured and scaled only once the piece is sure to go in (a push dropped while
            // it waits for room is retried with the same audio). Producer side: the frame
            // path only ever sees normalised speech.
            if let Some(gain) = self.gain.as_mut() {
                gain.process(&mut piece);
                self.state.set_loudness(ReplyLoudness {
                    measured_lufs: gain.measured_lufs(),
                    gain_db: gain.gain_db(),
                });
            }
            self.intake.push(&self.state, piece)?;
            match rest {
                Some(rest) => piece = rest,
                None => return Ok(()),
            }
        }
    }

    fn check_open(&self) -> Result<(), Error> {
        self.intake.check_writable(&self.state)
    }

    /// Add a text mark: `text` (a word, or a chunk with its own spacing, as a TTS engine's
    /// alignment gives it) is heard from sample `offset` of this reply (samples per channel
    /// in the track's format, from the reply's first sample). Add each mark before pushing
    /// the audio that carries it (marks may run ahead of the audio); marks come in playing
    /// order. The track reports [`Event::TextPlayed`](crate::Event::TextPlayed) on the frame
    /// that plays the mark's first sample, and the outcome's heard text is exactly the marks
    /// played.
    ///
    /// Fails with [`Error::MarkBehindAudio`] when audio at `offset` was already pushed,
    /// [`Error::MarkOutOfOrder`] when an earlier mark has a later offset, or when the reply
    /// no longer takes audio.
    pub fn mark(&mut self, offset: u64, text: &str) -> Result<(), Error> {
        self.intake.mark(&self.state, offset, text)
    }

    /// [`ReplyWriter::mark`] at a media time from the reply's start.
    pub fn mark_at(&mut self, at: Duration, text: &str) -> Result<(), Error> {
        let offset = self.intake.shared().format.samples_in(at);
        self.mark(offset, text)
    }

    /// The reply's whole text, when it has no timings: the outcome's heard text is then an
    /// estimate, split at word boundaries in proportion to the share of the reply's audio
    /// played ([`crate::estimate_heard`]). Marks, when given, take precedence.
    pub fn set_text(&mut self, text: impl Into<String>) -> Result<(), Error> {
        self.intake.check_writable(&self.state)?;
        self.state.text().set_whole(text.into());
        Ok(())
    }

    /// A handle that adds this reply's text from another task while this writer pushes
    /// its audio.
    pub fn text_marker(&self) -> TextMarker {
        TextMarker {
            intake: self.intake.clone(),
            state: self.state.clone(),
        }
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
        self.intake.finish(&self.state);
        if leftover > 0 {
            return Err(Error::PartialSample {
                reply: self.state.id,
                bytes: leftover,
            });
        }
        Ok(playback)
    }
}

/// Adds a reply's text marks and whole text from anywhere (see [`ReplyWriter::mark`] and
/// [`ReplyWriter::set_text`]), for producers whose alignments and audio arrive apart.
#[derive(Debug, Clone)]
pub struct TextMarker {
    intake: Arc<Intake>,
    state: Arc<ReplyState>,
}

impl TextMarker {
    /// The reply.
    pub fn reply(&self) -> ReplyId {
        self.state.id
    }

    /// See [`ReplyWriter::mark`].
    pub fn mark(&self, offset: u64, text: &str) -> Result<(), Error> {
        self.intake.mark(&self.state, offset, text)
    }

    /// See [`ReplyWriter::set_text`].
    pub fn set_text(&self, text: impl Into<String>) -> Result<(), Error> {
        self.intake.check_writable(&self.state)?;
        self.state.text().set_whole(text.into());
        Ok(())
    }
}

impl Drop for ReplyWriter {
    fn drop(&mut self) {
        self.intake.finish(&self.state);
    }
}
