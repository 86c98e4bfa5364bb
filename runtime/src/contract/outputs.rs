//! Agent outputs: create, state, list, end; and their background.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /v1/outputs`: the new output's id.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateOutput {
    /// 1 to 64 characters from a-z, A-Z, 0-9, '-', '_'.
    #[schema(min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9_-]{1,64}$")]
    pub id: String,
}

/// The output's level over its last frame.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct Level {
    /// Peak sample, 0 to 32767.
    #[schema(maximum = 32767)]
    pub peak: u64,
    /// RMS, 0 to 32767.
    #[schema(maximum = 32767)]
    pub rms: u64,
}

/// An output's counters since it started.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct Stats {
    /// Frames rendered.
    pub frames: u64,
    /// Frames that carried speech.
    pub speech_frames: u64,
    /// Frames where a reply had no audio ready.
    pub underruns: u64,
    /// Frames rendered late.
    pub late_frames: u64,
    /// Audio frames sinks dropped (their queues were full).
    pub sink_drops: u64,
    /// Replies that played to the end.
    pub replies_completed: u64,
    /// Replies interrupted.
    pub replies_interrupted: u64,
}

/// The background: `enabled` (the music is wanted), `playing` (it really plays: false once
/// a file played once has ended, or failed), `gain_db`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct BackgroundView {
    /// The music is wanted.
    pub enabled: bool,
    /// It really plays.
    pub playing: bool,
    /// Its level in dB.
    #[schema(minimum = -90, maximum = 12)]
    pub gain_db: f32,
}

/// `PUT /v1/outputs/{id}/background`: change the level and/or play or stop it.
#[derive(Debug, Clone, PartialEq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct BackgroundChange {
    /// Background level in dB, ramped over one frame.
    #[schema(minimum = -90, maximum = 12)]
    pub gain_db: Option<f32>,
    /// Play (true) or stop (false) the configured background.
    pub enabled: Option<bool>,
}

/// An output's WHIP publish state (`null` when it does not publish).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct PublishView {
    /// The WHIP endpoint.
    pub url: String,
    /// connecting, published, retrying, failed or stopped.
    #[schema(pattern = "^(connecting|published|retrying|failed|stopped)$")]
    pub state: String,
    /// Publish attempts so far.
    pub attempts: u64,
    /// Failed attempts so far.
    pub failures: u64,
    /// Successful publishes so far.
    pub publishes: u64,
    /// The newest failure's message.
    pub last_error: Option<String>,
    /// The WHIP resource (Location) while published.
    pub resource: Option<String>,
    /// When the next attempt is due.
    pub retry_in_ms: Option<u64>,
    /// How long the state has held.
    pub since_ms: u64,
}

/// An agent output and where it stands.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct OutputView {
    /// The output's id.
    pub id: String,
    /// Speech is playing.
    pub speaking: bool,
    /// Speech is held.
    pub paused: bool,
    /// Speech queued, in milliseconds.
    pub buffered_ms: u64,
    /// The level of the last frame.
    pub level: Level,
    /// The background.
    pub background: BackgroundView,
    /// Counters.
    pub stats: Stats,
    /// Since the output started.
    pub uptime_ms: u64,
    /// The WHIP publish state, when it publishes.
    pub publish: Option<PublishView>,
}

/// `GET /v1/outputs`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct OutputList {
    /// Every output.
    pub outputs: Vec<OutputView>,
}

/// `DELETE /v1/outputs/{id}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct Ended {
    /// The output.
    pub id: String,
    /// Always true.
    pub ended: bool,
}
