//! Audio files and PCM conversion: decode an audio file completely and convert it to a
//! track's format (channel layout and sample rate), and convert raw PCM chunks the same way.

use std::path::Path;

use voxpace_core::Format;

use crate::Error;

/// Decode an audio file in any format the sources read (WAV, FLAC, MP3, Ogg Vorbis/Opus,
/// AAC/MP4) and convert it to `format`. A file that breaks part-way is an error.
pub fn load_for(path: &Path, format: Format) -> Result<Vec<i16>, Error> {
    let reply = load_reply(path, format, voxpace_sources::ReplyLevel::AS_IS)?;
    match reply.broken {
        Some(e) => Err(audio_error(path, &e)),
        None => Ok(reply.samples),
    }
}

/// A reply file for `render`: decoded whole into `format` at `level`, keeping what decoded
/// before a break (the reply plays that much, as `serve` plays a broken stream) and the
/// damage skipped on the way. `Err` only when the file cannot be opened as audio.
pub fn load_reply(
    path: &Path,
    format: Format,
    level: voxpace_sources::ReplyLevel,
) -> Result<voxpace_sources::ReplyAudio, Error> {
    voxpace_sources::decode_reply(path, format, level).map_err(|e| audio_error(path, &e))
}

/// The file once, then what is wrong (the sources' message names the file itself).
fn audio_error(path: &Path, e: &voxpace_sources::Error) -> Error {
    Error::Audio {
        path: path.to_path_buf(),
        reason: e.detail(),
    }
}

/// Convert interleaved PCM (`rate`, `channels`) to `format` with the sources crate's
/// streaming TTS resampler (exact copy when the layout already matches).
pub fn convert(
    samples: &[i16],
    rate: u32,
    channels: u16,
    format: Format,
) -> Result<Vec<i16>, String> {
    if rate == format.sample_rate() && channels == format.channels() {
        return Ok(samples.to_vec());
    }
    let mut r =
        voxpace_sources::TtsResampler::new(rate, channels, format).map_err(|e| e.to_string())?;
    let mut out = r.process(samples).to_vec();
    out.extend_from_slice(r.flush());
    Ok(out)
}

/// [`convert`] for the binary's built-in audio, whose layout is known to be valid.
pub(crate) fn convert_or_fail(
    samples: &[i16],
    rate: u32,
    channels: u16,
    format: Format,
) -> anyhow::Result<Vec<i16>> {
    convert(samples, rate, channels, format).map_err(anyhow::Error::msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversion_keeps_the_duration() {
        let tone: Vec<i16> = (0..16_000).map(|i| ((i % 100) * 50) as i16).collect();
        let out = convert(&tone, 16_000, 1, Format::default()).unwrap();
        assert!((out.len() as i64 - 24_000).abs() < 100, "{}", out.len());
        let same = convert(&tone, 24_000, 1, Format::default()).unwrap();
        assert_eq!(same, tone);
    }
}
