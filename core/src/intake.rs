//! The intake: replies and their samples on their way from the control side to the frame
//! side, counted in samples.
//!
//! Entries (a reply's start marker, then blocks of its samples, see `block.rs`) travel in a
//! bounded single-producer single-consumer ring (`entries.rs`). A push of any size appends
//! to the reply's open block and publishes the samples at once, so a thousand one-sample
//! pushes cost what one thousand-sample push does and play in real time; the room they take
//! is counted in [`Room`]. The ring owns every entry; the frame side reads them in place and
//! the control side frees the ones it is done with when it next needs a slot (opening a
//! reply or a block): the frame side never frees a block (off the frame path), and a push
//! into the open block touches neither the ring nor a finished block (at thousands of
//! tracks every line a push touches is a cache miss).
//!
//! [`Intake`] is the control half (open, push, finish, interrupt), shared by the track's
//! handle and its writers, behind one lock that only control calls take, once per push.
//! [`IntakeReader`] is the frame half, owned by the frame side, which never locks.
//! [`Carry`] holds the bytes of an incomplete sample frame between two pushes: the one
//! place where a chunk that ends mid-sample waits for the rest.
//!
//! Text marks travel beside the entries in a mark ring: a reply's marks wait in its
//! [`TextLog`](crate::text::TextLog) until audio reaching their offset is pushed, and enter
//! the ring under the same lock just before that audio, so the frame side has every mark
//! of the audio it plays, whatever pauses, interrupts or the start threshold do. The mark
//! ring (2 KB) is created with the first mark, not with the track: most replies have none.
//! It reaches the frame side through [`Link`] before the first marked audio, which starts a
//! new block, and the frame side picks it up when it reaches that block.
//!
//! Memory per track matters (thousands of tracks per process): an idle track holds no ring
//! at all (and the [`Shared`] atomics live in [`Intake`], so that they and the control side
//! are one allocation), and a track holding speech holds a [`Link`] (the entry ring inside),
//! the control half's [`SideRings`] and its blocks.

use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::block::{Block, Cursor};
use crate::entries::{Entry, Owned, Reader, Ring, Writer, SLOTS as INTAKE_SLOTS};
use crate::reply_state::ReplyState;
use crate::shared::Shared;
use crate::text::{MarkPos, MARK_SLOTS};
use crate::{Error, ReplyId};
use voxpace_loudness::ReplyGain;

/// The shortest block opened (unless the buffer is so short that 1/16 of it is shorter).
const MIN_BLOCK: std::time::Duration = std::time::Duration::from_millis(200);

/// What the two halves share, created with the first reply (one allocation of about
/// 300 bytes): the entry ring (see `entries.rs`: 32 slots, blocks of at most 1/16 of the
/// buffer, so it holds the whole buffer however small the pushes are, and about 16 short
/// replies queued before `IntakeFull`; 16 slots refused a small push with the buffer nearly
/// empty after 16 queued openings, core/tests/heard.rs found it), and the mark ring's frame
/// half on its way to the frame side.
#[derive(Debug, Default)]
struct Link {
    entries: Ring,
    /// The mark ring's frame half, set once by the control side, taken by the frame side.
    marks: AtomicPtr<rtrb::Consumer<MarkPos>>,
}

impl Link {
    /// The mark ring's frame half, if the control side created it (frame side).
    fn take_marks(&self) -> Option<Box<rtrb::Consumer<MarkPos>>> {
        if self.marks.load(Ordering::Relaxed).is_null() {
            return None;
        }
        let marks = self.marks.swap(std::ptr::null_mut(), Ordering::Acquire);
        // SAFETY: set once from `Box::into_raw` by the control side; the swap hands it to
        // this one caller.
        (!marks.is_null()).then(|| unsafe { Box::from_raw(marks) })
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        // A mark ring the frame side never picked up.
        drop(self.take_marks());
    }
}

