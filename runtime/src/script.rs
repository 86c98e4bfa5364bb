//! The scripted conversation `voxpace render` plays: timed steps in a TOML file.
//!
//! ```toml
//! length_ms = 12000          # optional; default: until everything has played, plus a tail
//! [[step]]
//! at_ms = 200
//! reply = "speech.mp3"       # a reply from an audio file (WAV, FLAC, MP3, Ogg, AAC/MP4)
//! stream_speed = 2.0         # optional: the TTS delivers it at 2x real time (default: at once)
//! marks = [{ at_ms = 0, text = "Hello" }, { at_ms = 420, text = " there." }]  # optional
//! [[step]]
//! at_ms = 2500
//! interrupt = true
//! ```
//!
//! Each step does exactly one thing: `reply`, `interrupt`, `pause`, `resume`, `clip`,
//! `background` ("off" or a file), `background_gain_db`, or `enable_input`. A reply may
//! carry its text: `marks` (pieces of text at media offsets, exact) or `text` (the whole
//! text, without timings: the heard part is estimated).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::config::Issues;
use crate::marks::MarkSpec;
use crate::Error;

/// An example script, shipped next to the example audio.
pub const EXAMPLE: &str = include_str!("../assets/demo-script.toml");

/// What a step does.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Open a reply and stream this file's audio into it.
    Reply {
        /// The audio file (absolute).
        file: PathBuf,
        /// Producer speed relative to real time; `None` pushes everything at once (as fast
        /// as the buffer bound allows).
        stream_speed: Option<f64>,
        /// The reply's text: exact marks, or the whole text for an estimate.
        text: ReplyText,
    },
    /// Barge-in.
    Interrupt,
    /// Hold speech.
    Pause,
    /// Play held speech again.
    Resume,
    /// Fire a configured clip by name.
    Clip(String),
    /// Replace the background with this file (or remove it with `None`).
    Background(Option<PathBuf>),
    /// Change the background's gain.
    BackgroundGain(f32),
    /// Re-open intake after an interrupt in manual-input mode.
    EnableInput,
}

/// What a scripted reply says, if the script tells.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum ReplyText {
    /// Nothing: `playback_finished` carries no heard text.
    #[default]
    None,
    /// The whole text without timings; the heard part is estimated.
    Whole(String),
    /// Text marks (checked: `at_ms` only, in playing order).
    Marks(Vec<MarkSpec>),
}

/// One timed step.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// When, in media time from the start of the output.
    pub at: Duration,
    /// What.
    pub action: Action,
    /// Line in the script (for messages).
    pub line: usize,
}

/// A validated script, steps sorted by time (stable: same-time steps keep file order).
#[derive(Debug, Clone, PartialEq)]
pub struct Script {
    /// The file.
    pub path: PathBuf,
    /// Total length, if fixed by the script.
    pub length: Option<Duration>,
    /// The steps.
    pub steps: Vec<Step>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScript {
    length_ms: Option<Spanned<u64>>,
    #[serde(default)]
    step: Vec<Spanned<RawStep>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    at_ms: u64,
    reply: Option<Spanned<String>>,
    stream_speed: Option<Spanned<f64>>,
    text: Option<Spanned<String>>,
    marks: Option<Spanned<Vec<MarkSpec>>>,
    #[serde(default)]
    interrupt: bool,
    #[serde(default)]
    pause: bool,
    #[serde(default)]
    resume: bool,
    clip: Option<String>,
    background: Option<Spanned<String>>,
    background_gain_db: Option<Spanned<f32>>,
    #[serde(default)]
    enable_input: bool,
}

/// The longest script accepted: one hour of media.
const MAX_LENGTH: Duration = Duration::from_secs(3600);

impl Script {
    /// Read and check a script; relative files resolve against its directory.
    pub fn load(path: &Path) -> Result<Script, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::parse(path, &text)
    }

