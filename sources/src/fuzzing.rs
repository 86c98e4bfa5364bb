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
    decode_to(bytes, 24_000, 2)
}

/// [`open_and_decode`] to any rate and channel count (1 or 2); also what the benchmark
/// times as "decode + resample".
pub fn decode_to(bytes: &[u8], rate: u32, channels: usize) -> Result<u64, Error> {
    let source = Box::new(Cursor::new(bytes.to_vec()));
    let mut decoder = FileDecoder::from_source(Path::new("<fuzz input>"), source, None, channels)?;
    let mut resampler = StreamResampler::new(decoder.sample_rate(), rate, channels, 1024)?;
    let mut block = Vec::new();
    let mut frames = 0u64;
    while frames < MAX_FRAMES && decoder.next_block(&mut block)? {
        resampler.push(&block, &mut |o| frames += (o.len() / channels) as u64);
        block.clear();
    }
    resampler.flush(&mut |o| frames += (o.len() / channels) as u64);
    Ok(frames)
}
