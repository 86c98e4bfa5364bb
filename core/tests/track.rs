//! The output track's behaviour, on frames rendered directly (media time only).

mod common;

use std::time::Duration;

use common::{audible, drain, ramp, render, samples};
use voxpace_core::{
    BusContext, Error, Event, Format, Limiter, Position, ReplyId, Track, TrackConfig,
};

fn track(config: TrackConfig) -> Track {
    Track::new(Format::default(), config).unwrap()
}

#[tokio::test]
async fn silence_with_continuous_pts_when_nothing_is_queued() {
    let mut t = track(TrackConfig::default());
    let frames = render(&mut t, 50);
    for (k, (info, s)) in frames.iter().enumerate() {
        assert_eq!(info.pts, 480 * k as u64);
        assert_eq!(info.sample_rate, 24_000);
        assert!(!info.speech);
        assert!(s.iter().all(|x| *x == 0));
    }
}

#[tokio::test]
async fn stereo_silence_frames_are_stereo_sized() {
    // Python reference defect 8: stereo silence frames were built as mono.
    let mut t = Track::new(Format::new(48_000, 2, 20).unwrap(), TrackConfig::default()).unwrap();
    let frames = render(&mut t, 2);
    assert_eq!(frames[0].1.len(), 960 * 2);
    assert_eq!(frames[1].0.pts, 960);
}

#[tokio::test]
async fn odd_byte_chunks_reassemble_byte_exactly() {
    let mut t = track(TrackConfig::default());
    let h = t.handle();
    let speech = ramp(480 * 20);
    let bytes: Vec<u8> = speech.iter().flat_map(|s| s.to_le_bytes()).collect();
    let mut reply = h.open_reply().unwrap();
    let mut at = 0;
    for size in [4801, 4799, 3841, 5759] {
        reply.push_bytes(&bytes[at..at + size]).await.unwrap();
        at += size;
    }
    reply.push_bytes(&bytes[at..]).await.unwrap();
    reply.finish().unwrap();
    let out = samples(&render(&mut t, 21));
    assert_eq!(&out[..speech.len()], &speech[..]);
}

#[tokio::test]
async fn tail_shorter_than_a_frame_is_padded_played_and_not_glued_to_next_reply() {
    // Python reference defect 3: a 10101-byte reply lost its last 501 bytes into the next reply.
    let mut t = track(TrackConfig::default());
    let h = t.handle();
    let mut events = h.events();
    let first = ramp(5050); // 10100 bytes: 10 frames + 250 samples
    let mut r1 = h.open_reply().unwrap();
    r1.push_samples(&first).await.unwrap();
    let p1 = r1.finish().unwrap();
    let second = vec![-7i16; 480];
    let mut r2 = h.open_reply().unwrap();
    r2.push_samples(&second).await.unwrap();
    r2.finish().unwrap();

    let frames = render(&mut t, 14);
    let out = samples(&frames);
    assert_eq!(
        &out[..5050],
        &first[..],
        "every sample of the first reply played"
    );
    assert!(
        out[5050..5280].iter().all(|s| *s == 0),
        "tail frame padded with silence"
    );
    assert_eq!(
        &out[5280..5760],
        &second[..],
        "second reply starts on a fresh frame"
    );
    assert_eq!(frames[10].0.reply, Some(ReplyId(1)));
    assert_eq!(frames[11].0.reply, Some(ReplyId(2)));

    let outcome = p1.outcome().expect("first reply done");
    assert_eq!(outcome.played_samples, 5050);
    assert!(!outcome.interrupted);
    assert_eq!(
        outcome.pts, frames[10].0.pts,
        "finished on the frame with its last sample"
    );
    assert!(drain(&mut events).contains(&Event::PlaybackFinished(outcome)));
}

