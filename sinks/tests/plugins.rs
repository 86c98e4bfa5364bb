//! Every plugin, loaded from its built `.so` by path (never linked), driven through real
//! tracks; assertions on what the plugins wrote. Sinks run on real threads: these tests
//! wait for content with generous bounds and never assert on speed.

mod common;

use std::time::Duration;

use common::{pattern, plugin, scratch, wav_samples, Stage};
use serde_json::Value;
use voxpace_core::{Event, Position, Sink, TrackConfig};
use voxpace_sinks::{Error, Plugin, PluginSink};
use voxpace_test_kit::wait::poll_until;

const LONG: Duration = Duration::from_secs(20);

fn stage() -> Stage {
    Stage::new(TrackConfig {
        interrupt_fade: Duration::ZERO,
        ..TrackConfig::default()
    })
}

fn recorder(dir: &std::path::Path, name: &str) -> (PluginSink, std::path::PathBuf) {
    let wav = dir.join(name);
    let sink = PluginSink::load(
        plugin("recorder"),
        &format!("path = {:?}", wav.to_str().unwrap()),
    )
    .unwrap()
    .with_queue(Duration::from_secs(10));
    (sink, wav)
}

#[test]
fn recorder_writes_exactly_what_the_track_played() {
    let dir = scratch("recorder-exact");
    let mut stage = stage();
    let (sink, wav) = recorder(&dir, "out.wav");
    assert_eq!(sink.info().name, "recorder");
    let id = stage.handle.attach_sink(Box::new(sink)).unwrap();
    stage.render(2);
    let first = pattern(24_000 / 2, 1); // 25 frames
    let second = pattern(24_000 * 3 / 10, 2); // 15 frames
    let a = stage.say(&first);
    let b = stage.say(&second);
    stage.until_finished(a, 200);
    stage.until_finished(b, 200);
    stage.render(2);
    stage.handle.detach_sink(id).unwrap();
    stage.render(2);

    let expected: Vec<i16> = first.iter().chain(&second).copied().collect();
    let got = poll_until(LONG, || wav_samples(&wav, expected.len())).expect("recorder finished");
    assert_eq!(got.len(), expected.len());
    assert!(
        got == expected,
        "the recording differs from the speech sent"
    );
    // And it is what the track itself played, frame by frame.
    assert!(stage.speech_samples() == expected);
}

#[test]
fn a_plugin_receives_text_marks_in_order_with_their_audio() {
    // The recorder (ABI 1.2) writes each text mark it gets; the interrupted reply's marks
    // stop where the listener stopped hearing.
    let dir = scratch("recorder-marks");
    let mut stage = stage();
    let (wav, marks) = (dir.join("out.wav"), dir.join("out.marks.jsonl"));
    let config = format!(
        "path = {:?}\nmarks = {:?}",
        wav.to_str().unwrap(),
        marks.to_str().unwrap()
    );
    let sink = PluginSink::load(plugin("recorder"), &config).unwrap();
    let id = stage.handle.attach_sink(Box::new(sink)).unwrap();
    stage.render(1);
    let words = [
        (0, "Hello,"),
        (2_400, " wörld"),
        (4_800, " 🎧"),
        (11_000, " unheard"),
    ];
    let first = stage.say_marked(&pattern(12_000, 1), &words[..3]); // 25 frames
    stage.until_finished(first, 40);
    let start = stage.frames.len() as u64 * 480; // the second reply's first pts
    let second = stage.say_marked(&pattern(24_000, 2), &words);
    stage.render(10); // 200 ms: up to sample 4800, " 🎧" not yet
    stage.handle.interrupt();
    let outcome = stage.until_finished(second, 20);
    assert_eq!(outcome.heard.as_ref().unwrap().text, "Hello, wörld");
    stage.render(2);
    stage.handle.detach_sink(id).unwrap();
    stage.render(2);

    let lines = poll_until(LONG, || {
        let text = std::fs::read_to_string(&marks).ok()?;
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        (lines.len() == 5).then_some(lines)
    })
    .expect("the recorder wrote five marks");
    let got: Vec<(u64, u64, u64, &str)> = lines
        .iter()
        .map(|l| {
            let n = |k: &str| l[k].as_u64().unwrap();
            (
                n("reply"),
                n("offset"),
                n("pts"),
                l["text"].as_str().unwrap(),
            )
        })
        .collect();
    let first_start = 480; // the first reply started on the second frame
    assert_eq!(
        got,
        vec![
            (first.0, 0, first_start, "Hello,"),
            (first.0, 2_400, first_start + 2_400, " wörld"),
            (first.0, 4_800, first_start + 4_800, " 🎧"),
            (second.0, 0, start, "Hello,"),
            (second.0, 2_400, start + 2_400, " wörld"),
        ]
    );
}

