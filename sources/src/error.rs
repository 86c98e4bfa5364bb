//! Everything that can go wrong in this crate, each case naming the file it is about.

use std::path::PathBuf;

use voxpace_core::ErrorKind;

/// The errors of `voxpace-sources`.
///
/// Opening a file fails early and synchronously (`NotFound`, `Io`, `NotAudio`, `Unsupported`,
/// `Corrupt`); a file that breaks later, while it plays, is reported as
/// [`SourceEvent::Failed`](crate::SourceEvent::Failed) carrying one of `Truncated`, `Corrupt`
/// or `Io`. Nothing here is retryable except `Io`, which may be a transient file-system problem.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The path does not exist.
    #[error("{}: no such file", path.display())]
    NotFound {
        /// The file asked for.
        path: PathBuf,
    },
    /// The file exists but could not be read (permissions, a directory, an I/O failure).
    #[error("{}: cannot read: {message}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        message: String,
    },
    /// The file is not in any audio container format this crate reads (WAV, FLAC, MP3, Ogg,
    /// MP4/M4A), or holds no audio track.
    #[error("{}: not an audio file ({reason})", path.display())]
    NotAudio {
        /// The file.
        path: PathBuf,
        /// Why it was rejected.
        reason: String,
    },
    /// The file is audio, but in a codec or layout this crate does not decode (Opus, ALAC, a
    /// sample rate outside 8–96 kHz, ...).
    #[error("{}: unsupported: {what}", path.display())]
    Unsupported {
        /// The file.
        path: PathBuf,
        /// The codec or property that is not supported.
        what: String,
    },
    /// The file ends before its headers say it should (a cut-off download or copy).
    #[error("{}: truncated after {decoded_ms} ms of audio{}", path.display(),
        expected_ms.map(|e| format!(" (the header promises {e} ms)")).unwrap_or_default())]
    Truncated {
        /// The file.
        path: PathBuf,
        /// How much audio decoded before the end.
        decoded_ms: u64,
        /// How much the header announced, when it did.
        expected_ms: Option<u64>,
    },
    /// The data is damaged: a packet failed to decode.
    #[error("{}: corrupt audio data after {decoded_ms} ms: {detail}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// How much audio decoded before the damage.
        decoded_ms: u64,
        /// The decoder's message.
        detail: String,
    },
    /// An argument is out of range (a rate of 0, a channel count of 0, a NaN gain, ...).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The [`BackgroundMixer`](crate::BackgroundMixer) was dropped (for example its track
    /// ended), so the command cannot reach it.
    #[error("the background mixer is gone (its track was dropped)")]
    MixerGone,
    /// The mixer has not taken commands for a while (it is not being rendered): the
    /// command queue is full.
    #[error("the background mixer's command queue is full (is its track rendering?)")]
    CommandQueueFull,
    /// Too many sources are playing at once (see [`MAX_VOICES`](crate::MAX_VOICES)).
    #[error("too many sources playing at once (at most {0})")]
    TooManySources(usize),
}

impl Error {
    /// What the caller can do about it: a bad file or argument is
    /// [`InvalidInput`](ErrorKind::InvalidInput) (fix the input); an I/O failure or a full
    /// command queue is [`Retryable`](ErrorKind::Retryable); a mixer whose track is gone is
    /// [`Fatal`](ErrorKind::Fatal); too many sources playing is retryable once one ends.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::NotFound { .. }
            | Error::NotAudio { .. }
            | Error::Unsupported { .. }
            | Error::Truncated { .. }
            | Error::Corrupt { .. }
            | Error::InvalidArgument(_) => ErrorKind::InvalidInput,
            Error::Io { .. } | Error::CommandQueueFull | Error::TooManySources(_) => {
                ErrorKind::Retryable
            }
            Error::MixerGone => ErrorKind::Fatal,
        }
    }

    /// What is wrong, without the file's path in front (for messages that name the file
    /// their own way, such as events that carry the file's configured name).
    pub fn detail(&self) -> String {
        let text = self.to_string();
        match self.path() {
            Some(path) => text
                .strip_prefix(&format!("{}: ", path.display()))
                .map(str::to_string)
                .unwrap_or(text),
            None => text,
        }
    }

    /// The file the error is about, if any.
    pub fn path(&self) -> Option<&std::path::Path> {
        match self {
            Error::NotFound { path }
            | Error::Io { path, .. }
            | Error::NotAudio { path, .. }
            | Error::Unsupported { path, .. }
            | Error::Truncated { path, .. }
            | Error::Corrupt { path, .. } => Some(path),
            Error::InvalidArgument(_)
            | Error::MixerGone
            | Error::CommandQueueFull
            | Error::TooManySources(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        let path = PathBuf::from("a.mp3");
        assert_eq!(
            Error::NotFound { path: path.clone() }.kind(),
            ErrorKind::InvalidInput
        );
        assert_eq!(
            Error::Io {
                path,
                message: "EIO".into()
            }
            .kind(),
            ErrorKind::Retryable
        );
        assert_eq!(Error::CommandQueueFull.kind(), ErrorKind::Retryable);
        assert_eq!(Error::MixerGone.kind(), ErrorKind::Fatal);
    }

    #[test]
    fn detail_leaves_the_path_out() {
        let e = Error::Truncated {
            path: PathBuf::from("/srv/audio/a.mp3"),
            decoded_ms: 1176,
            expected_ms: None,
        };
        assert_eq!(
            e.to_string(),
            "/srv/audio/a.mp3: truncated after 1176 ms of audio"
        );
        assert_eq!(e.detail(), "truncated after 1176 ms of audio");
        assert_eq!(Error::MixerGone.detail(), Error::MixerGone.to_string());
    }
}
