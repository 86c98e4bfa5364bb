//! Placeholder: filled by the sinks issue.
