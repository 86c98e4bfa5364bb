//! The background bus on the frame count: loop seams, ducking depth and timing, gain,
//! fades, crossfade switching, clips on top, stop and cancel.

mod common;

use std::time::Duration;

use common::*;
use voxpace_sources::{
    BackgroundConfig, BackgroundMixer, Ducking, FinishReason, Looping, Play, SourceEvent,
};

const MS: fn(u64) -> Duration = Duration::from_millis;

fn once() -> Play {
    Play::music().looping(Looping::Once).fade_in(Duration::ZERO)
}

#[test]
fn gapless_loop_has_no_seam() {
    // loop_48k_mono.flac holds exactly 1000 cycles: a gapless loop is one unbroken tone.
    for (rate, channels) in [(48_000, 1), (24_000, 2)] {
        let mut r = Renderer::new(format(rate, channels));
        r.bg.play(
            fixture("loop_48k_mono.flac"),
            Play::music().fade_in(Duration::ZERO),
        )
        .unwrap();
        let out = r.render(150); // 3 s: two seams
        assert_eq!(r.bg.stats().underruns, 0);
        let x = channel(&out, channels as usize, 0);
        let body = &x[rate as usize / 10..];
        let step = max_step(body);
        let natural = sine_step(0.5, 1000.0, rate as f64);
        assert!(
            step <= natural * 1.01,
            "{rate} Hz: step {step} vs {natural}"
        );
        let t = tone(body, rate as f64, 990.0, 1010.0);
        assert!(t.snr_db > 85.0, "{rate} Hz across two seams: {t:?}");
        assert!((db(t.amplitude) - db(0.5)).abs() < 0.05, "{t:?}");
    }
}

#[test]
fn crossfaded_loop_removes_the_click_a_plain_loop_has() {
    // seam_24k_mono.wav ends mid-cycle of a 440 Hz tone: joined end to start it clicks.
    let natural = sine_step(0.5, 440.0, 24_000.0);
    let play = |looping| {
        let mut r = Renderer::new(format(24_000, 1));
        r.bg.play(
            fixture("seam_24k_mono.wav"),
            Play::music().fade_in(Duration::ZERO).looping(looping),
        )
        .unwrap();
        let out = r.render(100); // 2 s: three seams
        assert_eq!(r.bg.stats().underruns, 0);
        max_step(&channel(&out, 1, 0)[2400..])
    };
    let plain = play(Looping::Gapless);
    assert!(
        plain > natural * 5.0,
        "the fixture must click when looped plainly: {plain}"
    );
    let crossfaded = play(Looping::Crossfade(MS(30)));
    assert!(
        crossfaded <= natural * 1.2,
        "crossfaded seam step {crossfaded} vs the tone's own {natural}"
    );
}

#[test]
fn gain_db_and_fade_in() {
    let mut r = Renderer::new(format(24_000, 1));
    r.bg.play(
        fixture("loop_48k_mono.flac"),
        Play::music().gain_db(-6.0).fade_in(MS(200)),
    )
    .unwrap();
    let out = channel(&r.render(40), 1, 0);
    let frame = |k: usize| rms(&out[k * 480..(k + 1) * 480]) * std::f64::consts::SQRT_2;
    // The fade rises monotonically over 10 frames, then holds at -6 dB.
    for k in 1..10 {
        assert!(frame(k) > frame(k - 1), "frame {k}");
    }
    assert!(frame(0) < 0.05);
    for k in 11..40 {
        assert!(
            (db(frame(k)) - db(0.5) + 6.0).abs() < 0.05,
            "frame {k}: {}",
            db(frame(k))
        );
    }
    // Changing the gain ramps (20 ms) to the new level.
    r.bg.set_gain_db(None, -12.0).unwrap();
    let out = channel(&r.render(5), 1, 0);
    let last = rms(&out[4 * 480..]) * std::f64::consts::SQRT_2;
    assert!((db(last) - db(0.5) + 12.0).abs() < 0.05, "{}", db(last));
    assert!(max_step(&out) <= sine_step(0.5, 1000.0, 24_000.0) * 1.01);
}

