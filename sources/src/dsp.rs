//! Per-sample gain shapes used on the frame path: ramps, equal-power fades, the ducker.
//! Everything here is plain arithmetic on preallocated state: no allocation, no locks.

use std::time::Duration;

use crate::Error;

/// Decibels to a linear amplitude factor.
pub(crate) fn db_to_gain(db: f32) -> f32 {
    10f32.powf(db / 20.0)
}

/// Samples per channel in `d` at `rate` (rounded to nearest).
pub(crate) fn samples(d: Duration, rate: u32) -> u64 {
    ((d.as_nanos() * rate as u128 + 500_000_000) / 1_000_000_000) as u64
}

/// A value moving linearly to a target over a set number of samples.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ramp {
    value: f32,
    target: f32,
    step: f32,
    /// Samples left until `target`; counting them (rather than comparing floats) makes the
    /// ramp land exactly on time.
    remaining: u64,
}

impl Ramp {
    pub(crate) fn new(value: f32) -> Self {
        Self {
            value,
            target: value,
            step: 0.0,
            remaining: 0,
        }
    }

    /// Move to `target` in `over` samples (at once when 0).
    pub(crate) fn to(&mut self, target: f32, over: u64) {
        self.target = target;
        self.remaining = over;
        if over == 0 {
            self.value = target;
            self.step = 0.0;
        } else {
            self.step = (target - self.value) / over as f32;
        }
    }

    #[inline]
    pub(crate) fn next(&mut self) -> f32 {
        if self.remaining > 0 {
            self.remaining -= 1;
            self.value = if self.remaining == 0 {
                self.target
            } else {
                self.value + self.step
            };
        }
        self.value
    }

    pub(crate) fn value(&self) -> f32 {
        self.value
    }

    pub(crate) fn target(&self) -> f32 {
        self.target
    }
}

/// A fade whose position moves linearly from 0 (silent) to 1 (full) and whose gain follows
/// `sin(position·π/2)`: two fades crossing (one in, one out) keep the summed power of
/// uncorrelated music constant, so a crossfade has no dip and no bump.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fade(Ramp);

impl Fade {
    pub(crate) fn silent() -> Self {
        Self(Ramp::new(0.0))
    }

    pub(crate) fn to(&mut self, target: f32, over: u64) {
        self.0.to(target, over);
    }

    #[inline]
    pub(crate) fn next(&mut self) -> f32 {
        let p = self.0.next();
        if p >= 1.0 {
            1.0
        } else if p <= 0.0 {
            0.0
        } else {
            (p * std::f32::consts::FRAC_PI_2).sin()
        }
    }

    pub(crate) fn is_silent(&self) -> bool {
        self.0.value() <= 0.0 && self.0.target() <= 0.0
    }
}

/// How the background gets out of the way of speech.
///
/// While a frame carries speech the ducked sources' gain falls by `depth_db`, reaching the
/// full depth `attack` after speech starts; once speech stops the gain stays down for
/// `hold` (so the gaps between words and between streamed chunks do not make the music
/// pump), then comes back up over `release`. Both ramps are linear in decibels, which is
/// how a listener hears level, so the change sounds even rather than sudden at one end.
///
/// The default (-15 dB, 60 ms attack, 300 ms hold, 600 ms release) keeps music audible
/// under speech without competing with it; `depth_db = 0` disables ducking.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ducking {
    /// How far the gain drops while speaking, in dB (positive; 0 = no ducking).
    pub depth_db: f32,
    /// Time to reach the full depth once speech starts.
    pub attack: Duration,
    /// Time the gain stays down after speech stops.
    pub hold: Duration,
    /// Time to recover the full level after the hold.
    pub release: Duration,
}

impl Default for Ducking {
    fn default() -> Self {
        Self {
            depth_db: 15.0,
            attack: Duration::from_millis(60),
            hold: Duration::from_millis(300),
            release: Duration::from_millis(600),
        }
    }
}

