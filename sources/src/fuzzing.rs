//! The open-and-decode path over arbitrary bytes, for the cargo-fuzz target
//! (`sources/fuzz`) and the bounded mutation test in the normal test suite.

use std::io::Cursor;
use std::path::Path;

use crate::decode::FileDecoder;
use crate::resample::StreamResampler;
use crate::Error;

/// Output frames after which decoding stops (bounds time and memory on any input).
const MAX_FRAMES: u64 = 1 << 20;

/// Probe, decode, down-mix to stereo and resample to 24 kHz everything in `bytes`, as a
/// played file would be. Returns the frames produced; any failure must be a typed error,
/// never a panic or a hang.
pub fn open_and_decode(bytes: &[u8]) -> Result<u64, Error> {
    let source = Box::new(Cursor::new(bytes.to_vec()));
    let mut decoder = FileDecoder::from_source(Path::new("<fuzz input>"), source, None, 2)?;
    let mut resampler = StreamResampler::new(decoder.sample_rate(), 24_000, 2, 1024)?;
    let mut block = Vec::new();
    let mut frames = 0u64;
    while frames < MAX_FRAMES && decoder.next_block(&mut block)? {
        resampler.push(&block, &mut |o| frames += (o.len() / 2) as u64);
        block.clear();
    }
    resampler.flush(&mut |o| frames += (o.len() / 2) as u64);
    Ok(frames)
}
