//! The track's side of the sink fan-out: a bounded lock-free queue per sink and the worker
//! thread that drains it into [`Sink::handle`].
//!
//! The frame path only copies speech into a tap (or counts a drop) and unparks the worker.
//! Everything a sink does, including blocking or panicking, happens on its own thread.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::Thread;
use std::time::Duration;

use crate::shared::SinkLink;
use crate::sink::{Delivery, PlaybackReport, Sink, SinkContext, SinkEvent};
use crate::text::MarkPos;
use crate::{Error, Format, ReplyId, SinkId};

/// Text marks a tap holds before new ones are dropped (counted with the audio drops).
const TEXT_SLOTS: usize = 64;

/// A message in a tap; audio samples travel beside it in a sample queue, a text mark's
/// text in a text queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TapMsg {
    ReplyStarted(ReplyId),
    Audio {
        reply: ReplyId,
        offset: u64,
        pts: Option<u64>,
        len: usize,
    },
    ReplyEnded {
        reply: ReplyId,
        interrupted: bool,
    },
    /// A text mark (its text is the next in the text queue).
    Text {
        reply: ReplyId,
        offset: u64,
        pts: Option<u64>,
    },
    Interrupted(ReplyId),
    Paused,
    Resumed,
}

/// State both ends of a tap see.
#[derive(Debug)]
struct TapShared {
    name: String,
    detached: AtomicBool,
    reason: Mutex<Option<String>>,
    interrupted_through: AtomicU64,
    stop: AtomicBool,
    worker: OnceLock<Thread>,
}

/// The frame side's end of one sink's queue.
pub(crate) struct PacedTap {
    pub(crate) id: SinkId,
    pub(crate) owns: bool,
    ahead: bool,
    shared: Arc<TapShared>,
    track: SinkLink,
    msgs: rtrb::Producer<TapMsg>,
    audio: rtrb::Producer<i16>,
    texts: rtrb::Producer<Arc<str>>,
    pub(crate) reports: rtrb::Consumer<PlaybackReport>,
    pushed: bool,
}

impl PacedTap {
    /// Queue a control message; counted as a drop if the queue is full.
    pub(crate) fn control(&mut self, msg: TapMsg) {
        // Ahead sinks get reply boundaries from the producer side, in order with the audio.
        let from_producer = matches!(
            msg,
            TapMsg::ReplyStarted(_)
                | TapMsg::ReplyEnded {
                    interrupted: false,
                    ..
                }
        );
        if self.ahead && from_producer {
            return;
        }
        if self.msgs.push(msg).is_err() {
            self.count_drop();
        }
        self.pushed = true;
    }

    /// Queue one frame's speech (paced sinks only); dropped and counted if it does not fit.
    pub(crate) fn audio(&mut self, reply: ReplyId, offset: u64, pts: u64, samples: &[i16]) {
        if self.ahead {
            return;
        }
        if !push_audio(
            &mut self.msgs,
            &mut self.audio,
            reply,
            offset,
            Some(pts),
            samples,
        ) {
            self.count_drop();
        }
        self.pushed = true;
    }

    /// A text mark whose first sample plays in this frame, at `pts` (paced sinks only; ahead
    /// sinks got it with the audio). The text is shared, not copied.
    pub(crate) fn text(&mut self, reply: ReplyId, offset: u64, pts: u64, text: &Arc<str>) {
        if self.ahead {
            return;
        }
        let msg = TapMsg::Text {
            reply,
            offset,
            pts: Some(pts),
        };
        if !push_text(&mut self.msgs, &mut self.texts, msg, text) {
            self.count_drop();
        }
        self.pushed = true;
    }

    /// Barge-in: the worker skips queued audio of `reply` and earlier even before it reaches
    /// the `Interrupted` message, so the interrupt is delivered promptly however far behind.
    pub(crate) fn interrupt(&mut self, reply: ReplyId) {
        self.shared
            .interrupted_through
            .fetch_max(reply.0, Ordering::AcqRel);
        self.control(TapMsg::Interrupted(reply));
    }

