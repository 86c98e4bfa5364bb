//! The rooms reader finds the imports it should and the circles there are, and none that
//! are not there.

use voxpace_test_kit::rooms::{circle, code, imports_of, paths_after};

#[test]
fn paths_and_groups_are_read_without_comments() {
    let a = code("use crate::{b::X, c::{D, E as F}};\nfn f() { crate::c::g() } // crate::d");
    assert_eq!(
        paths_after(&a, "crate"),
        [
            vec!["b", "X"],
            vec!["c", "D"],
            vec!["c", "E"],
            vec!["c", "g"]
        ]
    );
}

#[test]
fn a_circle_through_nested_files_and_reexports_is_found() {
    let graph = imports_of(&[
        ("crate", "pub mod a;\npub mod b;\npub use b::Thing;"),
        ("a", "mod inner;\npub use inner::Inner;"),
        ("a::inner", "use crate::Thing;\npub struct Inner;"),
        ("b", "use super::a::Inner;\npub struct Thing;"),
    ]);
    assert_eq!(graph["a::inner"], ["b".to_string()].into());
    assert_eq!(graph["b"], ["a::inner".to_string()].into());
    let c = circle(&graph).expect("a circle");
    assert_eq!(c.first(), c.last());
    assert!(c.contains(&"b".to_string()) && c.contains(&"a::inner".to_string()));
}

#[test]
fn declarations_reexports_and_test_modules_make_no_circle() {
    let graph = imports_of(&[
        ("crate", "pub mod s;"),
        ("s", "mod low;\nmod high;\npub use high::run;"),
        ("s::low", "pub struct L;\n#[cfg(test)]\nmod tests {\n    use super::*;\n    use crate::s::high::run;\n}"),
        ("s::high", "use super::low::L;\npub fn run() {}"),
    ]);
    assert_eq!(graph["s::low"], Default::default(), "{graph:?}");
    assert_eq!(circle(&graph), None);
}
