//! The host crate's modules form layers, bottom to top, and each uses only layers below it
//! (or modules of its own layer, without a cycle). This test reads every `crate::…` path
//! in `host/src` (use lines and inline paths, comments stripped) and fails on an edge that
//! points up, on a cycle, and on a module that no layer names.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers of `host/src`, bottom first. A module may use modules of its own layer or of
/// layers below.
const LAYERS: &[&[&str]] = &[
    &["types", "error", "limits", "config", "output", "cache", "telemetry"],
    &["caps"],
    &["store"],
    &["api", "legacy", "remote"],
    &["instance"],
    &["warm"],
    &["call"],
    &["plugin"],
    &["engine"],
    &["registry"],
    // Events of triggers and listeners, and the scheduler that polls triggers.
    &["dispatch"],
    &["schedule"],
    // Tools over MCP (feature `mcp`): on top of the registry; the server mounts it.
    &["mcp"],
    // The HTTP server (feature `serve`): on top of the registry.
    &["serve"],
    // Benchmark hooks reach into the layers below; nothing uses them.
    &["bench_support"],
];

/// Module path of a source file relative to `src/` (`caps/http.rs` → `caps::http`,
/// `plugin/mod.rs` → `plugin`).
fn module_of(rel: &Path) -> String {
    let mut parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    let last = parts.pop().unwrap_or_default();
    let stem = last.trim_end_matches(".rs");
    if stem != "mod" {
        parts.push(stem.to_string());
    }
    parts.join("::")
}

/// Removes `//` comments (doc comments name modules in links without using them) and the
/// contents of string literals.
fn code_only(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let mut in_str = false;
        let mut prev = '\0';
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            if in_str {
                if c == '"' && prev != '\\' {
                    in_str = false;
                }
                prev = if prev == '\\' && c == '\\' { '\0' } else { c };
                continue;
            }
            if c == '/' && chars.peek() == Some(&'/') {
                break;
            }
            if c == '"' {
                in_str = true;
                prev = '\0';
                continue;
            }
            out.push(c);
        }
        out.push('\n');
    }
    out
}

/// Every `crate::a::b…` path in `code`, as its segments, with `{…}` groups expanded
/// (`crate::a::{b, c::D}` gives `a::b` and `a::c::D`).
fn crate_paths(code: &str) -> Vec<Vec<String>> {
    let mut paths = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        let before = rest[..i].chars().last();
        rest = &rest[i + "crate::".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue; // `plinth_crate::` or similar
        }
        paths.extend(tree(rest, &[]));
    }
    paths.retain(|p| !p.is_empty());
    paths
}

/// The paths of one use tree starting at `text`, each prefixed with `prefix`.
fn tree(text: &str, prefix: &[String]) -> Vec<Vec<String>> {
    let mut path = prefix.to_vec();
    let mut rest = text.trim_start();
    loop {
        if let Some(group) = rest.strip_prefix('{') {
            return split_group(group).into_iter().flat_map(|item| tree(item, &path)).collect();
        }
        let end = rest.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(rest.len());
        if end == 0 {
            break;
        }
        path.push(rest[..end].to_string());
        match rest[end..].strip_prefix("::") {
            Some(r) => rest = r,
            None => break,
        }
    }
    vec![path]
}

