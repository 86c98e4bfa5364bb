//! A true-peak limiter: ebur128's 4× oversampled true-peak scanner as the detector, a short
//! look-ahead so the gain is already down when a peak passes, and a configurable release.
//!
//! How it works, per sample frame (channels share one gain, so the stereo image holds):
//! 1. the input goes into a delay line and, in blocks of [`BLOCK`] frames, through the
//!    detector; a block whose true peak exceeds the ceiling asks for `ceiling / peak` on every
//!    frame it covers, widened by [`SPREAD`] frames to cover the interpolator's reach;
//! 2. each request also caps the frames of the look-ahead before it with a linear ramp down
//!    to it, so when a frame leaves the delay line its cap already holds every peak ahead:
//!    the gain follows the cap down (reaching each peak's gain on time) and otherwise
//!    recovers toward 1 with the release time constant.
//!
//! The mix comes out `latency()` frames late (about 2 ms). Everything is allocated in
//! [`TruePeakLimiter::new`].

use std::time::Duration;

use ebur128::{EbuR128, Mode};

use crate::db_to_gain;
use crate::error::{meter, Error};

/// Frames per detector call.
const BLOCK: usize = 8;
/// Frames on each side a block's peak may belong to: ebur128's interpolator has 12 taps per
/// phase, so an inter-sample peak lies within 6 frames of the samples that make it.
const SPREAD: usize = 8;
/// How far ahead the gain starts to fall before a peak.
const LOOKAHEAD: Duration = Duration::from_micros(1500);
/// A block and the two before it whose samples are all below `ceiling / QUIET` cannot make
/// an inter-sample peak above the ceiling (the interpolator's taps sum to less than 2 in
/// magnitude), so the detector skips it: speech and music well below the ceiling cost almost
/// nothing.
const QUIET: f32 = 2.0;
/// Headroom kept below the ceiling for what a moving gain and 16-bit rounding add to the
/// true peak of the output.
const MARGIN_DB: f32 = 0.15;

/// A look-ahead true-peak limiter over an interleaved stream (see the module docs).
#[derive(Debug)]
pub struct TruePeakLimiter {
    channels: usize,
    ceiling: f32,
    detector: EbuR128,
    attack: usize,
    latency: usize,
    /// Delay line of input frames and the most gain each may have, `mask + 1` frames long.
    line: Box<[f32]>,
    cap: Box<[f32]>,
    mask: usize,
    /// Frames pushed so far.
    pushed: u64,
    block: Box<[f32]>,
    in_block: usize,
    block_max: f32,
    /// Consecutive blocks below the quiet threshold, and whether the detector missed some
    /// (its interpolator must be fed the frames before the next block it sees).
    quiet_blocks: u32,
    stale: bool,
    refeed: Box<[f32]>,
    gain: f32,
    release: f32,
    peak_reduction: f32,
}

impl TruePeakLimiter {
    /// A limiter for `rate` Hz, `channels` interleaved channels, never exceeding
    /// `ceiling_dbtp` (between -20 and 0 dBTP) and recovering over `release`.
    pub fn new(
        rate: u32,
        channels: u16,
        ceiling_dbtp: f32,
        release: Duration,
    ) -> Result<Self, Error> {
        if !(-20.0..=0.0).contains(&ceiling_dbtp) {
            return Err(Error::InvalidSetting(format!(
                "true_peak_dbtp {ceiling_dbtp} is outside -20 to 0 dBTP"
            )));
        }
        if release < Duration::from_millis(1) || release > Duration::from_secs(10) {
            return Err(Error::InvalidSetting(format!(
                "limiter release {} ms is outside 1 ms to 10 s",
                release.as_millis()
            )));
        }
        let detector = meter(rate, channels as u32, Mode::TRUE_PEAK)?;
        let ch = channels as usize;
        let attack = ((rate as u64 * LOOKAHEAD.as_micros() as u64 / 1_000_000) as usize).max(1);
        let latency = attack + SPREAD + BLOCK;
        let frames = (latency + 2 * BLOCK + SPREAD + 1).next_power_of_two();
        let release = 1.0 - (-1.0 / (release.as_secs_f32() * rate as f32)).exp();
        Ok(Self {
            channels: ch,
            ceiling: db_to_gain(ceiling_dbtp - MARGIN_DB),
            detector,
            attack,
            latency,
            line: vec![0.0; frames * ch].into_boxed_slice(),
            cap: vec![1.0; frames].into_boxed_slice(),
            mask: frames - 1,
            pushed: 0,
            block: vec![0.0; BLOCK * ch].into_boxed_slice(),
            in_block: 0,
            block_max: 0.0,
            quiet_blocks: 0,
            stale: false,
            refeed: vec![0.0; 2 * BLOCK * ch].into_boxed_slice(),
            gain: 1.0,
            release,
            peak_reduction: 0.0,
        })
    }

