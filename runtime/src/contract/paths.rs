//! Every route of `voxpace serve`, with its parameters, body and answers, and the document
//! built from them. Each `#[utoipa::path]` names the request and response types of
//! [`super`]; what every route shares (the token parameter and rule, the connection-level
//! answers, the audio body's content types) is added once, in [`Shared`].

#![allow(dead_code)] // the functions exist for their `#[utoipa::path]` attributes

use utoipa::openapi::path::{Operation, Parameter, ParameterIn};
use utoipa::openapi::request_body::RequestBody;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{
    Content, ObjectBuilder, OpenApi as Document, Ref, RefOr, Response, Schema, Type,
};
use utoipa::{IntoParams, Modify, OpenApi};

use super::control::{ClipFired, InputState, Interrupted, PauseState};
use super::error::{ApiKind, ErrorBody};
use super::events::StreamEvent;
use super::info::{FormatView, Info, Ready};
use super::outputs::{
    BackgroundChange, BackgroundView, CreateOutput, Ended, Level, OutputList, OutputView,
    PublishView, Stats,
};
use super::replies::{
    AudioQuery, FinishQuery, MarksBody, OutcomeView, ReplyState, ReplyView, TextBody,
};
use crate::marks::MarkSpec;
use crate::serve::intake::ACCEPTED;

const DESCRIPTION: &str = "Drive agent outputs from any language: stream reply audio in, interrupt, pause, resume, change the background, fire clips, and follow events. Every 4xx/5xx is JSON {error, message, kind} and changes nothing else; `kind` says what a client can do: invalid_input (fix the request), retryable (try again later), reply_terminal (the reply is over: open a new one), fatal.\n\nThe token rule, when tokens are configured: `/`, `/healthz`, `/readyz`, `/openapi.json` and CORS preflights are always public; listening (GET /v1/outputs/{id}/audio, /whep/**) takes a listener token (transport.tokens) or a control token (server.tokens) and is open only when neither list has one; everything else, /metrics and /v1/info included, takes a control token and is open only when server.tokens is empty. server.public = [\"metrics\", \"info\", \"listen\"] opens those groups. Send `Authorization: Bearer <token>` (the scheme in any case) or `?access_token=<token>` on any endpoint.\n\nTimeouts: a request's headers within server.header_read_timeout_ms, idle keep-alive connections close after server.keep_alive_timeout_ms, reply bodies may fall at most server.body_idle_timeout_ms behind real time (408).";

/// The document: every route below, the shared parts added by [`Shared`].
#[derive(OpenApi)]
#[openapi(
    info(title = "voxpace control API", description = DESCRIPTION),
    paths(
        info, list_outputs, create_output, get_output, delete_output, open_reply, get_reply,
        append_audio, add_marks, finish_reply, interrupt, pause, resume, enable_input,
        get_background, put_background, fire_clip, demo_reply, events, monitor, whep_offer,
        whep_page, whep_delete, whep_patch, metrics, healthz, readyz, openapi_json, page
    ),
    components(schemas(
        ErrorBody, ApiKind, Info, FormatView, Ready, OutputView, OutputList, Level, Stats,
        BackgroundView, BackgroundChange, PublishView, CreateOutput, Ended, ReplyView,
        ReplyState, OutcomeView, MarksBody, TextBody, MarkSpec, Interrupted, PauseState,
        InputState, ClipFired, StreamEvent
    )),
    modifiers(&Shared),
    security(("bearer" = []), ("access_token" = []), ())
)]
struct ApiDoc;

/// The OpenAPI 3.1 document of the control API, served at `/openapi.json`.
pub(crate) fn document() -> Document {
    ApiDoc::openapi()
}

/// What every route shares, added to each operation once.
struct Shared;

/// Answers any route may give beside its own.
const COMMON: &[(&str, &str)] = &[
    ("400", "A malformed path or query parameter (e.g. a reply id that is not a number), or a request line or headers the server could not parse"),
    ("401", "A token is needed, or the one sent is not valid here (see the token rule above)"),
    ("414", "The request target is longer than the server reads"),
    ("431", "The request's headers are larger than the server reads"),
    ("503", "too_many_connections: more connections than server.max_connections (answered before the route is read)"),
];

