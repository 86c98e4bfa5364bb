//! `GET /v1/info` and `GET /readyz`.

use std::collections::BTreeMap;

use serde::Serialize;
use utoipa::ToSchema;

use super::error::ErrorBody;
use super::outputs::PublishView;

/// The format every output renders.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct FormatView {
    /// Samples per second per channel.
    #[schema(minimum = 8000, maximum = 48000)]
    pub sample_rate: u32,
    /// 1 or 2.
    #[schema(minimum = 1, maximum = 2)]
    pub channels: u16,
    /// Frame length in milliseconds.
    #[schema(minimum = 10, maximum = 60)]
    pub frame_ms: u32,
}

/// Server information.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct Info {
    /// The server's version.
    pub version: String,
    /// The output format.
    pub format: FormatView,
    /// The ids of the outputs.
    pub outputs: Vec<String>,
    /// The configured clips.
    pub clips: Vec<String>,
    /// Whether WHEP listening is on.
    pub whep: bool,
    /// Whether control tokens are required.
    pub auth: bool,
    /// The WHIP publish state of each output that publishes.
    pub publish: BTreeMap<String, PublishView>,
}

/// Ready (200): the server takes work and every output that publishes over WHIP is
/// published.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct Ready {
    /// Always true.
    pub ready: bool,
}

/// Not ready (503): an error body (`not_ready`, retryable) that also says `ready: false`
/// and names the outputs not yet published, with their publish state.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct NotReady {
    /// `not_ready`, why (the message) and `retryable`.
    #[serde(flatten)]
    pub error: ErrorBody,
    /// Always false.
    pub ready: bool,
    /// The message again, under the name `/readyz` has always used.
    pub reason: String,
    /// The outputs not yet published (none while shutting down).
    pub outputs: BTreeMap<String, PublishView>,
}
