//! A real server-sent-events subscription, read as `(event name, JSON data)` pairs, with
//! bounded waits: a stream that stops short fails the test with what it did send.

use std::time::Duration;

use serde_json::Value;
use tokio::sync::mpsc;

/// How long any one wait for an event may take before the test calls it a hang.
pub const HANG: Duration = Duration::from_secs(30);

/// One event: its `event:` name and its `data:` parsed as JSON (`Null` when it is not).
pub type Sse = (String, Value);

/// The events of one subscription, in order, as a background task reads them.
#[derive(Debug)]
pub struct Events {
    rx: mpsc::UnboundedReceiver<Sse>,
}

/// Subscribe with `GET url` (any status but 200 fails the test) and read its events from a
/// task on the current tokio runtime.
pub async fn subscribe(url: &str) -> Events {
    subscribe_with(reqwest::Client::new().get(url)).await
}

/// [`subscribe`] with a request built by the caller (headers, tokens).
pub async fn subscribe_with(request: reqwest::RequestBuilder) -> Events {
    let mut resp = request.send().await.expect("the event stream answers");
    assert_eq!(resp.status().as_u16(), 200, "the event stream: {resp:?}");
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut parser = Parser::default();
        while let Ok(Some(chunk)) = resp.chunk().await {
            for event in parser.feed(&chunk) {
                if tx.send(event).is_err() {
                    return;
                }
            }
        }
    });
    Events { rx }
}

impl Events {
    /// The next event; fails the test after [`HANG`] or when the stream ended.
    pub async fn next(&mut self) -> Sse {
        tokio::time::timeout(HANG, self.rx.recv())
            .await
            .unwrap_or_else(|_| panic!("no event within {HANG:?}"))
            .expect("the event stream ended")
    }

    /// The next event, or `None` once the stream has ended; fails the test after [`HANG`].
    pub async fn next_or_end(&mut self) -> Option<Sse> {
        tokio::time::timeout(HANG, self.rx.recv())
            .await
            .unwrap_or_else(|_| panic!("neither an event nor the end within {HANG:?}"))
    }

    /// The next event if one comes within `wait` (`None`: the stream stayed quiet); fails
    /// the test when the stream ended.
    pub async fn within(&mut self, wait: Duration) -> Option<Sse> {
        let next = tokio::time::timeout(wait, self.rx.recv()).await.ok()?;
        Some(next.expect("the event stream ended"))
    }

    /// Every event up to and including the first named `last`.
    pub async fn until(&mut self, last: &str) -> Vec<Sse> {
        let mut seen: Vec<Sse> = Vec::new();
        while seen.last().is_none_or(|(n, _)| n != last) {
            let next = tokio::time::timeout(HANG, self.rx.recv())
                .await
                .unwrap_or_else(|_| panic!("no {last} within {HANG:?}; saw {seen:?}"))
                .unwrap_or_else(|| panic!("the stream ended before {last}; saw {seen:?}"));
            seen.push(next);
        }
        seen
    }

    /// The data of the first event named `name` (the others before it are passed over).
    pub async fn wait_for(&mut self, name: &str) -> Value {
        self.until(name)
            .await
            .pop()
            .expect("until returns its last")
            .1
    }
}

/// The names of `events`, in order.
pub fn names(events: &[Sse]) -> Vec<&str> {
    events.iter().map(|(n, _)| n.as_str()).collect()
}

/// Splits a byte stream into events at blank lines, whatever the chunking.
#[derive(Debug, Default)]
struct Parser {
    buf: String,
}

impl Parser {
    /// The events completed by `chunk`; an event without a name (a comment, a keep-alive)
    /// is passed over.
    fn feed(&mut self, chunk: &[u8]) -> Vec<Sse> {
        self.buf.push_str(&String::from_utf8_lossy(chunk));
        let mut out = Vec::new();
        while let Some(end) = self.buf.find("\n\n") {
            let block: String = self.buf.drain(..end + 2).collect();
            let field = |key: &str| block.lines().find_map(|l| l.strip_prefix(key));
            if let Some(name) = field("event: ") {
                let data = field("data: ").unwrap_or("");
                out.push((
                    name.to_string(),
                    serde_json::from_str(data).unwrap_or(Value::Null),
                ));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_anywhere_come_out_whole_and_keep_alives_are_passed_over() {
        let wire =
            b": keep-alive\n\nevent: hello\ndata: {\"output\":\"a\"}\n\nevent: paused\ndata: x\n\n";
        for cut in 1..wire.len() {
            let mut p = Parser::default();
            let mut got = p.feed(&wire[..cut]);
            got.extend(p.feed(&wire[cut..]));
            assert_eq!(
                got,
                vec![
                    ("hello".to_string(), serde_json::json!({"output": "a"})),
                    ("paused".to_string(), Value::Null),
                ],
                "cut at {cut}"
            );
        }
    }
}
