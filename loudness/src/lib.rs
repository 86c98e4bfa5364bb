//! # voxpace-loudness: every reply at one perceived level, and no overs
//!
//! Loudness for voxpace tracks, measured as ITU-R BS.1770 / EBU R128 define it by the
//! [`ebur128`] crate (K-weighting, gating and 4× oversampled true peak all come from it;
//! nothing here is a hand-written filter). Three parts, each allocation-free once built:
//!
//! - [`ReplyGain`]: the streaming gain of one reply. It measures the reply as its audio
//!   arrives (on the producer's side, off the frame clock) and moves a gain so that the
//!   reply's integrated loudness settles at [`Normalise::target_lufs`]; the first 400 ms are
//!   bounded so the start does not pump, and boost is capped.
//! - [`TruePeakLimiter`]: a look-ahead limiter whose detector is ebur128's 4× oversampled
//!   true-peak scanner, so the output never exceeds its ceiling in dBTP.
//! - [`Meter`]: momentary or integrated loudness of any stream (the output's meter, a
//!   background file's level).
//! - [`Error`]: the one way building these can fail (a format ebur128 refuses), and
//!   [`ErrorKind`], the kind every voxpace crate's errors say (defined here, at the bottom,
//!   and re-exported by core).
//!
//! This crate sits below `voxpace-core` (core uses it on its frame and producer paths), so
//! it knows nothing of tracks; core maps its errors to its own invalid-configuration error.

mod error;
mod limiter;
mod meter;
mod reply_gain;

pub use error::{Error, ErrorKind};
pub use limiter::TruePeakLimiter;
pub use meter::Meter;
pub use reply_gain::{Normalise, ReplyGain};

/// Decibels to a linear amplitude factor.
pub fn db_to_gain(db: f32) -> f32 {
    10f32.powf(db / 20.0)
}

/// A linear amplitude factor to decibels.
pub fn gain_to_db(gain: f32) -> f32 {
    20.0 * gain.log10()
}
