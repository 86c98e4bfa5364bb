//! Work that blocks runs off the server's async workers: opening a background or clip file
//! (`POST /v1/outputs`, `PUT .../background`, `POST .../clips/{name}`) and making a plugin
//! sink (`POST /v1/outputs`). The server runs on a runtime with ONE async worker; while one
//! request is stuck in a file's `open` or in a plugin's `new`, other requests must still be
//! answered. The file is held stuck by a real kernel lease (another process holds a write
//! lease: the server's `open` waits until it is released), the plugin by the real
//! `faulty-block` fixture (its first `new` waits for a gate file).

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

use voxpace_runtime::serve::Server;

/// Generous: a worker that is not blocked answers in milliseconds.
const ANSWER: Duration = Duration::from_secs(10);

/// A write lease on a file, held by a python3 process: anyone who opens the file waits in
/// `open` until the lease is released (or the kernel's lease-break-time, 45 s, passes).
struct Lease {
    child: Child,
    stdin: ChildStdin,
    lines: std::io::Lines<BufReader<std::process::ChildStdout>>,
}

impl Lease {
    fn take(path: &Path) -> Lease {
        let script = r#"
import fcntl, os, signal, sys
fd = os.open(sys.argv[1], os.O_WRONLY)
signal.signal(signal.SIGIO, lambda *a: print("opening", flush=True))
fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_WRLCK)
print("leased", flush=True)
sys.stdin.readline()
fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_UNLCK)
os.close(fd)
print("released", flush=True)
"#;
        let mut child = Command::new("python3")
            .args(["-c", script])
            .arg(path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3");
        let stdin = child.stdin.take().unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines.next().and_then(Result::ok);
        assert_eq!(first.as_deref(), Some("leased"), "a lease on {path:?}");
        Lease {
            child,
            stdin,
            lines,
        }
    }

    /// Wait until someone is stuck opening the file (the kernel told the holder).
    fn wait_for_opener(&mut self) {
        let line = self.lines.next().and_then(Result::ok);
        assert_eq!(line.as_deref(), Some("opening"));
    }

    fn release(mut self) {
        writeln!(self.stdin).unwrap();
        let line = self.lines.next().and_then(Result::ok);
        assert_eq!(line.as_deref(), Some("released"));
        self.child.wait().unwrap();
    }
}

/// A server on its own runtime with a single async worker.
fn start(config: &str, dir: &Path) -> (tokio::runtime::Runtime, Server, String) {
    let f = dir.join("c.toml");
    std::fs::write(&f, config).unwrap();
    let config = voxpace_runtime::Config::load(&f).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let server = rt.block_on(Server::start(config)).unwrap();
    let base = format!("http://{}", server.addr());
    (rt, server, base)
}

/// The client's requests, on a runtime of their own.
fn client() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

async fn status(req: reqwest::RequestBuilder) -> u16 {
    tokio::time::timeout(ANSWER, req.send())
        .await
        .expect("answered while another request waits on blocking work")
        .unwrap()
        .status()
        .as_u16()
}

/// The server still answers: health, and the outputs (whose lock must not be held).
async fn still_answers(http: &reqwest::Client, base: &str) -> serde_json::Value {
    assert_eq!(status(http.get(format!("{base}/healthz"))).await, 200);
    let list = tokio::time::timeout(ANSWER, http.get(format!("{base}/v1/outputs")).send())
        .await
        .expect("GET /v1/outputs answered while an output is being created")
        .unwrap();
    list.json().await.unwrap()
}

/// Is `path` open in this process (the server runs in it)?
fn open_here(path: &Path) -> bool {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(Result::ok)
        .any(|e| std::fs::read_link(e.path()).is_ok_and(|t| t == path))
}

fn copy_speech(dir: &Path, name: &str) -> PathBuf {
    let to = dir.join(name);
    let assets = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets");
    std::fs::copy(assets.join("speech.wav"), &to).unwrap();
    to.canonicalize().unwrap()
}

