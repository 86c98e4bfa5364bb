//! The rooms of `core/src` import each other one way only: no file reaches, directly or
//! through others, back to itself. Read from the source text by the test kit's `rooms`
//! (`crate::room::…` paths, and `crate::Name` resolved through the `pub use` lines of
//! `lib.rs`); `runtime/tests/rooms.rs` reads the runtime the same way.

use std::path::Path;

use voxpace_test_kit::rooms::{circle, imports};

#[test]
fn no_room_of_core_imports_itself_through_others() {
    let graph = imports(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    assert!(graph.len() > 10, "read the rooms of core/src: {graph:?}");
    assert!(
        graph["track"].contains("handle") && graph["events"].contains("outcome"),
        "the reader sees imports: {graph:?}"
    );
    if let Some(c) = circle(&graph) {
        panic!("import circle in core/src: {}", c.join(" -> "));
    }
}