    /// Frames the output lags the input.
    pub fn latency(&self) -> usize {
        self.latency
    }

    /// The deepest gain reduction of the last [`process`](Self::process) call, in dB (≤ 0).
    pub fn reduction_db(&self) -> f32 {
        crate::gain_to_db(self.peak_reduction)
    }

    /// Limit `input` (interleaved, full scale 1.0) into `out` (16-bit, same length), which
    /// holds the input of `latency()` frames ago.
    pub fn process(&mut self, input: &[f32], out: &mut [i16]) {
        let ch = self.channels;
        self.peak_reduction = 1.0;
        for (x, y) in input.chunks_exact(ch).zip(out.chunks_exact_mut(ch)) {
            self.push(x);
            self.pop(y);
        }
    }

    fn push(&mut self, x: &[f32]) {
        let ch = self.channels;
        let at = (self.pushed as usize) & self.mask;
        self.cap[at] = 1.0;
        // Element by element: a slice copy of one or two values is a memmove call.
        for (c, v) in x.iter().enumerate() {
            self.line[at * ch + c] = *v;
            self.block[self.in_block * ch + c] = *v;
            self.block_max = self.block_max.max(v.abs());
        }
        self.in_block += 1;
        self.pushed += 1;
        if self.in_block == BLOCK {
            self.detect();
        }
    }

    /// Run the detector over the block just completed and record what it asks for.
    fn detect(&mut self) {
        let quiet = self.block_max <= self.ceiling / QUIET;
        self.block_max = 0.0;
        self.quiet_blocks = if quiet { self.quiet_blocks + 1 } else { 0 };
        if self.quiet_blocks >= 3 {
            self.in_block = 0;
            self.stale = true;
            return;
        }
        if self.stale {
            // Rebuild the interpolator's history from the two blocks before this one; what
            // it reports for them is discarded (they were quiet, see `QUIET`).
            let ch = self.channels;
            let first = self.pushed - BLOCK as u64 * 3;
            for k in 0..2 * BLOCK {
                let at = ((first + k as u64) as usize) & self.mask;
                self.refeed[k * ch..(k + 1) * ch]
                    .copy_from_slice(&self.line[at * ch..(at + 1) * ch]);
            }
            let _ = self.detector.add_frames_f32(&self.refeed);
            self.stale = false;
        }
        let _ = self.detector.add_frames_f32(&self.block);
        let mut peak = 0f64;
        for c in 0..self.channels {
            peak = peak.max(self.detector.prev_true_peak(c as u32).unwrap_or(0.0));
        }
        for s in self.block.iter() {
            peak = peak.max(s.abs() as f64);
        }
        self.in_block = 0;
        if peak <= self.ceiling as f64 {
            return;
        }
        let want = (self.ceiling as f64 / peak) as f32;
        let from = self.pushed.saturating_sub((BLOCK + SPREAD) as u64);
        for i in from..self.pushed {
            let c = &mut self.cap[(i as usize) & self.mask];
            *c = c.min(want);
        }
        // The ramp down to it over the look-ahead (those frames are still in the line:
        // `latency` covers the look-ahead, the spread and a block).
        for d in 1..=self.attack as u64 {
            let Some(i) = from.checked_sub(d) else { break };
            let c = &mut self.cap[(i as usize) & self.mask];
            *c = c.min(want + (1.0 - want) * d as f32 / self.attack as f32);
        }
    }

