//! `cargo xtask matrix [--no-build] [ARGS]`: build every plugin in `plugins/` as a cdylib
//! (one cargo call), then run the integration matrix, the `matrix` binary of
//! `voxpace-tests` (`tests/src/matrix/`), in a release build (decoding and resampling
//! unoptimised would take most of the time; `XTASK_MATRIX_DEBUG=1` runs a debug build).
//! Every other argument (`--filter`, `--jobs`, `--list`, `--help`) goes to the binary.

use anyhow::{Context as _, Result};

use crate::system::{cargo, root, run};

/// Package names of the plugin crates in `plugins/`.
fn plugin_packages() -> Result<Vec<String>> {
    let dir = root().join("plugins");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).with_context(|| format!("{}", dir.display()))? {
        let path = entry?.path();
        let Ok(manifest) = std::fs::read_to_string(path.join("Cargo.toml")) else {
            continue;
        };
        let name = manifest
            .lines()
            .find_map(|l| l.trim().strip_prefix("name = "))
            .map(|n| n.trim().trim_matches('"').to_string())
            .with_context(|| format!("{}: no package name", path.display()))?;
        out.push(name);
    }
    out.sort();
    Ok(out)
}

/// Build every plugin (one cargo call, debug: where the matrix loads them from).
fn build_plugins() -> Result<()> {
    let mut build = cargo();
    build.arg("build");
    for p in plugin_packages()? {
        build.args(["-p", &p]);
    }
    run(build, "cargo build (every plugin in plugins/ as a cdylib)")
}

pub fn run_matrix(args: &[String]) -> Result<()> {
    let informational = args
        .iter()
        .any(|a| ["--help", "-h", "--list"].contains(&a.as_str()));
    let build = !args.iter().any(|a| a == "--no-build");
    if build && !informational {
        build_plugins()?;
    }
    let mut matrix = cargo();
    matrix.args(["run", "-q", "-p", "voxpace-tests", "--bin", "matrix"]);
    if std::env::var_os("XTASK_MATRIX_DEBUG").is_none() {
        matrix.arg("--release");
    }
    matrix
        .arg("--")
        .args(args.iter().filter(|a| *a != "--no-build"));
    run(matrix, "the matrix (voxpace-tests --bin matrix)")
}
