//! Test fixture for ABI 1.3's error kinds: fails events on purpose, with the kind its
//! configuration names, and writes one line per call it gets (failed calls included) to
//! the file `path` names, so a test sees exactly what the host did about each error.
//!
//! `fail` says how it fails:
//! - `"retry"`: every `Audio` fails once (retryable) and succeeds when handed again;
//! - `"retry-forever"`: the first `Audio` fails every time (retryable);
//! - `"skip-reply"`: the third `Audio` of the first reply gives up on that reply;
//! - `"skip-event"`: every `Text` event is refused (this event only);
//! - `"fatal"`: the first `Audio` fails for good.

use std::fs::File;
use std::io::{LineWriter, Write};

use voxpace_sink_abi::{Event, Host, Info, SinkError, SinkPlugin};

/// How the fixture fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fail {
    Retry,
    RetryForever,
    SkipReply,
    SkipEvent,
    Fatal,
}

/// Fails on purpose and logs every call.
#[derive(Debug)]
pub struct FaultyKinds {
    out: LineWriter<File>,
    fail: Fail,
    /// The `(reply, offset)` of the last `Audio` that failed (retry: the next call with the
    /// same one succeeds).
    failed: Option<(u64, u64)>,
    first_reply: Option<u64>,
    audio_of_first: u32,
}

impl SinkPlugin for FaultyKinds {
    const CONFIG_HELP: &'static str = "path = \"calls.txt\"  # required: the call log to write\n\
         fail = \"retry\"       # or retry-forever, skip-reply, skip-event, fatal";

    fn new(config: &str) -> Result<Self, String> {
        let value = |key: &str| {
            config.lines().find_map(|l| {
                let (k, v) = l.split_once('=')?;
                (k.trim() == key).then(|| v.trim().trim_matches('"').to_owned())
            })
        };
        let path = value("path").ok_or("path: missing")?;
        let fail = match value("fail").as_deref() {
            Some("retry") => Fail::Retry,
            Some("retry-forever") => Fail::RetryForever,
            Some("skip-reply") => Fail::SkipReply,
            Some("skip-event") => Fail::SkipEvent,
            Some("fatal") => Fail::Fatal,
            other => return Err(format!("fail: unknown value {other:?}")),
        };
        let file = File::create(&path).map_err(|e| format!("{path}: {e}"))?;
        Ok(Self {
            out: LineWriter::new(file),
            fail,
            failed: None,
            first_reply: None,
            audio_of_first: 0,
        })
    }

    fn info(&self) -> Info {
        Info::new("faulty-kinds")
    }

    fn handle_event(&mut self, event: Event<'_>, _host: &Host<'_>) -> Result<(), SinkError> {
        let outcome = self.decide(&event);
        let verdict = match &outcome {
            Ok(()) => "ok".to_owned(),
            Err(e) => format!("{:?}", e.kind),
        };
        let line = match event {
            Event::Start { .. } => "start".to_owned(),
            Event::ReplyStarted { reply } => format!("reply-started {reply}"),
            Event::Audio { reply, offset, .. } => format!("audio {reply} {offset}"),
            Event::Text { reply, offset, .. } => format!("text {reply} {offset}"),
            Event::ReplyEnded { reply, .. } => format!("reply-ended {reply}"),
            Event::Stop => "stop".to_owned(),
            other => format!("{other:?}"),
        };
        writeln!(self.out, "{line} {verdict}").map_err(|e| SinkError::fatal(e.to_string()))?;
        outcome
    }
}

impl FaultyKinds {
    fn decide(&mut self, event: &Event<'_>) -> Result<(), SinkError> {
        match (*event, self.fail) {
            (Event::Audio { reply, offset, .. }, Fail::Retry) => {
                if self.failed == Some((reply, offset)) {
                    return Ok(());
                }
                self.failed = Some((reply, offset));
                Err(SinkError::retry(format!("busy at {reply}/{offset}")))
            }
            (Event::Audio { .. }, Fail::RetryForever) => {
                Err(SinkError::retry("faulty-kinds: busy for ever"))
            }
            (Event::Audio { reply, .. }, Fail::SkipReply) => {
                let first = *self.first_reply.get_or_insert(reply);
                if reply == first {
                    self.audio_of_first += 1;
                    if self.audio_of_first == 3 {
                        return Err(SinkError::skip_reply(format!("giving up on reply {reply}")));
                    }
                }
                Ok(())
            }
            (Event::Text { .. }, Fail::SkipEvent) => Err(SinkError::skip_event("no captions here")),
            (Event::Audio { .. }, Fail::Fatal) => Err(SinkError::fatal("faulty-kinds: broken")),
            _ => Ok(()),
        }
    }
}

voxpace_sink_abi::export_sink_plugin!(FaultyKinds);
