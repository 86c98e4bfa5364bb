//! Checks shared by the sections: durations and counts within their range, files that
//! exist, addresses that parse.

use std::fmt::Display;
use std::net::SocketAddr;
use std::ops::{Range, RangeInclusive};
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::Spanned;

use super::diagnostics::Issues;

pub(crate) fn span_of<T>(v: &Option<Spanned<T>>) -> Option<Range<usize>> {
    v.as_ref().map(|s| s.span())
}

/// The value written, or `default`.
pub(crate) fn value_or<T: Copy>(v: &Option<Spanned<T>>, default: T) -> T {
    v.as_ref().map_or(default, |s| *s.get_ref())
}

/// A number within `range` (inclusive); outside it, an issue stating the range.
pub(crate) fn number_in<T: Copy + PartialOrd + Display>(
    v: &Option<Spanned<T>>,
    default: T,
    key: &str,
    range: RangeInclusive<T>,
    unit: &str,
    issues: &mut Issues<'_>,
) -> T {
    let unit = if unit.is_empty() {
        String::new()
    } else {
        format!(" {unit}")
    };
    let accepted = format!("{} to {}{unit}", range.start(), range.end());
    let x = value_or(v, default);
    if v.is_none() {
        // Absent, or left out for a wrong type: that report gets the range.
        issues.amend_expected(key, &format!(" from {accepted}"));
    } else if !range.contains(&x) {
        issues.add(
            span_of(v),
            key,
            format!("{x}{unit} is out of range"),
            accepted,
        );
    }
    x
}

/// A duration in milliseconds within `range`; outside it, an issue stating the range.
pub(crate) fn ms_in(
    v: &Option<Spanned<u64>>,
    default: u64,
    key: &str,
    range: RangeInclusive<u64>,
    issues: &mut Issues<'_>,
) -> Duration {
    Duration::from_millis(number_in(v, default, key, range, "ms", issues))
}

/// The longest any timeout, grace or retry wait may be: one hour.
pub(crate) const HOUR_MS: u64 = 3_600_000;

/// Resolve a file path from the config and check that it is a readable file.
pub(crate) fn existing_file(
    base: &Path,
    value: &Spanned<String>,
    key: &str,
    what: &str,
    issues: &mut Issues<'_>,
) -> PathBuf {
    issues.remember(key, value.span());
    let given = Path::new(value.get_ref());
    let resolved = if given.is_absolute() {
        given.to_path_buf()
    } else {
        base.join(given)
    };
    match std::fs::metadata(&resolved) {
        Ok(m) if m.is_file() => {}
        Ok(_) => issues.add(
            Some(value.span()),
            key,
            format!("{} is not a file", resolved.display()),
            what,
        ),
        Err(e) => issues.add(
            Some(value.span()),
            key,
            format!("{}: {e}", resolved.display()),
            what,
        ),
    }
    resolved
}

pub(crate) fn socket_addr(
    v: &Spanned<String>,
    key: &str,
    issues: &mut Issues<'_>,
) -> Option<SocketAddr> {
    issues.remember(key, v.span());
    match v.get_ref().parse() {
        Ok(a) => Some(a),
        Err(_) => {
            issues.add(
                Some(v.span()),
                key,
                format!("{:?} is not an address", v.get_ref()),
                "IP:PORT, e.g. \"127.0.0.1:7700\"",
            );
            None
        }
    }
}

/// What [`valid_output_id`] accepts, for messages.
const OUTPUT_ID_RULE: &str = "1 to 64 characters from a-z, A-Z, 0-9, '-', '_'";

/// Output ids appear in URLs and logs: keep them short and plain.
pub fn valid_output_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// An output id written at `key`, reported there unless [`valid_output_id`].
pub(crate) fn check_output_id(id: &Spanned<String>, key: &str, issues: &mut Issues<'_>) {
    if !valid_output_id(id.get_ref()) {
        issues.add(
            Some(id.span()),
            key,
            format!("{:?} is not a valid output id", id.get_ref()),
            OUTPUT_ID_RULE,
        );
    }
}
