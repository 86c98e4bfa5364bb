//! `voxpace render`: play a [`Script`] through a real track on the virtual clock, as fast as
//! the CPU allows, and write the mixed output (WAV), the event log (JSON lines) and a
//! plot (PNG) of the speech, background and output loudness against the target, the events
//! and the waveform (see [`plot`]).
//!
//! Reproducible by construction: one thread drives [`Track::render`] frame by frame, every
//! script step and every push of reply audio happens between two frames at a pts computed
//! from the script, and nothing reads a clock. Same config and script, same bytes out.
//!
//! The configuration's `[[sinks]]` run too, on the same virtual clock: after each frame the
//! render waits until every sink has handled what that frame gave it, so a sink never falls
//! behind (nothing is dropped however slow it is) and an owning sink's report arrives
//! before the next frame. What a plugin writes is then the same on every run, which lets a
//! vendor golden-test a plugin with `voxpace render`.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use voxpace_core::{
    BusContext, Error as CoreError, Event, Format, Playback, ReplyWriter, Source, Track,
    TrackHandle,
};
use voxpace_loudness::Meter;
use voxpace_sources::{BackgroundMixer, ReplyLevel};

use crate::background::Bus;
use crate::config::Issue;
use crate::events::event_json;
use crate::plot::{self, Levels, Marker};
use crate::script::{Action, ReplyText, Script};
use crate::{audio, Config, Error};

/// Where `render` writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outputs {
    /// The mixed output.
    pub wav: PathBuf,
    /// The event log, one JSON object per line.
    pub events: PathBuf,
    /// The waveform picture.
    pub png: PathBuf,
}

impl Outputs {
    /// `out.wav` with `out.events.jsonl` and `out.png` beside it unless given.
    pub fn beside(wav: &Path, events: Option<PathBuf>, png: Option<PathBuf>) -> Self {
        Self {
            wav: wav.to_path_buf(),
            events: events.unwrap_or_else(|| wav.with_extension("events.jsonl")),
            png: png.unwrap_or_else(|| wav.with_extension("png")),
        }
    }
}

/// What a render did.
#[derive(Debug, Clone)]
pub struct Summary {
    /// Frames rendered.
    pub frames: u64,
    /// Media time rendered.
    pub media: Duration,
    /// Wall time it took.
    pub wall: Duration,
    /// Replies played to the end.
    pub completed: u64,
    /// Replies ended by interrupt.
    pub interrupted: u64,
    /// Frames a started reply ran short of audio.
    pub underruns: u64,
    /// Lines in the event log.
    pub events: usize,
    /// The files written.
    pub outputs: Outputs,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let speed = self.media.as_secs_f64() / self.wall.as_secs_f64().max(1e-9);
        write!(
            f,
            "rendered {:.2} s ({} frames) in {:.3} s ({:.0}x real time): {} repl{} completed, {} interrupted, {} underrun frame(s), {} events\nwrote {}, {}, {}",
            self.media.as_secs_f64(),
            self.frames,
            self.wall.as_secs_f64(),
            speed,
            self.completed,
            if self.completed == 1 { "y" } else { "ies" },
            self.interrupted,
            self.underruns,
            self.events,
            self.outputs.wav.display(),
            self.outputs.events.display(),
            self.outputs.png.display(),
        )
    }
}

/// How much silence follows the last activity when the script sets no length.
const TAIL: Duration = Duration::from_millis(500);
/// Decoded background kept ready while rendering: the decoders top up every 20 ms of wall
/// time, so this bounds the render speed at about `RENDER_DECODE_AHEAD / 20 ms`.
const RENDER_DECODE_AHEAD: Duration = Duration::from_secs(8);
/// The longest render when the script sets no length.
const MAX_AUTO: Duration = Duration::from_secs(3600);
/// How long one sink call may take before the render gives up on the sink.
const SINK_WAIT: Duration = Duration::from_secs(30);

