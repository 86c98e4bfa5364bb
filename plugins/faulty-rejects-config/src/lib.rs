//! Test fixture: its initialisation rejects every configuration.

use voxpace_sink_abi::{export_sink_plugin, Event, Host, Info, SinkPlugin};

/// Never starts.
#[derive(Debug)]
pub struct FaultyRejectsConfig;

impl SinkPlugin for FaultyRejectsConfig {
    const CONFIG_HELP: &'static str = "device = \"...\"  # required (no value is ever accepted)";

    fn new(config: &str) -> Result<Self, String> {
        Err(format!(
            "device: no such device (configuration was {:?})",
            config.trim()
        ))
    }

    fn info(&self) -> Info {
        Info::new("faulty-rejects-config")
    }

    fn handle(&mut self, _event: Event<'_>, _host: &Host<'_>) -> Result<(), String> {
        Ok(())
    }
}

export_sink_plugin!(FaultyRejectsConfig);
