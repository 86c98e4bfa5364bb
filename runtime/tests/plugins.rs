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

#[test]
fn render_runs_the_sinks_and_their_files_are_the_same_bytes_every_run() {
    let dir = tempfile::tempdir().unwrap();
    let assets = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets");
    let script = dir.path().join("script.toml");
    std::fs::write(
        &script,
        format!(
            "\
             [[step]]\nat_ms = 200\nreply = {:?}\nstream_speed = 1.5\n\
             [[step]]\nat_ms = 1200\npause = true\n\
             [[step]]\nat_ms = 1500\nresume = true\n\
             [[step]]\nat_ms = 2300\ninterrupt = true\n\
             [[step]]\nat_ms = 2600\nreply = {:?}\n",
            assets.join("speech.wav"),
            assets.join("speech2.wav"),
        ),
    )
    .unwrap();
    let (rec, avatar) = (plugin("recorder"), plugin("avatar"));
    let mut outputs = Vec::new();
    for run in 0..3 {
        let run_dir = dir.path().join(format!("run{run}"));
        std::fs::create_dir_all(&run_dir).unwrap();
        let (wav, jsonl) = (run_dir.join("rec.wav"), run_dir.join("avatar.jsonl"));
        let config = run_dir.join("config.toml");
        std::fs::write(
            &config,
            format!(
                "[output]\nsample_rate = 24000\nchannels = 1\nframe_ms = 20\n\
                 [[sinks]]\nname = \"rec\"\nplugin = {rec:?}\n\
                 [sinks.config]\npath = {wav:?}\n\
                 [[sinks]]\nname = \"avatar\"\nplugin = {avatar:?}\n\
                 [sinks.config]\npath = {jsonl:?}\ndelivery = \"ahead\"\nmax_lead_ms = 300\n\
                 queue_ms = 1000\nowns_playback = true\n"
            ),
        )
        .unwrap();
        let out = run_dir.join("mix.wav");
        let (ok, stdout, stderr) = voxpace(&[
            "render",
            "--quiet",
            "--config",
            config.to_str().unwrap(),
            "--script",
            script.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(ok, "{stdout}{stderr}");
        let events = std::fs::read_to_string(run_dir.join("mix.events.jsonl")).unwrap();
        outputs.push((
            std::fs::read(&wav).unwrap(),
            std::fs::read_to_string(&jsonl).unwrap(),
            events,
        ));
    }
    let (wav, lipsync, events) = &outputs[0];
    assert!(
        wav.len() > 44 + 2 * 24_000,
        "over a second of speech recorded"
    );
    assert!(lipsync.lines().filter(|l| l.contains("\"frame\"")).count() > 50);
    // Host::now() reaches the plugin: each frame says how long before its play-out it
    // arrived (ahead delivery, max_lead 300 ms), the same on every run (compared below).
    let leads: Vec<f64> = lipsync
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["type"] == "frame")
        .map(|v| v["lead_ms"].as_f64().expect("frames carry lead_ms"))
        .collect();
    assert!(leads.iter().all(|l| (0.0..=300.0).contains(l)), "{leads:?}");
    assert!(leads.iter().any(|l| *l > 200.0), "{leads:?}");
    // The owning avatar reported both replies (the first at the interrupt's position).
    let reported = events
        .lines()
        .filter(|l| l.contains("playback_finished") && l.contains("reported"))
        .count();
    assert_eq!(reported, 2, "{events}");
    for (run, (w, l, e)) in outputs.iter().enumerate().skip(1) {
        assert!(w == wav, "run {run}: the recorder's WAV differs");
        assert!(l == lipsync, "run {run}: the avatar's file differs");
        let first = e.lines().zip(events.lines()).find(|(a, b)| a != b);
        assert!(e == events, "run {run}: the event log differs: {first:?}");
    }
}
