//! Sessions that never connect are bounded apart from connected listeners: a flood of 1 000
//! offers that never complete ICE, sent from one address, is refused (503 + Retry-After) for
//! that address only while a real webrtc-rs listener connects from another; the pending
//! sessions are visible, time out, and memory goes back down. An offer body that trickles
//! in one byte a second is answered 408.

mod common;

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use voxpace_core::Format;
use voxpace_transport::{ClientOptions, ServerConfig, WhepServer, WhepViewer};

/// A receive-only Opus offer whose ICE credentials nobody answers.
fn dead_offer() -> String {
    offer("audio", "rtpmap:111 opus/48000/2", "recvonly")
}

/// Serve with the client address as `ConnectInfo`, as the runtime's front door does.
async fn serve_with_addresses(router: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    addr
}

/// One raw HTTP/1.1 exchange from `from`: the status and the `Retry-After` header.
async fn raw_post(server: SocketAddr, from: IpAddr, body: &str) -> (u16, Option<String>) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(from, 0)).unwrap();
    let mut stream = socket.connect(server).await.unwrap();
    let request = format!(
        "POST /agent HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer);
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let retry = answer
        .lines()
        .find_map(|l| l.strip_prefix("retry-after: ").map(str::to_owned));
    (status, retry)
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_offers_that_never_connect_keeps_no_listener_out() {
    let format = Format::new(24_000, 1, 20).unwrap();
    let (publisher, feed) = publisher(format);
    let connect_timeout = Duration::from_secs(3);
    let server = WhepServer::new(ServerConfig {
        max_pending_per_client: 4,
        max_pending_per_stream: 16,
        peer: voxpace_transport::PeerSettings {
            connect_timeout,
            ..fast_peer()
        },
        ..server_config()
    });
    server.publish("agent", vec![publisher]);
    let addr = serve_with_addresses(server.router()).await;
    let _agent = Agent::start_unrecorded(format, feed);
    let options = ClientOptions {
        bearer_token: Some(TOKEN.into()),
        peer: fast_peer(),
        ..Default::default()
    };
    let url = format!("http://{addr}/agent");

    // Warm up so the baseline holds the stack's one-time memory: one listener in and out,
    // and as many dead offers as one client may leave pending, timed out (the threads and
    // allocator arenas a flood touches exist from then on).
    WhepViewer::connect(&url, 1, options.clone())
        .await
        .unwrap()
        .close()
        .await
        .unwrap();
    let flooder: IpAddr = [127, 0, 0, 2].into();
    for _ in 0..4 {
        assert_eq!(raw_post(addr, flooder, &dead_offer()).await.0, 201);
    }
    tokio::time::sleep(connect_timeout + Duration::from_secs(2)).await;
    assert_eq!(server.pending_sessions(None), 0);
    let before = rss_kib();

    let flooding = tokio::spawn(flood(addr, flooder));
    // A real listener connects from another address while the flood goes on.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut most_pending = server.pending_sessions(None);
    let listener = WhepViewer::connect(&url, 1, options.clone())
        .await
        .expect("a real listener connects during the flood");
    let statuses = flooding.await.unwrap();
    most_pending = most_pending.max(server.pending_sessions(None));
    let during = rss_kib();

    let created = statuses.iter().filter(|(s, _)| *s == 201).count();
    let refused: Vec<_> = statuses.iter().filter(|(s, _)| *s == 503).collect();
    assert_eq!(created + refused.len(), 1000, "{statuses:?}");
    assert!(
        created <= 4 * 3,
        "at most the per-client limit per connect timeout: {created}"
    );
    assert!(
        refused.iter().all(|(_, r)| r.as_deref() == Some("3")),
        "503s carry Retry-After (the connect timeout): {:?}",
        refused.first()
    );
    // The flooder's 4, plus the real listener's own offer: the server counts it pending
    // until its peer connection reports connected, which can trail the viewer's own
    // connected state when the machine is busy.
    assert!(
        most_pending <= 4 + 1,
        "pending bounded per client: {most_pending}"
    );

    // The listener still gets a second session: the flooder's pending ones time out.
    tokio::time::sleep(connect_timeout + Duration::from_secs(1)).await;
    assert_eq!(server.pending_sessions(None), 0);
    assert_eq!(
        server.sessions(Some("agent")).len(),
        1,
        "only the real listener"
    );
    let (status, _) = raw_post(addr, flooder, &dead_offer()).await;
    assert_eq!(
        status, 201,
        "the flooder is admitted again once its sessions timed out"
    );
    listener.close().await.unwrap();

    // Memory goes back down once the flood's sessions are gone (the server hands the freed
    // memory back to the system: `admission::return_freed_memory`), and stays there.
    let mut timeline = Vec::new();
    for _ in 0..6 {
        tokio::time::sleep(Duration::from_secs(10)).await;
        timeline.push(rss_kib());
    }
    let after = rss_kib();
    // A second flood like the first: whatever the first left behind is not left again.
    let again = flood(addr, flooder).await;
    assert_eq!(again.len(), 1000);
    tokio::time::sleep(connect_timeout + Duration::from_secs(5)).await;
    assert_eq!(server.pending_sessions(None), 0);
    let after_two = rss_kib();
    eprintln!(
        "RSS before {before} KiB, during {during} KiB, each 10 s after {timeline:?} KiB, 60 s after {after} KiB (+{} KiB), after a second flood {after_two} KiB",
        after as i64 - before as i64
    );
    // Measured (debug build, load 3-6): before the server trimmed, 60 s after stood at
    // +2.2-2.3 MB, no lower than during the flood; with it, +1.0-1.4 MB (the rest is the
    // one-time growth of the runtime's I/O slab, timers and arenas, which a second flood
    // does not repeat).
    assert!(
        after <= before + 1536,
        "memory back near its baseline 60 s after the flood: before {before} KiB, during {during} KiB, after {after} KiB"
    );
    assert!(
        after_two <= after + 512,
        "a second flood leaves nothing more behind: after one {after} KiB, after two {after_two} KiB"
    );
}

/// 1 000 never-connecting offers from `from`, 50 at a time: each one's status and
/// `Retry-After`.
async fn flood(addr: SocketAddr, from: IpAddr) -> Vec<(u16, Option<String>)> {
    let offer = dead_offer();
    let mut statuses = Vec::new();
    for wave in 0..20 {
        let posts: Vec<_> = (0..50)
            .map(|_| {
                let offer = offer.clone();
                tokio::spawn(async move { raw_post(addr, from, &offer).await })
            })
            .collect();
        for p in posts {
            statuses.push(p.await.unwrap());
        }
        if wave == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    statuses
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offer_body_trickling_one_byte_a_second_is_answered_408() {
    let format = Format::new(24_000, 1, 20).unwrap();
    let (publisher, _feed) = publisher(format);
    let server = WhepServer::new(ServerConfig {
        body_timeout: Duration::from_secs(2),
        ..server_config()
    });
    server.publish("agent", vec![publisher]);
    let addr = serve_with_addresses(server.router()).await;
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let offer = dead_offer();
    let head = format!(
        "POST /agent HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n",
        offer.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let started = Instant::now();
    let (mut read, mut write) = stream.into_split();
    let trickle = tokio::spawn(async move {
        for b in offer.bytes() {
            if write.write_all(&[b]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), read.read_to_end(&mut answer))
        .await
        .expect("the server answers and closes")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("did not arrive within 2000 ms"), "{answer}");
    assert!(started.elapsed() >= Duration::from_secs(2));
    trickle.abort();
}
