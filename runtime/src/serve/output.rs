//! One agent output: its track (rendered by the shared frame clock), background bus, open
//! replies, event fan-out, level meter and live-audio monitors.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{broadcast, watch};
use voxpace_core::{FrameInfo, Playback, ReplyId, ReplyWriter, TextMarker, TrackHandle};

use super::intake::{Converter, Wire};
use crate::background::Bus;

/// Live-audio monitors one output feeds at most.
pub const MONITOR_SLOTS: usize = 4;
/// How much audio a monitor buffers before frames are dropped for it.
const MONITOR_BUFFER: Duration = Duration::from_secs(2);
/// Finished replies remembered for `GET .../replies/{id}`.
const REMEMBERED_REPLIES: usize = 64;

/// One event for the live stream, serialised once for every subscriber.
#[derive(Debug)]
pub struct EventMsg {
    /// Sequence number within the output, from 1.
    pub seq: u64,
    /// The SSE event name (the JSON's `type`).
    pub name: &'static str,
    /// The JSON object.
    pub data: String,
}

/// Figures the frame callback keeps (atomics: it runs on the clock thread).
#[derive(Debug, Default)]
pub struct Meter {
    /// Peak of the last frame, 0..=32767.
    pub peak: AtomicU64,
    /// RMS of the last frame, 0..=32767.
    pub rms: AtomicU64,
    /// Frames handed to outputs.
    pub frames: AtomicU64,
    /// Frames a monitor missed because it did not keep up.
    pub monitor_drops: AtomicU64,
    /// Frames the WebRTC publisher refused (its queue was full).
    pub publish_drops: AtomicU64,
}

/// The audio intake of a reply that is still open.
#[derive(Debug)]
pub struct Intake {
    /// The core writer.
    pub writer: ReplyWriter,
    /// The converter for the current content type (reset when the type changes).
    pub converter: Option<(Wire, Converter)>,
}

/// One reply as the API sees it.
#[derive(Debug)]
pub struct ReplySlot {
    /// The reply.
    pub id: ReplyId,
    /// `Some` while audio can still be added; one request streams into it at a time.
    pub intake: tokio::sync::Mutex<Option<Intake>>,
    /// Its outcome, once played.
    pub playback: Playback,
    /// Adds its text marks and whole text, beside the audio intake.
    pub text: TextMarker,
    /// Samples per channel accepted (in the track's format).
    pub accepted: AtomicU64,
    /// Set once finished by the API.
    pub finished: AtomicBool,
    /// Set when its body stalled and the reply was ended with what had arrived.
    pub incomplete: AtomicBool,
}

/// A running agent output.
#[derive(Debug)]
pub struct Output {
    /// Its id (in URLs).
    pub id: String,
    /// The track's control side.
    pub handle: TrackHandle,
    /// The background bus.
    pub bus: Bus,
    /// Live events.
    pub events: broadcast::Sender<Arc<EventMsg>>,
    /// Figures from the frame callback.
    pub meter: Arc<Meter>,
    /// When it was created.
    pub created: Instant,
    /// Its tracing span (all its logs carry the id).
    pub span: tracing::Span,
    pub(crate) replies: Mutex<BTreeMap<u64, Arc<ReplySlot>>>,
    pub(crate) alive: Arc<AtomicBool>,
    /// Turns true when the output is being ended: requests streaming into it stop waiting.
    pub(crate) closing: watch::Sender<bool>,
    /// Turns true once `output_ended` was sent (after the track's last event).
    pub(crate) ended: watch::Receiver<bool>,
    pub(crate) monitors: Mutex<rtrb::Producer<rtrb::Producer<i16>>>,
    /// Live-audio monitors open now (at most [`MONITOR_SLOTS`]).
    pub(crate) monitors_open: Arc<AtomicUsize>,
    #[cfg(feature = "webrtc")]
    pub(crate) publisher: Option<voxpace_transport::Publisher>,
}

impl Output {
    /// Remember a new reply, forgetting the oldest finished ones beyond the limit.
    pub fn add_reply(&self, slot: Arc<ReplySlot>) {
        let mut r = self.replies.lock().unwrap_or_else(|e| e.into_inner());
        r.insert(slot.id.0, slot);
        while r.len() > REMEMBERED_REPLIES {
            let oldest_done = r
                .iter()
                .find(|(_, s)| s.playback.outcome().is_some())
                .map(|(k, _)| *k);
            match oldest_done {
                Some(k) => {
                    r.remove(&k);
                }
                None => break,
            }
        }
    }