/// What a writer pushes: samples, or little-endian bytes of samples.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Input<'a> {
    Samples(&'a [i16]),
    Bytes(&'a [u8]),
}

impl<'a> Input<'a> {
    /// Values or bytes.
    pub(crate) fn len(&self) -> usize {
        match self {
            Input::Samples(s) => s.len(),
            Input::Bytes(b) => b.len(),
        }
    }

    /// What is left after the first `n` values or bytes.
    pub(crate) fn skip(self, n: usize) -> Input<'a> {
        match self {
            Input::Samples(s) => Input::Samples(&s[n..]),
            Input::Bytes(b) => Input::Bytes(&b[n..]),
        }
    }
}

/// The bytes of an incomplete sample frame (an odd byte, or half a stereo frame), kept
/// until the next push completes them.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Carry {
    bytes: [u8; 4],
    len: usize,
}

impl Carry {
    /// Bytes held.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn clear(&mut self) {
        self.len = 0;
    }

    fn push(&mut self, bytes: &[u8]) {
        self.bytes[self.len..self.len + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
    }
}

/// The control half of the intake.
#[derive(Debug)]
pub(crate) struct Intake {
    /// The atomics both sides share, kept here so that they, the intake and the rest of
    /// the control side are one allocation (`control.rs`).
    shared: Shared,
    side: Mutex<IntakeSide>,
    /// What each new reply is normalised to (boxed: most tracks do not normalise, and this
    /// struct is per track).
    normalise: Option<Box<crate::Normalise>>,
}

struct IntakeSide {
    /// The open block; it belongs to the open reply (opening, finishing, interrupting and
    /// closing seal it). Here, beside the lock, not in `rings`: a push into it then touches
    /// no other line of the track's than this one, the block's and the reply's.
    tail: Option<Arc<Block>>,
    /// Created with the first reply (boxed: an idle track holds one pointer for it).
    rings: Option<Box<SideRings>>,
    last_id: u64,
    /// The buffer's bound in interleaved values (32 bits, checked in `Track::new`: here it
    /// fills the padding beside the flags, so `tail` costs an idle track no memory).
    bound: u32,
    accepting: bool,
    manual: bool,
}

impl std::fmt::Debug for IntakeSide {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IntakeSide")
            .field("last_id", &self.last_id)
            .field("accepting", &self.accepting)
            .finish_non_exhaustive()
    }
}

/// The control half's rings, and what only a track that has had a reply needs.
struct SideRings {
    /// The reply open for pushes.
    open: Option<Arc<ReplyState>>,
    /// The entry ring's writing end (it owns the entries, and drops the finished ones).
    writer: Writer,
    /// Created with the first mark.
    marks: Option<Box<rtrb::Producer<MarkPos>>>,
    link: Arc<Link>,
}

impl IntakeSide {
    /// Send a block to the frame side (a free slot was checked under the lock).
    fn send_block(&mut self, block: Arc<Block>) {
        let rings = self.rings.as_mut().expect("a reply is open");
        rings.writer.push(&rings.link.entries, Owned::Pcm(block));
    }

    /// No more samples go into the open block.
    fn seal_tail(&mut self) {
        if let Some(block) = self.tail.take() {
            block.seal();
        }
    }

    /// `reply` is the one open for pushes.
    fn is_open(&self, reply: ReplyId) -> bool {
        self.rings
            .as_ref()
            .and_then(|r| r.open.as_ref())
            .is_some_and(|o| o.id == reply)
    }

    /// No reply is open any more; the one that was, if any.
    fn take_open(&mut self) -> Option<Arc<ReplyState>> {
        self.rings.as_mut().and_then(|r| r.open.take())
    }

    /// Ring slots free, after freeing the entries (blocks, replies' states) the frame side
    /// has finished with (off the frame path).
    fn free_slots(&mut self) -> usize {
        self.rings
            .as_mut()
            .map_or(0, |r| r.writer.free_slots(&r.link.entries))
    }

    /// Free slots of the mark ring (0 before the first mark).
    fn free_mark_slots(&self) -> usize {
        self.rings
            .as_ref()
            .and_then(|r| r.marks.as_ref())
            .map_or(0, |m| m.slots())
    }
}

impl Intake {
    pub(crate) fn new(
        shared: Shared,
        bound: u32,
        manual: bool,
        normalise: Option<crate::Normalise>,
    ) -> Self {
        Self {
            shared,
            normalise: normalise.map(Box::new),
            side: Mutex::new(IntakeSide {
                tail: None,
                rings: None,
                last_id: 0,
                bound,
                accepting: true,
                manual,
            }),
        }
    }

