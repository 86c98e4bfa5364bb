//! `cargo xtask ci`: the whole check, as CI runs it.
//!
//! Steps: system packages, fmt check, clippy with warnings denied, the build (plugins as
//! cdylib), every test with all features (their output, with the `test result:` lines,
//! stays on the terminal), the Python client's tests (pytest in `target/py`), every test
//! again as a plain `cargo test` builds them, the API contract (schemathesis against a real
//! `voxpace serve`, see [`crate::contract`]), the integration matrix, and a bounded fuzz run
//! of the decoder. Every step runs even if an earlier one failed (after the build), so one
//! run shows everything that is wrong; the summary at the end lists each step and the
//! closing line says the verdict.

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};

use crate::system::{cargo, ensure_packages, root, run};

const HELP: &str = "\
cargo xtask ci [--fuzz-seconds N] [--no-matrix] [--no-fuzz] [--no-contract]

  --fuzz-seconds N  how long the bounded fuzz run lasts (default 60)
  --no-matrix       skip the integration matrix
  --no-fuzz         skip the fuzz run
  --no-contract     skip schemathesis against the API document
";

struct Step {
    name: String,
    ok: bool,
    took: Duration,
    note: String,
}

fn step(steps: &mut Vec<Step>, name: &str, f: impl FnOnce() -> Result<String>) -> bool {
    let start = Instant::now();
    let result = f();
    let ok = result.is_ok();
    let note = match result {
        Ok(n) => n,
        Err(e) => format!("{e:#}"),
    };
    steps.push(Step {
        name: name.into(),
        ok,
        took: start.elapsed(),
        note,
    });
    ok
}

fn cmd(c: Command, what: &str) -> Result<String> {
    run(c, what).map(|_| String::new())
}

/// Fuzz the file decoder for `secs` seconds if `sources/fuzz` exists (cargo-fuzz,
/// installed when missing; `RUSTC_BOOTSTRAP=1` lets its sanitizer flags work on stable).
fn fuzz(secs: u64) -> Result<String> {
    let dir = root().join("sources/fuzz");
    if !dir.join("Cargo.toml").is_file() {
        return Ok("skipped: sources/fuzz does not exist".into());
    }
    let has_fuzz = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["fuzz", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_fuzz {
        let mut install = cargo();
        install.args(["install", "--locked", "cargo-fuzz"]);
        run(install, "cargo install cargo-fuzz")?;
    }
    std::fs::create_dir_all(dir.join("corpus/open_and_decode"))?;
    let mut f = cargo();
    f.current_dir(&dir)
        .env("RUSTC_BOOTSTRAP", "1")
        .args([
            "fuzz",
            "run",
            "open_and_decode",
            "corpus/open_and_decode",
            "../fixtures",
            "--",
        ])
        .arg(format!("-max_total_time={secs}"))
        .args(["-max_len=65536", "-rss_limit_mb=1024", "-timeout=10"]);
    run(f, &format!("cargo fuzz run open_and_decode ({secs} s)"))?;
    Ok(format!("{secs} s, no crash"))
}

pub fn run_ci(args: &[String]) -> Result<()> {
    let (mut fuzz_secs, mut matrix, mut fuzzing, mut contract) = (60u64, true, true, true);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--fuzz-seconds" => {
                fuzz_secs = it
                    .next()
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| anyhow::anyhow!("--fuzz-seconds needs a number"))?;
            }
            "--no-matrix" => matrix = false,
            "--no-fuzz" => fuzzing = false,
            "--no-contract" => contract = false,
            "-h" | "--help" => {
                print!("{HELP}");
                return Ok(());
            }
            other => bail!("ci: unknown argument `{other}`\n\n{HELP}"),
        }
    }
    let start = Instant::now();
    let mut steps = Vec::new();
    let mut go = step(&mut steps, "system packages", || {
        ensure_packages().map(|_| String::new())
    });
    go = go
        && step(&mut steps, "WHIP test server", || {
            crate::system::ensure_whip_server().map(|_| String::new())
        });
    go = go
        && step(&mut steps, "cargo fmt --check", || {
            let mut fmt = cargo();
            fmt.args(["fmt", "--all", "--", "--check"]);
            cmd(fmt, "cargo fmt --check")
        });
    go = go
        && step(&mut steps, "cargo clippy -D warnings", || {
            let mut clippy = cargo();
            clippy.args([
                "clippy",
                "--workspace",
                "--all-targets",
                "--all-features",
                "--",
                "-D",
                "warnings",
            ]);
            cmd(clippy, "cargo clippy -D warnings")
        });
    // Plugins are loaded by path in the tests, so every cdylib is built first.
    go = go
        && step(&mut steps, "cargo build --workspace", || {
            let mut build = cargo();
            build.args(["build", "--workspace", "--all-features"]);
            cmd(build, "cargo build --workspace (plugins as cdylib)")
        });
    if go {
        step(&mut steps, "cargo test --workspace", || {
            let mut test = cargo();
            // --all-features: the runtime's WebRTC (WHEP, WHIP, the browser test) is tested
            // too; `ensure_packages` installed libopus for it.
            test.args(["test", "--workspace", "--all-features", "--no-fail-fast"]);
            // Tests that skip where a prerequisite is missing (Janus) must run here instead.
            test.env("VOXPACE_CI", "1");
            cmd(test, "cargo test --workspace")
        });
        // After the build: the Python client's tests and the contract start the voxpace
        // binary it made (with all features; the plain `cargo test` below rebuilds it with
        // default features).
        step(
            &mut steps,
            "python client (pytest)",
            crate::python::python_tests,
        );
        // Against the all-features binary, before the plain `cargo test` rebuilds it.
        if contract {
            step(&mut steps, "API contract (schemathesis)", || {
                crate::contract::schemathesis()
            });
        }
        step(&mut steps, "cargo test (default features)", || {
            // The build the README's first commands make (default members, default
            // features: no `webrtc`), which `--all-features` never sees. Most of its
            // dependencies are already built above; what differs is rebuilt.
            let mut test = cargo();
            test.args(["test", "--no-fail-fast"]);
            test.env("VOXPACE_CI", "1");
            cmd(test, "cargo test (default members and features)")
        });
        if matrix {
            step(&mut steps, "cargo xtask matrix", || {
                crate::matrix::run_matrix(&[]).map(|_| String::new())
            });
        }
        if fuzzing {
            step(&mut steps, "fuzz sources (open_and_decode)", || {
                fuzz(fuzz_secs)
            });
        }
    }

    println!();
    println!("xtask ci summary:");
    for s in &steps {
        println!(
            "  {:6} {:>5.0} s  {}{}",
            if s.ok { "ok" } else { "FAILED" },
            s.took.as_secs_f64(),
            s.name,
            if s.note.is_empty() {
                String::new()
            } else {
                format!(": {}", s.note.lines().next().unwrap_or(""))
            }
        );
    }
    let failed: Vec<&str> = steps
        .iter()
        .filter(|s| !s.ok)
        .map(|s| s.name.as_str())
        .collect();
    let secs = start.elapsed().as_secs_f64();
    if failed.is_empty() {
        println!("xtask ci: ok, {} steps passed in {secs:.0} s", steps.len());
        Ok(())
    } else {
        println!("xtask ci: FAILED ({}) after {secs:.0} s", failed.join(", "));
        bail!("ci failed: {}", failed.join(", "))
    }
}
