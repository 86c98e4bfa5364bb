//! ABI 1.3's error kinds, end to end: real plugins loaded from their `.so` say what the
//! host should do about an error (retry, skip the reply, skip the event, detach), and the
//! host does it; a plugin of ABI 1.2 cannot, and is detached on any error as before.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{pattern, plugin, scratch, Stage};
use voxpace_core::{Event, SinkId, TrackConfig, SINK_RETRIES};
use voxpace_sinks::{Plugin, PluginSink};
use voxpace_test_kit::wait::poll_until;

const LONG: Duration = Duration::from_secs(20);

/// A stage with `faulty-kinds` attached, failing as `fail` says; its call log.
fn faulty(name: &str, fail: &str) -> (Stage, SinkId, PathBuf) {
    let log = scratch(name).join("calls.txt");
    let config = format!("path = {:?}\nfail = {fail:?}", log.to_str().unwrap());
    let sink = PluginSink::load(plugin("faulty-kinds"), &config).unwrap();
    let mut stage = Stage::new(TrackConfig {
        interrupt_fade: Duration::ZERO,
        ..TrackConfig::default()
    });
    let id = stage.handle.attach_sink(Box::new(sink)).unwrap();
    stage.render(1);
    (stage, id, log)
}

/// Why `sink` was detached, if it was.
fn detached(stage: &Stage, sink: SinkId) -> Option<String> {
    stage.events_seen.iter().find_map(|e| match e {
        Event::SinkDetached {
            sink: s, reason, ..
        } if *s == sink => Some(reason.clone()),
        _ => None,
    })
}

/// Detach `sink` (it must still be attached) and read its call log once it handled `Stop`.
fn finish(stage: &mut Stage, sink: SinkId, log: &Path) -> Vec<String> {
    assert_eq!(detached(stage, sink), None, "the plugin stayed attached");
    stage.handle.detach_sink(sink).unwrap();
    stage.render(2);
    poll_until(LONG, || {
        let text = std::fs::read_to_string(log).ok()?;
        let lines: Vec<String> = text.lines().map(str::to_owned).collect();
        lines.iter().any(|l| l.starts_with("stop")).then_some(lines)
    })
    .expect("the plugin handled stop")
}

/// Render until `sink` is detached; the reason.
fn until_detached(stage: &mut Stage, sink: SinkId) -> String {
    poll_until(LONG, || {
        stage.render(1);
        detached(stage, sink)
    })
    .expect("the plugin was detached")
}

#[test]
fn a_retryable_error_gets_the_same_event_again_and_the_plugin_stays() {
    let (mut stage, id, log) = faulty("kinds-retry", "retry");
    let a = stage.say(&pattern(4_800, 1)); // 10 frames
    stage.until_finished(a, 200);
    let lines = finish(&mut stage, id, &log);
    let audio: Vec<&String> = lines.iter().filter(|l| l.starts_with("audio")).collect();
    // Every frame failed once and was handed again, in order.
    let expected: Vec<String> = (0..10)
        .flat_map(|k| {
            let at = format!("audio {} {}", a.0, k * 480);
            [format!("{at} Retryable"), format!("{at} ok")]
        })
        .collect();
    assert_eq!(audio, expected.iter().collect::<Vec<_>>());
}

#[test]
fn a_plugin_that_keeps_asking_for_retries_is_detached_after_the_last_one() {
    let (mut stage, id, log) = faulty("kinds-retry-forever", "retry-forever");
    let a = stage.say(&pattern(4_800, 2));
    stage.until_finished(a, 200);
    let reason = until_detached(&mut stage, id);
    assert!(
        reason.contains(&format!("still failing after {SINK_RETRIES} retries"))
            && reason.contains("busy for ever"),
        "{reason}"
    );
    let text = std::fs::read_to_string(&log).unwrap();
    let first = format!("audio {} 0 Retryable", a.0);
    assert_eq!(
        text.lines().filter(|l| *l == first).count(),
        1 + SINK_RETRIES as usize,
        "{text}"
    );
    assert!(!text.contains(&format!("audio {} 480", a.0)), "{text}");
}

