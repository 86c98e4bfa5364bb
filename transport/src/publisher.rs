//! One track's frames in, Opus packets out to any number of peers.
//!
//! ```text
//!  frame clock ──FrameFeed::push──▶ [SPSC ring: pcm + meta] ──▶ encoder task (tokio)
//!   (no alloc, no lock, no I/O)        lock-free, bounded          │ libopus, ~40 µs/frame
//!                                                                   ▼
//!                                      each listener's track ◀──────────┘ write_rtp, polled once
//!                                      (its peer connection's driver does SRTP and UDP)
//! ```
//!
//! The frame side only copies samples into a pre-allocated ring and wakes the encoder through
//! an [`AtomicWaker`], so it is safe to call from [`voxpace_core::FrameClock`]'s callback or
//! after [`voxpace_core::Pacer::next_frame`]. Encoding runs off the frame clock. A full ring
//! drops the frame (counted) instead of blocking the clock.
//!
//! The encoder task writes each packet to every listener itself ([`crate::listeners`]): no
//! relay task per peer, so a frame wakes one task per output plus each peer's driver. A
//! listener whose queue is full skips that packet (counted in
//! [`PublisherStats::packets_skipped`]) and never holds up the others. [`Publisher::subscribe`]
//! still hands out the encoded frames (benches, tests) and costs nothing while unused.
//!
//! RTP time is derived from the track's pts: `rtp_time = pts * 48000 / sample_rate`. Pause,
//! interrupt and underrun all keep rendering frames with consecutive pts, so timestamps
//! advance by exactly one frame per packet; a frame dropped before encoding leaves a gap of
//! exactly its duration, and a repeated or backwards pts is refused, never sent.
//!
//! Digital silence is not encoded ([`SilenceGate`], on by default, run by the feed): a
//! listening agent's output costs the frame side a scan of the frame, and one encoded
//! keep-alive frame every 400 ms; the encoder task is not even woken for the rest.

use std::future::poll_fn;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use atomic_waker::AtomicWaker;
use bytes::Bytes;
use tokio::sync::{broadcast, watch};
use voxpace_core::{Format, FrameInfo};

use crate::listeners::{Listener, Listening, Registry, Roster};
use crate::opus::{rtp_clock_factor, OpusConfig, OpusEncoder, MAX_PACKET};
use crate::silence::SilenceGate;
use crate::Error;

/// Publisher settings.
#[derive(Debug, Clone)]
pub struct PublisherConfig {
    /// Opus encoder settings.
    pub opus: OpusConfig,
    /// How much audio the frame-side ring holds before frames are dropped.
    pub queue: Duration,
    /// Encoded frames buffered per [`Publisher::subscribe`] receiver; one further behind
    /// skips ahead. (WebRTC listeners are written directly and skip a packet their peer
    /// connection cannot take at once.)
    pub peer_backlog: usize,
    /// Track label carried in the SDP (`a=msid`).
    pub label: String,
    /// Neither encode nor send digital silence (frames of exact zeros) past a short hangover
    /// but for one frame every 400 ms ([`SilenceGate`]); a packet after skipped frames has
    /// its timestamp jump by exactly their time and carries the marker bit. On by default:
    /// a listening agent then costs about 0.14x a speaking one (`cargo xtask bench --session`).
    pub skip_silence: bool,
}

impl Default for PublisherConfig {
    fn default() -> Self {
        Self {
            opus: OpusConfig::default(),
            queue: Duration::from_millis(400),
            peer_backlog: 50,
            label: "voxpace".to_owned(),
            skip_silence: true,
        }
    }
}

/// One encoded frame, ready to be packetised for any peer.
#[derive(Debug, Clone)]
pub struct EncodedFrame {
    /// Media time of the first sample in 48 kHz ticks since pts 0 (`pts * 48000 / rate`).
    pub rtp_time: u64,
    /// Frame length in 48 kHz ticks.
    pub duration: u32,
    /// The Opus packet.
    pub payload: Bytes,
    /// The frame carried speech.
    pub speech: bool,
    /// Frames before this one were not sent (DTX, a dropped frame, or the stream start):
    /// the RTP marker bit is set.
    pub after_gap: bool,
}

