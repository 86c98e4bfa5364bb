//! A WHEP listener's connection only sends, so the server negotiates only what a sender of
//! Opus uses: a browser's offer of transport-wide congestion control (the extension and
//! its feedback) is not taken up, since nothing on the server would act on it, while the
//! audio itself is answered as before (`whep_e2e.rs` and `browser.rs` hear it).

mod common;

use common::*;
use voxpace_core::Format;
use voxpace_transport::WhepServer;

/// A browser-like offer: Opus with transport-cc feedback and the transport-wide-cc
/// header extension, as Chromium offers them.
fn browser_like_offer() -> String {
    let plain = offer("audio", "rtpmap:111 opus/48000/2", "recvonly");
    plain.replace(
        "a=rtpmap:111 opus/48000/2\r\n",
        "a=rtpmap:111 opus/48000/2\r\n\
         a=rtcp-fb:111 transport-cc\r\n\
         a=fmtp:111 minptime=10;useinbandfec=1\r\n\
         a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01\r\n",
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_is_answered_as_a_sender_without_congestion_feedback() {
    let format = Format::new(48_000, 1, 20).unwrap();
    let (publisher, _feed) = publisher(format);
    let server = WhepServer::new(server_config());
    server.publish("agent", vec![publisher]);
    let base = serve(axum::Router::new().nest("/whep", server.router())).await;
    let offer = browser_like_offer();
    assert!(offer.contains("transport-cc"), "{offer}");
    let answer = reqwest::Client::new()
        .post(format!("{base}/whep/agent"))
        .header("Authorization", format!("Bearer {TOKEN}"))
        .header("Content-Type", "application/sdp")
        .body(offer)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 201);
    let sdp = answer.text().await.unwrap();
    assert!(sdp.contains("a=rtpmap:111 opus/48000/2"), "{sdp}");
    assert!(sdp.contains("a=sendonly"), "{sdp}");
    assert!(
        !sdp.contains("transport-cc") && !sdp.contains("transport-wide-cc"),
        "the answer takes up congestion feedback nothing would act on:\n{sdp}"
    );
}
