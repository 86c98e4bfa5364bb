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
    /// A background or clip file could not be played; the sources crate's error, kind kept.
    #[error(transparent)]
    Source(#[from] voxpace_sources::Error),
    /// A `[[sinks]]` entry could not be made into a sink (its plugin failed to load or
    /// refused its configuration); `kind` is the plugin error's.
    #[error("sink {name}: {reason}")]
    Sink {
        /// The entry's name and file.
        name: String,
        /// What the caller can do about it.
        kind: voxpace_core::ErrorKind,
        /// Why.
        reason: String,
    },
    /// A plugin sink stopped handling its events (render waits for sinks, frame by frame).
    #[error("sink {names}: {reason}")]
    SinkStuck {
        /// The configured sinks, any of which may be the one that blocks.
        names: String,
        /// What happened, and when in the render.
        reason: String,
    },
}

impl Error {
    /// What the caller can do about it: fix the input (a config, script or audio file, a
    /// path), retry (an interrupted or timed-out read), or give up (a failing disk, a track
    /// that is gone).
    pub fn kind(&self) -> voxpace_core::ErrorKind {
        use std::io::ErrorKind as Io;
        use voxpace_core::ErrorKind as K;
        match self {
            Error::Io { source, .. } => match source.kind() {
                Io::NotFound
                | Io::PermissionDenied
                | Io::AlreadyExists
                | Io::InvalidInput
                | Io::InvalidData
                | Io::IsADirectory
                | Io::NotADirectory => K::InvalidInput,
                Io::Interrupted | Io::TimedOut | Io::WouldBlock => K::Retryable,
                // std's io::ErrorKind is non-exhaustive: what is not named above is the
                // machine's trouble (a failing disk, out of space), not the input's.
                _ => K::Fatal,
            },
            Error::Invalid(_) | Error::Audio { .. } => K::InvalidInput,
            Error::Core(e) => e.kind(),
            Error::Source(e) => e.kind(),
            Error::Sink { kind, .. } => *kind,
            Error::Output { .. } | Error::SinkStuck { .. } => K::Fatal,
        }
    }

    /// A stable name of the error, for the HTTP API's error bodies.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Io { .. } => "io",
            Error::Invalid(_) => "invalid_config",
            Error::Audio { .. } => "bad_audio",
            Error::Core(e) => e.code(),
            Error::Source(_) => "source_failed",
            Error::Sink { .. } => "sink_failed",
            Error::Output { .. } => "output_failed",
            Error::SinkStuck { .. } => "sink_stuck",
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use voxpace_core::ErrorKind;

    #[test]
    fn kinds() {
        let missing = Error::io("x.toml", std::io::Error::from(std::io::ErrorKind::NotFound));
        assert_eq!(missing.kind(), ErrorKind::InvalidInput);
        assert_eq!(Error::Invalid(Vec::new()).kind(), ErrorKind::InvalidInput);
        assert_eq!(
            Error::Core(voxpace_core::Error::TrackClosed).kind(),
            ErrorKind::Fatal
        );
        let output = Error::Output {
            path: "o.wav".into(),
            reason: "disk full".into(),
        };
        assert_eq!(output.kind(), ErrorKind::Fatal);
    }
}
