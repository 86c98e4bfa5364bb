//! The track's side of the sink fan-out: a bounded lock-free queue per sink, fed only by
//! the frame side, and the worker thread that drains it into [`Sink::handle`].
//!
//! The frame path only copies speech into a tap (or counts a drop) and unparks the worker.
//! Everything a sink does, including blocking or panicking, happens on its own thread.
//!
//! Both deliveries are fed from the frame side, so every sink sees one order of events:
//! `Start (ReplyStarted Audio* [Interrupted] ReplyEnded | Paused | Resumed)* Stop`.
//! A paced tap gets each frame's speech as it plays (the interrupt fade included). An ahead
//! tap gets the current reply's queued speech from the intake as soon as it is no more than
//! `max_lead` before its play-out time (the lead is held, not the reply: its queue only
//! ever holds about `max_lead` of audio), and `ReplyEnded` when the last sample plays, like
//! a paced one; the next reply's audio follows that `ReplyEnded`.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::Thread;
use std::time::Duration;

use crate::intake::{IntakeReader, Peeked};
use crate::shared::SinkLink;
use crate::sink::{Delivery, PlaybackReport, Playout, Sink, SinkContext, SinkEvent};
use crate::{Error, ErrorKind, Format, ReplyId, SinkId};

/// How many times a message a sink failed with a [`ErrorKind::Retryable`] error is
/// delivered again (after a pause of one frame period, then two, then three) before the
/// sink is detached.
pub const SINK_RETRIES: u32 = 3;

/// Text marks a tap holds before new ones are dropped (counted with the audio drops).
const TEXT_SLOTS: usize = 64;

/// Where on the timeline a message takes effect: track pts, and the reply and position in
/// it that play then.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct At {
    pub(crate) pts: u64,
    pub(crate) reply: Option<ReplyId>,
    pub(crate) offset: u64,
}

/// A message in a tap; audio samples travel beside it in a sample queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TapMsg {
    /// The frame side took the tap: the sink's `Start` (first in every tap).
    Attached,
    ReplyStarted(ReplyId),
    Audio {
        reply: ReplyId,
        offset: u64,
        /// When the first sample plays (scheduled, for ahead audio).
        pts: u64,
        ahead: bool,
        len: usize,
    },
    ReplyEnded {
        reply: ReplyId,
        interrupted: bool,
        at: At,
    },
    /// A text mark (its text is the next in the text queue); `pts` for paced delivery.
    Text {
        reply: ReplyId,
        offset: u64,
        pts: Option<u64>,
    },
    Interrupted {
        reply: ReplyId,
        at: At,
    },
    Paused(At),
    Resumed(At),
}

/// A message as queued: with what played when the frame side queued it, which is what the
/// sink's [`SinkContext::now`] says while it handles the message (the same on every run of
/// a virtual-clock render, and never torn: one snapshot per frame).
#[derive(Debug, Clone, Copy)]
struct Queued {
    msg: TapMsg,
    now: At,
}

/// State both ends of a tap see.
#[derive(Debug)]
pub(crate) struct TapShared {
    name: String,
    detached: AtomicBool,
    reason: Mutex<Option<String>>,
    stop: AtomicBool,
    worker: OnceLock<Thread>,
    /// Messages the frame side queued, and the worker handled (for [`TapShared::settled`]).
    queued: AtomicU64,
    handled: AtomicU64,
    finished: AtomicBool,
}

impl TapShared {
    /// Everything queued so far was handled; a sink that is stopping or detached has
    /// finished (handled `Stop`, or failed, and was dropped).
    pub(crate) fn settled(&self) -> bool {
        if self.finished() {
            return true;
        }
        if self.detached.load(Ordering::Acquire) || self.stop.load(Ordering::Acquire) {
            return false;
        }
        self.handled.load(Ordering::Acquire) >= self.queued.load(Ordering::Acquire)
    }

    /// The worker ended: the sink will handle nothing more.
    pub(crate) fn finished(&self) -> bool {
        self.finished.load(Ordering::Acquire)
    }
}

