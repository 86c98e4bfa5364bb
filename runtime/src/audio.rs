//! Audio files and PCM conversion: decode a WAV file completely and convert it to a track's
//! format (channel layout and sample rate), and convert raw PCM chunks the same way.

use std::path::Path;

use voxpace_core::Format;

use crate::Error;

/// Decoded, interleaved 16-bit PCM with its layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pcm {
    /// Samples per second, per channel.
    pub sample_rate: u32,
    /// Interleaved channels.
    pub channels: u16,
    /// The samples.
    pub samples: Vec<i16>,
}

impl Pcm {
    /// Samples per channel.
    pub fn frames(&self) -> usize {
        self.samples.len() / self.channels.max(1) as usize
    }
}

/// Decode a whole WAV file (8/16/24/32-bit integer or 32-bit float PCM).
pub fn read_wav(path: &Path) -> Result<Pcm, Error> {
    let bad = |reason: String| Error::Audio {
        path: path.to_path_buf(),
        reason,
    };
    let mut reader =
        hound::WavReader::open(path).map_err(|e| bad(format!("not a readable WAV file: {e}")))?;
    let spec = reader.spec();
    if spec.channels == 0 || spec.sample_rate == 0 {
        return Err(bad(
            "the WAV header declares no channels or a zero sample rate".into(),
        ));
    }
    let samples: Result<Vec<i16>, hound::Error> = match (spec.sample_format, spec.bits_per_sample) {
        (hound::SampleFormat::Int, 16) => reader.samples::<i16>().collect(),
        (hound::SampleFormat::Int, 8) => reader
            .samples::<i8>()
            .map(|s| s.map(|v| (v as i16) << 8))
            .collect(),
        (hound::SampleFormat::Int, bits @ 17..=32) => reader
            .samples::<i32>()
            .map(|s| s.map(|v| (v >> (bits - 16)) as i16))
            .collect(),
        (hound::SampleFormat::Float, 32) => reader
            .samples::<f32>()
            .map(|s| s.map(|v| (v.clamp(-1.0, 1.0) * i16::MAX as f32).round() as i16))
            .collect(),
        (f, b) => return Err(bad(format!("unsupported sample format {f:?} {b}-bit"))),
    };
    let samples = samples.map_err(|e| bad(format!("decoding failed: {e}")))?;
    Ok(Pcm {
        sample_rate: spec.sample_rate,
        channels: spec.channels,
        samples,
    })
}

/// Read a WAV file and convert it to `format`'s rate and channel count.
pub fn load_for(path: &Path, format: Format) -> Result<Vec<i16>, Error> {
    let pcm = read_wav(path)?;
    convert(&pcm.samples, pcm.sample_rate, pcm.channels, format).map_err(|reason| Error::Audio {
        path: path.to_path_buf(),
        reason,
    })
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
