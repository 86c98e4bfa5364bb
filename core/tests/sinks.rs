//! The sink fan-out: bounded queues, worker threads, delivery modes, isolation.
//! Sinks run on real threads, so these tests wait for content with generous bounds and
//! never assert on speed.

mod common;

use std::time::{Duration, Instant};

use common::{drain, ramp, render};
use voxpace_core::{Delivery, Event, Format, Position, SinkInfo, Track, TrackConfig};
use voxpace_test_kit::sinks::{audio, Recorder, Recording, Seen};

/// Wait (generously) until `pred` holds for what `rec` saw.
fn wait_for(rec: &Recording, what: &str, pred: impl Fn(&[Seen]) -> bool) {
    assert!(
        rec.wait_for(Duration::from_secs(20), pred),
        "timed out waiting for {what}: {:?}",
        rec.seen()
    );
}

#[tokio::test]
async fn paced_sink_gets_every_frame_with_pts_and_every_control_event() {
    // Python reference defect 5: sinks were never told about interrupt, pause or resume.
    let config = TrackConfig {
        interrupt_fade: Duration::ZERO, // a hard cut: the fade's own test is in properties
        ..TrackConfig::default()
    };
    let mut t = Track::new(Format::default(), config).unwrap();
    let h = t.handle();
    let (sink, log) = Recorder::new(SinkInfo::new("rec"));
    h.attach_sink(Box::new(sink)).unwrap();
    let speech = ramp(480 * 6);
    let mut r = h.open_reply().unwrap();
    r.push_samples(&speech).await.unwrap();
    render(&mut t, 2);
    h.pause();
    render(&mut t, 2);
    h.resume();
    render(&mut t, 1);
    h.interrupt();
    render(&mut t, 2);
    wait_for(&log, "interrupt", |l| l.contains(&Seen::Interrupted(1)));
    let seen = log.seen().clone();
    assert_eq!(seen[0], Seen::Start(24_000, 1));
    assert_eq!(seen[1], Seen::ReplyStarted(1));
    assert!(seen.contains(&Seen::Paused) && seen.contains(&Seen::Resumed));
    assert_eq!(
        log.audio(Some(1)),
        speech[..480 * 3],
        "frames played before the interrupt"
    );
    let pts: Vec<Option<u64>> = seen
        .iter()
        .filter_map(|s| match s {
            Seen::Audio { pts, .. } => Some(*pts),
            _ => None,
        })
        .collect();
    assert_eq!(
        pts,
        vec![Some(0), Some(480), Some(480 * 4)],
        "aligned to play-out"
    );
}

#[tokio::test]
async fn a_slow_sink_drops_audio_and_never_delays_frames() {
    let mut t = Track::new(Format::default(), TrackConfig::default()).unwrap();
    let h = t.handle();
    let mut info = SinkInfo::new("slow");
    info.queue = Duration::from_millis(60);
    let (sink, _log) = Recorder::new(info);
    let sink = sink.delay(Duration::from_millis(200));
    h.attach_sink(Box::new(sink)).unwrap();
    let mut r = h.open_reply().unwrap();
    r.push_samples(&ramp(480 * 50)).await.unwrap();
    // 50 frames render without waiting on the sink (it would need 10 s to take them).
    let frames = render(&mut t, 50);
    assert!(frames.iter().all(|(i, _)| i.speech));
    assert!(h.stats().sink_drops > 0, "the full queue drops and counts");
}

#[tokio::test]
async fn a_panicking_sink_is_detached_with_an_event_and_others_keep_going() {
    let mut t = Track::new(Format::default(), TrackConfig::default()).unwrap();
    let h = t.handle();
    let mut events = h.events();
    let (bad, _) = Recorder::new(SinkInfo::new("bad"));
    let bad = bad.panic_on_audio();
    let (good, good_log) = Recorder::new(SinkInfo::new("good"));
    let bad_id = h.attach_sink(Box::new(bad)).unwrap();
    h.attach_sink(Box::new(good)).unwrap();
    let mut r = h.open_reply().unwrap();
    r.push_samples(&ramp(480 * 200)).await.unwrap();
    let start = Instant::now();
    let mut detached = None;
    while detached.is_none() && start.elapsed() < Duration::from_secs(20) {
        render(&mut t, 1);
        std::thread::sleep(Duration::from_millis(1));
        detached = drain(&mut events).into_iter().find_map(|e| match e {
            Event::SinkDetached { sink, name, reason } => Some((sink, name, reason)),
            _ => None,
        });
    }
    let (sink, name, reason) = detached.expect("detached event");
    assert_eq!((sink, name.as_str()), (bad_id, "bad"));
    assert!(reason.contains("renderer crashed"), "{reason}");
    render(&mut t, 3);
    wait_for(&good_log, "good sink audio", |l| {
        !audio(l, Some(1)).is_empty()
    });
}

