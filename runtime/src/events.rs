//! Track events as JSON: one shape for the render event log and the live event stream.

use serde_json::{json, Value};
use voxpace_core::{Event, Position, TextTiming};

use crate::contract::events::{self as ev, MediaTime, StreamEvent};

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

/// The track event as the live stream and the event log carry it (`None` for an event this
/// build does not know).
pub(crate) fn track_event(event: &Event, sample_rate: u32) -> Option<StreamEvent> {
    let at = |pts: u64| MediaTime::at(pts, sample_rate);
    Some(match event {
        Event::SpeechStarted { reply, pts } => {
            let MediaTime { pts, t_ms } = at(*pts);
            StreamEvent::SpeechStarted(ev::SpeechStarted {
                reply: reply.0,
                pts,
                t_ms,
            })
        }
        Event::TextPlayed {
            reply,
            text,
            offset,
            pts,
        } => {
            let MediaTime { pts, t_ms } = at(*pts);
            StreamEvent::TextPlayed(ev::TextPlayed {
                reply: reply.0,
                text: text.clone(),
                offset: *offset,
                offset_ms: *offset as f64 * 1000.0 / sample_rate as f64,
                pts,
                t_ms,
            })
        }
        Event::PlaybackFinished(o) => {
            let MediaTime { pts, t_ms } = at(o.pts);
            StreamEvent::PlaybackFinished(ev::PlaybackFinished {
                reply: o.reply.0,
                played_samples: o.played_samples,
                played_ms: o.played.as_secs_f64() * 1000.0,
                interrupted: o.interrupted,
                position: match o.position {
                    Position::Exact => "exact",
                    Position::Reported => "reported",
                    Position::Estimated => "estimated",
                },
                heard_text: o.heard.as_ref().map(|h| h.text.clone()),
                marks_played: o.heard.as_ref().map(|h| h.marks),
                text_timing: o.heard.as_ref().map(|h| text_timing(h.timing)),
                loudness: o.loudness.map(|l| ev::Loudness {
                    measured_lufs: l.measured_lufs.map(f64::from),
                    gain_db: f64::from(l.gain_db),
                }),
                pts,
                t_ms,
            })
        }
        Event::Paused { pts } => StreamEvent::Paused(at(*pts)),
        Event::Resumed { pts } => StreamEvent::Resumed(at(*pts)),
        Event::SpeakingChanged { speaking, pts } => {
            let MediaTime { pts, t_ms } = at(*pts);
            StreamEvent::SpeakingChanged(ev::SpeakingChanged {
                speaking: *speaking,
                pts,
                t_ms,
            })
        }
        Event::SinkDetached { sink, name, reason } => StreamEvent::SinkDetached(ev::SinkDetached {
            sink: sink.0,
            name: name.clone(),
            reason: reason.clone(),
        }),
        _ => return None,
    })
}

/// The event as a JSON object: `type`, `pts` (samples), `t_ms` (media time) and its fields.
pub fn event_json(event: &Event, sample_rate: u32) -> Value {
    match track_event(event, sample_rate) {
        Some(e) => serde_json::to_value(e).unwrap_or_default(),
        None => json!({ "type": event_name(event) }),
    }
}

/// A background source's damage or failure as an event (`source_damaged`, `source_failed`,
/// `source_finished`), with `pts`/`t_ms` when it was heard. Named as a client names them
/// (see the runtime README's event grammar): `source` is the source's number, `file` the
/// file's name as configured (never a path: logs compare across machines and a client is
/// not told the server's directories), `reason` the problem without the path, or for
/// `source_finished` one of `ended`, `stopped`, `failed`.
pub(crate) fn source_event(
    event: &voxpace_sources::SourceEvent,
    sample_rate: u32,
) -> Option<StreamEvent> {
    use voxpace_sources::{Recovery, SourceEvent};
    let name_of = |p: &std::path::Path| {
        p.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let at = |pts: u64| MediaTime::at(pts, sample_rate);
    Some(match event {
        SourceEvent::Failed {
            id,
            path,
            error,
            pts,
        } => {
            let MediaTime { pts, t_ms } = at(*pts);
            StreamEvent::SourceFailed(ev::SourceFailed {
                source: id.get(),
                file: name_of(path),
                reason: error.detail(),
                pts,
                t_ms,
            })
        }
        SourceEvent::Damaged {
            id,
            path,
            error,
            pts,
            recovery,
        } => {
            let MediaTime { pts, t_ms } = at(*pts);
            let (recovery, attempt) = match recovery {
                Recovery::Skipped => ("skipped", None),
                Recovery::Restarted { attempt } => ("restarted", Some(*attempt)),
                _ => ("other", None),
            };
            StreamEvent::SourceDamaged(ev::SourceDamaged {
                source: id.get(),
                file: name_of(path),
                reason: error.detail(),
                recovery,
                attempt,
                pts,
                t_ms,
            })
        }
        SourceEvent::Finished { id, path, reason } => {
            StreamEvent::SourceFinished(ev::SourceFinished {
                source: id.get(),
                file: name_of(path),
                reason: reason.as_str(),
            })
        }
        _ => return None,
    })
}

/// [`source_event`] as its name and JSON object (for the event log).
pub fn source_event_json(
    event: &voxpace_sources::SourceEvent,
    sample_rate: u32,
) -> Option<(&'static str, Value)> {
    let e = source_event(event, sample_rate)?;
    Some((e.name(), serde_json::to_value(&e).unwrap_or_default()))
}
