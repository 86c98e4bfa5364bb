//! Sink plugins, through the `voxpace-sinks` crate: loaded by path, configured with their
//! own TOML table, attached to every agent output as core sinks.

use std::path::Path;

use voxpace_core::Delivery;
use voxpace_sinks::{Plugin, PluginSink};

use crate::config::{SinkConfig, SinkDelivery};

/// The plugin's own table as the TOML text plugins parse.
fn config_text(sink: &SinkConfig) -> Result<String, String> {
    toml::to_string(&sink.config)
        .map_err(|e| format!("its [sinks.config] table cannot be written as TOML: {e}"))
}

/// Load the plugin and let it accept its configuration (without running it); `Err` says
/// why it cannot be used.
pub fn validate(sink: &SinkConfig) -> Result<(), String> {
    let plugin = Plugin::load(&sink.plugin).map_err(|e| e.to_string())?;
    plugin
        .instantiate(&config_text(sink)?)
        .map(drop)
        .map_err(|e| e.to_string())
}

/// `voxpace plugin check`: load, describe and exercise the plugin on a real track.
pub fn check(path: &Path, config: &str) -> voxpace_sinks::CheckReport {
    voxpace_sinks::check_plugin(path, config)
}

/// A new instance of the plugin a `[[sinks]]` entry names, as a core sink.
pub fn load(sink: &SinkConfig) -> Result<Box<dyn voxpace_core::Sink>, String> {
    let mut s = PluginSink::load(&sink.plugin, &config_text(sink)?)
        .map_err(|e| e.to_string())?
        .with_name(sink.name.clone());
    if let Some(d) = sink.delivery {
        s = s.with_delivery(match d {
            SinkDelivery::Paced => Delivery::Paced,
            SinkDelivery::Ahead { max_lead } => Delivery::Ahead { max_lead },
        });
    }
    if let Some(q) = sink.queue {
        s = s.with_queue(q);
    }
    Ok(Box::new(s))
}
