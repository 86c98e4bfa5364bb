//! The intake counted in samples: chunks of any size (one byte upward) coalesce and play
//! in real time, `try_push_*` never waits, owned buffers join without a copy, and the
//! writer reports what it has had accepted.

mod common;

use std::time::Duration;

use common::{audible, ramp, render, samples};
use voxpace_core::{
    Clock, Error, ErrorKind, Format, Pacer, ReplyId, Track, TrackConfig, VirtualClock,
};

fn track(config: TrackConfig) -> Track {
    Track::new(Format::default(), config).unwrap()
}

fn le_bytes(samples: &[i16]) -> Vec<u8> {
    samples.iter().flat_map(|s| s.to_le_bytes()).collect()
}

#[tokio::test]
async fn ten_thousand_two_byte_chunks_play_in_their_own_duration_plus_one_frame() {
    let format = Format::default();
    let track = track(TrackConfig::default());
    let h = track.handle();
    let clock = VirtualClock::auto_advance();
    let mut pacer = Pacer::new(track, clock.clone());
    let speech = ramp(10_000);
    let mut reply = h.open_reply().unwrap();
    for chunk in le_bytes(&speech).chunks(2) {
        reply.push_bytes(chunk).await.unwrap();
    }
    assert_eq!(reply.accepted(), 10_000);
    let playback = reply.finish().unwrap();
    let mut heard = Vec::new();
    while playback.outcome().is_none() {
        let frame = pacer.next_frame().await;
        heard.extend_from_slice(frame.samples());
        assert!(heard.len() <= 48_000, "the reply never ended");
    }
    // The last frame started at `now` and lasts one period.
    let played_by = clock.now() + format.frame_duration();
    let own = format.duration_of(10_000);
    assert!(
        played_by <= own + format.frame_duration(),
        "played by {played_by:?}, the audio lasts {own:?}"
    );
    assert_eq!(pacer.track().handle().stats().underruns, 0);
    assert_eq!(audible(&heard), speech, "every sample once, in order");
}

#[tokio::test]
async fn one_byte_chunks_reassemble_exactly_in_stereo() {
    let format = Format::new(48_000, 2, 20).unwrap();
    let mut t = Track::new(format, TrackConfig::default()).unwrap();
    let h = t.handle();
    let speech = ramp(format.frame_len() * 3 + 2);
    let mut reply = h.open_reply().unwrap();
    for byte in le_bytes(&speech).chunks(1) {
        reply.push_bytes(byte).await.unwrap();
    }
    reply.finish().unwrap();
    let out = samples(&render(&mut t, 5));
    assert_eq!(&out[..speech.len()], &speech[..]);
}

#[tokio::test]
async fn try_push_takes_what_fits_and_never_waits() {
    let format = Format::default();
    let mut t = track(TrackConfig {
        buffer: Duration::from_millis(100),
        ..TrackConfig::default()
    });
    let h = t.handle();
    let bound = format.samples_in(Duration::from_millis(100)) as usize;
    let speech = ramp(bound * 3);
    let mut reply = h.open_reply().unwrap();
    let taken = reply.try_push_samples(&speech).unwrap();
    assert_eq!(taken, bound, "a prefix up to the buffer's bound");
    assert_eq!(reply.try_push_samples(&speech[taken..]).unwrap(), 0, "full");
    assert_eq!(reply.buffered(), Duration::from_millis(100));
    render(&mut t, 1);
    assert_eq!(reply.buffered(), Duration::from_millis(80));
    let more = reply.try_push_samples(&speech[taken..]).unwrap();
    assert_eq!(more, format.frame_len(), "a frame played, a frame of room");
    assert_eq!(reply.accepted(), (taken + more) as u64);
    assert_eq!(reply.playback().accepted(), (taken + more) as u64);
}

#[tokio::test]
async fn try_push_bytes_carries_a_split_sample_and_reports_bytes_taken() {
    let mut t = track(TrackConfig::default());
    let h = t.handle();
    let mut reply = h.open_reply().unwrap();
    assert_eq!(reply.try_push_bytes(&[1, 0, 2]).unwrap(), 3);
    assert_eq!(reply.accepted(), 1, "the odd byte waits for its pair");
    // Samples cannot continue a byte push that stopped mid-sample.
    let e = reply.try_push_samples(&[7]).unwrap_err();
    assert_eq!(e, Error::PushSplitsSample { reply: ReplyId(1) });
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert_eq!(reply.try_push_bytes(&[0, 3, 0]).unwrap(), 3);
    reply.push_samples(&[4]).await.unwrap();
    reply.finish().unwrap();
    assert_eq!(&samples(&render(&mut t, 1))[..5], &[1, 2, 3, 4, 0]);
}

#[tokio::test]
async fn an_owned_buffer_plays_like_a_copied_one() {
    let mut t = track(TrackConfig::default());
    let h = t.handle();
    let speech = ramp(480 * 4);
    let mut reply = h.open_reply().unwrap();
    reply.push_samples(&speech[..100]).await.unwrap();
    reply.push_vec(speech[100..].to_vec()).await.unwrap();
    assert_eq!(reply.accepted(), speech.len() as u64);
    let playback = reply.finish().unwrap();
    let out = samples(&render(&mut t, 5));
    assert_eq!(&out[..speech.len()], &speech[..]);
    assert_eq!(
        playback.outcome().unwrap().played_samples,
        speech.len() as u64
    );
}

#[tokio::test]
async fn pushes_after_an_interrupt_are_refused_even_without_waiting() {
    let mut t = track(TrackConfig::default());
    let h = t.handle();
    let mut reply = h.open_reply().unwrap();
    reply.try_push_samples(&ramp(4800)).unwrap();
    render(&mut t, 1);
    h.interrupt();
    assert_eq!(
        reply.try_push_samples(&[1]).unwrap_err(),
        Error::ReplyInterrupted(ReplyId(1))
    );
    render(&mut t, 2);
    assert_eq!(h.buffered(), Duration::ZERO, "the queued rest was dropped");
}

#[tokio::test]
async fn many_tiny_replies_fill_the_intake_and_opening_more_is_retryable() {
    let mut t = track(TrackConfig::default());
    let h = t.handle();
    let mut opened = 0;
    let e = loop {
        match h.open_reply() {
            Ok(mut r) => {
                r.try_push_samples(&[1]).unwrap();
                opened += 1;
            }
            Err(e) => break e,
        }
        assert!(opened < 1000, "the intake is bounded");
    };
    assert_eq!(e, Error::IntakeFull);
    assert!(e.kind().is_retryable());
    render(&mut t, 1);
    assert!(h.open_reply().is_ok(), "room again once a frame played");
}
