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
    (
        "janus",
        "the SFU (VideoRoom) the WHIP tests publish to (runtime/tests/janus.rs)",
    ),
];

/// npm packages simple-whip-server needs (Debian's `node-*` dependencies, which would pull
/// Debian's nodejs over the node this image ships).
const WHIP_SERVER_NPM: &[&str] = &[
    "express@4",
    "cors@2",
    "colors@1.4.0",
    "debug@4",
    "async@3",
    "websocket@1",
];

/// Meetecho's simple-whip-server, the WHIP front of Janus in the WHIP tests: its sources from
/// Debian's package (`apt-get download`, unpacked, not installed) and its npm dependencies,
/// all in `target/simple-whip-server` (never committed).
pub fn ensure_whip_server() -> Result<()> {
    let dir = root().join("target/simple-whip-server");
    if dir.join("src/server.js").is_file() && dir.join("node_modules/express").is_dir() {
        return Ok(());
    }
    let scratch = root().join("target/simple-whip-server.download");
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch)?;
    let mut download = Command::new("apt-get");
    download
        .args(["download", "simple-whip-server"])
        .current_dir(&scratch);
    if run(download, "apt-get download simple-whip-server").is_err() {
        // A fresh machine may not have the package lists yet.
        let mut update = Command::new("apt-get");
        update.args(["update", "-qq"]);
        run(update, "apt-get update")?;
        let mut download = Command::new("apt-get");
        download
            .args(["download", "simple-whip-server"])
            .current_dir(&scratch);
        run(download, "apt-get download simple-whip-server")?;
    }
    let deb = std::fs::read_dir(&scratch)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "deb"))
        .context("apt-get download left no .deb")?;
    let mut unpack = Command::new("dpkg-deb");
    unpack.arg("-x").arg(&deb).arg(scratch.join("x"));
    run(unpack, "dpkg-deb -x simple-whip-server")?;
    let src = dir.join("src");
    std::fs::create_dir_all(&src)?;
    for f in ["server.js", "whip-janus.js"] {
        std::fs::copy(
            scratch.join("x/usr/share/simple-whip-server/src").join(f),
            src.join(f),
        )
        .with_context(|| format!("copying simple-whip-server's {f}"))?;
    }
    std::fs::write(
        dir.join("package.json"),
        "{\"name\": \"voxpace-whip-test-server\", \"private\": true}\n",
    )?;
    let mut npm = Command::new("npm");
    npm.args(["install", "--no-audit", "--no-fund", "--prefix"])
        .arg(&dir)
        .args(WHIP_SERVER_NPM);
    run(npm, "npm install (simple-whip-server's dependencies)")?;
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(())
}

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
