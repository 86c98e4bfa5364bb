//! Who may open a session: connected listeners and sessions not yet connected are counted
//! apart, so offers that never complete ICE cannot keep a real listener out.
//!
//! A session is *pending* from the moment its offer is admitted until its peer connects (or
//! it is dropped after `PeerSettings::connect_timeout`). Pending sessions are bounded per
//! client address (`max_pending_per_client`: further offers from that address get 503 with
//! `Retry-After`, nobody else is affected) and per stream (`max_pending_per_stream`: the
//! oldest pending session of the stream is evicted to make room). Connected sessions are
//! bounded by `max_sessions` on their own.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};

/// The limits admission applies (from `ServerConfig`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub max_sessions: usize,
    pub max_pending_per_stream: usize,
    pub max_pending_per_client: usize,
}

/// Why an offer was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// `max_sessions` listeners are connected.
    Full,
    /// This client address has `max_pending_per_client` sessions not yet connected.
    ClientBusy,
    /// The stream's pending sessions are all still being answered (none can be evicted).
    StreamBusy,
}

/// What admission knows of one session or offer being answered.
#[derive(Debug, Clone)]
pub(crate) struct Seat {
    pub stream: String,
    pub client: Option<IpAddr>,
    /// Admission order: the smallest pending one is the oldest.
    pub order: u64,
    pub connected: bool,
}

/// Every admitted offer (being answered) and session, by key; the caller keeps it under
/// the same lock as its sessions so counting and admitting are one step.
#[derive(Debug, Default)]
pub(crate) struct Seats {
    /// Offers being answered, by ticket.
    answering: HashMap<u64, Seat>,
    next: u64,
}

/// An admitted offer: its ticket, and a pending session to evict to make room for it.
#[derive(Debug)]
pub(crate) struct Admitted {
    pub ticket: u64,
    pub evict: Option<String>,
}

impl Seats {
    /// Admit an offer for `stream` from `client`, given the sessions that exist.
    pub(crate) fn admit<'a>(
        &mut self,
        sessions: impl Iterator<Item = (&'a String, &'a Seat)> + Clone,
        stream: &str,
        client: Option<IpAddr>,
        limits: Limits,
    ) -> Result<Admitted, Refused> {
        let connected = sessions.clone().filter(|(_, s)| s.connected).count();
        if connected >= limits.max_sessions {
            return Err(Refused::Full);
        }
        let pending = || {
            sessions
                .clone()
                .map(|(_, s)| s)
                .chain(self.answering.values())
                .filter(|s| !s.connected)
        };
        if client.is_some()
            && pending().filter(|s| s.client == client).count() >= limits.max_pending_per_client
        {
            return Err(Refused::ClientBusy);
        }
        let mut evict = None;
        if pending().filter(|s| s.stream == stream).count() >= limits.max_pending_per_stream {
            let oldest = sessions
                .clone()
                .filter(|(_, s)| !s.connected && s.stream == stream)
                .min_by_key(|(_, s)| s.order);
            match oldest {
                Some((id, _)) => evict = Some(id.clone()),
                None => return Err(Refused::StreamBusy),
            }
        }
        let ticket = self.next;
        self.next += 1;
        self.answering.insert(
            ticket,
            Seat {
                stream: stream.to_owned(),
                client,
                order: ticket,
                connected: false,
            },
        );
        Ok(Admitted { ticket, evict })
    }

    /// The offer is answered (its seat moves to its session) or failed: forget it.
    pub(crate) fn release(&mut self, ticket: u64) -> Option<Seat> {
        self.answering.remove(&ticket)
    }

    /// Offers being answered right now (for one stream, or all).
    pub(crate) fn answering(&self, stream: Option<&str>) -> usize {
        self.answering
            .values()
            .filter(|s| stream.is_none_or(|n| s.stream == n))
            .count()
    }
}

/// A pending session ended (timed out, evicted or refused) and none is left: give the
/// memory freed by the sessions of a flood back to the system.
///
/// Each peer connection that never connected leaves its many small allocations (ICE agent,
/// DTLS and SRTP state, buffers, tasks) in glibc's free lists when it is dropped; glibc
/// returns only the top of each heap on its own, so after a flood of never-connecting offers
/// the process stayed ~2 MB above its baseline for good. `malloc_trim` releases the free pages
/// inside the heaps too (measured in `tests/whep_pending.rs`). It runs on a blocking thread
/// (it walks every arena) and at most one at a time; a quiet server never calls it.
pub(crate) fn return_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        static TRIMMING: AtomicBool = AtomicBool::new(false);
        extern "C" {
            fn malloc_trim(pad: usize) -> std::os::raw::c_int;
        }
        if TRIMMING.swap(true, Ordering::AcqRel) {
            return;
        }
        tokio::task::spawn_blocking(|| {
            // SAFETY: glibc's `malloc_trim` only releases free memory; it takes the arenas'
            // own locks and may be called from any thread at any time.
            unsafe { malloc_trim(0) };
            TRIMMING.store(false, Ordering::Release);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        max_sessions: 2,
        max_pending_per_stream: 3,
        max_pending_per_client: 2,
    };

    fn ip(last: u8) -> Option<IpAddr> {
        Some(IpAddr::from([127, 0, 0, last]))
    }

    #[test]
    fn a_flooding_client_is_refused_and_nobody_else() {
        let mut seats = Seats::default();
        let sessions: HashMap<String, Seat> = HashMap::new();
        seats.admit(sessions.iter(), "a", ip(2), LIMITS).unwrap();
        seats.admit(sessions.iter(), "a", ip(2), LIMITS).unwrap();
        assert_eq!(
            seats
                .admit(sessions.iter(), "a", ip(2), LIMITS)
                .unwrap_err(),
            Refused::ClientBusy
        );
        seats.admit(sessions.iter(), "a", ip(1), LIMITS).unwrap();
    }

    #[test]
    fn a_full_stream_evicts_its_oldest_pending_session() {
        let mut seats = Seats::default();
        let mut sessions: HashMap<String, Seat> = HashMap::new();
        for (n, last) in [(0u8, 2u8), (1, 3), (2, 4)] {
            let t = seats.admit(sessions.iter(), "a", ip(last), LIMITS).unwrap();
            let seat = seats.release(t.ticket).unwrap();
            sessions.insert(format!("s{n}"), seat);
        }
        let next = seats.admit(sessions.iter(), "a", ip(5), LIMITS).unwrap();
        assert_eq!(next.evict.as_deref(), Some("s0"));
        // Another stream is not affected.
        let other = seats.admit(sessions.iter(), "b", ip(6), LIMITS).unwrap();
        assert!(other.evict.is_none());
    }

    #[test]
    fn connected_listeners_are_bounded_apart_from_pending_ones() {
        let mut seats = Seats::default();
        let mut sessions: HashMap<String, Seat> = HashMap::new();
        for n in 0..2 {
            let t = seats.admit(sessions.iter(), "a", ip(1), LIMITS).unwrap();
            let mut seat = seats.release(t.ticket).unwrap();
            seat.connected = true;
            sessions.insert(format!("s{n}"), seat);
        }
        assert_eq!(
            seats
                .admit(sessions.iter(), "a", ip(3), LIMITS)
                .unwrap_err(),
            Refused::Full
        );
    }
}
