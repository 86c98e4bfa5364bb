//! The background's threads wake for work, not on a timer: a decoder once per half ring of
//! audio the mix reads, the process's one janitor only when a source retires or a report
//! becomes due (`errors.rs` checks that reports still arrive). Wake-ups are counted by the
//! threads themselves ([`BackgroundStats`]), per second of audio rendered, so the figures
//! do not depend on how fast the test runs.

mod common;

use std::time::Duration;

use common::*;
use voxpace_sources::{BackgroundStats, FinishReason, Looping, Play, SourceEvent};

/// The tests count threads of the process: they take turns.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

/// Threads of this process named `name` (as the kernel keeps it: 15 bytes at most).
fn threads(name: &str) -> usize {
    let name = &name[..name.len().min(15)];
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|comm| comm.trim_end() == name)
        .count()
}

/// Wait up to 5 s for `f` to hold.
fn eventually(mut f: impl FnMut() -> bool) -> bool {
    for _ in 0..500 {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    f()
}

#[test]
fn a_looping_background_plays_on_and_wakes_its_decoder_once_per_half_buffer() {
    let _serial = serial();
    // 48 kHz stereo, the default 400 ms buffer: the decoder wakes when 200 ms are left.
    let mut r = Renderer::new(format(48_000, 2));
    r.bg.play(
        fixture("loop_48k_mono.flac"),
        Play::music()
            .looping(Looping::Gapless)
            .fade_in(Duration::ZERO),
    )
    .unwrap();
    let seconds = 10;
    for k in 0..seconds * 50 {
        // As in real time, the decoder tops its ring up between frames (the renderer
        // does not race it).
        assert!(r.bg.wait_full(Duration::from_secs(20)));
        let out = r.frame(false);
        let peak = out.iter().map(|s| s.unsigned_abs()).max().unwrap();
        // The 1 s file loops ten times: every frame has the tone, seams included.
        assert!(
            k < 2 || peak > 1_000,
            "frame {k} is (nearly) silent: {peak}"
        );
    }
    let s: BackgroundStats = r.bg.stats();
    assert_eq!(s.underruns, 0);
    assert_eq!(s.playing, 1);
    // One wake-up per 200 ms of audio (the start fills the ring without one); the old
    // design woke every 20 ms of wall time whatever the audio.
    let per_half_ring = seconds as u64 * 5;
    assert!(
        (per_half_ring - 2..=per_half_ring + 1).contains(&s.decoder_wakeups),
        "{} decoder wake-ups for {seconds} s of audio",
        s.decoder_wakeups
    );
    assert_eq!(s.janitor_rounds, 0, "nothing retired, nothing to report");

    // The mix pauses (no frames): with its ring above half, the decoder sleeps. (A parked
    // thread may return spuriously, which std allows: one is tolerated.)
    std::thread::sleep(Duration::from_millis(300));
    let paused = r.bg.stats();
    assert!(
        paused.decoder_wakeups <= s.decoder_wakeups + 1,
        "the decoder woke {} times while nothing was read",
        paused.decoder_wakeups - s.decoder_wakeups
    );
    assert_eq!(paused.janitor_rounds, 0);
}

#[test]
fn parked_decoders_end_when_their_source_is_cancelled_or_the_mixer_dropped() {
    let _serial = serial();
    // The decoders of the other tests' mixers end as those are dropped.
    assert!(eventually(|| threads("voxpace-source") == 0));
    let mut r = Renderer::new(format(48_000, 2));
    let events = r.bg.subscribe();
    let play = Play::clip().looping(Looping::Gapless);
    let cancelled = r.bg.play_clip(fixture("loop_48k_mono.flac"), play).unwrap();
    r.bg.play_clip(fixture("tone_44k_stereo.flac"), play)
        .unwrap();
    r.render(5);
    // Both rings are full: both decoders are parked with no timeout.
    assert!(r.bg.wait_full(Duration::from_secs(20)));
    assert_eq!(threads("voxpace-source"), 2);
    r.bg.cancel(cancelled, Duration::ZERO).unwrap();
    r.render(3);
    let finished = events.next_timeout(Duration::from_secs(5));
    assert!(
        matches!(
            finished,
            Some(SourceEvent::Finished { id, reason: FinishReason::Stopped, .. }) if id == cancelled
        ),
        "{finished:?}"
    );
    assert!(
        eventually(|| threads("voxpace-source") == 1),
        "the cancelled source's decoder did not end"
    );
    drop(r);
    assert!(
        eventually(|| threads("voxpace-source") == 0),
        "a decoder outlived its mixer"
    );
}

#[test]
fn every_background_of_the_process_shares_one_janitor() {
    let _serial = serial();
    let renderers: Vec<Renderer> = (0..5).map(|_| Renderer::new(format(24_000, 1))).collect();
    // A new thread takes its name itself, a moment after it is spawned.
    assert!(eventually(|| threads("voxpace-bg-janitor") >= 1));
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(threads("voxpace-bg-janitor"), 1);
    drop(renderers);
    assert_eq!(threads("voxpace-bg-janitor"), 1);
}
