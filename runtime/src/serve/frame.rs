//! The frame hook: what one output does with each frame the shared frame clock renders,
//! on the clock thread, after core's track mixed it. It counts and meters the frame, copies
//! it to the live-audio monitors (`GET .../audio`) and hands it to the WebRTC publisher's
//! [`voxpace_transport::FrameFeed`] (which encodes and sends it on the transport's own
//! thread). No allocation, no lock, no I/O: it runs once per frame.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use voxpace_core::FrameInfo;

/// Live-audio monitors one output feeds at most.
pub const MONITOR_SLOTS: usize = 4;
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
