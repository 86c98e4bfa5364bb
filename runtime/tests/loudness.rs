//! Loudness, end to end: replies at very different levels come out at the target, the
//! background sits `relative_lu` below it, a hot mix stays under the true-peak ceiling, and
//! render stays reproducible with all of it on. Every level is measured by ebur128 itself
//! over the rendered WAV; the inputs are speech-like and music-like files written at known
//! levels (measured by ebur128 too).

use std::path::{Path, PathBuf};

use ebur128::{EbuR128, Mode};
use voxpace_runtime::render::{render, Outputs};
use voxpace_runtime::script::Script;
use voxpace_runtime::Config;

const RATE: u32 = 24_000;

/// A voice-like signal: a gliding 110-180 Hz harmonic complex, syllables at about 4 Hz,
/// a pause every 1.6 s.
fn speechlike(seconds: f32, seed: f32) -> Vec<f32> {
    let n = (RATE as f32 * seconds) as usize;
    let pi = std::f32::consts::PI;
    let mut phase = 0f32;
    (0..n)
        .map(|i| {
            let t = i as f32 / RATE as f32;
            let f0 = 145.0 + 35.0 * (2.0 * pi * (0.6 + seed * 0.1) * t).sin();
            phase += 2.0 * pi * f0 / RATE as f32;
            let mut v = 0.0;
            for h in 1..16 {
                let formant = 1.0 / (1.0 + ((h as f32 * f0 - 700.0) / 400.0).powi(2));
                v += (phase * h as f32).sin() * (0.3 / h as f32 + formant);
            }
            let syllable = (pi * (3.7 + seed) * t).sin().abs().powf(1.5);
            let pause = if t % 1.6 > 1.35 { 0.0 } else { 1.0 };
            v * syllable * pause
        })
        .collect()
}

/// A music-like bed: three sustained partials of a chord and a slow pulse, stereo-free.
fn musiclike(seconds: f32) -> Vec<f32> {
    let n = (RATE as f32 * seconds) as usize;
    let pi = std::f32::consts::PI;
    (0..n)
        .map(|i| {
            let t = i as f32 / RATE as f32;
            let pulse = 0.8 + 0.2 * (2.0 * pi * 2.0 * t).sin();
            pulse
                * ((2.0 * pi * 220.0 * t).sin()
                    + 0.7 * (2.0 * pi * 277.2 * t).sin()
                    + 0.5 * (2.0 * pi * 329.6 * t).sin()
                    + 0.2 * (2.0 * pi * 1760.0 * t).sin())
        })
        .collect()
}

fn integrated(samples: &[i16]) -> f64 {
    let mut m = EbuR128::new(1, RATE, Mode::I).unwrap();
    m.add_frames_i16(samples).unwrap();
    m.loudness_global().unwrap()
}

fn true_peak_dbtp(samples: &[i16]) -> f64 {
    let mut m = EbuR128::new(1, RATE, Mode::TRUE_PEAK).unwrap();
    m.add_frames_i16(samples).unwrap();
    20.0 * m.true_peak(0).unwrap().log10()
}

/// Write `signal` at `lufs` (as ebur128 measures the written file) as 16-bit WAV. Loud
/// levels are reached as mastering does, with peaks saturated softly (tanh), never clipped.
fn write_at(path: &Path, signal: &[f32], lufs: f64) {
    let to_i16 = |gain: f32| -> Vec<i16> {
        signal
            .iter()
            .map(|s| ((s * gain).tanh() * 32_767.0).round() as i16)
            .collect()
    };
    let mut gain = 0.1f32;
    for _ in 0..8 {
        let at = integrated(&to_i16(gain));
        gain *= 10f32.powf((lufs - at) as f32 / 20.0);
    }
    let samples = to_i16(gain);
    let measured = integrated(&samples);
    assert!((measured - lufs).abs() < 0.2, "fixture at {measured} LUFS");
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for s in samples {
        w.write_sample(s).unwrap();
    }
    w.finalize().unwrap();
}

struct Rendered {
    mix: Vec<i16>,
    events: Vec<serde_json::Value>,
    outputs: Outputs,
}