#[test]
fn recorder_keeps_the_played_prefix_of_an_interrupted_reply() {
    let dir = scratch("recorder-interrupt");
    let mut stage = stage();
    let (sink, wav) = recorder(&dir, "out.wav");
    let id = stage.handle.attach_sink(Box::new(sink)).unwrap();
    let speech = pattern(24_000, 3); // 50 frames
    let reply = stage.say(&speech);
    stage.render(12);
    stage.handle.interrupt();
    let outcome = stage.until_finished(reply, 20);
    assert!(outcome.interrupted);
    stage.render(2);
    stage.handle.detach_sink(id).unwrap();
    stage.render(2);

    let mut last = 0;
    let got = poll_until(LONG, || {
        std::thread::sleep(Duration::from_millis(200));
        let s = wav_samples(&wav, 1)?;
        let stable = s.len() == last;
        last = s.len();
        stable.then_some(s)
    })
    .expect("recorder wrote something");
    assert!(!got.is_empty());
    assert!(
        got.len() as u64 <= outcome.played_samples,
        "{} > {}",
        got.len(),
        outcome.played_samples
    );
    assert!(
        got[..] == speech[..got.len()],
        "the recording is not a prefix of the reply"
    );
    assert_eq!(got.len() % 480, 0, "whole frames");
}

#[test]
fn sinks_attach_and_detach_while_a_reply_plays() {
    let dir = scratch("attach-detach");
    let mut stage = stage();
    let speech = pattern(24_000, 4);
    let reply = stage.say(&speech);
    stage.render(10);
    let (sink, wav) = recorder(&dir, "middle.wav");
    let id = stage.handle.attach_sink(Box::new(sink)).unwrap();
    stage.render(15);
    stage.handle.detach_sink(id).unwrap();
    stage.render(5);
    stage.until_finished(reply, 100);

    let mut last = 0;
    let got = poll_until(LONG, || {
        std::thread::sleep(Duration::from_millis(200));
        let s = wav_samples(&wav, 480)?;
        let stable = s.len() == last;
        last = s.len();
        stable.then_some(s)
    })
    .expect("recorder wrote the middle");
    // A contiguous run of the reply, starting at a frame boundary after the attach.
    let start = speech
        .windows(got.len().min(480))
        .position(|w| w == &got[..w.len()])
        .expect("the recording is part of the reply");
    assert_eq!(start % 480, 0);
    assert!(start >= 480 * 9, "nothing from before the attach");
    assert!(got[..] == speech[start..start + got.len()]);
    assert!(got.len() <= 480 * 16, "nothing after the detach");
}

