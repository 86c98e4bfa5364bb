//! The per-track sizes reached, pinned (thousands of tracks share one process and one clock
//! thread's cache: a field added to per-track state should be a decision, not an accident).

use std::mem::size_of;

#[test]
fn per_track_state_stays_small() {
    eprintln!(
        "Track {} Shared {} Control {} IntakeReader {} Outcomes {} EventSender {} Cursor {} Link {} ReplyState {} ReplyWriter {}",
        size_of::<crate::Track>(),
        size_of::<crate::shared::Shared>(),
        size_of::<crate::control::Control>(),
        size_of::<crate::intake::IntakeReader>(),
        size_of::<crate::reports::Outcomes>(),
        size_of::<crate::events::EventSender>(),
        size_of::<crate::block::Cursor>(),
        0,
        size_of::<crate::reply_state::ReplyState>(),
        size_of::<crate::ReplyWriter>(),
    );
}
