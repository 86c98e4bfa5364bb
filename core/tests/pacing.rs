//! Pacing on the virtual clock: one frame per period, catch-up policy, many tracks on one
//! frame clock, and hours of track time in milliseconds.

mod common;

use std::time::Duration;

use common::ramp;
use voxpace_core::{CatchUp, Clock, Format, FrameClock, Pacer, Track, TrackConfig, VirtualClock};

fn track() -> Track {
    Track::new(Format::default(), TrackConfig::default()).unwrap()
}

#[tokio::test]
async fn exactly_one_frame_per_period_against_the_clock() {
    let clock = VirtualClock::auto_advance();
    let mut pacer = Pacer::new(track(), clock.clone());
    let start = clock.now();
    for k in 0..100u64 {
        let frame = pacer.next_frame().await;
        assert_eq!(frame.pts(), 480 * k);
        assert_eq!(clock.now() - start, Duration::from_millis(20 * k));
    }
    assert_eq!(pacer.stats().late_frames, 0);
}

#[tokio::test]
async fn an_hour_of_track_time_runs_in_moments_on_the_virtual_clock() {
    let clock = VirtualClock::auto_advance();
    let t = track();
    let h = t.handle();
    let mut pacer = Pacer::new(t, clock.clone());
    let mut reply = h.open_reply().unwrap();
    reply.push_samples(&ramp(24_000)).await.unwrap();
    let playback = reply.finish().unwrap();
    for _ in 0..(3600 * 50) {
        pacer.next_frame().await;
    }
    assert_eq!(clock.now(), Duration::from_millis(20 * (3600 * 50 - 1)));
    assert_eq!(playback.await.unwrap().played_samples, 24_000);
    assert_eq!(h.stats().frames, 3600 * 50);
}

#[tokio::test]
async fn a_late_consumer_gets_a_bounded_burst_and_the_schedule_reanchors() {
    let clock = VirtualClock::new();
    let catch_up = CatchUp {
        max_burst: 3,
        late_after: Duration::from_millis(5),
    };
    let mut pacer = Pacer::with_catch_up(track(), clock.clone(), catch_up);
    pacer.next_frame().await; // anchors at 0
    clock.advance(Duration::from_millis(200)); // a stall of 10 periods
                                               // Three frames come back to back, no more.
    let mut pts = Vec::new();
    for _ in 0..3 {
        pts.push(pacer.next_frame().await.pts());
        assert_eq!(clock.now(), Duration::from_millis(200));
    }
    assert_eq!(pacer.stats().resyncs, 1);
    // The fourth waits for the next period of the new schedule.
    let clock2 = clock.clone();
    let waiter = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(1)).await;
        clock2.advance(Duration::from_millis(20));
    });
    pts.push(pacer.next_frame().await.pts());
    waiter.await.unwrap();
    assert_eq!(clock.now(), Duration::from_millis(220));
    assert_eq!(pts, vec![480, 960, 1440, 1920], "pts stay continuous");
    assert!(pacer.stats().late_frames >= 2);
    assert_eq!(
        pacer.track().handle().stats().late_frames,
        pacer.stats().late_frames
    );
}

#[test]
fn a_frame_clock_renders_every_track_once_per_period() {
    let clock = VirtualClock::new();
    let fc = FrameClock::start(clock.clone(), Duration::from_millis(20));
    let (tx, rx) = std::sync::mpsc::channel();
    for id in 0..5u32 {
        let tx = tx.clone();
        fc.add(track(), move |info, samples| {
            assert_eq!(samples.len(), 480);
            tx.send((id, info.pts)).is_ok()
        });
    }
    // Tracks join at the end of a tick; then every period renders each of them once.
    let seen = advance_collecting(&clock, 200, &rx);
    for id in 0..5u32 {
        let pts: Vec<u64> = seen
            .iter()
            .filter(|(i, _)| *i == id)
            .map(|(_, p)| *p)
            .collect();
        assert!(pts.len() >= 5, "track {id} rendered {} frames", pts.len());
        assert!(pts.iter().enumerate().all(|(k, p)| *p == 480 * k as u64));
    }
    let stats = fc.stats();
    assert!(stats.frames >= 25);
    fc.stop();
}

#[test]
fn a_frame_clock_counts_frames_rendered_late_on_their_tracks() {
    let clock = VirtualClock::new();
    let fc = FrameClock::start(clock.clone(), Duration::from_millis(20));
    let t = track();
    let h = t.handle();
    fc.add(t, |_, _| true);
    // On time: the clock moves in 1 ms steps, each slot wakes at its due time.
    for _ in 0..60 {
        clock.advance(Duration::from_millis(1));
        std::thread::sleep(Duration::from_millis(2));
    }
    assert_eq!(h.stats().late_frames, 0, "{:?}", h.stats());
    let rendered = h.stats().frames;
    assert!(rendered >= 2);
    // A 200 ms stall: the frames due meanwhile go out late and are counted on the track.
    clock.advance(Duration::from_millis(200));
    let start = std::time::Instant::now();
    while h.stats().late_frames == 0 && start.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(2));
    }
    assert!(h.stats().late_frames >= 1, "{:?}", h.stats());
    fc.stop();
}

