//! The output track: the frame side ([`Track`]) and the control side ([`TrackHandle`]).
//!
//! The two sides share no lock on the frame path. PCM travels in a bounded single-producer
//! single-consumer queue of chunks; pause and interrupt are atomics read once per frame;
//! rarer commands (background, sinks, event subscription) come through a small lock-free
//! command queue. Consumed chunks go back to the control side to be freed, so the frame
//! path neither allocates nor frees in steady state.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use atomic_waker::AtomicWaker;

use crate::events::{Event, EventStream, Position, ReplyOutcome};
use crate::mailbox::Mailbox;
use crate::reply::ReplyState;
use crate::sink_tap::{self, AheadFeed, PacedTap, SinkId, TapMsg};
use crate::{BusContext, Error, Format, Limiter, ReplyId, ReplyWriter, Sink, Source};

/// Chunks the intake queue holds: each push takes one slot, so the buffer holds at most
/// this many chunks (6.4 s of 100 ms chunks, 1.28 s of 20 ms ones) even when `buffer`
/// allows more; a producer pushing tiny chunks then waits, as it does on a full buffer.
/// The queue and its recycle queue cost 2.5 KB, allocated with the first reply.
const INTAKE_SLOTS: usize = 64;
/// Events queued for the subscriber before new ones are dropped (counted).
const EVENT_SLOTS: usize = 256;
/// Owning-sink replies awaiting a playback report at once.
const PENDING_REPORTS: usize = 8;

/// How a track behaves. All durations are media time.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackConfig {
    /// The most speech the track buffers; a producer pushing more waits (back-pressure).
    pub buffer: Duration,
    /// How long after the last speech frame the track still counts as speaking (bridges
    /// gaps in streaming TTS). The seed uses 500 ms.
    pub grace_period: Duration,
    /// Fade applied to speech in the frame after an interrupt; 0 is a hard cut. At most one
    /// frame long.
    pub interrupt_fade: Duration,
    /// Play a reply only once this much of it is buffered (or it is finished). 0 = at once.
    pub start_threshold: Duration,
    /// Manual input control (the seed's `enable_audio_input(manual_control=True)`): after
    /// an interrupt, no reply can be opened until [`TrackHandle::enable_input`].
    pub manual_input: bool,
    /// How speech and background are summed.
    pub limiter: Limiter,
    /// How long to wait for an owning sink's playback report before ending a reply with an
    /// estimated position.
    pub report_timeout: Duration,
}

impl Default for TrackConfig {
    fn default() -> Self {
        Self {
            buffer: Duration::from_secs(10),
            grace_period: Duration::from_millis(500),
            interrupt_fade: Duration::from_millis(10),
            start_threshold: Duration::ZERO,
            manual_input: false,
            limiter: Limiter::SoftKnee,
            report_timeout: Duration::from_secs(2),
        }
    }
}

/// What [`Track::render`] produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameInfo {
    /// Presentation timestamp of the frame's first sample, in samples per channel from 0.
    pub pts: u64,
    /// The time base is `1 / sample_rate`.
    pub sample_rate: u32,
    /// Channels in the frame (interleaved).
    pub channels: u16,
    /// True when the frame carries speech (in the output, or only to an owning sink).
    pub speech: bool,
    /// The reply whose speech the frame carries.
    pub reply: Option<ReplyId>,
}

/// Counters since the track was created.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TrackStats {
    /// Frames rendered.
    pub frames: u64,
    /// Frames that carried speech.
    pub speech_frames: u64,
    /// Frames inside a started, unfinished reply that ran short of audio.
    pub underruns: u64,
    /// Frames handed out late by a pacer (see [`crate::Pacer`]).
    pub late_frames: u64,
    /// Frames of speech dropped because a sink's queue was full.
    pub sink_drops: u64,
    /// Events dropped because the subscriber did not keep up.
    pub events_dropped: u64,
    /// Replies played to the end.
    pub replies_completed: u64,
    /// Replies ended by interrupt.
    pub replies_interrupted: u64,
}

pub(crate) enum Entry {
    Start(Arc<ReplyState>),
    Pcm(Box<[i16]>),
}

pub(crate) struct Intake {
    entries: rtrb::Consumer<Entry>,
    recycle: rtrb::Producer<Box<[i16]>>,
}

/// The background source and the frame buffer it fills (allocated off the frame path).
pub(crate) struct Bus {
    source: Box<dyn Source>,
    buffer: Box<[i16]>,
}

/// Commands to the frame side, sent through a lock-free mailbox (see `mailbox.rs`).
pub(crate) enum Command {
    Intake(Box<Intake>),
    Background(Option<Box<Bus>>),
    Events(Box<rtrb::Producer<Event>>),
    AttachSink(Box<PacedTap>),
    DetachSink(SinkId),
}

#[derive(Debug, Default)]
struct Counters {
    frames: AtomicU64,
    speech_frames: AtomicU64,
    underruns: AtomicU64,
    late_frames: AtomicU64,
    events_dropped: AtomicU64,
    replies_completed: AtomicU64,
    replies_interrupted: AtomicU64,
}

