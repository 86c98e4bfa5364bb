//! `voxpace render` with audio as files really come: a reply file cut off part-way plays
//! its decoded part and is reported as `serve` reports a broken stream (exit 0); a float
//! reply peaking above full scale is normalised to the target; a broken background file's
//! events name things as a client does (numbers, lowercase words, the file's name).
//!
//! Fixtures are made by ffmpeg at test time.

mod common;

use std::path::Path;

use serde_json::Value;
use voxpace_test_kit::ffmpeg::ffmpeg;

fn render(dir: &Path, config: &str, script: &str) -> (bool, String, Vec<Value>, Vec<i16>) {
    let (c, s) = (dir.join("config.toml"), dir.join("script.toml"));
    std::fs::write(&c, config).unwrap();
    std::fs::write(&s, script).unwrap();
    let r = common::render(&c, &s, &dir.join("out.wav"));
    (r.ok, r.stderr, r.events, r.wav)
}

fn of_type<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["type"] == kind).collect()
}

/// 2 s of a voice-like tone as MP3, cut to its first 60 %.
fn truncated_mp3(dir: &Path) -> std::path::PathBuf {
    let whole = dir.join("whole.mp3");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "aevalsrc=0.3*sin(2*PI*(220+60*sin(2*PI*3*t))*t):s=24000:d=2",
        "-c:a",
        "libmp3lame",
        "-b:a",
        "64k",
        whole.to_str().unwrap(),
    ]);
    let bytes = std::fs::read(&whole).unwrap();
    let cut = dir.join("bad_truncated.mp3");
    std::fs::write(&cut, &bytes[..bytes.len() * 6 / 10]).unwrap();
    cut
}

const OUTPUT: &str = "[output]\nsample_rate = 24000\nchannels = 1\nframe_ms = 20\n";

#[test]
fn a_truncated_reply_plays_its_decoded_part_and_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let cut = truncated_mp3(dir.path());
    let script = format!("[[step]]\nat_ms = 100\nreply = {cut:?}\n");
    let (ok, stderr, events, wav) = render(dir.path(), OUTPUT, &script);
    assert!(ok, "render failed: {stderr}");
    for line in stderr.lines() {
        assert!(
            line.matches("bad_truncated.mp3").count() <= 1,
            "the file is named once: {line}"
        );
    }
    let incomplete = of_type(&events, "reply_incomplete");
    assert_eq!(incomplete.len(), 1, "{events:#?}");
    let e = incomplete[0];
    assert_eq!(e["reply"], 1);
    assert_eq!(e["reason"], "damaged_audio");
    let accepted = e["accepted_ms"].as_f64().unwrap();
    assert!((900.0..1300.0).contains(&accepted), "{accepted} ms decoded");
    let finished = of_type(&events, "playback_finished");
    assert_eq!(finished.len(), 1, "{events:#?}");
    let played = finished[0]["played_ms"].as_f64().unwrap();
    assert!(
        (played - accepted).abs() < 1.0,
        "played {played} ms of {accepted}"
    );
    assert_eq!(finished[0]["interrupted"], false);
    // It precedes the reply's playback_finished, as in serve.
    let at = |kind: &str| events.iter().position(|e| e["type"] == kind).unwrap();
    assert!(at("reply_incomplete") < at("playback_finished"));
    let heard = wav.iter().filter(|s| s.unsigned_abs() > 300).count() as f64 / 24.0;
    assert!(heard > 0.8 * accepted, "{heard} ms audible");
    // No absolute paths in the log.
    let log = serde_json::to_string(&events).unwrap();
    assert!(!log.contains(dir.path().to_str().unwrap()), "{log}");
}

#[test]
fn a_float_reply_above_full_scale_is_normalised_to_the_target() {
    let dir = tempfile::tempdir().unwrap();
    let hot = dir.path().join("hot.wav");
    // About -11 LUFS with bursts peaking at +9 dBFS, as 32-bit float.
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "aevalsrc=0.4*sin(2*PI*(220+80*sin(2*PI*3*t))*t)*(0.6+0.4*sin(2*PI*4*t))+2.6*sin(2*PI*1000*t)*lt(mod(t\\,0.5)\\,0.004):s=24000:d=4",
        "-c:a",
        "pcm_f32le",
        hot.to_str().unwrap(),
    ]);
    let target = -18.0;
    let config = format!(
        "{OUTPUT}limiter = \"true-peak\"\n[output.loudness]\ntarget_lufs = {target}\ntrue_peak_dbtp = -1\n"
    );
    let script = format!("[[step]]\nat_ms = 0\nreply = {hot:?}\n");
    let (ok, stderr, events, wav) = render(dir.path(), &config, &script);
    assert!(ok, "render failed: {stderr}");
    let mut meter =
        ebur128::EbuR128::new(1, 24_000, ebur128::Mode::I | ebur128::Mode::TRUE_PEAK).unwrap();
    meter.add_frames_i16(&wav).unwrap();
    let lufs = meter.loudness_global().unwrap();
    let peak = 20.0 * meter.true_peak(0).unwrap().log10();
    let finished = of_type(&events, "playback_finished");
    eprintln!(
        "output {lufs:.2} LUFS, true peak {peak:.2} dBTP; {:?}",
        finished[0]["loudness"]
    );
    assert!((lufs - target).abs() <= 1.0, "{lufs} LUFS, target {target}");
    // Measured as the file has it (ffmpeg's ebur128 says -11.1 LUFS; clipped to 16 bits it
    // would measure -12.4).
    let measured = finished[0]["loudness"]["measured_lufs"].as_f64().unwrap();
    assert!((measured + 11.1).abs() < 0.3, "measured {measured} LUFS");
    assert!(peak <= -0.5, "the limiter sets the peak: {peak} dBTP");
}

#[test]
fn a_broken_background_is_reported_with_numbers_words_and_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let cut = truncated_mp3(dir.path());
    let config = format!("{OUTPUT}[background]\nfile = {cut:?}\ngain_db = -6\nloop = false\n");
    let script = "length_ms = 2500\n";
    let (ok, stderr, events, _) = render(dir.path(), &config, script);
    assert!(ok, "render failed: {stderr}");
    let failed = of_type(&events, "source_failed");
    assert_eq!(failed.len(), 1, "{events:#?}");
    let f = failed[0];
    assert!(f["source"].is_u64(), "{f}");
    assert_eq!(f["file"], "bad_truncated.mp3");
    let reason = f["reason"].as_str().unwrap();
    assert!(reason.starts_with("truncated after"), "{reason}");
    let log = serde_json::to_string(&events).unwrap();
    assert!(!log.contains(dir.path().to_str().unwrap()), "{log}");
    assert!(
        !log.contains("SourceId") && !log.contains("SinkId"),
        "{log}"
    );
}
