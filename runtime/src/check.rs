//! Checks that need more than the file's text: every audio file decodes, every plugin loads.
//! `config check`, `render` and `serve` all run them before anything starts.

use std::path::Path;

use crate::{audio, Config, Error};

/// Decode every referenced audio file (and load every plugin); report all failures at once,
/// each at the line of the key that named the file.
pub fn deep_check(config: &Config) -> Result<(), Error> {
    let mut issues = Vec::new();
    let mut audio_file = |key: String, path: &Path| {
        if let Err(e) = audio::read_wav(path) {
            let reason = match e {
                Error::Audio { reason, .. } => reason,
                other => other.to_string(),
            };
            issues.push(config.issue_at(
                &key,
                format!("{}: {reason}", path.display()),
                "a PCM WAV file (8/16/24/32-bit integer or 32-bit float, mono or stereo)",
            ));
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
