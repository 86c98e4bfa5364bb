//! Graceful shutdown and the signals that start it: new outputs and replies are refused,
//! replies in flight may finish until `server.shutdown_grace_ms`, then every output is
//! interrupted and ended, WHIP resources deleted, event streams and the front door closed,
//! the frame clock stopped. A second signal exits at once.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tracing::{info, warn};

use super::server::Server;
use crate::Config;

/// How long shutdown waits, past its grace period, for the interrupted replies' outcomes.
const SHUTDOWN_SETTLE: Duration = Duration::from_millis(300);

impl Server {
    /// Graceful shutdown: refuse new work, let replies in flight finish up to the grace
    /// period, then end every output, close streams and peers, stop the frame clock.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        let state = self.state;
        state.accepting.store(false, Ordering::Release);
        let grace = state.config.server.shutdown_grace;
        let deadline = Instant::now() + grace;
        info!(
            grace_ms = grace.as_millis() as u64,
            "shutting down: letting replies in flight finish"
        );
        loop {
            let busy: Vec<String> = state
                .outputs
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .values()
                .filter(|o| o.open_replies() > 0 || o.handle.is_speaking() && !o.handle.is_paused())
                .map(|o| o.id.clone())
                .collect();
            if busy.is_empty() {
                break;
            }
            if Instant::now() >= deadline {
                warn!(outputs = ?busy, "shutdown grace period over: interrupting replies still playing");
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let ids: Vec<String> = state
            .outputs
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .cloned()
            .collect();
        // Past the grace period the replies' outcomes get a moment, not the full report
        // timeout: shutdown ends within about a second of its deadline.
        let settle = state.settle_time().min(SHUTDOWN_SETTLE);
        futures_util::future::join_all(ids.iter().map(|id| state.end_output(id, settle))).await;
        // The WHIP DELETEs must reach the SFUs before the process exits, or the endpoints
        // stay "in use" for the next start.
        let t = &state.config.transport;
        state
            .teardowns
            .finish(t.whip_delete_timeout * 2 + Duration::from_secs(1))
            .await;
        let _ = state.shutdown.send(true);
        let clock = state.clock.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(clock) = clock {
            tokio::task::spawn_blocking(move || clock.stop()).await?;
        }
        let mut task = self.task;
        // The front door drains its connections for at most half a second itself.
        if tokio::time::timeout(Duration::from_secs(2), &mut task)
            .await
            .is_err()
        {
            warn!("HTTP connections did not close; dropping them");
            task.abort();
        }
        info!("voxpace stopped");
        Ok(())
    }
}

/// `voxpace serve`: start, print the address, run until SIGINT/SIGTERM, shut down.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let server = Server::start(config).await?;
    // The first line on stdout, for scripts and tests that start on port 0.
    println!("listening on http://{}", server.addr());
    wait_for_signal().await;
    info!("signal received; shutting down (a second signal exits at once)");
    tokio::spawn(async {
        wait_for_signal().await;
        warn!("second signal: exiting now");
        std::process::exit(130);
    });
    server.shutdown().await
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
