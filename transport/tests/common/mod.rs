//! Shared test helpers: a real HTTP server on loopback, a real track paced on the real
//! clock, a speech-like clip, and the signal maths used to compare audio.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use voxpace_core::{Format, MonotonicClock, Pacer, Track, TrackConfig, TrackHandle};
pub use voxpace_test_kit::signal::correlation;
use voxpace_transport::{
    ClientOptions, FrameFeed, OpusConfig, OpusDecoder, OpusEncoder, PeerSettings, Publisher,
    PublisherConfig, RtpAudioPacket, ServerConfig, SilenceGate, WhepViewer,
};

pub const TOKEN: &str = "s3cret-token";

/// Serve `router` on 127.0.0.1 and return its base URL.
pub async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    format!("http://{addr}")
}

/// Loopback peer settings with quick failure detection, so cleanup tests stay short.
pub fn fast_peer() -> PeerSettings {
    PeerSettings {
        ice_disconnected_timeout: Duration::from_millis(800),
        ice_failed_timeout: Duration::from_millis(800),
        ice_keepalive_interval: Duration::from_millis(200),
        connect_timeout: Duration::from_secs(5),
        ..PeerSettings::loopback()
    }
}

/// A viewer's options: the test token, [`fast_peer`].
pub fn viewer_options() -> ClientOptions {
    ClientOptions {
        bearer_token: Some(TOKEN.into()),
        peer: fast_peer(),
        ..Default::default()
    }
}

/// A WHEP viewer of `url` and its one audio track's packets.
pub async fn viewer(url: &str) -> (WhepViewer, tokio::sync::mpsc::Receiver<RtpAudioPacket>) {
    let mut v = WhepViewer::connect(url, 1, viewer_options())
        .await
        .expect("viewer connects");
    let rx = tokio::time::timeout(Duration::from_secs(5), v.next_track())
        .await
        .unwrap()
        .unwrap();
    (v, rx)
}

/// A viewer of `url` that receives for 300 ms, then vanishes: it lives on its own runtime,
/// and dropping that runtime stops its UDP without a DELETE, an RTCP BYE or a DTLS close.
/// The thread returns how many packets it received.
pub fn vanishing_viewer(url: &str) -> std::thread::JoinHandle<usize> {
    let url = url.to_owned();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let n = rt.block_on(async move {
            let (v, mut rx) = viewer(&url).await;
            let n = collect(&mut rx, Duration::from_millis(300)).await.len();
            std::mem::forget(v);
            std::mem::forget(rx);
            n
        });
        rt.shutdown_background();
        n
    })
}

pub fn server_config() -> ServerConfig {
    ServerConfig {
        bearer_tokens: vec![TOKEN.to_owned()],
        max_body_bytes: 16 * 1024,
        peer: fast_peer(),
        ..ServerConfig::default()
    }
}

/// A speech-like clip: a voiced source with a gliding pitch, three formant-like harmonic
/// bands and a syllable envelope (about 4 syllables per second), deterministic.
pub fn speech_clip(rate: u32, secs: f64) -> Vec<i16> {
    let n = (rate as f64 * secs) as usize;
    let mut out = Vec::with_capacity(n);
    let mut phase = 0.0f64;
    let mut noise = 0x1234_5678u32;
    for i in 0..n {
        let t = i as f64 / rate as f64;
        let f0 = 120.0 + 40.0 * (2.0 * std::f64::consts::PI * 0.7 * t).sin();
        phase += 2.0 * std::f64::consts::PI * f0 / rate as f64;
        let formants = [
            (500.0 + 200.0 * (1.3 * t).sin(), 1.0),
            (1500.0, 0.5),
            (2500.0, 0.25),
        ];
        let mut v = 0.0;
        let mut h = 1.0;
        while h * f0 < (rate as f64 / 2.0 - 200.0).min(4000.0) {
            let f = h * f0;
            let gain: f64 = formants
                .iter()
                .map(|(c, g)| g * (-((f - c) / 250.0).powi(2)).exp())
                .sum();
            v += gain * (h * phase).sin();
            h += 1.0;
        }
        noise = noise.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        let hiss = (noise >> 16) as f64 / 65_536.0 - 0.5;
        let syllable = (0.5 - 0.5 * (2.0 * std::f64::consts::PI * 4.0 * t).cos()).powf(0.7);
        out.push(((v * 0.5 + hiss * 0.05) * syllable * 12_000.0).clamp(-32_000.0, 32_000.0) as i16);
    }
    out
}