    pub(crate) fn wake(&mut self) {
        if std::mem::take(&mut self.pushed) {
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

    fn count_drop(&self) {
        self.track.count_drop();
    }
}

/// The producer side's end of an ahead-delivering sink's queue.
pub(crate) struct AheadFeed {
    id: SinkId,
    shared: Arc<TapShared>,
    track: SinkLink,
    msgs: rtrb::Producer<TapMsg>,
    audio: rtrb::Producer<i16>,
    texts: rtrb::Producer<Arc<str>>,
}

impl AheadFeed {
    pub(crate) fn id(&self) -> SinkId {
        self.id
    }

    pub(crate) fn control(&mut self, msg: TapMsg) {
        if self.msgs.push(msg).is_err() {
            self.track.count_drop();
        }
        self.wake();
    }

    /// Queue pushed audio in frame-sized messages, so the worker's lead cap holds to a
    /// frame however large the producer's chunks are; each of the text `marks` it carries
    /// goes just before the frame holding its first sample.
    pub(crate) fn audio(
        &mut self,
        reply: ReplyId,
        offset: u64,
        samples: &[i16],
        marks: &[MarkPos],
    ) {
        let format = self.track.format();
        let channels = format.channels() as u64;
        let mut offset = offset;
        let mut marks = marks.iter().peekable();
        for frame in samples.chunks(format.frame_len()) {
            let end = offset + frame.len() as u64 / channels;
            while let Some(mark) = marks.next_if(|m| m.offset < end) {
                self.text(mark);
            }
            if !push_audio(&mut self.msgs, &mut self.audio, reply, offset, None, frame) {
                self.track.count_drop();
            }
            offset += frame.len() as u64 / channels;
        }
        self.wake();
    }

    /// A text mark, in order with the audio that carries it.
    fn text(&mut self, mark: &MarkPos) {
        let msg = TapMsg::Text {
            reply: mark.reply,
            offset: mark.offset,
            pts: None,
        };
        if !push_text(&mut self.msgs, &mut self.texts, msg, &mark.text) {
            self.track.count_drop();
        }
    }

    fn wake(&self) {
        if let Some(worker) = self.shared.worker.get() {
            worker.unpark();
        }
    }
}

/// Queue a text mark's message and its text together, or neither.
fn push_text(
    msgs: &mut rtrb::Producer<TapMsg>,
    texts: &mut rtrb::Producer<Arc<str>>,
    msg: TapMsg,
    text: &Arc<str>,
) -> bool {
    if msgs.slots() == 0 || texts.slots() == 0 {
        return false;
    }
    texts.push(text.clone()).is_ok() && msgs.push(msg).is_ok()
}

fn push_audio(
    msgs: &mut rtrb::Producer<TapMsg>,
    audio: &mut rtrb::Producer<i16>,
    reply: ReplyId,
    offset: u64,
    pts: Option<u64>,
    samples: &[i16],
) -> bool {
    if msgs.slots() == 0 || audio.slots() < samples.len() {
        return false;
    }
    let Ok(chunk) = audio.write_chunk_uninit(samples.len()) else {
        return false;
    };
    chunk.fill_from_iter(samples.iter().copied());
    msgs.push(TapMsg::Audio {
        reply,
        offset,
        pts,
        len: samples.len(),
    })
    .is_ok()
}

/// Start a sink's worker thread; returns the frame side's tap and, for ahead delivery, the
/// producer side's feed.
pub(crate) fn spawn(
    id: SinkId,
    sink: Box<dyn Sink>,
    track: &SinkLink,
) -> Result<(Box<PacedTap>, Option<AheadFeed>), Error> {
    let info = sink.info();
    let format = track.format();
    let channels = format.channels() as usize;
    let queue_values = (format.samples_in(info.queue) as usize * channels).max(format.frame_len());
    let queue_msgs = format.frames_in(info.queue) as usize * 2 + 16;
    let shared = Arc::new(TapShared {
        name: info.name.clone(),
        detached: AtomicBool::new(false),
        reason: Mutex::new(None),
        interrupted_through: AtomicU64::new(0),
        stop: AtomicBool::new(false),
        worker: OnceLock::new(),
    });
    let (msgs_tx, msgs_rx) = rtrb::RingBuffer::new(queue_msgs);
    let (audio_tx, audio_rx) = rtrb::RingBuffer::new(queue_values);
    let (reports_tx, reports_rx) = rtrb::RingBuffer::new(64);
    let (texts_tx, texts_rx) = rtrb::RingBuffer::new(TEXT_SLOTS);
    let (ahead, ahead_rx) = match info.delivery {
        Delivery::Paced => (None, None),
        Delivery::Ahead { max_lead } => {
            let (m_tx, m_rx) = rtrb::RingBuffer::new(queue_msgs);
            let (a_tx, a_rx) = rtrb::RingBuffer::new(queue_values);
            let (t_tx, t_rx) = rtrb::RingBuffer::new(TEXT_SLOTS);
            let feed = AheadFeed {
                id,
                shared: shared.clone(),
                track: track.clone(),
                msgs: m_tx,
                audio: a_tx,
                texts: t_tx,
            };
            let lead = format.samples_in(max_lead);
            (Some(feed), Some((m_rx, a_rx, t_rx, lead)))
        }
    };
    let worker = Worker {
        sink,
        cx: SinkContext {
            reports: Mutex::new(reports_tx),
        },
        msgs: msgs_rx,
        audio: audio_rx,
        texts: texts_rx,
        ahead: ahead_rx,
        shared: shared.clone(),
        track: track.clone(),
        format,
        scratch: vec![0; queue_values],
        idle: format.frame_duration() / 2,
    };
    let handle = std::thread::Builder::new()
        .name(format!("voxpace-sink-{}", info.name))
        .spawn(move || worker.run())
        .map_err(|e| Error::Sink {
            name: info.name.clone(),
            reason: format!("could not start its worker thread: {e}"),
        })?;
    let _ = shared.worker.set(handle.thread().clone());
    let tap = Box::new(PacedTap {
        id,
        owns: info.owns_playback,
        ahead: ahead.is_some(),
        shared,
        track: track.clone(),
        msgs: msgs_tx,
        audio: audio_tx,
        texts: texts_tx,
        reports: reports_rx,
        pushed: false,
    });
    Ok((tap, ahead))
}

type AheadQueue = (
    rtrb::Consumer<TapMsg>,
    rtrb::Consumer<i16>,
    rtrb::Consumer<Arc<str>>,
    u64,
);

struct Worker {
    sink: Box<dyn Sink>,
    cx: SinkContext,
    msgs: rtrb::Consumer<TapMsg>,
    audio: rtrb::Consumer<i16>,
    texts: rtrb::Consumer<Arc<str>>,
    ahead: Option<AheadQueue>,
    shared: Arc<TapShared>,
    track: SinkLink,
    format: Format,
    scratch: Vec<i16>,
    idle: Duration,
}

/// Why a worker stopped delivering.
struct Detach(String);

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
    }

