//! `check_plugin`: load a plugin, print what it declares, run it through a scripted
//! conversation on a real [`Track`] at real time (the [`Stage`] driver), and list every
//! problem found. The
//! runtime's `voxpace plugin check PATH` and the `voxpace-plugin-check` binary call it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use voxpace_core::{
    Event, Format, Position, ReplyId, Sink, SinkContext, SinkError, SinkEvent, SinkInfo, Track,
    TrackConfig,
};

use crate::conversation::{Pacing, Stage};
use crate::{Error, Metadata, Plugin};

/// How long a plugin may take to handle `Stop` after it is detached.
const STOP_GRACE: Duration = Duration::from_secs(2);

/// What [`check_plugin`] found.
#[derive(Debug)]
pub struct CheckReport {
    /// The plugin file.
    pub path: PathBuf,
    /// What the library declares (absent when it could not be loaded).
    pub metadata: Option<Metadata>,
    /// What the instance declares (absent when it could not be created).
    pub info: Option<SinkInfo>,
    /// Why it could not be loaded or created, if so.
    pub error: Option<Error>,
    /// Events the plugin handled during the conversation, by kind.
    pub handled: BTreeMap<&'static str, u64>,
    /// Speech samples (per channel) the plugin received.
    pub audio_samples: u64,
    /// The slowest single `handle` call.
    pub slowest_call: Duration,
    /// Every problem, one sentence each. Empty means the plugin passed.
    pub problems: Vec<String>,
}

impl CheckReport {
    /// True when nothing went wrong.
    pub fn passed(&self) -> bool {
        self.problems.is_empty()
    }
}

impl std::fmt::Display for CheckReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "plugin:      {}", self.path.display())?;
        if let Some(m) = &self.metadata {
            write!(f, "{m}")?;
        }
        if let Some(i) = &self.info {
            writeln!(f, "sink name:   {}", i.name)?;
            writeln!(f, "delivery:    {:?}, queue {:?}", i.delivery, i.queue)?;
            writeln!(
                f,
                "playback:    {}",
                if i.owns_playback {
                    "owns playback (the host silences its own output and waits for reports)"
                } else {
                    "the host plays the audio"
                }
            )?;
        }
        if !self.handled.is_empty() {
            let kinds: Vec<String> = self
                .handled
                .iter()
                .map(|(k, n)| format!("{k}×{n}"))
                .collect();
            writeln!(f, "handled:     {}", kinds.join(", "))?;
            writeln!(
                f,
                "audio:       {} samples per channel; slowest call {:.1} ms",
                self.audio_samples,
                self.slowest_call.as_secs_f64() * 1000.0
            )?;
        }
        if self.problems.is_empty() {
            writeln!(f, "result:      ok, no problems found")
        } else {
            writeln!(f, "result:      {} problem(s):", self.problems.len())?;
            for p in &self.problems {
                writeln!(f, "  - {p}")?;
            }
            Ok(())
        }
    }
}

/// Load the plugin at `path` with `config`, run it through a scripted conversation (two
/// replies, a pause, a resume, an interrupt, a detach) on a real track at real time, and
/// report what it declares and every problem found. Never panics: a plugin that cannot be
/// loaded gives a report whose `error` says why.
pub fn check_plugin(path: impl AsRef<Path>, config: &str) -> CheckReport {
    let path = path.as_ref().to_path_buf();
    let mut report = CheckReport {
        path: path.clone(),
        metadata: None,
        info: None,
        error: None,
        handled: BTreeMap::new(),
        audio_samples: 0,
        slowest_call: Duration::ZERO,
        problems: Vec::new(),
    };
    let plugin = match Plugin::load(&path) {
        Ok(p) => p,
        Err(e) => return report.failed(e),
    };
    report.metadata = Some(plugin.metadata().clone());
    let sink = match plugin.instantiate(config) {
        Ok(s) => s,
        Err(e) => return report.failed(e),
    };
    report.info = Some(sink.info());
    if let Err(e) = converse(&mut report, sink) {
        return report.failed(Error::Track { path, source: e });
    }
    report
}

