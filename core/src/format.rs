//! The audio format of a track: sample rate, channel count and frame length.

use std::time::Duration;

use crate::Error;

/// Sample rates a track can run at, in Hz.
pub const SAMPLE_RATES: [u32; 4] = [8_000, 16_000, 24_000, 48_000];
/// Frame lengths a track can cut its output into, in milliseconds.
pub const FRAME_LENGTHS_MS: [u32; 4] = [10, 20, 40, 60];

/// A validated track format. Samples are signed 16-bit, interleaved when stereo.
///
/// Construct with [`Format::new`]; an unsupported combination is an [`Error::InvalidFormat`].
/// The default is 24 kHz, mono, 20 ms frames (what most TTS services send).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Format {
    sample_rate: u32,
    channels: u16,
    frame_ms: u32,
}

impl Format {
    /// Validate a format: rate in [`SAMPLE_RATES`], 1 or 2 channels, frame length in
    /// [`FRAME_LENGTHS_MS`].
    pub fn new(sample_rate: u32, channels: u16, frame_ms: u32) -> Result<Self, Error> {
        let reason = if !SAMPLE_RATES.contains(&sample_rate) {
            Some(format!(
                "sample rate {sample_rate} Hz is not supported (use 8000, 16000, 24000 or 48000)"
            ))
        } else if !(1..=2).contains(&channels) {
            Some(format!(
                "{channels} channels is not supported (use 1 for mono or 2 for stereo)"
            ))
        } else if !FRAME_LENGTHS_MS.contains(&frame_ms) {
            Some(format!(
                "frame length {frame_ms} ms is not supported (use 10, 20, 40 or 60)"
            ))
        } else {
            None
        };
        match reason {
            Some(reason) => Err(Error::InvalidFormat(reason)),
            None => Ok(Self {
                sample_rate,
                channels,
                frame_ms,
            }),
        }
    }

    /// Samples per second, per channel.
    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    /// 1 (mono) or 2 (interleaved stereo).
    pub fn channels(&self) -> u16 {
        self.channels
    }

    /// Frame length in milliseconds.
    pub fn frame_ms(&self) -> u32 {
        self.frame_ms
    }

    /// Samples per channel in one frame; also how far `pts` advances per frame.
    pub fn frame_samples(&self) -> usize {
        (self.sample_rate * self.frame_ms / 1000) as usize
    }

    /// Interleaved `i16` values in one frame (`frame_samples * channels`).
    pub fn frame_len(&self) -> usize {
        self.frame_samples() * self.channels as usize
    }

    /// Wall-clock length of one frame.
    pub fn frame_duration(&self) -> Duration {
        Duration::from_millis(self.frame_ms as u64)
    }

    /// Number of whole frames that `duration` spans, rounded up.
    pub fn frames_in(&self, duration: Duration) -> u64 {
        let ms = duration.as_micros() as u64;
        let frame_us = self.frame_ms as u64 * 1000;
        ms.div_ceil(frame_us)
    }

    /// Samples per channel in `duration`, rounded down.
    pub fn samples_in(&self, duration: Duration) -> u64 {
        (duration.as_nanos() * self.sample_rate as u128 / 1_000_000_000) as u64
    }

    /// The duration of `samples` samples per channel.
    pub fn duration_of(&self, samples: u64) -> Duration {
        Duration::from_nanos((samples as u128 * 1_000_000_000 / self.sample_rate as u128) as u64)
    }
}

impl Default for Format {
    fn default() -> Self {
        Self {
            sample_rate: 24_000,
            channels: 1,
            frame_ms: 20,
        }
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let layout = if self.channels == 1 { "mono" } else { "stereo" };
        write!(
            f,
            "{} Hz {layout}, {} ms frames",
            self.sample_rate, self.frame_ms
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_supported_combination_constructs() {
        for rate in SAMPLE_RATES {
            for ch in 1..=2 {
                for ms in FRAME_LENGTHS_MS {
                    let f = Format::new(rate, ch, ms).unwrap();
                    assert_eq!(f.frame_samples() as u32, rate * ms / 1000);
                    assert_eq!(f.frame_len(), f.frame_samples() * ch as usize);
                }
            }
        }
    }

    #[test]
    fn invalid_combinations_name_what_is_wrong() {
        let e = Format::new(44_100, 1, 20).unwrap_err().to_string();
        assert!(e.contains("44100"), "{e}");
        let e = Format::new(48_000, 3, 20).unwrap_err().to_string();
        assert!(e.contains("3 channels"), "{e}");
        let e = Format::new(48_000, 1, 30).unwrap_err().to_string();
        assert!(e.contains("30 ms"), "{e}");
    }

    #[test]
    fn default_is_24k_mono_20ms() {
        let f = Format::default();
        assert_eq!(
            (f.sample_rate(), f.channels(), f.frame_ms()),
            (24_000, 1, 20)
        );
        assert_eq!(f.frame_samples(), 480);
    }
}
