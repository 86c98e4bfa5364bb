//! The whole file through [`Config::parse`]: sections together, every problem at once.

use std::path::Path;
use std::time::Duration;

use super::*;

fn issues_of(text: &str) -> Vec<Issue> {
    match Config::parse(Path::new("/nowhere/x.toml"), text) {
        Err(Error::Invalid(list)) => list,
        other => panic!("expected issues, got {other:?}"),
    }
}

fn keys_and_lines(list: &[Issue]) -> Vec<(&str, usize)> {
    list.iter().map(|i| (i.key.as_str(), i.line)).collect()
}

#[test]
fn defaults_are_24_khz_mono_20_ms_frames_and_one_output() {
    let c = Config::parse(Path::new("x.toml"), "").unwrap();
    assert_eq!(c.format, Format::default());
    assert_eq!(c.track.grace_period, Duration::from_millis(500));
    assert_eq!(c.server.outputs, vec!["default".to_string()]);
}

#[test]
fn loudness_is_off_unless_configured_and_checked_when_it_is() {
    let c = Config::parse(Path::new("x.toml"), "").unwrap();
    assert_eq!(c.loudness, None);
    let c = Config::parse(
        Path::new("x.toml"),
        "[output]\nlimiter = \"true-peak\"\n[output.loudness]\ntarget_lufs = -18\ntrue_peak_dbtp = -2\n",
    )
    .unwrap();
    let l = c.loudness.unwrap();
    assert_eq!((l.target_lufs, l.true_peak_dbtp), (Some(-18.0), -2.0));
    let list = issues_of(
        "[output.loudness]\ntarget_lufs = 5\ntrue_peak_dbtp = -1\n[background]\nfile = \"x.wav\"\nrelative_lu = -18\n",
    );
    assert_eq!(
        keys_and_lines(&list),
        vec![
            ("output.loudness.target_lufs", 2),
            ("output.loudness.true_peak_dbtp", 3),
            ("background.file", 5),
        ]
    );
    let list = issues_of("[background]\nfile = \"x.wav\"\nrelative_lu = -18\n");
    assert_eq!(list[1].key, "background.relative_lu");
    assert!(list[1].problem.contains("target_lufs"), "{:?}", list[1]);
}

#[test]
fn each_output_may_publish_to_its_own_endpoint_with_a_token_from_the_environment() {
    std::env::set_var("VOXPACE_TEST_WHIP_TOKEN_B", "secret-b");
    let c = Config::parse(
        Path::new("x.toml"),
        "[transport]\nwhip_url = \"http://sfu-a/whip/{output}\"\nwhip_token = \"a\"\n\
         [transport.whip_output.beta]\nurl = \"http://sfu-b/whip/room\"\ntoken_env = \"VOXPACE_TEST_WHIP_TOKEN_B\"\n\
         [transport.whip_retry]\ninitial_ms = 100\nmax_ms = 2000\n",
    )
    .unwrap();
    let t = &c.transport;
    assert_eq!(
        t.whip_for("alpha"),
        Some(WhipTarget {
            url: "http://sfu-a/whip/alpha".into(),
            token: Some("a".into())
        })
    );
    assert_eq!(
        t.whip_for("beta"),
        Some(WhipTarget {
            url: "http://sfu-b/whip/room".into(),
            token: Some("secret-b".into())
        })
    );
    assert_eq!(t.whip_retry.initial, Duration::from_millis(100));
    assert_eq!(t.whip_retry.max, Duration::from_secs(2));
    let list = issues_of(
        "[transport.whip_output.gamma]\nurl = \"ftp://x\"\ntoken_env = \"VOXPACE_TEST_UNSET_VARIABLE\"\n[transport.whip_retry]\njitter = 2.0\n",
    );
    let keys: Vec<_> = list.iter().map(|i| i.key.as_str()).collect();
    assert!(
        keys.contains(&"transport.whip_output.gamma.url"),
        "{list:?}"
    );
    assert!(
        keys.contains(&"transport.whip_output.gamma.token_env"),
        "{list:?}"
    );
    assert!(keys.contains(&"transport.whip_retry.jitter"), "{list:?}");
    assert!(list
        .iter()
        .any(|i| i.problem.contains("VOXPACE_TEST_UNSET_VARIABLE")));
}

#[test]
fn unknown_key_names_line_dotted_key_and_allowed_keys() {
    let list = issues_of("[output]\nsample_rate = 24000\nsampel_rate = 1\n");
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].line, 3, "{:?}", list[0]);
    assert_eq!(list[0].key, "output.sampel_rate");
    assert!(list[0].expected.contains("sample_rate"), "{:?}", list[0]);
}

#[test]
fn wrong_type_says_what_was_expected() {
    let list = issues_of("\n[output]\nchannels = \"two\"\n");
    assert_eq!((list[0].line, list[0].key.as_str()), (3, "output.channels"));
    assert!(list[0].problem.contains("string"), "{:?}", list[0]);
    assert_eq!(list[0].expected, "an integer: 1 (mono) or 2 (stereo)");
}

#[test]
fn every_semantic_problem_is_reported_at_once() {
    let list = issues_of(
        "[output]\nsample_rate = 44100\nframe_ms = 30\n[background]\nfile = \"nope.wav\"\n",
    );
    assert_eq!(
        keys_and_lines(&list),
        vec![
            ("output.sample_rate", 2),
            ("output.frame_ms", 3),
            ("background.file", 5)
        ]
    );
    assert!(
        list[2].problem.contains("/nowhere/nope.wav"),
        "{:?}",
        list[2]
    );
}