/// A real core track, paced on the real clock by a `Pacer` task that feeds `feed` and records
/// every rendered frame (the exact PCM the publisher was given).
pub struct Agent {
    pub handle: TrackHandle,
    pub format: Format,
    pub rendered: Arc<Mutex<Vec<i16>>>,
    pub task: tokio::task::JoinHandle<()>,
}

impl Agent {
    pub fn start(format: Format, feed: FrameFeed) -> Agent {
        Self::spawn(format, feed, true)
    }

    /// An agent that keeps nothing it renders (`rendered` stays empty): for tests that
    /// measure the process's memory, which the recording would grow by 2 bytes a sample.
    #[allow(dead_code)]
    pub fn start_unrecorded(format: Format, feed: FrameFeed) -> Agent {
        Self::spawn(format, feed, false)
    }

    fn spawn(format: Format, mut feed: FrameFeed, record_all: bool) -> Agent {
        let track = Track::new(format, TrackConfig::default()).unwrap();
        let handle = track.handle();
        let rendered = Arc::new(Mutex::new(Vec::new()));
        let record = rendered.clone();
        let task = tokio::spawn(async move {
            let mut pacer = Pacer::new(track, MonotonicClock::new());
            let mut pts = 0;
            loop {
                let frame = pacer.next_frame().await;
                assert_eq!(frame.pts(), pts, "pts counts rendered samples");
                pts += frame.samples().len() as u64 / format.channels() as u64;
                feed.push(frame.info(), frame.samples());
                if record_all {
                    record.lock().unwrap().extend_from_slice(frame.samples());
                }
            }
        });
        Agent {
            handle,
            format,
            rendered,
            task,
        }
    }

    /// Start a reply with `clip` pushed in the background; returns the playback future task.
    pub fn say(&self, clip: Vec<i16>) -> tokio::task::JoinHandle<voxpace_core::ReplyOutcome> {
        let mut writer = self.handle.open_reply().unwrap();
        let playback = writer.playback();
        tokio::spawn(async move {
            // Pushing and finishing are refused once interrupted; the outcome says what played.
            let _ = writer.push_samples(&clip).await;
            let _ = writer.finish();
            playback.await.expect("track alive")
        })
    }
}

pub fn publisher(format: Format) -> (Publisher, FrameFeed) {
    Publisher::new(format, PublisherConfig::default()).unwrap()
}

/// Collect packets from `rx` for `dur`.
pub async fn collect(
    rx: &mut tokio::sync::mpsc::Receiver<RtpAudioPacket>,
    dur: Duration,
) -> Vec<RtpAudioPacket> {
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + dur;
    while let Ok(Some(p)) = tokio::time::timeout_at(deadline, rx.recv()).await {
        out.push(p);
    }
    out
}

/// Check RTP continuity: consecutive sequence numbers, timestamps advancing by exactly one
/// frame per packet, never repeating, except across digital silence (not sent): there the
/// timestamp jumps by a whole number of frames and the packet carries the marker bit.
/// Returns the number of packets checked.
pub fn assert_continuous(packets: &[RtpAudioPacket], frame_ticks: u32) -> usize {
    assert!(packets.len() > 10, "too few packets: {}", packets.len());
    for w in packets.windows(2) {
        assert_eq!(w[1].ssrc, w[0].ssrc, "one SSRC per track");
        assert_eq!(
            w[1].sequence,
            w[0].sequence.wrapping_add(1),
            "sequence numbers are consecutive"
        );
        let step = w[1].timestamp.wrapping_sub(w[0].timestamp);
        assert!(
            step >= frame_ticks && step.is_multiple_of(frame_ticks) && step < u32::MAX / 2,
            "RTP timestamp advances by whole frames (seq {} -> {}: {step})",
            w[0].sequence,
            w[1].sequence
        );
        assert_eq!(
            w[1].marker,
            step > frame_ticks,
            "the marker bit is set exactly after a gap (seq {} -> {}: {step})",
            w[0].sequence,
            w[1].sequence
        );
    }
    packets.len()
}

