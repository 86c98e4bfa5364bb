//! Span diagnostics: an [`Issue`] names the file, line, column and dotted key of a problem;
//! [`Issues`] collects them for one source text, turning byte spans into places.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use toml::de::{DeTable, DeValue};
use toml::Spanned;

use crate::Error;

/// One problem in a configuration or script file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    /// The file.
    pub file: PathBuf,
    /// 1-based line of the offending value (0 when the problem has no place in the file).
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// The dotted key, e.g. `output.sample_rate`.
    pub key: String,
    /// What is wrong.
    pub problem: String,
    /// What would be accepted.
    pub expected: String,
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if self.line > 0 {
            write!(f, ":{}:{}", self.line, self.column)?;
        }
        if !self.key.is_empty() {
            write!(f, ": `{}`", self.key)?;
        }
        write!(f, ": {}", self.problem)?;
        if !self.expected.is_empty() {
            write!(f, " (expected {})", self.expected)?;
        }
        Ok(())
    }
}

/// Every issue on its own line, prefixed with how many there are.
pub(crate) fn format_issues(issues: &[Issue]) -> String {
    let mut s = match issues.len() {
        1 => String::from("1 problem:"),
        n => format!("{n} problems:"),
    };
    for i in issues {
        s.push_str("\n  ");
        s.push_str(&i.to_string());
    }
    s
}

/// Collects issues for one source text, turning byte spans into lines and columns.
#[derive(Debug)]
pub(crate) struct Issues<'a> {
    pub(crate) file: &'a Path,
    pub(crate) text: &'a str,
    pub(crate) list: Vec<Issue>,
    /// Where keys that later checks refer to were written (key -> line, column).
    pub(crate) places: BTreeMap<String, (usize, usize)>,
    /// The document as written, when parsed: names the dotted key of any span in it.
    document: Option<DeTable<'a>>,
}

impl<'a> Issues<'a> {
    pub(crate) fn new(file: &'a Path, text: &'a str) -> Self {
        Self {
            file,
            text,
            list: Vec::new(),
            places: BTreeMap::new(),
            document: None,
        }
    }

    /// The document as written, so that parser errors name their dotted key
    /// ([`Issues::key_of`]).
    pub(crate) fn set_document(&mut self, document: DeTable<'a>) {
        self.document = Some(document);
    }

    /// Record a problem at `span` (a byte range in the text, `None` for "not in the file").
    pub(crate) fn add(
        &mut self,
        span: Option<Range<usize>>,
        key: impl Into<String>,
        problem: impl Into<String>,
        expected: impl Into<String>,
    ) {
        let (line, column) = span.map_or((0, 0), |s| line_col(self.text, s.start));
        self.list.push(Issue {
            file: self.file.to_path_buf(),
            line,
            column,
            key: key.into(),
            problem: problem.into(),
            expected: expected.into(),
        });
    }

    /// Remember where `key` was written, for checks made after parsing
    /// ([`crate::Config::issue_at`]).
    pub(crate) fn remember(&mut self, key: &str, span: Range<usize>) {
        let place = line_col(self.text, span.start);
        self.places.insert(key.to_string(), place);
    }

    /// The dotted key written at `span` (`output.channels`, `sinks[1].plugin`), from the
    /// document as written; without a document, the key on the span's line.
    pub(crate) fn key_of(&self, span: Range<usize>) -> String {
        self.document
            .as_ref()
            .and_then(|d| path_in_table(d, &span))
            .map(|path| dotted(&path))
            .unwrap_or_else(|| key_at(self.text, span.start))
    }

    /// A TOML syntax or type error from the parser (unknown key, wrong type, bad syntax).
    pub(crate) fn add_parse_error(&mut self, e: &toml::de::Error) {
        let key = e.span().map(|s| self.key_of(s)).unwrap_or_default();
        let (problem, expected) = split_message(e.message());
        self.add(e.span(), key, problem, plain_type(expected));
    }

    /// Add what values are accepted to a parser error about `key` (a wrong type says "an
    /// integer"; the section that checks the key knows which ones).
    pub(crate) fn amend_expected(&mut self, key: &str, accepted: &str) {
        for issue in self.list.iter_mut().filter(|i| i.key == key) {
            if issue.problem.starts_with("invalid type") && !issue.expected.contains(accepted) {
                issue.expected = format!("{}{accepted}", issue.expected);
            }
        }
    }

    /// Order the issues as they stand in the file (those without a place last).
    pub(crate) fn sort(&mut self) {
        self.list.sort_by_key(|i| (i.line == 0, i.line, i.column));
    }

    pub(crate) fn finish<T>(self, value: T) -> Result<T, Error> {
        if self.list.is_empty() {
            Ok(value)
        } else {
            Err(Error::Invalid(self.list))
        }
    }
}

/// serde phrases type errors as "invalid type: X, expected Y": split them so the report
/// reads like every other issue.
fn split_message(message: &str) -> (String, String) {
    let message = message.trim();
    match message.split_once(", expected ") {
        Some((p, x)) => (p.to_string(), x.to_string()),
        None => match message.split_once(" expected ") {
            Some((p, x)) => (p.trim_end_matches(',').to_string(), x.to_string()),
            None => (message.to_string(), String::new()),
        },
    }
}

