//! One cell: build the track the cell describes, run the conversation, check everything.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{anyhow, bail, Context as _, Result};
use voxpace_core::{BusContext, Format, FrameInfo, Source, Track, TrackConfig, TrackHandle};
use voxpace_sinks::Plugin;
use voxpace_sources::{Background, BackgroundConfig, BackgroundMixer, Play};

use super::check::{self, Expected, Findings};
use super::probe;
use super::script::{self, Hooks, Input, Recording, LEAD};
use voxpace_test_kit::signal;
use voxpace_test_kit::sinks::Recording as SinkRecording;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SinkKind {
    None,
    Recorder,
    Avatar,
    Speaker,
}

impl SinkKind {
    pub fn label(self) -> &'static str {
        match self {
            SinkKind::None => "-",
            SinkKind::Recorder => "recorder",
            SinkKind::Avatar => "avatar",
            SinkKind::Speaker => "speaker",
        }
    }

    pub fn plugin(self) -> Option<&'static str> {
        match self {
            SinkKind::None => None,
            SinkKind::Recorder => Some("recorder"),
            SinkKind::Avatar => Some("avatar"),
            SinkKind::Speaker => Some("speaker"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Cell {
    pub track: &'static str,
    pub format: Format,
    pub input: Input,
    pub same_rate: bool,
    pub sink: SinkKind,
    pub background: Option<PathBuf>,
}

impl Cell {
    pub fn name(&self) -> String {
        let f = self.format;
        let fmt = format!(
            "{}k-{}",
            f.sample_rate() / 1000,
            if f.channels() == 1 { "mono" } else { "stereo" }
        );
        let input = if self.same_rate {
            "in=same".to_string()
        } else {
            // 16k, 22.05k, 44.1k
            format!("in={}k", self.input.rate as f64 / 1000.0)
        };
        let bg = self
            .background
            .as_ref()
            .and_then(|p| p.file_name())
            .map(|n| n.to_string_lossy().trim_start_matches("tone_").to_string())
            .unwrap_or_else(|| "-".into());
        format!("{}/{fmt}/{input}/{}/{bg}", self.track, self.sink.label())
    }
}

/// A background render is determined by the format (rate, channels), the file and which
/// frames carried speech (ducking follows speech).
pub type ReferenceKey = (u32, u16, PathBuf, Vec<bool>);

/// Shared by all cells of a run.
pub struct Context {
    pub plugins: HashMap<&'static str, Arc<Plugin>>,
    pub tmp: PathBuf,
    /// The speaker plays on ALSA's `default` device, routed to one file: one at a time.
    pub speaker_lock: Mutex<()>,
    pub speaker_file: PathBuf,
    /// Background-only renders by (format, file, speech pattern): the background a cell
    /// must contain, computed once per distinct key.
    pub references: Mutex<HashMap<ReferenceKey, Arc<Vec<i16>>>>,
}

/// Background music as every cell plays it: looping, -12 dB, faded in, ducked.
fn music() -> Play {
    Play::music().gain_db(BG_GAIN_DB)
}

const BG_GAIN_DB: f32 = -12.0;
/// Fixture tones are 1 kHz at amplitude 0.5 (-9.03 dBFS RMS).
const BG_FILE_DB: f64 = -9.03;
const BG_AHEAD: Duration = Duration::from_millis(100);
const BG_TIMEOUT: Duration = Duration::from_secs(20);
/// Sinks may lag the frame clock by this many frames. Zero: each frame waits until the
/// plugin has handled it, so at the interrupt nothing played is still queued (core drops
/// queued audio of an interrupted reply) and what a sink receives is exactly determined.
const SINK_LAG_FRAMES: u64 = 0;

struct CellHooks {
    background: Option<Background>,
    probe: Option<Arc<SinkRecording>>,
    sink_id: Option<voxpace_core::SinkId>,
    frame_samples: u64,
    /// The speaker's ALSA file, its length after the last frame, and one frame in bytes.
    device_file: Option<(PathBuf, u64, u64)>,
}

impl Hooks for CellHooks {
    fn before_frame(&mut self, _index: u64) -> Result<()> {
        if let Some(bg) = &self.background {
            if !bg.wait_buffered(BG_AHEAD, BG_TIMEOUT) {
                bail!(
                    "the background decoder did not get {BG_AHEAD:?} ahead within {BG_TIMEOUT:?}"
                );
            }
        }
        Ok(())
    }

    fn after_frame(&mut self, _info: &FrameInfo, teed_pts: Option<u64>) -> Result<()> {
        if let (Some(p), Some(pts)) = (&self.probe, teed_pts) {
            probe::wait_handled(p, pts, SINK_LAG_FRAMES * self.frame_samples)?;
            if let Some((file, last, frame_bytes)) = self.device_file.as_mut() {
                // The device consumes its ring before it plays silence: once the file has
                // grown by two frames after this one was queued, the frame was played.
                // (ALSA's null device has no clock; this keeps it from falling behind.)
                let want = *last + 2 * *frame_bytes;
                let len = probe::wait_for(
                    || std::fs::metadata(&*file).map_or(0, |m| m.len()),
                    |len| len >= want,
                    "the audio device stopped consuming",
                )?;
                *last = len;
            }
        }
        Ok(())
    }

    fn detach(&mut self, handle: &TrackHandle) -> Result<()> {
        if let Some(id) = self.sink_id {
            handle.detach_sink(id)?;
        }
        Ok(())
    }

    fn stopped(&mut self) -> Result<()> {
        if let Some(p) = &self.probe {
            probe::wait_stopped(p)?;
        }
        Ok(())
    }
}

/// Run one cell; `Err` is a cell that could not run to the end (also a failure).
pub fn run(cell: &Cell, cx: &Context) -> Result<Findings> {
    let format = cell.format;
    let track = Track::new(format, TrackConfig::default())?;
    let handle = track.handle();
    let mut hooks = CellHooks {
        background: None,
        probe: None,
        sink_id: None,
        frame_samples: format.frame_samples() as u64,
        device_file: None,
    };
    if let Some(file) = &cell.background {
        let (mixer, bg) = BackgroundMixer::new(format, BackgroundConfig::default())?;
        bg.play(file, music())
            .with_context(|| format!("play {}", file.display()))?;
        handle.set_background(Some(Box::new(mixer)))?;
        hooks.background = Some(bg);
    }
    let id = cell.name().replace('/', "_");
    let output = match cell.sink {
        SinkKind::None => None,
        SinkKind::Recorder => Some(cx.tmp.join(format!("{id}.wav"))),
        SinkKind::Avatar => Some(cx.tmp.join(format!("{id}.jsonl"))),
        SinkKind::Speaker => Some(cx.speaker_file.clone()),
    };
    let _speaker = (cell.sink == SinkKind::Speaker)
        .then(|| cx.speaker_lock.lock().unwrap_or_else(|e| e.into_inner()));
    if let Some(name) = cell.sink.plugin() {
        let plugin = cx
            .plugins
            .get(name)
            .ok_or_else(|| anyhow!("plugin {name} is not built"))?;
        let config = match (cell.sink, &output) {
            (SinkKind::Speaker, _) => String::new(),
            (_, Some(path)) => format!("path = {:?}", path.display().to_string()),
            _ => String::new(),
        };
        if let Some(path) = &output {
            let _ = std::fs::remove_file(path);
        }
        let sink = plugin.instantiate(&config)?;
        let (probe, recording) = probe::probe(Box::new(sink));
        hooks.sink_id = Some(handle.attach_sink(probe)?);
        hooks.probe = Some(recording);
        if cell.sink == SinkKind::Speaker {
            hooks.device_file = Some((cx.speaker_file.clone(), 0, format.frame_len() as u64 * 2));
        }
    }

    let rec = script::run(track, cell.input, &mut hooks)?;
    let mut f = Findings::default();
    let exp = check::expected(&rec, format);
    check::check_events(&rec, &exp, format, &mut f);
    check::check_stats(rec.stats, &mut f);
    check::check_resampling(&rec, cell.input, format, &mut f);

    let reference = match (&cell.background, &hooks.background) {
        (Some(file), Some(bg)) => {
            let r = reference(cx, format, file, &rec)?;
            check_background(&r, format, &mut f);
            let underruns = bg.stats().underruns;
            f.check(underruns == 0, || {
                format!("background: {underruns} underruns")
            });
            Some(r)
        }
        _ => None,
    };
    check::check_output(&rec, &exp, reference.as_deref().map(Vec::as_slice), &mut f);

    if let Some(p) = &hooks.probe {
        check_probe(p, &exp, format, &mut f);
    }
    match (cell.sink, &output) {
        (SinkKind::Recorder, Some(path)) => check_recorder(path, &exp, format, &mut f),
        (SinkKind::Avatar, Some(path)) => check_avatar(path, &rec, &exp, format, &mut f),
        (SinkKind::Speaker, Some(path)) => check_speaker(path, &exp, format, &mut f),
        _ => {}
    }
    if let Some(path) = output.filter(|_| f.failures.is_empty()) {
        let _ = std::fs::remove_file(path);
    }
    Ok(f)
}

/// The background the cell must contain: the same file through a fresh mixer, called
/// directly with the same speech pattern (ducking follows speech), cached per key.
fn reference(cx: &Context, format: Format, file: &Path, rec: &Recording) -> Result<Arc<Vec<i16>>> {
    let pattern: Vec<bool> = rec.frames.iter().map(|i| i.speech).collect();
    let key = (
        format.sample_rate(),
        format.channels(),
        file.to_path_buf(),
        pattern,
    );
    if let Some(r) = cx
        .references
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&key)
    {
        return Ok(r.clone());
    }
    let (mut mixer, bg) = BackgroundMixer::new(format, BackgroundConfig::default())?;
    bg.play(file, music())?;
    let mut out = Vec::with_capacity(rec.out.len());
    let mut frame = vec![0i16; format.frame_len()];
    for (k, speech) in key.3.iter().enumerate() {
        if !bg.wait_buffered(BG_AHEAD, BG_TIMEOUT) {
            bail!("reference background: decoder stalled");
        }
        frame.fill(0);
        let bus = BusContext {
            format,
            pts: k as u64 * format.frame_samples() as u64,
            speech_active: *speech,
        };
        mixer.fill(&mut frame, &bus);
        out.extend_from_slice(&frame);
    }
    let r = Arc::new(out);
    cx.references
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(key, r.clone());
    Ok(r)
}

/// The background itself: the file's tone at the set gain once faded in, ducked by the
/// default depth under speech, never dropping out.
fn check_background(bg: &[i16], format: Format, f: &mut Findings) {
    let fl = format.frame_len();
    let frames = |a: u64, b: u64| &bg[a as usize * fl..(b as usize * fl).min(bg.len())];
    let want = BG_FILE_DB + BG_GAIN_DB as f64;
    let (level, purity) = signal::tone_fit(
        frames(LEAD - 7, LEAD),
        format.channels(),
        format.sample_rate(),
        1000.0,
    );
    f.check((level - want).abs() <= 1.0, || {
        format!("background level {level:.2} dBFS, expected {want:.2} ± 1")
    });
    f.check(purity >= 30.0, || {
        format!("background 1 kHz tone purity {purity:.1} dB < 30")
    });
    let depth = voxpace_sources::Ducking::default().depth_db as f64;
    let (ducked, _) = signal::tone_fit(
        frames(LEAD + 5, script::PAUSE_AT),
        format.channels(),
        format.sample_rate(),
        1000.0,
    );
    f.check((ducked - (want - depth)).abs() <= 1.5, || {
        format!(
            "ducked background {ducked:.2} dBFS, expected {:.2} ± 1.5",
            want - depth
        )
    });
    let total = (bg.len() / fl) as u64;
    let quiet = (LEAD - 7..total)
        .map(|k| (k, signal::rms_db(frames(k, k + 1))))
        .find(|(_, db)| *db < want - depth - 6.0);
    if let Some((k, db)) = quiet {
        f.fail(format!(
            "background drops out at frame {k}, {:.2} s into the file ({db:.1} dBFS)",
            (k * format.frame_ms() as u64) as f64 / 1000.0
        ));
    }
    f.figure(
        "bg dB",
        format!("{level:.1} duck {:.1} pur {purity:.0}", ducked - level),
    );
}

fn check_probe(p: &SinkRecording, exp: &Expected, format: Format, f: &mut Findings) {
    let log = probe::log(p, format.channels() as u64);
    let want = [
        format!("start {}x{}", format.sample_rate(), format.channels()),
        "reply_started 1".into(),
        "audio 1".into(),
        "paused".into(),
        "resumed".into(),
        "audio 1".into(),
        "reply_ended 1 false".into(),
        "reply_started 2".into(),
        "audio 2".into(),
        "interrupted 2".into(),
        "reply_ended 2 true".into(),
        "reply_started 3".into(),
        "audio 3".into(),
        "reply_ended 3 false".into(),
        "stop".into(),
    ];
    f.check(log.sequence == want, || {
        format!("sink events: {}", log.sequence.join(", "))
    });
    f.check(log.teed == exp.teed, || {
        format!(
            "sink received {} samples differing from the {} played",
            log.teed.len(),
            exp.teed.len()
        )
    });
    for p in log.problems.iter().take(3) {
        f.fail(format!("sink: {p}"));
    }
}

fn check_recorder(path: &Path, exp: &Expected, format: Format, f: &mut Findings) {
    let reader = match hound::WavReader::open(path) {
        Ok(r) => r,
        Err(e) => return f.fail(format!("recorder: {}: {e}", path.display())),
    };
    let spec = reader.spec();
    f.check(
        spec.sample_rate == format.sample_rate()
            && spec.channels == format.channels()
            && spec.bits_per_sample == 16,
        || format!("recorder: WAV is {spec:?}"),
    );
    let samples: Result<Vec<i16>, _> = reader.into_samples::<i16>().collect();
    match samples {
        Ok(s) => f.check(s == exp.teed, || {
            format!(
                "recorder: {} samples in the WAV differ from the {} played",
                s.len(),
                exp.teed.len()
            )
        }),
        Err(e) => f.fail(format!("recorder: {e}")),
    }
    f.figure("sink", "wav exact");
}

fn check_avatar(path: &Path, rec: &Recording, exp: &Expected, format: Format, f: &mut Findings) {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => return f.fail(format!("avatar: {}: {e}", path.display())),
    };
    let lines: Vec<serde_json::Value> = match text.lines().map(serde_json::from_str).collect() {
        Ok(l) => l,
        Err(e) => return f.fail(format!("avatar: bad JSON line: {e}")),
    };
    let fs = format.frame_samples() as u64;
    let kind = |v: &serde_json::Value| v["type"].as_str().unwrap_or("").to_string();
    let num = |v: &serde_json::Value, k: &str| v[k].as_u64();
    if let Some(start) = lines.first() {
        f.check(
            kind(start) == "start"
                && num(start, "sample_rate") == Some(format.sample_rate() as u64)
                && num(start, "channels") == Some(format.channels() as u64),
            || format!("avatar: first line {start}"),
        );
    }
    let starts = [LEAD * fs, rec.opened_at[1] * fs, rec.opened_at[2] * fs];
    let pause = (script::RESUME_AT - script::PAUSE_AT) * fs;
    let pause_from = (script::PAUSE_AT - LEAD) * fs;
    let mut opens = Vec::new();
    let mut interrupted_seen = false;
    let mut misplaced = 0;
    let mut ended = [None; 3];
    for v in &lines {
        match kind(v).as_str() {
            "frame" => {
                let (Some(r), Some(off)) = (num(v, "reply"), num(v, "offset")) else {
                    misplaced += 1;
                    continue;
                };
                let i = (r as usize).clamp(1, 3) - 1;
                let mut want = starts[i] + off;
                if i == 0 && off >= pause_from {
                    want += pause;
                }
                if num(v, "pts") != Some(want)
                    || off >= exp.played[i]
                    || (i == 1 && interrupted_seen)
                {
                    misplaced += 1;
                }
                if i == 0 {
                    opens.push(v["open"].as_f64().unwrap_or(0.0));
                }
            }
            "interrupted" if num(v, "reply") == Some(2) => interrupted_seen = true,
            "reply_ended" => {
                let i = (num(v, "reply").unwrap_or(1) as usize).clamp(1, 3) - 1;
                ended[i] = Some((v["interrupted"].as_bool(), num(v, "samples")));
            }
            _ => {}
        }
    }
    f.check(misplaced == 0, || {
        format!(
            "avatar: {misplaced} lip-sync frames with a pts that is not where their speech played"
        )
    });
    f.check(interrupted_seen, || {
        "avatar: no interrupted record for reply 2".into()
    });
    for i in [0, 2] {
        f.check(ended[i] == Some((Some(false), Some(exp.played[i]))), || {
            format!(
                "avatar: reply {} ended as {:?}, played {}",
                i + 1,
                ended[i],
                exp.played[i]
            )
        });
    }
    opens.sort_by(f64::total_cmp);
    let median = opens.get(opens.len() / 2).copied().unwrap_or(0.0);
    f.check(median >= 0.5, || {
        format!("avatar: median mouth openness {median:.2} during loud speech")
    });
    f.figure(
        "sink",
        format!("{} lip frames, open {median:.2}", opens.len()),
    );
}

