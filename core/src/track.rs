//! The frame side of a track: [`Track`], owned by whoever renders frames. Each
//! [`Track::render`] applies queued commands, handles pause and interrupt, plays the
//! current reply's samples, copies speech to the sinks' taps, mixes the background and
//! queues events. It never allocates, locks or does I/O; how replies end (outcomes and
//! owning sinks' reports) is in `reports.rs`, the queue it reads in `intake.rs`.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use crate::commands::{Bus, Command};
use crate::control::Control;
use crate::events::{Event, EventSender};
use crate::intake::{Intake, IntakeReader};
use crate::prefetch::prefetch;
use crate::reply_state::ReplyState;
use crate::reports::Outcomes;
use crate::shared::{Counters, Shared};
use crate::sink_tap::{At, Tap, TapMsg};
use crate::{BusContext, Error, Format, Limiter, ReplyId, TrackConfig, TrackHandle};
use voxpace_loudness::{Meter, TruePeakLimiter};

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

/// The reply the frame side is on. Its id is kept here: the state is another cache line
/// per track, read per frame only for whether the producer finished (and then only once
/// what was seen of the intake is played).
struct Current {
    state: Arc<ReplyState>,
    id: ReplyId,
    /// Values of this reply played so far (speech started once it is above 0).
    played: u64,
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

/// The frame side of a track. Call [`Track::render`] once per frame period (a [`crate::Pacer`]
/// or [`crate::FrameClock`] does that); everything else happens through [`TrackHandle`].
pub struct Track {
    /// The track's one shared allocation: the atomics both sides read (`Shared`), and the
    /// control side's state, whose command mailbox this side drains (see `control.rs`).
    control: Arc<Control>,
    /// How the bus is mixed without the true-peak limiter: clip rather than soft knee.
    clip: bool,
    intake: IntakeReader,
    current: Option<Current>,
    outcomes: Outcomes,
    events: EventSender,
    /// Frames rendered so far (the next frame's pts is this many frames in).
    frame_index: u64,
    paused: bool,
    handled_through: u64,
    speaking: bool,
    // Counts and settings in 32 bits: this struct is per track, and thousands of tracks
    // share one clock thread's cache.
    silent_frames: u32,
    grace_frames: u32,
    fade_values: u32,
    threshold_values: u32,
    /// The background and the frame buffer it fills (boxed by the control side, so that
    /// applying the command allocates nothing here).
    background: Option<Box<Bus>>,
    /// The true-peak limiter and the meter, on the tracks configured with either.
    post: Option<Box<Post>>,
    taps: Taps,
    /// The reply played last and how far, in samples per channel (published each frame).
    last_played: (u64, u64),
}

/// What is done to a frame after its speech and background, on the tracks configured with
/// any of it (one box, made with the track: most tracks have none, and `Track` is per
/// track): the true-peak limiter, the output meter.
struct Post {
    true_peak: Option<TruePeak>,
    meter: Option<OutputMeter>,
}

/// The attached sinks' taps: one pointer while there are none (most tracks), the list
/// boxed with the first (the frame side applies the attach command: a control event).
#[allow(clippy::box_collection)] // one pointer in per-track state, not a Vec's three
struct Taps(Option<Box<Vec<Tap>>>);

impl Taps {
    fn push(&mut self, tap: Tap) {
        self.0.get_or_insert_with(Box::default).push(tap);
    }

    fn swap_remove(&mut self, i: usize) -> Tap {
        self.0.as_mut().expect("index in range").swap_remove(i)
    }
}

impl std::ops::Deref for Taps {
    type Target = [Tap];
    fn deref(&self) -> &[Tap] {
        self.0.as_deref().map_or(&[], |v| v)
    }
}

impl std::ops::DerefMut for Taps {
    fn deref_mut(&mut self) -> &mut [Tap] {
        match self.0.as_deref_mut() {
            Some(v) => v,
            None => &mut [],
        }
    }
}

impl<'a> IntoIterator for &'a mut Taps {
    type Item = &'a mut Tap;
    type IntoIter = std::slice::IterMut<'a, Tap>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter_mut()
    }
}

