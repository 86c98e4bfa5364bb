//! The one allocation per track that both sides point to: the atomics both sides share
//! (`Shared`, inside the intake's control half), the intake's control half, the mailbox of
//! rare commands to the frame side, and the sinks being watched until their workers end.
//! Handles, writers and the frame side hold it; the views of `shared.rs` (event streams,
//! `Playback`, sink workers) keep it alive through [`Owner`]. One allocation instead of
//! two: with thousands of tracks per process, every allocation per track counts (its
//! header and rounding too), and so does every pointer to it in the track.

use std::sync::atomic::{fence, Ordering};
use std::sync::{Arc, Mutex};

use crate::commands::Command;
use crate::intake::Intake;
use crate::mailbox::Mailbox;
use crate::shared::{Owner, Shared};
use crate::sink_tap::TapShared;
use crate::SinkId;

/// An attached sink's progress, watched until its worker ends.
pub(crate) type Watched = (SinkId, Arc<TapShared>);

pub(crate) struct Control {
    /// Holds `Shared`, which the frame side reads every frame (see `Control::shared`).
    pub(crate) intake: Intake,
    /// Checked by the frame side once per frame.
    pub(crate) commands: Mailbox<Command>,
    /// Attached sinks' ids and progress (control side only); boxed once the first sink
    /// attaches (most tracks have none).
    pub(crate) sinks: Mutex<Option<Box<Sinks>>>,
}

/// The sinks a track's control side knows of.
#[derive(Default)]
pub(crate) struct Sinks {
    /// The last sink id handed out.
    pub(crate) last_id: u64,
    /// Attached sinks' progress, for `TrackHandle::wait_for_sinks`.
    pub(crate) watched: Vec<Watched>,
}

impl Control {
    pub(crate) fn new(intake: Intake) -> Self {
        Self {
            intake,
            commands: Mailbox::new(),
            sinks: Mutex::new(None),
        }
    }

    pub(crate) fn shared(&self) -> &Shared {
        self.intake.shared()
    }

    /// Queue a command for the frame side; fails once the frame side is gone.
    pub(crate) fn send(&self, command: Command) -> Result<(), crate::Error> {
        let shared = self.shared();
        if shared.is_closed() {
            return Err(crate::Error::TrackClosed);
        }
        self.commands.push(command);
        // After the push: the frame side that sees the flag finds the command.
        shared.commands_waiting.store(true, Ordering::Release);
        // The frame side may have gone between the check and the push: then nobody takes
        // the command, and one that holds this allocation (a sink's tap) would keep it
        // alive forever. Dekker with `discard_commands`: either its drain sees the push,
        // or this load sees it closed.
        fence(Ordering::SeqCst);
        if shared.is_closed() {
            self.discard_commands();
            return Err(crate::Error::TrackClosed);
        }
        Ok(())
    }

    /// Drop the commands nobody will apply (the frame side is gone): a sink's worker is
    /// told to stop.
    pub(crate) fn discard_commands(&self) {
        fence(Ordering::SeqCst);
        self.commands.drain(|command| {
            if let Command::AttachSink(tap) = command {
                tap.stop();
            }
        });
    }
}

impl Owner for Control {
    fn shared(&self) -> &Shared {
        self.intake.shared()
    }
}

impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Control")
            .field("intake", &self.intake)
            .finish_non_exhaustive()
    }
}
