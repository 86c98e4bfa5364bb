//! The agent-output configuration file (TOML): parsed with spans, checked completely before
//! anything starts, every problem reported with its file, line, key and what was expected.
//!
//! Two layers: `Raw*` types mirror the file (unknown keys denied, values carry their byte
//! span), and [`Config`] is the validated result with paths resolved against the file's
//! directory and durations as [`Duration`]s.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;
use voxpace_core::{Format, Limiter, Normalise, TrackConfig};

use crate::Error;

/// The commented example configuration (`voxpace config example`). Its relative paths point
/// at the example audio next to it in `runtime/assets/`.
pub const EXAMPLE: &str = include_str!("../assets/example.toml");

/// One problem in a configuration or script file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    /// The file.
    pub file: PathBuf,
    /// 1-based line of the offending value (0 when the problem has no place in the file).
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// The dotted key, e.g. `output.sample_rate`.
    pub key: String,
    /// What is wrong.
    pub problem: String,
    /// What would be accepted.
    pub expected: String,
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if self.line > 0 {
            write!(f, ":{}:{}", self.line, self.column)?;
        }
        if !self.key.is_empty() {
            write!(f, ": `{}`", self.key)?;
        }
        write!(f, ": {}", self.problem)?;
        if !self.expected.is_empty() {
            write!(f, " (expected {})", self.expected)?;
        }
        Ok(())
    }
}

/// Every issue on its own line, prefixed with how many there are.
pub(crate) fn format_issues(issues: &[Issue]) -> String {
    let mut s = match issues.len() {
        1 => String::from("1 problem:"),
        n => format!("{n} problems:"),
    };
    for i in issues {
        s.push_str("\n  ");
        s.push_str(&i.to_string());
    }
    s
}

/// Collects issues for one source text, turning byte spans into lines and columns.
#[derive(Debug)]
pub(crate) struct Issues<'a> {
    file: &'a Path,
    text: &'a str,
    pub(crate) list: Vec<Issue>,
    places: BTreeMap<String, (usize, usize)>,
}

impl<'a> Issues<'a> {
    pub(crate) fn new(file: &'a Path, text: &'a str) -> Self {
        Self {
            file,
            text,
            list: Vec::new(),
            places: BTreeMap::new(),
        }
    }

    /// Record a problem at `span` (a byte range in the text, `None` for "not in the file").
    pub(crate) fn add(
        &mut self,
        span: Option<Range<usize>>,
        key: impl Into<String>,
        problem: impl Into<String>,
        expected: impl Into<String>,
    ) {
        let (line, column) = span.map_or((0, 0), |s| line_col(self.text, s.start));
        self.list.push(Issue {
            file: self.file.to_path_buf(),
            line,
            column,
            key: key.into(),
            problem: problem.into(),
            expected: expected.into(),
        });
    }

    /// A TOML syntax or type error from the parser (unknown key, wrong type, bad syntax).
    pub(crate) fn add_parse_error(&mut self, e: &toml::de::Error) {
        let message = e.message().trim().to_string();
        let key = e
            .span()
            .map(|s| key_at(self.text, s.start))
            .unwrap_or_default();
        // serde phrases type errors as "invalid type: X, expected Y": split them so the
        // report reads like every other issue.
        let (problem, expected) = match message.split_once(", expected ") {
            Some((p, x)) => (p.to_string(), x.to_string()),
            None => match message.split_once(" expected ") {
                Some((p, x)) => (p.trim_end_matches(',').to_string(), x.to_string()),
                None => (message, String::new()),
            },
        };
        self.add(e.span(), key, problem, expected);
    }

    pub(crate) fn finish<T>(self, value: T) -> Result<T, Error> {
        if self.list.is_empty() {
            Ok(value)
        } else {
            Err(Error::Invalid(self.list))
        }
    }
}

/// 1-based line and column of byte `offset` (column counted in characters).
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

