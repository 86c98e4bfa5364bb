//! What each plugin was handed: the kit's [`Recorder`] stands in front of the plugin, and
//! the matrix waits until the plugin has caught up after each frame (so rendering faster
//! than real time never overflows the sink's bounded queue).

use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Result};
use voxpace_core::Sink;
use voxpace_test_kit::sinks::{Recorder, Recording, Seen};
use voxpace_test_kit::wait::poll_until;

/// How long a plugin may take to catch up before the cell fails (never hangs).
const PATIENCE: Duration = Duration::from_secs(20);

/// Put a recorder in front of `plugin`.
pub fn probe(plugin: Box<dyn Sink>) -> (Box<dyn Sink>, Arc<Recording>) {
    let (recorder, recording) = Recorder::wrapping(plugin);
    (Box::new(recorder), recording)
}

/// What the plugin was handed, summarised for the checks.
#[derive(Debug, Default)]
pub struct Log {
    /// Control events, one word each, with audio runs collapsed to `audio R`.
    pub sequence: Vec<String>,
    /// Every audio sample, in order.
    pub teed: Vec<i16>,
    /// Problems in the audio events themselves (offsets, pts), then errors the plugin
    /// returned.
    pub problems: Vec<String>,
}

/// Summarise what `recording` saw on a track with `channels` channels.
pub fn log(recording: &Recording, channels: u64) -> Log {
    let mut log = Log::default();
    let mut next_offset: Vec<(u64, u64)> = Vec::new();
    for seen in recording.seen().iter() {
        let word = match seen {
            Seen::Start(rate, ch) => format!("start {rate}x{ch}"),
            Seen::ReplyStarted(r) => format!("reply_started {r}"),
            Seen::Audio {
                reply,
                offset,
                pts,
                samples,
            } => {
                let at = match next_offset.iter().position(|(r, _)| r == reply) {
                    Some(i) => i,
                    None => {
                        next_offset.push((*reply, 0));
                        next_offset.len() - 1
                    }
                };
                let expected = next_offset[at].1;
                next_offset[at].1 = offset + samples.len() as u64 / channels;
                if *offset != expected {
                    log.problems.push(format!(
                        "reply {reply}: audio offset {offset}, expected {expected}"
                    ));
                }
                if pts.is_none() {
                    log.problems.push("paced audio without pts".into());
                }
                log.teed.extend_from_slice(samples);
                format!("audio {reply}")
            }
            Seen::ReplyEnded(r, interrupted) => format!("reply_ended {r} {interrupted}"),
            Seen::Interrupted(r) => format!("interrupted {r}"),
            Seen::Paused => "paused".into(),
            Seen::Resumed => "resumed".into(),
            Seen::Stop => "stop".into(),
            Seen::Other => "other".into(),
        };
        if log.sequence.last() != Some(&word) || !word.starts_with("audio") {
            log.sequence.push(word);
        }
    }
    log.problems.extend(recording.errors());
    log
}

/// Wait (bounded) until the plugin has handled audio up to `pts - lag`.
pub fn wait_handled(recording: &Recording, pts: u64, lag: u64) -> Result<()> {
    let want = pts.saturating_sub(lag);
    wait(
        || recording.handled_pts(want),
        "the sink fell behind by more than its lag allowance",
    )
}

/// Wait (bounded) until the plugin has handled `Stop`.
pub fn wait_stopped(recording: &Recording) -> Result<()> {
    wait(|| recording.stopped(), "the sink did not handle Stop")
}

/// Read `value` until it satisfies `ok` (bounded like [`wait`]); returns the value.
pub fn wait_for<T: Copy>(
    mut value: impl FnMut() -> T,
    ok: impl Fn(T) -> bool,
    what: &str,
) -> Result<T> {
    match poll_until(PATIENCE, || Some(value()).filter(|v| ok(*v))) {
        Some(v) => Ok(v),
        None => bail!("{what} (waited {PATIENCE:?})"),
    }
}

fn wait(mut done: impl FnMut() -> bool, what: &str) -> Result<()> {
    wait_for(&mut done, |d| d, what).map(|_| ())
}
