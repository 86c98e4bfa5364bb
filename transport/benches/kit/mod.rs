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

pub use cpu::{clock_tick, context_switches, loadavg, process_ticks, CpuMeter};
pub use serve::Serve;
pub use swarm::{Swarm, Totals};

/// The environment variable `name` parsed, or `default` when unset or unreadable.
pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A two-worker tokio runtime for a bench's listeners and clients.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}
