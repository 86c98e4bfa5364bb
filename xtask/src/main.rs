//! `cargo xtask`: the workspace's own automation, in plain Rust.
//!
//! - `cargo xtask ci`: what CI runs (`.ci/run`) and the README's test command.
//! - `cargo xtask matrix`: the cross-crate integration matrix ([`matrix`]).
//!
//! Each subcommand lives in its own module; this file only dispatches.

mod ci;
mod matrix;
mod system;

use anyhow::{bail, Result};

const HELP: &str = "\
cargo xtask <command>

commands:
  ci            install missing system packages, then fmt check, clippy -D warnings,
                build every crate and plugin, run every test (the README's test command)
  matrix        build the plugins, then run every track × format × input rate × sink ×
                background cell through a scripted conversation and check it
                (`cargo xtask matrix --help` for options)
";

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("ci") => ci::run_ci(&args[1..]),
        Some("matrix") => matrix::run_matrix(&args[1..]),
        None | Some("help") | Some("--help") | Some("-h") => {
            print!("{HELP}");
            Ok(())
        }
        Some(other) => bail!("unknown xtask command `{other}`\n\n{HELP}"),
    }
}
