//! Random sequences of push / finish / open / pause / resume / interrupt / take, checked
//! against the track's invariants.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use proptest::prelude::*;
use voxpace_core::{Error, Event, Format, ReplyId, ReplyWriter, Track, TrackConfig};

#[derive(Debug, Clone)]
enum Op {
    Open,
    Push(usize),
    Finish,
    Pause,
    Resume,
    Interrupt,
    Take(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => Just(Op::Open),
        5 => (1usize..1500).prop_map(Op::Push),
        2 => Just(Op::Finish),
        1 => Just(Op::Pause),
        1 => Just(Op::Resume),
        1 => Just(Op::Interrupt),
        4 => (1usize..8).prop_map(Op::Take),
    ]
}

/// Run a future that must not wait (the buffer is large enough in these tests).
fn now<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("a push waited although the buffer had room"),
    }
}

struct Model {
    next_value: i32,
    /// Samples accepted per reply id (index = id - 1).
    accepted: Vec<Vec<i16>>,
}

impl Model {
    fn samples(&mut self, n: usize) -> Vec<i16> {
        (0..n)
            .map(|_| {
                self.next_value = self.next_value % 30_000 + 1;
                self.next_value as i16
            })
            .collect()
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn invariants_hold_for_any_sequence(ops in proptest::collection::vec(op(), 1..60)) {
        let format = Format::default();
        let mut track = Track::new(format, TrackConfig {
            interrupt_fade: std::time::Duration::ZERO, // exact accounting: a hard cut
            ..TrackConfig::default()
        }).unwrap();
        let h = track.handle();
        let mut events = h.events();
        let mut model = Model { next_value: 0, accepted: Vec::new() };
        let mut writer: Option<ReplyWriter> = None;
        let mut out = vec![0i16; format.frame_len()];
        let mut output: Vec<i16> = Vec::new();
        let mut frames = 0u64;
        let mut take = |track: &mut Track, n: usize, output: &mut Vec<i16>, frames: &mut u64| {
            for _ in 0..n {
                let info = track.render(&mut out);
                // pts strictly continuous, exactly one frame per render.
                assert_eq!(info.pts, *frames * format.frame_samples() as u64);
                *frames += 1;
                output.extend_from_slice(&out);
            }
        };
        for op in ops {
            match op {
                Op::Open => {
                    let w = h.open_reply().unwrap();
                    prop_assert_eq!(w.id(), ReplyId(model.accepted.len() as u64 + 1));
                    model.accepted.push(Vec::new());
                    writer = Some(w);
                }
                Op::Push(n) => {
                    if let Some(w) = writer.as_mut() {
                        let id = w.id().0 as usize;
                        let samples = model.samples(n);
                        match now(w.push_samples(&samples)) {
                            Ok(()) => model.accepted[id - 1].extend(samples),
                            Err(Error::ReplyInterrupted(_)) | Err(Error::ReplyFinished(_)) => {}
                            Err(e) => prop_assert!(false, "unexpected {e}"),
                        }
                    }
                }
                Op::Finish => {
                    if let Some(w) = writer.take() {
                        let _ = w.finish();
                    }
                }
                Op::Pause => h.pause(),
                Op::Resume => h.resume(),
                Op::Interrupt => { h.interrupt(); }
                Op::Take(n) => take(&mut track, n, &mut output, &mut frames),
            }
        }
        // Let everything play out.
        drop(writer);
        h.resume();
        take(&mut track, 2 + 300 * 30 / 20, &mut output, &mut frames);

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
