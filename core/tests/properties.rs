//! Random sequences of push (samples, or bytes split anywhere) / finish / open / pause /
//! resume / interrupt / take, checked against the track's invariants, and against what
//! paced and ahead sinks receive.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use common::{
    apply_control, hard_cut, op, play, track_with_events, Applied, Numbers, Op, Weights,
    PLAY_OUT_FRAMES,
};
use proptest::prelude::*;
use voxpace_core::{
    Delivery, Error, Event, Format, FrameInfo, ReplyId, ReplyWriter, Sink, SinkContext, SinkError,
    SinkEvent, SinkInfo, TrackConfig,
};

/// Pushes of samples and of bytes cut anywhere, and finishes often; no text marks (their
/// own properties are in heard.rs).
const WEIGHTS: Weights = Weights {
    push: 4,
    push_bytes: 2,
    mark: 0,
    finish: 2,
};

struct Model {
    numbers: Numbers,
    /// Samples accepted per reply id (index = id - 1).
    accepted: Vec<Vec<i16>>,
}

impl Model {
    fn new() -> Self {
        Self {
            numbers: Numbers::default(),
            accepted: Vec::new(),
        }
    }

    fn samples(&mut self, n: usize) -> Vec<i16> {
        self.numbers.take(n)
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn invariants_hold_for_any_sequence(ops in proptest::collection::vec(op(WEIGHTS), 1..60)) {
        let format = Format::default();
        // Exact accounting: a hard cut.
        let (mut track, h, mut events) = track_with_events(hard_cut());
        let mut model = Model::new();
        let mut writer: Option<ReplyWriter> = None;
        let mut output: Vec<i16> = Vec::new();
        let mut frames = 0u64;
        // pts strictly continuous, exactly one frame per render.
        let mut continuous = |info: &FrameInfo| {
            assert_eq!(info.pts, frames * format.frame_samples() as u64);
            frames += 1;
        };
        for op in ops {
            match apply_control(&op, &h, &mut writer) {
                Applied::Control => continue,
                Applied::Data => {}
                Applied::Opened => {
                    let id = writer.as_ref().unwrap().id();
                    prop_assert_eq!(id, ReplyId(model.accepted.len() as u64 + 1));
                    model.accepted.push(Vec::new());
                    continue;
                }
            }
            match op {
                Op::Push(n) => {
                    if let Some(w) = writer.as_mut() {
                        let id = w.id().0 as usize;
                        let samples = model.samples(n);
                        match w.try_push_samples(&samples) {
                            Ok(n) => {
                                // The buffer is large enough in these tests: all of it.
                                prop_assert_eq!(n, samples.len());
                                model.accepted[id - 1].extend(samples)
                            }
                            Err(Error::ReplyInterrupted(_)) | Err(Error::ReplyFinished(_)) => {}
                            Err(e) => prop_assert!(false, "unexpected {e}"),
                        }
                    }
                }
                Op::PushBytes(n, cut) => {
                    if let Some(w) = writer.as_mut() {
                        let id = w.id().0 as usize;
                        let samples = model.samples(n);
                        let bytes: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
                        let mut refused = false;
                        for chunk in bytes.chunks(cut) {
                            match w.try_push_bytes(chunk) {
                                Ok(taken) => prop_assert_eq!(taken, chunk.len()),
                                Err(Error::ReplyInterrupted(_)) | Err(Error::ReplyFinished(_)) => {
                                    refused = true;
                                    break;
                                }
                                Err(e) => prop_assert!(false, "unexpected {e}"),
                            }
                        }
                        if !refused {
                            model.accepted[id - 1].extend(samples);
                        }
                    }
                }
                Op::Take(n) => play(&mut track, n, &mut output, &mut continuous),
                _ => {} // not drawn with these weights
            }
        }
        // Let everything play out.
        drop(writer);
        h.resume();
        play(&mut track, PLAY_OUT_FRAMES, &mut output, &mut continuous);

        let evs: Vec<Event> = std::iter::from_fn(|| events.try_next()).collect();
        let mut played = vec![None; model.accepted.len()];
        let mut started = vec![false; model.accepted.len()];
        let mut paused = false;
        for e in &evs {
            match e {
                Event::SpeechStarted { reply, .. } => {
                    let i = reply.0 as usize - 1;
                    prop_assert!(!started[i] && played[i].is_none(), "start once, before end");
                    started[i] = true;
                }
                Event::PlaybackFinished(o) => {
                    let i = o.reply.0 as usize - 1;
                    prop_assert!(played[i].is_none(), "finished once");
                    played[i] = Some(o.clone());
                }
                Event::Paused { .. } => { prop_assert!(!paused); paused = true; }
                Event::Resumed { .. } => { prop_assert!(paused); paused = false; }
                _ => {}
            }
        }
        // Every accepted sample played exactly once, in order, or reported as not played
        // by an interrupted reply.
        let mut expected = Vec::new();
        for (i, accepted) in model.accepted.iter().enumerate() {
            let o = played[i].clone().unwrap_or_else(|| panic!("reply {} never finished", i + 1));
            let n = o.played_samples as usize;
            if o.interrupted {
                prop_assert!(n <= accepted.len());
            } else {
                prop_assert_eq!(n, accepted.len(), "a completed reply plays everything");
            }
            expected.extend_from_slice(&accepted[..n]);
        }
        let heard: Vec<i16> = output.into_iter().filter(|s| *s != 0).collect();
        prop_assert_eq!(heard, expected);
    }
}

/// What a recording sink saw, in order.
#[derive(Debug, Clone, PartialEq)]
enum Seen {
    Start,
    Started(u64),
    Audio {
        reply: u64,
        offset: u64,
        samples: Vec<i16>,
    },
    Interrupted {
        reply: u64,
        offset: Option<u64>,
    },
    Ended {
        reply: u64,
        interrupted: bool,
        offset: Option<u64>,
    },
    Paused,
    Resumed,
    Stop,
}

/// Records every event (and the play-out position of ends and interrupts).
struct Recording {
    delivery: Delivery,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Sink for Recording {
    fn info(&self) -> SinkInfo {
        SinkInfo {
            delivery: self.delivery,
            ..SinkInfo::new("recording")
        }
    }

    fn handle(&mut self, event: SinkEvent<'_>, cx: &SinkContext) -> Result<(), SinkError> {
        let offset = cx.playout().map(|p| p.offset);
        let seen = match event {
            SinkEvent::Start { .. } => Seen::Start,
            SinkEvent::ReplyStarted { reply } => Seen::Started(reply.0),
            SinkEvent::Audio {
                reply,
                offset,
                samples,
                ..
            } => Seen::Audio {
                reply: reply.0,
                offset,
                samples: samples.to_vec(),
            },
            SinkEvent::Interrupted { reply } => Seen::Interrupted {
                reply: reply.0,
                offset,
            },
            SinkEvent::ReplyEnded { reply, interrupted } => Seen::Ended {
                reply: reply.0,
                interrupted,
                offset,
            },
            SinkEvent::Paused => Seen::Paused,
            SinkEvent::Resumed => Seen::Resumed,
            SinkEvent::Stop => Seen::Stop,
            _ => return Ok(()),
        };
        self.seen.lock().unwrap().push(seen);
        Ok(())
    }
}

/// Per reply: the samples received, whether it ended interrupted, its end's play-out offset.
type Received = (Vec<i16>, bool, Option<u64>);

/// Check `Start (ReplyStarted Audio* [Interrupted] ReplyEnded | Paused | Resumed)* Stop`
/// and return, per reply, the samples received (in order, offsets contiguous from 0) and
/// the play-out offset of its end.
fn parse_grammar(seen: &[Seen]) -> Result<BTreeMap<u64, Received>, String> {
    let mut replies = BTreeMap::new();
    let (first, last) = (seen.first(), seen.last());
    if first != Some(&Seen::Start) || last != Some(&Seen::Stop) {
        return Err(format!("not Start … Stop: {first:?} … {last:?}"));
    }
    // (reply, samples, interrupted yet)
    let mut open: Option<(u64, Vec<i16>, bool)> = None;
    for s in &seen[1..seen.len() - 1] {
        match (s, open.as_mut()) {
            (Seen::Paused | Seen::Resumed, _) => {}
            (Seen::Started(r), None) => {
                if replies.contains_key(r) {
                    return Err(format!("reply {r} started twice"));
                }
                open = Some((*r, Vec::new(), false));
            }
            (
                Seen::Audio {
                    reply,
                    offset,
                    samples,
                },
                Some((r, got, false)),
            ) if reply == r => {
                if *offset != got.len() as u64 {
                    return Err(format!(
                        "reply {r}: audio at {offset}, expected {}",
                        got.len()
                    ));
                }
                got.extend_from_slice(samples);
            }
            (Seen::Interrupted { reply, .. }, Some((r, _, interrupted))) if reply >= r => {
                if *interrupted {
                    return Err(format!("reply {r} interrupted twice"));
                }
                *interrupted = true;
            }
            (
                Seen::Ended {
                    reply,
                    interrupted,
                    offset,
                },
                Some((r, _, was)),
            ) if reply == r => {
                if interrupted != was {
                    return Err(format!(
                        "reply {r}: ended interrupted={interrupted}, Interrupted seen={was}"
                    ));
                }
                let (r, got, _) = open.take().expect("matched");
                replies.insert(r, (got, *interrupted, *offset));
            }
            (other, state) => return Err(format!("{other:?} while in {:?}", state.map(|s| s.0))),
        }
    }
    if let Some((r, ..)) = open {
        return Err(format!("reply {r} never ended"));
    }
    Ok(replies)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Per sink, paced and ahead: the event grammar, one end per reply, and the samples a
    /// sink receives against what played (`played_samples`, the interrupt fade included).
    #[test]
    fn sinks_see_the_grammar_and_exactly_what_plays(ops in proptest::collection::vec(op(WEIGHTS), 1..60)) {
        // The default fade (10 ms): what it plays counts and reaches sinks.
        let (mut track, h, mut events) = track_with_events(TrackConfig::default());
        let mut model = Model::new();
        let mut writer: Option<ReplyWriter> = None;
        let paced = Arc::new(Mutex::new(Vec::new()));
        let ahead = Arc::new(Mutex::new(Vec::new()));
        let lead = Delivery::Ahead { max_lead: std::time::Duration::from_millis(100) };
        let sinks = [
            h.attach_sink(Box::new(Recording { delivery: Delivery::Paced, seen: paced.clone() })).unwrap(),
            h.attach_sink(Box::new(Recording { delivery: lead, seen: ahead.clone() })).unwrap(),
        ];
        let mut output: Vec<i16> = Vec::new();
        let sinks_keep_up = |_: &FrameInfo| {
            assert!(h.wait_for_sinks(std::time::Duration::from_secs(10)));
        };
        for op in ops {
            match apply_control(&op, &h, &mut writer) {
                Applied::Control => continue,
                Applied::Data => {}
                Applied::Opened => {
                    model.accepted.push(Vec::new());
                    continue;
                }
            }
            match op {
                // The byte path is the intake's business (checked above); sinks see samples.
                Op::Push(n) | Op::PushBytes(n, _) => {
                    if let Some(w) = writer.as_mut() {
                        let id = w.id().0 as usize;
                        let samples = model.samples(n);
                        if let Ok(taken) = w.try_push_samples(&samples) {
                            model.accepted[id - 1].extend(&samples[..taken]);
                        }
                    }
                }
                Op::Take(n) => play(&mut track, n, &mut output, sinks_keep_up),
                _ => {} // not drawn with these weights
            }
        }
        drop(writer);
        h.resume();
        play(&mut track, PLAY_OUT_FRAMES, &mut output, sinks_keep_up);
        for id in sinks {
            h.detach_sink(id).unwrap();
        }
        play(&mut track, 1, &mut output, sinks_keep_up);
        drop(track);
        prop_assert!(h.wait_for_sinks(std::time::Duration::from_secs(10)));

        let outcomes: BTreeMap<u64, (u64, bool)> = std::iter::from_fn(|| events.try_next())
            .filter_map(|e| match e {
                Event::PlaybackFinished(o) => Some((o.reply.0, (o.played_samples, o.interrupted))),
                _ => None,
            })
            .collect();
        let paced = parse_grammar(&paced.lock().unwrap()).map_err(TestCaseError::fail)?;
        let ahead = parse_grammar(&ahead.lock().unwrap()).map_err(TestCaseError::fail)?;
        let mut paced_all = Vec::new();
        for (i, accepted) in model.accepted.iter().enumerate() {
            let r = i as u64 + 1;
            let (played, interrupted) = outcomes[&r];
            let played = played as usize;
            for (name, sink) in [("paced", &paced), ("ahead", &ahead)] {
                let Some((got, ended_interrupted, end_offset)) = sink.get(&r) else {
                    // Never started: nothing of it played.
                    prop_assert_eq!(played, 0, "{} missed reply {} that played", name, r);
                    continue;
                };
                prop_assert_eq!(*ended_interrupted, interrupted, "{}: reply {}", name, r);
                prop_assert_eq!(*end_offset, Some(played as u64), "{}: end position of {}", name, r);
                if name == "paced" {
                    // Exactly what played, fade included.
                    prop_assert_eq!(got.len(), played, "paced: reply {}", r);
                    paced_all.extend_from_slice(got);
                } else {
                    // Ahead: what played arrived, each sample either as accepted (in
                    // advance) or as it played (the fade, when it had not arrived yet);
                    // more only when an interrupt cut audio delivered ahead.
                    let as_played = &paced[&r].0;
                    prop_assert!(got.len() >= played, "ahead: reply {} got {} of {}", r, got.len(), played);
                    for i in 0..played {
                        prop_assert!(
                            got[i] == accepted[i] || got[i] == as_played[i],
                            "ahead: reply {} sample {}: {} is neither {} nor {}",
                            r, i, got[i], accepted[i], as_played[i]
                        );
                    }
                    if !interrupted {
                        prop_assert_eq!(got.len(), played, "ahead: completed reply {}", r);
                    }
                }
            }
        }
        // The paced sink's samples are the output's speech, value for value.
        let heard: Vec<i16> = output.into_iter().filter(|s| *s != 0).collect();
        let sent: Vec<i16> = paced_all.into_iter().filter(|s| *s != 0).collect();
        prop_assert_eq!(sent, heard);
    }
}
