//! `[server]`: the HTTP server of `voxpace serve`, its outputs, limits and tokens.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use super::diagnostics::Issues;
use super::schema::RawServer;
use super::transport::TransportConfig;
use super::values::{check_output_id, ms_in, number_in, socket_addr, span_of, tokens_in, HOUR_MS};

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
    /// Run the frame clock thread under `SCHED_FIFO` at this priority (1 to 99) when the
    /// process may (root, `CAP_SYS_NICE` or an `RLIMIT_RTPRIO` allowance); `None`: an
    /// ordinary thread. A refusal is logged and shown in `/metrics`, never fatal.
    pub realtime_priority: Option<u8>,
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

/// The most agent outputs one server may hold.
const MOST_OUTPUTS: usize = 10_000;

/// The most connections: every one holds a file descriptor, and Linux lets one process
/// open at most `fs.nr_open` (1 048 576 by default).
const MOST_CONNECTIONS: usize = 1 << 20;

/// `[server]`, checked; `whep_listen` is the transport's own address, which must differ.
pub(crate) fn check(
    s: &RawServer,
    transport: &TransportConfig,
    whep_listen_span: Option<std::ops::Range<usize>>,
    issues: &mut Issues<'_>,
) -> ServerConfig {
    let listen = s
        .listen
        .as_ref()
        .and_then(|a| socket_addr(a, "server.listen", issues))
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 7700)));
    if let Some(w) = transport.whep_listen {
        if w == listen && listen.port() != 0 {
            issues.add(
                whep_listen_span,
                "transport.whep_listen",
                format!("{w} is also server.listen"),
                "another address, or no whep_listen (WHEP is then served at server.listen)",
            );
        }
    }
    let outputs = outputs(s, issues);
    let max_outputs = number_in(
        &s.max_outputs,
        16,
        "server.max_outputs",
        1..=MOST_OUTPUTS,
        "outputs",
        issues,
    );
    if (1..outputs.len()).contains(&max_outputs) {
        issues.add(
            span_of(&s.max_outputs),
            "server.max_outputs",
            format!(
                "{max_outputs} leaves no room for the {} configured outputs",
                outputs.len()
            ),
            "at least the number of server.outputs",
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
                issues.key_of(group.span()),
                format!("{other:?} is not an endpoint group"),
                PUBLIC_GROUPS,
            ),
        }
    }
    let timeout =
        |v, default, key, issues: &mut Issues<'_>| ms_in(v, default, key, 1..=HOUR_MS, issues);
    ServerConfig {
        listen,
        outputs,
        max_outputs,
        shutdown_grace: ms_in(
            &s.shutdown_grace_ms,
            5_000,
            "server.shutdown_grace_ms",
            0..=HOUR_MS,
            issues,
        ),
        tokens: tokens_in(&s.tokens, "server.tokens", issues),
        header_read_timeout: timeout(
            &s.header_read_timeout_ms,
            10_000,
            "server.header_read_timeout_ms",
            issues,
        ),
        body_idle_timeout: timeout(
            &s.body_idle_timeout_ms,
            10_000,
            "server.body_idle_timeout_ms",
            issues,
        ),
        keep_alive_timeout: timeout(
            &s.keep_alive_timeout_ms,
            30_000,
            "server.keep_alive_timeout_ms",
            issues,
        ),
        max_connections: number_in(
            &s.max_connections,
            1024,
            "server.max_connections",
            1..=MOST_CONNECTIONS,
            "connections",
            issues,
        ),
        public,
        realtime_priority: s.realtime_priority.as_ref().map(|_| {
            number_in(
                &s.realtime_priority,
                1,
                "server.realtime_priority",
                1..=99,
                "",
                issues,
            ) as u8
        }),
    }
}

/// `server.outputs`: each a valid id, none twice (`serve` would refuse the second).
fn outputs(s: &RawServer, issues: &mut Issues<'_>) -> Vec<String> {
    let Some(list) = &s.outputs else {
        return vec!["default".into()];
    };
    let mut seen: BTreeMap<&str, String> = BTreeMap::new();
    for id in list {
        let key = issues.key_of(id.span());
        check_output_id(id, &key, issues);
        if let Some(first) = seen.get(id.get_ref().as_str()) {
            issues.add(
                Some(id.span()),
                &key,
                format!("{:?} is already {first}", id.get_ref()),
                "a unique id per output",
            );
        } else {
            seen.insert(id.get_ref(), key);
        }
    }
    list.iter().map(|id| id.get_ref().clone()).collect()
}
