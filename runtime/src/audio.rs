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
    if pcm.channels > 2 {
        return Err(Error::Audio {
            path: path.to_path_buf(),
            reason: format!(
                "{} channels; only mono and stereo files are supported",
                pcm.channels
            ),
        });
    }
    Ok(convert(&pcm.samples, pcm.sample_rate, pcm.channels, format))
}

/// Convert interleaved PCM (`rate`, `channels` of 1 or 2) to `format`.
pub fn convert(samples: &[i16], rate: u32, channels: u16, format: Format) -> Vec<i16> {
    let remixed = remix(samples, channels, format.channels());
    resample(&remixed, format.channels(), rate, format.sample_rate())
}

/// Mono to stereo duplicates; stereo to mono averages.
pub fn remix(samples: &[i16], from: u16, to: u16) -> Vec<i16> {
    match (from, to) {
        (1, 2) => samples.iter().flat_map(|&s| [s, s]).collect(),
        (2, 1) => samples
            .chunks_exact(2)
            .map(|p| ((p[0] as i32 + p[1] as i32) / 2) as i16)
            .collect(),
        _ => samples.to_vec(),
    }
}

/// Resample with linear interpolation (good enough for speech previews and music beds; the
/// result is exactly reproducible, which `render` needs).
pub fn resample(samples: &[i16], channels: u16, from: u32, to: u32) -> Vec<i16> {
    if from == to || samples.is_empty() {
        return samples.to_vec();
    }
    let ch = channels as usize;
    let frames_in = samples.len() / ch;
    let frames_out = (frames_in as u64 * to as u64 / from as u64) as usize;
    let mut out = Vec::with_capacity(frames_out * ch);
    for i in 0..frames_out {
        // Position in input frames, in fixed point so every platform computes the same.
        let num = i as u64 * from as u64;
        let idx = (num / to as u64) as usize;
        let frac = (num % to as u64) as i64;
        for c in 0..ch {
            let a = samples[idx * ch + c] as i64;
            let b = samples.get((idx + 1) * ch + c).map_or(a, |&v| v as i64);
            out.push((a + (b - a) * frac / to as i64) as i16);
        }
    }
    out
}

/// dB to a linear factor.
pub fn db_to_gain(db: f32) -> f32 {
    10f32.powf(db / 20.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resample_keeps_duration_and_endpoints() {
        let ramp: Vec<i16> = (0..16_000).map(|i| (i % 1000) as i16).collect();
        let out = resample(&ramp, 1, 16_000, 24_000);
        assert_eq!(out.len(), 24_000);
        assert_eq!(out[0], 0);
        assert_eq!(out[3], 2, "1.5 samples in per 1 out: 3 out = 2 in");
    }

    #[test]
    fn remix_round_trips_mono() {
        let m = vec![1i16, -5, 300];
        assert_eq!(remix(&remix(&m, 1, 2), 2, 1), m);
    }
}