fn render_in(dir: &Path, name: &str, config: &str, script: &str) -> Rendered {
    let cfg = dir.join(format!("{name}.toml"));
    std::fs::write(&cfg, config).unwrap();
    let scr = dir.join(format!("{name}-script.toml"));
    std::fs::write(&scr, script).unwrap();
    let config = Config::load(&cfg).unwrap();
    let script = Script::load(&scr).unwrap();
    let outputs = Outputs::beside(&dir.join(format!("{name}.wav")), None, None);
    render(&config, &script, &outputs, false).unwrap();
    let mix = hound::WavReader::open(&outputs.wav)
        .unwrap()
        .samples::<i16>()
        .map(Result::unwrap)
        .collect();
    let events = std::fs::read_to_string(&outputs.events)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    Rendered {
        mix,
        events,
        outputs,
    }
}

/// Each reply's stretch of the mix: from its first sample to its last.
fn reply_spans(r: &Rendered) -> Vec<(u64, std::ops::Range<usize>)> {
    let started = |id: u64| {
        r.events
            .iter()
            .find(|e| e["type"] == "speech_started" && e["reply"] == id)
            .and_then(|e| e["pts"].as_u64())
            .unwrap()
    };
    r.events
        .iter()
        .filter(|e| e["type"] == "playback_finished")
        .map(|e| {
            let id = e["reply"].as_u64().unwrap();
            let from = started(id) as usize;
            (
                id,
                from..from + e["played_samples"].as_u64().unwrap() as usize,
            )
        })
        .collect()
}

fn fixtures(dir: &Path) -> (PathBuf, PathBuf) {
    let quiet = dir.join("quiet.wav");
    let loud = dir.join("loud.wav");
    write_at(&quiet, &speechlike(4.0, 0.0), -26.0);
    write_at(&loud, &speechlike(4.0, 0.5), -10.0);
    (quiet, loud)
}

#[test]
fn replies_at_minus_26_and_minus_10_lufs_come_out_at_the_target() {
    let dir = tempfile::tempdir().unwrap();
    let (quiet, loud) = fixtures(dir.path());
    let script = format!(
        "[[step]]\nat_ms = 200\nreply = {quiet:?}\nstream_speed = 1.5\n\
         [[step]]\nat_ms = 5000\nreply = {loud:?}\n\
         [[step]]\nat_ms = 9500\nreply = {quiet:?}\n"
    );
    for limiter in ["soft-knee", "true-peak"] {
        let config =
            format!("[output]\nlimiter = {limiter:?}\n[output.loudness]\ntarget_lufs = -16\n");
        let r = render_in(dir.path(), limiter, &config, &script);
        let spans = reply_spans(&r);
        assert_eq!(spans.len(), 3, "{:?}", r.events);
        for (id, span) in spans {
            let lufs = integrated(&r.mix[span.clone()]);
            eprintln!("{limiter}: reply {id} at {lufs:.2} LUFS");
            assert!(
                (lufs + 16.0).abs() <= 1.0,
                "{limiter}: reply {id} came out at {lufs:.2} LUFS"
            );
            let finished = r
                .events
                .iter()
                .find(|e| e["type"] == "playback_finished" && e["reply"] == id)
                .unwrap();
            let measured = finished["loudness"]["measured_lufs"].as_f64().unwrap();
            let gain = finished["loudness"]["gain_db"].as_f64().unwrap();
            let input = if id == 2 { -10.0 } else { -26.0 };
            assert!((measured - input).abs() < 0.6, "{finished}");
            assert!((gain - (-16.0 - input)).abs() < 1.0, "{finished}");
        }
    }
    // Without a target the same replies stay 16 LU apart.
    let r = render_in(dir.path(), "off", "", &script);
    let spans = reply_spans(&r);
    let (a, b) = (
        integrated(&r.mix[spans[0].1.clone()]),
        integrated(&r.mix[spans[1].1.clone()]),
    );
    assert!((b - a - 16.0).abs() < 0.5, "{a} {b}");
}

#[test]
fn the_background_sits_relative_lu_below_the_speech_target() {
    let dir = tempfile::tempdir().unwrap();
    for (name, level) in [("soft", -30.0), ("hot", -9.0)] {
        let music = dir.path().join(format!("{name}.wav"));
        write_at(&music, &musiclike(5.0), level);
        let config = format!(
            "[output.loudness]\ntarget_lufs = -16\n[background]\nfile = {music:?}\nrelative_lu = -18\n"
        );
        let r = render_in(dir.path(), name, &config, "length_ms = 6000\n");
        // After the 300 ms fade-in.
        let lufs = integrated(&r.mix[RATE as usize..]);
        eprintln!("background from {level} LUFS: {lufs:.2} LUFS");
        assert!(
            (lufs + 34.0).abs() <= 1.5,
            "{name}: background at {lufs:.2} LUFS, want -34"
        );
    }
}

