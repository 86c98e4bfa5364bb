//! The OpenAPI 3.1 description of the control API, served at `/openapi.json`. A test walks
//! every path and method in it against a running server.

use serde_json::{json, Value};

use super::intake::ACCEPTED;

fn op(summary: &str, description: &str, params: &[&str], responses: &[(&str, &str)]) -> Value {
    let mut parameters: Vec<Value> = params
        .iter()
        .map(|p| match *p {
            "id" => json!({"name": "id", "in": "path", "required": true, "schema": {"type": "string"}, "description": "Agent output id"}),
            "reply" => json!({"name": "reply", "in": "path", "required": true, "schema": {"type": "integer"}, "description": "Reply id (from 1, per output)"}),
            "name" => json!({"name": "name", "in": "path", "required": true, "schema": {"type": "string"}, "description": "Clip name from the configuration"}),
            "finish" => json!({"name": "finish", "in": "query", "schema": {"type": "boolean"}, "description": "Finish the reply when the body ends"}),
            "wait" => json!({"name": "wait", "in": "query", "schema": {"type": "boolean"}, "description": "Answer once the finished reply has played (or was interrupted)"}),
            "text" => json!({"name": "text", "in": "query", "schema": {"type": "string"}, "description": "The reply's whole text, without timings: playback_finished then estimates what was heard (text_timing = estimated). For exact heard text send marks to .../marks"}),
            other => json!({"name": other, "in": "query", "schema": {"type": "string"}}),
        })
        .collect();
    parameters.push(json!({"name": "access_token", "in": "query", "schema": {"type": "string"}, "description": "Bearer token, for clients that cannot set headers"}));
    let responses: serde_json::Map<String, Value> = responses
        .iter()
        .map(|(code, d)| (code.to_string(), json!({"description": d, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Any"}}}})))
        .collect();
    json!({"summary": summary, "description": description, "parameters": parameters, "responses": responses})
}

fn audio_body() -> Value {
    json!({"description": format!("Reply audio: {ACCEPTED}. Chunked transfer encoding streams it; the server applies back-pressure when the output's buffer is full."),
           "content": {
               "audio/L16": {"schema": {"type": "string", "format": "binary"}},
               "audio/pcm": {"schema": {"type": "string", "format": "binary"}},
               "audio/wav": {"schema": {"type": "string", "format": "binary"}}}})
}

/// The document.
pub(crate) fn document() -> Value {
    let unknown = ("404", "Unknown output (or reply, clip)");
    let mut open = op(
        "Open a reply and stream its audio",
        "Opens the output's next reply. With a body, streams it in (converted to the output's format) and finishes the reply when the body ends (finish=false keeps it open for /audio). Without a body, opens an empty reply to stream into.",
        &["id", "finish", "wait", "text"],
        &[("201", "The reply and where it stands"), ("400", "Malformed audio (e.g. odd-length PCM); what came before plays"), unknown, ("409", "Intake closed (manual input after an interrupt), or the reply was interrupted while streaming"), ("415", "Missing or unsupported Content-Type"), ("503", "Shutting down")],
    );
    open["requestBody"] = audio_body();
    let mut append = op(
        "Stream more audio into an open reply",
        "Appends the body's audio to the reply. An odd trailing byte is kept for the next request unless finish=true.",
        &["id", "reply", "finish", "wait"],
        &[("200", "The reply and where it stands"), ("400", "Malformed audio"), unknown, ("409", "The reply was finished or interrupted, or another request is streaming into it"), ("415", "Missing or unsupported Content-Type")],
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
            ("201", "The output"),
            ("400", "Bad id or JSON"),
            ("409", "Exists, or server.max_outputs reached"),
            ("503", "Shutting down"),
        ],
    );
    create["requestBody"] = json!({"content": {"application/json": {"schema": {"type": "object", "required": ["id"], "properties": {"id": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"}}}}}});
    let mut bg = op("Change the background", "Set the level (gain_db, -90..+12, ramped over one frame) and/or play/stop the configured background (enabled).", &["id"], &[("200", "The background now"), ("400", "Bad JSON or gain"), unknown, ("409", "No background configured")]);
    bg["requestBody"] = json!({"content": {"application/json": {"schema": {"type": "object", "properties": {"gain_db": {"type": "number"}, "enabled": {"type": "boolean"}}, "additionalProperties": false}}}});
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "voxpace control API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Drive agent outputs from any language: stream reply audio in, interrupt, pause, resume, change the background, fire clips, and follow events. Errors are JSON {error, message} with a 4xx status and change nothing else. With server.tokens set, /v1 requires `Authorization: Bearer <token>`."
        },
        "paths": {
            "/v1/info": {"get": op("Server information", "Format, outputs, clips, whether WHEP is on.", &[], &[("200", "Info")])},
            "/v1/outputs": {
                "get": op("List agent outputs", "Every output with its state and counters.", &[], &[("200", "The outputs")]),
                "post": create
            },
            "/v1/outputs/{id}": {
                "get": op("An output's state", "Speaking, paused, buffered, level, background, counters.", &["id"], &[("200", "The output"), unknown]),
                "delete": op("End an output", "Interrupts what plays, stops rendering, closes its listeners and event streams.", &["id"], &[("200", "Ended"), unknown])
            },
            "/v1/outputs/{id}/replies": {"post": open},
            "/v1/outputs/{id}/replies/{reply}": {"get": op("A reply's state", "open, finished, played or interrupted; accepted audio; the outcome (played duration) once known.", &["id", "reply"], &[("200", "The reply"), unknown])},
            "/v1/outputs/{id}/replies/{reply}/audio": {"post": append},
            "/v1/outputs/{id}/replies/{reply}/marks": {"post": marks},
            "/v1/outputs/{id}/replies/{reply}/finish": {"post": op("Finish a reply", "No more audio: what was sent plays to the end.", &["id", "reply", "wait"], &[("200", "The reply"), ("400", "An incomplete sample was left over (dropped)"), unknown, ("409", "Already finished or interrupted")])},
            "/v1/outputs/{id}/interrupt": {"post": op("Interrupt (barge-in)", "Every reply opened so far ends as interrupted; the playing one fades out within a frame.", &["id"], &[("200", "Which replies were covered"), unknown])},
            "/v1/outputs/{id}/pause": {"post": op("Pause", "Hold speech from the next frame on (silence goes out).", &["id"], &[("200", "Paused"), unknown])},
            "/v1/outputs/{id}/resume": {"post": op("Resume", "Play held speech again, unchanged.", &["id"], &[("200", "Resumed"), unknown])},
            "/v1/outputs/{id}/enable-input": {"post": op("Re-open intake", "With output.manual_input, an interrupt closes intake (new replies get 409 intake_closed) until this is called.", &["id"], &[("200", "Intake open"), unknown])},
            "/v1/outputs/{id}/background": {
                "get": op("The background", "Enabled and gain.", &["id"], &[("200", "The background"), unknown]),
                "put": bg
            },
            "/v1/outputs/{id}/clips/{name}": {"post": op("Fire a clip", "Plays a configured one-shot clip over the background.", &["id", "name"], &[("200", "Fired"), unknown, ("503", "The output is not rendering")])},
            "/v1/outputs/{id}/demo": {"post": op("Demo reply", "Plays the built-in example speech as a reply (the web page's button).", &["id"], &[("201", "The reply"), unknown, ("409", "Intake closed"), ("503", "Shutting down")])},
            "/v1/outputs/{id}/events": {"get": {
                "summary": "Live events (server-sent events)",
                "description": "event: hello first, then speech_started, playback_finished (played_ms, interrupted), paused, resumed, speaking_changed, sink_detached, lagged, output_ended. Each data line is the JSON object; id is the sequence number.",
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
                "responses": {"200": {"description": "An event stream", "content": {"text/event-stream": {"schema": {"type": "string"}}}}, "404": {"description": "Unknown output"}}
            }},
            "/v1/outputs/{id}/audio": {"get": {
                "summary": "Live audio (WAV stream)",
                "description": "The output's mixed audio as it goes out, as an endless 16-bit WAV. At most 4 at once per output.",
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
                "responses": {"200": {"description": "WAV stream", "content": {"audio/wav": {"schema": {"type": "string", "format": "binary"}}}}, "404": {"description": "Unknown output"}, "429": {"description": "All monitor slots in use"}}
            }},
            "/metrics": {"get": {"summary": "Prometheus metrics", "responses": {"200": {"description": "Text exposition format", "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
            "/healthz": {"get": {"summary": "Liveness", "responses": {"200": {"description": "ok"}}}}
        },
        "components": {"schemas": {"Any": {"type": "object"}}}
    })
}