/// ALSA's file plugin writes what the device played, with silence wherever the device ran
/// ahead of the speech (ALSA's null device has no clock). The matrix waits for the device
/// after each frame, so nothing overflows the plugin's ring: the non-zero samples played
/// must be the speech's, in order, nothing invented or reordered, and all of it except
/// what was still queued at the interrupt (which the speaker flushes, as it should).
/// Reply 2's last frames may be flushed at the interrupt: 3 frames of 1.3 s of speech.
const MIN_DEVICE_SHARE: f64 = 0.9;

fn check_speaker(path: &Path, exp: &Expected, format: Format, f: &mut Findings) {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => return f.fail(format!("speaker: {}: {e}", path.display())),
    };
    let Some((rate, channels, data)) = wav_data(&bytes) else {
        return f.fail("speaker: the ALSA file is not a 16-bit WAV");
    };
    f.check(
        rate == format.sample_rate() && channels == format.channels(),
        || format!("speaker: device ran at {rate} Hz × {channels}"),
    );
    let played: Vec<i16> = data.iter().copied().filter(|&s| s != 0).collect();
    let speech: Vec<i16> = exp.teed.iter().copied().filter(|&s| s != 0).collect();
    match in_order_subsequence(&played, &speech) {
        Ok(matched) => {
            let share = matched as f64 / speech.len().max(1) as f64;
            f.check(share >= MIN_DEVICE_SHARE, || {
                format!(
                    "speaker: only {:.0} % of the speech reached the device",
                    share * 100.0
                )
            });
            f.figure(
                "sink",
                format!("alsa file, {:.0} % of speech", share * 100.0),
            );
        }
        Err(at) => f.fail(format!(
            "speaker: played sample #{at} of {} is not the next speech sample",
            played.len()
        )),
    }
}

