//! Sink plugins, through the `voxpace-sinks` crate.

use std::path::Path;

/// Load the plugin at `path` and describe it; `Err` says why it cannot be used.
pub fn check(path: &Path) -> Result<String, String> {
    if !path.is_file() {
        return Err("no such file".into());
    }
    Err("sink plugins are not supported by this build yet (voxpace-sinks is not integrated)".into())
}

/// Load the plugin a `[[sinks]]` entry names, as a core sink.
pub fn load(sink: &crate::config::SinkConfig) -> Result<Box<dyn voxpace_core::Sink>, String> {
    check(&sink.plugin)?;
    Err("sink plugins are not supported by this build yet".into())
}