    /// Parse and check `text` as if read from `path`.
    pub fn parse(path: &Path, text: &str) -> Result<Script, Error> {
        let mut issues = Issues::new(path, text);
        let raw: RawScript = match toml::from_str(text) {
            Ok(raw) => raw,
            Err(e) => {
                issues.add_parse_error(&e);
                return Err(Error::Invalid(issues.list));
            }
        };
        let base = path.parent().unwrap_or(Path::new(""));
        let length = raw.length_ms.as_ref().map(|l| {
            let d = Duration::from_millis(*l.get_ref());
            if d.is_zero() || d > MAX_LENGTH {
                issues.add(
                    Some(l.span()),
                    "length_ms",
                    format!("{} ms", l.get_ref()),
                    "1 ms to one hour (3600000)",
                );
            }
            d
        });
        let mut steps = Vec::new();
        for (i, s) in raw.step.iter().enumerate() {
            let span = s.span();
            let line = crate::config::line_col(text, span.start).0;
            let key = format!("step[{i}]");
            let s = s.get_ref();
            let mut actions = Vec::new();
            if let Some(file) = &s.reply {
                let file = resolve_existing(base, file, &format!("{key}.reply"), &mut issues);
                let stream_speed = s.stream_speed.as_ref().map(|v| {
                    let speed = *v.get_ref();
                    if !(speed.is_finite() && (0.1..=1000.0).contains(&speed)) {
                        issues.add(
                            Some(v.span()),
                            format!("{key}.stream_speed"),
                            format!("{speed}"),
                            "a speed between 0.1 and 1000 times real time",
                        );
                    }
                    speed
                });
                let text = reply_text(s, &key, &mut issues);
                actions.push(Action::Reply {
                    file,
                    stream_speed,
                    text,
                });
            } else {
                let extras = [
                    ("stream_speed", s.stream_speed.as_ref().map(|v| v.span())),
                    ("text", s.text.as_ref().map(|v| v.span())),
                    ("marks", s.marks.as_ref().map(|v| v.span())),
                ];
                for (name, span) in extras {
                    if let Some(span) = span {
                        issues.add(
                            Some(span),
                            format!("{key}.{name}"),
                            "given without a reply",
                            format!("{name} only together with reply"),
                        );
                    }
                }
            }
            if s.interrupt {
                actions.push(Action::Interrupt);
            }
            if s.pause {
                actions.push(Action::Pause);
            }
            if s.resume {
                actions.push(Action::Resume);
            }
            if s.enable_input {
                actions.push(Action::EnableInput);
            }
            if let Some(clip) = &s.clip {
                actions.push(Action::Clip(clip.clone()));
            }
            if let Some(bg) = &s.background {
                if bg.get_ref() == "off" {
                    actions.push(Action::Background(None));
                } else {
                    let file =
                        resolve_existing(base, bg, &format!("{key}.background"), &mut issues);
                    actions.push(Action::Background(Some(file)));
                }
            }
            if let Some(g) = &s.background_gain_db {
                let gain = *g.get_ref();
                if !(-90.0..=12.0).contains(&gain) {
                    issues.add(
                        Some(g.span()),
                        format!("{key}.background_gain_db"),
                        format!("{gain} dB"),
                        "a gain between -90 and +12 dB",
                    );
                }
                actions.push(Action::BackgroundGain(gain));
            }
            let at = Duration::from_millis(s.at_ms);
            if at > MAX_LENGTH {
                issues.add(
                    Some(span.clone()),
                    format!("{key}.at_ms"),
                    "beyond one hour",
                    "at most 3600000",
                );
            }
            match actions.len() {
                1 => steps.push(Step {
                    at,
                    action: actions.pop().expect("one action"),
                    line,
                }),
                0 => issues.add(
                    Some(span),
                    key,
                    "the step does nothing",
                    "one of reply, interrupt, pause, resume, clip, background, background_gain_db, enable_input",
                ),
                n => issues.add(
                    Some(span),
                    key,
                    format!("the step does {n} things"),
                    "exactly one action per step (use two steps with the same at_ms)",
                ),
            }
        }
        steps.sort_by_key(|s| s.at);
        issues.finish(Script {
            path: path.to_path_buf(),
            length,
            steps,
        })
    }
}

/// A reply step's `text` or `marks`, checked.
fn reply_text(s: &RawStep, key: &str, issues: &mut Issues<'_>) -> ReplyText {
    match (&s.text, &s.marks) {
        (None, None) => ReplyText::None,
        (Some(t), None) if t.get_ref().trim().is_empty() => {
            issues.add(
                Some(t.span()),
                format!("{key}.text"),
                "is empty",
                "the reply's whole text",
            );
            ReplyText::None
        }
        (Some(t), None) => ReplyText::Whole(t.get_ref().clone()),
        (None, Some(m)) => {
            let specs = m.get_ref();
            let mut ok = true;
            for (j, spec) in specs.iter().enumerate() {
                if spec.at_samples.is_some() {
                    ok = false;
                    issues.add(
                        Some(m.span()),
                        format!("{key}.marks[{j}].at_samples"),
                        "scripts give marks in milliseconds",
                        "at_ms",
                    );
                }
            }
            if let (true, Err(problems)) = (ok, crate::marks::convert(specs, 0, 48_000)) {
                for p in problems {
                    issues.add(
                        Some(m.span()),
                        format!("{key}.{}", p.key),
                        p.problem,
                        p.expected,
                    );
                }
            }
            ReplyText::Marks(specs.clone())
        }
        (Some(t), Some(_)) => {
            issues.add(
                Some(t.span()),
                format!("{key}.text"),
                "given together with marks",
                "either marks (exact) or text (estimated), not both",
            );
            ReplyText::None
        }
    }
}

