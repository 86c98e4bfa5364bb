//! One reply's intake, [`ReplyWriter`]: PCM pushed with back-pressure, refused once
//! interrupted; and [`Playback`], a future that resolves when the reply has been played.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use crate::control::Control;
use crate::intake::{Carry, Input};
use crate::outcome::{ReplyLoudness, ReplyOutcome};
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

    /// Samples per channel its writer has had accepted so far.
    pub fn accepted(&self) -> u64 {
        accepted(&self.state, self.track.format())
    }

    /// True once the reply takes no more audio: finished, interrupted, its writer dropped,
    /// or a newer reply opened.
    pub fn is_finished(&self) -> bool {
        self.state.is_finished()
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

/// The intake of one reply. Push PCM in chunks of any size (one byte upward), then
/// [`ReplyWriter::finish`]. Dropping the writer finishes the reply too (what was pushed
/// plays).
///
/// Chunks are counted in samples: however small, they join the reply's queued audio at
/// once and play in real time. The `push_*` methods wait while the track's buffer is full
/// (back-pressure); the `try_push_*` methods take what fits now and never wait. Samples
/// and bytes are one little-endian stream: a chunk may end mid-sample or mid stereo frame,
/// and the rest waits for the next chunk.
#[derive(Debug)]
pub struct ReplyWriter {
    control: Arc<Control>,
    state: Arc<ReplyState>,
    /// The bytes of an incomplete sample frame from the last push.
    carry: Carry,
    /// Measures the reply as it is pushed and applies its gain (when normalising). Boxed:
    /// the meter's state is 2 KB, and a writer that does not normalise should not carry it.
    gain: Option<Box<voxpace_loudness::ReplyGain>>,
}

impl ReplyWriter {
    pub(crate) fn new(control: Arc<Control>, state: Arc<ReplyState>) -> Self {
        let gain = control.intake.reply_gain().map(Box::new);
        if gain.is_some() {
            state.set_loudness(ReplyLoudness {
                measured_lufs: None,
                gain_db: 0.0,
            });
        }
        Self {
            control,
            state,
            carry: Carry::default(),
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
            track: Liveness::new(self.control.clone()),
        }
    }

    /// Samples per channel accepted so far (queued, played or dropped by an interrupt).
    pub fn accepted(&self) -> u64 {
        accepted(&self.state, self.control.intake.shared().format)
    }

    /// How much of this reply is queued and not yet played.
    pub fn buffered(&self) -> Duration {
        let shared = self.control.intake.shared();
        let format = shared.format;
        let (_, playing, offset) = shared.play.get();
        let accepted = self.accepted();
        let queued = match playing.cmp(&self.state.id.0) {
            std::cmp::Ordering::Less => accepted,
            std::cmp::Ordering::Equal => accepted.saturating_sub(offset),
            std::cmp::Ordering::Greater => 0,
        };
        format.duration_of(queued)
    }

    /// Push signed 16-bit little-endian PCM bytes in the track's format. Waits while the
    /// track's buffer is full.
    pub async fn push_bytes(&mut self, bytes: &[u8]) -> Result<(), Error> {
        self.push(Input::Bytes(bytes)).await
    }

    /// Push interleaved samples in the track's format. Waits while the buffer is full.
    pub async fn push_samples(&mut self, samples: &[i16]) -> Result<(), Error> {
        self.push(Input::Samples(samples)).await
    }

    /// Push an owned buffer of interleaved samples. When it fits whole it joins the queue
    /// without being copied; otherwise it goes in as [`ReplyWriter::push_samples`] would.
    pub async fn push_vec(&mut self, samples: Vec<i16>) -> Result<(), Error> {
        match self.control.intake.try_adopt(
            &self.state,
            &self.carry,
            self.gain.as_deref_mut(),
            samples,
        )? {
            Ok(()) => {
                self.publish_loudness();
                Ok(())
            }
            Err(samples) => self.push_samples(&samples).await,
        }
    }

    /// Take as many of `samples` as fit now, without waiting; returns how many were taken
    /// (a prefix; 0 when the buffer is full). Push the rest later.
    pub fn try_push_samples(&mut self, samples: &[i16]) -> Result<usize, Error> {
        let taken = self.control.intake.try_push(
            &self.state,
            &mut self.carry,
            self.gain.as_deref_mut(),
            Input::Samples(samples),
        )?;
        self.publish_loudness();
        Ok(taken)
    }

    /// Take as many of `bytes` (16-bit little-endian PCM) as fit now, without waiting;
    /// returns how many were taken (a prefix; 0 when the buffer is full).
    pub fn try_push_bytes(&mut self, bytes: &[u8]) -> Result<usize, Error> {
        let taken = self.control.intake.try_push(
            &self.state,
            &mut self.carry,
            self.gain.as_deref_mut(),
            Input::Bytes(bytes),
        )?;
        self.publish_loudness();
        Ok(taken)
    }

    /// The gain's figures so far, for the outcome (when normalising).
    fn publish_loudness(&self) {
        if let Some(gain) = &self.gain {
            self.state.set_loudness(ReplyLoudness {
                measured_lufs: gain.measured_lufs(),
                gain_db: gain.gain_db(),
            });
        }
    }

    async fn push(&mut self, input: Input<'_>) -> Result<(), Error> {
        let mut rest = input;
        loop {
            let (intake, state, carry) = (&self.control.intake, &self.state, &mut self.carry);
            let gain = &mut self.gain;
            let taken = std::future::poll_fn(|cx| {
                intake.shared().room.poll_until(cx, || {
                    match intake.try_push(state, carry, gain.as_deref_mut(), rest) {
                        Ok(0) if rest.len() > 0 => None,
                        done => Some(done),
                    }
                })
            })
            .await?;
            self.publish_loudness();
            rest = rest.skip(taken);
            if rest.len() == 0 {
                return Ok(());
            }
        }
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
        self.control.intake.mark(&self.state, offset, text)
    }

    /// [`ReplyWriter::mark`] at a media time from the reply's start.
    pub fn mark_at(&mut self, at: Duration, text: &str) -> Result<(), Error> {
        let offset = self.control.intake.shared().format.samples_in(at);
        self.mark(offset, text)
    }

    /// The reply's whole text, when it has no timings: the outcome's heard text is then an
    /// estimate, split at word boundaries in proportion to the share of the reply's audio
    /// played ([`crate::estimate_heard`]). Marks, when given, take precedence.
    pub fn set_text(&mut self, text: impl Into<String>) -> Result<(), Error> {
        self.control.intake.check_writable(&self.state)?;
        self.state.text().set_whole(text.into());
        Ok(())
    }

    /// A handle that adds this reply's text from another task while this writer pushes
    /// its audio.
    pub fn text_marker(&self) -> TextMarker {
        TextMarker {
            control: self.control.clone(),
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
        let leftover = self.carry.len();
        self.carry.clear();
        self.control.intake.finish(&self.state);
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
    control: Arc<Control>,
    state: Arc<ReplyState>,
}

impl TextMarker {
    /// The reply.
    pub fn reply(&self) -> ReplyId {
        self.state.id
    }

    /// See [`ReplyWriter::mark`].
    pub fn mark(&self, offset: u64, text: &str) -> Result<(), Error> {
        self.control.intake.mark(&self.state, offset, text)
    }

    /// See [`ReplyWriter::set_text`].
    pub fn set_text(&self, text: impl Into<String>) -> Result<(), Error> {
        self.control.intake.check_writable(&self.state)?;
        self.state.text().set_whole(text.into());
        Ok(())
    }
}

impl Drop for ReplyWriter {
    fn drop(&mut self) {
        self.control.intake.finish(&self.state);
    }
}

fn accepted(state: &ReplyState, format: crate::Format) -> u64 {
    state.accepted.load(std::sync::atomic::Ordering::Relaxed) / format.channels() as u64
}
