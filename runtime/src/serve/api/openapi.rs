//! The OpenAPI 3.1 description of the control API, served at `/openapi.json`. A test walks
//! every path and method in it against a running server.

use serde_json::{json, Value};

use crate::serve::intake::ACCEPTED;

/// Statuses any endpoint may answer, beside its own.
const COMMON: &[(&str, &str)] = &[
    ("400", "A malformed path or query parameter (e.g. a reply id that is not a number)"),
    ("401", "A token is needed, or the one sent is not valid here (see the token rule above)"),
    ("503", "too_many_connections: more connections than server.max_connections (answered before the route is read)"),
];

/// A response entry: JSON `{error, message}` for 4xx/5xx, any JSON otherwise.
fn response(code: &str, description: &str) -> Value {
    let schema = if code.starts_with('4') || code.starts_with('5') {
        "#/components/schemas/Error"
    } else {
        "#/components/schemas/Any"
    };
    json!({"description": description, "content": {"application/json": {"schema": {"$ref": schema}}}})
}

fn parameters(params: &[&str]) -> Value {
    let mut parameters: Vec<Value> = params
        .iter()
        .map(|p| match *p {
            "id" => json!({"name": "id", "in": "path", "required": true, "schema": {"type": "string"}, "description": "Agent output id"}),
            "reply" => json!({"name": "reply", "in": "path", "required": true, "schema": {"type": "integer", "minimum": 1}, "description": "Reply id (from 1, per output)"}),
            "name" => json!({"name": "name", "in": "path", "required": true, "schema": {"type": "string"}, "description": "Clip name from the configuration"}),
            "session" => json!({"name": "session", "in": "path", "required": true, "schema": {"type": "string"}, "description": "WHEP session (the last segment of its Location)"}),
            "finish" => json!({"name": "finish", "in": "query", "schema": {"type": "boolean"}, "description": "Finish the reply when the body ends"}),
            "wait" => json!({"name": "wait", "in": "query", "schema": {"type": "boolean"}, "description": "Answer once the finished reply has played (or was interrupted)"}),
            "text" => json!({"name": "text", "in": "query", "schema": {"type": "string"}, "description": "The reply's whole text, without timings: playback_finished then estimates what was heard (text_timing = estimated). For exact heard text send marks to .../marks"}),
            other => json!({"name": other, "in": "query", "schema": {"type": "string"}}),
        })
        .collect();
    parameters.push(json!({"name": "access_token", "in": "query", "schema": {"type": "string"}, "description": "The bearer token, form-urlencoded, for clients that cannot set headers (RFC 6750 §2.3); accepted on every endpoint"}));
    Value::Array(parameters)
}

fn op(summary: &str, description: &str, params: &[&str], responses: &[(&str, &str)]) -> Value {
    let mut all: serde_json::Map<String, Value> = responses
        .iter()
        .map(|(code, d)| (code.to_string(), response(code, d)))
        .collect();
    for (code, d) in COMMON {
        all.entry(code.to_string())
            .or_insert_with(|| response(code, d));
    }
    json!({"summary": summary, "description": description, "parameters": parameters(params), "responses": all})
}

/// An operation whose success is not JSON (`media`: its content type).
fn stream_op(
    summary: &str,
    description: &str,
    params: &[&str],
    ok: (&str, &str),
    media: &str,
    errors: &[(&str, &str)],
) -> Value {
    let mut o = op(summary, description, params, errors);
    o["responses"][ok.0] =
        json!({"description": ok.1, "content": {media: {"schema": {"type": "string"}}}});
    o
}

/// The answers of a request that streams reply audio.
const STREAMING: &[(&str, &str)] = &[
    ("400", "Malformed audio (e.g. odd-length PCM, a WAV that is not 16-bit PCM, bad_audio: a compressed body whose headers are not such audio, refused before a reply opens; damaged_audio: a compressed stream that broke mid-way, the reply ends, incomplete, with what decoded before the break, event reply_incomplete); what came before plays"),
    ("404", "Unknown output (or reply)"),
    ("408", "body_timeout: the body fell more than server.body_idle_timeout_ms behind real time; the reply ends, incomplete, with what arrived (event reply_incomplete) and the connection closes"),
    ("409", "Intake closed (manual input after an interrupt), the reply was finished or interrupted, or another request is streaming into it"),
    ("410", "output_ended: the output was ended (DELETE, shutdown) while the body was arriving"),
    ("415", "Missing or unsupported Content-Type (the message names the accepted types), or a codec this build cannot decode (Opus without the opus feature)"),
    ("503", "shutting_down (no new replies), or busy: the output's queues are full, retry shortly"),
];