/// The top-level items of a `{…}` group whose opening brace was just consumed.
fn split_group(text: &str) -> Vec<&str> {
    let mut items = Vec::new();
    let (mut depth, mut start) = (0usize, 0usize);
    for (i, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => {
                items.push(&text[start..i]);
                break;
            }
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.into_iter().filter(|s| !s.trim().is_empty()).collect()
}

/// Module edges `from → to` of the sources under `src` (the crate root and binaries left
/// out: the root only re-exports, binaries are other crates).
fn edges(src: &Path) -> (BTreeSet<String>, BTreeSet<(String, String)>) {
    let mut files = Vec::new();
    collect(src, &mut files);
    let mut modules = BTreeSet::new();
    let mut texts = Vec::new();
    for file in files {
        let rel = file.strip_prefix(src).unwrap().to_path_buf();
        if rel == Path::new("lib.rs") || rel.starts_with("bin") {
            continue;
        }
        let module = module_of(&rel);
        modules.insert(module.clone());
        texts.push((module, std::fs::read_to_string(&file).unwrap()));
    }
    let mut out = BTreeSet::new();
    for (module, text) in &texts {
        for path in crate_paths(&code_only(text)) {
            // The longest prefix of the path that is a module of the crate.
            let target = (1..=path.len()).rev().map(|n| path[..n].join("::")).find(|m| modules.contains(m));
            if let Some(target) = target
                && &target != module
            {
                out.insert((module.clone(), target));
            }
        }
    }
    (modules, out)
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn top(module: &str) -> &str {
    module.split("::").next().unwrap()
}

/// Problems with `edges` between top-level modules under `layers`.
fn check(modules: &BTreeSet<String>, edges: &BTreeSet<(String, String)>, layers: &[&[&str]]) -> Vec<String> {
    let layer_of = |m: &str| layers.iter().position(|l| l.contains(&m));
    let mut problems = Vec::new();
    for m in modules {
        if layer_of(top(m)).is_none() {
            problems.push(format!("module `{m}` is in no layer: add it to LAYERS"));
        }
    }
    let mut graph: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (from, to) in edges {
        let (f, t) = (top(from), top(to));
        if f == t {
            continue;
        }
        if let (Some(lf), Some(lt)) = (layer_of(f), layer_of(t))
            && lt > lf
        {
            problems.push(format!("`{from}` uses `{to}`, a layer above it"));
        }
        graph.entry(f).or_default().insert(t);
    }
    if let Some(cycle) = find_cycle(&graph) {
        problems.push(format!("module cycle: {}", cycle.join(" → ")));
    }
    // Sibling submodules (`registry::state` and `registry::manifest`) must not form a
    // cycle either; a parent `mod.rs` and its children may use each other.
    let mut inner: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (from, to) in edges {
        if top(from) == top(to) && from.contains("::") && to.contains("::") {
            inner.entry(from.as_str()).or_default().insert(to.as_str());
        }
    }
    if let Some(cycle) = find_cycle(&inner) {
        problems.push(format!("submodule cycle: {}", cycle.join(" → ")));
    }
    problems
}

/// A cycle of `graph`, if it has one (depth-first search).
fn find_cycle<'a>(graph: &BTreeMap<&'a str, BTreeSet<&'a str>>) -> Option<Vec<&'a str>> {
    fn visit<'a>(
        n: &'a str,
        graph: &BTreeMap<&'a str, BTreeSet<&'a str>>,
        done: &mut BTreeSet<&'a str>,
        stack: &mut Vec<&'a str>,
    ) -> Option<Vec<&'a str>> {
        if let Some(i) = stack.iter().position(|s| *s == n) {
            let mut cycle = stack[i..].to_vec();
            cycle.push(n);
            return Some(cycle);
        }
        if !done.insert(n) {
            return None;
        }
        stack.push(n);
        for next in graph.get(n).into_iter().flatten() {
            if let Some(c) = visit(next, graph, done, stack) {
                return Some(c);
            }
        }
        stack.pop();
        None
    }
    let mut done = BTreeSet::new();
    for n in graph.keys() {
        if let Some(c) = visit(n, graph, &mut done, &mut Vec::new()) {
            return Some(c);
        }
    }
    None
}

#[test]
fn host_modules_only_use_layers_below_them() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../host/src");
    let (modules, edges) = edges(&src);
    assert!(modules.len() > 20 && edges.len() > 30, "found too little to check: {modules:?} {edges:?}");
    let problems = check(&modules, &edges, LAYERS);
    assert!(problems.is_empty(), "layering broken:\n{}", problems.join("\n"));
}

#[test]
fn the_check_finds_upward_edges_and_cycles() {
    let modules: BTreeSet<String> = ["types", "store", "call", "caps::a", "caps::b"].iter().map(|s| s.to_string()).collect();
    let layers: &[&[&str]] = &[&["types"], &["caps"], &["store", "call"]];
    let e = |pairs: &[(&str, &str)]| pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect::<BTreeSet<_>>();

    assert!(check(&modules, &e(&[("store", "types"), ("call", "store"), ("caps::a", "caps::b")]), layers).is_empty());
    let up = check(&modules, &e(&[("types", "store")]), layers);
    assert!(up.iter().any(|p| p.contains("a layer above")), "{up:?}");
    let cycle = check(&modules, &e(&[("store", "call"), ("call", "store")]), layers);
    assert!(cycle.iter().any(|p| p.contains("module cycle")), "{cycle:?}");
    let inner = check(&modules, &e(&[("caps::a", "caps::b"), ("caps::b", "caps::a")]), layers);
    assert!(inner.iter().any(|p| p.contains("submodule cycle")), "{inner:?}");
    let unknown = check(&modules, &e(&[]), &[&["types"]]);
    assert!(unknown.iter().any(|p| p.contains("in no layer")), "{unknown:?}");
}

#[test]
fn paths_are_read_from_code_not_comments() {
    let code = code_only("use crate::a::{b, c::{D, e}};\n// crate::zz\nlet s = \"crate::yy\"; crate::f::g(1);\n");
    let flat: Vec<String> = crate_paths(&code).iter().map(|p| p.join("::")).collect();
    assert_eq!(flat, ["a::b", "a::c::D", "a::c::e", "f::g"].map(String::from).to_vec());
}