    pub(crate) fn shared(&self) -> &Shared {
        &self.shared
    }

    /// A new reply's gain, when replies are normalised (checked in `Track::new`).
    pub(crate) fn reply_gain(&self) -> Option<voxpace_loudness::ReplyGain> {
        let format = self.shared.format;
        let n = *self.normalise.as_deref()?;
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
        if side.rings.is_none() {
            let link = Arc::new(Link::default());
            install(IntakeReader {
                link: Some(link.clone()),
                entries: Reader::default(),
                marks: None,
                block: None,
            })?;
            side.rings = Some(Box::new(SideRings {
                open: None,
                writer: Writer::default(),
                marks: None,
                link,
            }));
        }
        if side.free_slots() == 0 {
            // The ring is full of queued replies; the start marker must still go in order,
            // so the caller retries once frames have played some.
            return Err(Error::IntakeFull);
        }
        let id = ReplyId(side.last_id + 1);
        let state = Arc::new(ReplyState::new(id));
        // The previous reply ends before the new one's marker can be seen.
        side.seal_tail();
        let rings = side.rings.as_mut().expect("created above");
        if let Some(previous) = rings.open.replace(state.clone()) {
            previous.mark_finished();
        }
        rings
            .writer
            .push(&rings.link.entries, Owned::Start(state.clone()));
        side.last_id = id.0;
        Ok(state)
    }

    pub(crate) fn check_writable(&self, state: &ReplyState) -> Result<(), Error> {
        if self.shared.is_closed() {
            return Err(Error::TrackClosed);
        }
        if self.shared.interrupt_through.load(Ordering::Acquire) >= state.id.0 {
            return Err(Error::ReplyInterrupted(state.id));
        }
        if state.is_finished() {
            return Err(Error::ReplyFinished(state.id));
        }
        Ok(())
    }

    /// Take as much of `input` as fits now, without waiting: whole sample frames while the
    /// buffer has room, and a trailing incomplete frame into `carry` once everything before
    /// it fits. Returns how much of `input` was taken (values or bytes); 0 when full.
    ///
    /// The check and the append happen under the lock that `interrupt` also takes, so no
    /// sample of an interrupted reply can enter the queue after `interrupt` returns.
    pub(crate) fn try_push(
        &self,
        state: &ReplyState,
        carry: &mut Carry,
        mut gain: Option<&mut ReplyGain>,
        input: Input<'_>,
    ) -> Result<usize, Error> {
        let mut side = self.side();
        self.check_writable(state)?;
        let ch = self.shared.format.channels() as usize;
        let frame_bytes = 2 * ch;
        let mut room = self.room_values(&side, ch);
        let mut taken = 0;
        // Complete the carried frame first.
        if carry.len() > 0 {
            let mut frame = [0u8; 4];
            frame[..carry.len()].copy_from_slice(&carry.bytes[..carry.len()]);
            let need = frame_bytes - carry.len();
            let have = match input {
                Input::Bytes(b) if b.len() < need => {
                    carry.push(b);
                    return Ok(b.len());
                }
                Input::Bytes(b) => {
                    frame[carry.len()..frame_bytes].copy_from_slice(&b[..need]);
                    need
                }
                Input::Samples(_) if carry.len() % 2 == 1 => {
                    return Err(Error::PushSplitsSample { reply: state.id })
                }
                Input::Samples([]) => return Ok(0),
                Input::Samples(s) => {
                    // Only half a stereo frame can be carried between sample pushes.
                    frame[2..4].copy_from_slice(&s[0].to_le_bytes());
                    1
                }
            };
            let no_slot = side.free_slots() == 0;
            if room < ch || (no_slot && !self.tail_has_room(&side, state.id)) {
                return Ok(0);
            }
            let values = [
                i16::from_le_bytes([frame[0], frame[1]]),
                i16::from_le_bytes([frame[2], frame[3]]),
            ];
            if self.append(
                &mut side,
                state,
                gain.as_deref_mut(),
                Input::Samples(&values[..ch]),
                ch,
            ) < ch
            {
                return Ok(0);
            }
            carry.clear();
            room -= ch;
            taken = have;
        }
        let rest = input.len() - taken;
        let unit = match input {
            Input::Samples(_) => ch,
            Input::Bytes(_) => frame_bytes,
        };
        let whole = rest / unit * ch;
        let want = whole.min(room / ch * ch);
        let written = self.append(&mut side, state, gain, input.skip(taken), want);
        let per_value = match input {
            Input::Samples(_) => 1,
            Input::Bytes(_) => 2,
        };
        taken += written * per_value;
        if written == whole {
            // Everything whole went in: the incomplete frame at the end waits in the carry.
            let tail = &match input {
                Input::Samples(s) => le_bytes(&s[taken..]),
                Input::Bytes(b) => {
                    let mut t = [0u8; 4];
                    let r = &b[taken..];
                    t[..r.len()].copy_from_slice(r);
                    (t, r.len())
                }
            };
            carry.push(&tail.0[..tail.1]);
            taken = input.len();
        }
        Ok(taken)
    }

