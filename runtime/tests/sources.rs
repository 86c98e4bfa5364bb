//! Background files damaged mid-play, in `render` (the event log, stderr) and `serve` (the
//! SSE stream): a file cut off, and a file with bit flips. Fixtures are made by ffmpeg at
//! test time (installed by `cargo xtask ci`; used only by tests).

mod common;

use std::path::{Path, PathBuf};

use serde_json::Value;
use voxpace_runtime::serve::Server;
use voxpace_runtime::Config;
use voxpace_test_kit::ffmpeg::ffmpeg;
use voxpace_test_kit::sse::{self, Events};

fn assets() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("assets")
}

/// Damaged copies of a `seconds` long 440 Hz tone in `dir`: an MP3 cut off at 40 %, and
/// an MP3 and a FLAC with a run of flipped bits at 50 % (FLAC's frame checksums catch them;
/// MP3 has none, so its decoder plays the damage as noise).
fn damaged_files(dir: &Path, seconds: f64) -> (PathBuf, PathBuf, PathBuf) {
    let d = format!("sine=f=440:d={seconds}:r=24000");
    let make = |name: &str, codec: &[&str]| {
        let good = dir.join(format!("good-{name}"));
        let mut args = vec!["-f", "lavfi", "-i", &d];
        args.extend_from_slice(codec);
        args.push(good.to_str().unwrap());
        ffmpeg(&args);
        std::fs::read(&good).unwrap()
    };
    let flip = |mut bytes: Vec<u8>, name: &str| {
        let mid = bytes.len() / 2;
        for b in &mut bytes[mid..mid + 600] {
            *b ^= 0x5A;
        }
        let path = dir.join(name);
        std::fs::write(&path, &bytes).unwrap();
        path
    };
    let mp3 = make("music.mp3", &["-c:a", "libmp3lame", "-b:a", "64k"]);
    let cut = dir.join("cut.mp3");
    std::fs::write(&cut, &mp3[..mp3.len() * 2 / 5]).unwrap();
    let flipped_mp3 = flip(mp3, "flipped.mp3");
    let flipped_flac = flip(make("music.flac", &["-c:a", "flac"]), "flipped.flac");
    (cut, flipped_mp3, flipped_flac)
}

fn write_config(dir: &Path, background: &Path) -> PathBuf {
    let text = format!(
        "[output]\nsample_rate = 24000\nchannels = 1\n\n[background]\nfile = {background:?}\ngain_db = 0\nloop = true\n\n[server]\nlisten = \"127.0.0.1:0\"\noutputs = [\"default\"]\n"
    );
    let path = dir.join("voxpace.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Run `voxpace render`; returns the event log lines and stderr.
fn render(dir: &Path, config: &Path, length_ms: u64) -> (Vec<Value>, String, Vec<i16>) {
    let script = dir.join("script.toml");
    let speech = assets().join("speech.wav");
    std::fs::write(
        &script,
        format!("length_ms = {length_ms}\n[[step]]\nat_ms = 300\nreply = {speech:?}\n"),
    )
    .unwrap();
    let r = common::render(config, &script, &dir.join("out.wav"));
    assert!(r.ok, "render failed: {}", r.stderr);
    (r.events, r.stderr, r.wav)
}

fn of_type<'a>(log: &'a [Value], t: &str) -> Vec<&'a Value> {
    log.iter().filter(|l| l["type"] == t).collect()
}

fn rms(x: &[i16]) -> f64 {
    (x.iter().map(|v| (*v as f64).powi(2)).sum::<f64>() / x.len().max(1) as f64).sqrt()
}

#[test]
fn render_a_cut_off_looping_background_restarts_then_fails_in_the_log_and_on_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let (cut, _, _) = damaged_files(dir.path(), 1.0);
    let config = write_config(dir.path(), &cut);
    let (log, stderr, wav) = render(dir.path(), &config, 4000);
    let restarts = of_type(&log, "source_damaged");
    let failed = of_type(&log, "source_failed");
    assert_eq!(restarts.len(), 3, "{log:#?}");
    // Each pass is what is left of the file (40 % of its bytes, about a third of its audio).
    let pass = restarts[0]["t_ms"].as_f64().unwrap();
    assert!((250.0..450.0).contains(&pass), "first restart at {pass} ms");
    for (k, r) in restarts.iter().enumerate() {
        assert_eq!(r["recovery"], "restarted");
        assert_eq!(r["attempt"], k as u64 + 1);
        assert_eq!(r["file"], "cut.mp3");
        let t = r["t_ms"].as_f64().unwrap();
        assert!(
            (t - pass * (k + 1) as f64).abs() < 30.0,
            "restart {k} at {t} ms"
        );
        assert_eq!(r["pts"].as_u64().unwrap() as f64, (t * 24.0).round());
    }
    assert_eq!(failed.len(), 1, "{log:#?}");
    let t = failed[0]["t_ms"].as_f64().unwrap();
    assert!((t - 4.0 * pass).abs() < 40.0, "failed at {t} ms");
    assert!(
        failed[0]["reason"].as_str().unwrap().contains("truncated"),
        "{}",
        failed[0]
    );
    assert!(
        stderr.contains("source failed") && stderr.contains("cut.mp3"),
        "stderr: {stderr}"
    );
    assert!(stderr.contains("source damaged"), "stderr: {stderr}");
    // Music until the failure, then only the speech (which starts at 300 ms and is short).
    let at = |ms: f64| (ms * 24.0) as usize;
    assert!(rms(&wav[at(3.5 * pass)..at(3.9 * pass)]) > 500.0);
    // The render goes on after it: the full length is written.
    assert_eq!(wav.len(), at(4000.0));
}

