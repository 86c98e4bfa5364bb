//! `cargo xtask ci`: the whole check, as CI runs it.

use std::time::Instant;

use anyhow::Result;

use crate::system::{cargo, ensure_packages, run};

pub fn run_ci(_args: &[String]) -> Result<()> {
    let start = Instant::now();
    ensure_packages()?;

    let mut fmt = cargo();
    fmt.args(["fmt", "--all", "--", "--check"]);
    run(fmt, "cargo fmt --check")?;

    let mut clippy = cargo();
    clippy.args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]);
    run(clippy, "cargo clippy -D warnings")?;

    // Plugins are loaded by path in the tests, so every cdylib is built first.
    let mut build = cargo();
    build.args(["build", "--workspace"]);
    run(build, "cargo build --workspace (plugins as cdylib)")?;

    let mut test = cargo();
    test.args(["test", "--workspace", "--no-fail-fast"]);
    run(test, "cargo test --workspace")?;

    eprintln!(
        "xtask ci: fmt, clippy, build and tests passed in {:.0} s",
        start.elapsed().as_secs_f64()
    );
    Ok(())
}
