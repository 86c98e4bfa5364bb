//! Reply audio decoded while it arrives ([`decode_stream`]): every format, fed in 500-byte
//! pieces, comes out exactly as the whole file decodes ([`decode_file`], the path checked
//! against ffmpeg in `reference.rs`) and matches ffmpeg's own decode; a stream cut off
//! keeps what decoded before the cut and says where it broke; bytes that are not audio are
//! refused before anything plays; the decoder reads its input no faster than its output is
//! taken.
//!
//! Fixtures are made by ffmpeg at test time (installed by `cargo xtask ci`; tests only).

mod common;

use std::path::{Path, PathBuf};

use bytes::Bytes;
use common::{format, Dir};
use voxpace_sources::{decode_file, decode_stream, Container, Decoded, Error};
use voxpace_test_kit::ffmpeg::{decode_f32_at, ffmpeg};
use voxpace_test_kit::signal::{correlation, rms_db_f64};

/// ffmpeg's decode of `file`, resampled by ffmpeg to `rate`, as f64 samples.
fn reference(file: &Path, rate: u32, channels: u16) -> Vec<f64> {
    decode_f32_at(file, rate, channels)
        .into_iter()
        .map(f64::from)
        .collect()
}

/// Speech-like material: a moving pitch with a moving level (alignment is unambiguous).
const MATERIAL: &str = "aevalsrc=0.3*sin(2*PI*(300+200*sin(2*PI*0.7*t))*t)*(0.6+0.4*sin(2*PI*1.3*t))+0.05*sin(2*PI*2500*t):d=1.5";

/// Encode the material into `name` at `rate`, mono.
fn make(dir: &Dir, name: &str, rate: u32, codec: &[&str]) -> PathBuf {
    let file = dir.path(name);
    let rate_s = rate.to_string();
    let mut args = vec!["-f", "lavfi", "-i", MATERIAL, "-ar", &rate_s, "-ac", "1"];
    args.extend_from_slice(codec);
    args.push(file.to_str().unwrap());
    ffmpeg(&args);
    file
}

/// What the stream decoder made of `bytes` fed in `piece`-byte pieces: the samples, the
/// damage reports, how it finished, and whether it opened.
struct Streamed {
    opened: bool,
    samples: Vec<i16>,
    damaged: usize,
    finished: Result<(), Error>,
}

fn stream(bytes: &[u8], container: Container, f: voxpace_core::Format, piece: usize) -> Streamed {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let (mut input, mut output) = decode_stream(container, f, "test stream").unwrap();
        let mut pieces = bytes.chunks(piece).map(Bytes::copy_from_slice);
        let mut got = Streamed {
            opened: false,
            samples: Vec::new(),
            damaged: 0,
            finished: Ok(()),
        };
        let mut input_open = true;
        loop {
            tokio::select! {
                biased;
                d = output.recv() => match d.expect("Finished comes last") {
                    Decoded::Opened(_) => got.opened = true,
                    Decoded::Samples(s) => got.samples.extend_from_slice(&s),
                    Decoded::Damaged { .. } => got.damaged += 1,
                    Decoded::Finished(r) => {
                        got.finished = r;
                        return got;
                    }
                    other => panic!("unexpected {other:?}"),
                },
                _ = input.feed(), if input.has_pending() => {}
                _ = std::future::ready(()), if input_open && !input.has_pending() => {
                    match pieces.next() {
                        Some(p) => input.put(p),
                        None => {
                            input.close();
                            input_open = false;
                        }
                    }
                }
            }
        }
    })
}

fn to_f64(x: &[i16]) -> Vec<f64> {
    x.iter().map(|s| *s as f64 / 32_768.0).collect()
}

