//! The events of an output's live stream (`GET /v1/outputs/{id}/events`; the render event
//! log uses the track's and sources' events too): one struct per event, and [`StreamEvent`],
//! their union tagged by `type`. The server builds every event it sends as a
//! [`StreamEvent`] and serialises that, and the document's schema of the stream is derived
//! from the same types, so the two cannot drift.

use serde::Serialize;
use utoipa::ToSchema;

use super::outputs::PublishView;

/// One event as its JSON object; `type` (the SSE `event:` name) names the variant.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum StreamEvent {
    /// First on every stream.
    Hello(Hello),
    /// A reply's first sample went out.
    SpeechStarted(SpeechStarted),
    /// A text mark's first sample went out: the listener hears `text` now.
    TextPlayed(TextPlayed),
    /// A reply ended: played to its end, or interrupted.
    PlaybackFinished(PlaybackFinished),
    /// Speech was held.
    Paused(MediaTime),
    /// Speech goes on.
    Resumed(MediaTime),
    /// Speech started, or stopped for longer than the grace period.
    SpeakingChanged(SpeakingChanged),
    /// A sink failed and was detached; the others go on.
    SinkDetached(SinkDetached),
    /// Damage in a background file, skipped or restarted past.
    SourceDamaged(SourceDamaged),
    /// A background file failed and stopped.
    SourceFailed(SourceFailed),
    /// A background source ended.
    SourceFinished(SourceFinished),
    /// A reply's body stalled or broke mid-stream; the reply ends with what arrived.
    ReplyIncomplete(ReplyIncomplete),
    /// Damage skipped in a compressed reply body.
    ReplyDamaged(ReplyDamaged),
    /// The WHIP publish changed state (also sent right after `hello`).
    #[cfg_attr(not(feature = "webrtc"), allow(dead_code))] // sent with WebRTC only
    PublishState(PublishView),
    /// This subscriber fell behind: `missed` events were dropped for it.
    Lagged(Lagged),
    /// Last on the stream: the output ended, after every reply's `playback_finished`.
    OutputEnded(OutputEnded),
}

impl StreamEvent {
    /// The SSE event name: the JSON's `type`.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Self::Hello(_) => "hello",
            Self::SpeechStarted(_) => "speech_started",
            Self::TextPlayed(_) => "text_played",
            Self::PlaybackFinished(_) => "playback_finished",
            Self::Paused(_) => "paused",
            Self::Resumed(_) => "resumed",
            Self::SpeakingChanged(_) => "speaking_changed",
            Self::SinkDetached(_) => "sink_detached",
            Self::SourceDamaged(_) => "source_damaged",
            Self::SourceFailed(_) => "source_failed",
            Self::SourceFinished(_) => "source_finished",
            Self::ReplyIncomplete(_) => "reply_incomplete",
            Self::ReplyDamaged(_) => "reply_damaged",
            Self::PublishState(_) => "publish_state",
            Self::Lagged(_) => "lagged",
            Self::OutputEnded(_) => "output_ended",
        }
    }

    /// The JSON object as sent.
    pub(crate) fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Where in the output's media an event happened: `pts` in samples per channel, `t_ms` the
/// same as milliseconds.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub(crate) struct MediaTime {
    /// Samples per channel since the output started.
    pub pts: u64,
    /// `pts` in milliseconds.
    pub t_ms: f64,
}

impl MediaTime {
    pub(crate) fn at(pts: u64, sample_rate: u32) -> Self {
        Self {
            pts,
            t_ms: pts as f64 * 1000.0 / sample_rate as f64,
        }
    }
}

/// `hello`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct Hello {
    /// The output this stream follows.
    pub output: String,
}

/// `speech_started`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct SpeechStarted {
    /// The reply.
    pub reply: u64,
    /// Samples per channel since the output started.
    pub pts: u64,
    /// `pts` in milliseconds.
    pub t_ms: f64,
}

/// `text_played`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct TextPlayed {
    /// The reply.
    pub reply: u64,
    /// The mark's text, with the producer's own spacing.
    pub text: String,
    /// The mark's offset in the reply, in samples per channel.
    pub offset: u64,
    /// `offset` in milliseconds.
    pub offset_ms: f64,
    /// Samples per channel since the output started.
    pub pts: u64,
    /// `pts` in milliseconds.
    pub t_ms: f64,
}