impl CheckReport {
    fn failed(mut self, e: Error) -> Self {
        self.problems.push(e.to_string());
        self.error = Some(e);
        self
    }
}

/// What the observing wrapper saw, shared with the check.
#[derive(Debug, Default)]
struct Seen {
    handled: BTreeMap<&'static str, u64>,
    audio_samples: u64,
    slowest: Duration,
    /// Time spent in `handle` for audio, and the audio it covered (values).
    audio_time: Duration,
    errors: Vec<(&'static str, String)>,
    stopped: bool,
}

/// Wraps the plugin's sink to time and count every call.
struct Observed<S> {
    inner: S,
    seen: Arc<Mutex<Seen>>,
}

impl<S: Sink> Sink for Observed<S> {
    fn info(&self) -> SinkInfo {
        self.inner.info()
    }

    fn handle(&mut self, event: SinkEvent<'_>, cx: &SinkContext) -> Result<(), SinkError> {
        let kind = kind_of(&event);
        let samples = match event {
            SinkEvent::Audio { samples, .. } => samples.len() as u64,
            _ => 0,
        };
        let started = Instant::now();
        let result = self.inner.handle(event, cx);
        let took = started.elapsed();
        if let Ok(mut seen) = self.seen.lock() {
            *seen.handled.entry(kind).or_default() += 1;
            seen.audio_samples += samples;
            seen.slowest = seen.slowest.max(took);
            if samples > 0 {
                seen.audio_time += took;
            }
            if let Err(e) = &result {
                seen.errors.push((kind, e.to_string()));
            }
            if matches!(event, SinkEvent::Stop) {
                seen.stopped = true;
            }
        }
        result
    }
}

fn kind_of(event: &SinkEvent<'_>) -> &'static str {
    match event {
        SinkEvent::Start { .. } => "start",
        SinkEvent::ReplyStarted { .. } => "reply-started",
        SinkEvent::Audio { .. } => "audio",
        SinkEvent::Text { .. } => "text",
        SinkEvent::ReplyEnded { .. } => "reply-ended",
        SinkEvent::Interrupted { .. } => "interrupted",
        SinkEvent::Paused => "paused",
        SinkEvent::Resumed => "resumed",
        SinkEvent::Stop => "stop",
        _ => "other",
    }
}

/// Open a reply of `duration` of speech-like audio, pushed in 40 ms chunks as a streaming
/// TTS delivers it, and finish it.
fn say(stage: &mut Stage, duration: Duration) -> Result<ReplyId, voxpace_core::Error> {
    let format = stage.format();
    let chunk = format.samples_in(Duration::from_millis(40)) as usize * format.channels() as usize;
    stage.say(&speech_like(format, duration), chunk)
}

fn converse(report: &mut CheckReport, sink: crate::PluginSink) -> Result<(), voxpace_core::Error> {
    let format = Format::new(24_000, 1, 20)?;
    let config = TrackConfig {
        report_timeout: Duration::from_secs(1),
        ..TrackConfig::default()
    };
    let mut stage = Stage::new(Track::new(format, config)?, Pacing::RealTime);
    let handle = stage.handle().clone();
    let owns = sink.info().owns_playback;
    let seen = Arc::new(Mutex::new(Seen::default()));
    let id = handle.attach_sink(Box::new(Observed {
        inner: sink,
        seen: seen.clone(),
    }))?;
    let report_frames = 1000 / format.frame_ms() as u64 + 5;

    // A complete reply.
    stage.render(3);
    let first = say(&mut stage, Duration::from_millis(400))?;
    stage.until_finished(first, 20 + 50 + report_frames);
    // A reply paused, resumed, then interrupted.
    let second = say(&mut stage, Duration::from_millis(1500))?;
    stage.render(10);
    handle.pause();
    stage.render(5);
    handle.resume();
    stage.render(10);
    handle.interrupt();
    stage.until_finished(second, 5 + report_frames);
    stage.render(3);
    handle.detach_sink(id)?;
    stage.render(2);
    let deadline = Instant::now() + STOP_GRACE;
    while Instant::now() < deadline && !seen.lock().map(|s| s.stopped).unwrap_or(true) {
        stage.render(1);
    }

    let stats = handle.stats();
    let seen = seen
        .lock()
        .map(|mut s| std::mem::take(&mut *s))
        .unwrap_or_default();
    report.handled = seen.handled;
    report.audio_samples = seen.audio_samples / format.channels() as u64;
    report.slowest_call = seen.slowest;
    let problems = &mut report.problems;
    for (kind, e) in &seen.errors {
        problems.push(format!("failed handling `{kind}` and was detached: {e}"));
    }
    for e in &stage.events_seen {
        if let Event::SinkDetached { reason, .. } = e {
            if !reason.is_empty() && !seen.errors.iter().any(|(_, x)| reason.contains(x.as_str())) {
                problems.push(format!("was detached by the host: {reason}"));
            }
        }
    }
    if !seen.stopped && seen.errors.is_empty() {
        problems.push(format!(
            "did not handle `Stop` within {STOP_GRACE:?} of being detached: a call blocked \
             (slowest finished call {:.1} ms)",
            seen.slowest.as_secs_f64() * 1000.0
        ));
    }
    if stats.sink_drops > 0 {
        // Measured: handle time per frame of audio against the frame period.
        let frames = (seen.audio_samples as f64 / format.frame_len() as f64).max(1.0);
        let per_frame_ms = seen.audio_time.as_secs_f64() * 1000.0 / frames;
        let frame_ms = format.frame_ms() as f64;
        let queue = report.info.as_ref().map_or(Duration::ZERO, |i| i.queue);
        problems.push(if per_frame_ms > frame_ms {
            format!(
                "{} frames of audio were dropped: the plugin is slower than real time (its \
                 audio calls took {per_frame_ms:.1} ms per {frame_ms} ms frame on average; \
                 slowest call {:.1} ms)",
                stats.sink_drops,
                seen.slowest.as_secs_f64() * 1000.0
            )
        } else {
            format!(
                "{} frames of audio were dropped: a call stalled longer than its queue \
                 ({queue:?}) holds (slowest call {:.1} ms), although its audio calls averaged \
                 {per_frame_ms:.1} ms per {frame_ms} ms frame",
                stats.sink_drops,
                seen.slowest.as_secs_f64() * 1000.0
            )
        });
    }
    for reply in [first, second] {
        match stage.outcome(reply) {
            None => problems.push(format!("reply {} never finished", reply.0)),
            Some(o) if owns && o.position == Position::Estimated => problems.push(format!(
                "owns playback but did not report reply {} within {:?} (the host estimated \
                 its position)",
                reply.0,
                Duration::from_secs(1)
            )),
            Some(_) => {}
        }
    }
    Ok(())
}

/// A second of something like speech: a 180 Hz voice with harmonics under a 4 Hz syllable
/// envelope, so lip-sync plugins see mouths open and close.
fn speech_like(format: Format, duration: Duration) -> Vec<i16> {
    let rate = format.sample_rate() as f32;
    let channels = format.channels() as usize;
    let n = format.samples_in(duration) as usize;
    let mut out = Vec::with_capacity(n * channels);
    for i in 0..n {
        let t = i as f32 / rate;
        let syllable = (std::f32::consts::PI * 4.0 * t).sin().abs();
        let voice = (2.0 * std::f32::consts::PI * 180.0 * t).sin()
            + 0.5 * (2.0 * std::f32::consts::PI * 360.0 * t).sin()
            + 0.25 * (2.0 * std::f32::consts::PI * 1800.0 * t).sin();
        let v = (voice * syllable * 9000.0) as i16;
        out.extend(std::iter::repeat_n(v, channels));
    }
    out
}
