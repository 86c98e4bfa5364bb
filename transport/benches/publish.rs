//! CPU per encoded frame and concurrent published tracks per core.
//!
//! `cargo bench -p voxpace-transport --bench publish` runs criterion on
//! - `opus_encode/*`: libopus alone, one 20 ms frame, per format and complexity;
//! - `publish_path/*`: the whole publish path of one frame: core `Track::render`, the
//!   lock-free feed, the encoder task, the broadcast to a subscriber,
//!
//! then a real-time run: N tracks rendered by one core `FrameClock` on the real clock, their
//! encoders on a single-threaded tokio runtime (one core), each with a draining subscriber,
//! for a few seconds, and prints the encoder core's load and whether any frame was dropped.
//! `VOXPACE_BENCH_TRACKS=400` sets N (default 200); `VOXPACE_BENCH_SECS` the duration.

use std::time::{Duration, Instant};

use criterion::{black_box, BenchmarkId, Criterion};
use voxpace_core::{Format, FrameClock, MonotonicClock, Track, TrackConfig};
use voxpace_transport::{OpusApplication, OpusConfig, OpusEncoder, Publisher, PublisherConfig};

fn speechy(format: Format) -> Vec<i16> {
    (0..format.frame_len())
        .map(|i| {
            let t = i as f64 / format.sample_rate() as f64;
            let v = (2.0 * std::f64::consts::PI * 150.0 * t).sin()
                + 0.5 * (2.0 * std::f64::consts::PI * 450.0 * t).sin()
                + 0.25 * (2.0 * std::f64::consts::PI * 1350.0 * t).sin();
            (v * 6000.0) as i16
        })
        .collect()
}

/// A mono 20 ms format at `rate` and a libopus encoder for it.
fn mono_encoder(rate: u32, complexity: u8, application: OpusApplication) -> (Format, OpusEncoder) {
    let format = Format::new(rate, 1, 20).unwrap();
    let config = OpusConfig {
        complexity,
        application,
        ..OpusConfig::default()
    };
    let encoder = OpusEncoder::new(rate, 1, format.frame_samples(), &config).unwrap();
    (format, encoder)
}

fn opus_encode(c: &mut Criterion) {
    let mut group = c.benchmark_group("opus_encode");
    for (rate, complexity, application) in [
        (24_000, 5, OpusApplication::Voip),
        (24_000, 9, OpusApplication::Voip),
        (24_000, 5, OpusApplication::Audio),
        (24_000, 9, OpusApplication::Audio),
        (48_000, 5, OpusApplication::Voip),
        (48_000, 9, OpusApplication::Voip),
        (48_000, 9, OpusApplication::Audio),
        (16_000, 9, OpusApplication::Voip),
    ] {
        let (format, mut encoder) = mono_encoder(rate, complexity, application);
        let frame = speechy(format);
        let mut out = vec![0u8; 1500];
        let name = format!("{}k_mono_20ms_{application:?}", rate / 1000);
        group.bench_function(BenchmarkId::new(name, complexity), |b| {
            b.iter(|| encoder.encode(black_box(&frame), &mut out).unwrap())
        });
    }
    group.finish();
}

fn publish_path(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("publish_path");
    for rate in [24_000, 48_000] {
        let format = Format::new(rate, 1, 20).unwrap();
        let _guard = rt.enter();
        let (publisher, mut feed) = Publisher::new(format, PublisherConfig::default()).unwrap();
        let mut rx = publisher.subscribe();
        let mut track = Track::new(format, TrackConfig::default()).unwrap();
        let handle = track.handle();
        let tone = speechy(format);
        handle
            .set_background(Some(Box::new(
                move |out: &mut [i16], _: &voxpace_core::BusContext| out.copy_from_slice(&tone),
            )))
            .unwrap();
        let mut pcm = vec![0i16; format.frame_len()];
        group.bench_function(BenchmarkId::new("render_encode_fanout", rate), |b| {
            b.iter(|| {
                let info = track.render(&mut pcm);
                assert!(feed.push(&info, &pcm));
                rt.block_on(async { black_box(rx.recv().await.unwrap()) })
            })
        });
    }
    group.finish();
}

