//! The replies resource: open a reply (with its audio, or streamed in later), append audio,
//! finish, read its state; and the web page's demo reply. The bodies stream through the
//! reply engine (`serve/stream`).

use std::sync::Arc;

use super::shared::St;
use crate::contract::replies::{AudioQuery, FinishQuery, ReplyView};
use crate::serve::error::ApiError;
use crate::serve::intake::{parse_content_type, Converter};
use crate::serve::output::{Intake, ReplySlot};
use crate::serve::stream::{
    find_reply, finish_slot, reply_view, respond, stream_in, BodyReader, Coded,
};
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

impl AudioQuery {
    /// The reply's whole text, if given; an empty one is refused (the document's
    /// `minLength`).
    fn text(&self) -> Result<Option<String>, ApiError> {
        match &self.text {
            Some(t) if t.trim().is_empty() => Err(ApiError::bad_request(
                "bad_text",
                "text: empty; expected the reply's whole text",
            )),
            t => Ok(t.clone()),
        }
    }
}

/// Raw PCM whose declared length is not whole samples is refused before anything changes
/// (a chunked stream can only be judged when it ends).
fn check_length(
    headers: &HeaderMap,
    wire: Option<crate::serve::intake::Wire>,
) -> Result<(), ApiError> {
    let Some(crate::serve::intake::Wire::Raw { channels, .. }) = wire else {
        return Ok(());
    };
    let length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match length {
        Some(n) if n % (2 * channels as u64) != 0 => Err(ApiError::bad_request(
            "partial_sample",
            format!("Content-Length {n} is not a whole number of {channels}-channel 16-bit samples (odd-length PCM); nothing was played"),
        )),
        _ => Ok(()),
    }
}

fn body_is_empty(headers: &HeaderMap) -> bool {
    let length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    length == Some(0) || (length.is_none() && !headers.contains_key(header::TRANSFER_ENCODING))
}

/// Open a reply; stream the body's audio into it (if any), then finish it unless
/// `finish=false`.
pub(super) async fn open_reply(
    State(state): St,
    Path(id): Path<String>,
    Query(q): Query<AudioQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    state.check_accepting()?;
    let output = state.output(&id)?;
    let text = q.text()?;
    let empty = body_is_empty(&headers);
    // Check the content type before anything changes.
    let wire = match headers.get(header::CONTENT_TYPE) {
        None if empty => None,
        ct => Some(parse_content_type(ct.and_then(|v| v.to_str().ok()))?),
    };
    check_length(&headers, wire)?;
    let mut body = BodyReader::new(&state, &output, body);
    // A WAV header (or a compressed stream's headers and first packet) is read and checked
    // before the reply opens, so a bad one changes nothing.
    let mut early = Vec::new();
    let coded = match wire {
        Some(crate::serve::intake::Wire::Coded(c)) => {
            Some(Coded::open(c, &mut body, &output).await?)
        }
        _ => None,
    };
    let converter = match wire {
        Some(w @ crate::serve::intake::Wire::Wav) => {
            let mut c = Converter::new(w, output.handle.format());
            while c.input_layout().is_none() {
                match body.next(&output).await {
                    Ok(Some(chunk)) => c.feed(&chunk, &mut early)?,
                    Ok(None) => {
                        return Err(ApiError::bad_request(
                            "bad_audio",
                            "the WAV stream ended before its header was complete",
                        ))
                    }
                    Err(e) => return Err(e.closing()),
                }
            }
            Some((w, c))
        }
        _ => None,
    };
    let writer = output.handle.open_reply()?;
    let slot = Arc::new(ReplySlot {
        id: writer.id(),
        playback: writer.playback(),
        text: writer.text_marker(),
        intake: tokio::sync::Mutex::new(Some(Intake { writer, converter })),
        finished: Default::default(),
        incomplete: Default::default(),
    });
    output.add_reply(slot.clone());
    output
        .span
        .in_scope(|| tracing::info!(reply = slot.id.0, "reply opened"));
    if let Some(text) = text {
        slot.text.set_text(text)?;
    }
    let finish = q.finish.unwrap_or(!empty);
    let result = match wire {
        Some(wire) => stream_in(&output, &slot, wire, body, early, coded, finish).await,
        None if finish => finish_slot(&slot).await,
        None => Ok(()),
    };
    let wait = q.wait.unwrap_or(false);
    respond(&output, &slot, result, wait, StatusCode::CREATED).await
}

pub(super) async fn append_audio(
    State(state): St,
    Path((id, reply)): Path<(String, u64)>,
    Query(q): Query<AudioQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let output = state.output(&id)?;
    let slot = find_reply(&output, reply)?;
    if let Some(text) = q.text()? {
        slot.text.set_text(text)?;
    }
    let wire = parse_content_type(
        headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
    )?;
    let body = BodyReader::new(&state, &output, body);
    let result = stream_in(
        &output,
        &slot,
        wire,
        body,
        Vec::new(),
        None,
        q.finish.unwrap_or(false),
    )
    .await;
    let wait = q.wait.unwrap_or(false);
    respond(&output, &slot, result, wait, StatusCode::OK).await
}

pub(super) async fn finish_reply(
    State(state): St,
    Path((id, reply)): Path<(String, u64)>,
    Query(q): Query<FinishQuery>,
) -> Result<Response, ApiError> {
    let output = state.output(&id)?;
    let slot = find_reply(&output, reply)?;
    let result = finish_slot(&slot).await;
    let wait = q.wait.unwrap_or(false);
    respond(&output, &slot, result, wait, StatusCode::OK).await
}

pub(super) async fn get_reply(
    State(state): St,
    Path((id, reply)): Path<(String, u64)>,
) -> Result<Json<ReplyView>, ApiError> {
    let output = state.output(&id)?;
    let slot = find_reply(&output, reply)?;
    Ok(Json(reply_view(&output, &slot)))
}

/// What the demo speech says, chunk by chunk at its offset (ms) in the audio, as a TTS
/// engine's alignment would give it (the same marks as `runtime/assets/demo-script.toml`).
const DEMO_MARKS: &[(u32, &str)] = &[
    (0, "Hello!"),
    (850, " I am your voice agent."),
    (2355, " You can interrupt me"),
    (3230, " at any time."),
];

/// The web page's "demo reply": the built-in example speech, streamed like a TTS would,
/// with its text marks.
pub(super) async fn demo_reply(
    State(state): St,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    state.check_accepting()?;
    let o = state.output(&id)?;
    let mut writer = o.handle.open_reply()?;
    let rate = o.handle.format().sample_rate();
    for (at_ms, text) in DEMO_MARKS {
        writer.mark(u64::from(*at_ms) * u64::from(rate) / 1000, text)?;
    }
    let slot = Arc::new(ReplySlot {
        id: writer.id(),
        playback: writer.playback(),
        text: writer.text_marker(),
        intake: tokio::sync::Mutex::new(None),
        finished: true.into(),
        incomplete: Default::default(),
    });
    o.add_reply(slot.clone());
    let samples = state.media.demo.clone();
    let chunk = o.handle.format().frame_len() * 10;
    tokio::spawn(async move {
        for part in samples.chunks(chunk) {
            if writer.push_samples(part).await.is_err() {
                return;
            }
        }
        let _ = writer.finish();
    });
    Ok((StatusCode::CREATED, Json(reply_view(&o, &slot))).into_response())
}
