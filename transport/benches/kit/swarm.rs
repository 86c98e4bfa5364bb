//! A swarm of real WHEP listeners (webrtc-rs peers through [`WhepViewer`]) in the bench's
//! own process, so the server's process CPU is the server's alone. Each listener counts
//! what it hears: packets received, packets expected by RTP sequence (what the network or
//! this process lost) and packets expected by RTP timestamp (also what the server skipped:
//! a server-side pump that lags skips ahead with consecutive sequence numbers but a jump
//! in time).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use voxpace_transport::{ClientOptions, PeerSettings, RtpAudioPacket, WhepViewer};

/// One listener's counters, written by its counting task.
#[derive(Debug, Default)]
struct Counter {
    received: AtomicU64,
    by_sequence: AtomicU64,
    by_time: AtomicU64,
}

/// The sum over the swarm at one moment; subtract two to get a window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// Listeners whose peer connection is still up.
    pub connected: u64,
    /// RTP packets received.
    pub received: u64,
    /// Packets expected from the first to the highest sequence number each one saw.
    pub expected_by_sequence: u64,
    /// Packets expected from the first to the latest timestamp each one saw.
    pub expected_by_time: u64,
}

impl Totals {
    /// What happened between `earlier` and `self`.
    pub fn since(&self, earlier: &Totals) -> Totals {
        Totals {
            connected: self.connected,
            received: self.received - earlier.received,
            expected_by_sequence: self.expected_by_sequence - earlier.expected_by_sequence,
            expected_by_time: self.expected_by_time - earlier.expected_by_time,
        }
    }

    /// Packets missing by sequence number (lost on the way or in this process).
    pub fn lost(&self) -> u64 {
        self.expected_by_sequence.saturating_sub(self.received)
    }

    /// Packets missing by timestamp (also those the server skipped).
    pub fn skipped(&self) -> u64 {
        self.expected_by_time.saturating_sub(self.received)
    }
}

/// Listeners of one or more WHEP endpoints.
#[derive(Debug, Default)]
pub struct Swarm {
    viewers: Vec<WhepViewer>,
    counters: Vec<Arc<Counter>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// Connect attempts that failed, with the first few reasons.
    pub failures: u64,
    pub first_failures: Vec<String>,
}

/// How a swarm connects.
#[derive(Debug, Clone, Copy)]
pub struct Join {
    /// Offers in flight at once.
    pub parallel: usize,
    /// RTP timestamp ticks per packet (960: 20 ms at Opus' 48 kHz RTP clock).
    pub ticks_per_packet: u32,
}

impl Default for Join {
    fn default() -> Self {
        Self {
            parallel: 8,
            ticks_per_packet: 960,
        }
    }
}

impl Swarm {
    pub fn new() -> Swarm {
        Swarm::default()
    }

    /// Listeners in the swarm (connected when they joined).
    pub fn len(&self) -> usize {
        self.viewers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.viewers.is_empty()
    }

    /// Add `n` listeners of `url`, `join.parallel` offers at a time; each counts once it
    /// has its track. Failures are counted, not fatal: the caller reports them.
    pub async fn grow(&mut self, url: &str, n: usize, join: Join) {
        let gate = Arc::new(Semaphore::new(join.parallel.max(1)));
        let mut pending = Vec::with_capacity(n);
        for _ in 0..n {
            let gate = gate.clone();
            let url = url.to_owned();
            pending.push(tokio::spawn(async move {
                let _permit = gate.acquire_owned().await.expect("never closed");
                listen(&url).await
            }));
        }
        for joined in pending {
            match joined.await.map_err(|e| e.to_string()).and_then(|r| r) {
                Ok((viewer, packets)) => {
                    let counter = Arc::new(Counter::default());
                    self.tasks.push(tokio::spawn(count(
                        packets,
                        counter.clone(),
                        join.ticks_per_packet,
                    )));
                    self.counters.push(counter);
                    self.viewers.push(viewer);
                }
                Err(e) => {
                    self.failures += 1;
                    if self.first_failures.len() < 5 {
                        self.first_failures.push(e);
                    }
                }
            }
        }
    }

