//! The HTTP routes of `voxpace serve` (described in `openapi.rs`).

use std::convert::Infallible;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::{Stream, StreamExt};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::broadcast::error::RecvError;
use voxpace_core::Playback;

use super::body::{BodyReader, BODY_TIMEOUT};
use super::coded::Coded;
use super::intake::{parse_content_type, Converter};
use super::output::{Intake, Output, ReplySlot};
use super::replies::{find_reply, reply_json};
use super::{ApiError, AppState};

type St = State<Arc<AppState>>;

const PAGE: &str = include_str!("../../web/index.html");

pub(crate) fn router(state: Arc<AppState>) -> Router {
    let api = Router::new()
        .route("/v1/outputs", get(list_outputs).post(create_output))
        .route("/v1/outputs/{id}", get(get_output).delete(delete_output))
        .route("/v1/outputs/{id}/replies", post(open_reply))
        .route("/v1/outputs/{id}/replies/{reply}", get(get_reply))
        .route("/v1/outputs/{id}/replies/{reply}/audio", post(append_audio))
        .route(
            "/v1/outputs/{id}/replies/{reply}/finish",
            post(finish_reply),
        )
        .route(
            "/v1/outputs/{id}/replies/{reply}/marks",
            post(super::text::add_marks),
        )
        .route("/v1/outputs/{id}/interrupt", post(interrupt))
        .route("/v1/outputs/{id}/pause", post(pause))
        .route("/v1/outputs/{id}/resume", post(resume))
        .route("/v1/outputs/{id}/enable-input", post(enable_input))
        .route(
            "/v1/outputs/{id}/background",
            get(get_background).put(put_background),
        )
        .route("/v1/outputs/{id}/clips/{name}", post(fire_clip))
        .route("/v1/outputs/{id}/demo", post(demo_reply))
        .route("/v1/outputs/{id}/events", get(events))
        .route("/v1/outputs/{id}/audio", get(monitor));
    #[allow(unused_mut)]
    let mut app = Router::new()
        .route("/", get(|| async { Html(PAGE) }))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(super::publish::readyz))
        .route(
            "/openapi.json",
            get(|| async { Json(super::openapi::document()) }),
        )
        .route("/metrics", get(metrics))
        .route("/v1/info", get(info))
        .merge(api);
    #[cfg(feature = "webrtc")]
    if let (Some(whep), None) = (&state.whep, state.config.transport.whep_listen) {
        app = app.nest_service("/whep", whep.router());
    }
    guarded(app.fallback(no_route), state)
}

/// The layers every listener's routes get: the token rule (`auth`) and the JSON error shape.
pub(crate) fn guarded(app: Router<Arc<AppState>>, state: Arc<AppState>) -> Router {
    app.layer(middleware::from_fn_with_state(
        state.clone(),
        super::auth::check,
    ))
    .layer(middleware::map_response(json_errors))
    .with_state(state)
}

async fn no_route(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::not_found(
        "not_found",
        format!("no route {method} {}; see /openapi.json", uri.path()),
    )
}

/// Every 4xx/5xx answers `{error, message}`: what axum's extractors (a bad path or query),
/// its method router (405) or a nested service answered otherwise is wrapped, its text kept
/// as the message.
async fn json_errors(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 16 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let code = match status {
        StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY => "bad_request",
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::TOO_MANY_REQUESTS => "too_many_requests",
        StatusCode::SERVICE_UNAVAILABLE => "busy",
        s if s.is_client_error() => "bad_request",
        _ => "internal",
    };
    let message = if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_string()
    } else {
        text
    };
    let body = json!({ "error": code, "message": message }).to_string();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, Body::from(body))
}

async fn info(State(state): St) -> Json<Value> {
    let c = &state.config;
    Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "format": { "sample_rate": c.format.sample_rate(), "channels": c.format.channels(), "frame_ms": c.format.frame_ms() },
        "outputs": state.outputs.read().unwrap_or_else(|e| e.into_inner()).keys().cloned().collect::<Vec<_>>(),
        "clips": c.clips.keys().collect::<Vec<_>>(),
        "whep": cfg!(feature = "webrtc") && c.transport.whep,
        "auth": !c.server.tokens.is_empty(),
        "publish": state.outputs_snapshot().iter()
            .filter(|o| !o.publish_json().is_null())
            .map(|o| (o.id.clone(), o.publish_json()))
            .collect::<serde_json::Map<_, _>>(),
    }))
}

