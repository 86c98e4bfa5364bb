//! The decode + resample worker of one playing file: a std thread that keeps the source's
//! bounded ring topped up, far from the frame clock.
//!
//! Why a std thread and not a tokio task: decoding is blocking CPU work plus file reads
//! that lasts as long as the music plays, so it would pin a blocking-pool thread anyway;
//! a plain thread needs no runtime (a `FrameClock` user may have none), and the number of
//! threads is bounded by [`MAX_VOICES`](crate::MAX_VOICES). The thread sleeps whenever
//! the ring is full, so an idle source costs a wake-up every few milliseconds.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::{self, Thread};
use std::time::Duration;

use rtrb::{Consumer, Producer, RingBuffer};
use voxpace_core::Format;

use crate::decode::FileDecoder;
use crate::dsp::samples;
use crate::events::{EventHub, SourceEvent, SourceId};
use crate::resample::StreamResampler;
use crate::{Error, Looping};

/// Resampler input chunk on the worker: large, for throughput (latency does not matter here).
const WORKER_CHUNK: usize = 1024;
/// A failing source fades out over this much of its last decoded audio.
pub(crate) const FAIL_FADE: Duration = Duration::from_millis(20);

/// State shared between one worker and the mixer voice reading its ring.
#[derive(Debug, Default)]
pub(crate) struct VoiceShared {
    /// Set by the mixer side when the voice leaves the mix: the worker exits.
    pub(crate) stop: AtomicBool,
    /// Set by the worker after its last sample is in the ring.
    pub(crate) finished: AtomicBool,
    pub(crate) failed: AtomicBool,
    /// Samples the worker has written / the mixer has read (for `wait_buffered`).
    pub(crate) written: AtomicU64,
    pub(crate) read: AtomicU64,
}

pub(crate) struct Spawned {
    pub(crate) rx: Consumer<f32>,
    pub(crate) shared: Arc<VoiceShared>,
    pub(crate) thread: Thread,
}

pub(crate) struct WorkerSpec {
    pub(crate) id: SourceId,
    pub(crate) path: PathBuf,
    pub(crate) looping: Looping,
    /// Measure the file first and scale it to this loudness (LUFS).
    pub(crate) normalised: Option<f32>,
    pub(crate) format: Format,
    /// Ring capacity in samples (interleaved).
    pub(crate) capacity: usize,
}

/// Start the worker for an already opened (validated) file.
pub(crate) fn spawn(
    decoder: FileDecoder,
    spec: WorkerSpec,
    hub: Arc<EventHub>,
) -> Result<Spawned, Error> {
    let channels = spec.format.channels() as usize;
    let resampler = StreamResampler::new(
        decoder.sample_rate(),
        spec.format.sample_rate(),
        channels,
        WORKER_CHUNK,
    )?;
    let (tx, rx) = RingBuffer::new(spec.capacity);
    let shared = Arc::new(VoiceShared::default());
    let worker = Worker {
        decoder,
        resampler,
        tx,
        shared: shared.clone(),
        hub,
        channels,
        poll: poll_interval(spec.format, spec.capacity),
        spec,
        decoded: Vec::new(),
        trim_head: 0,
        out: Vec::new(),
        out_pos: 0,
        gain: 1.0,
    };
    let handle = thread::Builder::new()
        .name("voxpace-source".into())
        .spawn(move || worker.run())
        .map_err(|e| Error::Io {
            path: PathBuf::new(),
            message: format!("cannot start a decoder thread: {e}"),
        })?;
    Ok(Spawned {
        rx,
        shared,
        thread: handle.thread().clone(),
    })
}

/// Sleep between top-ups: an eighth of the ring, between 2 and 20 ms.
fn poll_interval(format: Format, capacity: usize) -> Duration {
    let per_second = format.sample_rate() as u64 * format.channels() as u64;
    let ring = Duration::from_micros(capacity as u64 * 1_000_000 / per_second);
    (ring / 8).clamp(Duration::from_millis(2), Duration::from_millis(20))
}

/// Frames held back when AAC seams are trimmed: more than the largest end padding.
const AAC_SEAM_FRAMES: usize = 4096;
/// The encoder delay of AAC-LC as ffmpeg, FDK and Nero write it (decodes as a quiet ramp).
const AAC_PRIMING_FRAMES: usize = 1024;
/// The end padding decodes as digital silence; below -60 dBFS counts as it.
const SEAM_SILENCE: f32 = 1e-3;

