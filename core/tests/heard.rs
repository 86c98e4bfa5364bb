//! Heard text: text marks travel with the audio, `TextPlayed` comes on the frame that plays
//! a mark's first sample, and a reply's heard text is exactly the marks played, whatever
//! the pushes, pauses, interrupts and the start threshold do.

mod common;

use std::time::Duration;

use common::{
    apply_control, drain, hard_cut, op, play, ramp, render, track_with_events, Applied, Numbers,
    Op, Weights, PLAY_OUT_FRAMES,
};
use proptest::prelude::*;
use voxpace_core::{
    Error, Event, Format, ReplyId, ReplyOutcome, ReplyWriter, TextTiming, Track, TrackConfig,
};

/// Marks, pushes and finishes often: every mark lands somewhere on the timeline.
const WEIGHTS: Weights = Weights {
    push: 5,
    push_bytes: 0,
    mark: 5,
    finish: 1,
};

/// One reply as the test drove it.
#[derive(Default)]
struct Reply {
    samples: Vec<i16>,
    marks: Vec<(u64, String)>,
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn the_heard_text_is_exactly_the_marks_whose_offsets_played(
        ops in proptest::collection::vec(op(WEIGHTS), 1..70),
        threshold_ms in prop_oneof![Just(0u64), Just(60)],
    ) {
        // A hard cut: every played sample keeps its value, so a mark's pts can be checked
        // against the output sample it names.
        let (mut track, h, mut events) = track_with_events(TrackConfig {
            start_threshold: Duration::from_millis(threshold_ms),
            ..hard_cut()
        });
        let mut replies: Vec<Reply> = Vec::new();
        let mut writer: Option<ReplyWriter> = None;
        let mut numbers = Numbers::default();
        let mut output: Vec<i16> = Vec::new();
        for op in ops {
            match apply_control(&op, &h, &mut writer) {
                Applied::Control => continue,
                Applied::Data => {}
                Applied::Opened => {
                    replies.push(Reply::default());
                    continue;
                }
            }
            match op {
                Op::Push(n) => {
                    let Some(w) = writer.as_mut() else { continue };
                    let samples = numbers.take(n);
                    let r = replies.last_mut().unwrap();
                    match w.try_push_samples(&samples) {
                        Ok(taken) => {
                            prop_assert_eq!(taken, samples.len(), "the buffer had room");
                            r.samples.extend(samples);
                        }
                        Err(Error::ReplyInterrupted(_)) | Err(Error::ReplyFinished(_)) => {}
                        Err(e) => prop_assert!(false, "unexpected {e}"),
                    }
                }
                Op::Mark(ahead) => {
                    let Some(w) = writer.as_mut() else { continue };
                    let r = replies.last_mut().unwrap();
                    let last = r.marks.last().map_or(0, |m| m.0);
                    let offset = last.max(r.samples.len() as u64) + ahead;
                    let text = format!(" w{}", r.marks.len());
                    match w.mark(offset, &text) {
                        Ok(()) => r.marks.push((offset, text)),
                        Err(Error::ReplyInterrupted(_)) | Err(Error::ReplyFinished(_)) => {}
                        Err(e) => prop_assert!(false, "unexpected {e}"),
                    }
                }
                Op::Take(n) => play(&mut track, n, &mut output, |_| {}),
                _ => {} // not drawn with these weights
            }
        }
        drop(writer);
        h.resume();
        play(&mut track, PLAY_OUT_FRAMES, &mut output, |_| {});

        let mut played: Vec<Vec<(u64, String)>> = vec![Vec::new(); replies.len()];
        let mut outcomes: Vec<Option<ReplyOutcome>> = vec![None; replies.len()];
        for e in drain(&mut events) {
            match e {
                Event::TextPlayed { reply, text, offset, pts } => {
                    let i = reply.0 as usize - 1;
                    prop_assert!(outcomes[i].is_none(), "text after the reply ended");
                    // On the frame that plays the mark's first sample, at that sample.
                    prop_assert_eq!(output[pts as usize], replies[i].samples[offset as usize]);
                    played[i].push((offset, text));
                }
                Event::PlaybackFinished(o) => {
                    let i = o.reply.0 as usize - 1;
                    outcomes[i] = Some(o);
                }
                _ => {}
            }
        }
        for (i, r) in replies.iter().enumerate() {
            let o = outcomes[i].as_ref().unwrap_or_else(|| panic!("reply {} never finished", i + 1));
            let expected: Vec<(u64, String)> = r
                .marks
                .iter()
                .filter(|(offset, _)| *offset < o.played_samples)
                .cloned()
                .collect();
            prop_assert_eq!(&played[i], &expected, "reply {} played {} samples", i + 1, o.played_samples);
            match &o.heard {
                None => prop_assert!(r.marks.is_empty()),
                Some(heard) => {
                    let text: String = expected.iter().map(|(_, t)| t.as_str()).collect();
                    prop_assert_eq!(&heard.text, &text);
                    prop_assert_eq!(heard.marks as usize, expected.len());
                    prop_assert_eq!(heard.timing, TextTiming::Marks);
                }
            }
        }
    }
}

