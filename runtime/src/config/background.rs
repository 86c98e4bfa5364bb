//! `[background]` (music under speech, with ducking) and `[clips.*]` (one-shot sounds).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::Spanned;

use super::diagnostics::Issues;
use super::output::LoudnessConfig;
use super::schema::{RawBackground, RawClip};
use super::values::{existing_file, ms_in, number_in};

/// Background audio mixed under speech.
#[derive(Debug, Clone, PartialEq)]
pub struct BackgroundConfig {
    /// Audio file (absolute, resolved against the config file's directory).
    pub file: PathBuf,
    /// Gain applied to the file, in dB (on top of `relative_lu`'s gain when that is set).
    pub gain_db: f32,
    /// Play the file this many LU relative to `output.loudness.target_lufs` (its measured
    /// loudness sets its gain); `None`: at `gain_db` whatever its level.
    pub relative_lu: Option<f32>,
    /// Loop the file (otherwise it plays once).
    pub looped: bool,
    /// Lower the background while the agent speaks.
    pub ducking: Option<DuckingConfig>,
}

/// How the background gives way to speech.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DuckingConfig {
    /// Attenuation under speech in dB (negative).
    pub depth_db: f32,
    /// How fast the background goes down when speech starts.
    pub attack: Duration,
    /// How long it stays down after speech stops.
    pub hold: Duration,
    /// How fast it comes back after speech.
    pub release: Duration,
}

/// A one-shot clip fired over the API or from a script.
#[derive(Debug, Clone, PartialEq)]
pub struct ClipConfig {
    /// Audio file (absolute).
    pub file: PathBuf,
    /// Gain in dB.
    pub gain_db: f32,
}

/// `[background]`, checked against the speech loudness target it may be relative to.
pub(crate) fn check_background(
    b: &RawBackground,
    loudness: Option<LoudnessConfig>,
    base: &Path,
    issues: &mut Issues<'_>,
) -> BackgroundConfig {
    let file = existing_file(base, &b.file, "background.file", "an audio file", issues);
    let relative_lu = b.relative_lu.as_ref().map(|r| {
        if loudness.and_then(|l| l.target_lufs).is_none() {
            issues.add(
                Some(r.span()),
                "background.relative_lu",
                "is relative to the speech target, but output.loudness.target_lufs is not set",
                "[output.loudness] target_lufs = -16 (for example), or gain_db instead",
            );
        }
        number_in(
            &b.relative_lu,
            0.0,
            "background.relative_lu",
            -60.0..=0.0,
            "LU (music below speech)",
            issues,
        )
    });
    // With a relative level the measured gain sets the level; gain_db is an offset.
    let default_gain = if relative_lu.is_some() { 0.0 } else { -12.0 };
    let gain_db = gain(&b.gain_db, default_gain, "background.gain_db", issues);
    let ducking = b.ducking.as_ref().filter(|d| d.enabled).map(|d| {
        let key = |k: &str| format!("background.ducking.{k}");
        DuckingConfig {
            depth_db: number_in(
                &d.depth_db,
                -12.0,
                &key("depth_db"),
                -60.0..=0.0,
                "dB",
                issues,
            ),
            attack: ms_in(&d.attack_ms, 60, &key("attack_ms"), 0..=10_000, issues),
            hold: ms_in(&d.hold_ms, 300, &key("hold_ms"), 0..=60_000, issues),
            release: ms_in(&d.release_ms, 600, &key("release_ms"), 0..=10_000, issues),
        }
    });
    BackgroundConfig {
        file,
        gain_db,
        relative_lu,
        looped: b.looped,
        ducking,
    }
}

/// `[clips.*]`, each checked.
pub(crate) fn check_clips(
    clips: &BTreeMap<String, RawClip>,
    base: &Path,
    issues: &mut Issues<'_>,
) -> BTreeMap<String, ClipConfig> {
    clips
        .iter()
        .map(|(name, c)| {
            let key = format!("clips.{name}.file");
            let file = existing_file(base, &c.file, &key, "an audio file", issues);
            let gain_db = gain(&c.gain_db, 0.0, &format!("clips.{name}.gain_db"), issues);
            (name.clone(), ClipConfig { file, gain_db })
        })
        .collect()
}

fn gain(v: &Option<Spanned<f32>>, default: f32, key: &str, issues: &mut Issues<'_>) -> f32 {
    number_in(v, default, key, -90.0..=12.0, "dB", issues)
}
