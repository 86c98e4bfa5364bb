//! A `voxpace` built without the `webrtc` feature (the default `cargo build`) refuses a
//! config that asks for WHEP or WHIP, in `config check` and in `serve`, naming the feature
//! to build with, instead of saying ok and ignoring the request; `render`, which has no
//! network, plays such a config (the README's main job does). Runs in builds without the
//! feature (`cargo test -p voxpace-runtime`); with it, the same config checks clean.

use std::process::Command;

const ASKS_FOR_WEBRTC: &str =
    "[transport]\nwhep = true\nwhip_url = \"http://127.0.0.1:9/whip/{output}\"\n\
     [server]\nlisten = \"127.0.0.1:0\"\n";

fn voxpace(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_voxpace"))
        .args(args)
        .output()
        .expect("run voxpace");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[cfg(not(feature = "webrtc"))]
#[test]
fn whep_and_whip_are_refused_by_name_without_the_feature() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(&cfg, ASKS_FOR_WEBRTC).unwrap();
    let cfg = cfg.to_str().unwrap();
    for args in [
        &["config", "check", cfg][..],
        &["serve", "--config", cfg][..],
    ] {
        let (ok, text) = voxpace(args);
        assert!(!ok, "{args:?} accepted a WebRTC config: {text}");
        for key in ["transport.whep", "transport.whip_url"] {
            assert!(text.contains(key), "{args:?} does not name {key}: {text}");
        }
        assert!(
            text.contains("`webrtc` feature") && text.contains("--features webrtc"),
            "{args:?} does not name the feature: {text}"
        );
        assert!(!text.contains("listening on"), "{args:?} started: {text}");
    }
}

#[cfg(feature = "webrtc")]
#[test]
fn the_same_config_checks_clean_with_the_feature() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(&cfg, ASKS_FOR_WEBRTC).unwrap();
    let (ok, text) = voxpace(&["config", "check", cfg.to_str().unwrap()]);
    assert!(ok, "{text}");
}

/// `render` has no network: the README's main job renders the shipped example (which turns
/// WHEP on for `serve`) with a binary built without the feature.
#[cfg(not(feature = "webrtc"))]
#[test]
fn render_plays_a_config_that_asks_for_webrtc() {
    let dir = tempfile::tempdir().unwrap();
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/assets");
    let out = dir.path().join("demo.wav");
    let (ok, text) = voxpace(&[
        "render",
        "--config",
        &format!("{root}/example.toml"),
        "--script",
        &format!("{root}/demo-script.toml"),
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(ok, "{text}");
    assert!(std::fs::metadata(&out).unwrap().len() > 44, "{text}");
}

/// `voxpace config example > v.toml && voxpace config check v.toml` in the build the README's
/// first command makes (no `webrtc`): the printed example names no WebRTC setting and checks.
#[cfg(not(feature = "webrtc"))]
#[test]
fn the_printed_example_checks_in_a_build_without_webrtc() {
    let printed = printed_example_checks();
    assert!(
        !printed.contains("whep =") && !printed.contains("whip_url"),
        "{printed}"
    );
    assert!(printed.contains("--features webrtc"), "{printed}");
}

/// `voxpace config example > v.toml && voxpace config check v.toml` passes; the example.
fn printed_example_checks() -> String {
    let (ok, printed) = voxpace(&["config", "example"]);
    assert!(ok, "{printed}");
    let dir = tempfile::tempdir().unwrap();
    let v = dir.path().join("v.toml");
    std::fs::write(&v, &printed).unwrap();
    let (ok, text) = voxpace(&["config", "check", v.to_str().unwrap()]);
    assert!(ok, "{text}");
    printed
}

/// With the feature, the printed example turns WHEP on in so many words, and checks.
#[cfg(feature = "webrtc")]
#[test]
fn the_printed_example_turns_whep_on_in_a_build_with_webrtc() {
    let printed = printed_example_checks();
    assert!(printed.contains("\nwhep = true "), "{printed}");
}
