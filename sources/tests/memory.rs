//! Memory per playing source is bounded and does not grow with the file's length or the
//! time it plays: a counting global allocator tracks live heap bytes while sources loop.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Duration;

use common::*;
use voxpace_sources::{Looping, Play};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

/// Live heap bytes one looping source of `file` holds after 1 s and after 12 s of play.
fn measure(file: &str) -> (isize, isize, isize) {
    // Codecs build lookup tables once per process on first use: warm them up first.
    voxpace_sources::fuzzing::decode_to(&std::fs::read(fixture(file)).unwrap(), 48_000, 2).unwrap();
    let mut r = Renderer::new(format(48_000, 2));
    r.render(2);
    let idle = live();
    r.bg.play_clip(fixture(file), Play::clip().looping(Looping::Gapless))
        .unwrap();
    // The file loops several times over 12 s of rendering.
    r.render(50);
    let after_1s = live() - idle;
    let mut peak = after_1s;
    for _ in 0..11 {
        r.render(50);
        peak = peak.max(live() - idle);
    }
    let after_12s = live() - idle;
    assert_eq!(r.bg.stats().underruns, 0);
    r.bg.stop(Duration::ZERO).unwrap();
    r.render(2);
    drop(r);
    std::thread::sleep(Duration::from_millis(200));
    let left = live() - idle;
    assert!(left < 16 * 1024, "{file}: {left} bytes left after stopping");
    (after_1s, after_12s, peak)
}

#[test]
fn memory_per_source_is_bounded_and_stated() {
    for file in [
        "tone_44k_stereo.flac",
        "tone_44k_stereo.mp3",
        "tone_48k_stereo.ogg",
        "tone_44k_stereo.m4a",
        "tone_s24_96k_mono.wav",
    ] {
        let (after_1s, after_12s, peak) = measure(file);
        println!(
            "{file}: live heap of one looping source at 48 kHz stereo: {} KiB after 1 s, {} KiB after 12 s, peak {} KiB",
            after_1s / 1024,
            after_12s / 1024,
            peak / 1024
        );
        // Bounded: no growth with play time (a leak or a whole-file decode would show).
        assert!(
            (after_12s - after_1s).abs() < 64 * 1024,
            "{file}: live heap moved by {} bytes between 1 s and 12 s",
            after_12s - after_1s
        );
        // The bounds stated in the crate docs: Vorbis's codebook tables dominate its share.
        let bound = if file.ends_with(".ogg") { 2_500 } else { 1_000 } * 1024;
        assert!(peak < bound, "{file}: {peak} bytes");
    }
}
