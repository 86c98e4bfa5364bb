//! When sinks get what they get, on the virtual clock: every event's "now" is one snapshot
//! (its parts agree with the audio the frame side played), the same on every run; an ahead
//! sink gets the first frame of each reply no later than it is due and nothing more than
//! `max_lead` ahead of what plays.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use voxpace_core::{
    Clock, Delivery, Format, Pacer, Playout, Sink, SinkContext, SinkError, SinkEvent, SinkInfo,
    Track, TrackConfig, VirtualClock,
};

/// What a sink saw: the event, when it plays out, and what played when it was handed over.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    what: String,
    samples: usize,
    playout: Option<Playout>,
    now: Playout,
}

struct Timing {
    info: SinkInfo,
    log: Arc<Mutex<Vec<Seen>>>,
}

impl Sink for Timing {
    fn info(&self) -> SinkInfo {
        self.info.clone()
    }

    fn handle(&mut self, event: SinkEvent<'_>, cx: &SinkContext) -> Result<(), SinkError> {
        let (what, samples) = match event {
            SinkEvent::Start { .. } => ("start".to_string(), 0),
            SinkEvent::ReplyStarted { reply } => (format!("started {}", reply.0), 0),
            SinkEvent::Audio { reply, samples, .. } => {
                (format!("audio {}", reply.0), samples.len())
            }
            SinkEvent::ReplyEnded { reply, .. } => (format!("ended {}", reply.0), 0),
            other => (format!("{other:?}"), 0),
        };
        self.log.lock().unwrap().push(Seen {
            what,
            samples,
            playout: cx.playout(),
            now: cx.now(),
        });
        Ok(())
    }
}

const LEAD_MS: u64 = 300;

/// Three replies (the second right after the first, the third after a pause of silence)
/// played on the virtual clock through a pacer, with an ahead and a paced sink.
async fn run() -> (Vec<Seen>, Vec<Seen>) {
    let format = Format::default();
    let clock = VirtualClock::auto_advance();
    let track = Track::new(format, TrackConfig::default()).unwrap();
    let h = track.handle();
    let mut ahead = SinkInfo::new("ahead");
    ahead.delivery = Delivery::Ahead {
        max_lead: Duration::from_millis(LEAD_MS),
    };
    let logs = (Arc::default(), Arc::default());
    h.attach_sink(Box::new(Timing {
        info: ahead,
        log: Arc::clone(&logs.0),
    }))
    .unwrap();
    h.attach_sink(Box::new(Timing {
        info: SinkInfo::new("paced"),
        log: Arc::clone(&logs.1),
    }))
    .unwrap();
    let mut pacer = Pacer::new(track, clock.clone());
    // Some frames pass before anything is said.
    for _ in 0..7 {
        pacer.next_frame().await;
        assert!(h.wait_for_sinks(Duration::from_secs(20)));
    }
    let speech: Vec<i16> = (0..24_000).map(|i| (i % 1000) as i16 + 1).collect();
    // Replies 1 and 2 queued at once (2 follows 1 without a gap); 3 after 40 silent frames.
    for replies in [&[1u64, 2][..], &[3]] {
        for &reply in replies {
            let mut w = h.open_reply().unwrap();
            // Ragged chunks, as TTS sends them.
            for chunk in speech[..12_000 + 997 * reply as usize].chunks(333) {
                w.try_push_samples(chunk).unwrap();
            }
            w.finish().unwrap();
        }
        let done = *replies.last().unwrap();
        while h.stats().replies_completed < done {
            pacer.next_frame().await;
            assert!(h.wait_for_sinks(Duration::from_secs(20)));
        }
        for _ in 0..40 {
            pacer.next_frame().await;
            assert!(h.wait_for_sinks(Duration::from_secs(20)));
        }
    }
    let _ = clock.now();
    let logs = (
        logs.0.lock().unwrap().clone(),
        logs.1.lock().unwrap().clone(),
    );
    logs
}

#[tokio::test]
async fn ahead_audio_is_never_late_and_never_beyond_the_lead() {
    let (ahead, paced) = run().await;
    let lead = Duration::from_millis(LEAD_MS);
    let mut firsts = 0;
    let mut reached = Duration::ZERO;
    for (i, s) in ahead.iter().enumerate() {
        if !s.what.starts_with("audio") {
            continue;
        }
        let p = s.playout.expect("audio has a play-out time");
        let first = ahead[..i]
            .last()
            .is_some_and(|e| e.what.starts_with("started"));
        // How far ahead of what plays it was handed over: its first sample, and its last.
        let early = p.due.checked_sub(s.now.due);
        let last = p.due + Format::default().duration_of((s.samples - 1) as u64);
        reached = reached.max(last.saturating_sub(s.now.due));
        if first {
            firsts += 1;
            eprintln!(
                "first audio of {}: due {:?}, now {:?}",
                s.what, p.due, s.now.due
            );
            assert!(
                early.is_some(),
                "{}: handed over after it was due: {s:?}",
                s.what
            );
        }
        assert!(
            last < s.now.due + lead,
            "{}: its last sample plays {:?} after now, beyond the lead: {s:?}",
            s.what,
            last - s.now.due
        );
    }
    eprintln!("the furthest sample ahead: {reached:?}");
    assert_eq!(firsts, 3, "{ahead:#?}");
    assert!(
        reached > lead - Duration::from_millis(40),
        "the lead is used: {reached:?}"
    );
    // Paced audio is handed over as it plays.
    for s in paced.iter().filter(|s| s.what.starts_with("audio")) {
        assert_eq!(s.playout.unwrap().pts, s.now.pts, "{s:?}");
    }
}

#[tokio::test]
async fn now_is_one_snapshot_and_the_same_every_run() {
    let (ahead, paced) = run().await;
    // Paced audio plays now: its play-out and "now" agree in every part.
    for s in paced.iter().filter(|s| s.what.starts_with("audio")) {
        let (p, now) = (s.playout.unwrap(), s.now);
        let reply: u64 = s.what[6..].parse().unwrap();
        assert_eq!(now.reply.map(|r| r.0), Some(reply), "{s:?}");
        assert_eq!((now.pts, now.offset), (p.pts, p.offset), "{s:?}");
    }
    // Start is handed over with the frame that took the sinks, not whenever the worker ran.
    assert_eq!(paced[0].what, "start");
    assert_eq!(paced[0].now.pts, 0);
    assert_eq!(ahead[0].now.pts, 0);
    for _ in 0..3 {
        let again = run().await;
        assert!(again.0 == ahead, "the ahead sink saw another timing");
        assert!(again.1 == paced, "the paced sink saw another timing");
    }
}