/// One reply's audio being delivered to the track as a TTS engine would.
struct Feed {
    writer: Option<ReplyWriter>,
    samples: Arc<[i16]>,
    pos: usize,
    start_pts: u64,
    speed: Option<f64>,
}

enum FeedState {
    Streaming,
    Finished(Playback),
    /// The reply was interrupted or superseded; the rest is not delivered.
    Dropped,
}

impl Feed {
    /// Deliver what the producer has made by the end of the frame at `pts`, as far as the
    /// track takes without waiting.
    fn pump(&mut self, pts: u64, handle: &TrackHandle) -> Result<FeedState, Error> {
        let format = handle.format();
        let ch = format.channels() as usize;
        let target = match self.speed {
            None => self.samples.len(),
            Some(speed) => {
                let elapsed = pts + format.frame_samples() as u64 - self.start_pts;
                ((elapsed as f64 * speed) as usize * ch).min(self.samples.len())
            }
        };
        let Some(writer) = self.writer.as_mut() else {
            return Ok(FeedState::Dropped);
        };
        while self.pos < target {
            // TTS-sized pieces, as many as the track takes now (never waiting).
            let end = (self.pos + format.frame_len() * 5).min(target);
            match writer.try_push_samples(&self.samples[self.pos..end]) {
                Ok(0) => break,
                Ok(n) => self.pos += n,
                Err(CoreError::ReplyInterrupted(_) | CoreError::ReplyFinished(_)) => {
                    self.writer = None;
                    return Ok(FeedState::Dropped);
                }
                Err(e) => return Err(e.into()),
            }
        }
        if self.pos == self.samples.len() {
            let writer = self.writer.take().expect("checked above");
            return match writer.finish() {
                Ok(playback) => Ok(FeedState::Finished(playback)),
                Err(CoreError::ReplyInterrupted(_) | CoreError::ReplyFinished(_)) => {
                    Ok(FeedState::Dropped)
                }
                Err(e) => Err(e.into()),
            };
        }
        Ok(FeedState::Streaming)
    }
}

/// Hand a scripted reply's text to its writer: every mark up front (each travels with the
/// audio that carries its offset), or the whole text for an estimate.
fn give_text(writer: &mut ReplyWriter, text: &ReplyText, format: Format) -> Result<(), Error> {
    match text {
        ReplyText::None => {}
        ReplyText::Whole(t) => writer.set_text(t.clone())?,
        ReplyText::Marks(specs) => {
            let rate = format.sample_rate();
            // Checked when the script was parsed; milliseconds need no input rate.
            let marks = crate::marks::convert(specs, rate, rate).unwrap_or_default();
            for m in marks {
                writer.mark(m.offset, &m.text)?;
            }
        }
    }
    Ok(())
}

/// Reply audio decoded before the first frame, so that nothing is decoded mid-render.
struct Loaded {
    files: BTreeMap<PathBuf, LoadedReply>,
}

/// One reply file as it plays: its samples, the damage skipped in it (where in the file,
/// what) and, when it broke part-way, why (it plays what decoded before).
struct LoadedReply {
    samples: Arc<[i16]>,
    damage: Vec<(Duration, String)>,
    broken: Option<String>,
    /// Normalised before the track (a float file above full scale): its loudness as
    /// decoded and the gain applied, which its `playback_finished` reports.
    level: Option<(f32, f32)>,
}