/// Wait (real time, bounded) until the frame clock's thread blocks on `ms` (virtual);
/// fails the test with where it blocks instead.
fn assert_blocks_on(clock: &VirtualClock, ms: u64) {
    let deadline = Duration::from_millis(ms);
    let start = std::time::Instant::now();
    while clock.blocked_until() != Some(deadline) {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "blocked until {:?}, not {deadline:?}",
            clock.blocked_until()
        );
        std::thread::sleep(Duration::from_micros(200));
    }
}

#[test]
fn the_frame_clock_sleeps_to_the_next_slot_that_has_a_track() {
    let clock = VirtualClock::new();
    let fc = FrameClock::start(clock.clone(), Duration::from_millis(20));
    // Empty: one wake per period, to look for new tracks, none for its 20 empty slots.
    assert_blocks_on(&clock, 20);
    let t = track();
    let h = t.handle();
    fc.add(t, |_, _| true);
    clock.advance(Duration::from_millis(20));
    // The track joined at the tick and rendered at once; next it is due a period later,
    // and nothing wakes the thread in between.
    assert_blocks_on(&clock, 40);
    assert_eq!(h.stats().frames, 1);
    for k in 1..=5u64 {
        clock.advance(Duration::from_millis(20));
        assert_blocks_on(&clock, 20 * (k + 2));
    }
    assert_eq!(h.stats().frames, 6);
    assert_eq!(
        fc.stats().batches,
        6,
        "one batch per period, none for empty slots"
    );
    fc.stop();
}

#[test]
fn tracks_in_two_slots_wake_the_clock_twice_a_period_and_never_for_the_empty_slots() {
    let clock = VirtualClock::new();
    let fc = FrameClock::start(clock.clone(), Duration::from_millis(20));
    assert_blocks_on(&clock, 20);
    let (a, b) = (track(), track());
    let (ha, hb) = (a.handle(), b.handle());
    fc.add(a, |_, _| true);
    fc.add(b, |_, _| true);
    // Both join at the 20 ms tick, one in each of the first two slots (each goes to the
    // least loaded). Slot 0 renders at once; then the thread sleeps to slot 1 (21 ms),
    // then past the 18 empty slots straight to slot 0 of the next period (40 ms).
    clock.advance(Duration::from_millis(20));
    assert_blocks_on(&clock, 21);
    assert_eq!((ha.stats().frames, hb.stats().frames), (1, 0));
    clock.advance(Duration::from_millis(1));
    assert_blocks_on(&clock, 40);
    assert_eq!((ha.stats().frames, hb.stats().frames), (1, 1));
    for k in 2..=4u64 {
        clock.set(Duration::from_millis(20 * k));
        assert_blocks_on(&clock, 20 * k + 1);
        clock.set(Duration::from_millis(20 * k + 1));
        assert_blocks_on(&clock, 20 * (k + 1));
    }
    assert_eq!((ha.stats().frames, hb.stats().frames), (4, 4));
    assert_eq!(
        fc.stats().batches,
        8,
        "two batches a period, none for empty slots"
    );
    fc.stop();
}

#[test]
fn an_output_that_ends_leaves_the_frame_clock_and_the_others_go_on() {
    let clock = VirtualClock::new();
    let fc = FrameClock::start(clock.clone(), Duration::from_millis(20));
    let (tx, rx) = std::sync::mpsc::channel();
    let mut handles = Vec::new();
    for id in 0..3u32 {
        let tx = tx.clone();
        let t = track();
        handles.push(t.handle());
        // The middle one ends after its third frame.
        fc.add(t, move |info, _| {
            let _ = tx.send((id, info.pts));
            id != 1 || info.pts < 480 * 2
        });
    }
    let seen = advance_collecting(&clock, 300, &rx);
    let frames = |id: u32| seen.iter().filter(|(i, _)| *i == id).count();
    assert_eq!(
        frames(1),
        3,
        "the ended output's track renders no more: {seen:?}"
    );
    assert!(
        frames(0) >= 8 && frames(2) >= 8,
        "the others go on: {seen:?}"
    );
    // Its track was dropped on the clock thread.
    assert_eq!(
        handles[1].open_reply().unwrap_err(),
        voxpace_core::Error::TrackClosed
    );
    assert!(handles[0].open_reply().is_ok());
    fc.stop();
}

/// Advance `clock` by `ms` milliseconds, one at a time (giving the frame clock thread time
/// to render between steps), then collect what the outputs sent until they fall quiet.
fn advance_collecting(
    clock: &VirtualClock,
    ms: u32,
    rx: &std::sync::mpsc::Receiver<(u32, u64)>,
) -> Vec<(u32, u64)> {
    let mut seen = Vec::new();
    for _ in 0..ms {
        clock.advance(Duration::from_millis(1));
        while let Ok(x) = rx.try_recv() {
            seen.push(x);
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    while let Ok(x) = rx.recv_timeout(Duration::from_millis(200)) {
        seen.push(x);
    }
    seen
}