/// The control side's half of the intake, behind a lock that only control calls take.
struct IntakeSide {
    entries: Option<rtrb::Producer<Entry>>,
    recycle: Option<rtrb::Consumer<Box<[i16]>>>,
    last_id: u64,
    open: Option<Arc<ReplyState>>,
    accepting: bool,
    manual: bool,
    ahead: Vec<AheadFeed>,
}

/// State shared by both sides.
pub(crate) struct Shared {
    pub(crate) format: Format,
    pub(crate) bound_values: usize,
    queued: AtomicUsize,
    space_waker: AtomicWaker,
    /// Set by a producer before it waits for room, so the frame side wakes only then.
    space_wanted: AtomicBool,
    pub(crate) event_waker: AtomicWaker,
    pause_requested: AtomicBool,
    interrupt_through: AtomicU64,
    speaking: AtomicBool,
    paused: AtomicBool,
    pub(crate) closed: AtomicBool,
    /// Where playback is, for ahead-delivering sinks' lead cap: reply id and offset.
    pub(crate) play_reply: AtomicU64,
    pub(crate) play_offset: AtomicU64,
    counters: Counters,
    intake: Mutex<IntakeSide>,
    commands: Mailbox<Command>,
    next_sink: AtomicU64,
    pub(crate) sink_drops: AtomicU64,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("format", &self.format)
            .field("queued", &self.queued)
            .finish_non_exhaustive()
    }
}

impl Shared {
    fn intake(&self) -> MutexGuard<'_, IntakeSide> {
        // Control calls never panic while holding this lock; recover if a caller's did.
        self.intake.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn send(&self, command: Command) -> Result<(), Error> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::TrackClosed);
        }
        self.commands.push(command);
        Ok(())
    }

    pub(crate) fn check_writable(&self, state: &ReplyState) -> Result<(), Error> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::TrackClosed);
        }
        if self.interrupt_through.load(Ordering::Acquire) >= state.id.0 {
            return Err(Error::ReplyInterrupted(state.id));
        }
        if state.finished.load(Ordering::Acquire) {
            return Err(Error::ReplyFinished(state.id));
        }
        Ok(())
    }

    /// Ready when `len` more values fit in the buffer and a queue slot is free.
    pub(crate) fn poll_room(
        &self,
        reply: ReplyId,
        len: usize,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), Error>> {
        let fits = |s: &Self| {
            let slots = s.intake().entries.as_ref().map_or(0, |p| p.slots());
            s.queued.load(Ordering::SeqCst) + len <= s.bound_values.max(len) && slots > 0
        };
        let gone = |s: &Self| {
            if s.closed.load(Ordering::Acquire) {
                Some(Error::TrackClosed)
            } else if s.interrupt_through.load(Ordering::Acquire) >= reply.0 {
                Some(Error::ReplyInterrupted(reply))
            } else {
                None
            }
        };
        if let Some(e) = gone(self) {
            return Poll::Ready(Err(e));
        }
        if fits(self) {
            return Poll::Ready(Ok(()));
        }
        // Dekker-style handshake with `Track::take`: announce, register, re-check (SeqCst).
        self.space_wanted.store(true, Ordering::SeqCst);
        self.space_waker.register(cx.waker());
        if let Some(e) = gone(self) {
            return Poll::Ready(Err(e));
        }
        if fits(self) {
            return Poll::Ready(Ok(()));
        }
        Poll::Pending
    }

    /// Queue one chunk for `state`'s reply, unless it was interrupted or finished meanwhile.
    /// The check and the push happen under the intake lock that `interrupt` also takes, so
    /// no chunk of an interrupted reply can enter the queue after `interrupt` returns.
    pub(crate) fn push_entry(&self, state: &ReplyState, entry: Entry) -> Result<(), Error> {
        let mut intake = self.intake();
        self.check_writable(state)?;
        intake.free_recycled();
        let Entry::Pcm(pcm) = &entry else {
            unreachable!("writers push only PCM");
        };
        let values = pcm.len();
        let offset = state.accepted.load(Ordering::Relaxed) / self.format.channels() as u64;
        for feed in &mut intake.ahead {
            feed.audio(state.id, offset, pcm);
        }
        let Some(entries) = intake.entries.as_mut() else {
            return Err(Error::TrackClosed);
        };
        if entries.push(entry).is_err() {
            unreachable!("poll_room saw a free slot and only this writer pushes PCM");
        }
        state.accepted.fetch_add(values as u64, Ordering::Relaxed);
        self.queued.fetch_add(values, Ordering::AcqRel);
        Ok(())
    }
}

