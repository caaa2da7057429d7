//! mini-docker and mini-runc form layers, and every import points down.
//!
//! mini-docker is an engine (the command line, images, networks, logs, the
//! monitor of `run -d`) over mini-runc, an OCI-style runtime (the process
//! model) whose bottom layer talks to the kernel. Between the two crates
//! the direction is the compiler's business: mini-docker depends on
//! mini-runc, so mini-runc cannot name anything of mini-docker (this test
//! checks that the dependency goes that way only, and that the runtime
//! needs none of the engine's crates). Inside each crate it is this test's,
//! from the text of its `src/**/*.rs` (`bin/` excepted: those are crates
//! of their own):
//! - every file gets a layer from the crate's table (a file not in the
//!   table is an error: a new module must say where it belongs);
//! - every `crate::…` and `super::…` path in the code (comments and string
//!   literals left out; `use` groups like `crate::a::{b, c::d}` followed
//!   leaf by leaf; `super` taken from inside any inline `mod tests { … }`)
//!   is resolved to the file that defines it;
//! - a file importing from a higher layer is reported with the import;
//! - so is any set of files that import each other, directly or round a
//!   longer loop (an import cycle), with the import behind each step.
//!
//! Paths that do not start with `crate` or `super` (a module reaching its
//! own children as `dev::mount_dev`, or mini-docker naming `mini_runc::…`)
//! are not imports between layers of one crate and are not followed.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// mini-docker's layers, top (1) to bottom (2). A file takes the layer of
/// the longest entry its path (relative to `src/`) starts with; it may
/// import only from its own layer or a lower one (a higher number).
const ENGINE_LAYERS: &[(&str, u8)] = &[
    // 1. The command line: clap's structs live here and nowhere below.
    ("main.rs", 1),
    ("commands/", 1),
    // 2. The engine: images, networks, and the monitor that looks after
    //    `run -d`. The network's steps in the middle of a start reach the
    //    runtime as hooks in its `Config`, so the runtime never imports them.
    ("image/", 2),
    ("network/", 2),
    ("monitor.rs", 2),
    // A container's start, end and exit status, as `ps` and `inspect` show them.
    ("lifecycle.rs", 2),
    // The bundle: the decided settings as the `config.json` the runtime
    // reads, its one way in.
    ("bundle.rs", 2),
    // Ending a container and removing what it leaves, for every caller.
    ("teardown.rs", 2),
];

/// mini-runc's layers, the same way.
const RUNTIME_LAYERS: &[(&str, u8)] = &[
    // 1. The process model: what an OCI runtime does with a bundle.
    ("lib.rs", 1),
    ("container/", 1),
    // 2. Kernel-facing parts that know nothing of containers, the errors
    //    both crates share, and the RFC 3339 times both write.
    ("rootfs/", 2),
    ("cgroups/", 2),
    ("security/", 2),
    // A user namespace's ID maps: /etc/subuid, newuidmap, a mapped child.
    ("userns.rs", 2),
    ("error.rs", 2),
    ("rfc3339.rs", 2),
];

/// Fewer files or imports than this means the walk found the wrong tree.
const ENGINE_MIN: (usize, usize) = (15, 40);
const RUNTIME_MIN: (usize, usize) = (22, 90);

/// Crates only the engine may use: the engine itself, netlink for its
/// networks (`rtnl`), and what reads images (tarballs, gzip, zstd, digests,
/// the progress bar of a load).
const ENGINE_ONLY_CRATES: &[&str] = &["mini-docker", "rtnl", "tar", "flate2", "sha2", "ruzstd"];

#[test]
fn mini_docker_imports_point_down() {
    check_crate("mini-docker", ENGINE_LAYERS, ENGINE_MIN);
}

#[test]
fn mini_runc_imports_point_down() {
    check_crate("mini-runc", RUNTIME_LAYERS, RUNTIME_MIN);
}

