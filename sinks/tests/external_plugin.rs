//! The guide, followed by a vendor: a plugin crate outside the workspace, in a temporary
//! directory, whose `Cargo.toml` is the one in the `voxpace-sink-abi` crate docs (with the
//! path to this checkout's `sinks/abi`) and whose `src/lib.rs` is `plugins/template`. It is
//! built with cargo (registry access only, as any crate's first build), loaded from its
//! `.so` and run through `check_plugin`, paced and as an owning ahead plugin.

mod common;

use std::path::Path;
use std::process::Command;

use voxpace_sinks::{check_plugin, Plugin};

/// The first ```toml block of the guide (step 1), as the docs print it.
fn guide_manifest() -> String {
    let docs =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("abi/src/lib.rs"))
            .unwrap();
    let lines: Vec<&str> = docs
        .lines()
        .map(|l| l.trim_start().strip_prefix("//!").unwrap_or(l))
        .map(|l| l.strip_prefix(' ').unwrap_or(l))
        .collect();
    let start = lines
        .iter()
        .position(|l| l.trim() == "```toml")
        .expect("the guide has a toml block");
    lines[start + 1..]
        .iter()
        .take_while(|l| l.trim() != "```")
        .map(|l| l.trim_start())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn a_plugin_crate_made_from_the_guide_and_the_template_builds_loads_and_passes() {
    let manifest = guide_manifest();
    let abi = Path::new(env!("CARGO_MANIFEST_DIR")).join("abi");
    assert!(
        manifest.contains("path = \"../voxpace/sinks/abi\""),
        "{manifest}"
    );
    let manifest = manifest.replace("../voxpace/sinks/abi", abi.to_str().unwrap());
    let dir = common::scratch("external-plugin");
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(dir.join("Cargo.toml"), &manifest).unwrap();
    let workspace = abi.parent().unwrap().parent().unwrap();
    std::fs::copy(
        workspace.join("plugins/template/src/lib.rs"),
        dir.join("src/lib.rs"),
    )
    .unwrap();
    // The workspace's lock file pins the same dependency versions, so nothing new is
    // fetched; cargo drops what the crate does not use.
    std::fs::copy(workspace.join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    let target = common::target_dir();
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(&dir)
        .args(["build", "--quiet", "--target-dir"])
        .arg(&target)
        .status()
        .unwrap();
    assert!(
        status.success(),
        "cargo build of the guide's crate in {}",
        dir.display()
    );
    let so = target.join("debug/libmy_avatar.so");
    let plugin = Plugin::load(&so).unwrap();
    assert_eq!(plugin.metadata().name, "my-avatar");
    assert_eq!(plugin.metadata().abi, voxpace_sinks::ABI_VERSION);

    let paced = check_plugin(&so, "");
    assert!(paced.passed(), "{paced}");
    assert!(paced.audio_samples > 0, "{paced}");
    let owning = check_plugin(&so, "owns_playback = true\nahead_ms = 300");
    assert!(owning.passed(), "{owning}");
    assert!(owning.info.as_ref().unwrap().owns_playback);
}
