//! The decode + resample worker of one playing file: a std thread that keeps the source's
//! bounded ring topped up, far from the frame clock.
//!
//! Why a std thread and not a tokio task: decoding is blocking CPU work plus file reads
//! that lasts as long as the music plays, so it would pin a blocking-pool thread anyway;
//! a plain thread needs no runtime (a `FrameClock` user may have none), and the number of
//! threads is bounded by [`MAX_VOICES`](crate::MAX_VOICES).
//!
//! The thread fills the ring, then parks without a timeout until the mix has read it down
//! to half (the low-water mark, [`VoiceShared::low_water`]): the mixer unparks it on that
//! edge. A steady source therefore wakes once per half ring of audio (5 times a second
//! with the default 400 ms buffer), not on a timer.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{fence, AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, Thread};
use std::time::Duration;

use rtrb::{Consumer, Producer, RingBuffer};
use voxpace_core::Format;

use crate::decode::FileDecoder;
use crate::dsp::samples;
use crate::events::{EventHub, Recovery, Report, SourceId};
use crate::resample::StreamResampler;
use crate::{Error, Looping};

/// Resampler input chunk on the worker: large, for throughput (latency does not matter here).
const WORKER_CHUNK: usize = 1024;
/// A failing source fades out over this much of its last decoded audio.
pub(crate) const FAIL_FADE: Duration = Duration::from_millis(20);

/// A looping source that cannot go on restarts from the top at most this many times in a
/// row (a pass that plays to its end resets the count); then it fails for good.
pub const MAX_RESTARTS: u32 = 3;
/// Damage reports waiting for the mix per source (more are dropped: the file is a wreck
/// and the first ones say so).
const MAX_PENDING_REPORTS: usize = 32;
/// A restarted pass fades in over this long, so the jump back to the top does not click.
const RESTART_FADE: Duration = Duration::from_millis(5);

/// State shared between one worker and the mixer voice reading its ring.
#[derive(Debug)]
pub(crate) struct VoiceShared {
    pub(crate) id: SourceId,
    pub(crate) path: PathBuf,
    pub(crate) channels: u64,
    /// Set by the mixer side when the voice leaves the mix: the worker exits.
    pub(crate) stop: AtomicBool,
    /// Set by the worker after its last sample is in the ring.
    pub(crate) finished: AtomicBool,
    pub(crate) failed: AtomicBool,
    /// Samples the worker has written / the mixer has read (for `wait_buffered`).
    pub(crate) written: AtomicU64,
    pub(crate) read: AtomicU64,
    /// The track pts of the source's first mixed sample (`u64::MAX` until it starts).
    pub(crate) start_pts: AtomicU64,
    /// Set by the worker while it is parked waiting for the mix to drain the ring to
    /// `low_water`; the mixer clears it when it unparks the worker (so it unparks once).
    pub(crate) waiting: AtomicBool,
    /// Samples left in the ring at or below which a waiting worker is woken (half the ring).
    pub(crate) low_water: usize,
    /// `read` position of the earliest report the janitor has not been asked to send yet
    /// (`u64::MAX`: none). The mixer rings the janitor when `read` reaches it.
    pub(crate) next_due: AtomicU64,
    /// What the worker found, in the order of the source's output; sent as events once
    /// the mix has read up to each one (`deliver_due`).
    pub(crate) reports: Mutex<VecDeque<Report>>,
}

impl VoiceShared {
    /// `capacity`: the ring's size in samples.
    pub(crate) fn new(id: SourceId, path: PathBuf, channels: usize, capacity: usize) -> Self {
        Self {
            id,
            path,
            channels: channels.max(1) as u64,
            stop: AtomicBool::new(false),
            finished: AtomicBool::new(false),
            failed: AtomicBool::new(false),
            written: AtomicU64::new(0),
            read: AtomicU64::new(0),
            start_pts: AtomicU64::new(u64::MAX),
            waiting: AtomicBool::new(false),
            low_water: capacity / 2,
            next_due: AtomicU64::new(u64::MAX),
            reports: Mutex::new(VecDeque::new()),
        }
    }

