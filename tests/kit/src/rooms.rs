//! The import graph of a crate's source files, read from the source text, and the circles
//! in it: the "no room imports itself through others" tests of core and the runtime.
//!
//! Every file of `src/` (but `main.rs` and `bin/`, other crates) is a room, named by its
//! module path (`serve::api::outputs`; `lib.rs` is `crate`). A room imports another when it
//! names a path into it: `crate::a::b::C`, `super::x`, `self::x`, or `x::Y` for a module `x`
//! it declares, groups (`crate::{a::B, c::{D, E}}`) expanded. A path that ends in a module
//! that only re-exports the name (`pub use b::C;` in `a/mod.rs`) leads to where the name
//! comes from, so a table-of-contents `mod.rs` or `lib.rs` joins no circle. `mod x;`
//! declarations are not imports; comments and inline modules (`mod tests { .. }`, whose
//! `super::*` is the file itself) are not read.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Room -> the rooms it imports.
pub type Graph = BTreeMap<String, BTreeSet<String>>;

/// The source without comments (doc links name rooms they do not import) and without
/// inline modules.
pub fn code(text: &str) -> String {
    let text: String = text
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    strip_inline_modules(&text)
}

fn strip_inline_modules(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = find_word(rest, "mod") {
        let after = &rest[at + 3..];
        let after_name = after.trim_start();
        let name = ident(after_name);
        let tail = after_name[name.len()..].trim_start();
        if name.is_empty() || !tail.starts_with('{') {
            out.push_str(&rest[..at + 3]);
            rest = after;
            continue;
        }
        out.push_str(&rest[..at]);
        let open = rest.len() - tail.len();
        let mut depth = 0usize;
        let mut end = rest.len();
        for (i, c) in rest[open..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = open + i + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// The first occurrence of `word` standing alone (not part of a longer identifier or path).
fn find_word(text: &str, word: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = text[from..].find(word) {
        let at = from + i;
        let before = text[..at].chars().next_back();
        let after = text[at + word.len()..].chars().next();
        let is_ident = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
        if !is_ident(before) && !is_ident(after) && !text[..at].ends_with("::") {
            return Some(at);
        }
        from = at + word.len();
    }
    None
}

/// The identifier at the start of `s`.
pub fn ident(s: &str) -> &str {
    let end = s
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    &s[..end]
}

/// The paths that start at `rest` (just after `head::`): `a::b::C` gives `[a, b, C]`,
/// `{a::B, C}` gives `[a, B]` and `[C]`; `X as Y` keeps `X`.
fn expand(rest: &str) -> Vec<Vec<String>> {
    let rest = rest.trim_start();
    if let Some(group) = rest.strip_prefix('{') {
        let mut items = Vec::new();
        let (mut depth, mut start) = (0usize, 0usize);
        for (i, c) in group.char_indices() {
            match c {
                '{' => depth += 1,
                '}' if depth == 0 => {
                    items.push(&group[start..i]);
                    break;
                }
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    items.push(&group[start..i]);
                    start = i + 1;
                }
                _ => {}
            }
        }
        return items
            .into_iter()
            .filter(|i| !i.trim().is_empty())
            .flat_map(expand)
            .collect();
    }
    if rest.starts_with('*') {
        return vec![vec!["*".to_string()]];
    }
    let first = ident(rest);
    if first.is_empty() {
        return vec![Vec::new()];
    }
    let after = &rest[first.len()..];
    match after.trim_start().strip_prefix("::") {
        Some(more) => expand(more)
            .into_iter()
            .map(|mut p| {
                p.insert(0, first.to_string());
                p
            })
            .collect(),
        None => vec![vec![first.to_string()]],
    }
}

/// Every path in `code` that starts with `head::` (`head` standing alone), as segments
/// after the head.
pub fn paths_after(code: &str, head: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let pat = format!("{head}::");
    let mut from = 0;
    while let Some(i) = code[from..].find(&pat) {
        let at = from + i;
        from = at + pat.len();
        let before = code[..at].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        out.extend(expand(&code[from..]));
    }
    out
}

/// The modules a file declares (`mod x;`, whatever its visibility).
fn declared(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(i) = find_word(&code[from..], "mod") {
        let rest = code[from + i + 3..].trim_start();
        let name = ident(rest);
        if !name.is_empty() && rest[name.len()..].trim_start().starts_with(';') {
            out.push(name.to_string());
        }
        from += i + 3;
    }
    out
}

/// The re-exports of a file (`pub use`, `pub(crate) use`, ...): name -> the path (from the
/// file's module) it comes from.
fn reexports(code: &str) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(i) = find_word(&code[from..], "pub") {
        let at = from + i + 3;
        from = at;
        let mut rest = code[at..].trim_start();
        if let Some(r) = rest.strip_prefix('(') {
            rest = r.split_once(')').map_or(r, |(_, t)| t).trim_start();
        }
        let Some(tree) = rest.strip_prefix("use ") else {
            continue;
        };
        let tree = tree.split(';').next().unwrap_or("");
        out.extend(split_aliases(tree));
    }
    out
}

/// `a::{B, c::D as E}` -> (B, [a, B]), (E, [a, c, D]).
fn split_aliases(tree: &str) -> Vec<(String, Vec<String>)> {
    // Aliases are rare: read `X as Y` by replacing it with the original and the alias.
    let mut out = Vec::new();
    for path in expand(tree) {
        if let Some(last) = path.last() {
            out.push((last.clone(), path.clone()));
        }
    }
    for (at, _) in tree.match_indices(" as ") {
        let original = tree[..at]
            .rsplit(|c: char| !(c.is_alphanumeric() || c == '_'))
            .next()
            .unwrap_or("");
        let alias = ident(tree[at + 4..].trim_start());
        if let Some((_, path)) = out.iter().find(|(n, _)| n == original).cloned() {
            out.push((alias.to_string(), path));
        }
    }
    out
}

/// One crate's rooms as read from its `src/`.
#[derive(Debug)]
struct Crate {
    /// Module path -> its code.
    code: BTreeMap<String, String>,
}

impl Crate {
    fn read(src: &Path) -> Crate {
        let mut code = BTreeMap::new();
        read_dir(src, src, &mut code);
        Crate { code }
    }

    fn is_module(&self, m: &str) -> bool {
        self.code.contains_key(m)
    }

    fn join(base: &str, seg: &str) -> String {
        if base == "crate" {
            seg.to_string()
        } else {
            format!("{base}::{seg}")
        }
    }

    fn parent(m: &str) -> String {
        m.rsplit_once("::")
            .map_or("crate".to_string(), |(p, _)| p.to_string())
    }

    /// The room a path from module `base` leads to (following re-exports), if one of
    /// this crate.
    fn resolve(&self, base: &str, path: &[String], depth: usize) -> Option<String> {
        if depth > 16 {
            return None;
        }
        let mut m = base.to_string();
        let mut i = 0;
        while i < path.len() {
            let seg = path[i].as_str();
            let next = match seg {
                "super" => Self::parent(&m),
                "self" => m.clone(),
                _ => Self::join(&m, seg),
            };
            if (seg == "super" || seg == "self") || self.is_module(&next) {
                m = next;
                i += 1;
            } else {
                break;
            }
        }
        if let Some(name) = path.get(i) {
            let code = self.code.get(&m)?;
            if let Some((_, from)) = reexports(code).into_iter().find(|(n, _)| n == name) {
                // A name the module re-exports from another crate leads out of this one.
                return self.resolve(&m, &from, depth + 1);
            }
            // `other_crate::Name` (a lower-case segment that is no module here, with more
            // after it) leads out of this crate; `Type::method` and `item` stay in `m`.
            let lower = name.starts_with(|c: char| c.is_lowercase());
            if lower && path.len() > i + 1 {
                return None;
            }
        }
        self.is_module(&m).then_some(m)
    }

    fn graph(&self) -> Graph {
        self.code
            .iter()
            .map(|(m, code)| {
                let heads = ["crate", "super", "self"].map(String::from);
                let paths = heads.into_iter().chain(declared(code)).flat_map(|head| {
                    paths_after(code, &head).into_iter().map(move |p| {
                        let mut full = vec![head.clone()];
                        full.extend(p);
                        full
                    })
                });
                let to = paths
                    .filter_map(|full| {
                        let (base, rest) = match full[0].as_str() {
                            "crate" => ("crate".to_string(), &full[1..]),
                            _ => (m.clone(), &full[..]),
                        };
                        self.resolve(&base, rest, 0)
                    })
                    .filter(|to| to != m)
                    .collect();
                (m.clone(), to)
            })
            .collect()
    }
}

fn read_dir(root: &Path, dir: &Path, code: &mut BTreeMap<String, String>) {
    for entry in std::fs::read_dir(dir).expect("read a src directory") {
        let path = entry.expect("a directory entry").path();
        let rel = path.strip_prefix(root).expect("under src");
        if path.is_dir() {
            if rel != Path::new("bin") {
                read_dir(root, &path, code);
            }
            continue;
        }
        if path.extension().is_none_or(|e| e != "rs") || rel == Path::new("main.rs") {
            continue;
        }
        let mut parts: Vec<String> = rel
            .with_extension("")
            .iter()
            .map(|p| p.to_string_lossy().to_string())
            .collect();
        if parts.last().is_some_and(|p| p == "mod") {
            parts.pop();
        }
        let module = if parts == ["lib"] {
            "crate".to_string()
        } else {
            parts.join("::")
        };
        let text = std::fs::read_to_string(&path).expect("read a source file");
        code.insert(module, self::code(&text));
    }
}

/// The import graph of the crate whose sources are in `src`.
pub fn imports(src: &Path) -> Graph {
    Crate::read(src).graph()
}

/// The import graph of sources given as (module path, text): for testing the reader.
pub fn imports_of(files: &[(&str, &str)]) -> Graph {
    Crate {
        code: files
            .iter()
            .map(|(m, t)| (m.to_string(), code(t)))
            .collect(),
    }
    .graph()
}

/// A circle in `graph` (its rooms in order, the first repeated at the end), if any.
pub fn circle(graph: &Graph) -> Option<Vec<String>> {
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|room| circle_from(graph, room, &mut Vec::new(), &mut done))
}

fn circle_from(
    graph: &Graph,
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
        if let Some(c) = circle_from(graph, next, path, done) {
            return Some(c);
        }
    }
    path.pop();
    None
}