/// Whether `played` is `speech` with some stretches left out (in order, nothing added):
/// `Ok(samples matched)`, or `Err(index in played)` of the first sample that fits nowhere.
fn in_order_subsequence(played: &[i16], speech: &[i16]) -> Result<usize, usize> {
    let mut j = 0;
    let mut i = 0;
    while i < played.len() {
        if j < speech.len() && speech[j] == played[i] {
            i += 1;
            j += 1;
            continue;
        }
        // A gap: resume where the next few played samples continue the speech.
        let w = 8.min(played.len() - i);
        let next = (j + 1..speech.len().saturating_sub(w - 1))
            .find(|&k| speech[k..k + w] == played[i..i + w]);
        match next {
            Some(k) => j = k,
            None => return Err(i),
        }
    }
    Ok(played.len())
}

/// (rate, channels, samples) of a 16-bit PCM WAV, reading the data chunk to the end of the
/// file (ALSA may leave the length fields unset while the file is open).
fn wav_data(bytes: &[u8]) -> Option<(u32, u16, Vec<i16>)> {
    if bytes.len() < 12 || &bytes[..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return None;
    }
    let mut pos = 12;
    let (mut rate, mut channels, mut bits) = (0, 0, 0);
    while pos + 8 <= bytes.len() {
        let id = &bytes[pos..pos + 4];
        let len = u32::from_le_bytes(bytes[pos + 4..pos + 8].try_into().ok()?) as usize;
        let body = pos + 8;
        if id == b"fmt " {
            channels = u16::from_le_bytes(bytes.get(body + 2..body + 4)?.try_into().ok()?);
            rate = u32::from_le_bytes(bytes.get(body + 4..body + 8)?.try_into().ok()?);
            bits = u16::from_le_bytes(bytes.get(body + 14..body + 16)?.try_into().ok()?);
        } else if id == b"data" {
            if bits != 16 {
                return None;
            }
            let data = &bytes[body..];
            let samples = data
                .chunks_exact(2)
                .map(|b| i16::from_le_bytes([b[0], b[1]]))
                .collect();
            return Some((rate, channels, samples));
        }
        pos = body + len + (len & 1);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::in_order_subsequence;

    #[test]
    fn gaps_are_allowed_but_nothing_invented_or_reordered() {
        let speech: Vec<i16> = (1..=100).collect();
        let mut played: Vec<i16> = (1..=30).collect();
        played.extend(50..=100);
        assert_eq!(in_order_subsequence(&played, &speech), Ok(81));
        let mut wrong = played.clone();
        wrong[40] = -5;
        assert!(in_order_subsequence(&wrong, &speech).is_err());
        let reordered: Vec<i16> = (50..=100).chain(1..=30).collect();
        assert!(in_order_subsequence(&reordered, &speech).is_err());
    }
}
