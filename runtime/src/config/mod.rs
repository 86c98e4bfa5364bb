//! The agent-output configuration file (TOML): parsed with spans, checked completely before
//! anything starts, every problem reported with its file, line, dotted key and what was
//! expected.
//!
//! One room per section, each with its own checks:
//!
//! - `schema`: the file as written (`Raw*` types, unknown keys denied, values carrying
//!   their span), read so that a wrong key is reported and left out while the rest is
//!   still checked; `diagnostics`: [`Issue`]s placed by span and named by dotted key.
//! - `output`: format, track behaviour, loudness; `background`: background music,
//!   ducking and clips; `sinks`: plugin sinks; `transport`: WHEP/WHIP and Opus;
//!   `server`: the HTTP server, its outputs and limits. `values`: the checks they share
//!   (ranges, files, addresses).
//!
//! [`Config`] is the validated result, with paths resolved against the file's directory
//! and durations as [`Duration`](std::time::Duration)s.

mod background;
mod diagnostics;
mod output;
mod schema;
mod server;
mod sinks;
mod transport;
mod values;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use voxpace_core::{Format, TrackConfig};

use crate::Error;

pub use background::{BackgroundConfig, ClipConfig, DuckingConfig};
pub use diagnostics::Issue;
pub(crate) use diagnostics::{format_issues, line_col, Issues};
pub use output::LoudnessConfig;
pub use server::{Public, ServerConfig, PUBLIC_GROUPS};
pub use sinks::{SinkConfig, SinkDelivery};
pub use transport::{OpusConfig, RetryConfig, TransportConfig, WhipTarget};
pub(crate) use values::existing_file;
pub use values::valid_output_id;

/// The commented example configuration (`voxpace config example`). Its relative paths point
/// at the example audio next to it in `runtime/assets/`.
pub const EXAMPLE: &str = include_str!("../../assets/example.toml");

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
    /// Where keys that later checks refer to were written (key -> line, column): files,
    /// listen addresses.
    pub(crate) places: BTreeMap<String, (usize, usize)>,
    /// `server.listen` was replaced from the command line ([`Config::override_listen`]).
    listen_overridden: bool,
}

impl Config {
    /// Read, parse and check `path`, including that every referenced file exists.
    pub fn load(path: &Path) -> Result<Config, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::parse(path, &text)
    }

    /// Parse and check `text` as if read from `path` (relative files resolve against its
    /// directory). Every problem found is reported at once: syntax errors, unknown keys and
    /// wrong types, then each section's own checks on everything that could be read.
    pub fn parse(path: &Path, text: &str) -> Result<Config, Error> {
        let mut issues = Issues::new(path, text);
        let Some(raw) = schema::read(text, &mut issues) else {
            issues.sort();
            return Err(Error::Invalid(issues.list));
        };
        let base = path.parent().unwrap_or(Path::new(""));
        let (format, track, loudness) = output::check(&raw.output, &mut issues);
        let background = raw
            .background
            .as_ref()
            .map(|b| background::check_background(b, loudness, base, &mut issues));
        let clips = background::check_clips(&raw.clips, base, &mut issues);
        let sinks = sinks::check(&raw.sinks, base, &mut issues);
        let transport = transport::check(&raw.transport, &mut issues);
        let whep_listen_span = values::span_of(&raw.transport.whep_listen);
        let server = server::check(&raw.server, &transport, whep_listen_span, &mut issues);
        let places = std::mem::take(&mut issues.places);
        issues.sort();
        issues.finish(Config {
            path: path.to_path_buf(),
            format,
            track,
            loudness,
            background,
            clips,
            sinks,
            transport,
            server,
            places,
            listen_overridden: false,
        })
    }

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

    /// An issue about `key` (a file-valued key such as `background.file`, or a listen
    /// address), placed where the key was written.
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

    /// Listen at `addr` instead of `server.listen` (`voxpace serve --listen`); a failure to
    /// bind it then names the option instead of the file.
    pub fn override_listen(&mut self, addr: SocketAddr) {
        self.server.listen = addr;
        self.listen_overridden = true;
    }

    /// The error for a listen address that could not be bound (in use, not local, not
    /// permitted), naming the key it came from (`server.listen`, `transport.whep_listen`)
    /// and where it was written.
    pub fn bind_error(&self, key: &str, addr: SocketAddr, e: std::io::Error) -> Error {
        let problem = format!("cannot listen on {addr}: {e}");
        let expected = "a free address of this machine (port 0 picks a free port)";
        let issue = if key == "server.listen" && self.listen_overridden {
            Issue {
                file: self.path.clone(),
                line: 0,
                column: 0,
                key: "--listen (overriding server.listen)".into(),
                problem,
                expected: expected.into(),
            }
        } else {
            self.issue_at(key, problem, expected)
        };
        Error::Invalid(vec![issue])
    }

    /// The track configuration and format pair a new agent output is built from.
    pub fn track_parts(&self) -> (Format, TrackConfig) {
        (self.format, self.track.clone())
    }
}

#[cfg(test)]
mod tests;
