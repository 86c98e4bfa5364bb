//! Sink plugins, through the `voxpace-sinks` crate: each plugin file is loaded once per
//! process (the registry below), and every agent output gets its own instance of each
//! `[[sinks]]` entry, configured with that entry's own TOML table.
//!
//! Loading a library and making an instance run the plugin's code (its `new` may open files
//! or devices and take its time): no lock is held across either (the registry locks only to
//! find a file's cell), and `serve` calls them on a blocking thread, before it takes any
//! lock of its own.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use voxpace_core::{Delivery, ErrorKind, Sink};
use voxpace_sinks::{Plugin, PluginSink};

use crate::config::{SinkConfig, SinkDelivery};

/// What loading one plugin file gave: the plugin, or the failure (kept, so it is reported
/// (logged) once with its path and never retried).
type Loaded = Result<Plugin, Arc<voxpace_sinks::Error>>;

/// Every plugin file this process has loaded, or is loading, by path: one cell per file.
/// The registry's lock is held only to find or add a cell, never while a library loads
/// (`dlopen` runs the plugin's own code), so a plugin that is slow to load holds up only
/// those who want the same file.
type Registry = BTreeMap<PathBuf, Arc<OnceLock<Loaded>>>;

fn registry() -> &'static Mutex<Registry> {
    static REGISTRY: OnceLock<Mutex<Registry>> = OnceLock::new();
    REGISTRY.get_or_init(Mutex::default)
}

/// The plugin at `path`, loaded on first use. Blocking (it may load the library): call it
/// off the async workers.
pub fn plugin(path: &Path) -> Loaded {
    let key = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let cell = registry()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(key)
        .or_default()
        .clone();
    cell.get_or_init(|| {
        Plugin::load(path).map_err(|e| {
            tracing::error!(plugin = %path.display(), error = %e, "sink plugin failed to load");
            Arc::new(e)
        })
    })
    .clone()
}

/// The plugin's own table as the TOML text plugins parse.
fn config_text(sink: &SinkConfig) -> Result<String, String> {
    toml::to_string(&sink.config)
        .map_err(|e| format!("its [sinks.config] table cannot be written as TOML: {e}"))
}

/// Load the plugin and let it accept its configuration (without running it); `Err` says
/// why it cannot be used.
pub fn validate(sink: &SinkConfig) -> Result<(), String> {
    instance(sink).map(drop)
}

/// `voxpace plugin check`: load, describe and exercise the plugin on a real track.
pub fn check(path: &Path, config: &str) -> voxpace_sinks::CheckReport {
    voxpace_sinks::check_plugin(path, config)
}

/// A new instance of the plugin a `[[sinks]]` entry names, with the entry's name,
/// delivery and queue. Blocking: runs the plugin's `new`.
pub fn instance(sink: &SinkConfig) -> Result<PluginSink, String> {
    build(sink).map_err(|(_, reason)| reason)
}

/// [`instance`], with the kind of its failure.
fn build(sink: &SinkConfig) -> Result<PluginSink, (ErrorKind, String)> {
    let failed = |e: &voxpace_sinks::Error| (e.kind(), e.to_string());
    let plugin = plugin(&sink.plugin).map_err(|e| failed(&e))?;
    let config = config_text(sink).map_err(|reason| (ErrorKind::InvalidInput, reason))?;
    let mut s = plugin
        .instantiate(&config)
        .map_err(|e| failed(&e))?
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
    Ok(s)
}

/// One new instance of every `[[sinks]]` entry, in order, as core sinks; `Err` names the
/// entry and its file, with the plugin error's kind.
pub fn instances(sinks: &[SinkConfig]) -> Result<Vec<Box<dyn Sink>>, crate::Error> {
    sinks
        .iter()
        .map(|sink| {
            build(sink)
                .map(|s| Box::new(s) as Box<dyn Sink>)
                .map_err(|(kind, reason)| crate::Error::Sink {
                    name: format!("{:?} ({})", sink.name, sink.plugin.display()),
                    kind,
                    reason,
                })
        })
        .collect()
}
