//! Track events as JSON: one shape for the render event log and the live event stream.

use serde_json::{json, Value};
use voxpace_core::{Event, Position};

/// The event's name as it appears in JSON (`"type"`) and in SSE (`event:`).
pub fn event_name(event: &Event) -> &'static str {
    match event {
        Event::SpeechStarted { .. } => "speech_started",
        Event::PlaybackFinished(_) => "playback_finished",
        Event::Paused { .. } => "paused",
        Event::Resumed { .. } => "resumed",
        Event::SpeakingChanged { .. } => "speaking_changed",
        Event::SinkDetached { .. } => "sink_detached",
        _ => "other",
    }
}

/// The pts an event happened at, when it has one.
pub fn event_pts(event: &Event) -> Option<u64> {
    match event {
        Event::SpeechStarted { pts, .. }
        | Event::Paused { pts }
        | Event::Resumed { pts }
        | Event::SpeakingChanged { pts, .. } => Some(*pts),
        Event::PlaybackFinished(o) => Some(o.pts),
        _ => None,
    }
}

/// The event as a JSON object: `type`, `pts` (samples), `t_ms` (media time) and its fields.
pub fn event_json(event: &Event, sample_rate: u32) -> Value {
    let mut v = match event {
        Event::SpeechStarted { reply, .. } => json!({ "reply": reply.0 }),
        Event::PlaybackFinished(o) => json!({
            "reply": o.reply.0,
            "played_samples": o.played_samples,
            "played_ms": o.played.as_secs_f64() * 1000.0,
            "interrupted": o.interrupted,
            "position": match o.position {
                Position::Exact => "exact",
                Position::Reported => "reported",
                Position::Estimated => "estimated",
            },
        }),
        Event::SpeakingChanged { speaking, .. } => json!({ "speaking": speaking }),
        Event::SinkDetached { sink, name, reason } => {
            json!({ "sink": format!("{sink:?}"), "name": name, "reason": reason })
        }
        _ => json!({}),
    };
    let obj = v.as_object_mut().expect("built as an object");
    if let Event::PlaybackFinished(o) = event {
        if let Some(l) = o.loudness {
            let l = json!({"measured_lufs": l.measured_lufs, "gain_db": l.gain_db});
            obj.insert("loudness".into(), l);
        }
    }
    obj.insert("type".into(), event_name(event).into());
    if let Some(pts) = event_pts(event) {
        obj.insert("pts".into(), pts.into());
        obj.insert(
            "t_ms".into(),
            (pts as f64 * 1000.0 / sample_rate as f64).into(),
        );
    }
    v
}
