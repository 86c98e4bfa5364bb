//! A reply as the control API shows it: found by its number on an output (404 when there is
//! no such reply) and as its view (state, accepted audio, outcome).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use voxpace_core::ReplyOutcome;

use crate::contract::replies::{OutcomeView, ReplyState, ReplyView};
use crate::serve::error::ApiError;
use crate::serve::output::{Output, ReplySlot};

fn outcome_view(o: &ReplyOutcome) -> OutcomeView {
    OutcomeView {
        played_samples: o.played_samples,
        played_ms: o.played.as_secs_f64() * 1000.0,
        interrupted: o.interrupted,
        pts: o.pts,
        heard_text: o.heard.as_ref().map(|h| h.text.clone()),
        marks_played: o.heard.as_ref().map(|h| h.marks as u64),
        text_timing: o
            .heard
            .as_ref()
            .map(|h| crate::events::text_timing(h.timing).to_owned()),
    }
}

/// The reply's state (open, finished, played, interrupted), accepted audio and outcome.
pub(crate) fn reply_view(output: &Output, slot: &ReplySlot) -> ReplyView {
    let rate = output.handle.format().sample_rate() as f64;
    let outcome = slot.playback.outcome();
    let state = match &outcome {
        Some(o) if o.interrupted => ReplyState::Interrupted,
        Some(_) => ReplyState::Played,
        None if slot.finished.load(Ordering::Acquire) => ReplyState::Finished,
        None => ReplyState::Open,
    };
    ReplyView {
        output: output.id.clone(),
        reply: slot.id.0,
        state,
        accepted_ms: slot.playback.accepted() as f64 * 1000.0 / rate,
        incomplete: slot.incomplete.load(Ordering::Acquire),
        outcome: outcome.as_ref().map(outcome_view),
    }
}

/// Reply `reply` of `output`, or a 404 naming both.
pub(crate) fn find_reply(output: &Output, reply: u64) -> Result<Arc<ReplySlot>, ApiError> {
    output.reply(reply).ok_or_else(|| {
        ApiError::not_found(
            "unknown_reply",
            format!("agent output {:?} has no reply {reply}", output.id),
        )
    })
}
