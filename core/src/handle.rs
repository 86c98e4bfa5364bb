//! The control side of a track: [`TrackHandle`], cheap to clone, usable from any task or
//! thread. It opens replies, pauses, resumes and interrupts, and installs the background,
//! sinks and the event subscriber; none of it ever waits for the frame side (except
//! [`TrackHandle::wait_for_sinks`], for virtual-clock renders).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use crate::commands::{Bus, Command};
use crate::control::{Control, Sinks};
use crate::events::{Emitted, EventStream};
use crate::shared::{Counters, Liveness, Shared, SinkLink, TrackStats};
use crate::sink_tap;
use crate::{Error, Format, ReplyId, ReplyWriter, Sink, SinkId, Source};

/// Events queued for the subscriber before new ones are dropped (counted).
const EVENT_SLOTS: usize = 256;

/// The control side of a track: cheap to clone, usable from any task or thread.
#[derive(Clone)]
pub struct TrackHandle {
    /// The intake, the command mailbox and the watched sinks (see `control.rs`).
    control: Arc<Control>,
}

impl std::fmt::Debug for TrackHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrackHandle")
            .field("format", &self.shared().format)
            .finish_non_exhaustive()
    }
}

impl TrackHandle {
    pub(crate) fn new(control: Arc<Control>) -> Self {
        Self { control }
    }

    fn shared(&self) -> &Shared {
        self.control.shared()
    }

    fn send(&self, command: Command) -> Result<(), Error> {
        self.control.send(command)
    }

    /// The track's format.
    pub fn format(&self) -> Format {
        self.shared().format
    }

    /// Open the next reply. Any reply still open is finished first (a reply never runs
    /// into the next). Fails with [`Error::IntakeClosed`] after an interrupt in manual
    /// input mode until [`TrackHandle::enable_input`].
    pub fn open_reply(&self) -> Result<ReplyWriter, Error> {
        let state = self
            .control
            .intake
            .open(|reader| self.send(Command::Intake(Box::new(reader))))?;
        Ok(ReplyWriter::new(self.control.clone(), state))
    }

    /// Hold speech (silence goes out, pts keeps advancing) from the next frame on.
    pub fn pause(&self) {
        self.shared().pause_requested.store(true, Ordering::Release);
    }

    /// Play held speech again, unchanged, from the next frame on.
    pub fn resume(&self) {
        self.shared()
            .pause_requested
            .store(false, Ordering::Release);
    }

    /// Barge-in: every reply opened so far ends as interrupted. The playing reply fades out
    /// within the next frame; queued audio is dropped; their writers' pushes are refused
    /// from now on. Also ends a pause. Returns the newest reply it covers, if any.
    pub fn interrupt(&self) -> Option<ReplyId> {
        self.control.intake.interrupt()
    }

    /// Open intake again after an interrupt in manual input mode. With `manual` true, each
    /// interrupt closes intake until this is called again (the agent decides when the user
    /// has finished speaking).
    pub fn enable_input(&self, manual: bool) {
        self.control.intake.enable(manual);
    }

    /// Replace the background source (`None` removes it).
    pub fn set_background(&self, source: Option<Box<dyn Source>>) -> Result<(), Error> {
        let len = self.shared().format.frame_len();
        self.send(Command::Background(source.map(|s| Bus::new(s, len))))
    }

    /// Attach a sink: it gets its own bounded queue and worker thread.
    pub fn attach_sink(&self, sink: Box<dyn Sink>) -> Result<SinkId, Error> {
        let id = {
            let mut sinks = self.sinks();
            let sinks = sinks.get_or_insert_with(Box::default);
            sinks.last_id += 1;
            SinkId(sinks.last_id)
        };
        let link = SinkLink::new(self.control.clone());
        let (tap, progress) = sink_tap::spawn(id, sink, &link)?;
        self.send(Command::AttachSink(tap))?;
        let mut sinks = self.sinks();
        let watched = &mut sinks.get_or_insert_with(Box::default).watched;
        watched.retain(|(_, p)| !p.finished());
        watched.push((id, progress));
        Ok(id)
    }

    fn sinks(&self) -> std::sync::MutexGuard<'_, Option<Box<Sinks>>> {
        // Nothing panics while holding it; recover if a caller's code did.
        self.control.sinks.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Detach a sink; it gets `Stop` and its worker ends.
    pub fn detach_sink(&self, id: SinkId) -> Result<(), Error> {
        // It stays watched until its worker ends, so `wait_for_sinks` covers its `Stop`.
        self.send(Command::DetachSink(id))
    }

    /// Wait until every attached sink has handled everything the frame side queued for it
    /// so far (a detached sink, or one whose track is gone: until it handled `Stop`), or
    /// `timeout` passed (then false). For renders on a virtual clock (`voxpace
    /// render`), where sinks must keep up with virtual time: waiting after each frame makes
    /// what sinks receive, and when owning sinks' reports arrive, the same on every run.
    /// Not for real-time frame paths.
    pub fn wait_for_sinks(&self, timeout: Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        let sinks = self
            .sinks()
            .as_deref()
            .map(|s| s.watched.clone())
            .unwrap_or_default();
        let mut spins = 0u32;
        for (_, progress) in &sinks {
            while !progress.settled() {
                if std::time::Instant::now() >= deadline {
                    return false;
                }
                spins += 1;
                if spins < 64 {
                    std::thread::yield_now();
                } else {
                    std::thread::sleep(Duration::from_micros(20));
                }
            }
        }
        true
    }

    /// Subscribe to the track's events. Only the newest stream receives them.
    pub fn events(&self) -> EventStream {
        let (tx, rx) = rtrb::RingBuffer::<Emitted>::new(EVENT_SLOTS);
        if self.send(Command::Events(Box::new(tx))).is_err() {
            // The frame side is not rendering; the stream will end when it is dropped.
            Counters::count(&self.shared().counters.events_dropped);
        }
        EventStream::new(rx, Liveness::new(self.control.clone()))
    }

    /// True while a reply is playing or held, or speech played within the grace period.
    pub fn is_speaking(&self) -> bool {
        self.shared().speaking.load(Ordering::Acquire)
    }

    /// True while paused.
    pub fn is_paused(&self) -> bool {
        self.shared().paused.load(Ordering::Acquire)
    }

    /// Speech buffered and not yet played, as a duration.
    pub fn buffered(&self) -> Duration {
        let values = self.shared().room.used() as u64;
        let format = self.shared().format;
        format.duration_of(values / format.channels() as u64)
    }

    /// Counters since the track was created.
    pub fn stats(&self) -> TrackStats {
        self.shared().stats()
    }

    /// The output's momentary loudness (ITU-R BS.1770, the last 400 ms, updated every
    /// 100 ms) in LUFS, when [`crate::TrackConfig::output_meter`] is on; `None` otherwise
    /// and while the output is silent.
    pub fn output_loudness(&self) -> Option<f32> {
        let v = f32::from_bits(self.shared().output_lufs.load(Ordering::Relaxed));
        (!v.is_nan()).then_some(v)
    }
}