    /// Values that fit in the buffer now.
    fn room_values(&self, side: &IntakeSide, ch: usize) -> usize {
        (side.bound as usize).saturating_sub(self.shared.room.used()) / ch * ch
    }

    /// The open block has room for `reply`'s samples. An open block always belongs to the
    /// open reply, and a reply that `check_writable` let through is the open one (opening
    /// another, finishing and interrupting mark it finished or interrupted under this
    /// lock), so the reply open is not looked at (another line to load per push).
    fn tail_has_room(&self, side: &IntakeSide, reply: ReplyId) -> bool {
        debug_assert!(
            side.tail.is_none() || side.is_open(reply),
            "a writable reply is the open one"
        );
        side.tail.as_ref().is_some_and(|b| b.room() > 0)
    }

    /// Append the first `n` values of `input` (whole sample frames) to the reply's blocks,
    /// opening blocks as needed while ring slots last; returns the values appended.
    fn append(
        &self,
        side: &mut IntakeSide,
        state: &ReplyState,
        mut gain: Option<&mut ReplyGain>,
        input: Input<'_>,
        n: usize,
    ) -> usize {
        let ch = self.shared.format.channels() as usize;
        let mut done = 0;
        while done < n {
            if !self.tail_has_room(side, state.id) {
                side.seal_tail();
                let slots = side.free_slots();
                if slots == 0 {
                    break;
                }
                let capacity = self.block_capacity(side.bound, n - done, slots);
                let block = Arc::new(Block::with_capacity(capacity));
                side.send_block(block.clone());
                side.tail = Some(block);
            }
            let block = side.tail.clone().expect("ensured above");
            let k = block.room().min(n - done);
            let mut k = k - k % ch;
            if k == 0 {
                side.seal_tail();
                continue;
            }
            // Held while this audio is published, so a mark added meanwhile sees the new
            // frontier.
            let mut text = state.text();
            let start = state.accepted.load(Ordering::Relaxed) / ch as u64;
            if text.has_unsent() && !self.has_mark_ring(side) {
                // The first mark: create the mark ring and hand its frame half over before
                // the marked audio, which starts a new block (the frame side picks the
                // ring up when it reaches that block).
                drop(text);
                self.create_mark_ring(side);
                side.seal_tail();
                continue;
            }
            if text.has_unsent() {
                // A piece carries a bounded number of marks, and they must fit the mark
                // ring: cut the piece before the first that does not.
                if let Some(at) = text.split_before(start, start + (k / ch) as u64) {
                    k = k.min((at - start) as usize * ch);
                }
                let end = start + (k / ch) as u64;
                let free = side.free_mark_slots();
                if text.due(end) > free {
                    break; // the frame side frees mark slots as it plays them
                }
                if let Some(ring) = side.rings.as_mut().and_then(|r| r.marks.as_mut()) {
                    text.send_due(state.id, end, |mark| {
                        let _ = ring.push(mark); // room was checked just above
                    });
                }
            }
            // Counted before it is published, so the frame side never releases more than
            // was counted.
            self.shared.room.fill(k);
            // SAFETY: the intake lock (held by the caller through `side`) makes this the
            // only writer; `copy_values` initialises the `k` values appended.
            unsafe {
                block.append(|spare| {
                    let values = copy_values(input, done, &mut spare[..k]);
                    // Producer side, once the audio is sure to go in: the frame path only
                    // ever sees normalised speech.
                    if let Some(gain) = gain.as_deref_mut() {
                        gain.process(values);
                    }
                    k
                })
            };
            state.accepted.fetch_add(k as u64, Ordering::Release);
            drop(text);
            done += k;
        }
        done
    }

