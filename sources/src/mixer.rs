//! The background bus: [`BackgroundMixer`] (the [`Source`] the track calls every frame) and
//! [`Background`] (the control handle that opens files, starts and stops them).
//!
//! ```text
//!  Background::play ─ open + validate file ─▶ worker thread ─decode─resample─▶ ring ─┐
//!        │                                                                           │
//!        └── Command (SPSC, checked once per frame) ──▶ BackgroundMixer::fill ◀──────┘
//!                                                        │ gain · fade · duck, sum
//!  SourceEvents ◀── janitor thread ◀── retired voices ◀──┘ (freed off the frame path)
//! ```
//!
//! No thread here runs on a timer: a worker parks until `fill` has read its ring down to
//! half, the janitor until `fill` retires a voice or reaches a report.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use rtrb::{Consumer, Producer, RingBuffer};
use voxpace_core::{BusContext, Format, Source};

use crate::decode::FileDecoder;
use crate::dsp::{db_to_gain, samples, Ducker, Ducking, Fade, Ramp};
use crate::events::{EventHub, FinishReason, SourceEvents, SourceId};
use crate::janitor::{self, lock, Bell, Desk};
use crate::worker::{self, VoiceShared, WorkerSpec};
use crate::Error;

/// At most this many files play at once on one background (music being crossfaded counts
/// twice while the crossfade runs). Each has one worker thread and one ring.
pub const MAX_VOICES: usize = 16;
const COMMAND_QUEUE: usize = 64;
/// Gain changes are ramped over this long, so they never click.
const GAIN_RAMP: Duration = Duration::from_millis(20);
/// A new source starts once this many frames are decoded (so it never starts with a gap).
const START_FRAMES: usize = 2;
/// The shortest fade a stop, cancel or switch uses: a cut from full level to silence
/// clicks; 5 ms is inaudible as a fade and removes the click.
const MIN_FADE: Duration = Duration::from_millis(5);

/// What happens when a file reaches its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Looping {
    /// Play once, then leave the mix.
    Once,
    /// Start over seamlessly: the last sample is followed by the first. Right for music
    /// made to loop.
    Gapless,
    /// Start over, overlapping the end and the start by this long with an equal-power
    /// crossfade (about 10–100 ms). Right for files whose end does not meet their start,
    /// which a gapless loop would click at. Each pass is shortened by the overlap.
    Crossfade(Duration),
}

/// How to play a file: see [`Play::music`] and [`Play::clip`] for the two usual presets.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Play {
    /// What happens at the end of the file.
    pub looping: Looping,
    /// Gain in dB (0 = as recorded; negative is quieter).
    pub gain_db: f32,
    /// Fade-in from silence when nothing else is being replaced.
    pub fade_in: Duration,
    /// For [`Background::play`]: crossfade length when it replaces the current music (at
    /// least 5 ms).
    pub crossfade: Duration,
    /// Whether the source is ducked under speech (see [`Ducking`]).
    pub ducked: bool,
    /// Play the file at this integrated loudness (LUFS) whatever its own level: its worker
    /// measures it first (up to 60 s of it, ITU-R BS.1770) and scales it; `gain_db`, fades
    /// and ducking apply on top. `None`: as recorded.
    pub normalised: Option<f32>,
}

impl Play {
    /// Background music: loops gaplessly, fades in over 300 ms, crossfades over 1 s when
    /// replaced, ducked under speech.
    pub fn music() -> Self {
        Self {
            looping: Looping::Gapless,
            gain_db: 0.0,
            fade_in: Duration::from_millis(300),
            crossfade: Duration::from_secs(1),
            ducked: true,
            normalised: None,
        }
    }

    /// A one-shot clip on top (a chime, a "thinking" sound): plays once, no fade, not
    /// ducked.
    pub fn clip() -> Self {
        Self {
            looping: Looping::Once,
            gain_db: 0.0,
            fade_in: Duration::ZERO,
            crossfade: Duration::ZERO,
            ducked: false,
            normalised: None,
        }
    }

    /// Set [`Play::looping`].
    pub fn looping(mut self, looping: Looping) -> Self {
        self.looping = looping;
        self
    }

