//! ABI 1.3: a plugin's error says what the host should do about it.
//!
//! Before 1.3 a plugin could only return a string, and every error detached it. Since 1.3
//! [`SinkPlugin::handle_event`](crate::SinkPlugin::handle_event) returns a [`SinkError`]
//! whose [`ErrorKind`] the host acts on: retry the event, skip the rest of the reply, skip
//! the event, or detach. It crosses the boundary as [`RawError`].

use abi_stable::std_types::RString;
use abi_stable::StableAbi;

/// What the host does when a plugin fails to handle an event. The same four kinds every
/// voxpace error says (`voxpace_core::ErrorKind`), read from the plugin's side.
///
/// `#[repr(u8)]` and checked by abi_stable's layout check: its variants are fixed for the
/// whole major version (a new kind needs a major), so the host can always read what a
/// plugin of its major sends.
#[repr(u8)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The plugin is broken for good: the host detaches it (what every error meant before
    /// 1.3, and what a panic still means).
    Fatal = 0,
    /// A transient failure (a busy device, a full network buffer): the host hands the same
    /// event again after a short pause, a few times (one, two, three frame periods), and
    /// detaches the plugin if it still fails.
    Retryable = 1,
    /// The plugin gives up on the event's reply: the host skips the rest of that reply's
    /// `Audio` and `Text` for this plugin (its `Interrupted` and `ReplyEnded` still come)
    /// and carries on with the next reply.
    ReplyTerminal = 2,
    /// The plugin cannot use this one event: the host skips it and carries on.
    InvalidInput = 3,
}

/// A plugin's error as it crosses the boundary (ABI 1.3).
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq, Eq)]
pub struct RawError {
    /// What the host should do.
    pub kind: ErrorKind,
    /// The plugin's explanation (shown in the host's events and logs).
    pub message: RString,
}

/// A plugin's error, returned from [`SinkPlugin::handle_event`](crate::SinkPlugin::handle_event):
/// what went wrong and what the host should do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinkError {
    /// What the host should do.
    pub kind: ErrorKind,
    /// What went wrong.
    pub message: String,
}

impl SinkError {
    /// An error of `kind`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    /// Detach the plugin ([`ErrorKind::Fatal`]).
    pub fn fatal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Fatal, message)
    }

    /// Hand the same event again later ([`ErrorKind::Retryable`]).
    pub fn retry(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Retryable, message)
    }

    /// Skip the rest of this event's reply ([`ErrorKind::ReplyTerminal`]).
    pub fn skip_reply(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::ReplyTerminal, message)
    }

    /// Skip this event ([`ErrorKind::InvalidInput`]).
    pub fn skip_event(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidInput, message)
    }

    pub(crate) fn into_raw(self) -> RawError {
        RawError {
            kind: self.kind,
            message: self.message.into(),
        }
    }
}

impl std::fmt::Display for SinkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SinkError {}

/// A plain string error is fatal, as every error was before ABI 1.3.
impl From<String> for SinkError {
    fn from(message: String) -> Self {
        Self::fatal(message)
    }
}

impl From<&str> for SinkError {
    fn from(message: &str) -> Self {
        Self::fatal(message)
    }
}