/// Decode packets into a 48 kHz mono timeline indexed by `timestamp - packets[0].timestamp`.
pub fn decode_timeline(packets: &[RtpAudioPacket]) -> Vec<i16> {
    let mut dec = OpusDecoder::new(48_000, 1).unwrap();
    let first = packets[0].timestamp;
    let mut out: Vec<i16> = Vec::new();
    for p in packets {
        let at = p.timestamp.wrapping_sub(first) as usize;
        let pcm = dec.decode(&p.payload).unwrap();
        if out.len() < at + pcm.len() {
            out.resize(at + pcm.len(), 0);
        }
        out[at..at + pcm.len()].copy_from_slice(pcm);
    }
    out
}

/// The rendered stream encoded and decoded locally with the same settings, the frames the
/// publisher's [`SilenceGate`] holds back left silent: what a perfect network would
/// deliver. 48 kHz mono, index = pts * 48000 / rate.
pub fn local_codec(rendered: &[i16], format: Format, opus: &OpusConfig) -> Vec<i16> {
    local_codec_from(rendered, format, opus, 0)
}

/// [`local_codec`] with the encoder started at frame `first` (earlier frames only pass
/// through the gate and decode as silence): the publisher's encoder starts with the first
/// frame it encodes for a listener, so from there the two are sample-exact.
pub fn local_codec_from(
    rendered: &[i16],
    format: Format,
    opus: &OpusConfig,
    first: usize,
) -> Vec<i16> {
    let mut enc = OpusEncoder::new(format.sample_rate(), 1, format.frame_samples(), opus).unwrap();
    let mut dec = OpusDecoder::new(48_000, 1).unwrap();
    let mut gate = SilenceGate::new(format);
    let ticks = format.frame_samples() * 48_000 / format.sample_rate() as usize;
    let mut packet = vec![0u8; 1500];
    let mut out = Vec::new();
    for (i, frame) in rendered.chunks_exact(format.frame_len()).enumerate() {
        if !gate.admit(frame) || i < first {
            out.resize(out.len() + ticks, 0);
            continue;
        }
        let n = enc.encode(frame, &mut packet).unwrap();
        out.extend_from_slice(dec.decode(&packet[..n]).unwrap());
    }
    out
}

/// Upsample by sample repetition (for comparing a 24 kHz clip with 48 kHz output).
pub fn upsample(x: &[i16], factor: usize) -> Vec<i16> {
    x.iter()
        .flat_map(|&s| std::iter::repeat_n(s, factor))
        .collect()
}

pub fn rms(x: &[i16]) -> f64 {
    if x.is_empty() {
        return 0.0;
    }
    (x.iter().map(|&s| (s as f64).powi(2)).sum::<f64>() / x.len() as f64).sqrt()
}

/// Find which frame of `reference` the received timeline starts at: the frame-aligned lag
/// with the highest correlation over `len` samples of speech. Returns (lag, correlation).
pub fn align(
    received: &[i16],
    reference: &[i16],
    frame: usize,
    speech_at: usize,
    len: usize,
) -> (usize, f64) {
    let mut best = (0, f64::MIN);
    let frames = reference.len() / frame;
    for k in 0..frames {
        let lag = k * frame;
        if speech_at < lag {
            break;
        }
        let r0 = speech_at - lag;
        if r0 + len > received.len() || speech_at + len > reference.len() {
            continue;
        }
        let c = correlation(
            &received[r0..r0 + len],
            &reference[speech_at..speech_at + len],
        );
        if c > best.1 {
            best = (lag, c);
        }
    }
    best
}

/// A syntactically valid offer whose audio section carries `rtpmap` and `direction`.
pub fn offer(media: &str, rtpmap: &str, direction: &str) -> String {
    // The m-line lists the payload type its rtpmap describes.
    let payload = rtpmap
        .strip_prefix("rtpmap:")
        .and_then(|r| r.split(' ').next())
        .unwrap_or("0");
    [
        "v=0",
        "o=- 4611731400430051336 2 IN IP4 127.0.0.1",
        "s=-",
        "t=0 0",
        "a=group:BUNDLE 0",
        &format!("m={media} 9 UDP/TLS/RTP/SAVPF {payload}"),
        "c=IN IP4 0.0.0.0",
        "a=mid:0",
        &format!("a={rtpmap}"),
        &format!("a={direction}"),
        "a=ice-ufrag:abcd",
        "a=ice-pwd:abcdefghijklmnopqrstuvwx",
        "a=fingerprint:sha-256 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF",
        "a=setup:actpass",
        "a=rtcp-mux",
        "",
    ]
    .join("\r\n")
}
