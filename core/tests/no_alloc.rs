//! The steady-state per-frame path allocates nothing: proven with a counting allocator
//! that counts allocations made on this test's thread while frames render.

mod common;

use common::ramp;
use std::time::Duration;

use voxpace_core::{
    BusContext, Format, Limiter, Normalise, Source, Track, TrackConfig, TrackHandle,
};
use voxpace_test_kit::alloc::{count_on_this_thread, CountingAllocator};
use voxpace_test_kit::sinks::Discard;

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// Allocations (and reallocations) `f` makes on this thread.
fn allocations_during(f: impl FnOnce()) -> u64 {
    count_on_this_thread(f).1.allocations
}

/// A background that rises by `step` a sample (wrapping), at 1/`down` of full scale.
fn sawtooth(step: i16, down: i16) -> Box<dyn Source> {
    let mut phase = 0i16;
    Box::new(move |out: &mut [i16], _: &BusContext| {
        for s in out.iter_mut() {
            phase = phase.wrapping_add(step);
            *s = phase / down;
        }
    })
}

/// Four seconds of 48 kHz stereo speech, queued in 100 ms pushes, and the reply finished.
async fn queue_speech(h: &TrackHandle) {
    let mut reply = h.open_reply().unwrap();
    for chunk in ramp(2 * 48_000 * 4).chunks(9600) {
        reply.push_samples(chunk).await.unwrap();
    }
    reply.finish().unwrap();
}

#[tokio::test]
async fn rendering_with_speech_background_sink_and_events_allocates_nothing() {
    let format = Format::new(48_000, 2, 20).unwrap();
    let mut track = Track::new(format, TrackConfig::default()).unwrap();
    let h = track.handle();
    let _events = h.events();
    h.set_background(Some(sawtooth(97, 8))).unwrap();
    h.attach_sink(Box::new(Discard)).unwrap();
    queue_speech(&h).await;
    let mut out = vec![0i16; format.frame_len()];
    // Warm up: commands applied, first chunk taken, speaking state set.
    for _ in 0..5 {
        track.render(&mut out);
    }
    let n = allocations_during(|| {
        for i in 0..150 {
            if i == 50 {
                h.pause();
            }
            if i == 60 {
                h.resume();
            }
            let info = track.render(&mut out);
            assert_eq!(info.channels, 2);
        }
    });
    assert_eq!(n, 0, "allocations on the frame path");
}

/// A background arriving on a playing track: the control side boxes it, the frame side only
/// moves it in (the command is applied inside the counted frames).
#[tokio::test]
async fn a_background_set_while_playing_is_applied_without_allocating() {
    let format = Format::new(48_000, 2, 20).unwrap();
    let mut track = Track::new(format, TrackConfig::default()).unwrap();
    let h = track.handle();
    queue_speech(&h).await;
    let mut out = vec![0i16; format.frame_len()];
    for _ in 0..5 {
        track.render(&mut out);
    }
    h.set_background(Some(sawtooth(97, 8))).unwrap();
    let n = allocations_during(|| {
        for _ in 0..20 {
            track.render(&mut out);
        }
    });
    assert_eq!(n, 0, "allocations on the frame path");
    assert!(
        out.iter().any(|&v| v != 0),
        "the background (and speech) play"
    );
}

/// The loudness work on the frame path: the true-peak limiter (ebur128's oversampling
/// scanner) and the output meter, over hot speech (normalised on the producer side) and
/// background.
#[tokio::test]
async fn rendering_with_the_true_peak_limiter_and_the_meter_allocates_nothing() {
    let format = Format::new(48_000, 2, 20).unwrap();
    let config = TrackConfig {
        limiter: Limiter::TruePeak {
            ceiling_dbtp: -1.0,
            release: Duration::from_millis(50),
        },
        loudness: Some(Normalise::to(-16.0)),
        output_meter: true,
        ..TrackConfig::default()
    };
    let mut track = Track::new(format, config).unwrap();
    let h = track.handle();
    h.set_background(Some(sawtooth(997, 2))).unwrap();
    queue_speech(&h).await;
    let mut out = vec![0i16; format.frame_len()];
    for _ in 0..5 {
        track.render(&mut out);
    }
    let n = allocations_during(|| {
        for _ in 0..150 {
            track.render(&mut out);
        }
    });
    assert_eq!(n, 0, "allocations on the frame path");
    assert!(h.output_loudness().is_some());
}