    fn report(&self, report: Report) {
        let mut q = self.reports.lock().unwrap_or_else(|p| p.into_inner());
        if q.len() < MAX_PENDING_REPORTS || report.recovery.is_none() {
            // Reports come in output order, so only the first one sets the mark; with
            // others queued, the mark is already at or before this one, or the janitor
            // was rung and sets it anew after sending (`deliver_due`).
            if q.is_empty() {
                self.next_due.store(report.at, Ordering::Release);
            }
            q.push_back(report);
        }
    }

    /// Called by the mixer after it read the ring down to `buffered` samples: true (once
    /// per wait) when the worker is parked and must be unparked to top the ring up.
    pub(crate) fn needs_top_up(&self, buffered: usize) -> bool {
        if buffered > self.low_water {
            return false;
        }
        // Pairs with the fence in `Worker::wait_for_room`: either the worker sees the
        // ring drained, or this sees it waiting.
        fence(Ordering::SeqCst);
        self.waiting.load(Ordering::Relaxed) && self.waiting.swap(false, Ordering::Relaxed)
    }

    /// Called by the mixer after it read up to `read`: true (once per mark) when a report
    /// became due and the janitor must send it.
    pub(crate) fn report_due(&self, read: u64) -> bool {
        read >= self.next_due.load(Ordering::Acquire)
            && self.next_due.swap(u64::MAX, Ordering::AcqRel) != u64::MAX
    }

    /// Send every report the mix has reached as an event (all of them if `all`, for a
    /// source leaving the mix: those it never reached are dropped unheard).
    pub(crate) fn deliver_due(&self, hub: &EventHub, leaving: bool) {
        let start = self.start_pts.load(Ordering::Acquire);
        if start == u64::MAX {
            if leaving {
                self.reports
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .clear();
            }
            return;
        }
        let read = self.read.load(Ordering::Acquire);
        let mut q = self.reports.lock().unwrap_or_else(|p| p.into_inner());
        while q.front().is_some_and(|r| r.at <= read) {
            let r = q.pop_front().expect("checked");
            let pts = start + r.at / self.channels;
            hub.send(r.into_event(self.id, self.path.clone(), pts));
        }
        if leaving {
            q.clear();
        }
        // A mark the mix passed meanwhile is seen by its next frame, which rings again.
        let next = q.front().map_or(u64::MAX, |r| r.at);
        self.next_due.store(next, Ordering::Release);
    }
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
    /// Counts the worker's wake-ups from waiting for room (the background's stats).
    pub(crate) wakeups: Arc<AtomicU64>,
}

