//! A block of one reply's samples: written by the control side, read by the frame side,
//! published one atomic store at a time. Blocks are how the intake counts in samples:
//! pushes of any size (one sample upward) append to the open block, and every appended
//! sample is visible to the frame side at once, so tiny chunks coalesce without waiting.
//!
//! One writer (the intake's control half, under its lock) appends past the published count
//! and then publishes; one reader (the frame side) reads only below the published count.
//! The two never touch the same samples, which is what makes the `UnsafeCell`s sound.

use std::cell::UnsafeCell;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Set in `written` once no more samples will be appended.
const SEALED: usize = 1 << (usize::BITS - 1);

/// The most values a block holds (the frame side's place in one is counted in 32 bits:
/// the cursor is per-track state).
pub(crate) const MAX_VALUES: usize = 1 << 31;

pub(crate) struct Block {
    /// Uninitialised past the published count: a new block is never zeroed, because the
    /// producer writes every value before publishing it (zeroing first wrote each page of a
    /// block twice, the costliest part of a push at thousands of tracks).
    samples: Box<[UnsafeCell<MaybeUninit<i16>>]>,
    /// Values published to the reader, with [`SEALED`] set once the block is complete.
    written: AtomicUsize,
}

// SAFETY: the writer only writes at or past the published count and the reader only reads
// below it (Release on publish, Acquire on read), so no sample is accessed by both at once.
unsafe impl Sync for Block {}

impl std::fmt::Debug for Block {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (written, sealed) = self.published();
        f.debug_struct("Block")
            .field("capacity", &self.samples.len())
            .field("written", &written)
            .field("sealed", &sealed)
            .finish()
    }
}

impl Block {
    /// An empty block for up to `capacity` values (allocated, not initialised).
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        assert!(capacity <= MAX_VALUES, "block of {capacity} values");
        let samples = Box::<[i16]>::new_uninit_slice(capacity);
        // SAFETY: `UnsafeCell<T>` has the same layout as `T` (repr(transparent)), so the
        // slice's allocation and length carry over unchanged.
        let samples =
            unsafe { Box::from_raw(Box::into_raw(samples) as *mut [UnsafeCell<MaybeUninit<i16>>]) };
        Self {
            samples,
            written: AtomicUsize::new(0),
        }
    }

    /// A complete (sealed) block that takes over `samples` without copying them.
    pub(crate) fn adopt(samples: Vec<i16>) -> Self {
        let samples = samples.into_boxed_slice();
        let len = samples.len();
        assert!(len <= MAX_VALUES, "block of {len} values");
        // SAFETY: `UnsafeCell<MaybeUninit<i16>>` has the same layout as `i16` (both
        // wrappers are repr(transparent)), so the slice's allocation and length carry over.
        let samples =
            unsafe { Box::from_raw(Box::into_raw(samples) as *mut [UnsafeCell<MaybeUninit<i16>>]) };
        Self {
            samples,
            written: AtomicUsize::new(len | SEALED),
        }
    }

    /// Values published so far, and whether the block is complete (reader side).
    pub(crate) fn published(&self) -> (usize, bool) {
        let w = self.written.load(Ordering::Acquire);
        (w & !SEALED, w & SEALED != 0)
    }

    /// The published values from `from` on.
    pub(crate) fn read(&self, from: usize, upto: usize) -> &[i16] {
        debug_assert!(from <= upto && upto <= self.published().0);
        let base = self.samples.as_ptr() as *const i16;
        // SAFETY: values below the published count were initialised and are never written
        // again, and the Acquire load in `published` made the writer's stores visible.
        unsafe { std::slice::from_raw_parts(base.add(from), upto - from) }
    }

    /// Room left for appending (writer side).
    pub(crate) fn room(&self) -> usize {
        let (written, sealed) = self.published();
        if sealed {
            0
        } else {
            self.samples.len() - written
        }
    }

    /// Append values produced by `fill`, which initialises a prefix of the (uninitialised)
    /// room it is given and returns its length, then publish them; returns the values
    /// appended.
    ///
    /// # Safety
    /// Only one writer may append at a time (the intake's lock guarantees it), and `fill`
    /// must have initialised as many values as it returns.
    pub(crate) unsafe fn append(
        &self,
        fill: impl FnOnce(&mut [MaybeUninit<i16>]) -> usize,
    ) -> usize {
        let written = self.written.load(Ordering::Relaxed);
        debug_assert!(written & SEALED == 0, "appending to a sealed block");
        let base = self.samples.as_ptr() as *mut MaybeUninit<i16>;
        // SAFETY: the reader never reads at or past `written`, and the caller guarantees no
        // other writer; `UnsafeCell` makes writing through a shared reference legal.
        let spare = unsafe {
            std::slice::from_raw_parts_mut(base.add(written), self.samples.len() - written)
        };
        let n = fill(spare).min(spare.len());
        self.written.store(written + n, Ordering::Release);
        n
    }

    /// No more values will be appended (writer side).
    pub(crate) fn seal(&self) {
        self.written.fetch_or(SEALED, Ordering::Release);
    }
}