fn preload(config: &Config, script: &Script) -> Result<Loaded, Error> {
    let mut files = BTreeMap::new();
    let mut issues = Vec::new();
    for step in &script.steps {
        match &step.action {
            Action::Reply { file, .. } if !files.contains_key(file) => {
                // A file above full scale (float) is measured and normalised whole before it
                // becomes 16-bit (the track's own normaliser then finds it at the target);
                // others are normalised by the track, as in `serve`.
                let level = config
                    .track
                    .loudness
                    .map_or(ReplyLevel::AS_IS, ReplyLevel::normalised_above_full_scale);
                let reply = audio::load_reply(file, config.format, level)?;
                let loaded = LoadedReply {
                    samples: Arc::from(reply.samples),
                    damage: (reply.damage.iter())
                        .map(|(at, e)| (*at, e.detail()))
                        .collect(),
                    broken: reply.broken.map(|e| e.detail()),
                    level: reply.measured_lufs.map(|m| (m, reply.gain_db)),
                };
                files.insert(file.clone(), loaded);
            }
            Action::Background(Some(file)) => {
                if let Err(e) = voxpace_sources::probe(file) {
                    issues.push(Issue {
                        file: script.path.clone(),
                        line: step.line,
                        column: 1,
                        key: "background".into(),
                        problem: e.to_string(),
                        expected: "an audio file".into(),
                    });
                }
            }
            Action::Clip(name) if !config.clips.contains_key(name) => issues.push(Issue {
                file: script.path.clone(),
                line: step.line,
                column: 1,
                key: "clip".into(),
                problem: format!("no clip named {name:?} in {}", config.path.display()),
                expected: format!(
                    "one of: {}",
                    config.clips.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            }),
            _ => {}
        }
    }
    if !issues.is_empty() {
        return Err(Error::Invalid(issues));
    }
    Ok(Loaded { files })
}

/// A file's name for the event log: no absolute paths, so logs compare across machines.
fn short(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The background mixer with a copy of each bus frame sent to the render loop, which
/// measures the background's loudness from it.
struct TappedBus {
    mixer: BackgroundMixer,
    copy: rtrb::Producer<i16>,
}

impl Source for TappedBus {
    fn fill(&mut self, out: &mut [i16], cx: &BusContext) {
        self.mixer.fill(out, cx);
        for s in out.iter() {
            // Drained after every frame, and sized for several: never full.
            let _ = self.copy.push(*s);
        }
    }
}

/// The loudness traces of the plot, one point per 100 ms: the output, the background (from
/// the tapped bus) and the speech (the output less the bus).
struct Tracer {
    format: Format,
    bus: rtrb::Consumer<i16>,
    output: Meter,
    background: Meter,
    speech: Meter,
    bus_frame: Vec<i16>,
    /// The bus as it lines up with the mix, which the true-peak limiter delays.
    bus_delayed: std::collections::VecDeque<i16>,
    speech_frame: Vec<i16>,
    samples: u64,
    next_point: u64,
    levels: Levels,
}

/// One point of the traces per this many milliseconds.
const TRACE_STEP_MS: u64 = 100;

impl Tracer {
    fn new(
        format: Format,
        bus: rtrb::Consumer<i16>,
        target: Option<f32>,
        mix_delay: usize,
    ) -> Result<Self, Error> {
        let meter = || {
            Meter::momentary(format.sample_rate(), format.channels() as u32).map_err(|e| {
                Error::Output {
                    path: PathBuf::new(),
                    reason: e.to_string(),
                }
            })
        };
        let step = format.sample_rate() as u64 * TRACE_STEP_MS / 1000;
        Ok(Self {
            format,
            bus,
            output: meter()?,
            background: meter()?,
            speech: meter()?,
            bus_frame: vec![0; format.frame_len()],
            bus_delayed: std::iter::repeat_n(0, mix_delay * format.channels() as usize).collect(),
            speech_frame: vec![0; format.frame_len()],
            samples: 0,
            next_point: step,
            levels: Levels {
                step: TRACE_STEP_MS as f64 / 1000.0,
                target,
                ..Levels::default()
            },
        })
    }

    fn frame(&mut self, mix: &[i16]) {
        for v in self.bus_frame.iter_mut() {
            *v = self.bus.pop().unwrap_or(0);
        }
        self.bus_delayed.extend(self.bus_frame.iter());
        for (s, m) in self.speech_frame.iter_mut().zip(mix) {
            let b = self.bus_delayed.pop_front().unwrap_or(0);
            *s = m.saturating_sub(b);
        }
        self.output.add_i16(mix);
        self.background.add_i16(&self.bus_frame);
        self.speech.add_i16(&self.speech_frame);
        self.samples += self.format.frame_samples() as u64;
        let step = self.format.sample_rate() as u64 * TRACE_STEP_MS / 1000;
        while self.samples >= self.next_point {
            let l = &mut self.levels;
            l.output
                .push(self.output.momentary_lufs().map(|v| v as f32));
            l.background
                .push(self.background.momentary_lufs().map(|v| v as f32));
            l.speech
                .push(self.speech.momentary_lufs().map(|v| v as f32));
            self.next_point += step;
        }
    }
}

/// The state of one render, advanced frame by frame.
struct Session<'a> {
    config: &'a Config,
    format: Format,
    handle: TrackHandle,
    bus: Bus,
    loaded: Loaded,
    feed: Option<Feed>,
    pending: Vec<Playback>,
    log: Vec<Value>,
    markers: Vec<Marker>,
    /// Replies normalised before the track: (measured LUFS, gain dB) by reply id.
    levels: BTreeMap<u64, (f32, f32)>,
}

impl Session<'_> {
    fn note(&mut self, pts: u64, mut line: Value, marker: Option<plot::Kind>) {
        let obj = line.as_object_mut().expect("an object");
        obj.insert("pts".into(), pts.into());
        obj.insert(
            "t_ms".into(),
            (pts as f64 * 1000.0 / self.format.sample_rate() as f64).into(),
        );
        if let Some(kind) = marker {
            self.markers.push(Marker { pts, kind });
        }
        self.log.push(line);
    }

    fn apply(&mut self, action: &Action, pts: u64) -> Result<(), Error> {
        match action {
            Action::Reply {
                file,
                stream_speed,
                text,
            } => match self.handle.open_reply() {
                Ok(mut writer) => {
                    let id = writer.id().0;
                    give_text(&mut writer, text, self.format)?;
                    let loaded = &self.loaded.files[file];
                    let loaded_level = loaded.level;
                    self.feed = Some(Feed {
                        writer: Some(writer),
                        samples: loaded.samples.clone(),
                        pos: 0,
                        start_pts: pts,
                        speed: *stream_speed,
                    });
                    let line = json!({"type": "step", "action": "reply", "file": short(file), "reply": id});
                    self.note(pts, line, Some(plot::Kind::Step));
                    self.note_damage(file, id, pts);
                    if let Some(level) = loaded_level {
                        self.levels.insert(id, level);
                    }
                }
                Err(e @ CoreError::IntakeClosed) => {
                    let line = json!({"type": "step_refused", "action": "reply", "file": short(file), "reason": e.to_string()});
                    self.note(pts, line, Some(plot::Kind::Step));
                }
                Err(e) => return Err(e.into()),
            },
            Action::Interrupt => {
                let through = self.handle.interrupt().map(|r| r.0);
                let line = json!({"type": "step", "action": "interrupt", "through_reply": through});
                self.note(pts, line, Some(plot::Kind::Step));
            }
            Action::Pause => {
                self.handle.pause();
                self.note(
                    pts,
                    json!({"type": "step", "action": "pause"}),
                    Some(plot::Kind::Step),
                );
            }
            Action::Resume => {
                self.handle.resume();
                self.note(
                    pts,
                    json!({"type": "step", "action": "resume"}),
                    Some(plot::Kind::Step),
                );
            }
            Action::EnableInput => {
                self.handle.enable_input(self.config.track.manual_input);
                self.note(
                    pts,
                    json!({"type": "step", "action": "enable_input"}),
                    Some(plot::Kind::Step),
                );
            }
            Action::Clip(name) => {
                self.bus.clip(&self.config.clips[name])?;
                let line = json!({"type": "step", "action": "clip", "clip": name});
                self.note(pts, line, Some(plot::Kind::Clip));
            }
            Action::Background(file) => {
                match file {
                    Some(f) => self.bus.play_file(f)?,
                    None => self.bus.set_enabled(false)?,
                }
                let line = json!({"type": "step", "action": "background", "file": file.as_deref().map(short)});
                self.note(pts, line, Some(plot::Kind::Step));
            }
            Action::BackgroundGain(db) => {
                self.bus.set_gain_db(*db)?;
                let line = json!({"type": "step", "action": "background_gain", "gain_db": db});
                self.note(pts, line, Some(plot::Kind::Step));
            }
        }
        Ok(())
    }

    /// A damaged reply file, reported as `serve` reports a damaged stream: a
    /// `reply_damaged` per skipped damage, and `reply_incomplete` when it broke part-way
    /// (it plays what decoded before the break).
    fn note_damage(&mut self, file: &Path, reply: u64, pts: u64) {
        let loaded = &self.loaded.files[file];
        let ch = self.format.channels() as usize;
        let accepted_ms = self.format.duration_of((loaded.samples.len() / ch) as u64);
        let mut lines: Vec<Value> = (loaded.damage.iter())
            .map(|(at, reason)| {
                tracing::warn!(reply, file = %short(file), %reason, "damaged reply audio skipped");
                json!({"type": "reply_damaged", "reply": reply, "at_ms": at.as_secs_f64() * 1000.0, "reason": reason})
            })
            .collect();
        if let Some(reason) = &loaded.broken {
            tracing::warn!(reply, file = %short(file), %reason, "reply file broken; the reply ends with what decoded");
            lines.push(json!({"type": "reply_incomplete", "reply": reply, "reason": "damaged_audio", "accepted_ms": accepted_ms.as_secs_f64() * 1000.0}));
        }
        for line in lines {
            self.note(pts, line, None);
        }
    }

    fn pump(&mut self, pts: u64) -> Result<(), Error> {
        if let Some(feed) = self.feed.as_mut() {
            match feed.pump(pts, &self.handle)? {
                FeedState::Streaming => {}
                FeedState::Finished(playback) => {
                    self.pending.push(playback);
                    self.feed = None;
                }
                FeedState::Dropped => self.feed = None,
            }
        }
        Ok(())
    }

    fn idle(&mut self) -> bool {
        self.pending.retain(|p| p.outcome().is_none());
        self.feed.is_none()
            && (self.pending.is_empty() || self.handle.is_paused())
            && !self.handle.is_speaking()
    }
}

