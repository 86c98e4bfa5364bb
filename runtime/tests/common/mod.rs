//! What several runtime tests share: running `voxpace render` and reading what it wrote.
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// What a `voxpace render` run left.
pub struct Rendered {
    /// It exited 0.
    pub ok: bool,
    pub stderr: String,
    /// The event log, one object per line (empty when the render failed).
    pub events: Vec<Value>,
    /// The mix (empty when the render failed).
    pub wav: Vec<i16>,
}

/// Run `voxpace render --quiet` of `script` with `config` into `out`.
pub fn render(config: &Path, script: &Path, out: &Path) -> Rendered {
    let run = Command::new(env!("CARGO_BIN_EXE_voxpace"))
        .args(["render", "--quiet", "--config"])
        .arg(config)
        .arg("--script")
        .arg(script)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr).into_owned();
    if !run.status.success() {
        return Rendered {
            ok: false,
            stderr,
            events: Vec::new(),
            wav: Vec::new(),
        };
    }
    let log = std::fs::read_to_string(out.with_extension("events.jsonl")).unwrap();
    Rendered {
        ok: true,
        stderr,
        events: log
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect(),
        wav: hound::WavReader::open(out)
            .unwrap()
            .samples::<i16>()
            .map(Result::unwrap)
            .collect(),
    }
}
