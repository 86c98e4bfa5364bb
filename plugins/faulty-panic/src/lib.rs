//! Test fixture: panics on its first `Audio` event, and again in its destructor. The export
//! macro must catch both inside the plugin; the host detaches it and keeps playing.

use voxpace_sink_abi::{export_sink_plugin, Event, Host, Info, SinkPlugin};

/// Panics when it receives speech.
#[derive(Debug)]
pub struct FaultyPanic;

impl SinkPlugin for FaultyPanic {
    fn new(_config: &str) -> Result<Self, String> {
        Ok(Self)
    }

    fn info(&self) -> Info {
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
        if !std::thread::panicking() {
            panic!("faulty-panic: deliberate panic in drop");
        }
    }
}

export_sink_plugin!(FaultyPanic);
