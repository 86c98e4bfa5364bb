//! Loudness of a stream: momentary (the last 400 ms) or integrated (gated, since the start).

use ebur128::{EbuR128, Mode};

use crate::error::{meter, Error};

/// A BS.1770 loudness meter over an interleaved stream.
///
/// [`Meter::momentary`] keeps only the last 400 ms (fixed memory: fine on a frame path);
/// [`Meter::integrated`] gates with a histogram (fixed memory too, 8 KB, 0.1 LU bins).
#[derive(Debug)]
pub struct Meter {
    inner: EbuR128,
}

impl Meter {
    /// A meter of the last 400 ms.
    pub fn momentary(rate: u32, channels: u32) -> Result<Self, Error> {
        Ok(Self {
            inner: meter(rate, channels, Mode::M)?,
        })
    }

    /// A meter of the gated loudness since the start (and the momentary loudness).
    pub fn integrated(rate: u32, channels: u32) -> Result<Self, Error> {
        Ok(Self {
            inner: meter(rate, channels, Mode::I | Mode::HISTOGRAM)?,
        })
    }

    /// Add interleaved 16-bit samples.
    pub fn add_i16(&mut self, samples: &[i16]) {
        // Only a length that is not a whole number of frames fails; callers pass frames.
        let _ = self.inner.add_frames_i16(samples);
    }

    /// Add interleaved samples at full scale 1.0.
    pub fn add_f32(&mut self, samples: &[f32]) {
        let _ = self.inner.add_frames_f32(samples);
    }

    /// Loudness of the last 400 ms in LUFS; `None` for digital silence.
    pub fn momentary_lufs(&self) -> Option<f64> {
        self.inner
            .loudness_momentary()
            .ok()
            .filter(|l| l.is_finite())
    }

    /// Gated integrated loudness since the start in LUFS; `None` before the first 400 ms
    /// block above the absolute gate (-70 LUFS), or for a momentary meter.
    pub fn integrated_lufs(&self) -> Option<f64> {
        self.inner.loudness_global().ok().filter(|l| l.is_finite())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// EBU Tech 3341 case 1 scaled: a stereo 1 kHz sine at -20 dBFS reads -20 LUFS; one
    /// channel of it reads 3 dB less.
    #[test]
    fn a_sine_reads_its_known_level() {
        let rate = 48_000;
        let amp = crate::db_to_gain(-20.0);
        let tone: Vec<f32> = (0..rate * 5)
            .map(|i| amp * (2.0 * std::f32::consts::PI * 1000.0 * i as f32 / rate as f32).sin())
            .collect();
        let stereo: Vec<f32> = tone.iter().flat_map(|s| [*s, *s]).collect();
        let mut m = Meter::integrated(rate, 2).unwrap();
        m.add_f32(&stereo);
        let l = m.integrated_lufs().unwrap();
        assert!((l + 20.0).abs() < 0.2, "{l}");
        let mut mono = Meter::momentary(rate, 1).unwrap();
        mono.add_f32(&tone);
        let l = mono.momentary_lufs().unwrap();
        assert!((l + 23.0).abs() < 0.2, "{l}");
        assert!(Meter::momentary(rate, 1)
            .unwrap()
            .momentary_lufs()
            .is_none());
    }

    #[test]
    fn unsupported_layouts_are_errors() {
        assert_eq!(
            Meter::momentary(48_000, 0).unwrap_err(),
            Error::Unsupported {
                rate: 48_000,
                channels: 0
            }
        );
    }
}
