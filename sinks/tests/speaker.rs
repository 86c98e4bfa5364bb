//! The speaker plugin on a real ALSA device path: `HOME` points at a folder whose
//! `.asoundrc` routes the `default` device through ALSA's `file` plugin (into `null`), so
//! what cpal played lands in a WAV file the test compares with what was sent.
//!
//! One test in this binary on purpose: it sets `HOME` for the whole process before ALSA
//! reads its configuration. The `null` device has no clock (it runs far faster than real
//! time), so this checks content and order, not timing.

mod common;

use std::time::Duration;

use common::{pattern, plugin, scratch, Stage};
use voxpace_core::{Sink, TrackConfig};
use voxpace_sinks::PluginSink;
use voxpace_test_kit::wait::poll_until;

#[test]
fn speaker_plays_exactly_what_it_was_sent_to_the_alsa_default_device() {
    let so = plugin("speaker"); // build first, with the real HOME
    let home = scratch("speaker");
    let played = home.join("played.wav");
    std::fs::write(
        home.join(".asoundrc"),
        format!(
            "pcm.!default {{\n  type file\n  slave.pcm \"null\"\n  file \"{}\"\n  format \"wav\"\n}}\n",
            played.display()
        ),
    )
    .unwrap();
    // SAFETY (edition 2021: safe fn): no other thread of this process reads the
    // environment yet; ALSA reads `$HOME/.asoundrc` when the plugin first opens a device.
    std::env::set_var("HOME", &home);

    let sink = PluginSink::load(&so, "").unwrap();
    assert_eq!(sink.info().name, "speaker");
    let mut stage = Stage::new(TrackConfig {
        interrupt_fade: Duration::ZERO,
        ..TrackConfig::default()
    });
    let id = stage.handle.attach_sink(Box::new(sink)).unwrap();
    let first = pattern(12_000, 21);
    let a = stage.say(&first);
    stage.until_finished(a, 100);
    let second = pattern(24_000, 22);
    let b = stage.say(&second);
    stage.render(10);
    stage.handle.interrupt();
    stage.until_finished(b, 20);
    stage.render(2);
    stage.handle.detach_sink(id).unwrap();
    stage.render(2);

    // The WAV header is completed when the plugin closes the device on `Stop`.
    let samples = poll_until(Duration::from_secs(20), || {
        let reader = hound::WavReader::open(&played).ok()?;
        let spec = reader.spec();
        let len = reader.len();
        let samples: Vec<i16> = reader
            .into_samples::<i16>()
            .collect::<Result<_, _>>()
            .ok()?;
        (len > 0 && samples.len() == len as usize).then_some((spec, samples))
    });
    let (spec, samples) = samples.expect("ALSA wrote the played audio to the WAV file");
    assert_eq!(spec.sample_rate, 24_000);
    assert_eq!(spec.channels, 1);
    // Between and around the speech the device played silence; the speech itself has no
    // zero samples, so the non-zero samples are exactly the speech that was played.
    let heard: Vec<i16> = samples.into_iter().filter(|&s| s != 0).collect();
    assert!(
        heard.len() > first.len(),
        "only {} samples heard",
        heard.len()
    );
    assert!(heard[..first.len()] == first[..], "reply 1 played exactly");
    let rest = &heard[first.len()..];
    assert!(
        !rest.is_empty() && rest.len() < second.len(),
        "reply 2 cut by the interrupt"
    );
    assert!(
        rest == &second[..rest.len()],
        "reply 2 played up to the interrupt, in order"
    );
    let _ = std::fs::remove_file(&played);
}