    /// The sums now.
    pub fn totals(&self) -> Totals {
        let mut t = Totals {
            connected: self.viewers.iter().filter(|v| v.is_connected()).count() as u64,
            ..Totals::default()
        };
        for c in &self.counters {
            t.received += c.received.load(Ordering::Relaxed);
            t.expected_by_sequence += c.by_sequence.load(Ordering::Relaxed);
            t.expected_by_time += c.by_time.load(Ordering::Relaxed);
        }
        t
    }

    /// Stop counting and close every listener (DELETE, then the peer connection),
    /// `parallel` at a time.
    pub async fn close(self, parallel: usize) {
        for task in &self.tasks {
            task.abort();
        }
        let gate = Arc::new(Semaphore::new(parallel.max(1)));
        let mut closing = Vec::new();
        for viewer in self.viewers {
            let gate = gate.clone();
            closing.push(tokio::spawn(async move {
                let _permit = gate.acquire_owned().await.expect("never closed");
                let _ = viewer.close().await;
            }));
        }
        for c in closing {
            let _ = c.await;
        }
    }
}

/// One listener: connected, with its first audio track.
async fn listen(
    url: &str,
) -> Result<(WhepViewer, tokio::sync::mpsc::Receiver<RtpAudioPacket>), String> {
    let options = ClientOptions {
        peer: PeerSettings {
            // Many peers on a loaded machine: give connecting time.
            connect_timeout: Duration::from_secs(30),
            ..PeerSettings::loopback()
        },
        post_timeout: Duration::from_secs(30),
        ..Default::default()
    };
    let mut viewer = WhepViewer::connect(url, 1, options)
        .await
        .map_err(|e| e.to_string())?;
    match tokio::time::timeout(Duration::from_secs(30), viewer.next_track()).await {
        Ok(Some(packets)) => Ok((viewer, packets)),
        _ => {
            let _ = viewer.close().await;
            Err("connected, but no audio track within 30 s".into())
        }
    }
}

/// Count one listener's packets: received, and expected by sequence and by timestamp
/// (both extended past their wrap, from the first packet heard).
async fn count(
    mut packets: tokio::sync::mpsc::Receiver<RtpAudioPacket>,
    counter: Arc<Counter>,
    ticks_per_packet: u32,
) {
    let Some(first) = packets.recv().await else {
        return;
    };
    let (mut seq, mut ts) = (
        Extended::new(first.sequence as u64, 1 << 16),
        Extended::new(first.timestamp as u64, 1 << 32),
    );
    counter.received.store(1, Ordering::Relaxed);
    counter.by_sequence.store(1, Ordering::Relaxed);
    counter.by_time.store(1, Ordering::Relaxed);
    let mut received = 1;
    while let Some(p) = packets.recv().await {
        received += 1;
        seq.see(p.sequence as u64);
        ts.see(p.timestamp as u64);
        counter.received.store(received, Ordering::Relaxed);
        counter.by_sequence.store(seq.span() + 1, Ordering::Relaxed);
        counter
            .by_time
            .store(ts.span() / ticks_per_packet as u64 + 1, Ordering::Relaxed);
    }
}

/// A wrapping counter (RTP sequence or timestamp) extended to 64 bits: the highest value
/// seen, as a distance from the first.
struct Extended {
    modulus: u64,
    last: u64,
    highest: u64,
}

impl Extended {
    fn new(first: u64, modulus: u64) -> Self {
        Self {
            modulus,
            last: first,
            highest: 0,
        }
    }

    /// A new value: forward by its wrapping distance from the last one when that is less
    /// than half the range (a late packet moves nothing).
    fn see(&mut self, value: u64) {
        let forward = (value + self.modulus - self.last) % self.modulus;
        if forward < self.modulus / 2 {
            self.highest += forward;
            self.last = value;
        }
    }

    fn span(&self) -> u64 {
        self.highest
    }
}
