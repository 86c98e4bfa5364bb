//! `[output]` and `[output.loudness]`: the format and track behaviour of every agent output.

use std::time::Duration;

use voxpace_core::{Format, Limiter, Normalise, TrackConfig};

use super::diagnostics::Issues;
use super::schema::{LimiterName, RawOutput};
use super::values::{ms_in, number_in, span_of, value_or};

/// `[output.loudness]`: loudness on ITU-R BS.1770 / EBU R128 (see `voxpace-loudness`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LoudnessConfig {
    /// Normalise every reply to this integrated loudness (LUFS); `None`: replies play at
    /// their own level.
    pub target_lufs: Option<f32>,
    /// The most boost a reply gets, in dB.
    pub max_gain_db: f32,
    /// The ceiling of `limiter = "true-peak"`, in dBTP (4× oversampled).
    pub true_peak_dbtp: f32,
    /// How fast the true-peak limiter recovers.
    pub release: Duration,
}

impl Default for LoudnessConfig {
    fn default() -> Self {
        Self {
            target_lufs: None,
            max_gain_db: 12.0,
            true_peak_dbtp: -1.0,
            release: Duration::from_millis(100),
        }
    }
}

/// The most speech an output buffers: two minutes (the buffer is allocated up front).
const MOST_BUFFER_MS: u64 = 120_000;

/// `[output]`, checked: the format, the track configuration and the loudness settings.
pub(crate) fn check(
    o: &RawOutput,
    issues: &mut Issues<'_>,
) -> (Format, TrackConfig, Option<LoudnessConfig>) {
    let format = format(o, issues);
    let frame_ms = u64::from(format.frame_ms());
    let buffer = ms_in(
        &o.buffer_ms,
        10_000,
        "output.buffer_ms",
        frame_ms..=MOST_BUFFER_MS,
        issues,
    );
    let mut track = TrackConfig {
        buffer,
        grace_period: ms_in(
            &o.grace_period_ms,
            500,
            "output.grace_period_ms",
            0..=60_000,
            issues,
        ),
        interrupt_fade: ms_in(
            &o.interrupt_fade_ms,
            10,
            "output.interrupt_fade_ms",
            0..=frame_ms,
            issues,
        ),
        start_threshold: Duration::from_millis(value_or(&o.start_threshold_ms, 0)),
        manual_input: o.manual_input,
        limiter: match o.limiter {
            LimiterName::SoftKnee => Limiter::SoftKnee,
            // The true-peak ceiling and release come from `[output.loudness]`, below.
            LimiterName::Clip | LimiterName::TruePeak => Limiter::Clip,
        },
        loudness: None,
        output_meter: false,
        report_timeout: ms_in(
            &o.report_timeout_ms,
            2_000,
            "output.report_timeout_ms",
            1..=60_000,
            issues,
        ),
    };
    if track.start_threshold > track.buffer {
        issues.add(
            span_of(&o.start_threshold_ms),
            "output.start_threshold_ms",
            "exceeds output.buffer_ms, so a reply could never start",
            "at most output.buffer_ms",
        );
    }
    let loudness = loudness(o, issues);
    if let Some(l) = loudness {
        track.output_meter = true;
        track.loudness = l.target_lufs.map(|target_lufs| Normalise {
            target_lufs,
            max_gain_db: l.max_gain_db,
        });
        if o.limiter == LimiterName::TruePeak {
            track.limiter = Limiter::TruePeak {
                ceiling_dbtp: l.true_peak_dbtp,
                release: l.release,
            };
        }
    }
    (format, track, loudness)
}

const RATES: &str = "8000, 16000, 24000 or 48000";
const CHANNELS: &str = "1 (mono) or 2 (stereo)";
const FRAME_LENGTHS: &str = "10, 20, 40 or 60";

/// Sample rate, channels and frame length; each unsupported one reported.
fn format(o: &RawOutput, issues: &mut Issues<'_>) -> Format {
    for (key, accepted) in [
        ("output.sample_rate", RATES),
        ("output.channels", CHANNELS),
        ("output.frame_ms", FRAME_LENGTHS),
    ] {
        issues.amend_expected(key, &format!(": {accepted}"));
    }
    let rate = value_or(&o.sample_rate, 24_000);
    let channels = value_or(&o.channels, 1);
    let frame_ms = value_or(&o.frame_ms, 20);
    if let Ok(f) = Format::new(rate, channels, frame_ms) {
        return f;
    }
    if !voxpace_core::SAMPLE_RATES.contains(&rate) {
        issues.add(
            span_of(&o.sample_rate),
            "output.sample_rate",
            format!("{rate} Hz is not supported"),
            RATES,
        );
    }
    if !(1..=2).contains(&channels) {
        issues.add(
            span_of(&o.channels),
            "output.channels",
            format!("{channels} channels is not supported"),
            CHANNELS,
        );
    }
    if !voxpace_core::FRAME_LENGTHS_MS.contains(&frame_ms) {
        issues.add(
            span_of(&o.frame_ms),
            "output.frame_ms",
            format!("{frame_ms} ms frames are not supported"),
            FRAME_LENGTHS,
        );
    }
    Format::default()
}

/// `[output.loudness]`, checked; present when the table is, or when the limiter needs it.
fn loudness(o: &RawOutput, issues: &mut Issues<'_>) -> Option<LoudnessConfig> {
    let true_peak = o.limiter == LimiterName::TruePeak;
    let Some(l) = o.loudness.as_ref() else {
        return true_peak.then(LoudnessConfig::default);
    };
    let d = LoudnessConfig::default();
    let target_lufs = l.target_lufs.as_ref().map(|_| {
        number_in(
            &l.target_lufs,
            -16.0,
            "output.loudness.target_lufs",
            -70.0..=0.0,
            "LUFS",
            issues,
        )
    });
    let max_gain_db = number_in(
        &l.max_gain_db,
        d.max_gain_db,
        "output.loudness.max_gain_db",
        0.0..=40.0,
        "dB",
        issues,
    );
    let true_peak_dbtp = number_in(
        &l.true_peak_dbtp,
        d.true_peak_dbtp,
        "output.loudness.true_peak_dbtp",
        -20.0..=0.0,
        "dBTP",
        issues,
    );
    let release = ms_in(
        &l.release_ms,
        d.release.as_millis() as u64,
        "output.loudness.release_ms",
        1..=10_000,
        issues,
    );
    if !true_peak {
        for (span, key) in [
            (span_of(&l.true_peak_dbtp), "true_peak_dbtp"),
            (span_of(&l.release_ms), "release_ms"),
        ] {
            if span.is_some() {
                issues.add(
                    span,
                    format!("output.loudness.{key}"),
                    "only applies to the true-peak limiter",
                    "output.limiter = \"true-peak\", or no such key",
                );
            }
        }
    }
    Some(LoudnessConfig {
        target_lufs,
        max_gain_db,
        true_peak_dbtp,
        release,
    })
}