/// `playback_finished`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct PlaybackFinished {
    /// The reply.
    pub reply: u64,
    /// Samples per channel played out (for an interrupted reply, including its fade).
    pub played_samples: u64,
    /// `played_samples` in milliseconds.
    pub played_ms: f64,
    /// The reply ended by interrupt.
    pub interrupted: bool,
    /// How the played position was established: exact, reported (by a sink that owns
    /// playback) or estimated.
    #[schema(pattern = "^(exact|reported|estimated)$")]
    pub position: &'static str,
    /// What the listener heard of the reply's text (replies with text only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub heard_text: Option<String>,
    /// Text marks played (replies with text only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub marks_played: Option<u32>,
    /// marks (from text marks) or estimated (from the whole text); replies with text only.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^(marks|estimated)$")]
    pub text_timing: Option<&'static str>,
    /// Loudness normalisation, when the output normalises replies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loudness: Option<Loudness>,
    /// Samples per channel since the output started (the frame the reply ended on).
    pub pts: u64,
    /// `pts` in milliseconds.
    pub t_ms: f64,
}

/// A normalised reply's loudness.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub(crate) struct Loudness {
    /// Integrated loudness of the reply as received, in LUFS; null under 400 ms of sound.
    pub measured_lufs: Option<f64>,
    /// The gain applied to its last samples, in dB.
    pub gain_db: f64,
}

/// `speaking_changed`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct SpeakingChanged {
    /// Speech is playing.
    pub speaking: bool,
    /// Samples per channel since the output started.
    pub pts: u64,
    /// `pts` in milliseconds.
    pub t_ms: f64,
}

/// `sink_detached`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct SinkDetached {
    /// The sink's number.
    pub sink: u64,
    /// The sink's name.
    pub name: String,
    /// Why it was detached.
    pub reason: String,
}

/// `source_damaged`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct SourceDamaged {
    /// The source's number (from 1 per background).
    pub source: u64,
    /// The file's name as configured (never a path).
    pub file: String,
    /// The problem, without the path.
    pub reason: String,
    /// skipped (past the damage) or restarted (from the start).
    #[schema(pattern = "^(skipped|restarted|other)$")]
    pub recovery: &'static str,
    /// Which restart this is (restarted only, else null).
    pub attempt: Option<u32>,
    /// Samples per channel since the output started (when it was heard).
    pub pts: u64,
    /// `pts` in milliseconds.
    pub t_ms: f64,
}

/// `source_failed`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct SourceFailed {
    /// The source's number (from 1 per background).
    pub source: u64,
    /// The file's name as configured (never a path).
    pub file: String,
    /// The problem, without the path.
    pub reason: String,
    /// Samples per channel since the output started (when it was heard).
    pub pts: u64,
    /// `pts` in milliseconds.
    pub t_ms: f64,
}

/// `source_finished`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct SourceFinished {
    /// The source's number (from 1 per background).
    pub source: u64,
    /// The file's name as configured (never a path).
    pub file: String,
    /// ended, stopped or failed.
    #[schema(pattern = "^(ended|stopped|failed)$")]
    pub reason: &'static str,
}

/// `reply_incomplete`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct ReplyIncomplete {
    /// The reply.
    pub reply: u64,
    /// Why its body ended early (e.g. body_timeout, damaged_audio).
    pub reason: String,
    /// Audio accepted for the reply, in milliseconds: what plays.
    pub accepted_ms: f64,
}

/// `reply_damaged`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct ReplyDamaged {
    /// The reply.
    pub reply: u64,
    /// Where in the reply's audio the damage was, in milliseconds.
    pub at_ms: f64,
    /// The problem.
    pub reason: String,
}

/// `lagged`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct Lagged {
    /// Events dropped for this subscriber.
    pub missed: u64,
}

