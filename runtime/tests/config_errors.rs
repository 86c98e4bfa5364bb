//! Configuration errors as a user sees them: from the real binary, with file, line, key and
//! what was expected; nothing starts.

use std::path::Path;
use std::process::Command;

fn voxpace(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_voxpace"))
        .args(args)
        .output()
        .expect("run voxpace");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_string_lossy().into_owned()
}

#[test]
fn the_shipped_example_checks_clean() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/example.toml");
    let (ok, out, err) = voxpace(&["config", "check", example]);
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("ok (24000 Hz mono, 20 ms frames, 1 clip(s)"),
        "{out}"
    );
}

#[test]
fn a_newcomers_first_config_checks_wherever_it_is_written() {
    // `voxpace config example > my.toml && voxpace config check my.toml`, in a folder
    // with nothing else in it.
    let (ok, out, _) = voxpace(&["config", "example"]);
    assert!(ok);
    assert!(
        out.lines().filter(|l| l.contains('#')).count() > 20,
        "commented"
    );
    let dir = tempfile::tempdir().unwrap();
    let mine = write(dir.path(), "my.toml", &out);
    let (ok, checked, err) = voxpace(&["config", "check", &mine]);
    assert!(ok, "{checked}{err}");
    // `--dir` writes the whole example with its audio; it checks, and is not overwritten.
    let full = dir.path().join("full");
    let (ok, wrote, err) = voxpace(&["config", "example", "--dir", full.to_str().unwrap()]);
    assert!(ok, "{wrote}{err}");
    let config = full.join("voxpace.toml").to_string_lossy().into_owned();
    let (ok, checked, err) = voxpace(&["config", "check", &config]);
    assert!(ok, "{checked}{err}");
    assert!(
        checked.contains("1 clip(s)") && checked.contains("background"),
        "{checked}"
    );
    let (ok, _, err) = voxpace(&["config", "example", "--dir", full.to_str().unwrap()]);
    assert!(!ok && err.contains("not overwritten"), "{err}");
}

#[test]
fn unknown_key_reports_file_line_and_the_keys_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "a.toml",
        "[output]\nsample_rate = 16000\nbuffr_ms = 300\n",
    );
    let (ok, _, err) = voxpace(&["config", "check", &f]);
    assert!(!ok);
    assert!(
        err.contains(&format!(
            "{f}:3:1: `output.buffr_ms`: unknown field `buffr_ms`"
        )),
        "{err}"
    );
    assert!(err.contains("buffer_ms"), "lists the allowed keys: {err}");
}

#[test]
fn wrong_type_reports_line_and_expected_type() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "b.toml",
        "# comment\n\n[output]\nframe_ms = \"20\"\n",
    );
    let (ok, _, err) = voxpace(&["config", "check", &f]);
    assert!(!ok);
    assert!(
        err.contains(&format!("{f}:4:12: `output.frame_ms`")),
        "{err}"
    );
    assert!(
        err.contains("(expected an integer: 10, 20, 40 or 60)"),
        "{err}"
    );
}

#[test]
fn missing_files_and_bad_values_are_all_reported_before_start() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "c.toml",
        "[output]\nsample_rate = 44100\n\n[background]\nfile = \"missing.wav\"\n\n[[sinks]]\nplugin = \"libnothing.so\"\n\n[server]\nlisten = \"localhost\"\n",
    );
    for cmd in [vec!["config", "check", &f], vec!["serve", "--config", &f]] {
        let (ok, _, err) = voxpace(&cmd);
        assert!(!ok, "{cmd:?} must refuse");
        assert!(err.contains("4 problems"), "{err}");
        assert!(err.contains(":2:15: `output.sample_rate`: 44100 Hz is not supported (expected 8000, 16000, 24000 or 48000)"), "{err}");
        assert!(err.contains(":5:8: `background.file`"), "{err}");
        assert!(err.contains("missing.wav"), "{err}");
        assert!(err.contains(":8:10: `sinks[0].plugin`"), "{err}");
        assert!(err.contains(":11:10: `server.listen`"), "{err}");
        assert!(err.contains("expected IP:PORT"), "{err}");
    }
}

#[test]
fn one_check_reports_every_problem_with_its_dotted_key() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "many.toml",
        "[output]\nchannels = \"two\"\nframe_ms = 30\n\n[server]\nmax_connections = 1e8\n\
         max_outputs = 0\noutputs = [\"a\", \"b/c\", \"a\"]\nkeep_alive_timeout_ms = 100000000\n",
    );
    let (ok, _, err) = voxpace(&["config", "check", &f]);
    assert!(!ok);
    for expected in [
        "7 problems",
        ":2:12: `output.channels`: invalid type: string \"two\" (expected an integer: 1 (mono) or 2 (stereo))",
        ":3:12: `output.frame_ms`: 30 ms frames are not supported",
        ":6:19: `server.max_connections`: invalid type: floating point `100000000.0` (expected an integer from 1 to 1048576 connections)",
        ":7:15: `server.max_outputs`: 0 outputs is out of range (expected 1 to 10000 outputs)",
        ":8:17: `server.outputs[1]`: \"b/c\" is not a valid output id",
        ":8:24: `server.outputs[2]`: \"a\" is already server.outputs[0]",
        ":9:25: `server.keep_alive_timeout_ms`: 100000000 ms is out of range (expected 1 to 3600000 ms)",
    ] {
        assert!(err.contains(expected), "no {expected:?} in\n{err}");
    }
}

#[test]
fn serve_names_the_key_of_an_address_in_use() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "busy.toml",
        &format!("[transport]\nwhep = false\n\n[server]\nlisten = \"{addr}\"\n"),
    );
    let (ok, out, err) = voxpace(&["serve", "--config", &f]);
    assert!(!ok, "{out}{err}");
    assert!(
        err.contains(&format!(
            "{f}:5:10: `server.listen`: cannot listen on {addr}"
        )),
        "{err}"
    );
}

#[test]
fn an_existing_file_that_is_not_audio_is_refused_at_its_line() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "notes.wav", "this is text");
    let f = write(dir.path(), "d.toml", "[clips.beep]\nfile = \"notes.wav\"\n");
    let (ok, _, err) = voxpace(&["config", "check", &f]);
    assert!(!ok);
    assert!(err.contains(":2:8: `clips.beep.file`"), "{err}");
    assert!(err.contains("not an audio file"), "{err}");
}

#[test]
fn a_script_step_doing_nothing_is_refused_before_rendering() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(dir.path(), "e.toml", "");
    let script = write(
        dir.path(),
        "s.toml",
        "[[step]]\nat_ms = 10\n\n[[step]]\nat_ms = 20\nclip = \"nope\"\n",
    );
    let out = dir.path().join("o.wav");
    let (ok, _, err) = voxpace(&[
        "render",
        "--config",
        &cfg,
        "--script",
        &script,
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(!ok);
    assert!(
        err.contains(&format!("{script}:1:1: `step[0]`: the step does nothing")),
        "{err}"
    );
    assert!(!out.exists(), "nothing written");
}