#[tokio::test]
async fn playback_finished_fires_on_the_last_frame_not_after_the_grace_period() {
    // Python reference defect 4: the end-of-speech callback fired only after the 500 ms grace period.
    let mut t = track(TrackConfig::default());
    let h = t.handle();
    let mut events = h.events();
    let mut r = h.open_reply().unwrap();
    r.push_samples(&ramp(480 * 5)).await.unwrap();
    let playback = r.finish().unwrap();
    let frames = render(&mut t, 5);
    assert_eq!(playback.outcome().unwrap().pts, frames[4].0.pts);
    let evs = drain(&mut events);
    assert!(matches!(evs.last(), Some(Event::PlaybackFinished(o)) if o.pts == 480 * 4));
    assert!(h.is_speaking(), "still speaking inside the grace period");
    // 500 ms grace = 25 frames of 20 ms without speech.
    render(&mut t, 24);
    assert!(h.is_speaking());
    let last = render(&mut t, 1);
    assert!(!h.is_speaking());
    assert!(drain(&mut events).contains(&Event::SpeakingChanged {
        speaking: false,
        pts: last[0].0.pts
    }));
}

#[tokio::test]
async fn playback_registered_after_finish_still_resolves() {
    // Python reference defect 11: on_last_audio_byte registered after mark_synthesis_complete was lost.
    let mut t = track(TrackConfig::default());
    let h = t.handle();
    let mut r = h.open_reply().unwrap();
    r.push_samples(&ramp(960)).await.unwrap();
    let early = r.playback();
    r.finish().unwrap();
    render(&mut t, 3);
    let outcome = tokio::spawn(early.clone()).await.unwrap().unwrap();
    assert_eq!(outcome.played_samples, 960);
    assert_eq!(
        early.await.unwrap(),
        outcome,
        "awaiting again gives the same outcome"
    );
}

#[tokio::test]
async fn pause_holds_speech_and_resume_returns_it_unchanged() {
    let mut t = track(TrackConfig::default());
    let h = t.handle();
    let mut events = h.events();
    let speech = ramp(480 * 20);
    let mut r = h.open_reply().unwrap();
    r.push_samples(&speech).await.unwrap();
    r.finish().unwrap();
    let before = render(&mut t, 5);
    h.pause();
    let paused = render(&mut t, 10);
    h.resume();
    let after = render(&mut t, 16);
    assert!(paused
        .iter()
        .all(|(i, s)| !i.speech && s.iter().all(|x| *x == 0)));
    let mut played = samples(&before);
    played.extend(samples(&after));
    assert_eq!(&played[..speech.len()], &speech[..]);
    let pts: Vec<u64> = before
        .iter()
        .chain(&paused)
        .chain(&after)
        .map(|(i, _)| i.pts)
        .collect();
    assert!(
        pts.windows(2).all(|w| w[1] == w[0] + 480),
        "pts advance while paused"
    );
    let evs = drain(&mut events);
    assert!(evs.contains(&Event::Paused { pts: 480 * 5 }));
    assert!(evs.contains(&Event::Resumed { pts: 480 * 15 }));
}

/// A constant background at `level`.
fn constant(level: i16) -> Box<dyn voxpace_core::Source> {
    Box::new(move |out: &mut [i16], _: &BusContext| out.fill(level))
}

#[tokio::test]
async fn pause_works_with_background_mixing() {
    // Python reference defect 2: with mixing, pause() did nothing.
    let mut t = track(TrackConfig {
        limiter: Limiter::Clip,
        ..TrackConfig::default()
    });
    let h = t.handle();
    h.set_background(Some(constant(100))).unwrap();
    let speech = ramp(480 * 10);
    let mut r = h.open_reply().unwrap();
    r.push_samples(&speech).await.unwrap();
    r.finish().unwrap();
    let before = render(&mut t, 3);
    h.pause();
    let paused = render(&mut t, 5);
    h.resume();
    let after = render(&mut t, 8);
    assert!(
        paused.iter().all(|(_, s)| s.iter().all(|x| *x == 100)),
        "background only"
    );
    let mut played: Vec<i16> = samples(&before);
    played.extend(samples(&after));
    let speech_back: Vec<i16> = played.iter().map(|s| s - 100).collect();
    assert_eq!(&speech_back[..speech.len()], &speech[..]);
}

