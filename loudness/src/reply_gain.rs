//! The streaming gain law of one reply.
//!
//! The reply is measured as it arrives, in steps of at most 100 ms on a grid from the
//! reply's first sample; after each step the gain for that step's samples is chosen from
//! what has been measured so far (that step included), so the gain never lags the audio it
//! applies to. The estimate is the reply's loudness so far: over its first 400 ms of sound
//! the (partial) momentary loudness, from then on the gated integrated loudness (which over
//! a reply's first seconds is its short-term loudness, gated so pauses do not pull it
//! down). Three bounds keep it calm:
//!
//! - the gain stays at 0 dB until 100 ms of sound were measured; that first estimate sets
//!   it at once (ramped across the step);
//! - for the first 400 ms of sound it stays within ±6 dB, because a few hundred ms of speech
//!   say little about the whole reply, and a large early move would be undone (pumping);
//! - it moves at most 12 dB per second, linearly across each step, and never beyond
//!   [`Normalise::max_gain_db`] of boost (near-silence is not made into noise) or 30 dB of
//!   cut.
//!
//! A reply of 3 s or more therefore settles within a fraction of a second and its integrated
//! loudness lands within ±1 LU of the target (`runtime/tests/loudness.rs` measures it).

use ebur128::{EbuR128, Mode};

use crate::db_to_gain;
use crate::error::{meter, Error};

/// The analysis step: BS.1770's gating blocks advance by 100 ms too.
const STEP_MS: u32 = 100;
/// Sound measured before the first decision: less says too little (a syllable's onset).
const FIRST_MS: u64 = 100;
/// How long after the first sound the gain stays within [`START_RANGE_DB`].
const START_MS: u64 = 400;
const START_RANGE_DB: f32 = 6.0;
/// The fastest the gain moves, in dB per second.
const SLEW_DB_PER_S: f32 = 12.0;
const MAX_CUT_DB: f32 = -30.0;
/// A step quieter than BS.1770's absolute gate is silence.
const SILENCE_LUFS: f64 = -70.0;
/// Above 90 % of full scale a boosted sample goes through a soft knee instead of clipping.
const KNEE: f32 = 0.9 * 32_767.0;
const HEADROOM: f32 = 32_767.0 - KNEE;

/// What a reply is normalised to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Normalise {
    /// The integrated loudness every reply should have, in LUFS (-16 is common for speech).
    pub target_lufs: f32,
    /// The most boost, in dB (default 12): a near-silent reply is not made into noise.
    pub max_gain_db: f32,
}

impl Normalise {
    /// Normalise to `target_lufs` with the default boost cap of 12 dB.
    pub fn to(target_lufs: f32) -> Self {
        Self {
            target_lufs,
            max_gain_db: 12.0,
        }
    }

    /// Check the ranges: a target between -70 and 0 LUFS, a boost cap between 0 and 40 dB.
    pub fn validate(&self) -> Result<(), Error> {
        if !(-70.0..=0.0).contains(&self.target_lufs) {
            return Err(Error::InvalidSetting(format!(
                "target_lufs {} is outside -70 to 0 LUFS",
                self.target_lufs
            )));
        }
        if !(0.0..=40.0).contains(&self.max_gain_db) {
            return Err(Error::InvalidSetting(format!(
                "max_gain_db {} is outside 0 to 40 dB",
                self.max_gain_db
            )));
        }
        Ok(())
    }
}

/// The gain of one reply, applied to its samples as they are pushed (see the module docs).
#[derive(Debug)]
pub struct ReplyGain {
    settings: Normalise,
    meter: EbuR128,
    rate: u32,
    channels: usize,
    /// Frames per analysis step, and how far into the current one the reply is.
    step: usize,
    into_step: usize,
    /// Frames measured, and the frame at which sound began.
    frames: u64,
    sound_from: Option<u64>,
    decided: bool,
    want_db: f32,
    gain_db: f32,
    /// The integrated loudness so far, refreshed once per completed step.
    measured: Option<f32>,
}

impl ReplyGain {
    /// A reply in a stream of `rate` Hz and `channels` interleaved channels.
    pub fn new(rate: u32, channels: u16, settings: Normalise) -> Result<Self, Error> {
        settings.validate()?;
        let meter = meter(rate, channels as u32, Mode::I | Mode::HISTOGRAM)?;
        Ok(Self {
            settings,
            meter,
            rate,
            channels: channels as usize,
            step: (rate * STEP_MS / 1000) as usize,
            into_step: 0,
            frames: 0,
            sound_from: None,
            decided: false,
            want_db: 0.0,
            gain_db: 0.0,
            measured: None,
        })
    }