/// The arrow between the crates: mini-docker depends on mini-runc, and
/// mini-runc on none of the engine's crates (so an import of the engine
/// from the runtime cannot compile).
#[test]
fn the_engine_depends_on_the_runtime_never_the_reverse() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let engine = dependencies(&root.join("mini-docker/Cargo.toml"));
    assert!(
        engine.contains(&"mini-runc".to_owned()),
        "mini-docker does not use mini-runc: {engine:?}"
    );
    let runtime = dependencies(&root.join("mini-runc/Cargo.toml"));
    assert!(runtime.contains(&"nix".to_owned()), "mini-runc's dependencies not found: {runtime:?}");
    let wrong: Vec<&String> =
        runtime.iter().filter(|d| ENGINE_ONLY_CRATES.contains(&d.as_str())).collect();
    assert!(wrong.is_empty(), "mini-runc depends on the engine's crates {wrong:?}");
}

/// The names in a manifest's `[dependencies]` table (`name = …` or
/// `name.workspace = true`), without a TOML parser: one per line.
fn dependencies(manifest: &Path) -> Vec<String> {
    let text = fs::read_to_string(manifest).unwrap_or_else(|e| panic!("{manifest:?}: {e}"));
    let mut in_table = false;
    let mut names = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_table = line == "[dependencies]";
        } else if in_table && !line.is_empty() && !line.starts_with('#') {
            let name = line.split(['=', '.', ' ']).next().unwrap_or("");
            names.push(name.to_owned());
        }
    }
    names
}

/// Reads `../<name>/src` and asserts it has no layering problem.
fn check_crate(name: &str, table: &[(&str, u8)], (min_files, min_imports): (usize, usize)) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(name).join("src");
    let tree = Tree::read(&src);
    assert!(tree.files.len() >= min_files, "only {} files under {src:?}", tree.files.len());
    let imports: usize = tree.files.values().map(|f| f.imports.len()).sum();
    assert!(imports >= min_imports, "only {imports} imports found under {src:?}");
    let problems = tree.check(table);
    assert!(
        problems.is_empty(),
        "{} layering problem(s) in {name}/src (see tests/tests/layers.rs):\n  {}",
        problems.len(),
        problems.join("\n  ")
    );
}

