//! Helpers shared by the core integration tests.
#![allow(dead_code)]

use std::time::Duration;

use proptest::prelude::*;
use voxpace_core::{
    Event, EventStream, Format, FrameInfo, ReplyWriter, Track, TrackConfig, TrackHandle,
};

/// A recognisable speech signal: sample `i` is `(i % 20000) + 1`, never zero.
pub fn ramp(len: usize) -> Vec<i16> {
    (0..len).map(|i| (i % 20_000) as i16 + 1).collect()
}

/// Render `n` frames, keeping metadata and samples.
pub fn render(track: &mut Track, n: usize) -> Vec<(FrameInfo, Vec<i16>)> {
    let len = track.format().frame_len();
    (0..n)
        .map(|_| {
            let mut out = vec![0; len];
            let info = track.render(&mut out);
            (info, out)
        })
        .collect()
}

/// All samples of `frames`, concatenated.
pub fn samples(frames: &[(FrameInfo, Vec<i16>)]) -> Vec<i16> {
    frames.iter().flat_map(|(_, s)| s.iter().copied()).collect()
}

/// Every event queued so far.
pub fn drain(events: &mut EventStream) -> Vec<Event> {
    std::iter::from_fn(|| events.try_next()).collect()
}

/// The non-zero samples, in order (speech content with silence removed).
pub fn audible(samples: &[i16]) -> Vec<i16> {
    samples.iter().copied().filter(|s| *s != 0).collect()
}

/// A track on `config` at the default format, its handle, and its event stream: where most
/// tests start.
pub fn track_with_events(config: TrackConfig) -> (Track, TrackHandle, EventStream) {
    let track = Track::new(Format::default(), config).unwrap();
    let handle = track.handle();
    let events = handle.events();
    (track, handle, events)
}

/// No interrupt fade: an interrupt cuts at a frame boundary and every played sample keeps
/// its value, so what played can be compared value for value.
pub fn hard_cut() -> TrackConfig {
    TrackConfig {
        interrupt_fade: Duration::ZERO,
        ..TrackConfig::default()
    }
}

/// Render `n` frames onto the end of `output`, calling `after` with each frame's info.
pub fn play(track: &mut Track, n: usize, output: &mut Vec<i16>, mut after: impl FnMut(&FrameInfo)) {
    let mut out = vec![0; track.format().frame_len()];
    for _ in 0..n {
        let info = track.render(&mut out);
        output.extend_from_slice(&out);
        after(&info);
    }
}

/// Frames that play out whatever a generated sequence of [`Op`]s left queued.
pub const PLAY_OUT_FRAMES: usize = 2 + 300 * 30 / 20;

/// One step of a generated test (proptest). Each test draws the steps it exercises
/// ([`op`]); those it does not draw never occur in it.
#[derive(Debug, Clone)]
pub enum Op {
    Open,
    Push(usize),
    /// Samples pushed as bytes, cut into chunks of 1..=7 bytes.
    PushBytes(usize, usize),
    /// A mark this many samples past the later of the audio pushed and the last mark.
    Mark(u64),
    Finish,
    Pause,
    Resume,
    Interrupt,
    Take(usize),
}

/// How often a generated test draws the steps that differ between tests.
#[derive(Debug, Clone, Copy)]
pub struct Weights {
    pub push: u32,
    pub push_bytes: u32,
    pub mark: u32,
    pub finish: u32,
}

/// A strategy for one step; open, pause, resume, interrupt and take are drawn alike by
/// every test.
pub fn op(w: Weights) -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => Just(Op::Open),
        w.push => (1usize..1500).prop_map(Op::Push),
        w.push_bytes => (1usize..400, 1usize..8).prop_map(|(n, cut)| Op::PushBytes(n, cut)),
        w.mark => (0u64..900).prop_map(Op::Mark),
        w.finish => Just(Op::Finish),
        1 => Just(Op::Pause),
        1 => Just(Op::Resume),
        1 => Just(Op::Interrupt),
        4 => (1usize..8).prop_map(Op::Take),
    ]
}

/// What [`apply_control`] did with a step.
pub enum Applied {
    /// Finish, pause, resume or interrupt: nothing is left for the test to do.
    Control,
    /// A data step (push, mark, take) the test applies itself.
    Data,
    /// A reply was opened into the writer; the test records it in its model.
    Opened,
}

/// Apply a step every generated test treats alike (open, finish, pause, resume,
/// interrupt); the others are left to the test.
pub fn apply_control(op: &Op, handle: &TrackHandle, writer: &mut Option<ReplyWriter>) -> Applied {
    match op {
        Op::Open => {
            *writer = Some(handle.open_reply().unwrap());
            return Applied::Opened;
        }
        Op::Finish => {
            if let Some(w) = writer.take() {
                let _ = w.finish();
            }
        }
        Op::Pause => handle.pause(),
        Op::Resume => handle.resume(),
        Op::Interrupt => {
            handle.interrupt();
        }
        _ => return Applied::Data,
    }
    Applied::Control
}

/// Distinct non-zero sample values, 1 to 30 000 and round again: where each played sample
/// came from can be told by its value.
#[derive(Debug, Default)]
pub struct Numbers(i32);

impl Numbers {
    pub fn take(&mut self, n: usize) -> Vec<i16> {
        (0..n)
            .map(|_| {
                self.0 = self.0 % 30_000 + 1;
                self.0 as i16
            })
            .collect()
    }
}
