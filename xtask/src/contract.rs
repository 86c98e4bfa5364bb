//! The API contract step of `cargo xtask ci`: schemathesis (PyPI) against the
//! `/openapi.json` of a real `voxpace serve`, for a bounded run.
//!
//! schemathesis generates requests from the document (valid ones and ones that break it)
//! and checks every answer against the document: a status it lists, a body of its schema,
//! no 5xx, invalid input refused. It is installed, at a pinned version, into a venv under
//! `target/`, so CI never depends on what the machine's Python has.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use anyhow::{bail, Context, Result};

use crate::system::{root, run, target_dir};

/// The schemathesis release the step runs (PyPI).
const SCHEMATHESIS: &str = "4.32.5";

/// Test cases per operation: bounded (a few thousand requests, under a minute here).
const EXAMPLES: u32 = 60;

/// The server the step runs against: an output to drive, a clip, a background.
fn config() -> String {
    let assets = root().join("runtime/assets");
    let speech = assets.join("speech.wav");
    format!(
        "[background]\nfile = {speech:?}\ngain_db = -20\n\n[clips.ding]\nfile = {speech:?}\n\n\
         [server]\nlisten = \"127.0.0.1:0\"\noutputs = [\"default\"]\nmax_outputs = 4\n"
    )
}

/// The venv's `schemathesis`, installed at [`SCHEMATHESIS`] when missing or another version.
fn ensure_schemathesis() -> Result<std::path::PathBuf> {
    let venv = target_dir().join("schemathesis-venv");
    let bin = venv.join("bin/schemathesis");
    let version = Command::new(&bin)
        .arg("--version")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
    if version.is_some_and(|v| v.contains(SCHEMATHESIS)) {
        return Ok(bin);
    }
    let mut make = Command::new("python3");
    make.args(["-m", "venv"]).arg(&venv);
    run(make, "python3 -m venv (for schemathesis)")?;
    let mut pip = Command::new(venv.join("bin/pip"));
    pip.args([
        "install",
        "--quiet",
        &format!("schemathesis=={SCHEMATHESIS}"),
    ]);
    run(pip, &format!("pip install schemathesis=={SCHEMATHESIS}"))?;
    Ok(bin)
}

/// schemathesis hooks: the media types it has no serializer for (audio, SDP) are sent as
/// the raw bytes it generates, like `application/octet-stream`.
const HOOKS: &str = r#"import schemathesis

schemathesis.serializer.alias(
    ["application/sdp", "audio/L16", "audio/pcm", "audio/wav", "audio/mpeg", "audio/flac",
     "audio/ogg", "audio/aac", "audio/mp4"],
    "application/octet-stream",
)
"#;

/// schemathesis' configuration: a 503 is not a server failure here but the API's documented
/// retryable answer (`kind: retryable`, `Retry-After`: a full intake after a burst of demo
/// replies, shutting down); any other 5xx still fails the run.
const CONFIG: &str = r#"[checks.not_a_server_error]
expected-statuses = ["1xx", "2xx", "3xx", "4xx", "503"]
"#;

/// A `voxpace serve` child, stopped when dropped.
struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Start the debug `voxpace` built by the build step; its base URL.
fn serve() -> Result<(Serve, String)> {
    let dir = target_dir().join("schemathesis");
    std::fs::create_dir_all(&dir)?;
    let cfg = dir.join("voxpace.toml");
    std::fs::write(&cfg, config())?;
    let exe = target_dir().join("debug/voxpace");
    let mut child = Command::new(&exe)
        .args(["serve", "--config"])
        .arg(&cfg)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {}", exe.display()))?;
    let mut line = String::new();
    let stdout = child.stdout.take().context("the server's stdout")?;
    let server = Serve(child);
    BufReader::new(stdout).read_line(&mut line)?;
    let Some(base) = line.trim().strip_prefix("listening on ") else {
        bail!("voxpace serve did not say where it listens (got {line:?})");
    };
    Ok((server, base.to_owned()))
}

/// Run schemathesis against a fresh server; the note for the summary.
pub fn schemathesis() -> Result<String> {
    let bin = ensure_schemathesis()?;
    let (_server, base) = serve()?;
    let dir = target_dir().join("schemathesis");
    std::fs::write(dir.join("voxpace_hooks.py"), HOOKS)?;
    std::fs::write(dir.join("schemathesis.toml"), CONFIG)?;
    let mut st = Command::new(bin);
    st.current_dir(&dir)
        .env("PYTHONPATH", &dir)
        .env("SCHEMATHESIS_HOOKS", "voxpace_hooks")
        .arg("run")
        .arg(format!("{base}/openapi.json"))
        .args(["--checks", "all"])
        // Valid data may still be refused for what the document cannot say: an output id
        // that does not exist (404), an output limit reached (409).
        .args(["--exclude-checks", "positive_data_acceptance"])
        .args(["--max-examples", &EXAMPLES.to_string()])
        .args(["--seed", "19", "--workers", "1", "--request-timeout", "10"])
        .args(["--suppress-health-check", "all"])
        // Endless streams: their own tests read them.
        .args(["--exclude-name", "GET /v1/outputs/{id}/events"])
        .args(["--exclude-name", "GET /v1/outputs/{id}/audio"])
        // A paused output holds every later `wait=true` answer until a resume that a
        // random sequence of calls may never send (the API's own tests cover pause).
        .args(["--exclude-name", "POST /v1/outputs/{id}/pause"]);
    run(st, &format!("schemathesis {SCHEMATHESIS} against {base}"))?;
    Ok(format!(
        "schemathesis {SCHEMATHESIS}, {EXAMPLES} cases per operation, no failure"
    ))
}
