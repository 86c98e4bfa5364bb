//! Many tracks, one thread: [`FrameClock`] renders every registered track once per frame
//! period, so ten thousand tracks cost one timer, not ten thousand.
//!
//! The period is divided into slots of about a millisecond; each track is placed in the
//! least loaded slot and rendered at that slot's offset. Spreading the batches keeps every
//! track's lateness to one small batch, and the thread sleeps precisely between them
//! ([`Clock::block_until`]). Only slots that hold a track are woken for, so an idle output
//! costs one wake per period and an empty clock one wake per period to look for new tracks.
//! The thread asks for a short timer slack, and real-time scheduling if the caller asks for
//! it ([`Scheduling`], `clock_thread.rs`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::clock_thread::{self, Scheduling};
use crate::{Clock, FrameInfo, Track};

/// Called on the clock thread with each rendered frame; return `false` to remove the track.
pub type FrameOutput = Box<dyn FnMut(&FrameInfo, &[i16]) -> bool + Send>;

struct Registered {
    track: Track,
    output: FrameOutput,
    buffer: Box<[i16]>,
}

/// Lateness from which a frame counts in [`crate::TrackStats::late_frames`] (as in
/// [`crate::CatchUp::default`]).
const LATE_AFTER: Duration = Duration::from_millis(5);

/// Lateness histogram in 10 µs buckets up to 1 s.
const BUCKET: Duration = Duration::from_micros(10);
const BUCKETS: usize = 100_000;

/// Lateness of frames rendered by a [`FrameClock`]: how long after its due time each frame
/// was handed to its output.
#[derive(Debug, Clone)]
pub struct FrameClockStats {
    /// Frames rendered.
    pub frames: u64,
    /// Batches rendered (one per occupied slot per period; empty slots are not woken for).
    pub batches: u64,
    /// Tracks registered now.
    pub tracks: usize,
    histogram: Vec<u64>,
    /// The largest lateness seen.
    pub max_lateness: Duration,
    /// The thread runs under real-time scheduling ([`Scheduling::Realtime`] asked for and
    /// granted).
    pub realtime: bool,
}

impl FrameClockStats {
    /// The lateness that fraction `q` (0..=1) of frames did not exceed, to 10 µs.
    pub fn lateness_quantile(&self, q: f64) -> Duration {
        let total: u64 = self.histogram.iter().sum();
        if total == 0 {
            return Duration::ZERO;
        }
        let target = (total as f64 * q).ceil() as u64;
        let mut seen = 0;
        for (i, n) in self.histogram.iter().enumerate() {
            seen += n;
            if seen >= target {
                return BUCKET * (i as u32 + 1);
            }
        }
        self.max_lateness
    }
}

struct ClockShared {
    adds: Mutex<Vec<Registered>>,
    stats: Mutex<FrameClockStats>,
    stop: AtomicBool,
}

/// A thread that renders many tracks in lockstep with a shared frame period.
pub struct FrameClock {
    shared: Arc<ClockShared>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for FrameClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameClock").finish_non_exhaustive()
    }
}

impl FrameClock {
    /// Start the clock thread for tracks whose frames last `period`, as an ordinary thread.
    pub fn start<C: Clock>(clock: C, period: Duration) -> Self {
        Self::start_with(clock, period, Scheduling::Normal)
    }

    /// Start the clock thread, scheduled as `scheduling` asks if the process may (see
    /// [`FrameClockStats::realtime`]); it runs as an ordinary thread otherwise.
    pub fn start_with<C: Clock>(clock: C, period: Duration, scheduling: Scheduling) -> Self {
        let shared = Arc::new(ClockShared {
            adds: Mutex::new(Vec::new()),
            stats: Mutex::new(FrameClockStats {
                frames: 0,
                batches: 0,
                tracks: 0,
                histogram: vec![0; BUCKETS],
                max_lateness: Duration::ZERO,
                realtime: false,
            }),
            stop: AtomicBool::new(false),
        });
        let slots = (period.as_millis() as usize).max(1);
        let thread_shared = shared.clone();
        // Started once its scheduling is settled, so `stats` says how it runs from the start.
        let (applied, settled) = std::sync::mpsc::sync_channel(1);
        let thread = std::thread::Builder::new()
            .name("voxpace-frame-clock".into())
            .spawn(move || {
                let realtime = clock_thread::apply(scheduling);
                thread_shared
                    .stats
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .realtime = realtime;
                let _ = applied.send(());
                run(clock, period, slots, &thread_shared)
            })
            .expect("spawning the frame clock thread");
        let _ = settled.recv();
        Self {
            shared,
            thread: Some(thread),
        }
    }

