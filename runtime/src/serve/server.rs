//! The server: binds the listener, builds the shared state (frame clock, WHEP server, the
//! configured outputs) and serves the API through the front door (`conn.rs`: connection
//! limits and timeouts). Shutdown is `shutdown.rs`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, RwLock};
#[cfg(feature = "webrtc")]
use std::time::Duration;
use std::time::Instant;

use tokio::sync::watch;
use tracing::info;
use voxpace_core::{FrameClock, MonotonicClock};

use super::publish::Teardowns;
use super::state::{demo_speech, AppState, Media};
use crate::Config;

/// A running server (the library face of `voxpace serve`, used by tests too).
#[derive(Debug)]
pub struct Server {
    pub(super) state: Arc<AppState>,
    pub(super) addr: SocketAddr,
    pub(super) task: tokio::task::JoinHandle<()>,
}

impl Server {
    /// Decode the media, bind the listener, create the configured outputs and start serving.
    pub async fn start(config: Config) -> anyhow::Result<Server> {
        let format = config.format;
        let demo = demo_speech(format)?;
        let listener = tokio::net::TcpListener::bind(config.server.listen)
            .await
            .map_err(|e| config.bind_error("server.listen", config.server.listen, e))?;
        let addr = listener.local_addr()?;
        let (shutdown, _) = watch::channel(false);
        let clock = start_clock(format.frame_duration(), config.server.realtime_priority);
        #[cfg(feature = "webrtc")]
        let whep = config.transport.whep.then(|| {
            voxpace_transport::WhepServer::new(voxpace_transport::ServerConfig {
                // serve::auth checks every listener (and control) token in front of it.
                bearer_tokens: Vec::new(),
                // A listener that goes silent this long is dropped; our keepalive checks
                // (answered by every live peer) come often enough that a live one never is.
                peer: voxpace_transport::PeerSettings {
                    ice_disconnected_timeout: config.transport.whep_peer_timeout,
                    ice_keepalive_interval: (config.transport.whep_peer_timeout / 3)
                        .min(Duration::from_secs(2)),
                    connect_timeout: config.transport.whep_connect_timeout,
                    ..super::publish::peer_settings(config.transport.whep_listen.unwrap_or(addr))
                },
                // Offers that never connect are bounded apart from connected listeners;
                // the client address comes from the front door (`conn.rs`).
                max_pending_per_stream: config.transport.whep_max_pending_per_output,
                max_pending_per_client: config.transport.whep_max_pending_per_client,
                max_sessions: config.transport.whep_max_listeners,
                body_timeout: config.server.body_idle_timeout,
                ..Default::default()
            })
        });
        let state = Arc::new(AppState {
            outputs: RwLock::new(BTreeMap::new()),
            clock: Mutex::new(Some(clock)),
            media: Media { demo },
            accepting: AtomicBool::new(true),
            shutdown,
            started: Instant::now(),
            #[cfg(feature = "webrtc")]
            whep,
            teardowns: Teardowns::default(),
            config,
        });
        for id in state.config.server.outputs.clone() {
            state
                .create_output(&id)
                .await
                .map_err(|e| anyhow::anyhow!("creating output {id:?}: {}", e.message))?;
        }
        let app = super::api::router(state.clone());
        let s = &state.config.server;
        let limits = super::conn::Limits {
            header_read: s.header_read_timeout,
            keep_alive: s.keep_alive_timeout,
            max_connections: s.max_connections,
        };
        let task = tokio::spawn(super::conn::serve(
            listener,
            app,
            limits,
            state.shutdown.subscribe(),
        ));
        #[cfg(feature = "webrtc")]
        if let (Some(whep_addr), Some(whep)) = (state.config.transport.whep_listen, &state.whep) {
            let l = tokio::net::TcpListener::bind(whep_addr)
                .await
                .map_err(|e| {
                    state
                        .config
                        .bind_error("transport.whep_listen", whep_addr, e)
                })?;
            let app = super::api::guarded(
                axum::Router::new().nest_service("/whep", whep.router()),
                state.clone(),
            );
            info!(addr = %l.local_addr()?, "WHEP on its own address");
            tokio::spawn(super::conn::serve(
                l,
                app,
                limits,
                state.shutdown.subscribe(),
            ));
        }
        info!(%addr, "voxpace serving");
        Ok(Server { state, addr, task })
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

/// The shared frame clock, under `SCHED_FIFO` when `server.realtime_priority` asks for it
/// and the process may; a refusal is a warning (the clock then runs as an ordinary thread).
fn start_clock(period: std::time::Duration, realtime_priority: Option<u8>) -> FrameClock {
    let Some(priority) = realtime_priority else {
        return FrameClock::start(MonotonicClock::new(), period);
    };
    let clock = FrameClock::start_with(
        MonotonicClock::new(),
        period,
        voxpace_core::Scheduling::Realtime(priority),
    );
    if clock.stats().realtime {
        tracing::info!(priority, "frame clock runs under SCHED_FIFO");
    } else {
        tracing::warn!(
            priority,
            "server.realtime_priority: SCHED_FIFO was refused (it needs root, CAP_SYS_NICE or \
             an RLIMIT_RTPRIO allowance); the frame clock runs as an ordinary thread"
        );
    }
    clock
}
