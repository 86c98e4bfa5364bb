//! # Avatar: a lip-sync sink plugin (the example to copy)
//!
//! Derives a lip-sync track from the agent's speech: for every frame of speech, how far the
//! mouth is open and a coarse mouth shape ([`analysis::Viseme`]), from the frame's energy
//! and spectrum. Each frame is stamped with the `pts` the host gave it, so a renderer that
//! follows the track's clock shows the mouth in sync with what the listener hears. It
//! honours interrupts (nothing of an interrupted reply is written after the interrupt) and
//! pauses, and writes JSON lines a renderer can tail:
//!
//! ```text
//! {"type":"start","sample_rate":24000,"channels":1,"frame_ms":20}
//! {"type":"reply_started","reply":1}
//! {"type":"frame","reply":1,"offset":0,"pts":1440,"time_ms":60.0,"reply_ms":0.0,"lead_ms":0.0,"open":0.42,"viseme":"open","level_db":-18.3,"centroid_hz":512.0}
//! {"type":"reply_ended","reply":1,"interrupted":false,"samples":9600}
//! {"type":"interrupted","reply":2}
//! {"type":"paused"} / {"type":"resumed"} / {"type":"stop"}
//! ```
//!
//! With `delivery = "ahead"` the speech arrives before it is played (up to `max_lead_ms`),
//! which gives a renderer lookahead. Every frame still carries the `pts` and `time_ms` at
//! which it plays ([`Host::playout`]: for ahead audio, when it is scheduled to play), so a
//! renderer holds each mouth shape until its time; `lead_ms` says how long before that time
//! the frame's first sample arrived ([`Host::now`]: 0 when paced, up to `max_lead_ms`
//! ahead).
//!
//! With `owns_playback = true` the avatar stands for a service that publishes the audio
//! itself, playing each sample at its due time: the host silences its own output and this
//! plugin reports each reply's played position ([`Host::report_playback`]) at the right
//! moment, which the host's events give it:
//! - `ReplyEnded` arrives when the reply's last sample is due (for ahead delivery too, a
//!   whole lead after the last audio arrived): report the whole reply then;
//! - `Interrupted` says where the output fell silent ([`Host::playout`]`.offset`, the fade
//!   included), even when the interrupt comes while audio delivered ahead is still
//!   unplayed: report that position, not what was received.
//!
//! Nothing here reads a clock, so on `voxpace render`'s virtual clock the file is the same
//! on every run.
//!
//! Configuration (TOML, see [`Avatar::CONFIG_HELP`]):
//! ```toml
//! path = "lipsync.jsonl"   # required: where to write
//! delivery = "paced"       # or "ahead"
//! max_lead_ms = 300        # ahead only
//! queue_ms = 2000
//! owns_playback = false
//! floor_db = -50.0         # closed at and below this level
//! ceil_db = -12.0          # fully open at and above this level
//! ```

pub mod analysis;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use voxpace_sink_abi::{export_sink_plugin, Delivery, Event, Host, Info, SinkPlugin, StreamFormat};

use analysis::{LipSync, Mouth, Tuning};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    path: PathBuf,
    #[serde(default)]
    delivery: DeliveryName,
    #[serde(default = "default_lead")]
    max_lead_ms: u64,
    #[serde(default = "default_queue")]
    queue_ms: u64,
    #[serde(default)]
    owns_playback: bool,
    #[serde(default)]
    floor_db: Option<f32>,
    #[serde(default)]
    ceil_db: Option<f32>,
}

#[derive(Debug, Default, Deserialize, PartialEq, Eq, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum DeliveryName {
    #[default]
    Paced,
    Ahead,
}

fn default_lead() -> u64 {
    300
}

fn default_queue() -> u64 {
    2000
}

/// One line of the output.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Record {
    Start {
        sample_rate: u32,
        channels: u16,
        frame_ms: u32,
    },
    ReplyStarted {
        reply: u64,
    },
    Frame {
        reply: u64,
        /// Reply position of the frame's first sample, in samples per channel.
        offset: u64,
        /// Track time of the frame's first sample (samples per channel): when it plays
        /// (scheduled, for ahead delivery); null only from hosts older than ABI 1.2 when
        /// ahead.
        pts: Option<u64>,
        /// Its due time on the host's play-out clock, in milliseconds.
        time_ms: Option<f64>,
        /// `offset` in milliseconds.
        reply_ms: f64,
        /// How long before `time_ms` the frame's first sample arrived (ABI 1.2 hosts).
        #[serde(skip_serializing_if = "Option::is_none")]
        lead_ms: Option<f64>,
        #[serde(flatten)]
        mouth: Mouth,
    },
    ReplyEnded {
        reply: u64,
        interrupted: bool,
        samples: u64,
    },
    Interrupted {
        reply: u64,
    },
    Paused,
    Resumed,
    Stop,
}