    fn has_mark_ring(&self, side: &IntakeSide) -> bool {
        side.rings.as_ref().is_some_and(|r| r.marks.is_some())
    }

    fn create_mark_ring(&self, side: &mut IntakeSide) {
        let rings = side.rings.as_mut().expect("a reply is open");
        let (tx, rx) = rtrb::RingBuffer::new(MARK_SLOTS);
        rings
            .link
            .marks
            .store(Box::into_raw(Box::new(rx)), Ordering::Release);
        rings.marks = Some(Box::new(tx));
    }

    /// How large a new block is: big enough for the push, at least [`MIN_BLOCK`] (so a
    /// second of speech pushed 100 ms at a time takes 5 blocks, not 10: each costs its
    /// headers and a ring slot); as large as allowed once the ring is half full, so it
    /// holds the whole buffer even when every push is tiny.
    fn block_capacity(&self, bound: u32, wanted: usize, free_slots: usize) -> usize {
        let format = self.shared.format;
        let ch = format.channels() as usize;
        let max = (bound as usize / (INTAKE_SLOTS / 2))
            .max(format.frame_len())
            .min(crate::block::MAX_VALUES);
        let min = (format.samples_in(MIN_BLOCK) as usize * ch).clamp(format.frame_len(), max);
        let max = max.div_ceil(ch) * ch;
        if free_slots < INTAKE_SLOTS / 2 {
            max
        } else {
            wanted.clamp(min, max)
        }
    }