fn read_jsonl(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn wait_for_stop(path: &std::path::Path) -> Vec<Value> {
    poll_until(LONG, || {
        let lines = read_jsonl(path);
        lines.iter().any(|v| v["type"] == "stop").then_some(lines)
    })
    .expect("the avatar handled stop")
}

#[test]
fn avatar_lip_sync_is_aligned_to_pts_and_stops_at_the_interrupt() {
    let dir = scratch("avatar");
    let out = dir.join("lipsync.jsonl");
    let mut stage = stage();
    // A queue far longer than the test, so a busy machine cannot make it drop.
    let sink = PluginSink::load(
        plugin("avatar"),
        &format!("path = {:?}", out.to_str().unwrap()),
    )
    .unwrap()
    .with_queue(Duration::from_secs(10));
    let id = stage.handle.attach_sink(Box::new(sink)).unwrap();
    stage.render(3);
    // Reply 1: half a second of silence then half a second of loud speech.
    let mut first = vec![0i16; 12_000];
    first.extend(pattern(12_000, 5));
    let a = stage.say(&first);
    stage.until_finished(a, 200);
    // Reply 2: interrupted after 10 frames.
    let b = stage.say(&pattern(48_000, 6));
    stage.render(10);
    stage.handle.interrupt();
    stage.until_finished(b, 20);
    let interrupt_pts = stage
        .events_seen
        .iter()
        .find_map(|e| match e {
            Event::PlaybackFinished(o) if o.reply == b => Some(o.pts),
            _ => None,
        })
        .unwrap();
    stage.render(3);
    stage.handle.detach_sink(id).unwrap();
    stage.render(2);
    let lines = wait_for_stop(&out);

    assert_eq!(lines[0]["type"], "start");
    assert_eq!(lines[0]["sample_rate"], 24_000);
    let frames = |reply: u64| -> Vec<&Value> {
        lines
            .iter()
            .filter(|v| v["type"] == "frame" && v["reply"] == reply)
            .collect()
    };
    // Reply 1: one record per played frame, with exactly the frame's pts.
    let f1 = frames(a.0);
    let pts1: Vec<u64> = f1.iter().map(|v| v["pts"].as_u64().unwrap()).collect();
    assert_eq!(
        pts1,
        stage.speech_pts(a),
        "one lip-sync frame per speech frame, same pts ({:?})",
        stage.handle.stats()
    );
    for (i, v) in f1.iter().enumerate() {
        assert_eq!(v["offset"].as_u64().unwrap(), i as u64 * 480);
        let time = v["time_ms"].as_f64().unwrap();
        assert!((time - pts1[i] as f64 / 24.0).abs() < 1e-6);
    }
    // Closed during the silence, open during the speech.
    let open = |v: &&Value| v["open"].as_f64().unwrap();
    assert!(f1[..25]
        .iter()
        .all(|v| open(v) == 0.0 && v["viseme"] == "rest"));
    assert!(f1[30..]
        .iter()
        .all(|v| open(v) > 0.5 && v["viseme"] != "rest"));

    // Reply 2: a prefix of its played frames, nothing at or after the interrupt's frame,
    // and nothing of it after the `interrupted` record.
    let f2 = frames(b.0);
    let played2 = stage.speech_pts(b);
    let pts2: Vec<u64> = f2.iter().map(|v| v["pts"].as_u64().unwrap()).collect();
    assert!(!pts2.is_empty());
    assert_eq!(pts2[..], played2[..pts2.len()]);
    assert!(pts2.iter().all(|&p| p < interrupt_pts));
    let cut = lines
        .iter()
        .position(|v| v["type"] == "interrupted" && v["reply"] == b.0)
        .expect("interrupt record");
    assert!(lines[cut..]
        .iter()
        .all(|v| !(v["type"] == "frame" && v["reply"] == b.0)));
    let ended = lines
        .iter()
        .find(|v| v["type"] == "reply_ended" && v["reply"] == b.0)
        .unwrap();
    assert_eq!(ended["interrupted"], true);
}

#[test]
fn avatar_owning_playback_reports_what_it_played() {
    let dir = scratch("avatar-owns");
    let out = dir.join("lipsync.jsonl");
    let mut stage = stage();
    let config = format!("path = {:?}\nowns_playback = true", out.to_str().unwrap());
    let sink = PluginSink::load(plugin("avatar"), &config)
        .unwrap()
        .with_queue(Duration::from_secs(10));
    assert!(sink.info().owns_playback);
    stage.handle.attach_sink(Box::new(sink)).unwrap();
    let speech = pattern(12_000, 7);
    let a = stage.say(&speech);
    let done = stage.until_finished(a, 300);
    assert_eq!(done.position, Position::Reported);
    assert_eq!(done.played_samples, 12_000);
    assert!(!done.interrupted);
    // The host's own output carried no speech while the avatar owned playback.
    assert!(stage.samples.iter().all(|&x| x == 0));

    let b = stage.say(&pattern(48_000, 8));
    stage.render(10);
    stage.handle.interrupt();
    let cut = stage.until_finished(b, 300);
    assert!(cut.interrupted);
    assert_eq!(cut.position, Position::Reported);
    assert!(
        cut.played_samples > 0 && cut.played_samples < 48_000,
        "{cut:?}"
    );
}

#[test]
fn avatar_ahead_delivery_gets_the_whole_reply_in_order() {
    let dir = scratch("avatar-ahead");
    let out = dir.join("lipsync.jsonl");
    let mut stage = stage();
    let config = format!(
        "path = {:?}\ndelivery = \"ahead\"\nmax_lead_ms = 200",
        out.to_str().unwrap()
    );
    let sink = PluginSink::load(plugin("avatar"), &config).unwrap();
    assert_eq!(
        sink.info().delivery,
        voxpace_core::Delivery::Ahead {
            max_lead: Duration::from_millis(200)
        }
    );
    let id = stage.handle.attach_sink(Box::new(sink)).unwrap();
    let a = stage.say(&pattern(24_000, 9));
    stage.until_finished(a, 200);
    stage.render(3);
    stage.handle.detach_sink(id).unwrap();
    stage.render(2);
    let lines = wait_for_stop(&out);
    let frames: Vec<&Value> = lines.iter().filter(|v| v["type"] == "frame").collect();
    assert_eq!(frames.len(), 50);
    for (i, v) in frames.iter().enumerate() {
        assert_eq!(v["offset"].as_u64().unwrap(), i as u64 * 480);
        // Ahead audio carries the pts it is scheduled to play at (ABI 1.2 playout).
        let first = frames[0]["pts"].as_u64().unwrap();
        assert_eq!(v["pts"].as_u64().unwrap(), first + i as u64 * 480);
    }
}

#[test]
fn a_panicking_plugin_is_detached_and_the_track_plays_on() {
    let dir = scratch("panic");
    let mut stage = stage();
    let faulty = PluginSink::load(plugin("faulty-panic"), "").unwrap();
    let bad = stage.handle.attach_sink(Box::new(faulty)).unwrap();
    let (sink, wav) = recorder(&dir, "survivor.wav");
    let good = stage.handle.attach_sink(Box::new(sink)).unwrap();
    let speech = pattern(24_000, 10);
    let a = stage.say(&speech);
    stage.until_finished(a, 200);
    let detached = poll_until(LONG, || {
        stage.render(1);
        stage.events_seen.iter().find_map(|e| match e {
            Event::SinkDetached { sink, name, reason } if *sink == bad => {
                Some((name.clone(), reason.clone()))
            }
            _ => None,
        })
    })
    .expect("the panicking plugin was detached");
    assert_eq!(detached.0, "faulty-panic");
    assert!(
        detached.1.contains("deliberate panic on audio"),
        "{}",
        detached.1
    );
    // Frames kept coming and the other sink got everything.
    assert_eq!(stage.speech_pts(a).len(), 50);
    stage.handle.detach_sink(good).unwrap();
    stage.render(2);
    let got = poll_until(LONG, || wav_samples(&wav, speech.len())).expect("recorder finished");
    assert!(got == speech);
}

#[test]
fn panics_while_starting_or_describing_itself_are_errors_not_crashes() {
    let faulty = Plugin::load(plugin("faulty-panic")).unwrap();
    let e = faulty.instantiate("when = \"new\"").unwrap_err();
    assert!(matches!(e, Error::ConfigRejected { .. }), "{e}");
    assert!(e.to_string().contains("panicked while starting"), "{e}");
    let e = faulty.instantiate("when = \"info\"").unwrap_err();
    assert!(matches!(e, Error::PluginFailed { .. }), "{e}");
    assert!(e.to_string().contains("panicked in info"), "{e}");
    // The host is fine and the library still works.
    assert!(faulty.instantiate("").is_ok());
}

#[test]
fn a_blocking_plugin_loses_its_audio_but_never_delays_frames_or_other_sinks() {
    let dir = scratch("block");
    let mut stage = stage();
    let faulty = PluginSink::load(plugin("faulty-block"), "").unwrap();
    stage.handle.attach_sink(Box::new(faulty)).unwrap();
    let (sink, wav) = recorder(&dir, "survivor.wav");
    let good = stage.handle.attach_sink(Box::new(sink)).unwrap();
    let speech = pattern(24_000 * 2, 11);
    let a = stage.say(&speech);
    // If the blocked plugin could delay the frame path, this would never return.
    stage.until_finished(a, 300);
    assert_eq!(stage.speech_pts(a).len(), 100);
    assert!(
        stage.handle.stats().sink_drops > 0,
        "the blocked plugin's queue filled and its audio was dropped (counted)"
    );
    stage.handle.detach_sink(good).unwrap();
    stage.render(2);
    let got = poll_until(LONG, || wav_samples(&wav, speech.len())).expect("recorder finished");
    assert!(got == speech, "the other sink lost nothing");
}

#[test]
fn an_owning_plugin_that_never_reports_is_timed_out_with_an_estimated_position() {
    let mut stage = Stage::new(TrackConfig {
        interrupt_fade: Duration::ZERO,
        report_timeout: Duration::from_millis(400),
        ..TrackConfig::default()
    });
    let hung = PluginSink::load(plugin("faulty-block"), "owns_playback = true").unwrap();
    assert!(hung.info().owns_playback);
    stage.handle.attach_sink(Box::new(hung)).unwrap();
    let a = stage.say(&pattern(48_000, 13));
    stage.render(10);
    stage.handle.interrupt();
    // 400 ms of media time is 20 frames; the reply must end by then, not hang.
    let outcome = stage.until_finished(a, 25);
    assert!(outcome.interrupted);
    assert_eq!(outcome.position, Position::Estimated);
    assert!(outcome.played_samples > 0 && outcome.played_samples <= 11 * 480);
}

#[test]
fn load_errors_are_distinct_and_name_the_file() {
    let dir = scratch("errors");
    // Missing file.
    let missing = dir.join("nope.so");
    let e = Plugin::load(&missing).unwrap_err();
    assert!(matches!(e, Error::MissingFile { .. }), "{e}");
    assert_eq!(e.kind(), voxpace_core::ErrorKind::InvalidInput);
    assert!(e.to_string().contains("nope.so") && e.to_string().contains("no such"));

    // Not a shared library at all.
    let text = dir.join("notes.so");
    std::fs::write(&text, "hello").unwrap();
    let e = Plugin::load(&text).unwrap_err();
    assert!(matches!(e, Error::NotAPlugin { .. }), "{e}");
    assert!(e.to_string().contains("notes.so"));

    // A real shared library that is not a voxpace plugin (a proc-macro of this build).
    let deps = plugin("recorder").parent().unwrap().join("deps");
    let other = std::fs::read_dir(&deps)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| {
            let n = p.file_name().unwrap().to_string_lossy();
            n.starts_with("libthiserror_impl") && n.ends_with(".so")
        })
        .expect("a proc-macro .so in target/*/deps");
    let e = Plugin::load(&other).unwrap_err();
    assert!(matches!(e, Error::NotAPlugin { .. }), "{e}");
    assert!(
        e.to_string().contains("exports no plugin root module"),
        "{e}"
    );

    // Built against another major version of the ABI.
    let major = plugin("faulty-abi-major");
    let e = Plugin::load(&major).unwrap_err();
    match &e {
        Error::IncompatibleAbi {
            found,
            expected_major,
            ..
        } => {
            assert_eq!(found, "2.0.0");
            assert_eq!(*expected_major, 1);
        }
        other => panic!("expected IncompatibleAbi, got {other}"),
    }
    assert!(e
        .to_string()
        .contains("libvoxpace_plugin_faulty_abi_major.so"));

    // Loads, but its initialisation rejects the configuration.
    let rejects = Plugin::load(plugin("faulty-rejects-config")).unwrap();
    let e = rejects.instantiate("device = \"hw:9\"").unwrap_err();
    assert_eq!(e.kind(), voxpace_core::ErrorKind::InvalidInput);
    match &e {
        Error::ConfigRejected { reason, path } => {
            assert!(reason.contains("no such device"), "{reason}");
            assert_eq!(path, &plugin("faulty-rejects-config"));
        }
        other => panic!("expected ConfigRejected, got {other}"),
    }

    // A real plugin with a bad configuration says which key.
    let e = PluginSink::load(plugin("recorder"), "path = \"/no/such/dir/x.wav\"").unwrap_err();
    assert!(matches!(e, Error::ConfigRejected { .. }));
    assert!(e.to_string().contains("/no/such/dir"), "{e}");
}