impl Shared {
    /// Mark a reply finished (no more audio) once; ahead sinks learn it in order.
    pub(crate) fn finish_reply(&self, state: &ReplyState) {
        let mut intake = self.intake();
        if state.finished.swap(true, Ordering::AcqRel) {
            return;
        }
        if intake.open.as_ref().is_some_and(|o| o.id == state.id) {
            intake.open = None;
        }
        for feed in &mut intake.ahead {
            feed.control(TapMsg::ReplyEnded {
                reply: state.id,
                interrupted: false,
            });
        }
    }
}

impl IntakeSide {
    /// Free the chunks the frame side has finished with (off the frame path).
    fn free_recycled(&mut self) {
        if let Some(recycle) = self.recycle.as_mut() {
            while recycle.pop().is_ok() {}
        }
    }
}

/// The control side of a track: cheap to clone, usable from any task or thread.
#[derive(Debug, Clone)]
pub struct TrackHandle {
    shared: Arc<Shared>,
}

impl TrackHandle {
    /// The track's format.
    pub fn format(&self) -> Format {
        self.shared.format
    }

    /// Open the next reply. Any reply still open is finished first (a reply never runs
    /// into the next). Fails with [`Error::IntakeClosed`] after an interrupt in manual
    /// input mode until [`TrackHandle::enable_input`].
    pub fn open_reply(&self) -> Result<ReplyWriter, Error> {
        if self.shared.closed.load(Ordering::Acquire) {
            return Err(Error::TrackClosed);
        }
        let mut intake = self.shared.intake();
        if !intake.accepting {
            return Err(Error::IntakeClosed);
        }
        if intake.entries.is_none() {
            let (entries_tx, entries_rx) = rtrb::RingBuffer::new(INTAKE_SLOTS);
            let (recycle_tx, recycle_rx) = rtrb::RingBuffer::new(INTAKE_SLOTS);
            self.shared.send(Command::Intake(Box::new(Intake {
                entries: entries_rx,
                recycle: recycle_tx,
            })))?;
            intake.entries = Some(entries_tx);
            intake.recycle = Some(recycle_rx);
        }
        intake.free_recycled();
        if intake.entries.as_ref().is_some_and(|e| e.slots() == 0) {
            // The queue is full of chunks; the start marker must still go in order, so the
            // caller retries once frames have drained some. Rare: 64 queued chunks.
            return Err(Error::CommandQueueFull);
        }
        let id = ReplyId(intake.last_id + 1);
        let state = Arc::new(ReplyState::new(id));
        // The previous reply ends before the new one's marker can be seen.
        if let Some(previous) = intake.open.replace(state.clone()) {
            previous.finished.store(true, Ordering::Release);
        }
        let entries = intake.entries.as_mut().expect("created above");
        entries
            .push(Entry::Start(state.clone()))
            .unwrap_or_else(|_| unreachable!("a slot was checked free under the lock"));
        intake.last_id = id.0;
        for feed in &mut intake.ahead {
            feed.control(TapMsg::ReplyStarted(id));
        }
        Ok(ReplyWriter::new(self.shared.clone(), state))
    }

    /// Hold speech (silence goes out, pts keeps advancing) from the next frame on.
    pub fn pause(&self) {
        self.shared.pause_requested.store(true, Ordering::Release);
    }

    /// Play held speech again, unchanged, from the next frame on.
    pub fn resume(&self) {
        self.shared.pause_requested.store(false, Ordering::Release);
    }

    /// Barge-in: every reply opened so far ends as interrupted. The playing reply fades out
    /// within the next frame; queued audio is dropped; their writers' pushes are refused
    /// from now on. Also ends a pause. Returns the newest reply it covers, if any.
    pub fn interrupt(&self) -> Option<ReplyId> {
        let mut intake = self.shared.intake();
        if intake.last_id == 0 {
            return None;
        }
        let through = intake.last_id;
        self.shared
            .interrupt_through
            .fetch_max(through, Ordering::AcqRel);
        self.shared.pause_requested.store(false, Ordering::Release);
        if let Some(open) = intake.open.take() {
            open.finished.store(true, Ordering::Release);
        }
        if intake.manual {
            intake.accepting = false;
        }
        drop(intake);
        self.shared.space_waker.wake();
        Some(ReplyId(through))
    }

    /// Open intake again (the seed's `enable_audio_input`). With `manual` true, each
    /// interrupt closes intake until this is called again.
    pub fn enable_input(&self, manual: bool) {
        let mut intake = self.shared.intake();
        intake.manual = manual;
        intake.accepting = true;
    }

    /// Replace the background source (`None` removes it).
    pub fn set_background(&self, source: Option<Box<dyn Source>>) -> Result<(), Error> {
        let len = self.shared.format.frame_len();
        self.shared.send(Command::Background(source.map(|source| {
            Box::new(Bus {
                source,
                buffer: vec![0i16; len].into_boxed_slice(),
            })
        })))
    }

