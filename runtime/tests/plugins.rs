//! Sink plugins through the runtime: `voxpace plugin check`, config checks that load the
//! plugin, and a real `.so` attached to a served output receiving the reply.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The plugin's shared library next to this test's target dir, built if missing.
fn plugin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let debug = exe.parent().unwrap().parent().unwrap().to_path_buf();
    let so = debug.join(format!("libvoxpace_plugin_{}.so", name.replace('-', "_")));
    if !so.exists() {
        let st = Command::new(env!("CARGO"))
            .args(["build", "-p", &format!("voxpace-plugin-{name}")])
            .env("CARGO_TARGET_DIR", debug.parent().unwrap())
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .unwrap();
        assert!(st.success(), "building the {name} plugin");
    }
    so
}

fn voxpace(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_voxpace"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn plugin_check_passes_a_good_plugin_and_fails_a_panicking_one() {
    let dir = tempfile::tempdir().unwrap();
    let rec = plugin("recorder");
    let cfg = format!("path = {:?}", dir.path().join("r.wav"));
    let (ok, out, err) = voxpace(&[
        "plugin",
        "check",
        rec.to_str().unwrap(),
        "--plugin-config",
        &cfg,
    ]);
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("name:        voxpace-plugin-recorder"),
        "{out}"
    );
    assert!(out.contains("result:      ok"), "{out}");

    let bad = plugin("faulty-panic");
    let (ok, out, err) = voxpace(&["plugin", "check", bad.to_str().unwrap()]);
    assert!(!ok, "a panicking plugin fails the check: {out}");
    assert!(out.contains("problem"), "{out}{err}");

    let (ok, _, err) = voxpace(&["plugin", "check", "/nonexistent/libx.so"]);
    assert!(!ok);
    assert!(err.contains("/nonexistent/libx.so"), "{err}");
}

#[test]
fn config_check_loads_plugins_and_reports_rejected_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let rec = plugin("recorder");
    let f = dir.path().join("c.toml");
    // The recorder requires `path`: without it, the check fails at the plugin's line.
    std::fs::write(
        &f,
        format!("\n[[sinks]]\nname = \"rec\"\nplugin = {rec:?}\n"),
    )
    .unwrap();
    let (ok, _, err) = voxpace(&["config", "check", f.to_str().unwrap()]);
    assert!(!ok);
    assert!(err.contains(":4:10: `sinks[0].plugin`"), "{err}");
    std::fs::write(
        &f,
        format!(
            "[[sinks]]\nname = \"rec\"\nplugin = {rec:?}\n[sinks.config]\npath = {:?}\n",
            dir.path().join("x.wav")
        ),
    )
    .unwrap();
    let (ok, out, err) = voxpace(&["config", "check", f.to_str().unwrap()]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("1 sink(s)"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_served_output_feeds_its_plugin_sink() {
    let dir = tempfile::tempdir().unwrap();
    let rec = plugin("recorder");
    let wav = dir.path().join("heard.wav");
    let f = dir.path().join("c.toml");
    std::fs::write(
        &f,
        format!("[server]\nlisten = \"127.0.0.1:0\"\n[[sinks]]\nplugin = {rec:?}\n[sinks.config]\npath = {wav:?}\n"),
    )
    .unwrap();
    let config = voxpace_runtime::Config::load(&f).unwrap();
    voxpace_runtime::check::deep_check(&config).unwrap();
    let server = voxpace_runtime::serve::Server::start(config).await.unwrap();
    let tone: Vec<i16> = (0..4800).map(|i| ((i % 100) * 100) as i16).collect();
    let bytes: Vec<u8> = tone.iter().flat_map(|s| s.to_le_bytes()).collect();
    let resp = reqwest::Client::new()
        .post(format!(
            "http://{}/v1/outputs/default/replies?wait=true",
            server.addr()
        ))
        .header("content-type", "audio/L16;rate=24000;channels=1")
        .body(bytes)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    server.shutdown().await.unwrap();
    // Shutdown flushed the sink: the recorder's file holds the reply.
    let mut got = Vec::new();
    for _ in 0..100 {
        if let Ok(r) = hound::WavReader::open(&wav) {
            got = r.into_samples::<i16>().map(Result::unwrap).collect();
            if got.len() >= tone.len() {
                break;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(Path::new(&wav).exists());
    assert_eq!(
        &got[..tone.len()],
        &tone[..],
        "the plugin recorded the reply sample for sample"
    );
}
