//! The layering rule of `docs/architecture.md`: no module in `src/` imports another
//! that imports it back, directly or through others. Every `crate::` and `super::`
//! path in the non-test code of every file is an edge from that file's module to the
//! module it names; the test fails on any cycle and prints it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `src/worker/h1.rs` → `["worker", "h1"]`; `src/exchange/mod.rs` → `["exchange"]`.
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts
        .last()
        .is_some_and(|p| p == "mod" || p == "lib" || p == "main")
    {
        parts.pop();
    }
    parts
}

/// The code a file compiles outside its tests: up to its first `#[cfg(test)]`, without
/// comment lines.
fn code(text: &str) -> String {
    let end = text.find("#[cfg(test)]").unwrap_or(text.len());
    text[..end]
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The path segments after each occurrence of `prefix` (`crate::a::b::C` → `[a, b]`,
/// lower-case segments only: module names).
fn paths_after<'t>(text: &'t str, prefix: &str) -> Vec<Vec<&'t str>> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find(prefix) {
        let before = rest[..i].chars().last();
        rest = &rest[i + prefix.len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        let mut segs = Vec::new();
        let mut s = rest;
        loop {
            let end = s
                .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
                .unwrap_or(s.len());
            if end == 0 {
                break;
            }
            segs.push(&s[..end]);
            if !s[end..].starts_with("::") {
                break;
            }
            s = &s[end + 2..];
        }
        out.push(segs);
    }
    out
}

/// The longest prefix of `path` that is a module (a file) of the crate.
fn resolve(modules: &BTreeSet<Vec<String>>, path: &[String]) -> Option<Vec<String>> {
    (1..=path.len())
        .rev()
        .map(|n| path[..n].to_vec())
        .find(|p| modules.contains(p))
}

#[test]
fn no_module_imports_one_that_imports_it_back() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let modules: BTreeSet<Vec<String>> = files.iter().map(|f| module_of(&src, f)).collect();
    let mut graph: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for file in &files {
        let from = module_of(&src, file);
        let text = code(&std::fs::read_to_string(file).unwrap());
        let mut targets: Vec<Vec<String>> = paths_after(&text, "crate::")
            .into_iter()
            .map(|segs| segs.iter().map(|s| s.to_string()).collect())
            .collect();
        // `super::x` from `a/b/c.rs` (module a::b::c) names a::b::x.
        for segs in paths_after(&text, "super::") {
            let mut base: Vec<String> = from.clone();
            base.pop();
            base.extend(segs.iter().map(|s| s.to_string()));
            targets.push(base);
        }
        for t in targets {
            let Some(to) = resolve(&modules, &t) else {
                continue;
            };
            // A module naming its own ancestors (`super::Worker` in worker/h1.rs is
            // the folder's mod.rs) is the folder's inside, not an import between
            // layers; a module naming itself is no edge.
            if to.is_empty() || from.starts_with(&to) {
                continue;
            }
            graph.entry(from.clone()).or_default().insert(to);
        }
    }
    // Depth-first search for a back edge; report the first cycle found.
    fn visit(
        node: &Vec<String>,
        graph: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        state: &mut BTreeMap<Vec<String>, u8>,
        stack: &mut Vec<Vec<String>>,
    ) -> Option<Vec<Vec<String>>> {
        state.insert(node.clone(), 1);
        stack.push(node.clone());
        for next in graph.get(node).into_iter().flatten() {
            match state.get(next).copied() {
                Some(1) => {
                    let at = stack.iter().position(|n| n == next).unwrap();
                    let mut cycle = stack[at..].to_vec();
                    cycle.push(next.clone());
                    return Some(cycle);
                }
                Some(_) => {}
                None => {
                    if let Some(c) = visit(next, graph, state, stack) {
                        return Some(c);
                    }
                }
            }
        }
        stack.pop();
        state.insert(node.clone(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for node in graph.keys() {
        if state.contains_key(node) {
            continue;
        }
        if let Some(cycle) = visit(node, &graph, &mut state, &mut Vec::new()) {
            let names: Vec<String> = cycle.iter().map(|m| m.join("::")).collect();
            panic!("import cycle: {}", names.join(" -> "));
        }
    }
    // The seams of docs/architecture.md: handlers and the exchange stay below the
    // connection loops.
    for low in ["exchange", "proxy", "static_files", "net"] {
        for (from, tos) in &graph {
            if from.first().is_some_and(|f| f == low) {
                assert!(
                    !tos.iter().any(|t| t.first().is_some_and(|m| m == "worker")),
                    "{} imports worker/",
                    from.join("::")
                );
            }
        }
    }
}