    /// Attach a sink: it gets its own bounded queue and worker thread.
    pub fn attach_sink(&self, sink: Box<dyn Sink>) -> Result<SinkId, Error> {
        let id = SinkId(self.shared.next_sink.fetch_add(1, Ordering::Relaxed) + 1);
        let (paced, ahead) = sink_tap::spawn(id, sink, &self.shared)?;
        if let Some(feed) = ahead {
            self.shared.intake().ahead.push(feed);
        }
        self.shared.send(Command::AttachSink(paced))?;
        Ok(id)
    }

    /// Detach a sink; it gets `Stop` and its worker ends.
    pub fn detach_sink(&self, id: SinkId) -> Result<(), Error> {
        self.shared.intake().ahead.retain(|f| f.id() != id);
        self.shared.send(Command::DetachSink(id))
    }

    /// Subscribe to the track's events. Only the newest stream receives them.
    pub fn events(&self) -> EventStream {
        let (tx, rx) = rtrb::RingBuffer::new(EVENT_SLOTS);
        if self.shared.send(Command::Events(Box::new(tx))).is_err() {
            // The frame side is not rendering; the stream will end when it is dropped.
            self.shared
                .counters
                .events_dropped
                .fetch_add(1, Ordering::Relaxed);
        }
        EventStream {
            rx,
            shared: self.shared.clone(),
        }
    }

    /// True while a reply is playing or held, or speech played within the grace period.
    pub fn is_speaking(&self) -> bool {
        self.shared.speaking.load(Ordering::Acquire)
    }

    /// True while paused.
    pub fn is_paused(&self) -> bool {
        self.shared.paused.load(Ordering::Acquire)
    }

    /// Speech buffered and not yet played, as a duration.
    pub fn buffered(&self) -> Duration {
        let values = self.shared.queued.load(Ordering::Acquire) as u64;
        self.shared
            .format
            .duration_of(values / self.shared.format.channels() as u64)
    }

    /// Counters since the track was created.
    pub fn stats(&self) -> TrackStats {
        let c = &self.shared.counters;
        TrackStats {
            frames: c.frames.load(Ordering::Relaxed),
            speech_frames: c.speech_frames.load(Ordering::Relaxed),
            underruns: c.underruns.load(Ordering::Relaxed),
            late_frames: c.late_frames.load(Ordering::Relaxed),
            sink_drops: self.shared.sink_drops.load(Ordering::Relaxed),
            events_dropped: c.events_dropped.load(Ordering::Relaxed),
            replies_completed: c.replies_completed.load(Ordering::Relaxed),
            replies_interrupted: c.replies_interrupted.load(Ordering::Relaxed),
        }
    }
}

/// The reply the frame side is on.
struct Current {
    state: Arc<ReplyState>,
    /// Values of this reply played so far.
    played: u64,
    started: bool,
}

/// Speech written into one frame.
struct Speech {
    /// Values written.
    filled: usize,
    /// The reply they belong to.
    reply: Option<ReplyId>,
    /// Position of the first value within the reply, in samples per channel.
    offset: u64,
    /// The reply has played its last sample.
    ended: bool,
}

impl Speech {
    const NONE: Speech = Speech {
        filled: 0,
        reply: None,
        offset: 0,
        ended: false,
    };
}

/// An owning sink's reply awaiting its playback report.
struct PendingReport {
    state: Arc<ReplyState>,
    outcome: ReplyOutcome,
    deadline_frame: u64,
}

/// The frame side of a track. Call [`Track::render`] once per frame period (a [`crate::Pacer`]
/// or [`crate::FrameClock`] does that); everything else happens through [`TrackHandle`].
pub struct Track {
    shared: Arc<Shared>,
    limiter: Limiter,
    entries: Option<rtrb::Consumer<Entry>>,
    recycle: Option<rtrb::Producer<Box<[i16]>>>,
    /// Chunk being played and the read position in it.
    chunk: Option<(Box<[i16]>, usize)>,
    current: Option<Current>,
    /// Owning sinks' replies awaiting a report; capacity reserved when such a sink attaches.
    pending: Vec<PendingReport>,
    /// Reports that arrived before their reply ended here (an ahead-delivering avatar can
    /// finish playing before the frame side reaches the reply's end).
    early_reports: Vec<crate::PlaybackReport>,
    /// The newest reply whose outcome is published: later reports for it are stale.
    last_ended: u64,
    pts: u64,
    frame_index: u64,
    frames: u64,
    speech_frames: u64,
    paused: bool,
    handled_through: u64,
    speaking: bool,
    silent_frames: u64,
    grace_frames: u64,
    fade_values: usize,
    threshold_values: usize,
    report_timeout_frames: u64,
    background: Option<Box<Bus>>,
    events: Option<rtrb::Producer<Event>>,
    taps: Vec<PacedTap>,
    owners: usize,
}

impl std::fmt::Debug for Track {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Track")
            .field("format", &self.shared.format)
            .field("pts", &self.pts)
            .field("paused", &self.paused)
            .finish_non_exhaustive()
    }
}

