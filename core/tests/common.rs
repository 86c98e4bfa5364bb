//! Helpers shared by the core integration tests.
#![allow(dead_code)]

use voxpace_core::{Event, EventStream, FrameInfo, Track};

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
