//! `check_plugin` (what `voxpace plugin check` runs) on good and faulty plugins, and the
//! `voxpace-plugin-check` binary. Real time: each check takes a few seconds.

mod common;

use common::{plugin, scratch};
use voxpace_sinks::{check_plugin, Error};

#[test]
fn the_template_passes_the_check_out_of_the_box() {
    let report = check_plugin(plugin("template"), "");
    assert!(report.passed(), "{report}");
    let meta = report.metadata.as_ref().unwrap();
    assert_eq!(meta.name, "voxpace-plugin-template");
    assert_eq!(meta.abi, voxpace_sinks::ABI_VERSION);
    for kind in [
        "start",
        "reply-started",
        "audio",
        "reply-ended",
        "interrupted",
        "paused",
        "resumed",
        "stop",
    ] {
        assert!(
            report.handled.contains_key(kind),
            "{kind} not delivered: {report}"
        );
    }
    let text = report.to_string();
    assert!(text.contains("voxpace-plugin-template") && text.contains("no problems"));
}

#[test]
fn good_plugins_pass_and_owning_avatars_report() {
    let dir = scratch("check-good");
    let wav = dir.join("r.wav");
    let report = check_plugin(
        plugin("recorder"),
        &format!("path = {:?}", wav.to_str().unwrap()),
    );
    assert!(report.passed(), "{report}");
    let jsonl = dir.join("a.jsonl");
    let report = check_plugin(
        plugin("avatar"),
        &format!("path = {:?}\nowns_playback = true", jsonl.to_str().unwrap()),
    );
    assert!(report.passed(), "{report}");
    assert!(report.info.as_ref().unwrap().owns_playback);
    let report = check_plugin(
        plugin("abi-previous-minor"),
        &format!("path = {:?}", dir.join("p.txt").to_str().unwrap()),
    );
    assert!(report.passed(), "{report}");
    assert!(report.to_string().contains("built against ABI 1.0"));
}

#[test]
fn every_faulty_plugin_is_reported_with_its_problem() {
    let report = check_plugin(plugin("faulty-panic"), "");
    assert!(!report.passed());
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.contains("deliberate panic")),
        "{report}"
    );

    let report = check_plugin(plugin("faulty-block"), "");
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.contains("did not handle `Stop`")),
        "{report}"
    );
    assert!(
        report.problems.iter().any(|p| p.contains("dropped")),
        "{report}"
    );

    let report = check_plugin(plugin("faulty-rejects-config"), "x = 1");
    assert!(
        matches!(report.error, Some(Error::ConfigRejected { .. })),
        "{report}"
    );
    assert!(
        report.metadata.is_some(),
        "metadata is printed even when the config is rejected"
    );

    let report = check_plugin(plugin("faulty-abi-major"), "");
    assert!(
        matches!(report.error, Some(Error::IncompatibleAbi { .. })),
        "{report}"
    );

    let report = check_plugin("/definitely/not/here.so", "");
    assert!(
        matches!(report.error, Some(Error::MissingFile { .. })),
        "{report}"
    );
}

#[test]
fn the_check_binary_prints_the_report_and_sets_the_exit_code() {
    let exe = env!("CARGO_BIN_EXE_voxpace-plugin-check");
    let ok = std::process::Command::new(exe)
        .arg(plugin("template"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&ok.stdout);
    assert!(ok.status.success(), "{stdout}");
    assert!(
        stdout.contains("name:        voxpace-plugin-template"),
        "{stdout}"
    );
    let bad = std::process::Command::new(exe)
        .arg(plugin("faulty-rejects-config"))
        .args(["--config", "device = \"x\""])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stdout).contains("rejected its configuration"));
}