fn output_json(o: &Output) -> Value {
    let s = o.handle.stats();
    json!({
        "id": o.id,
        "speaking": o.handle.is_speaking(),
        "paused": o.handle.is_paused(),
        "buffered_ms": o.handle.buffered().as_millis() as u64,
        "level": { "peak": o.meter.peak.load(Ordering::Relaxed), "rms": o.meter.rms.load(Ordering::Relaxed) },
        "background": background_json(o),
        "stats": {
            "frames": s.frames, "speech_frames": s.speech_frames, "underruns": s.underruns,
            "late_frames": s.late_frames, "sink_drops": s.sink_drops,
            "replies_completed": s.replies_completed, "replies_interrupted": s.replies_interrupted,
        },
        "uptime_ms": o.created.elapsed().as_millis() as u64,
        "publish": o.publish_json(),
    })
}

async fn list_outputs(State(state): St) -> Json<Value> {
    let outputs = state.outputs.read().unwrap_or_else(|e| e.into_inner());
    Json(json!({ "outputs": outputs.values().map(|o| output_json(o)).collect::<Vec<_>>() }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateOutput {
    id: String,
}

async fn create_output(State(state): St, body: Body) -> Result<Response, ApiError> {
    let body = small_body(&state, body).await?;
    let req: CreateOutput = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request("bad_json", format!("expected {{\"id\": \"name\"}}: {e}"))
    })?;
    let o = state.create_output(&req.id)?;
    Ok((StatusCode::CREATED, Json(output_json(&o))).into_response())
}

async fn get_output(State(state): St, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let o = state.output(&id)?;
    Ok(Json(output_json(&o)))
}

async fn delete_output(State(state): St, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let o = state.end_output(&id, state.settle_time()).await?;
    Ok(Json(json!({ "id": o.id, "ended": true })))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AudioQuery {
    /// Finish the reply when this request's body ends.
    finish: Option<bool>,
    /// With finish: answer only once the reply has been played (or interrupted).
    wait: Option<bool>,
    /// The reply's whole text (no timings: its heard part is estimated); exact text marks
    /// go to `POST .../replies/{n}/marks`.
    text: Option<String>,
}

/// Raw PCM whose declared length is not whole samples is refused before anything changes
/// (a chunked stream can only be judged when it ends).
fn check_length(headers: &HeaderMap, wire: Option<super::intake::Wire>) -> Result<(), ApiError> {
    let Some(super::intake::Wire::Raw { channels, .. }) = wire else {
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
async fn open_reply(
    State(state): St,
    Path(id): Path<String>,
    Query(q): Query<AudioQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    state.check_accepting()?;
    let output = state.output(&id)?;
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
        Some(super::intake::Wire::Coded(c)) => Some(Coded::open(c, &mut body, &output).await?),
        _ => None,
    };
    let converter = match wire {
        Some(w @ super::intake::Wire::Wav) => {
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
    if let Some(text) = q.text.clone() {
        slot.text.set_text(text)?;
    }
    let finish = q.finish.unwrap_or(!empty);
    let result = match wire {
        Some(wire) => stream_in(&output, &slot, wire, body, early, coded, finish).await,
        None if finish => finish_slot(&slot).await,
        None => Ok(()),
    };
    respond(
        &output,
        &slot,
        result,
        q.wait.unwrap_or(false),
        StatusCode::CREATED,
    )
    .await
}

async fn append_audio(
    State(state): St,
    Path((id, reply)): Path<(String, u64)>,
    Query(q): Query<AudioQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let output = state.output(&id)?;
    let slot = find_reply(&output, reply)?;
    if let Some(text) = q.text.clone() {
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
    respond(
        &output,
        &slot,
        result,
        q.wait.unwrap_or(false),
        StatusCode::OK,
    )
    .await
}

async fn finish_reply(
    State(state): St,
    Path((id, reply)): Path<(String, u64)>,
    Query(q): Query<AudioQuery>,
) -> Result<Response, ApiError> {
    let output = state.output(&id)?;
    let slot = find_reply(&output, reply)?;
    let result = finish_slot(&slot).await;
    respond(
        &output,
        &slot,
        result,
        q.wait.unwrap_or(false),
        StatusCode::OK,
    )
    .await
}

async fn get_reply(
    State(state): St,
    Path((id, reply)): Path<(String, u64)>,
) -> Result<Json<Value>, ApiError> {
    let output = state.output(&id)?;
    let slot = find_reply(&output, reply)?;
    Ok(Json(reply_json(&output, &slot)))
}

async fn respond(
    output: &Output,
    slot: &ReplySlot,
    result: Result<(), ApiError>,
    wait: bool,
    status: StatusCode,
) -> Result<Response, ApiError> {
    if let Err(e) = result {
        // The error names what was refused; the body also says where the reply stands.
        let mut body = reply_json(output, slot);
        body["error"] = e.code.into();
        body["message"] = e.message.into();
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
    Ok((status, Json(reply_json(output, slot))).into_response())
}

/// Take the reply's intake for this request (one request at a time).
async fn take_intake(
    slot: &ReplySlot,
) -> Result<tokio::sync::MutexGuard<'_, Option<Intake>>, ApiError> {
    let guard = slot.intake.try_lock().map_err(|_| {
        ApiError::conflict(
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

async fn stream_in(
    output: &Output,
    slot: &ReplySlot,
    wire: super::intake::Wire,
    mut body: BodyReader,
    early: Vec<i16>,
    coded: Option<Coded>,
    finish: bool,
) -> Result<(), ApiError> {
    let mut guard = take_intake(slot).await?;
    let intake = guard.as_mut().expect("checked by take_intake");
    let format = output.handle.format();
    if let super::intake::Wire::Coded(_) = wire {
        // Each compressed body is a whole stream of its own (coded.rs).
        intake.converter = None;
    } else if intake.converter.as_ref().is_none_or(|(w, _)| *w != wire) {
        intake.converter = Some((wire, Converter::new(wire, format)));
    }
    let mut samples = Vec::new();
    let ch = format.channels() as u64;
    let result: Result<(), ApiError> = async {
        let converter = match (wire, intake.converter.as_mut()) {
            (super::intake::Wire::Coded(c), _) => {
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
                return Err(ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
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
        Err(e) if e.code == BODY_TIMEOUT || e.code == super::coded::DAMAGED => Some(e.code),
        _ => None,
    };
    let stalled = cut_short.is_some();
    if let Some(reason) = cut_short {
        // Said before the reply is finished, so it precedes the reply's playback_finished.
        slot.incomplete.store(true, Ordering::Release);
        let rate = format.sample_rate() as f64;
        let data = json!({
            "type": "reply_incomplete",
            "reply": slot.id.0,
            "reason": reason,
            "accepted_ms": slot.playback.accepted() as f64 * 1000.0 / rate,
        });
        output.span.in_scope(|| {
            tracing::warn!(
                reply = slot.id.0,
                reason,
                "reply body cut short; the reply ends with what arrived"
            )
        });
        let _ = output.events.send(Arc::new(super::output::EventMsg {
            seq: 0,
            name: "reply_incomplete",
            data: data.to_string(),
        }));
    }
    let refused = matches!(
        &result,
        Err(e) if e.code == "reply_interrupted" || e.code == "reply_finished" || e.code == "output_ended"
    );
    if finish || refused || stalled {
        // Everything accepted plays; the reply takes no more audio.
        if let Some(intake) = guard.take() {
            let _ = intake.writer.finish();
        }
        slot.finished.store(true, Ordering::Release);
    }
    result
}

/// A small (JSON) request body, read whole within `server.body_idle_timeout_ms`.
async fn small_body(state: &AppState, body: Body) -> Result<bytes::Bytes, ApiError> {
    const LIMIT: usize = 64 * 1024;
    let idle = state.config.server.body_idle_timeout;
    match tokio::time::timeout(idle, axum::body::to_bytes(body, LIMIT)).await {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(e)) => Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body",
            format!("reading the request body (at most {LIMIT} bytes): {e}"),
        )
        .closing()),
        Err(_) => Err(ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            BODY_TIMEOUT,
            format!(
                "the request body did not arrive within {} ms (server.body_idle_timeout_ms)",
                idle.as_millis()
            ),
        )
        .closing()),
    }
}

async fn finish_slot(slot: &ReplySlot) -> Result<(), ApiError> {
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

async fn interrupt(State(state): St, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let o = state.output(&id)?;
    let through = o.handle.interrupt().map(|r| r.0);
    o.span.in_scope(|| tracing::info!(?through, "interrupted"));
    Ok(Json(
        json!({ "output": id, "interrupted_through": through }),
    ))
}

async fn pause(State(state): St, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let o = state.output(&id)?;
    o.handle.pause();
    Ok(Json(json!({ "output": id, "paused": true })))
}

async fn resume(State(state): St, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let o = state.output(&id)?;
    o.handle.resume();
    Ok(Json(json!({ "output": id, "paused": false })))
}

/// Re-open intake after an interrupt when `output.manual_input` is set.
async fn enable_input(State(state): St, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let o = state.output(&id)?;
    o.handle.enable_input(state.config.track.manual_input);
    Ok(Json(json!({ "output": id, "input": "open" })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BackgroundChange {
    /// Background level in dB (-90 to +12).
    gain_db: Option<f32>,
    /// Play (true) or stop (false) the configured background.
    enabled: Option<bool>,
}

/// `enabled`: the music is wanted; `playing`: it really plays (a file played once has ended,
/// or it failed, when `enabled` is true but `playing` false).
fn background_json(o: &Output) -> Value {
    json!({ "enabled": o.bus.is_enabled(), "playing": o.bus.is_playing(), "gain_db": o.bus.gain_db() })
}

async fn get_background(State(state): St, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let o = state.output(&id)?;
    Ok(Json(background_json(&o)))
}

async fn put_background(
    State(state): St,
    Path(id): Path<String>,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let o = state.output(&id)?;
    let body = small_body(&state, body).await?;
    let change: BackgroundChange = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(
            "bad_json",
            format!("expected {{\"gain_db\": -12.0, \"enabled\": true}}: {e}"),
        )
    })?;
    if let Some(g) = change.gain_db {
        if !(g.is_finite() && (-90.0..=12.0).contains(&g)) {
            return Err(ApiError::bad_request(
                "bad_gain",
                format!("gain_db {g}: expected -90 to +12 dB"),
            ));
        }
    }
    let busy = |e: crate::Error| {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "background", e.to_string())
    };
    if change.enabled == Some(true) && state.config.background.is_none() {
        return Err(ApiError::conflict(
            "no_background",
            "the configuration has no [background] to enable",
        ));
    }
    if let Some(g) = change.gain_db {
        o.bus.set_gain_db(g).map_err(busy)?;
    }
    if let Some(on) = change.enabled {
        if on != o.bus.is_enabled() {
            o.bus.set_enabled(on).map_err(busy)?;
        }
    }
    Ok(Json(background_json(&o)))
}

async fn fire_clip(
    State(state): St,
    Path((id, name)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let o = state.output(&id)?;
    let clip = state.config.clips.get(&name).ok_or_else(|| {
        ApiError::not_found(
            "unknown_clip",
            format!(
                "no clip {name:?}; configured: {}",
                state
                    .config
                    .clips
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
    })?;
    o.bus
        .clip(clip)
        .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "busy", e.to_string()))?;
    Ok(Json(json!({ "output": id, "clip": name })))
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
async fn demo_reply(State(state): St, Path(id): Path<String>) -> Result<Response, ApiError> {
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
    Ok((StatusCode::CREATED, Json(reply_json(&o, &slot))).into_response())
}

/// Live events as server-sent events. Ends when the output ends or the server shuts down.
async fn events(
    State(state): St,
    Path(id): Path<String>,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    let o = state.output(&id)?;
    // A late subscriber hears the current publish state first.
    let (rx, publish_state) = o.subscribe_events();
    let stop = state.shutdown.subscribe();
    drop(o);
    let hello = SseEvent::default()
        .event("hello")
        .data(json!({ "type": "hello", "output": id }).to_string());
    let stream =
        futures_util::stream::unfold((rx, stop, false), |(mut rx, mut stop, ended)| async move {
            if ended {
                return None;
            }
            // On shutdown, deliver what is already queued (e.g. output_ended), then end.
            let next = if *stop.borrow() {
                rx.try_recv().ok().map(Ok)?
            } else {
                tokio::select! {
                    biased;
                    r = rx.recv() => r,
                    _ = stop.wait_for(|s| *s) => rx.try_recv().ok().map(Ok)?,
                }
            };
            match next {
                Ok(msg) => {
                    let mut ev = SseEvent::default().event(msg.name).data(msg.data.clone());
                    if msg.seq != u64::MAX {
                        ev = ev.id(msg.seq.to_string());
                    }
                    let end = msg.name == "output_ended";
                    Some((Ok(ev), (rx, stop, end)))
                }
                Err(RecvError::Lagged(n)) => {
                    let ev = SseEvent::default()
                        .event("lagged")
                        .data(json!({ "type": "lagged", "missed": n }).to_string());
                    Some((Ok(ev), (rx, stop, false)))
                }
                Err(RecvError::Closed) => None,
            }
        });
    let publish_state = publish_state.map(|m| {
        Ok(SseEvent::default()
            .event(m.name)
            .data(m.data.clone())
            .id(m.seq.to_string()))
    });
    let stream =
        futures_util::stream::iter(std::iter::once(Ok(hello)).chain(publish_state)).chain(stream);
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// The output's mixed audio, live, as a WAV stream (for listeners without WebRTC, and for
/// checking what an output sounds like with curl).
async fn monitor(State(state): St, Path(id): Path<String>) -> Result<Response, ApiError> {
    let o = state.output(&id)?;
    let (rx, slot) = o.monitor().ok_or_else(|| {
        ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "monitors_busy",
            "all live-audio monitor slots of this output are in use",
        )
    })?;
    let format = o.handle.format();
    let monitor = Monitor {
        header: Some(wav_stream_header(format.sample_rate(), format.channels())),
        rx,
        _slot: slot,
        stop: state.shutdown.subscribe(),
        alive: o.alive.clone(),
        frame: format.frame_duration(),
    };
    drop(o);
    let body = futures_util::stream::unfold(monitor, |mut m| async move {
        if let Some(h) = m.header.take() {
            return Some((Ok::<_, Infallible>(bytes::Bytes::from(h)), m));
        }
        loop {
            if *m.stop.borrow() {
                return None;
            }
            let n = m.rx.slots();
            if n > 0 {
                let mut out = Vec::with_capacity(n * 2);
                if let Ok(chunk) = m.rx.read_chunk(n) {
                    for s in chunk {
                        out.extend_from_slice(&s.to_le_bytes());
                    }
                }
                return Some((Ok(bytes::Bytes::from(out)), m));
            }
            if !m.alive.load(Ordering::Acquire) {
                return None;
            }
            tokio::time::sleep(m.frame).await;
        }
    });
    Ok((
        [
            (header::CONTENT_TYPE, "audio/wav"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        Body::from_stream(body),
    )
        .into_response())
}

/// State of one live-audio stream.
struct Monitor {
    header: Option<Vec<u8>>,
    rx: rtrb::Consumer<i16>,
    _slot: super::output::MonitorSlot,
    stop: tokio::sync::watch::Receiver<bool>,
    alive: Arc<std::sync::atomic::AtomicBool>,
    frame: Duration,
}

/// A WAV header for a stream of unknown length (sizes at their maximum, as streaming
/// players expect).
fn wav_stream_header(rate: u32, channels: u16) -> Vec<u8> {
    let mut h = Vec::with_capacity(44);
    h.extend_from_slice(b"RIFF");
    h.extend_from_slice(&u32::MAX.to_le_bytes());
    h.extend_from_slice(b"WAVEfmt ");
    h.extend_from_slice(&16u32.to_le_bytes());
    h.extend_from_slice(&1u16.to_le_bytes());
    h.extend_from_slice(&channels.to_le_bytes());
    h.extend_from_slice(&rate.to_le_bytes());
    h.extend_from_slice(&(rate * 2 * channels as u32).to_le_bytes());
    h.extend_from_slice(&(2 * channels).to_le_bytes());
    h.extend_from_slice(&16u16.to_le_bytes());
    h.extend_from_slice(b"data");
    h.extend_from_slice(&(u32::MAX - 36).to_le_bytes());
    h
}

async fn metrics(State(state): St) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        super::metrics::render(&state),
    )
}
