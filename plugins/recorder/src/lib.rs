//! Recorder: writes every speech sample it receives, in order, to a 16-bit PCM WAV file in
//! the stream's format. Interrupted audio is simply not delivered, so the file holds what
//! the host sent. The WAV header is completed on `Stop` (and on drop).
//!
//! With `marks`, it also writes every text mark it receives (ABI 1.2), in order, one JSON
//! object per line: `{"reply": 1, "offset": 0, "pts": 12000, "text": "Hello"}` (`offset`
//! in the reply and `pts` in samples per channel; `pts` is null for ahead delivery). The
//! file is what a caption track would show, in sync with the recorded speech.
//!
//! Configuration (TOML):
//! ```toml
//! path = "speech.wav"   # required; its directory must exist
//! marks = "speech.marks.jsonl"   # optional
//! ```

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use serde::Deserialize;
use voxpace_sink_abi::{export_sink_plugin, Event, Host, Info, SinkPlugin};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    path: PathBuf,
    marks: Option<PathBuf>,
}

/// The recorder plugin.
pub struct Recorder {
    path: PathBuf,
    writer: Option<hound::WavWriter<BufWriter<File>>>,
    marks_path: Option<PathBuf>,
    marks: Option<BufWriter<File>>,
}

impl SinkPlugin for Recorder {
    const CONFIG_HELP: &'static str = "path = \"speech.wav\"  # required: the WAV file to write\nmarks = \"speech.marks.jsonl\"  # optional: the text marks received, one JSON line each";

    fn new(config: &str) -> Result<Self, String> {
        let config: Config = toml::from_str(config).map_err(|e| e.to_string())?;
        let files = [
            ("path", Some(&config.path)),
            ("marks", config.marks.as_ref()),
        ];
        for (key, file) in files {
            let dir = file
                .and_then(|f| f.parent())
                .filter(|d| !d.as_os_str().is_empty());
            if let Some(dir) = dir.filter(|d| !d.is_dir()) {
                return Err(format!("{key}: directory {} does not exist", dir.display()));
            }
        }
        Ok(Self {
            path: config.path,
            writer: None,
            marks_path: config.marks,
            marks: None,
        })
    }

    fn info(&self) -> Info {
        Info::new("recorder")
    }

    fn handle(&mut self, event: Event<'_>, _host: &Host<'_>) -> Result<(), String> {
        match event {
            Event::Start { format } => {
                let spec = hound::WavSpec {
                    channels: format.channels,
                    sample_rate: format.sample_rate,
                    bits_per_sample: 16,
                    sample_format: hound::SampleFormat::Int,
                };
                let writer = hound::WavWriter::create(&self.path, spec)
                    .map_err(|e| format!("{}: {e}", self.path.display()))?;
                self.writer = Some(writer);
                if let Some(path) = &self.marks_path {
                    let file =
                        File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
                    self.marks = Some(BufWriter::new(file));
                }
            }
            Event::Text {
                reply,
                offset,
                pts,
                text,
            } => {
                if let (Some(marks), Some(path)) = (self.marks.as_mut(), &self.marks_path) {
                    let line = serde_json::json!({"reply": reply, "offset": offset, "pts": pts, "text": text});
                    writeln!(marks, "{line}").map_err(|e| format!("{}: {e}", path.display()))?;
                }
            }
            Event::Audio { samples, .. } => {
                let writer = self.writer.as_mut().ok_or("audio before start")?;
                let mut w = writer.get_i16_writer(samples.len() as u32);
                for &s in samples {
                    w.write_sample(s);
                }
                w.flush()
                    .map_err(|e| format!("{}: {e}", self.path.display()))?;
            }
            Event::Stop => {
                if let (Some(mut marks), Some(path)) = (self.marks.take(), &self.marks_path) {
                    marks
                        .flush()
                        .map_err(|e| format!("{}: {e}", path.display()))?;
                }
                if let Some(writer) = self.writer.take() {
                    writer
                        .finalize()
                        .map_err(|e| format!("{}: {e}", self.path.display()))?;
                }
            }
            _ => {}
        }
        Ok(())
    }
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("path", &self.path)
            .field("open", &self.writer.is_some())
            .finish()
    }
}

export_sink_plugin!(Recorder);