/// The frame side's end of one sink's queue.
pub(crate) struct Tap {
    pub(crate) id: SinkId,
    pub(crate) owns: bool,
    /// Ahead delivery: how far ahead of play-out, in interleaved values.
    lead: Option<usize>,
    /// Ahead delivery: the reply being fed, and how many of its values are queued.
    fed_reply: Option<ReplyId>,
    fed: u64,
    /// Ahead delivery: marks of the fed reply before this offset were queued.
    text_fed: u64,
    shared: Arc<TapShared>,
    track: SinkLink,
    /// What plays now (the frame being rendered), stamped on every message.
    now: At,
    msgs: rtrb::Producer<Queued>,
    audio: rtrb::Producer<i16>,
    texts: rtrb::Producer<Arc<str>>,
    reports: rtrb::Consumer<PlaybackReport>,
    /// Reports that had arrived when the current frame began.
    reports_ready: usize,
    queued: u64,
    pushed: bool,
}

impl Tap {
    /// What plays now: the frame being rendered (the frame side sets it as each frame
    /// begins).
    pub(crate) fn set_now(&mut self, now: At) {
        self.now = now;
    }

    fn queue(&mut self, msg: TapMsg) -> bool {
        self.msgs.push(Queued { msg, now: self.now }).is_ok()
    }

    /// Queue a control message; counted as a drop if the queue is full.
    pub(crate) fn control(&mut self, msg: TapMsg) {
        if let TapMsg::ReplyStarted(reply) = msg {
            self.fed_reply = Some(reply);
            self.fed = 0;
            self.text_fed = 0;
        }
        if !self.queue(msg) {
            self.track.count_drop();
        } else {
            self.queued += 1;
        }
        self.pushed = true;
    }

    /// The speech one frame plays: `samples` of `reply` from value `start` of the reply,
    /// at `pts`. A paced tap queues all of it; an ahead tap only what it did not get ahead
    /// (nothing, unless its queue was full or the lead is shorter than a frame).
    pub(crate) fn played(&mut self, reply: ReplyId, start: u64, pts: u64, samples: &[i16]) {
        let channels = self.track.format().channels() as u64;
        let Some(_) = self.lead else {
            if !self.push(reply, start / channels, pts, false, samples) {
                self.track.count_drop();
            }
            return;
        };
        let end = start + samples.len() as u64;
        if self.fed_reply != Some(reply) {
            // Attached while the reply played: it starts here.
            self.fed_reply = Some(reply);
            self.fed = start;
        }
        if self.fed < start {
            // Played before it could be queued: lost, because the sink fell behind.
            self.track.count_drop();
            self.fed = start;
        }
        if self.fed < end {
            let from = (self.fed - start) as usize;
            let pts = pts + from as u64 / channels;
            if self.push(reply, self.fed / channels, pts, false, &samples[from..]) {
                self.fed = end;
            }
        }
    }

    /// A text mark whose first sample plays in this frame, at `pts`, before the frame's
    /// audio. Ahead taps got it with the audio ahead, unless that audio had not gone ahead
    /// (then it goes now, still before its audio). The text is shared, not copied.
    pub(crate) fn text(&mut self, reply: ReplyId, offset: u64, pts: u64, text: &Arc<str>) {
        let pts = match self.lead {
            None => Some(pts),
            Some(_) if self.fed_reply == Some(reply) && offset < self.text_fed => return,
            Some(_) => None,
        };
        self.push_text(reply, offset, pts, text);
    }

    fn push_text(&mut self, reply: ReplyId, offset: u64, pts: Option<u64>, text: &Arc<str>) {
        self.pushed = true;
        let ok = self.msgs.slots() > 0
            && self.texts.slots() > 0
            && self.texts.push(text.clone()).is_ok()
            && self.queue(TapMsg::Text { reply, offset, pts });
        if ok {
            self.queued += 1;
        } else {
            self.track.count_drop();
        }
    }

