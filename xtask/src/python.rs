//! The Python client's tests (`clients/python`): a virtualenv in `target/py` with the
//! packages of `clients/python/requirements-ci.txt` (every one pinned, from PyPI), the client
//! itself installed editable, then pytest against the `voxpace` binary the build step made.

use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};

use crate::system::{root, run, target_dir};

/// Create or refresh `target/py` and run pytest; the note says how long each part took.
pub fn python_tests() -> Result<String> {
    let venv = target_dir().join("py");
    let python = venv.join("bin/python");
    let client = root().join("clients/python");
    let requirements = client.join("requirements-ci.txt");
    let start = Instant::now();
    if !python.is_file() {
        let mut make = Command::new("python3");
        make.args(["-m", "venv"]).arg(&venv);
        run(make, "python3 -m venv target/py")?;
    }
    // pip runs only when the pins changed since the last install (a stamp beside them).
    let wanted = std::fs::read_to_string(&requirements)
        .with_context(|| format!("reading {}", requirements.display()))?;
    let stamp = venv.join("requirements-ci.installed");
    if std::fs::read_to_string(&stamp).ok().as_deref() != Some(wanted.as_str()) {
        let mut pip = Command::new(&python);
        pip.args([
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "-q",
            "-r",
        ])
        .arg(&requirements);
        run(pip, "pip install -r clients/python/requirements-ci.txt")?;
        let mut own = Command::new(&python);
        own.args([
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "-q",
            "--no-deps",
            "-e",
        ])
        .arg(&client);
        run(own, "pip install -e clients/python")?;
        std::fs::write(&stamp, &wanted)?;
    }
    let installed = start.elapsed().as_secs_f64();
    let mut pytest = Command::new(&python);
    pytest
        .args(["-m", "pytest", "-p", "no:cacheprovider", "-rfE"])
        .arg(client.join("tests"))
        .current_dir(&client)
        .env("VOXPACE_BIN", target_dir().join("debug/voxpace"));
    let status = pytest.status().context("could not start pytest")?;
    match status.code() {
        Some(0) => {}
        // pytest's exit 5: it collected no test, which must not pass as green.
        Some(5) => bail!("pytest ran no test (exit 5)"),
        _ => bail!("pytest failed ({status})"),
    }
    Ok(format!(
        "virtualenv {installed:.0} s, pytest {:.0} s",
        start.elapsed().as_secs_f64() - installed
    ))
}
