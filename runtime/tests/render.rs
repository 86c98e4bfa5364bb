//! `voxpace render`: reproducible to the byte, and the audio is where the script put it.

use std::path::{Path, PathBuf};
use std::process::Command;

use voxpace_runtime::audio;
use voxpace_runtime::render::{render, Outputs};
use voxpace_runtime::script::Script;
use voxpace_runtime::Config;

fn assets() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("assets")
}

fn read_i16(path: &Path) -> Vec<i16> {
    hound::WavReader::open(path)
        .unwrap()
        .samples::<i16>()
        .map(Result::unwrap)
        .collect()
}

#[test]
fn same_config_and_script_give_the_same_bytes_every_run() {
    let dir = tempfile::tempdir().unwrap();
    let config = assets().join("example.toml");
    let script = assets().join("demo-script.toml");
    let mut files = Vec::new();
    for run in 0..3 {
        let out = dir.path().join(format!("run{run}.wav"));
        let st = Command::new(env!("CARGO_BIN_EXE_voxpace"))
            .args(["render", "--quiet", "--config"])
            .arg(&config)
            .arg("--script")
            .arg(&script)
            .arg("--out")
            .arg(&out)
            .status()
            .unwrap();
        assert!(st.success());
        let o = Outputs::beside(&out, None, None);
        files.push([
            std::fs::read(&o.wav).unwrap(),
            std::fs::read(&o.events).unwrap(),
            std::fs::read(&o.png).unwrap(),
        ]);
    }
    assert!(files[0][0].len() > 600_000, "14 s of 24 kHz mono");
    for run in 1..3 {
        for (k, name) in ["wav", "event log", "png"].iter().enumerate() {
            assert!(
                files[0][k] == files[run][k],
                "run {run}: the {name} differs from run 0"
            );
        }
    }
    // The demo's content: 14 s, two replies, the first interrupted at 2.6 s.
    let log = String::from_utf8(files[0][1].clone()).unwrap();
    let finished: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["type"] == "playback_finished")
        .collect();
    assert_eq!(finished.len(), 2, "{log}");
    assert_eq!(finished[0]["interrupted"], true);
    assert_eq!(finished[0]["t_ms"], 2600.0);
    assert_eq!(finished[1]["interrupted"], false);
    // What was heard: the first reply's marks up to the barge-in (2.1 s in: "You can
    // interrupt me" starts at 2.355 s), the second reply's whole text (an estimate).
    assert_eq!(finished[0]["heard_text"], "Hello! I am your voice agent.");
    assert_eq!(finished[0]["text_timing"], "marks");
    assert_eq!(
        finished[1]["heard_text"],
        "Sure. Here is the weather for tomorrow: sunny, with a light breeze."
    );
    assert_eq!(finished[1]["text_timing"], "estimated");
    let marks: Vec<(String, f64)> = log
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["type"] == "text_played")
        .map(|v| {
            (
                v["text"].as_str().unwrap().to_string(),
                v["t_ms"].as_f64().unwrap(),
            )
        })
        .collect();
    // Each at its place in the reply, which started with the frame at 500 ms.
    assert_eq!(
        marks,
        [
            ("Hello!".to_string(), 500.0),
            (" I am your voice agent.".to_string(), 1350.0)
        ]
    );
}

#[test]
fn a_reply_plays_exactly_at_its_scripted_time() {
    let dir = tempfile::tempdir().unwrap();
    let cfg_path = dir.path().join("c.toml");
    std::fs::write(&cfg_path, "[output]\ninterrupt_fade_ms = 0\n").unwrap();
    let speech = assets().join("speech.wav");
    let script_path = dir.path().join("s.toml");
    std::fs::write(
        &script_path,
        format!(
            "[[step]]\nat_ms = 1000\nreply = {:?}\nstream_speed = 1.2\n",
            speech.to_str().unwrap()
        ),
    )
    .unwrap();
    let config = Config::load(&cfg_path).unwrap();
    let script = Script::load(&script_path).unwrap();
    let out = Outputs::beside(&dir.path().join("o.wav"), None, None);
    let summary = render(&config, &script, &out, false).unwrap();
    assert_eq!(summary.completed, 1);
    assert_eq!(summary.underruns, 0, "1.2x real time never runs dry");

    let mix = read_i16(&out.wav);
    let reply = audio::load_for(&speech, config.format).unwrap();
    assert!(mix[..24_000].iter().all(|&s| s == 0), "silence before 1 s");
    assert_eq!(
        &mix[24_000..24_000 + reply.len()],
        &reply[..],
        "the reply, sample for sample"
    );
    let after = &mix[24_000 + reply.len()..];
    assert!(after.iter().all(|&s| s == 0), "silence after");
    // Ends after the grace period plus the tail: 500 + 500 ms of silence, rounded to frames.
    assert!((23_500..24_500).contains(&after.len()), "{}", after.len());

    // The picture is a real PNG of the documented size.
    let png = std::fs::read(&out.png).unwrap();
    assert_eq!(&png[1..4], b"PNG");
    assert_eq!(u32::from_be_bytes(png[16..20].try_into().unwrap()), 1600);
}

#[test]
fn pause_holds_speech_and_resume_plays_it_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let cfg_path = dir.path().join("c.toml");
    std::fs::write(&cfg_path, "").unwrap();
    let speech = assets().join("speech.wav");
    let script_path = dir.path().join("s.toml");
    std::fs::write(
        &script_path,
        format!(
            "length_ms = 8000\n[[step]]\nat_ms = 0\nreply = {s:?}\n[[step]]\nat_ms = 1000\npause = true\n[[step]]\nat_ms = 1500\nresume = true\n",
            s = speech.to_str().unwrap()
        ),
    )
    .unwrap();
    let config = Config::load(&cfg_path).unwrap();
    let script = Script::load(&script_path).unwrap();
    let out = Outputs::beside(&dir.path().join("o.wav"), None, None);
    let summary = render(&config, &script, &out, false).unwrap();
    assert_eq!(summary.frames, 400, "length_ms fixes the length");
    let mix = read_i16(&out.wav);
    let reply = audio::load_for(&speech, config.format).unwrap();
    assert_eq!(&mix[..24_000], &reply[..24_000]);
    assert!(
        mix[24_000..36_000].iter().all(|&s| s == 0),
        "paused: silence"
    );
    assert_eq!(
        &mix[36_000..36_000 + reply.len() - 24_000],
        &reply[24_000..],
        "resumed where it stopped"
    );
}
