//! The TTS input adapter: any rate and layout in, the track's format out, chunk by chunk,
//! identical to converting the whole reply at once (so no seams), at full quality.

mod common;

use common::*;
use voxpace_core::Format;
use voxpace_sources::{Error, TtsResampler};

fn sine(rate: u32, channels: usize, seconds: f64, freq: f64) -> Vec<i16> {
    let n = (rate as f64 * seconds) as usize;
    (0..n)
        .flat_map(|i| {
            let v = 0.5 * (2.0 * std::f64::consts::PI * freq * i as f64 / rate as f64).sin();
            std::iter::repeat_n((v * 32_767.0).round() as i16, channels)
        })
        .collect()
}

/// Deterministic chunk sizes from 1 to ~2000 samples (odd ones included).
fn chunk_sizes(seed: u64) -> impl Iterator<Item = usize> {
    let mut s = seed;
    std::iter::from_fn(move || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        Some(1 + (s >> 33) as usize % 2000)
    })
}

fn convert_chunked(tts: &mut TtsResampler, input: &[i16], seed: u64) -> Vec<i16> {
    let mut out = Vec::new();
    let mut rest = input;
    let mut sizes = chunk_sizes(seed);
    while !rest.is_empty() {
        let n = sizes.next().unwrap().min(rest.len());
        out.extend_from_slice(tts.process(&rest[..n]));
        rest = &rest[n..];
    }
    out.extend_from_slice(tts.flush());
    out
}

#[test]
fn any_rate_and_layout_converts_exactly_and_cleanly() {
    let formats = [(24_000, 1), (48_000, 2), (16_000, 1), (8_000, 2)];
    for in_rate in [8_000, 11_025, 16_000, 22_050, 24_000, 44_100, 48_000] {
        for in_channels in [1u16, 2] {
            for (rate, channels) in formats {
                let format = Format::new(rate, channels, 20).unwrap();
                let input = sine(in_rate, in_channels as usize, 1.0, 1000.0);
                let mut tts = TtsResampler::new(in_rate, in_channels, format).unwrap();
                let chunked = convert_chunked(&mut tts, &input, in_rate as u64 + rate as u64);
                let mut whole = tts.process(&input).to_vec();
                whole.extend_from_slice(tts.flush());
                let label = format!("{in_rate} Hz x{in_channels} -> {format}");
                assert_eq!(chunked, whole, "{label}: chunking changed the output");
                assert_eq!(chunked.len(), rate as usize * channels as usize, "{label}");
                if channels == 2 {
                    assert!(
                        chunked.chunks(2).all(|f| f[0] == f[1]),
                        "{label}: channels differ"
                    );
                }
                let x = channel(&chunked, channels as usize, 0);
                // A quarter second from the middle is plenty for the fit.
                let body = &x[rate as usize / 2..rate as usize * 3 / 4];
                let t = tone(body, rate as f64, 995.0, 1005.0);
                assert!((t.freq - 1000.0).abs() < 0.01, "{label}: {t:?}");
                assert!((db(t.amplitude) - db(0.5)).abs() < 0.05, "{label}: {t:?}");
                assert!(t.snr_db > 85.0, "{label}: {t:?}");
                if in_rate == 22_050 {
                    eprintln!(
                        "{label}: SNR {:.1} dB, latency {:?}",
                        t.snr_db,
                        tts.latency()
                    );
                }
                // Aligned with the input: no delay, no lost start.
                let first = x.iter().position(|v| v.abs() > 0.01).unwrap();
                assert!(first <= 2, "{label}: starts {first} samples late");
            }
        }
    }
}

#[test]
fn bytes_with_odd_splits_equal_samples() {
    let format = Format::new(24_000, 1, 20).unwrap();
    let input = sine(22_050, 2, 0.5, 440.0);
    let bytes: Vec<u8> = input.iter().flat_map(|s| s.to_le_bytes()).collect();
    let mut a = TtsResampler::new(22_050, 2, format).unwrap();
    let mut b = TtsResampler::new(22_050, 2, format).unwrap();
    let expected = convert_chunked(&mut a, &input, 7);
    let mut out = Vec::new();
    let mut rest = &bytes[..];
    for n in chunk_sizes(3) {
        if rest.is_empty() {
            break;
        }
        let n = n.min(rest.len());
        out.extend_from_slice(b.process_bytes(&rest[..n]));
        rest = &rest[n..];
    }
    out.extend_from_slice(b.flush());
    assert_eq!(out, expected);
}

#[test]
fn latency_is_low() {
    let format = Format::new(24_000, 1, 20).unwrap();
    for in_rate in [16_000, 22_050, 44_100] {
        let tts = TtsResampler::new(in_rate, 1, format).unwrap();
        assert!(
            tts.latency().as_millis() <= 40,
            "{in_rate}: {:?}",
            tts.latency()
        );
    }
    let same = TtsResampler::new(24_000, 2, format).unwrap();
    assert_eq!(same.latency().as_millis(), 0);
}

#[test]
fn stereo_is_averaged_into_mono_and_same_rate_is_exact() {
    let format = Format::new(24_000, 1, 20).unwrap();
    let mut tts = TtsResampler::new(24_000, 2, format).unwrap();
    assert_eq!(tts.process(&[1000, 3000, -200, -400, 7]), &[2000, -300]);
    assert_eq!(tts.process(&[9]), &[8]);
    assert!(tts.flush().is_empty());
    let stereo = Format::new(24_000, 2, 20).unwrap();
    let mut tts = TtsResampler::new(24_000, 1, stereo).unwrap();
    assert_eq!(
        tts.process(&[5, -32768, 32767]),
        &[5, 5, -32768, -32768, 32767, 32767]
    );
}

#[test]
fn reset_forgets_an_interrupted_reply() {
    let format = Format::new(24_000, 1, 20).unwrap();
    let mut tts = TtsResampler::new(16_000, 1, format).unwrap();
    let loud = sine(16_000, 1, 0.3, 1000.0);
    let _ = tts.process(&loud[..1001]);
    tts.reset();
    let mut out = tts.process(&vec![0i16; 1600]).to_vec();
    out.extend_from_slice(tts.flush());
    assert_eq!(out.len(), 2400);
    assert!(
        out.iter().all(|s| *s == 0),
        "nothing of the interrupted reply leaks"
    );
}

#[test]
fn bad_arguments_are_typed_errors() {
    let format = Format::new(24_000, 1, 20).unwrap();
    assert!(matches!(
        TtsResampler::new(0, 1, format),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        TtsResampler::new(16_000, 0, format),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        TtsResampler::new(1_000_000, 1, format),
        Err(Error::InvalidArgument(_))
    ));
}
