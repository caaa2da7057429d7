//! The book cannot break silently when code moves: every `{{#include}}` in
//! both editions (`book/src`, and the Chinese one in `book/zh/src`) must
//! resolve, and every chapter `SUMMARY.md` links must exist.
//!
//! For each `{{#include PATH}}`, `{{#include PATH:ANCHOR}}`,
//! `{{#include PATH:START:}}`, `{{#include PATH:START:END}}` (and the same
//! forms of `{{#rustdoc_include}}`), PATH is resolved against the folder of
//! the `.md` file, as mdBook does. Then:
//! - the file must exist;
//! - an ANCHOR must be opened (`ANCHOR: name`) and closed (`ANCHOR_END: name`)
//!   in that file, in that order;
//! - a line range must lie inside the file;
//! - an insta snapshot (`.snap`) must be included from exactly the first line
//!   after insta's header (the line after the second `---`), so the book shows
//!   the tested output and nothing of the header.
//!
//! Every problem is reported with the `.md` file, its line and the include.

use std::fs;
use std::path::{Path, PathBuf};

use regex::Regex;

/// The sources of both editions, from the `tests` crate's folder.
fn book_sources() -> [PathBuf; 2] {
    let book = Path::new(env!("CARGO_MANIFEST_DIR")).join("../book");
    [book.join("src"), book.join("zh/src")]
}

#[test]
fn every_include_resolves() {
    let problems: Vec<String> = book_sources().iter().flat_map(|src| check_book(src)).collect();
    assert!(
        problems.is_empty(),
        "{} broken include(s) or chapter link(s) in the book:\n  {}",
        problems.len(),
        problems.join("\n  ")
    );
}

/// The checker must be able to fail: a small book with one mistake of each
/// kind must produce one report for each.
#[test]
fn broken_includes_are_reported() {
    let dir = std::env::temp_dir().join(format!("nslab-book-test-{}", std::process::id()));
    let src = dir.join("src");
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(src.join("ch")).expect("create test book");
    let write = |path: &str, text: &str| fs::write(src.join(path), text).expect("write");
    write("SUMMARY.md", "# Summary\n\n- [Chapter](ch/README.md)\n- [Gone](gone.md)\n- [Draft]()\n");
    write("code.rs", "// ANCHOR: good\nfn good() {}\n// ANCHOR_END: good\n// ANCHOR: open\n");
    write("out.snap", "---\nsource: x.rs\nexpression: text\n---\nline five\nline six\n");
    write(
        "ch/README.md",
        "{{#include ../code.rs:good}}\n\
         {{#include ../out.snap:5:}}\n\
         \\{{#include ../escaped.rs}}\n\
         {{#include ../missing.rs}}\n\
         {{#include ../code.rs:absent}}\n\
         {{#include ../code.rs:open}}\n\
         {{#include ../out.snap:4:}}\n\
         {{#include ../out.snap}}\n\
         {{#rustdoc_include ../code.rs:9:12}}\n",
    );
    let problems = check_book(&src);
    let _ = fs::remove_dir_all(&dir);

    let expected = [
        "gone.md",
        "missing.rs",
        "anchor `absent`",
        "anchor `open`",
        "out.snap:4:",
        "out.snap}}",
        "code.rs:9:12",
    ];
    nslab_tests::assert_reports(&problems, &expected);
}

/// Every problem in the book rooted at `src`, one line each.
fn check_book(src: &Path) -> Vec<String> {
    let mut problems = check_summary(src);
    let mut pages = Vec::new();
    markdown_files(src, &mut pages);
    pages.sort();
    assert!(!pages.is_empty(), "no .md files under {}", src.display());
    for page in &pages {
        problems.extend(check_page(src, page));
    }
    problems
}

/// Every `[title](path.md)` in SUMMARY.md names a file; `[title]()` is a draft.
fn check_summary(src: &Path) -> Vec<String> {
    let summary = src.join("SUMMARY.md");
    let text =
        fs::read_to_string(&summary).unwrap_or_else(|e| panic!("read {}: {e}", summary.display()));
    let link = Regex::new(r"\[[^\]]*\]\(([^)]*)\)").expect("re");
    let mut problems = Vec::new();
    for (n, line) in text.lines().enumerate() {
        for c in link.captures_iter(line) {
            let target = c[1].split('#').next().unwrap_or("").trim();
            if !target.is_empty() && !src.join(target).is_file() {
                problems.push(format!(
                    "{}:{}: chapter {target} does not exist (a draft is written `[title]()`)",
                    edition_path(src, &summary),
                    n + 1
                ));
            }
        }
    }
    problems
}

/// `src/pid/README.md` or `zh/src/pid/README.md`: the page, and which edition.
fn edition_path(src: &Path, page: &Path) -> String {
    let book = Path::new(env!("CARGO_MANIFEST_DIR")).join("../book");
    let shown = page.strip_prefix(&book).or(page.strip_prefix(src)).unwrap_or(page);
    shown.display().to_string()
}

fn markdown_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = fs::read_dir(dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            markdown_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "md") {
            out.push(path);
        }
    }
}