    /// Take a whole owned buffer without copying it when it fits now; otherwise hand it
    /// back (it then goes in by copy, piece by piece).
    pub(crate) fn try_adopt(
        &self,
        state: &ReplyState,
        carry: &Carry,
        gain: Option<&mut ReplyGain>,
        mut samples: Vec<i16>,
    ) -> Result<Result<(), Vec<i16>>, Error> {
        let mut side = self.side();
        self.check_writable(state)?;
        let ch = self.shared.format.channels() as usize;
        let len = samples.len();
        let worth_it = len >= self.shared.format.frame_len()
            && len.is_multiple_of(ch)
            && len <= crate::block::MAX_VALUES;
        let text = state.text();
        let marks_waiting = text.has_unsent();
        if carry.len() > 0
            || !worth_it
            || marks_waiting
            || self.room_values(&side, ch) < len
            || side.free_slots() == 0
        {
            return Ok(Err(samples));
        }
        side.seal_tail();
        if let Some(gain) = gain {
            gain.process(&mut samples);
        }
        let block = Arc::new(Block::adopt(samples));
        self.shared.room.fill(len);
        side.send_block(block);
        state.accepted.fetch_add(len as u64, Ordering::Release);
        drop(text);
        Ok(Ok(()))
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

    /// Mark a reply finished (no more audio) once.
    pub(crate) fn finish(&self, state: &ReplyState) {
        let mut side = self.side();
        if side.is_open(state.id) {
            // Sealed before `finished` is set: once the frame side sees the reply
            // finished, it sees its last block complete.
            side.seal_tail();
        }
        if !state.mark_finished() {
            return;
        }
        if side.is_open(state.id) {
            side.take_open();
        }
    }

    /// Record an interrupt of every reply opened so far: from now on their pushes are
    /// refused. Also ends a pause, and closes intake in manual input mode.
    pub(crate) fn interrupt(&self) -> Option<ReplyId> {
        let mut side = self.side();
        if side.last_id == 0 {
            return None;
        }
        let through = side.last_id;
        self.shared
            .interrupt_through
            .fetch_max(through, Ordering::AcqRel);
        self.shared.pause_requested.store(false, Ordering::Release);
        side.seal_tail();
        if let Some(open) = side.take_open() {
            open.mark_finished();
        }
        if side.manual {
            side.accepting = false;
        }
        drop(side);
        self.shared.room.wake();
        Some(ReplyId(through))
    }

    /// The frame side is gone: let the queued audio go now, not when the last view of the
    /// track (a `Playback`, an event stream) goes. Every later push fails (closed). Called
    /// from the frame side, which must not wait for a producer's push: if one holds the
    /// lock, the audio goes with the allocation instead.
    pub(crate) fn close(&self) {
        let mut side = match self.side.try_lock() {
            Ok(side) => side,
            Err(std::sync::TryLockError::Poisoned(e)) => e.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => return,
        };
        side.seal_tail();
        side.rings = None;
    }

    /// Open intake again; with `manual`, each interrupt closes it until this is called.
    pub(crate) fn enable(&self, manual: bool) {
        let mut side = self.side();
        side.manual = manual;
        side.accepting = true;
    }
}

/// What [`IntakeReader::peek`] hands out: a text mark, or a piece of PCM.
pub(crate) enum Peeked<'a> {
    Mark(&'a MarkPos),
    Audio(&'a [i16]),
}

/// Samples as their little-endian bytes (at most one stereo frame's worth is ever asked).
fn le_bytes(samples: &[i16]) -> ([u8; 4], usize) {
    let mut out = [0u8; 4];
    for (i, s) in samples.iter().take(2).enumerate() {
        out[2 * i..2 * i + 2].copy_from_slice(&s.to_le_bytes());
    }
    (out, 2 * samples.len().min(2))
}

/// Copy values `from..from + out.len()` of `input` into `out` (a block's uninitialised
/// room), converting bytes; returns `out`, now initialised.
fn copy_values<'a>(
    input: Input<'_>,
    from: usize,
    out: &'a mut [MaybeUninit<i16>],
) -> &'a mut [i16] {
    match input {
        Input::Samples(s) => {
            let src = &s[from..from + out.len()];
            // SAFETY: `out` holds `src.len()` values and does not overlap `src` (a block's
            // room is its own allocation); `MaybeUninit<i16>` has the layout of `i16`.
            unsafe {
                std::ptr::copy_nonoverlapping(src.as_ptr(), out.as_mut_ptr().cast(), src.len())
            };
        }
        Input::Bytes(b) => {
            let bytes = &b[2 * from..2 * (from + out.len())];
            for (o, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
                o.write(i16::from_le_bytes([pair[0], pair[1]]));
            }
        }
    }
    // SAFETY: every value of `out` was written just above.
    unsafe { &mut *(out as *mut [MaybeUninit<i16>] as *mut [i16]) }
}

/// The frame half of the intake: pops entries, plays blocks, counts them consumed.
pub(crate) struct IntakeReader {
    /// The rings, once the first reply installed them.
    link: Option<Arc<Link>>,
    /// Where it is in the entry ring (the head entry is the cursor's block while there
    /// is a cursor).
    entries: Reader,
    /// Picked up from `link` once the control side created it (with the first mark).
    marks: Option<Box<rtrb::Consumer<MarkPos>>>,
    /// Block being played and the read position in it.
    block: Option<Cursor>,
}

impl IntakeReader {
    /// Nothing to read until the first reply installs the ring.
    pub(crate) fn empty() -> Self {
        Self {
            link: None,
            entries: Reader::default(),
            marks: None,
            block: None,
        }
    }

    /// Take over a newly installed ring.
    pub(crate) fn replace(&mut self, other: IntakeReader) {
        self.entries = other.entries;
        self.link = other.link;
        self.marks = other.marks;
    }

    /// Start loading the samples the next frame plays (see `prefetch.rs`).
    pub(crate) fn prefetch(&self) {
        if let Some(cursor) = &self.block {
            cursor.prefetch();
        }
    }

    /// Pick up the mark ring if the control side created it since (no allocation: the box
    /// moves). Called where marks may newly matter: a new block, a peek, dropping marks.
    fn adopt_marks(&mut self) {
        if self.marks.is_none() {
            self.marks = self.link.as_ref().and_then(|l| l.take_marks());
        }
    }

