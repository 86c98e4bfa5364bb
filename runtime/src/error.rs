//! The one error type of `voxpace-runtime`.

use std::path::PathBuf;

use crate::config::Issue;

/// Everything the runtime library can fail with. The binary adds context with `anyhow`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// A configuration or script file is invalid; every problem found is listed.
    #[error("{}", crate::config::format_issues(.0))]
    Invalid(Vec<Issue>),
    /// An audio file could not be decoded or has an unsupported layout.
    #[error("{path}: {reason}")]
    Audio {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The core track refused something.
    #[error(transparent)]
    Core(#[from] voxpace_core::Error),
    /// Writing an output (WAV, PNG, event log) failed.
    #[error("writing {path}: {reason}")]
    Output {
        /// The output file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
