//! What happens to playing sources, reported off the frame path.

use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Mutex;
use std::time::Duration;

use crate::Error;

/// Identifies one playing file (music or clip) of a [`Background`](crate::Background).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SourceId(pub(crate) u64);

impl SourceId {
    /// The id as a number (counts from 1 per background).
    pub fn get(self) -> u64 {
        self.0
    }
}

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

impl FinishReason {
    /// The reason as a lowercase word for events and logs: `"ended"`, `"stopped"` or
    /// `"failed"`.
    pub fn as_str(&self) -> &'static str {
        match self {
            FinishReason::Ended => "ended",
            FinishReason::Stopped => "stopped",
            FinishReason::Failed => "failed",
        }
    }
}

/// How playback went on after damage in a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Recovery {
    /// The damaged packet (or the data the demuxer lost sync on) was skipped; the file
    /// plays on from the next good packet.
    Skipped,
    /// The file could not go on (cut off, unreadable past this point); it is looping, so
    /// it started again from the top. `attempt` counts restarts in a row (a pass that
    /// plays to its end resets it); after [`MAX_RESTARTS`](crate::MAX_RESTARTS) the
    /// source fails for good.
    Restarted {
        /// 1 for the first restart in a row.
        attempt: u32,
    },
}

/// An event about a playing source. `pts` is the track's timestamp (in samples) at which
/// the event became audible: the damage, or the last sample of a failed source, was mixed
/// at that time (late by any underruns of that source before it).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum SourceEvent {
    /// The file broke while playing (truncated, corrupt, unreadable) and cannot go on: the
    /// source faded out over about 20 ms and left the mix at `pts`; the track and the
    /// speech keep running.
    Failed {
        /// The source.
        id: SourceId,
        /// Its file.
        path: PathBuf,
        /// What went wrong.
        error: Error,
        /// When the source ended.
        pts: u64,
    },
    /// The file is damaged at `pts` and playback went on ([`Recovery`] says how).
    Damaged {
        /// The source.
        id: SourceId,
        /// Its file.
        path: PathBuf,
        /// What was wrong.
        error: Error,
        /// When the damage was heard.
        pts: u64,
        /// What was done about it.
        recovery: Recovery,
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

/// What a worker found, waiting until the mix reaches it.
#[derive(Debug, Clone)]
pub(crate) struct Report {
    /// Position in the source's output (interleaved samples, comparable with
    /// `VoiceShared::read`) at which it becomes audible.
    pub(crate) at: u64,
    pub(crate) error: Error,
    /// `None`: the source failed for good.
    pub(crate) recovery: Option<Recovery>,
}

impl Report {
    pub(crate) fn into_event(self, id: SourceId, path: PathBuf, pts: u64) -> SourceEvent {
        match self.recovery {
            None => SourceEvent::Failed {
                id,
                path,
                error: self.error,
                pts,
            },
            Some(recovery) => SourceEvent::Damaged {
                id,
                path,
                error: self.error,
                pts,
                recovery,
            },
        }
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
