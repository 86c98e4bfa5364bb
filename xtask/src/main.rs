//! `cargo xtask`: the workspace's own automation, in plain Rust.
//!
//! - `cargo xtask ci`: what CI runs (`.ci/run`) and the README's test command.
//! - `cargo xtask matrix`: the cross-crate integration matrix ([`matrix`]).
//! - `cargo xtask contract`: schemathesis against the API document ([`contract`]).
//! - `cargo xtask bench`: one benchmark report, Rust and the Python reference side by side;
//!   `cargo xtask bench --against REV`: the core's figures of this tree against REV's
//!   ([`against`]).
//! - `cargo xtask python`: the Python client's tests ([`python`]).
//! - `cargo xtask new-plugin NAME`: a new sink plugin from the template ([`new_plugin`]).
//!
//! Each subcommand lives in its own module; this file only dispatches.

mod against;
mod bench;
mod ci;
mod contract;
mod fanout;
mod matrix;
mod new_plugin;
mod python;
mod session;
mod system;

use anyhow::{bail, Result};

const HELP: &str = "\
cargo xtask <command>

commands:
  ci            install missing system packages, then fmt check, clippy -D warnings,
                build every crate and plugin, run every test, the matrix and a bounded
                fuzz run; prints a summary (the README's test command; `ci --help`)
  matrix        build the plugins, then run every track × format × input rate × sink ×
                background cell through a scripted conversation and check it
                (`cargo xtask matrix --help` for options)
  python        the Python client's tests alone (clients/python: a virtualenv in target/py
                with pinned PyPI packages, pytest against target/debug/voxpace, which
                `cargo build -p voxpace-runtime --all-features` makes)
  bench [--quick]
                run the benchmarks and the Python reference's, print one report with ratios
  bench --against REV
                the core's frame bench, capacity and memory of this tree and of REV,
                alternating in one run, with ratios new/old
  contract      schemathesis against a real `voxpace serve`'s /openapi.json (the API
                contract step of `ci`; needs target/debug/voxpace built with --all-features)
  new-plugin NAME
                scaffold plugins/NAME from plugins/template, build it and run the plugin
                check on it
";

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("ci") => ci::run_ci(&args[1..]),
        Some("matrix") => matrix::run_matrix(&args[1..]),
        Some("contract") => contract::schemathesis().map(|note| println!("{note}")),
        Some("new-plugin") => new_plugin::run_new_plugin(&args[1..]),
        Some("bench") => bench::run_bench(&args[1..]),
        Some("python") => python::python_tests().map(|note| println!("xtask python: ok, {note}")),
        None | Some("help") | Some("--help") | Some("-h") => {
            print!("{HELP}");
            Ok(())
        }
        Some(other) => bail!("unknown xtask command `{other}`\n\n{HELP}"),
    }
}
