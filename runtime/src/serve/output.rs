//! One agent output: its track (rendered by the shared frame clock), background bus, open
//! replies, event fan-out, level meter and live-audio monitors.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use voxpace_core::{Playback, ReplyId, ReplyWriter, TextMarker, TrackHandle};

use super::event::{EventLog, EventMsg, Subscription};
use super::frame::{Meter, MONITOR_SLOTS};
use super::intake::{Converter, Wire};
#[cfg(feature = "webrtc")]
use super::publish::OutputPublish;
use crate::background::Bus;
use crate::contract::outputs::PublishView;

/// How much audio a monitor buffers before frames are dropped for it.
const MONITOR_BUFFER: Duration = Duration::from_secs(2);
/// Finished replies remembered for `GET .../replies/{id}`.
const REMEMBERED_REPLIES: usize = 64;

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
    /// Live events, numbered, with their recent history.
    pub(crate) events: Arc<EventLog>,
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
    /// Live-audio monitors open now (at most [`MONITOR_SLOTS`]), and who waits for one to close.
    pub(crate) monitors_open: Arc<MonitorCount>,
    #[cfg(feature = "webrtc")]
    pub(crate) publisher: Option<voxpace_transport::Publisher>,
    /// Its WHIP publish, when it has a WHIP target.
    #[cfg(feature = "webrtc")]
    pub(crate) whip: Option<OutputPublish>,
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
        let taken =
            self.monitors_open
                .open
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

    /// Like [`Output::monitor`], but when every slot is taken, wait up to `patience` for one
    /// to be freed. A client that hangs up and reconnects at once races its own old
    /// connection: the server learns of the close only when that connection's task next runs
    /// (at its next read or write), which can be after the new request arrives.
    pub async fn monitor_within(
        &self,
        patience: Duration,
    ) -> Option<(rtrb::Consumer<i16>, MonitorSlot)> {
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            // Registered before trying, so a slot freed in between is not missed.
            let freed = self.monitors_open.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            if let Some(m) = self.monitor() {
                return Some(m);
            }
            if tokio::time::timeout_at(deadline, freed).await.is_err() {
                return None;
            }
        }
    }
}

/// An output's count of open monitors, and the signal that one closed.
#[derive(Debug, Default)]
pub(crate) struct MonitorCount {
    open: AtomicUsize,
    freed: tokio::sync::Notify,
}

/// One of an output's monitor slots, held by the stream that uses it.
#[derive(Debug)]
pub struct MonitorSlot(Arc<MonitorCount>);

impl Drop for MonitorSlot {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::AcqRel);
        self.0.freed.notify_waiters();
    }
}

impl Output {
    /// Subscribe to the output's events (after the client's `Last-Event-ID`, when it gives
    /// one), with the current publish state to send first (consistent with the
    /// subscription: every later change arrives as an event).
    pub(crate) fn subscribe_events(
        &self,
        after: Option<u64>,
    ) -> (Subscription, Option<Arc<EventMsg>>) {
        #[cfg(feature = "webrtc")]
        if let Some(p) = &self.whip {
            return p.subscribe(&self.events, after);
        }
        (self.events.subscribe(after), None)
    }

    /// The publish state (`None` when the output does not publish over WHIP).
    pub(crate) fn publish_view(&self) -> Option<PublishView> {
        #[cfg(feature = "webrtc")]
        if let Some(p) = &self.whip {
            return Some(p.view());
        }
        None
    }
}

impl Output {
    /// True unless its WHIP publish is configured and not up (for `/readyz`).
    pub(crate) fn publish_is_up(&self) -> bool {
        #[cfg(feature = "webrtc")]
        if let Some(p) = &self.whip {
            return p.is_up();
        }
        true
    }
}

impl Output {
    /// Stop its WHIP publish (DELETE the resource), if any: the task ends when that is done.
    pub(crate) fn stop_publish(&self) -> Option<tokio::task::JoinHandle<()>> {
        #[cfg(feature = "webrtc")]
        if let Some(p) = &self.whip {
            return p.teardown();
        }
        None
    }
}