/// The checker must be able to fail: a small tree with one upward import
/// and one cycle gets exactly those two reports, and nothing for the
/// imports hidden in comments and strings or for a test module's `super`.
#[test]
fn upward_imports_and_cycles_are_reported() {
    let dir = std::env::temp_dir().join(format!("nslab-layers-test-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    let write = |path: &str, text: &str| {
        let path = dir.join(path);
        fs::create_dir_all(path.parent().expect("parent")).expect("create the fake tree");
        fs::write(path, text).expect("write the fake tree");
    };
    write("main.rs", "mod cli;\nmod low;\npub const EXIT: u8 = 125;\nfn main() { cli::go(); }\n");
    write("cli.rs", "use crate::low::{a::{self, A}, b::B};\npub fn go() {}\n");
    write("low/mod.rs", "pub mod a;\npub mod b;\npub mod c;\n");
    // The upward import, written the way `crate::EXIT_RUNTIME` was.
    write("low/a.rs", "pub struct A;\npub fn f() -> u8 { crate::EXIT }\n");
    // The cycle: b and c import each other.
    write("low/b.rs", "use crate::low::c::C;\npub struct B;\n");
    write(
        "low/c.rs",
        "use super::b::B;\n\
         pub struct C;\n\
         // crate::cli::go() in a comment is no import\n\
         /// nor in a doc comment: [`crate::cli::go`]\n\
         const S: &str = \"crate::cli::go\";\n\
         const R: &str = r#\"crate::cli\"#;\n\
         fn life<'a>(x: &'a str) -> char { let _ = x; '{' }\n\
         #[cfg(test)]\n\
         mod tests {\n    use super::*;\n    use crate::low::a::A;\n}\n",
    );
    let table: &[(&str, u8)] = &[("main.rs", 1), ("cli.rs", 1), ("low/", 2)];
    let problems = Tree::read(&dir).check(table);
    let _ = fs::remove_dir_all(&dir);
    assert_eq!(problems.len(), 2, "expected one upward import and one cycle: {problems:#?}");
    assert_eq!(
        problems[0],
        "low/a.rs (layer 2) imports `crate::EXIT` from main.rs (layer 1), a higher layer"
    );
    assert_eq!(
        problems[1],
        "import cycle of 2 files (low/b.rs, low/c.rs): \
         low/b.rs -> low/c.rs (`crate::low::c::C`), low/c.rs -> low/b.rs (`super::b::B`)"
    );
}

/// The files of one crate's `src/`, by path relative to it.
struct Tree {
    files: BTreeMap<String, File>,
}

struct File {
    /// (the path as written, the file it resolves to), in order.
    imports: Vec<(String, String)>,
}

impl Tree {
    fn read(src: &Path) -> Tree {
        let mut paths = Vec::new();
        walk(src, src, &mut paths);
        let modules: BTreeMap<Vec<String>, String> =
            paths.iter().map(|rel| (module_of(rel), rel.clone())).collect();
        let mut files = BTreeMap::new();
        for rel in paths {
            let text = fs::read_to_string(src.join(&rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
            let module = module_of(&rel);
            let imports = references(&text, &module)
                .into_iter()
                .filter_map(|(written, path)| Some((written, resolve(&modules, &path)?)))
                .filter(|(_, target)| *target != rel)
                .collect();
            files.insert(rel, File { imports });
        }
        Tree { files }
    }

    /// Every problem, one line each: files without a layer, upward
    /// imports, then import cycles.
    fn check(&self, table: &[(&str, u8)]) -> Vec<String> {
        let layer = |rel: &str| {
            table.iter().filter(|(prefix, _)| rel.starts_with(prefix)).max_by_key(|(p, _)| p.len())
        };
        let mut problems = Vec::new();
        for (rel, file) in &self.files {
            let Some(&(_, mine)) = layer(rel) else {
                problems.push(format!("{rel} has no layer: add it to the table in layers.rs"));
                continue;
            };
            for (written, target) in &file.imports {
                if let Some(&(_, theirs)) = layer(target)
                    && theirs < mine
                {
                    problems.push(format!(
                        "{rel} (layer {mine}) imports `{written}` from {target} (layer {theirs}), \
                         a higher layer"
                    ));
                }
            }
        }
        // One line per import, however often it is written.
        let mut seen = BTreeSet::new();
        problems.retain(|p| seen.insert(p.clone()));
        for (members, cycle) in self.cycles() {
            let steps: Vec<String> = cycle
                .iter()
                .zip(cycle.iter().cycle().skip(1))
                .map(|(from, to)| {
                    let written = self.files[from]
                        .imports
                        .iter()
                        .find(|(_, target)| target == to)
                        .map(|(w, _)| w.as_str())
                        .unwrap_or("?");
                    format!("{from} -> {to} (`{written}`)")
                })
                .collect();
            problems.push(format!(
                "import cycle of {} files ({}): {}",
                members.len(),
                members.join(", "),
                steps.join(", ")
            ));
        }
        problems
    }

    /// Each set of files that import each other (each strongly connected
    /// component of two files or more, Tarjan's algorithm), with one loop
    /// through it from its first file by name.
    fn cycles(&self) -> Vec<(Vec<String>, Vec<String>)> {
        let names: Vec<&String> = self.files.keys().collect();
        let index_of: BTreeMap<&String, usize> =
            names.iter().enumerate().map(|(i, n)| (*n, i)).collect();
        let edges: Vec<BTreeSet<usize>> = names
            .iter()
            .map(|n| {
                let imports = &self.files[*n].imports;
                imports.iter().filter_map(|(_, t)| index_of.get(t).copied()).collect()
            })
            .collect();
        let mut components = Vec::new();
        let mut state = Tarjan {
            edges: &edges,
            index: vec![None; names.len()],
            low: vec![0; names.len()],
            stack: Vec::new(),
            on_stack: vec![false; names.len()],
            next: 0,
        };
        for v in 0..names.len() {
            if state.index[v].is_none() {
                state.visit(v, &mut components);
            }
        }
        components.sort();
        components
            .into_iter()
            .map(|component| {
                let inside: BTreeSet<usize> = component.iter().copied().collect();
                let members = component.iter().map(|&i| names[i].clone()).collect();
                let path = loop_through(&edges, &inside, component[0]);
                (members, path.into_iter().map(|i| names[i].clone()).collect())
            })
            .collect()
    }
}

struct Tarjan<'a> {
    edges: &'a [BTreeSet<usize>],
    index: Vec<Option<usize>>,
    low: Vec<usize>,
    stack: Vec<usize>,
    on_stack: Vec<bool>,
    next: usize,
}

impl Tarjan<'_> {
    fn visit(&mut self, v: usize, out: &mut Vec<Vec<usize>>) {
        self.index[v] = Some(self.next);
        self.low[v] = self.next;
        self.next += 1;
        self.stack.push(v);
        self.on_stack[v] = true;
        for &w in &self.edges[v] {
            match self.index[w] {
                None => {
                    self.visit(w, out);
                    self.low[v] = self.low[v].min(self.low[w]);
                }
                Some(iw) if self.on_stack[w] => self.low[v] = self.low[v].min(iw),
                Some(_) => {}
            }
        }
        if Some(self.low[v]) == self.index[v] {
            let mut component = Vec::new();
            while let Some(w) = self.stack.pop() {
                self.on_stack[w] = false;
                component.push(w);
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                out.push(component);
            }
        }
    }
}

/// The shortest loop from `start` back to itself inside one component
/// (breadth-first), as the list of files before returning to `start`.
fn loop_through(edges: &[BTreeSet<usize>], inside: &BTreeSet<usize>, start: usize) -> Vec<usize> {
    let mut came_from: BTreeMap<usize, usize> = BTreeMap::new();
    let mut queue = std::collections::VecDeque::from([start]);
    while let Some(v) = queue.pop_front() {
        for &w in edges[v].iter().filter(|w| inside.contains(w)) {
            if w == start {
                let mut path = vec![v];
                while let Some(&p) = came_from.get(path.last().expect("path")) {
                    path.push(p);
                }
                path.reverse();
                return path;
            }
            if let std::collections::btree_map::Entry::Vacant(e) = came_from.entry(w) {
                e.insert(v);
                queue.push_back(w);
            }
        }
    }
    vec![start]
}

/// Every `.rs` file under `dir`, relative to `src`, `bin/` left out.
fn walk(src: &Path, dir: &Path, out: &mut Vec<String>) {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{dir:?}: {e}"))
        .map(|e| e.expect("directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        let rel = path.strip_prefix(src).expect("inside src").to_string_lossy().into_owned();
        if path.is_dir() {
            if rel != "bin" {
                walk(src, &path, out);
            }
        } else if rel.ends_with(".rs") {
            out.push(rel);
        }
    }
}

/// The module path: `container/state.rs` is `["container", "state"]`, a
/// `mod.rs` is its folder, `main.rs` (or `lib.rs`) the root `[]`.
fn module_of(rel: &str) -> Vec<String> {
    let mut parts: Vec<String> =
        rel.trim_end_matches(".rs").split('/').map(str::to_owned).collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "main" | "lib")) {
        parts.pop();
    }
    parts
}