    fn deliver_all(&mut self) -> Result<(), Detach> {
        self.deliver(SinkEvent::Start {
            format: self.format,
        })?;
        loop {
            let stop = self.shared.stop.load(Ordering::Acquire);
            let mut busy = self.drain_paced()?;
            busy |= self.drain_ahead()?;
            if stop {
                return self.deliver(SinkEvent::Stop);
            }
            if !busy {
                std::thread::park_timeout(self.idle);
            }
        }
    }

    fn interrupted_through(&self) -> u64 {
        self.shared.interrupted_through.load(Ordering::Acquire)
    }

    fn drain_paced(&mut self) -> Result<bool, Detach> {
        let mut busy = false;
        while let Ok(msg) = self.msgs.pop() {
            busy = true;
            match msg {
                TapMsg::Audio {
                    reply,
                    offset,
                    pts,
                    len,
                } => {
                    read_into(&mut self.audio, &mut self.scratch[..len]);
                    if reply.0 > self.interrupted_through() {
                        self.deliver_scratch(reply, offset, pts, len)?;
                    }
                }
                TapMsg::Text { reply, offset, pts } => {
                    let text = self.texts.pop().ok();
                    if let (Some(text), true) = (text, reply.0 > self.interrupted_through()) {
                        self.deliver(SinkEvent::Text {
                            reply,
                            offset,
                            pts,
                            text: &text,
                        })?;
                    }
                }
                TapMsg::Interrupted(reply) => {
                    self.skip_ahead_through(reply.0);
                    self.deliver(SinkEvent::Interrupted { reply })?;
                }
                other => self.deliver_control(other)?,
            }
        }
        Ok(busy)
    }

