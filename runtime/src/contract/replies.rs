//! Replies: open and stream audio, append, finish, state; their text marks.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::marks::MarkSpec;

/// The query of the requests that stream reply audio.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct AudioQuery {
    /// Finish the reply when this request's body ends (default true when opening with a
    /// body; false keeps it open for `.../audio`).
    pub finish: Option<bool>,
    /// Answer once the finished reply has played (or was interrupted).
    pub wait: Option<bool>,
    /// The reply's whole text, without timings: `playback_finished` then estimates what was
    /// heard (`text_timing = estimated`). For exact heard text send marks to `.../marks`.
    #[param(min_length = 1)]
    pub text: Option<String>,
}

/// The query of `POST .../finish`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct FinishQuery {
    /// Answer once the reply has played (or was interrupted).
    pub wait: Option<bool>,
}

/// Where a reply stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ReplyState {
    /// Audio may still be added.
    Open,
    /// No more audio; it plays to the end.
    Finished,
    /// It played to the end.
    Played,
    /// It was interrupted.
    Interrupted,
}

/// How a reply ended.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct OutcomeView {
    /// Samples per channel played.
    pub played_samples: u64,
    /// The same, in milliseconds.
    pub played_ms: f64,
    /// It ended by interrupt.
    pub interrupted: bool,
    /// The track pts where it ended.
    pub pts: u64,
    /// What was heard of its text (when it had text).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub heard_text: Option<String>,
    /// How many of its marks played.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub marks_played: Option<u64>,
    /// `marks` (exact) or `estimated` (from the whole text).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^(marks|estimated|other)$")]
    pub text_timing: Option<String>,
}

/// A reply and where it stands.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct ReplyView {
    /// The output.
    pub output: String,
    /// The reply's number (from 1, per output).
    #[schema(minimum = 1)]
    pub reply: u64,
    /// Open, finished, played or interrupted.
    pub state: ReplyState,
    /// Audio accepted so far, in milliseconds.
    pub accepted_ms: f64,
    /// Its body stalled or broke: it ended with what arrived.
    pub incomplete: bool,
    /// How it ended, once it has.
    pub outcome: Option<OutcomeView>,
}

/// `POST .../marks` in its object form: marks and/or the whole text.
#[derive(Debug, Clone, PartialEq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TextBody {
    /// Text marks in playing order.
    #[serde(default)]
    #[schema(max_items = 10_000)]
    pub marks: Vec<MarkSpec>,
    /// The rate `at_samples` count in (default: the output's rate).
    #[schema(minimum = 1000, maximum = 192_000)]
    pub rate: Option<u32>,
    /// The reply's whole text (for an estimate of what was heard).
    #[schema(min_length = 1)]
    pub text: Option<String>,
}

/// `POST .../marks`: a bare list of marks, or an object with marks and/or the whole text.
#[derive(Debug, Clone, PartialEq, Deserialize, ToSchema)]
#[serde(untagged)]
pub(crate) enum MarksBody {
    /// Text marks in playing order (at most 10 000: the document states it, see
    /// `paths::Shared`, since utoipa takes no limit on an enum variant).
    Marks(Vec<MarkSpec>),
    /// Marks and/or the whole text.
    Text(TextBody),
}