    /// Ahead taps: queue the current reply's speech that plays within the lead after
    /// `played` values of it (the next sample plays at `next_pts`), peeked from the intake.
    pub(crate) fn look_ahead(
        &mut self,
        reply: ReplyId,
        played: u64,
        next_pts: u64,
        intake: &mut IntakeReader,
    ) {
        let Some(lead) = self.lead else { return };
        if self.fed_reply != Some(reply) {
            return;
        }
        // `played` ends the frame being rendered, which is what plays now: a sample is at
        // most the lead ahead of now when it is within the lead less a frame of `played`.
        let frame = self.track.format().frame_len();
        let want = played + lead.saturating_sub(frame) as u64;
        if self.fed >= want || self.fed < played {
            return;
        }
        let channels = self.track.format().channels() as u64;
        let skip = (self.fed - played) as usize;
        let max = (want - self.fed) as usize;
        intake.peek(
            channels,
            reply,
            self.fed,
            skip,
            max,
            frame,
            |peeked| match peeked {
                Peeked::Mark(mark) => {
                    if mark.offset >= self.text_fed {
                        self.push_text(reply, mark.offset, None, &mark.text);
                        self.text_fed = mark.offset + 1;
                    }
                    true
                }
                Peeked::Audio(piece) => {
                    let pts = next_pts + (self.fed - played) / channels;
                    if !self.push(reply, self.fed / channels, pts, true, piece) {
                        // Full: the rest waits for the next frame.
                        return false;
                    }
                    self.fed += piece.len() as u64;
                    self.text_fed = self.text_fed.max(self.fed / channels);
                    true
                }
            },
        );
    }

    fn push(
        &mut self,
        reply: ReplyId,
        offset: u64,
        pts: u64,
        ahead: bool,
        samples: &[i16],
    ) -> bool {
        self.pushed = true;
        if self.msgs.slots() == 0 || self.audio.slots() < samples.len() {
            return false;
        }
        let Ok(chunk) = self.audio.write_chunk_uninit(samples.len()) else {
            return false;
        };
        chunk.fill_from_iter(samples.iter().copied());
        let msg = TapMsg::Audio {
            reply,
            offset,
            pts,
            ahead,
            len: samples.len(),
        };
        let ok = self.queue(msg);
        self.queued += ok as u64;
        ok
    }

    /// A frame begins: the reports that arrived so far may be taken during it.
    pub(crate) fn mark_reports(&mut self) {
        self.reports_ready = self.reports.slots();
    }

    /// The next report that arrived before the current frame began.
    pub(crate) fn next_report(&mut self) -> Option<PlaybackReport> {
        if self.reports_ready == 0 {
            return None;
        }
        self.reports_ready -= 1;
        self.reports.pop().ok()
    }

    pub(crate) fn wake(&mut self) {
        if std::mem::take(&mut self.pushed) {
            self.shared.queued.store(self.queued, Ordering::Release);
            if let Some(worker) = self.shared.worker.get() {
                worker.unpark();
            }
        }
    }

    pub(crate) fn is_detached(&self) -> bool {
        self.shared.detached.load(Ordering::Acquire)
    }

    /// The sink's name and why it detached (called once, when the tap is removed).
    pub(crate) fn detach_reason(&self) -> (String, String) {
        let reason = match self.shared.reason.try_lock() {
            Ok(mut r) => r.take().unwrap_or_default(),
            Err(_) => String::new(),
        };
        (self.shared.name.clone(), reason)
    }

    /// Tell the worker to deliver `Stop` and end.
    pub(crate) fn stop(&self) {
        self.shared.stop.store(true, Ordering::Release);
        if let Some(worker) = self.shared.worker.get() {
            worker.unpark();
        }
    }
}

