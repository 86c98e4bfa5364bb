//! The real ffmpeg, for tests that make audio files at test time or check a decode against
//! its decode (`cargo xtask ci` installs it; no voxpace crate runs it outside tests).

use std::path::Path;
use std::process::Command;

/// Run `ffmpeg` quietly with `args` (overwriting outputs); fails the test with ffmpeg's
/// own message when it fails.
pub fn ffmpeg(args: &[&str]) {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-y"])
        .args(args)
        .output()
        .expect("ffmpeg is installed (cargo xtask ci installs it)");
    assert!(
        out.status.success(),
        "ffmpeg {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// ffmpeg's decode of `file` as interleaved f32 at the file's own rate, with `channels`.
pub fn decode_f32(file: &Path, channels: u16) -> Vec<f32> {
    decode(file, None, channels)
}

/// ffmpeg's decode of `file`, resampled by ffmpeg to `rate`, as interleaved f32 with
/// `channels`.
pub fn decode_f32_at(file: &Path, rate: u32, channels: u16) -> Vec<f32> {
    decode(file, Some(rate), channels)
}

fn decode(file: &Path, rate: Option<u32>, channels: u16) -> Vec<f32> {
    let rate = rate.map(|r| r.to_string());
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-i"])
        .arg(file)
        .args(["-f", "f32le"])
        .args(rate.iter().flat_map(|r| ["-ar", r.as_str()]))
        .args(["-ac", &channels.to_string(), "-"])
        .output()
        .expect("ffmpeg is installed (cargo xtask ci installs it)");
    assert!(
        out.status.success(),
        "ffmpeg decoding {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}
