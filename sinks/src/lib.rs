//! # voxpace-sinks: sink plugins on the host side
//!
//! Plugins are shared libraries built against [`voxpace_sink_abi`]. This crate loads them by
//! path and makes them [`voxpace_core::Sink`]s:
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let format = voxpace_core::Format::new(24_000, 1, 20)?;
//! # let track = voxpace_core::Track::new(format, Default::default())?;
//! let sink = voxpace_sinks::PluginSink::load("target/debug/libvoxpace_plugin_recorder.so",
//!                                            "path = \"out.wav\"")?;
//! let id = track.handle().attach_sink(Box::new(sink))?;
//! # Ok(()) }
//! ```
//!
//! Contents:
//! - [`Plugin`]: a loaded library ([`Plugin::load`]) and its [`Metadata`]; instances come
//!   from [`Plugin::instantiate`].
//! - [`PluginSink`]: an instance as a `Sink` (events forwarded over the ABI, playback
//!   reports forwarded back).
//! - [`check_plugin`] and [`CheckReport`]: `voxpace plugin check` as a function.
//! - [`conversation`]: the scripted-conversation driver the check runs on (a track rendered
//!   frame by frame at real time or on the virtual clock, everything it did kept); the
//!   sinks' tests and the integration matrix use it too.
//! - [`Error`]: missing file, not a plugin, incompatible ABI, configuration rejected.
//!
//! Isolation: each sink runs on its own worker thread behind a bounded queue (core's fan
//! out), and every call into a plugin is wrapped in `catch_unwind` inside the plugin by the
//! export macro, so a plugin that panics, fails, blocks or is slow never takes the host down
//! or delays frames.

mod adapter;
mod check;
pub mod conversation;
mod error;
mod loader;

pub use adapter::PluginSink;
pub use check::{check_plugin, CheckReport};
pub use error::Error;
pub use loader::{Metadata, Plugin};
pub use voxpace_sink_abi::{AbiVersion, ABI_VERSION};
