//! What can go wrong building a loudness component, and [`ErrorKind`]: what a caller can
//! do about an error, which every voxpace crate's `Error::kind()` answers with. It lives
//! here, in the bottom crate, so this crate's errors can say their kind too; callers name
//! it as `voxpace_core::ErrorKind`.

/// The errors of `voxpace-loudness`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// ebur128 refused the stream's layout (0 or more than 64 channels, a rate outside
    /// 16 Hz–2.8 MHz).
    #[error("loudness measurement does not support {channels} channel(s) at {rate} Hz")]
    Unsupported {
        /// Sample rate asked for.
        rate: u32,
        /// Channels asked for.
        channels: u32,
    },
    /// A setting is out of range; the text names it and the range.
    #[error("invalid loudness setting: {0}")]
    InvalidSetting(String),
}

/// What a caller can do about an error: every voxpace crate's `Error::kind()` answers with
/// one of these, so callers (the runtime's HTTP mapping, a publisher's retry loop) decide by kind
/// instead of matching variants. Deliberately exhaustive: a caller's `match` on it needs no
/// catch-all, and a new kind would be a breaking change that every such `match` must see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The input was wrong (a format, a configuration value, a request body): retrying the
    /// same call cannot help; fix the input.
    InvalidInput,
    /// Transient: the same call may succeed later (a full queue, a busy peer, a network
    /// fault). Back off and retry.
    Retryable,
    /// This reply (or this request) is over: what it still holds will not play. Open a new
    /// reply; the track itself is fine.
    ReplyTerminal,
    /// The component is gone or broken (the track was dropped, a thread could not start):
    /// nothing on it will work again; rebuild it.
    Fatal,
}

impl ErrorKind {
    /// True when retrying the same call later may succeed.
    pub fn is_retryable(self) -> bool {
        self == ErrorKind::Retryable
    }
}

impl Error {
    /// What the caller can do about it: both cases are a setting or layout to fix.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Unsupported { .. } | Error::InvalidSetting(_) => ErrorKind::InvalidInput,
        }
    }
}

pub(crate) fn meter(
    rate: u32,
    channels: u32,
    mode: ebur128::Mode,
) -> Result<ebur128::EbuR128, Error> {
    ebur128::EbuR128::new(channels, rate, mode).map_err(|_| Error::Unsupported { rate, channels })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_is_a_setting_to_fix() {
        let unsupported = Error::Unsupported {
            rate: 1,
            channels: 0,
        };
        assert_eq!(unsupported.kind(), ErrorKind::InvalidInput);
        assert_eq!(
            Error::InvalidSetting("x".into()).kind(),
            ErrorKind::InvalidInput
        );
    }
}