/// The key written on the line holding `offset`: `a = …` gives `a`, `[a.b]` gives `a.b`.
fn key_at(text: &str, offset: usize) -> String {
    let offset = offset.min(text.len());
    let start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let end = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
    let line = text[start..end].trim();
    if let Some(header) = line.strip_prefix('[') {
        return header
            .trim_matches(|c| c == '[' || c == ']')
            .trim()
            .to_string();
    }
    line.split_once('=')
        .map(|(k, _)| k.trim().to_string())
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------
// The file as written.

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    output: RawOutput,
    background: Option<RawBackground>,
    #[serde(default)]
    clips: BTreeMap<String, RawClip>,
    #[serde(default)]
    sinks: Vec<RawSink>,
    #[serde(default)]
    transport: RawTransport,
    #[serde(default)]
    server: RawServer,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOutput {
    sample_rate: Option<Spanned<u32>>,
    channels: Option<Spanned<u16>>,
    frame_ms: Option<Spanned<u32>>,
    buffer_ms: Option<Spanned<u64>>,
    grace_period_ms: Option<Spanned<u64>>,
    interrupt_fade_ms: Option<Spanned<u64>>,
    start_threshold_ms: Option<Spanned<u64>>,
    report_timeout_ms: Option<Spanned<u64>>,
    #[serde(default)]
    manual_input: bool,
    #[serde(default)]
    limiter: LimiterName,
    loudness: Option<RawLoudness>,
}

#[derive(Debug, Default, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
enum LimiterName {
    #[default]
    SoftKnee,
    Clip,
    TruePeak,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLoudness {
    target_lufs: Option<Spanned<f32>>,
    max_gain_db: Option<Spanned<f32>>,
    true_peak_dbtp: Option<Spanned<f32>>,
    release_ms: Option<Spanned<u64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBackground {
    file: Spanned<String>,
    gain_db: Option<Spanned<f32>>,
    relative_lu: Option<Spanned<f32>>,
    #[serde(rename = "loop", default = "yes")]
    looped: bool,
    #[serde(default)]
    ducking: Option<RawDucking>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDucking {
    #[serde(default = "yes")]
    enabled: bool,
    depth_db: Option<Spanned<f32>>,
    attack_ms: Option<Spanned<u64>>,
    hold_ms: Option<Spanned<u64>>,
    release_ms: Option<Spanned<u64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClip {
    file: Spanned<String>,
    gain_db: Option<Spanned<f32>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSink {
    name: Option<String>,
    plugin: Spanned<String>,
    delivery: Option<DeliveryName>,
    max_lead_ms: Option<Spanned<u64>>,
    queue_ms: Option<Spanned<u64>>,
    #[serde(default)]
    config: toml::Table,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
enum DeliveryName {
    Paced,
    Ahead,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTransport {
    /// `None`: on when the binary has the `webrtc` feature.
    whep: Option<Spanned<bool>>,
    whep_listen: Option<Spanned<String>>,
    whep_peer_timeout_ms: Option<Spanned<u64>>,
    /// The default endpoint for every output (`{output}` becomes the output id), with its
    /// token written here or read from the environment variable `whip_token_env` names.
    whip_url: Option<Spanned<String>>,
    whip_token: Option<String>,
    whip_token_env: Option<Spanned<String>>,
    whip_timeout_ms: Option<Spanned<u64>>,
    whip_delete_timeout_ms: Option<Spanned<u64>>,
    #[serde(default)]
    whip_retry: RawRetry,
    /// Per-output WHIP endpoints and secrets (`[transport.whip_output.<id>]`).
    #[serde(default)]
    whip_output: BTreeMap<String, RawWhipOutput>,
    #[serde(default)]
    opus: RawOpus,
    #[serde(default)]
    tokens: Vec<String>,
}

/// Where one output publishes, overriding `transport.whip_url` and its token.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWhipOutput {
    url: Option<Spanned<String>>,
    token: Option<String>,
    token_env: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRetry {
    initial_ms: Option<Spanned<u64>>,
    max_ms: Option<Spanned<u64>>,
    jitter: Option<Spanned<f64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOpus {
    bitrate: Option<Spanned<u32>>,
    complexity: Option<Spanned<u8>>,
    #[serde(default)]
    fec: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServer {
    listen: Option<Spanned<String>>,
    outputs: Option<Vec<String>>,
    max_outputs: Option<Spanned<usize>>,
    shutdown_grace_ms: Option<Spanned<u64>>,
    #[serde(default)]
    tokens: Vec<String>,
    header_read_timeout_ms: Option<Spanned<u64>>,
    body_idle_timeout_ms: Option<Spanned<u64>>,
    keep_alive_timeout_ms: Option<Spanned<u64>>,
    max_connections: Option<Spanned<usize>>,
    #[serde(default)]
    public: Vec<Spanned<String>>,
}

fn yes() -> bool {
    true
}

// ---------------------------------------------------------------------------------------
// The validated configuration.

/// A validated configuration: everything a runtime needs to start an agent output.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was read from.
    pub path: PathBuf,
    /// Format of every agent output.
    pub format: Format,
    /// Track behaviour (buffer bound, grace period, fade, limiter, …).
    pub track: TrackConfig,
    /// `[output.loudness]`: reply normalisation, the true-peak ceiling, the output meter.
    pub loudness: Option<LoudnessConfig>,
    /// Background audio, if any.
    pub background: Option<BackgroundConfig>,
    /// One-shot clips by name.
    pub clips: BTreeMap<String, ClipConfig>,
    /// Sinks attached to every agent output.
    pub sinks: Vec<SinkConfig>,
    /// WebRTC delivery.
    pub transport: TransportConfig,
    /// The HTTP server of `voxpace serve`.
    pub server: ServerConfig,
    /// Where each file-valued key was written (key -> line, column), for later checks.
    pub(crate) places: BTreeMap<String, (usize, usize)>,
}

/// `[output.loudness]`: loudness on ITU-R BS.1770 / EBU R128 (see `voxpace-loudness`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LoudnessConfig {
    /// Normalise every reply to this integrated loudness (LUFS); `None`: replies play at
    /// their own level.
    pub target_lufs: Option<f32>,
    /// The most boost a reply gets, in dB.
    pub max_gain_db: f32,
    /// The ceiling of `limiter = "true-peak"`, in dBTP (4× oversampled).
    pub true_peak_dbtp: f32,
    /// How fast the true-peak limiter recovers.
    pub release: Duration,
}

impl Default for LoudnessConfig {
    fn default() -> Self {
        Self {
            target_lufs: None,
            max_gain_db: 12.0,
            true_peak_dbtp: -1.0,
            release: Duration::from_millis(100),
        }
    }
}

/// Background audio mixed under speech.
#[derive(Debug, Clone, PartialEq)]
pub struct BackgroundConfig {
    /// Audio file (absolute, resolved against the config file's directory).
    pub file: PathBuf,
    /// Gain applied to the file, in dB (on top of `relative_lu`'s gain when that is set).
    pub gain_db: f32,
    /// Play the file this many LU relative to `output.loudness.target_lufs` (its measured
    /// loudness sets its gain); `None`: at `gain_db` whatever its level.
    pub relative_lu: Option<f32>,
    /// Loop the file (otherwise it plays once).
    pub looped: bool,
    /// Lower the background while the agent speaks.
    pub ducking: Option<DuckingConfig>,
}

/// How the background gives way to speech.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DuckingConfig {
    /// Attenuation under speech in dB (negative).
    pub depth_db: f32,
    /// How fast the background goes down when speech starts.
    pub attack: Duration,
    /// How long it stays down after speech stops.
    pub hold: Duration,
    /// How fast it comes back after speech.
    pub release: Duration,
}

/// A one-shot clip fired over the API or from a script.
#[derive(Debug, Clone, PartialEq)]
pub struct ClipConfig {
    /// Audio file (absolute).
    pub file: PathBuf,
    /// Gain in dB.
    pub gain_db: f32,
}

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

/// Opus encoder settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpusConfig {
    /// Bits per second.
    pub bitrate: u32,
    /// 0 (fastest) to 10 (best).
    pub complexity: u8,
    /// In-band forward error correction.
    pub fec: bool,
}

/// WebRTC delivery: WHEP for listeners, WHIP publishing.
#[derive(Debug, Clone, PartialEq)]
pub struct TransportConfig {
    /// Serve WHEP endpoints for listeners.
    pub whep: bool,
    /// A separate listen address for WHEP (default: the control server's).
    pub whep_listen: Option<SocketAddr>,
    /// A listener heard from for this long is dropped (it vanished without closing).
    pub whep_peer_timeout: Duration,
    /// Publish each agent output to this WHIP endpoint (`{output}` becomes the output id)
    /// unless `whip_outputs` names the output.
    pub whip_url: Option<String>,
    /// Bearer token for `whip_url` (written in the file or read from `whip_token_env`).
    pub whip_token: Option<String>,
    /// Per-output WHIP endpoints and tokens.
    pub whip_outputs: BTreeMap<String, WhipTarget>,
    /// Longest wait for a WHIP POST.
    pub whip_timeout: Duration,
    /// Longest wait for the WHIP DELETE at teardown.
    pub whip_delete_timeout: Duration,
    /// Waits between WHIP attempts.
    pub whip_retry: RetryConfig,
    /// Opus encoder settings.
    pub opus: OpusConfig,
    /// Bearer tokens a WHEP listener must present (empty: open); any of them is accepted.
    pub tokens: Vec<String>,
    /// WebRTC settings this binary cannot honour (built without the `webrtc` feature): the
    /// commands that serve WebRTC refuse them ([`Config::require_webrtc`]); `render` has no
    /// use for them and ignores them.
    pub(crate) unavailable: Vec<Issue>,
}

/// Where one output publishes over WHIP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WhipTarget {
    /// The WHIP endpoint.
    pub url: String,
    /// Its bearer token.
    pub token: Option<String>,
}

/// Capped exponential backoff with jitter between WHIP attempts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryConfig {
    /// Wait after the first failure.
    pub initial: Duration,
    /// Longest wait.
    pub max: Duration,
    /// Fraction (0 to 1) by which each wait is randomly shortened.
    pub jitter: f64,
}

impl TransportConfig {
    /// Where output `id` publishes, if anywhere.
    pub fn whip_for(&self, id: &str) -> Option<WhipTarget> {
        if let Some(t) = self.whip_outputs.get(id) {
            return Some(t.clone());
        }
        self.whip_url.as_ref().map(|url| WhipTarget {
            url: url.replace("{output}", id),
            token: self.whip_token.clone(),
        })
    }

    /// True when any output may publish over WHIP.
    pub fn publishes(&self) -> bool {
        self.whip_url.is_some() || !self.whip_outputs.is_empty()
    }
}

/// The HTTP server of `voxpace serve`.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    /// Address of the control API, the web page and (by default) WHEP.
    pub listen: SocketAddr,
    /// Agent outputs created at start.
    pub outputs: Vec<String>,
    /// Most agent outputs alive at once.
    pub max_outputs: usize,
    /// How long replies in flight may finish after SIGINT/SIGTERM.
    pub shutdown_grace: Duration,
    /// Bearer tokens the control API requires (empty: open).
    pub tokens: Vec<String>,
    /// Longest a connection may take to send a request's headers (from its first byte, or
    /// from the moment it connected for its first request).
    pub header_read_timeout: Duration,
    /// How far a reply's body may fall behind real time (its audio has run out and nothing
    /// more arrives) before the reply ends as incomplete and the request gets 408.
    pub body_idle_timeout: Duration,
    /// How long an idle keep-alive connection stays open between requests.
    pub keep_alive_timeout: Duration,
    /// Most HTTP connections served at once; more are refused at once with 503.
    pub max_connections: usize,
    /// Endpoint groups that stay public when tokens are set.
    pub public: Public,
}

/// Endpoint groups that `server.public` can open to everyone when tokens are set (see
/// `serve::auth` for the whole rule).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Public {
    /// `GET /metrics`.
    pub metrics: bool,
    /// `GET /v1/info`.
    pub info: bool,
    /// Listening: `GET /v1/outputs/{id}/audio` and WHEP.
    pub listen: bool,
}

/// The names `server.public` accepts.
pub const PUBLIC_GROUPS: &str = "\"metrics\", \"info\" or \"listen\"";

impl Config {
    /// Refuse WebRTC settings this binary cannot serve (built without the `webrtc`
    /// feature), naming each and the feature to build with. `serve` and `config check` ask;
    /// `render` (no network) plays such a config as it is.
    pub fn require_webrtc(&self) -> Result<(), Error> {
        if self.transport.unavailable.is_empty() {
            Ok(())
        } else {
            Err(Error::Invalid(self.transport.unavailable.clone()))
        }
    }

    /// Read, parse and check `path`, including that every referenced file exists.
    pub fn load(path: &Path) -> Result<Config, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::parse(path, &text)
    }

    /// Parse and check `text` as if read from `path` (relative files resolve against its
    /// directory).
    pub fn parse(path: &Path, text: &str) -> Result<Config, Error> {
        let mut issues = Issues::new(path, text);
        let raw: RawConfig = match toml::from_str(text) {
            Ok(raw) => raw,
            Err(e) => {
                issues.add_parse_error(&e);
                return Err(Error::Invalid(issues.list));
            }
        };
        let base = path.parent().unwrap_or(Path::new("")).to_path_buf();
        let config = validate(raw, path, &base, &mut issues);
        issues.finish(config)
    }

    /// An issue about the file-valued `key` (e.g. `background.file`), placed where the key
    /// was written.
    pub fn issue_at(
        &self,
        key: &str,
        problem: impl Into<String>,
        expected: impl Into<String>,
    ) -> Issue {
        let (line, column) = self.places.get(key).copied().unwrap_or((0, 0));
        Issue {
            file: self.path.clone(),
            line,
            column,
            key: key.to_string(),
            problem: problem.into(),
            expected: expected.into(),
        }
    }

    /// The track configuration and format pair a new agent output is built from.
    pub fn track_parts(&self) -> (Format, TrackConfig) {
        (self.format, self.track.clone())
    }
}

fn ms(v: &Option<Spanned<u64>>, default: u64) -> Duration {
    Duration::from_millis(v.as_ref().map_or(default, |s| *s.get_ref()))
}

fn span_of<T>(v: &Option<Spanned<T>>) -> Option<Range<usize>> {
    v.as_ref().map(|s| s.span())
}

/// Resolve a file path from the config and check that it is a readable file.
pub(crate) fn existing_file(
    base: &Path,
    value: &Spanned<String>,
    key: &str,
    what: &str,
    issues: &mut Issues<'_>,
) -> PathBuf {
    let place = line_col(issues.text, value.span().start);
    issues.places.insert(key.to_string(), place);
    let given = Path::new(value.get_ref());
    let resolved = if given.is_absolute() {
        given.to_path_buf()
    } else {
        base.join(given)
    };
    match std::fs::metadata(&resolved) {
        Ok(m) if m.is_file() => {}
        Ok(_) => issues.add(
            Some(value.span()),
            key,
            format!("{} is not a file", resolved.display()),
            what,
        ),
        Err(e) => issues.add(
            Some(value.span()),
            key,
            format!("{}: {e}", resolved.display()),
            what,
        ),
    }
    resolved
}

fn validate(raw: RawConfig, path: &Path, base: &Path, issues: &mut Issues<'_>) -> Config {
    let o = &raw.output;
    let rate = o.sample_rate.as_ref().map_or(24_000, |s| *s.get_ref());
    let channels = o.channels.as_ref().map_or(1, |s| *s.get_ref());
    let frame_ms = o.frame_ms.as_ref().map_or(20, |s| *s.get_ref());
    let format = match Format::new(rate, channels, frame_ms) {
        Ok(f) => f,
        Err(_) => {
            if !voxpace_core::SAMPLE_RATES.contains(&rate) {
                issues.add(
                    span_of(&o.sample_rate),
                    "output.sample_rate",
                    format!("{rate} Hz is not supported"),
                    "8000, 16000, 24000 or 48000",
                );
            }
            if !(1..=2).contains(&channels) {
                issues.add(
                    span_of(&o.channels),
                    "output.channels",
                    format!("{channels} channels is not supported"),
                    "1 (mono) or 2 (stereo)",
                );
            }
            if !voxpace_core::FRAME_LENGTHS_MS.contains(&frame_ms) {
                issues.add(
                    span_of(&o.frame_ms),
                    "output.frame_ms",
                    format!("{frame_ms} ms frames are not supported"),
                    "10, 20, 40 or 60",
                );
            }
            Format::default()
        }
    };
    let track = TrackConfig {
        buffer: ms(&o.buffer_ms, 10_000),
        grace_period: ms(&o.grace_period_ms, 500),
        interrupt_fade: ms(&o.interrupt_fade_ms, 10),
        start_threshold: ms(&o.start_threshold_ms, 0),
        manual_input: o.manual_input,
        limiter: match o.limiter {
            LimiterName::SoftKnee => Limiter::SoftKnee,
            LimiterName::Clip => Limiter::Clip,
            // The ceiling and release come from `[output.loudness]`, below.
            LimiterName::TruePeak => Limiter::Clip,
        },
        loudness: None,
        output_meter: false,
        report_timeout: ms(&o.report_timeout_ms, 2_000),
    };
    if track.buffer < format.frame_duration() {
        issues.add(
            span_of(&o.buffer_ms),
            "output.buffer_ms",
            format!("{} ms is shorter than one frame", track.buffer.as_millis()),
            format!("at least the frame length, {} ms", format.frame_ms()),
        );
    }
    if track.interrupt_fade > format.frame_duration() {
        issues.add(
            span_of(&o.interrupt_fade_ms),
            "output.interrupt_fade_ms",
            format!(
                "{} ms is longer than one frame",
                track.interrupt_fade.as_millis()
            ),
            format!("0 to {} ms", format.frame_ms()),
        );
    }
    if track.start_threshold > track.buffer {
        issues.add(
            span_of(&o.start_threshold_ms),
            "output.start_threshold_ms",
            "exceeds output.buffer_ms, so a reply could never start",
            "at most output.buffer_ms",
        );
    }

    let loudness = loudness(o, issues);
    let mut track = track;
    if let Some(l) = loudness {
        track.output_meter = true;
        track.loudness = l.target_lufs.map(|target_lufs| Normalise {
            target_lufs,
            max_gain_db: l.max_gain_db,
        });
        if o.limiter == LimiterName::TruePeak {
            track.limiter = Limiter::TruePeak {
                ceiling_dbtp: l.true_peak_dbtp,
                release: l.release,
            };
        }
    }
    let background = raw.background.as_ref().map(|b| {
        let file = existing_file(base, &b.file, "background.file", "an audio file", issues);
        let relative_lu = b.relative_lu.as_ref().map(|r| {
            let lu = *r.get_ref();
            if !(-60.0..=0.0).contains(&lu) {
                issues.add(
                    Some(r.span()),
                    "background.relative_lu",
                    format!("{lu} LU"),
                    "between -60 and 0 LU (music below speech)",
                );
            }
            if loudness.and_then(|l| l.target_lufs).is_none() {
                issues.add(
                    Some(r.span()),
                    "background.relative_lu",
                    "is relative to the speech target, but output.loudness.target_lufs is not set",
                    "[output.loudness] target_lufs = -16 (for example), or gain_db instead",
                );
            }
            lu
        });
        // With a relative level the measured gain sets the level; gain_db is an offset.
        let default_gain = if relative_lu.is_some() { 0.0 } else { -12.0 };
        let gain_db = gain(&b.gain_db, default_gain, "background.gain_db", issues);
        let ducking = b.ducking.as_ref().filter(|d| d.enabled).map(|d| {
            let depth_db = d.depth_db.as_ref().map_or(-12.0, |s| *s.get_ref());
            if !(-60.0..=0.0).contains(&depth_db) {
                issues.add(
                    span_of(&d.depth_db),
                    "background.ducking.depth_db",
                    format!("{depth_db} dB"),
                    "an attenuation between -60 and 0 dB",
                );
            }
            DuckingConfig {
                depth_db,
                attack: ms(&d.attack_ms, 60),
                hold: ms(&d.hold_ms, 300),
                release: ms(&d.release_ms, 600),
            }
        });
        BackgroundConfig {
            file,
            gain_db,
            relative_lu,
            looped: b.looped,
            ducking,
        }
    });

    let clips = raw
        .clips
        .iter()
        .map(|(name, c)| {
            let key = format!("clips.{name}.file");
            let file = existing_file(base, &c.file, &key, "an audio file", issues);
            let gain_db = gain(&c.gain_db, 0.0, &format!("clips.{name}.gain_db"), issues);
            (name.clone(), ClipConfig { file, gain_db })
        })
        .collect();

    let mut names = BTreeMap::new();
    let sinks = raw
        .sinks
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let key = format!("sinks[{i}].plugin");
            let plugin = existing_file(base, &s.plugin, &key, "a sink plugin library", issues);
            let name = s.name.clone().unwrap_or_else(|| {
                plugin
                    .file_stem()
                    .map(|s| s.to_string_lossy().trim_start_matches("lib").to_string())
                    .unwrap_or_else(|| format!("sink{i}"))
            });
            if names.insert(name.clone(), ()).is_some() {
                issues.add(
                    Some(s.plugin.span()),
                    format!("sinks[{i}].name"),
                    format!("a second sink named {name:?}"),
                    "a unique name per sink",
                );
            }
            let delivery = match s.delivery {
                None => {
                    if let Some(lead) = &s.max_lead_ms {
                        issues.add(
                            Some(lead.span()),
                            format!("sinks[{i}].max_lead_ms"),
                            "given without delivery = \"ahead\"",
                            "delivery = \"ahead\" together with max_lead_ms",
                        );
                    }
                    None
                }
                Some(DeliveryName::Paced) => {
                    if let Some(lead) = &s.max_lead_ms {
                        issues.add(
                            Some(lead.span()),
                            format!("sinks[{i}].max_lead_ms"),
                            "only applies to delivery = \"ahead\"",
                            "no max_lead_ms, or delivery = \"ahead\"",
                        );
                    }
                    Some(SinkDelivery::Paced)
                }
                Some(DeliveryName::Ahead) => Some(SinkDelivery::Ahead {
                    max_lead: ms(&s.max_lead_ms, 500),
                }),
            };
            SinkConfig {
                name,
                plugin,
                delivery,
                queue: s
                    .queue_ms
                    .as_ref()
                    .map(|q| Duration::from_millis(*q.get_ref())),
                config: s.config.clone(),
            }
        })
        .collect();

    let t = &raw.transport;
    let bitrate = t.opus.bitrate.as_ref().map_or(32_000, |s| *s.get_ref());
    if !(6_000..=510_000).contains(&bitrate) {
        issues.add(
            span_of(&t.opus.bitrate),
            "transport.opus.bitrate",
            format!("{bitrate} b/s"),
            "6000 to 510000 bits per second",
        );
    }
    let complexity = t.opus.complexity.as_ref().map_or(5, |s| *s.get_ref());
    if complexity > 10 {
        issues.add(
            span_of(&t.opus.complexity),
            "transport.opus.complexity",
            format!("{complexity}"),
            "0 to 10",
        );
    }
    let whep_listen = t
        .whep_listen
        .as_ref()
        .and_then(|a| socket_addr(a, "transport.whep_listen", issues));
    let mut unavailable = Issues::new(issues.file, issues.text);
    check_webrtc_feature(t, cfg!(feature = "webrtc"), &mut unavailable);
    let whip_url = t
        .whip_url
        .as_ref()
        .map(|u| check_whip_url(u, "transport.whip_url", issues));
    let whip_token = token(
        t.whip_token.as_ref(),
        t.whip_token_env.as_ref(),
        "transport",
        "whip_token",
        issues,
    );
    let mut whip_outputs = BTreeMap::new();
    for (id, o) in &t.whip_output {
        let key = format!("transport.whip_output.{id}");
        if !valid_output_id(id) {
            issues.add(
                None,
                &key,
                format!("{id:?} is not a valid output id"),
                "1 to 64 characters from a-z, A-Z, 0-9, '-', '_'",
            );
        }
        let Some(url) = &o.url else {
            issues.add(
                None,
                format!("{key}.url"),
                "missing",
                "the WHIP endpoint URL of this output",
            );
            continue;
        };
        let url = check_whip_url(url, &format!("{key}.url"), issues);
        let token = token(
            o.token.as_ref(),
            o.token_env.as_ref(),
            &key,
            "token",
            issues,
        );
        whip_outputs.insert(id.clone(), WhipTarget { url, token });
    }
    let retry = &t.whip_retry;
    let whip_retry = RetryConfig {
        initial: ms(&retry.initial_ms, 500),
        max: ms(&retry.max_ms, 10_000),
        jitter: retry.jitter.as_ref().map_or(0.2, |j| *j.get_ref()),
    };
    if whip_retry.initial.is_zero() {
        issues.add(
            span_of(&retry.initial_ms),
            "transport.whip_retry.initial_ms",
            "0",
            "at least 1 ms",
        );
    }
    if whip_retry.max < whip_retry.initial {
        issues.add(
            span_of(&retry.max_ms),
            "transport.whip_retry.max_ms",
            format!(
                "{} ms is less than initial_ms ({} ms)",
                whip_retry.max.as_millis(),
                whip_retry.initial.as_millis()
            ),
            "at least transport.whip_retry.initial_ms",
        );
    }
    if !(0.0..=1.0).contains(&whip_retry.jitter) {
        issues.add(
            span_of(&retry.jitter),
            "transport.whip_retry.jitter",
            format!("{}", whip_retry.jitter),
            "a fraction from 0 to 1",
        );
    }
    let positive_ms =
        |v: &Option<Spanned<u64>>, default: u64, key: &str, issues: &mut Issues<'_>| {
            let d = ms(v, default);
            if d.is_zero() {
                issues.add(span_of(v), key, "0", "at least 1 ms");
            }
            d
        };
    let transport = TransportConfig {
        unavailable: unavailable.list,
        whep: t
            .whep
            .as_ref()
            .map_or(cfg!(feature = "webrtc"), |w| *w.get_ref()),
        whep_listen,
        whep_peer_timeout: positive_ms(
            &t.whep_peer_timeout_ms,
            5_000,
            "transport.whep_peer_timeout_ms",
            issues,
        ),
        whip_url,
        whip_token,
        whip_outputs,
        whip_timeout: positive_ms(
            &t.whip_timeout_ms,
            5_000,
            "transport.whip_timeout_ms",
            issues,
        ),
        whip_delete_timeout: positive_ms(
            &t.whip_delete_timeout_ms,
            2_000,
            "transport.whip_delete_timeout_ms",
            issues,
        ),
        whip_retry,
        opus: OpusConfig {
            bitrate,
            complexity,
            fec: t.opus.fec,
        },
        tokens: t.tokens.clone(),
    };

    let s = &raw.server;
    let listen = s
        .listen
        .as_ref()
        .and_then(|a| socket_addr(a, "server.listen", issues))
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 7700)));
    if let (Some(w), Some(spanned)) = (transport.whep_listen, &t.whep_listen) {
        if w == listen && listen.port() != 0 {
            issues.add(
                Some(spanned.span()),
                "transport.whep_listen",
                format!("{w} is also server.listen"),
                "another address, or no whep_listen (WHEP is then served at server.listen)",
            );
        }
    }
    let outputs = s.outputs.clone().unwrap_or_else(|| vec!["default".into()]);
    for id in &outputs {
        if !valid_output_id(id) {
            issues.add(
                None,
                "server.outputs",
                format!("{id:?} is not a valid output id"),
                "1 to 64 characters from a-z, A-Z, 0-9, '-', '_'",
            );
        }
    }
    let max_outputs = s.max_outputs.as_ref().map_or(16, |m| *m.get_ref());
    if max_outputs == 0 || max_outputs < outputs.len() {
        issues.add(
            span_of(&s.max_outputs),
            "server.max_outputs",
            format!(
                "{max_outputs} leaves no room for the {} configured outputs",
                outputs.len()
            ),
            "at least 1 and at least the number of server.outputs",
        );
    }
    let mut public = Public::default();
    for group in &s.public {
        match group.get_ref().as_str() {
            "metrics" => public.metrics = true,
            "info" => public.info = true,
            "listen" => public.listen = true,
            other => issues.add(
                Some(group.span()),
                "server.public",
                format!("{other:?} is not an endpoint group"),
                PUBLIC_GROUPS,
            ),
        }
    }
    let max_connections = s.max_connections.as_ref().map_or(1024, |m| *m.get_ref());
    if max_connections == 0 {
        issues.add(
            span_of(&s.max_connections),
            "server.max_connections",
            "0 would refuse every connection",
            "at least 1",
        );
    }
    for (key, v) in [
        ("server.header_read_timeout_ms", &s.header_read_timeout_ms),
        ("server.body_idle_timeout_ms", &s.body_idle_timeout_ms),
        ("server.keep_alive_timeout_ms", &s.keep_alive_timeout_ms),
    ] {
        if v.as_ref().is_some_and(|v| *v.get_ref() == 0) {
            issues.add(
                span_of(v),
                key,
                "0 would time out every request",
                "a duration of at least 1 ms",
            );
        }
    }
    let server = ServerConfig {
        listen,
        outputs,
        max_outputs,
        shutdown_grace: ms(&s.shutdown_grace_ms, 5_000),
        tokens: s.tokens.clone(),
        header_read_timeout: ms(&s.header_read_timeout_ms, 10_000),
        body_idle_timeout: ms(&s.body_idle_timeout_ms, 10_000),
        keep_alive_timeout: ms(&s.keep_alive_timeout_ms, 30_000),
        max_connections,
        public,
    };

    Config {
        path: path.to_path_buf(),
        format,
        track,
        loudness,
        background,
        clips,
        sinks,
        transport,
        server,
        places: std::mem::take(&mut issues.places),
    }
}

