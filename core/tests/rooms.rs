//! The rooms of `core/src` import each other one way only: no file reaches, directly or
//! through others, back to itself. Read from the source text: `crate::room::…` paths, and
//! `crate::Name` resolved through the `pub use` lines of `lib.rs`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The source without comments (doc links name rooms they do not import).
fn code(text: &str) -> String {
    text.lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

fn ident(s: &str) -> &str {
    let end = s
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    &s[..end]
}

/// The first segment of every path after `crate::`: `crate::a::B` gives `a`,
/// `crate::{a::B, C}` gives `a` and `C`.
fn crate_paths(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0;
            let mut item_start = true;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => item_start = true,
                    c if item_start && !c.is_whitespace() => {
                        out.push(ident(&group[i..]).to_string());
                        item_start = false;
                    }
                    _ => {}
                }
            }
        } else {
            out.push(ident(rest).to_string());
        }
    }
    out
}

/// `pub use room::{A, B};` lines of lib.rs: exported name -> room.
fn reexports(lib: &str, rooms: &BTreeSet<String>) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    for stmt in lib.split(';') {
        let Some(rest) = stmt.trim().strip_prefix("pub use ") else {
            continue;
        };
        let room = ident(rest);
        if !rooms.contains(room) {
            continue;
        }
        let names = rest[room.len()..].trim_start_matches("::");
        for name in names.trim_matches(|c| c == '{' || c == '}').split(',') {
            let name = ident(name.trim());
            if !name.is_empty() {
                map.insert(name.to_string(), room.to_string());
            }
        }
    }
    map
}

fn imports() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut texts = BTreeMap::new();
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "rs") {
            let room = path.file_stem().unwrap().to_string_lossy().to_string();
            texts.insert(room, code(&std::fs::read_to_string(&path).unwrap()));
        }
    }
    let lib = texts.remove("lib").expect("core/src/lib.rs");
    let rooms: BTreeSet<String> = texts.keys().cloned().collect();
    let exported = reexports(&lib, &rooms);
    texts
        .iter()
        .map(|(room, text)| {
            let to = crate_paths(text)
                .into_iter()
                .filter_map(|p| {
                    if rooms.contains(&p) {
                        Some(p)
                    } else {
                        exported.get(&p).cloned()
                    }
                })
                .filter(|to| to != room)
                .collect();
            (room.clone(), to)
        })
        .collect()
}

/// A circle through `room`, if its imports lead back to something on `path`.
fn circle(
    graph: &BTreeMap<String, BTreeSet<String>>,
    room: &str,
    path: &mut Vec<String>,
    done: &mut BTreeSet<String>,
) -> Option<Vec<String>> {
    if let Some(i) = path.iter().position(|r| r == room) {
        let mut found = path[i..].to_vec();
        found.push(room.to_string());
        return Some(found);
    }
    if !done.insert(room.to_string()) {
        return None;
    }
    path.push(room.to_string());
    for next in graph.get(room).into_iter().flatten() {
        if let Some(c) = circle(graph, next, path, done) {
            return Some(c);
        }
    }
    path.pop();
    None
}

#[test]
fn no_room_of_core_imports_itself_through_others() {
    let graph = imports();
    assert!(graph.len() > 10, "read the rooms of core/src: {graph:?}");
    assert!(
        graph["track"].contains("handle") && graph["events"].contains("outcome"),
        "the reader sees imports: {graph:?}"
    );
    let mut done = BTreeSet::new();
    for room in graph.keys() {
        if let Some(c) = circle(&graph, room, &mut Vec::new(), &mut done) {
            panic!("import circle in core/src: {}", c.join(" -> "));
        }
    }
}

#[test]
fn the_reader_finds_a_circle_when_there_is_one() {
    let a = code("use crate::{b::X, Y};\nfn f() { crate::c::g() } // crate::d");
    assert_eq!(crate_paths(&a), ["b", "Y", "c"]);
    let rooms: BTreeSet<String> = ["b".to_string()].into();
    let exported = reexports("pub use b::{Y, Z};\npub use other::W;", &rooms);
    assert_eq!(exported.get("Z").map(String::as_str), Some("b"));
    assert!(!exported.contains_key("W"));
    let graph: BTreeMap<String, BTreeSet<String>> = [
        ("a".into(), ["b".into()].into()),
        ("b".into(), ["c".into()].into()),
        ("c".into(), ["a".into()].into()),
    ]
    .into();
    let c = circle(&graph, "a", &mut Vec::new(), &mut BTreeSet::new());
    assert_eq!(c.unwrap(), ["a", "b", "c", "a"]);
}
