//! Track events as JSON: one shape for the render event log and the live event stream.

use serde_json::{json, Value};
use voxpace_core::{Event, Position, TextTiming};

/// The event's name as it appears in JSON (`"type"`) and in SSE (`event:`).
pub fn event_name(event: &Event) -> &'static str {
    match event {
        Event::SpeechStarted { .. } => "speech_started",
        Event::TextPlayed { .. } => "text_played",
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
        | Event::TextPlayed { pts, .. }
        | Event::Paused { pts }
        | Event::Resumed { pts }
        | Event::SpeakingChanged { pts, .. } => Some(*pts),
        Event::PlaybackFinished(o) => Some(o.pts),
        _ => None,
    }
}

/// `text_timing` in JSON: how a reply's heard text was established.
pub fn text_timing(timing: TextTiming) -> &'static str {
    match timing {
        TextTiming::Marks => "marks",
        TextTiming::Estimated => "estimated",
        _ => "other",
    }
}

/// The event as a JSON object: `type`, `pts` (samples), `t_ms` (media time) and its fields.
pub fn event_json(event: &Event, sample_rate: u32) -> Value {
    let mut v = match event {
        Event::SpeechStarted { reply, .. } => json!({ "reply": reply.0 }),
        Event::TextPlayed {
            reply,
            text,
            offset,
            ..
        } => json!({
            "reply": reply.0,
            "text": text,
            "offset": offset,
            "offset_ms": *offset as f64 * 1000.0 / sample_rate as f64,
        }),
        Event::PlaybackFinished(o) => {
            let mut v = json!({
                "reply": o.reply.0,
                "played_samples": o.played_samples,
                "played_ms": o.played.as_secs_f64() * 1000.0,
                "interrupted": o.interrupted,
                "position": match o.position {
                    Position::Exact => "exact",
                    Position::Reported => "reported",
                    Position::Estimated => "estimated",
                },
            });
            if let Some(h) = &o.heard {
                v["heard_text"] = h.text.as_str().into();
                v["marks_played"] = h.marks.into();
                v["text_timing"] = text_timing(h.timing).into();
            }
            v
        }
        Event::SpeakingChanged { speaking, .. } => json!({ "speaking": speaking }),
        Event::SinkDetached { sink, name, reason } => {
            json!({ "sink": sink.0, "name": name, "reason": reason })
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

/// A background source's damage or failure as a JSON event (`source_damaged`,
/// `source_failed`, `source_finished`), with `pts`/`t_ms` when it was heard. Named as a
/// client names them (see the runtime README's event grammar): `source` is the source's
/// number, `file` the file's name as configured (never a path: logs compare across
/// machines and a client is not told the server's directories), `reason` the problem
/// without the path, or for `source_finished` one of `ended`, `stopped`, `failed`.
pub fn source_event_json(
    event: &voxpace_sources::SourceEvent,
    sample_rate: u32,
) -> Option<(&'static str, Value)> {
    use voxpace_sources::{Recovery, SourceEvent};
    let name_of = |p: &std::path::Path| {
        p.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let at = |pts: u64| (pts, pts as f64 * 1000.0 / sample_rate as f64);
    let (name, v) = match event {
        SourceEvent::Failed {
            id,
            path,
            error,
            pts,
        } => {
            let (pts, t_ms) = at(*pts);
            (
                "source_failed",
                json!({"source": id.get(), "file": name_of(path), "reason": error.detail(), "pts": pts, "t_ms": t_ms}),
            )
        }
        SourceEvent::Damaged {
            id,
            path,
            error,
            pts,
            recovery,
        } => {
            let (pts, t_ms) = at(*pts);
            let (recovery, attempt) = match recovery {
                Recovery::Skipped => ("skipped", None),
                Recovery::Restarted { attempt } => ("restarted", Some(*attempt)),
                _ => ("other", None),
            };
            (
                "source_damaged",
                json!({"source": id.get(), "file": name_of(path), "reason": error.detail(), "recovery": recovery, "attempt": attempt, "pts": pts, "t_ms": t_ms}),
            )
        }
        SourceEvent::Finished { id, path, reason } => (
            "source_finished",
            json!({"source": id.get(), "file": name_of(path), "reason": reason.as_str()}),
        ),
        _ => return None,
    };
    let mut v = v;
    v.as_object_mut()
        .expect("built as an object")
        .insert("type".into(), name.into());
    Some((name, v))
}
