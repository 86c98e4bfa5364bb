//! `voxpace config example`: the commented example configuration, in two shapes that both
//! pass `voxpace config check` wherever they are written.
//!
//! - [`standalone`] (printed): the sections that name audio files (`[background]`,
//!   `[clips.*]`) are commented out until the user points them at a file of their own.
//! - [`write_to`] (`--dir DIR`): the whole example plus the audio it names, in `DIR`, so
//!   `voxpace serve` and `voxpace render` run from it at once.

use std::path::{Path, PathBuf};

use crate::config::EXAMPLE;
use crate::Error;

/// The files `--dir` writes next to the configuration: the example audio and a script.
const ASSETS: &[(&str, &[u8])] = &[
    ("music.wav", include_bytes!("../assets/music.wav")),
    ("ding.wav", include_bytes!("../assets/ding.wav")),
    ("speech.wav", include_bytes!("../assets/speech.wav")),
    ("speech2.wav", include_bytes!("../assets/speech2.wav")),
    (
        "demo-script.toml",
        include_bytes!("../assets/demo-script.toml"),
    ),
];

/// The configuration file `--dir` writes.
pub const CONFIG_NAME: &str = "voxpace.toml";

/// The example as this build serves it: WebRTC settings (WHEP, WHIP) only where the binary
/// has the `webrtc` feature, so the example checks in the build that printed it.
pub fn for_this_build() -> String {
    for_build(cfg!(feature = "webrtc"))
}

/// Said in place of the WebRTC settings in a build without them.
const WITHOUT_WEBRTC: &str =
    "# WHEP and WHIP (WebRTC) settings go here in a voxpace built with the `webrtc` feature\n\
     # (`cargo build -p voxpace-runtime --features webrtc`); this one streams WAV instead.\n";

fn for_build(webrtc: bool) -> String {
    let mut out = String::new();
    let mut table = "";
    let mut noted = false;
    for line in EXAMPLE.lines() {
        if let Some(header) = line.strip_prefix('[') {
            table = header.split(']').next().unwrap_or("");
        }
        let setting = line.trim_start_matches('#').trim_start();
        if table == "transport" && (setting.starts_with("whep") || setting.starts_with("whip")) {
            if !webrtc {
                if !std::mem::replace(&mut noted, true) {
                    out.push_str(WITHOUT_WEBRTC);
                }
                continue;
            }
            // WHEP is on by default where built with it: say so in the file.
            if let Some(on) = line.strip_prefix("# whep = true") {
                out.push_str("whep = true  ");
                out.push_str(on);
                out.push('\n');
                continue;
            }
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// The example for this build with every setting that names an audio file commented out.
pub fn standalone() -> String {
    let mut out = String::new();
    let mut names_files = false;
    for (i, line) in for_this_build().lines().enumerate() {
        if let Some(header) = line.strip_prefix('[') {
            let table = header.trim_start_matches('[');
            names_files = table.starts_with("background") || table.starts_with("clips.");
        }
        if names_files && !line.trim().is_empty() && !line.starts_with('#') {
            out.push_str("# ");
        }
        out.push_str(line);
        out.push('\n');
        if i == 0 {
            out.push_str(
                "# [background] and [clips] are commented out because they name audio files: point them\n\
                 # at your own, or run `voxpace config example --dir DIR` for this example with its audio.\n",
            );
        }
    }
    out
}

/// Write the whole example (`voxpace.toml`) and its audio into `dir` (created if needed).
/// Refuses to overwrite a file that is already there. Returns the files written, the
/// configuration first.
pub fn write_to(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let config = for_this_build();
    let files: Vec<(PathBuf, &[u8])> = std::iter::once((dir.join(CONFIG_NAME), config.as_bytes()))
        .chain(ASSETS.iter().map(|(name, bytes)| (dir.join(name), *bytes)))
        .collect();
    if let Some((existing, _)) = files.iter().find(|(p, _)| p.exists()) {
        return Err(Error::io(
            existing,
            std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "already exists; not overwritten (choose an empty or new folder)",
            ),
        ));
    }
    for (path, bytes) in &files {
        std::fs::write(path, bytes).map_err(|e| Error::io(path, e))?;
    }
    Ok(files.into_iter().map(|(p, _)| p).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_printed_example_checks_in_an_empty_folder() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("my.toml");
        let config = crate::Config::parse(&path, &standalone()).unwrap();
        assert!(config.background.is_none() && config.clips.is_empty());
        crate::check::deep_check(&config).unwrap();
    }

    #[test]
    fn webrtc_settings_are_printed_only_for_a_build_with_webrtc() {
        // Beside the example audio, which the whole example names.
        let path = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/x.toml"));
        let without = for_build(false);
        assert!(!without.contains("whep =") && !without.contains("whip_url"));
        assert!(without.contains("`webrtc` feature"), "{without}");
        let config = crate::Config::parse(path, &without).unwrap();
        config.require_webrtc().unwrap();
        let with = for_build(true);
        assert!(with.contains("\nwhep = true "), "{with}");
        assert!(with.contains("# whip_url = "), "{with}");
        let config = crate::Config::parse(path, &with).unwrap();
        assert!(config.transport.whep);
        // This build's example is the one it can serve.
        let this = crate::Config::parse(path, &for_this_build()).unwrap();
        this.require_webrtc().unwrap();
    }

    #[test]
    fn the_written_example_checks_with_its_audio_and_is_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let written = write_to(dir.path()).unwrap();
        assert_eq!(written[0], dir.path().join(CONFIG_NAME));
        let config = crate::Config::load(&written[0]).unwrap();
        assert!(config.background.is_some() && config.clips.contains_key("ding"));
        crate::check::deep_check(&config).unwrap();
        let again = write_to(dir.path()).unwrap_err().to_string();
        assert!(
            again.contains("voxpace.toml") && again.contains("not overwritten"),
            "{again}"
        );
    }
}