/// CPU time this thread has used, from the kernel's scheduler statistics (Linux). Unlike
/// wall time it does not grow when other processes compete for the cores.
fn thread_cpu() -> Duration {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    let nanos = text
        .split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    Duration::from_nanos(nanos)
}

/// CPU per encoded frame of a speech-like clip, by thread CPU time (not wall time).
fn cpu_per_frame() {
    for (rate, complexity, application) in [
        (24_000, 9, OpusApplication::Voip),
        (24_000, 5, OpusApplication::Voip),
        (48_000, 9, OpusApplication::Voip),
        (48_000, 5, OpusApplication::Audio),
    ] {
        let (format, mut encoder) = mono_encoder(rate, complexity, application);
        let frames: Vec<Vec<i16>> = (0..50)
            .map(|k| {
                speechy(format)
                    .iter()
                    .enumerate()
                    .map(|(i, &s)| {
                        (s as f64 * (0.3 + 0.7 * (((k * 7 + i / 97) % 13) as f64 / 13.0))) as i16
                    })
                    .collect()
            })
            .collect();
        let mut out = vec![0u8; 1500];
        let n = 2000;
        let before = thread_cpu();
        for i in 0..n {
            black_box(encoder.encode(&frames[i % frames.len()], &mut out).unwrap());
        }
        let cpu = thread_cpu() - before;
        println!(
            "cpu per frame: {} kHz mono 20 ms, complexity {complexity}, {application:?}: {:.1} us",
            rate / 1000,
            cpu.as_secs_f64() * 1e6 / n as f64
        );
    }
}

/// Tracks on one FrameClock, encoders on one single-threaded runtime, in real time.
fn realtime() {
    let tracks: usize = std::env::var("VOXPACE_BENCH_TRACKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40);
    let secs: u64 = std::env::var("VOXPACE_BENCH_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4);
    let format = Format::new(24_000, 1, 20).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let clock = FrameClock::start(MonotonicClock::new(), format.frame_duration());
    let mut publishers = Vec::new();
    {
        let _guard = rt.enter();
        for _ in 0..tracks {
            let (publisher, feed) = Publisher::new(format, PublisherConfig::default()).unwrap();
            let mut rx = publisher.subscribe();
            rt.spawn(async move { while rx.recv().await.is_ok() {} });
            let track = Track::new(format, TrackConfig::default()).unwrap();
            let tone = speechy(format);
            track
                .handle()
                .set_background(Some(Box::new(
                    move |out: &mut [i16], _: &voxpace_core::BusContext| out.copy_from_slice(&tone),
                )))
                .unwrap();
            clock.add(track, feed.into_frame_output());
            publishers.push(publisher);
        }
    }
    let started = Instant::now();
    let cpu_before = thread_cpu();
    // The runtime (every encoder and subscriber) runs on this thread inside block_on.
    rt.block_on(async { tokio::time::sleep(Duration::from_secs(secs)).await });
    let runtime_cpu = thread_cpu() - cpu_before;
    let wall = started.elapsed();
    let (mut sent, mut dropped, mut nanos) = (0u64, 0u64, 0u64);
    for p in &publishers {
        let s = p.stats();
        sent += s.frames_sent;
        dropped += s.frames_dropped;
        nanos += s.encode_nanos;
        p.close();
    }
    let _ = nanos;
    let load = runtime_cpu.as_secs_f64() / wall.as_secs_f64();
    let cpu_per_frame_us = runtime_cpu.as_secs_f64() * 1e6 / sent.max(1) as f64;
    // One core spends `cpu_per_frame` per track every 20 ms (encode + fan-out + wakeups).
    let per_core = (20_000.0 / cpu_per_frame_us).floor();
    println!(
        "realtime: {tracks} tracks x {secs} s at 24 kHz/20 ms, encoders on one thread: {sent} frames \
         encoded, {dropped} dropped ({}); runtime thread CPU {:.1}% of wall, {cpu_per_frame_us:.1} us \
         CPU per frame -> about {per_core} real-time tracks per core (frame clock lateness p99 {:?})",
        if dropped == 0 { "kept up" } else { "FELL BEHIND" },
        load * 100.0,
        clock.stats().lateness_quantile(0.99)
    );
    clock.stop();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    opus_encode(&mut c);
    publish_path(&mut c);
    c.final_summary();
    cpu_per_frame();
    realtime();
}