    /// Set [`Play::gain_db`].
    pub fn gain_db(mut self, db: f32) -> Self {
        self.gain_db = db;
        self
    }

    /// Set [`Play::fade_in`].
    pub fn fade_in(mut self, d: Duration) -> Self {
        self.fade_in = d;
        self
    }

    /// Set [`Play::crossfade`].
    pub fn crossfade(mut self, d: Duration) -> Self {
        self.crossfade = d;
        self
    }

    /// Set [`Play::ducked`].
    pub fn ducked(mut self, ducked: bool) -> Self {
        self.ducked = ducked;
        self
    }

    /// Set [`Play::normalised`].
    pub fn normalised(mut self, lufs: Option<f32>) -> Self {
        self.normalised = lufs;
        self
    }
}

impl Default for Play {
    fn default() -> Self {
        Self::music()
    }
}

/// Settings of a background.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BackgroundConfig {
    /// Decoded audio kept ready per playing file (the ring between its worker and the
    /// mixer). Bigger survives longer stalls of the decoder; memory grows with it (see the
    /// crate docs). Default 400 ms.
    pub buffer: Duration,
    /// Ducking under speech. Default: [`Ducking::default`].
    pub ducking: Ducking,
}

impl Default for BackgroundConfig {
    fn default() -> Self {
        Self {
            buffer: Duration::from_millis(400),
            ducking: Ducking::default(),
        }
    }
}

/// Counters of a background (from [`Background::stats`]).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
#[non_exhaustive]
pub struct BackgroundStats {
    /// Frames filled.
    pub frames: u64,
    /// Times a playing source had too little decoded audio for a frame and played silence
    /// for the rest of it (its decoder fell behind). Zero in a healthy system.
    pub underruns: u64,
    /// Sources in the mix now.
    pub playing: usize,
    /// Current ducking attenuation in dB (0 when not ducked, `-depth` when fully ducked).
    pub ducking_db: f32,
    /// Frames whose format did not match the background's (left silent).
    pub format_mismatches: u64,
    /// Times a decoder thread of this background woke from waiting for room in its ring
    /// (about once per half buffer of audio played per source: none run on a timer).
    pub decoder_wakeups: u64,
    /// Rounds the process's janitor thread worked for this background (once per source
    /// retired or report delivered at most: none while sources just play).
    pub janitor_rounds: u64,
}

#[derive(Debug, Default)]
struct SharedStats {
    frames: AtomicU64,
    underruns: AtomicU64,
    playing: AtomicUsize,
    ducking_db_bits: AtomicU32,
    format_mismatches: AtomicU64,
    decoder_wakeups: Arc<AtomicU64>,
}

enum Command {
    Music { voice: Box<Voice>, crossfade: u64 },
    Clip { voice: Box<Voice> },
    Stop { id: Option<SourceId>, fade: u64 },
    Gain { id: Option<SourceId>, gain: f32 },
    Ducking(Ducking),
}

/// One playing file on the mixer side.
pub(crate) struct Voice {
    pub(crate) id: SourceId,
    pub(crate) path: PathBuf,
    rx: Consumer<f32>,
    pub(crate) shared: Arc<VoiceShared>,
    pub(crate) worker: Thread,
    gain: Ramp,
    fade: Fade,
    fade_in: u64,
    ducked: bool,
    started: bool,
    /// Set when the voice is fading out to leave the mix.
    retiring: Option<FinishReason>,
    /// Set when it has left the mix.
    pub(crate) outcome: FinishReason,
}

impl Drop for Voice {
    /// Wherever a voice ends (the janitor, a dropped mixer or command queue), its worker
    /// may be parked without a timeout: tell it to stop and wake it.
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        self.worker.unpark();
    }
}

impl Voice {
    fn retire(&mut self, reason: FinishReason, fade: u64) {
        if self.retiring.is_none() {
            self.retiring = Some(reason);
        }
        self.fade.to(0.0, if self.started { fade } else { 0 });
    }