/// Start a sink's worker thread; returns the frame side's tap and the state a control
/// handle may watch.
pub(crate) fn spawn(
    id: SinkId,
    sink: Box<dyn Sink>,
    track: &SinkLink,
) -> Result<(Box<Tap>, Arc<TapShared>), Error> {
    let info = sink.info();
    let format = track.format();
    let channels = format.channels() as usize;
    let lead = match info.delivery {
        Delivery::Paced => None,
        Delivery::Ahead { max_lead } => Some(format.samples_in(max_lead) as usize * channels),
    };
    // An ahead queue holds the lead plus a little: what the frame side queues per frame
    // is what plays in it, so a sink that keeps up never finds it full.
    let queue_values = (format.samples_in(info.queue) as usize * channels)
        .max(lead.unwrap_or(0) + 2 * format.frame_len())
        .max(format.frame_len());
    let queue_msgs = queue_values / format.frame_len() * 3 + 16;
    let shared = Arc::new(TapShared {
        name: info.name.clone(),
        detached: AtomicBool::new(false),
        reason: Mutex::new(None),
        stop: AtomicBool::new(false),
        worker: OnceLock::new(),
        queued: AtomicU64::new(0),
        handled: AtomicU64::new(0),
        finished: AtomicBool::new(false),
    });
    let (msgs_tx, msgs_rx) = rtrb::RingBuffer::new(queue_msgs);
    let (audio_tx, audio_rx) = rtrb::RingBuffer::new(queue_values);
    let (reports_tx, reports_rx) = rtrb::RingBuffer::new(64);
    let (texts_tx, texts_rx) = rtrb::RingBuffer::new(TEXT_SLOTS);
    let worker = Worker {
        sink,
        cx: SinkContext::new(reports_tx, track.clone()),
        msgs: msgs_rx,
        audio: audio_rx,
        texts: texts_rx,
        shared: shared.clone(),
        format,
        scratch: vec![0; queue_values],
        idle: format.frame_duration() / 2,
        handled: 0,
        started: false,
        skipping: None,
    };
    let handle = std::thread::Builder::new()
        .name(format!("voxpace-sink-{}", info.name))
        .spawn(move || worker.run())
        .map_err(|e| Error::SinkThread {
            name: info.name.clone(),
            reason: e.to_string(),
        })?;
    let _ = shared.worker.set(handle.thread().clone());
    let tap = Box::new(Tap {
        id,
        owns: info.owns_playback,
        lead,
        fed_reply: None,
        fed: 0,
        text_fed: 0,
        shared: shared.clone(),
        track: track.clone(),
        now: At {
            pts: 0,
            reply: None,
            offset: 0,
        },
        msgs: msgs_tx,
        audio: audio_tx,
        texts: texts_tx,
        reports: reports_rx,
        reports_ready: 0,
        queued: 0,
        pushed: false,
    });
    Ok((tap, shared))
}

struct Worker {
    sink: Box<dyn Sink>,
    cx: SinkContext,
    msgs: rtrb::Consumer<Queued>,
    audio: rtrb::Consumer<i16>,
    texts: rtrb::Consumer<Arc<str>>,
    shared: Arc<TapShared>,
    format: Format,
    scratch: Vec<i16>,
    idle: Duration,
    handled: u64,
    /// `Start` was delivered.
    started: bool,
    /// The reply the sink gave up on (`ReplyTerminal`), until its `ReplyEnded`.
    skipping: Option<ReplyId>,
}

/// Why a worker stopped delivering.
struct Detach(String);

/// What became of one message the sink failed on without being detached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Handled {
    /// Handled (possibly after retries), or skipped alone (`InvalidInput`).
    Done,
    /// The sink gave up on the message's reply (`ReplyTerminal`).
    SkipReply,
}

impl Worker {
    fn run(mut self) {
        let outcome = self.deliver_all();
        if let Err(Detach(reason)) = outcome {
            if let Ok(mut r) = self.shared.reason.lock() {
                *r = Some(reason);
            }
            self.shared.detached.store(true, Ordering::Release);
        }
        // The sink's own destructor may panic too; it must not take the process down.
        let sink = self.sink;
        let _ = catch_unwind(AssertUnwindSafe(move || drop(sink)));
        self.shared.finished.store(true, Ordering::Release);
    }

    fn deliver_all(&mut self) -> Result<(), Detach> {
        loop {
            let stop = self.shared.stop.load(Ordering::Acquire);
            let busy = self.drain()?;
            if stop {
                if !self.started {
                    // Stopped before the frame side took it: `Start` still comes first.
                    self.cx.now = None;
                    self.start()?;
                }
                return self.deliver(SinkEvent::Stop, None).map(drop);
            }
            if !busy {
                std::thread::park_timeout(self.idle);
            }
        }
    }

    fn start(&mut self) -> Result<(), Detach> {
        self.started = true;
        self.deliver(
            SinkEvent::Start {
                format: self.format,
            },
            None,
        )
        .map(drop)
    }