/// The answers of a small JSON body.
const JSON_BODY: &[(&str, &str)] = &[
    (
        "408",
        "body_timeout: the body did not arrive within server.body_idle_timeout_ms",
    ),
    ("413", "The body is larger than 64 KiB"),
];

fn audio_body() -> Value {
    let binary = json!({"schema": {"type": "string", "format": "binary"}});
    let content: serde_json::Map<String, Value> = ["audio/L16", "audio/pcm", "audio/wav"]
        .iter()
        .chain(voxpace_sources::Container::MIME_TYPES)
        .map(|m| (m.to_string(), binary.clone()))
        .collect();
    json!({"description": format!("Reply audio: {ACCEPTED}. Chunked transfer encoding streams it; the server applies back-pressure when the output's buffer is full, and reads a compressed body (decoded incrementally on a decoder thread) no faster than the output plays it. Each request body of a compressed type is one whole stream. A WAV plays exactly its data chunk."),
           "content": content})
}

/// The document.
pub(crate) fn document() -> Value {
    let unknown = ("404", "Unknown output (or reply, clip)");
    let mut open = op(
        "Open a reply and stream its audio",
        "Opens the output's next reply. With a body, streams it in (converted to the output's format) and finishes the reply when the body ends (finish=false keeps it open for /audio). Without a body, opens an empty reply to stream into.",
        &["id", "finish", "wait", "text"],
        &[&[("201", "The reply and where it stands")], STREAMING].concat(),
    );
    open["requestBody"] = audio_body();
    let mut append = op(
        "Stream more audio into an open reply",
        "Appends the body's audio to the reply. An odd trailing byte is kept for the next request unless finish=true.",
        &["id", "reply", "finish", "wait"],
        &[&[("200", "The reply and where it stands")], STREAMING].concat(),
    );
    append["requestBody"] = audio_body();
    let mut marks = op(
        "Add a reply's text",
        "Text marks: pieces of the reply's text at media offsets (at_ms, or at_samples counted at `rate`, default the output's rate), as a TTS engine's alignment gives them. Send each chunk's marks before its audio (a mark behind audio already accepted is refused), in playing order. Each mark's first sample played is a text_played event; playback_finished carries heard_text (the marks played, concatenated) and marks_played, text_timing = marks. `text` gives the whole text instead, for an estimate. Marks may arrive while another request streams the reply's audio.",
        &["id", "reply"],
        &[("200", "The reply and where it stands"), ("400", "Bad JSON or marks (every problem named by its index); nothing was added"), unknown, ("409", "The reply was finished or interrupted")],
    );
    let mark = json!({"type": "object", "required": ["text"], "properties": {"at_ms": {"type": "number", "minimum": 0}, "at_samples": {"type": "integer", "minimum": 0}, "text": {"type": "string"}}, "additionalProperties": false});
    marks["requestBody"] = json!({"content": {"application/json": {"schema": {"oneOf": [
        {"type": "array", "items": mark},
        {"type": "object", "properties": {"marks": {"type": "array", "items": mark}, "rate": {"type": "integer"}, "text": {"type": "string"}}, "additionalProperties": false}
    ]}}}});
    let mut create = op(
        "Create an agent output",
        "Starts a new output from the configuration.",
        &[],
        &[
            &[
                ("201", "The output"),
                ("400", "Bad id or JSON"),
                ("409", "Exists, or server.max_outputs reached"),
                ("500", "A sink or the background could not start"),
                ("503", "Shutting down"),
            ][..],
            JSON_BODY,
        ]
        .concat(),
    );
    create["requestBody"] = json!({"content": {"application/json": {"schema": {"type": "object", "required": ["id"], "properties": {"id": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"}}}}}});
    let mut bg = op("Change the background", "Set the level (gain_db, -90..+12, ramped over one frame) and/or play/stop the configured background (enabled).", &["id"], &[&[("200", "The background now"), ("400", "Bad JSON or gain"), unknown, ("409", "No background configured"), ("503", "busy: the background could not be changed")][..], JSON_BODY].concat());
    bg["requestBody"] = json!({"content": {"application/json": {"schema": {"type": "object", "properties": {"gain_db": {"type": "number"}, "enabled": {"type": "boolean"}}, "additionalProperties": false}}}});
    let whep = " Served with the `webrtc` feature when transport.whep is on (at transport.whep_listen when that is set).";
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "voxpace control API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Drive agent outputs from any language: stream reply audio in, interrupt, pause, resume, change the background, fire clips, and follow events. Every 4xx/5xx is JSON {error, message} and changes nothing else.\n\nThe token rule, when tokens are configured: `/`, `/healthz`, `/readyz`, `/openapi.json` and CORS preflights are always public; listening (GET /v1/outputs/{id}/audio, /whep/**) takes a listener token (transport.tokens) or a control token (server.tokens) and is open only when neither list has one; everything else, /metrics and /v1/info included, takes a control token and is open only when server.tokens is empty. server.public = [\"metrics\", \"info\", \"listen\"] opens those groups. Send `Authorization: Bearer <token>` (the scheme in any case) or `?access_token=<token>` on any endpoint.\n\nTimeouts: a request's headers within server.header_read_timeout_ms, idle keep-alive connections close after server.keep_alive_timeout_ms, reply bodies may fall at most server.body_idle_timeout_ms behind real time (408)."
        },
        "security": [{"bearer": []}, {"access_token": []}, {}],
        "paths": {
            "/v1/info": {"get": op("Server information", "Format, outputs, clips, whether WHEP is on.", &[], &[("200", "Info")])},
            "/v1/outputs": {
                "get": op("List agent outputs", "Every output with its state and counters.", &[], &[("200", "The outputs")]),
                "post": create
            },
            "/v1/outputs/{id}": {
                "get": op("An output's state", "Speaking, paused, buffered, level, background, counters.", &["id"], &[("200", "The output"), unknown]),
                "delete": op("End an output", "Cuts requests still streaming audio into it (410), interrupts what plays, sends every reply's playback_finished and then output_ended, stops rendering, closes its listeners and event streams.", &["id"], &[("200", "Ended"), unknown])
            },
            "/v1/outputs/{id}/replies": {"post": open},
            "/v1/outputs/{id}/replies/{reply}": {"get": op("A reply's state", "open, finished, played or interrupted (incomplete: its body stalled); accepted audio; the outcome (played duration) once known.", &["id", "reply"], &[("200", "The reply"), unknown])},
            "/v1/outputs/{id}/replies/{reply}/audio": {"post": append},
            "/v1/outputs/{id}/replies/{reply}/marks": {"post": marks},
            "/v1/outputs/{id}/replies/{reply}/finish": {"post": op("Finish a reply", "No more audio: what was sent plays to the end.", &["id", "reply", "wait"], &[("200", "The reply"), ("400", "An incomplete sample was left over (dropped)"), unknown, ("409", "Already finished or interrupted, or another request is streaming into it"), ("503", "busy: the output's queues are full, retry shortly")])},
            "/v1/outputs/{id}/interrupt": {"post": op("Interrupt (barge-in)", "Every reply opened so far ends as interrupted; the playing one fades out within a frame.", &["id"], &[("200", "Which replies were covered"), unknown])},
            "/v1/outputs/{id}/pause": {"post": op("Pause", "Hold speech from the next frame on (silence goes out).", &["id"], &[("200", "Paused"), unknown])},
            "/v1/outputs/{id}/resume": {"post": op("Resume", "Play held speech again, unchanged.", &["id"], &[("200", "Resumed"), unknown])},
            "/v1/outputs/{id}/enable-input": {"post": op("Re-open intake", "With output.manual_input, an interrupt closes intake (new replies get 409 intake_closed) until this is called.", &["id"], &[("200", "Intake open"), unknown])},
            "/v1/outputs/{id}/background": {
                "get": op("The background", "enabled (the music is wanted), playing (it really plays: false once a file played once has ended, or failed), gain_db.", &["id"], &[("200", "The background"), unknown]),
                "put": bg
            },
            "/v1/outputs/{id}/clips/{name}": {"post": op("Fire a clip", "Plays a configured one-shot clip over the background.", &["id", "name"], &[("200", "Fired"), unknown, ("503", "busy: the output is not rendering, or too many sources play")])},
            "/v1/outputs/{id}/demo": {"post": op("Demo reply", "Plays the built-in example speech as a reply (the web page's button).", &["id"], &[("201", "The reply"), unknown, ("409", "Intake closed"), ("503", "Shutting down, or busy")])},
            "/v1/outputs/{id}/events": {"get": stream_op(
                "Live events (server-sent events)",
                "event: hello first, then speech_started, playback_finished (played_ms, interrupted), paused, resumed, speaking_changed, sink_detached, source_failed, source_finished, reply_incomplete (a stalled body, or a compressed body broken mid-stream), reply_damaged (damage skipped in a compressed body: reply, at_ms, reason), publish_failed, lagged, and output_ended last (after every reply's playback_finished). Each data line is the JSON object; id is the sequence number.",
                &["id"], ("200", "An event stream"), "text/event-stream", &[unknown])},
            "/v1/outputs/{id}/audio": {"get": stream_op(
                "Live audio (WAV stream)",
                "The output's mixed audio as it goes out, as an endless 16-bit WAV. Takes a listener or a control token. At most 4 at once per output; one more gets 429 at once.",
                &["id"], ("200", "WAV stream"), "audio/wav",
                &[unknown, ("429", "monitors_busy: all live-audio slots of this output are in use")])},
            "/whep/{id}": {
                "post": stream_op("WHEP: listen over WebRTC", &format!("Body: an SDP offer (application/sdp); 201 answers with the SDP answer and the session's Location. Takes a listener or a control token.{whep}"),
                    &["id"], ("201", "The SDP answer"), "application/sdp",
                    &[("400", "Not a usable offer"), unknown, ("413", "The offer is too large"), ("415", "Not application/sdp"), ("503", "Too many WebRTC sessions")]),
                "get": stream_op("WHEP player page", &format!("A small browser page that plays the stream.{whep}"),
                    &["id"], ("200", "HTML"), "text/html", &[])
            },
            "/whep/{id}/{session}": {
                "delete": op("WHEP: end a session", &format!("Closes the WebRTC session.{whep}"), &["id", "session"], &[("200", "Closed"), ("404", "Unknown session")]),
                "patch": op("WHEP: trickle ICE", &format!("Not supported: candidates are gathered before the answer.{whep}"), &["id", "session"], &[("405", "Trickle ICE is not supported")])
            },
            "/metrics": {"get": stream_op("Prometheus metrics", "Takes a control token unless server.public lists \"metrics\".", &[], ("200", "Text exposition format"), "text/plain", &[])},
            "/healthz": {"get": {"summary": "Liveness (always public)", "responses": {"200": {"description": "ok"}}}},
            "/openapi.json": {"get": {"summary": "This document (always public)", "responses": {"200": {"description": "OpenAPI 3.1"}}}},
            "/": {"get": {"summary": "The listening page (always public; it takes a token from #token=...)", "responses": {"200": {"description": "HTML", "content": {"text/html": {"schema": {"type": "string"}}}}}}}
        },
        "components": {
            "schemas": {
                "Any": {"type": "object"},
                "Error": {"type": "object", "required": ["error", "message"], "properties": {
                    "error": {"type": "string", "description": "A stable code, e.g. unknown_output, body_timeout, unauthorized, busy"},
                    "message": {"type": "string", "description": "What went wrong and what to do, for people"}}}
            },
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "access_token": {"type": "apiKey", "in": "query", "name": "access_token"}
            }
        }
    })
}