    /// Add one frame of this voice into `acc`; `Some(reason)` when it is done. Sets
    /// `report_due` when the janitor must send a report the mix reached.
    fn mix(
        &mut self,
        acc: &mut [f32],
        duck: &[f32],
        channels: usize,
        stats: &SharedStats,
        pts: u64,
        report_due: &mut bool,
    ) -> Option<FinishReason> {
        // A worker that vanished without finishing (it cannot panic, but if it did) counts
        // as finished: the voice drains and leaves instead of underrunning forever.
        let finished = self.shared.finished.load(Ordering::Acquire) || self.rx.is_abandoned();
        if !self.started {
            if let Some(reason) = self.retiring {
                return Some(reason);
            }
            if self.rx.slots() < START_FRAMES * acc.len() && !finished {
                return None;
            }
            self.started = true;
            self.shared.start_pts.store(pts, Ordering::Release);
            self.fade.to(1.0, self.fade_in);
        }
        let available = self.rx.slots();
        let n = (available - available % channels).min(acc.len());
        if n < acc.len() && !finished {
            stats.underruns.fetch_add(1, Ordering::Relaxed);
        }
        let frames = acc.len() / channels;
        let read = n / channels;
        if let Ok(chunk) = self.rx.read_chunk(n) {
            let (a, b) = chunk.as_slices();
            let mut samples = a.iter().chain(b.iter());
            for (j, out) in acc.chunks_exact_mut(channels).enumerate().take(read) {
                let mut g = self.gain.next() * self.fade.next();
                if self.ducked {
                    g *= duck[j];
                }
                for o in out {
                    *o += g * samples.next().copied().unwrap_or(0.0);
                }
            }
            chunk.commit_all();
            let read = self.shared.read.fetch_add(n as u64, Ordering::Relaxed) + n as u64;
            *report_due |= self.shared.report_due(read);
            // The worker waits parked for this edge; unparking it (a futex wake) from the
            // frame path happens once per half ring (~200 ms of audio), never per frame.
            if self.shared.needs_top_up(self.rx.slots()) {
                self.worker.unpark();
            }
        }
        // Ramps keep time through silence too.
        for _ in read..frames {
            self.gain.next();
            self.fade.next();
        }
        if self.retiring.is_some() && self.fade.is_silent() {
            return self.retiring;
        }
        if finished && self.rx.is_empty() {
            return Some(if self.shared.failed.load(Ordering::Acquire) {
                FinishReason::Failed
            } else {
                self.retiring.unwrap_or(FinishReason::Ended)
            });
        }
        None
    }
}

/// The background bus as a [`Source`]: give it to the track with
/// `handle.set_background(Some(Box::new(mixer)))`.
///
/// `fill` reads only the sources' rings and a command queue: it never decodes, allocates,
/// locks or blocks. A source whose ring runs dry plays silence for the rest of the frame
/// and is counted in [`BackgroundStats::underruns`].
pub struct BackgroundMixer {
    format: Format,
    channels: usize,
    voices: [Option<Box<Voice>>; MAX_VOICES],
    music: Option<SourceId>,
    commands: Consumer<Command>,
    garbage: Producer<Box<Voice>>,
    ducker: Ducker,
    duck: Vec<f32>,
    acc: Vec<f32>,
    stats: Arc<SharedStats>,
    /// Last: it rings the janitor when dropped, after `voices` and `garbage` are gone.
    bell: Bell,
}

impl std::fmt::Debug for BackgroundMixer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackgroundMixer")
            .field("format", &self.format)
            .field("playing", &self.voices.iter().flatten().count())
            .finish()
    }
}