/// `[output.loudness]`, checked; present when the table is, or when the limiter needs it.
fn loudness(o: &RawOutput, issues: &mut Issues<'_>) -> Option<LoudnessConfig> {
    let true_peak = o.limiter == LimiterName::TruePeak;
    let Some(l) = o.loudness.as_ref() else {
        return true_peak.then(LoudnessConfig::default);
    };
    let d = LoudnessConfig::default();
    let mut number =
        |v: &Option<Spanned<f32>>, default: f32, key: &str, range: (f32, f32), unit: &str| {
            let x = v.as_ref().map_or(default, |s| *s.get_ref());
            if !(range.0..=range.1).contains(&x) || !x.is_finite() {
                issues.add(
                    span_of(v),
                    format!("output.loudness.{key}"),
                    format!("{x} {unit}"),
                    format!("between {} and {} {unit}", range.0, range.1),
                );
            }
            x
        };
    let target_lufs = l
        .target_lufs
        .as_ref()
        .map(|_| number(&l.target_lufs, -16.0, "target_lufs", (-70.0, 0.0), "LUFS"));
    let max_gain_db = number(
        &l.max_gain_db,
        d.max_gain_db,
        "max_gain_db",
        (0.0, 40.0),
        "dB",
    );
    let true_peak_dbtp = number(
        &l.true_peak_dbtp,
        d.true_peak_dbtp,
        "true_peak_dbtp",
        (-20.0, 0.0),
        "dBTP",
    );
    let release = ms(&l.release_ms, d.release.as_millis() as u64);
    if release < Duration::from_millis(1) || release > Duration::from_secs(10) {
        issues.add(
            span_of(&l.release_ms),
            "output.loudness.release_ms",
            format!("{} ms", release.as_millis()),
            "1 to 10000 ms",
        );
    }
    if !true_peak {
        for (v, key) in [
            (span_of(&l.true_peak_dbtp), "true_peak_dbtp"),
            (span_of(&l.release_ms), "release_ms"),
        ] {
            if v.is_some() {
                issues.add(
                    v,
                    format!("output.loudness.{key}"),
                    "only applies to the true-peak limiter",
                    "output.limiter = \"true-peak\", or no such key",
                );
            }
        }
    }
    Some(LoudnessConfig {
        target_lufs,
        max_gain_db,
        true_peak_dbtp,
        release,
    })
}

