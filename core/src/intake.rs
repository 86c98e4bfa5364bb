//! The intake: the queue of replies and their PCM between the control side and the frame
//! side. Entries (a reply's start marker, then its chunks) travel in a bounded
//! single-producer single-consumer ring; the room they take is counted in [`Room`]; consumed
//! chunks travel back through a recycle ring to be freed off the frame path.
//!
//! [`Intake`] is the control half (opening, pushing, finishing, interrupting), shared by the
//! track's handle and every writer, behind a lock only control calls take. [`IntakeReader`]
//! is the frame half, owned by the frame side, which never locks.
//!
//! Text marks travel beside the entries in a mark ring: a reply's marks wait in its
//! [`TextLog`](crate::text::TextLog) until audio reaching their offset is pushed, and enter
//! the ring under the same lock just before that audio, so the frame side has every mark
//! of the audio it plays, whatever pauses, interrupts or the start threshold do.

use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use crate::reply_state::ReplyState;
use crate::shared::{Room, Shared};
use crate::sink_tap::{AheadFeed, TapMsg};
use crate::text::{MarkPos, MARK_SLOTS};
use crate::{Error, ReplyId, SinkId};

/// Entries the intake ring holds: each push takes one slot, so the buffer holds at most
/// this many chunks (6.4 s of 100 ms chunks, 1.28 s of 20 ms ones) even when `buffer`
/// allows more; a producer pushing tiny chunks then waits, as it does on a full buffer.
/// The ring and its recycle ring cost 2.5 KB, allocated with the first reply.
const INTAKE_SLOTS: usize = 64;

pub(crate) enum Entry {
    Start(Arc<ReplyState>),
    Pcm(Box<[i16]>),
}

/// The control half of the intake.
#[derive(Debug)]
pub(crate) struct Intake {
    shared: Arc<Shared>,
    side: Mutex<IntakeSide>,
    /// What each new reply is normalised to.
    normalise: Option<crate::Normalise>,
}

struct IntakeSide {
    entries: Option<rtrb::Producer<Entry>>,
    recycle: Option<rtrb::Consumer<Box<[i16]>>>,
    marks: Option<rtrb::Producer<MarkPos>>,
    last_id: u64,
    open: Option<Arc<ReplyState>>,
    accepting: bool,
    manual: bool,
    /// Ahead-delivering sinks get each chunk as it is accepted, in order with the markers.
    ahead: Vec<AheadFeed>,
}

