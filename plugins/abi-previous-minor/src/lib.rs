//! Test fixture for the versioning rule: a working plugin exported with the frozen ABI 1.0
//! root module, which lacks everything appended in 1.1 (`config_help`). The current host
//! must load it, see `config_help` as absent, and drive it like any other plugin.
//!
//! It records the events it handles, one per line, to the file named by its configuration
//! (`path = "..."`), so a test can see it really ran.

use std::fs::File;
use std::io::{BufWriter, Write};

use voxpace_sink_abi::{Event, Host, Info, SinkPlugin};

/// Writes one line per event.
#[derive(Debug)]
pub struct PreviousMinor {
    out: BufWriter<File>,
}

impl SinkPlugin for PreviousMinor {
    fn new(config: &str) -> Result<Self, String> {
        let path = config
            .trim()
            .strip_prefix("path")
            .and_then(|r| r.trim_start().strip_prefix('='))
            .map(|p| p.trim().trim_matches('"'))
            .ok_or_else(|| format!("expected path = \"...\", got {config:?}"))?;
        let file = File::create(path).map_err(|e| format!("{path}: {e}"))?;
        Ok(Self {
            out: BufWriter::new(file),
        })
    }

    fn info(&self) -> Info {
        Info::new("abi-previous-minor")
    }

    fn handle(&mut self, event: Event<'_>, _host: &Host<'_>) -> Result<(), String> {
        let line = match event {
            Event::Start { format } => format!("start {}", format.sample_rate),
            Event::ReplyStarted { reply } => format!("reply-started {reply}"),
            Event::Audio { reply, samples, .. } => format!("audio {reply} {}", samples.len()),
            Event::ReplyEnded { reply, interrupted } => {
                format!("reply-ended {reply} {interrupted}")
            }
            Event::Stop => "stop".to_owned(),
            other => format!("{other:?}"),
        };
        writeln!(self.out, "{line}").map_err(|e| e.to_string())?;
        if matches!(event, Event::Stop) {
            self.out.flush().map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}

voxpace_sink_abi::export_sink_plugin_v1_0!(PreviousMinor);