impl Track {
    /// A track for `format`. Fails if a configuration value is out of range.
    pub fn new(format: Format, config: TrackConfig) -> Result<Self, Error> {
        if config.buffer < format.frame_duration() {
            return Err(Error::InvalidConfig(format!(
                "buffer {:?} is shorter than one frame ({:?})",
                config.buffer,
                format.frame_duration()
            )));
        }
        if config.start_threshold > config.buffer {
            return Err(Error::InvalidConfig(format!(
                "start_threshold {:?} exceeds the buffer {:?}: a reply could never start",
                config.start_threshold, config.buffer
            )));
        }
        let channels = format.channels() as usize;
        let values = |d: Duration| format.samples_in(d) as usize * channels;
        let frame_ms = format.frame_ms() as u64;
        let shared = Arc::new(Shared {
            format,
            bound_values: values(config.buffer),
            queued: AtomicUsize::new(0),
            space_waker: AtomicWaker::new(),
            space_wanted: AtomicBool::new(false),
            event_waker: AtomicWaker::new(),
            pause_requested: AtomicBool::new(false),
            interrupt_through: AtomicU64::new(0),
            speaking: AtomicBool::new(false),
            paused: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            play_reply: AtomicU64::new(0),
            play_offset: AtomicU64::new(0),
            counters: Counters::default(),
            intake: Mutex::new(IntakeSide {
                entries: None,
                recycle: None,
                last_id: 0,
                open: None,
                accepting: true,
                manual: config.manual_input,
                ahead: Vec::new(),
            }),
            commands: Mailbox::new(),
            next_sink: AtomicU64::new(0),
            sink_drops: AtomicU64::new(0),
        });
        Ok(Self {
            fade_values: values(config.interrupt_fade).min(format.frame_len()),
            threshold_values: values(config.start_threshold),
            grace_frames: (config.grace_period.as_millis() as u64).div_ceil(frame_ms),
            report_timeout_frames: (config.report_timeout.as_millis() as u64).div_ceil(frame_ms),
            shared,
            limiter: config.limiter,
            entries: None,
            recycle: None,
            chunk: None,
            current: None,
            pending: Vec::new(),
            early_reports: Vec::new(),
            last_ended: 0,
            pts: 0,
            frame_index: 0,
            frames: 0,
            speech_frames: 0,
            paused: false,
            handled_through: 0,
            speaking: false,
            silent_frames: 0,
            background: None,
            events: None,
            taps: Vec::new(),
            owners: 0,
        })
    }

    /// A control handle for this track.
    pub fn handle(&self) -> TrackHandle {
        TrackHandle {
            shared: self.shared.clone(),
        }
    }

    /// The track's format.
    pub fn format(&self) -> Format {
        self.shared.format
    }

    /// The pts the next frame will carry.
    pub fn next_pts(&self) -> u64 {
        self.pts
    }