/// Render `script` with `config` and write `outputs`. Shows a progress bar on stderr when
/// `progress` is true and stderr is a terminal.
pub fn render(
    config: &Config,
    script: &Script,
    outputs: &Outputs,
    progress: bool,
) -> Result<Summary, Error> {
    let started = Instant::now();
    let format = config.format;
    let loaded = preload(config, script)?;
    let mut track = Track::new(format, config.track.clone())?;
    let handle = track.handle();
    let mut events = handle.events();
    let (copy, copied) = rtrb::RingBuffer::new(format.frame_len() * 4);
    let bus = Bus::start_with(config, &handle, Some(RENDER_DECODE_AHEAD), |mixer| {
        Box::new(TappedBus { mixer, copy })
    })?;
    let target = config.loudness.and_then(|l| l.target_lufs);
    let mut tracer = Tracer::new(format, copied, target, track.mix_delay())?;
    let source_events = bus.background.subscribe();
    let sinks = attach_sinks(config, &handle)?;
    let mut s = Session {
        config,
        format,
        handle: handle.clone(),
        bus,
        loaded,
        feed: None,
        pending: Vec::new(),
        log: Vec::new(),
        markers: Vec::new(),
        levels: BTreeMap::new(),
    };

    let fixed = script.length.map(|l| format.frames_in(l));
    let estimate = fixed.unwrap_or_else(|| {
        let end = script.steps.last().map_or(Duration::ZERO, |s| s.at);
        let audio: u64 = script
            .steps
            .iter()
            .filter_map(|st| match &st.action {
                Action::Reply { file, .. } => Some(s.loaded.files[file].samples.len() as u64),
                _ => None,
            })
            .sum();
        format.frames_in(end + format.duration_of(audio / format.channels() as u64) + TAIL)
    });
    let bar = progress_bar(estimate, progress);

    let frame_samples = format.frame_samples() as u64;
    let max_frames = fixed.unwrap_or_else(|| format.frames_in(MAX_AUTO));
    let tail_frames = format.frames_in(TAIL);
    let mut buf = vec![0i16; format.frame_len()];
    let mut mix: Vec<i16> = Vec::with_capacity(estimate as usize * format.frame_len());
    let mut speech = Vec::with_capacity(estimate as usize);
    let mut next_step = 0;
    let mut idle_frames = 0;
    for frame in 0..max_frames {
        let pts = frame * frame_samples;
        while let Some(step) = script.steps.get(next_step) {
            if format.samples_in(step.at) > pts {
                break;
            }
            s.apply(&step.action, pts)?;
            next_step += 1;
        }
        s.pump(pts)?;
        // Background files decode on their own threads: wait until the next frames are
        // ready, so the mix never depends on thread timing.
        if !s.bus.wait_buffered(format) {
            return Err(Error::Audio {
                path: config
                    .background
                    .as_ref()
                    .map(|b| b.file.clone())
                    .unwrap_or_default(),
                reason: "the background decoder fell 10 s behind".into(),
            });
        }
        let info = track.render(&mut buf);
        if !sinks.is_empty() && !handle.wait_for_sinks(SINK_WAIT) {
            return Err(sinks_stuck(config, pts));
        }
        mix.extend_from_slice(&buf);
        tracer.frame(&buf);
        speech.push(info.speech);
        while let Some(event) = events.try_next() {
            let kind = match &event {
                Event::SpeechStarted { .. } => Some(plot::Kind::SpeechStarted),
                Event::PlaybackFinished(o) if o.interrupted => Some(plot::Kind::Interrupted),
                Event::PlaybackFinished(_) => Some(plot::Kind::Finished),
                Event::Paused { .. } | Event::Resumed { .. } => Some(plot::Kind::Pause),
                _ => None,
            };
            let mut line = event_json(&event, format.sample_rate());
            if let Event::PlaybackFinished(o) = &event {
                // Normalised before the track: the file's own loudness, and all the gain.
                if let (Some((measured, gain)), Some(l)) =
                    (s.levels.remove(&o.reply.0), line.get_mut("loudness"))
                {
                    let track_gain = l["gain_db"].as_f64().unwrap_or(0.0);
                    l["measured_lufs"] = measured.into();
                    l["gain_db"] = (gain as f64 + track_gain).into();
                }
            }
            let at = crate::events::event_pts(&event).unwrap_or(pts);
            s.note(at, line, kind);
        }
        // Damage and failures of background files, at the pts they were heard (delivered
        // now, so the log does not depend on thread timing).
        s.bus.background.deliver_reports();
        while let Some(event) = source_events.try_next() {
            if let voxpace_sources::SourceEvent::Finished { .. } = event {
                continue;
            }
            let Some((_, line)) = crate::events::source_event_json(&event, format.sample_rate())
            else {
                continue;
            };
            tracing::warn!(
                file = line["file"].as_str().unwrap_or_default(),
                reason = line["reason"].as_str().unwrap_or_default(),
                t_ms = line["t_ms"].as_f64(),
                "background {}",
                line["type"].as_str().unwrap_or_default().replace('_', " ")
            );
            let at = line["pts"].as_u64().unwrap_or(pts);
            s.note(at, line, Some(plot::Kind::Step));
        }
        if frame % 64 == 0 {
            bar.set_position(frame);
        }
        if fixed.is_none() && next_step == script.steps.len() {
            idle_frames = if s.idle() { idle_frames + 1 } else { 0 };
            if idle_frames >= tail_frames {
                break;
            }
        }
    }
    let frames = speech.len() as u64;
    bar.set_length(frames);
    bar.finish_and_clear();
    // Sinks get `Stop` and finish (close their files) before the render returns.
    drop(track);
    if !sinks.is_empty() && !handle.wait_for_sinks(SINK_WAIT) {
        return Err(sinks_stuck(config, frames * frame_samples));
    }

    write_wav(&outputs.wav, format, &mix)?;
    write_log(&outputs.events, &s.log)?;
    let levels = &tracer.levels;
    plot::draw(&outputs.png, format, &mix, &speech, &s.markers, levels).map_err(|reason| {
        Error::Output {
            path: outputs.png.clone(),
            reason,
        }
    })?;
    let stats = handle.stats();
    Ok(Summary {
        frames,
        media: format.duration_of(frames * frame_samples),
        wall: started.elapsed(),
        completed: stats.replies_completed,
        interrupted: stats.replies_interrupted,
        underruns: stats.underruns,
        events: s.log.len(),
        outputs: outputs.clone(),
    })
}