/// The file defining `path`: the longest start of it that is a module
/// (`crate::EXIT_RUNTIME` is the crate root's).
fn resolve(modules: &BTreeMap<Vec<String>, String>, path: &[String]) -> Option<String> {
    (0..=path.len()).rev().find_map(|n| modules.get(&path[..n]).cloned())
}

/// The code of a Rust file with comments, string and character literals
/// turned into spaces (so their text is never taken for a path or a brace).
fn code_only(text: &str) -> Vec<char> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = chars.clone();
    let blank = |out: &mut Vec<char>, from: usize, to: usize| {
        for c in &mut out[from..to.min(chars.len())] {
            if *c != '\n' {
                *c = ' ';
            }
        }
    };
    let ident = |c: char| c.is_alphanumeric() || c == '_';
    let mut i = 0;
    while i < chars.len() {
        let at = |k: usize| chars.get(k).copied().unwrap_or('\0');
        let c = chars[i];
        if c == '/' && at(i + 1) == '/' {
            let end = (i..chars.len()).find(|&k| chars[k] == '\n').unwrap_or(chars.len());
            blank(&mut out, i, end);
            i = end;
        } else if c == '/' && at(i + 1) == '*' {
            let (mut depth, mut k) = (1, i + 2);
            while k < chars.len() && depth > 0 {
                if at(k) == '/' && at(k + 1) == '*' {
                    depth += 1;
                    k += 2;
                } else if at(k) == '*' && at(k + 1) == '/' {
                    depth -= 1;
                    k += 2;
                } else {
                    k += 1;
                }
            }
            blank(&mut out, i, k);
            i = k;
        } else if (c == 'r' || (c == 'b' && at(i + 1) == 'r'))
            && (i == 0 || !ident(chars[i - 1]))
            && {
                let k = if c == 'b' { i + 2 } else { i + 1 };
                let hashes = (k..chars.len()).take_while(|&j| chars[j] == '#').count();
                at(k + hashes) == '"'
            }
        {
            // A raw string: r"…", r#"…"#, br"…".
            let k = if c == 'b' { i + 2 } else { i + 1 };
            let hashes = (k..chars.len()).take_while(|&j| chars[j] == '#').count();
            let body = k + hashes + 1;
            let close: String =
                std::iter::once('"').chain(std::iter::repeat_n('#', hashes)).collect();
            let close: Vec<char> = close.chars().collect();
            let end = (body..chars.len())
                .find(|&j| chars[j..].starts_with(&close))
                .map_or(chars.len(), |j| j + close.len());
            blank(&mut out, i, end);
            i = end;
        } else if c == '"' {
            let mut k = i + 1;
            while k < chars.len() && chars[k] != '"' {
                k += if chars[k] == '\\' { 2 } else { 1 };
            }
            blank(&mut out, i, k + 1);
            i = k + 1;
        } else if c == '\'' {
            // A character literal ('x', '\n', '\''), or a lifetime ('a).
            let end = if at(i + 1) == '\\' {
                (i + 2..chars.len()).find(|&k| chars[k] == '\'').map(|k| k + 1)
            } else if at(i + 2) == '\'' {
                Some(i + 3)
            } else {
                None
            };
            match end {
                Some(end) => {
                    blank(&mut out, i, end);
                    i = end;
                }
                None => i += 1,
            }
        } else {
            i += 1;
        }
    }
    out
}

