//! What the transport benches that measure a running `voxpace serve` share: the server as a
//! child process ([`Serve`]), a swarm of real WHEP listeners that count what they hear
//! ([`Swarm`]), and the CPU time of a process and the load average ([`cpu`]).
//!
//! Used as `mod kit;` by `benches/fanout.rs` and `benches/session.rs`; each uses part of
//! it, so what one of them leaves unused is not dead code.
#![allow(dead_code, unused_imports)]

pub mod cpu;
pub mod serve;
pub mod swarm;

pub use cpu::{clock_tick, loadavg, process_ticks, CpuMeter};
pub use serve::Serve;
pub use swarm::{Swarm, Totals};