    pub(crate) fn count_late(&self) {
        self.shared
            .counters
            .late_frames
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Render the next frame into `out` (`format().frame_len()` interleaved values).
    ///
    /// This is the per-frame path: it allocates nothing, takes no lock and does no I/O.
    ///
    /// # Panics
    /// If `out` is not exactly one frame long (a programming error, not a runtime condition).
    pub fn render(&mut self, out: &mut [i16]) -> FrameInfo {
        let format = self.shared.format;
        assert_eq!(
            out.len(),
            format.frame_len(),
            "render needs exactly one frame"
        );
        out.fill(0);
        let pts = self.pts;
        self.apply_commands();

        let through = self.shared.interrupt_through.load(Ordering::Acquire);
        let interrupting = through > self.handled_through;
        let was_paused = self.paused;
        self.apply_pause(pts);

        let speech = if interrupting {
            self.interrupt(out, through, pts, !was_paused)
        } else if !self.paused {
            self.fill_speech(out, pts)
        } else {
            Speech::NONE
        };
        let filled = speech.filled;
        out[filled..].fill(0);
        if let (Some(reply), false) = (speech.reply, interrupting) {
            self.tee_audio(reply, speech.offset, pts, &out[..filled]);
        }
        if speech.ended {
            self.finish_current(false, pts);
        }
        self.wake_taps();
        if self.owners > 0 {
            out[..filled].fill(0);
        }
        let reply = speech.reply;
        self.poll_reports(pts);
        self.mix_background(out, filled > 0, pts);
        self.update_speaking(filled > 0, pts);

        // Only this side writes these counters: plain stores, no read-modify-write.
        self.frames += 1;
        self.speech_frames += (filled > 0) as u64;
        let c = &self.shared.counters;
        c.frames.store(self.frames, Ordering::Relaxed);
        c.speech_frames.store(self.speech_frames, Ordering::Relaxed);
        self.pts += format.frame_samples() as u64;
        self.frame_index += 1;
        FrameInfo {
            pts,
            sample_rate: format.sample_rate(),
            channels: format.channels(),
            speech: filled > 0,
            reply,
        }
    }

    fn apply_commands(&mut self) {
        if self.shared.commands.is_empty() {
            return;
        }
        // Rare (a control call happened): the clone lets `apply` borrow the track mutably.
        let shared = self.shared.clone();
        shared.commands.drain(|command| self.apply(command));
    }

    fn apply(&mut self, command: Command) {
        match command {
            Command::Intake(intake) => {
                self.entries = Some(intake.entries);
                self.recycle = Some(intake.recycle);
            }
            Command::Background(bg) => self.background = bg,
            Command::Events(tx) => self.events = Some(*tx),
            Command::AttachSink(tap) => {
                if tap.owns {
                    self.owners += 1;
                    // Attaching is a control event: reserve here, never while playing.
                    self.pending.reserve(PENDING_REPORTS);
                    self.early_reports.reserve(PENDING_REPORTS);
                }
                self.taps.push(*tap);
            }
            Command::DetachSink(id) => {
                if let Some(i) = self.taps.iter().position(|t| t.id == id) {
                    let tap = self.taps.swap_remove(i);
                    if tap.owns {
                        self.owners -= 1;
                    }
                    tap.stop();
                }
            }
        }
    }

    fn apply_pause(&mut self, pts: u64) {
        let want = self.shared.pause_requested.load(Ordering::Acquire);
        if want == self.paused {
            return;
        }
        // `interrupt` clears the request too, so an interrupt ends a pause here.
        self.set_paused(want, pts);
    }

    fn set_paused(&mut self, paused: bool, pts: u64) {
        self.paused = paused;
        self.shared.paused.store(paused, Ordering::Release);
        let (event, msg) = if paused {
            (Event::Paused { pts }, TapMsg::Paused)
        } else {
            (Event::Resumed { pts }, TapMsg::Resumed)
        };
        self.emit(event);
        for tap in &mut self.taps {
            tap.control(msg);
        }
    }

    /// Fill `out` with the current reply's speech (starting the next reply if due).
    fn fill_speech(&mut self, out: &mut [i16], pts: u64) -> Speech {
        if self.current.is_none() && !self.start_next_reply() {
            return Speech::NONE;
        }
        let filled = self.take(out);
        let channels = self.shared.format.channels() as u64;
        let current = self.current.as_mut().expect("started above");
        let id = current.state.id;
        let offset = current.played / channels;
        current.played += filled as u64;
        if filled > 0 && !current.started {
            current.started = true;
            self.emit(Event::SpeechStarted { reply: id, pts });
        }
        let ended = self.reply_drained();
        if !ended && filled < out.len() {
            self.shared
                .counters
                .underruns
                .fetch_add(1, Ordering::Relaxed);
        }
        self.publish_position();
        Speech {
            filled,
            reply: (filled > 0).then_some(id),
            offset,
            ended,
        }
    }

    /// Pop the next reply's start marker if it may start (threshold met or finished).
    fn start_next_reply(&mut self) -> bool {
        let Some(entries) = self.entries.as_mut() else {
            return false;
        };
        let Ok(Entry::Start(state)) = entries.peek() else {
            return false;
        };
        let buffered = self.shared.queued.load(Ordering::Acquire);
        if buffered < self.threshold_values && !state.finished.load(Ordering::Acquire) {
            return false;
        }
        let Ok(Entry::Start(state)) = entries.pop() else {
            unreachable!("peeked a start marker");
        };
        for tap in &mut self.taps {
            tap.control(TapMsg::ReplyStarted(state.id));
        }
        self.current = Some(Current {
            state,
            played: 0,
            started: false,
        });
        true
    }

    /// Copy queued PCM of the current reply into `out`; returns values copied.
    fn take(&mut self, out: &mut [i16]) -> usize {
        let mut filled = 0;
        while filled < out.len() {
            if self.chunk.is_none() {
                let Some(entries) = self.entries.as_mut() else {
                    break;
                };
                match entries.peek() {
                    Ok(Entry::Pcm(_)) => {}
                    _ => break,
                }
                let Ok(Entry::Pcm(pcm)) = entries.pop() else {
                    unreachable!("peeked a chunk");
                };
                self.chunk = Some((pcm, 0));
            }
            let (pcm, pos) = self.chunk.as_mut().expect("set above");
            let n = (pcm.len() - *pos).min(out.len() - filled);
            out[filled..filled + n].copy_from_slice(&pcm[*pos..*pos + n]);
            *pos += n;
            filled += n;
            if *pos == pcm.len() {
                let (pcm, _) = self.chunk.take().expect("set above");
                self.recycle(pcm);
            }
        }
        self.shared.queued.fetch_sub(filled, Ordering::SeqCst);
        if filled > 0 && self.shared.space_wanted.load(Ordering::SeqCst) {
            self.shared.space_wanted.store(false, Ordering::Relaxed);
            self.shared.space_waker.wake();
        }
        filled
    }

    /// Hand a consumed chunk back to the control side to be freed there.
    fn recycle(&mut self, pcm: Box<[i16]>) {
        if let Some(recycle) = self.recycle.as_mut() {
            // A full recycle queue means nobody has pushed for a while; freeing here is
            // then the lesser evil (rare, never in steady state).
            let _ = recycle.push(pcm);
        }
    }

    /// The current reply has no more audio coming and none left queued.
    fn reply_drained(&mut self) -> bool {
        let Some(current) = &self.current else {
            return false;
        };
        if self.chunk.is_some() {
            return false;
        }
        let head_is_audio = self
            .entries
            .as_mut()
            .is_some_and(|e| matches!(e.peek(), Ok(Entry::Pcm(_))));
        !head_is_audio && current.state.finished.load(Ordering::Acquire)
    }

    fn finish_current(&mut self, interrupted: bool, pts: u64) {
        let Some(current) = self.current.take() else {
            return;
        };
        let channels = self.shared.format.channels() as u64;
        for tap in &mut self.taps {
            tap.control(TapMsg::ReplyEnded {
                reply: current.state.id,
                interrupted,
            });
        }
        self.end_reply(current.state, current.played / channels, interrupted, pts);
    }

    /// Report a reply's end now, or hold it for an owning sink's report.
    fn end_reply(
        &mut self,
        state: Arc<ReplyState>,
        played_samples: u64,
        interrupted: bool,
        pts: u64,
    ) {
        let outcome = ReplyOutcome {
            reply: state.id,
            played_samples,
            played: self.shared.format.duration_of(played_samples),
            interrupted,
            position: Position::Exact,
            pts,
        };
        if self.owners == 0 {
            return self.publish_outcome(&state, outcome);
        }
        if let Some(i) = self
            .early_reports
            .iter()
            .position(|r| r.reply == outcome.reply)
        {
            let report = self.early_reports.swap_remove(i);
            let outcome = self.reported(outcome, &report, pts);
            return self.publish_outcome(&state, outcome);
        }
        let deadline_frame = self.frame_index + self.report_timeout_frames;
        if self.pending.len() < PENDING_REPORTS {
            self.pending.push(PendingReport {
                state,
                outcome,
                deadline_frame,
            });
        } else {
            let outcome = ReplyOutcome {
                position: Position::Estimated,
                ..outcome
            };
            self.publish_outcome(&state, outcome);
        }
    }

    /// The outcome an owning sink's report establishes.
    fn reported(
        &self,
        outcome: ReplyOutcome,
        report: &crate::PlaybackReport,
        pts: u64,
    ) -> ReplyOutcome {
        ReplyOutcome {
            played_samples: report.played_samples,
            played: self.shared.format.duration_of(report.played_samples),
            interrupted: report.interrupted || outcome.interrupted,
            position: Position::Reported,
            pts,
            ..outcome
        }
    }

    fn publish_outcome(&mut self, state: &ReplyState, outcome: ReplyOutcome) {
        self.last_ended = self.last_ended.max(outcome.reply.0);
        let c = &self.shared.counters;
        if outcome.interrupted {
            c.replies_interrupted.fetch_add(1, Ordering::Relaxed);
        } else {
            c.replies_completed.fetch_add(1, Ordering::Relaxed);
        }
        state.complete(&outcome);
        self.emit(Event::PlaybackFinished(outcome));
    }

    /// Owning sinks' reports, and timeouts for replies whose report never comes.
    fn poll_reports(&mut self, pts: u64) {
        for t in 0..self.taps.len() {
            while let Ok(report) = self.taps[t].reports.pop() {
                let Some(i) = self
                    .pending
                    .iter()
                    .position(|p| p.outcome.reply == report.reply)
                else {
                    // Not ended here yet: keep it (bounded) until the reply ends.
                    let stale = report.reply.0 <= self.last_ended;
                    if !stale && self.early_reports.len() < PENDING_REPORTS {
                        self.early_reports.push(report);
                    }
                    continue;
                };
                let p = self.pending.swap_remove(i);
                let outcome = self.reported(p.outcome, &report, pts);
                self.publish_outcome(&p.state, outcome);
            }
        }
        let mut i = 0;
        while i < self.pending.len() {
            if self.frame_index < self.pending[i].deadline_frame {
                i += 1;
                continue;
            }
            let p = self.pending.swap_remove(i);
            let outcome = ReplyOutcome {
                position: Position::Estimated,
                ..p.outcome
            };
            self.publish_outcome(&p.state, outcome);
        }
    }

    /// Handle an interrupt: fade the playing reply out within this frame (unless it was
    /// paused, hence silent), drop everything queued up to `through`, end each covered reply.
    fn interrupt(&mut self, out: &mut [i16], through: u64, pts: u64, audible: bool) -> Speech {
        self.handled_through = through;
        for tap in &mut self.taps {
            tap.interrupt(ReplyId(through));
        }
        let mut speech = Speech::NONE;
        let playing = self.current.as_ref().is_some_and(|c| c.started);
        if playing && audible && self.fade_values > 0 {
            let fade = self.fade_values;
            let faded = self.take(&mut out[..fade]);
            apply_fade_out(&mut out[..faded], self.shared.format.channels() as usize);
            let current = self.current.as_mut().expect("playing");
            current.played += faded as u64;
            speech.filled = faded;
            speech.reply = (faded > 0).then_some(current.state.id);
        }
        self.finish_current(true, pts);
        // Drop the rest of every covered reply.
        if let Some((pcm, pos)) = self.chunk.take() {
            self.shared
                .queued
                .fetch_sub(pcm.len() - pos, Ordering::AcqRel);
            self.recycle(pcm);
        }
        while let Some(entries) = self.entries.as_mut() {
            match entries.peek() {
                Ok(Entry::Start(s)) if s.id.0 > through => break,
                Err(_) => break,
                Ok(_) => {}
            }
            match entries.pop() {
                Ok(Entry::Pcm(pcm)) => {
                    self.shared.queued.fetch_sub(pcm.len(), Ordering::AcqRel);
                    self.recycle(pcm);
                }
                Ok(Entry::Start(state)) => self.end_reply(state, 0, true, pts),
                Err(_) => break,
            }
        }
        self.shared.space_waker.wake();
        speech
    }

    fn publish_position(&self) {
        if let Some(c) = &self.current {
            self.shared
                .play_reply
                .store(c.state.id.0, Ordering::Relaxed);
            self.shared.play_offset.store(
                c.played / self.shared.format.channels() as u64,
                Ordering::Relaxed,
            );
        }
    }

    fn tee_audio(&mut self, reply: ReplyId, offset: u64, pts: u64, samples: &[i16]) {
        for tap in &mut self.taps {
            tap.audio(reply, offset, pts, samples);
        }
    }

    fn wake_taps(&mut self) {
        let mut detached = false;
        for tap in &mut self.taps {
            tap.wake();
            detached |= tap.is_detached();
        }
        if detached {
            self.remove_detached();
        }
    }

    fn remove_detached(&mut self) {
        let mut i = 0;
        while i < self.taps.len() {
            if !self.taps[i].is_detached() {
                i += 1;
                continue;
            }
            let tap = self.taps.swap_remove(i);
            if tap.owns {
                self.owners -= 1;
            }
            let (name, reason) = tap.detach_reason();
            self.emit(Event::SinkDetached {
                sink: tap.id,
                name,
                reason,
            });
        }
    }

    fn mix_background(&mut self, out: &mut [i16], speech_active: bool, pts: u64) {
        let Some(background) = self.background.as_deref_mut() else {
            return;
        };
        let Bus {
            source,
            buffer: bus,
        } = background;
        bus.fill(0);
        let cx = BusContext {
            format: self.shared.format,
            pts,
            speech_active,
        };
        // A panicking source must not take the frame clock down (the seed returned `None`
        // to the media stack): it is dropped, the frame goes out without it, an event says why.
        let filled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            source.fill(bus, &cx);
        }));
        match filled {
            Ok(()) => self.limiter.mix_into(out, bus),
            Err(panic) => {
                self.background = None;
                let reason = panic_message(panic.as_ref());
                self.emit(Event::BackgroundFailed { pts, reason });
            }
        }
    }

    fn update_speaking(&mut self, speech: bool, pts: u64) {
        if speech {
            self.silent_frames = 0;
            if !self.speaking {
                self.set_speaking(true, pts);
            }
            return;
        }
        self.silent_frames += 1;
        let idle = self.current.is_none() && self.shared.queued.load(Ordering::Acquire) == 0;
        if self.speaking && idle && self.silent_frames >= self.grace_frames {
            self.set_speaking(false, pts);
        }
    }

    fn set_speaking(&mut self, speaking: bool, pts: u64) {
        self.speaking = speaking;
        self.shared.speaking.store(speaking, Ordering::Release);
        self.emit(Event::SpeakingChanged { speaking, pts });
    }

    fn emit(&mut self, event: Event) {
        let Some(events) = self.events.as_mut() else {
            return;
        };
        if events.push(event).is_err() {
            self.shared
                .counters
                .events_dropped
                .fetch_add(1, Ordering::Relaxed);
        }
        self.shared.event_waker.wake();
    }
}

impl Drop for Track {
    fn drop(&mut self) {
        self.shared.closed.store(true, Ordering::Release);
        for tap in &self.taps {
            tap.stop();
        }
        self.shared.event_waker.wake();
        self.shared.space_waker.wake();
        for p in &self.pending {
            p.state.wake_closed();
        }
        if let Some(current) = &self.current {
            current.state.wake_closed();
        }
    }
}

/// The text of a panic payload, for events.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panicked".into())
}

/// Linear fade from full level to silence over `samples` (interleaved, `channels` wide).
fn apply_fade_out(samples: &mut [i16], channels: usize) {
    let frames = samples.len() / channels;
    for (i, frame) in samples.chunks_exact_mut(channels).enumerate() {
        let gain = (frames - i) as i32;
        for s in frame {
            *s = (*s as i32 * gain / (frames as i32 + 1)) as i16;
        }
    }
}
