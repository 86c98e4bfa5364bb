//! Sinks for tests: [`Discard`] takes everything and keeps nothing (the cost of the fan-out
//! alone); [`Recorder`] keeps an owned copy of every event it is handed, in order, and can
//! stand in front of a real sink (a loaded plugin) to see exactly what that sink was given.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use voxpace_core::{PlaybackReport, Sink, SinkContext, SinkError, SinkEvent, SinkInfo};

use crate::wait::poll_until;

/// Accepts every event and does nothing with it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Discard;

impl Sink for Discard {
    fn info(&self) -> SinkInfo {
        SinkInfo::new("discard")
    }

    fn handle(&mut self, _: SinkEvent<'_>, _: &SinkContext) -> Result<(), SinkError> {
        Ok(())
    }
}

/// One event a [`Recorder`] was handed, owned, in a form tests compare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// `Start` with the track's (rate, channels).
    Start(u32, u16),
    ReplyStarted(u64),
    Audio {
        reply: u64,
        offset: u64,
        pts: Option<u64>,
        samples: Vec<i16>,
    },
    /// (reply, interrupted)
    ReplyEnded(u64, bool),
    Interrupted(u64),
    Paused,
    Resumed,
    Stop,
    /// An event kind this kit does not know yet.
    Other,
}

/// The audio samples in `seen`, in order (of `reply` only, if given).
pub fn audio(seen: &[Seen], reply: Option<u64>) -> Vec<i16> {
    seen.iter()
        .filter_map(|s| match s {
            Seen::Audio {
                reply: r, samples, ..
            } if reply.is_none_or(|w| w == *r) => Some(samples.as_slice()),
            _ => None,
        })
        .flatten()
        .copied()
        .collect()
}

/// What a [`Recorder`] saw, shared with the test while the sink runs on its worker thread.
#[derive(Debug, Default)]
pub struct Recording {
    seen: Mutex<Vec<Seen>>,
    errors: Mutex<Vec<String>>,
    /// Pts + 1 of the last paced audio event handled (0: none yet).
    handled_pts: AtomicU64,
    stopped: AtomicBool,
}

impl Recording {
    /// Every event so far, in order.
    pub fn seen(&self) -> MutexGuard<'_, Vec<Seen>> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The errors the inner sink returned.
    pub fn errors(&self) -> Vec<String> {
        self.errors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Every audio sample handed over, in order (of `reply` only, if given).
    pub fn audio(&self, reply: Option<u64>) -> Vec<i16> {
        audio(&self.seen(), reply)
    }

    /// True once `Stop` has been handled.
    pub fn stopped(&self) -> bool {
        self.stopped.load(Ordering::Acquire)
    }

    /// True once paced audio with pts `pts` (or later) has been handled.
    pub fn handled_pts(&self, pts: u64) -> bool {
        self.handled_pts.load(Ordering::Acquire) > pts
    }

    /// Wait until `pred` holds for the events seen, at most `timeout`; false if it never
    /// did.
    pub fn wait_for(&self, timeout: Duration, pred: impl Fn(&[Seen]) -> bool) -> bool {
        poll_until(timeout, || pred(&self.seen()).then_some(())).is_some()
    }
}

/// Records every event, then hands it to the inner sink if there is one.
pub struct Recorder {
    info: SinkInfo,
    inner: Option<Box<dyn Sink>>,
    recording: Arc<Recording>,
    delay: Duration,
    report_playback: bool,
    panic_on_audio: bool,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("info", &self.info)
            .field("wraps", &self.inner.is_some())
            .finish_non_exhaustive()
    }
}

impl Recorder {
    /// A recording sink that declares `info` and does nothing else.
    pub fn new(info: SinkInfo) -> (Self, Arc<Recording>) {
        let recording = Arc::new(Recording::default());
        (
            Self {
                info,
                inner: None,
                recording: recording.clone(),
                delay: Duration::ZERO,
                report_playback: false,
                panic_on_audio: false,
            },
            recording,
        )
    }

    /// Record in front of `inner`: `info()` and every call are `inner`'s.
    pub fn wrapping(inner: Box<dyn Sink>) -> (Self, Arc<Recording>) {
        let (mut r, recording) = Self::new(inner.info());
        r.inner = Some(inner);
        (r, recording)
    }

    /// Sleep this long in every call (a slow sink).
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Report playback of every ended reply (123 samples), as an owning sink does.
    pub fn report_playback(mut self) -> Self {
        self.report_playback = true;
        self
    }

    /// Panic on the first audio event (a crashing renderer).
    pub fn panic_on_audio(mut self) -> Self {
        self.panic_on_audio = true;
        self
    }
}

impl Sink for Recorder {
    fn info(&self) -> SinkInfo {
        self.info.clone()
    }

    fn handle(&mut self, event: SinkEvent<'_>, cx: &SinkContext) -> Result<(), SinkError> {
        std::thread::sleep(self.delay);
        let mut audio_pts = None;
        let seen = match event {
            SinkEvent::Start { format } => Seen::Start(format.sample_rate(), format.channels()),
            SinkEvent::ReplyStarted { reply } => Seen::ReplyStarted(reply.0),
            SinkEvent::Audio {
                reply,
                offset,
                pts,
                samples,
            } => {
                if self.panic_on_audio {
                    panic!("renderer crashed");
                }
                audio_pts = pts;
                Seen::Audio {
                    reply: reply.0,
                    offset,
                    pts,
                    samples: samples.to_vec(),
                }
            }
            SinkEvent::ReplyEnded { reply, interrupted } => {
                if self.report_playback {
                    cx.report_playback(PlaybackReport {
                        reply,
                        played_samples: 123,
                        interrupted,
                    });
                }
                Seen::ReplyEnded(reply.0, interrupted)
            }
            SinkEvent::Interrupted { reply } => Seen::Interrupted(reply.0),
            SinkEvent::Paused => Seen::Paused,
            SinkEvent::Resumed => Seen::Resumed,
            SinkEvent::Stop => Seen::Stop,
            _ => Seen::Other,
        };
        let stop = seen == Seen::Stop;
        self.recording.seen().push(seen);
        let result = match &mut self.inner {
            Some(inner) => inner.handle(event, cx),
            None => Ok(()),
        };
        if let Err(e) = &result {
            self.recording
                .errors
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(e.to_string());
        }
        if let Some(pts) = audio_pts {
            self.recording.handled_pts.store(pts + 1, Ordering::Release);
        }
        if stop {
            self.recording.stopped.store(true, Ordering::Release);
        }
        result
    }
}