/// Counters of one publisher.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PublisherStats {
    /// Frames accepted by the feed.
    pub frames_in: u64,
    /// Frames the feed dropped because the ring was full or the frame had the wrong length.
    pub frames_dropped: u64,
    /// Frames refused because their pts repeated or went backwards.
    pub frames_stale: u64,
    /// Frames encoded and handed to peers.
    pub frames_sent: u64,
    /// Frames not sent: digital silence or nobody listening (neither encoded), or DTX
    /// silence (encoded, then held back).
    pub frames_skipped: u64,
    /// Opus bytes produced.
    pub bytes: u64,
    /// Total encoder CPU time in nanoseconds: the encoding thread's CPU clock around each
    /// libopus call, so a preempted encoder does not read slow (per frame = this / frames_sent).
    pub encode_nanos: u64,
    /// Packets a listener did not get because its peer connection could not take them at
    /// once (summed over listeners); that listener's next packet carries the marker bit.
    pub packets_skipped: u64,
}

#[derive(Debug, Default)]
struct Counters {
    frames_in: AtomicU64,
    frames_dropped: AtomicU64,
    frames_stale: AtomicU64,
    frames_sent: AtomicU64,
    frames_skipped: AtomicU64,
    bytes: AtomicU64,
    encode_nanos: AtomicU64,
}

#[derive(Debug)]
struct Shared {
    format: Format,
    label: String,
    frames: broadcast::Sender<EncodedFrame>,
    listeners: Arc<Registry>,
    counters: Counters,
    encoder_done: AtomicU64,
    closed: AtomicBool,
    /// Set when the feed is dropped. `Drop::drop` runs before the feed's ring ends are
    /// dropped, so the encoder cannot rely on `is_abandoned` alone after that last wake.
    feed_gone: AtomicBool,
    /// Becomes true on [`Publisher::close`] or when the encoder has finished, for tasks
    /// that wait on it ([`Publisher::closed`]). Never touched by the frame side.
    ended: watch::Sender<bool>,
}

/// The control side of a published track: peers subscribe to its encoded frames.
/// Cheap to clone; the encoder runs until the [`FrameFeed`] is dropped.
#[derive(Debug, Clone)]
pub struct Publisher {
    shared: Arc<Shared>,
}

#[derive(Debug, Clone, Copy, Default)]
struct Meta {
    pts: u64,
    speech: bool,
}

/// The frame side: push each rendered frame here. Never blocks, locks or allocates.
#[derive(Debug)]
pub struct FrameFeed {
    pcm: rtrb::Producer<i16>,
    meta: rtrb::Producer<Meta>,
    wake: Arc<AtomicWaker>,
    shared: Arc<Shared>,
    frame_len: usize,
    /// Digital silence past the hangover never enters the ring: no copy, no wake, no
    /// encode. The encoder sees the pts jump and marks the next packet. `None`: every frame.
    silence: Option<SilenceGate>,
}

