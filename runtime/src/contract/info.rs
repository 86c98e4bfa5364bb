//! `GET /v1/info` and `GET /readyz`.

use std::collections::BTreeMap;

use serde::Serialize;
use utoipa::ToSchema;

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

/// Readiness: every output that publishes over WHIP is published, and the server is not
/// shutting down.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct Ready {
    /// True when ready (200); false answers 503.
    pub ready: bool,
    /// Why not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The outputs not yet published, with their publish state.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outputs: Option<BTreeMap<String, PublishView>>,
}
