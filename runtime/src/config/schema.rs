//! The file as written: `Raw*` types mirror the TOML (unknown keys denied, values carry
//! their byte span), read so that one wrong key does not hide the rest of the file.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::de::DeTable;
use toml::Spanned;

use super::diagnostics::{path_in_table, remove_at, Issues, Step};

/// The most parser errors reported for one file: each costs a re-read of the document.
const MOST_ERRORS: usize = 100;

/// Parse `text` and read it as [`RawConfig`], reporting every syntax error, unknown key and
/// wrong type into `issues` (each at its dotted key). A key the schema refuses is reported
/// and left out, and the rest is read again, so that the sections' own checks still run
/// on everything else. `None` only when nothing can be read.
pub(crate) fn read<'a>(text: &'a str, issues: &mut Issues<'a>) -> Option<RawConfig> {
    let (document, syntax) = DeTable::parse_recoverable(text);
    let mut document = document.into_inner();
    issues.set_document(document.clone());
    for e in &syntax {
        issues.add_parse_error(e);
    }
    let mut left_out: Vec<Vec<Step>> = Vec::new();
    for _ in 0..MOST_ERRORS {
        let span = toml::Spanned::new(0..text.len(), document.clone());
        let e = match RawConfig::deserialize(toml::de::Deserializer::from(span)) {
            Ok(raw) => return Some(raw),
            Err(e) => e,
        };
        // Leave the offending entry out (the key, a wrong value, a table missing a required
        // key) and read the rest again.
        let Some(path) = e.span().and_then(|s| path_in_table(&document, &s)) else {
            issues.add_parse_error(&e);
            return None;
        };
        // A required key left out for its wrong value is not reported missing as well.
        if !follows_from(&e, &path, &left_out) {
            issues.add_parse_error(&e);
        }
        if !remove_at(&mut document, &path) {
            return None;
        }
        left_out.push(path);
    }
    None
}

/// True when `e` says a key is missing that was left out already for a wrong value.
fn follows_from(e: &toml::de::Error, table: &[Step], left_out: &[Vec<Step>]) -> bool {
    let Some(name) = e
        .message()
        .strip_prefix("missing field `")
        .and_then(|m| m.split('`').next())
    else {
        return false;
    };
    left_out.iter().any(|path| {
        path.split_last()
            .is_some_and(|(last, parent)| parent == table && *last == Step::Key(name.into()))
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConfig {
    #[serde(default)]
    pub output: RawOutput,
    pub background: Option<RawBackground>,
    #[serde(default)]
    pub clips: BTreeMap<String, RawClip>,
    #[serde(default)]
    pub sinks: Vec<RawSink>,
    #[serde(default)]
    pub transport: RawTransport,
    #[serde(default)]
    pub server: RawServer,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawOutput {
    pub sample_rate: Option<Spanned<u32>>,
    pub channels: Option<Spanned<u16>>,
    pub frame_ms: Option<Spanned<u32>>,
    pub buffer_ms: Option<Spanned<u64>>,
    pub grace_period_ms: Option<Spanned<u64>>,
    pub interrupt_fade_ms: Option<Spanned<u64>>,
    pub start_threshold_ms: Option<Spanned<u64>>,
    pub report_timeout_ms: Option<Spanned<u64>>,
    #[serde(default)]
    pub manual_input: bool,
    #[serde(default)]
    pub limiter: LimiterName,
    pub loudness: Option<RawLoudness>,
}

#[derive(Debug, Default, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum LimiterName {
    #[default]
    SoftKnee,
    Clip,
    TruePeak,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLoudness {
    pub target_lufs: Option<Spanned<f32>>,
    pub max_gain_db: Option<Spanned<f32>>,
    pub true_peak_dbtp: Option<Spanned<f32>>,
    pub release_ms: Option<Spanned<u64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawBackground {
    pub file: Spanned<String>,
    pub gain_db: Option<Spanned<f32>>,
    pub relative_lu: Option<Spanned<f32>>,
    #[serde(rename = "loop", default = "yes")]
    pub looped: bool,
    #[serde(default)]
    pub ducking: Option<RawDucking>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDucking {
    #[serde(default = "yes")]
    pub enabled: bool,
    pub depth_db: Option<Spanned<f32>>,
    pub attack_ms: Option<Spanned<u64>>,
    pub hold_ms: Option<Spanned<u64>>,
    pub release_ms: Option<Spanned<u64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawClip {
    pub file: Spanned<String>,
    pub gain_db: Option<Spanned<f32>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSink {
    pub name: Option<Spanned<String>>,
    pub plugin: Spanned<String>,
    pub delivery: Option<DeliveryName>,
    pub max_lead_ms: Option<Spanned<u64>>,
    pub queue_ms: Option<Spanned<u64>>,
    #[serde(default)]
    pub config: toml::Table,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum DeliveryName {
    Paced,
    Ahead,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTransport {
    /// `None`: on when the binary has the `webrtc` feature.
    pub whep: Option<Spanned<bool>>,
    pub whep_listen: Option<Spanned<String>>,
    pub whep_peer_timeout_ms: Option<Spanned<u64>>,
    pub whep_connect_timeout_ms: Option<Spanned<u64>>,
    pub whep_max_pending_per_output: Option<Spanned<usize>>,
    pub whep_max_pending_per_client: Option<Spanned<usize>>,
    pub whep_max_listeners: Option<Spanned<usize>>,
    /// The default endpoint for every output (`{output}` becomes the output id), with its
    /// token written here or read from the environment variable `whip_token_env` names.
    pub whip_url: Option<Spanned<String>>,
    pub whip_token: Option<String>,
    pub whip_token_env: Option<Spanned<String>>,
    pub whip_timeout_ms: Option<Spanned<u64>>,
    pub whip_delete_timeout_ms: Option<Spanned<u64>>,
    #[serde(default)]
    pub whip_retry: RawRetry,
    /// Per-output WHIP endpoints and secrets (`[transport.whip_output.<id>]`).
    #[serde(default)]
    pub whip_output: BTreeMap<Spanned<String>, RawWhipOutput>,
    #[serde(default)]
    pub opus: RawOpus,
    #[serde(default)]
    pub tokens: Vec<Spanned<String>>,
}

/// Where one output publishes, overriding `transport.whip_url` and its token.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawWhipOutput {
    pub url: Option<Spanned<String>>,
    pub token: Option<String>,
    pub token_env: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRetry {
    pub initial_ms: Option<Spanned<u64>>,
    pub max_ms: Option<Spanned<u64>>,
    pub jitter: Option<Spanned<f64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawOpus {
    pub bitrate: Option<Spanned<u32>>,
    pub complexity: Option<Spanned<u8>>,
    #[serde(default)]
    pub fec: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawServer {
    pub listen: Option<Spanned<String>>,
    pub outputs: Option<Vec<Spanned<String>>>,
    pub max_outputs: Option<Spanned<usize>>,
    pub shutdown_grace_ms: Option<Spanned<u64>>,
    #[serde(default)]
    pub tokens: Vec<Spanned<String>>,
    pub header_read_timeout_ms: Option<Spanned<u64>>,
    pub body_idle_timeout_ms: Option<Spanned<u64>>,
    pub keep_alive_timeout_ms: Option<Spanned<u64>>,
    pub max_connections: Option<Spanned<usize>>,
    #[serde(default)]
    pub public: Vec<Spanned<String>>,
    pub realtime_priority: Option<Spanned<u32>>,
}

fn yes() -> bool {
    true
}