impl BackgroundMixer {
    /// A background for tracks of `format`: the mixer (give it to the track) and its
    /// control handle (keep it; clone it freely).
    pub fn new(format: Format, config: BackgroundConfig) -> Result<(Self, Background), Error> {
        config.ducking.validate()?;
        if config.buffer < format.frame_duration() * (START_FRAMES as u32 + 1)
            || config.buffer > Duration::from_secs(10)
        {
            return Err(Error::InvalidArgument(format!(
                "background buffer {:?} must hold at least {} frames and at most 10 s",
                config.buffer,
                START_FRAMES + 1
            )));
        }
        let (cmd_tx, cmd_rx) = RingBuffer::new(COMMAND_QUEUE);
        let (garbage_tx, garbage_rx) = RingBuffer::new(MAX_VOICES * 2);
        let stats = Arc::new(SharedStats::default());
        let hub = Arc::new(EventHub::default());
        let live = Arc::new(Mutex::new(Vec::new()));
        let (bell, desk) = janitor::open(garbage_rx, hub, live)?;
        let capacity =
            samples(config.buffer, format.sample_rate()) as usize * format.channels() as usize;
        let mixer = Self {
            format,
            channels: format.channels() as usize,
            voices: Default::default(),
            music: None,
            commands: cmd_rx,
            garbage: garbage_tx,
            ducker: Ducker::new(format.sample_rate(), config.ducking),
            duck: vec![1.0; format.frame_samples()],
            acc: vec![0.0; format.frame_len()],
            stats: stats.clone(),
            bell,
        };
        let control = Background {
            inner: Arc::new(Control {
                format,
                capacity,
                commands: Mutex::new(cmd_tx),
                desk,
                stats,
                next_id: AtomicU64::new(1),
            }),
        };
        Ok((mixer, control))
    }

    fn apply(&mut self, command: Command) {
        match command {
            Command::Music {
                mut voice,
                crossfade,
            } => {
                if let Some(current) = self.music.and_then(|id| self.find(id)) {
                    current.retire(FinishReason::Stopped, crossfade);
                    voice.fade_in = crossfade;
                }
                self.music = Some(voice.id);
                self.insert(voice);
            }
            Command::Clip { voice } => self.insert(voice),
            Command::Stop { id, fade } => {
                if let Some(v) = id.or(self.music).and_then(|id| self.find(id)) {
                    v.retire(FinishReason::Stopped, fade);
                }
            }
            Command::Gain { id, gain } => {
                let ramp = samples(GAIN_RAMP, self.format.sample_rate());
                if let Some(v) = id.or(self.music).and_then(|id| self.find(id)) {
                    v.gain.to(gain, ramp);
                }
            }
            Command::Ducking(d) => self.ducker.set(d),
        }
    }

    fn find(&mut self, id: SourceId) -> Option<&mut Voice> {
        self.voices
            .iter_mut()
            .flatten()
            .find(|v| v.id == id)
            .map(|v| &mut **v)
    }

    fn insert(&mut self, voice: Box<Voice>) {
        match self.voices.iter_mut().find(|s| s.is_none()) {
            Some(slot) => *slot = Some(voice),
            None => self.discard(voice, FinishReason::Stopped),
        }
    }

    /// Hand a voice to the janitor thread so its buffers are freed off the frame path.
    fn discard(&mut self, mut voice: Box<Voice>, reason: FinishReason) {
        voice.outcome = reason;
        if self.music == Some(voice.id) {
            self.music = None;
        }
        // The queue holds twice MAX_VOICES, so it is only full if the janitor is stuck;
        // then dropping here is the lesser evil.
        let _ = self.garbage.push(voice);
        self.bell.ring();
    }
}

impl Source for BackgroundMixer {
    fn fill(&mut self, out: &mut [i16], cx: &BusContext) {
        if cx.format != self.format || out.len() != self.acc.len() {
            self.stats.format_mismatches.fetch_add(1, Ordering::Relaxed);
            return;
        }
        // Bounded: at most one queue's worth of commands per frame.
        for _ in 0..COMMAND_QUEUE {
            match self.commands.pop() {
                Ok(c) => self.apply(c),
                Err(_) => break,
            }
        }
        self.ducker.render(cx.speech_active, &mut self.duck);
        self.acc.fill(0.0);
        let mut playing = 0;
        let mut mixed = false;
        let mut report_due = false;
        for i in 0..MAX_VOICES {
            let Some(voice) = self.voices[i].as_mut() else {
                continue;
            };
            mixed = true;
            match voice.mix(
                &mut self.acc,
                &self.duck,
                self.channels,
                &self.stats,
                cx.pts,
                &mut report_due,
            ) {
                None => playing += 1,
                Some(reason) => {
                    if let Some(v) = self.voices[i].take() {
                        self.discard(v, reason);
                    }
                }
            }
        }
        if report_due {
            self.bell.ring();
        }
        if mixed {
            for (o, a) in out.iter_mut().zip(&self.acc) {
                let v = *o as f32 + a * 32_768.0;
                *o = v.round().clamp(i16::MIN as f32, i16::MAX as f32) as i16;
            }
        }
        let s = &self.stats;
        s.frames.fetch_add(1, Ordering::Relaxed);
        s.playing.store(playing, Ordering::Relaxed);
        s.ducking_db_bits
            .store(self.ducker.level_db().to_bits(), Ordering::Relaxed);
    }
}

