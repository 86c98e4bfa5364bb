//! The per-track sizes reached, pinned: thousands of tracks share one process and one
//! clock thread's cache, so a field added to per-track state should be a decision, not an
//! accident. An idle track is its `Track` (inline where the renderer keeps it) and one
//! allocation (`Control`, with `Shared` inside, behind an `Arc`: 16 bytes of counts, and
//! glibc's 8-byte header rounded to 16): 200 + 272 = 472 bytes on x86_64 Linux. Raise a
//! figure here only on purpose, and say why in the commit.

use std::mem::size_of;

use crate::control::Control;
use crate::shared::Shared;

/// What glibc's malloc takes for a request of `n` bytes (a chunk header, 16-byte rounding).
fn chunk(n: usize) -> usize {
    (n + 8).div_ceil(16) * 16
}

#[test]
#[cfg(target_pointer_width = "64")]
fn per_track_state_stays_small() {
    assert!(
        size_of::<crate::Track>() <= 200,
        "{}",
        size_of::<crate::Track>()
    );
    assert!(size_of::<Shared>() <= 176, "{}", size_of::<Shared>());
    // `Arc` adds its two counts to the one allocation per track.
    let control = chunk(16 + size_of::<Control>());
    assert!(control <= 272, "{control}");
    assert!(size_of::<crate::Track>() + control <= 472);
}

#[test]
#[cfg(target_pointer_width = "64")]
fn what_a_track_holding_speech_adds_stays_small() {
    // The frame side's place in the intake: a ring link, positions, a cursor.
    assert!(size_of::<crate::block::Cursor>() <= 32);
    assert!(size_of::<crate::intake::IntakeReader>() <= 56);
    // One reply's state: the writer's, the frame side's and every `Playback`'s.
    assert!(size_of::<crate::reply_state::ReplyState>() <= 168);
}
