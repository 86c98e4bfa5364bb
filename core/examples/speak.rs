//! Push a generated speech-like signal through a track in real time and print the event
//! log: two replies, the second interrupted halfway (barge-in), a pause in between.
//!
//! `cargo run -p voxpace-core --example speak`

use std::time::Duration;

use voxpace_core::{Event, Format, MonotonicClock, Pacer, Track, TrackConfig};

/// A vowel-like buzz (120 Hz with harmonics) shaped into 200 ms syllables.
fn speech_like(format: Format, seconds: f32) -> Vec<i16> {
    let rate = format.sample_rate() as f32;
    (0..(seconds * rate) as usize)
        .map(|i| {
            let t = i as f32 / rate;
            let buzz: f32 = (1..=6)
                .map(|h| (2.0 * std::f32::consts::PI * 120.0 * h as f32 * t).sin() / h as f32)
                .sum();
            let syllable = (std::f32::consts::PI * (t % 0.2) / 0.2).sin();
            (buzz * syllable * 6000.0) as i16
        })
        .collect()
}

#[tokio::main]
async fn main() -> Result<(), voxpace_core::Error> {
    let format = Format::new(24_000, 1, 20)?;
    let track = Track::new(format, TrackConfig::default())?;
    let handle = track.handle();
    let mut events = handle.events();
    let mut pacer = Pacer::new(track, MonotonicClock::new());

    // The "TTS": two replies, streamed in 100 ms chunks faster than real time.
    let tts = handle.clone();
    tokio::spawn(async move {
        for (n, seconds) in [(1, 1.2f32), (2, 2.0)] {
            let mut reply = tts.open_reply().expect("open reply");
            for chunk in speech_like(format, seconds).chunks(2400) {
                if reply.push_samples(chunk).await.is_err() {
                    break; // interrupted: the rest of this reply is refused
                }
            }
            let playback = reply.finish().expect("whole samples");
            let outcome = playback.await;
            println!("    reply {n} outcome: {outcome:?}");
        }
    });

    // The "agent": pause briefly during reply 1, barge in during reply 2.
    let agent = handle.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(500)).await;
        agent.pause();
        tokio::time::sleep(Duration::from_millis(300)).await;
        agent.resume();
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let covered = agent.interrupt();
        println!("    -- user barged in, interrupt covers {covered:?}");
    });

    // The "media stack": takes one frame per 20 ms for 4 s.
    let started = tokio::time::Instant::now();
    for _ in 0..200 {
        let frame = pacer.next_frame().await;
        let peak = frame
            .samples()
            .iter()
            .map(|s| s.unsigned_abs())
            .max()
            .unwrap_or(0);
        while let Some(event) = events.try_next() {
            println!(
                "{:>6} ms  pts {:>6}  peak {:>5}  {}",
                started.elapsed().as_millis(),
                frame.pts(),
                peak,
                describe(&event)
            );
        }
    }
    let stats = handle.stats();
    println!(
        "frames {} (speech {}), late {}, underruns {}, replies completed {} interrupted {}",
        stats.frames,
        stats.speech_frames,
        stats.late_frames,
        stats.underruns,
        stats.replies_completed,
        stats.replies_interrupted
    );
    Ok(())
}

fn describe(event: &Event) -> String {
    match event {
        Event::SpeechStarted { reply, .. } => format!("speech started, reply {reply}"),
        Event::PlaybackFinished(o) => format!(
            "playback finished, reply {} played {} ms{}",
            o.reply,
            o.played.as_millis(),
            if o.interrupted { " (interrupted)" } else { "" }
        ),
        Event::Paused { .. } => "paused".into(),
        Event::Resumed { .. } => "resumed".into(),
        Event::SpeakingChanged { speaking, .. } => format!("speaking = {speaking}"),
        other => format!("{other:?}"),
    }
}
