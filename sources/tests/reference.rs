//! Faithful to the file, checked against ffmpeg: each format played as background, as a clip
//! and decoded as a reply matches ffmpeg's decode of the same file (level, correlation, and
//! time alignment, so encoder delay is trimmed exactly); a looped AAC tone is gapless; a
//! 5.1 file plays at the level of its stereo fold-down on every path.
//!
//! The fixtures are made by ffmpeg at test time in a temporary folder (ffmpeg is used only
//! here, never by the crate; `cargo xtask ci` installs it).

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;
use voxpace_sources::{decode_file, Looping, Play, TtsResampler};
use voxpace_test_kit::ffmpeg::{decode_f32, ffmpeg};
use voxpace_test_kit::signal::rms_db_f64;

/// ffmpeg's decode of `file` as interleaved samples at its own rate, with `channels`.
fn reference(file: &Path, channels: u16) -> Vec<f64> {
    decode_f32(file, channels)
        .into_iter()
        .map(f64::from)
        .collect()
}

/// Programme-like material (not a steady tone, so alignment is unambiguous): two voices
/// with moving pitch and level, different in each channel.
const MATERIAL: &str = "aevalsrc=0.3*sin(2*PI*(300+200*sin(2*PI*0.7*t))*t)*(0.6+0.4*sin(2*PI*1.3*t))+0.1*sin(2*PI*2500*t)|0.25*sin(2*PI*(500+150*sin(2*PI*0.9*t))*t)*(0.6+0.4*cos(2*PI*1.1*t))+0.1*sin(2*PI*1700*t):d=1";

/// How we play `file` at its own rate and channels: as background music, as a clip, as a
/// reply decoded from the file.
fn ours(file: &Path, rate: u32, channels: u16, frames: usize) -> [Vec<f64>; 3] {
    let f = format(rate, channels);
    let mut bg = Renderer::new(f);
    bg.bg
        .play(
            file,
            Play::music().looping(Looping::Once).fade_in(Duration::ZERO),
        )
        .unwrap();
    let music = bg.render(frames);
    let mut clip = Renderer::new(f);
    clip.bg.play_clip(file, Play::clip()).unwrap();
    let clip = clip.render(frames);
    let reply = decode_file(file, f).unwrap();
    let f64s = |v: &[i16]| v.iter().map(|s| *s as f64 / 32_768.0).collect::<Vec<_>>();
    [f64s(&music), f64s(&clip), f64s(&reply)]
}

