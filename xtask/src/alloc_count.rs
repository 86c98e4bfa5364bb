//! Allocations per frame, counted by this binary's global allocator around
//! `Track::render` calls only (a thread-local switch, so other threads' allocations, such
//! as a background decoder's or a sink worker's, are not counted: they are off the frame
//! path by design).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{bail, Result};
use voxpace_core::{Format, Sink, SinkContext, SinkError, SinkEvent, SinkInfo, Track, TrackConfig};
use voxpace_sources::{BackgroundConfig, BackgroundMixer, Play};

use crate::system::root;

/// Counts allocations (and reallocations) made while [`COUNTING`] is on for the thread.
pub struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

fn count() {
    if COUNTING.with(Cell::get) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: every call is forwarded unchanged to the system allocator; counting only reads a
// const-initialised thread local and bumps an atomic, neither of which allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Frames rendered per case.
pub const FRAMES: u64 = 2_000;

struct Discard;

impl Sink for Discard {
    fn info(&self) -> SinkInfo {
        SinkInfo::new("discard")
    }

    fn handle(&mut self, _: SinkEvent<'_>, _: &SinkContext) -> Result<(), SinkError> {
        Ok(())
    }
}

/// Render [`FRAMES`] frames of steady speech and count allocations inside `render`.
fn measure(background: bool, sink: bool) -> Result<f64> {
    let format = Format::new(24_000, 1, 20)?;
    let track = Track::new(format, TrackConfig::default())?;
    let mut track = track;
    let handle = track.handle();
    let mut bg = None;
    if background {
        let (mixer, control) = BackgroundMixer::new(format, BackgroundConfig::default())?;
        control.play(
            root().join("sources/fixtures/tone_44k_stereo.flac"),
            Play::music().gain_db(-12.0),
        )?;
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
            let push = reply.push_samples(&chunk);
            let mut push = std::pin::pin!(push);
            let waker = std::task::Waker::noop();
            match push
                .as_mut()
                .poll(&mut std::task::Context::from_waker(waker))
            {
                std::task::Poll::Ready(r) => r?,
                std::task::Poll::Pending => bail!("a push waited"),
            }
        }
        if let Some(bg) = &bg {
            bg.wait_buffered(Duration::from_millis(60), Duration::from_secs(10));
        }
        // The first 50 frames warm up (commands applied, queues created).
        let measured = i >= 50;
        let before = ALLOCATIONS.load(Ordering::Relaxed);
        COUNTING.with(|c| c.set(measured));
        std::hint::black_box(track.render(&mut out));
        COUNTING.with(|c| c.set(false));
        counted += ALLOCATIONS.load(Ordering::Relaxed) - before;
    }
    Ok(counted as f64 / FRAMES as f64)
}

/// Allocations per frame: plain, mixing (the real background mixer playing a FLAC file),
/// tee (one sink attached).
pub fn per_frame() -> Result<Vec<(&'static str, f64)>> {
    Ok(vec![
        ("plain: speech", measure(false, false)?),
        ("mixing: speech + background file", measure(true, false)?),
        ("tee: speech + 1 sink", measure(false, true)?),
        ("tee + mixing", measure(true, true)?),
    ])
}