impl Modify for Shared {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "access_token",
            SecurityScheme::ApiKey(ApiKey::Query(ApiKeyValue::new("access_token"))),
        );
        doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
        // The bare list form of the marks body: its limit (utoipa takes none on a variant).
        if let Some(RefOr::T(Schema::OneOf(one_of))) = components.schemas.get_mut("MarksBody") {
            for item in one_of.items.iter_mut() {
                if let RefOr::T(Schema::Array(list)) = item {
                    list.max_items = Some(crate::marks::MAX_MARKS);
                }
            }
        }
        for (path, item) in doc.paths.paths.iter_mut() {
            let operations = [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.delete,
                &mut item.patch,
            ];
            for op in operations.into_iter().flatten() {
                // The requests that stream reply audio: their body and answers.
                let streams = path.ends_with("/replies") || path.ends_with("/audio");
                if streams && op.request_body.is_some() {
                    op.request_body = Some(RefOr::T(audio_body()));
                    add_answers(op, STREAMING);
                }
                add_answers(op, COMMON);
                add_token(op);
            }
        }
    }
}

/// The answers of a request that streams reply audio.
const STREAMING: &[(&str, &str)] = &[
    ("400", "Malformed audio (e.g. odd-length PCM, a WAV that is not 16-bit PCM, bad_audio: a compressed body whose headers are not such audio, refused before a reply opens; damaged_audio: a compressed stream that broke mid-way, the reply ends, incomplete, with what decoded before the break, event reply_incomplete); what came before plays"),
    ("404", UNKNOWN),
    ("408", "body_timeout: the body fell more than server.body_idle_timeout_ms behind real time; the reply ends, incomplete, with what arrived (event reply_incomplete) and the connection closes"),
    ("409", "Intake closed (manual input after an interrupt), the reply was finished or interrupted, or another request is streaming into it"),
    ("410", "output_ended: the output was ended (DELETE, shutdown) while the body was arriving"),
    ("415", "Missing or unsupported Content-Type (the message names the accepted types), or a codec this build cannot decode (Opus without the opus feature)"),
    ("503", "shutting_down (no new replies), or busy: the output's queues are full, retry shortly"),
];

/// Add `answers` (error bodies) where the operation does not say otherwise.
fn add_answers(op: &mut Operation, answers: &[(&str, &str)]) {
    for (code, description) in answers {
        op.responses
            .responses
            .entry((*code).to_owned())
            .or_insert_with(|| RefOr::T(error(description)));
    }
}

/// The token parameter every route takes.
fn add_token(op: &mut Operation) {
    let token = Parameter::builder()
        .name("access_token")
        .parameter_in(ParameterIn::Query)
        .description(Some("The bearer token, form-urlencoded, for clients that cannot set headers (RFC 6750 §2.3); accepted on every endpoint"))
        .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
        .build();
    op.parameters
        .get_or_insert_with(Vec::new)
        .push(RefOr::T(token));
}

/// An error answer: the JSON error body.
fn error(description: &str) -> Response {
    Response::builder()
        .description(description)
        .content(
            "application/json",
            Content::new(Some(Ref::from_schema_name("Error"))),
        )
        .build()
}

/// The body of a request that streams reply audio: every type the intake reads.
fn audio_body() -> RequestBody {
    let binary = || {
        Content::new(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .content_media_type("application/octet-stream"),
        ))
    };
    let mut body = RequestBody::builder().description(Some(format!(
        "Reply audio: {ACCEPTED}. Chunked transfer encoding streams it; the server applies back-pressure when the output's buffer is full, and reads a compressed body (decoded incrementally on a decoder thread) no faster than the output plays it. Each request body of a compressed type is one whole stream. A WAV plays exactly its data chunk."
    )));
    for mime in ["audio/L16", "audio/pcm", "audio/wav"]
        .iter()
        .chain(voxpace_sources::Container::MIME_TYPES)
    {
        body = body.content(*mime, binary());
    }
    body.build()
}