fn gain(v: &Option<Spanned<f32>>, default: f32, key: &str, issues: &mut Issues<'_>) -> f32 {
    let g = v.as_ref().map_or(default, |s| *s.get_ref());
    if !(-90.0..=12.0).contains(&g) {
        issues.add(
            span_of(v),
            key,
            format!("{g} dB"),
            "a gain between -90 and +12 dB",
        );
    }
    g
}

/// A WebRTC setting in a binary built without the `webrtc` feature is refused instead of
/// silently ignored (the default `whep`, left unset, just means "off" there).
fn check_webrtc_feature(t: &RawTransport, built_with_webrtc: bool, issues: &mut Issues<'_>) {
    if built_with_webrtc {
        return;
    }
    let mut asked: Vec<(&str, Option<Range<usize>>)> = Vec::new();
    if let Some(w) = t.whep.as_ref().filter(|w| *w.get_ref()) {
        asked.push(("transport.whep", Some(w.span())));
    }
    if let Some(l) = &t.whep_listen {
        asked.push(("transport.whep_listen", Some(l.span())));
    }
    if let Some(u) = &t.whip_url {
        asked.push(("transport.whip_url", Some(u.span())));
    }
    if !t.whip_output.is_empty() {
        asked.push(("transport.whip_output", None));
    }
    for (key, span) in asked {
        issues.add(
            span,
            key,
            "asks for WebRTC (WHEP/WHIP), but this voxpace was built without the `webrtc` feature",
            "a binary built with `cargo build -p voxpace-runtime --features webrtc`, or no WebRTC settings (whep = false)",
        );
    }
}

