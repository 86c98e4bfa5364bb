//! `check_plugin`: load a plugin, print what it declares, run it through a scripted
//! conversation on a real [`Track`] at real time, and list every problem found. The
//! runtime's `voxpace plugin check PATH` and the `voxpace-plugin-check` binary call it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use voxpace_core::{
    Event, Format, Position, ReplyId, Sink, SinkContext, SinkError, SinkEvent, SinkInfo, Track,
    TrackConfig, TrackHandle,
};

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

/// The track, rendered at real time, with its events collected as they come.
struct Stage {
    track: Track,
    handle: TrackHandle,
    events: voxpace_core::EventStream,
    out: Vec<i16>,
    next: Instant,
    seen_events: Vec<Event>,
    runtime: tokio::runtime::Runtime,
}

impl Stage {
    fn frames(&mut self, n: usize) {
        for _ in 0..n {
            let now = Instant::now();
            if self.next > now {
                std::thread::sleep(self.next - now);
            }
            self.next += self.track.format().frame_duration();
            self.track.render(&mut self.out);
            while let Some(e) = self.events.try_next() {
                self.seen_events.push(e);
            }
        }
    }

    /// Render until `reply` finished (or `limit` frames).
    fn until_finished(&mut self, reply: ReplyId, limit: usize) {
        for _ in 0..limit {
            if self.finished(reply).is_some() {
                return;
            }
            self.frames(1);
        }
    }

    fn finished(&self, reply: ReplyId) -> Option<voxpace_core::ReplyOutcome> {
        self.seen_events.iter().find_map(|e| match e {
            Event::PlaybackFinished(o) if o.reply == reply => Some(o.clone()),
            _ => None,
        })
    }

    fn say(&mut self, duration: Duration) -> Result<ReplyId, voxpace_core::Error> {
        let format = self.track.format();
        let speech = speech_like(format, duration);
        let mut reply = self.handle.open_reply()?;
        let id = reply.id();
        // In 40 ms chunks, as a streaming TTS delivers it.
        let chunk =
            format.samples_in(Duration::from_millis(40)) as usize * format.channels() as usize;
        for piece in speech.chunks(chunk) {
            self.runtime.block_on(reply.push_samples(piece))?;
        }
        reply.finish()?;
        Ok(id)
    }
}

fn converse(report: &mut CheckReport, sink: crate::PluginSink) -> Result<(), voxpace_core::Error> {
    let format = Format::new(24_000, 1, 20)?;
    let config = TrackConfig {
        report_timeout: Duration::from_secs(1),
        ..TrackConfig::default()
    };
    let track = Track::new(format, config)?;
    let handle = track.handle();
    let events = handle.events();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|e| voxpace_core::Error::Sink {
            name: "check".into(),
            reason: format!("cannot start a runtime: {e}"),
        })?;
    let mut stage = Stage {
        track,
        handle: handle.clone(),
        events,
        out: vec![0; format.frame_len()],
        next: Instant::now(),
        seen_events: Vec::new(),
        runtime,
    };
    let owns = sink.info().owns_playback;
    let seen = Arc::new(Mutex::new(Seen::default()));
    let id = handle.attach_sink(Box::new(Observed {
        inner: sink,
        seen: seen.clone(),
    }))?;
    let report_frames = 1000 / format.frame_ms() as usize + 5;

    // A complete reply.
    stage.frames(3);
    let first = stage.say(Duration::from_millis(400))?;
    stage.until_finished(first, 20 + 50 + report_frames);
    // A reply paused, resumed, then interrupted.
    let second = stage.say(Duration::from_millis(1500))?;
    stage.frames(10);
    handle.pause();
    stage.frames(5);
    handle.resume();
    stage.frames(10);
    handle.interrupt();
    stage.until_finished(second, 5 + report_frames);
    stage.frames(3);
    handle.detach_sink(id)?;
    stage.frames(2);
    let deadline = Instant::now() + STOP_GRACE;
    while Instant::now() < deadline && !seen.lock().map(|s| s.stopped).unwrap_or(true) {
        stage.frames(1);
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
    for e in &stage.seen_events {
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
        problems.push(format!(
            "{} frames of audio were dropped because the plugin did not keep up with real \
             time (slowest call {:.1} ms, a frame is {} ms)",
            stats.sink_drops,
            seen.slowest.as_secs_f64() * 1000.0,
            format.frame_ms()
        ));
    }
    for reply in [first, second] {
        match stage.finished(reply) {
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