/// Every `crate::…` and `super::…` path in `text`, as written and as a
/// full module path, with `use` groups followed to their leaves.
fn references(text: &str, module: &[String]) -> Vec<(String, Vec<String>)> {
    let code = code_only(text);
    let scopes = inline_modules(&code);
    let mut out = Vec::new();
    let mut i = 0;
    while i < code.len() {
        let starts_word = i == 0 || !is_ident(code[i - 1]) && code[i - 1] != ':';
        let word = read_ident(&code, i);
        if !starts_word || (word != "crate" && word != "super") {
            i += word.len().max(1);
            continue;
        }
        // The module this text is in: the file's, plus enclosing inline mods.
        let mut here: Vec<String> = module.to_vec();
        here.extend(
            scopes.iter().filter(|(from, to, _)| *from < i && i < *to).map(|s| s.2.clone()),
        );
        let mut base = if word == "crate" { Vec::new() } else { here.clone() };
        let mut written = word.clone();
        let mut j = i + word.len();
        if word == "super" {
            base.pop();
        }
        // More `super::` steps up.
        while let Some(k) = after_colons(&code, j)
            && read_ident(&code, k) == "super"
        {
            base.pop();
            written.push_str("::super");
            j = k + "super".len();
        }
        // `pub(crate)`, `pub(super)`: a visibility, not a path.
        if after_colons(&code, j).is_some() {
            use_tree(&code, j, &written, &base, &mut out);
        }
        i = j;
    }
    out
}