#[test]
fn a_plugin_built_against_the_previous_minor_abi_loads_and_runs() {
    let dir = scratch("previous-minor");
    let log = dir.join("events.txt");
    let plugin = Plugin::load(plugin("abi-previous-minor")).unwrap();
    let meta = plugin.metadata();
    assert_eq!(
        meta.abi,
        voxpace_sink_abi::AbiVersion { major: 1, minor: 0 }
    );
    assert_eq!(meta.config_help, None, "1.0 had no config_help field");
    assert_eq!(meta.name, "voxpace-plugin-abi-previous-minor");
    let sink = plugin
        .instantiate(&format!("path = {:?}", log.to_str().unwrap()))
        .unwrap();
    let mut stage = stage();
    let id = stage.handle.attach_sink(Box::new(sink)).unwrap();
    let a = stage.say(&pattern(4_800, 12));
    stage.until_finished(a, 100);
    stage.handle.detach_sink(id).unwrap();
    stage.render(2);
    let text = poll_until(LONG, || {
        let t = std::fs::read_to_string(&log).ok()?;
        t.contains("stop").then_some(t)
    })
    .expect("the 1.0 plugin handled stop");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "start 24000");
    assert_eq!(lines[1], format!("reply-started {}", a.0));
    assert_eq!(lines.iter().filter(|l| l.starts_with("audio")).count(), 10);
    assert!(lines.contains(&format!("reply-ended {} false", a.0).as_str()));
    // The current ABI's plugins do describe their configuration.
    let current = Plugin::load(common::plugin("recorder")).unwrap();
    assert_eq!(current.metadata().abi, voxpace_sinks::ABI_VERSION);
    assert!(current
        .metadata()
        .config_help
        .as_deref()
        .unwrap()
        .contains("path"));
}