/// Correlation of `a[i]` with `b[i + lag]` over the middle of `a`.
fn lagged(a: &[f64], b: &[f64], lag: i64) -> f64 {
    let (mut ab, mut aa, mut bb) = (0.0, 0.0, 0.0);
    let (from, to) = (a.len() / 4, a.len() * 3 / 4);
    for (i, x) in a.iter().enumerate().take(to).skip(from) {
        let Some(y) = b.get((i as i64 + lag) as usize) else {
            continue;
        };
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    ab / (aa * bb).sqrt().max(1e-30)
}

#[test]
fn every_format_streamed_in_small_pieces_decodes_as_the_whole_file_and_as_ffmpeg() {
    let dir = Dir::new("stream-formats");
    let mut cases: Vec<(&str, Container, u32, Vec<&str>)> = vec![
        (
            "a.mp3",
            Container::Mp3,
            44_100,
            vec!["-c:a", "libmp3lame", "-b:a", "64k"],
        ),
        ("a.flac", Container::Flac, 22_050, vec!["-c:a", "flac"]),
        (
            "a.ogg",
            Container::Ogg,
            44_100,
            vec!["-c:a", "libvorbis", "-q:a", "3"],
        ),
        (
            "a.aac",
            Container::Adts,
            24_000,
            vec!["-c:a", "aac", "-b:a", "48k", "-f", "adts"],
        ),
        (
            "a.m4a",
            Container::Mp4,
            44_100,
            vec!["-c:a", "aac", "-b:a", "64k", "-movflags", "+faststart"],
        ),
        ("a.wav", Container::Wav, 16_000, vec!["-c:a", "pcm_f32le"]),
    ];
    if voxpace_sources::OPUS {
        cases.push((
            "a.opus",
            Container::Ogg,
            48_000,
            vec!["-c:a", "libopus", "-b:a", "32k", "-f", "ogg"],
        ));
    }
    let f = format(24_000, 1);
    for (name, container, rate, codec) in &cases {
        let file = make(&dir, name, *rate, codec);
        let bytes = std::fs::read(&file).unwrap();
        let got = stream(&bytes, *container, f, 500);
        assert!(got.opened, "{name}");
        assert!(got.finished.is_ok(), "{name}: {:?}", got.finished);
        assert_eq!(got.damaged, 0, "{name}");
        let whole = decode_file(&file, f).unwrap();
        assert_eq!(
            got.samples.len(),
            whole.len(),
            "{name}: streamed and whole-file lengths"
        );
        assert!(
            got.samples == whole,
            "{name}: streamed differs from the whole-file decode"
        );
        // ffmpeg's decode, resampled by ffmpeg: a different resampler, so close, not equal.
        let want = reference(&file, 24_000, 1);
        let ours = to_f64(&got.samples);
        let corr = correlation(&want, &ours);
        // Aligned to the sample with ffmpeg's decode: encoder delay (pre-skip, priming)
        // trimmed as ffmpeg trims it.
        let best = (-8..=8i64)
            .max_by(|x, y| lagged(&want, &ours, *x).total_cmp(&lagged(&want, &ours, *y)))
            .unwrap();
        assert_eq!(best, 0, "{name}: {best} samples off ffmpeg's decode");
        let n = want.len().min(ours.len());
        let level = rms_db_f64(&ours[..n]) - rms_db_f64(&want[..n]);
        eprintln!(
            "{name}: {} samples (ffmpeg {}), correlation {corr:.5}, level {level:+.3} dB",
            ours.len(),
            want.len()
        );
        assert!(corr > 0.98, "{name}: correlation {corr}");
        assert!(level.abs() < 0.2, "{name}: level {level} dB");
        // 1.5 s of material: the encoder delay is trimmed (AAC in ADTS declares none).
        let expected = 36_000i64;
        let slack = if *container == Container::Adts {
            2_400
        } else {
            30
        };
        assert!(
            (ours.len() as i64 - expected).abs() <= slack,
            "{name}: {} samples for 1.5 s",
            ours.len()
        );
    }
}

#[test]
fn a_stream_cut_off_keeps_what_decoded_and_says_where_it_broke() {
    let dir = Dir::new("stream-cut");
    let file = make(
        &dir,
        "cut.mp3",
        24_000,
        &["-c:a", "libmp3lame", "-b:a", "48k"],
    );
    let bytes = std::fs::read(&file).unwrap();
    // Cut in the middle of a frame.
    let cut = &bytes[..bytes.len() / 2 + 37];
    let got = stream(cut, Container::Mp3, format(24_000, 1), 700);
    assert!(got.opened);
    let played_ms = got.samples.len() as f64 / 24.0;
    assert!(
        (500.0..900.0).contains(&played_ms),
        "about half of 1.5 s decoded: {played_ms} ms"
    );
    match got.finished {
        Err(e @ (Error::Truncated { .. } | Error::Corrupt { .. })) => {
            let m = e.to_string();
            assert!(m.contains("test stream (audio/mpeg)"), "{m}");
        }
        Ok(()) => {
            // An MP3 without a length header has no way to know it was cut: it ends early.
            assert!(played_ms < 900.0);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn damage_in_a_stream_is_skipped_and_reported_in_place() {
    let dir = Dir::new("stream-flipped");
    let file = make(&dir, "flipped.flac", 24_000, &["-c:a", "flac"]);
    let mut bytes = std::fs::read(&file).unwrap();
    let mid = bytes.len() / 2;
    for b in &mut bytes[mid..mid + 600] {
        *b ^= 0x5A;
    }
    let got = stream(&bytes, Container::Flac, format(24_000, 1), 1500);
    eprintln!(
        "{} samples, {} damage reports, {:?}",
        got.samples.len(),
        got.damaged,
        got.finished
    );
    assert!(got.finished.is_ok(), "{:?}", got.finished);
    assert!(got.damaged >= 1, "the damage is reported");
    assert!(
        got.samples.len() > 30_000,
        "the rest plays: {}",
        got.samples.len()
    );
}

#[test]
fn bytes_that_are_not_audio_are_refused_before_anything_plays() {
    let noise: Vec<u8> = (0..20_000u32).map(|i| (i * 7919 % 251) as u8).collect();
    for container in [
        Container::Mp3,
        Container::Ogg,
        Container::Flac,
        Container::Mp4,
    ] {
        let got = stream(&noise, container, format(24_000, 1), 500);
        assert!(!got.opened, "{container:?}");
        assert!(got.samples.is_empty(), "{container:?}");
        let e = got.finished.unwrap_err();
        assert!(matches!(e, Error::NotAudio { .. }), "{container:?}: {e}");
        assert!(e.to_string().contains("test stream"), "{e}");
    }
    let empty = stream(&[], Container::Mp3, format(24_000, 1), 500);
    assert!(!empty.opened && empty.finished.is_err());
}

#[test]
fn an_mp4_whose_moov_comes_last_is_refused_with_how_to_fix_it() {
    let dir = Dir::new("stream-moov");
    let file = make(&dir, "late.m4a", 24_000, &["-c:a", "aac", "-b:a", "48k"]);
    let got = stream(
        &std::fs::read(&file).unwrap(),
        Container::Mp4,
        format(24_000, 1),
        4096,
    );
    let e = got.finished.unwrap_err();
    assert!(e.to_string().contains("faststart"), "{e}");
}

#[cfg(not(feature = "opus"))]
#[test]
fn without_the_opus_feature_ogg_opus_names_the_feature() {
    let dir = Dir::new("stream-noopus");
    let file = make(&dir, "a.opus", 48_000, &["-c:a", "libopus", "-f", "ogg"]);
    let got = stream(
        &std::fs::read(&file).unwrap(),
        Container::Ogg,
        format(24_000, 1),
        4096,
    );
    let e = got.finished.unwrap_err();
    assert!(matches!(e, Error::Unsupported { .. }), "{e}");
    assert!(e.to_string().contains("`opus` feature"), "{e}");
}

/// Back-pressure: with nobody taking its output, the decoder reads a bounded amount of a
/// long stream (its pipe, symphonia's read-ahead, a few blocks), never the whole of it.
#[test]
fn the_decoder_reads_no_further_than_its_output_is_taken() {
    let dir = Dir::new("stream-pressure");
    let long = dir.path("long.flac");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "anoisesrc=d=20:c=pink:r=48000:a=0.3",
        "-c:a",
        "flac",
        long.to_str().unwrap(),
    ]);
    let bytes = std::fs::read(&long).unwrap();
    assert!(bytes.len() > 1_500_000, "{} bytes", bytes.len());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async {
        let (mut input, mut output) =
            decode_stream(Container::Flac, format(48_000, 1), "long").unwrap();
        // Whole 1000-byte pieces: each `feed` hands one over (pieces are split at 4 KiB).
        let pieces: Vec<&[u8]> = bytes.chunks(1000).collect();
        let mut sent = 0usize;
        while sent < pieces.len() {
            input.put(Bytes::copy_from_slice(pieces[sent]));
            // Nobody reads the output: once the pipeline is full, feeding stops.
            match tokio::time::timeout(std::time::Duration::from_millis(300), input.feed()).await {
                Ok(true) => sent += 1,
                Ok(false) => panic!("the decoder stopped"),
                Err(_) => break,
            }
        }
        let taken = sent * 1000;
        eprintln!("{taken} of {} bytes taken with no output read", bytes.len());
        assert!(sent < pieces.len(), "the whole stream was taken");
        assert!(taken < 400_000, "{taken} bytes taken");
        // Taking the output lets the rest flow, to the end (the stuck piece is pending).
        let mut samples = 0usize;
        let mut rest = pieces[sent + 1..].iter().map(|p| Bytes::copy_from_slice(p));
        let mut open = true;
        loop {
            tokio::select! {
                biased;
                d = output.recv() => match d.unwrap() {
                    Decoded::Samples(s) => samples += s.len(),
                    Decoded::Finished(r) => { r.unwrap(); break; }
                    _ => {}
                },
                _ = input.feed(), if input.has_pending() => {}
                _ = std::future::ready(()), if open && !input.has_pending() => match rest.next() {
                    Some(p) => input.put(p),
                    None => {
                        input.close();
                        open = false;
                    }
                },
            }
        }
        assert!(samples > 48_000 * 19, "{samples} samples");
    });
}
