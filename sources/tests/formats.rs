//! Every format the crate claims, decoded from real files and played through the
//! background mixer: duration, level, frequency and SNR of what comes out.

mod common;

use std::time::Duration;

use common::*;
use voxpace_sources::{probe, FinishReason, Looping, Play, SourceEvent};

struct Case {
    file: &'static str,
    codec: &'static str,
    rate: u32,
    channels: usize,
    seconds: f64,
    /// Expected peak amplitude in each output channel.
    amplitude: f64,
    /// Lowest acceptable SNR (lossy codecs add their own noise).
    min_snr_db: f64,
    /// How far the played length may be from `seconds`.
    slack: f64,
}

impl Case {
    /// A clean tone at half scale, lossless: the default level and SNR.
    const fn tone(
        file: &'static str,
        codec: &'static str,
        rate: u32,
        channels: usize,
        seconds: f64,
    ) -> Case {
        Case {
            file,
            codec,
            rate,
            channels,
            seconds,
            amplitude: 0.5,
            min_snr_db: 85.0,
            slack: 0.03,
        }
    }

    /// The same with the level a codec or a fold-down leaves and the SNR it allows.
    const fn level(self, amplitude: f64, min_snr_db: f64) -> Case {
        Case {
            amplitude,
            min_snr_db,
            ..self
        }
    }
}

const CASES: &[Case] = &[
    Case::tone("tone_s16_8k_mono.wav", "pcm_s16le", 8_000, 1, 1.0),
    Case::tone("tone_s24_96k_mono.wav", "pcm_s24le", 96_000, 1, 0.5),
    Case::tone("tone_s32_48k_mono.wav", "pcm_s32le", 48_000, 1, 0.5),
    Case::tone("tone_f32_22k_stereo.wav", "pcm_f32le", 22_050, 2, 1.0),
    Case::tone("tone_44k_stereo.flac", "flac", 44_100, 2, 2.0),
    // LAME's output is 0.45 dB low (ffmpeg decodes the same file at the same level).
    Case::tone("tone_44k_stereo.mp3", "mp3", 44_100, 2, 2.0).level(0.475, 75.0),
    Case::tone("tone_48k_stereo.ogg", "vorbis", 48_000, 2, 2.0).level(0.504, 40.0),
    Case::tone("tone_44k_stereo.m4a", "aac", 44_100, 2, 2.0).level(0.5, 46.0),
    // The AAC priming (1024 frames = 64 ms at 16 kHz) is trimmed by the MP4 edit list.
    Case::tone("tone_16k_mono.mp4", "aac", 16_000, 1, 2.0).level(0.5, 25.0),
    // 5.1 with the tone only in the centre: folded into each side at -3 dB, normalised by
    // the sum of a side's gains (1 + 2 × -3 dB) as ffmpeg's 16-bit fold-down is; 7.7 dB
    // quieter than the other tones, so 7.7 dB closer to the 16-bit floor.
    Case::tone("centre_48k_5.1.flac", "flac", 48_000, 6, 1.0).level(
        0.5 * std::f64::consts::FRAC_1_SQRT_2 / (1.0 + std::f64::consts::SQRT_2),
        78.0,
    ),
];

#[test]
fn probe_reports_codec_rate_channels_and_duration() {
    for case in CASES {
        let info = probe(fixture(case.file)).unwrap();
        assert_eq!(info.codec, case.codec, "{}", case.file);
        assert_eq!(info.sample_rate, case.rate, "{}", case.file);
        assert_eq!(info.channels, case.channels, "{}", case.file);
        let d = info
            .duration
            .expect("every fixture announces its length")
            .as_secs_f64();
        assert!(
            (d - case.seconds).abs() <= case.slack,
            "{}: {d} s",
            case.file
        );
    }
}

fn play_once_and_check(case: &Case, rate: u32, channels: u16) {
    let mut r = Renderer::new(format(rate, channels));
    let events = r.bg.subscribe();
    let id =
        r.bg.play(
            fixture(case.file),
            Play::music().looping(Looping::Once).fade_in(Duration::ZERO),
        )
        .unwrap();
    let frames = ((case.seconds + 0.5) / 0.02) as usize;
    let out = r.render(frames);
    let stats = r.bg.stats();
    assert_eq!(stats.underruns, 0, "{}", case.file);
    assert_eq!(stats.playing, 0, "{} should have finished", case.file);
    let finished = events.next_timeout(Duration::from_secs(5));
    assert!(
        matches!(finished, Some(SourceEvent::Finished { id: i, reason: FinishReason::Ended, .. }) if i == id),
        "{}: {finished:?}",
        case.file
    );
    for c in 0..channels as usize {
        let x = channel(&out, channels as usize, c);
        let seconds = active_len(&x, 0.05) as f64 / rate as f64;
        // MP3 and AAC are trimmed of their encoder delay (gapless): within a frame or two.
        assert!(
            (seconds - case.seconds).abs() <= case.slack,
            "{} at {rate} Hz: plays {seconds:.3} s, expected {}",
            case.file,
            case.seconds
        );
        let body = &x[(0.1 * rate as f64) as usize..((case.seconds - 0.1) * rate as f64) as usize];
        let t = tone(body, rate as f64, 990.0, 1010.0);
        eprintln!("{} -> {rate} Hz ch{c}: {t:?}", case.file);
        assert!((t.freq - 1000.0).abs() < 0.5, "{}: {t:?}", case.file);
        assert!(
            (db(t.amplitude) - db(case.amplitude)).abs() < 0.3,
            "{}: level {:.2} dBFS, expected {:.2}",
            case.file,
            db(t.amplitude),
            db(case.amplitude)
        );
        assert!(t.snr_db > case.min_snr_db, "{}: {t:?}", case.file);
        if case.channels == 6 {
            // The LFE's 200 Hz tone is dropped by the fold-down.
            let lfe = goertzel(body, rate as f64, 200.0).sqrt() * 2.0 / body.len() as f64;
            assert!(lfe < 1e-3, "LFE leaked into the fold-down: {lfe}");
        }
    }
}

#[test]
fn every_format_plays_at_24k_mono() {
    for case in CASES {
        play_once_and_check(case, 24_000, 1);
    }
}

#[test]
fn every_format_plays_at_48k_stereo() {
    for case in CASES {
        play_once_and_check(case, 48_000, 2);
    }
}

#[test]
fn every_format_plays_at_8k_and_16k() {
    for case in CASES.iter().step_by(3) {
        play_once_and_check(case, 8_000, 1);
        play_once_and_check(case, 16_000, 2);
    }
}
