//! Bad input: each kind of broken file gives its own typed error naming the file, at open
//! time or, for damage further in, as a `Failed` event while the source fades out.

mod common;

use std::time::Duration;

use common::*;
use voxpace_sources::{
    probe, Error, FinishReason, Looping, Play, Recovery, SourceEvent, MAX_RESTARTS,
};

#[test]
fn missing_file_is_not_found_and_names_it() {
    let path = fixture("no_such_file.flac");
    let err = probe(&path).unwrap_err();
    assert!(
        matches!(&err, Error::NotFound { path: p } if *p == path),
        "{err:?}"
    );
    assert!(err.to_string().contains("no_such_file.flac"), "{err}");
    let r = Renderer::new(format(24_000, 1));
    let err = r.bg.play(&path, Play::music()).unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
}

#[test]
fn a_directory_is_an_io_error() {
    let err = probe(fixture("")).unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err:?}");
}

#[test]
fn text_is_not_audio() {
    let err = probe(fixture("not_audio.wav")).unwrap_err();
    assert!(matches!(&err, Error::NotAudio { .. }), "{err:?}");
    assert!(err.to_string().contains("not_audio.wav"), "{err}");
}

#[test]
fn empty_file_is_not_audio() {
    let dir = std::env::temp_dir().join(format!("voxpace-sources-empty-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("empty.mp3");
    std::fs::write(&path, b"").unwrap();
    let err = probe(&path).unwrap_err();
    assert!(matches!(err, Error::NotAudio { .. }), "{err:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Without the `opus` feature, Ogg/Opus is refused by name, with the feature to build with.
#[cfg(not(feature = "opus"))]
#[test]
fn opus_is_unsupported_and_says_so() {
    let err = probe(fixture("unsupported_opus.ogg")).unwrap_err();
    match &err {
        Error::Unsupported { path, what } => {
            assert!(path.ends_with("unsupported_opus.ogg"));
            assert!(what.contains("Opus"), "{what}");
            assert!(what.contains("`opus` feature"), "{what}");
        }
        other => panic!("expected Unsupported, got {other:?}"),
    }
}

/// With it, libopus decodes it: 0.5 s of mono at 48 kHz, pre-skip trimmed.
#[cfg(feature = "opus")]
#[test]
fn opus_decodes_with_the_opus_feature() {
    let info = probe(fixture("unsupported_opus.ogg")).unwrap();
    assert_eq!(
        (info.codec.as_str(), info.sample_rate, info.channels),
        ("opus", 48_000, 1)
    );
    let samples =
        voxpace_sources::decode_file(fixture("unsupported_opus.ogg"), format(48_000, 1)).unwrap();
    assert_eq!(samples.len(), 24_000, "0.5 s at 48 kHz");
}

/// Play a damaged file once; return the error it failed with and the output.
fn play_broken(name: &str, rate: u32) -> (Error, Vec<i16>) {
    let mut r = Renderer::new(format(rate, 1));
    let events = r.bg.subscribe();
    let id =
        r.bg.play(
            fixture(name),
            Play::music().looping(Looping::Once).fade_in(Duration::ZERO),
        )
        .expect("the start of a damaged file still opens");
    let out = r.render(150);
    let failed = events
        .next_timeout(Duration::from_secs(5))
        .expect("an event");
    let SourceEvent::Failed {
        id: i, path, error, ..
    } = failed
    else {
        panic!("{name}: expected Failed first, got {failed:?}");
    };
    assert_eq!(i, id);
    assert!(path.ends_with(name));
    assert_eq!(error.path(), Some(path.as_path()));
    assert!(error.to_string().contains(name), "{error}");
    let finished = events.next_timeout(Duration::from_secs(5));
    assert!(
        matches!(
            finished,
            Some(SourceEvent::Finished {
                reason: FinishReason::Failed,
                ..
            })
        ),
        "{finished:?}"
    );
    assert_eq!(r.bg.stats().playing, 0);
    assert_eq!(r.bg.stats().underruns, 0);
    (error, out)
}

/// The output ends in a fade, not a cut: no step bigger than the tone's own.
fn assert_fades_out(name: &str, out: &[i16], rate: u32, amplitude: f64) {
    let x = channel(out, 1, 0);
    let end = active_len(&x, 1e-4);
    assert!(
        end > rate as usize / 10,
        "{name}: some audio played first ({end} samples)"
    );
    assert!(
        x[end..].iter().all(|v| *v == 0.0),
        "{name}: silence after the end"
    );
    let tail = &x[end.saturating_sub(rate as usize / 20)..(end + 10).min(x.len())];
    let step = max_step(tail);
    let natural = sine_step(amplitude, 1000.0, rate as f64);
    assert!(
        step <= natural * 1.05,
        "{name}: step {step} at the end, tone's own {natural}"
    );
    // And the last 5 ms before silence are well below the tone's level.
    let last = &x[end.saturating_sub(rate as usize / 200)..end];
    assert!(
        rms(last) < amplitude / 2.0,
        "{name}: tail rms {}",
        rms(last)
    );
}

#[test]
fn truncated_flac_fails_mid_stream_with_truncated_and_fades_out() {
    let (err, out) = play_broken("truncated.flac", 24_000);
    assert!(matches!(err, Error::Truncated { .. }), "{err:?}");
    assert_fades_out("truncated.flac", &out, 24_000, 0.5);
}

#[test]
fn truncated_mp3_fails_with_truncated() {
    let (err, out) = play_broken("truncated.mp3", 48_000);
    match err {
        Error::Truncated {
            decoded_ms,
            expected_ms,
            ..
        } => {
            assert!((600..=900).contains(&decoded_ms), "{decoded_ms}");
            assert!(expected_ms.is_some_and(|e| e >= 1900), "{expected_ms:?}");
        }
        other => panic!("{other:?}"),
    }
    assert_fades_out("truncated.mp3", &out, 48_000, 0.475);
}

#[test]
fn truncated_wav_fails_with_truncated() {
    let (err, out) = play_broken("truncated.wav", 16_000);
    match err {
        Error::Truncated {
            decoded_ms,
            expected_ms,
            ..
        } => {
            assert!((290..=300).contains(&decoded_ms), "{decoded_ms}");
            assert_eq!(expected_ms, Some(1000));
        }
        other => panic!("{other:?}"),
    }
    assert_fades_out("truncated.wav", &out, 16_000, 0.5);
}

#[test]
fn corrupt_flac_skips_the_damage_reports_where_and_plays_on() {
    let rate = 24_000;
    let mut r = Renderer::new(format(rate, 1));
    let events = r.bg.subscribe();
    r.bg.play(
        fixture("corrupt.flac"),
        Play::music().looping(Looping::Once).fade_in(Duration::ZERO),
    )
    .unwrap();
    // No `deliver_reports`: the mix rings the janitor thread when it reaches the damage.
    let out = r.render(150);
    let damaged = events
        .next_timeout(Duration::from_secs(5))
        .expect("an event");
    let SourceEvent::Damaged {
        error,
        pts,
        recovery,
        ..
    } = damaged
    else {
        panic!("expected Damaged, got {damaged:?}");
    };
    assert_eq!(recovery, Recovery::Skipped);
    assert!(matches!(error, Error::Corrupt { .. }), "{error:?}");
    assert!(error.to_string().contains("corrupt.flac"), "{error}");
    // The garbage sits in the middle of a 2 s file.
    let t = pts as f64 / rate as f64;
    assert!((0.6..=1.4).contains(&t), "damage reported at {t} s");
    // It played on past the damage, to (nearly) the end of the file.
    let x = channel(&out, 1, 0);
    let played = active_len(&x, 1e-4) as f64 / rate as f64;
    assert!(played > 1.5, "played {played} s");
    let finished = events.next_timeout(Duration::from_secs(5));
    assert!(
        matches!(
            finished,
            Some(SourceEvent::Finished {
                reason: FinishReason::Ended,
                ..
            })
        ),
        "{finished:?}"
    );
    // The janitor woke for the damage and for the source leaving (or both at once), not
    // on a timer.
    let rounds = r.bg.stats().janitor_rounds;
    assert!((1..=2).contains(&rounds), "{rounds} janitor rounds");
}

#[test]
fn a_failure_is_reported_at_the_pts_where_the_source_ended() {
    let rate = 16_000;
    let mut r = Renderer::new(format(rate, 1));
    let events = r.bg.subscribe();
    // Start the source a few frames in, so the pts is not just the file position.
    r.render(7);
    r.bg.play(
        fixture("truncated.wav"),
        Play::music().looping(Looping::Once).fade_in(Duration::ZERO),
    )
    .unwrap();
    let out = r.render(60);
    r.bg.deliver_reports();
    let Some(SourceEvent::Failed { pts, error, .. }) = events.next_timeout(Duration::from_secs(5))
    else {
        panic!("no Failed event");
    };
    assert!(matches!(error, Error::Truncated { .. }), "{error:?}");
    let frame = format(rate, 1).frame_samples() as u64;
    let x = channel(&out, 1, 0);
    let end = 7 * frame + active_len(&x, 1e-9) as u64;
    // The source started on frame 7 (it needs two frames decoded, which it has at once).
    assert!(
        pts >= end.saturating_sub(frame) && pts <= end + frame,
        "Failed at pts {pts}, audio ended at {end}"
    );
}

#[test]
fn a_looping_file_that_breaks_restarts_from_the_top_a_few_times_then_fails() {
    let rate = 16_000;
    let mut r = Renderer::new(format(rate, 1));
    let events = r.bg.subscribe();
    r.bg.play(
        fixture("truncated.wav"),
        Play::music()
            .looping(Looping::Gapless)
            .fade_in(Duration::ZERO),
    )
    .unwrap();
    // 0.3 s per pass, MAX_RESTARTS + 1 passes.
    let out = r.render(100);
    r.bg.deliver_reports();
    let mut restarts = Vec::new();
    let mut failed = None;
    while let Some(e) = events.next_timeout(Duration::from_secs(2)) {
        match e {
            SourceEvent::Damaged {
                recovery: Recovery::Restarted { attempt },
                pts,
                ..
            } => restarts.push((attempt, pts)),
            SourceEvent::Failed { pts, .. } => failed = Some(pts),
            SourceEvent::Finished { reason, .. } => {
                assert_eq!(reason, FinishReason::Failed);
                break;
            }
            other => panic!("{other:?}"),
        }
    }
    let attempts: Vec<u32> = restarts.iter().map(|r| r.0).collect();
    assert_eq!(attempts, (1..=MAX_RESTARTS).collect::<Vec<_>>());
    let failed = failed.expect("a Failed event after the last restart") as f64 / rate as f64;
    let passes = MAX_RESTARTS as f64 + 1.0;
    assert!((failed - 0.3 * passes).abs() < 0.05, "failed at {failed} s");
    for (k, (_, pts)) in restarts.iter().enumerate() {
        let t = *pts as f64 / rate as f64;
        assert!(
            (t - 0.3 * (k + 1) as f64).abs() < 0.03,
            "restart {k} at {t} s"
        );
    }
    // Each pass played: there is tone in the middle of the last pass.
    let x = channel(&out, 1, 0);
    let mid = (0.3 * (passes - 0.5) * rate as f64) as usize;
    assert!(rms(&x[mid - 400..mid + 400]) > 0.3);
}

#[test]
fn bad_arguments_are_rejected() {
    let r = Renderer::new(format(24_000, 1));
    let err =
        r.bg.play(
            fixture("tone_44k_stereo.flac"),
            Play::music().gain_db(f32::NAN),
        )
        .unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err:?}");
    assert!(r.bg.set_gain_db(None, f32::INFINITY).is_err());
}

#[test]
fn commands_after_the_mixer_is_dropped_say_so() {
    let r = Renderer::new(format(24_000, 1));
    let bg = r.bg.clone();
    drop(r);
    let err = bg
        .play(fixture("tone_44k_stereo.flac"), Play::music())
        .unwrap_err();
    assert!(matches!(err, Error::MixerGone), "{err:?}");
    assert!(matches!(bg.stop(Duration::ZERO), Err(Error::MixerGone)));
}