impl Publisher {
    /// Create a publisher for frames of `format` and start its encoder on the current tokio
    /// runtime. Fails with [`Error::InvalidConfig`] for settings libopus would refuse.
    pub fn new(format: Format, config: PublisherConfig) -> Result<(Publisher, FrameFeed), Error> {
        let encoder = OpusEncoder::new(
            format.sample_rate(),
            format.channels(),
            format.frame_samples(),
            &config.opus,
        )?;
        if config.peer_backlog == 0 {
            return Err(Error::InvalidConfig(
                "peer_backlog must be at least 1 frame".into(),
            ));
        }
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            Error::InvalidConfig("Publisher::new must be called inside a tokio runtime".into())
        })?;
        let frames_queued = (format.frames_in(config.queue) as usize).max(2);
        let (pcm_tx, pcm_rx) = rtrb::RingBuffer::new(frames_queued * format.frame_len());
        let (meta_tx, meta_rx) = rtrb::RingBuffer::new(frames_queued);
        let (frames, _) = broadcast::channel(config.peer_backlog);
        let shared = Arc::new(Shared {
            format,
            label: config.label,
            frames,
            listeners: Arc::default(),
            counters: Counters::default(),
            encoder_done: AtomicU64::new(0),
            closed: AtomicBool::new(false),
            feed_gone: AtomicBool::new(false),
            ended: watch::Sender::new(false),
        });
        let wake = Arc::new(AtomicWaker::new());
        let worker = EncoderTask {
            encoder,
            pcm: pcm_rx,
            meta: meta_rx,
            wake: wake.clone(),
            shared: shared.clone(),
            scratch: vec![0; format.frame_len()],
            packet: vec![0; MAX_PACKET],
            factor: rtp_clock_factor(format.sample_rate())? as u64,
            roster: Roster::default(),
            next_pts: None,
            gap: true,
            dtx: config.opus.dtx,
        };
        runtime.spawn(worker.run());
        Ok((
            Publisher {
                shared: shared.clone(),
            },
            FrameFeed {
                pcm: pcm_tx,
                meta: meta_tx,
                wake,
                shared,
                frame_len: format.frame_len(),
                silence: config.skip_silence.then(|| SilenceGate::new(format)),
            },
        ))
    }

    /// The track format this publisher encodes.
    pub fn format(&self) -> Format {
        self.shared.format
    }

    /// The label peers see for this track.
    pub fn label(&self) -> &str {
        &self.shared.label
    }

    /// Receive every frame encoded from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<EncodedFrame> {
        self.shared.frames.subscribe()
    }

    /// Send every frame encoded from now on to `listener` (from the encoder task), until
    /// the returned guard is dropped or a write to its track fails.
    pub(crate) fn attach(&self, listener: Listener) -> Listening {
        self.shared.listeners.attach(listener)
    }

    /// Peers currently listening, and receivers from [`Publisher::subscribe`].
    pub fn peers(&self) -> usize {
        self.shared.listeners.attached() + self.shared.frames.receiver_count()
    }

    /// True once the feed was dropped and every queued frame was encoded.
    pub fn is_finished(&self) -> bool {
        self.shared.encoder_done.load(Ordering::Acquire) != 0
    }

    /// Stop accepting frames: the feed refuses every push from now on, and a
    /// [`FrameFeed::into_frame_output`] callback tells its `FrameClock` to drop the track.
    pub fn close(&self) {
        self.shared.closed.store(true, Ordering::Release);
        self.shared.ended.send_replace(true);
    }

    /// Resolves once the publisher is closed or its feed is gone and drained: the track is
    /// over, so sessions publishing it can be torn down.
    pub async fn closed(&self) {
        let mut ended = self.shared.ended.subscribe();
        let _ = ended.wait_for(|ended| *ended).await;
    }

    /// Counters so far.
    pub fn stats(&self) -> PublisherStats {
        let c = &self.shared.counters;
        PublisherStats {
            frames_in: c.frames_in.load(Ordering::Relaxed),
            frames_dropped: c.frames_dropped.load(Ordering::Relaxed),
            frames_stale: c.frames_stale.load(Ordering::Relaxed),
            frames_sent: c.frames_sent.load(Ordering::Relaxed),
            frames_skipped: c.frames_skipped.load(Ordering::Relaxed),
            bytes: c.bytes.load(Ordering::Relaxed),
            encode_nanos: c.encode_nanos.load(Ordering::Relaxed),
            packets_skipped: self.shared.listeners.skipped(),
        }
    }
}

impl FrameFeed {
    /// Queue one rendered frame (from `Track::render`, a `Pacer` frame or a `FrameClock`
    /// callback). Returns false if it was dropped: the ring is full (the encoder is behind)
    /// or `samples` is not one frame of the publisher's format.
    pub fn push(&mut self, info: &FrameInfo, samples: &[i16]) -> bool {
        self.push_pcm(info.pts, info.speech, samples)
    }

    /// [`FrameFeed::push`] without a core `FrameInfo`: `pts` in samples per channel.
    pub fn push_pcm(&mut self, pts: u64, speech: bool, samples: &[i16]) -> bool {
        let c = &self.shared.counters;
        if self.shared.closed.load(Ordering::Acquire) {
            return false;
        }
        if samples.len() == self.frame_len
            && self.silence.as_mut().is_some_and(|g| !g.admit(samples))
        {
            c.frames_in.fetch_add(1, Ordering::Relaxed);
            c.frames_skipped.fetch_add(1, Ordering::Relaxed);
            return true;
        }
        if samples.len() != self.frame_len
            || self.pcm.slots() < samples.len()
            || self.meta.slots() == 0
        {
            c.frames_dropped.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        let Ok(mut chunk) = self.pcm.write_chunk(samples.len()) else {
            c.frames_dropped.fetch_add(1, Ordering::Relaxed);
            return false;
        };
        let (a, b) = chunk.as_mut_slices();
        a.copy_from_slice(&samples[..a.len()]);
        b.copy_from_slice(&samples[a.len()..]);
        chunk.commit_all();
        // Meta goes in after the samples, so the encoder never sees a frame whose samples
        // are not there yet. The slot was checked above and this is the only producer.
        let _ = self.meta.push(Meta { pts, speech });
        c.frames_in.fetch_add(1, Ordering::Relaxed);
        self.wake.wake();
        true
    }

    /// This feed as a [`voxpace_core::FrameClock::add`] output: each frame is pushed, and the
    /// track stays on the clock until [`Publisher::close`].
    pub fn into_frame_output(mut self) -> impl FnMut(&FrameInfo, &[i16]) -> bool + Send + 'static {
        move |info, samples| {
            self.push(info, samples);
            !self.shared.closed.load(Ordering::Acquire)
        }
    }

