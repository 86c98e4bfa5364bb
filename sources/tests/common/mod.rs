//! Shared test helpers: fixture paths, rendering a background frame by frame, and a small
//! tone analyser (Goertzel scan + least-squares sine fit) to check frequency, level and SNR.
#![allow(dead_code)]

use std::path::PathBuf;
use std::time::Duration;

use voxpace_core::{BusContext, Format, Source};
use voxpace_sources::{Background, BackgroundConfig, BackgroundMixer, Ducking};

/// A scratch folder for one test's files (named after the test binary and the process),
/// removed when dropped.
pub struct Dir(PathBuf);

impl Dir {
    pub fn new(name: &str) -> Self {
        let d = std::env::temp_dir().join(format!(
            "voxpace-{}-{name}-{}",
            env!("CARGO_CRATE_NAME"),
            std::process::id()
        ));
        std::fs::create_dir_all(&d).unwrap();
        Dir(d)
    }

    pub fn path(&self, f: &str) -> PathBuf {
        self.0.join(f)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

pub fn format(rate: u32, channels: u16) -> Format {
    Format::new(rate, channels, 20).unwrap()
}

/// A background with ducking off (unless a test asks for it).
pub fn background(format: Format) -> (BackgroundMixer, Background) {
    BackgroundMixer::new(
        format,
        BackgroundConfig {
            ducking: Ducking::OFF,
            ..BackgroundConfig::default()
        },
    )
    .unwrap()
}

/// Render `frames` frames by calling `fill` directly, waiting before each frame until the
/// workers have decoded enough (the test renders faster than real time).
pub struct Renderer {
    pub mixer: BackgroundMixer,
    pub bg: Background,
    pub format: Format,
    pub pts: u64,
}

impl Renderer {
    pub fn new(format: Format) -> Self {
        let (mixer, bg) = background(format);
        Self::with(mixer, bg)
    }

    pub fn with(mixer: BackgroundMixer, bg: Background) -> Self {
        let format = bg.format();
        Self {
            mixer,
            bg,
            format,
            pts: 0,
        }
    }

    pub fn frame(&mut self, speech: bool) -> Vec<i16> {
        assert!(
            self.bg
                .wait_buffered(Duration::from_millis(60), Duration::from_secs(20)),
            "decoder did not keep up within 20 s"
        );
        let mut out = vec![0i16; self.format.frame_len()];
        let cx = BusContext {
            format: self.format,
            pts: self.pts,
            speech_active: speech,
        };
        self.mixer.fill(&mut out, &cx);
        self.pts += self.format.frame_samples() as u64;
        out
    }

    pub fn render(&mut self, frames: usize) -> Vec<i16> {
        (0..frames).flat_map(|_| self.frame(false)).collect()
    }
}

/// One channel of interleaved samples, as floats in -1..1.
pub fn channel(samples: &[i16], channels: usize, c: usize) -> Vec<f64> {
    samples
        .iter()
        .skip(c)
        .step_by(channels)
        .map(|s| *s as f64 / 32_768.0)
        .collect()
}

pub fn rms(x: &[f64]) -> f64 {
    (x.iter().map(|v| v * v).sum::<f64>() / x.len().max(1) as f64).sqrt()
}

pub fn db(x: f64) -> f64 {
    20.0 * x.log10()
}

/// Power of `x` at frequency `f` (Goertzel).
pub fn goertzel(x: &[f64], rate: f64, f: f64) -> f64 {
    let w = 2.0 * std::f64::consts::PI * f / rate;
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0, 0.0);
    for v in x {
        let s0 = v + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    s1 * s1 + s2 * s2 - coeff * s1 * s2
}

/// The result of fitting one sine to a signal.
#[derive(Debug, Clone, Copy)]
pub struct Tone {
    pub freq: f64,
    /// Peak amplitude (full scale = 1).
    pub amplitude: f64,
    /// Sine power over the power of everything else (noise, distortion, clicks), in dB.
    pub snr_db: f64,
}

/// Find the strongest tone between `lo` and `hi` Hz and fit it.
pub fn tone(x: &[f64], rate: f64, lo: f64, hi: f64) -> Tone {
    // Coarse scan in 1 Hz steps, then golden-section refinement.
    let mut best = lo;
    let mut best_p = 0.0;
    let mut f = lo;
    while f <= hi {
        let p = goertzel(x, rate, f);
        if p > best_p {
            best_p = p;
            best = f;
        }
        f += 1.0;
    }
    // Refine on the least-squares fit itself: unlike a DFT peak it is not biased by
    // leakage when the window holds a non-integer number of cycles.
    let (mut a, mut b) = (best - 1.0, best + 1.0);
    let g = (5f64.sqrt() - 1.0) / 2.0;
    for _ in 0..28 {
        let c = b - g * (b - a);
        let d = a + g * (b - a);
        if fit(x, rate, c).1 > fit(x, rate, d).1 {
            b = d;
        } else {
            a = c;
        }
    }
    let freq = (a + b) / 2.0;
    let (amplitude, signal, noise) = fit(x, rate, freq);
    Tone {
        freq,
        amplitude,
        snr_db: 10.0 * (signal / noise.max(1e-300)).log10(),
    }
}

/// Least squares for x ≈ p·cos + q·sin + dc: (amplitude, sine energy, residual energy).
fn fit(x: &[f64], rate: f64, freq: f64) -> (f64, f64, f64) {
    let w = 2.0 * std::f64::consts::PI * freq / rate;
    // cos/sin of w·i by rotation, re-anchored every 1024 samples against drift.
    let basis = |i: usize, (c, s): (f64, f64)| -> (f64, f64) {
        if i.is_multiple_of(1024) {
            ((w * i as f64).cos(), (w * i as f64).sin())
        } else {
            (c * w.cos() - s * w.sin(), s * w.cos() + c * w.sin())
        }
    };
    let mut m = [[0.0f64; 3]; 3];
    let mut v = [0.0f64; 3];
    let mut cs = (1.0, 0.0);
    for (i, xi) in x.iter().enumerate() {
        cs = basis(i, cs);
        let b = [cs.0, cs.1, 1.0];
        for r in 0..3 {
            v[r] += b[r] * xi;
            for c in 0..3 {
                m[r][c] += b[r] * b[c];
            }
        }
    }
    let coef = solve3(m, v);
    let mut signal = 0.0;
    let mut noise = 0.0;
    let mut cs = (1.0, 0.0);
    for (i, xi) in x.iter().enumerate() {
        cs = basis(i, cs);
        let f = coef[0] * cs.0 + coef[1] * cs.1;
        signal += f * f;
        noise += (xi - f - coef[2]).powi(2);
    }
    ((coef[0].powi(2) + coef[1].powi(2)).sqrt(), signal, noise)
}

fn solve3(mut m: [[f64; 3]; 3], mut v: [f64; 3]) -> [f64; 3] {
    for col in 0..3 {
        let pivot = (col..3)
            .max_by(|a, b| m[*a][col].abs().total_cmp(&m[*b][col].abs()))
            .unwrap();
        m.swap(col, pivot);
        v.swap(col, pivot);
        for r in 0..3 {
            if r != col {
                let k = m[r][col] / m[col][col];
                let pivot_row = m[col];
                for (x, p) in m[r].iter_mut().zip(pivot_row) {
                    *x -= k * p;
                }
                v[r] -= k * v[col];
            }
        }
    }
    [v[0] / m[0][0], v[1] / m[1][1], v[2] / m[2][2]]
}

/// Largest sample-to-sample step (a click shows up as a step far above a tone's own).
pub fn max_step(x: &[f64]) -> f64 {
    x.windows(2)
        .map(|w| (w[1] - w[0]).abs())
        .fold(0.0, f64::max)
}

/// The steepest step a sine of `amplitude` at `freq` makes at `rate`.
pub fn sine_step(amplitude: f64, freq: f64, rate: f64) -> f64 {
    amplitude * 2.0 * std::f64::consts::PI * freq / rate
}

/// Index one past the last sample louder than `threshold`.
pub fn active_len(x: &[f64], threshold: f64) -> usize {
    x.iter()
        .rposition(|v| v.abs() > threshold)
        .map_or(0, |i| i + 1)
}
