//! The control side's state, in one allocation shared by a track's handles and writers:
//! the intake's control half, the mailbox of rare commands to the frame side, and the
//! sinks being watched until their workers end. One `Arc` instead of three: with thousands
//! of tracks per process, every allocation per track counts (its header and rounding too).

use std::sync::{Arc, Mutex};

use crate::commands::Command;
use crate::intake::Intake;
use crate::mailbox::Mailbox;
use crate::sink_tap::TapShared;
use crate::SinkId;

/// An attached sink's progress, watched until its worker ends.
pub(crate) type Watched = (SinkId, Arc<TapShared>);

pub(crate) struct Control {
    /// Checked by the frame side once per frame.
    pub(crate) commands: Mailbox<Command>,
    pub(crate) intake: Intake,
    /// Attached sinks' progress, for `TrackHandle::wait_for_sinks` (control side only);
    /// boxed once the first sink attaches (most tracks have none).
    #[allow(clippy::box_collection)] // one pointer in per-track state, not a Vec's three
    pub(crate) sinks: Mutex<Option<Box<Vec<Watched>>>>,
}

impl Control {
    pub(crate) fn new(intake: Intake) -> Self {
        Self {
            commands: Mailbox::new(),
            intake,
            sinks: Mutex::new(None),
        }
    }
}

impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Control")
            .field("intake", &self.intake)
            .finish_non_exhaustive()
    }
}