    /// The publisher this feed drives.
    pub fn publisher(&self) -> Publisher {
        Publisher {
            shared: self.shared.clone(),
        }
    }
}

impl Drop for FrameFeed {
    fn drop(&mut self) {
        // Wake the encoder so it drains what is queued and stops.
        self.shared.feed_gone.store(true, Ordering::Release);
        self.wake.wake();
    }
}

struct EncoderTask {
    encoder: OpusEncoder,
    pcm: rtrb::Consumer<i16>,
    meta: rtrb::Consumer<Meta>,
    wake: Arc<AtomicWaker>,
    shared: Arc<Shared>,
    scratch: Vec<i16>,
    packet: Vec<u8>,
    roster: Roster,
    factor: u64,
    next_pts: Option<u64>,
    gap: bool,
    dtx: bool,
}

impl EncoderTask {
    async fn run(mut self) {
        loop {
            // Borrowed mutably so that the future stays `Send` (the ring ends are not `Sync`).
            let (meta, wake, gone) = (&mut self.meta, &self.wake, &self.shared.feed_gone);
            let ready = poll_fn(move |cx| {
                wake.register(cx.waker());
                // Read `gone` first: every push happened before it was set, so an empty ring
                // seen afterwards is really drained.
                let gone = gone.load(Ordering::Acquire);
                if !meta.is_empty() {
                    Poll::Ready(true)
                } else if gone || meta.is_abandoned() {
                    Poll::Ready(false)
                } else {
                    Poll::Pending
                }
            })
            .await;
            if !ready {
                break;
            }
            while let Ok(meta) = self.meta.pop() {
                self.frame(meta);
            }
        }
        self.shared.encoder_done.store(1, Ordering::Release);
        self.shared.ended.send_replace(true);
    }

    fn frame(&mut self, meta: Meta) {
        let len = self.scratch.len();
        match self.pcm.read_chunk(len) {
            Ok(chunk) => {
                let (a, b) = chunk.as_slices();
                self.scratch[..a.len()].copy_from_slice(a);
                self.scratch[a.len()..].copy_from_slice(b);
                chunk.commit_all();
            }
            // Cannot happen: samples are committed before their meta.
            Err(_) => return,
        }
        let c = &self.shared.counters;
        let frame_samples = (len / self.shared.format.channels() as usize) as u64;
        if let Some(next) = self.next_pts {
            if meta.pts < next {
                c.frames_stale.fetch_add(1, Ordering::Relaxed);
                return;
            }
            if meta.pts > next {
                self.gap = true;
            }
        }
        self.next_pts = Some(meta.pts + frame_samples);
        let subscribers = self.shared.frames.receiver_count();
        if subscribers == 0 && self.shared.listeners.attached() == 0 {
            // Nobody listens: skip the encoder entirely (hundreds of idle tracks cost nothing).
            c.frames_skipped.fetch_add(1, Ordering::Relaxed);
            self.gap = true;
            // Every listener the roster holds has left: let their tracks go now.
            self.roster.clear();
            return;
        }
        let started = thread_cpu_nanos();
        let n = match self.encoder.encode(&self.scratch, &mut self.packet) {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "opus encode failed; frame dropped");
                c.frames_dropped.fetch_add(1, Ordering::Relaxed);
                self.gap = true;
                return;
            }
        };
        c.encode_nanos.fetch_add(
            thread_cpu_nanos().saturating_sub(started),
            Ordering::Relaxed,
        );
        // With DTX libopus marks silence with packets of at most 2 bytes: not transmitted.
        if self.dtx && n <= 2 {
            c.frames_skipped.fetch_add(1, Ordering::Relaxed);
            self.gap = true;
            return;
        }
        let frame = EncodedFrame {
            rtp_time: meta.pts * self.factor,
            duration: (frame_samples * self.factor) as u32,
            payload: Bytes::copy_from_slice(&self.packet[..n]),
            speech: meta.speech,
            after_gap: std::mem::take(&mut self.gap),
        };
        c.frames_sent.fetch_add(1, Ordering::Relaxed);
        c.bytes.fetch_add(n as u64, Ordering::Relaxed);
        self.roster.send(&self.shared.listeners, &frame);
        if subscribers > 0 {
            let _ = self.shared.frames.send(frame);
        }
    }
}

/// This thread's CPU time in nanoseconds (0 if the clock cannot be read). One call costs a
/// system call (~0.3 µs), against ~150 µs for the encode it brackets.
fn thread_cpu_nanos() -> u64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid, writable timespec; the call only writes it.
    if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) } != 0 {
        return 0;
    }
    now.tv_sec as u64 * 1_000_000_000 + now.tv_nsec as u64
}