/// The reply being analysed.
#[derive(Debug)]
struct Current {
    reply: u64,
    /// Samples (per channel) received so far.
    received: u64,
    /// Interleaved samples of the incomplete frame, and where it starts.
    pending: Vec<i16>,
    pending_offset: u64,
    pending_pts: Option<u64>,
    pending_due: Option<Duration>,
    /// How far ahead of its due time the pending frame's first sample arrived.
    pending_lead: Option<Duration>,
    reported: bool,
}

/// The avatar plugin.
#[derive(Debug)]
pub struct Avatar {
    path: PathBuf,
    out: BufWriter<File>,
    info: Info,
    tuning: Tuning,
    format: Option<StreamFormat>,
    lips: Option<LipSync>,
    current: Option<Current>,
    /// Replies up to this id were interrupted: their audio is ignored if any still arrives.
    interrupted_through: u64,
}

impl SinkPlugin for Avatar {
    const CONFIG_HELP: &'static str = "\
path = \"lipsync.jsonl\"  # required: the JSON lines file to write
delivery = \"paced\"      # \"paced\" (frames carry pts) or \"ahead\" (lookahead)
max_lead_ms = 300       # ahead: how far ahead of play-out audio may arrive
queue_ms = 2000         # how much audio the host queues for the avatar
owns_playback = false   # true: the avatar publishes the audio and reports playback
floor_db = -50.0        # mouth closed at and below this level (dBFS)
ceil_db = -12.0         # mouth fully open at and above this level (dBFS)";

    fn new(config: &str) -> Result<Self, String> {
        let config: Config = toml::from_str(config).map_err(|e| e.message().to_owned())?;
        let mut tuning = Tuning::default();
        tuning.floor_db = config.floor_db.unwrap_or(tuning.floor_db);
        tuning.ceil_db = config.ceil_db.unwrap_or(tuning.ceil_db);
        if tuning.ceil_db <= tuning.floor_db {
            return Err(format!(
                "ceil_db ({}) must be above floor_db ({})",
                tuning.ceil_db, tuning.floor_db
            ));
        }
        let file = File::create(&config.path)
            .map_err(|e| format!("path: cannot create {}: {e}", config.path.display()))?;
        let delivery = match config.delivery {
            DeliveryName::Paced => Delivery::Paced,
            DeliveryName::Ahead => Delivery::Ahead {
                max_lead: Duration::from_millis(config.max_lead_ms),
            },
        };
        let info = Info::new("avatar")
            .delivery(delivery)
            .queue(Duration::from_millis(config.queue_ms))
            .owns_playback(config.owns_playback);
        Ok(Self {
            path: config.path,
            out: BufWriter::new(file),
            info,
            tuning,
            format: None,
            lips: None,
            current: None,
            interrupted_through: 0,
        })
    }

    fn info(&self) -> Info {
        self.info.clone()
    }

    fn handle(&mut self, event: Event<'_>, host: &Host<'_>) -> Result<(), String> {
        match event {
            Event::Start { format } => {
                self.format = Some(format);
                self.lips = Some(LipSync::new(format.sample_rate, self.tuning));
                self.write(&Record::Start {
                    sample_rate: format.sample_rate,
                    channels: format.channels,
                    frame_ms: format.frame_ms,
                })?;
            }
            Event::ReplyStarted { reply } => {
                self.begin(reply);
                self.write(&Record::ReplyStarted { reply })?;
            }
            Event::Audio {
                reply,
                offset,
                pts,
                samples,
            } => {
                // ABI 1.2 hosts say when the audio plays, for ahead delivery too.
                let playout = host.playout();
                let pts = playout.map(|p| p.pts).or(pts);
                let due = playout.map(|p| p.due);
                let now = host.now().map(|n| n.due);
                self.audio(reply, offset, pts, due, now, samples)?
            }
            Event::ReplyEnded { reply, interrupted } => {
                if !interrupted {
                    self.flush_partial()?;
                }
                let received = self.received(reply);
                // Its last sample is due now: everything that played is final.
                let played = host.playout().map_or(received, |p| p.offset);
                self.report(host, reply, played, interrupted);
                if let Some(lips) = &mut self.lips {
                    lips.reset();
                }
                self.current = None;
                self.write(&Record::ReplyEnded {
                    reply,
                    interrupted,
                    samples: received,
                })?;
            }
            Event::Interrupted { reply } => {
                // Barge-in: drop the incomplete frame, close the mouth, report where
                // playback stopped (owning avatars), and ignore any late audio.
                self.interrupted_through = self.interrupted_through.max(reply);
                if let Some(current) = self.current.as_mut().filter(|c| c.reply <= reply) {
                    current.pending.clear();
                    let (id, received) = (current.reply, current.received);
                    // Where the output fell silent, however much was delivered ahead.
                    let played = host
                        .playout()
                        .filter(|p| p.reply == id)
                        .map_or(received, |p| p.offset.min(received));
                    self.report(host, id, played, true);
                }
                if let Some(lips) = &mut self.lips {
                    lips.reset();
                }
                self.write(&Record::Interrupted { reply })?;
            }
            Event::Paused => self.write(&Record::Paused)?,
            Event::Resumed => self.write(&Record::Resumed)?,
            Event::Stop => {
                self.write(&Record::Stop)?;
            }
            _ => {}
        }
        // Renderers tail the file: make every event visible at once.
        self.out
            .flush()
            .map_err(|e| format!("{}: {e}", self.path.display()))
    }
}

