//! Checks that need more than the file's text: every audio file decodes, every plugin loads.
//! `config check`, `render` and `serve` all run them before anything starts.

use std::path::Path;

use crate::{Config, Error};

/// Decode every referenced audio file (and load every plugin); report all failures at once,
/// each at the line of the key that named the file.
pub fn deep_check(config: &Config) -> Result<(), Error> {
    let mut issues = Vec::new();
    let mut audio_file = |key: String, path: &Path| {
        if let Err(e) = voxpace_sources::probe(path) {
            issues.push(config.issue_at(
                &key,
                e.to_string(),
                "an audio file: WAV, FLAC, MP3, Ogg Vorbis or AAC (MP4), 8 to 96 kHz",
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
