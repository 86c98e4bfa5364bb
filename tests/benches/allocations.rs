//! Allocations per frame on the frame path, for `cargo xtask bench` (which runs
//! `cargo bench -p voxpace-tests --bench allocations` and prints these figures in its
//! report). Counted by the kit's counting allocator around `Track::render` calls only, on
//! the rendering thread: a background decoder's or a sink worker's allocations are off the
//! frame path by design.
//!
//! Output, one line each: `frames N`, then `allocations per frame: CASE: VALUE`; with
//! `VOXPACE_BENCH_JSON=FILE` the same figures also go to FILE as
//! `{"frames": N, "cases": [{"case": CASE, "allocations_per_frame": VALUE}, ...]}`, which is
//! what `cargo xtask bench` reads.

use std::path::PathBuf;
use std::time::Duration;

use voxpace_core::{Format, Track, TrackConfig};
use voxpace_sources::{BackgroundConfig, BackgroundMixer, Play};
use voxpace_test_kit::alloc::{count_on_this_thread, CountingAllocator};
use voxpace_test_kit::sinks::Discard;

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// Frames rendered (and counted) per case, after 50 frames of warm-up.
const FRAMES: u64 = 2_000;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// Render [`FRAMES`] frames of steady speech and count allocations inside `render`.
fn measure(background: bool, sink: bool) -> Result<f64> {
    let format = Format::new(24_000, 1, 20)?;
    let mut track = Track::new(format, TrackConfig::default())?;
    let handle = track.handle();
    let mut bg = None;
    if background {
        let (mixer, control) = BackgroundMixer::new(format, BackgroundConfig::default())?;
        let file = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../sources/fixtures/tone_44k_stereo.flac");
        control.play(file, Play::music().gain_db(-12.0))?;
        handle.set_background(Some(Box::new(mixer)))?;
        bg = Some(control);
    }
    if sink {
        handle.attach_sink(Box::new(Discard))?;
    }
    let mut reply = handle.open_reply()?;
    let chunk: Vec<i16> = (0..2400).map(|i| (i % 3000) as i16 - 1500).collect();
    let mut out = vec![0i16; format.frame_len()];
    let mut counted = 0;
    for i in 0..FRAMES + 50 {
        // Pushing is the producer's work, not the frame path's: not counted.
        while handle.buffered() < Duration::from_millis(500) {
            if reply.try_push_samples(&chunk)? < chunk.len() {
                return Err("a push found the buffer full".into());
            }
        }
        if let Some(bg) = &bg {
            bg.wait_buffered(Duration::from_millis(60), Duration::from_secs(10));
        }
        // The first 50 frames warm up (commands applied, queues created).
        let ((), n) = count_on_this_thread(|| {
            std::hint::black_box(track.render(&mut out));
        });
        if i >= 50 {
            counted += n.allocations;
        }
    }
    Ok(counted as f64 / FRAMES as f64)
}

fn main() -> Result<()> {
    // Under `cargo test --benches` (or a bench filter) there is nothing to check here.
    if std::env::args().any(|a| a == "--test" || a == "--list") {
        return Ok(());
    }
    println!("frames {FRAMES}");
    let mut cases = Vec::new();
    for (case, background, sink) in [
        ("plain: speech", false, false),
        ("mixing: speech + background file", true, false),
        ("tee: speech + 1 sink", false, true),
        ("tee + mixing", true, true),
    ] {
        let per_frame = measure(background, sink)?;
        println!("allocations per frame: {case}: {per_frame:.3}");
        cases.push(serde_json::json!({ "case": case, "allocations_per_frame": per_frame }));
    }
    if let Some(file) = std::env::var_os("VOXPACE_BENCH_JSON") {
        let figures = serde_json::json!({ "frames": FRAMES, "cases": cases });
        std::fs::write(&file, figures.to_string())
            .map_err(|e| format!("writing {}: {e}", PathBuf::from(&file).display()))?;
    }
    Ok(())
}