    /// Render `track` on this clock from the next tick on, handing each frame to `output`.
    /// The track's frame length must equal the clock's period.
    pub fn add<F>(&self, track: Track, output: F)
    where
        F: FnMut(&FrameInfo, &[i16]) -> bool + Send + 'static,
    {
        let buffer = vec![0; track.format().frame_len()].into_boxed_slice();
        self.shared
            .adds
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Registered {
                track,
                output: Box::new(output),
                buffer,
            });
    }

    /// Lateness and counts so far.
    pub fn stats(&self) -> FrameClockStats {
        self.shared
            .stats
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Stop the thread; registered tracks are dropped (their handles see the track closed).
    /// Waits briefly for the thread to end; a thread blocked on a virtual clock that no
    /// longer moves is left to end at its next tick instead of hanging the caller.
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        let Some(thread) = self.thread.take() else {
            return;
        };
        for _ in 0..100 {
            if thread.is_finished() {
                let _ = thread.join();
                return;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

impl Drop for FrameClock {
    fn drop(&mut self) {
        self.halt();
    }
}

fn run<C: Clock>(clock: C, period: Duration, slots: usize, shared: &ClockShared) {
    let slot_len = period / slots as u32;
    let mut lanes: Vec<Vec<Registered>> = (0..slots).map(|_| Vec::new()).collect();
    let origin = clock.now();
    let mut tick: u64 = 0;
    while !shared.stop.load(Ordering::Acquire) {
        let mut rendered = false;
        // Only slots that hold a track are waited for: an idle output costs one wake per
        // period, and an empty clock one wake per period to look for new tracks.
        for (slot, lane) in lanes.iter_mut().enumerate() {
            if lane.is_empty() {
                continue;
            }
            rendered = true;
            let due = origin + period * tick as u32 + slot_len * slot as u32;
            clock.block_until(due);
            let start = clock.now().saturating_sub(due);
            let mut i = 0;
            while i < lane.len() {
                // The next track's first reads (its own allocation, its samples, its
                // buffer) load while this one renders.
                if let Some(next) = lane.get(i + 1) {
                    next.track.prefetch();
                    crate::prefetch::prefetch(next.buffer.as_ptr());
                }
                let r = &mut lane[i];
                let info = r.track.render(&mut r.buffer);
                if (r.output)(&info, &r.buffer) {
                    i += 1;
                } else {
                    // Rare (an output ends): the order of the others is kept.
                    lane.remove(i);
                }
            }
            let end = clock.now().saturating_sub(due);
            record(shared, lane.len(), start, end);
            if end > LATE_AFTER {
                // Rare: the whole batch counts as late, as `Pacer` counts its frames.
                for r in lane.iter() {
                    r.track.count_late();
                }
            }
        }
        tick += 1;
        if !rendered {
            clock.block_until(origin + period * tick as u32);
        }
        // Registration happens between ticks; a busy lock just waits for the next tick.
        if let Ok(mut adds) = shared.adds.try_lock() {
            for r in adds.drain(..) {
                let lane = lanes
                    .iter_mut()
                    .min_by_key(|l| l.len())
                    .expect("at least one slot");
                lane.push(r);
            }
        }
    }
}

/// Record a batch of `n` frames rendered between `start` and `end` past due; frame `i` is
/// taken to have gone out at the proportional point in between.
fn record(shared: &ClockShared, n: usize, start: Duration, end: Duration) {
    let Ok(mut stats) = shared.stats.try_lock() else {
        return;
    };
    stats.batches += 1;
    stats.frames += n as u64;
    stats.max_lateness = stats.max_lateness.max(end);
    // Integer nanoseconds: this runs once per frame of every track (no float or 128-bit
    // division per frame).
    let nanos = |d: Duration| d.as_nanos().min(u64::MAX as u128) as u64;
    let (start, span, bucket) = (
        nanos(start),
        nanos(end.saturating_sub(start)),
        nanos(BUCKET),
    );
    let n64 = n as u64;
    for i in 1..=n64 {
        let at = start + span.saturating_mul(i) / n64;
        let bucket = ((at / bucket) as usize).min(BUCKETS - 1);
        stats.histogram[bucket] += 1;
    }
}
