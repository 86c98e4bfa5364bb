//! The integration matrix: every combination of track kind × format × speech input rate ×
//! sink × background file, run in-process through one scripted conversation on the virtual
//! clock and checked. `cargo xtask matrix` builds the plugins and runs it (the `matrix`
//! binary of this crate, release build).
//!
//! - [`cell`]: one cell: the track it builds, and the checks of its background and sinks.
//! - [`script`]: the conversation (push, pause, resume, interrupt, finish), frame by frame.
//! - [`check`]: what the output, events and played durations must be.
//! - [`probe`]: what each plugin was handed (the kit's recording sink in front of it).
//! - `voxpace_test_kit::signal`: the synthetic speech and the SNR / level measurements.
//!
//! Meaningless combinations are not generated: a plain track has neither background nor
//! sinks, an input rate equal to the track's rate is the "same" cell, and the speaker runs
//! with one background file rather than each (see [`speaker_background`]).

mod cell;
mod check;
mod probe;
mod script;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use voxpace_core::Format;
use voxpace_sinks::Plugin;

use cell::{Cell, Context, SinkKind};
use script::Input;

const HELP: &str = "\
cargo xtask matrix [--filter SUBSTR] [--jobs N] [--no-build] [--list] [--plugins DIR]

Builds every plugin in plugins/ as a cdylib, then runs every cell of
  track {plain, background, sinks, background+sinks}
  × format {16k mono, 24k mono, 48k mono, 48k stereo}
  × speech input rate {same as the track, 16k, 22.05k, 44.1k}
  × sink {recorder, avatar, speaker (ALSA routed to a file)}
  × background file {each tone_* fixture in sources/fixtures}
through one scripted conversation on the virtual clock and checks it. Prints a table and
exits non-zero if any cell fails.

  --filter SUBSTR  only cells whose name contains SUBSTR (e.g. `48k-stereo`, `/avatar/`)
  --jobs N         cells run in parallel (default: the number of cores)
  --no-build       use the plugins already built
  --list           print the cell names and exit
  --plugins DIR    where the plugin libraries are (default: the debug target directory)

The cells run in a release build of voxpace-tests' `matrix` binary (built on first use);
set XTASK_MATRIX_DEBUG=1 to run them in a debug build instead.
";

struct Options {
    filter: Option<String>,
    jobs: usize,
    list: bool,
    plugins: PathBuf,
}

fn parse(args: &[String]) -> Result<Option<Options>> {
    let mut o = Options {
        filter: None,
        jobs: std::thread::available_parallelism().map_or(2, |n| n.get()),
        list: false,
        plugins: debug_dir(),
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--filter" => o.filter = Some(it.next().context("--filter needs a value")?.clone()),
            "--jobs" => {
                o.jobs = it
                    .next()
                    .context("--jobs needs a value")?
                    .parse()
                    .context("--jobs: not a number")?;
            }
            "--plugins" => {
                o.plugins = PathBuf::from(it.next().context("--plugins needs a directory")?);
            }
            "--list" => o.list = true,
            "-h" | "--help" => {
                print!("{HELP}");
                return Ok(None);
            }
            other => bail!("matrix: unknown argument `{other}`\n\n{HELP}"),
        }
    }
    o.jobs = o.jobs.max(1);
    Ok(Some(o))
}

/// The background files: every `tone_*` fixture (one per supported container and sample
/// format); fixtures made to fail (truncated, corrupt, unsupported) are not music.
fn background_files() -> Result<Vec<PathBuf>> {
    let dir = root().join("sources/fixtures");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .with_context(|| format!("{}: cannot list", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("tone_"))
        })
        .collect();
    files.sort();
    Ok(files)
}