/// The frame side's place in a block: the read position, and what it last saw published
/// with the samples' address. A frame that reads within what it already saw touches only
/// the samples: the block's header (its published count) is another cache line, and with
/// thousands of tracks it is a miss each time (most of the frame side's cost of reading).
pub(crate) struct Cursor {
    /// Kept alive by the intake's entry ring until the frame side finishes its entry,
    /// which it does only after dropping the cursor.
    block: *const Block,
    base: *const i16,
    pos: u32,
    seen: u32,
    sealed: bool,
}

// SAFETY: `block` and `base` point into a block the entry ring keeps alive and in place
// while the cursor exists (`Cursor::new`); the cursor only reads below the published
// count, as `Block::read` does.
unsafe impl Send for Cursor {}

impl Cursor {
    /// # Safety
    /// `block` must stay alive and in place for as long as the cursor exists.
    pub(crate) unsafe fn new(block: &Block) -> Self {
        let (seen, sealed) = block.published();
        Self {
            base: block.samples.as_ptr() as *const i16,
            block,
            pos: 0,
            seen: seen as u32, // at most MAX_VALUES
            sealed,
        }
    }

    /// Values readable now: what was seen, or (when all of it was read and the block is
    /// still being written) what is published now.
    pub(crate) fn available(&mut self) -> &[i16] {
        if self.pos == self.seen && !self.sealed {
            let (seen, sealed) = self.block().published();
            (self.seen, self.sealed) = (seen as u32, sealed);
        }
        let (pos, seen) = (self.pos as usize, self.seen as usize);
        // SAFETY: values below a published count were initialised and are never written
        // again, and the Acquire load that saw the count made them visible; the ring keeps
        // them alive.
        unsafe { std::slice::from_raw_parts(self.base.add(pos), seen - pos) }
    }

    pub(crate) fn advance(&mut self, n: usize) {
        debug_assert!(self.pos as usize + n <= self.seen as usize);
        self.pos += n as u32;
    }

    /// Start loading the next values to read (see `prefetch.rs`).
    pub(crate) fn prefetch(&self) {
        crate::prefetch::prefetch(self.base.wrapping_add(self.pos as usize));
    }

    /// Values it saw published are still unread (no atomic load).
    pub(crate) fn has_seen_unread(&self) -> bool {
        self.pos < self.seen
    }

    /// Every value was read and no more will come (after `available` found none).
    pub(crate) fn finished(&self) -> bool {
        self.sealed && self.pos == self.seen
    }

    /// Values left: published and not yet read (reads the published count afresh).
    pub(crate) fn unread(&self) -> (usize, bool) {
        let (written, sealed) = self.block().published();
        (written - self.pos as usize, sealed)
    }

    /// The published values not yet read (reads the published count afresh).
    pub(crate) fn rest(&self) -> &[i16] {
        let block = self.block();
        block.read(self.pos as usize, block.published().0)
    }

    fn block(&self) -> &Block {
        // SAFETY: alive while the cursor exists (`Cursor::new`).
        unsafe { &*self.block }
    }
}