    /// Pop `reply`'s next mark if its offset lies before `end` (its first sample has been
    /// played), dropping marks of earlier replies on the way (ended or cut off).
    pub(crate) fn next_mark(
        &mut self,
        shared: &Shared,
        reply: ReplyId,
        end: u64,
    ) -> Option<MarkPos> {
        let marks = self.marks.as_mut()?;
        loop {
            let head = marks.peek().ok()?;
            if head.reply < reply {
                // Its text lives on in the reply's log: this drop frees nothing.
                let _ = marks.pop();
                shared.room.notify();
                continue;
            }
            if head.reply != reply || head.offset >= end {
                return None;
            }
            let mark = marks.pop().ok();
            shared.room.notify();
            return mark;
        }
    }

    /// Drop the queued marks of replies up to `through` (ended, interrupted or dropped), so
    /// they never hold up a producer waiting for room in the mark ring.
    pub(crate) fn drop_marks_through(&mut self, shared: &Shared, through: u64) {
        self.adopt_marks();
        let Some(marks) = self.marks.as_mut() else {
            return;
        };
        let mut dropped = false;
        while marks.peek().is_ok_and(|m| m.reply.0 <= through) {
            let _ = marks.pop();
            dropped = true;
        }
        if dropped {
            shared.room.notify();
        }
    }

    /// Pop the next reply's start marker if it may start: once `threshold` values are
    /// buffered, or its producer finished.
    pub(crate) fn start_next(
        &mut self,
        shared: &Shared,
        threshold: usize,
    ) -> Option<Arc<ReplyState>> {
        let link = self.link.as_deref()?;
        // A cursor left over is the reply before's last block, played to its end (its last
        // frame was full, so `take` did not let it go).
        let ahead = self.block.is_some() as u32;
        let Some(Entry::Start(state)) = self.entries.get(&link.entries, ahead) else {
            return None;
        };
        if shared.room.used() < threshold && !state.is_finished() {
            return None;
        }
        if self.block.take().is_some() {
            self.entries.finish(&link.entries);
        }
        let state = self.entries.head_state(&link.entries);
        self.entries.finish(&link.entries);
        // A ring slot came free: a producer waiting for one may go on.
        shared.room.release(0);
        Some(state)
    }

    /// Copy queued samples of the current reply into `out`; returns values copied.
    pub(crate) fn take(&mut self, shared: &Shared, out: &mut [i16]) -> usize {
        let mut filled = 0;
        while filled < out.len() {
            if self.block.is_none() {
                let Some(link) = self.link.as_deref() else {
                    break;
                };
                let Some(Entry::Pcm(block)) = self.entries.get(&link.entries, 0) else {
                    break;
                };
                // SAFETY: the ring keeps the block until this side finishes its entry,
                // which it does only after dropping the cursor (`recycle`).
                self.block = Some(unsafe { Cursor::new(block) });
                // Marked audio starts a block: its marks' ring is there by now.
                self.adopt_marks();
            }
            let cursor = self.block.as_mut().expect("set above");
            let available = cursor.available();
            let n = available.len().min(out.len() - filled);
            out[filled..filled + n].copy_from_slice(&available[..n]);
            cursor.advance(n);
            filled += n;
            if filled == out.len() {
                break; // `out` is full
            }
            // All it had seen is read: look again (the producer may have published more
            // since, or sealed the block).
            if !cursor.finished() && !cursor.available().is_empty() {
                continue;
            }
            if !cursor.finished() {
                break; // the producer is still filling this block
            }
            self.block = None;
            self.recycle();
        }
        if filled > 0 {
            shared.room.release(filled);
        }
        filled
    }