fn cells(backgrounds: &[PathBuf]) -> Result<Vec<Cell>> {
    let tracks = [
        ("plain", false, false),
        ("background", true, false),
        ("sinks", false, true),
        ("background+sinks", true, true),
    ];
    let formats = [(16_000, 1), (24_000, 1), (48_000, 1), (48_000, 2)];
    let mut out = Vec::new();
    for (track, with_bg, with_sinks) in tracks {
        for (rate, channels) in formats {
            let format = Format::new(rate, channels, 20)?;
            let mut inputs = vec![(Input { rate, channels }, true)];
            for r in [16_000, 22_050, 44_100] {
                if r != rate || channels != 1 {
                    inputs.push((
                        Input {
                            rate: r,
                            channels: 1,
                        },
                        false,
                    ));
                }
            }
            let sinks: &[SinkKind] = if with_sinks {
                &[SinkKind::Recorder, SinkKind::Avatar, SinkKind::Speaker]
            } else {
                &[SinkKind::None]
            };
            let bgs: Vec<Option<PathBuf>> = if with_bg {
                backgrounds.iter().cloned().map(Some).collect()
            } else {
                vec![None]
            };
            for (input, same_rate) in &inputs {
                for sink in sinks {
                    for bg in bgs
                        .iter()
                        .filter(|bg| speaker_background(*sink, bg, backgrounds))
                    {
                        out.push(Cell {
                            track,
                            format,
                            input: *input,
                            same_rate: *same_rate,
                            sink: *sink,
                            background: bg.clone(),
                        });
                    }
                }
            }
        }
    }
    Ok(out)
}

/// The speaker (real time, one at a time: ALSA's `default` is one file) runs with one
/// background file, not each: sinks receive the speech before the background is mixed in,
/// so the file cannot change what the speaker gets (the recorder cells prove that for every
/// file, sample for sample).
fn speaker_background(sink: SinkKind, bg: &Option<PathBuf>, all: &[PathBuf]) -> bool {
    let Some(bg) = bg else {
        return true;
    };
    if sink != SinkKind::Speaker {
        return true;
    }
    let representative = all
        .iter()
        .find(|p| p.extension().is_some_and(|e| e == "flac"))
        .or(all.first());
    Some(bg) == representative
}

/// The workspace root (the parent of `tests/`).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ lives in the workspace")
        .to_path_buf()
}

/// The debug build directory next to this binary's (`target/<profile>/matrix`), where
/// `cargo xtask matrix` builds the plugins.
fn debug_dir() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.join("debug")))
        .unwrap_or_else(|| root().join("target/debug"))
}

/// Where plugin `plugins/<name>`'s shared library is in `dir`.
fn plugin_library(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("libvoxpace_plugin_{}.so", name.replace('-', "_")))
}

/// Route ALSA's `default` device to a WAV file for the speaker plugin. Sets `HOME` for this
/// process (ALSA reads `~/.asoundrc`), so it runs before any thread starts.
fn route_alsa_to_file(tmp: &Path) -> Result<PathBuf> {
    let home = tmp.join("home");
    std::fs::create_dir_all(&home)?;
    let file = tmp.join("speaker.wav");
    std::fs::write(
        home.join(".asoundrc"),
        format!(
            "pcm.!default {{ type file; slave.pcm \"null\"; file \"{}\"; format \"wav\" }}\n",
            file.display()
        ),
    )?;
    std::env::set_var("HOME", &home);
    Ok(file)
}

/// Run the matrix with command-line `args` (see the help text); `Err` if any cell failed.
/// Call it before this process starts any thread (it sets `HOME` for ALSA).
pub fn run_matrix(args: &[String]) -> Result<()> {
    let Some(opts) = parse(args)? else {
        return Ok(());
    };
    let backgrounds = background_files()?;
    let mut all = cells(&backgrounds)?;
    if let Some(f) = &opts.filter {
        all.retain(|c| c.name().contains(f.as_str()));
    }
    if opts.list {
        for c in &all {
            println!("{}", c.name());
        }
        return Ok(());
    }
    let tmp = std::env::temp_dir().join(format!("voxpace-matrix-{}", std::process::id()));
    std::fs::create_dir_all(&tmp)?;
    let home = std::env::var_os("HOME");
    let speaker_file = route_alsa_to_file(&tmp)?;
    let result = run_cells_and_report(&opts, &tmp, speaker_file.clone(), all);
    // The ALSA capture can be large (the null device runs far ahead of real time).
    let _ = std::fs::remove_file(&speaker_file);
    if let Some(home) = home {
        std::env::set_var("HOME", home);
    }
    result
}

