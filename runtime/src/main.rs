//! `voxpace`: serve, render and check agent outputs. See `voxpace --help`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use voxpace_runtime::Config;

#[derive(Debug, Parser)]
#[command(
    name = "voxpace",
    version,
    about = "The audio output path of a realtime voice agent"
)]
struct Cli {
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// Log filter (tracing env-filter syntax); overrides RUST_LOG.
    #[arg(long, global = true)]
    log: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for machines.
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check or print configuration files.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Render a scripted conversation on the virtual clock (faster than real time).
    Render(RenderArgs),
    /// Run agent outputs: control API, event stream, WHEP listeners, web page.
    Serve(ServeArgs),
    /// Check sink plugins.
    #[command(subcommand)]
    Plugin(PluginCommand),
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Check a configuration file (keys, types, values, referenced files); start nothing.
    Check {
        /// The TOML file.
        file: PathBuf,
        /// Decode every audio file whole, however long (default: the first 10 minutes of
        /// each), and report where any breaks.
        #[arg(long)]
        deep: bool,
    },
    /// Print a commented example configuration (it checks wherever it is saved; its audio
    /// settings are commented out), or with --dir write the whole example and its audio.
    Example {
        /// Write `voxpace.toml` and the example audio into this folder instead of printing.
        #[arg(long)]
        dir: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum PluginCommand {
    /// Load a sink plugin, print what it declares (metadata, configuration keys, delivery,
    /// queue, ownership of playback), then attach it to a real track and run it through a
    /// scripted conversation at real time (about 4 s: a complete reply; a reply paused,
    /// resumed and interrupted; a detach). Lists every problem: load or configuration
    /// errors, errors or panics while handling, a `Stop` not handled within 2 s, audio
    /// dropped because its calls took longer than real time, reports of an owning plugin
    /// that never came. Exits non-zero when it found any.
    Check {
        /// The plugin's shared library.
        path: PathBuf,
        /// The plugin's configuration (TOML text, as in a `[sinks.config]` table).
        #[arg(long, default_value = "")]
        plugin_config: String,
    },
}

#[derive(Debug, clap::Args)]
struct RenderArgs {
    /// The agent-output configuration.
    #[arg(long)]
    config: PathBuf,
    /// The conversation script (TOML; example: runtime/assets/demo-script.toml).
    #[arg(long)]
    script: PathBuf,
    /// The mixed output WAV. The event log (`.events.jsonl`) and waveform (`.png`) are
    /// written next to it unless given.
    #[arg(long)]
    out: PathBuf,
    /// Event log path (JSON lines).
    #[arg(long)]
    events: Option<PathBuf>,
    /// Waveform picture path (PNG).
    #[arg(long)]
    png: Option<PathBuf>,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// The agent-output configuration.
    #[arg(long)]
    config: PathBuf,
    /// Override `server.listen` (e.g. 127.0.0.1:0 for a free port).
    #[arg(long)]
    listen: Option<std::net::SocketAddr>,
}

fn init_logging(cli: &Cli) {
    use tracing_subscriber::prelude::*;
    use tracing_subscriber::EnvFilter;
    let explicit = cli.log.clone().or_else(|| std::env::var("RUST_LOG").ok());
    let filter = match &explicit {
        Some(f) => EnvFilter::new(f),
        // symphonia logs what its typed errors (reported by voxpace) already say.
        None => EnvFilter::new("info,symphonia_core=off,symphonia=off"),
    };
    // An explicit filter shows everything it asks for, the benign warnings included.
    let quiet = explicit.is_none().then_some(BenignWarnings);
    let stack = tracing_subscriber::registry().with(filter).with(quiet);
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Text => stack.with(fmt).init(),
        LogFormat::Json => stack.with(fmt.json().with_current_span(true)).init(),
    }
}

/// Warnings the WebRTC stack (webrtc-rs' `rtc` crates, through the `log` facade) gives in
/// normal operation, about once a session: `(target, words in the message, why benign)`.
/// Dropped at the default log level; other warnings of those targets still show.
const BENIGN_WARNINGS: &[(&str, &str, &str)] = &[
    (
        "rtc_dtls::config",
        "conn.remote_addr is empty",
        "no DTLS server name: WebRTC authenticates the peer by its certificate fingerprint",
    ),
    (
        "rtc_ice::agent",
        "pingAllCandidates called with no candidate pairs",
        "the first check tick before the remote candidates are in",
    ),
    (
        "rtc::peer_connection::handler",
        "IceHandler.handle_read got error: password is empty",
        "a peer's check that arrives before its answer is applied; the peer retransmits it",
    ),
];

/// Drops [`BENIGN_WARNINGS`].
struct BenignWarnings;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for BenignWarnings {
    fn event_enabled(
        &self,
        event: &tracing::Event<'_>,
        _: tracing_subscriber::layer::Context<'_, S>,
    ) -> bool {
        if *event.metadata().level() != tracing::Level::WARN {
            return true;
        }
        let mut seen = Seen::default();
        event.record(&mut seen);
        let target = seen
            .log_target
            .as_deref()
            .unwrap_or(event.metadata().target());
        !BENIGN_WARNINGS
            .iter()
            .any(|(t, words, _)| *t == target && seen.message.contains(words))
    }
}

/// The message and, for `log` records, the original target of an event.
#[derive(Default)]
struct Seen {
    message: String,
    log_target: Option<String>,
}

impl tracing::field::Visit for Seen {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        match field.name() {
            "message" => self.message = value.to_owned(),
            "log.target" => self.log_target = Some(value.to_owned()),
            _ => {}
        }
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.message = format!("{value:?}");
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(&cli);
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// A line on stdout; a closed pipe (`| head`) is not an error worth a panic.
fn say(text: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout(), "{text}");
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Config(ConfigCommand::Example { dir: None }) => {
            say(voxpace_runtime::example::standalone().trim_end());
            Ok(())
        }
        Command::Config(ConfigCommand::Example { dir: Some(dir) }) => {
            let written = voxpace_runtime::example::write_to(&dir)?;
            for file in &written {
                say(&format!("wrote {}", file.display()));
            }
            say(&format!(
                "check it: voxpace config check {}",
                written[0].display()
            ));
            Ok(())
        }
        Command::Config(ConfigCommand::Check { file, deep }) => {
            use voxpace_runtime::check::{check_config, Depth};
            let config = Config::load(&file)?;
            config.require_webrtc()?;
            check_config(&config, if deep { Depth::Whole } else { Depth::Bounded })?;
            say(&format!(
                "{}: ok ({}, {} clip(s), {} sink(s){})",
                file.display(),
                config.format,
                config.clips.len(),
                config.sinks.len(),
                if config.background.is_some() {
                    ", background"
                } else {
                    ""
                }
            ));
            Ok(())
        }
        Command::Render(args) => {
            let config = Config::load(&args.config)?;
            voxpace_runtime::check::deep_check(&config)?;
            let script = voxpace_runtime::script::Script::load(&args.script)?;
            let out = voxpace_runtime::render::Outputs::beside(&args.out, args.events, args.png);
            let summary = voxpace_runtime::render::render(&config, &script, &out, !args.quiet)
                .with_context(|| format!("rendering {}", args.script.display()))?;
            say(&summary.to_string());
            Ok(())
        }
        Command::Serve(args) => {
            let mut config = Config::load(&args.config)?;
            config.require_webrtc()?;
            voxpace_runtime::check::deep_check(&config)?;
            if let Some(listen) = args.listen {
                config.override_listen(listen);
            }
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("starting the async runtime")?;
            rt.block_on(voxpace_runtime::serve::run(config))
        }
        Command::Plugin(PluginCommand::Check {
            path,
            plugin_config,
        }) => voxpace_runtime::check::plugin(&path, &plugin_config),
    }
}