    fn pop(&mut self, y: &mut [i16]) {
        let ch = self.channels;
        if self.pushed <= self.latency as u64 {
            y.fill(0);
            return;
        }
        let j = self.pushed - 1 - self.latency as u64;
        let target = self.cap[(j as usize) & self.mask];
        self.gain = if target < self.gain {
            target
        } else {
            (self.gain + (1.0 - self.gain) * self.release).min(target)
        };
        self.peak_reduction = self.peak_reduction.min(self.gain);
        let at = (j as usize) & self.mask;
        let limit = self.ceiling;
        for (o, x) in y.iter_mut().zip(&self.line[at * ch..(at + 1) * ch]) {
            let v = (x * self.gain).clamp(-limit, limit) * 32_768.0;
            // Round half away from zero; `as` saturates at the 16-bit range.
            *o = (v + 0.5f32.copysign(v)) as i16;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn true_peak_dbtp(rate: u32, ch: u16, samples: &[i16]) -> f64 {
        let mut m = EbuR128::new(ch as u32, rate, Mode::TRUE_PEAK).unwrap();
        m.add_frames_i16(samples).unwrap();
        let peak = (0..ch as u32)
            .map(|c| m.true_peak(c).unwrap())
            .fold(0.0, f64::max);
        20.0 * peak.log10()
    }

    /// A hot signal whose inter-sample peaks exceed its sample peaks: a quarter-rate tone
    /// at 45° phase (samples at ±0.707 of the wave's crest) plus music-like partials, at
    /// up to +6 dB over full scale.
    fn hot(rate: u32, ch: usize, seconds: f32) -> Vec<f32> {
        let n = (rate as f32 * seconds) as usize;
        let mut v = Vec::with_capacity(n * ch);
        for i in 0..n {
            let t = i as f32 / rate as f32;
            let pi = std::f32::consts::PI;
            // Bursts out of near-silence, so the detector's quiet skipping is crossed often.
            let gate = if t % 0.31 < 0.17 { 1.0 } else { 0.04 };
            let env = gate * (1.0 + (2.0 * pi * 0.5 * t).sin());
            let quarter = (pi / 2.0 * i as f32 + pi / 4.0).sin();
            let music = 0.6 * (2.0 * pi * 220.0 * t).sin() + 0.3 * (2.0 * pi * 3_300.0 * t).sin();
            for c in 0..ch {
                v.push(env * (quarter + music * if c == 0 { 1.0 } else { -1.0 }));
            }
        }
        v
    }

    #[test]
    fn a_hot_mix_stays_under_the_ceiling_in_true_peak() {
        for (rate, ch) in [(24_000, 1u16), (48_000, 2), (8_000, 1)] {
            let input = hot(rate, ch as usize, 3.0);
            let mut lim = TruePeakLimiter::new(rate, ch, -1.0, Duration::from_millis(80)).unwrap();
            let mut out = vec![0i16; input.len()];
            let frame = rate as usize / 50 * ch as usize;
            for (i, o) in input.chunks(frame).zip(out.chunks_mut(frame)) {
                lim.process(i, o);
            }
            let tp = true_peak_dbtp(rate, ch, &out);
            assert!(tp <= -1.0, "{rate} Hz x{ch}: {tp:.3} dBTP");
            assert!(tp > -2.0, "{rate} Hz x{ch}: limited too hard, {tp:.3} dBTP");
        }
    }

    #[test]
    fn a_quiet_signal_passes_unchanged_but_late() {
        let rate = 24_000;
        let input: Vec<f32> = (0..4800).map(|i| 0.25 * (i as f32 * 0.05).sin()).collect();
        let mut lim = TruePeakLimiter::new(rate, 1, -1.0, Duration::from_millis(50)).unwrap();
        let mut out = vec![0i16; input.len()];
        lim.process(&input, &mut out);
        let d = lim.latency();
        assert!(d < 480 && d > 0, "{d}");
        assert!(out[..d].iter().all(|s| *s == 0));
        for (o, x) in out[d..].iter().zip(&input) {
            assert_eq!(*o, (x * 32_768.0).round() as i16);
        }
        assert_eq!(lim.reduction_db(), 0.0);
    }

    #[test]
    fn the_gain_recovers_after_a_peak() {
        let rate = 24_000;
        let mut input = vec![0.3f32; 24_000];
        input[1000] = 1.5;
        let mut lim = TruePeakLimiter::new(rate, 1, -1.0, Duration::from_millis(20)).unwrap();
        let mut out = vec![0i16; input.len()];
        lim.process(&input, &mut out);
        let d = lim.latency();
        assert!(lim.reduction_db() < -4.0);
        // Well after the release the constant level is back.
        assert_eq!(out[20_000], (0.3f32 * 32_768.0).round() as i16);
        // The ramp starts before the peak: look-ahead.
        assert!(out[1000 + d - 10] < out[900 + d]);
    }

    #[test]
    fn settings_are_checked() {
        assert!(TruePeakLimiter::new(24_000, 1, 3.0, Duration::from_millis(50)).is_err());
        assert!(TruePeakLimiter::new(24_000, 1, -1.0, Duration::ZERO).is_err());
    }
}