#[test]
fn a_plugin_built_against_abi_1_1_loads_plays_and_reports_through_the_frozen_vtable() {
    let dir = scratch("abi-1-1");
    let log = dir.join("events.txt");
    let plugin = Plugin::load(plugin("abi-1-1")).unwrap();
    let meta = plugin.metadata();
    assert_eq!(
        meta.abi,
        voxpace_sink_abi::AbiVersion { major: 1, minor: 1 }
    );
    assert!(meta.config_help.as_deref().unwrap().contains("path"));
    let sink = plugin
        .instantiate(&format!("path = {:?}", log.to_str().unwrap()))
        .unwrap();
    assert!(sink.info().owns_playback);
    let mut stage = stage();
    let id = stage.handle.attach_sink(Box::new(sink)).unwrap();
    let a = stage.say(&pattern(4_800, 12));
    let outcome = stage.until_finished(a, 200);
    // Its report crossed the 1.1 vtable and ended the reply.
    assert_eq!(outcome.position, Position::Reported);
    assert_eq!(outcome.played_samples, 4_800);
    stage.handle.detach_sink(id).unwrap();
    stage.render(2);
    let text = poll_until(LONG, || {
        let t = std::fs::read_to_string(&log).ok()?;
        t.contains("stop").then_some(t)
    })
    .expect("the 1.1 plugin handled stop");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "start 24000");
    assert_eq!(lines[1], format!("reply-started {}", a.0));
    let audio: Vec<&&str> = lines.iter().filter(|l| l.starts_with("audio")).collect();
    assert_eq!(audio.len(), 10);
    // The 1.1 vtable really lacks the 1.2 functions.
    assert!(
        audio.iter().all(|l| l.ends_with("(no play-out times)")),
        "{text}"
    );
    assert!(lines.contains(&format!("reply-ended {} false reported=true", a.0).as_str()));
}