// ---- the routes ----

/// The path of an output's routes.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
struct OutputPath {
    /// Agent output id.
    id: String,
}

/// The path of a reply's routes.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
struct ReplyPath {
    /// Agent output id.
    id: String,
    /// Reply id (from 1, per output).
    #[param(minimum = 1)]
    reply: u64,
}

/// The path of a WHEP session.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
struct SessionPath {
    /// Agent output id.
    id: String,
    /// WHEP session (the last segment of its Location).
    session: String,
}

const UNKNOWN: &str = "Unknown output (or reply, clip)";

/// Server information.
#[utoipa::path(get, path = "/v1/info", tag = "info",
    description = "Format, outputs, clips, whether WHEP is on, publish states.",
    responses((status = 200, description = "Info", body = Info)))]
fn info() {}

/// List agent outputs.
#[utoipa::path(get, path = "/v1/outputs", tag = "outputs",
    description = "Every output with its state and counters.",
    responses((status = 200, description = "The outputs", body = OutputList)))]
fn list_outputs() {}

/// Create an agent output.
#[utoipa::path(post, path = "/v1/outputs", tag = "outputs",
    description = "Starts a new output from the configuration.",
    request_body = CreateOutput,
    responses(
        (status = 201, description = "The output", body = OutputView),
        (status = 400, description = "Bad id or JSON (the message names the field), or a configured sink or background file that cannot be used", body = ErrorBody),
        (status = 408, description = "body_timeout: the body did not arrive within server.body_idle_timeout_ms", body = ErrorBody),
        (status = 409, description = "Exists, or server.max_outputs reached", body = ErrorBody),
        (status = 413, description = "The body is larger than 64 KiB", body = ErrorBody),
        (status = 500, description = "A sink or the background could not start", body = ErrorBody),
        (status = 503, description = "Shutting down, or a transient failure starting it (retry)", body = ErrorBody),
    ))]
fn create_output() {}

/// An output's state.
#[utoipa::path(get, path = "/v1/outputs/{id}", tag = "outputs",
    description = "Speaking, paused, buffered, level, background, counters.",
    params(OutputPath),
    responses(
        (status = 200, description = "The output", body = OutputView),
        (status = 404, description = UNKNOWN, body = ErrorBody),
    ))]
fn get_output() {}

/// End an output.
#[utoipa::path(delete, path = "/v1/outputs/{id}", tag = "outputs",
    description = "Cuts requests still streaming audio into it (410), interrupts what plays, sends every reply's playback_finished and then output_ended, stops rendering, closes its listeners and event streams.",
    params(OutputPath),
    responses(
        (status = 200, description = "Ended", body = Ended),
        (status = 404, description = UNKNOWN, body = ErrorBody),
    ))]
fn delete_output() {}

/// Open a reply and stream its audio.
#[utoipa::path(post, path = "/v1/outputs/{id}/replies", tag = "replies",
    description = "Opens the output's next reply. With a body, streams it in (converted to the output's format) and finishes the reply when the body ends (finish=false keeps it open for /audio). Without a body, opens an empty reply to stream into.",
    params(OutputPath, AudioQuery),
    request_body(content = String, content_type = "audio/wav"),
    responses(
        (status = 201, description = "The reply and where it stands", body = ReplyView),
    ))]
fn open_reply() {}

/// A reply's state.
#[utoipa::path(get, path = "/v1/outputs/{id}/replies/{reply}", tag = "replies",
    description = "open, finished, played or interrupted (incomplete: its body stalled); accepted audio; the outcome (played duration) once known.",
    params(ReplyPath),
    responses(
        (status = 200, description = "The reply", body = ReplyView),
        (status = 404, description = UNKNOWN, body = ErrorBody),
    ))]
fn get_reply() {}

/// Stream more audio into an open reply.
#[utoipa::path(post, path = "/v1/outputs/{id}/replies/{reply}/audio", tag = "replies",
    description = "Appends the body's audio to the reply. An odd trailing byte is kept for the next request unless finish=true.",
    params(ReplyPath, AudioQuery),
    request_body(content = String, content_type = "audio/wav"),
    responses(
        (status = 200, description = "The reply and where it stands", body = ReplyView),
    ))]
