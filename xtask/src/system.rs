//! Running commands and provisioning the machine.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{bail, Context, Result};

/// Debian packages the workspace needs beyond the Rust toolchain, and why.
pub const SYSTEM_PACKAGES: &[(&str, &str)] = &[
    ("pkg-config", "finds system libraries for -sys crates"),
    ("libopus-dev", "Opus encoder for the WebRTC transport"),
    (
        "cmake",
        "builds bundled C libraries where a crate has no system option",
    ),
    ("libasound2-dev", "ALSA, for the speaker plugin (cpal)"),
    ("chromium", "the browser test of the web page"),
    ("chromium-driver", "drives chromium in the browser test"),
    (
        "iproute2",
        "`ip`: loopback-only network namespaces for browser tests",
    ),
    (
        "util-linux",
        "`unshare`: loopback-only network namespaces for browser tests",
    ),
    (
        "alsa-utils",
        "ALSA file routing for the speaker plugin test",
    ),
    (
        "ffmpeg",
        "reference decodes and fixtures for the audio format tests (tests only)",
    ),
];

/// The workspace root (the parent of `xtask/`).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

/// `cargo` as invoked by the user (keeps toolchain overrides).
pub fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(root());
    cmd
}

/// Run `cmd`, streaming its output; fail with `what` if it fails.
pub fn run(mut cmd: Command, what: &str) -> Result<()> {
    eprintln!("xtask: {what}");
    let status = cmd
        .status()
        .with_context(|| format!("could not start: {what}"))?;
    if !status.success() {
        bail!("{what} failed ({status})");
    }
    Ok(())
}

/// Install the missing [`SYSTEM_PACKAGES`] with apt when running as root; otherwise say
/// what to install.
pub fn ensure_packages() -> Result<()> {
    let missing: Vec<&str> = SYSTEM_PACKAGES
        .iter()
        .map(|(p, _)| *p)
        .filter(|p| {
            !Command::new("dpkg-query")
                .args(["-W", "-f=${Status}", p])
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
                .unwrap_or(false)
        })
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.trim_ascii() == b"0")
        .unwrap_or(false);
    if !is_root {
        bail!(
            "missing system packages: {} (install them with: sudo apt-get install {})",
            missing.join(", "),
            missing.join(" ")
        );
    }
    let mut update = Command::new("apt-get");
    update.args(["update", "-qq"]);
    run(update, "apt-get update")?;
    let mut install = Command::new("apt-get");
    install
        .args(["install", "-y", "-qq", "--no-install-recommends"])
        .args(&missing)
        .env("DEBIAN_FRONTEND", "noninteractive");
    run(install, &format!("apt-get install {}", missing.join(" ")))
}