#[tokio::test]
async fn an_owning_sink_silences_the_output_and_its_report_ends_the_reply() {
    let mut t = Track::new(Format::default(), TrackConfig::default()).unwrap();
    let h = t.handle();
    let mut info = SinkInfo::new("avatar");
    info.owns_playback = true;
    let (sink, log) = Recorder::new(info);
    let sink = sink.report_playback();
    h.attach_sink(Box::new(sink)).unwrap();
    let mut r = h.open_reply().unwrap();
    r.push_samples(&ramp(480 * 3)).await.unwrap();
    let playback = r.finish().unwrap();
    let frames = render(&mut t, 3);
    assert!(frames
        .iter()
        .all(|(i, s)| i.speech && s.iter().all(|x| *x == 0)));
    wait_for(&log, "reply end", |l| {
        l.contains(&Seen::ReplyEnded(1, false))
    });
    let start = Instant::now();
    while playback.outcome().is_none() && start.elapsed() < Duration::from_secs(20) {
        render(&mut t, 1);
        std::thread::sleep(Duration::from_millis(1));
    }
    let outcome = playback.outcome().expect("reported");
    assert_eq!(outcome.position, Position::Reported);
    assert_eq!(outcome.played_samples, 123);
}

#[tokio::test]
async fn an_owning_sink_that_never_reports_times_out_with_an_estimate() {
    let mut t = Track::new(
        Format::default(),
        TrackConfig {
            report_timeout: Duration::from_millis(200),
            ..TrackConfig::default()
        },
    )
    .unwrap();
    let h = t.handle();
    let mut info = SinkInfo::new("mute-avatar");
    info.owns_playback = true;
    let (sink, _log) = Recorder::new(info);
    h.attach_sink(Box::new(sink)).unwrap();
    let mut r = h.open_reply().unwrap();
    r.push_samples(&ramp(480 * 20)).await.unwrap();
    let playback = r.playback();
    render(&mut t, 2);
    h.interrupt();
    render(&mut t, 10);
    assert!(
        playback.outcome().is_none(),
        "waiting for the avatar's answer"
    );
    render(&mut t, 1); // 200 ms = 10 frames after the interrupt frame
    let outcome = playback.outcome().expect("timed out");
    assert!(outcome.interrupted);
    assert_eq!(outcome.position, Position::Estimated);
    assert_eq!(outcome.played_samples, 480 * 2 + 240);
}

#[tokio::test]
async fn ahead_delivery_leads_playout_by_at_most_the_cap_and_interrupt_drops_the_rest() {
    let mut t = Track::new(Format::default(), TrackConfig::default()).unwrap();
    let h = t.handle();
    let mut info = SinkInfo::new("lipsync");
    info.delivery = Delivery::Ahead {
        max_lead: Duration::from_millis(200),
    };
    info.queue = Duration::from_secs(5);
    let (sink, log) = Recorder::new(info);
    h.attach_sink(Box::new(sink)).unwrap();
    render(&mut t, 1);
    let mut r = h.open_reply().unwrap();
    for chunk in ramp(480 * 100).chunks(960) {
        r.push_samples(chunk).await.unwrap();
    }
    std::thread::sleep(Duration::from_millis(50));
    assert!(
        log.audio(Some(1)).is_empty(),
        "nothing before the reply starts playing"
    );
    // The first frame plays: it and what plays within 200 ms of its start (4800 samples)
    // arrive, no more.
    render(&mut t, 1);
    assert!(h.wait_for_sinks(Duration::from_secs(20)));
    assert_eq!(log.audio(Some(1)).len(), 4800);
    render(&mut t, 10); // play 200 ms: the lead window moves on
    wait_for(&log, "more lookahead", |l| audio(l, Some(1)).len() >= 9600);
    h.interrupt();
    render(&mut t, 1);
    wait_for(&log, "interrupt", |l| l.contains(&Seen::Interrupted(1)));
    std::thread::sleep(Duration::from_millis(50));
    let seen = log.seen().clone();
    let at = seen
        .iter()
        .position(|s| *s == Seen::Interrupted(1))
        .unwrap();
    assert!(
        seen[at..].iter().all(|s| !matches!(s, Seen::Audio { .. })),
        "no audio after the interrupt"
    );
    assert!(log.audio(Some(1)).len() < 480 * 100);
    assert_eq!(
        log.audio(Some(1))[..],
        ramp(480 * 100)[..log.audio(Some(1)).len()]
    );
}

