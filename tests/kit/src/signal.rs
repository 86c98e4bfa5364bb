//! Test signals and the measurements tests check audio with.
//!
//! Speech is a sum of tones, so what a resampled reply must sound like is known exactly at
//! any rate: a check compares against the formula, not against another resampler.

use std::f64::consts::TAU;

/// Full scale of i16 as a float.
const FS: f64 = 32_768.0;

/// The tones of one channel of the synthetic speech: (frequency Hz, amplitude of full scale).
/// Peaks stay at 0.3 of full scale, so speech plus background (0.125) never reaches the
/// limiter's knee (0.9) and mixing is exact addition.
fn tones(channel: usize) -> &'static [(f64, f64)] {
    if channel == 0 {
        &[(440.0, 0.2), (1250.0, 0.1)]
    } else {
        &[(660.0, 0.25), (1250.0, 0.05)]
    }
}

/// The speech of reply `reply` at time `t` seconds into it, channel `channel`, in i16 units
/// (unquantised). Each reply starts at a different phase, so replies differ.
pub fn speech_value(reply: usize, channel: usize, t: f64) -> f64 {
    let t = t + 0.37 * reply as f64;
    tones(channel)
        .iter()
        .map(|(f, a)| a * FS * (TAU * f * t).sin())
        .sum()
}

/// `seconds` of reply `reply`'s speech at `rate` with `channels` channels, quantised to i16.
/// A mono signal carries channel 0's tones.
pub fn speech(reply: usize, rate: u32, channels: u16, seconds: f64) -> Vec<i16> {
    let n = (seconds * rate as f64).round() as usize;
    let mut out = Vec::with_capacity(n * channels as usize);
    for i in 0..n {
        let t = i as f64 / rate as f64;
        for c in 0..channels as usize {
            out.push(speech_value(reply, c, t).round() as i16);
        }
    }
    out
}

/// Level of `samples` in dBFS (RMS; a full-scale sine is -3 dBFS). Silence gives -200.
pub fn rms_db(samples: &[i16]) -> f64 {
    if samples.is_empty() {
        return -200.0;
    }
    let energy: f64 = samples.iter().map(|&s| (s as f64) * (s as f64)).sum();
    let rms = (energy / samples.len() as f64).sqrt() / FS;
    if rms <= 0.0 {
        -200.0
    } else {
        20.0 * rms.log10()
    }
}

/// Level of float samples (full scale 1.0) in dBFS (RMS). Silence gives -200.
pub fn rms_db_f64(samples: &[f64]) -> f64 {
    let energy: f64 = samples.iter().map(|s| s * s).sum();
    let rms = (energy / samples.len().max(1) as f64).sqrt();
    if rms <= 0.0 {
        -200.0
    } else {
        20.0 * rms.log10()
    }
}

/// Normalised correlation of two signals over their common length, at lag 0: 1 for the
/// same shape at any level, -1 for it inverted, 0 where either is silent.
pub fn correlation<T: Copy + Into<f64>>(a: &[T], b: &[T]) -> f64 {
    let (mut ab, mut aa, mut bb) = (0.0f64, 0.0f64, 0.0f64);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y): (f64, f64) = (x.into(), y.into());
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    if aa == 0.0 || bb == 0.0 {
        0.0
    } else {
        ab / (aa * bb).sqrt()
    }
}

/// How well `got` (interleaved, `channels` wide, at `rate`) matches reply `reply`'s speech
/// as the formula gives it (`mono_source`: every channel carries channel 0's tones), over
/// the interior (the first and last `edge` samples per channel are skipped: band-limited
/// resampling rings at a hard start and stop).
///
/// The delay is fitted first (whole samples up to `max_lag`, then to a twentieth of a
/// sample: a resampler may delay by a fraction of a sample, which is inaudible and is
/// reported as the lag rather than counted as noise). Returns (SNR in dB at the best
/// delay, that delay in samples: positive = `got` is late, level difference in dB).
pub fn snr_vs_formula(
    got: &[i16],
    rate: u32,
    channels: u16,
    reply: usize,
    mono_source: bool,
    edge: usize,
    max_lag: i64,
) -> (f64, f64, f64) {
    let ch = channels as usize;
    let frames = got.len() / ch;
    if frames <= 2 * edge + 1 {
        return (f64::NEG_INFINITY, 0.0, 0.0);
    }
    // The search looks at every `stride`-th sample; the final figure at all of them.
    let at = |lag: f64, stride: usize| {
        let (mut signal, mut noise, mut got_energy) = (0.0f64, 0.0f64, 0.0f64);
        for i in (edge..frames - edge).step_by(stride) {
            let t = (i as f64 - lag) / rate as f64;
            for c in 0..ch {
                let x = speech_value(reply, if mono_source { 0 } else { c }, t);
                let y = got[i * ch + c] as f64;
                signal += x * x;
                noise += (y - x) * (y - x);
                got_energy += y * y;
            }
        }
        (
            10.0 * (signal / noise.max(1e-9)).log10(),
            10.0 * (got_energy / signal.max(1e-9)).log10(),
        )
    };
    let mut best = (f64::NEG_INFINITY, 0.0);
    for lag in -max_lag..=max_lag {
        let (snr, _) = at(lag as f64, 7);
        if snr > best.0 {
            best = (snr, lag as f64);
        }
    }
    // Refine to a twentieth of a sample around the best whole lag: halve the step.
    let mut lag = best.1;
    let mut step = 0.5;
    while step >= 0.05 {
        let here = at(lag, 3).0;
        let (up, down) = (at(lag + step, 3).0, at(lag - step, 3).0);
        if up > here && up >= down {
            lag += step;
        } else if down > here {
            lag -= step;
        }
        step /= 2.0;
    }
    let (snr, level) = at(lag, 1);
    (snr, lag, level)
}