impl Ducking {
    /// No ducking at all.
    pub const OFF: Ducking = Ducking {
        depth_db: 0.0,
        attack: Duration::ZERO,
        hold: Duration::ZERO,
        release: Duration::ZERO,
    };

    pub(crate) fn validate(&self) -> Result<(), Error> {
        if !self.depth_db.is_finite() || !(0.0..=96.0).contains(&self.depth_db) {
            return Err(Error::InvalidArgument(format!(
                "ducking depth {} dB is not in 0..=96 dB",
                self.depth_db
            )));
        }
        Ok(())
    }
}

/// The ducking gain computer: one gain per sample, shared by every ducked source.
#[derive(Debug)]
pub(crate) struct Ducker {
    rate: u32,
    params: Ducking,
    /// Current attenuation in dB (0 = none, `-depth` = fully ducked).
    level_db: f32,
    hold_left: u64,
    hold: u64,
    down_step: f32,
    up_step: f32,
    gain: f32,
}

impl Ducker {
    pub(crate) fn new(rate: u32, params: Ducking) -> Self {
        let mut this = Self {
            rate,
            params,
            level_db: 0.0,
            hold_left: 0,
            hold: 0,
            down_step: 0.0,
            up_step: 0.0,
            gain: 1.0,
        };
        this.set(params);
        this
    }

    pub(crate) fn set(&mut self, params: Ducking) {
        self.params = params;
        let depth = params.depth_db.max(0.0);
        let per = |d: Duration| {
            let n = samples(d, self.rate);
            if n == 0 {
                f32::INFINITY
            } else {
                depth / n as f32
            }
        };
        self.down_step = per(params.attack);
        self.up_step = per(params.release);
        self.hold = samples(params.hold, self.rate);
    }

    /// Current attenuation in dB (0 or negative).
    pub(crate) fn level_db(&self) -> f32 {
        self.level_db
    }

    /// Fill `gains` (one per sample of the frame) for a frame with or without speech.
    pub(crate) fn render(&mut self, speech: bool, gains: &mut [f32]) {
        let floor = -self.params.depth_db.max(0.0);
        for g in gains {
            let target = if speech {
                self.hold_left = self.hold;
                floor
            } else if self.hold_left > 0 {
                self.hold_left -= 1;
                floor
            } else {
                0.0
            };
            let before = self.level_db;
            if self.level_db > target {
                self.level_db = (self.level_db - self.down_step).max(target);
            } else if self.level_db < target {
                self.level_db = (self.level_db + self.up_step).min(target);
            }
            if self.level_db != before {
                self.gain = db_to_gain(self.level_db);
            }
            *g = self.gain;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ducker_reaches_depth_after_attack_and_recovers_after_hold_and_release() {
        let p = Ducking {
            depth_db: 12.0,
            attack: Duration::from_millis(50),
            hold: Duration::from_millis(100),
            release: Duration::from_millis(200),
        };
        let mut d = Ducker::new(1000, p);
        let mut g = vec![0.0; 50];
        d.render(true, &mut g);
        assert!((g[49] - db_to_gain(-12.0)).abs() < 1e-4);
        assert!(g[24] > g[49] && g[24] < 1.0);
        let mut g = vec![0.0; 100];
        d.render(false, &mut g);
        assert!(
            g.iter().all(|x| (*x - db_to_gain(-12.0)).abs() < 1e-4),
            "hold"
        );
        let mut g = vec![0.0; 200];
        d.render(false, &mut g);
        assert!((g[99] - db_to_gain(-6.0)).abs() < 1e-3, "half-way in dB");
        assert_eq!(g[199], 1.0);
    }

    #[test]
    fn equal_power_fade_crossing_keeps_power() {
        let (mut a, mut b) = (Fade::silent(), Fade::silent());
        a.to(1.0, 0);
        a.next();
        a.to(0.0, 100);
        b.to(1.0, 100);
        for _ in 0..100 {
            let (x, y) = (a.next(), b.next());
            assert!((x * x + y * y - 1.0).abs() < 1e-4);
        }
        assert!(a.is_silent());
    }
}
