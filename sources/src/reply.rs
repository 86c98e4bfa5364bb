//! Reply audio from files and compressed streams: decoded by the same code as background
//! files (symphonia, the one [`Downmix`](crate::downmix::Downmix), gapless trimming), then
//! resampled to the track's format.
//!
//! A reply file is decoded whole, so it is measured whole: its level is set in floats, as
//! the file has it, before anything becomes 16-bit (a float file above full scale is
//! neither clipped nor measured clipped), and a true-peak limiter, not a clip, decides the
//! peak of what still exceeds full scale.

use std::path::Path;
use std::time::Duration;

use voxpace_core::{Format, Normalise};
use voxpace_loudness::{db_to_gain, Meter, TruePeakLimiter};

use crate::decode::FileDecoder;
use crate::resample::StreamResampler;
use crate::Error;

/// Resampler input per call for replies: 10 ms keeps a streamed reply's added latency low,
/// and a file decoded whole uses the same, so both give the same samples.
pub(crate) fn reply_chunk(rate: u32) -> usize {
    (rate / 100).max(1) as usize
}

/// How [`decode_reply`] sets a reply file's level.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
#[non_exhaustive]
pub struct ReplyLevel {
    /// Normalise the file to this integrated loudness, measured on the decoded floats
    /// (before any clipping). `None`: the file's own level.
    pub normalise: Option<Normalise>,
    /// Normalise only a file whose decoded peak exceeds full scale: one that cannot reach
    /// 16 bits (and a track's own normaliser) unclipped. Others keep their level, for the
    /// track to normalise as it normalises every reply.
    pub only_above_full_scale: bool,
}

impl ReplyLevel {
    /// The file's own level (only peaks above full scale are limited).
    pub const AS_IS: Self = Self {
        normalise: None,
        only_above_full_scale: false,
    };

    /// Normalised to `settings` (its target and boost cap).
    pub fn normalised(settings: Normalise) -> Self {
        Self {
            normalise: Some(settings),
            only_above_full_scale: false,
        }
    }

    /// Normalised to `settings` when its peak exceeds full scale, as is otherwise.
    pub fn normalised_above_full_scale(settings: Normalise) -> Self {
        Self {
            normalise: Some(settings),
            only_above_full_scale: true,
        }
    }
}

/// A reply file decoded whole ([`decode_reply`]): its samples, and what went wrong on the
/// way.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ReplyAudio {
    /// 16-bit samples in the track's format.
    pub samples: Vec<i16>,
    /// Damage that was skipped (playback goes on past it): where in the file, and what
    /// ([`Error::Corrupt`]).
    pub damage: Vec<(Duration, Error)>,
    /// The file could not be decoded to its end (cut off, unreadable): `samples` hold what
    /// decoded before, and this says where it broke.
    pub broken: Option<Error>,
    /// The file's integrated loudness as decoded (LUFS), when it was measured (normalised)
    /// and holds sound.
    pub measured_lufs: Option<f32>,
    /// The gain applied in dB (0 unless normalising).
    pub gain_db: f32,
    /// How far the limiter reduced the loudest peak, in dB (≤ 0; 0 when nothing exceeded
    /// full scale).
    pub limited_db: f32,
}

/// Decode a whole audio file (any format [`probe`](crate::probe) accepts) into 16-bit
/// samples in `format`, as a reply plays it. Damage the decoder can skip is skipped; a file
/// that cannot be decoded to its end is an error naming where it broke (use
/// [`decode_reply`] to keep what decoded before the break).
pub fn decode_file(path: impl AsRef<Path>, format: Format) -> Result<Vec<i16>, Error> {
    let reply = decode_reply(path, format, ReplyLevel::AS_IS)?;
    match reply.broken {
        Some(e) => Err(e),
        None => Ok(reply.samples),
    }
}