#[tokio::test]
async fn loud_speech_over_loud_music_never_wraps() {
    // Python reference defect 1: int16 wrap-around produced full-scale clicks.
    for limiter in [Limiter::Clip, Limiter::SoftKnee] {
        let mut t = track(TrackConfig {
            limiter,
            ..TrackConfig::default()
        });
        let h = t.handle();
        h.set_background(Some(constant(26_000))).unwrap();
        let mut r = h.open_reply().unwrap();
        r.push_samples(&vec![26_000; 480 * 3]).await.unwrap();
        r.push_samples(&vec![-26_000; 480 * 3]).await.unwrap();
        r.finish().unwrap();
        let out = samples(&render(&mut t, 6));
        assert!(out[..480 * 3].iter().all(|s| *s > 29_000), "{limiter:?}");
        assert!(
            out[480 * 3..].iter().all(|s| *s == 0),
            "{limiter:?}: -26000+26000"
        );
    }
}

#[tokio::test]
async fn interrupt_fades_within_the_next_frame_then_silence() {
    let mut t = track(TrackConfig::default()); // 10 ms fade
    let h = t.handle();
    let mut events = h.events();
    let mut r = h.open_reply().unwrap();
    r.push_samples(&vec![10_000; 480 * 50]).await.unwrap();
    let playback = r.playback();
    render(&mut t, 5);
    assert_eq!(h.interrupt(), Some(ReplyId(1)));
    let frames = render(&mut t, 10);
    let fade = &frames[0].1;
    assert!(
        fade[0] > 9_000 && fade[0] < 10_000,
        "fade starts near full level"
    );
    assert!(
        fade[..240].windows(2).all(|w| w[1] <= w[0]),
        "monotonic fade"
    );
    assert!(fade[239] < 100, "fades to near zero within 10 ms");
    assert!(fade[240..].iter().all(|s| *s == 0));
    assert!(frames[1..].iter().all(|(_, s)| s.iter().all(|x| *x == 0)));
    let outcome = playback.await.unwrap();
    assert!(outcome.interrupted);
    assert_eq!(outcome.played_samples, 480 * 5 + 240);
    assert_eq!(outcome.position, Position::Exact);
    assert!(drain(&mut events).contains(&Event::PlaybackFinished(outcome)));
    // The cancelled producer is refused with a typed error.
    assert_eq!(
        r.push_samples(&[1, 2, 3]).await,
        Err(Error::ReplyInterrupted(ReplyId(1)))
    );
}

#[tokio::test]
async fn zero_fade_is_a_hard_cut() {
    let mut t = track(TrackConfig {
        interrupt_fade: Duration::ZERO,
        ..TrackConfig::default()
    });
    let h = t.handle();
    let mut r = h.open_reply().unwrap();
    r.push_samples(&vec![10_000; 480 * 50]).await.unwrap();
    render(&mut t, 2);
    h.interrupt();
    assert!(samples(&render(&mut t, 3)).iter().all(|s| *s == 0));
}

#[tokio::test]
async fn a_cancelled_reply_can_never_leak_into_the_next_one() {
    let mut t = track(TrackConfig::default());
    let h = t.handle();
    let mut old = h.open_reply().unwrap();
    old.push_samples(&vec![5; 480 * 10]).await.unwrap();
    render(&mut t, 2);
    h.interrupt();
    let mut new = h.open_reply().unwrap();
    assert_eq!(new.id(), ReplyId(2));
    assert!(old.push_samples(&[5; 480]).await.is_err());
    new.push_samples(&vec![9; 480 * 3]).await.unwrap();
    new.finish().unwrap();
    let out = samples(&render(&mut t, 6));
    let heard = audible(&out);
    assert!(
        heard[240..].iter().all(|s| *s == 9),
        "after the fade only the new reply"
    );
    assert_eq!(heard.iter().filter(|s| **s == 9).count(), 480 * 3);
}

#[tokio::test]
async fn manual_input_keeps_intake_closed_until_enabled() {
    // Python reference defect 2 (second half): the mixing variant bypassed the manual input gate, so
    // the gate is tested here with background mixing on.
    let mut t = track(TrackConfig {
        manual_input: true,
        ..TrackConfig::default()
    });
    let h = t.handle();
    h.set_background(Some(constant(50))).unwrap();
    let mut r = h.open_reply().unwrap();
    r.push_samples(&ramp(480)).await.unwrap();
    h.interrupt();
    assert_eq!(h.open_reply().err(), Some(Error::IntakeClosed));
    render(&mut t, 1);
    h.enable_input(true);
    assert!(h.open_reply().is_ok());
}

