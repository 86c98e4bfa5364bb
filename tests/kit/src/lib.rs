//! # voxpace-test-kit: what every voxpace crate's tests share
//!
//! - [`alloc`]: a counting global allocator (allocations and frees made by one thread while
//!   it watches, and live heap bytes), for the "the frame path never allocates" tests and
//!   the allocation figures of `cargo xtask bench`.
//! - [`signal`]: synthetic speech that is a sum of known tones, and the measurements tests
//!   check audio with (level, SNR against the formula with a fitted delay, tone fit).
//! - [`browser`] (feature `browser`): a real headless Chromium driven over WebDriver, and
//!   re-running a test inside a network namespace that holds only loopback.
//! - [`ffmpeg`]: the real ffmpeg, to make audio files at test time and decode them.
//! - [`sse`] (feature `sse`): a real server-sent-events subscription read as (name, JSON)
//!   pairs, with bounded waits.
//! - [`wait`]: polling another thread with a bound.
//! - [`process`]: a server as a child process (`voxpace serve`): its address from its first
//!   line, SIGTERM, its stderr; killed if the test fails midway.
//! - [`rooms`]: a crate's import graph read from its source files, and the circles in it.
//! - [`sinks`] (feature `core`): a sink that discards everything and one that records what
//!   it was handed, optionally in front of a real sink.
//!
//! The cross-crate tests and the integration matrix are in `voxpace-tests` (`tests/`); the
//! scripted-conversation driver is `voxpace_sinks::conversation`, shared with
//! `voxpace plugin check`.

pub mod alloc;
#[cfg(feature = "browser")]
pub mod browser;
pub mod ffmpeg;
pub mod process;
pub mod rooms;
pub mod signal;
#[cfg(feature = "core")]
pub mod sinks;
#[cfg(feature = "sse")]
pub mod sse;
pub mod wait;