/// Check a WHIP endpoint URL (`{output}` may stand for the output id).
fn check_whip_url(v: &Spanned<String>, key: &str, issues: &mut Issues<'_>) -> String {
    let u = v.get_ref();
    if !(u.starts_with("http://") || u.starts_with("https://")) {
        issues.add(
            Some(v.span()),
            key,
            format!("{u:?} is not an http(s) URL"),
            "a URL like \"http://127.0.0.1:8080/whip/agent\"",
        );
    }
    u.clone()
}

/// A bearer token written in the file (`<name>`) or read from the environment variable
/// named by `<name>_env`, so that secrets need not sit in the file.
fn token(
    literal: Option<&String>,
    env: Option<&Spanned<String>>,
    table: &str,
    name: &str,
    issues: &mut Issues<'_>,
) -> Option<String> {
    match (literal, env) {
        (Some(_), Some(e)) => {
            issues.add(
                Some(e.span()),
                format!("{table}.{name}_env"),
                format!("both {name} and {name}_env are set"),
                format!("one of {name} (the token) or {name}_env (the variable holding it)"),
            );
            None
        }
        (Some(t), None) => Some(t.clone()),
        (None, Some(e)) => match std::env::var(e.get_ref()) {
            Ok(t) if !t.is_empty() => Some(t),
            _ => {
                issues.add(
                    Some(e.span()),
                    format!("{table}.{name}_env"),
                    format!(
                        "the environment variable {:?} is not set or empty",
                        e.get_ref()
                    ),
                    "the name of a set environment variable holding the token",
                );
                None
            }
        },
        (None, None) => None,
    }
}

