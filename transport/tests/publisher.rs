//! The publisher on its own: RTP time from pts, refusals, drops, DTX, settings, and the
//! boundary with core's `FrameClock`.

mod common;

use std::time::Duration;

use tokio::sync::broadcast::Receiver;
use voxpace_core::{Format, FrameClock, MonotonicClock, Track, TrackConfig};
use voxpace_transport::{EncodedFrame, Error, OpusConfig, Publisher, PublisherConfig, SilenceGate};

fn tone(format: Format, pts: u64, amp: f64) -> Vec<i16> {
    (0..format.frame_samples() as u64)
        .map(|i| {
            let t = (pts + i) as f64 / format.sample_rate() as f64;
            (amp * (2.0 * std::f64::consts::PI * 440.0 * t).sin()) as i16
        })
        .collect()
}

async fn next(rx: &mut Receiver<EncodedFrame>) -> EncodedFrame {
    tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("a frame is encoded")
        .expect("publisher alive")
}

#[tokio::test]
async fn rtp_time_follows_pts_gaps_are_exact_and_repeats_are_refused() {
    let format = Format::new(24_000, 1, 20).unwrap();
    let (publisher, mut feed) = Publisher::new(format, PublisherConfig::default()).unwrap();
    let mut rx = publisher.subscribe();
    let frame = tone(format, 0, 8000.0);
    for pts in [0u64, 480, 960] {
        assert!(feed.push_pcm(pts, true, &frame));
    }
    for (i, expected) in [0u64, 960, 1920].into_iter().enumerate() {
        let f = next(&mut rx).await;
        assert_eq!(f.rtp_time, expected);
        assert_eq!(f.duration, 960, "20 ms at the 48 kHz RTP clock");
        assert_eq!(f.after_gap, i == 0, "marker only on the first packet");
        assert!(f.speech);
    }
    // A repeated and a backwards pts are refused; a skipped frame leaves an exact gap.
    assert!(feed.push_pcm(960, true, &frame));
    assert!(feed.push_pcm(480, true, &frame));
    assert!(feed.push_pcm(1920, false, &frame));
    let f = next(&mut rx).await;
    assert_eq!(
        f.rtp_time, 3840,
        "one dropped frame = exactly 960 ticks more"
    );
    assert!(f.after_gap);
    assert!(!f.speech);
    let stats = publisher.stats();
    assert_eq!(stats.frames_stale, 2);
    assert_eq!(stats.frames_sent, 4);
    // A frame of the wrong length is dropped and counted.
    assert!(!feed.push_pcm(2400, true, &frame[..100]));
    assert_eq!(publisher.stats().frames_dropped, 1);
}

#[tokio::test(flavor = "current_thread")]
async fn a_full_ring_drops_instead_of_blocking() {
    let format = Format::new(48_000, 2, 10).unwrap();
    let config = PublisherConfig {
        queue: Duration::from_millis(50),
        ..PublisherConfig::default()
    };
    let (publisher, mut feed) = Publisher::new(format, config).unwrap();
    let _rx = publisher.subscribe();
    let frame: Vec<i16> = (0..format.frame_len())
        .map(|i| (i % 64) as i16 * 100)
        .collect();
    // The encoder task cannot run until this test yields: the 5-frame ring fills up.
    let accepted = (0..20u64)
        .filter(|i| feed.push_pcm(i * 480, false, &frame))
        .count();
    assert_eq!(accepted, 5);
    assert_eq!(publisher.stats().frames_dropped, 15);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(publisher.stats().frames_sent, 5);
}