#[test]
fn ducking_depth_and_timing_on_the_frame_count() {
    let ducking = Ducking {
        depth_db: 12.0,
        attack: MS(40),
        hold: MS(100),
        release: MS(200),
    };
    let f = format(24_000, 1);
    let (mixer, bg) = BackgroundMixer::new(
        f,
        BackgroundConfig {
            ducking,
            ..Default::default()
        },
    )
    .unwrap();
    let mut r = Renderer::with(mixer, bg);
    r.bg.play(
        fixture("loop_48k_mono.flac"),
        Play::music().fade_in(Duration::ZERO),
    )
    .unwrap();
    // 1 kHz at 24 kHz: a 20 ms frame holds exactly 20 cycles, so its RMS is its level.
    let level = |r: &mut Renderer, speech: bool| {
        let out = channel(&r.frame(speech), 1, 0);
        db(rms(&out) * std::f64::consts::SQRT_2) - db(0.5)
    };
    for _ in 0..10 {
        assert!(level(&mut r, false).abs() < 0.02);
    }
    // Attack: 40 ms = 2 frames, linear in dB; the first speech frame is already going down.
    let a1 = level(&mut r, true);
    let a2 = level(&mut r, true);
    assert!(a1 < -1.0 && a1 > -6.0, "first speech frame: {a1}");
    assert!(a2 < a1 && a2 > -12.0, "second: {a2}");
    assert!(
        (r.bg.stats().ducking_db + 12.0).abs() < 1e-3,
        "{:?}",
        r.bg.stats()
    );
    for _ in 0..20 {
        assert!((level(&mut r, true) + 12.0).abs() < 0.02);
    }
    // Hold: 100 ms = 5 frames without speech stay fully ducked.
    for k in 0..5 {
        let l = level(&mut r, false);
        assert!((l + 12.0).abs() < 0.02, "hold frame {k}: {l}");
    }
    // Release: 200 ms = 10 frames, rising 1.2 dB per frame.
    let mut last = -12.0;
    for k in 0..10 {
        let l = level(&mut r, false);
        let expect = -12.0 + 1.2 * (k as f64 + 0.5);
        assert!(
            (l - expect).abs() < 0.15,
            "release frame {k}: {l} vs {expect}"
        );
        assert!(l > last);
        last = l;
    }
    assert!(level(&mut r, false).abs() < 0.02);
    assert_eq!(r.bg.stats().ducking_db, 0.0);
    // A short pause between two utterances (shorter than the hold) does not pump.
    for _ in 0..5 {
        level(&mut r, true);
    }
    for _ in 0..3 {
        assert!((level(&mut r, false) + 12.0).abs() < 0.02);
    }
    assert!((level(&mut r, true) + 12.0).abs() < 0.02);
    // Depth can change live; ducking off releases at the release rate.
    r.bg.set_ducking(Ducking::OFF).unwrap();
    assert!(level(&mut r, true).abs() < 0.02);
    assert_eq!(r.bg.stats().underruns, 0);
}

#[test]
fn clips_play_on_top_and_are_not_ducked() {
    let mut r = Renderer::new(format(16_000, 1));
    r.bg.set_ducking(Ducking::default()).unwrap();
    let events = r.bg.subscribe();
    r.bg.play(
        fixture("loop_48k_mono.flac"),
        Play::music().fade_in(Duration::ZERO).gain_db(-12.0),
    )
    .unwrap();
    // The clip: 0.513 s of a 440 Hz tone.
    let clip =
        r.bg.play_clip(fixture("seam_24k_mono.wav"), Play::clip().gain_db(-6.0))
            .unwrap();
    let out: Vec<i16> = (0..75).flat_map(|_| r.frame(true)).collect();
    let x = channel(&out, 1, 0);
    // While the clip plays: both tones, the music ducked by 15 dB, the clip not.
    let during = &x[1_600..8_000];
    let music = tone(during, 16_000.0, 990.0, 1010.0);
    let chime = tone(during, 16_000.0, 430.0, 450.0);
    assert!(
        (db(chime.amplitude) - (db(0.5) - 6.0)).abs() < 0.1,
        "{chime:?}"
    );
    assert!(
        (db(music.amplitude) - (db(0.5) - 12.0 - 15.0)).abs() < 0.1,
        "{music:?}"
    );
    // After it: the music alone.
    let after = &x[9_000..];
    assert!(goertzel(after, 16_000.0, 440.0).sqrt() * 2.0 / (after.len() as f64) < 1e-3);
    let finished = events.next_timeout(Duration::from_secs(5));
    assert!(
        matches!(finished, Some(SourceEvent::Finished { id, reason: FinishReason::Ended, .. }) if id == clip),
        "{finished:?}"
    );
    assert_eq!(r.bg.stats().playing, 1);
}