#[test]
fn a_plugin_can_skip_the_rest_of_a_reply_and_carry_on_with_the_next() {
    let (mut stage, id, log) = faulty("kinds-skip-reply", "skip-reply");
    let a = stage.say(&pattern(4_800, 3));
    stage.until_finished(a, 200);
    let b = stage.say(&pattern(4_800, 4));
    stage.until_finished(b, 200);
    let lines = finish(&mut stage, id, &log);
    let of = |reply: u64| -> Vec<&str> {
        lines
            .iter()
            .filter(|l| l.split(' ').nth(1) == Some(&reply.to_string()))
            .map(String::as_str)
            .collect()
    };
    let first = of(a.0);
    assert_eq!(
        first,
        vec![
            format!("reply-started {} ok", a.0),
            format!("audio {} 0 ok", a.0),
            format!("audio {} 480 ok", a.0),
            format!("audio {} 960 ReplyTerminal", a.0),
            // The rest of its audio never came; its end still did.
            format!("reply-ended {} ok", a.0),
        ]
    );
    let second = of(b.0);
    assert_eq!(second.iter().filter(|l| l.starts_with("audio")).count(), 10);
    assert!(second.iter().all(|l| l.ends_with(" ok")), "{second:?}");
    assert_eq!(lines.last().unwrap(), "stop ok");
}

#[test]
fn a_plugin_can_refuse_one_event_and_keep_the_rest() {
    let (mut stage, id, log) = faulty("kinds-skip-event", "skip-event");
    let a = stage.say_marked(&pattern(4_800, 5), &[(0, "Hello"), (2_400, " there")]);
    stage.until_finished(a, 200);
    let lines = finish(&mut stage, id, &log);
    let texts: Vec<&String> = lines.iter().filter(|l| l.starts_with("text")).collect();
    assert_eq!(
        texts,
        vec![
            &format!("text {} 0 InvalidInput", a.0),
            &format!("text {} 2400 InvalidInput", a.0)
        ]
    );
    let audio = lines.iter().filter(|l| l.starts_with("audio")).count();
    assert_eq!(audio, 10, "{lines:?}");
}

#[test]
fn a_fatal_error_detaches_the_plugin() {
    let (mut stage, id, _log) = faulty("kinds-fatal", "fatal");
    let a = stage.say(&pattern(4_800, 6));
    stage.until_finished(a, 200);
    let reason = until_detached(&mut stage, id);
    assert!(reason.contains("faulty-kinds: broken"), "{reason}");
}

#[test]
fn a_plugin_built_against_abi_1_2_loads_and_any_error_still_detaches_it() {
    let dir = scratch("abi-1-2");
    let log = dir.join("events.txt");
    let loaded = Plugin::load(plugin("abi-1-2")).unwrap();
    assert_eq!(
        loaded.metadata().abi,
        voxpace_sink_abi::AbiVersion { major: 1, minor: 2 }
    );
    assert!(loaded
        .metadata()
        .config_help
        .as_deref()
        .unwrap()
        .contains("path"));

    // It plays like any plugin, with the 1.2 host functions.
    let config = format!("path = {:?}", log.to_str().unwrap());
    let mut stage = Stage::new(TrackConfig::default());
    let id = stage
        .handle
        .attach_sink(Box::new(loaded.instantiate(&config).unwrap()))
        .unwrap();
    let a = stage.say(&pattern(4_800, 7));
    stage.until_finished(a, 200);
    let lines = finish(&mut stage, id, &log);
    let audio: Vec<&String> = lines.iter().filter(|l| l.starts_with("audio")).collect();
    assert_eq!(audio.len(), 10);
    assert!(audio
        .iter()
        .all(|l| l.ends_with("(play-out times offered)")));

    // Its object has no `handle_event`: a retryable error is an error, and detaches it.
    let failing = format!("{config}\nfail = \"retry\"");
    let sink = loaded.instantiate(&failing).unwrap();
    let id = stage.handle.attach_sink(Box::new(sink)).unwrap();
    let b = stage.say(&pattern(4_800, 8));
    stage.until_finished(b, 200);
    let reason = until_detached(&mut stage, id);
    assert!(reason.contains("a retryable failure"), "{reason}");
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(text.lines().filter(|l| l.starts_with("audio")).count(), 1);
}