fn run_cells_and_report(
    opts: &Options,
    tmp: &Path,
    speaker_file: PathBuf,
    all: Vec<Cell>,
) -> Result<()> {
    // Load each plugin the cells use once; a plugin that is missing or does not work here
    // skips its cells with the reason (never a faked pass).
    let mut plugins = HashMap::new();
    let mut skipped: HashMap<&'static str, String> = HashMap::new();
    for kind in [SinkKind::Recorder, SinkKind::Avatar, SinkKind::Speaker] {
        let name = kind.plugin().expect("sink kinds with plugins");
        if !root().join("plugins").join(name).is_dir() {
            skipped.insert(name, format!("plugins/{name} does not exist yet"));
            continue;
        }
        let lib = plugin_library(&opts.plugins, name);
        match Plugin::load(&lib) {
            Ok(p) => {
                if kind == SinkKind::Speaker {
                    if let Err(e) = p.instantiate("") {
                        skipped.insert(name, format!("the speaker cannot open ALSA here: {e}"));
                        continue;
                    }
                }
                plugins.insert(name, Arc::new(p));
            }
            Err(e) => {
                skipped.insert(name, format!("{}: {e}", lib.display()));
            }
        }
    }
    let (runnable, skip): (Vec<Cell>, Vec<Cell>) = all
        .into_iter()
        .partition(|c| c.sink.plugin().is_none_or(|p| !skipped.contains_key(p)));
    for (name, why) in &skipped {
        let n = skip
            .iter()
            .filter(|c| c.sink.plugin() == Some(name))
            .count();
        if n > 0 {
            println!("skipping {n} cells with the {name} sink: {why}");
        }
    }

    let cx = Context {
        plugins,
        tmp: tmp.to_path_buf(),
        speaker_lock: Mutex::new(()),
        speaker_file,
        references: Mutex::new(HashMap::new()),
    };
    let start = Instant::now();
    let results = run_cells(&runnable, &cx, opts.jobs);
    let failed = print_table(&runnable, &results);
    let secs = start.elapsed().as_secs_f64();
    if failed == 0 {
        let _ = std::fs::remove_dir_all(tmp);
    } else {
        println!("outputs of failed cells kept in {}", tmp.display());
    }
    println!(
        "matrix: {} cells, {} passed, {failed} failed, {} skipped, in {secs:.1} s on {} jobs",
        runnable.len(),
        runnable.len() - failed,
        skip.len(),
        opts.jobs
    );
    if failed > 0 {
        bail!("{failed} matrix cells failed");
    }
    Ok(())
}

type Outcome = (Result<check::Findings>, Duration);

fn run_cells(cells: &[Cell], cx: &Context, jobs: usize) -> Vec<Outcome> {
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Outcome>>> = Mutex::new((0..cells.len()).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..jobs.min(cells.len().max(1)) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(cell) = cells.get(i) else {
                    return;
                };
                let t = Instant::now();
                let r =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cell::run(cell, cx)))
                        .unwrap_or_else(|p| {
                            let msg = p
                                .downcast_ref::<String>()
                                .cloned()
                                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                                .unwrap_or_default();
                            Err(anyhow::anyhow!("panicked: {msg}"))
                        });
                results.lock().unwrap_or_else(|e| e.into_inner())[i] = Some((r, t.elapsed()));
                let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                if n.is_multiple_of(50) {
                    eprintln!("matrix: {n}/{} cells run", cells.len());
                }
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .map(|r| r.expect("every cell ran"))
        .collect()
}

/// Print one row per cell (failures listed under their row); returns the failure count.
fn print_table(cells: &[Cell], results: &[Outcome]) -> usize {
    let width = cells
        .iter()
        .map(|c| c.name().len())
        .max()
        .unwrap_or(4)
        .max(4);
    println!("{:width$}  {:6}  {:>6}  figures", "cell", "result", "ms");
    let mut failed = 0;
    for (c, (r, t)) in cells.iter().zip(results) {
        let ms = t.as_secs_f64() * 1000.0;
        match r {
            Ok(f) => {
                let figures: Vec<String> =
                    f.figures.iter().map(|(k, v)| format!("{k}: {v}")).collect();
                let result = if f.failures.is_empty() { "ok" } else { "FAIL" };
                println!(
                    "{:width$}  {result:6}  {ms:>6.0}  {}",
                    c.name(),
                    figures.join("; ")
                );
                if !f.failures.is_empty() {
                    failed += 1;
                    for why in &f.failures {
                        println!("    - {why}");
                    }
                }
            }
            Err(e) => {
                failed += 1;
                println!(
                    "{:width$}  {:6}  {ms:>6.0}  could not run: {e:#}",
                    c.name(),
                    "FAIL"
                );
            }
        }
    }
    failed
}