    /// Look at the current reply's queued PCM after the read position without taking it
    /// (for ahead-delivering sinks; allocates nothing). Skips `skip` values, then hands at
    /// most `max` values to `visit` in pieces of at most `piece` values (split where chunks
    /// end too), each piece preceded by `reply`'s queued text marks whose first sample it
    /// holds, until `visit` returns false. `from` is the reply position (values) of the
    /// first value handed out. Stops at the next reply's start marker.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn peek(
        &mut self,
        channels: u64,
        reply: ReplyId,
        from: u64,
        skip: usize,
        max: usize,
        piece: usize,
        mut visit: impl FnMut(Peeked<'_>) -> bool,
    ) {
        self.adopt_marks();
        let marks = self
            .marks
            .as_mut()
            .and_then(|m| m.read_chunk(m.slots()).ok());
        let (ma, mb) = marks.as_ref().map_or((&[][..], &[][..]), |c| c.as_slices());
        let mut marks = ma.iter().chain(mb).filter(|m| m.reply == reply).peekable();
        let (mut skip, mut left, mut at) = (skip, max, from);
        let mut give = |pcm: &[i16]| -> bool {
            if skip >= pcm.len() {
                skip -= pcm.len();
                return true;
            }
            let mut rest = &pcm[skip..(skip + left).min(pcm.len())];
            skip = 0;
            while !rest.is_empty() {
                let n = rest.len().min(piece);
                let end = (at + n as u64) / channels;
                while let Some(mark) = marks.next_if(|m| m.offset < end) {
                    if mark.offset >= at / channels && !visit(Peeked::Mark(mark)) {
                        return false;
                    }
                }
                if !visit(Peeked::Audio(&rest[..n])) {
                    return false;
                }
                rest = &rest[n..];
                at += n as u64;
                left -= n;
            }
            left > 0
        };
        if let Some(cursor) = &self.block {
            if !give(cursor.rest()) {
                return;
            }
        }
        let Some(link) = self.link.as_deref() else {
            return;
        };
        // Read in place: the entries (and the marks) stay queued.
        let mut ahead = self.block.is_some() as u32;
        while let Some(Entry::Pcm(block)) = self.entries.get(&link.entries, ahead) {
            if !give(block.read(0, block.published().0)) {
                return;
            }
            ahead += 1;
        }
    }

    /// `current` has no more audio coming and none left queued.
    pub(crate) fn drained(&mut self, current: &ReplyState) -> bool {
        // What the cursor saw and has not played yet: not drained, whatever the producer
        // did (checked first: it touches no other cache line than the track's).
        if self.block.as_ref().is_some_and(|c| c.has_seen_unread()) {
            return false;
        }
        // Finished first: once it is seen, every block pushed before it is visible, and
        // the last one sealed.
        if !current.is_finished() {
            return false;
        }
        if let Some(cursor) = &self.block {
            let (unread, sealed) = cursor.unread();
            if !sealed || unread > 0 {
                return false;
            }
        }
        let Some(link) = self.link.as_deref() else {
            return true;
        };
        let ahead = self.block.is_some() as u32;
        !matches!(self.entries.get(&link.entries, ahead), Some(Entry::Pcm(_)))
    }

    /// Drop everything queued for replies up to `through`, handing each covered reply that
    /// had not started yet to `ended`.
    pub(crate) fn drop_through(
        &mut self,
        shared: &Shared,
        through: u64,
        mut ended: impl FnMut(Arc<ReplyState>),
    ) {
        let mut dropped = 0;
        if let Some(cursor) = self.block.take() {
            dropped += cursor.unread().0;
            self.recycle();
        }
        if let Some(link) = self.link.as_deref() {
            loop {
                match self.entries.get(&link.entries, 0) {
                    None => break,
                    Some(Entry::Start(s)) if s.id.0 > through => break,
                    Some(Entry::Pcm(block)) => {
                        // The interrupt sealed the covered replies' blocks under the intake
                        // lock: what is published is all there is.
                        dropped += block.published().0;
                        self.entries.finish(&link.entries);
                    }
                    Some(Entry::Start(_)) => {
                        let state = self.entries.head_state(&link.entries);
                        self.entries.finish(&link.entries);
                        ended(state);
                    }
                }
            }
        }
        shared.room.release(dropped);
        shared.room.wake();
    }

    /// Done with the cursor's block (the head entry): the control side, whose ring holds
    /// it, frees it when it next needs a slot.
    fn recycle(&mut self) {
        if let Some(link) = &self.link {
            self.entries.finish(&link.entries);
        }
    }
}
