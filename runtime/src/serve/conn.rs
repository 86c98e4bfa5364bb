//! The front door of `voxpace serve`: accepts TCP connections up to `server.max_connections`
//! (beyond it: a short 503 and close, while the connections already open keep being served),
//! serves each over HTTP/1.1 with hyper, and closes a connection that takes longer than
//! `server.header_read_timeout_ms` to send a request's headers or sits idle between requests
//! longer than `server.keep_alive_timeout_ms`. (A slow request *body* is the handler's to
//! judge: reply audio is measured against real time, see `stream::BodyReader`.)
//!
//! Why not `axum::serve`: it offers neither timeouts nor a connection cap, and an idle or
//! slow client could hold a connection (and a file descriptor) forever.

use std::convert::Infallible;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, HttpBody};
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tracing::{debug, warn};

/// The limits one connection is held to.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Longest a request's headers may take (from their first byte, or from connecting).
    pub header_read: Duration,
    /// Longest an idle keep-alive connection waits for its next request.
    pub keep_alive: Duration,
    /// Most connections served at once.
    pub max_connections: usize,
}

/// Refusals being written at once; beyond it a connection over the cap is closed unanswered.
const REFUSALS_IN_FLIGHT: usize = 64;
/// A refusal that cannot be written in this time is dropped.
const REFUSAL_TIME: Duration = Duration::from_secs(1);
/// How long the connections get to finish after the server stops, before they are cut.
const DRAIN: Duration = Duration::from_millis(500);
/// Pause after a failed accept (e.g. out of file descriptors) before trying again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// The answer to a connection beyond `server.max_connections`.
fn busy_response() -> Arc<[u8]> {
    let body = serde_json::to_string(&crate::contract::error::ErrorBody {
        error: "too_many_connections".into(),
        message: "the server is serving as many connections as server.max_connections allows; try again in a moment".into(),
        kind: crate::contract::error::ApiKind::Retryable,
    })
    .unwrap_or_default();
    let head = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    Arc::from([head.as_bytes(), body.as_bytes()].concat())
}

