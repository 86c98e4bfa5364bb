//! The background under a real `voxpace_core::Track`: music plays between replies, is
//! ducked while the reply's speech plays (converted by `TtsResampler` from 22.05 kHz), and
//! comes back after; the speech itself is untouched.

mod common;

use std::time::Duration;

use common::*;
use voxpace_core::{Track, TrackConfig};
use voxpace_sources::{BackgroundConfig, BackgroundMixer, Ducking, Play, TtsResampler};

#[test]
fn music_under_a_real_track_ducks_for_a_resampled_reply() {
    let format = format(24_000, 1);
    let mut track = Track::new(format, TrackConfig::default()).unwrap();
    let handle = track.handle();
    let ducking = Ducking {
        depth_db: 15.0,
        attack: Duration::from_millis(20),
        hold: Duration::from_millis(100),
        release: Duration::from_millis(200),
    };
    let (mixer, bg) = BackgroundMixer::new(
        format,
        BackgroundConfig {
            ducking,
            ..Default::default()
        },
    )
    .unwrap();
    handle.set_background(Some(Box::new(mixer))).unwrap();
    bg.play(
        fixture("loop_48k_mono.flac"),
        Play::music().fade_in(Duration::ZERO),
    )
    .unwrap();

    let mut frames = Vec::new();
    let mut render = |track: &mut Track, n: usize| {
        for _ in 0..n {
            assert!(bg.wait_buffered(Duration::from_millis(60), Duration::from_secs(20)));
            let mut out = vec![0i16; format.frame_len()];
            let info = track.render(&mut out);
            frames.push((info.speech, out));
        }
    };
    render(&mut track, 20);

    // A 0.6 s reply of a 300 Hz "voice" at 22.05 kHz, converted chunk by chunk.
    let voice: Vec<i16> = (0..13_230)
        .map(|i| {
            (0.3 * 32_767.0 * (2.0 * std::f64::consts::PI * 300.0 * i as f64 / 22_050.0).sin())
                as i16
        })
        .collect();
    let mut tts = TtsResampler::new(22_050, 1, format).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut reply = handle.open_reply().unwrap();
    rt.block_on(async {
        for chunk in voice.chunks(1_000) {
            reply.push_samples(tts.process(chunk)).await.unwrap();
        }
        reply.push_samples(tts.flush()).await.unwrap();
    });
    let _playback = reply.finish().unwrap();
    render(&mut track, 60);

    let speech: Vec<usize> = (0..frames.len()).filter(|k| frames[*k].0).collect();
    assert_eq!(speech.len(), 30, "0.6 s of speech = 30 frames");
    let (first, last) = (speech[0], *speech.last().unwrap());
    let amplitude = |k: usize, f: f64| {
        let x = channel(&frames[k].1, 1, 0);
        goertzel(&x, 24_000.0, f).sqrt() * 2.0 / x.len() as f64
    };
    // Before speech: the music at full level, nothing else.
    for k in 5..first {
        assert!(
            (db(amplitude(k, 1000.0)) - db(0.5)).abs() < 0.05,
            "frame {k}"
        );
    }
    // During speech (after the 20 ms attack): music 15 dB down, the voice at its level.
    for k in first + 2..=last {
        let music = db(amplitude(k, 1000.0)) - db(0.5);
        assert!(
            (music + 15.0).abs() < 0.1,
            "frame {k}: music at {music:.2} dB"
        );
    }
    let voice_level = tone(
        &frames[first + 5..last - 5]
            .iter()
            .flat_map(|(_, f)| channel(f, 1, 0))
            .collect::<Vec<_>>(),
        24_000.0,
        295.0,
        305.0,
    );
    assert!(
        (db(voice_level.amplitude) - db(0.3)).abs() < 0.1,
        "{voice_level:?}"
    );
    // After speech + 100 ms hold + 200 ms release: the music is back.
    for k in last + 17..frames.len() {
        assert!(
            (db(amplitude(k, 1000.0)) - db(0.5)).abs() < 0.05,
            "frame {k}"
        );
    }
    assert_eq!(bg.stats().underruns, 0);
    assert_eq!(bg.stats().frames, frames.len() as u64);
}
