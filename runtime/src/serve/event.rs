//! The vocabulary of an output's live event stream: one message, serialised once for every
//! subscriber. A leaf: the rooms that send events (output, publish, the reply engine) and the
//! SSE endpoint that reads them all import it, and it imports none of them.

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