#[test]
fn loading_two_plugins_gives_two_different_modules() {
    // abi_stable's load_from_file caches one module per type; the loader must not.
    let a = Plugin::load(plugin("recorder")).unwrap();
    let b = Plugin::load(plugin("template")).unwrap();
    assert_eq!(a.metadata().name, "voxpace-plugin-recorder");
    assert_eq!(b.metadata().name, "voxpace-plugin-template");
    let t = b.instantiate("").unwrap();
    assert_eq!(t.info().name, "template");
}

/// The avatar with ahead delivery and the default 1 s queue, as its configuration text.
fn ahead_avatar(jsonl: &std::path::Path, owns: bool) -> PluginSink {
    PluginSink::load(
        plugin("avatar"),
        &format!(
            "path = {:?}\ndelivery = \"ahead\"\nmax_lead_ms = 300\nqueue_ms = 1000\nowns_playback = {owns}",
            jsonl.to_str().unwrap()
        ),
    )
    .unwrap()
}

fn frames_of(jsonl: &std::path::Path, reply: u64) -> Vec<Value> {
    std::fs::read_to_string(jsonl)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["type"] == "frame" && v["reply"] == reply)
        .collect()
}

#[test]
fn a_60_s_reply_reaches_an_ahead_sink_complete_through_a_1_s_queue() {
    let dir = scratch("ahead-60s");
    let jsonl = dir.join("a.jsonl");
    // The whole minute is accepted before the first frame plays.
    let mut stage = Stage::new(TrackConfig {
        buffer: Duration::from_secs(61),
        ..TrackConfig::default()
    });
    let id = stage
        .handle
        .attach_sink(Box::new(ahead_avatar(&jsonl, false)))
        .unwrap();
    let speech = pattern(24_000 * 60, 7);
    let a = stage.say_in(&speech, 24_000);
    let outcome = stage.until_finished_settled(a, 3_100);
    assert_eq!(outcome.played_samples, 24_000 * 60);
    assert_eq!(stage.handle.stats().sink_drops, 0, "nothing dropped");
    stage.handle.detach_sink(id).unwrap();
    stage.render_settled(2);
    let frames = frames_of(&jsonl, a.0);
    assert_eq!(frames.len(), 3_000, "every 20 ms frame of the minute");
    for (i, f) in frames.iter().enumerate() {
        assert_eq!(f["offset"], i as u64 * 480);
        // Each carries the pts at which it plays, though it arrived ahead of it.
        assert_eq!(
            f["pts"],
            frames[0]["pts"].as_u64().unwrap() + i as u64 * 480
        );
    }
}