fn resolve_existing(
    base: &Path,
    v: &Spanned<String>,
    key: &str,
    issues: &mut Issues<'_>,
) -> PathBuf {
    crate::config::existing_file(base, v, key, "an audio file", issues)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_with_two_actions_is_refused_at_its_line() {
        let e = Script::parse(
            Path::new("s.toml"),
            "[[step]]\nat_ms = 0\npause = true\n\n[[step]]\nat_ms = 5\npause = true\nresume = true\n",
        )
        .unwrap_err();
        let Error::Invalid(list) = e else {
            panic!("{e:?}")
        };
        assert_eq!(list.len(), 1);
        assert_eq!((list[0].key.as_str(), list[0].line), ("step[1]", 5));
        assert!(list[0].problem.contains("2 things"));
    }

    fn parse_in(dir: &Path, text: &str) -> Result<Script, Error> {
        std::fs::write(dir.join("a.wav"), b"").unwrap();
        Script::parse(&dir.join("s.toml"), text)
    }

    #[test]
    fn a_reply_carries_marks_or_its_whole_text() {
        let dir = tempfile::tempdir().unwrap();
        let s = parse_in(
            dir.path(),
            "[[step]]\nat_ms = 0\nreply = \"a.wav\"\nmarks = [{ at_ms = 0, text = \"Hi\" }, { at_ms = 300.5, text = \" you\" }]\n[[step]]\nat_ms = 9\nreply = \"a.wav\"\ntext = \"Hi you\"\n",
        )
        .unwrap();
        let texts: Vec<_> = s
            .steps
            .iter()
            .map(|s| match &s.action {
                Action::Reply { text, .. } => text.clone(),
                other => panic!("{other:?}"),
            })
            .collect();
        let ReplyText::Marks(marks) = &texts[0] else {
            panic!("{texts:?}")
        };
        assert_eq!(marks.len(), 2);
        assert_eq!(
            (marks[1].at_ms, marks[1].text.as_str()),
            (Some(300.5), " you")
        );
        assert_eq!(texts[1], ReplyText::Whole("Hi you".into()));
    }

    #[test]
    fn bad_marks_are_refused_with_their_key() {
        let dir = tempfile::tempdir().unwrap();
        let e = parse_in(
            dir.path(),
            "[[step]]\nat_ms = 0\nreply = \"a.wav\"\nmarks = [{ at_ms = 50, text = \"b\" }, { at_ms = 10, text = \"a\" }, { at_samples = 5, text = \"c\" }]\n[[step]]\nat_ms = 0\nreply = \"a.wav\"\ntext = \"x\"\nmarks = []\n[[step]]\nat_ms = 0\npause = true\ntext = \"x\"\n",
        )
        .unwrap_err();
        let Error::Invalid(list) = e else {
            panic!("{e:?}")
        };
        let keys: Vec<_> = list.iter().map(|i| (i.key.as_str(), i.line)).collect();
        assert_eq!(
            keys,
            [
                ("step[0].marks[2].at_samples", 4),
                ("step[1].text", 8),
                ("step[2].text", 13)
            ],
            "{list:?}"
        );
        let e = parse_in(
            dir.path(),
            "[[step]]\nat_ms = 0\nreply = \"a.wav\"\nmarks = [{ at_ms = 50, text = \"b\" }, { at_ms = 10, text = \"a\" }]\n",
        )
        .unwrap_err();
        let Error::Invalid(list) = e else {
            panic!("{e:?}")
        };
        assert_eq!(list[0].key, "step[0].marks[1].at_ms");
        assert!(list[0].problem.contains("back in time"), "{list:?}");
    }

    #[test]
    fn steps_are_sorted_by_time_stably() {
        let s = Script::parse(
            Path::new("s.toml"),
            "[[step]]\nat_ms = 50\nresume = true\n[[step]]\nat_ms = 10\npause = true\n[[step]]\nat_ms = 50\ninterrupt = true\n",
        )
        .unwrap();
        let actions: Vec<_> = s.steps.iter().map(|s| s.action.clone()).collect();
        assert_eq!(
            actions,
            vec![Action::Pause, Action::Resume, Action::Interrupt]
        );
    }
}