    /// A reply by id.
    pub fn reply(&self, id: u64) -> Option<Arc<ReplySlot>> {
        self.replies
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&id)
            .cloned()
    }

    /// Replies whose audio is still arriving.
    pub fn open_replies(&self) -> usize {
        self.replies
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .filter(|s| !s.finished.load(Ordering::Acquire) && s.playback.outcome().is_none())
            .count()
    }

    /// Replies whose outcome is not known yet (still arriving, queued or playing).
    pub fn unsettled_replies(&self) -> usize {
        self.replies
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .filter(|s| s.playback.outcome().is_none())
            .count()
    }

    /// Stop rendering: the frame clock drops the track after its next frame.
    pub fn end(&self) {
        self.alive.store(false, Ordering::Release);
        #[cfg(feature = "webrtc")]
        if let Some(p) = &self.publisher {
            p.close();
        }
    }

    /// Is the frame clock still rendering it?
    pub fn is_alive(&self) -> bool {
        self.alive.load(Ordering::Acquire)
    }

    /// A new live-audio monitor (interleaved samples in the track's format), or `None` when
    /// all [`MONITOR_SLOTS`] are taken. The slot is free again when the [`MonitorSlot`] is
    /// dropped.
    pub fn monitor(&self) -> Option<(rtrb::Consumer<i16>, MonitorSlot)> {
        let taken = self
            .monitors_open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < MONITOR_SLOTS).then_some(n + 1)
            });
        if taken.is_err() {
            return None;
        }
        let slot = MonitorSlot(self.monitors_open.clone());
        let format = self.handle.format();
        let cap = format.samples_in(MONITOR_BUFFER) as usize * format.channels() as usize;
        let (tx, rx) = rtrb::RingBuffer::new(cap);
        let mut q = self.monitors.lock().unwrap_or_else(|e| e.into_inner());
        // At most MONITOR_SLOTS consumers exist, so the hand-over ring has room.
        q.push(tx).ok().map(|_| (rx, slot))
    }
}

/// One of an output's monitor slots, held by the stream that uses it.
#[derive(Debug)]
pub struct MonitorSlot(Arc<AtomicUsize>);

impl Drop for MonitorSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// What the frame callback owns.
pub(crate) struct FrameSide {
    pub alive: Arc<AtomicBool>,
    pub meter: Arc<Meter>,
    pub new_monitors: rtrb::Consumer<rtrb::Producer<i16>>,
    pub monitors: Vec<rtrb::Producer<i16>>,
    #[cfg(feature = "webrtc")]
    pub feed: Option<voxpace_transport::FrameFeed>,
}

impl FrameSide {
    /// Called on the frame clock thread once per frame: counters, meter, monitors, the
    /// WebRTC feed. No allocation (monitor vectors have their capacity up front), no lock.
    // `info` goes to the WebRTC feed only.
    #[cfg_attr(not(feature = "webrtc"), allow(unused_variables))]
    pub fn on_frame(&mut self, info: &FrameInfo, samples: &[i16]) -> bool {
        if !self.alive.load(Ordering::Acquire) {
            return false;
        }
        // Late frames are counted on the track by core's FrameClock (`TrackStats`).
        let (mut peak, mut sum) = (0u64, 0u64);
        for &s in samples {
            let a = s.unsigned_abs() as u64;
            peak = peak.max(a);
            sum += a * a;
        }
        self.meter.peak.store(peak, Ordering::Relaxed);
        let rms = ((sum / samples.len().max(1) as u64) as f64).sqrt() as u64;
        self.meter.rms.store(rms, Ordering::Relaxed);
        self.meter.frames.fetch_add(1, Ordering::Relaxed);

        // Drop the monitors whose streams ended before taking new ones, so a freed slot is
        // reused at once.
        self.monitors.retain(|m| !m.is_abandoned());
        while self.monitors.len() < MONITOR_SLOTS {
            match self.new_monitors.pop() {
                Ok(m) => self.monitors.push(m),
                Err(_) => break,
            }
        }
        for m in &mut self.monitors {
            if m.slots() < samples.len() {
                self.meter.monitor_drops.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            if let Ok(chunk) = m.write_chunk_uninit(samples.len()) {
                chunk.fill_from_iter(samples.iter().copied());
            }
        }
        #[cfg(feature = "webrtc")]
        if let Some(feed) = self.feed.as_mut() {
            if !feed.push(info, samples) {
                self.meter.publish_drops.fetch_add(1, Ordering::Relaxed);
            }
        }
        true
    }
}