/// `output_ended`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct OutputEnded {
    /// The output.
    pub output: String,
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    /// One event of every type, each optional field given.
    fn one_of_each() -> Vec<StreamEvent> {
        let at = MediaTime::at(480, 24_000);
        let s = String::new;
        vec![
            StreamEvent::Hello(Hello { output: s() }),
            StreamEvent::SpeechStarted(SpeechStarted {
                reply: 1,
                pts: 0,
                t_ms: 0.0,
            }),
            StreamEvent::TextPlayed(TextPlayed {
                reply: 1,
                text: s(),
                offset: 0,
                offset_ms: 0.0,
                pts: 0,
                t_ms: 0.0,
            }),
            StreamEvent::PlaybackFinished(PlaybackFinished {
                reply: 1,
                played_samples: 0,
                played_ms: 0.0,
                interrupted: false,
                position: "exact",
                heard_text: Some(s()),
                marks_played: Some(0),
                text_timing: Some("marks"),
                loudness: Some(Loudness {
                    measured_lufs: None,
                    gain_db: 0.0,
                }),
                pts: 0,
                t_ms: 0.0,
            }),
            StreamEvent::Paused(at),
            StreamEvent::Resumed(at),
            StreamEvent::SpeakingChanged(SpeakingChanged {
                speaking: true,
                pts: 0,
                t_ms: 0.0,
            }),
            StreamEvent::SinkDetached(SinkDetached {
                sink: 0,
                name: s(),
                reason: s(),
            }),
            StreamEvent::SourceDamaged(SourceDamaged {
                source: 1,
                file: s(),
                reason: s(),
                recovery: "restarted",
                attempt: Some(1),
                pts: 0,
                t_ms: 0.0,
            }),
            StreamEvent::SourceFailed(SourceFailed {
                source: 1,
                file: s(),
                reason: s(),
                pts: 0,
                t_ms: 0.0,
            }),
            StreamEvent::SourceFinished(SourceFinished {
                source: 1,
                file: s(),
                reason: "ended",
            }),
            StreamEvent::ReplyIncomplete(ReplyIncomplete {
                reply: 1,
                reason: s(),
                accepted_ms: 0.0,
            }),
            StreamEvent::ReplyDamaged(ReplyDamaged {
                reply: 1,
                at_ms: 0.0,
                reason: s(),
            }),
            StreamEvent::PublishState(PublishView {
                url: s(),
                state: "published".into(),
                attempts: 1,
                failures: 0,
                publishes: 1,
                last_error: Some(s()),
                resource: Some(s()),
                retry_in_ms: Some(0),
                since_ms: 0,
            }),
            StreamEvent::Lagged(Lagged { missed: 1 }),
            StreamEvent::OutputEnded(OutputEnded { output: s() }),
        ]
    }

    /// The document's `StreamEvent`: event type -> its fields (besides `type`).
    fn documented() -> std::collections::BTreeMap<String, Vec<String>> {
        let doc = serde_json::to_value(crate::contract::document()).unwrap();
        let schemas = &doc["components"]["schemas"];
        let mut out = std::collections::BTreeMap::new();
        for variant in schemas["StreamEvent"]["oneOf"].as_array().unwrap() {
            let (mut name, mut fields) = (String::new(), Vec::new());
            for part in variant["allOf"].as_array().unwrap() {
                let part = match part["$ref"].as_str() {
                    Some(r) => &schemas[r.rsplit('/').next().unwrap()],
                    None => part,
                };
                for (field, schema) in part["properties"].as_object().unwrap() {
                    if field == "type" {
                        name = schema["enum"][0].as_str().unwrap().to_owned();
                    } else {
                        fields.push(field.clone());
                    }
                }
            }
            fields.sort();
            out.insert(name, fields);
        }
        out
    }

    #[test]
    fn every_event_is_sent_as_the_document_describes_it() {
        let documented = documented();
        let events = one_of_each();
        assert_eq!(documented.len(), events.len(), "{documented:?}");
        for event in events {
            let json: Value = serde_json::from_str(&event.to_json()).unwrap();
            assert_eq!(
                json["type"],
                event.name(),
                "the SSE name is the JSON's type"
            );
            let mut fields: Vec<String> = json
                .as_object()
                .unwrap()
                .keys()
                .filter(|k| *k != "type")
                .cloned()
                .collect();
            fields.sort();
            assert_eq!(
                Some(&fields),
                documented.get(event.name()),
                "{}: its fields as sent and as documented",
                event.name()
            );
        }
    }
}
