//! The sink fan-out: bounded queues, worker threads, delivery modes, isolation.
//! Sinks run on real threads, so these tests wait for content with generous bounds and
//! never assert on speed.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{drain, ramp, render};
use voxpace_core::{
    Delivery, Event, Format, PlaybackReport, Position, ReplyId, Sink, SinkContext, SinkError,
    SinkEvent, SinkInfo, Track, TrackConfig,
};

/// What a recording sink saw, in a form tests can compare.
#[derive(Debug, Clone, PartialEq)]
enum Seen {
    Start,
    ReplyStarted(u64),
    Audio {
        reply: u64,
        offset: u64,
        pts: Option<u64>,
        samples: Vec<i16>,
    },
    ReplyEnded(u64, bool),
    Interrupted(u64),
    Paused,
    Resumed,
    Stop,
}

type Log = Arc<Mutex<Vec<Seen>>>;

struct Recorder {
    info: SinkInfo,
    log: Log,
    delay: Duration,
    /// Report playback for every ended reply (an owning avatar).
    report: bool,
    panic_on_audio: bool,
}

impl Recorder {
    fn new(info: SinkInfo) -> (Self, Log) {
        let log = Log::default();
        (
            Self {
                info,
                log: log.clone(),
                delay: Duration::ZERO,
                report: false,
                panic_on_audio: false,
            },
            log,
        )
    }
}

impl Sink for Recorder {
    fn info(&self) -> SinkInfo {
        self.info.clone()
    }

    fn handle(&mut self, event: SinkEvent<'_>, cx: &SinkContext) -> Result<(), SinkError> {
        std::thread::sleep(self.delay);
        let seen = match event {
            SinkEvent::Start { .. } => Seen::Start,
            SinkEvent::ReplyStarted { reply } => Seen::ReplyStarted(reply.0),
            SinkEvent::Audio {
                reply,
                offset,
                pts,
                samples,
            } => {
                if self.panic_on_audio {
                    panic!("renderer crashed");
                }
                Seen::Audio {
                    reply: reply.0,
                    offset,
                    pts,
                    samples: samples.to_vec(),
                }
            }
            SinkEvent::ReplyEnded { reply, interrupted } => {
                if self.report {
                    cx.report_playback(PlaybackReport {
                        reply,
                        played_samples: 123,
                        interrupted,
                    });
                }
                Seen::ReplyEnded(reply.0, interrupted)
            }
            SinkEvent::Interrupted { reply } => Seen::Interrupted(reply.0),
            SinkEvent::Paused => Seen::Paused,
            SinkEvent::Resumed => Seen::Resumed,
            SinkEvent::Stop => Seen::Stop,
            _ => return Ok(()),
        };
        self.log.lock().unwrap().push(seen);
        Ok(())
    }
}

/// Wait (generously) until `pred` holds for the log.
fn wait_for(log: &Log, what: &str, pred: impl Fn(&[Seen]) -> bool) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(20) {
        if pred(&log.lock().unwrap()) {
            return;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    panic!("timed out waiting for {what}: {:?}", log.lock().unwrap());
}

fn audio_of(log: &[Seen], reply: u64) -> Vec<i16> {
    log.iter()
        .filter_map(|s| match s {
            Seen::Audio {
                reply: r, samples, ..
            } if *r == reply => Some(samples.clone()),
            _ => None,
        })
        .flatten()
        .collect()
}

#[tokio::test]
async fn paced_sink_gets_every_frame_with_pts_and_every_control_event() {
    // Seed defect 5: sinks were never told about interrupt, pause or resume.
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
    let log = log.lock().unwrap().clone();
    assert_eq!(log[0], Seen::Start);
    assert_eq!(log[1], Seen::ReplyStarted(1));
    assert!(log.contains(&Seen::Paused) && log.contains(&Seen::Resumed));
    assert_eq!(
        audio_of(&log, 1),
        speech[..480 * 3],
        "frames played before the interrupt"
    );
    let pts: Vec<Option<u64>> = log
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
    let (mut sink, _log) = Recorder::new(info);
    sink.delay = Duration::from_millis(200);
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
    let (mut bad, _) = Recorder::new(SinkInfo::new("bad"));
    bad.panic_on_audio = true;
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
    wait_for(&good_log, "good sink audio", |l| !audio_of(l, 1).is_empty());
}

#[tokio::test]
async fn an_owning_sink_silences_the_output_and_its_report_ends_the_reply() {
    let mut t = Track::new(Format::default(), TrackConfig::default()).unwrap();
    let h = t.handle();
    let mut info = SinkInfo::new("avatar");
    info.owns_playback = true;
    let (mut sink, log) = Recorder::new(info);
    sink.report = true;
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
        audio_of(&log.lock().unwrap(), 1).is_empty(),
        "nothing before the reply starts playing"
    );
    // The first frame plays: it and the next 200 ms (4800 samples) arrive, no more.
    render(&mut t, 1);
    assert!(h.wait_for_sinks(Duration::from_secs(20)));
    assert_eq!(audio_of(&log.lock().unwrap(), 1).len(), 480 + 4800);
    render(&mut t, 10); // play 200 ms: the lead window moves on
    wait_for(&log, "more lookahead", |l| audio_of(l, 1).len() >= 9600);
    h.interrupt();
    render(&mut t, 1);
    wait_for(&log, "interrupt", |l| l.contains(&Seen::Interrupted(1)));
    std::thread::sleep(Duration::from_millis(50));
    let log = log.lock().unwrap().clone();
    let at = log.iter().position(|s| *s == Seen::Interrupted(1)).unwrap();
    assert!(
        log[at..].iter().all(|s| !matches!(s, Seen::Audio { .. })),
        "no audio after the interrupt"
    );
    assert!(audio_of(&log, 1).len() < 480 * 100);
    assert_eq!(
        audio_of(&log, 1)[..],
        ramp(480 * 100)[..audio_of(&log, 1).len()]
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
    assert_eq!(
        audio_of(&log.lock().unwrap(), 1),
        ramp(480 * 20)[480 * 3..480 * 5]
    );
    let _ = ReplyId(1);
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
    let (mut sink, log) = Recorder::new(info);
    sink.report = true; // reports as soon as it sees the reply end
    h.attach_sink(Box::new(sink)).unwrap();
    render(&mut t, 1);
    let mut r = h.open_reply().unwrap();
    r.push_samples(&ramp(480 * 10)).await.unwrap();
    let playback = r.finish().unwrap();
    // Frame 1 plays: the whole reply is within the lead and arrives at once.
    render(&mut t, 1);
    assert!(h.wait_for_sinks(Duration::from_secs(20)));
    assert_eq!(audio_of(&log.lock().unwrap(), 1).len(), 480 * 10);
    // But the reply ends only with the frame that plays its last sample (frame 10).
    for _ in 0..8 {
        render(&mut t, 1);
        assert!(h.wait_for_sinks(Duration::from_secs(20)));
    }
    assert!(!log.lock().unwrap().contains(&Seen::ReplyEnded(1, false)));
    render(&mut t, 1);
    assert!(h.wait_for_sinks(Duration::from_secs(20)));
    assert!(log.lock().unwrap().contains(&Seen::ReplyEnded(1, false)));
    render(&mut t, 1); // the report is taken on the next frame
    let outcome = playback.outcome().expect("ended with the report");
    assert_eq!(outcome.position, Position::Reported);
    assert_eq!(outcome.played_samples, 123);
}