#[cfg(test)]
mod tests {
    use super::*;
    use voxpace_core::{FrameInfo, Track, TrackConfig, TrackHandle};

    struct NoHooks;

    impl script::Hooks for NoHooks {
        fn before_frame(&mut self, _: u64) -> Result<()> {
            Ok(())
        }
        fn after_frame(&mut self, _: &FrameInfo, _: Option<u64>) -> Result<()> {
            Ok(())
        }
        fn detach(&mut self, _: &TrackHandle) -> Result<()> {
            Ok(())
        }
        fn stopped(&mut self) -> Result<()> {
            Ok(())
        }
    }

    #[test]
    fn cells_are_pruned_as_documented() {
        let files = [PathBuf::from("a.flac"), PathBuf::from("b.mp3")];
        let all = cells(&files).unwrap();
        // 15 format × input pairs (16k mono has no separate 16k input).
        let count = |track: &str| all.iter().filter(|c| c.track == track).count();
        assert_eq!(count("plain"), 15);
        assert_eq!(count("background"), 15 * 2);
        assert_eq!(count("sinks"), 15 * 3);
        // recorder and avatar with each file, the speaker with one.
        assert_eq!(count("background+sinks"), 15 * (2 + 2 + 1));
        assert!(all
            .iter()
            .all(|c| c.track != "plain" || c.background.is_none()));
        let names: std::collections::HashSet<String> = all.iter().map(Cell::name).collect();
        assert_eq!(names.len(), all.len(), "cell names are unique");
    }

    /// The plain 24 kHz cells pass, and the checks are not blind: one changed sample and
    /// one missing event are each reported.
    #[test]
    fn plain_cells_pass_and_the_checks_catch_a_changed_sample_or_event() {
        let tmp = std::env::temp_dir().join(format!("xtask-matrix-test-{}", std::process::id()));
        let cx = Context {
            plugins: HashMap::new(),
            tmp: tmp.clone(),
            speaker_lock: Mutex::new(()),
            speaker_file: tmp.join("none.wav"),
            references: Mutex::new(HashMap::new()),
        };
        let plain: Vec<Cell> = cells(&[])
            .unwrap()
            .into_iter()
            .filter(|c| c.track == "plain" && c.format.sample_rate() == 24_000)
            .collect();
        assert_eq!(plain.len(), 4);
        for c in &plain {
            let f = cell::run(c, &cx).unwrap();
            assert!(f.failures.is_empty(), "{}: {:?}", c.name(), f.failures);
        }

        let format = Format::new(24_000, 1, 20).unwrap();
        let track = Track::new(format, TrackConfig::default()).unwrap();
        let input = Input {
            rate: 24_000,
            channels: 1,
        };
        let mut rec = script::run(track, input, &mut NoHooks).unwrap();
        let exp = check::expected(&rec, format);
        let mut f = check::Findings::default();
        check::check_output(&rec, &exp, None, &mut f);
        check::check_events(&rec, &exp, format, &mut f);
        assert!(f.failures.is_empty(), "{:?}", f.failures);

        let at = (script::LEAD as usize + 3) * format.frame_len() + 7;
        rec.out[at] = rec.out[at].wrapping_add(1);
        let mut f = check::Findings::default();
        check::check_output(&rec, &exp, None, &mut f);
        assert_eq!(f.failures.len(), 1, "{:?}", f.failures);
        assert!(f.failures[0].contains("1 values"), "{:?}", f.failures);

        rec.events.remove(2);
        let mut f = check::Findings::default();
        check::check_events(&rec, &exp, format, &mut f);
        assert!(
            f.failures[0].starts_with("events differ at #2"),
            "{:?}",
            f.failures
        );
    }
}
