//! The files of `runtime/src` import each other one way only: no file reaches, directly or
//! through others, back to itself (`serve/` included, room by room: `serve::api::outputs`,
//! `serve::stream`, ...). Read from the source text by the test kit's `rooms`, as core's
//! `tests/rooms.rs` reads core; `mod.rs` and `lib.rs` only re-export, so they join no circle.

use std::path::Path;

use voxpace_test_kit::rooms::{circle, imports};

/// The one circle left, outside `serve/`: `Error::Invalid` lists the configuration's
/// `Issue`s while the configuration's loaders return `Error`. It goes when `Issue` lives in a
/// room that returns no `Error` (the config split's diagnostics); until then only this edge,
/// from `error` into `config` (or a room of `config/`), is set aside, and nothing else may
/// close a circle.
fn known_exception(from: &str, to: &str) -> bool {
    from == "error" && (to == "config" || to.starts_with("config::"))
}

#[test]
fn no_file_of_the_runtime_imports_itself_through_others() {
    let mut graph = imports(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    assert!(graph.len() > 40, "read the files of runtime/src: {graph:?}");
    // The reader sees imports at every depth: a nested file into a sibling room, a child
    // into its parent's sibling, a name through a `pub use` of `lib.rs` and of a `mod.rs`.
    for (from, to) in [
        ("serve::api::replies", "serve::stream"),
        ("serve::stream::body", "serve::state"),
        ("serve::state", "config"),
        ("serve::state", "serve::frame"),
        ("serve", "serve::server"),
    ] {
        assert!(
            graph.get(from).is_some_and(|t| t.contains(to)),
            "{from} imports {to}: {graph:?}"
        );
    }
    for (from, to) in graph.iter_mut() {
        to.retain(|to| !known_exception(from, to));
    }
    if let Some(c) = circle(&graph) {
        panic!("import circle in runtime/src: {}", c.join(" -> "));
    }
}
