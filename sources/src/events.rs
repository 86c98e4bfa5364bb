//! What happens to playing sources, reported off the frame path.

use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Mutex;
use std::time::Duration;

use crate::Error;

/// Identifies one playing file (music or clip) of a [`Background`](crate::Background).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SourceId(pub(crate) u64);

impl std::fmt::Display for SourceId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "source#{}", self.0)
    }
}

/// Why a source left the mix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FinishReason {
    /// It played to its end (a file played once, or a clip).
    Ended,
    /// It was stopped, cancelled or replaced by the caller, after its fade-out.
    Stopped,
    /// It failed (see the [`SourceEvent::Failed`] sent before) and faded out.
    Failed,
}

/// An event about a playing source.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum SourceEvent {
    /// The file broke while playing (truncated, corrupt, unreadable). The source fades out
    /// over about 20 ms and leaves the mix; the track and the speech keep running.
    Failed {
        /// The source.
        id: SourceId,
        /// Its file.
        path: PathBuf,
        /// What went wrong.
        error: Error,
    },
    /// A [`Play::normalised`](crate::Play::normalised) file was measured (before its
    /// first sample plays) and scaled.
    Measured {
        /// The source.
        id: SourceId,
        /// Its file.
        path: PathBuf,
        /// Its integrated loudness over the first 60 s (LUFS); `None` when silent.
        loudness_lufs: Option<f32>,
        /// The gain that brings it to the asked loudness (dB, within -40 to +20).
        gain_db: f32,
    },
    /// The source left the mix (its last sample was mixed).
    Finished {
        /// The source.
        id: SourceId,
        /// Its file.
        path: PathBuf,
        /// Why.
        reason: FinishReason,
    },
}

/// A subscription to [`SourceEvent`]s (from [`Background::subscribe`](crate::Background::subscribe)).
/// Events sent before the subscription are not seen.
#[derive(Debug)]
pub struct SourceEvents {
    rx: Receiver<SourceEvent>,
}

impl SourceEvents {
    /// The next event if one is waiting.
    pub fn try_next(&self) -> Option<SourceEvent> {
        self.rx.try_recv().ok()
    }

    /// Wait up to `timeout` for the next event. `None` on timeout or when the mixer and its
    /// sources are all gone.
    pub fn next_timeout(&self, timeout: Duration) -> Option<SourceEvent> {
        self.rx.recv_timeout(timeout).ok()
    }
}

/// Fans events out to every subscriber. Only workers and the janitor thread send.
#[derive(Debug, Default)]
pub(crate) struct EventHub {
    subscribers: Mutex<Vec<Sender<SourceEvent>>>,
}

impl EventHub {
    pub(crate) fn subscribe(&self) -> SourceEvents {
        let (tx, rx) = mpsc::channel();
        self.lock().push(tx);
        SourceEvents { rx }
    }

    pub(crate) fn send(&self, event: SourceEvent) {
        self.lock().retain(|s| s.send(event.clone()).is_ok());
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Sender<SourceEvent>>> {
        // A subscriber list cannot be left inconsistent by a panic: keep using it.
        self.subscribers.lock().unwrap_or_else(|p| p.into_inner())
    }
}
