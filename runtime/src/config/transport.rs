//! `[transport]`: WebRTC delivery (WHEP listeners, WHIP publishing, Opus).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::ops::Range;
use std::time::Duration;

use toml::Spanned;

use super::diagnostics::{Issue, Issues};
use super::schema::RawTransport;
use super::values::{check_output_id, ms_in, number_in, socket_addr, tokens_in, HOUR_MS};

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
    /// A listener whose peer connection has not connected this long after its answer is
    /// dropped.
    pub whep_connect_timeout: Duration,
    /// Most listeners of one output not yet connected; a further offer evicts the oldest.
    pub whep_max_pending_per_output: usize,
    /// Most listeners of one client address not yet connected; further offers get 503.
    pub whep_max_pending_per_client: usize,
    /// Most connected listeners over all outputs; further offers get 503.
    pub whep_max_listeners: usize,
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
    /// commands that serve WebRTC refuse them ([`super::Config::require_webrtc`]); `render`
    /// has no use for them and ignores them.
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

/// `[transport]`, checked. WebRTC settings a binary without the `webrtc` feature cannot
/// serve are kept apart (`unavailable`), for the commands that serve to refuse.
pub(crate) fn check(t: &RawTransport, issues: &mut Issues<'_>) -> TransportConfig {
    let mut unavailable = Issues::new(issues.file, issues.text);
    check_webrtc_feature(t, cfg!(feature = "webrtc"), &mut unavailable);
    let opus = OpusConfig {
        bitrate: number_in(
            &t.opus.bitrate,
            32_000,
            "transport.opus.bitrate",
            6_000..=510_000,
            "bits per second",
            issues,
        ),
        complexity: number_in(
            &t.opus.complexity,
            5,
            "transport.opus.complexity",
            0..=10,
            "",
            issues,
        ),
        fec: t.opus.fec,
    };
    let whep_listen = t
        .whep_listen
        .as_ref()
        .and_then(|a| socket_addr(a, "transport.whep_listen", issues));
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
        let key = format!("transport.whip_output.{}", id.get_ref());
        check_output_id(id, &key, issues);
        let Some(url) = &o.url else {
            issues.add(
                Some(id.span()),
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
        whip_outputs.insert(id.get_ref().clone(), WhipTarget { url, token });
    }
    let retry = &t.whip_retry;
    let initial = ms_in(
        &retry.initial_ms,
        500,
        "transport.whip_retry.initial_ms",
        1..=HOUR_MS,
        issues,
    );
    let max = ms_in(
        &retry.max_ms,
        10_000,
        "transport.whip_retry.max_ms",
        initial.as_millis() as u64..=HOUR_MS,
        issues,
    );
    let whip_retry = RetryConfig {
        initial,
        max,
        jitter: number_in(
            &retry.jitter,
            0.2,
            "transport.whip_retry.jitter",
            0.0..=1.0,
            "",
            issues,
        ),
    };
    TransportConfig {
        unavailable: unavailable.list,
        whep: t
            .whep
            .as_ref()
            .map_or(cfg!(feature = "webrtc"), |w| *w.get_ref()),
        whep_listen,
        whep_peer_timeout: ms_in(
            &t.whep_peer_timeout_ms,
            5_000,
            "transport.whep_peer_timeout_ms",
            1..=HOUR_MS,
            issues,
        ),
        whep_connect_timeout: ms_in(
            &t.whep_connect_timeout_ms,
            15_000,
            "transport.whep_connect_timeout_ms",
            1..=HOUR_MS,
            issues,
        ),
        whep_max_pending_per_output: number_in(
            &t.whep_max_pending_per_output,
            32,
            "transport.whep_max_pending_per_output",
            1..=100_000,
            "sessions",
            issues,
        ),
        whep_max_pending_per_client: number_in(
            &t.whep_max_pending_per_client,
            8,
            "transport.whep_max_pending_per_client",
            1..=100_000,
            "sessions",
            issues,
        ),
        whep_max_listeners: number_in(
            &t.whep_max_listeners,
            256,
            "transport.whep_max_listeners",
            1..=100_000,
            "listeners",
            issues,
        ),
        whip_url,
        whip_token,
        whip_outputs,
        whip_timeout: ms_in(
            &t.whip_timeout_ms,
            5_000,
            "transport.whip_timeout_ms",
            1..=HOUR_MS,
            issues,
        ),
        whip_delete_timeout: ms_in(
            &t.whip_delete_timeout_ms,
            2_000,
            "transport.whip_delete_timeout_ms",
            1..=HOUR_MS,
            issues,
        ),
        whip_retry,
        opus,
        tokens: tokens_in(&t.tokens, "transport.tokens", issues),
    }
}

/// A WebRTC setting in a binary built without the `webrtc` feature is refused instead of
/// silently ignored (the default `whep`, left unset, just means "off" there).
pub(crate) fn check_webrtc_feature(
    t: &RawTransport,
    built_with_webrtc: bool,
    issues: &mut Issues<'_>,
) {
    if built_with_webrtc {
        return;
    }
    let mut asked: Vec<(String, Option<Range<usize>>)> = Vec::new();
    if let Some(w) = t.whep.as_ref().filter(|w| *w.get_ref()) {
        asked.push(("transport.whep".into(), Some(w.span())));
    }
    if let Some(l) = &t.whep_listen {
        asked.push(("transport.whep_listen".into(), Some(l.span())));
    }
    if let Some(u) = &t.whip_url {
        asked.push(("transport.whip_url".into(), Some(u.span())));
    }
    for id in t.whip_output.keys() {
        let key = format!("transport.whip_output.{}", id.get_ref());
        asked.push((key, Some(id.span())));
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
        (Some(t), None) if t.trim().is_empty() => {
            issues.add(
                None,
                format!("{table}.{name}"),
                format!("{t:?} is an empty token"),
                "a non-empty secret, or no token at all",
            );
            None
        }
        (Some(t), None) => Some(t.clone()),
        (None, Some(e)) => match std::env::var(e.get_ref()) {
            Ok(t) if !t.trim().is_empty() => Some(t),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::schema::RawConfig;
    use std::path::Path;

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
}