fn append_audio() {}

/// Add a reply's text.
#[utoipa::path(post, path = "/v1/outputs/{id}/replies/{reply}/marks", tag = "replies",
    description = "Text marks: pieces of the reply's text at media offsets (at_ms, or at_samples counted at `rate`, default the output's rate), as a TTS engine's alignment gives them. Send each chunk's marks before its audio (a mark behind audio already accepted is refused), in playing order. Each mark's first sample played is a text_played event; playback_finished carries heard_text (the marks played, concatenated) and marks_played, text_timing = marks. `text` gives the whole text instead, for an estimate. Marks may arrive while another request streams the reply's audio.",
    params(ReplyPath),
    request_body = MarksBody,
    responses(
        (status = 200, description = "The reply and where it stands", body = ReplyView),
        (status = 400, description = "Bad JSON or marks (every problem named by its index); nothing was added", body = ErrorBody),
        (status = 404, description = UNKNOWN, body = ErrorBody),
        (status = 408, description = "body_timeout: the body did not arrive within server.body_idle_timeout_ms", body = ErrorBody),
        (status = 409, description = "The reply was finished or interrupted", body = ErrorBody),
    ))]
fn add_marks() {}

/// Finish a reply.
#[utoipa::path(post, path = "/v1/outputs/{id}/replies/{reply}/finish", tag = "replies",
    description = "No more audio: what was sent plays to the end.",
    params(ReplyPath, FinishQuery),
    responses(
        (status = 200, description = "The reply", body = ReplyView),
        (status = 400, description = "An incomplete sample was left over (dropped)", body = ErrorBody),
        (status = 404, description = UNKNOWN, body = ErrorBody),
        (status = 409, description = "Already finished or interrupted, or another request is streaming into it", body = ErrorBody),
        (status = 503, description = "busy: the output's queues are full, retry shortly", body = ErrorBody),
    ))]
fn finish_reply() {}

/// Interrupt (barge-in).
#[utoipa::path(post, path = "/v1/outputs/{id}/interrupt", tag = "control",
    description = "Every reply opened so far ends as interrupted; the playing one fades out within a frame.",
    params(OutputPath),
    responses(
        (status = 200, description = "Which replies were covered", body = Interrupted),
        (status = 404, description = UNKNOWN, body = ErrorBody),
    ))]
fn interrupt() {}

/// Pause.
#[utoipa::path(post, path = "/v1/outputs/{id}/pause", tag = "control",
    description = "Hold speech from the next frame on (silence goes out).",
    params(OutputPath),
    responses(
        (status = 200, description = "Paused", body = PauseState),
        (status = 404, description = UNKNOWN, body = ErrorBody),
    ))]
fn pause() {}

/// Resume.
#[utoipa::path(post, path = "/v1/outputs/{id}/resume", tag = "control",
    description = "Play held speech again, unchanged.",
    params(OutputPath),
    responses(
        (status = 200, description = "Resumed", body = PauseState),
        (status = 404, description = UNKNOWN, body = ErrorBody),
    ))]
fn resume() {}

/// Re-open intake.
#[utoipa::path(post, path = "/v1/outputs/{id}/enable-input", tag = "control",
    description = "With output.manual_input, an interrupt closes intake (new replies get 409 intake_closed) until this is called.",
    params(OutputPath),
    responses(
        (status = 200, description = "Intake open", body = InputState),
        (status = 404, description = UNKNOWN, body = ErrorBody),
    ))]
fn enable_input() {}

/// The background.
#[utoipa::path(get, path = "/v1/outputs/{id}/background", tag = "background",
    description = "enabled (the music is wanted), playing (it really plays: false once a file played once has ended, or failed), gain_db.",
    params(OutputPath),
    responses(
        (status = 200, description = "The background", body = BackgroundView),
        (status = 404, description = UNKNOWN, body = ErrorBody),
    ))]
fn get_background() {}