impl std::fmt::Debug for IntakeSide {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IntakeSide")
            .field("last_id", &self.last_id)
            .field("accepting", &self.accepting)
            .finish_non_exhaustive()
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

impl Intake {
    pub(crate) fn new(
        shared: Arc<Shared>,
        manual: bool,
        normalise: Option<crate::Normalise>,
    ) -> Self {
        Self {
            shared,
            normalise,
            side: Mutex::new(IntakeSide {
                entries: None,
                recycle: None,
                marks: None,
                last_id: 0,
                open: None,
                accepting: true,
                manual,
                ahead: Vec::new(),
            }),
        }
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// A new reply's gain, when replies are normalised (checked in `Track::new`).
    pub(crate) fn reply_gain(&self) -> Option<voxpace_loudness::ReplyGain> {
        let format = self.shared.format;
        let n = self.normalise?;
        voxpace_loudness::ReplyGain::new(format.sample_rate(), format.channels(), n).ok()
    }

    fn side(&self) -> MutexGuard<'_, IntakeSide> {
        // Control calls never panic while holding this lock; recover if a caller's did.
        self.side.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Open the next reply, finishing any reply still open. The first reply creates the
    /// ring and hands its frame half to `install` (which sends it to the frame side).
    pub(crate) fn open(
        &self,
        install: impl FnOnce(IntakeReader) -> Result<(), Error>,
    ) -> Result<Arc<ReplyState>, Error> {
        if self.shared.is_closed() {
            return Err(Error::TrackClosed);
        }
        let mut side = self.side();
        if !side.accepting {
            return Err(Error::IntakeClosed);
        }
        if side.entries.is_none() {
            let (entries_tx, entries_rx) = rtrb::RingBuffer::new(INTAKE_SLOTS);
            let (recycle_tx, recycle_rx) = rtrb::RingBuffer::new(INTAKE_SLOTS);
            let (marks_tx, marks_rx) = rtrb::RingBuffer::new(MARK_SLOTS);
            install(IntakeReader {
                shared: self.shared.clone(),
                entries: Some(entries_rx),
                recycle: Some(recycle_tx),
                marks: Some(marks_rx),
                chunk: None,
            })?;
            side.entries = Some(entries_tx);
            side.recycle = Some(recycle_rx);
            side.marks = Some(marks_tx);
        }
        side.free_recycled();
        if side.entries.as_ref().is_some_and(|e| e.slots() == 0) {
            // The ring is full of chunks; the start marker must still go in order, so the
            // caller retries once frames have drained some. Rare: 64 queued chunks.
            return Err(Error::CommandQueueFull);
        }
        let id = ReplyId(side.last_id + 1);
        let state = Arc::new(ReplyState::new(id));
        // The previous reply ends before the new one's marker can be seen.
        if let Some(previous) = side.open.replace(state.clone()) {
            previous.mark_finished();
        }
        let entries = side.entries.as_mut().expect("created above");
        entries
            .push(Entry::Start(state.clone()))
            .unwrap_or_else(|_| unreachable!("a slot was checked free under the lock"));
        side.last_id = id.0;
        for feed in &mut side.ahead {
            feed.control(TapMsg::ReplyStarted(id));
        }
        Ok(state)
    }

    pub(crate) fn check_writable(&self, state: &ReplyState) -> Result<(), Error> {
        if self.shared.is_closed() {
            return Err(Error::TrackClosed);
        }
        if self.interrupted(state.id) {
            return Err(Error::ReplyInterrupted(state.id));
        }
        if state.is_finished() {
            return Err(Error::ReplyFinished(state.id));
        }
        Ok(())
    }

    fn interrupted(&self, reply: ReplyId) -> bool {
        self.shared
            .interrupt_through
            .load(std::sync::atomic::Ordering::Acquire)
            >= reply.0
    }

    /// Ready when `len` more values fit in the buffer, a ring slot is free, and the mark
    /// ring has room for the `marks` due with them.
    pub(crate) fn poll_room(
        &self,
        reply: ReplyId,
        len: usize,
        marks: usize,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), Error>> {
        let room: &Room = &self.shared.room;
        room.poll_until(cx, || {
            if self.shared.is_closed() {
                return Some(Err(Error::TrackClosed));
            }
            if self.interrupted(reply) {
                return Some(Err(Error::ReplyInterrupted(reply)));
            }
            let side = self.side();
            let slots = side.entries.as_ref().map_or(0, |p| p.slots());
            let mark_slots = side.marks.as_ref().map_or(0, |p| p.slots());
            drop(side);
            let fits = room.used() + len <= room.bound.max(len) && slots > 0 && mark_slots >= marks;
            fits.then_some(Ok(()))
        })
    }

    /// Queue one chunk for `state`'s reply, unless it was interrupted or finished meanwhile.
    /// The check and the push happen under the intake lock that `interrupt` also takes, so
    /// no chunk of an interrupted reply can enter the ring after `interrupt` returns.
    pub(crate) fn push(&self, state: &ReplyState, pcm: Box<[i16]>) -> Result<(), Error> {
        let mut side = self.side();
        self.check_writable(state)?;
        side.free_recycled();
        let values = pcm.len();
        let channels = self.shared.format.channels() as u64;
        let offset = state.accepted.load(std::sync::atomic::Ordering::Relaxed) / channels;
        let end = offset + values as u64 / channels;
        // The marks this audio carries enter the mark ring before it (poll_room made room).
        let mut text = state.text();
        let mut due = Vec::new();
        if text.has_unsent() {
            text.send_due(state.id, end, |mark| due.push(mark));
            if let Some(ring) = side.marks.as_mut() {
                for mark in &due {
                    let _ = ring.push(mark.clone());
                }
            }
        }
        for feed in &mut side.ahead {
            feed.audio(state.id, offset, &pcm, &due);
        }
        let Some(entries) = side.entries.as_mut() else {
            return Err(Error::TrackClosed);
        };
        if entries.push(Entry::Pcm(pcm)).is_err() {
            unreachable!("poll_room saw a free slot and only this writer pushes PCM");
        }
        // Under the reply's text lock, so a mark added meanwhile sees the new frontier.
        state
            .accepted
            .fetch_add(values as u64, std::sync::atomic::Ordering::Release);
        drop(text);
        self.shared.room.fill(values);
        Ok(())
    }

    /// Add a text mark to `state`'s reply at `offset` (samples per channel from its start),
    /// not behind the audio already pushed. It waits in the reply's text until audio
    /// reaching it is pushed.
    pub(crate) fn mark(&self, state: &ReplyState, offset: u64, text: &str) -> Result<(), Error> {
        self.check_writable(state)?;
        let mut log = state.text();
        let accepted = state.accepted.load(std::sync::atomic::Ordering::Acquire)
            / self.shared.format.channels() as u64;
        log.add(state.id, offset, text, accepted)
    }

    /// Mark a reply finished (no more audio) once; ahead sinks learn it in order.
    pub(crate) fn finish(&self, state: &ReplyState) {
        let mut side = self.side();
        if !state.mark_finished() {
            return;
        }
        if side.open.as_ref().is_some_and(|o| o.id == state.id) {
            side.open = None;
        }
        for feed in &mut side.ahead {
            feed.control(TapMsg::ReplyEnded {
                reply: state.id,
                interrupted: false,
            });
        }
    }

    /// Record an interrupt of every reply opened so far: from now on their pushes are
    /// refused. Also ends a pause, and closes intake in manual input mode.
    pub(crate) fn interrupt(&self) -> Option<ReplyId> {
        use std::sync::atomic::Ordering;
        let mut side = self.side();
        if side.last_id == 0 {
            return None;
        }
        let through = side.last_id;
        self.shared
            .interrupt_through
            .fetch_max(through, Ordering::AcqRel);
        self.shared.pause_requested.store(false, Ordering::Release);
        if let Some(open) = side.open.take() {
            open.mark_finished();
        }
        if side.manual {
            side.accepting = false;
        }
        drop(side);
        self.shared.room.wake();
        Some(ReplyId(through))
    }

    /// Open intake again; with `manual`, each interrupt closes it until this is called.
    pub(crate) fn enable(&self, manual: bool) {
        let mut side = self.side();
        side.manual = manual;
        side.accepting = true;
    }

    pub(crate) fn add_ahead(&self, feed: AheadFeed) {
        self.side().ahead.push(feed);
    }

    pub(crate) fn remove_ahead(&self, id: SinkId) {
        self.side().ahead.retain(|f| f.id() != id);
    }
}

/// The frame half of the intake: pops entries, plays chunks, recycles them.
pub(crate) struct IntakeReader {
    shared: Arc<Shared>,
    entries: Option<rtrb::Consumer<Entry>>,
    recycle: Option<rtrb::Producer<Box<[i16]>>>,
    marks: Option<rtrb::Consumer<MarkPos>>,
    /// Chunk being played and the read position in it.
    chunk: Option<(Box<[i16]>, usize)>,
}

impl IntakeReader {
    /// Nothing to read until the first reply installs the ring.
    pub(crate) fn empty(shared: Arc<Shared>) -> Self {
        Self {
            shared,
            entries: None,
            recycle: None,
            marks: None,
            chunk: None,
        }
    }