/// What one `{{#include}}` asks for after the path.
#[derive(Debug, PartialEq)]
enum Part {
    Whole,
    Anchor(String),
    /// 1-based first line (None: from the start), last line (None: to the end).
    Lines(Option<usize>, Option<usize>),
}

fn check_page(src: &Path, page: &Path) -> Vec<String> {
    let text = fs::read_to_string(page).unwrap_or_else(|e| panic!("read {}: {e}", page.display()));
    // mdBook's own syntax: `\{{#...}}` is escaped and left as text.
    let include =
        Regex::new(r"(\\?)\{\{\s*#(include|rustdoc_include)\s+([^}]*?)\s*\}\}").expect("re");
    let shown = edition_path(src, page);
    let dir = page.parent().expect("page has a folder");
    let mut problems = Vec::new();
    for (n, line) in text.lines().enumerate() {
        for c in include.captures_iter(line) {
            if !c[1].is_empty() {
                continue;
            }
            let here = format!("{shown}:{}: {}", n + 1, &c[0]);
            if let Err(why) = check_include(dir, &c[3]) {
                problems.push(format!("{here}: {why}"));
            }
        }
    }
    problems
}

/// Checks one include's argument (`PATH`, `PATH:ANCHOR`, `PATH:START:END`, ...).
fn check_include(dir: &Path, args: &str) -> Result<(), String> {
    let (path, part) = parse(args)?;
    let text =
        fs::read_to_string(dir.join(path)).map_err(|e| format!("cannot read {path}: {e}"))?;
    let lines: Vec<&str> = text.lines().collect();
    match &part {
        Part::Whole => {}
        Part::Anchor(name) => check_anchor(&lines, name)?,
        Part::Lines(start, end) => {
            let first = start.unwrap_or(1);
            let last = end.unwrap_or(lines.len());
            if first == 0 || first > lines.len() || last < first || last > lines.len() {
                return Err(format!(
                    "lines {first}..{last} are outside the file ({} lines)",
                    lines.len()
                ));
            }
        }
    }
    if path.ends_with(".snap") {
        check_snapshot_start(&lines, &part)?;
    }
    Ok(())
}

/// Splits `PATH:REST` the way mdBook does: a number (or nothing) after the
/// first colon starts a line range, anything else is an anchor name.
fn parse(args: &str) -> Result<(&str, Part), String> {
    let mut pieces = args.splitn(3, ':');
    let path = pieces.next().unwrap_or("").trim();
    if path.is_empty() {
        return Err("no path".into());
    }
    let Some(first) = pieces.next() else { return Ok((path, Part::Whole)) };
    let second = pieces.next();
    let number = |s: &str| -> Result<Option<usize>, String> {
        if s.is_empty() {
            Ok(None)
        } else {
            s.parse().map(Some).map_err(|_| format!("`{s}` is not a line number"))
        }
    };
    match (first.parse::<usize>(), second) {
        // `PATH:N` is the single line N.
        (Ok(n), None) => Ok((path, Part::Lines(Some(n), Some(n)))),
        (_, Some(end)) => Ok((path, Part::Lines(number(first)?, number(end)?))),
        (Err(_), None) if first.is_empty() => Ok((path, Part::Whole)),
        (Err(_), None) => Ok((path, Part::Anchor(first.to_owned()))),
    }
}

/// `ANCHOR: name` then `ANCHOR_END: name`, matched on the whole name.
fn check_anchor(lines: &[&str], name: &str) -> Result<(), String> {
    let marker = |kind: &str| {
        let re = Regex::new(&format!(r"\b{kind}:\s*([\w-]+)")).expect("re");
        lines.iter().position(|line| re.captures(line).is_some_and(|c| &c[1] == name))
    };
    match (marker("ANCHOR"), marker("ANCHOR_END")) {
        (Some(start), Some(end)) if start < end => Ok(()),
        (Some(_), Some(_)) => Err(format!("anchor `{name}`: ANCHOR_END comes before ANCHOR")),
        (None, _) => Err(format!("anchor `{name}`: no `ANCHOR: {name}` in the file")),
        (_, None) => Err(format!("anchor `{name}`: no `ANCHOR_END: {name}` in the file")),
    }
}

/// A snapshot must be included from the first line after insta's header.
fn check_snapshot_start(lines: &[&str], part: &Part) -> Result<(), String> {
    let header_end = lines
        .iter()
        .enumerate()
        .filter(|(_, line)| line.trim_end() == "---")
        .nth(1)
        .map(|(i, _)| i + 1) // 1-based line of the closing `---`
        .ok_or("a .snap file without insta's `---` header")?;
    let wanted = header_end + 1;
    match part {
        Part::Lines(Some(start), _) if *start == wanted => Ok(()),
        Part::Lines(Some(start), _) => Err(format!(
            "a snapshot must be included from line {wanted} (after insta's header), not {start}"
        )),
        _ => Err(format!(
            "a snapshot must be included from line {wanted} (`:{wanted}:`), or the book shows insta's header"
        )),
    }
}
