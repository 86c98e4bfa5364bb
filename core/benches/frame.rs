//! Per-frame CPU cost of the track's frame path: plain speech, idle silence, speech mixed
//! with background, speech copied to a sink. `cargo bench -p voxpace-core --bench frame`.

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use voxpace_core::{BusContext, Format, ReplyWriter, Track, TrackConfig, TrackHandle};
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

    /// `depth`: how much speech is kept buffered (the seed's cost grew with it).
    fn with_depth(background: bool, sink: bool, depth: Duration) -> Self {
        let format = Format::default();
        let track = Track::new(format, TrackConfig::default()).unwrap();
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
            assert_eq!(taken, self.chunk.len(), "the bench keeps the buffer below its bound");
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
    group.finish();
}

criterion_group!(benches, frame_cost);
criterion_main!(benches);
