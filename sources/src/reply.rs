//! Reply audio from files and compressed streams: decoded by the same code as background
//! files (symphonia, the one [`Downmix`](crate::downmix::Downmix), gapless trimming), then
//! resampled to the track's format.

use std::path::Path;

use voxpace_core::Format;

use crate::decode::FileDecoder;
use crate::resample::StreamResampler;
use crate::Error;

/// Resampler input per call for replies: 10 ms keeps a streamed reply's added latency low,
/// and a file decoded whole uses the same, so both give the same samples.
pub(crate) fn reply_chunk(rate: u32) -> usize {
    (rate / 100).max(1) as usize
}

/// Decode a whole audio file (any format [`probe`](crate::probe) accepts) into 16-bit
/// samples in `format`, as a reply plays it. Damage the decoder can skip is skipped; a file
/// that cannot be decoded to its end is an error naming where it broke.
pub fn decode_file(path: impl AsRef<Path>, format: Format) -> Result<Vec<i16>, Error> {
    let channels = format.channels() as usize;
    let mut decoder = FileDecoder::open(path.as_ref(), channels)?;
    let mut resampler = StreamResampler::new(
        decoder.sample_rate(),
        format.sample_rate(),
        channels,
        reply_chunk(decoder.sample_rate()),
    )?;
    let mut out = Vec::new();
    let mut block = Vec::new();
    while decoder.next_block(&mut block)? {
        resampler.push(&block, &mut |o| push_i16(&mut out, o));
        block.clear();
    }
    resampler.flush(&mut |o| push_i16(&mut out, o));
    Ok(out)
}

/// Round `samples` (full scale ±1) to 16 bits, saturating.
pub(crate) fn push_i16(out: &mut Vec<i16>, samples: &[f32]) {
    out.extend(samples.iter().map(|x| {
        (x * 32_768.0)
            .round()
            .clamp(i16::MIN as f32, i16::MAX as f32) as i16
    }));
}
