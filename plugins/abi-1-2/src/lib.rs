//! Test fixture for the versioning rule: a plugin exported with the frozen ABI 1.2 root
//! module, whose object has no `handle_event` (1.3). The current host must load it, give it
//! the 1.2 host functions (play-out times) and drive it; an error it returns must detach
//! it, as every error did in 1.2, even one built with a kind.
//!
//! It writes one line per event to the file its configuration names (`path = "..."`) and,
//! with `fail = "retry"`, fails its first `Audio` with a retryable error.

use std::fs::File;
use std::io::{LineWriter, Write};

use voxpace_sink_abi::{Event, Host, Info, SinkError, SinkPlugin};

/// Writes one line per event.
#[derive(Debug)]
pub struct MinorTwo {
    out: LineWriter<File>,
    fail: bool,
}

impl SinkPlugin for MinorTwo {
    const CONFIG_HELP: &'static str = "path = \"events.txt\"  # required: the event log to write\n\
         fail = \"retry\"        # optional: fail the first audio with a retryable error";

    fn new(config: &str) -> Result<Self, String> {
        let value = |key: &str| {
            config.lines().find_map(|l| {
                let (k, v) = l.split_once('=')?;
                (k.trim() == key).then(|| v.trim().trim_matches('"').to_owned())
            })
        };
        let path =
            value("path").ok_or_else(|| format!("expected path = \"...\", got {config:?}"))?;
        let file = File::create(&path).map_err(|e| format!("{path}: {e}"))?;
        Ok(Self {
            out: LineWriter::new(file),
            fail: value("fail").as_deref() == Some("retry"),
        })
    }

    fn info(&self) -> Info {
        Info::new("abi-1-2")
    }

    fn handle_event(&mut self, event: Event<'_>, host: &Host<'_>) -> Result<(), SinkError> {
        let times = match host.playout() {
            Some(_) => "play-out times offered",
            None => "no play-out times",
        };
        let line = match event {
            Event::Start { format } => format!("start {}", format.sample_rate),
            Event::Audio { reply, samples, .. } => {
                format!("audio {reply} {} ({times})", samples.len())
            }
            Event::Stop => "stop".to_owned(),
            other => format!("{other:?}"),
        };
        writeln!(self.out, "{line}").map_err(|e| SinkError::fatal(e.to_string()))?;
        if self.fail && matches!(event, Event::Audio { .. }) {
            return Err(SinkError::retry(
                "abi-1-2: a retryable failure a 1.2 host cannot see",
            ));
        }
        Ok(())
    }
}

voxpace_sink_abi::export_sink_plugin_v1_2!(MinorTwo);