/// Change the background.
#[utoipa::path(put, path = "/v1/outputs/{id}/background", tag = "background",
    description = "Set the level (gain_db, -90..+12, ramped over one frame) and/or play/stop the configured background (enabled).",
    params(OutputPath),
    request_body = BackgroundChange,
    responses(
        (status = 200, description = "The background now", body = BackgroundView),
        (status = 400, description = "Bad JSON or gain (the message names the field)", body = ErrorBody),
        (status = 404, description = UNKNOWN, body = ErrorBody),
        (status = 408, description = "body_timeout: the body did not arrive within server.body_idle_timeout_ms", body = ErrorBody),
        (status = 409, description = "No background configured", body = ErrorBody),
        (status = 413, description = "The body is larger than 64 KiB", body = ErrorBody),
        (status = 503, description = "busy: the background could not be changed", body = ErrorBody),
    ))]
fn put_background() {}

/// Fire a clip.
#[utoipa::path(post, path = "/v1/outputs/{id}/clips/{name}", tag = "background",
    description = "Plays a configured one-shot clip over the background.",
    params(
        ("id" = String, Path, description = "Agent output id"),
        ("name" = String, Path, description = "Clip name from the configuration"),
    ),
    responses(
        (status = 200, description = "Fired", body = ClipFired),
        (status = 404, description = UNKNOWN, body = ErrorBody),
        (status = 503, description = "busy: the output is not rendering, or too many sources play", body = ErrorBody),
    ))]
fn fire_clip() {}

/// Demo reply.
#[utoipa::path(post, path = "/v1/outputs/{id}/demo", tag = "replies",
    description = "Plays the built-in example speech as a reply (the web page's button).",
    params(OutputPath),
    responses(
        (status = 201, description = "The reply", body = ReplyView),
        (status = 404, description = UNKNOWN, body = ErrorBody),
        (status = 409, description = "Intake closed", body = ErrorBody),
        (status = 503, description = "Shutting down, or busy", body = ErrorBody),
    ))]
fn demo_reply() {}

/// Live events (server-sent events).
#[utoipa::path(get, path = "/v1/outputs/{id}/events", tag = "events",
    description = "Server-sent events, one per message: `event:` is the event's type, `data:` its JSON object (schema StreamEvent, one variant per type, `type` naming it), `id:` the event's number within the output (every event but hello and lagged). A client that reconnects with the header Last-Event-ID gets, after hello, the events after that id from the output's last 256 (preceded by lagged with `missed` when some of them are gone); a Last-Event-ID that is not a number is answered 400 bad_last_event_id. hello comes first (and publish_state right after it when the output publishes over WHIP); then, as they happen: the track's events; source_damaged, source_failed and source_finished (the background); reply_incomplete (a stalled body, or a compressed body broken mid-stream) and reply_damaged (damage skipped in a compressed body); publish_state (each WHIP state change); lagged (this subscriber fell behind: `missed` events were dropped for it); and output_ended last (after every reply's playback_finished).",
    params(OutputPath, ("Last-Event-ID" = Option<u64>, Header, description = "The id of the last event a reconnecting client received: the events after it are sent again")),
    responses(
        (status = 200, description = "An event stream: each data line is one StreamEvent", content_type = "text/event-stream", body = StreamEvent),
        (status = 400, description = "bad_last_event_id: a Last-Event-ID that is not a number", body = ErrorBody),
        (status = 404, description = UNKNOWN, body = ErrorBody),
    ))]
fn events() {}

/// Live audio (WAV stream).
#[utoipa::path(get, path = "/v1/outputs/{id}/audio", tag = "events",
    description = "The output's mixed audio as it goes out, as an endless 16-bit WAV. Takes a listener or a control token. At most 4 at once per output; one more gets 429 (after waiting up to 100 ms for the slot of a client that just hung up to be freed).",
    params(OutputPath),
    responses(
        (status = 200, description = "WAV stream", content_type = "audio/wav", body = String),
        (status = 404, description = UNKNOWN, body = ErrorBody),
        (status = 429, description = "monitors_busy: all live-audio slots of this output are in use", body = ErrorBody),
    ))]
