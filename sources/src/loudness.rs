//! A file's loudness, measured once on its worker thread before it plays, so that
//! [`Play::normalised`](crate::Play::normalised) can set its gain from it.

use std::path::Path;
use std::time::Duration;

use voxpace_loudness::Meter;

use crate::decode::FileDecoder;
use crate::Error;

/// How much of a file is measured: music keeps its level, and a long file must not delay
/// its start (60 s of MP3 decode in about 0.1 s).
pub(crate) const MEASURED: Duration = Duration::from_secs(60);
/// The gain a normalised file may get: quiet files are raised at most this much.
const GAIN_RANGE_DB: (f32, f32) = (-40.0, 20.0);

/// The integrated loudness (LUFS) of the first [`MEASURED`] of `path`, down-mixed to
/// `channels`; `None` for a silent file.
pub(crate) fn measure(path: &Path, channels: usize) -> Result<Option<f64>, Error> {
    let mut decoder = FileDecoder::open(path, channels)?;
    let rate = decoder.sample_rate();
    let mut meter = Meter::integrated(rate, channels as u32).map_err(|e| Error::Unsupported {
        path: path.to_path_buf(),
        what: e.to_string(),
    })?;
    let limit = rate as u64 * MEASURED.as_secs() * channels as u64;
    let (mut block, mut measured) = (Vec::new(), 0u64);
    while measured < limit && decoder.next_block(&mut block)? {
        meter.add_f32(&block);
        measured += block.len() as u64;
        block.clear();
    }
    Ok(meter.integrated_lufs())
}

/// The gain (dB) that brings a file measured at `measured` LUFS to `target` LUFS.
pub(crate) fn gain_db(measured: Option<f64>, target: f32) -> f32 {
    measured.map_or(0.0, |m| {
        (target - m as f32).clamp(GAIN_RANGE_DB.0, GAIN_RANGE_DB.1)
    })
}
