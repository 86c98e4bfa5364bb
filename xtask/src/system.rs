//! Running commands and provisioning the machine.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{bail, Context, Result};

/// Debian packages the workspace needs beyond the Rust toolchain, and why. To add one, add
/// a line here (and say in the README why): `cargo xtask ci` installs whatever is missing.
pub const SYSTEM_PACKAGES: &[(&str, &str)] = &[
    ("pkg-config", "finds system libraries for -sys crates"),
    ("libopus-dev", "Opus encoder for the WebRTC transport"),
    (
        "cmake",
        "builds bundled C libraries where a crate has no system option",
    ),
    ("libasound2-dev", "ALSA, for the speaker plugin (cpal)"),
    (
        "alsa-utils",
        "ALSA file routing for the speaker plugin test",
    ),
    (
        "chromium",
        "the browser tests of the web page and WHEP player",
    ),
    ("chromium-driver", "drives chromium in the browser tests"),
    (
        "iproute2",
        "`ip`: loopback-only network namespaces for browser tests",
    ),
    (
        "util-linux",
        "`unshare`: loopback-only network namespaces for browser tests",
    ),
    (
        "ffmpeg",
        "reference decodes and fixtures for the audio format tests (tests only)",
    ),
    (
        "espeak-ng",
        "speech synthesis for the Python client's Pipecat test (clients/python)",
    ),
    (
        "janus",
        "the SFU (VideoRoom) the WHIP tests publish to (runtime/tests/janus.rs)",
    ),
];

/// npm packages tests need (`name@version`, why), installed into `target/node` (tests find
/// them under `target/node/node_modules`). When the list is not empty, `nodejs` and `npm`
/// are installed with the Debian packages.
pub const NODE_PACKAGES: &[(&str, &str)] = &[];

/// Where [`NODE_PACKAGES`] are installed.
pub fn node_prefix() -> PathBuf {
    target_dir().join("node")
}

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
    // The image ships node with its npm; a machine with neither gets Debian's (nothing to
    // conflict with there).
    let has_npm = Command::new("npm")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_npm {
        apt_install(&["nodejs", "npm"])?;
    }
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

/// The cargo target directory the builds use (`CARGO_TARGET_DIR`, else `target/`).
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|p| if p.is_absolute() { p } else { root().join(p) })
        .unwrap_or_else(|| root().join("target"))
}

/// Where a plugin package's shared library lands in a debug build.
pub fn plugin_library(package: &str) -> PathBuf {
    target_dir()
        .join("debug")
        .join(format!("lib{}.so", package.replace('-', "_")))
}

/// `cargo` as invoked by the user (keeps toolchain overrides).
pub fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(root());
    cmd
}

/// Build the release `voxpace` with WebRTC (what the serve benchmarks run); its path.
pub fn build_release_serve() -> Result<PathBuf> {
    build_release_serve_with(cargo(), "this tree")?;
    Ok(target_dir().join("release/voxpace"))
}

/// `cargo build --release -p voxpace-runtime --features webrtc` with `cmd` (a `cargo` command
/// whose directory and target directory the caller chose); `what` names the tree built.
pub fn build_release_serve_with(mut cmd: Command, what: &str) -> Result<()> {
    cmd.args([
        "build",
        "--release",
        "-q",
        "-p",
        "voxpace-runtime",
        "--features",
        "webrtc",
    ]);
    run(cmd, &format!("release voxpace serve, {what}"))
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

fn installed(package: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", package])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
        .unwrap_or(false)
}

/// Install the missing [`SYSTEM_PACKAGES`] (and `nodejs`/`npm` when [`NODE_PACKAGES`] is not
/// empty) with apt when running as root, otherwise say what to install; then the missing
/// [`NODE_PACKAGES`] with npm.
pub fn ensure_packages() -> Result<()> {
    let node: &[&str] = if NODE_PACKAGES.is_empty() {
        &[]
    } else {
        &["nodejs", "npm"]
    };
    let missing: Vec<&str> = SYSTEM_PACKAGES
        .iter()
        .map(|(p, _)| *p)
        .chain(node.iter().copied())
        .filter(|p| !installed(p))
        .collect();
    if !missing.is_empty() {
        apt_install(&missing)?;
    }
    ensure_node_packages()
}

fn apt_install(missing: &[&str]) -> Result<()> {
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
        .args(missing)
        .env("DEBIAN_FRONTEND", "noninteractive");
    run(install, &format!("apt-get install {}", missing.join(" ")))
}

fn ensure_node_packages() -> Result<()> {
    let prefix = node_prefix();
    let missing: Vec<&str> = NODE_PACKAGES
        .iter()
        .map(|(p, _)| *p)
        .filter(|spec| {
            // `@scope/name@1.2` → `@scope/name`
            let name = match spec.rfind('@') {
                Some(at) if at > 0 => &spec[..at],
                _ => spec,
            };
            !prefix
                .join("node_modules")
                .join(name)
                .join("package.json")
                .is_file()
        })
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    std::fs::create_dir_all(&prefix)?;
    let mut npm = Command::new("npm");
    npm.args(["install", "--no-audit", "--no-fund", "--prefix"])
        .arg(&prefix)
        .args(&missing);
    run(npm, &format!("npm install {}", missing.join(" ")))
}