/// Correlation of `a[range]` with `b` shifted by `lag` frames.
fn correlation(a: &[f64], b: &[f64], range: std::ops::Range<usize>, lag: i64, ch: usize) -> f64 {
    let (mut ab, mut aa, mut bb) = (0.0, 0.0, 0.0);
    for i in range {
        let j = i as i64 + lag * ch as i64;
        if j < 0 || j >= b.len() as i64 {
            continue;
        }
        let (x, y) = (a[i], b[j as usize]);
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    ab / (aa * bb).sqrt().max(1e-30)
}

/// The best of a few lags: small ones, and the encoder delays codecs use (LAME 576 + 529,
/// AAC 1024 and 2112, Opus 312), so a decoder that does not trim them shows up. Over the
/// middle half, to keep it cheap.
fn best_lag(a: &[f64], b: &[f64], ch: usize) -> (i64, f64) {
    const DELAYS: [i64; 8] = [312, 528, 529, 576, 1024, 1105, 2048, 2112];
    let lags = (-3..=3).chain(DELAYS).chain(DELAYS.map(|d| -d));
    let range = (a.len() / 4 / ch) * ch..(a.len() * 3 / 4 / ch) * ch;
    lags.map(|l| (l, correlation(a, b, range.clone(), l, ch)))
        .max_by(|x, y| x.1.total_cmp(&y.1))
        .unwrap()
}

/// Correlation over the whole common length at lag 0.
fn full_correlation(a: &[f64], b: &[f64]) -> f64 {
    correlation(a, b, 0..a.len().min(b.len()), 0, 1)
}

#[test]
fn every_format_matches_ffmpegs_decode_as_background_clip_and_reply() {
    let dir = Dir::new("ref-formats");
    // (file, encoder args, rate, channels, minimum correlation)
    let cases: &[(&str, &[&str], u32, u16, f64)] = &[
        ("s16.wav", &["-c:a", "pcm_s16le"], 16_000, 1, 0.9999),
        ("f32.wav", &["-c:a", "pcm_f32le"], 48_000, 2, 0.9999),
        (
            "s24.flac",
            &["-c:a", "flac", "-sample_fmt", "s32"],
            48_000,
            2,
            0.9999,
        ),
        (
            "lame.mp3",
            &["-c:a", "libmp3lame", "-b:a", "128k"],
            48_000,
            2,
            0.99,
        ),
        (
            "vorbis.ogg",
            &["-c:a", "libvorbis", "-q:a", "4"],
            48_000,
            2,
            0.99,
        ),
        ("aac.m4a", &["-c:a", "aac", "-b:a", "128k"], 48_000, 2, 0.99),
        ("aac.mp4", &["-c:a", "aac", "-b:a", "64k"], 24_000, 1, 0.99),
    ];
    for (name, codec, rate, channels, min_corr) in cases {
        let file = dir.path(name);
        let (rate_s, ch_s) = (rate.to_string(), channels.to_string());
        let mut args = vec!["-f", "lavfi", "-i", MATERIAL, "-ar", &rate_s, "-ac", &ch_s];
        args.extend_from_slice(codec);
        args.push(file.to_str().unwrap());
        ffmpeg(&args);
        let want = reference(&file, *channels);
        let frames =
            (want.len() / *channels as usize).div_ceil(format(*rate, 1).frame_samples()) + 5;
        let ch = *channels as usize;
        for (path, got) in ["background", "clip", "reply"]
            .iter()
            .zip(ours(&file, *rate, *channels, frames))
        {
            let (lag, _) = best_lag(&want, &got, ch);
            let corr = full_correlation(&want, &got);
            let n = want.len().min(got.len());
            let level = rms_db_f64(&got[..n]) - rms_db_f64(&want[..n]);
            // Played length against the material's (1 s): ffmpeg 5.1 keeps AAC's end
            // padding, so its decode is no reference for the end.
            let played = got.iter().rposition(|v| v.abs() > 1e-3).unwrap_or(0) / ch;
            let expected = *rate as usize - 1;
            eprintln!(
                "{name} as {path}: lag {lag}, correlation {corr:.5}, level {level:+.3} dB, length {played} frames (material {expected})"
            );
            assert_eq!(
                lag, 0,
                "{name} as {path}: starts {lag} frames off ffmpeg's decode"
            );
            assert!(corr >= *min_corr, "{name} as {path}: correlation {corr}");
            assert!(level.abs() < 0.1, "{name} as {path}: level {level} dB");
            assert!(
                (played as i64 - expected as i64).abs() <= 2,
                "{name} as {path}: {played} frames, the material {expected}"
            );
        }
    }
}

/// Least-squares phase (radians) of a sine of known frequency in `x`, which starts at
/// frame `first` of the signal.
fn phase(x: &[f64], first: usize, freq: f64, rate: f64) -> (f64, f64) {
    let (mut s, mut c) = (0.0, 0.0);
    for (i, v) in x.iter().enumerate() {
        let w = 2.0 * std::f64::consts::PI * freq * (first + i) as f64 / rate;
        s += v * w.sin();
        c += v * w.cos();
    }
    let n = x.len() as f64;
    ((c).atan2(s), 2.0 * (s * s + c * c).sqrt() / n)
}

#[test]
fn a_looped_aac_tone_is_gapless_and_starts_on_time() {
    let dir = Dir::new("ref-aac-loop");
    let file = dir.path("tone.m4a");
    let rate = 48_000u32;
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "sine=f=440:d=1:r=48000",
        "-c:a",
        "aac",
        "-b:a",
        "128k",
        file.to_str().unwrap(),
    ]);
    // One pass: exactly one second of audio, its first sample on frame 0.
    let mut once = Renderer::new(format(rate, 1));
    once.bg.play_clip(&file, Play::clip()).unwrap();
    let x = channel(&once.render(60), 1, 0);
    let pass = x.iter().rposition(|v| v.abs() > 1e-6).map_or(0, |i| i + 1);
    let (start_phase, amplitude) = phase(&x[480..47_520], 480, 440.0, rate as f64);
    let start_offset = -start_phase / (2.0 * std::f64::consts::PI * 440.0 / rate as f64);
    eprintln!(
        "one pass: {pass} frames, starts {start_offset:+.3} frames late, amplitude {amplitude:.4}"
    );
    assert!(
        (pass as i64 - rate as i64).abs() <= 1,
        "a pass is {pass} frames"
    );
    assert!(
        start_offset.abs() < 1.0,
        "the tone starts {start_offset} frames off"
    );

    // Looped: each pass's phase follows the last one's, so the period is the file's.
    let mut looped = Renderer::new(format(rate, 1));
    looped
        .bg
        .play(&file, Play::music().fade_in(Duration::ZERO))
        .unwrap();
    let y = channel(&looped.render(4 * 50 + 10), 1, 0);
    let step = 2.0 * std::f64::consts::PI * 440.0 / rate as f64;
    let mut phases = Vec::new();
    for k in 0..4 {
        let from = k * rate as usize + 480;
        let (p, _) = phase(&y[from..from + 47_040], from, 440.0, rate as f64);
        phases.push(p);
    }
    for k in 1..4 {
        let mut d = phases[k] - phases[k - 1];
        d = (d + std::f64::consts::PI).rem_euclid(2.0 * std::f64::consts::PI)
            - std::f64::consts::PI;
        let period = rate as f64 - d / step;
        eprintln!("pass {k}: period {period:.3} frames");
        assert!((period - rate as f64).abs() < 1.0, "period {period}");
    }
    // The step across each seam is no bigger than the decoded signal's own steps next to
    // it (the codec's reconstruction of the file's start and end is part of the file:
    // ffmpeg decodes the same samples there).
    let ideal = sine_step(amplitude, 440.0, rate as f64);
    for k in 1..4 {
        let seam = k * rate as usize;
        let across = (y[seam] - y[seam - 1]).abs();
        let own = max_step(&y[seam - 1024..seam]).max(max_step(&y[seam..seam + 1024]));
        eprintln!(
            "seam {k}: step across {across:.5}, the signal's own largest step beside it {own:.5} (an ideal sine's {ideal:.5})"
        );
        assert!(across <= own, "seam {k}: step {across} vs {own}");
        assert!(
            across <= ideal * 1.5,
            "seam {k}: step {across} vs the tone's {ideal}"
        );
    }
}

