//! webrtc-rs runs each peer connection on a driver task of its own, spawned through its
//! `Runtime`; that task would log (ICE, DTLS, SRTP, through the `log` facade) outside of any
//! span, so its lines could not be told apart between outputs. [`Traced`] is the tokio
//! runtime with one change: what it spawns runs inside the span that was current when the
//! peer connection was built (the runtime's `whip{output=..}` or `whep{output=..}`).

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::Instrument;
use webrtc::runtime::{
    AsyncInterval, AsyncTcpListener, AsyncTcpStream, AsyncUdpSocket, JoinHandle, Runtime,
    TokioRuntime,
};

/// The tokio runtime, spawning inside `span`.
#[derive(Debug)]
pub(crate) struct Traced {
    inner: TokioRuntime,
    span: tracing::Span,
}

impl Traced {
    /// Spawn inside the current span.
    pub(crate) fn current() -> Arc<dyn Runtime> {
        Arc::new(Self {
            inner: TokioRuntime,
            span: tracing::Span::current(),
        })
    }
}

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

impl Runtime for Traced {
    fn spawn(&self, future: BoxFuture<'static, ()>) -> Box<dyn JoinHandle> {
        self.inner
            .spawn(Box::pin(future.instrument(self.span.clone())))
    }

    fn spawn_reactor(&self, pool: usize, future: BoxFuture<'static, ()>) -> Box<dyn JoinHandle> {
        self.inner
            .spawn_reactor(pool, Box::pin(future.instrument(self.span.clone())))
    }

    fn wrap_udp_socket(&self, socket: std::net::UdpSocket) -> io::Result<Arc<dyn AsyncUdpSocket>> {
        self.inner.wrap_udp_socket(socket)
    }

    fn wrap_tcp_listener(
        &self,
        listener: std::net::TcpListener,
    ) -> io::Result<Arc<dyn AsyncTcpListener>> {
        self.inner.wrap_tcp_listener(listener)
    }

    fn connect_tcp<'a>(
        &'a self,
        remote: SocketAddr,
    ) -> BoxFuture<'a, io::Result<Arc<dyn AsyncTcpStream>>> {
        self.inner.connect_tcp(remote)
    }

    fn resolve_host<'a>(&'a self, host: &'a str) -> BoxFuture<'a, io::Result<Vec<SocketAddr>>> {
        self.inner.resolve_host(host)
    }

    fn now(&self) -> Instant {
        self.inner.now()
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        self.inner.sleep(duration)
    }

    fn interval(&self, period: Duration) -> Box<dyn AsyncInterval> {
        self.inner.interval(period)
    }

    fn block_on(&self, future: Pin<Box<dyn Future<Output = ()> + '_>>) {
        self.inner.block_on(future)
    }

    fn yield_now(&self) -> BoxFuture<'static, ()> {
        self.inner.yield_now()
    }

    fn name(&self) -> &'static str {
        "tokio (traced)"
    }
}