/// serde names Rust types (`u16`, `f32`); a user wrote a number.
fn plain_type(expected: String) -> String {
    match expected.as_str() {
        "u8" | "u16" | "u32" | "u64" | "usize" | "i8" | "i16" | "i32" | "i64" | "isize" => {
            "an integer".into()
        }
        "f32" | "f64" => "a number".into(),
        _ => expected,
    }
}

/// 1-based line and column of byte `offset` (column counted in characters).
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

/// The key written on the line holding `offset`: `a = …` gives `a`, `[a.b]` gives `a.b`.
fn key_at(text: &str, offset: usize) -> String {
    let offset = offset.min(text.len());
    let start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let end = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
    let line = text[start..end].trim();
    if let Some(header) = line.strip_prefix('[') {
        return header
            .trim_matches(|c| c == '[' || c == ']')
            .trim()
            .to_string();
    }
    line.split_once('=')
        .map(|(k, _)| k.trim().to_string())
        .unwrap_or_default()
}

/// One step from a table into its values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    /// A key of a table.
    Key(String),
    /// An element of an array.
    Index(usize),
}

/// `output.loudness.target_lufs`, `sinks[1].plugin`.
pub(crate) fn dotted(path: &[Step]) -> String {
    let mut s = String::new();
    for step in path {
        match step {
            Step::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Step::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

fn contains(outer: &Range<usize>, inner: &Range<usize>) -> bool {
    outer.start <= inner.start && inner.end <= outer.end
}

/// The deepest entry of `table` whose key or value holds `span`. Every child is searched,
/// not only those inside their parent's span: a `[table]` header's span does not cover the
/// keys written under it.
pub(crate) fn path_in_table(table: &DeTable<'_>, span: &Range<usize>) -> Option<Vec<Step>> {
    for (key, value) in table.iter() {
        let step = Step::Key(key.get_ref().to_string());
        if let Some(mut inner) = path_in_value(value.get_ref(), span) {
            inner.insert(0, step);
            return Some(inner);
        }
        if contains(&key.span(), span) || contains(&value.span(), span) {
            return Some(vec![step]);
        }
    }
    None
}

fn path_in_value(value: &DeValue<'_>, span: &Range<usize>) -> Option<Vec<Step>> {
    match value {
        DeValue::Table(t) => path_in_table(t, span),
        DeValue::Array(a) => a.iter().enumerate().find_map(|(i, v)| {
            if let Some(mut inner) = path_in_value(v.get_ref(), span) {
                inner.insert(0, Step::Index(i));
                Some(inner)
            } else {
                contains(&v.span(), span).then(|| vec![Step::Index(i)])
            }
        }),
        _ => None,
    }
}

/// Remove the value at `path` from `table`; false when there is nothing there.
pub(crate) fn remove_at(table: &mut DeTable<'_>, path: &[Step]) -> bool {
    let Some((Step::Key(first), rest)) = path.split_first() else {
        return false;
    };
    if rest.is_empty() {
        let key = table.keys().find(|k| k.get_ref() == first).cloned();
        return key.is_some_and(|k| table.remove(&k).is_some());
    }
    let Some(value) = table.iter_mut().find(|(k, _)| k.get_ref() == first) else {
        return false;
    };
    remove_in_value(value.1, rest)
}

fn remove_in_value(value: &mut Spanned<DeValue<'_>>, path: &[Step]) -> bool {
    match (value.get_mut(), path) {
        (DeValue::Table(t), _) => remove_at(t, path),
        (DeValue::Array(a), [Step::Index(i), rest @ ..]) => {
            if rest.is_empty() {
                if *i >= a.len() {
                    return false;
                }
                let mut kept = toml::de::DeArray::new();
                for (j, v) in a.iter().enumerate() {
                    if j != *i {
                        kept.push(v.clone());
                    }
                }
                *a = kept;
                true
            } else {
                a.get_mut(*i).is_some_and(|v| remove_in_value(v, rest))
            }
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_from_one() {
        assert_eq!(line_col("a\nbc\n", 0), (1, 1));
        assert_eq!(line_col("a\nbc\n", 3), (2, 2));
    }

    #[test]
    fn a_span_is_named_by_its_dotted_key_and_can_be_removed() {
        let text = "[output]\nchannels = 2\n[[sinks]]\nplugin = \"a\"\n[[sinks]]\nplugin = \"b\"\n";
        let mut doc = DeTable::parse(text).unwrap().into_inner();
        let at = |needle: &str| {
            let start = text.find(needle).unwrap();
            start..start + needle.len()
        };
        let path = path_in_table(&doc, &at("2")).unwrap();
        assert_eq!(dotted(&path), "output.channels");
        let path = path_in_table(&doc, &at("\"b\"")).unwrap();
        assert_eq!(dotted(&path), "sinks[1].plugin");
        assert!(remove_at(&mut doc, &path[..2]));
        let left = doc.iter().find(|(k, _)| k.get_ref() == "sinks").unwrap();
        assert_eq!(left.1.get_ref().as_array().unwrap().len(), 1);
    }
}
