//! Everything that can go wrong loading or running a plugin; every variant names the file.

use std::path::PathBuf;

use voxpace_sink_abi::AbiVersion;

/// A plugin could not be loaded, created or checked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Nothing at the path.
    #[error("{}: no such plugin file", path.display())]
    MissingFile {
        /// The path given.
        path: PathBuf,
    },
    /// The file is not a shared library, or a library that is not a voxpace sink plugin.
    #[error("{}: not a voxpace sink plugin: {reason}", path.display())]
    NotAPlugin {
        /// The file.
        path: PathBuf,
        /// What was found instead.
        reason: String,
    },
    /// A voxpace sink plugin built against an ABI this host cannot load.
    #[error(
        "{}: incompatible plugin ABI: the plugin was built against voxpace-sink-abi {found}, \
         this host loads {expected_major}.x ({detail}); rebuild the plugin against \
         voxpace-sink-abi {expected_major}.x",
        path.display()
    )]
    IncompatibleAbi {
        /// The file.
        path: PathBuf,
        /// The version the plugin declares.
        found: String,
        /// The major version this host loads.
        expected_major: u16,
        /// What the check found.
        detail: String,
    },
    /// The plugin's own initialisation refused its configuration.
    #[error("{}: the plugin rejected its configuration: {reason}", path.display())]
    ConfigRejected {
        /// The file.
        path: PathBuf,
        /// The plugin's reason.
        reason: String,
    },
    /// The plugin loaded but failed while describing itself.
    #[error("{}: the plugin failed: {reason}", path.display())]
    PluginFailed {
        /// The file.
        path: PathBuf,
        /// What happened.
        reason: String,
    },
    /// The track used for a check refused something.
    #[error("{}: {source}", path.display())]
    Track {
        /// The file being checked.
        path: PathBuf,
        /// The track's error.
        source: voxpace_core::Error,
    },
}

impl Error {
    /// What the caller can do about it. A plugin that is missing, is not a plugin, has
    /// another ABI or rejects its configuration needs another file or configuration
    /// (`InvalidInput`); a plugin that failed describing itself is broken (`Fatal`); a
    /// check's track error keeps the track's own kind.
    pub fn kind(&self) -> voxpace_core::ErrorKind {
        use voxpace_core::ErrorKind;
        match self {
            Error::MissingFile { .. }
            | Error::NotAPlugin { .. }
            | Error::IncompatibleAbi { .. }
            | Error::ConfigRejected { .. } => ErrorKind::InvalidInput,
            Error::PluginFailed { .. } => ErrorKind::Fatal,
            Error::Track { source, .. } => source.kind(),
        }
    }

    /// The plugin file the error is about.
    pub fn path(&self) -> &std::path::Path {
        match self {
            Error::MissingFile { path }
            | Error::NotAPlugin { path, .. }
            | Error::IncompatibleAbi { path, .. }
            | Error::ConfigRejected { path, .. }
            | Error::PluginFailed { path, .. }
            | Error::Track { path, .. } => path,
        }
    }
}

/// The major ABI version this host loads.
pub(crate) const HOST_ABI: AbiVersion = voxpace_sink_abi::ABI_VERSION;