    /// Measure `samples` (interleaved, whole frames) and apply the gain to them in place.
    pub fn process(&mut self, samples: &mut [i16]) {
        let ch = self.channels;
        let whole = samples.len() / ch * ch;
        let mut rest = &mut samples[..whole];
        while !rest.is_empty() {
            let frames = (rest.len() / ch).min(self.step - self.into_step);
            let (piece, tail) = rest.split_at_mut(frames * ch);
            rest = tail;
            let _ = self.meter.add_frames_i16(piece);
            self.frames += frames as u64;
            self.into_step = (self.into_step + frames) % self.step;
            if self.into_step == 0 {
                self.measured = self
                    .meter
                    .loudness_global()
                    .ok()
                    .filter(|l| l.is_finite())
                    .map(|l| l as f32);
            }
            let from = self.gain_db;
            let to = self.next_gain(frames);
            apply_ramp(piece, ch, from, to);
            self.gain_db = to;
        }
    }

    /// The gain after a step of `frames` frames just measured.
    fn next_gain(&mut self, frames: usize) -> f32 {
        let step_ms = (frames as u64 * 1000 / self.rate as u64).max(1) as u32;
        let sound_from = match self.sound_from {
            Some(at) => at,
            None => {
                let step = self.meter.loudness_window(step_ms).unwrap_or(f64::MIN);
                if step <= SILENCE_LUFS {
                    return self.gain_db;
                }
                self.frames - frames as u64
            }
        };
        self.sound_from = Some(sound_from);
        let heard_ms = (self.frames - sound_from) * 1000 / self.rate as u64;
        if heard_ms < FIRST_MS {
            return self.gain_db;
        }
        let first = !self.decided;
        // A new estimate at the first decision and then once per completed step (pushes
        // within a step only move the gain toward the last one).
        if first || self.into_step == 0 {
            let estimate = if heard_ms < START_MS {
                self.meter.loudness_window(heard_ms as u32)
            } else {
                self.measured.map(f64::from).ok_or(ebur128::Error::NoMem)
            };
            let Some(estimate) = estimate.ok().filter(|l| l.is_finite()) else {
                return self.gain_db;
            };
            let mut want = (self.settings.target_lufs - estimate as f32)
                .clamp(MAX_CUT_DB, self.settings.max_gain_db);
            if heard_ms < START_MS {
                want = want.clamp(-START_RANGE_DB, START_RANGE_DB);
            }
            self.want_db = want;
            self.decided = true;
        }
        if first {
            return self.want_db;
        }
        let most = SLEW_DB_PER_S * frames as f32 / self.rate as f32;
        self.gain_db + (self.want_db - self.gain_db).clamp(-most, most)
    }

    /// The gain now, in dB.
    pub fn gain_db(&self) -> f32 {
        self.gain_db
    }

    /// The reply's integrated loudness as received (before the gain), in LUFS, as of the
    /// last completed 100 ms step; `None` until 400 ms of sound were measured.
    pub fn measured_lufs(&self) -> Option<f32> {
        self.measured
    }
}

/// Multiply `piece` by a gain moving linearly (in amplitude) from `from_db` to `to_db`.
fn apply_ramp(piece: &mut [i16], ch: usize, from_db: f32, to_db: f32) {
    let (a, b) = (db_to_gain(from_db), db_to_gain(to_db));
    let frames = piece.len() / ch;
    let unity = from_db == 0.0 && to_db == 0.0;
    if unity {
        return;
    }
    for (k, frame) in piece.chunks_exact_mut(ch).enumerate() {
        let g = a + (b - a) * (k + 1) as f32 / frames as f32;
        for s in frame {
            *s = knee(*s as f32 * g);
        }
    }
}