/// A reply of 24 000 samples (1 s at 24 kHz) with a word every 100 ms.
fn worded_reply(h: &voxpace_core::TrackHandle) -> (ReplyWriter, Vec<&'static str>) {
    let words = vec![
        "One", " two", " three", " four", " five", " six", " seven", " eight", " nine", " ten",
    ];
    let mut w = h.open_reply().unwrap();
    for (i, word) in words.iter().enumerate() {
        w.mark(i as u64 * 2_400, word).unwrap();
    }
    (w, words)
}

/// [`worded_reply`] with its whole second of audio pushed.
async fn spoken_reply(h: &voxpace_core::TrackHandle) -> (ReplyWriter, Vec<&'static str>) {
    let (mut w, words) = worded_reply(h);
    w.push_samples(&ramp(24_000)).await.unwrap();
    (w, words)
}

fn finished(events: &[Event]) -> ReplyOutcome {
    events
        .iter()
        .find_map(|e| match e {
            Event::PlaybackFinished(o) => Some(o.clone()),
            _ => None,
        })
        .expect("the reply ended")
}

fn texts(events: &[Event]) -> Vec<(String, u64)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::TextPlayed { text, pts, .. } => Some((text.clone(), *pts)),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_completed_reply_hears_every_mark_each_at_its_own_sample() {
    let (mut track, h, mut events) = track_with_events(TrackConfig::default());
    let (w, words) = spoken_reply(&h).await;
    let playback = w.finish().unwrap();
    render(&mut track, 60);
    let evs = drain(&mut events);
    let texts = texts(&evs);
    let expected: Vec<(String, u64)> = words
        .iter()
        .enumerate()
        .map(|(i, w)| (w.to_string(), i as u64 * 2_400))
        .collect();
    assert_eq!(texts, expected);
    let o = finished(&evs);
    let heard = o.heard.as_ref().unwrap();
    assert_eq!(
        heard.text,
        "One two three four five six seven eight nine ten"
    );
    assert_eq!((heard.marks, heard.timing), (10, TextTiming::Marks));
    assert_eq!(
        playback.outcome().unwrap().heard,
        o.heard,
        "the future agrees"
    );
}

#[tokio::test]
async fn an_interrupt_at_a_mark_boundary_leaves_that_mark_unheard() {
    // No fade: the interrupt cuts exactly at the end of a frame. Words start every 100 ms;
    // frames are 20 ms, so after 15 frames 300 ms have played: "four" (at 300 ms) not.
    let (mut track, h, mut events) = track_with_events(hard_cut());
    let (_w, _) = spoken_reply(&h).await;
    render(&mut track, 15);
    h.interrupt();
    render(&mut track, 2);
    let evs = drain(&mut events);
    let o = finished(&evs);
    assert_eq!((o.played_samples, o.interrupted), (7_200, true));
    assert_eq!(o.heard.as_ref().unwrap().text, "One two three");
    assert_eq!(texts(&evs).len(), 3);
}

#[tokio::test]
async fn a_mark_starting_inside_the_interrupt_fade_was_heard() {
    // 10 ms fade = 240 samples. After 14 frames (280 ms) the fade plays 280..290 ms: a mark
    // at 285 ms starts inside it, one at 300 ms does not.
    let (mut track, h, mut events) = track_with_events(TrackConfig::default());
    let mut w = h.open_reply().unwrap();
    w.mark_at(Duration::ZERO, "Hel").unwrap();
    w.mark_at(Duration::from_millis(285), "lo").unwrap();
    w.mark_at(Duration::from_millis(300), " world").unwrap();
    w.push_samples(&ramp(24_000)).await.unwrap();
    render(&mut track, 14);
    h.interrupt();
    render(&mut track, 2);
    let evs = drain(&mut events);
    let o = finished(&evs);
    assert_eq!(
        o.played_samples,
        14 * 480 + 240,
        "the fade counts as played"
    );
    assert_eq!(o.heard.as_ref().unwrap().text, "Hello");
    // The fade's mark is reported on the interrupt frame, at its own sample.
    assert_eq!(
        texts(&evs),
        vec![("Hel".to_string(), 0), ("lo".to_string(), 285 * 24)]
    );
}

