//! Test fixture: on its first `Audio` event it blocks for an hour (a hung device, a dead
//! socket). Its queue fills and its audio is dropped; the track and other sinks go on.

use std::time::Duration;

use voxpace_sink_abi::{export_sink_plugin, Event, Host, Info, SinkPlugin};

/// Blocks when it receives speech.
#[derive(Debug)]
pub struct FaultyBlock;

impl SinkPlugin for FaultyBlock {
    fn new(_config: &str) -> Result<Self, String> {
        Ok(Self)
    }

    fn info(&self) -> Info {
        // A small queue, so it fills quickly.
        Info::new("faulty-block").queue(Duration::from_millis(100))
    }

    fn handle(&mut self, event: Event<'_>, _host: &Host<'_>) -> Result<(), String> {
        if let Event::Audio { .. } = event {
            std::thread::sleep(Duration::from_secs(3600));
        }
        Ok(())
    }
}

export_sink_plugin!(FaultyBlock);