#[test]
fn type_errors_do_not_hide_the_rest_of_the_file() {
    let list = issues_of(
        "[output]\nchannels = \"two\"\nframe_ms = 30\nbuffr_ms = 1\n\
         [[sinks]]\nplugin = 3\n[[sinks]]\nplugin = \"missing.so\"\n\
         [server]\nmax_connections = 1e8\nmax_outputs = 100000000\nlisten = \"nowhere\"\n",
    );
    assert_eq!(
        keys_and_lines(&list),
        vec![
            ("output.channels", 2),
            ("output.frame_ms", 3),
            ("output.buffr_ms", 4),
            // Left out for its wrong type, and not reported missing as well.
            ("sinks[0].plugin", 6),
            // The second entry keeps its own index though the first was left out.
            ("sinks[1].plugin", 8),
            ("server.max_connections", 10),
            ("server.max_outputs", 11),
            ("server.listen", 12),
        ],
        "{list:#?}"
    );
    // `1e8` is a float: the report says what would do, with the range.
    assert_eq!(
        list[5].expected, "an integer from 1 to 1048576 connections",
        "{:?}",
        list[5]
    );
    assert_eq!(list[6].expected, "1 to 10000 outputs", "{:?}", list[6]);
}

#[test]
fn values_out_of_range_state_the_range() {
    let list = issues_of(
        "[server]\nmax_connections = 100000000\nkeep_alive_timeout_ms = 0\n\
         [output]\nbuffer_ms = 100000000\n[transport.opus]\ncomplexity = 11\n",
    );
    assert_eq!(
        keys_and_lines(&list),
        vec![
            ("server.max_connections", 2),
            ("server.keep_alive_timeout_ms", 3),
            ("output.buffer_ms", 5),
            ("transport.opus.complexity", 7),
        ]
    );
    let connections = &list[0];
    assert!(
        connections.problem.contains("100000000")
            && connections.expected == "1 to 1048576 connections",
        "{connections:?}"
    );
    assert_eq!(list[2].expected, "20 to 120000 ms");
}

#[test]
fn output_ids_are_checked_at_their_place_and_must_differ() {
    let list = issues_of("[server]\noutputs = [\"a\", \"b c\",\n  \"a\"]\n");
    let found: Vec<_> = list
        .iter()
        .map(|i| (i.key.as_str(), i.line, i.column))
        .collect();
    assert_eq!(
        found,
        vec![("server.outputs[1]", 2, 17), ("server.outputs[2]", 3, 3)],
        "{list:#?}"
    );
    assert!(list[0].problem.contains("not a valid output id"));
    assert!(
        list[1].problem.contains("already server.outputs[0]"),
        "{:?}",
        list[1]
    );
    let list = issues_of("[transport.whip_output.\"x y\"]\nurl = \"http://sfu/whip\"\n");
    assert_eq!(list[0].key, "transport.whip_output.x y");
    assert_eq!(list[0].line, 1, "{:?}", list[0]);
}

#[test]
fn a_port_in_use_is_named_by_the_key_it_came_from() {
    let text = "\n[server]\nlisten = \"127.0.0.1:7\"\n";
    let mut c = Config::parse(Path::new("x.toml"), text).unwrap();
    let busy = std::io::Error::from(std::io::ErrorKind::AddrInUse);
    let e = c
        .bind_error("server.listen", c.server.listen, busy)
        .to_string();
    assert!(
        e.contains("x.toml:3:10: `server.listen`: cannot listen on 127.0.0.1:7"),
        "{e}"
    );
    c.override_listen("127.0.0.1:8".parse().unwrap());
    let busy = std::io::Error::from(std::io::ErrorKind::AddrInUse);
    let e = c
        .bind_error("server.listen", c.server.listen, busy)
        .to_string();
    assert!(e.contains("`--listen"), "{e}");
}

#[test]
fn no_empty_token_anywhere() {
    let issues = issues_of(
        "[server]\ntokens = [\"\"]\n[transport]\ntokens = [\" \"]\nwhip_url = \"http://sfu/whip\"\nwhip_token = \"\"\n",
    );
    let keys: Vec<_> = issues.iter().map(|i| i.key.as_str()).collect();
    for key in ["server.tokens", "transport.tokens", "transport.whip_token"] {
        assert!(keys.contains(&key), "{key}: {keys:?}");
    }
    assert!(
        issues.iter().all(|i| i.problem.contains("empty token")),
        "{issues:?}"
    );
}

#[test]
fn a_realtime_priority_outside_1_to_99_is_named_with_the_range() {
    for bad in ["0", "100"] {
        let list = issues_of(&format!("[server]\nrealtime_priority = {bad}\n"));
        assert_eq!(keys_and_lines(&list), vec![("server.realtime_priority", 2)]);
        assert_eq!(list[0].expected, "1 to 99", "{:?}", list[0]);
    }
    let c = Config::parse(Path::new("x.toml"), "[server]\nrealtime_priority = 10\n").unwrap();
    assert_eq!(c.server.realtime_priority, Some(10));
    let c = Config::parse(Path::new("x.toml"), "").unwrap();
    assert_eq!(c.server.realtime_priority, None);
}