struct Worker {
    decoder: FileDecoder,
    resampler: StreamResampler,
    tx: Producer<f32>,
    shared: Arc<VoiceShared>,
    hub: Arc<EventHub>,
    spec: WorkerSpec,
    channels: usize,
    poll: Duration,
    /// Decoded audio at the file's rate, not yet resampled. Its last frames are held back
    /// (see `hold`) so a loop seam can be crossfaded and a failure faded out.
    decoded: Vec<f32>,
    /// Frames still to skip at the head of the pass being decoded (AAC priming after a
    /// loop seam).
    trim_head: usize,
    /// Resampled audio not yet in the ring.
    out: Vec<f32>,
    out_pos: usize,
    /// The loudness gain (linear) applied to everything resampled.
    gain: f32,
}

enum Step {
    Continue,
    Done,
}

impl Worker {
    fn run(mut self) {
        if let Some(target) = self.spec.normalised {
            self.measure(target);
        }
        self.run_until_done();
        // Also on cancellation: nothing more will come, and `wait_buffered` must not wait
        // for a source whose mixer is gone.
        self.shared.finished.store(true, Ordering::Release);
    }

    fn run_until_done(&mut self) {
        loop {
            if self.cancelled() {
                return;
            }
            if !self.drain_some() {
                thread::park_timeout(self.poll);
                continue;
            }
            match self.decode_step() {
                Ok(Step::Continue) => {}
                Ok(Step::Done) => {
                    self.finish_stream(false);
                    return;
                }
                Err(error) => {
                    self.hub.send(SourceEvent::Failed {
                        id: self.spec.id,
                        path: self.spec.path.clone(),
                        error,
                    });
                    self.shared.failed.store(true, Ordering::Release);
                    self.finish_stream(true);
                    return;
                }
            }
        }
    }

    /// Set the gain that brings the file to `target` LUFS, and say so. A file that fails to
    /// measure plays as recorded (its decoding reports the failure).
    fn measure(&mut self, target: f32) {
        let Ok(measured) = crate::loudness::measure(&self.spec.path, self.channels) else {
            return;
        };
        let gain_db = crate::loudness::gain_db(measured, target);
        self.gain = voxpace_loudness::db_to_gain(gain_db);
        self.hub.send(SourceEvent::Measured {
            id: self.spec.id,
            path: self.spec.path.clone(),
            loudness_lufs: measured.map(|m| m as f32),
            gain_db,
        });
    }

    fn cancelled(&self) -> bool {
        self.shared.stop.load(Ordering::Acquire) || self.tx.is_abandoned()
    }

    /// Frames held back from the resampler at the end of `decoded`.
    fn hold_frames(&self) -> usize {
        let rate = self.decoder.sample_rate();
        let xfade = match self.spec.looping {
            Looping::Crossfade(d) => samples(d, rate) as usize,
            _ => 0,
        };
        let seam = if self.trims_seams() {
            AAC_SEAM_FRAMES
        } else {
            0
        };
        xfade.max(seam).max(samples(FAIL_FADE, rate) as usize)
    }

    /// AAC in MP4 starts with encoder priming and ends with frame padding, which symphonia
    /// 0.6 does not trim (it ignores the MP4 edit list): looped as is, each seam would be a
    /// gap of up to ~130 ms. Exact codecs are never trimmed, so their seams stay exact.
    fn trims_seams(&self) -> bool {
        self.spec.looping == Looping::Gapless && self.decoder.info().codec == "aac"
    }

    /// Push resampled output into the ring; true once all of it is in.
    fn drain_some(&mut self) -> bool {
        let pending = &self.out[self.out_pos..];
        if pending.is_empty() {
            return true;
        }
        let free = self.tx.slots();
        let n = (free - free % self.channels).min(pending.len());
        if n > 0 {
            if let Ok(mut chunk) = self.tx.write_chunk(n) {
                let (a, b) = chunk.as_mut_slices();
                let split = a.len();
                a.copy_from_slice(&pending[..split]);
                b.copy_from_slice(&pending[split..n]);
                chunk.commit_all();
                self.out_pos += n;
                self.shared.written.fetch_add(n as u64, Ordering::Release);
            }
        }
        if self.out_pos == self.out.len() {
            self.out.clear();
            self.out_pos = 0;
            true
        } else {
            false
        }
    }

