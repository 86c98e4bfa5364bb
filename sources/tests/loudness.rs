//! `Play::normalised`: files recorded at different levels play at the asked loudness,
//! measured (ITU-R BS.1770) on their worker thread before they start.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;
use voxpace_loudness::Meter;
use voxpace_sources::{Looping, Play};

/// A chord at `amplitude` (full scale 1) written to a WAV at `rate` Hz.
fn chord(path: &Path, rate: u32, amplitude: f32) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    let pi = std::f32::consts::PI;
    // Whole cycles of 200 Hz: the loop seam is seamless.
    for i in 0..rate {
        let t = i as f32 / rate as f32;
        let v = (2.0 * pi * 200.0 * t).sin() + 0.5 * (2.0 * pi * 600.0 * t).sin();
        w.write_sample((v / 1.5 * amplitude * 32_767.0) as i16)
            .unwrap();
    }
    w.finalize().unwrap();
}

fn loudness_of(file: &Path, normalised: Option<f32>) -> f64 {
    let format = format(24_000, 1);
    let mut r = Renderer::new(format);
    let play = Play::music()
        .looping(Looping::Gapless)
        .fade_in(Duration::ZERO)
        .normalised(normalised);
    r.bg.play(file, play).unwrap();
    let out = r.render(150);
    let mut meter = Meter::integrated(24_000, 1).unwrap();
    meter.add_i16(&out[2400..]);
    meter.integrated_lufs().unwrap()
}

#[test]
fn files_at_different_levels_play_at_the_asked_loudness() {
    let dir = std::env::temp_dir().join(format!("voxpace-loudness-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let files: Vec<PathBuf> = [(16_000, 0.05), (44_100, 0.3), (48_000, 0.9)]
        .iter()
        .map(|(rate, amp)| {
            let f = dir.join(format!("chord_{rate}_{amp}.wav"));
            chord(&f, *rate, *amp);
            f
        })
        .collect();
    let raw: Vec<f64> = files.iter().map(|f| loudness_of(f, None)).collect();
    let spread =
        raw.iter().cloned().fold(f64::MIN, f64::max) - raw.iter().cloned().fold(f64::MAX, f64::min);
    assert!(spread > 3.0, "the fixtures differ in level: {raw:?}");
    for file in &files {
        let lufs = loudness_of(file, Some(-30.0));
        assert!((lufs + 30.0).abs() <= 1.0, "{file:?}: {lufs:.2} LUFS");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