#[test]
fn a_looping_clip_runs_until_cancelled_then_fades() {
    let mut r = Renderer::new(format(24_000, 1));
    let events = r.bg.subscribe();
    let id =
        r.bg.play_clip(
            fixture("loop_48k_mono.flac"),
            Play::clip().looping(Looping::Gapless),
        )
        .unwrap();
    let before = channel(&r.render(100), 1, 0);
    assert!(
        rms(&before[before.len() - 480..]) > 0.3,
        "still playing after 2 s"
    );
    r.bg.cancel(id, MS(60)).unwrap();
    let fading = channel(&r.render(5), 1, 0);
    let frame = |k: usize| rms(&fading[k * 480..(k + 1) * 480]);
    assert!(frame(0) > frame(1) && frame(1) > frame(2), "fading");
    assert!(frame(3) == 0.0 && frame(4) == 0.0, "silent after 60 ms");
    assert!(max_step(&fading) <= sine_step(0.5, 1000.0, 24_000.0) * 1.01);
    let finished = events.next_timeout(Duration::from_secs(5));
    assert!(
        matches!(finished, Some(SourceEvent::Finished { id: i, reason: FinishReason::Stopped, .. }) if i == id),
        "{finished:?}"
    );
    assert_eq!(r.bg.stats().playing, 0);
}

#[test]
fn switching_music_crossfades_with_constant_power() {
    let mut r = Renderer::new(format(24_000, 1));
    let events = r.bg.subscribe();
    let first =
        r.bg.play(
            fixture("loop_48k_mono.flac"),
            Play::music().fade_in(Duration::ZERO),
        )
        .unwrap();
    r.render(10);
    r.bg.play(
        fixture("seam_24k_mono.wav"),
        Play::music()
            .looping(Looping::Crossfade(MS(20)))
            .crossfade(MS(400)),
    )
    .unwrap();
    let out = channel(&r.render(40), 1, 0);
    let frame = |k: usize| &out[k * 480..(k + 1) * 480];
    let (mut old_level, mut new_level) = (f64::MAX, 0.0);
    for k in 0..20 {
        let a = goertzel(frame(k), 24_000.0, 1000.0).sqrt();
        let b = goertzel(frame(k), 24_000.0, 440.0).sqrt();
        // (440 Hz is 8.8 cycles per frame: its per-frame magnitude wobbles by a few %.)
        assert!(
            a <= old_level * 1.03 && b >= new_level * 0.97,
            "frame {k}: 1 kHz falls, 440 Hz rises"
        );
        (old_level, new_level) = (a, b);
        // Equal power: two uncorrelated tones at 0.5 keep the RMS of one.
        let level = db(rms(frame(k)) * std::f64::consts::SQRT_2) - db(0.5);
        assert!(level.abs() < 0.5, "frame {k}: {level} dB");
    }
    assert_eq!(r.bg.stats().playing, 1, "the old music left the mix");
    let finished = events.next_timeout(Duration::from_secs(5));
    assert!(
        matches!(finished, Some(SourceEvent::Finished { id, reason: FinishReason::Stopped, .. }) if id == first),
        "{finished:?}"
    );
}

#[test]
fn stop_fades_the_music_out() {
    let mut r = Renderer::new(format(48_000, 2));
    r.bg.play(fixture("tone_44k_stereo.flac"), once()).unwrap();
    r.render(10);
    r.bg.stop(MS(100)).unwrap();
    let out = r.render(10);
    let x = channel(&out, 2, 1);
    let frame = |k: usize| rms(&x[k * 960..(k + 1) * 960]);
    for k in 1..5 {
        assert!(frame(k) < frame(k - 1), "frame {k}");
    }
    assert!((5..10).all(|k| frame(k) == 0.0));
    assert_eq!(r.bg.stats().playing, 0);
}

#[test]
fn nothing_playing_leaves_the_bus_untouched() {
    let mut r = Renderer::new(format(24_000, 1));
    let out = r.render(5);
    assert!(out.iter().all(|s| *s == 0));
    assert_eq!(r.bg.stats().frames, 5);
}

#[test]
fn even_an_immediate_stop_does_not_click() {
    let mut r = Renderer::new(format(24_000, 1));
    r.bg.play(
        fixture("loop_48k_mono.flac"),
        Play::music().fade_in(Duration::ZERO),
    )
    .unwrap();
    let mut out = r.render(10);
    r.bg.stop(Duration::ZERO).unwrap();
    out.extend(r.render(3));
    let x = channel(&out, 1, 0);
    assert!(x[x.len() - 480..].iter().all(|v| *v == 0.0), "stopped");
    let natural = sine_step(0.5, 1000.0, 24_000.0);
    assert!(
        max_step(&x[480..]) <= natural * 1.05,
        "{} vs {natural}",
        max_step(&x[480..])
    );
}
