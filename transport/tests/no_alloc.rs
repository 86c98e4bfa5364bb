//! The frame side of the transport allocates nothing: `FrameFeed::push` and the background
//! tap, counted with an allocator that counts allocations made on this test's thread while
//! the encoder task keeps running on other threads.

use std::time::Duration;

use voxpace_core::{BusContext, Format, Source, Track, TrackConfig};
use voxpace_test_kit::alloc::{count_on_this_thread, CountingAllocator};
use voxpace_transport::{split_background, Publisher, PublisherConfig};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// Allocations (and reallocations) `f` makes on this thread.
fn allocations_during(f: impl FnOnce()) -> u64 {
    count_on_this_thread(f).1.allocations
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feeding_frames_does_not_allocate() {
    let format = Format::new(24_000, 1, 20).unwrap();
    // Every frame encoded: the idle track renders digital silence, which is otherwise skipped.
    let every_frame = PublisherConfig {
        skip_silence: false,
        ..PublisherConfig::default()
    };
    let (main, mut feed) = Publisher::new(format, every_frame).unwrap();
    let (background, bg_feed) = Publisher::new(format, PublisherConfig::default()).unwrap();
    // And through the silence gate (the default): the silent frames are scanned and held.
    let (gated, mut gated_feed) = Publisher::new(format, PublisherConfig::default()).unwrap();
    let _gated_rx = gated.subscribe();
    let mut main_rx = main.subscribe();
    let mut bg_rx = background.subscribe();
    let mut tap = split_background(
        |out: &mut [i16], cx: &BusContext| {
            for (i, s) in out.iter_mut().enumerate() {
                *s = ((cx.pts as usize + i) % 200) as i16 * 50;
            }
        },
        bg_feed,
    );
    let mut track = Track::new(format, TrackConfig::default()).unwrap();
    let mut pcm = vec![0i16; format.frame_len()];
    let mut bus = vec![0i16; format.frame_len()];
    let mut pushed = 0;
    for round in 0..5 {
        let n = allocations_during(|| {
            for _ in 0..8 {
                let info = track.render(&mut pcm);
                if feed.push(&info, &pcm) {
                    pushed += 1;
                }
                assert!(gated_feed.push(&info, &pcm));
                bus.fill(0);
                let cx = BusContext {
                    format,
                    pts: info.pts,
                    speech_active: false,
                };
                tap.fill(&mut bus, &cx);
            }
        });
        assert_eq!(n, 0, "round {round}: the frame side allocated {n} times");
        // Let the encoders (on other threads) drain between rounds, as the real clock would.
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    assert_eq!(pushed, 40);
    let held = gated.stats();
    assert_eq!(
        (held.frames_in, held.frames_skipped),
        (40, 34),
        "5 of hangover and a keep-alive encoded: {held:?}"
    );
    assert!(bus.iter().all(|&s| s == 0), "the tap leaves the mix silent");
    let (mut a, mut b) = (0, 0);
    while a < 40 || b < 40 {
        tokio::select! {
            r = main_rx.recv() => { r.unwrap(); a += 1; }
            r = bg_rx.recv() => { r.unwrap(); b += 1; }
            _ = tokio::time::sleep(Duration::from_secs(5)) => panic!("encoded only {a} + {b}"),
        }
    }
}
