//! Test fixture: on its first `Audio` event it blocks for an hour (a hung device, a dead
//! socket). Its queue fills and its audio is dropped; the track and other sinks go on.
//! With `owns_playback = true` it stands for an avatar service that hangs: it never reports
//! playback, so the host must end its replies by timeout with an estimated position.

use std::time::Duration;

use voxpace_sink_abi::{export_sink_plugin, Event, Host, Info, SinkPlugin};

/// Blocks when it receives speech.
#[derive(Debug)]
pub struct FaultyBlock {
    owns_playback: bool,
}

impl SinkPlugin for FaultyBlock {
    const CONFIG_HELP: &'static str = "owns_playback = false  # true: claim to publish the audio";

    fn new(config: &str) -> Result<Self, String> {
        let owns_playback = match config.split_once('=') {
            None if config.trim().is_empty() => false,
            Some((k, v)) if k.trim() == "owns_playback" => v.trim() == "true",
            _ => return Err(format!("unknown setting {config:?}")),
        };
        Ok(Self { owns_playback })
    }

    fn info(&self) -> Info {
        // A small queue, so it fills quickly.
        Info::new("faulty-block")
            .queue(Duration::from_millis(100))
            .owns_playback(self.owns_playback)
    }

    fn handle(&mut self, event: Event<'_>, _host: &Host<'_>) -> Result<(), String> {
        if let Event::Audio { .. } = event {
            std::thread::sleep(Duration::from_secs(3600));
        }
        Ok(())
    }
}

export_sink_plugin!(FaultyBlock);
