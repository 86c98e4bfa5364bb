//! The reply-streaming engine: a request body's audio into a reply's writer. PCM and WAV
//! go through the intake's converter, compressed formats through a stream decoder
//! (`coded.rs`); the body is read against real time (`body.rs`); a body cut short ends its
//! reply with what arrived (`reply_incomplete`). One request streams into a reply at a time
//! (`take_intake`), and `respond` answers with where the reply stands.

mod body;
mod coded;
mod reply;

use std::sync::atomic::Ordering;

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use voxpace_core::Playback;

use crate::contract::error::ApiKind;
use crate::contract::events::{ReplyIncomplete, StreamEvent};
use crate::serve::error::{ApiError, Stop};
use crate::serve::intake::Converter;
use crate::serve::output::{Intake, Output, ReplySlot};
pub(crate) use body::BodyReader;
pub(crate) use coded::Coded;
pub(crate) use reply::{find_reply, reply_view};

pub(crate) async fn respond(
    output: &Output,
    slot: &ReplySlot,
    result: Result<(), ApiError>,
    wait: bool,
    status: StatusCode,
) -> Result<Response, ApiError> {
    if let Err(e) = result {
        // The error names what was refused; the body also says where the reply stands.
        let mut body = serde_json::to_value(reply_view(output, slot)).unwrap_or_default();
        let error = serde_json::to_value(e.body()).unwrap_or_default();
        if let (Some(body), Some(error)) = (body.as_object_mut(), error.as_object()) {
            body.extend(error.clone());
        }
        let mut response = (e.status, Json(body)).into_response();
        if e.close {
            // The rest of the body was not read: this connection carries no next request.
            response.headers_mut().insert(
                header::CONNECTION,
                header::HeaderValue::from_static("close"),
            );
        }
        return Ok(response);
    }
    if wait && slot.finished.load(Ordering::Acquire) {
        let playback: Playback = slot.playback.clone();
        let _ = playback.await;
    }
    Ok((status, Json(reply_view(output, slot))).into_response())
}

/// Take the reply's intake for this request (one request at a time).
async fn take_intake(
    slot: &ReplySlot,
) -> Result<tokio::sync::MutexGuard<'_, Option<Intake>>, ApiError> {
    let guard = slot.intake.try_lock().map_err(|_| {
        ApiError::conflict(
            ApiKind::Retryable,
            "reply_busy",
            format!(
                "another request is streaming audio into reply {}",
                slot.id.0
            ),
        )
    })?;
    if guard.is_none() {
        let e = match slot.playback.outcome() {
            Some(o) if o.interrupted => voxpace_core::Error::ReplyInterrupted(slot.id),
            _ => voxpace_core::Error::ReplyFinished(slot.id),
        };
        return Err(e.into());
    }
    Ok(guard)
}

pub(crate) async fn stream_in(
    output: &Output,
    slot: &ReplySlot,
    wire: crate::serve::intake::Wire,
    mut body: BodyReader,
    early: Vec<i16>,
    coded: Option<Coded>,
    finish: bool,
) -> Result<(), ApiError> {
    let mut guard = take_intake(slot).await?;
    let intake = guard.as_mut().expect("checked by take_intake");
    let format = output.handle.format();
    if let crate::serve::intake::Wire::Coded(_) = wire {
        // Each compressed body is a whole stream of its own (coded.rs).
        intake.converter = None;
    } else if intake.converter.as_ref().is_none_or(|(w, _)| *w != wire) {
        intake.converter = Some((wire, Converter::new(wire, format)));
    }
    let mut samples = Vec::new();
    let ch = format.channels() as u64;
    let result: Result<(), ApiError> = async {
        let converter = match (wire, intake.converter.as_mut()) {
            (crate::serve::intake::Wire::Coded(c), _) => {
                let coded = match coded {
                    Some(coded) => coded,
                    None => Coded::open(c, &mut body, output).await?,
                };
                return coded
                    .stream_into(&mut intake.writer, &mut body, output)
                    .await;
            }
            (_, Some((_, converter))) => converter,
            (_, None) => {
                return Err(ApiError::internal(
                    "internal",
                    "no converter for a PCM body",
                ))
            }
        };
        if !early.is_empty() {
            intake.writer.push_samples(&early).await?;
            body.credit(early.len() as u64 / ch);
        }
        while let Some(chunk) = body.next(output).await? {
            samples.clear();
            converter.feed(&chunk, &mut samples)?;
            if !samples.is_empty() {
                intake.writer.push_samples(&samples).await?;
                body.credit(samples.len() as u64 / ch);
            }
        }
        if !finish {
            converter.end_of_body();
        }
        if finish {
            samples.clear();
            let tail = converter.finish(&mut samples);
            if !samples.is_empty() {
                intake.writer.push_samples(&samples).await?;
            }
            tail?;
        }
        Ok(())
    }
    .await;
    // A body that stalled or broke mid-stream: the reply ends with what arrived.
    let cut_short = match &result {
        Err(ApiError {
            stop: Some(stop @ (Stop::BodyTimeout | Stop::Damaged)),
            ..
        }) => Some(stop.code()),
        Err(_) | Ok(()) => None,
    };
    let stalled = cut_short.is_some();
    if let Some(reason) = cut_short {
        // Said before the reply is finished, so it precedes the reply's playback_finished.
        slot.incomplete.store(true, Ordering::Release);
        let rate = format.sample_rate() as f64;
        let event = StreamEvent::ReplyIncomplete(ReplyIncomplete {
            reply: slot.id.0,
            reason: reason.to_owned(),
            accepted_ms: slot.playback.accepted() as f64 * 1000.0 / rate,
        });
        output.span.in_scope(|| {
            tracing::warn!(
                reply = slot.id.0,
                reason,
                "reply body cut short; the reply ends with what arrived"
            )
        });
        output.events.send(&event);
    }
    // The reply is over (interrupted, finished, its output ended): it takes no more.
    let refused = matches!(&result, Err(e) if e.kind == ApiKind::ReplyTerminal);
    if finish || refused || stalled {
        // Everything accepted plays; the reply takes no more audio.
        if let Some(intake) = guard.take() {
            let _ = intake.writer.finish();
        }
        slot.finished.store(true, Ordering::Release);
    }
    result
}

pub(crate) async fn finish_slot(slot: &ReplySlot) -> Result<(), ApiError> {
    let mut guard = take_intake(slot).await?;
    let intake = guard.take().expect("checked by take_intake");
    slot.finished.store(true, Ordering::Release);
    let mut tail = Vec::new();
    let mut writer = intake.writer;
    let leftover = match intake.converter {
        Some((_, mut c)) => {
            let r = c.finish(&mut tail);
            if !tail.is_empty() {
                writer.push_samples(&tail).await?;
            }
            r
        }
        None => Ok(()),
    };
    writer.finish()?;
    leftover
}
