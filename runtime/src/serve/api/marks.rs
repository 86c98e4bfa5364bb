//! A reply's text over HTTP: `POST /v1/outputs/{id}/replies/{n}/marks` adds text marks
//! (pieces of text at media offsets, as a TTS engine's alignment gives them) and/or the
//! reply's whole text (for an estimate of what was heard when there are no timings).
//!
//! Marks go in before the audio that carries them: send a chunk's marks, then its audio.
//! They take no part in the audio intake's one-request-at-a-time rule, so marks may arrive
//! while another request is still streaming the reply's audio.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;

use super::shared::St;
use crate::contract::replies::{MarksBody, ReplyView};
use crate::marks;
use crate::serve::error::ApiError;
use crate::serve::stream::{find_reply, reply_view};

const SHAPE: &str = r#"[{"at_ms": 0, "text": "Hello"}, {"at_ms": 420, "text": " there"}] or {"marks": [...], "rate": 16000, "text": "the whole text"}"#;

pub(super) async fn add_marks(
    State(state): St,
    Path((id, reply)): Path<(String, u64)>,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<ReplyView>), ApiError> {
    let output = state.output(&id)?;
    let slot = find_reply(&output, reply)?;
    // Read against the document's schema; a bare list's items are named `marks[i]`.
    let body: MarksBody =
        crate::contract::strict::parse(&body, "MarksBody", "marks").map_err(|p| {
            if p.out_of_range {
                ApiError::bad_request("bad_marks", p.to_string())
            } else {
                ApiError::bad_request("bad_json", format!("{p}; expected {SHAPE}"))
            }
        })?;
    let (specs, rate, text) = match body {
        MarksBody::Marks(m) => (m, None, None),
        MarksBody::Text(t) => (t.marks, t.rate, t.text),
    };
    let out_rate = output.handle.format().sample_rate();
    let rate = rate.unwrap_or(out_rate);
    if !(1_000..=192_000).contains(&rate) {
        return Err(ApiError::bad_request(
            "bad_marks",
            format!("rate {rate}: expected the sample rate at_samples count in, 1000 to 192000"),
        ));
    }
    let marks = marks::convert(&specs, rate, out_rate)
        .map_err(|p| ApiError::bad_request("bad_marks", marks::describe(&p)))?;
    if let Some(t) = &text {
        if t.trim().is_empty() {
            return Err(ApiError::bad_request(
                "bad_marks",
                "text is empty: expected the reply's whole text",
            ));
        }
    }
    // Marks are in order, so only the first can be refused (behind the audio already
    // accepted, or before an earlier mark): a refused request adds nothing.
    for m in &marks {
        slot.text.mark(m.offset, &m.text)?;
    }
    if let Some(t) = text {
        slot.text.set_text(t)?;
    }
    Ok((StatusCode::OK, Json(reply_view(&output, &slot))))
}