#[tokio::test]
async fn a_second_interrupt_without_enable_input_still_interrupts() {
    // Python reference defect 10: the second interrupt did nothing and 1.9 s kept playing.
    let mut t = track(TrackConfig::default());
    let h = t.handle();
    let mut r1 = h.open_reply().unwrap();
    r1.push_samples(&vec![3; 480 * 20]).await.unwrap();
    render(&mut t, 2);
    h.interrupt();
    render(&mut t, 2);
    let mut r2 = h.open_reply().unwrap();
    r2.push_samples(&vec![4; 480 * 100]).await.unwrap();
    render(&mut t, 5);
    h.interrupt();
    let after = render(&mut t, 96);
    let audible_frames = after
        .iter()
        .filter(|(_, s)| s.iter().any(|x| *x != 0))
        .count();
    assert!(
        audible_frames <= 1,
        "only the fade frame, got {audible_frames}"
    );
}

#[tokio::test]
async fn interrupting_a_queued_reply_reports_it_unplayed() {
    let mut t = track(TrackConfig::default());
    let h = t.handle();
    let mut r1 = h.open_reply().unwrap();
    r1.push_samples(&ramp(480 * 4)).await.unwrap();
    let mut r2 = h.open_reply().unwrap();
    r2.push_samples(&ramp(480 * 4)).await.unwrap();
    let (p1, p2) = (r1.playback(), r2.playback());
    render(&mut t, 2);
    h.interrupt();
    render(&mut t, 1);
    assert_eq!(p1.outcome().unwrap().played_samples, 480 * 2 + 240);
    let o2 = p2.outcome().unwrap();
    assert!(o2.interrupted);
    assert_eq!(o2.played_samples, 0);
}

#[tokio::test]
async fn a_fast_producer_waits_on_the_bounded_buffer() {
    // Python reference defect 6: unbounded buffers and no back-pressure.
    let mut t = track(TrackConfig {
        buffer: Duration::from_millis(100), // 2400 samples
        ..TrackConfig::default()
    });
    let h = t.handle();
    let speech = ramp(480 * 20);
    let producer = {
        let speech = speech.clone();
        tokio::spawn(async move {
            let mut r = h.open_reply().unwrap();
            for chunk in speech.chunks(960) {
                r.push_samples(chunk).await.unwrap();
            }
            r.finish().unwrap();
        })
    };
    let h2 = t.handle();
    let mut out = Vec::new();
    for _ in 0..40 {
        tokio::task::yield_now().await;
        assert!(
            h2.buffered() <= Duration::from_millis(100),
            "never above the bound"
        );
        out.extend(samples(&render(&mut t, 1)));
    }
    producer.await.unwrap();
    assert_eq!(audible(&out), speech, "nothing lost, nothing reordered");
}

#[tokio::test]
async fn start_threshold_waits_for_enough_audio_and_underruns_are_counted() {
    let mut t = track(TrackConfig {
        start_threshold: Duration::from_millis(100),
        ..TrackConfig::default()
    });
    let h = t.handle();
    let mut r = h.open_reply().unwrap();
    r.push_samples(&ramp(480 * 2)).await.unwrap();
    assert!(
        render(&mut t, 3).iter().all(|(i, _)| !i.speech),
        "below threshold"
    );
    r.push_samples(&ramp(480 * 3)).await.unwrap();
    let frames = render(&mut t, 7);
    assert!(frames[0].0.speech, "threshold reached: plays");
    assert_eq!(
        h.stats().underruns,
        2,
        "frames 5 and 6 ran dry inside the reply"
    );
    r.finish().unwrap();
    render(&mut t, 1);
    assert_eq!(h.stats().replies_completed, 1);
}

#[tokio::test]
async fn a_short_finished_reply_starts_below_the_threshold() {
    let mut t = track(TrackConfig {
        start_threshold: Duration::from_millis(500),
        ..TrackConfig::default()
    });
    let h = t.handle();
    let mut r = h.open_reply().unwrap();
    r.push_samples(&ramp(100)).await.unwrap();
    let p = r.finish().unwrap();
    render(&mut t, 1);
    assert_eq!(p.outcome().unwrap().played_samples, 100);
}