#[test]
fn a_5_1_file_plays_at_the_level_of_its_stereo_fold_down_on_every_path() {
    let dir = Dir::new("ref-five-one");
    let six = dir.path("six.flac");
    let two = dir.path("two.wav");
    ffmpeg(&[
        "-f", "lavfi", "-i",
        "aevalsrc=0.3*sin(2*PI*440*t)|0.3*sin(2*PI*550*t)|0.3*sin(2*PI*660*t)|0.3*sin(2*PI*60*t)|0.3*sin(2*PI*770*t)|0.3*sin(2*PI*880*t):s=48000:d=1",
        "-af", "aformat=channel_layouts=5.1", "-sample_fmt", "s16", "-c:a", "flac",
        six.to_str().unwrap(),
    ]);
    // ffmpeg's own stereo fold-down, as a user would make it.
    ffmpeg(&[
        "-i",
        six.to_str().unwrap(),
        "-ac",
        "2",
        "-c:a",
        "pcm_s16le",
        two.to_str().unwrap(),
    ]);
    let middle = |x: &[f64]| rms_db_f64(&x[9_600..86_400]);
    let [m6, c6, r6] = ours(&six, 48_000, 2, 55);
    let [m2, c2, r2] = ours(&two, 48_000, 2, 55);
    // The reply path for raw PCM (6 interleaved channels, no layout): the TTS resampler.
    let pcm: Vec<i16> = reference(&six, 6)
        .iter()
        .map(|v| (v * 32_768.0).round() as i16)
        .collect();
    let mut tts = TtsResampler::new(48_000, 6, format(48_000, 2)).unwrap();
    let mut raw = tts.process(&pcm).to_vec();
    raw.extend_from_slice(tts.flush());
    let raw: Vec<f64> = raw.iter().map(|s| *s as f64 / 32_768.0).collect();
    let reference_db = middle(&m2);
    for (path, x) in [
        ("background", &m6),
        ("clip", &c6),
        ("reply file", &r6),
        ("raw PCM reply", &raw),
        ("stereo clip", &c2),
        ("stereo reply", &r2),
    ] {
        let d = middle(x) - reference_db;
        eprintln!("5.1 {path}: {d:+.3} dB against the stereo fold-down as background");
        assert!(d.abs() < 0.5, "{path}: {d} dB");
    }
}
