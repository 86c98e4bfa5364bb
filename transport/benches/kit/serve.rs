//! `voxpace serve` as a child process: a release binary started with a given configuration
//! on a free loopback port, stopped by its pid (SIGTERM, then SIGKILL), its stderr kept.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use voxpace_test_kit::process::{listening, Listening};

/// A running `voxpace serve`.
#[derive(Debug)]
pub struct Serve {
    server: Listening,
    dir: PathBuf,
}

/// The workspace's target directory (`CARGO_TARGET_DIR`, else `<workspace>/target`).
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target"))
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("transport/ is inside the workspace")
        .to_path_buf()
}

/// The release `voxpace` this workspace builds (`cargo build --release -p voxpace-runtime
/// --features webrtc`; `cargo xtask bench` builds it), or `VOXPACE_SERVE_BIN`.
pub fn release_binary() -> PathBuf {
    std::env::var_os("VOXPACE_SERVE_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| target_dir().join("release/voxpace"))
}

/// A file of `runtime/assets` (e.g. `music.wav`), by absolute path for a configuration.
pub fn asset(name: &str) -> PathBuf {
    workspace().join("runtime/assets").join(name)
}

impl Serve {
    /// Start `binary serve --listen 127.0.0.1:0 --config <config>` (the text is written to a
    /// file of its own) and wait until it names its address.
    pub fn start(binary: &Path, config: &str) -> Serve {
        static RUN: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "voxpace-bench-serve-{}-{}",
            std::process::id(),
            RUN.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("a directory for the configuration");
        let file = dir.join("serve.toml");
        std::fs::write(&file, config).expect("writing the configuration");
        assert!(
            binary.exists(),
            "{} does not exist: build it with `cargo build --release -p voxpace-runtime \
             --features webrtc` (cargo xtask bench does)",
            binary.display()
        );
        let mut command = Command::new(binary);
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--config"])
            .arg(&file);
        Serve {
            server: listening(command),
            dir,
        }
    }

    /// Its process id (for [`super::CpuMeter`] and `perf record -p`).
    pub fn pid(&self) -> u32 {
        self.server.child.id()
    }

    /// Its base URL, `http://127.0.0.1:PORT`.
    pub fn base(&self) -> &str {
        &self.server.base
    }

    /// The WHEP endpoint of `output`.
    pub fn whep_url(&self, output: &str) -> String {
        format!("{}/whep/{output}", self.server.base)
    }

    /// Stop it by its pid (SIGTERM, SIGKILL after 10 s) and return what it wrote to stderr.
    pub fn stop(mut self) -> Vec<String> {
        self.server.terminate();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while matches!(self.server.child.try_wait(), Ok(None))
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(50));
        }
        if matches!(self.server.child.try_wait(), Ok(None)) {
            let _ = self.server.child.kill();
            let _ = self.server.child.wait();
        }
        self.server.log()
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        // The child itself is killed by `Listening`'s drop if it still runs.
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