/// One instance of every `[[sinks]]` entry, attached before the first frame.
fn attach_sinks(config: &Config, handle: &TrackHandle) -> Result<Vec<voxpace_core::SinkId>, Error> {
    let fail = |i: usize, problem: String| {
        Error::Invalid(vec![config.issue_at(
            &format!("sinks[{i}].plugin"),
            problem,
            "a voxpace sink plugin (see `voxpace plugin check`)",
        )])
    };
    let mut ids = Vec::new();
    for (i, sink) in config.sinks.iter().enumerate() {
        let instance = crate::plugins::instance(sink).map_err(|e| fail(i, e))?;
        let id = handle
            .attach_sink(Box::new(instance))
            .map_err(|e| fail(i, e.to_string()))?;
        ids.push(id);
    }
    Ok(ids)
}

fn sinks_stuck(config: &Config, pts: u64) -> Error {
    let names: Vec<&str> = config.sinks.iter().map(|s| s.name.as_str()).collect();
    Error::SinkStuck {
        names: names.join(", "),
        reason: format!(
            "did not handle its events within {SINK_WAIT:?} at {:.3} s of the render: it \
             blocks (check it with `voxpace plugin check`)",
            pts as f64 / config.format.sample_rate() as f64
        ),
    }
}

fn progress_bar(len: u64, show: bool) -> indicatif::ProgressBar {
    if !show {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "rendering {bar:40.cyan/blue} {pos}/{len} frames ({per_sec})",
    ) {
        bar.set_style(style);
    }
    bar
}

fn write_wav(path: &Path, format: Format, samples: &[i16]) -> Result<(), Error> {
    let spec = hound::WavSpec {
        channels: format.channels(),
        sample_rate: format.sample_rate(),
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let fail = |e: hound::Error| Error::Output {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    let mut w = hound::WavWriter::create(path, spec).map_err(fail)?;
    let mut w16 = w.get_i16_writer(samples.len() as u32);
    for &s in samples {
        w16.write_sample(s);
    }
    w16.flush().map_err(fail)?;
    w.finalize().map_err(fail)
}

fn write_log(path: &Path, log: &[Value]) -> Result<(), Error> {
    let file = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
    let mut w = std::io::BufWriter::new(file);
    for line in log {
        serde_json::to_writer(&mut w, line).map_err(|e| Error::Output {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        w.write_all(b"\n").map_err(|e| Error::io(path, e))?;
    }
    w.flush().map_err(|e| Error::io(path, e))
}
