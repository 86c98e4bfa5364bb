//! A server as a real child process (`voxpace serve`): started, its address read from the
//! first line it prints (`listening on URL`), stopped with SIGTERM as a service manager
//! stops it, its stderr kept for the test to read. A test that fails midway does not leave
//! it running: dropping it kills it.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A running server and where it listens.
#[derive(Debug)]
pub struct Listening {
    /// The process.
    pub child: Child,
    /// Its base URL, from `listening on URL`.
    pub base: String,
    stderr: Option<JoinHandle<Vec<String>>>,
}

/// Start `command` (stdout and stderr are taken over) and wait for its first line,
/// `listening on URL`; any other first line fails the test.
pub fn listening(mut command: Command) -> Listening {
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("starting {command:?}: {e}"));
    let stderr = child.stderr.take().expect("stderr is piped");
    // Read all along, so a chatty server never blocks on a full pipe.
    let stderr = std::thread::spawn(move || {
        BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
            .collect()
    });
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout is piped"))
        .read_line(&mut line)
        .expect("reading the server's first line");
    let mut served = Listening {
        child,
        base: String::new(),
        stderr: Some(stderr),
    };
    match line.trim().strip_prefix("listening on ") {
        Some(base) => served.base = base.to_string(),
        None => {
            let _ = served.child.kill();
            let _ = served.child.wait();
            panic!(
                "the first line names the address, not {line:?}; stderr:\n{}",
                served.log().join("\n")
            );
        }
    }
    served
}

impl Listening {
    /// Send SIGTERM (the graceful stop), without waiting.
    pub fn terminate(&self) {
        let kill = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(kill.success(), "kill -TERM {}", self.child.id());
    }

    /// Its exit status once it has exited, polled until `timeout` (then the test fails).
    pub fn exited_within(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the server did not exit within {timeout:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Everything it wrote to stderr, line by line (waits for the stream to close: call
    /// after it exited).
    pub fn log(&mut self) -> Vec<String> {
        self.stderr
            .take()
            .map(|t| t.join().expect("the stderr reader"))
            .unwrap_or_default()
    }
}

impl Drop for Listening {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
