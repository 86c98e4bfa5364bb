//! Interrupt, pause, resume, enable-input and clips: each answers what it did.

use serde::Serialize;
use utoipa::ToSchema;

/// `POST /v1/outputs/{id}/interrupt`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct Interrupted {
    /// The output.
    pub output: String,
    /// The newest reply the interrupt covers (every reply up to it ended as interrupted);
    /// null when no reply was open.
    pub interrupted_through: Option<u64>,
}

/// `POST /v1/outputs/{id}/pause` and `.../resume`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct PauseState {
    /// The output.
    pub output: String,
    /// True after pause, false after resume.
    pub paused: bool,
}

/// `POST /v1/outputs/{id}/enable-input`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct InputState {
    /// The output.
    pub output: String,
    /// Always `open`.
    #[schema(pattern = "^open$")]
    pub input: String,
}

/// `POST /v1/outputs/{id}/clips/{name}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct ClipFired {
    /// The output.
    pub output: String,
    /// The clip.
    pub clip: String,
}
