//! Test fixture: on its first `Audio` event it blocks for an hour (a hung device, a dead
//! socket). Its queue fills and its audio is dropped; the track and other sinks go on.
//! With `owns_playback = true` it stands for an avatar service that hangs: it never reports
//! playback, so the host must end its replies by timeout with an estimated position.
//! With `hold_first_new_until = "PATH"` it stands for a device that is slow to open: the
//! first instance made in the process waits in `new` until PATH exists (at most a minute);
//! later ones are made at once.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use voxpace_sink_abi::{export_sink_plugin, Event, Host, Info, SinkPlugin};

/// Blocks when it receives speech.
#[derive(Debug)]
pub struct FaultyBlock {
    owns_playback: bool,
}

impl SinkPlugin for FaultyBlock {
    const CONFIG_HELP: &'static str = "owns_playback = false  # true: claim to publish the audio\n\
         hold_first_new_until = \"PATH\"  # the first instance waits for PATH to exist";

    fn new(config: &str) -> Result<Self, String> {
        let mut owns_playback = false;
        let mut hold_until = None;
        for line in config.lines().filter(|l| !l.trim().is_empty()) {
            match line.split_once('=').map(|(k, v)| (k.trim(), v.trim())) {
                Some(("owns_playback", v)) => owns_playback = v == "true",
                Some(("hold_first_new_until", v)) => {
                    hold_until = Some(PathBuf::from(v.trim_matches('"')));
                }
                _ => return Err(format!("unknown setting {line:?}")),
            }
        }
        static FIRST_MADE: AtomicBool = AtomicBool::new(false);
        if let Some(path) = hold_until {
            if !FIRST_MADE.swap(true, Ordering::AcqRel) {
                let give_up = Instant::now() + Duration::from_secs(60);
                while !path.exists() && Instant::now() < give_up {
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        }
        Ok(Self { owns_playback })
    }

    fn info(&self) -> Info {
        // A small queue, so it fills quickly.
        Info::new("faulty-block")
            .queue(Duration::from_millis(100))
            .owns_playback(self.owns_playback)
    }

    fn handle(&mut self, event: Event<'_>, _host: &Host<'_>) -> Result<(), String> {
        if let Event::Audio { .. } = event {
            std::thread::sleep(Duration::from_secs(3600));
        }
        Ok(())
    }
}

export_sink_plugin!(FaultyBlock);