#[test]
fn opening_audio_files_blocks_no_async_worker() {
    let dir = tempfile::tempdir().unwrap();
    let music = copy_speech(dir.path(), "music.wav");
    let chime = copy_speech(dir.path(), "chime.wav");
    let (server_rt, server, base) = start(
        &format!(
            "[server]\nlisten = \"127.0.0.1:0\"\noutputs = []\n\
             [background]\nfile = {music:?}\n[clips.chime]\nfile = {chime:?}\n"
        ),
        dir.path(),
    );
    let http = reqwest::Client::new();
    client().block_on(async {
        // Creating an output opens its background file.
        let mut lease = Lease::take(&music);
        let create = tokio::spawn(
            http.post(format!("{base}/v1/outputs"))
                .json(&serde_json::json!({ "id": "a" }))
                .send(),
        );
        tokio::task::block_in_place(|| lease.wait_for_opener());
        let list = still_answers(&http, &base).await;
        assert_eq!(list["outputs"], serde_json::json!([]), "{list}");
        tokio::task::block_in_place(|| lease.release());
        let created = tokio::time::timeout(ANSWER, create).await.unwrap().unwrap();
        assert_eq!(created.unwrap().status().as_u16(), 201);

        // Firing a clip opens the clip's file.
        let mut lease = Lease::take(&chime);
        let fire = tokio::spawn(http.post(format!("{base}/v1/outputs/a/clips/chime")).send());
        tokio::task::block_in_place(|| lease.wait_for_opener());
        still_answers(&http, &base).await;
        tokio::task::block_in_place(|| lease.release());
        let fired = tokio::time::timeout(ANSWER, fire).await.unwrap().unwrap();
        assert_eq!(fired.unwrap().status().as_u16(), 200);

        // Turning the music back on opens its file again (once the old one is closed).
        let off = http
            .put(format!("{base}/v1/outputs/a/background"))
            .json(&serde_json::json!({ "enabled": false }));
        assert_eq!(status(off).await, 200);
        let closed = tokio::task::block_in_place(|| {
            voxpace_test_kit::wait::poll_until(ANSWER, || (!open_here(&music)).then_some(()))
        });
        assert!(closed.is_some(), "the stopped music's file is closed");
        let mut lease = Lease::take(&music);
        let on = tokio::spawn(
            http.put(format!("{base}/v1/outputs/a/background"))
                .json(&serde_json::json!({ "enabled": true }))
                .send(),
        );
        tokio::task::block_in_place(|| lease.wait_for_opener());
        still_answers(&http, &base).await;
        tokio::task::block_in_place(|| lease.release());
        let on = tokio::time::timeout(ANSWER, on).await.unwrap().unwrap();
        assert_eq!(on.unwrap().status().as_u16(), 200);
    });
    server_rt.block_on(server.shutdown()).unwrap();
}

/// The plugin's shared library, built by `cargo build --workspace`.
fn faulty_block() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let debug = exe.parent().unwrap().parent().unwrap();
    let so = debug.join("libvoxpace_plugin_faulty_block.so");
    if !so.exists() {
        let st = Command::new(env!("CARGO"))
            .args(["build", "-p", "voxpace-plugin-faulty-block"])
            .env("CARGO_TARGET_DIR", debug.parent().unwrap())
            .status()
            .unwrap();
        assert!(st.success(), "building the faulty-block plugin");
    }
    so
}

#[test]
fn a_plugin_slow_to_make_holds_up_no_other_output() {
    let dir = tempfile::tempdir().unwrap();
    let gate = dir.path().join("gate");
    let (server_rt, server, base) = start(
        &format!(
            "[server]\nlisten = \"127.0.0.1:0\"\noutputs = []\n\
             [[sinks]]\nname = \"slow\"\nplugin = {:?}\n\
             [sinks.config]\nhold_first_new_until = {gate:?}\n",
            faulty_block()
        ),
        dir.path(),
    );
    let http = reqwest::Client::new();
    client().block_on(async {
        // Two outputs at once: the first instance made waits in the plugin's `new`.
        let create = |id: &'static str| {
            tokio::spawn(
                http.post(format!("{base}/v1/outputs"))
                    .json(&serde_json::json!({ "id": id }))
                    .send(),
            )
        };
        let (mut a, mut b) = (create("a"), create("b"));
        let first = tokio::time::timeout(ANSWER, async {
            tokio::select! {
                r = &mut a => ("a", r),
                r = &mut b => ("b", r),
            }
        })
        .await
        .expect("one output is created while the other waits in its plugin's `new`");
        assert_eq!(first.1.unwrap().unwrap().status().as_u16(), 201);
        let list = still_answers(&http, &base).await;
        let ids: Vec<&str> = list["outputs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, [first.0], "only the one not held: {list}");
        std::fs::write(&gate, "").unwrap();
        let other = if first.0 == "a" { b } else { a };
        let other = tokio::time::timeout(ANSWER, other).await.unwrap().unwrap();
        assert_eq!(other.unwrap().status().as_u16(), 201);
        assert_eq!(
            still_answers(&http, &base).await["outputs"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
    });
    server_rt.block_on(server.shutdown()).unwrap();
}