/// Follows `::a::b`, `::{a, b::{c, self}}`, `::*` from `j`; pushes each leaf.
fn use_tree(
    code: &[char],
    j: usize,
    written: &str,
    base: &[String],
    out: &mut Vec<(String, Vec<String>)>,
) -> usize {
    let Some(mut k) = after_colons(code, j) else { return j };
    let (mut written, mut path) = (written.to_owned(), base.to_vec());
    loop {
        k = skip_space(code, k);
        match code.get(k) {
            Some('{') => {
                let mut m = k + 1;
                loop {
                    m = skip_space(code, m);
                    match code.get(m) {
                        Some('}') => return m + 1,
                        Some(',') => m += 1,
                        None => return m,
                        _ => {
                            let before = m;
                            m = use_tree_item(code, m, &written, &path, out);
                            if m == before {
                                m += 1;
                            }
                        }
                    }
                }
            }
            Some('*') => {
                out.push((format!("{written}::*"), path));
                return k + 1;
            }
            _ => {
                let name = read_ident(code, k);
                if name.is_empty() {
                    out.push((written, path));
                    return k;
                }
                written = format!("{written}::{name}");
                if name != "self" {
                    path.push(name.clone());
                }
                k += name.len();
                match after_colons(code, k) {
                    Some(next) => k = next,
                    None => {
                        out.push((written, path));
                        return k;
                    }
                }
            }
        }
    }
}

/// One item of a `{…}` group: `a`, `a::b`, `a::{…}`, `self`, `a as b`.
fn use_tree_item(
    code: &[char],
    m: usize,
    written: &str,
    path: &[String],
    out: &mut Vec<(String, Vec<String>)>,
) -> usize {
    let name = read_ident(code, m);
    if name.is_empty() {
        if code.get(m) == Some(&'*') {
            out.push((format!("{written}::*"), path.to_vec()));
            return m + 1;
        }
        return m;
    }
    let (item_written, mut item_path) = (format!("{written}::{name}"), path.to_vec());
    if name != "self" {
        item_path.push(name.clone());
    }
    let end = m + name.len();
    if after_colons(code, end).is_some() {
        return use_tree(code, end, &item_written, &item_path, out);
    }
    let shown = if name == "self" { written.to_owned() } else { item_written };
    out.push((shown, item_path));
    // `as alias`
    let k = skip_space(code, end);
    if read_ident(code, k) == "as" {
        let k = skip_space(code, k + 2);
        return k + read_ident(code, k).len();
    }
    end
}

/// Inline `mod name { … }` blocks: (start, end, name), by brace matching.
fn inline_modules(code: &[char]) -> Vec<(usize, usize, String)> {
    let mut found = Vec::new();
    let mut i = 0;
    while i < code.len() {
        let word = read_ident(code, i);
        if word == "mod" && (i == 0 || !is_ident(code[i - 1])) {
            let k = skip_space(code, i + 3);
            let name = read_ident(code, k);
            let open = skip_space(code, k + name.len());
            if !name.is_empty() && code.get(open) == Some(&'{') {
                let mut depth = 0;
                let mut end = code.len();
                for (m, c) in code.iter().enumerate().skip(open) {
                    match c {
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                end = m;
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                found.push((open, end, name));
            }
        }
        i += word.len().max(1);
    }
    found
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn read_ident(code: &[char], i: usize) -> String {
    code[i.min(code.len())..].iter().take_while(|c| is_ident(**c)).collect()
}

fn skip_space(code: &[char], mut i: usize) -> usize {
    while code.get(i).is_some_and(|c| c.is_whitespace()) {
        i += 1;
    }
    i
}

/// The position after `::` (spaces allowed around it), if `::` is next.
fn after_colons(code: &[char], i: usize) -> Option<usize> {
    let k = skip_space(code, i);
    (code.get(k) == Some(&':') && code.get(k + 1) == Some(&':')).then(|| skip_space(code, k + 2))
}