/// Start the worker for an already opened (validated) file.
pub(crate) fn spawn(decoder: FileDecoder, spec: WorkerSpec) -> Result<Spawned, Error> {
    let channels = spec.format.channels() as usize;
    let resampler = StreamResampler::new(
        decoder.sample_rate(),
        spec.format.sample_rate(),
        channels,
        WORKER_CHUNK,
    )?;
    let (tx, rx) = RingBuffer::new(spec.capacity);
    let shared = Arc::new(VoiceShared::new(
        spec.id,
        spec.path.clone(),
        channels,
        spec.capacity,
    ));
    let worker = Worker {
        decoder,
        resampler,
        tx,
        shared: shared.clone(),
        channels,
        spec,
        decoded: Vec::new(),
        in_frames: 0,
        pass_start: 0,
        restarts: 0,
        fade_in: 0,
        produced: 0,
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

struct Worker {
    decoder: FileDecoder,
    resampler: StreamResampler,
    tx: Producer<f32>,
    shared: Arc<VoiceShared>,
    spec: WorkerSpec,
    channels: usize,
    /// Decoded audio at the file's rate, not yet resampled. Its last frames are held back
    /// (see `hold`) so a loop seam can be crossfaded and a failure faded out.
    decoded: Vec<f32>,
    /// Frames (at the file's rate) appended to `decoded` so far, over all passes.
    in_frames: u64,
    /// `in_frames` when the current pass started.
    pass_start: u64,
    /// Restarts after a failure in a row.
    restarts: u32,
    /// Frames of the pass being decoded still to fade in (after a restart).
    fade_in: usize,
    /// Samples resampled into `out` so far (the source's output position).
    produced: u64,
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
                self.wait_for_room();
                continue;
            }
            match self.decode_step() {
                Ok(Step::Continue) => {}
                Ok(Step::Done) => {
                    self.finish_stream(None);
                    return;
                }
                Err(error) => {
                    if self.spec.looping != Looping::Once && self.restarts < MAX_RESTARTS {
                        match self.restart(error) {
                            Ok(()) => continue,
                            Err(error) => self.fail(error),
                        }
                    } else {
                        self.fail(error);
                    }
                    return;
                }
            }
        }
    }

    /// Set the gain that brings the file to `target` LUFS. A file that fails to measure
    /// plays as recorded (its decoding reports the failure).
    fn measure(&mut self, target: f32) {
        let Ok(measured) = crate::loudness::measure(&self.spec.path, self.channels) else {
            return;
        };
        self.gain = voxpace_loudness::db_to_gain(crate::loudness::gain_db(measured, target));
    }

    /// The file cannot go on: fade out what is decoded, and report the failure where the
    /// source ends.
    fn fail(&mut self, error: Error) {
        self.shared.failed.store(true, Ordering::Release);
        self.finish_stream(Some(error));
    }

    /// A looping file broke mid-pass: report it where it is heard, fade the pass out and
    /// start again from the top.
    fn restart(&mut self, error: Error) -> Result<(), Error> {
        self.restarts += 1;
        let at = self.output_position(self.in_frames);
        self.shared.report(Report {
            at,
            error,
            recovery: Some(Recovery::Restarted {
                attempt: self.restarts,
            }),
        });
        self.fade_out_tail();
        self.decoder = self.decoder.rewind()?;
        self.pass_start = self.in_frames;
        self.fade_in = samples(RESTART_FADE, self.decoder.sample_rate()) as usize;
        Ok(())
    }

    /// Where input frame `in_frame` (counted over all passes) comes out, in interleaved
    /// samples of the source's output: the resampler is delay-compensated, so output is
    /// aligned with input.
    fn output_position(&self, in_frame: u64) -> u64 {
        let (i, o) = (
            self.decoder.sample_rate().max(1) as u128,
            self.spec.format.sample_rate() as u128,
        );
        (in_frame as u128 * o / i) as u64 * self.channels as u64
    }

    /// Report the damage the decoder skipped in the block just decoded.
    fn report_damage(&mut self) {
        for d in self.decoder.take_damage() {
            let frames = samples(d.at, self.decoder.sample_rate());
            let at = self.output_position(self.pass_start + frames);
            self.shared.report(Report {
                at,
                error: d.error,
                recovery: Some(Recovery::Skipped),
            });
        }
    }

    /// Fade the held-back tail of `decoded` to silence over `FAIL_FADE`.
    fn fade_out_tail(&mut self) {
        let ch = self.channels;
        let frames = self.decoded.len() / ch;
        let fade_len = frames.min(samples(FAIL_FADE, self.decoder.sample_rate()) as usize);
        let start = frames - fade_len;
        for k in start..frames {
            let g = 1.0 - (k - start + 1) as f32 / fade_len as f32;
            for c in 0..ch {
                self.decoded[k * ch + c] *= g;
            }
        }
    }

    /// The ring is full: park until the mix has drained it to the low-water mark (the
    /// mixer unparks on that edge) or the source is stopped (whoever sets `stop` or drops
    /// the voice unparks too). A spurious return just comes back here after a top-up try.
    fn wait_for_room(&mut self) {
        let shared = &self.shared;
        shared.waiting.store(true, Ordering::Relaxed);
        // Pairs with the fence in `VoiceShared::needs_top_up` (see there).
        fence(Ordering::SeqCst);
        let buffered = self.spec.capacity - self.tx.slots();
        if buffered > shared.low_water && !self.cancelled() {
            thread::park();
            self.spec.wakeups.fetch_add(1, Ordering::Relaxed);
        }
        shared.waiting.store(false, Ordering::Relaxed);
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
        xfade.max(samples(FAIL_FADE, rate) as usize)
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
        let more = self.decoder.next_block(&mut self.decoded);
        self.report_damage();
        if more? {
            let ch = self.channels;
            self.apply_fade_in(before);
            self.in_frames += ((self.decoded.len() - before) / ch) as u64;
            self.resample_all_but(self.hold_frames());
            return Ok(Step::Continue);
        }
        // A pass that played to its end: the file is fine again.
        self.restarts = 0;
        match self.spec.looping {
            Looping::Once => Ok(Step::Done),
            Looping::Gapless => {
                // A new decoder (rather than a seek) restarts every codec cleanly; it reads
                // the file already open (`rewind`), so no loop needs a new descriptor. The
                // resampler keeps running, so the seam is the file's last real frame followed
                // by its first (the decoder drops encoder delay and padding the container marks).
                self.decoder = self.decoder.rewind()?;
                self.pass_start = self.in_frames;
                Ok(Step::Continue)
            }
            Looping::Crossfade(d) => {
                let next = self.decoder.rewind()?;
                self.decoder = next;
                let want = samples(d, self.decoder.sample_rate()) as usize;
                let before = self.decoded.len();
                let overlap = want.min(before / self.channels) as u64;
                self.crossfade_seam(want)?;
                self.pass_start = self.in_frames.saturating_sub(overlap);
                self.in_frames += ((self.decoded.len() - before) / self.channels) as u64;
                Ok(Step::Continue)
            }
        }
    }

    /// Fade in the start of a pass after a restart (the block starts at `from`).
    fn apply_fade_in(&mut self, from: usize) {
        if self.fade_in == 0 {
            return;
        }
        let ch = self.channels;
        let total = samples(RESTART_FADE, self.decoder.sample_rate()).max(1) as usize;
        for frame in self.decoded[from..].chunks_exact_mut(ch) {
            if self.fade_in == 0 {
                break;
            }
            let g = (total - self.fade_in) as f32 / total as f32;
            frame.iter_mut().for_each(|x| *x *= g);
            self.fade_in -= 1;
        }
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
        let (out, produced, gain) = (&mut self.out, &mut self.produced, self.gain);
        self.resampler.push(&self.decoded[..n], &mut |o| {
            *produced += o.len() as u64;
            extend_scaled(out, o, gain)
        });
        self.decoded.drain(..n);
    }

    /// The stream is over: resample the tail (faded out when failing), flush, drain. A
    /// failure is reported at the source's very end, after the fade.
    fn finish_stream(&mut self, failure: Option<Error>) {
        let ch = self.channels;
        let fade = failure.is_some();
        if fade {
            self.fade_out_tail();
        }
        self.resample_all_but(0);
        let (out, produced, gain) = (&mut self.out, &mut self.produced, self.gain);
        self.resampler.flush(&mut |o| {
            *produced += o.len() as u64;
            extend_scaled(out, o, gain)
        });
        if fade {
            // The resampler's ringing after the fade is already near silence; make sure the
            // last samples are exactly zero so the source ends without a step.
            let n = self.out.len().min(ch * 8);
            let len = self.out.len();
            self.out[len - n..].fill(0.0);
        }
        if let Some(error) = failure {
            self.shared.report(Report {
                at: self.produced,
                error,
                recovery: None,
            });
        }
        while !self.drain_some() {
            if self.cancelled() {
                return;
            }
            self.wait_for_room();
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