    /// Take over a newly installed ring.
    pub(crate) fn replace(&mut self, other: IntakeReader) {
        self.entries = other.entries;
        self.recycle = other.recycle;
        self.marks = other.marks;
    }

    /// Pop `reply`'s next mark if its offset lies before `end` (its first sample has been
    /// played), dropping marks of earlier replies on the way (ended or cut off).
    pub(crate) fn next_mark(&mut self, reply: ReplyId, end: u64) -> Option<MarkPos> {
        let marks = self.marks.as_mut()?;
        loop {
            let head = marks.peek().ok()?;
            if head.reply < reply {
                // Its text lives on in the reply's log: this drop frees nothing.
                let _ = marks.pop();
                self.shared.room.notify();
                continue;
            }
            if head.reply != reply || head.offset >= end {
                return None;
            }
            let mark = marks.pop().ok();
            self.shared.room.notify();
            return mark;
        }
    }

    /// Drop the queued marks of replies up to `through` (ended, interrupted or dropped), so
    /// they never hold up a producer waiting for room in the mark ring.
    pub(crate) fn drop_marks_through(&mut self, through: u64) {
        let Some(marks) = self.marks.as_mut() else {
            return;
        };
        let mut dropped = false;
        while marks.peek().is_ok_and(|m| m.reply.0 <= through) {
            let _ = marks.pop();
            dropped = true;
        }
        if dropped {
            self.shared.room.notify();
        }
    }

    /// Pop the next reply's start marker if it may start: once `threshold` values are
    /// buffered, or its producer finished.
    pub(crate) fn start_next(&mut self, threshold: usize) -> Option<Arc<ReplyState>> {
        let entries = self.entries.as_mut()?;
        let Ok(Entry::Start(state)) = entries.peek() else {
            return None;
        };
        if self.shared.room.used() < threshold && !state.is_finished() {
            return None;
        }
        let Ok(Entry::Start(state)) = entries.pop() else {
            unreachable!("peeked a start marker");
        };
        Some(state)
    }

    /// Copy queued PCM of the current reply into `out`; returns values copied.
    pub(crate) fn take(&mut self, out: &mut [i16]) -> usize {
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
        self.shared.room.release(filled);
        filled
    }

    /// `current` has no more audio coming and none left queued.
    pub(crate) fn drained(&mut self, current: &ReplyState) -> bool {
        // Finished first: once it is seen, every chunk pushed before it is visible too.
        if !current.is_finished() || self.chunk.is_some() {
            return false;
        }
        !self
            .entries
            .as_mut()
            .is_some_and(|e| matches!(e.peek(), Ok(Entry::Pcm(_))))
    }

    /// Drop everything queued for replies up to `through`, handing each covered reply that
    /// had not started yet to `ended`.
    pub(crate) fn drop_through(&mut self, through: u64, mut ended: impl FnMut(Arc<ReplyState>)) {
        if let Some((pcm, pos)) = self.chunk.take() {
            self.shared.room.release(pcm.len() - pos);
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
                    self.shared.room.release(pcm.len());
                    self.recycle(pcm);
                }
                Ok(Entry::Start(state)) => ended(state),
                Err(_) => break,
            }
        }
        self.shared.room.wake();
    }

    /// Hand a consumed chunk back to the control side to be freed there.
    fn recycle(&mut self, pcm: Box<[i16]>) {
        if let Some(recycle) = self.recycle.as_mut() {
            // A full recycle ring means nobody has pushed for a while; freeing here is
            // then the lesser evil (rare, never in steady state).
            let _ = recycle.push(pcm);
        }
    }
}
