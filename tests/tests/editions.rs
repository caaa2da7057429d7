//! The Chinese edition (`book/zh/src`) keeps step with the English one
//! (`book/src`): a chapter changed in one and not the other fails here, with
//! the chapter's name.
//!
//! In step means, for the two editions:
//! - the same chapters, at the same paths, in the same order (`SUMMARY.md`);
//! - for each pair of chapters:
//!   - the same `{{#include}}`s, in the same order, naming the same files
//!     (each edition's paths are resolved from its own page, so
//!     `../../../pid-demo/...` in English is `../../../../pid-demo/...` in
//!     Chinese: one file, shown twice, never copied);
//!   - the same sections: every `##` and `###` heading, with the same
//!     anchor. A Chinese heading keeps its English twin's anchor with
//!     `{#id}`, so a link to `pid/README.md#first-pid-is-1` works in both;
//!   - the same number of exercises (each has its solution in a `<details>`);
//!   - the same pictures, each of which resolves (the Chinese edition's are
//!     links to the English files, which mdbook-linkcheck2 will not follow).
//!
//! What it cannot see is prose: a sentence rewritten in one edition only.
//! For that the chapters are read side by side when one changes.

use std::fs;
use std::path::{Component, Path, PathBuf};

use regex::Regex;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[test]
fn the_editions_are_in_step() {
    let problems = compare(&repo().join("book/src"), &repo().join("book/zh/src"));
    assert!(
        problems.is_empty(),
        "the Chinese edition (book/zh/src) is out of step with the English one:\n  {}",
        problems.join("\n  ")
    );
}

