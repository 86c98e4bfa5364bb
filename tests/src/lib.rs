//! # voxpace-tests: what tests the crates together
//!
//! - [`matrix`]: the integration matrix (track × format × input rate × sink × background
//!   file, each cell one scripted conversation, checked sample by sample); the `matrix`
//!   binary is what `cargo xtask matrix` runs.
//! - `benches/allocations.rs`: allocations per frame on the frame path, the figures
//!   `cargo xtask bench` reports.
//!
//! The kit every crate's tests share (counting allocator, signals, test sinks, Chromium
//! driver) is `voxpace-test-kit`, in `tests/kit/`.

pub mod matrix;