#[test]
fn render_a_bit_flipped_background_skips_the_damage_and_plays_to_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let (_, flipped_mp3, flipped_flac) = damaged_files(dir.path(), 2.0);
    let at = |ms: f64| (ms * 24.0) as usize;
    // FLAC: the damaged frames fail their checksum, are skipped and reported.
    let config = write_config(dir.path(), &flipped_flac);
    let (log, stderr, wav) = render(dir.path(), &config, 2500);
    assert!(of_type(&log, "source_failed").is_empty(), "{log:#?}");
    let damaged = of_type(&log, "source_damaged");
    assert!(!damaged.is_empty(), "the damage is reported: {log:#?}");
    for d in &damaged {
        assert_eq!(d["recovery"], "skipped");
        // Once per pass of the 2 s loop, at the same place in the file.
        let t = d["t_ms"].as_f64().unwrap() % 2000.0;
        assert!((100.0..1900.0).contains(&t), "damage at {t} ms into a pass");
    }
    assert!(stderr.contains("source damaged"), "stderr: {stderr}");
    // The loop went on past the damage and the seam at 2 s.
    assert!(rms(&wav[at(1500.0)..at(1900.0)]) > 1000.0);
    assert!(rms(&wav[at(2100.0)..at(2400.0)]) > 1000.0);
    // MP3: nothing detects the flips; the file plays on through them and loops.
    let config = write_config(dir.path(), &flipped_mp3);
    let (log, _, wav) = render(dir.path(), &config, 2500);
    assert!(of_type(&log, "source_failed").is_empty(), "{log:#?}");
    assert!(rms(&wav[at(1500.0)..at(1900.0)]) > 1000.0);
    assert!(rms(&wav[at(2100.0)..at(2400.0)]) > 1000.0);
}

/// SSE events of an output.
async fn events(base: &str) -> Events {
    sse::subscribe(&format!("{base}/v1/outputs/default/events")).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_reports_a_cut_off_and_a_bit_flipped_background_on_the_event_stream() {
    let dir = tempfile::tempdir().unwrap();
    let (cut, _, flipped) = damaged_files(dir.path(), 2.0);
    let config = Config::load(&write_config(dir.path(), &cut)).unwrap();
    let server = Server::start(config).await.unwrap();
    let base = format!("http://{}", server.addr());
    let mut rx = events(&base).await;
    let first = rx.wait_for("source_damaged").await;
    assert_eq!(first["recovery"], "restarted", "{first}");
    assert_eq!(first["attempt"], 1);
    assert!(first["file"].as_str().unwrap().ends_with("cut.mp3"));
    let failed = rx.wait_for("source_failed").await;
    let (t, pts) = (
        failed["t_ms"].as_f64().unwrap(),
        failed["pts"].as_u64().unwrap(),
    );
    assert!(t > first["t_ms"].as_f64().unwrap(), "{failed}");
    assert!((pts as f64 - t * 24.0).abs() <= 1.0, "{failed}");
    assert!(
        failed["reason"].as_str().unwrap().contains("truncated"),
        "{failed}"
    );
    server.shutdown().await.unwrap();
    // The bit-flipped file as the music: the damage is skipped and reported, music goes on.
    let config = Config::load(&write_config(dir.path(), &flipped)).unwrap();
    let server = Server::start(config).await.unwrap();
    let mut rx = events(&format!("http://{}", server.addr())).await;
    let damaged = rx.wait_for("source_damaged").await;
    assert_eq!(damaged["recovery"], "skipped", "{damaged}");
    assert!(damaged["file"].as_str().unwrap().ends_with("flipped.flac"));
    assert!(damaged["t_ms"].as_f64().unwrap() > 100.0, "{damaged}");
    server.shutdown().await.unwrap();
}
