//! The vocabulary of an output's live event stream: one message, serialised once for every
//! subscriber. A leaf: the rooms that send events (output, publish, the reply engine) and the
//! SSE endpoint that reads them all import it, and it imports none of them (only the
//! contract's event types, which the document describes).

use crate::contract::events::StreamEvent;

/// One event for the live stream, serialised once for every subscriber.
#[derive(Debug)]
pub struct EventMsg {
    /// Sequence number within the output, from 1.
    pub seq: u64,
    /// The SSE event name (the JSON's `type`).
    pub name: &'static str,
    /// The JSON object.
    pub data: String,
}

impl EventMsg {
    /// `event` as sent, numbered `seq`.
    pub(crate) fn new(seq: u64, event: &StreamEvent) -> Self {
        Self {
            seq,
            name: event.name(),
            data: event.to_json(),
        }
    }
}
