//! A reply as the control API shows it: found by its number on an output (404 when there is
//! no such reply) and as JSON (state, accepted audio, outcome).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use serde_json::{json, Value};
use voxpace_core::ReplyOutcome;

use crate::serve::error::ApiError;
use crate::serve::output::{Output, ReplySlot};

fn outcome_json(o: &ReplyOutcome) -> Value {
    let mut v = json!({
        "played_samples": o.played_samples,
        "played_ms": o.played.as_secs_f64() * 1000.0,
        "interrupted": o.interrupted,
        "pts": o.pts,
    });
    if let Some(h) = &o.heard {
        v["heard_text"] = h.text.as_str().into();
        v["marks_played"] = h.marks.into();
        v["text_timing"] = crate::events::text_timing(h.timing).into();
    }
    v
}

/// The reply's state (open, finished, played, interrupted), accepted audio and outcome.
pub(crate) fn reply_json(output: &Output, slot: &ReplySlot) -> Value {
    let rate = output.handle.format().sample_rate() as f64;
    let outcome = slot.playback.outcome();
    let state = match &outcome {
        Some(o) if o.interrupted => "interrupted",
        Some(_) => "played",
        None if slot.finished.load(Ordering::Acquire) => "finished",
        None => "open",
    };
    json!({
        "output": output.id,
        "reply": slot.id.0,
        "state": state,
        "accepted_ms": slot.playback.accepted() as f64 * 1000.0 / rate,
        "incomplete": slot.incomplete.load(Ordering::Acquire),
        "outcome": outcome.as_ref().map(outcome_json),
    })
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
