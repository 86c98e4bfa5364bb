//! Text marks as users write them (control API JSON, render script TOML), checked and
//! converted to the track's sample offsets.
//!
//! A mark is a piece of a reply's text (a word, or a chunk with its own spacing) at a media
//! offset inside the reply: `at_ms` (milliseconds from the reply's first sample) or
//! `at_samples` (samples per channel at `rate`, the rate the producer's aligner counts in;
//! default the output's rate). Both become samples at the output rate, rounded exactly as
//! the TTS resampler maps input frames to output frames (`round(n × out / in)`), so a mark
//! keeps its media time when the reply's audio is resampled.

use serde::Deserialize;

/// The longest text one mark may carry.
pub const MAX_MARK_TEXT: usize = 4096;
/// The most marks one request (or script step) may carry.
pub const MAX_MARKS: usize = 10_000;
/// The latest offset accepted: one hour into the reply.
const MAX_AT_MS: f64 = 3_600_000.0;

/// One mark as written by the user (its schema is part of the HTTP API's contract).
#[derive(Debug, Clone, PartialEq, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MarkSpec {
    /// Milliseconds from the reply's first sample (exactly one of `at_ms`, `at_samples`).
    #[schema(minimum = 0, maximum = 3_600_000)]
    pub at_ms: Option<f64>,
    /// Samples per channel from the reply's first sample, at the batch's `rate`, within one
    /// hour (exactly one of `at_ms`, `at_samples`).
    #[schema(minimum = 0)]
    pub at_samples: Option<u64>,
    /// The text, with the producer's own spacing (`"Hello"`, `" world"`): not empty, at
    /// most 4096 bytes of UTF-8. (Emptiness is refused with the batch's other problems,
    /// all named at once, so the schema states only the length.)
    #[schema(max_length = 4096)]
    pub text: String,
}

/// A checked mark: its offset in samples per channel at the output rate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mark {
    /// Samples per channel from the reply's first sample, at the output rate.
    pub offset: u64,
    /// The text.
    pub text: String,
}

/// What is wrong with one mark: the key (`marks[3].at_ms`), the problem, what is expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarkProblem {
    /// Where: `marks[i]` and the field.
    pub key: String,
    /// What is wrong.
    pub problem: String,
    /// What would be accepted.
    pub expected: String,
}

impl std::fmt::Display for MarkProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {} (expected {})",
            self.key, self.problem, self.expected
        )
    }
}