/// Decode a whole reply file into `format` at `level`. `Err` only when the file cannot be
/// opened as audio (nothing plays); a file that breaks later gives what decoded before the
/// break, with [`ReplyAudio::broken`] saying where, as a streamed reply plays.
pub fn decode_reply(
    path: impl AsRef<Path>,
    format: Format,
    level: ReplyLevel,
) -> Result<ReplyAudio, Error> {
    let channels = format.channels() as usize;
    let mut decoder = FileDecoder::open(path.as_ref(), channels)?;
    let mut resampler = StreamResampler::new(
        decoder.sample_rate(),
        format.sample_rate(),
        channels,
        reply_chunk(decoder.sample_rate()),
    )?;
    let mut floats = Vec::new();
    let mut block = Vec::new();
    let mut damage = Vec::new();
    let broken = loop {
        let more = decoder.next_block(&mut block);
        damage.extend(decoder.take_damage().into_iter().map(|d| (d.at, d.error)));
        match more {
            Ok(true) => {
                resampler.push(&block, &mut |o| floats.extend_from_slice(o));
                block.clear();
            }
            Ok(false) => break None,
            Err(e) => break Some(e),
        }
    };
    resampler.flush(&mut |o| floats.extend_from_slice(o));
    let over = floats.iter().any(|x| x.abs() > 1.0);
    let settings = level
        .normalise
        .filter(|_| over || !level.only_above_full_scale);
    let (measured_lufs, mut gain_db) = match settings {
        Some(settings) => normalise(&mut floats, format, settings),
        None => (None, 0.0),
    };
    let (mut samples, mut limited_db) = to_i16(&floats, format)?;
    // The limiter turns the loud parts down, and with them the loudness: measure what came
    // out and make up the difference (the limiter takes the new peaks), twice at most.
    if let (Some(settings), Some(_)) = (settings, measured_lufs) {
        for _ in 0..2 {
            let short = settings.target_lufs - loudness_i16(&samples, format);
            let room = settings.max_gain_db - gain_db;
            if limited_db == 0.0 || short.is_nan() || short.abs() < 0.2 || room <= 0.0 {
                break;
            }
            let more = short.min(room);
            let gain = db_to_gain(more);
            floats.iter_mut().for_each(|x| *x *= gain);
            gain_db += more;
            (samples, limited_db) = to_i16(&floats, format)?;
        }
    }
    Ok(ReplyAudio {
        samples,
        damage,
        broken,
        measured_lufs,
        gain_db,
        limited_db,
    })
}

/// Measure `samples` whole and scale them to `settings`' target (cut at most 30 dB, boost
/// at most its cap, as a streamed reply's gain): (measured LUFS, gain dB).
fn normalise(samples: &mut [f32], format: Format, settings: Normalise) -> (Option<f32>, f32) {
    let Ok(mut meter) = Meter::integrated(format.sample_rate(), format.channels() as u32) else {
        return (None, 0.0);
    };
    meter.add_f32(samples);
    let Some(measured) = meter.integrated_lufs().map(|l| l as f32) else {
        return (None, 0.0);
    };
    let gain_db = (settings.target_lufs - measured).clamp(-30.0, settings.max_gain_db);
    let gain = db_to_gain(gain_db);
    samples.iter_mut().for_each(|x| *x *= gain);
    (Some(measured), gain_db)
}

/// The integrated loudness of 16-bit `samples` (LUFS; the target when it holds no sound).
fn loudness_i16(samples: &[i16], format: Format) -> f32 {
    let Ok(mut meter) = Meter::integrated(format.sample_rate(), format.channels() as u32) else {
        return f32::NAN;
    };
    meter.add_i16(samples);
    meter.integrated_lufs().map_or(f32::NAN, |l| l as f32)
}

/// The true-peak ceiling for replies that exceed full scale.
const CEILING_DBTP: f32 = -0.5;

/// `samples` as 16-bit: rounded as they are when nothing exceeds full scale (every sample
/// as the file has it); otherwise through a true-peak limiter (look-ahead, 50 ms release),
/// so the loud parts are turned down smoothly instead of clipped. (16-bit, limited dB.)
fn to_i16(samples: &[f32], format: Format) -> Result<(Vec<i16>, f32), Error> {
    let peak = samples.iter().fold(0f32, |m, x| m.max(x.abs()));
    let mut out = Vec::with_capacity(samples.len());
    if peak * 32_768.0 < 32_767.5 {
        push_i16(&mut out, samples);
        return Ok((out, 0.0));
    }
    let channels = format.channels();
    let mut limiter = TruePeakLimiter::new(
        format.sample_rate(),
        channels,
        CEILING_DBTP,
        Duration::from_millis(50),
    )
    .map_err(|e| Error::InvalidArgument(format!("reply limiter: {e}")))?;
    // The limiter delays by `latency` frames: feed that much silence after the end and drop
    // as much from the start.
    let delay = limiter.latency() * channels as usize;
    let mut limited = vec![0i16; samples.len() + delay];
    let mut input = samples.to_vec();
    input.resize(samples.len() + delay, 0.0);
    let mut deepest = 0f32;
    for (x, y) in input
        .chunks(4_096 * channels as usize)
        .zip(limited.chunks_mut(4_096 * channels as usize))
    {
        limiter.process(x, y);
        deepest = deepest.min(limiter.reduction_db());
    }
    out.extend_from_slice(&limited[delay..]);
    Ok((out, deepest))
}

/// Round `samples` (full scale ±1) to 16 bits, saturating.
pub(crate) fn push_i16(out: &mut Vec<i16>, samples: &[f32]) {
    out.extend(samples.iter().map(|x| {
        (x * 32_768.0)
            .round()
            .clamp(i16::MIN as f32, i16::MAX as f32) as i16
    }));
}
