//! A hint to the CPU to start loading a cache line the frame side will read soon. The frame
//! clock walks thousands of tracks whose state lives in as many allocations, and the first
//! read of each is a cache miss; asking for the next track's lines while this one renders
//! overlaps the misses with work. It changes nothing the program computes.

/// Start loading the cache line that holds `p` (never faults, whatever `p` is).
#[inline(always)]
pub(crate) fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch reads nothing the program sees and never faults, even for an
    // address that is not mapped.
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>(p as *const i8);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}
