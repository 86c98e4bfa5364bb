//! The peers a publisher sends to, written by its encoder task itself.
//!
//! Each encoded frame is packetised for every listener and handed to its peer connection
//! with one poll of `write_rtp` that never waits: in webrtc-rs that call only queues the
//! packet for the peer connection's driver task (which does SRTP and the UDP send). If it
//! cannot complete at once (the driver's queue is full, the track is being rebound) that
//! listener skips the packet (counted) and marks its next one, like a peer that fell behind
//! on the old broadcast; the encoder and the other listeners are never held up. So a frame
//! costs one task wake-up (the encoder) plus each listener's driver, and no relay task.
//!
//! Listeners join through a short list under a mutex that the encoder task only takes when
//! a flag says the list changed (a session started); leaving is a flag the encoder reads.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use rtc::rtp;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::TrackLocal;

use crate::peer::random_u64;
use crate::publisher::EncodedFrame;

/// One peer's RTP stream of a publisher's frames: its own random SSRC, initial sequence
/// number and timestamp offset (RFC 3550 §5.1); its timestamps then follow the track's pts.
pub(crate) struct Listener {
    track: Arc<TrackLocalStaticRTP>,
    ssrc: u32,
    payload_type: u8,
    sequence: u16,
    offset: u32,
    /// The next packet follows frames this listener did not get.
    marker: bool,
    state: Arc<ListenerState>,
    /// The session's span, for the rare log lines.
    span: tracing::Span,
}

#[derive(Debug, Default)]
struct ListenerState {
    /// Its session ended or a write failed: no packet is sent to it from then on.
    detached: AtomicBool,
    skipped: AtomicU64,
}

/// What became of one packet for one listener.
enum Sent {
    Delivered,
    /// Its queue was full: this packet is lost for this listener only.
    Skipped,
    /// The track is closed or unbound: the listener is removed.
    Failed,
}

impl Listener {
    /// A listener on a negotiated track with its SSRC and payload type.
    pub(crate) fn new(track: Arc<TrackLocalStaticRTP>, ssrc: u32, payload_type: u8) -> Self {
        let seed = random_u64();
        Self {
            track,
            ssrc,
            payload_type,
            sequence: seed as u16,
            offset: (seed >> 32) as u32,
            marker: true,
            state: Arc::default(),
            span: tracing::Span::current(),
        }
    }

    fn send(&mut self, frame: &EncodedFrame) -> Sent {
        let packet = rtp::Packet {
            header: rtp::header::Header {
                version: 2,
                marker: self.marker || frame.after_gap,
                payload_type: self.payload_type,
                sequence_number: self.sequence,
                timestamp: self.offset.wrapping_add(frame.rtp_time as u32),
                ssrc: self.ssrc,
                ..Default::default()
            },
            payload: frame.payload.clone(),
        };
        let mut write = self.track.write_rtp(packet);
        // One poll, never a wait: a pending write is dropped and with it only this packet
        // (the driver queue send had not happened).
        match write.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(Ok(())) => {
                self.marker = false;
                self.sequence = self.sequence.wrapping_add(1);
                Sent::Delivered
            }
            Poll::Ready(Err(e)) => {
                self.span.in_scope(|| {
                    tracing::debug!(error = %e, ssrc = self.ssrc, "peer track closed; listener removed")
                });
                Sent::Failed
            }
            Poll::Pending => {
                // Sequence numbers stay consecutive; the timestamp jump and the marker bit
                // tell the receiver that audio is missing.
                self.marker = true;
                self.state.skipped.fetch_add(1, Ordering::Relaxed);
                Sent::Skipped
            }
        }
    }
}

/// The listeners of one publisher, as seen by the control side.
#[derive(Default)]
pub(crate) struct Registry {
    joining: Mutex<Vec<Listener>>,
    joined: AtomicBool,
    attached: AtomicUsize,
    skipped: AtomicU64,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("attached", &self.attached())
            .field("skipped", &self.skipped())
            .finish()
    }
}

impl Registry {
    /// Add `listener`: it gets every frame encoded from now on, until the returned guard is
    /// dropped or a write to its track fails.
    pub(crate) fn attach(self: &Arc<Self>, listener: Listener) -> Listening {
        let state = listener.state.clone();
        self.attached.fetch_add(1, Ordering::AcqRel);
        self.joining
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(listener);
        self.joined.store(true, Ordering::Release);
        Listening {
            state,
            registry: self.clone(),
        }
    }

    /// Listeners attached and not yet detached.
    pub(crate) fn attached(&self) -> usize {
        self.attached.load(Ordering::Acquire)
    }

    /// Packets listeners skipped because they could not take them at once.
    pub(crate) fn skipped(&self) -> u64 {
        self.skipped.load(Ordering::Relaxed)
    }

    fn detach(&self, state: &ListenerState) {
        if !state.detached.swap(true, Ordering::AcqRel) {
            self.attached.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// Keeps one listener attached to a publisher; dropping it detaches the listener (the
/// session ended), and no packet is sent to it from the next frame on.
pub(crate) struct Listening {
    state: Arc<ListenerState>,
    registry: Arc<Registry>,
}

impl Listening {
    /// Packets this listener skipped because its peer connection's queue was full.
    pub(crate) fn skipped(&self) -> u64 {
        self.state.skipped.load(Ordering::Relaxed)
    }
}

impl Drop for Listening {
    fn drop(&mut self) {
        self.registry.detach(&self.state);
    }
}

/// The encoder task's side: the listeners it writes to.
#[derive(Default)]
pub(crate) struct Roster {
    active: Vec<Listener>,
}

impl Roster {
    /// Forget every listener (all have been detached).
    pub(crate) fn clear(&mut self) {
        self.active.clear();
    }

    /// Write `frame` to every attached listener; newly attached ones first join, detached
    /// and failed ones leave.
    pub(crate) fn send(&mut self, registry: &Registry, frame: &EncodedFrame) {
        if registry.joined.swap(false, Ordering::AcqRel) {
            // Taken only on the frame after a session started: never contended per frame.
            let mut joining = registry.joining.lock().unwrap_or_else(|e| e.into_inner());
            self.active.append(&mut joining);
        }
        self.active.retain_mut(|listener| {
            if listener.state.detached.load(Ordering::Acquire) {
                return false;
            }
            match listener.send(frame) {
                Sent::Delivered => true,
                Sent::Skipped => {
                    registry.skipped.fetch_add(1, Ordering::Relaxed);
                    true
                }
                Sent::Failed => {
                    registry.detach(&listener.state);
                    false
                }
            }
        });
    }
}