    fn drain(&mut self) -> Result<bool, Detach> {
        let mut busy = false;
        while let Ok(Queued { msg, now }) = self.msgs.pop() {
            busy = true;
            let format = self.format;
            self.cx.now = Some(playout(format, now));
            let skipped = |reply: ReplyId| self.skipping == Some(reply);
            match msg {
                TapMsg::Attached => self.start()?,
                // The sink gave up on this reply: its audio and text are consumed unseen.
                TapMsg::Audio { reply, len, .. } if skipped(reply) => {
                    read_into(&mut self.audio, &mut self.scratch[..len]);
                }
                TapMsg::Text { reply, .. } if skipped(reply) => {
                    let _ = self.texts.pop();
                }
                TapMsg::Audio {
                    reply,
                    offset,
                    pts,
                    ahead,
                    len,
                } => {
                    read_into(&mut self.audio, &mut self.scratch[..len]);
                    let at = At {
                        pts,
                        reply: Some(reply),
                        offset,
                    };
                    let samples = std::mem::take(&mut self.scratch);
                    let result = self.deliver(
                        SinkEvent::Audio {
                            reply,
                            offset,
                            pts: (!ahead).then_some(pts),
                            samples: &samples[..len],
                        },
                        Some(at),
                    );
                    self.scratch = samples;
                    self.skip_if(result?, reply);
                }
                TapMsg::Text { reply, offset, pts } => {
                    if let Ok(text) = self.texts.pop() {
                        let at = pts.map(|pts| At {
                            pts,
                            reply: Some(reply),
                            offset,
                        });
                        let handled = self.deliver(
                            SinkEvent::Text {
                                reply,
                                offset,
                                pts,
                                text: &text,
                            },
                            at,
                        )?;
                        self.skip_if(handled, reply);
                    }
                }
                TapMsg::ReplyStarted(reply) => {
                    self.skipping = None;
                    let handled = self.deliver(SinkEvent::ReplyStarted { reply }, None)?;
                    self.skip_if(handled, reply);
                }
                TapMsg::ReplyEnded {
                    reply,
                    interrupted,
                    at,
                } => {
                    self.deliver(SinkEvent::ReplyEnded { reply, interrupted }, Some(at))?;
                    self.skipping = None;
                }
                TapMsg::Interrupted { reply, at } => {
                    self.deliver(SinkEvent::Interrupted { reply }, Some(at))?;
                }
                TapMsg::Paused(at) => {
                    self.deliver(SinkEvent::Paused, Some(at))?;
                }
                TapMsg::Resumed(at) => {
                    self.deliver(SinkEvent::Resumed, Some(at))?;
                }
            }
            self.handled += 1;
            self.shared.handled.store(self.handled, Ordering::Release);
        }
        Ok(busy)
    }

    /// Remember that the sink gave up on `reply`: the rest of its audio and text is skipped.
    fn skip_if(&mut self, handled: Handled, reply: ReplyId) {
        if handled == Handled::SkipReply {
            self.skipping = Some(reply);
        }
    }

    /// Hand one message to the sink and act on the kind of its error (see [`Sink::handle`]).
    fn deliver(&mut self, event: SinkEvent<'_>, at: Option<At>) -> Result<Handled, Detach> {
        let format = self.format;
        self.cx.playout = at.map(|at| playout(format, at));
        let mut retries = 0;
        loop {
            let sink = &mut self.sink;
            let cx = &self.cx;
            let e = match catch_unwind(AssertUnwindSafe(|| sink.handle(event, cx))) {
                Ok(Ok(())) => return Ok(Handled::Done),
                Ok(Err(e)) => e,
                Err(panic) => {
                    let what = panic
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "unknown payload".into());
                    return Err(Detach(format!("panicked: {what}")));
                }
            };
            // Only the track's own error type says a kind; anything else is fatal.
            match e.downcast_ref::<Error>().map(Error::kind) {
                Some(ErrorKind::Retryable) if retries < SINK_RETRIES => {
                    retries += 1;
                    std::thread::sleep(format.frame_duration() * retries);
                }
                Some(ErrorKind::Retryable) => {
                    return Err(Detach(format!(
                        "still failing after {SINK_RETRIES} retries: {e}"
                    )))
                }
                Some(ErrorKind::ReplyTerminal) => return Ok(Handled::SkipReply),
                Some(ErrorKind::InvalidInput) => return Ok(Handled::Done),
                Some(ErrorKind::Fatal) | None => {
                    return Err(Detach(format!("returned an error: {e}")))
                }
            }
        }
    }
}

/// `at` as a sink sees it.
fn playout(format: Format, at: At) -> Playout {
    Playout {
        pts: at.pts,
        due: format.duration_of(at.pts),
        reply: at.reply,
        offset: at.offset,
    }
}

fn read_into(audio: &mut rtrb::Consumer<i16>, out: &mut [i16]) {
    if let Ok(chunk) = audio.read_chunk(out.len()) {
        let (a, b) = chunk.as_slices();
        out[..a.len()].copy_from_slice(a);
        out[a.len()..a.len() + b.len()].copy_from_slice(b);
        chunk.commit_all();
    }
}
