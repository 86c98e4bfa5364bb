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
        let format = Format::new(rate, 1, 20).unwrap();
        let config = OpusConfig {
            complexity,
            application,
            ..OpusConfig::default()
        };
        let mut encoder = OpusEncoder::new(rate, 1, format.frame_samples(), &config).unwrap();
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
    rt.block_on(async { tokio::time::sleep(Duration::from_secs(secs)).await });
    let wall = started.elapsed();
    let (mut sent, mut dropped, mut nanos) = (0u64, 0u64, 0u64);
    for p in &publishers {
        let s = p.stats();
        sent += s.frames_sent;
        dropped += s.frames_dropped;
        nanos += s.encode_nanos;
        p.close();
    }
    let load = nanos as f64 / wall.as_nanos() as f64;
    let per_frame_us = nanos as f64 / sent.max(1) as f64 / 1000.0;
    // One core encodes one frame per track every 20 ms.
    let per_core = (20_000.0 / per_frame_us).floor();
    println!(
        "realtime: {tracks} tracks x {secs} s at 24 kHz/20 ms on one encoder thread: {sent} frames \
         encoded, {dropped} dropped ({}); encoder {per_frame_us:.1} us/frame, thread {:.1}% busy \
         -> about {per_core} real-time tracks per core (frame clock lateness p99 {:?})",
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
    realtime();
}
