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
    /// Print a commented example configuration.
    Example,
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
    use tracing_subscriber::EnvFilter;
    let filter = match &cli.log {
        Some(f) => EnvFilter::new(f),
        // symphonia logs what its typed errors (reported by voxpace) already say.
        None => EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| EnvFilter::new("info,symphonia_core=off,symphonia=off")),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().with_current_span(true).init(),
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
        Command::Config(ConfigCommand::Example) => {
            say(voxpace_runtime::config::EXAMPLE.trim_end());
            Ok(())
        }
        Command::Config(ConfigCommand::Check { file, deep }) => {
            use voxpace_runtime::check::{check_config, Depth};
            let config = Config::load(&file)?;
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
            voxpace_runtime::check::deep_check(&config)?;
            if let Some(listen) = args.listen {
                config.server.listen = listen;
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
