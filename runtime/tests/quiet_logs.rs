//! `voxpace serve` at the default log level, through a whole WebRTC life (an output published
//! over WHIP to a loopback ingest, a WHEP listener that joins, hears and leaves, SIGTERM):
//! no warning from the WebRTC dependencies, and every line the transport logs (webrtc-rs'
//! own lines included) names the output it is about.
#![cfg(feature = "webrtc")]

mod whip_ingest;

use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use voxpace_test_kit::process::listening;
use voxpace_transport::{ClientOptions, PeerSettings, WhepViewer};

/// Targets of the WebRTC stack: the transport and the webrtc-rs crates it logs through.
fn is_transport(target: &str) -> bool {
    ["voxpace_transport", "webrtc", "rtc"].iter().any(|t| {
        target == *t
            || target.starts_with(&format!("{t}::"))
            || target.starts_with(&format!("{t}_"))
    })
}

/// The output id in a JSON log line's span list, if any span names one.
fn output_of(line: &Value) -> Option<String> {
    line["spans"].as_array()?.iter().find_map(|s| {
        s.get("output")
            .or_else(|| s.get("id").filter(|_| s["name"] == "output"))
            .and_then(Value::as_str)
            .map(str::to_owned)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webrtc_logs_are_quiet_and_name_their_output() {
    let (_ingest, mut tracks, ingest_addr) = whip_ingest::serve("127.0.0.1:0").await;

    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(
        &cfg,
        format!(
            "[transport]\nwhep = true\nwhip_url = \"http://{ingest_addr}/whip/{{output}}\"\n\
             [server]\nlisten = \"127.0.0.1:0\"\noutputs = [\"alpha\"]\n"
        ),
    )
    .unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_voxpace"));
    command
        .args(["--log-format", "json", "serve", "--config"])
        .arg(&cfg)
        .env_remove("RUST_LOG");
    let mut served = listening(command);
    let base = served.base.clone();

    // Published: packets reach the ingest.
    let mut track = tokio::time::timeout(Duration::from_secs(30), tracks.recv())
        .await
        .expect("the output publishes")
        .unwrap();
    for _ in 0..10 {
        tokio::time::timeout(Duration::from_secs(10), track.packets.recv())
            .await
            .expect("published packets arrive")
            .unwrap();
    }
    // A listener joins, hears the output, and leaves.
    let mut viewer = WhepViewer::connect(
        &format!("{base}/whep/alpha"),
        1,
        ClientOptions {
            peer: PeerSettings::loopback(),
            ..Default::default()
        },
    )
    .await
    .expect("a WHEP listener connects");
    let mut heard = tokio::time::timeout(Duration::from_secs(10), viewer.next_track())
        .await
        .unwrap()
        .unwrap();
    for _ in 0..10 {
        tokio::time::timeout(Duration::from_secs(10), heard.recv())
            .await
            .expect("the listener hears packets")
            .unwrap();
    }
    viewer.close().await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;

    served.terminate();
    assert!(served.child.wait().unwrap().success());
    let lines = served.log();

    let parsed: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let noisy: Vec<&String> = lines
        .iter()
        .zip(&parsed)
        .filter(|(_, v)| {
            matches!(v["level"].as_str(), Some("WARN" | "ERROR"))
                && !v["target"].as_str().unwrap_or("").starts_with("voxpace")
        })
        .map(|(l, _)| l)
        .collect();
    assert!(
        noisy.is_empty(),
        "dependency warnings at the default level:\n{noisy:#?}"
    );
    let transport: Vec<(&String, Option<String>)> = lines
        .iter()
        .zip(&parsed)
        .filter(|(_, v)| is_transport(v["target"].as_str().unwrap_or("")))
        .map(|(l, v)| (l, output_of(v)))
        .collect();
    assert!(
        transport.len() >= 2,
        "the listener's session is logged: {lines:#?}"
    );
    let anonymous: Vec<&&String> = transport
        .iter()
        .filter(|(_, o)| o.as_deref() != Some("alpha"))
        .map(|(l, _)| l)
        .collect();
    assert!(
        anonymous.is_empty(),
        "transport lines without the output id:\n{anonymous:#?}"
    );
    // The WHIP publisher's lines name the output too.
    assert!(
        parsed
            .iter()
            .any(|v| v["spans"].as_array().is_some_and(|s| s
                .iter()
                .any(|s| s["name"] == "whip" && s["output"] == "alpha"))),
        "no line from the WHIP publisher of alpha: {lines:#?}"
    );
}