/// The control side of a background: play music, play and cancel clips, set gains and
/// ducking, read stats, subscribe to events. Clone + Send + Sync; every method is cheap
/// except [`play`](Self::play) and [`play_clip`](Self::play_clip), which open the file
/// (a few milliseconds of I/O: call them from a blocking context in async code).
#[derive(Clone)]
pub struct Background {
    inner: Arc<Control>,
}

struct Control {
    format: Format,
    capacity: usize,
    commands: Mutex<Producer<Command>>,
    /// The event hub and live list, shared with the janitor.
    desk: Arc<Desk>,
    stats: Arc<SharedStats>,
    next_id: AtomicU64,
}

impl std::fmt::Debug for Background {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Background")
            .field("format", &self.inner.format)
            .field("stats", &self.stats())
            .finish()
    }
}

impl Background {
    /// Play `path` as the background music, replacing (crossfading from) the current one.
    /// The file is opened and its first block decoded before this returns, so a missing,
    /// non-audio, unsupported or damaged file is an error here.
    pub fn play(&self, path: impl AsRef<Path>, play: Play) -> Result<SourceId, Error> {
        let voice = self.start(path.as_ref(), &play)?;
        let crossfade = samples(
            play.crossfade.max(MIN_FADE),
            self.inner.format.sample_rate(),
        );
        self.send_voice(Command::Music { voice, crossfade })
    }

    /// Play `path` on top of the music (a chime, a "thinking" loop), until it ends or is
    /// cancelled with [`cancel`](Self::cancel).
    pub fn play_clip(&self, path: impl AsRef<Path>, play: Play) -> Result<SourceId, Error> {
        let voice = self.start(path.as_ref(), &play)?;
        self.send_voice(Command::Clip { voice })
    }

    /// Fade the current music out over `fade` (at least 5 ms, so it never clicks) and stop
    /// it.
    pub fn stop(&self, fade: Duration) -> Result<(), Error> {
        let fade = samples(fade.max(MIN_FADE), self.inner.format.sample_rate());
        self.send(Command::Stop { id: None, fade })
    }

    /// Fade one source (music or clip) out over `fade` (at least 5 ms) and stop it.
    /// Unknown or already finished ids are ignored.
    pub fn cancel(&self, id: SourceId, fade: Duration) -> Result<(), Error> {
        let fade = samples(fade.max(MIN_FADE), self.inner.format.sample_rate());
        self.send(Command::Stop { id: Some(id), fade })
    }

    /// Change a source's gain (`None`: the current music), ramped over 20 ms.
    pub fn set_gain_db(&self, id: Option<SourceId>, db: f32) -> Result<(), Error> {
        let gain = checked_gain(db)?;
        self.send(Command::Gain { id, gain })
    }

    /// Change the ducking under speech.
    pub fn set_ducking(&self, ducking: Ducking) -> Result<(), Error> {
        ducking.validate()?;
        self.send(Command::Ducking(ducking))
    }

    /// Subscribe to [`SourceEvent`]s (failures, sources finishing).
    pub fn subscribe(&self) -> SourceEvents {
        self.inner.desk.hub.subscribe()
    }

    /// Send now, as [`SourceEvent`](crate::SourceEvent)s, the damage and failure reports
    /// the mix has reached (the janitor thread does it soon after anyway). For rendering
    /// faster than real time: call it after each frame, and each event is received before
    /// the next frame.
    pub fn deliver_reports(&self) {
        let desk = &self.inner.desk;
        for (_, s) in lock(&desk.live).iter() {
            s.deliver_due(&desk.hub, false);
        }
    }