#[tokio::test]
async fn an_interrupt_inside_a_word_hears_the_word_it_had_started() {
    // Interrupted 50 ms into "two" (100..200 ms): "two" was heard (its first sample
    // played), "three" was not.
    let (mut track, h, mut events) = track_with_events(hard_cut());
    let (_w, _) = spoken_reply(&h).await;
    render(&mut track, 8);
    h.interrupt();
    render(&mut track, 1);
    let o = finished(&drain(&mut events));
    assert_eq!(o.played_samples, 3_840);
    assert_eq!(o.heard.unwrap().text, "One two");
}

#[tokio::test]
async fn pause_holds_marks_with_their_audio() {
    let (mut track, h, mut events) = track_with_events(TrackConfig::default());
    let (w, _) = spoken_reply(&h).await;
    w.finish().unwrap();
    render(&mut track, 5); // 100 ms: "One" played
    h.pause();
    render(&mut track, 50); // a second of silence: no marks
    let during = drain(&mut events);
    assert_eq!(texts(&during).len(), 1, "{during:?}");
    h.resume();
    render(&mut track, 50);
    let after = texts(&drain(&mut events));
    assert_eq!(after.len(), 9);
    // " two" at 100 ms into the reply plays after the 1 s pause: its pts moved with the
    // audio.
    assert_eq!(after[0], (" two".to_string(), 2_400 + 50 * 480));
}

#[tokio::test]
async fn the_start_threshold_holds_marks_until_the_reply_starts() {
    let (mut track, h, mut events) = track_with_events(TrackConfig {
        start_threshold: Duration::from_millis(200),
        ..TrackConfig::default()
    });
    let (mut w, _) = worded_reply(&h);
    w.push_samples(&ramp(2_400)).await.unwrap(); // 100 ms: below the threshold
    render(&mut track, 10);
    assert!(texts(&drain(&mut events)).is_empty(), "nothing plays yet");
    w.push_samples(&ramp(21_600)).await.unwrap();
    render(&mut track, 1);
    assert_eq!(
        texts(&drain(&mut events)),
        vec![("One".to_string(), 10 * 480)]
    );
}

#[tokio::test]
async fn marks_must_come_before_their_audio_and_in_order() {
    let track = Track::new(Format::default(), TrackConfig::default()).unwrap();
    let h = track.handle();
    let mut w = h.open_reply().unwrap();
    w.mark(100, "a").unwrap();
    assert!(matches!(
        w.mark(50, "b"),
        Err(Error::MarkOutOfOrder {
            offset: 50,
            previous: 100,
            ..
        })
    ));
    w.push_samples(&ramp(480)).await.unwrap();
    let e = w.mark(479, "c").unwrap_err();
    assert!(matches!(
        e,
        Error::MarkBehindAudio {
            reply: ReplyId(1),
            offset: 479,
            accepted: 480
        }
    ));
    assert_eq!(e.kind(), voxpace_core::ErrorKind::InvalidInput);
    w.mark(480, "d").unwrap();
}

#[tokio::test]
async fn a_reply_with_only_its_whole_text_gets_an_estimate() {
    let (mut track, h, mut events) = track_with_events(hard_cut());
    let mut w = h.open_reply().unwrap();
    w.set_text("Sure. Here is the weather for tomorrow.")
        .unwrap();
    w.push_samples(&ramp(24_000)).await.unwrap();
    render(&mut track, 25); // half of it
    h.interrupt();
    render(&mut track, 1);
    let o = finished(&drain(&mut events));
    let heard = o.heard.unwrap();
    assert_eq!(heard.timing, TextTiming::Estimated);
    // 39 characters, half played: the words starting before character 19.5 ("weather"
    // starts at 18, "for" at 26).
    assert_eq!(heard.text, "Sure. Here is the weather");
    assert_eq!(heard.marks, 0);
}