fn socket_addr(v: &Spanned<String>, key: &str, issues: &mut Issues<'_>) -> Option<SocketAddr> {
    match v.get_ref().parse() {
        Ok(a) => Some(a),
        Err(_) => {
            issues.add(
                Some(v.span()),
                key,
                format!("{:?} is not an address", v.get_ref()),
                "IP:PORT, e.g. \"127.0.0.1:7700\"",
            );
            None
        }
    }
}

/// Output ids appear in URLs and logs: keep them short and plain.
pub fn valid_output_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loudness_is_off_unless_configured_and_checked_when_it_is() {
        let c = Config::parse(Path::new("x.toml"), "").unwrap();
        assert_eq!(c.loudness, None);
        let c = Config::parse(
            Path::new("x.toml"),
            "[output]\nlimiter = \"true-peak\"\n[output.loudness]\ntarget_lufs = -18\ntrue_peak_dbtp = -2\n",
        )
        .unwrap();
        let l = c.loudness.unwrap();
        assert_eq!((l.target_lufs, l.true_peak_dbtp), (Some(-18.0), -2.0));
        let list = issues_of(
            "[output.loudness]\ntarget_lufs = 5\ntrue_peak_dbtp = -1\n[background]\nfile = \"x.wav\"\nrelative_lu = -18\n",
        );
        let keys: Vec<_> = list.iter().map(|i| (i.key.as_str(), i.line)).collect();
        assert_eq!(
            keys,
            vec![
                ("output.loudness.target_lufs", 2),
                ("output.loudness.true_peak_dbtp", 3),
                ("background.file", 5),
            ]
        );
        let list = issues_of("[background]\nfile = \"x.wav\"\nrelative_lu = -18\n");
        assert_eq!(list[1].key, "background.relative_lu");
        assert!(list[1].problem.contains("target_lufs"), "{:?}", list[1]);
    }

    fn issues_of(text: &str) -> Vec<Issue> {
        match Config::parse(Path::new("/nowhere/x.toml"), text) {
            Err(Error::Invalid(list)) => list,
            other => panic!("expected issues, got {other:?}"),
        }
    }

    #[test]
    fn webrtc_settings_without_the_webrtc_feature_are_refused_by_name() {
        let text = "[transport]\nwhep = true\nwhip_url = \"http://sfu/whip\"\n";
        let raw: RawConfig = toml::from_str(text).unwrap();
        let mut issues = Issues::new(Path::new("x.toml"), text);
        check_webrtc_feature(&raw.transport, false, &mut issues);
        let found: Vec<_> = issues
            .list
            .iter()
            .map(|i| (i.key.as_str(), i.line))
            .collect();
        assert_eq!(found, [("transport.whep", 2), ("transport.whip_url", 3)]);
        assert!(issues.list[0].problem.contains("`webrtc` feature"));
        assert!(issues.list[0].expected.contains("--features webrtc"));
        let mut none = Issues::new(Path::new("x.toml"), text);
        check_webrtc_feature(&raw.transport, true, &mut none);
        assert!(none.list.is_empty());
        // The default (whep unset) is no request.
        let raw: RawConfig = toml::from_str("").unwrap();
        let mut quiet = Issues::new(Path::new("x.toml"), "");
        check_webrtc_feature(&raw.transport, false, &mut quiet);
        assert!(quiet.list.is_empty());
    }

    #[test]
    fn each_output_may_publish_to_its_own_endpoint_with_a_token_from_the_environment() {
        std::env::set_var("VOXPACE_TEST_WHIP_TOKEN_B", "secret-b");
        let c = Config::parse(
            Path::new("x.toml"),
            "[transport]\nwhip_url = \"http://sfu-a/whip/{output}\"\nwhip_token = \"a\"\n\
             [transport.whip_output.beta]\nurl = \"http://sfu-b/whip/room\"\ntoken_env = \"VOXPACE_TEST_WHIP_TOKEN_B\"\n\
             [transport.whip_retry]\ninitial_ms = 100\nmax_ms = 2000\n",
        )
        .unwrap();
        let t = &c.transport;
        assert_eq!(
            t.whip_for("alpha"),
            Some(WhipTarget {
                url: "http://sfu-a/whip/alpha".into(),
                token: Some("a".into())
            })
        );
        assert_eq!(
            t.whip_for("beta"),
            Some(WhipTarget {
                url: "http://sfu-b/whip/room".into(),
                token: Some("secret-b".into())
            })
        );
        assert_eq!(t.whip_retry.initial, Duration::from_millis(100));
        assert_eq!(t.whip_retry.max, Duration::from_secs(2));
        let list = issues_of(
            "[transport.whip_output.gamma]\nurl = \"ftp://x\"\ntoken_env = \"VOXPACE_TEST_UNSET_VARIABLE\"\n[transport.whip_retry]\njitter = 2.0\n",
        );
        let keys: Vec<_> = list.iter().map(|i| i.key.as_str()).collect();
        assert!(
            keys.contains(&"transport.whip_output.gamma.url"),
            "{list:?}"
        );
        assert!(
            keys.contains(&"transport.whip_output.gamma.token_env"),
            "{list:?}"
        );
        assert!(keys.contains(&"transport.whip_retry.jitter"), "{list:?}");
        assert!(list
            .iter()
            .any(|i| i.problem.contains("VOXPACE_TEST_UNSET_VARIABLE")));
    }

    #[test]
    fn line_col_counts_from_one() {
        assert_eq!(line_col("a\nbc\n", 0), (1, 1));
        assert_eq!(line_col("a\nbc\n", 3), (2, 2));
    }

    #[test]
    fn defaults_are_24_khz_mono_20_ms_frames_and_one_output() {
        let c = Config::parse(Path::new("x.toml"), "").unwrap();
        assert_eq!(c.format, Format::default());
        assert_eq!(c.track.grace_period, Duration::from_millis(500));
        assert_eq!(c.server.outputs, vec!["default".to_string()]);
    }

    #[test]
    fn unknown_key_names_line_and_allowed_keys() {
        let list = issues_of("[output]\nsample_rate = 24000\nsampel_rate = 1\n");
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].line, 3, "{:?}", list[0]);
        assert_eq!(list[0].key, "sampel_rate");
        assert!(list[0].expected.contains("sample_rate"), "{:?}", list[0]);
    }

    #[test]
    fn wrong_type_says_what_was_expected() {
        let list = issues_of("\n[output]\nchannels = \"two\"\n");
        assert_eq!((list[0].line, list[0].key.as_str()), (3, "channels"));
        assert!(list[0].problem.contains("string"), "{:?}", list[0]);
        assert!(list[0].expected.contains("u16"), "{:?}", list[0]);
    }

    #[test]
    fn every_semantic_problem_is_reported_at_once() {
        let list = issues_of(
            "[output]\nsample_rate = 44100\nframe_ms = 30\n[background]\nfile = \"nope.wav\"\n",
        );
        let keys: Vec<_> = list.iter().map(|i| (i.key.as_str(), i.line)).collect();
        assert_eq!(
            keys,
            vec![
                ("output.sample_rate", 2),
                ("output.frame_ms", 3),
                ("background.file", 5)
            ]
        );
        assert!(
            list[2].problem.contains("/nowhere/nope.wav"),
            "{:?}",
            list[2]
        );
    }
}
