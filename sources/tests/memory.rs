//! Memory per playing source is bounded and does not grow with the file's length or the
//! time it plays: a counting global allocator tracks live heap bytes while sources loop.
//! The same allocator checks that the frame path (`fill`) never allocates or frees.

mod common;

use std::time::Duration;

use common::*;
use voxpace_sources::{Looping, Play};
use voxpace_test_kit::alloc::{count_on_this_thread, live_bytes, CountingAllocator};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// The live-byte count is process-wide: the tests here take turns.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Live heap bytes one looping source of `file` holds after 1 s and after 12 s of play.
fn measure(file: &str) -> (isize, isize, isize) {
    // Codecs build lookup tables once per process on first use: warm them up first.
    voxpace_sources::fuzzing::decode_to(&std::fs::read(fixture(file)).unwrap(), 48_000, 2).unwrap();
    let mut r = Renderer::new(format(48_000, 2));
    r.render(2);
    let idle = live_bytes();
    r.bg.play_clip(fixture(file), Play::clip().looping(Looping::Gapless))
        .unwrap();
    // The file loops several times over 12 s of rendering.
    r.render(50);
    let after_1s = live_bytes() - idle;
    let mut peak = after_1s;
    for _ in 0..11 {
        r.render(50);
        peak = peak.max(live_bytes() - idle);
    }
    let after_12s = live_bytes() - idle;
    assert_eq!(r.bg.stats().underruns, 0);
    r.bg.stop(Duration::ZERO).unwrap();
    r.render(2);
    drop(r);
    std::thread::sleep(Duration::from_millis(200));
    let left = live_bytes() - idle;
    assert!(left < 16 * 1024, "{file}: {left} bytes left after stopping");
    (after_1s, after_12s, peak)
}

#[test]
fn memory_per_source_is_bounded_and_stated() {
    let _turn = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
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

#[test]
fn the_frame_path_never_allocates_or_frees() {
    use voxpace_core::{BusContext, Source};
    let _turn = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let f = format(48_000, 2);
    let (mut mixer, bg) = background(f);
    let mut out = vec![0i16; f.frame_len()];
    let mut fills = 0;
    let mut counted = 0;
    let mut fill = |mixer: &mut voxpace_sources::BackgroundMixer, speech: bool| {
        assert!(bg.wait_buffered(Duration::from_millis(60), Duration::from_secs(20)));
        let cx = BusContext {
            format: f,
            pts: fills * 960,
            speech_active: speech,
        };
        // `count_on_this_thread` first checks that the counting allocator is installed.
        counted += count_on_this_thread(|| mixer.fill(&mut out, &cx)).1.total();
        fills += 1;
    };
    // Music with a crossfaded loop, a short clip that ends, a looping clip that is
    // cancelled, a switch of music, gain and ducking changes, a stop: every command and
    // every way of leaving the mix goes through `fill`.
    bg.play(
        fixture("seam_24k_mono.wav"),
        Play::music().looping(Looping::Crossfade(Duration::from_millis(20))),
    )
    .unwrap();
    bg.play_clip(fixture("tone_s32_48k_mono.wav"), Play::clip())
        .unwrap();
    let thinking = bg
        .play_clip(
            fixture("loop_48k_mono.flac"),
            Play::clip().looping(Looping::Gapless),
        )
        .unwrap();
    for k in 0..60 {
        fill(&mut mixer, k % 20 < 10);
    }
    bg.cancel(thinking, Duration::from_millis(40)).unwrap();
    bg.set_gain_db(None, -6.0).unwrap();
    bg.set_ducking(voxpace_sources::Ducking::default()).unwrap();
    for k in 0..20 {
        fill(&mut mixer, k % 4 == 0);
    }
    bg.play(
        fixture("tone_44k_stereo.mp3"),
        Play::music().crossfade(Duration::from_millis(200)),
    )
    .unwrap();
    for _ in 0..30 {
        fill(&mut mixer, false);
    }
    bg.stop(Duration::from_millis(100)).unwrap();
    for _ in 0..10 {
        fill(&mut mixer, true);
    }
    assert_eq!(bg.stats().playing, 0);
    assert_eq!(bg.stats().underruns, 0);
    assert_eq!(counted, 0, "allocations or frees inside fill");
}
