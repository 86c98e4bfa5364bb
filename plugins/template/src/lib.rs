//! A voxpace sink plugin, ready to grow: copy this crate (`cargo xtask new-plugin NAME` does)
//! and replace the bodies. It builds and passes `voxpace plugin check` as it is.
//!
//! Configuration: the text the host passes through (the voxpace runtime passes the
//! plugin's `config` table as TOML). This template takes `name = "..."` only, parsed by
//! hand to keep it dependency-free; real plugins use `serde` + `toml` (see `plugins/avatar`).

use voxpace_sink_abi::{export_sink_plugin, Event, Host, Info, SinkPlugin, StreamFormat};

/// The plugin's state.
#[derive(Debug)]
pub struct Template {
    name: String,
    format: Option<StreamFormat>,
    /// Samples (per channel) received for the current reply.
    received: u64,
    paused: bool,
}

impl SinkPlugin for Template {
    const CONFIG_HELP: &'static str = "name = \"template\"  # optional: the sink's name in logs";

    fn new(config: &str) -> Result<Self, String> {
        let mut name = "template".to_owned();
        for line in config.lines().map(str::trim).filter(|l| !l.is_empty()) {
            match line.split_once('=') {
                Some((key, value)) if key.trim() == "name" => {
                    name = value.trim().trim_matches('"').to_owned();
                }
                _ => {
                    return Err(format!(
                        "unknown setting {line:?} (expected name = \"...\")"
                    ))
                }
            }
        }
        Ok(Self {
            name,
            format: None,
            received: 0,
            paused: false,
        })
    }

    fn info(&self) -> Info {
        // Paced delivery, 1 s queue, the host plays the audio. See `Info` for the options.
        Info::new(self.name.clone())
    }

    fn handle(&mut self, event: Event<'_>, _host: &Host<'_>) -> Result<(), String> {
        match event {
            Event::Start { format } => self.format = Some(format),
            Event::ReplyStarted { .. } => self.received = 0,
            Event::Audio { samples, .. } => {
                let channels = self.format.map_or(1, |f| f.channels.max(1)) as u64;
                // Do the real work here: this runs on the plugin's own thread, so it may
                // take time, but it should keep up with real time on average.
                self.received += samples.len() as u64 / channels;
            }
            Event::ReplyEnded { .. } => {}
            Event::Interrupted { .. } => {
                // Drop anything queued for playback and stop at once.
            }
            Event::Paused => self.paused = true,
            Event::Resumed => self.paused = false,
            Event::Stop => {
                // Flush and close whatever the plugin opened.
            }
            // Events added in later minor versions of the ABI.
            _ => {}
        }
        Ok(())
    }
}

export_sink_plugin!(Template);
