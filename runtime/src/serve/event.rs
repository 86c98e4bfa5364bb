//! The vocabulary of an output's live event stream: one message, serialised once for every
//! subscriber, and the log that numbers, fans out and remembers them. A leaf: the rooms that
//! send events (output, publish, the reply engine) and the SSE endpoint that reads them all
//! import it, and it imports none of them (only the contract's event types, which the
//! document describes).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use tokio::sync::broadcast;

use crate::contract::events::StreamEvent;

/// Events a reconnecting subscriber can be given again (`Last-Event-ID`), per output. At a
/// few hundred bytes an event, ~100 KB an output at most.
pub(crate) const HISTORY: usize = 256;
/// Events a live subscriber may fall behind by before it is told it `lagged`.
const FAN_OUT: usize = 1024;

/// One event for the live stream, serialised once for every subscriber.
#[derive(Debug)]
pub struct EventMsg {
    /// Sequence number within the output, from 1 (the SSE `id`).
    pub seq: u64,
    /// The SSE event name (the JSON's `type`).
    pub name: &'static str,
    /// The JSON object.
    pub data: String,
}

/// An output's events: each numbered (from 1, in the order sent), broadcast to the live
/// subscribers and kept among the last [`HISTORY`] for a subscriber that reconnects.
#[derive(Debug)]
pub(crate) struct EventLog {
    /// The next number and the history, under one lock with the broadcast, so a new
    /// subscriber's replay and its live events neither overlap nor leave a gap.
    inner: Mutex<(u64, VecDeque<Arc<EventMsg>>)>,
    tx: broadcast::Sender<Arc<EventMsg>>,
}

/// A new subscription: what to send before the live events.
#[derive(Debug)]
pub(crate) struct Subscription {
    /// Live events from now on.
    pub live: broadcast::Receiver<Arc<EventMsg>>,
    /// Events after the subscriber's `Last-Event-ID`, oldest first.
    pub replay: Vec<Arc<EventMsg>>,
    /// Events after that id no longer in the history (the subscriber missed them).
    pub missed: u64,
    /// The subscriber resumes where it left off, nothing missed: it needs no catch-up.
    pub resumed: bool,
}

impl Default for EventLog {
    fn default() -> Self {
        Self {
            inner: Mutex::new((1, VecDeque::with_capacity(HISTORY))),
            tx: broadcast::channel(FAN_OUT).0,
        }
    }
}

impl EventLog {
    fn lock(&self) -> std::sync::MutexGuard<'_, (u64, VecDeque<Arc<EventMsg>>)> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Number, remember and broadcast `event`; the message as sent.
    pub(crate) fn send(&self, event: &StreamEvent) -> Arc<EventMsg> {
        let data = event.to_json();
        let mut inner = self.lock();
        let (next, history) = &mut *inner;
        let msg = Arc::new(EventMsg {
            seq: *next,
            name: event.name(),
            data,
        });
        *next += 1;
        if history.len() == HISTORY {
            history.pop_front();
        }
        history.push_back(msg.clone());
        let _ = self.tx.send(msg.clone());
        msg
    }

    /// Subscribe; with `after` (the subscriber's `Last-Event-ID`), the remembered events
    /// after it come first. An id this log never gave (from before a restart) counts as a
    /// new subscription.
    pub(crate) fn subscribe(&self, after: Option<u64>) -> Subscription {
        let inner = self.lock();
        let (next, history) = &*inner;
        let live = self.tx.subscribe();
        let Some(after) = after.filter(|a| *a < *next) else {
            return Subscription {
                live,
                replay: Vec::new(),
                missed: 0,
                resumed: false,
            };
        };
        let oldest = history.front().map_or(*next, |m| m.seq);
        let missed = oldest.saturating_sub(after + 1);
        Subscription {
            live,
            replay: history.iter().filter(|m| m.seq > after).cloned().collect(),
            missed,
            resumed: missed == 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::events::{Lagged, StreamEvent};

    fn event(n: u64) -> StreamEvent {
        StreamEvent::Lagged(Lagged { missed: n })
    }

    #[test]
    fn a_subscriber_resumes_after_its_last_event_or_is_told_what_it_missed() {
        let log = EventLog::default();
        for n in 1..=300 {
            assert_eq!(log.send(&event(n)).seq, n, "numbered from 1 in order");
        }
        // Resumes: exactly the events after its id.
        let s = log.subscribe(Some(297));
        let seqs: Vec<u64> = s.replay.iter().map(|m| m.seq).collect();
        assert_eq!(seqs, [298, 299, 300]);
        assert!(s.resumed && s.missed == 0);
        // Older than the history: the history, and how many are gone.
        let s = log.subscribe(Some(1));
        assert_eq!(s.replay.len(), HISTORY);
        assert_eq!(s.replay[0].seq, 300 - HISTORY as u64 + 1);
        assert_eq!(s.missed, 300 - HISTORY as u64 - 1, "events 2..=44 are gone");
        assert!(!s.resumed);
        // Up to date, and an id this log never gave (another server's): nothing replayed.
        let s = log.subscribe(Some(300));
        assert!(s.replay.is_empty() && s.resumed);
        let s = log.subscribe(Some(5000));
        assert!(s.replay.is_empty() && !s.resumed && s.missed == 0);
        let s = log.subscribe(None);
        assert!(s.replay.is_empty() && !s.resumed);
    }

    #[test]
    fn live_events_follow_the_replay_without_a_gap() {
        let log = EventLog::default();
        log.send(&event(1));
        let mut s = log.subscribe(Some(0));
        log.send(&event(2));
        assert_eq!(s.replay.iter().map(|m| m.seq).collect::<Vec<_>>(), [1]);
        assert_eq!(s.live.try_recv().unwrap().seq, 2);
    }
}
