//! Speaker: plays the speech on a local audio output device through cpal (ALSA on Linux).
//!
//! The plugin's worker thread (where `handle` runs) only copies samples into a lock-free
//! ring; the device's own callback thread pulls from it, plays silence while paused or when
//! the ring runs dry, and empties it at once on an interrupt.
//!
//! On a headless machine, point ALSA's `default` device at a file and this is still a real
//! device path (see `tests/speaker.rs` in `voxpace-sinks`):
//!
//! ```text
//! # ~/.asoundrc
//! pcm.!default { type file; slave.pcm "null"; file "/tmp/played.wav"; format "wav" }
//! ```
//!
//! Configuration (TOML):
//! ```toml
//! device = "default"   # optional: an output device id or name; "default" is the system default
//! buffer_ms = 500      # optional: audio held between the plugin and the device
//! ```

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use serde::Deserialize;
use voxpace_sink_abi::{export_sink_plugin, Event, Host, Info, SinkPlugin, StreamFormat};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    #[serde(default = "default_device")]
    device: String,
    #[serde(default = "default_buffer")]
    buffer_ms: u64,
}

fn default_device() -> String {
    "default".to_owned()
}

fn default_buffer() -> u64 {
    500
}

/// Flags the worker sets and the device callback reads.
#[derive(Debug, Default)]
struct Control {
    paused: AtomicBool,
    /// Interrupt: the callback drops everything in the ring.
    flush: AtomicBool,
    /// Samples (interleaved) the callback handed to the device.
    played: AtomicU64,
    /// A stream error the device reported, for the next `handle` to return.
    error: Mutex<Option<String>>,
}

struct Output {
    ring: rtrb::Producer<i16>,
    // Held for its side effect: dropping it stops the device.
    _stream: cpal::Stream,
    format: StreamFormat,
}

/// The speaker plugin.
pub struct Speaker {
    device: String,
    buffer: Duration,
    control: Arc<Control>,
    output: Option<Output>,
    /// Samples that did not fit in the ring (the device is slower than real time).
    dropped: u64,
}

impl std::fmt::Debug for Speaker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Speaker")
            .field("device", &self.device)
            .field("open", &self.output.is_some())
            .field("dropped", &self.dropped)
            .finish()
    }
}

impl SinkPlugin for Speaker {
    const CONFIG_HELP: &'static str = "\
device = \"default\"  # output device id or name (\"default\": the system default)
buffer_ms = 500     # audio held between the plugin and the device";

    fn new(config: &str) -> Result<Self, String> {
        let config: Config = toml::from_str(config).map_err(|e| e.message().to_owned())?;
        if !(20..=10_000).contains(&config.buffer_ms) {
            return Err(format!(
                "buffer_ms: {} is out of range (20 to 10000)",
                config.buffer_ms
            ));
        }
        // Fail now, with the device name, rather than at the first reply.
        find_device(&config.device)?;
        Ok(Self {
            device: config.device,
            buffer: Duration::from_millis(config.buffer_ms),
            control: Arc::default(),
            output: None,
            dropped: 0,
        })
    }

    fn info(&self) -> Info {
        Info::new("speaker")
    }

    fn handle(&mut self, event: Event<'_>, _host: &Host<'_>) -> Result<(), String> {
        if let Some(e) = self.control.error.lock().ok().and_then(|mut e| e.take()) {
            return Err(format!("device {}: {e}", self.device));
        }
        match event {
            Event::Start { format } => self.open(format)?,
            Event::Audio { samples, .. } => {
                let out = self.output.as_mut().ok_or("audio before start")?;
                let fits = out.ring.slots().min(samples.len());
                if let Ok(chunk) = out.ring.write_chunk_uninit(fits) {
                    chunk.fill_from_iter(samples[..fits].iter().copied());
                }
                self.dropped += (samples.len() - fits) as u64;
            }
            Event::Interrupted { .. } => self.control.flush.store(true, Ordering::Release),
            Event::Paused => self.control.paused.store(true, Ordering::Release),
            Event::Resumed => self.control.paused.store(false, Ordering::Release),
            Event::Stop => self.close(),
            _ => {}
        }
        Ok(())
    }
}

impl Speaker {
    fn open(&mut self, format: StreamFormat) -> Result<(), String> {
        let device = find_device(&self.device)?;
        let config = cpal::StreamConfig {
            channels: format.channels,
            sample_rate: format.sample_rate,
            buffer_size: cpal::BufferSize::Default,
        };
        let values = format.samples_in_ms(self.buffer.as_millis() as u64) as usize
            * format.channels as usize;
        let (producer, mut consumer) = rtrb::RingBuffer::<i16>::new(values.max(1));
        let control = self.control.clone();
        let errors = self.control.clone();
        let stream = device
            .build_output_stream::<i16, _, _>(
                config,
                move |out: &mut [i16], _| {
                    if control.flush.swap(false, Ordering::AcqRel) {
                        let n = consumer.slots();
                        if let Ok(chunk) = consumer.read_chunk(n) {
                            chunk.commit_all();
                        }
                    }
                    let mut filled = 0;
                    if !control.paused.load(Ordering::Acquire) {
                        let n = consumer.slots().min(out.len());
                        if let Ok(chunk) = consumer.read_chunk(n) {
                            let (a, b) = chunk.as_slices();
                            out[..a.len()].copy_from_slice(a);
                            out[a.len()..a.len() + b.len()].copy_from_slice(b);
                            chunk.commit_all();
                            filled = n;
                        }
                    }
                    out[filled..].fill(0);
                    control.played.fetch_add(filled as u64, Ordering::Relaxed);
                },
                move |e| {
                    if let Ok(mut slot) = errors.error.lock() {
                        slot.get_or_insert_with(|| e.to_string());
                    }
                },
                None,
            )
            .map_err(|e| {
                format!(
                    "device {}: cannot play {} Hz, {} channel(s): {e}",
                    self.device, format.sample_rate, format.channels
                )
            })?;
        stream
            .play()
            .map_err(|e| format!("device {}: cannot start: {e}", self.device))?;
        self.output = Some(Output {
            ring: producer,
            _stream: stream,
            format,
        });
        Ok(())
    }

    /// Let the device play out what it holds (bounded by the buffer length), then close.
    fn close(&mut self) {
        if let Some(out) = self.output.take() {
            let held = Duration::from_secs_f64(
                (out.ring.buffer().capacity() - out.ring.slots()) as f64
                    / (out.format.sample_rate as f64 * out.format.channels.max(1) as f64),
            );
            let deadline = Instant::now() + held + Duration::from_millis(200);
            while out.ring.slots() < out.ring.buffer().capacity() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            // A little more for the device's own buffer.
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn find_device(name: &str) -> Result<cpal::Device, String> {
    let host = cpal::default_host();
    if name == "default" {
        return host
            .default_output_device()
            .ok_or_else(|| "device: there is no default output device".to_owned());
    }
    let devices = host
        .output_devices()
        .map_err(|e| format!("device: cannot list output devices: {e}"))?;
    let mut seen = Vec::new();
    for device in devices {
        let id = device.id().map(|i| i.to_string()).unwrap_or_default();
        if id == name {
            return Ok(device);
        }
        seen.push(id);
    }
    Err(format!(
        "device: no output device {name:?} (available: {})",
        seen.join(", ")
    ))
}

export_sink_plugin!(Speaker);