#[tokio::test]
async fn sinks_attach_and_detach_while_playing() {
    let mut t = Track::new(Format::default(), TrackConfig::default()).unwrap();
    let h = t.handle();
    let mut r = h.open_reply().unwrap();
    r.push_samples(&ramp(480 * 20)).await.unwrap();
    render(&mut t, 3);
    let (sink, log) = Recorder::new(SinkInfo::new("late"));
    let id = h.attach_sink(Box::new(sink)).unwrap();
    render(&mut t, 2);
    h.detach_sink(id).unwrap();
    render(&mut t, 2);
    wait_for(&log, "stop", |l| l.last() == Some(&Seen::Stop));
    assert_eq!(log.audio(Some(1)), ramp(480 * 20)[480 * 3..480 * 5]);
}

#[tokio::test]
async fn an_ahead_owning_sink_gets_reply_ended_when_the_last_sample_plays() {
    let mut t = Track::new(Format::default(), TrackConfig::default()).unwrap();
    let h = t.handle();
    let mut info = SinkInfo::new("fast-avatar");
    info.owns_playback = true;
    info.delivery = Delivery::Ahead {
        max_lead: Duration::from_secs(2),
    };
    let (sink, log) = Recorder::new(info);
    let sink = sink.report_playback(); // reports as soon as it sees the reply end
    h.attach_sink(Box::new(sink)).unwrap();
    render(&mut t, 1);
    let mut r = h.open_reply().unwrap();
    r.push_samples(&ramp(480 * 10)).await.unwrap();
    let playback = r.finish().unwrap();
    // Frame 1 plays: the whole reply is within the lead and arrives at once.
    render(&mut t, 1);
    assert!(h.wait_for_sinks(Duration::from_secs(20)));
    assert_eq!(log.audio(Some(1)).len(), 480 * 10);
    // But the reply ends only with the frame that plays its last sample (frame 10).
    for _ in 0..8 {
        render(&mut t, 1);
        assert!(h.wait_for_sinks(Duration::from_secs(20)));
    }
    assert!(!log.seen().contains(&Seen::ReplyEnded(1, false)));
    render(&mut t, 1);
    assert!(h.wait_for_sinks(Duration::from_secs(20)));
    assert!(log.seen().contains(&Seen::ReplyEnded(1, false)));
    render(&mut t, 1); // the report is taken on the next frame
    let outcome = playback.outcome().expect("ended with the report");
    assert_eq!(outcome.position, Position::Reported);
    assert_eq!(outcome.played_samples, 123);
}

#[tokio::test]
async fn a_sink_the_track_never_took_is_stopped_when_the_track_goes() {
    // The attach command is still in the mailbox (no frame rendered) when the track goes:
    // it is discarded and its worker told to stop, not left holding the track's allocation
    // (which views of the track keep alive) with a worker waiting forever.
    let t = Track::new(Format::default(), TrackConfig::default()).unwrap();
    let h = t.handle();
    let (sink, log) = Recorder::new(SinkInfo::new("rec"));
    h.attach_sink(Box::new(sink)).unwrap();
    let mut r = h.open_reply().unwrap();
    r.push_samples(&ramp(480 * 5)).await.unwrap();
    let playback = r.playback();
    drop(t);
    assert!(
        h.wait_for_sinks(Duration::from_secs(20)),
        "{:?}",
        log.seen()
    );
    assert!(log.stopped(), "{:?}", log.seen());
    assert_eq!(log.seen().first(), Some(&Seen::Start(24_000, 1)));
    assert_eq!(
        playback.await,
        None,
        "the track went before the reply played"
    );
    let (late, _) = Recorder::new(SinkInfo::new("late"));
    assert_eq!(
        h.attach_sink(Box::new(late)).unwrap_err(),
        voxpace_core::Error::TrackClosed
    );
    assert!(
        r.push_samples(&ramp(480)).await.is_err(),
        "pushes fail once it is gone"
    );
}