    /// Decode one block (or handle the end of a pass) and resample what is not held back.
    fn decode_step(&mut self) -> Result<Step, Error> {
        let before = self.decoded.len();
        if self.decoder.next_block(&mut self.decoded)? {
            if self.trim_head > 0 {
                self.trim_priming(before);
            }
            self.resample_all_but(self.hold_frames());
            return Ok(Step::Continue);
        }
        match self.spec.looping {
            Looping::Once => Ok(Step::Done),
            Looping::Gapless => {
                // A new decoder (rather than a seek) restarts every codec cleanly; it reads
                // the file already open (`rewind`), so no loop needs a new descriptor. The resampler
                // keeps running, so the seam is the file's end followed by its start (for AAC,
                // without its priming and padding: see `trims_seams`).
                if self.trims_seams() {
                    self.trim_silent_tail();
                    self.trim_head = AAC_PRIMING_FRAMES;
                }
                self.decoder = self.decoder.rewind()?;
                Ok(Step::Continue)
            }
            Looping::Crossfade(d) => {
                let next = self.decoder.rewind()?;
                self.decoder = next;
                let want = samples(d, self.decoder.sample_rate()) as usize;
                self.crossfade_seam(want)?;
                Ok(Step::Continue)
            }
        }
    }

    /// Skip what is left of the priming at the start of the pass, which begins at `from`
    /// in `decoded`.
    fn trim_priming(&mut self, from: usize) {
        let ch = self.channels;
        let skip = self.trim_head.min((self.decoded.len() - from) / ch);
        self.decoded.drain(from..from + skip * ch);
        self.trim_head -= skip;
    }

    /// Drop near-silent frames from the end of the held-back tail of a finished pass.
    fn trim_silent_tail(&mut self) {
        let ch = self.channels;
        let silent = self
            .decoded
            .chunks_exact(ch)
            .rev()
            .take_while(|f| f.iter().all(|s| s.abs() < SEAM_SILENCE))
            .count();
        self.decoded.truncate(self.decoded.len() - silent * ch);
    }

    /// Overlap the held-back tail of the previous pass with the start of the next one.
    fn crossfade_seam(&mut self, want: usize) -> Result<(), Error> {
        let ch = self.channels;
        let tail = self.decoded.len() / ch;
        let mut head = Vec::new();
        while head.len() / ch < want.min(tail) {
            if !self.decoder.next_block(&mut head)? {
                break;
            }
        }
        let len = want.min(tail).min(head.len() / ch);
        let start = (tail - len) * ch;
        for k in 0..len {
            let t = (k as f32 + 0.5) / len as f32 * std::f32::consts::FRAC_PI_2;
            let (out_gain, in_gain) = (t.cos(), t.sin());
            for c in 0..ch {
                let i = start + k * ch + c;
                self.decoded[i] = self.decoded[i] * out_gain + head[k * ch + c] * in_gain;
            }
        }
        self.decoded.extend_from_slice(&head[len * ch..]);
        Ok(())
    }

    fn resample_all_but(&mut self, hold: usize) {
        let keep = hold * self.channels;
        if self.decoded.len() <= keep {
            return;
        }
        let n = self.decoded.len() - keep;
        let (out, gain) = (&mut self.out, self.gain);
        self.resampler
            .push(&self.decoded[..n], &mut |o| extend_scaled(out, o, gain));
        self.decoded.drain(..n);
    }

    /// The stream is over: resample the tail (faded out when failing), flush, drain.
    fn finish_stream(&mut self, fade: bool) {
        let ch = self.channels;
        if fade {
            let frames = self.decoded.len() / ch;
            let fade_len = frames.min(samples(FAIL_FADE, self.decoder.sample_rate()) as usize);
            let start = frames - fade_len;
            for k in 0..frames {
                let g = if k < start {
                    1.0
                } else {
                    1.0 - (k - start + 1) as f32 / fade_len as f32
                };
                for c in 0..ch {
                    self.decoded[k * ch + c] *= g;
                }
            }
        }
        self.resample_all_but(0);
        let (out, gain) = (&mut self.out, self.gain);
        self.resampler.flush(&mut |o| extend_scaled(out, o, gain));
        if fade {
            // The resampler's ringing after the fade is already near silence; make sure the
            // last samples are exactly zero so the source ends without a step.
            let n = self.out.len().min(ch * 8);
            let len = self.out.len();
            self.out[len - n..].fill(0.0);
        }
        while !self.drain_some() {
            if self.cancelled() {
                return;
            }
            thread::park_timeout(self.poll);
        }
        self.shared.finished.store(true, Ordering::Release);
    }
}

fn extend_scaled(out: &mut Vec<f32>, samples: &[f32], gain: f32) {
    if gain == 1.0 {
        out.extend_from_slice(samples);
    } else {
        out.extend(samples.iter().map(|s| s * gain));
    }
}