/// Level (dBFS) and purity of a tone at `freq` in `samples` (interleaved, channel 0 only):
/// the SNR of the best-fitting sinusoid at that frequency against everything else.
pub fn tone_fit(samples: &[i16], channels: u16, rate: u32, freq: f64) -> (f64, f64) {
    let ch = channels as usize;
    let x: Vec<f64> = samples.iter().step_by(ch).map(|&s| s as f64).collect();
    if x.is_empty() {
        return (-200.0, 0.0);
    }
    let w = TAU * freq / rate as f64;
    let (mut ss, mut sc, mut cc, mut ys, mut yc) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for (i, y) in x.iter().enumerate() {
        let (s, c) = (w * i as f64).sin_cos();
        ss += s * s;
        sc += s * c;
        cc += c * c;
        ys += y * s;
        yc += y * c;
    }
    // Least squares for y ≈ a·sin + b·cos.
    let det = ss * cc - sc * sc;
    let a = (ys * cc - yc * sc) / det;
    let b = (yc * ss - ys * sc) / det;
    let (mut fit, mut residual) = (0.0, 0.0);
    for (i, y) in x.iter().enumerate() {
        let (s, c) = (w * i as f64).sin_cos();
        let f = a * s + b * c;
        fit += f * f;
        residual += (y - f) * (y - f);
    }
    let level = 10.0 * (fit / x.len() as f64 / (FS * FS)).max(1e-20).log10();
    (level, 10.0 * (fit / residual.max(1e-9)).log10())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quantised_formula_matches_itself_at_lag_zero() {
        let s = speech(1, 24_000, 1, 0.2);
        let (snr, lag, level) = snr_vs_formula(&s, 24_000, 1, 1, true, 10, 4);
        assert_eq!(lag, 0.0);
        assert!(snr > 70.0, "quantisation alone: {snr}");
        assert!(level.abs() < 0.01);
        // A different reply is a different signal.
        let (snr, _, _) = snr_vs_formula(&s, 24_000, 1, 2, true, 10, 4);
        assert!(snr < 3.0, "{snr}");
    }

    #[test]
    fn a_delayed_signal_is_found_at_its_lag() {
        let s = speech(0, 16_000, 2, 0.2);
        let mut late = vec![0i16; 6];
        late.extend_from_slice(&s);
        let (snr, lag, _) = snr_vs_formula(&late, 16_000, 2, 0, false, 20, 5);
        assert_eq!(lag, 3.0);
        assert!(snr > 60.0);
        // Half a sample late: found to the twentieth, not counted as noise.
        let half: Vec<i16> = (0..3200)
            .flat_map(|i| {
                let t = (i as f64 - 0.5) / 16_000.0;
                [
                    speech_value(0, 0, t).round() as i16,
                    speech_value(0, 1, t).round() as i16,
                ]
            })
            .collect();
        let (snr, lag, _) = snr_vs_formula(&half, 16_000, 2, 0, false, 20, 5);
        assert!((lag - 0.5).abs() < 0.05 && snr > 50.0, "{lag} {snr}");
    }

    #[test]
    fn tone_fit_reads_level_and_purity() {
        let tone: Vec<i16> = (0..4800)
            .map(|i| (0.5 * FS * (TAU * 1000.0 * i as f64 / 48_000.0).sin()).round() as i16)
            .collect();
        let (level, snr) = tone_fit(&tone, 1, 48_000, 1000.0);
        assert!((level + 9.03).abs() < 0.05, "{level}");
        assert!(snr > 80.0);
        assert!(rms_db(&tone) > -9.1 && rms_db(&tone) < -8.9);
        assert_eq!(rms_db(&[0, 0]), -200.0);
    }
}