    /// Counters: frames, underruns, sources playing, current ducking.
    pub fn stats(&self) -> BackgroundStats {
        let s = &self.inner.stats;
        BackgroundStats {
            frames: s.frames.load(Ordering::Relaxed),
            underruns: s.underruns.load(Ordering::Relaxed),
            playing: s.playing.load(Ordering::Relaxed),
            ducking_db: f32::from_bits(s.ducking_db_bits.load(Ordering::Relaxed)),
            format_mismatches: s.format_mismatches.load(Ordering::Relaxed),
            decoder_wakeups: s.decoder_wakeups.load(Ordering::Relaxed),
            janitor_rounds: self.inner.desk.rounds.load(Ordering::Relaxed),
        }
    }

    /// The format the background renders.
    pub fn format(&self) -> Format {
        self.inner.format
    }

    /// Block until every playing source has at least `ahead` of audio decoded (capped at
    /// half its buffer) or has decoded its last sample; false on timeout. For rendering
    /// faster than real time (offline rendering, a `VirtualClock`, tests): call it before
    /// each frame so the background never underruns. Real-time callers never need it.
    pub fn wait_buffered(&self, ahead: Duration, timeout: Duration) -> bool {
        let f = self.inner.format;
        let want = (samples(ahead, f.sample_rate()) as usize * f.channels() as usize)
            .min(self.inner.capacity / 2) as u64;
        let deadline = Instant::now() + timeout;
        loop {
            let ready = lock(&self.inner.desk.live).iter().all(|(_, s)| {
                s.finished.load(Ordering::Acquire)
                    || s.written.load(Ordering::Acquire) - s.read.load(Ordering::Relaxed) >= want
            });
            if ready {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            thread::sleep(Duration::from_micros(200));
        }
    }

    /// Block until every playing source's decoder has filled its ring and waits for the
    /// mix to drain it (or has decoded its last sample); false on timeout. For tests and
    /// offline rendering that want the decoders to work as they do in real time (in
    /// bursts of half a buffer) rather than racing the renderer.
    pub fn wait_full(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let full = lock(&self.inner.desk.live).iter().all(|(_, s)| {
                s.finished.load(Ordering::Acquire)
                    || (s.waiting.load(Ordering::Acquire)
                        && s.written.load(Ordering::Acquire) - s.read.load(Ordering::Relaxed)
                            > s.low_water as u64)
            });
            if full {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            thread::sleep(Duration::from_micros(200));
        }
    }

    fn start(&self, path: &Path, play: &Play) -> Result<Box<Voice>, Error> {
        let gain = checked_gain(play.gain_db)?;
        let c = &self.inner;
        if c.commands.lock().map(|q| q.is_abandoned()).unwrap_or(true) {
            return Err(Error::MixerGone);
        }
        if lock(&c.desk.live).len() >= MAX_VOICES {
            return Err(Error::TooManySources(MAX_VOICES));
        }
        let decoder = FileDecoder::open(path, c.format.channels() as usize)?;
        let id = SourceId(c.next_id.fetch_add(1, Ordering::Relaxed));
        let spec = WorkerSpec {
            id,
            path: path.to_path_buf(),
            looping: play.looping,
            normalised: play.normalised,
            format: c.format,
            capacity: c.capacity,
            wakeups: c.stats.decoder_wakeups.clone(),
        };
        let spawned = worker::spawn(decoder, spec)?;
        lock(&c.desk.live).push((id, spawned.shared.clone()));
        Ok(Box::new(Voice {
            id,
            path: path.to_path_buf(),
            rx: spawned.rx,
            shared: spawned.shared,
            worker: spawned.thread,
            gain: Ramp::new(gain),
            fade: Fade::silent(),
            fade_in: samples(play.fade_in, c.format.sample_rate()),
            ducked: play.ducked,
            started: false,
            retiring: None,
            outcome: FinishReason::Ended,
        }))
    }

    fn send_voice(&self, command: Command) -> Result<SourceId, Error> {
        let id = match &command {
            Command::Music { voice, .. } | Command::Clip { voice } => voice.id,
            _ => unreachable!("send_voice takes voice commands"),
        };
        self.send(command).inspect_err(|_| {
            // The voice was dropped with the command (which stopped its worker): forget it.
            lock(&self.inner.desk.live).retain(|(i, _)| *i != id);
        })?;
        Ok(id)
    }

    fn send(&self, command: Command) -> Result<(), Error> {
        let mut q = lock(&self.inner.commands);
        if q.is_abandoned() {
            return Err(Error::MixerGone);
        }
        q.push(command).map_err(|_| Error::CommandQueueFull)
    }
}

fn checked_gain(db: f32) -> Result<f32, Error> {
    if db.is_finite() && db <= 24.0 {
        Ok(db_to_gain(db))
    } else {
        Err(Error::InvalidArgument(format!(
            "gain {db} dB is not a finite value up to +24 dB"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A voice fed by the test instead of a worker thread.
    fn voice(format: Format) -> (Box<Voice>, Producer<f32>, Arc<VoiceShared>) {
        let (tx, rx) = RingBuffer::new(format.frame_len() * 8);
        let shared = Arc::new(VoiceShared::new(
            SourceId(99),
            PathBuf::from("test"),
            format.channels() as usize,
            format.frame_len() * 8,
        ));
        let v = Box::new(Voice {
            id: SourceId(99),
            path: PathBuf::from("test"),
            rx,
            shared: shared.clone(),
            worker: thread::current(),
            gain: Ramp::new(1.0),
            fade: Fade::silent(),
            fade_in: 0,
            ducked: false,
            started: false,
            retiring: None,
            outcome: FinishReason::Ended,
        });
        (v, tx, shared)
    }

    fn fill(mixer: &mut BackgroundMixer, format: Format) -> Vec<i16> {
        let mut out = vec![0i16; format.frame_len()];
        let cx = BusContext {
            format,
            pts: 0,
            speech_active: false,
        };
        mixer.fill(&mut out, &cx);
        out
    }

    #[test]
    fn a_dry_ring_plays_silence_and_counts_an_underrun_until_the_source_finishes() {
        let format = Format::new(24_000, 1, 20).unwrap();
        let config = BackgroundConfig {
            ducking: Ducking::OFF,
            ..Default::default()
        };
        let (mut mixer, bg) = BackgroundMixer::new(format, config).unwrap();
        let (v, mut tx, shared) = voice(format);
        mixer.apply(Command::Clip { voice: v });
        // Not started until START_FRAMES are buffered: silence, but no underrun.
        assert!(fill(&mut mixer, format).iter().all(|s| *s == 0));
        assert_eq!(bg.stats().underruns, 0);
        for _ in 0..2 * 480 {
            tx.push(0.25).unwrap();
        }
        assert!(fill(&mut mixer, format).iter().all(|s| *s == 8_192));
        assert!(fill(&mut mixer, format).iter().all(|s| *s == 8_192));
        assert_eq!(bg.stats().underruns, 0);
        // The decoder fell behind: silence and one underrun per frame.
        assert!(fill(&mut mixer, format).iter().all(|s| *s == 0));
        assert_eq!(bg.stats().underruns, 1);
        for _ in 0..240 {
            tx.push(-0.25).unwrap();
        }
        let out = fill(&mut mixer, format);
        assert!(out[..240].iter().all(|s| *s == -8_192) && out[240..].iter().all(|s| *s == 0));
        assert_eq!(bg.stats().underruns, 2);
        assert_eq!(bg.stats().playing, 1);
        // A finished source with an empty ring leaves the mix without an underrun.
        tx.push(0.5).unwrap();
        shared.finished.store(true, Ordering::Release);
        let out = fill(&mut mixer, format);
        assert_eq!(out[0], 16_384);
        assert_eq!(bg.stats().underruns, 2);
        assert_eq!(bg.stats().playing, 0);
        assert!(mixer.voices.iter().all(|v| v.is_none()));
    }

    #[test]
    fn a_format_mismatch_leaves_the_frame_silent_and_is_counted() {
        let format = Format::new(24_000, 1, 20).unwrap();
        let (mut mixer, bg) = BackgroundMixer::new(format, BackgroundConfig::default()).unwrap();
        let other = Format::new(48_000, 2, 20).unwrap();
        let out = fill(&mut mixer, other);
        assert!(out.iter().all(|s| *s == 0));
        assert_eq!(bg.stats().format_mismatches, 1);
    }
}
