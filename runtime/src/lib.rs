//! # voxpace-runtime: the `voxpace` binary's library
//!
//! One binary, configured by a TOML file, that ties the core track, background audio,
//! plugin sinks and the WebRTC transport together:
//!
//! - [`config`]: the configuration file, parsed with spans and checked before anything
//!   starts ([`Config`], [`Issue`]); [`check`]: the checks that decode files and load plugins.
//! - [`script`] and [`render`]: a scripted conversation rendered on the virtual clock to a
//!   WAV, an event log and a PNG ([`plot`]).
//! - [`serve`]: agent outputs behind an HTTP control API, event stream, metrics and WHEP.
//! - [`background`]: each output's background bus (music, gain, ducking, clips) from `voxpace-sources`.
//! - [`audio`]: WAV decoding and PCM conversion; [`events`]: events as JSON.
//! - [`example`]: `voxpace config example` (printed, or written with its audio).
//! - [`marks`]:
//!   reply text marks as users write them, converted to track samples.
//! - [`Error`]: everything that can go wrong.

pub mod audio;
pub mod background;
pub mod check;
pub mod config;
mod contract;
mod error;
pub mod events;
pub mod example;
pub mod marks;
pub mod plot;
mod plugins;
pub mod render;
pub mod script;
pub mod serve;

pub use config::{Config, Issue};
pub use error::Error;
