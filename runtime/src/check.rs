//! Checks that need more than the file's text: every audio file decodes, every plugin loads.
//! `config check`, `render` and `serve` all run them before anything starts.

use std::path::Path;
use std::time::Duration;

use crate::{Config, Error};

/// How much of each audio file a check decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Depth {
    /// Open it and decode its first packet (what `render` and `serve` do before starting).
    Probe,
    /// Decode its first [`BOUNDED`] of audio (`config check`).
    Bounded,
    /// Decode it whole, however long (`config check --deep`).
    Whole,
}

/// How much audio `config check` decodes per file unless `--deep`: 10 minutes decode in
/// about a second.
pub const BOUNDED: Duration = Duration::from_secs(600);

const EXPECTED_AUDIO: &str =
    "an audio file: WAV, FLAC, MP3, Ogg Vorbis or Opus, AAC (MP4/M4A), 8 to 96 kHz, undamaged";

/// One audio file at `depth`: `Err` with what is wrong and where in the file.
pub fn audio_file(path: &Path, depth: Depth) -> Result<(), String> {
    let limit = match depth {
        Depth::Probe => {
            return voxpace_sources::probe(path)
                .map(drop)
                .map_err(|e| e.to_string())
        }
        Depth::Bounded => Some(BOUNDED),
        Depth::Whole => None,
    };
    let report = voxpace_sources::check_file(path, limit).map_err(|e| e.to_string())?;
    match report.damage.as_slice() {
        [] => Ok(()),
        [(at, first), rest @ ..] => Err(format!(
            "damaged at {:.3} s{}: {first} (playback skips it with a glitch)",
            at.as_secs_f64(),
            if rest.is_empty() {
                String::new()
            } else {
                format!(" and {} more place(s)", rest.len())
            }
        )),
    }
}

/// Decode every referenced audio file (and load every plugin); report all failures at once,
/// each at the line of the key that named the file.
pub fn deep_check(config: &Config) -> Result<(), Error> {
    check_config(config, Depth::Probe)
}

/// [`deep_check`] decoding each audio file to `depth`.
pub fn check_config(config: &Config, depth: Depth) -> Result<(), Error> {
    let mut issues = Vec::new();
    let mut audio_file = |key: String, path: &Path| {
        if let Err(problem) = audio_file(path, depth) {
            issues.push(config.issue_at(&key, problem, EXPECTED_AUDIO));
        }
    };
    if let Some(bg) = &config.background {
        audio_file("background.file".into(), &bg.file);
    }
    for (name, clip) in &config.clips {
        audio_file(format!("clips.{name}.file"), &clip.file);
    }
    for (i, sink) in config.sinks.iter().enumerate() {
        if let Err(reason) = crate::plugins::validate(sink) {
            issues.push(config.issue_at(
                &format!("sinks[{i}].plugin"),
                format!("{}: {reason}", sink.plugin.display()),
                "a voxpace sink plugin (see `voxpace plugin check`)",
            ));
        }
    }
    if issues.is_empty() {
        Ok(())
    } else {
        Err(Error::Invalid(issues))
    }
}

/// `voxpace plugin check PATH`: load the plugin, print what it declares, run it through a
/// short conversation on a real track; `Err` when any problem was found.
pub fn plugin(path: &Path, config: &str) -> anyhow::Result<()> {
    let report = crate::plugins::check(path, config);
    print!("{report}");
    if report.passed() {
        Ok(())
    } else {
        anyhow::bail!("{}: {} problem(s)", path.display(), report.problems.len())
    }
}
