//! A counting global allocator. A test binary installs it once:
//!
//! ```ignore
//! #[global_allocator]
//! static ALLOCATOR: voxpace_test_kit::alloc::CountingAllocator =
//!     voxpace_test_kit::alloc::CountingAllocator;
//! ```
//!
//! then [`count_on_this_thread`] counts what one closure allocates and frees on the calling
//! thread only (other threads, such as a decoder or a sink worker, are off the frame path by
//! design and not counted), and [`live_bytes`] is the process-wide heap in use.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering};

/// Forwards every call to the system allocator and counts it.
#[derive(Debug, Clone, Copy, Default)]
pub struct CountingAllocator;

/// Allocations (a `realloc` counts as one) and frees.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// `alloc`, `alloc_zeroed` and `realloc` calls.
    pub allocations: u64,
    /// `dealloc` calls.
    pub frees: u64,
}

impl Counts {
    /// Allocations and frees together.
    pub fn total(&self) -> u64 {
        self.allocations + self.frees
    }
}

static LIVE: AtomicIsize = AtomicIsize::new(0);

thread_local! {
    // Const-initialised and without a destructor: reading them never allocates and works
    // during thread teardown too.
    static WATCHING: Cell<bool> = const { Cell::new(false) };
    static COUNTS: Cell<Counts> = const { Cell::new(Counts { allocations: 0, frees: 0 }) };
}

fn note(allocations: u64, frees: u64) {
    let _ = WATCHING.try_with(|w| {
        if w.get() {
            let _ = COUNTS.try_with(|c| {
                let mut n = c.get();
                n.allocations += allocations;
                n.frees += frees;
                c.set(n);
            });
        }
    });
}

// SAFETY: every call is forwarded unchanged to the system allocator; counting only touches
// const-initialised thread locals and an atomic, none of which allocates.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(1, 0);
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(1, 0);
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        note(0, 1);
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(1, 0);
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

fn watched<R>(f: impl FnOnce() -> R) -> (R, Counts) {
    let before = COUNTS.with(Cell::get);
    WATCHING.with(|w| w.set(true));
    let r = f();
    WATCHING.with(|w| w.set(false));
    let after = COUNTS.with(Cell::get);
    (
        r,
        Counts {
            allocations: after.allocations - before.allocations,
            frees: after.frees - before.frees,
        },
    )
}

/// Panics unless [`CountingAllocator`] is this binary's global allocator: a test that
/// counts with another allocator installed would count nothing and always pass.
pub fn assert_installed() {
    static CHECKED: AtomicBool = AtomicBool::new(false);
    if CHECKED.load(Ordering::Relaxed) {
        return;
    }
    let ((), n) = watched(|| drop(std::hint::black_box(Box::new(7u64))));
    assert!(
        n == Counts {
            allocations: 1,
            frees: 1
        },
        "voxpace_test_kit::alloc::CountingAllocator is not this binary's #[global_allocator] \
         (a boxed value counted {n:?})"
    );
    CHECKED.store(true, Ordering::Relaxed);
}

/// Run `f` and count the allocations and frees it makes on this thread.
pub fn count_on_this_thread<R>(f: impl FnOnce() -> R) -> (R, Counts) {
    assert_installed();
    watched(f)
}

/// Heap bytes in use by the whole process (every thread), as the allocator sees them.
pub fn live_bytes() -> isize {
    LIVE.load(Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    /// This unit-test binary does not install the allocator: counting must refuse to run.
    #[test]
    #[should_panic(expected = "is not this binary's #[global_allocator]")]
    fn counting_without_the_allocator_installed_panics() {
        super::count_on_this_thread(|| ());
    }
}