impl<'a> IntoIterator for &'a Taps {
    type Item = &'a Tap;
    type IntoIter = std::slice::Iter<'a, Tap>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// [`Limiter::TruePeak`]'s state: the limiter and the frame it limits, summed in floats.
struct TruePeak {
    limiter: TruePeakLimiter,
    sum: Box<[f32]>,
}

/// The output's momentary loudness, published every 100 ms.
struct OutputMeter {
    meter: Meter,
    samples: u64,
    every: u64,
}

impl std::fmt::Debug for Track {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Track")
            .field("format", &self.control.shared().format)
            .field("pts", &self.next_pts())
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
        // The intake counts its bound in 32 bits (see `intake.rs`).
        let longest_buffer = format.duration_of(u32::MAX as u64 / format.channels() as u64);
        if config.buffer > longest_buffer {
            return Err(Error::InvalidConfig(format!(
                "buffer {:?} is longer than a track can hold ({longest_buffer:?} in this format)",
                config.buffer
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
        let frames_in = |d: Duration| (d.as_millis() as u64).div_ceil(frame_ms);
        let shared = Shared::new(format);
        let bad = |e: voxpace_loudness::Error| Error::InvalidConfig(e.to_string());
        if let Some(n) = &config.loudness {
            n.validate().map_err(bad)?;
        }
        let (rate, ch) = (format.sample_rate(), format.channels());
        let true_peak = match config.limiter {
            Limiter::TruePeak {
                ceiling_dbtp,
                release,
            } => Some(TruePeak {
                limiter: TruePeakLimiter::new(rate, ch, ceiling_dbtp, release).map_err(bad)?,
                sum: vec![0.0; format.frame_len()].into_boxed_slice(),
            }),
            _ => None,
        };
        let meter = match config.output_meter {
            true => Some(OutputMeter {
                meter: Meter::momentary(rate, ch as u32).map_err(bad)?,
                samples: 0,
                every: rate as u64 / 10,
            }),
            false => None,
        };
        let bound = values(config.buffer) as u32; // checked against `longest_buffer` above
        let intake = Intake::new(shared, bound, config.manual_input, config.loudness);
        Ok(Self {
            control: Arc::new(Control::new(intake)),
            intake: IntakeReader::empty(),
            outcomes: Outcomes::new(frames_in(config.report_timeout)),
            events: EventSender::new(),
            fade_values: small(values(config.interrupt_fade).min(format.frame_len()) as u64),
            threshold_values: small(values(config.start_threshold) as u64),
            grace_frames: small(frames_in(config.grace_period)),
            clip: matches!(config.limiter, Limiter::Clip),
            current: None,
            frame_index: 0,
            paused: false,
            handled_through: 0,
            speaking: false,
            silent_frames: 0,
            post: (true_peak.is_some() || meter.is_some())
                .then(|| Box::new(Post { true_peak, meter })),
            background: None,
            taps: Taps(None),
            last_played: (0, 0),
        })
    }

    /// A control handle for this track.
    pub fn handle(&self) -> TrackHandle {
        TrackHandle::new(self.control.clone())
    }

    /// The track's format.
    pub fn format(&self) -> Format {
        self.control.shared().format
    }

    /// How many samples (per channel) the mix comes out later than the speech and the bus
    /// that make it: the true-peak limiter's look-ahead, 0 with the other limiters.
    pub fn mix_delay(&self) -> usize {
        let true_peak = self.post.as_ref().and_then(|p| p.true_peak.as_ref());
        true_peak.map_or(0, |t| t.limiter.latency())
    }

    /// The pts the next frame will carry.
    pub fn next_pts(&self) -> u64 {
        self.frame_index * self.control.shared().format.frame_samples() as u64
    }

    /// Start loading what the next [`Track::render`] reads first: the shared atomics and
    /// the samples it plays next (the frame clock asks for the next track's while it
    /// renders one; see `prefetch.rs`).
    pub(crate) fn prefetch(&self) {
        let shared = self.control.shared();
        prefetch(&shared.format);
        prefetch(&shared.commands_waiting);
        prefetch(&shared.room);
        prefetch(&shared.play);
        prefetch(&shared.counters);
        self.intake.prefetch();
    }

    pub(crate) fn count_late(&self) {
        Counters::count(&self.control.shared().counters.late_frames);
    }

    /// Render the next frame into `out` (`format().frame_len()` interleaved values).
    ///
    /// This is the per-frame path: it allocates nothing, takes no lock and does no I/O.
    ///
    /// # Panics
    /// If `out` is not exactly one frame long (a programming error, not a runtime condition).
    pub fn render(&mut self, out: &mut [i16]) -> FrameInfo {
        let format = self.control.shared().format;
        assert_eq!(
            out.len(),
            format.frame_len(),
            "render needs exactly one frame"
        );
        // No clearing here: every path below writes all of `out` (speech, then zeros past
        // it), and clearing first would write the frame twice.
        let pts = self.next_pts();
        // Reports that answer this frame's sink messages are taken on the next frame,
        // never by a race within this one (renders on a virtual clock rely on it).
        // What plays now, as every sink message queued during this frame says: a snapshot
        // taken here (and again once the frame's speech is known), so it is the same on
        // every run of a virtual-clock render and its parts never disagree.
        let now = self.now(pts);
        for tap in &mut self.taps {
            tap.mark_reports();
            tap.set_now(now);
        }
        self.apply_commands();

        let through = self
            .control
            .shared()
            .interrupt_through
            .load(Ordering::Acquire);
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
        // From here on, "now" is what this frame plays: its speech, if it has any.
        let now = match speech.reply {
            Some(reply) => At {
                pts,
                reply: Some(reply),
                offset: speech.offset,
            },
            None => self.now(pts),
        };
        for tap in &mut self.taps {
            tap.set_now(now);
        }
        let filled = speech.filled;
        out[filled..].fill(0);
        if let (Some(reply), false) = (speech.reply, interrupting) {
            self.tee_audio(reply, speech.offset, pts, &out[..filled]);
        }
        if speech.ended {
            self.finish_current(false, pts, filled);
        } else if !interrupting {
            self.look_ahead(pts + format.frame_samples() as u64);
        }
        self.wake_taps();
        if self.outcomes.has_owner() {
            out[..filled].fill(0);
        }
        let reply = speech.reply;
        self.outcomes.poll(
            self.control.shared(),
            &mut self.taps,
            self.frame_index,
            pts,
            &mut self.events,
        );
        self.mix_background(out, filled > 0, pts);
        self.limit_true_peak(out);
        self.meter_output(out);
        self.update_speaking(filled > 0, pts);

        // Only this side writes this counter: a plain load and store, no
        // read-modify-write (and no copy of it in the track: it is per-track state). The
        // frames rendered are counted by the play position's pts.
        let c = &self.control.shared().counters;
        if filled > 0 {
            let n = c.speech_frames.load(Ordering::Relaxed);
            c.speech_frames.store(n + 1, Ordering::Relaxed);
        }
        self.frame_index += 1;
        let (played_reply, played_offset) = self.last_played;
        self.control
            .shared()
            .play
            .publish(self.next_pts(), played_reply, played_offset);
        FrameInfo {
            pts,
            sample_rate: format.sample_rate(),
            channels: format.channels(),
            speech: filled > 0,
            reply,
        }
    }

    fn apply_commands(&mut self) {
        if !self
            .control
            .shared()
            .commands_waiting
            .load(Ordering::Relaxed)
        {
            return;
        }
        // Cleared before draining: a command queued meanwhile sets it again.
        self.control
            .shared()
            .commands_waiting
            .swap(false, Ordering::Acquire);
        // Rare (a control call happened): the clone lets `apply` borrow the track mutably.
        let control = self.control.clone();
        control.commands.drain(|command| self.apply(command));
    }

    fn apply(&mut self, command: Command) {
        match command {
            Command::Intake(reader) => self.intake.replace(*reader),
            Command::Background(bg) => self.background = bg,
            Command::Events(tx) => self.events.subscribe(tx),
            Command::AttachSink(mut tap) => {
                if tap.owns {
                    self.outcomes.owner_attached();
                }
                // Its `Start` is delivered with this frame's "now".
                tap.set_now(self.now(self.next_pts()));
                tap.control(TapMsg::Attached);
                self.taps.push(*tap);
            }
            Command::DetachSink(id) => {
                if let Some(i) = self.taps.iter().position(|t| t.id == id) {
                    let tap = self.taps.swap_remove(i);
                    if tap.owns {
                        self.outcomes.owner_detached();
                    }
                    tap.stop();
                }
            }
        }
    }

    fn apply_pause(&mut self, pts: u64) {
        let want = self
            .control
            .shared()
            .pause_requested
            .load(Ordering::Acquire);
        if want == self.paused {
            return;
        }
        // `interrupt` clears the request too, so an interrupt ends a pause here.
        self.set_paused(want, pts);
    }

    fn set_paused(&mut self, paused: bool, pts: u64) {
        self.paused = paused;
        self.control
            .shared()
            .paused
            .store(paused, Ordering::Release);
        let at = self.at(pts, 0);
        let (event, msg) = if paused {
            (Event::Paused { pts }, TapMsg::Paused(at))
        } else {
            (Event::Resumed { pts }, TapMsg::Resumed(at))
        };
        self.events.emit(self.control.shared(), event);
        for tap in &mut self.taps {
            tap.control(msg);
        }
    }

    /// Fill `out` with the current reply's speech (starting the next reply if due).
    fn fill_speech(&mut self, out: &mut [i16], pts: u64) -> Speech {
        if self.current.is_none() && !self.start_next_reply() {
            return Speech::NONE;
        }
        let filled = self.intake.take(self.control.shared(), out);
        let channels = self.control.shared().format.channels() as u64;
        let current = self.current.as_mut().expect("started above");
        let id = current.id;
        let offset = current.played / channels;
        let started = current.played > 0;
        current.played += filled as u64;
        if filled > 0 && !started {
            self.events.emit(
                self.control.shared(),
                Event::SpeechStarted { reply: id, pts },
            );
        }
        let ended = self.intake.drained(&current.state);
        self.play_marks(id, offset, offset + filled as u64 / channels, pts);
        if !ended && filled < out.len() {
            Counters::count(&self.control.shared().counters.underruns);
        }
        self.publish_position();
        Speech {
            filled,
            reply: (filled > 0).then_some(id),
            offset,
            ended,
        }
    }

    /// Report the marks of `reply` whose first sample is among those just played, samples
    /// `from..to` of the reply starting at `pts`: to each paced sink (before the frame's
    /// audio) and as `TextPlayed` events, each at its own sample's pts.
    fn play_marks(&mut self, reply: ReplyId, from: u64, to: u64, pts: u64) {
        while let Some(mark) = self.intake.next_mark(self.control.shared(), reply, to) {
            let at = pts + mark.offset.saturating_sub(from);
            for tap in &mut self.taps {
                tap.text(reply, mark.offset, at, &mark.text);
            }
            self.events
                .text_played(self.control.shared(), reply, &mark.text, mark.offset, at);
            // The reply's text log still holds the text: dropping `mark` frees nothing.
        }
    }

    /// Start the next queued reply if it may start (threshold met or finished).
    fn start_next_reply(&mut self) -> bool {
        let Some(state) = self
            .intake
            .start_next(self.control.shared(), self.threshold_values as usize)
        else {
            return false;
        };
        for tap in &mut self.taps {
            tap.control(TapMsg::ReplyStarted(state.id));
        }
        self.current = Some(Current {
            id: state.id,
            state,
            played: 0,
        });
        true
    }

    /// Where the output is `filled` values into the frame at `pts`: the reply playing and
    /// how much of it played.
    fn at(&self, pts: u64, filled: usize) -> At {
        let channels = self.control.shared().format.channels() as u64;
        At {
            pts: pts + filled as u64 / channels,
            reply: self.current.as_ref().map(|c| c.id),
            offset: self.current.as_ref().map_or(0, |c| c.played / channels),
        }
    }

    /// End the current reply; its last sample is `filled` values into the frame at `pts`.
    fn finish_current(&mut self, interrupted: bool, pts: u64, filled: usize) {
        let at = self.at(pts, filled);
        let Some(current) = self.current.take() else {
            return;
        };
        let channels = self.control.shared().format.channels() as u64;
        for tap in &mut self.taps {
            tap.control(TapMsg::ReplyEnded {
                reply: current.id,
                interrupted,
                at,
            });
        }
        // Marks it never reached (an interrupt) leave the ring while its state still holds
        // their texts.
        self.intake
            .drop_marks_through(self.control.shared(), current.id.0);
        self.outcomes.ended(
            self.control.shared(),
            current.state,
            current.played / channels,
            interrupted,
            pts,
            self.frame_index,
            &mut self.events,
        );
    }

    /// Handle an interrupt: fade the playing reply out within this frame (unless it was
    /// paused, hence silent), drop everything queued up to `through`, end each covered reply.
    fn interrupt(&mut self, out: &mut [i16], through: u64, pts: u64, audible: bool) -> Speech {
        self.handled_through = through;
        let mut speech = Speech::NONE;
        let playing = self.current.as_ref().is_some_and(|c| c.played > 0);
        if playing && audible && self.fade_values > 0 {
            let fade = self.fade_values as usize;
            let faded = self.intake.take(self.control.shared(), &mut out[..fade]);
            apply_fade_out(
                &mut out[..faded],
                self.control.shared().format.channels() as usize,
            );
            let channels = self.control.shared().format.channels() as u64;
            let current = self.current.as_mut().expect("playing");
            let (id, offset) = (current.id, current.played / channels);
            speech.offset = offset;
            current.played += faded as u64;
            speech.filled = faded;
            speech.reply = (faded > 0).then_some(id);
            self.publish_position();
            // The fade is played (and counted): so are the marks that start in it.
            self.play_marks(id, offset, offset + faded as u64 / channels, pts);
        }
        // Sinks get what plays: the fade, then where the output fell silent.
        if let Some(reply) = speech.reply {
            self.tee_audio(reply, speech.offset, pts, &out[..speech.filled]);
        }
        if let Some(current) = &self.current {
            let (reply, at) = (current.id, self.at(pts, speech.filled));
            for tap in &mut self.taps {
                tap.control(TapMsg::Interrupted { reply, at });
            }
        }
        self.finish_current(true, pts, speech.filled);
        // Queued replies' marks go while the entries still hold those replies' states.
        self.intake
            .drop_marks_through(self.control.shared(), through);
        // Drop the rest of every covered reply; those that never started end unplayed.
        let (outcomes, events, frame_index) =
            (&mut self.outcomes, &mut self.events, self.frame_index);
        let shared = self.control.shared();
        self.intake.drop_through(shared, through, |state| {
            outcomes.ended(shared, state, 0, true, pts, frame_index, events)
        });
        speech
    }

    /// The reply played last and how far (published with the frame's end).
    fn publish_position(&mut self) {
        if let Some(c) = &self.current {
            let channels = self.control.shared().format.channels() as u64;
            self.last_played = (c.id.0, c.played / channels);
        }
    }

    /// What plays at `pts`, the start of the frame being rendered: the reply that has
    /// started playing (none before its first sample) and how much of it played.
    fn now(&self, pts: u64) -> At {
        let channels = self.control.shared().format.channels() as u64;
        let playing = self.current.as_ref().filter(|c| c.played > 0);
        At {
            pts,
            reply: playing.map(|c| c.id),
            offset: playing.map_or(0, |c| c.played / channels),
        }
    }

    fn tee_audio(&mut self, reply: ReplyId, offset: u64, pts: u64, samples: &[i16]) {
        let start = offset * self.control.shared().format.channels() as u64;
        for tap in &mut self.taps {
            tap.played(reply, start, pts, samples);
        }
    }

    /// Ahead-delivering taps: the current reply's queued speech within their lead.
    fn look_ahead(&mut self, next_pts: u64) {
        let Some(current) = &self.current else {
            return;
        };
        let (reply, played) = (current.id, current.played);
        for tap in &mut self.taps {
            tap.look_ahead(reply, played, next_pts, &mut self.intake);
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
                self.outcomes.owner_detached();
            }
            let (name, reason) = tap.detach_reason();
            self.events.emit(
                self.control.shared(),
                Event::SinkDetached {
                    sink: tap.id,
                    name,
                    reason,
                },
            );
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
            format: self.control.shared().format,
            pts,
            speech_active,
        };
        // A panicking source must not take the frame clock down: it is dropped, the frame
        // goes out without it, and an event says why.
        let filled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            source.fill(bus, &cx);
        }));
        match filled {
            // The true-peak limiter sums for itself (`limit_true_peak`).
            Ok(()) if self.post.as_ref().is_some_and(|p| p.true_peak.is_some()) => {}
            Ok(()) if self.clip => Limiter::Clip.mix_into(out, bus),
            Ok(()) => Limiter::SoftKnee.mix_into(out, bus),
            Err(panic) => {
                self.background = None;
                let reason = panic_message(panic.as_ref());
                self.events.emit(
                    self.control.shared(),
                    Event::BackgroundFailed { pts, reason },
                );
            }
        }
    }