#[test]
fn an_owning_ahead_avatar_reports_an_interrupt_in_the_lead_window_at_the_true_position() {
    let dir = scratch("ahead-owning-interrupt");
    let jsonl = dir.join("a.jsonl");
    // The default 10 ms fade: 240 samples at 24 kHz, which play and count.
    let mut stage = Stage::new(TrackConfig::default());
    stage
        .handle
        .attach_sink(Box::new(ahead_avatar(&jsonl, true)))
        .unwrap();
    let a = stage.say(&pattern(24_000, 9)); // 1 s, 50 frames
                                            // 40 frames play: the last 200 ms were all delivered ahead (lead 300 ms), and the
                                            // reply has not ended. The interrupt comes now.
    let before = stage.frames.len();
    stage.render_settled(40);
    let played_frames = stage.frames[before..]
        .iter()
        .filter(|f| f.reply == Some(a))
        .count() as u64;
    assert_eq!(played_frames, 40);
    assert!(stage.outcome(a).is_none(), "still inside the lead window");
    stage.handle.interrupt();
    let outcome = stage.until_finished_settled(a, 20);
    assert!(outcome.interrupted);
    assert_eq!(outcome.position, Position::Reported, "the avatar reported");
    assert_eq!(
        outcome.played_samples,
        40 * 480 + 240,
        "40 frames and the fade"
    );
    // It had received more than that (ahead), and says where playback stopped.
    let frames = frames_of(&jsonl, a.0);
    assert!(frames.len() > 41, "{} frames arrived ahead", frames.len());
}