impl Avatar {
    fn begin(&mut self, reply: u64) {
        let frame_len = self
            .format
            .map_or(0, |f| f.frame_samples as usize * f.channels as usize);
        self.current = Some(Current {
            reply,
            received: 0,
            pending: Vec::with_capacity(frame_len),
            pending_offset: 0,
            pending_pts: None,
            pending_due: None,
            pending_lead: None,
            reported: false,
        });
    }

    fn received(&self, reply: u64) -> u64 {
        self.current
            .as_ref()
            .filter(|c| c.reply == reply)
            .map_or(0, |c| c.received)
    }

    /// Cut the audio into frames of the stream's frame length (delivery may hand it over
    /// in other sizes) and write one record per complete frame.
    fn audio(
        &mut self,
        reply: u64,
        offset: u64,
        pts: Option<u64>,
        due: Option<Duration>,
        now: Option<Duration>,
        samples: &[i16],
    ) -> Result<(), String> {
        if reply <= self.interrupted_through {
            return Ok(());
        }
        let format = self.format.ok_or("audio before start")?;
        let channels = format.channels.max(1) as usize;
        if self.current.as_ref().is_none_or(|c| c.reply != reply) {
            self.begin(reply);
        }
        let frame_len = format.frame_samples as usize * channels;
        let mut rest = samples;
        let mut at = offset;
        while !rest.is_empty() {
            let current = self.current.as_mut().ok_or("no reply")?;
            if current.pending.is_empty() {
                current.pending_offset = at;
                current.pending_pts = pts.map(|p| p + (at - offset));
                let rate = u64::from(format.sample_rate.max(1));
                current.pending_due =
                    due.map(|d| d + Duration::from_nanos((at - offset) * 1_000_000_000 / rate));
                current.pending_lead = current
                    .pending_due
                    .zip(now)
                    .map(|(d, n)| d.saturating_sub(n));
            }
            let take = (frame_len - current.pending.len()).min(rest.len());
            current.pending.extend_from_slice(&rest[..take]);
            current.received += (take / channels) as u64;
            rest = &rest[take..];
            at += (take / channels) as u64;
            if current.pending.len() == frame_len {
                self.emit_pending()?;
            }
        }
        Ok(())
    }

    fn flush_partial(&mut self) -> Result<(), String> {
        if self.current.as_ref().is_some_and(|c| !c.pending.is_empty()) {
            self.emit_pending()?;
        }
        Ok(())
    }

    fn emit_pending(&mut self) -> Result<(), String> {
        let (Some(format), Some(lips), Some(current)) =
            (self.format, self.lips.as_mut(), self.current.as_mut())
        else {
            return Ok(());
        };
        let mouth = lips.frame(&current.pending, format.channels as usize);
        let rate = format.sample_rate as f64;
        let record = Record::Frame {
            reply: current.reply,
            offset: current.pending_offset,
            pts: current.pending_pts,
            time_ms: current
                .pending_due
                .map(|d| d.as_secs_f64() * 1000.0)
                .or_else(|| current.pending_pts.map(|p| p as f64 * 1000.0 / rate)),
            reply_ms: current.pending_offset as f64 * 1000.0 / rate,
            lead_ms: current.pending_lead.map(|l| l.as_secs_f64() * 1000.0),
            mouth,
        };
        current.pending.clear();
        self.write(&record)
    }

    /// Owning avatars report how much of `reply` they played, once per reply.
    fn report(&mut self, host: &Host<'_>, reply: u64, played: u64, interrupted: bool) {
        if !self.info.owns_playback {
            return;
        }
        let Some(current) = self.current.as_mut().filter(|c| c.reply == reply) else {
            return;
        };
        if std::mem::replace(&mut current.reported, true) {
            return;
        }
        host.report_playback(reply, played, interrupted);
    }

    fn write(&mut self, record: &Record) -> Result<(), String> {
        serde_json::to_writer(&mut self.out, record)
            .and_then(|()| self.out.write_all(b"\n").map_err(serde_json::Error::io))
            .map_err(|e| format!("{}: {e}", self.path.display()))
    }
}

export_sink_plugin!(Avatar);
