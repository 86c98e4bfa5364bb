//! Figures for the plugin path, printed (not asserted): loading a plugin, creating an
//! instance, and how many frames per second a plugin's worker gets through (track → queue →
//! ABI → plugin → file) for the recorder and the avatar. Run with
//! `cargo bench -p voxpace-sinks --bench plugin_path`.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::{pattern, plugin, scratch, wav_samples};
use voxpace_core::{Format, Track, TrackConfig};
use voxpace_sinks::conversation::{Pacing, Stage};
use voxpace_sinks::{Plugin, PluginSink};
use voxpace_test_kit::wait::poll_until;

fn main() {
    let recorder = plugin("recorder");
    let avatar = plugin("avatar");
    let t = Instant::now();
    let p = Plugin::load(&avatar).unwrap();
    println!("load (first, dlopen + layout check): {:?}", t.elapsed());
    let t = Instant::now();
    let _ = Plugin::load(&avatar).unwrap();
    println!("load (again):                        {:?}", t.elapsed());
    let dir = scratch("bench");
    let cfg = format!("path = {:?}", dir.join("a.jsonl").to_str().unwrap());
    let t = Instant::now();
    let _ = p.instantiate(&cfg).unwrap();
    println!("instantiate (avatar):                {:?}", t.elapsed());

    const FRAMES: usize = 1500; // 30 s of audio at 20 ms
    let speech = pattern(FRAMES * 480, 1);

    // Recorder: done when the WAV holds every sample.
    let wav = dir.join("r.wav");
    let sink = PluginSink::load(&recorder, &format!("path = {:?}", wav.to_str().unwrap()))
        .unwrap()
        .with_queue(Duration::from_secs(60));
    let secs = throughput(sink, &speech, || {
        wav_samples(&wav, speech.len()).map(|_| ())
    });
    report("recorder", secs);

    // Avatar: done when it wrote `stop`.
    let jsonl = dir.join("b.jsonl");
    let sink = PluginSink::load(&avatar, &format!("path = {:?}", jsonl.to_str().unwrap()))
        .unwrap()
        .with_queue(Duration::from_secs(60));
    let secs = throughput(sink, &speech, || {
        std::fs::read_to_string(&jsonl)
            .ok()?
            .contains("\"stop\"")
            .then_some(())
    });
    report("avatar", secs);
    let _ = std::fs::remove_dir_all(&dir);
}

fn throughput(sink: PluginSink, speech: &[i16], done: impl FnMut() -> Option<()>) -> f64 {
    let format = Format::new(24_000, 1, 20).unwrap();
    let track = Track::new(format, TrackConfig::default()).unwrap();
    // Frames back to back: the frame side renders as fast as it can.
    let mut stage = Stage::new(track, Pacing::Virtual);
    let handle = stage.handle().clone();
    let id = handle.attach_sink(Box::new(sink)).unwrap();
    // The producer streams the reply meanwhile.
    let mut reply = handle.open_reply().unwrap();
    let reply_id = reply.id();
    let speech = speech.to_vec();
    let producer = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        for chunk in speech.chunks(960) {
            rt.block_on(reply.push_samples(chunk)).unwrap();
        }
        reply.finish().unwrap();
    });
    let started = Instant::now();
    while stage.outcome(reply_id).is_none() {
        stage.render_frame();
    }
    producer.join().unwrap();
    handle.detach_sink(id).unwrap();
    stage.render_frame();
    poll_until(Duration::from_secs(120), done).expect("plugin finished");
    started.elapsed().as_secs_f64()
}

fn report(name: &str, secs: f64) {
    println!(
        "{name:<9} 1500 frames (30 s of audio) through track → queue → ABI → plugin → file: \
         {:.1} ms, {:.1} µs per frame, {:.0}× real time",
        secs * 1000.0,
        secs * 1e6 / 1500.0,
        30.0 / secs
    );
}