#[tokio::test]
async fn more_marks_than_the_ring_holds_play_in_order_without_waiting_forever() {
    // 500 marks, one every 48 samples, pushed as one chunk: the push is split into pieces
    // of 16 marks, and the producer waits for room in the mark ring as frames play.
    let (mut track, h, mut events) = track_with_events(TrackConfig::default());
    let mut w = h.open_reply().unwrap();
    let mut expected = String::new();
    for i in 0..500u64 {
        let t = format!("{} ", i);
        w.mark(i * 48, &t).unwrap();
        expected.push_str(&t);
    }
    let playback = w.playback();
    let producer = tokio::spawn(async move {
        w.push_samples(&ramp(24_000)).await.unwrap();
        w.finish().map(|_| ()).unwrap();
    });
    let mut frames = 0;
    let mut played = String::new();
    tokio::task::yield_now().await; // the producer pushes what fits before the first frame
    while !producer.is_finished() || frames < 60 {
        render(&mut track, 1);
        played.extend(texts(&drain(&mut events)).into_iter().map(|(t, _)| t));
        frames += 1;
        tokio::task::yield_now().await;
        assert!(frames < 1_000, "the producer never finished");
    }
    producer.await.unwrap();
    let o = playback.outcome().unwrap();
    assert_eq!((o.played_samples, o.interrupted), (24_000, false));
    assert_eq!(h.stats().underruns, 0, "the marks never held the audio up");
    assert_eq!(o.heard.unwrap().text, expected.as_str());
    assert_eq!(played, expected);
}

/// What a sink saw of the text and audio, in order: `(is_text, reply, offset, pts, text)`.
type SinkLog = std::sync::Arc<std::sync::Mutex<Vec<(bool, u64, u64, Option<u64>, String)>>>;

struct TextSink {
    info: voxpace_core::SinkInfo,
    log: SinkLog,
}

impl voxpace_core::Sink for TextSink {
    fn info(&self) -> voxpace_core::SinkInfo {
        self.info.clone()
    }

    fn handle(
        &mut self,
        event: voxpace_core::SinkEvent<'_>,
        _: &voxpace_core::SinkContext,
    ) -> Result<(), voxpace_core::SinkError> {
        use voxpace_core::SinkEvent;
        let entry = match event {
            SinkEvent::Text {
                reply,
                offset,
                pts,
                text,
            } => (true, reply.0, offset, pts, text.to_string()),
            SinkEvent::Audio {
                reply,
                offset,
                pts,
                samples,
            } => (false, reply.0, offset, pts, samples.len().to_string()),
            _ => return Ok(()),
        };
        self.log.lock().unwrap().push(entry);
        Ok(())
    }
}

fn wait_until(log: &SinkLog, pred: impl Fn(&[(bool, u64, u64, Option<u64>, String)]) -> bool) {
    let start = std::time::Instant::now();
    while !pred(&log.lock().unwrap()) {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "timed out: {:?}",
            log.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[tokio::test]
async fn sinks_get_each_mark_with_the_audio_that_carries_it() {
    let (mut track, h, _) = track_with_events(TrackConfig::default());
    let paced = SinkLog::default();
    let ahead = SinkLog::default();
    h.attach_sink(Box::new(TextSink {
        info: voxpace_core::SinkInfo::new("captions"),
        log: paced.clone(),
    }))
    .unwrap();
    let mut info = voxpace_core::SinkInfo::new("avatar");
    info.delivery = voxpace_core::Delivery::Ahead {
        max_lead: Duration::from_millis(200),
    };
    h.attach_sink(Box::new(TextSink {
        info,
        log: ahead.clone(),
    }))
    .unwrap();
    let (w, words) = spoken_reply(&h).await;
    w.finish().unwrap();
    render(&mut track, 55);
    for (log, paced) in [(&paced, true), (&ahead, false)] {
        wait_until(log, |l| l.iter().filter(|e| e.0).count() == 10);
        wait_until(log, |l| l.iter().filter(|e| !e.0).count() >= 50);
        let log = log.lock().unwrap();
        let texts: Vec<&str> = log.iter().filter(|e| e.0).map(|e| e.4.as_str()).collect();
        assert_eq!(texts, words, "every mark, in order");
        for (i, e) in log.iter().enumerate().filter(|(_, e)| e.0) {
            // The next audio message starts at or before the mark and carries it.
            let audio = log[i + 1..].iter().find(|a| !a.0).unwrap();
            let len: u64 = audio.4.parse().unwrap();
            assert!(
                audio.2 <= e.2 && e.2 < audio.2 + len,
                "mark {e:?} before {audio:?}"
            );
            if paced {
                assert_eq!(e.3, Some(e.2), "paced: the mark's own pts");
            } else {
                assert_eq!(e.3, None, "ahead: no pts yet");
            }
        }
    }
}
