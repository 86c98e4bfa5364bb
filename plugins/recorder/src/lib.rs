//! Placeholder: the sinks issue fills this.