/// The comparison must be able to fail: two small editions with one
/// difference of each kind give one report of each, naming the chapter.
#[test]
fn differences_are_reported_by_chapter() {
    let dir = std::env::temp_dir().join(format!("nslab-editions-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    let en = dir.join("en/src");
    let zh = dir.join("zh/src");
    let write = |root: &Path, path: &str, text: &str| {
        let file = root.join(path);
        fs::create_dir_all(file.parent().expect("a folder")).expect("create");
        fs::write(file, text).expect("write");
    };
    write(&en, "SUMMARY.md", "- [A](a/README.md)\n- [B](b.md)\n- [C](c.md)\n");
    write(&zh, "SUMMARY.md", "- [甲](a/README.md)\n- [乙](b.md)\n- [丁](d.md)\n");
    write(
        &en,
        "a/README.md",
        "# A\n\n## First step\n\n{{#include ../../../code.rs:one}}\n\n## Exercises\n\n\
         1. Why?\n<details>yes</details>\n2. How?\n<details>so</details>\n",
    );
    write(
        &zh,
        "a/README.md",
        "# 甲\n\n## 第一步 {#first-step}\n\n{{#include ../../../code.rs:two}}\n\n\
         ## 练习 {#exercise}\n\n1. 为什么？\n<details>是</details>\n",
    );
    write(&en, "b.md", "# B\n\n```text\n## not a heading\n```\n");
    write(&zh, "b.md", "# 乙\n\n```text\n## not a heading\n```\n");
    write(&en, "a/pic.svg", "<svg/>");
    let en_a = fs::read_to_string(en.join("a/README.md")).expect("read");
    write(&en, "a/README.md", &format!("{en_a}\n![a picture](pic.svg)\n"));
    let zh_a = fs::read_to_string(zh.join("a/README.md")).expect("read");
    write(&zh, "a/README.md", &format!("{zh_a}\n![一幅图](pic.svg)\n"));
    let problems = compare(&en, &zh);
    let _ = fs::remove_dir_all(&dir);

    let expected = [
        "chapters differ",
        "a/README.md (A): includes differ",
        "a/README.md (A): sections differ",
        "a/README.md (A): 2 exercise(s) in English, 1 in Chinese",
        "a/README.md (A): the Chinese edition's picture pic.svg does not resolve",
    ];
    for what in expected {
        assert!(
            problems.iter().any(|p| p.contains(what)),
            "no report says `{what}`; reports:\n  {}",
            problems.join("\n  ")
        );
    }
    assert!(!problems.iter().any(|p| p.starts_with("b.md")), "b.md is in step: {problems:?}");
}

/// Every difference between the two editions rooted at `en` and `zh`.
fn compare(en: &Path, zh: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    let en_chapters = chapters(en);
    let zh_chapters = chapters(zh);
    let en_paths: Vec<&str> = en_chapters.iter().map(|(_, p)| p.as_str()).collect();
    let zh_paths: Vec<&str> = zh_chapters.iter().map(|(_, p)| p.as_str()).collect();
    if en_paths != zh_paths {
        problems.push(format!(
            "SUMMARY.md: the chapters differ (same paths, same order):\n    English: {}\n    \
             Chinese: {}",
            en_paths.join(" "),
            zh_paths.join(" ")
        ));
    }
    for (title, path) in &en_chapters {
        if !zh_paths.contains(&path.as_str()) {
            continue; // reported above
        }
        let name = format!("{path} ({title})");
        let (Some(en_page), Some(zh_page)) = (Page::read(en, path), Page::read(zh, path)) else {
            problems.push(format!("{name}: missing in one edition"));
            continue;
        };
        if en_page.includes != zh_page.includes {
            problems.push(format!(
                "{name}: includes differ:\n    English: {:?}\n    Chinese: {:?}",
                en_page.includes, zh_page.includes
            ));
        }
        if en_page.sections != zh_page.sections {
            problems.push(format!(
                "{name}: sections differ (give each Chinese heading its English twin's \
                 anchor with {{#id}}):\n    English: {:?}\n    Chinese: {:?}",
                en_page.sections, zh_page.sections
            ));
        }
        let paths = |page: &Page| page.images.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>();
        if paths(&en_page) != paths(&zh_page) {
            problems.push(format!(
                "{name}: pictures differ:\n    English: {:?}\n    Chinese: {:?}",
                paths(&en_page),
                paths(&zh_page)
            ));
        }
        for (path, _) in zh_page.images.iter().filter(|(_, found)| !found) {
            problems.push(format!("{name}: the Chinese edition's picture {path} does not resolve"));
        }
        if en_page.exercises != zh_page.exercises {
            problems.push(format!(
                "{name}: {} exercise(s) in English, {} in Chinese",
                en_page.exercises, zh_page.exercises
            ));
        }
    }
    problems
}

/// `(title, path)` of every chapter `SUMMARY.md` links, in order.
fn chapters(src: &Path) -> Vec<(String, String)> {
    let summary = fs::read_to_string(src.join("SUMMARY.md")).unwrap_or_default();
    let link = Regex::new(r"\[([^\]]+)\]\(([^)]+\.md)\)").expect("re");
    link.captures_iter(&summary).map(|c| (c[1].to_owned(), c[2].to_owned())).collect()
}

/// What the step test compares of one chapter.
struct Page {
    /// `file:selector` of each include, the file relative to the repository.
    includes: Vec<String>,
    /// The anchor of each `##` and `###` heading, level first (`2 first-step`).
    sections: Vec<String>,
    /// How many solutions (`<details>`) the page hides.
    exercises: usize,
    /// The path of each picture (`![alt](path)`), and whether it resolves.
    images: Vec<(String, bool)>,
}

impl Page {
    fn read(src: &Path, path: &str) -> Option<Page> {
        let file = src.join(path);
        let text = fs::read_to_string(&file).ok()?;
        let folder = file.parent().expect("a page has a folder");
        let include =
            Regex::new(r"(^|[^\\])\{\{#(?:include|rustdoc_include)\s+([^}]+?)\s*\}\}").expect("re");
        let heading = Regex::new(r"^(#{2,3})\s+(.*?)\s*(?:\{#([^}\s]+)\})?\s*$").expect("re");
        let image = Regex::new(r"!\[[^\]]*\]\(([^)\s]+)\)").expect("re");
        let mut page =
            Page { includes: Vec::new(), sections: Vec::new(), exercises: 0, images: Vec::new() };
        let mut in_code = false;
        for line in text.lines() {
            if line.trim_start().starts_with("```") {
                in_code = !in_code;
            }
            for c in include.captures_iter(line) {
                page.includes.push(resolve(folder, &c[2]));
            }
            if in_code {
                continue;
            }
            if let Some(c) = heading.captures(line) {
                let id = c.get(3).map(|m| m.as_str().to_owned()).unwrap_or_else(|| slug(&c[2]));
                page.sections.push(format!("{} {id}", c[1].len()));
            }
            page.exercises += line.matches("<details>").count();
            for c in image.captures_iter(line) {
                page.images.push((c[1].to_owned(), folder.join(&c[1]).is_file()));
            }
        }
        Some(page)
    }
}

/// `PATH[:SELECTOR]` of an include, PATH resolved from the page's folder
/// (as mdBook does) and shown from the repository's top, so the same file
/// reads the same from either edition.
fn resolve(folder: &Path, args: &str) -> String {
    let (path, selector) = match args.split_once(':') {
        Some((path, selector)) => (path, format!(":{selector}")),
        None => (args, String::new()),
    };
    let normal = |p: &Path| {
        let mut out = PathBuf::new();
        for part in p.components() {
            match part {
                Component::ParentDir => {
                    out.pop();
                }
                Component::CurDir => {}
                other => out.push(other),
            }
        }
        out
    };
    let file = normal(&folder.join(path));
    let shown = file.strip_prefix(normal(&repo())).unwrap_or(&file).to_owned();
    format!("{}{selector}", shown.display())
}

/// The anchor mdBook gives a heading without an explicit `{#id}`: lower
/// case, spaces to `-`, only letters, digits, `-` and `_` kept.
fn slug(heading: &str) -> String {
    let plain = Regex::new(r"`|\*|\[([^\]]*)\]\([^)]*\)").expect("re").replace_all(heading, "$1");
    plain
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c.to_ascii_lowercase()),
            _ => None,
        })
        .flat_map(char::to_lowercase)
        .collect()
}
