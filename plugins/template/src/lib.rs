//! A voxpace sink plugin, ready to grow: copy this crate (`cargo xtask new-plugin NAME` does)
//! and replace the bodies. It builds and passes `voxpace plugin check` as it is.
//!
//! Configuration: the text the host passes through (the voxpace runtime passes the
//! plugin's `config` table as TOML). This template parses three keys by hand to stay
//! dependency-free; real plugins use `serde` + `toml` (see `plugins/avatar`).
//!
//! It shows both patterns a plugin may need:
//! - **paced** (the default): each frame's speech arrives as it plays, with its `pts`;
//! - **owning + ahead** (`owns_playback = true`, `ahead_ms = 300`): an avatar service that
//!   publishes the audio itself gets it up to `ahead_ms` early, plays each sample at its
//!   due time ([`Host::playout`]) and tells the host how much of each reply played: the
//!   whole reply on `ReplyEnded` (which arrives when its last sample is due), or, on
//!   `Interrupted`, the position where the host's output fell silent.
//!
//! Errors (ABI 1.3): [`SinkPlugin::handle_event`] returns a [`SinkError`] whose kind tells
//! the host what to do: [`SinkError::retry`] (a transient failure: the host hands the same
//! event again a few times), [`SinkError::skip_reply`] (give up on this reply, carry on
//! with the next), [`SinkError::skip_event`] (this event only) or [`SinkError::fatal`]
//! (detach the plugin). A plain `String` error converts to fatal.

use std::time::Duration;

use voxpace_sink_abi::{
    export_sink_plugin, Delivery, Event, Host, Info, Playout, SinkError, SinkPlugin, StreamFormat,
};

/// The plugin's state.
#[derive(Debug)]
pub struct Template {
    name: String,
    owns_playback: bool,
    ahead: Option<Duration>,
    format: Option<StreamFormat>,
    /// The reply being received, how many samples (per channel) of it arrived, and
    /// whether its playback was reported.
    reply: u64,
    received: u64,
    reported: bool,
    /// When the newest audio is due to play (a real plugin schedules it for then).
    due: Option<Playout>,
    paused: bool,
}

impl SinkPlugin for Template {
    const CONFIG_HELP: &'static str = "\
name = \"template\"     # optional: the sink's name in logs
owns_playback = false # optional: true when the plugin publishes the audio itself
ahead_ms = 0          # optional: > 0 asks for audio up to this much ahead of play-out";

    fn new(config: &str) -> Result<Self, String> {
        let mut plugin = Self {
            name: "template".to_owned(),
            owns_playback: false,
            ahead: None,
            format: None,
            reply: 0,
            received: 0,
            reported: false,
            due: None,
            paused: false,
        };
        for line in config.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let (key, value) = line
                .split_once('=')
                .map(|(k, v)| (k.trim(), v.trim()))
                .ok_or_else(|| format!("expected key = value, got {line:?}"))?;
            match key {
                "name" => plugin.name = value.trim_matches('"').to_owned(),
                "owns_playback" => {
                    plugin.owns_playback = value.parse().map_err(|_| {
                        format!("owns_playback: expected true or false, got {value}")
                    })?
                }
                "ahead_ms" => {
                    let ms: u64 = value
                        .parse()
                        .map_err(|_| format!("ahead_ms: expected milliseconds, got {value}"))?;
                    plugin.ahead = (ms > 0).then(|| Duration::from_millis(ms));
                }
                _ => {
                    return Err(format!(
                        "unknown setting {key:?} (expected name, owns_playback, ahead_ms)"
                    ))
                }
            }
        }
        Ok(plugin)
    }

    fn info(&self) -> Info {
        // Paced by default, 1 s queue, the host plays the audio. See `Info` for the options.
        let delivery = match self.ahead {
            None => Delivery::Paced,
            Some(max_lead) => Delivery::Ahead { max_lead },
        };
        Info::new(self.name.clone())
            .delivery(delivery)
            .owns_playback(self.owns_playback)
    }

    fn handle_event(&mut self, event: Event<'_>, host: &Host<'_>) -> Result<(), SinkError> {
        match event {
            Event::Start { format } => {
                if format.channels == 0 {
                    // Nothing after this can work: detach (any `String` error does too).
                    return Err(SinkError::fatal("a stream without channels"));
                }
                self.format = Some(format);
            }
            Event::ReplyStarted { reply } => {
                (self.reply, self.received, self.reported) = (reply, 0, false);
            }
            Event::Audio { samples, .. } => {
                let channels = self.format.map_or(1, |f| f.channels.max(1)) as u64;
                // Do the real work here: this runs on the plugin's own thread, so it may
                // take time, but it should keep up with real time on average. A plugin
                // that plays the audio itself plays it at `host.playout()`'s `due`. When a
                // device or service is briefly busy, `Err(SinkError::retry(..))` gets the
                // same audio again; when this reply cannot be played any more,
                // `Err(SinkError::skip_reply(..))` skips the rest of it.
                self.received += samples.len() as u64 / channels;
                self.due = host.playout();
            }
            Event::ReplyEnded { reply, interrupted } => {
                // The reply's last sample is due now (for ahead delivery too).
                let played = host.playout().map_or(self.received, |p| p.offset);
                self.report(host, reply, played, interrupted);
            }
            Event::Interrupted { reply } => {
                // Drop anything queued for playback and stop at once. The host says where
                // its output fell silent; audio received ahead beyond it never played.
                let played = host
                    .playout()
                    .filter(|p| p.reply == self.reply)
                    .map_or(self.received, |p| p.offset);
                if self.reply <= reply {
                    self.report(host, self.reply, played, true);
                }
            }
            Event::Paused => self.paused = true,
            Event::Resumed => self.paused = false,
            Event::Stop => {
                // Flush and close whatever the plugin opened.
            }
            // Events added in later minor versions of the ABI.
            _ => {}
        }
        Ok(())
    }
}

impl Template {
    /// Owning plugins report each reply once.
    fn report(&mut self, host: &Host<'_>, reply: u64, played: u64, interrupted: bool) {
        if self.owns_playback && reply == self.reply && !std::mem::replace(&mut self.reported, true)
        {
            host.report_playback(reply, played, interrupted);
        }
    }
}

export_sink_plugin!(Template);
