//! Test fixture for the versioning rule: a plugin exported with the frozen ABI 1.1 root
//! module, whose instances take the 1.1 host vtable (no `playout`, no `now`). The current
//! host must load it, give it the 1.1 vtable, take its playback reports and drive it like
//! any other plugin.
//!
//! It owns playback: it reports every reply it saw end as fully played. It writes one line
//! per event to the file its configuration names (`path = "..."`), including whether the
//! host offered play-out times, so a test can see what really crossed the boundary.

use std::fs::File;
use std::io::{BufWriter, Write};

use voxpace_sink_abi::{Event, Host, Info, SinkPlugin};

/// Writes one line per event and reports each reply's end.
#[derive(Debug)]
pub struct MinorOne {
    out: BufWriter<File>,
    received: u64,
    channels: u64,
}

impl SinkPlugin for MinorOne {
    const CONFIG_HELP: &'static str = "path = \"events.txt\"  # required: the event log to write";

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
            received: 0,
            channels: 1,
        })
    }

    fn info(&self) -> Info {
        Info::new("abi-1-1").owns_playback(true)
    }

    fn handle(&mut self, event: Event<'_>, host: &Host<'_>) -> Result<(), String> {
        let times = match (host.playout(), host.now()) {
            (None, None) => "no play-out times",
            _ => "play-out times offered",
        };
        let line = match event {
            Event::Start { format } => {
                self.channels = format.channels.max(1).into();
                format!("start {}", format.sample_rate)
            }
            Event::ReplyStarted { reply } => {
                self.received = 0;
                format!("reply-started {reply}")
            }
            Event::Audio { reply, samples, .. } => {
                self.received += samples.len() as u64 / self.channels;
                format!("audio {reply} {} ({times})", samples.len())
            }
            Event::ReplyEnded { reply, interrupted } => {
                let taken = host.report_playback(reply, self.received, interrupted);
                format!("reply-ended {reply} {interrupted} reported={taken}")
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

voxpace_sink_abi::export_sink_plugin_v1_1!(MinorOne);
