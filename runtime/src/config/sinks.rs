//! `[[sinks]]`: plugin sinks attached to every agent output.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::diagnostics::Issues;
use super::schema::{DeliveryName, RawSink};
use super::values::{existing_file, ms_in};

/// When a sink receives speech (mirrors `voxpace_core::Delivery`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SinkDelivery {
    /// At play-out time.
    Paced,
    /// As soon as accepted, at most `max_lead` ahead.
    Ahead {
        /// The lead cap.
        max_lead: Duration,
    },
}

/// A plugin sink attached to every agent output.
#[derive(Debug, Clone, PartialEq)]
pub struct SinkConfig {
    /// Name for logs and events (defaults to the plugin's file stem).
    pub name: String,
    /// The plugin's shared library (absolute).
    pub plugin: PathBuf,
    /// When it receives audio (`None`: as the plugin declares).
    pub delivery: Option<SinkDelivery>,
    /// Its queue bound (`None`: as the plugin declares).
    pub queue: Option<Duration>,
    /// The plugin's own configuration table, passed to it as given.
    pub config: toml::Table,
}

/// Every `[[sinks]]` entry, checked; names must differ.
pub(crate) fn check(sinks: &[RawSink], base: &Path, issues: &mut Issues<'_>) -> Vec<SinkConfig> {
    let mut names = BTreeSet::new();
    sinks
        .iter()
        .enumerate()
        .map(|(i, s)| {
            // Named by where it was written: an entry the parser refused is left out of
            // `sinks`, so the index here may be smaller than the file's.
            let at = issues
                .key_of(s.plugin.span())
                .strip_suffix(".plugin")
                .map_or_else(|| format!("sinks[{i}]"), str::to_string);
            let plugin = existing_file(
                base,
                &s.plugin,
                &format!("{at}.plugin"),
                "a sink plugin library",
                issues,
            );
            let name = s.name.as_ref().map_or_else(
                || {
                    plugin
                        .file_stem()
                        .map(|s| s.to_string_lossy().trim_start_matches("lib").to_string())
                        .unwrap_or_else(|| format!("sink{i}"))
                },
                |n| n.get_ref().clone(),
            );
            if !names.insert(name.clone()) {
                let span = s.name.as_ref().map_or(s.plugin.span(), |n| n.span());
                issues.add(
                    Some(span),
                    format!("{at}.name"),
                    format!("a second sink named {name:?}"),
                    "a unique name per sink",
                );
            }
            let max_lead = |issues: &mut Issues<'_>| {
                ms_in(
                    &s.max_lead_ms,
                    500,
                    &format!("{at}.max_lead_ms"),
                    0..=10_000,
                    issues,
                )
            };
            let misplaced = |lead: &toml::Spanned<u64>, problem: &str, issues: &mut Issues<'_>| {
                issues.add(
                    Some(lead.span()),
                    format!("{at}.max_lead_ms"),
                    problem,
                    "delivery = \"ahead\" together with max_lead_ms",
                );
            };
            let delivery = match s.delivery {
                None => {
                    if let Some(lead) = &s.max_lead_ms {
                        misplaced(lead, "given without delivery = \"ahead\"", issues);
                    }
                    None
                }
                Some(DeliveryName::Paced) => {
                    if let Some(lead) = &s.max_lead_ms {
                        misplaced(lead, "only applies to delivery = \"ahead\"", issues);
                    }
                    Some(SinkDelivery::Paced)
                }
                Some(DeliveryName::Ahead) => Some(SinkDelivery::Ahead {
                    max_lead: max_lead(issues),
                }),
            };
            let queue = s.queue_ms.as_ref().map(|_| {
                ms_in(
                    &s.queue_ms,
                    0,
                    &format!("{at}.queue_ms"),
                    1..=60_000,
                    issues,
                )
            });
            SinkConfig {
                name,
                plugin,
                delivery,
                queue,
                config: s.config.clone(),
            }
        })
        .collect()
}
