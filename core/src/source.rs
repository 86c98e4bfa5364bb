//! The background bus: what the track mixes under speech, and how it is mixed.
//!
//! A [`Source`] is called once per frame on the frame path to add its samples to the
//! bus. Implementations must be real-time safe: no allocation, no blocking lock, no I/O.
//! Slow work (decoding, resampling) runs elsewhere and hands samples over through a
//! bounded lock-free queue; `voxpace-sources` does exactly that.

use crate::Format;

/// What the mixer tells a [`Source`] about the frame being filled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BusContext {
    /// The track's format; `out` holds one frame of it.
    pub format: Format,
    /// The frame's presentation timestamp in samples.
    pub pts: u64,
    /// True when this frame carries agent speech (the cue for ducking).
    pub speech_active: bool,
}

/// A background signal mixed under speech (music, ambience, one-shot clips).
pub trait Source: Send + 'static {
    /// Write one frame of background audio into `out` (interleaved, in `cx.format`,
    /// exactly `cx.format.frame_len()` values, zeroed before the call). Leaving it untouched
    /// means silence. Called on the frame path: must not block, allocate or do I/O.
    fn fill(&mut self, out: &mut [i16], cx: &BusContext);
}

impl<F> Source for F
where
    F: FnMut(&mut [i16], &BusContext) + Send + 'static,
{
    fn fill(&mut self, out: &mut [i16], cx: &BusContext) {
        self(out, cx)
    }
}

/// How speech and background are summed when the sum leaves the 16-bit range.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Limiter {
    /// Sum in 32 bits and clamp to the 16-bit range (never wraps around).
    Clip,
    /// Identity below 90 % of full scale, then a smooth knee that approaches but never
    /// reaches full scale: loud speech over loud music is compressed, not flattened.
    #[default]
    SoftKnee,
    /// Sum in floating point and limit with look-ahead so that the output never exceeds
    /// `ceiling_dbtp` measured with 4× oversampling (ITU-R BS.1770 true peak, ebur128's
    /// scanner as the detector). Runs on every frame, speech alone too; the output comes
    /// out [`crate::Track::mix_delay`] samples (about 2 ms) late.
    TruePeak {
        /// The ceiling in dBTP (-20 to 0; -1 is common).
        ceiling_dbtp: f32,
        /// How fast the gain recovers after a peak (1 ms to 10 s).
        release: std::time::Duration,
    },
}

const KNEE: i32 = 29_491; // 0.9 of full scale
const HEADROOM: i32 = i16::MAX as i32 - KNEE;

impl Limiter {
    /// Add `bus` into `out` sample by sample, limited to the 16-bit range. The true-peak
    /// limiter has state and runs in the track; here it sums as [`Limiter::Clip`] does.
    pub fn mix_into(self, out: &mut [i16], bus: &[i16]) {
        match self {
            Limiter::Clip | Limiter::TruePeak { .. } => {
                for (o, b) in out.iter_mut().zip(bus) {
                    *o = o.saturating_add(*b);
                }
            }
            Limiter::SoftKnee => {
                // Fast path in 16-bit lanes (saturating add, min and max vectorise on baseline
                // x86-64): if no saturated sum reaches the knee, no sum overflowed and the
                // plain sum is exact. Only a frame with a loud peak goes through the knee.
                let (mut hi, mut lo) = (0i16, 0i16);
                for (o, b) in out.iter().zip(bus) {
                    let sum = o.saturating_add(*b);
                    hi = hi.max(sum);
                    lo = lo.min(sum);
                }
                if hi as i32 <= KNEE && lo as i32 >= -KNEE {
                    for (o, b) in out.iter_mut().zip(bus) {
                        *o = o.wrapping_add(*b);
                    }
                } else {
                    for (o, b) in out.iter_mut().zip(bus) {
                        *o = soft_knee(*o as i32 + *b as i32);
                    }
                }
            }
        }
    }
}

/// `x` unchanged up to the knee; above it, `knee + h·e/(h+e)` for an excess `e`, which
/// is continuous with slope 1 at the knee and stays below full scale for any `e`.
#[inline]
fn soft_knee(x: i32) -> i16 {
    let magnitude = x.abs();
    if magnitude <= KNEE {
        return x as i16;
    }
    let excess = magnitude - KNEE;
    let limited = KNEE + (HEADROOM * excess) / (HEADROOM + excess);
    (limited * x.signum()) as i16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_never_wraps() {
        let mut out = vec![30_000i16, -30_000, 100];
        Limiter::Clip.mix_into(&mut out, &[30_000, -30_000, 23]);
        assert_eq!(out, vec![i16::MAX, i16::MIN, 123]);
    }

    #[test]
    fn soft_knee_mix_is_the_exact_sum_below_the_knee_and_the_knee_above() {
        let speech: Vec<i16> = (0..480)
            .map(|i| (i * 37 % 20_000) as i16 - 10_000)
            .collect();
        let bus: Vec<i16> = (0..480).map(|i| (i * 53 % 18_000) as i16 - 9_000).collect();
        let mut quiet = speech.clone();
        Limiter::SoftKnee.mix_into(&mut quiet, &bus);
        let exact: Vec<i16> = speech.iter().zip(&bus).map(|(s, b)| s + b).collect();
        assert_eq!(quiet, exact);
        let mut loud_speech = speech.clone();
        loud_speech[100] = 32_000; // one loud sample sends the frame through the knee
        let mut loud = loud_speech.clone();
        Limiter::SoftKnee.mix_into(&mut loud, &bus);
        for i in 0..480 {
            assert_eq!(loud[i], soft_knee(loud_speech[i] as i32 + bus[i] as i32));
        }
    }

    #[test]
    fn soft_knee_is_identity_below_the_knee_and_monotonic_above() {
        for x in -KNEE..=KNEE {
            assert_eq!(soft_knee(x) as i32, x);
        }
        let mut last = soft_knee(KNEE);
        for x in (KNEE + 1)..=(2 * i16::MAX as i32) {
            let y = soft_knee(x);
            assert!(y >= last && y < i16::MAX, "x={x} y={y}");
            assert_eq!(soft_knee(-x), -y);
            last = y;
        }
    }
}