    /// Sum speech and bus in floats and limit the sum below the true-peak ceiling.
    fn limit_true_peak(&mut self, out: &mut [i16]) {
        let Some(post) = self.post.as_deref_mut() else {
            return;
        };
        let Some(tp) = post.true_peak.as_mut() else {
            return;
        };
        let bus = self.background.as_deref().map(|b| &b.buffer[..]);
        for (i, (sum, speech)) in tp.sum.iter_mut().zip(out.iter()).enumerate() {
            let b = bus.map_or(0, |b| b[i]);
            *sum = (*speech as f32 + b as f32) / 32_768.0;
        }
        tp.limiter.process(&tp.sum, out);
    }

    fn meter_output(&mut self, out: &[i16]) {
        let Some(m) = self.post.as_deref_mut().and_then(|p| p.meter.as_mut()) else {
            return;
        };
        m.meter.add_i16(out);
        m.samples += self.control.shared().format.frame_samples() as u64;
        if m.samples >= m.every {
            m.samples -= m.every;
            let lufs = m.meter.momentary_lufs().map_or(f32::NAN, |l| l as f32);
            self.control
                .shared()
                .output_lufs
                .store(lufs.to_bits(), Ordering::Relaxed);
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
        self.silent_frames = self.silent_frames.saturating_add(1);
        let idle = self.current.is_none() && self.control.shared().room.used() == 0;
        if self.speaking && idle && self.silent_frames >= self.grace_frames {
            self.set_speaking(false, pts);
        }
    }

    fn set_speaking(&mut self, speaking: bool, pts: u64) {
        self.speaking = speaking;
        self.control
            .shared()
            .speaking
            .store(speaking, Ordering::Release);
        self.events.emit(
            self.control.shared(),
            Event::SpeakingChanged { speaking, pts },
        );
    }
}

impl Drop for Track {
    fn drop(&mut self) {
        self.control.shared().close();
        // Commands sent before the close that this side will never apply, and the queued
        // audio: a view of the track (a `Playback`, an event stream) may keep the
        // allocation that holds them for long.
        self.control.discard_commands();
        self.control.intake.close();
        for tap in &self.taps {
            tap.stop();
        }
        self.outcomes.close();
        if let Some(current) = &self.current {
            current.state.wake_closed();
        }
    }
}

/// A count or setting in 32 bits (saturating: a grace period or threshold past 4 billion
/// frames or values means "never" either way).
fn small(v: u64) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
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
