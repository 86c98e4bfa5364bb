//! Per-frame CPU cost of the track's frame path: plain speech, idle silence, speech mixed
//! with background, speech copied to a sink; and loudness: speech + background through the
//! true-peak limiter, the output meter, and (producer side) normalising 20 ms of a reply as
//! it is pushed. `cargo bench -p voxpace-core --bench frame`.

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use voxpace_core::{
    BusContext, Format, Limiter, Normalise, ReplyWriter, Track, TrackConfig, TrackHandle,
};
use voxpace_test_kit::sinks::Discard;

/// A track in steady speech: a reply kept 1-2 s ahead by 100 ms pushes done between
/// measured stretches, as a TTS would.
struct Speaking {
    track: Track,
    handle: TrackHandle,
    reply: ReplyWriter,
    chunk: Vec<i16>,
    out: Vec<i16>,
    depth: Duration,
}

impl Speaking {
    fn new(background: bool, sink: bool) -> Self {
        Self::with_depth(background, sink, Duration::from_secs(2))
    }

    /// `depth`: how much speech is kept buffered (the Python reference's cost grew with it).
    fn with_depth(background: bool, sink: bool, depth: Duration) -> Self {
        Self::with_config(background, sink, depth, TrackConfig::default())
    }

    fn with_config(background: bool, sink: bool, depth: Duration, config: TrackConfig) -> Self {
        let format = Format::default();
        let track = Track::new(format, config).unwrap();
        let handle = track.handle();
        if background {
            // Like a real source: copy the next frame out of an already decoded buffer.
            let music: Vec<i16> = (0..48_000)
                .map(|i| ((i * 331) % 16_000) as i16 - 8000)
                .collect();
            let mut at = 0;
            handle
                .set_background(Some(Box::new(move |out: &mut [i16], _: &BusContext| {
                    if at + out.len() > music.len() {
                        at = 0;
                    }
                    out.copy_from_slice(&music[at..at + out.len()]);
                    at += out.len();
                })))
                .unwrap();
        }
        if sink {
            handle.attach_sink(Box::new(Discard)).unwrap();
        }
        let reply = handle.open_reply().unwrap();
        let chunk: Vec<i16> = (0..2400).map(|i| (i % 3000) as i16 - 1500).collect();
        let mut s = Self {
            out: vec![0; format.frame_len()],
            track,
            handle,
            reply,
            chunk,
            depth,
        };
        s.top_up();
        s
    }

    fn top_up(&mut self) {
        while self.handle.buffered() < self.depth {
            let taken = self.reply.try_push_samples(&self.chunk).unwrap();
            assert_eq!(
                taken,
                self.chunk.len(),
                "the bench keeps the buffer below its bound"
            );
        }
    }

    /// Render `iters` frames, timing only the renders.
    fn measure(&mut self, iters: u64) -> Duration {
        let mut total = Duration::ZERO;
        let mut left = iters;
        while left > 0 {
            let n = left.min(50);
            let start = Instant::now();
            for _ in 0..n {
                std::hint::black_box(self.track.render(&mut self.out));
            }
            total += start.elapsed();
            left -= n;
            self.top_up();
        }
        total
    }
}

fn frame_cost(c: &mut Criterion) {
    let mut group = c.benchmark_group("frame");
    group.measurement_time(Duration::from_secs(3));
    group.warm_up_time(Duration::from_secs(1));

    let mut plain = Speaking::new(false, false);
    group.bench_function("plain speech 24k mono", |b| {
        b.iter_custom(|iters| plain.measure(iters))
    });

    let mut deep = Speaking::with_depth(false, false, Duration::from_millis(6000));
    group.bench_function("plain speech 24k mono, 6 s buffered", |b| {
        b.iter_custom(|iters| deep.measure(iters))
    });

    let mut idle = Track::new(Format::default(), TrackConfig::default()).unwrap();
    let mut out = vec![0i16; 480];
    group.bench_function("idle silence 24k mono", |b| {
        b.iter(|| std::hint::black_box(idle.render(&mut out)))
    });

    let mut mixing = Speaking::new(true, false);
    group.bench_function("speech + background 24k mono", |b| {
        b.iter_custom(|iters| mixing.measure(iters))
    });

    let mut tee = Speaking::new(false, true);
    group.bench_function("speech + 1 sink 24k mono", |b| {
        b.iter_custom(|iters| tee.measure(iters))
    });

    let two_s = Duration::from_secs(2);
    let true_peak = TrackConfig {
        limiter: Limiter::TruePeak {
            ceiling_dbtp: -1.0,
            release: Duration::from_millis(100),
        },
        ..TrackConfig::default()
    };
    let mut limited = Speaking::with_config(true, false, two_s, true_peak);
    group.bench_function(
        "loudness: speech + background, true-peak limiter 24k mono",
        |b| b.iter_custom(|iters| limited.measure(iters)),
    );
    let metered = TrackConfig {
        output_meter: true,
        ..TrackConfig::default()
    };
    let mut meter = Speaking::with_config(true, false, two_s, metered);
    group.bench_function(
        "loudness: speech + background, output meter 24k mono",
        |b| b.iter_custom(|iters| meter.measure(iters)),
    );
    for (name, loudness) in [
        ("loudness: push 20 ms, not normalised 24k mono", None),
        (
            "loudness: push 20 ms, normalised 24k mono",
            Some(Normalise::to(-16.0)),
        ),
    ] {
        let config = TrackConfig {
            loudness,
            ..TrackConfig::default()
        };
        let mut pushing = Pushing::new(config);
        group.bench_function(name, |b| b.iter_custom(|iters| pushing.measure(iters)));
    }
    group.finish();
}

/// A producer pushing one frame of speech at a time; only the pushes are timed (the frame
/// that drains each one is rendered untimed), so normalisation's cost on the producer side
/// is the difference between the two cases.
struct Pushing {
    track: Track,
    reply: ReplyWriter,
    chunk: Vec<i16>,
    out: Vec<i16>,
}

impl Pushing {
    fn new(config: TrackConfig) -> Self {
        let format = Format::default();
        let track = Track::new(format, config).unwrap();
        let reply = track.handle().open_reply().unwrap();
        let chunk = (0..format.frame_len())
            .map(|i| ((i as f32 * 0.07).sin() * 6000.0) as i16)
            .collect();
        Self {
            out: vec![0; format.frame_len()],
            track,
            reply,
            chunk,
        }
    }

    fn measure(&mut self, iters: u64) -> Duration {
        let mut total = Duration::ZERO;
        for _ in 0..iters {
            let start = Instant::now();
            let taken = self.reply.try_push_samples(&self.chunk).unwrap();
            assert_eq!(taken, self.chunk.len());
            total += start.elapsed();
            std::hint::black_box(self.track.render(&mut self.out));
        }
        total
    }
}

criterion_group!(benches, frame_cost);
criterion_main!(benches);