#[tokio::test]
async fn events_come_in_a_legal_order() {
    let mut t = track(TrackConfig::default());
    let h = t.handle();
    let mut events = h.events();
    let mut r = h.open_reply().unwrap();
    r.push_samples(&ramp(480 * 3)).await.unwrap();
    r.finish().unwrap();
    render(&mut t, 1);
    h.pause();
    render(&mut t, 1);
    h.resume();
    render(&mut t, 40);
    let evs = drain(&mut events);
    let kinds: Vec<&str> = evs
        .iter()
        .map(|e| match e {
            Event::SpeechStarted { .. } => "started",
            Event::SpeakingChanged { speaking: true, .. } => "speaking",
            Event::SpeakingChanged {
                speaking: false, ..
            } => "quiet",
            Event::Paused { .. } => "paused",
            Event::Resumed { .. } => "resumed",
            Event::PlaybackFinished(_) => "finished",
            _ => "other",
        })
        .collect();
    assert_eq!(
        kinds,
        ["started", "speaking", "paused", "resumed", "finished", "quiet"]
    );
}

#[test]
fn invalid_configuration_is_a_clear_error() {
    let e = Track::new(
        Format::default(),
        TrackConfig {
            start_threshold: Duration::from_secs(20),
            ..TrackConfig::default()
        },
    )
    .unwrap_err();
    assert!(e.to_string().contains("start_threshold"), "{e}");
    // The intake counts its bound in 32 bits: 12 hours of 48 kHz stereo, at most.
    let stereo = Format::new(48_000, 2, 20).unwrap();
    let buffer = |buffer| {
        Track::new(
            stereo,
            TrackConfig {
                buffer,
                ..TrackConfig::default()
            },
        )
    };
    assert!(buffer(Duration::from_secs(12 * 3600)).is_ok());
    for long in [Duration::from_secs(13 * 3600), Duration::MAX] {
        let e = buffer(long).unwrap_err();
        assert!(
            e.to_string().contains("buffer") && e.to_string().contains("longer than"),
            "{e}"
        );
    }
}

#[tokio::test]
async fn a_partial_sample_at_finish_is_reported_and_the_rest_plays() {
    let mut t = track(TrackConfig::default());
    let h = t.handle();
    let mut r = h.open_reply().unwrap();
    r.push_bytes(&[1, 0, 2, 0, 3]).await.unwrap();
    let p = r.playback();
    assert_eq!(
        r.finish().err(),
        Some(Error::PartialSample {
            reply: ReplyId(1),
            bytes: 1
        })
    );
    let out = samples(&render(&mut t, 1));
    assert_eq!(&out[..3], &[1, 2, 0]);
    assert_eq!(p.outcome().unwrap().played_samples, 2);
}

#[tokio::test]
async fn a_panicking_background_is_dropped_and_speech_goes_on() {
    // Python reference defect 9: an error inside recv() returned None to the media stack.
    let mut t = track(TrackConfig::default());
    let h = t.handle();
    let mut events = h.events();
    let mut calls = 0;
    h.set_background(Some(Box::new(move |out: &mut [i16], _: &BusContext| {
        calls += 1;
        if calls == 3 {
            panic!("decoder state corrupted");
        }
        out.fill(10);
    })))
    .unwrap();
    let mut r = h.open_reply().unwrap();
    r.push_samples(&vec![1000; 480 * 6]).await.unwrap();
    let frames = render(&mut t, 6);
    assert!(frames[..2]
        .iter()
        .all(|(_, s)| s.iter().all(|x| *x == 1010)));
    assert!(frames[2..]
        .iter()
        .all(|(_, s)| s.iter().all(|x| *x == 1000)));
    let failed = drain(&mut events).into_iter().find_map(|e| match e {
        Event::BackgroundFailed { pts, reason } => Some((pts, reason)),
        _ => None,
    });
    assert_eq!(failed, Some((960, "decoder state corrupted".to_string())));
}
