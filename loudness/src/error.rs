//! What can go wrong building a loudness component.

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

pub(crate) fn meter(
    rate: u32,
    channels: u32,
    mode: ebur128::Mode,
) -> Result<ebur128::EbuR128, Error> {
    ebur128::EbuR128::new(channels, rate, mode).map_err(|_| Error::Unsupported { rate, channels })
}