    fn drain_ahead(&mut self) -> Result<bool, Detach> {
        let mut busy = false;
        loop {
            let through = self.interrupted_through();
            let (play_reply, play_offset) = self.track.play_position();
            let Some((msgs, audio, texts, lead)) = self.ahead.as_mut() else {
                return Ok(busy);
            };
            let Ok(next) = msgs.peek().copied() else {
                return Ok(busy);
            };
            if let TapMsg::Text { reply, offset, .. } = next {
                // Held to the same lead as the audio it rides with.
                let stale = reply.0 <= through;
                let allowed = match reply.0.cmp(&play_reply) {
                    std::cmp::Ordering::Less => true,
                    std::cmp::Ordering::Equal => offset <= play_offset + *lead,
                    std::cmp::Ordering::Greater => offset <= *lead,
                };
                if !stale && !allowed {
                    return Ok(busy);
                }
                let _ = msgs.pop();
                let text = texts.pop().ok();
                busy = true;
                if let (Some(text), false) = (text, stale) {
                    self.deliver(SinkEvent::Text {
                        reply,
                        offset,
                        pts: None,
                        text: &text,
                    })?;
                }
                continue;
            }
            if let TapMsg::Audio {
                reply, offset, len, ..
            } = next
            {
                let stale = reply.0 <= through;
                let allowed = match reply.0.cmp(&play_reply) {
                    std::cmp::Ordering::Less => true,
                    std::cmp::Ordering::Equal => offset <= play_offset + *lead,
                    std::cmp::Ordering::Greater => offset <= *lead,
                };
                if !stale && !allowed {
                    return Ok(busy);
                }
                let _ = msgs.pop();
                read_into(audio, &mut self.scratch[..len]);
                busy = true;
                if !stale {
                    self.deliver_scratch(reply, offset, None, len)?;
                }
                continue;
            }
            let _ = msgs.pop();
            busy = true;
            let covered = match next {
                TapMsg::ReplyStarted(r) | TapMsg::ReplyEnded { reply: r, .. } => r.0 <= through,
                _ => false,
            };
            if !covered {
                self.deliver_control(next)?;
            }
        }
    }

    /// Discard ahead audio of replies up to `through` (interrupt: drop everything queued).
    fn skip_ahead_through(&mut self, through: u64) {
        let Some((msgs, audio, texts, _)) = self.ahead.as_mut() else {
            return;
        };
        loop {
            match msgs.peek().copied() {
                Ok(TapMsg::Audio { reply, len, .. }) if reply.0 <= through => {
                    let _ = msgs.pop();
                    read_into(audio, &mut self.scratch[..len]);
                }
                Ok(TapMsg::Text { reply, .. }) if reply.0 <= through => {
                    let _ = msgs.pop();
                    let _ = texts.pop();
                }
                _ => break,
            }
        }
    }

    fn deliver_scratch(
        &mut self,
        reply: ReplyId,
        offset: u64,
        pts: Option<u64>,
        len: usize,
    ) -> Result<(), Detach> {
        let samples = std::mem::take(&mut self.scratch);
        let result = self.deliver(SinkEvent::Audio {
            reply,
            offset,
            pts,
            samples: &samples[..len],
        });
        self.scratch = samples;
        result
    }

    fn deliver_control(&mut self, msg: TapMsg) -> Result<(), Detach> {
        let event = match msg {
            TapMsg::ReplyStarted(reply) => SinkEvent::ReplyStarted { reply },
            TapMsg::ReplyEnded { reply, interrupted } => {
                SinkEvent::ReplyEnded { reply, interrupted }
            }
            TapMsg::Interrupted(reply) => SinkEvent::Interrupted { reply },
            TapMsg::Paused => SinkEvent::Paused,
            TapMsg::Resumed => SinkEvent::Resumed,
            TapMsg::Audio { .. } | TapMsg::Text { .. } => {
                unreachable!("audio and text are delivered with their payload")
            }
        };
        self.deliver(event)
    }

    fn deliver(&mut self, event: SinkEvent<'_>) -> Result<(), Detach> {
        let sink = &mut self.sink;
        let cx = &self.cx;
        match catch_unwind(AssertUnwindSafe(|| sink.handle(event, cx))) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(Detach(format!("returned an error: {e}"))),
            Err(panic) => {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown payload".into());
                Err(Detach(format!("panicked: {what}")))
            }
        }
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
