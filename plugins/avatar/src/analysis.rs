//! Lip-sync analysis: one [`Mouth`] per frame of speech, from the frame's energy (how wide
//! the mouth opens) and a cheap spectral estimate (which shape it takes).
//!
//! No FFT: the spectral centroid of a frame is estimated from the ratio of the energy of
//! its first difference to its own energy. For a sine of frequency `f` sampled at `fs`,
//! `E[(x[n]-x[n-1])²] / E[x²] = (2·sin(π·f/fs))²`, so inverting that gives a
//! power-weighted frequency: low for rounded vowels, mid for open and spread vowels, high
//! for fricatives. It costs two multiply-adds per sample and allocates nothing.

use serde::Serialize;

/// The mouth shape class of one frame (coarse, renderer-agnostic visemes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Viseme {
    /// Mouth closed or at rest (silence).
    Rest,
    /// Rounded lips: "oo", "o" (energy mostly below ~400 Hz).
    Round,
    /// Open jaw: "a" (centroid ~400–1000 Hz).
    Open,
    /// Spread lips: "e", "i" (centroid ~1–2.5 kHz).
    Wide,
    /// Teeth together, air through: "s", "f", "sh" (centroid above ~2.5 kHz).
    Fricative,
}

/// One frame's mouth.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Mouth {
    /// How open the mouth is, 0 (closed) to 1 (wide open), smoothed over frames.
    pub open: f32,
    /// The shape class.
    pub viseme: Viseme,
    /// The frame's level in dBFS (before smoothing), for renderers that want their own curve.
    pub level_db: f32,
    /// The estimated spectral centroid in Hz.
    pub centroid_hz: f32,
}

/// Tuning of the analysis.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tuning {
    /// Level at and below which the mouth is closed (dBFS).
    pub floor_db: f32,
    /// Level at and above which the mouth is fully open (dBFS).
    pub ceil_db: f32,
    /// Fraction of the way to a wider target the mouth moves per frame (fast to open).
    pub attack: f32,
    /// Fraction of the way to a narrower target it moves per frame (slower to close).
    pub release: f32,
}

impl Default for Tuning {
    fn default() -> Self {
        Self {
            floor_db: -50.0,
            ceil_db: -12.0,
            attack: 0.7,
            release: 0.35,
        }
    }
}

/// The per-stream analyser: keeps the smoothed openness between frames.
#[derive(Debug, Clone)]
pub struct LipSync {
    tuning: Tuning,
    sample_rate: f32,
    open: f32,
}

impl LipSync {
    /// An analyser for audio at `sample_rate`.
    pub fn new(sample_rate: u32, tuning: Tuning) -> Self {
        Self {
            tuning,
            sample_rate: sample_rate as f32,
            open: 0.0,
        }
    }

    /// Close the mouth at once (interrupt, end of reply).
    pub fn reset(&mut self) {
        self.open = 0.0;
    }

    /// Analyse one frame of interleaved samples with `channels` channels.
    pub fn frame(&mut self, samples: &[i16], channels: usize) -> Mouth {
        let channels = channels.max(1);
        let mut energy = 0.0f64;
        let mut diff_energy = 0.0f64;
        let mut prev = None;
        let mut n = 0usize;
        for frame in samples.chunks_exact(channels) {
            let mono = frame.iter().map(|&s| s as f64).sum::<f64>() / channels as f64;
            energy += mono * mono;
            if let Some(p) = prev {
                let d = mono - p;
                diff_energy += d * d;
            }
            prev = Some(mono);
            n += 1;
        }
        let rms = if n == 0 {
            0.0
        } else {
            (energy / n as f64).sqrt()
        };
        let level_db = if rms < 1.0 {
            -96.0
        } else {
            (20.0 * (rms / 32768.0).log10()) as f32
        };
        let centroid_hz = if energy > 0.0 {
            let ratio = (diff_energy / energy).sqrt() / 2.0;
            (self.sample_rate as f64 / std::f64::consts::PI * ratio.min(1.0).asin()) as f32
        } else {
            0.0
        };

        let t = self.tuning;
        let target = ((level_db - t.floor_db) / (t.ceil_db - t.floor_db)).clamp(0.0, 1.0);
        let rate = if target > self.open {
            t.attack
        } else {
            t.release
        };
        self.open += (target - self.open) * rate;
        if self.open < 0.01 {
            self.open = 0.0;
        }
        let viseme = if self.open < 0.08 {
            Viseme::Rest
        } else if centroid_hz > 2500.0 {
            Viseme::Fricative
        } else if centroid_hz > 1000.0 {
            Viseme::Wide
        } else if centroid_hz > 400.0 {
            Viseme::Open
        } else {
            Viseme::Round
        };
        Mouth {
            open: self.open,
            viseme,
            level_db,
            centroid_hz,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(freq: f32, amplitude: f32, rate: u32, n: usize) -> Vec<i16> {
        (0..n)
            .map(|i| {
                let t = i as f32 / rate as f32;
                (amplitude * (2.0 * std::f32::consts::PI * freq * t).sin()) as i16
            })
            .collect()
    }

    fn settle(lips: &mut LipSync, samples: &[i16]) -> Mouth {
        let mut last = lips.frame(samples, 1);
        for _ in 0..10 {
            last = lips.frame(samples, 1);
        }
        last
    }

    #[test]
    fn silence_is_rest_and_closed() {
        let mut lips = LipSync::new(24_000, Tuning::default());
        let m = settle(&mut lips, &[0; 480]);
        assert_eq!(m.viseme, Viseme::Rest);
        assert_eq!(m.open, 0.0);
    }

    #[test]
    fn centroid_of_a_tone_is_its_frequency() {
        for freq in [200.0, 700.0, 1500.0, 4000.0] {
            let mut lips = LipSync::new(24_000, Tuning::default());
            let m = lips.frame(&tone(freq, 10_000.0, 24_000, 480), 1);
            assert!(
                (m.centroid_hz - freq).abs() < freq * 0.05,
                "{freq} Hz estimated as {}",
                m.centroid_hz
            );
        }
    }

    #[test]
    fn loud_low_tone_opens_round_and_high_tone_is_fricative() {
        let mut lips = LipSync::new(24_000, Tuning::default());
        let m = settle(&mut lips, &tone(200.0, 16_000.0, 24_000, 480));
        assert!(m.open > 0.9, "{m:?}");
        assert_eq!(m.viseme, Viseme::Round);
        let m = settle(&mut lips, &tone(700.0, 16_000.0, 24_000, 480));
        assert_eq!(m.viseme, Viseme::Open);
        let m = settle(&mut lips, &tone(1_800.0, 16_000.0, 24_000, 480));
        assert_eq!(m.viseme, Viseme::Wide);
        let m = settle(&mut lips, &tone(5_000.0, 8_000.0, 24_000, 480));
        assert_eq!(m.viseme, Viseme::Fricative);
    }

    #[test]
    fn quieter_is_less_open_and_it_closes_gradually() {
        let mut lips = LipSync::new(24_000, Tuning::default());
        let loud = settle(&mut lips, &tone(300.0, 16_000.0, 24_000, 480)).open;
        let mut quiet_lips = LipSync::new(24_000, Tuning::default());
        let quiet = settle(&mut quiet_lips, &tone(300.0, 800.0, 24_000, 480)).open;
        assert!(quiet < loud, "{quiet} vs {loud}");
        let after = lips.frame(&[0; 480], 1).open;
        assert!(
            after > 0.0 && after < loud,
            "closes over frames, not at once"
        );
    }
}