#[test]
fn an_idle_track_renders_silence_without_allocating() {
    let mut track = Track::new(Format::default(), TrackConfig::default()).unwrap();
    let mut out = vec![0i16; 480];
    track.render(&mut out);
    let n = allocations_during(|| {
        for _ in 0..1000 {
            track.render(&mut out);
        }
    });
    assert_eq!(n, 0);
}

#[tokio::test]
async fn text_marks_playing_ending_and_interrupted_allocate_nothing_on_the_frame_path() {
    let format = Format::default();
    let mut track = Track::new(format, TrackConfig::default()).unwrap();
    let h = track.handle();
    let mut events = h.events();
    h.attach_sink(Box::new(Discard)).unwrap();
    // A reply of 1 s with a word every 50 ms, then one that is interrupted mid-word.
    let mut first = h.open_reply().unwrap();
    first.set_text("unused: marks win").unwrap();
    for i in 0..20u64 {
        first.mark(i * 1_200, " word").unwrap();
    }
    first.push_samples(&ramp(24_000)).await.unwrap();
    first.finish().unwrap();
    let mut second = h.open_reply().unwrap();
    for i in 0..20u64 {
        second.mark(i * 1_200, " more").unwrap();
    }
    second.push_samples(&ramp(24_000)).await.unwrap();
    let mut out = vec![0i16; format.frame_len()];
    track.render(&mut out); // warm up: commands applied, first chunk taken
    let n = allocations_during(|| {
        for i in 0..70 {
            if i == 65 {
                h.interrupt();
            }
            track.render(&mut out);
        }
    });
    assert_eq!(n, 0, "allocations on the frame path");
    let played = std::iter::from_fn(|| events.try_next())
        .filter(|e| matches!(e, voxpace_core::Event::TextPlayed { .. }))
        .count();
    assert!(played >= 25, "marks were played while counting ({played})");
}

/// A track that goes frees its queued audio then, though a handle and a `Playback` (which
/// keep the track's shared allocation) live on: 1 s queued in 100 ms pushes is 5 blocks,
/// each a header and its samples, and the ring that held them.
#[tokio::test]
async fn a_dropped_track_frees_its_queued_audio_while_views_of_it_live_on() {
    let track = Track::new(Format::default(), TrackConfig::default()).unwrap();
    let h = track.handle();
    let mut reply = h.open_reply().unwrap();
    for chunk in ramp(24_000).chunks(2_400) {
        reply.push_samples(chunk).await.unwrap();
    }
    let playback = reply.playback();
    let ((), counts) = count_on_this_thread(|| drop(track));
    assert!(counts.frees >= 11, "blocks and ring freed: {counts:?}");
    assert_eq!(playback.await, None);
    drop((h, reply));
}

/// At thousands of tracks every line a push touches is a cache miss: a push into the open
/// block allocates and frees nothing, and the blocks the frame side finished are freed by
/// the producer when it next needs a ring slot (opening a block), never by the frame side.
#[test]
fn a_push_into_the_open_block_neither_allocates_nor_frees() {
    let format = Format::default(); // 24 kHz mono: blocks of 200 ms, 4800 values
    let mut track = Track::new(format, TrackConfig::default()).unwrap();
    let h = track.handle();
    let mut reply = h.open_reply().unwrap();
    let piece = ramp(2_400); // 100 ms
    let mut push =
        || count_on_this_thread(|| assert_eq!(reply.try_push_samples(&piece).unwrap(), 2_400)).1;
    let mut out = vec![0i16; format.frame_len()];
    let mut render = |frames: usize| {
        count_on_this_thread(|| {
            for _ in 0..frames {
                track.render(&mut out);
            }
        })
        .1
    };
    assert!(push().allocations > 0, "the first push opens a block");
    render(1); // applies the intake's installation (frees its command)
    assert_eq!(push().total(), 0, "the second fills it");
    // The frame side plays the first block to its end; it is finished once sealed, when
    // the next push opens a block.
    assert_eq!(render(9).total(), 0);
    assert!(push().allocations > 0, "a new block");
    assert_eq!(
        render(1).total(),
        0,
        "the frame side finishes the first, frees nothing"
    );
    assert_eq!(
        push().total(),
        0,
        "into the open block: the finished one is left alone"
    );
    let opening = push();
    assert!(
        opening.allocations > 0 && opening.frees >= 2,
        "opening a block frees the finished one (header and samples): {opening:?}"
    );
}
