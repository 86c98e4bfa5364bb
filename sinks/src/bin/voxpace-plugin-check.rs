//! `voxpace-plugin-check PATH [--config TEXT | --config-file FILE]`: load a sink plugin, print
//! its metadata, run it through a scripted conversation and list every problem. Exits 1
//! when a problem was found, 2 on bad usage.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;

const USAGE: &str = "usage: voxpace-plugin-check PATH [--config TEXT | --config-file FILE]

Loads the sink plugin at PATH, prints what it declares, attaches it to a real track and runs
it through a scripted conversation at real time (a complete reply; a reply paused, resumed
and interrupted; a detach), then lists every problem found. Exits 1 when it found one.";

fn main() -> anyhow::Result<ExitCode> {
    let mut args = std::env::args().skip(1);
    let mut path = None;
    let mut config = String::new();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--config" => config = args.next().context(USAGE)?,
            "--config-file" => {
                let file = PathBuf::from(args.next().context(USAGE)?);
                config = std::fs::read_to_string(&file)
                    .with_context(|| format!("{}: cannot read", file.display()))?;
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(ExitCode::SUCCESS);
            }
            _ if path.is_none() && !arg.starts_with('-') => path = Some(PathBuf::from(arg)),
            other => {
                eprintln!("unexpected argument {other:?}\n{USAGE}");
                return Ok(ExitCode::from(2));
            }
        }
    }
    let Some(path) = path else {
        eprintln!("{USAGE}");
        return Ok(ExitCode::from(2));
    };
    let report = voxpace_sinks::check_plugin(&path, &config);
    print!("{report}");
    Ok(if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
