//! The intake's entry ring: a reply's start marker, then blocks of its samples, on their
//! way from the control side (one writer, under the intake's lock) to the frame side (one
//! reader).
//!
//! Smaller than a general ring because of what it carries and who frees it. An entry is
//! one word, a tagged pointer (an `Arc<ReplyState>` or an `Arc<Block>`), so 32 slots take
//! 256 bytes; the two positions share a cache line (they move a few times a second, never
//! per frame). The reader reads entries in place and only advances its position when it is
//! done with one; the writer, which owns every entry in the ring, drops the finished ones
//! when it next needs a slot. So the frame side never frees a block, without a second list
//! of sent blocks on the control side. Positions are `u32` counters that wrap; a slot is
//! `position % SLOTS`.

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use crate::block::Block;
use crate::reply_state::ReplyState;

/// Entries the ring holds (a power of two, so wrapping positions index it).
pub(crate) const SLOTS: usize = 32;

/// Set in a slot's word when the entry is a start marker (both pointees are aligned to 8).
const START: usize = 1;

/// An entry, as the reader sees it in place.
pub(crate) enum Entry<'a> {
    /// A reply starts.
    Start(&'a ReplyState),
    /// Samples of the reply that started last.
    Pcm(&'a Block),
}

/// An entry as it goes in (the ring takes over the `Arc`).
pub(crate) enum Owned {
    Start(Arc<ReplyState>),
    Pcm(Arc<Block>),
}

impl Owned {
    fn into_word(self) -> usize {
        match self {
            Owned::Start(s) => Arc::into_raw(s) as usize | START,
            Owned::Pcm(b) => Arc::into_raw(b) as usize,
        }
    }
}

/// The word of an occupied slot, seen as an entry.
///
/// # Safety
/// `word` came from [`Owned::into_word`] and its `Arc` is still held by the ring.
unsafe fn entry<'a>(word: usize) -> Entry<'a> {
    if word & START != 0 {
        // SAFETY: (caller) a live `Arc<ReplyState>`'s pointer.
        Entry::Start(unsafe { &*((word & !START) as *const ReplyState) })
    } else {
        // SAFETY: (caller) a live `Arc<Block>`'s pointer.
        Entry::Pcm(unsafe { &*(word as *const Block) })
    }
}

/// Give back the `Arc` a slot's word holds.
///
/// # Safety
/// `word` came from [`Owned::into_word`] and is dropped once.
unsafe fn drop_word(word: usize) {
    if word & START != 0 {
        // SAFETY: (caller) the ring's own reference, given back once.
        drop(unsafe { Arc::from_raw((word & !START) as *const ReplyState) });
    } else {
        // SAFETY: as above.
        drop(unsafe { Arc::from_raw(word as *const Block) });
    }
}

/// The ring both halves share.
#[derive(Default)]
pub(crate) struct Ring {
    /// Entries the reader is done with: the writer may drop them.
    head: AtomicU32,
    /// Entries written.
    tail: AtomicU32,
    /// Entry words; 0 in a slot never written or already dropped.
    slots: [UnsafeCell<usize>; SLOTS],
}

// SAFETY: a slot is written by the writer only at positions the reader is done with (below
// `head`, Acquire) or has not reached (at or past `tail`, published with Release), and read
// by the reader only between `head` and `tail`; the entries are `Arc`s of `Sync` types.
unsafe impl Sync for Ring {}
unsafe impl Send for Ring {}

impl std::fmt::Debug for Ring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ring")
            .field("head", &self.head.load(Ordering::Relaxed))
            .field("tail", &self.tail.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Ring {
    fn slot(&self, pos: u32) -> *mut usize {
        self.slots[pos as usize % SLOTS].get()
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        for slot in &mut self.slots {
            let word = std::mem::take(slot.get_mut());
            if word != 0 {
                // SAFETY: every non-zero word is an entry the ring still holds.
                unsafe { drop_word(word) };
            }
        }
    }
}

/// The writer's half (control side, under the intake's lock).
#[derive(Debug, Default)]
pub(crate) struct Writer {
    /// Entries written.
    tail: u32,
    /// Entries dropped (all of them finished by the reader).
    freed: u32,
}

impl Writer {
    /// Drop the entries the reader is done with (off the frame path).
    pub(crate) fn free_finished(&mut self, ring: &Ring) {
        let head = ring.head.load(Ordering::Acquire);
        while self.freed != head {
            // SAFETY: below `head` the reader no longer reads this slot, and only this
            // writer writes it.
            let word = unsafe { std::mem::take(&mut *ring.slot(self.freed)) };
            // SAFETY: an entry written by `push`, dropped once (the slot now holds 0).
            unsafe { drop_word(word) };
            self.freed = self.freed.wrapping_add(1);
        }
    }

    /// Slots free for entries (after dropping the finished ones).
    pub(crate) fn free_slots(&mut self, ring: &Ring) -> usize {
        self.free_finished(ring);
        SLOTS - self.tail.wrapping_sub(self.freed) as usize
    }

    /// Append an entry; the caller checked [`Writer::free_slots`].
    pub(crate) fn push(&mut self, ring: &Ring, entry: Owned) {
        assert!(
            (self.tail.wrapping_sub(self.freed) as usize) < SLOTS,
            "a slot was checked free under the lock"
        );
        // SAFETY: the slot's previous entry was dropped (`freed` passed it), the reader
        // does not read at or past `tail`, and this is the one writer.
        unsafe { *ring.slot(self.tail) = entry.into_word() };
        self.tail = self.tail.wrapping_add(1);
        ring.tail.store(self.tail, Ordering::Release);
    }
}

/// The reader's half (frame side): entries from `head` on, read in place.
#[derive(Debug, Default)]
pub(crate) struct Reader {
    /// The first entry not done with (published to the writer as the ring's `head`).
    head: u32,
    /// The writer's `tail` as last loaded (loaded again only when the reader reaches it).
    tail: u32,
}

impl Reader {
    /// The entry `ahead` places after the head, if one is written.
    pub(crate) fn get<'r>(&mut self, ring: &'r Ring, ahead: u32) -> Option<Entry<'r>> {
        let pos = self.head.wrapping_add(ahead);
        if pos.wrapping_sub(self.head) >= self.tail.wrapping_sub(self.head) {
            self.tail = ring.tail.load(Ordering::Acquire);
            if pos.wrapping_sub(self.head) >= self.tail.wrapping_sub(self.head) {
                return None;
            }
        }
        // SAFETY: between `head` and `tail` the slot holds a written entry (the Acquire
        // load made it visible), which the writer keeps until `head` passes it.
        Some(unsafe { entry(*ring.slot(pos)) })
    }

    /// The head entry's `Arc`, for a start marker the frame side keeps after finishing it.
    pub(crate) fn head_state(&self, ring: &Ring) -> Arc<ReplyState> {
        // SAFETY: called right after `get(0)` returned a start marker: the slot holds it.
        let word = unsafe { *ring.slot(self.head) };
        debug_assert!(word & START != 0, "the head entry is a start marker");
        let ptr = (word & !START) as *const ReplyState;
        // SAFETY: the ring holds a reference; this makes one more for the caller.
        unsafe {
            Arc::increment_strong_count(ptr);
            Arc::from_raw(ptr)
        }
    }

    /// Done with the head entry: the writer may drop it (and what it points to).
    pub(crate) fn finish(&mut self, ring: &Ring) {
        self.head = self.head.wrapping_add(1);
        ring.head.store(self.head, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ReplyId;

    #[test]
    fn entries_come_out_in_order_and_the_writer_frees_them() {
        let ring = Ring::default();
        let (mut w, mut r) = (Writer::default(), Reader::default());
        let state = Arc::new(ReplyState::new(ReplyId(1)));
        let block = Arc::new(Block::adopt(vec![1, 2, 3]));
        // Wrap the positions a few times.
        for _ in 0..5 * SLOTS {
            assert_eq!(w.free_slots(&ring), SLOTS);
            w.push(&ring, Owned::Start(state.clone()));
            w.push(&ring, Owned::Pcm(block.clone()));
            assert_eq!(w.free_slots(&ring), SLOTS - 2);
            assert!(matches!(r.get(&ring, 0), Some(Entry::Start(s)) if s.id == ReplyId(1)));
            assert!(matches!(r.get(&ring, 1), Some(Entry::Pcm(b)) if b.published().0 == 3));
            assert!(r.get(&ring, 2).is_none());
            let kept = r.head_state(&ring);
            r.finish(&ring);
            r.finish(&ring);
            assert!(r.get(&ring, 0).is_none());
            assert_eq!(
                Arc::strong_count(&block),
                2,
                "the ring holds it until freed"
            );
            assert_eq!(w.free_slots(&ring), SLOTS);
            assert_eq!(Arc::strong_count(&block), 1);
            assert_eq!(Arc::strong_count(&kept), 2);
        }
        w.push(&ring, Owned::Pcm(block.clone()));
        drop(ring);
        assert_eq!(
            Arc::strong_count(&block),
            1,
            "dropping the ring drops its entries"
        );
        assert_eq!(Arc::strong_count(&state), 1);
    }
}
