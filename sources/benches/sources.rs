//! CPU cost of background audio: decode + resample per format, mixing per source, and how
//! many background sources one core sustains in real time; and a reply streamed in 4 KiB
//! pieces through its decoder thread (`decode_stream`).
//!
//! `cargo bench -p voxpace-sources` runs the criterion groups and then prints a summary
//! table (milliseconds of CPU per second of audio, sources per core).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use criterion::{criterion_group, Criterion};
use voxpace_core::{BusContext, Format, Source};
use voxpace_sources::fuzzing::{decode_to, stream_and_decode};
use voxpace_sources::{BackgroundConfig, BackgroundMixer, Ducking, Looping, Play};

/// (fixture, seconds of audio in it)
const FILES: &[(&str, f64)] = &[
    ("tone_s16_8k_mono.wav", 1.0),
    ("tone_s24_96k_mono.wav", 0.5),
    ("tone_f32_22k_stereo.wav", 1.0),
    ("tone_44k_stereo.flac", 2.0),
    ("tone_44k_stereo.mp3", 2.0),
    ("tone_48k_stereo.ogg", 2.0),
    ("tone_44k_stereo.m4a", 2.0),
];

const TRACK: (u32, usize) = (48_000, 2);
const MIX_VOICES: usize = 8;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

fn bench_decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode+resample to 48 kHz stereo");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(3));
    for (name, _) in FILES {
        let bytes = std::fs::read(fixture(name)).unwrap();
        group.bench_function(*name, |b| {
            b.iter(|| decode_to(&bytes, TRACK.0, TRACK.1).unwrap())
        });
    }
    group.finish();
}

/// Reply streams (into 24 kHz stereo), as an HTTP body arrives in 4 KiB pieces.
fn stream_files() -> Vec<(&'static str, f64)> {
    let mut files = vec![
        ("tone_44k_stereo.mp3", 2.0),
        ("tone_48k_stereo.ogg", 2.0),
        ("tone_44k_stereo.flac", 2.0),
    ];
    if voxpace_sources::OPUS {
        files.push(("unsupported_opus.ogg", 0.5));
    }
    files
}

fn bench_stream(c: &mut Criterion) {
    let mut group = c.benchmark_group("reply stream in 4 KiB pieces to 24 kHz stereo");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(3));
    for (name, _) in stream_files() {
        let bytes = std::fs::read(fixture(name)).unwrap();
        group.bench_function(name, |b| {
            b.iter(|| stream_and_decode(&bytes, 4096).unwrap())
        });
    }
    group.finish();
}

/// A mixer with `voices` looping sources, and a function timing `frames` fills (waiting for
/// the decoders outside the timed region).
fn mixer(voices: usize) -> impl FnMut(u64) -> Duration {
    let format = Format::new(TRACK.0, TRACK.1 as u16, 20).unwrap();
    let config = BackgroundConfig {
        ducking: Ducking::default(),
        ..Default::default()
    };
    let (mut mixer, bg) = BackgroundMixer::new(format, config).unwrap();
    for _ in 0..voices {
        bg.play_clip(
            fixture("tone_44k_stereo.flac"),
            Play::clip().looping(Looping::Gapless).ducked(true),
        )
        .unwrap();
    }
    let mut out = vec![0i16; format.frame_len()];
    let mut pts = 0;
    move |frames| {
        let mut total = Duration::ZERO;
        for _ in 0..frames {
            bg.wait_buffered(Duration::from_millis(40), Duration::from_secs(10));
            out.fill(0);
            let cx = BusContext {
                format,
                pts,
                speech_active: pts % 96_000 < 48_000,
            };
            let t = Instant::now();
            mixer.fill(&mut out, &cx);
            total += t.elapsed();
            pts += format.frame_samples() as u64;
        }
        total
    }
}

fn bench_mix(c: &mut Criterion) {
    let mut group = c.benchmark_group("mix one 20 ms frame, 48 kHz stereo");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(3));
    for voices in [1, MIX_VOICES] {
        let mut run = mixer(voices);
        group.bench_function(format!("{voices} sources"), |b| b.iter_custom(&mut run));
    }
    group.finish();
}

criterion_group!(benches, bench_decode, bench_mix, bench_stream);

/// Median of `n` timings of `f`.
fn median(n: usize, mut f: impl FnMut() -> Duration) -> Duration {
    let mut v: Vec<Duration> = (0..n).map(|_| f()).collect();
    v.sort();
    v[n / 2]
}

fn summary() {
    // Mixing: CPU per second of audio per source, from 50 frames (1 s) with MIX_VOICES.
    let mut run = mixer(MIX_VOICES);
    run(10);
    let mix_per_source = median(5, || run(50)) / MIX_VOICES as u32;
    println!();
    println!(
        "Background cost at {} Hz, {} ch (release build, one core, median of 9):",
        TRACK.0, TRACK.1
    );
    println!(
        "mixing: {:.3} ms CPU per source per second of audio",
        mix_per_source.as_secs_f64() * 1e3
    );
    println!(
        "{:<26} {:>18} {:>20}",
        "file", "decode+resample", "sources per core"
    );
    for (name, seconds) in FILES {
        let bytes = std::fs::read(fixture(name)).unwrap();
        let t = median(9, || {
            let t = Instant::now();
            decode_to(&bytes, TRACK.0, TRACK.1).unwrap();
            t.elapsed()
        });
        let per_second = t.as_secs_f64() / seconds;
        let total = per_second + mix_per_source.as_secs_f64();
        println!(
            "{:<26} {:>12.3} ms/s {:>20.0}",
            name,
            per_second * 1e3,
            1.0 / total
        );
    }
}

/// Time per second of a streamed reply, start to finish (feeder thread, decoder thread and
/// the hand-overs between them; wall clock).
fn stream_summary() {
    println!(
        "{:<26} {:>18}",
        "reply stream (4 KiB)", "wall per s of audio"
    );
    for (name, seconds) in stream_files() {
        let bytes = std::fs::read(fixture(name)).unwrap();
        let t = median(9, || {
            let t = Instant::now();
            stream_and_decode(&bytes, 4096).unwrap();
            t.elapsed()
        });
        println!(
            "{:<26} {:>12.3} ms/s",
            name,
            t.as_secs_f64() / seconds * 1e3
        );
    }
}

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    summary();
    stream_summary();
}
