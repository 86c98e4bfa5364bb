//! The HTTP routes of `voxpace serve` (described in `openapi.rs`).

use std::convert::Infallible;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::{Stream, StreamExt};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::broadcast::error::RecvError;
use voxpace_core::{Playback, ReplyOutcome};

use super::intake::{parse_content_type, Converter};
use super::output::{Intake, Output, ReplySlot};
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
        .route("/v1/outputs/{id}/audio", get(monitor))
        .layer(middleware::from_fn_with_state(state.clone(), auth));
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
    app.with_state(state)
}

/// Bearer-token check for the control API (`server.tokens`); EventSource and `<audio>`
/// cannot set headers, so `?access_token=` is accepted too.
async fn auth(State(state): St, req: Request, next: Next) -> Response {
    let tokens = &state.config.server.tokens;
    if tokens.is_empty() {
        return next.run(req).await;
    }
    let bearer = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    let query = req.uri().query().and_then(|q| {
        q.split('&')
            .find_map(|kv| kv.strip_prefix("access_token="))
            .map(str::to_owned)
    });
    match bearer.or(query) {
        Some(t) if tokens.contains(&t) => next.run(req).await,
        _ => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "this server requires `Authorization: Bearer <token>` (server.tokens)",
        )
        .into_response(),
    }
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
        "background": { "enabled": o.bus.is_enabled(), "gain_db": o.bus.gain_db() },
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

async fn create_output(State(state): St, body: axum::body::Bytes) -> Result<Response, ApiError> {
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
    let o = state.end_output(&id)?;
    Ok(Json(json!({ "id": o.id, "ended": true })))
}

fn outcome_json(o: &ReplyOutcome) -> Value {
    json!({
        "played_samples": o.played_samples,
        "played_ms": o.played.as_secs_f64() * 1000.0,
        "interrupted": o.interrupted,
        "pts": o.pts,
    })
}

fn reply_json(output: &Output, slot: &ReplySlot) -> Value {
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
        "accepted_ms": slot.accepted.load(Ordering::Relaxed) as f64 * 1000.0 / rate,
        "outcome": outcome.as_ref().map(outcome_json),
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AudioQuery {
    /// Finish the reply when this request's body ends.
    finish: Option<bool>,
    /// With finish: answer only once the reply has been played (or interrupted).
    wait: Option<bool>,
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
    let mut stream = body.into_data_stream();
    // A WAV header is read and checked before the reply opens, so a bad one changes nothing.
    let mut early = Vec::new();
    let converter = match wire {
        Some(w @ super::intake::Wire::Wav) => {
            let mut c = Converter::new(w, output.handle.format());
            while c.input_layout().is_none() {
                match stream.next().await {
                    Some(Ok(chunk)) => c.feed(&chunk, &mut early)?,
                    Some(Err(e)) => {
                        return Err(ApiError::bad_request(
                            "body",
                            format!("reading the request body: {e}"),
                        ))
                    }
                    None => {
                        return Err(ApiError::bad_request(
                            "bad_audio",
                            "the WAV stream ended before its header was complete",
                        ))
                    }
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
        intake: tokio::sync::Mutex::new(Some(Intake { writer, converter })),
        accepted: Default::default(),
        finished: Default::default(),
    });
    output.add_reply(slot.clone());
    output
        .span
        .in_scope(|| tracing::info!(reply = slot.id.0, "reply opened"));
    let finish = q.finish.unwrap_or(!empty);
    let result = match wire {
        Some(wire) => stream_in(&output, &slot, wire, stream, early, finish).await,
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
    let wire = parse_content_type(
        headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
    )?;
    let stream = body.into_data_stream();
    let result = stream_in(
        &output,
        &slot,
        wire,
        stream,
        Vec::new(),
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

fn find_reply(output: &Output, reply: u64) -> Result<Arc<ReplySlot>, ApiError> {
    output.reply(reply).ok_or_else(|| {
        ApiError::not_found(
            "unknown_reply",
            format!("agent output {:?} has no reply {reply}", output.id),
        )
    })
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
        return Ok((e.status, Json(body)).into_response());
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
    mut stream: axum::body::BodyDataStream,
    early: Vec<i16>,
    finish: bool,
) -> Result<(), ApiError> {
    let mut guard = take_intake(slot).await?;
    let intake = guard.as_mut().expect("checked by take_intake");
    let format = output.handle.format();
    if intake.converter.as_ref().is_none_or(|(w, _)| *w != wire) {
        intake.converter = Some((wire, Converter::new(wire, format)));
    }
    let (_, converter) = intake.converter.as_mut().expect("set above");
    let mut samples = Vec::new();
    let ch = format.channels() as u64;
    let result: Result<(), ApiError> = async {
        if !early.is_empty() {
            intake.writer.push_samples(&early).await?;
            slot.accepted
                .fetch_add(early.len() as u64 / ch, Ordering::Relaxed);
        }
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| {
                ApiError::bad_request("body", format!("reading the request body: {e}"))
            })?;
            samples.clear();
            converter.feed(&chunk, &mut samples)?;
            if !samples.is_empty() {
                intake.writer.push_samples(&samples).await?;
                slot.accepted
                    .fetch_add(samples.len() as u64 / ch, Ordering::Relaxed);
            }
        }
        if finish {
            samples.clear();
            let tail = converter.finish(&mut samples);
            if !samples.is_empty() {
                intake.writer.push_samples(&samples).await?;
                slot.accepted
                    .fetch_add(samples.len() as u64 / ch, Ordering::Relaxed);
            }
            tail?;
        }
        Ok(())
    }
    .await;
    let refused = matches!(
        &result,
        Err(e) if e.code == "reply_interrupted" || e.code == "reply_finished" || e.code == "output_ended"
    );
    if finish || refused {
        // Everything accepted plays; the reply takes no more audio.
        if let Some(intake) = guard.take() {
            let _ = intake.writer.finish();
        }
        slot.finished.store(true, Ordering::Release);
    }
    result
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

async fn get_background(State(state): St, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let o = state.output(&id)?;
    Ok(Json(
        json!({ "enabled": o.bus.is_enabled(), "gain_db": o.bus.gain_db() }),
    ))
}

async fn put_background(
    State(state): St,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let o = state.output(&id)?;
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
    Ok(Json(
        json!({ "enabled": o.bus.is_enabled(), "gain_db": o.bus.gain_db() }),
    ))
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

/// The web page's "demo reply": the built-in example speech, streamed like a TTS would.
async fn demo_reply(State(state): St, Path(id): Path<String>) -> Result<Response, ApiError> {
    state.check_accepting()?;
    let o = state.output(&id)?;
    let mut writer = o.handle.open_reply()?;
    let slot = Arc::new(ReplySlot {
        id: writer.id(),
        playback: writer.playback(),
        intake: tokio::sync::Mutex::new(None),
        accepted: Default::default(),
        finished: true.into(),
    });
    o.add_reply(slot.clone());
    let samples = state.media.demo.clone();
    let ch = o.handle.format().channels() as u64;
    let chunk = o.handle.format().frame_len() * 10;
    let slot2 = slot.clone();
    tokio::spawn(async move {
        for part in samples.chunks(chunk) {
            if writer.push_samples(part).await.is_err() {
                return;
            }
            slot2
                .accepted
                .fetch_add(part.len() as u64 / ch, Ordering::Relaxed);
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
    let rx = o.monitor().ok_or_else(|| {
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