/// `x` up to 90 % of full scale; above, `knee + h·e/(h+e)`, which approaches but never
/// reaches full scale.
fn knee(x: f32) -> i16 {
    let m = x.abs();
    let y = if m <= KNEE {
        m
    } else {
        let e = m - KNEE;
        KNEE + HEADROOM * e / (HEADROOM + e)
    };
    (y.copysign(x)).round() as i16
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Speech-like test signal: a 150 Hz harmonic complex, syllables at ~4 Hz, pauses.
    pub(crate) fn speechlike(rate: u32, seconds: f32, level: f32) -> Vec<i16> {
        let n = (rate as f32 * seconds) as usize;
        (0..n)
            .map(|i| {
                let t = i as f32 / rate as f32;
                let f0 = 150.0 + 20.0 * (2.0 * std::f32::consts::PI * 0.7 * t).sin();
                let mut v = 0.0;
                for h in 1..12 {
                    v += (2.0 * std::f32::consts::PI * f0 * h as f32 * t).sin() / h as f32;
                }
                let syllable = (std::f32::consts::PI * 4.0 * t).sin().abs();
                let pause = if (t % 2.0) > 1.7 { 0.0 } else { 1.0 };
                (v * syllable * pause * level * 12_000.0) as i16
            })
            .collect()
    }

    fn integrated(rate: u32, samples: &[i16]) -> f64 {
        let mut m = EbuR128::new(1, rate, Mode::I).unwrap();
        m.add_frames_i16(samples).unwrap();
        m.loudness_global().unwrap()
    }

    fn normalised(rate: u32, mut samples: Vec<i16>, chunk: usize, target: f32) -> Vec<i16> {
        let mut g = ReplyGain::new(rate, 1, Normalise::to(target)).unwrap();
        for c in samples.chunks_mut(chunk) {
            g.process(c);
        }
        samples
    }

    #[test]
    fn quiet_and_loud_replies_land_on_the_target() {
        let rate = 24_000;
        for level in [0.3f32, 1.0, 1.5] {
            let input = speechlike(rate, 4.0, level);
            let before = integrated(rate, &input);
            for chunk in [480, 2400, 96_000] {
                let out = normalised(rate, input.clone(), chunk, -16.0);
                let after = integrated(rate, &out);
                eprintln!("level {level} ({before:.1} LUFS) chunk {chunk}: {after:.2} LUFS");
                assert!(
                    (after + 16.0).abs() <= 1.0,
                    "level {level} ({before:.1} LUFS) chunk {chunk}: {after:.2} LUFS"
                );
            }
        }
    }

    #[test]
    fn the_start_is_bounded_and_the_boost_capped() {
        let rate = 16_000;
        let input = speechlike(rate, 3.0, 0.05); // about -40 LUFS: needs +24 dB
        let mut g = ReplyGain::new(rate, 1, Normalise::to(-16.0)).unwrap();
        let mut gains = Vec::new();
        for c in input.clone().chunks_mut(320) {
            g.process(c);
            gains.push(g.gain_db());
        }
        assert!(
            gains[..10].iter().all(|d| d.abs() <= START_RANGE_DB),
            "{gains:?}"
        );
        assert!(gains.iter().all(|d| *d <= 12.0), "{gains:?}");
        assert_eq!(*gains.last().unwrap(), 12.0);
        // One jump at the first decision (100 ms of sound), then at most the slew rate.
        let first = gains.iter().position(|g| *g != 0.0).unwrap();
        assert_eq!(first, 4, "{gains:?}");
        let steps = gains[first..].windows(2).map(|w| (w[1] - w[0]).abs());
        assert!(steps.clone().all(|s| s <= SLEW_DB_PER_S * 0.02 + 1e-4));
        assert!(g.measured_lufs().unwrap() < -35.0);
    }

    #[test]
    fn silence_is_left_alone_and_leading_silence_does_not_count() {
        let rate = 24_000;
        let mut silence = vec![0i16; 48_000];
        let mut g = ReplyGain::new(rate, 1, Normalise::to(-16.0)).unwrap();
        g.process(&mut silence);
        assert!(silence.iter().all(|s| *s == 0));
        assert_eq!(g.gain_db(), 0.0);
        assert_eq!(g.measured_lufs(), None);
        let mut input = vec![0i16; 12_000];
        input.extend(speechlike(rate, 4.0, 0.4));
        let out = normalised(rate, input, 480, -16.0);
        let after = integrated(rate, &out);
        assert!((after + 16.0).abs() <= 1.0, "{after}");
    }

    #[test]
    fn settings_are_checked() {
        assert!(ReplyGain::new(24_000, 1, Normalise::to(3.0)).is_err());
        let wild = Normalise {
            target_lufs: -16.0,
            max_gain_db: 90.0,
        };
        assert!(matches!(
            ReplyGain::new(24_000, 1, wild),
            Err(Error::InvalidSetting(s)) if s.contains("max_gain_db")
        ));
    }
}