#[tokio::test]
async fn without_listeners_nothing_is_encoded() {
    let format = Format::new(16_000, 1, 20).unwrap();
    let (publisher, mut feed) = Publisher::new(format, PublisherConfig::default()).unwrap();
    let frame = tone(format, 0, 5000.0);
    for i in 0..10u64 {
        assert!(feed.push_pcm(i * 320, true, &frame));
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let stats = publisher.stats();
    assert_eq!((stats.frames_skipped, stats.frames_sent), (10, 0));
    assert_eq!(publisher.peers(), 0);
}

#[tokio::test]
async fn dtx_skips_silence_and_marks_the_next_talkspurt() {
    let format = Format::new(48_000, 1, 20).unwrap();
    let config = PublisherConfig {
        opus: OpusConfig {
            dtx: true,
            ..OpusConfig::default()
        },
        // DTX alone: libopus itself decides what is silence.
        skip_silence: false,
        ..PublisherConfig::default()
    };
    let (publisher, mut feed) = Publisher::new(format, config).unwrap();
    let mut rx = publisher.subscribe();
    let silence = vec![0i16; format.frame_len()];
    let mut pts = 0;
    // Yield after each frame, as a paced clock would, so the ring never fills.
    for _ in 0..50 {
        assert!(feed.push_pcm(pts, false, &silence));
        pts += 960;
        tokio::task::yield_now().await;
    }
    let talk_at = pts;
    for _ in 0..5 {
        assert!(feed.push_pcm(pts, true, &tone(format, pts, 8000.0)));
        pts += 960;
        tokio::task::yield_now().await;
    }
    let mut frames = Vec::new();
    while frames
        .last()
        .is_none_or(|f: &EncodedFrame| f.rtp_time < talk_at + 4 * 960)
    {
        frames.push(next(&mut rx).await);
    }
    let stats = publisher.stats();
    assert!(
        stats.frames_skipped >= 30,
        "silence was not sent: {stats:?}"
    );
    let first_talk = frames
        .iter()
        .find(|f| f.rtp_time == talk_at)
        .expect("talk sent");
    assert!(
        first_talk.after_gap,
        "the talkspurt after DTX carries the marker"
    );
    assert!(frames.iter().all(|f| f.payload.len() > 2));
}

#[tokio::test]
async fn digital_silence_is_not_encoded_past_the_hangover_and_talkspurts_are_marked() {
    let format = Format::new(24_000, 1, 20).unwrap();
    let (publisher, mut feed) = Publisher::new(format, PublisherConfig::default()).unwrap();
    let mut rx = publisher.subscribe();
    let silence = vec![0i16; format.frame_len()];
    // silence 30, tone 10, silence 30, tone 10, silence 30 frames.
    let plan = [
        (30, false),
        (10, true),
        (30, false),
        (10, true),
        (30, false),
    ];
    let mut pts = 0;
    for (frames, talk) in plan {
        for _ in 0..frames {
            let pcm = if talk {
                tone(format, pts, 8000.0)
            } else {
                silence.clone()
            };
            assert!(feed.push_pcm(pts, talk, &pcm));
            pts += 480;
            tokio::task::yield_now().await;
        }
    }
    let hang = SilenceGate::HANGOVER;
    // Sent: the first `hang` frames of the stream and a keep-alive 20 frames (400 ms) after
    // them, then each talkspurt with its hangover and keep-alive.
    let mut expected: Vec<u64> = (0..hang).chain([hang + 19]).collect();
    expected.extend(30..40 + hang);
    expected.extend([40 + hang + 19]);
    expected.extend(70..80 + hang);
    expected.extend([80 + hang + 19]);
    let mut sent = Vec::new();
    for _ in 0..expected.len() {
        sent.push(next(&mut rx).await);
    }
    let frames: Vec<u64> = sent.iter().map(|f| f.rtp_time / 960).collect();
    assert_eq!(frames, expected, "frames sent, by index");
    for (f, i) in sent.iter().zip(&expected) {
        let after_gap = [0, 30, 70].contains(i) || i % 40 == hang + 19;
        assert_eq!(f.after_gap, after_gap, "marker on frame {i}");
    }
    let first_talk = sent.iter().find(|f| f.rtp_time == 30 * 960).unwrap();
    assert!(first_talk.speech && first_talk.payload.len() > 20);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let stats = publisher.stats();
    assert_eq!(stats.frames_sent, expected.len() as u64, "{stats:?}");
    assert_eq!(
        stats.frames_skipped,
        110 - expected.len() as u64,
        "{stats:?}"
    );
    assert!(rx.try_recv().is_err(), "nothing else was sent");
}

#[tokio::test]
async fn bitrate_setting_shapes_the_packets() {
    let format = Format::new(48_000, 1, 20).unwrap();
    let mut sizes = Vec::new();
    for bitrate in [12_000, 64_000] {
        let config = PublisherConfig {
            opus: OpusConfig {
                bitrate,
                complexity: 5,
                fec: false,
                ..OpusConfig::default()
            },
            ..PublisherConfig::default()
        };
        let (publisher, mut feed) = Publisher::new(format, config).unwrap();
        let mut rx = publisher.subscribe();
        let clip = common::speech_clip(48_000, 1.0);
        for (i, frame) in clip.chunks_exact(960).enumerate() {
            assert!(feed.push_pcm(i as u64 * 960, true, frame));
            tokio::task::yield_now().await;
        }
        let mut bytes = 0;
        for _ in 0..50 {
            bytes += next(&mut rx).await.payload.len();
        }
        sizes.push(bytes);
    }
    // 50 frames = 1 s: bytes * 8 is about the bitrate.
    assert!(sizes[0] * 8 < 20_000, "12 kbit/s gave {} bytes", sizes[0]);
    assert!(sizes[1] * 8 > 40_000, "64 kbit/s gave {} bytes", sizes[1]);
}

#[tokio::test]
async fn invalid_settings_name_what_is_wrong() {
    let format = Format::default();
    let bad = |opus: OpusConfig| {
        Publisher::new(
            format,
            PublisherConfig {
                opus,
                ..PublisherConfig::default()
            },
        )
        .unwrap_err()
        .to_string()
    };
    let e = bad(OpusConfig {
        bitrate: 1000,
        ..OpusConfig::default()
    });
    assert!(e.contains("bitrate 1000"), "{e}");
    let e = bad(OpusConfig {
        complexity: 11,
        ..OpusConfig::default()
    });
    assert!(e.contains("complexity 11"), "{e}");
    let e = bad(OpusConfig {
        packet_loss_percent: 120,
        ..OpusConfig::default()
    });
    assert!(e.contains("120"), "{e}");
    let e = Publisher::new(
        format,
        PublisherConfig {
            peer_backlog: 0,
            ..PublisherConfig::default()
        },
    )
    .unwrap_err();
    assert!(matches!(e, Error::InvalidConfig(_)), "{e}");
}

#[test]
fn a_publisher_needs_a_tokio_runtime() {
    let e = Publisher::new(Format::default(), PublisherConfig::default()).unwrap_err();
    assert!(e.to_string().contains("tokio runtime"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frame_clock_feeds_the_publisher_until_it_is_closed() {
    let format = Format::new(24_000, 1, 20).unwrap();
    // The idle track renders digital silence: every frame is encoded only without the gate.
    let config = PublisherConfig {
        skip_silence: false,
        ..PublisherConfig::default()
    };
    let (publisher, feed) = Publisher::new(format, config).unwrap();
    let mut rx = publisher.subscribe();
    let clock = FrameClock::start(MonotonicClock::new(), format.frame_duration());
    let track = Track::new(format, TrackConfig::default()).unwrap();
    let handle = track.handle();
    clock.add(track, feed.into_frame_output());
    let first = next(&mut rx).await;
    let mut last = first.rtp_time;
    for _ in 0..10 {
        let f = next(&mut rx).await;
        assert_eq!(f.rtp_time, last + 960, "consecutive frames from the clock");
        last = f.rtp_time;
    }
    publisher.close();
    // The clock drops the track once the publisher is closed; the encoder then finishes.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !publisher.is_finished() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "encoder did not finish"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        handle.open_reply().is_err(),
        "the track was dropped with the feed"
    );
    clock.stop();
}