#[test]
fn a_hot_mix_stays_under_the_true_peak_ceiling() {
    let dir = tempfile::tempdir().unwrap();
    let music = dir.path().join("music.wav");
    write_at(&music, &musiclike(6.0), -8.0);
    let voice = dir.path().join("voice.wav");
    write_at(&voice, &speechlike(4.0, 0.2), -9.0);
    let script = format!("length_ms = 6000\n[[step]]\nat_ms = 500\nreply = {voice:?}\n");
    let hot = |limiter: &str| {
        format!(
            "[output]\nlimiter = {limiter:?}\n[output.loudness]\ntarget_lufs = -9\n\
             [background]\nfile = {music:?}\ngain_db = 0\n"
        )
    };
    let mut peaks = Vec::new();
    for limiter in ["soft-knee", "true-peak"] {
        let mut config = hot(limiter);
        if limiter == "true-peak" {
            config = config.replace(
                "target_lufs = -9\n",
                "target_lufs = -9\ntrue_peak_dbtp = -1\n",
            );
        }
        let r = render_in(dir.path(), limiter, &config, &script);
        peaks.push(true_peak_dbtp(&r.mix));
    }
    eprintln!(
        "true peak: soft knee {:.2} dBTP, true-peak limiter {:.2} dBTP",
        peaks[0], peaks[1]
    );
    assert!(
        peaks[0] > -1.0,
        "the mix is really hot: {:.2} dBTP",
        peaks[0]
    );
    assert!(peaks[1] <= -1.0, "over the ceiling: {:.2} dBTP", peaks[1]);
}

#[test]
fn render_with_loudness_on_is_reproducible_to_the_byte() {
    let dir = tempfile::tempdir().unwrap();
    let (quiet, loud) = fixtures(dir.path());
    let music = dir.path().join("music.wav");
    write_at(&music, &musiclike(3.0), -20.0);
    let config = format!(
        "[output]\nlimiter = \"true-peak\"\n[output.loudness]\ntarget_lufs = -16\n\
         [background]\nfile = {music:?}\nrelative_lu = -18\n[background.ducking]\n"
    );
    let script = format!(
        "[[step]]\nat_ms = 100\nreply = {quiet:?}\nstream_speed = 1.3\n\
         [[step]]\nat_ms = 2000\ninterrupt = true\n[[step]]\nat_ms = 2500\nreply = {loud:?}\n"
    );
    let runs: Vec<_> = (0..2)
        .map(|i| {
            let r = render_in(dir.path(), &format!("run{i}"), &config, &script);
            [&r.outputs.wav, &r.outputs.events, &r.outputs.png].map(|p| std::fs::read(p).unwrap())
        })
        .collect();
    for (k, name) in ["wav", "event log", "png"].iter().enumerate() {
        assert!(runs[0][k] == runs[1][k], "the {name} differs between runs");
    }
}

/// A served output with `[output.loudness]` shows its momentary loudness in /metrics while
/// it speaks (a real server on loopback, a reply over the control API).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_show_the_output_momentary_loudness() {
    let dir = tempfile::tempdir().unwrap();
    let voice = dir.path().join("voice.wav");
    write_at(&voice, &speechlike(3.0, 0.1), -26.0);
    let cfg = dir.path().join("serve.toml");
    std::fs::write(
        &cfg,
        "[output.loudness]\ntarget_lufs = -16\n[server]\nlisten = \"127.0.0.1:0\"\n",
    )
    .unwrap();
    let server = voxpace_runtime::serve::Server::start(Config::load(&cfg).unwrap())
        .await
        .unwrap();
    let base = format!("http://{}", server.addr());
    let http = reqwest::Client::new();
    let posted = http
        .post(format!("{base}/v1/outputs/default/replies"))
        .header("content-type", "audio/wav")
        .body(std::fs::read(&voice).unwrap())
        .send()
        .await
        .unwrap();
    assert!(posted.status().is_success(), "{posted:?}");
    let name = "voxpace_output_momentary_lufs{output=\"default\"}";
    let mut seen = None;
    for _ in 0..100 {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let text = http
            .get(format!("{base}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if let Some(line) = text.lines().find(|l| l.starts_with(name)) {
            seen = line.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok());
            break;
        }
    }
    let lufs = seen.expect("no momentary loudness in /metrics within 5 s of speech");
    assert!((-40.0..-5.0).contains(&lufs), "{lufs} LUFS");
    server.shutdown().await.unwrap();
}