fn monitor() {}

/// WHEP: listen over WebRTC.
#[utoipa::path(post, path = "/whep/{id}", tag = "whep",
    description = "Body: an SDP offer (application/sdp); 201 answers with the SDP answer and the session's Location. Takes a listener or a control token. Served with the `webrtc` feature when transport.whep is on (at transport.whep_listen when that is set).",
    params(OutputPath),
    request_body(content = String, content_type = "application/sdp", description = "An SDP offer with one audio m-line that can receive Opus"),
    responses(
        (status = 201, description = "The SDP answer", content_type = "application/sdp", body = String),
        (status = 400, description = "Not a usable offer", body = ErrorBody),
        (status = 422, description = "An offer without anything this server can send (no audio it can encode)", body = ErrorBody),
        (status = 404, description = UNKNOWN, body = ErrorBody),
        (status = 408, description = "body_timeout: the offer did not arrive within server.body_idle_timeout_ms", body = ErrorBody),
        (status = 413, description = "The offer is too large", body = ErrorBody),
        (status = 415, description = "Not application/sdp", body = ErrorBody),
        (status = 503, description = "Too many WebRTC sessions", body = ErrorBody),
    ))]
fn whep_offer() {}

/// WHEP player page.
#[utoipa::path(get, path = "/whep/{id}", tag = "whep",
    description = "A small browser page that plays the stream. Served with the `webrtc` feature when transport.whep is on (at transport.whep_listen when that is set).",
    params(OutputPath),
    responses(
        (status = 200, description = "HTML", content_type = "text/html", body = String),
        (status = 404, description = "No WHEP in this server", body = ErrorBody),
    ))]
fn whep_page() {}

/// WHEP: end a session.
#[utoipa::path(delete, path = "/whep/{id}/{session}", tag = "whep",
    description = "Closes the WebRTC session. Served with the `webrtc` feature when transport.whep is on (at transport.whep_listen when that is set).",
    params(SessionPath),
    responses(
        (status = 200, description = "Closed"),
        (status = 404, description = "Unknown session", body = ErrorBody),
    ))]
fn whep_delete() {}

/// WHEP: trickle ICE.
#[utoipa::path(patch, path = "/whep/{id}/{session}", tag = "whep",
    description = "Not supported: candidates are gathered before the answer. Served with the `webrtc` feature when transport.whep is on (at transport.whep_listen when that is set).",
    params(SessionPath),
    responses(
        (status = 404, description = "No WHEP in this server", body = ErrorBody),
        (status = 405, description = "Trickle ICE is not supported", body = ErrorBody),
    ))]
fn whep_patch() {}

/// Prometheus metrics.
#[utoipa::path(get, path = "/metrics", tag = "info",
    description = "Takes a control token unless server.public lists \"metrics\".",
    responses((status = 200, description = "Text exposition format", content_type = "text/plain", body = String)))]
fn metrics() {}

/// Liveness (always public).
#[utoipa::path(get, path = "/healthz", tag = "info",
    responses((status = 200, description = "ok", content_type = "text/plain", body = String)))]
fn healthz() {}

/// Readiness (always public).
#[utoipa::path(get, path = "/readyz", tag = "info",
    description = "Ready when the server is not shutting down and every output that publishes over WHIP is published.",
    responses(
        (status = 200, description = "Ready", body = Ready),
        (status = 503, description = "Not ready (error not_ready, kind retryable): shutting down, or outputs not yet published; the body also says ready: false and names those outputs (outputs: id to publish state)", body = ErrorBody),
    ))]
fn readyz() {}

/// This document (always public).
#[utoipa::path(get, path = "/openapi.json", tag = "info",
    responses((status = 200, description = "OpenAPI 3.1", content_type = "application/json", body = Object)))]
fn openapi_json() {}

/// The listening page (always public; it takes a token from #token=...).
#[utoipa::path(get, path = "/", tag = "info",
    responses((status = 200, description = "HTML", content_type = "text/html", body = String)))]
fn page() {}
