//! Test fixture: panics where its configuration says (`when = "audio"`, the default:
//! on its first `Audio` event, and again in its destructor; `when = "new"`: while starting;
//! `when = "info"`: when asked what it is). The export macro must catch every one inside the
//! plugin; the host reports or detaches it and keeps playing.

use voxpace_sink_abi::{export_sink_plugin, Event, Host, Info, SinkPlugin};

/// Panics on purpose.
#[derive(Debug)]
pub struct FaultyPanic {
    in_info: bool,
}

impl SinkPlugin for FaultyPanic {
    const CONFIG_HELP: &'static str = "when = \"audio\"  # or \"new\" or \"info\": where to panic";

    fn new(config: &str) -> Result<Self, String> {
        let when = config
            .split_once('=')
            .map(|(_, v)| v.trim().trim_matches('"'))
            .unwrap_or("audio");
        match when {
            "new" => panic!("faulty-panic: deliberate panic while starting"),
            "info" => Ok(Self { in_info: true }),
            "audio" => Ok(Self { in_info: false }),
            other => Err(format!("when: unknown value {other:?}")),
        }
    }

    fn info(&self) -> Info {
        if self.in_info {
            panic!("faulty-panic: deliberate panic in info");
        }
        Info::new("faulty-panic")
    }

    fn handle(&mut self, event: Event<'_>, _host: &Host<'_>) -> Result<(), String> {
        if let Event::Audio { reply, .. } = event {
            panic!("faulty-panic: deliberate panic on audio of reply {reply}");
        }
        Ok(())
    }
}

impl Drop for FaultyPanic {
    fn drop(&mut self) {
        if !self.in_info && !std::thread::panicking() {
            panic!("faulty-panic: deliberate panic in drop");
        }
    }
}

export_sink_plugin!(FaultyPanic);