/// Check `specs` and convert them to offsets at `output_rate`; `at_samples` count at
/// `samples_rate`. Every problem is listed; marks must not go back in time.
pub fn convert(
    specs: &[MarkSpec],
    samples_rate: u32,
    output_rate: u32,
) -> Result<Vec<Mark>, Vec<MarkProblem>> {
    let mut problems = Vec::new();
    let mut add = |key: String, problem: String, expected: &str| {
        problems.push(MarkProblem {
            key,
            problem,
            expected: expected.into(),
        })
    };
    if specs.len() > MAX_MARKS {
        add(
            "marks".into(),
            format!("{} marks", specs.len()),
            &format!("at most {MAX_MARKS} marks at once (send them in several requests)"),
        );
        return Err(problems);
    }
    let mut marks = Vec::with_capacity(specs.len());
    let mut previous: Option<u64> = None;
    for (i, spec) in specs.iter().enumerate() {
        let key = |field: &str| format!("marks[{i}].{field}");
        let offset = match (spec.at_ms, spec.at_samples) {
            (Some(ms), None) if ms.is_finite() && (0.0..=MAX_AT_MS).contains(&ms) => {
                Some((ms * output_rate as f64 / 1000.0).round() as u64)
            }
            (Some(ms), None) => {
                add(
                    key("at_ms"),
                    format!("{ms}"),
                    "milliseconds from the reply's start, 0 to 3600000",
                );
                None
            }
            (None, Some(n)) if samples_rate > 0 => {
                let out = (n as u128 * output_rate as u128 + samples_rate as u128 / 2)
                    / samples_rate as u128;
                if out as f64 * 1000.0 / output_rate as f64 > MAX_AT_MS {
                    add(
                        key("at_samples"),
                        format!("{n} (beyond one hour at {samples_rate} Hz)"),
                        "samples from the reply's start, within one hour",
                    );
                    None
                } else {
                    Some(out as u64)
                }
            }
            (None, Some(_)) => {
                add(
                    key("at_samples"),
                    "given without a sample rate".into(),
                    "a rate for at_samples",
                );
                None
            }
            (Some(_), Some(_)) => {
                add(
                    format!("marks[{i}]"),
                    "has both at_ms and at_samples".into(),
                    "exactly one of at_ms, at_samples",
                );
                None
            }
            (None, None) => {
                add(
                    format!("marks[{i}]"),
                    "has no offset".into(),
                    "at_ms or at_samples",
                );
                None
            }
        };
        if spec.text.is_empty() {
            add(
                key("text"),
                "is empty".into(),
                "the mark's text (a word, or a chunk with its own spacing)",
            );
        } else if spec.text.len() > MAX_MARK_TEXT {
            add(
                key("text"),
                format!("{} bytes long", spec.text.len()),
                &format!("at most {MAX_MARK_TEXT} bytes per mark"),
            );
        }
        let Some(offset) = offset else { continue };
        if let Some(p) = previous.filter(|&p| offset < p) {
            add(
                key(if spec.at_ms.is_some() {
                    "at_ms"
                } else {
                    "at_samples"
                }),
                format!("goes back in time (sample {offset} after sample {p})"),
                "marks in playing order: offsets that never decrease",
            );
        }
        previous = Some(offset);
        marks.push(Mark {
            offset,
            text: spec.text.clone(),
        });
    }
    if problems.is_empty() {
        Ok(marks)
    } else {
        Err(problems)
    }
}

/// Every problem on one line, for API messages.
pub fn describe(problems: &[MarkProblem]) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(at: f64, text: &str) -> MarkSpec {
        MarkSpec {
            at_ms: Some(at),
            at_samples: None,
            text: text.into(),
        }
    }

    #[test]
    fn milliseconds_and_samples_become_output_samples() {
        let specs = [
            ms(0.0, "Hello"),
            ms(250.0, " there"),
            MarkSpec {
                at_ms: None,
                at_samples: Some(8_000),
                text: " friend".into(),
            },
        ];
        let marks = convert(&specs, 16_000, 24_000).unwrap();
        let offsets: Vec<u64> = marks.iter().map(|m| m.offset).collect();
        assert_eq!(offsets, [0, 6_000, 12_000]);
        // 22.05 kHz aligner, 24 kHz output: round(n × 24000 / 22050), as the resampler.
        let odd = MarkSpec {
            at_ms: None,
            at_samples: Some(1_001),
            text: "x".into(),
        };
        assert_eq!(convert(&[odd], 22_050, 24_000).unwrap()[0].offset, 1_090);
    }

    #[test]
    fn every_problem_is_named_with_its_mark() {
        let specs = [
            ms(-1.0, "a"),
            ms(10.0, ""),
            ms(5.0, "b"),
            MarkSpec {
                at_ms: Some(1.0),
                at_samples: Some(1),
                text: "c".into(),
            },
            MarkSpec {
                at_ms: None,
                at_samples: None,
                text: "d".into(),
            },
            ms(f64::NAN, "e"),
        ];
        let problems = convert(&specs, 24_000, 24_000).unwrap_err();
        let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "marks[0].at_ms",
                "marks[1].text",
                "marks[2].at_ms",
                "marks[3]",
                "marks[4]",
                "marks[5].at_ms"
            ]
        );
        assert!(problems[2].problem.contains("back in time"), "{problems:?}");
        assert!(describe(&problems).contains("marks[1].text: is empty"));
    }
}
