//! An AAC file loops sample-exactly against the same content in WAV, and decodes to exactly
//! the source's sample count, with ffmpeg's default movie timescale (1000: the edit list's
//! length in whole milliseconds, up to 47 frames short of the audio at 48 kHz). The lengths
//! are chosen not to be whole milliseconds.
//!
//! The fixtures are made by ffmpeg at test time in a temporary folder.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;
use voxpace_sources::{decode_file, Play};
use voxpace_test_kit::ffmpeg::ffmpeg;

/// The same `frames` of `expr` at `rate` as a 16-bit WAV and as AAC in M4A (ffmpeg's
/// defaults: movie timescale 1000, edit list, no iTunSMPB).
fn make(dir: &Dir, name: &str, expr: &str, rate: u32, frames: usize) -> (PathBuf, PathBuf) {
    let (wav, m4a) = (
        dir.path(&format!("{name}.wav")),
        dir.path(&format!("{name}.m4a")),
    );
    let src = format!("aevalsrc={expr}:s={rate}:d=2");
    let trim = format!("atrim=end_sample={frames}");
    for (out, codec) in [(&wav, ["-c:a", "pcm_s16le"]), (&m4a, ["-c:a", "aac"])] {
        ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            &src,
            "-af",
            &trim,
            codec[0],
            codec[1],
            "-b:a",
            "128k",
            out.to_str().unwrap(),
        ]);
    }
    (wav, m4a)
}

/// `file` played as looping music on a 48 kHz track for `passes` passes of `frames` (track
/// frames) and a bit.
fn looped(file: &Path, frames: usize, passes: usize) -> Vec<f64> {
    let f = format(48_000, 1);
    let mut r = Renderer::new(f);
    r.bg.play(file, Play::music().fade_in(Duration::ZERO))
        .unwrap();
    let n = (passes * frames + 8_000).div_ceil(f.frame_samples());
    channel(&r.render(n), 1, 0)
}

/// The lag (in frames, within ±`max`) at which `b` best matches `a` over `range`.
fn lag(a: &[f64], b: &[f64], range: std::ops::Range<usize>, max: i64) -> i64 {
    (-max..=max)
        .map(|l| {
            let (mut ab, mut aa, mut bb) = (0.0, 0.0, 0.0);
            for i in range.clone() {
                let (x, y) = (a[i], b[(i as i64 + l) as usize]);
                ab += x * y;
                aa += x * x;
                bb += y * y;
            }
            (l, ab / (aa * bb).sqrt().max(1e-30))
        })
        .max_by(|x, y| x.1.total_cmp(&y.1))
        .unwrap()
        .0
}

/// The largest second difference of `x` in `range`: a click shows up as a spike.
fn max_d2(x: &[f64], range: std::ops::Range<usize>) -> f64 {
    range
        .map(|i| (x[i + 1] - 2.0 * x[i] + x[i - 1]).abs())
        .fold(0.0, f64::max)
}

#[test]
fn aac_loops_sample_exactly_against_the_same_wav() {
    let dir = Dir::new("loops");
    // A steady tone (a whole number of cycles, so the WAV loops without a step), and a
    // ring tone (two tones beating, faded at both ends), at 44.1 and 48 kHz.
    let cases = [
        ("tone44", "0.5*sin(2*PI*441*t)", 44_100, 64_500),
        ("tone48", "0.5*sin(2*PI*375*t)", 48_000, 64_640),
        (
            "ring44",
            "0.25*(sin(2*PI*440*t)+sin(2*PI*480*t))*sin(PI*t/1.46359)",
            44_100,
            64_546,
        ),
        (
            "ring48",
            "0.25*(sin(2*PI*440*t)+sin(2*PI*480*t))*sin(PI*t/1.47)",
            48_000,
            70_555,
        ),
    ];
    for (name, expr, rate, frames) in cases {
        let (wav, m4a) = make(&dir, name, expr, rate, frames);

        // The file itself: exactly the source's frames.
        let decoded = voxpace_sources::check_file(&m4a, None).unwrap().decoded;
        let decoded = (decoded.as_secs_f64() * rate as f64).round() as usize;
        eprintln!("{name}: the AAC decodes to {decoded} frames, the source has {frames}");
        assert_eq!(decoded, frames, "{name}: decoded length");
        // The reply path: as many samples as the WAV gives, at the file's rate (when a
        // track can run at it) and at others.
        for track_rate in [rate, 16_000, 24_000] {
            let Ok(f) = voxpace_core::Format::new(track_rate, 1, 20) else {
                continue;
            };
            let (a, b) = (
                decode_file(&wav, f).unwrap().len(),
                decode_file(&m4a, f).unwrap().len(),
            );
            eprintln!("{name}: reply at {track_rate} Hz: WAV {a} samples, AAC {b}");
            assert_eq!(
                a, b,
                "{name}: at {track_rate} Hz the WAV gives {a} samples, the AAC {b}"
            );
            if track_rate == rate {
                assert_eq!(b, frames, "{name}: reply length");
            }
        }

        // Three passes on a 48 kHz track: each seam of the AAC loop where the WAV loop's is.
        let pass = frames as f64 * 48_000.0 / rate as f64;
        let want = looped(&wav, pass.ceil() as usize, 3);
        let got = looped(&m4a, pass.ceil() as usize, 3);
        for k in 1..=3 {
            let seam = (k as f64 * pass).round() as usize;
            let l = lag(&want, &got, seam + 500..seam + 4_500, 64);
            let ours = max_d2(&got, seam - 2..seam + 2);
            let theirs = max_d2(&want, seam - 2..seam + 2);
            let beside =
                max_d2(&got, seam - 1_024..seam - 8).max(max_d2(&got, seam + 8..seam + 1_024));
            eprintln!(
                "{name} seam {k}: lag {l} frames, second difference at the seam {ours:.5} (WAV {theirs:.5}, the AAC beside it {beside:.5})"
            );
            assert!(
                l.unsigned_abs() <= k as u64,
                "{name}: seam {k} is {l} frames off"
            );
            // AAC does not rebuild a file's first and last samples exactly (ffmpeg's decode
            // of the tones, concatenated, steps 0.008 there too); a lost or doubled piece of
            // a pass steps by a good part of the amplitude (0.2 for the ring tone).
            assert!(
                ours <= 5.0 * theirs.max(beside),
                "{name}: click at seam {k}: {ours} vs {theirs} / {beside}"
            );
        }
    }
}
