//! A sink wrapper that records what a plugin was given, in order, and lets the matrix wait
//! until the plugin has caught up (so rendering faster than real time never overflows the
//! sink's bounded queue).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use voxpace_core::{Sink, SinkContext, SinkError, SinkEvent, SinkInfo};

/// What the plugin was handed.
#[derive(Debug, Default)]
pub struct Log {
    /// Control events, one word each, with audio runs collapsed to `audio R`.
    pub sequence: Vec<String>,
    /// Every audio sample, in order.
    pub teed: Vec<i16>,
    /// Problems in the audio events themselves (offsets, pts).
    pub problems: Vec<String>,
    /// Per reply: the next expected offset.
    next_offset: Vec<(u64, u64)>,
    /// Errors the plugin returned.
    pub errors: Vec<String>,
}

/// Shared between the probe (on the sink's worker thread) and the cell.
#[derive(Debug, Default)]
pub struct Shared {
    pub log: Mutex<Log>,
    /// Pts + 1 of the last audio event the plugin finished handling (0: none yet).
    pub handled_pts: AtomicU64,
    pub stopped: AtomicBool,
}

pub struct Probe {
    pub inner: Box<dyn Sink>,
    pub shared: Arc<Shared>,
    pub channels: u64,
}

impl Sink for Probe {
    fn info(&self) -> SinkInfo {
        self.inner.info()
    }

    fn handle(&mut self, event: SinkEvent<'_>, cx: &SinkContext) -> Result<(), SinkError> {
        let mut audio_pts = None;
        {
            let mut log = self.shared.log.lock().unwrap_or_else(|e| e.into_inner());
            let word = match event {
                SinkEvent::Start { format } => {
                    format!("start {}x{}", format.sample_rate(), format.channels())
                }
                SinkEvent::ReplyStarted { reply } => format!("reply_started {}", reply.0),
                SinkEvent::Audio {
                    reply,
                    offset,
                    pts,
                    samples,
                } => {
                    let next = match log.next_offset.iter_mut().find(|(r, _)| *r == reply.0) {
                        Some((_, n)) => n,
                        None => {
                            log.next_offset.push((reply.0, 0));
                            &mut log.next_offset.last_mut().expect("pushed").1
                        }
                    };
                    let expected = *next;
                    *next = offset + samples.len() as u64 / self.channels;
                    if offset != expected {
                        log.problems.push(format!(
                            "reply {}: audio offset {offset}, expected {expected}",
                            reply.0
                        ));
                    }
                    if pts.is_none() {
                        log.problems.push("paced audio without pts".into());
                    }
                    audio_pts = pts;
                    log.teed.extend_from_slice(samples);
                    format!("audio {}", reply.0)
                }
                SinkEvent::ReplyEnded { reply, interrupted } => {
                    format!("reply_ended {} {interrupted}", reply.0)
                }
                SinkEvent::Interrupted { reply } => format!("interrupted {}", reply.0),
                SinkEvent::Paused => "paused".into(),
                SinkEvent::Resumed => "resumed".into(),
                SinkEvent::Stop => "stop".into(),
                _ => "other".into(),
            };
            if log.sequence.last() != Some(&word) || !word.starts_with("audio") {
                log.sequence.push(word);
            }
        }
        let stop = matches!(event, SinkEvent::Stop);
        let result = self.inner.handle(event, cx);
        if let Err(e) = &result {
            let mut log = self.shared.log.lock().unwrap_or_else(|e| e.into_inner());
            log.errors.push(e.to_string());
        }
        if let Some(pts) = audio_pts {
            self.shared.handled_pts.store(pts + 1, Ordering::Release);
        }
        if stop {
            self.shared.stopped.store(true, Ordering::Release);
        }
        result
    }
}

impl Shared {
    /// Wait (bounded) until the plugin has handled audio up to `pts - lag`.
    pub fn wait_handled(&self, pts: u64, lag: u64) -> Result<()> {
        let want = pts.saturating_sub(lag) + 1;
        wait(
            || self.handled_pts.load(Ordering::Acquire) >= want,
            "the sink fell behind by more than its lag allowance",
        )
    }

    /// Wait (bounded) until the plugin has handled `Stop`.
    pub fn wait_stopped(&self) -> Result<()> {
        wait(
            || self.stopped.load(Ordering::Acquire),
            "the sink did not handle Stop",
        )
    }
}

/// Read `value` until it satisfies `ok` (bounded like [`wait`]); returns the value.
pub fn wait_for<T: Copy>(
    mut value: impl FnMut() -> T,
    ok: impl Fn(T) -> bool,
    what: &str,
) -> Result<T> {
    let mut last = value();
    wait(
        || {
            last = value();
            ok(last)
        },
        what,
    )?;
    Ok(last)
}

/// Spin politely until `done`, at most 20 s (a stuck plugin fails the cell, never hangs it).
fn wait(mut done: impl FnMut() -> bool, what: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut spins = 0u32;
    while !done() {
        if Instant::now() > deadline {
            bail!("{what} (waited 20 s)");
        }
        spins += 1;
        if spins < 100 {
            std::thread::yield_now();
        } else {
            std::thread::sleep(Duration::from_micros(100));
        }
    }
    Ok(())
}
