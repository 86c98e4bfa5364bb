//! The janitor: one thread for the whole process that frees the voices the mixers retire
//! (off the frame path), reports them finished, and sends the damage and failure reports
//! the mix has reached.
//!
//! It sleeps until a mixer rings it (a voice retired, a report became due, a mixer gone):
//! a steady background costs it nothing. Each background has a [`Desk`] here; the mixer
//! holds the [`Bell`] that rings it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, Thread};

use rtrb::Consumer;

use crate::events::{EventHub, SourceEvent, SourceId};
use crate::mixer::Voice;
use crate::worker::VoiceShared;
use crate::Error;

/// The sources started and not yet retired, with their worker state (for `wait_buffered`
/// and the source limit).
pub(crate) type LiveList = Arc<Mutex<Vec<(SourceId, Arc<VoiceShared>)>>>;

/// One background's business with the janitor.
pub(crate) struct Desk {
    /// Voices the mixer retired (only the janitor pops).
    garbage: Mutex<Consumer<Box<Voice>>>,
    pub(crate) hub: Arc<EventHub>,
    pub(crate) live: LiveList,
    /// Set by the mixer when there is work here; cleared by the janitor as it takes it.
    rung: AtomicBool,
    /// Rounds the janitor worked for this background (its stats).
    pub(crate) rounds: AtomicU64,
}

/// The mixer's side of its desk: rings the janitor. Dropped with the mixer (declared after
/// its garbage queue, so the janitor finds the queue abandoned and closes the desk).
pub(crate) struct Bell {
    desk: Arc<Desk>,
    janitor: Thread,
}

impl Bell {
    /// Wake the janitor for this desk. On the frame path this is a swap, plus a futex wake
    /// only on the first ring since the janitor last looked: it happens when a voice
    /// retires or a report becomes due, a few times per source at most, never per frame.
    pub(crate) fn ring(&self) {
        if !self.desk.rung.swap(true, Ordering::AcqRel) {
            self.janitor.unpark();
        }
    }
}

impl Drop for Bell {
    fn drop(&mut self) {
        self.ring();
    }
}

/// Every open desk; the janitor walks them when woken.
static DESKS: Mutex<Vec<Arc<Desk>>> = Mutex::new(Vec::new());
/// The janitor thread, started by the first background.
static JANITOR: Mutex<Option<Thread>> = Mutex::new(None);

/// Open a desk for a new background: its garbage queue's consumer, event hub and live list.
pub(crate) fn open(
    garbage: Consumer<Box<Voice>>,
    hub: Arc<EventHub>,
    live: LiveList,
) -> Result<(Bell, Arc<Desk>), Error> {
    let janitor = thread()?;
    let desk = Arc::new(Desk {
        garbage: Mutex::new(garbage),
        hub,
        live,
        rung: AtomicBool::new(false),
        rounds: AtomicU64::new(0),
    });
    lock(&DESKS).push(desk.clone());
    let bell = Bell {
        desk: desk.clone(),
        janitor,
    };
    Ok((bell, desk))
}

fn thread() -> Result<Thread, Error> {
    let mut janitor = lock(&JANITOR);
    if let Some(t) = janitor.as_ref() {
        return Ok(t.clone());
    }
    let t = thread::Builder::new()
        .name("voxpace-bg-janitor".into())
        .spawn(|| loop {
            thread::park();
            // `retain` walks in place: a round allocates nothing.
            lock(&DESKS).retain(|desk| desk.serve());
        })
        .map(|handle| handle.thread().clone())
        .map_err(|e| Error::InvalidArgument(format!("cannot start the janitor thread: {e}")))?;
    *janitor = Some(t.clone());
    Ok(t)
}

impl Desk {
    /// Do the work the mixer rang for; false once the mixer is gone and all is done.
    fn serve(&self) -> bool {
        if !self.rung.swap(false, Ordering::AcqRel) {
            return true;
        }
        self.rounds.fetch_add(1, Ordering::Relaxed);
        for (_, s) in lock(&self.live).iter() {
            s.deliver_due(&self.hub, false);
        }
        let mut garbage = lock(&self.garbage);
        while let Ok(voice) = garbage.pop() {
            voice.shared.stop.store(true, Ordering::Release);
            voice.worker.unpark();
            voice.shared.deliver_due(&self.hub, true);
            lock(&self.live).retain(|(id, _)| *id != voice.id);
            self.hub.send(SourceEvent::Finished {
                id: voice.id,
                path: voice.path.clone(),
                reason: voice.outcome,
            });
        }
        !(garbage.is_abandoned() && garbage.is_empty())
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