/// Serve `app` on `listener` until `stop` turns true; then let each connection finish its
/// request (for at most [`DRAIN`]) and cut the rest.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    mut stop: watch::Receiver<bool>,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let refusals = Arc::new(Semaphore::new(REFUSALS_IN_FLIGHT));
    let mut conns = JoinSet::new();
    let mut warned: Option<Instant> = None;
    let busy = busy_response();
    let conn_stop = stop.clone();
    loop {
        tokio::select! {
            _ = stopped(&mut stop) => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => match permits.clone().try_acquire_owned() {
                    Ok(permit) => {
                        conns.spawn(connection(stream, app.clone(), limits, conn_stop.clone(), permit));
                    }
                    Err(_) => refuse(stream, &refusals, busy.clone()),
                },
                Err(e) => {
                    // Out of file descriptors (or another transient failure): keep serving
                    // the connections we have and try again shortly.
                    if warned.is_none_or(|t| t.elapsed() > Duration::from_secs(1)) {
                        warn!(error = %e, "accepting a connection failed; retrying");
                        warned = Some(Instant::now());
                    }
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
        }
    }
    drop(listener);
    let drained =
        tokio::time::timeout(DRAIN, async { while conns.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        warn!(
            connections = conns.len(),
            "HTTP connections still busy after the drain period; closing them"
        );
        conns.abort_all();
    }
}

/// Answer a connection beyond the cap with 503 and close it, without letting refusals pile up.
fn refuse(mut stream: TcpStream, refusals: &Arc<Semaphore>, busy: Arc<[u8]>) {
    let Ok(permit) = refusals.clone().try_acquire_owned() else {
        return; // dropped: closed unanswered
    };
    tokio::spawn(async move {
        let _permit = permit;
        let _ = tokio::time::timeout(REFUSAL_TIME, async {
            stream.write_all(&busy).await?;
            stream.shutdown().await?;
            // Read what the client already sent, so closing does not reset the connection
            // before the client has read the answer.
            let mut sink = [0u8; 2048];
            while stream.read(&mut sink).await? > 0 {}
            io::Result::Ok(())
        })
        .await;
    });
}

/// One connection: hyper's HTTP/1.1 state machine, watched for slow headers and idleness.
async fn connection(
    stream: TcpStream,
    app: Router,
    limits: Limits,
    mut stop: watch::Receiver<bool>,
    _permit: tokio::sync::OwnedSemaphorePermit,
) {
    let _ = stream.set_nodelay(true);
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Watched {
        inner: stream,
        activity: activity.clone(),
        rejection: None,
    });
    let requests = activity.clone();
    let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
        let guard = RequestGuard::begin(requests.clone());
        let mut app = app.clone();
        async move {
            let response = tower_service::Service::call(&mut app, req.map(Body::new)).await?;
            Ok::<_, Infallible>(response.map(|inner| Body::new(GuardedBody { inner, guard })))
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    // Header and idle deadlines are enforced below (hyper's own header timer also runs
    // while idle, so it cannot tell the two apart).
    builder.timer(TokioTimer::new()).header_read_timeout(None);
    let conn = builder.serve_connection(io, service);
    tokio::pin!(conn);
    let mut stopping = false;
    loop {
        let deadline = activity.deadline(limits);
        tokio::select! {
            done = conn.as_mut() => {
                if let Err(e) = done {
                    debug!(error = %e, "HTTP connection ended with an error");
                }
                return;
            }
            _ = stopped(&mut stop), if !stopping => {
                stopping = true;
                conn.as_mut().graceful_shutdown();
            }
            _ = activity.changed.notified() => {}
            _ = sleep_until(deadline), if deadline.is_some() => {
                if activity.deadline(limits).is_some_and(|d| d <= Instant::now()) {
                    debug!("closing an HTTP connection: headers too slow, or idle too long");
                    return; // dropping the connection closes it
                }
            }
        }
    }
}

/// Resolves once `stop` is true (at once if it already is).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// What a connection is doing, for its deadlines.
#[derive(Debug)]
struct Activity {
    phase: Mutex<Phase>,
    /// Woken when a deadline may have moved earlier or disappeared.
    changed: Notify,
}

#[derive(Debug)]
struct Phase {
    /// Requests being answered (their response bodies not yet finished).
    active: usize,
    /// When the connection last became idle (or connected).
    idle_since: Instant,
    /// When the first byte of the next request's headers arrived.
    head_started: Option<Instant>,
    /// No request has been answered yet: waiting counts as reading headers.
    first: bool,
}

impl Activity {
    fn new() -> Self {
        Self {
            phase: Mutex::new(Phase {
                active: 0,
                idle_since: Instant::now(),
                head_started: None,
                first: true,
            }),
            changed: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Phase> {
        self.phase.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// When the connection should be closed, if nothing happens before; `None` while a
    /// request is being answered.
    fn deadline(&self, limits: Limits) -> Option<Instant> {
        let p = self.lock();
        if p.active > 0 {
            None
        } else if let Some(head) = p.head_started {
            Some(head + limits.header_read)
        } else if p.first {
            Some(p.idle_since + limits.header_read)
        } else {
            Some(p.idle_since + limits.keep_alive)
        }
    }

    fn bytes_read(&self) {
        let mut p = self.lock();
        if p.active == 0 && p.head_started.is_none() {
            p.head_started = Some(Instant::now());
            drop(p);
            self.changed.notify_one();
        }
    }
}

/// Counts a request as active from its headers until its response body is finished.
#[derive(Debug)]
struct RequestGuard(Arc<Activity>);

impl RequestGuard {
    fn begin(activity: Arc<Activity>) -> Self {
        {
            let mut p = activity.lock();
            p.active += 1;
            p.head_started = None;
        }
        Self(activity)
    }
}

impl Drop for RequestGuard {
    fn drop(&mut self) {
        let mut p = self.0.lock();
        p.active -= 1;
        if p.active == 0 {
            p.idle_since = Instant::now();
            p.head_started = None;
            p.first = false;
        }
        drop(p);
        self.0.changed.notify_one();
    }
}

/// A response body that ends its request's activity when hyper is done with it.
struct GuardedBody {
    inner: Body,
    #[allow(dead_code)] // held for its Drop
    guard: RequestGuard,
}

impl HttpBody for GuardedBody {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

/// The TCP stream, telling [`Activity`] when request bytes arrive, and giving hyper's own
/// rejections a JSON body.
struct Watched {
    inner: TcpStream,
    activity: Arc<Activity>,
    /// hyper's rejection being replaced: our answer, how much of it is written, and the
    /// length of hyper's bytes it stands for.
    rejection: Option<(Vec<u8>, usize, usize)>,
}

/// hyper answers a request it cannot parse (a request line or headers beyond its limits,
/// malformed HTTP) by itself, before any route sees it: a bare status line with an empty
/// body and no content type. Every answer of the routes has a body and a content type, so
/// such a head can only be hyper's; it is replaced by the same status with the
/// `{error, message, kind}` body every other error has.
fn json_rejection(head: &[u8]) -> Option<Vec<u8>> {
    if head.len() > 1024 || !head.ends_with(b"\r\n\r\n") {
        return None;
    }
    let text = std::str::from_utf8(head).ok()?.to_ascii_lowercase();
    let status: u16 = text.strip_prefix("http/1.1 ")?.get(..3)?.parse().ok()?;
    let empty = text.contains("\r\ncontent-length: 0\r\n") || !text.contains("content-length:");
    if !(400..600).contains(&status)
        || !empty
        || text.contains("content-type:")
        || text.contains("transfer-encoding:")
    {
        return None;
    }
    let status = axum::http::StatusCode::from_u16(status).ok()?;
    let (error, kind) = super::error::foreign(status);
    let message = match status {
        axum::http::StatusCode::URI_TOO_LONG => {
            "the request target is longer than the server reads"
        }
        axum::http::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => {
            "the request's headers are larger than the server reads"
        }
        _ => "the request could not be read as HTTP/1.1 (request line or headers malformed)",
    };
    let body = serde_json::to_string(&crate::contract::error::ErrorBody {
        error: error.to_owned(),
        message: message.to_owned(),
        kind,
    })
    .ok()?;
    let reason = status.canonical_reason().unwrap_or("Error");
    let head = format!(
        "HTTP/1.1 {} {reason}\r\ncontent-type: application/json\r\nconnection: close\r\ncontent-length: {}\r\n\r\n",
        status.as_u16(),
        body.len()
    );
    Some([head.as_bytes(), body.as_bytes()].concat())
}

impl Watched {
    /// Write `buf` (hyper's), or the JSON answer that replaces it.
    fn write(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if self.rejection.is_none() {
            if let Some(answer) = json_rejection(buf) {
                self.rejection = Some((answer, 0, buf.len()));
            }
        }
        let Some((answer, done, stands_for)) = &mut self.rejection else {
            return Pin::new(&mut self.inner).poll_write(cx, buf);
        };
        while *done < answer.len() {
            match Pin::new(&mut self.inner).poll_write(cx, &answer[*done..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Ok(0)),
                Poll::Ready(Ok(n)) => *done += n,
                other => return other,
            }
        }
        let n = *stands_for;
        self.rejection = None;
        Poll::Ready(Ok(n))
    }
}

impl AsyncRead for Watched {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.activity.bytes_read();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        // A head hyper wrote alone may be its own rejection (see `json_rejection`).
        let first = bufs.iter().find(|b| !b.is_empty());
        let only = bufs.iter().filter(|b| !b.is_empty()).count() == 1;
        match first {
            Some(head) if only && (this.rejection.is_some() || json_rejection(head).is_some()) => {
                this.write(cx, head)
            }
            _ => Pin::new(&mut this.inner).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
