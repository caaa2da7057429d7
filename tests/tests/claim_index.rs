//! The book's claim index, `book/src/appendix/claims.md`, is generated here,
//! never typed by hand, and this test keeps it true.
//!
//! It reads:
//! - the claim IDs, one line each, from `book/src/appendix/claim-list.md`
//!   (a copy of the lab's claim list, so a clone of the repository has it);
//! - what each demo says it shows: `<demo> --list --json` of every built
//!   `*-demo` binary of the workspace (name, title, claim IDs);
//! - which chapters explain each claim: every page of `SUMMARY.md` that names
//!   the ID (the introduction and the appendix only mention IDs);
//! - each experiment's verdict as the tests assert it: the `verdict:` line of
//!   its root and rootless snapshots in `tests/tests/snapshots/`.
//!
//! It fails when the committed page differs from what it generates (run it
//! with `NSLAB_BLESS=1` to write the new page, then read the diff), when a
//! claim has no experiment or no chapter, when an experiment names an ID the
//! list does not have, and when a claim in [`PENDING`] already has an
//! experiment (so the allow-list only shrinks).
//!
//! The demo binaries are found next to this test's own executable
//! (`target/<profile>/`): `CARGO_BIN_EXE_<name>` exists only for binaries of
//! the test's own package, and the demos are other packages. `cargo test
//! --workspace` builds every binary before it runs any test; a binary that is
//! missing, or older than its sources, is reported with the command to fix it.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use regex::Regex;
use serde_json::Value;

/// Claims that no experiment shows yet, each with a few words on the work
/// that will show it. The index marks them "pending". Remove an entry as
/// soon as an experiment names the ID: this test fails until you do.
type Pending = [(&'static str, &'static str)];

const PENDING: &Pending = &[
    // (SEC-1, SEC-4, SEC-5 and SEC-6 left this list when mini-docker's
    // end-to-end tests showed them; CG-NS, TIME-NS and NOT-NS when
    // cgroup-demo, time-demo and shared-demo named them.)
];

/// Claims shown by mini-docker, which has no `--list`: its end-to-end tests
/// are the experiments. Each entry is a test file under `tests/tests/`, a
/// test name in it (the test must exist), the claims it asserts, and the
/// page (under `book/src`) that explains it.
const MINI_DOCKER_TESTS: &[(&str, &str, &[&str], &str)] = &[
    ("mini_docker_security.rs", "refused_calls", &["SEC-1", "SEC-5"], SECURITY),
    ("mini_docker_security.rs", "security_defaults", &["SEC-6"], SECURITY),
    ("mini_docker_security.rs", "masked_and_read_only_paths", &["SEC-1"], SECURITY),
    (
        "mini_docker_security.rs",
        "exec_joins_with_the_same_confinement",
        &["MECH-3", "SEC-3"],
        SECURITY,
    ),
    ("mini_docker_cgroups.rs", "memory_limit_oom_kill", &["SEC-4"], CGROUPS),
    ("mini_docker_cgroups.rs", "pids_limit_stops_fork_loop", &["SEC-4"], CGROUPS),
    ("mini_docker_cgroups.rs", "cpu_quota_slows_busy_loop", &["SEC-4"], CGROUPS),
    ("mini_docker_cgroups.rs", "cgroup_namespace_shows_root", &["CG-NS"], CGROUPS),
    ("mini_docker_security.rs", "sharing_ipc_and_pid", &["IPC-3", "SEC-2"], SECURITY),
    ("mini_docker_network.rs", "bridge_traffic_and_published_port", &["NET-3", "NET-4"], NETWORK),
    ("mini_docker_network.rs", "joined_network_namespace", &["NET-4", "MECH-3"], NETWORK),
    ("mini_docker_escapes.rs", "cgroup_v1_release_agent", &["SEC-1"], "security/escapes.md"),
    ("mini_docker_escapes.rs", "core_pattern", &["SEC-1"], "security/escapes.md"),
    ("mini_docker_escapes.rs", "writable_sys", &["SEC-1"], "security/escapes.md"),
    ("mini_docker_escapes.rs", "host_pid_and_ptrace", &["PID-4"], "security/escapes.md"),
    ("mini_docker_escapes.rs", "proc_exe_of_init", &["SEC-1"], "security/escapes.md"),
];
const SECURITY: &str = "mini-docker/security.md";
const CGROUPS: &str = "mini-docker/cgroups.md";
const NETWORK: &str = "mini-docker/network.md";

/// The pseudo-demo name of [`MINI_DOCKER_TESTS`] in the index.
const MINI_DOCKER: &str = "mini-docker";

/// Setting this variable writes the generated page instead of comparing.
const BLESS: &str = "NSLAB_BLESS";

/// The workspace folder.
fn root() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    fs::canonicalize(&root).unwrap_or(root)
}

#[test]
fn claim_index_is_current_and_complete() {
    let root = root();
    let experiments = catalogue(&root);
    let snapshots = root.join("tests/tests/snapshots");
    let mut problems = Vec::new();
    let mut english_claims = Vec::new();
    for edition in [&ENGLISH, &CHINESE] {
        let src = root.join(edition.src);
        let claims = read_claim_list(&src.join("appendix/claim-list.md"), edition);
        let chapters = chapters(&src);
        let found = check(&claims, &experiments, &chapters, PENDING);
        problems.extend(found.into_iter().map(|p| format!("{}: {p}", edition.src)));
        if edition.src == ENGLISH.src {
            english_claims = claims.iter().map(|c| (c.id.clone(), c.article.clone())).collect();
        } else {
            let these: Vec<_> = claims.iter().map(|c| (c.id.clone(), c.article.clone())).collect();
            if these != english_claims {
                problems.push(format!(
                    "{}/appendix/claim-list.md lists other claims (or other verdicts) than the \
                     English claim list: the two must hold the same IDs in the same order",
                    edition.src
                ));
            }
        }
        let page = render(&claims, &experiments, &chapters, &snapshots, edition);
        let path = src.join("appendix/claims.md");
        let committed = fs::read_to_string(&path).unwrap_or_default();
        if std::env::var_os(BLESS).is_some() {
            if committed != page {
                fs::write(&path, &page).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
                eprintln!("wrote {}", path.display());
            }
        } else if committed != page {
            // Next to the build, not in book/, where mdBook would publish it.
            let new = Path::new(env!("CARGO_TARGET_TMPDIR"))
                .join(format!("claims.md.{}.new", edition.language));
            let _ = fs::write(&new, &page);
            problems.push(format!(
                "{}/appendix/claims.md is not what the demos, the chapters and the snapshots \
                 give (the generated page is in {}; first difference at line {}). Regenerate it \
                 with `NSLAB_BLESS=1 cargo test -p nslab-tests --test claim_index` and review \
                 the diff (`git diff book`)",
                edition.src,
                new.display(),
                first_difference(&committed, &page)
            ));
        }
    }
    assert!(problems.is_empty(), "claim index:\n  {}", problems.join("\n  "));
}

/// What differs between the editions' claim index pages: where they live,
/// and their words. Claim IDs, experiment names and links are the same.
struct Edition {
    src: &'static str,
    language: &'static str,
    /// The page's title and the paragraphs above the first table.
    header: &'static str,
    /// Table columns, in order: claim, experiments, explained in, verdict.
    columns: [&'static str; 4],
    /// How the claim list spells "as stated", "corrected" and "beyond".
    statuses: [&'static str; 3],
    /// The tags shown after a corrected claim and a claim beyond the article.
    tags: [&'static str; 2],
    /// "none", "pending", "pass" and "pass, except".
    none: &'static str,
    pending: &'static str,
    pass: &'static str,
    pass_except: &'static str,
    /// What ends a chapter's short title: "PID" of "PID: process numbers".
    title_end: char,
    /// What follows a claim's ID before its text.
    colon: &'static str,
    /// How a verdict cell names who ran (`root`, `rootless`) and what a
    /// snapshot showed (`fail`, `skip`, none at all), in that order.
    who: [&'static str; 2],
    verdicts: [&'static str; 3],
}

const ENGLISH: Edition = Edition {
    src: "book/src",
    language: "en",
    header: "# Claim index\n\n\
         <!-- Generated by tests/tests/claim_index.rs: do not edit. Regenerate with\n\
         NSLAB_BLESS=1 cargo test -p nslab-tests --test claim_index -->\n\n\
         Every claim of the article has an ID, and every ID is shown by at least one\n\
         experiment and explained in at least one chapter. This page is generated from\n\
         the demos' `--list --json` output, the chapters, and the tested snapshots, and a\n\
         test fails when it is out of date or when a claim has no experiment or no\n\
         chapter. The claims themselves are listed in `book/src/appendix/claim-list.md`.\n\n\
         - **claim**: the ID and the claim. *(corrected)*: the article says it, and the\n\
         \x20 lab shows it is wrong or incomplete; the chapters say what is true instead.\n\
         \x20 *(beyond)*: not in the article, but needed to understand it.\n\
         - **experiments**: each demo with the names of its experiments, which is what\n\
         \x20 `cargo run -p DEMO -- --only NAME` takes; each name links to its section.\n\
         - **verdict**: what the tests assert for those experiments (their snapshots in\n\
         \x20 `tests/tests/snapshots/`): *pass* means every one passes as root and as an\n\
         \x20 unprivileged user; any other verdict is named, with who got it. For a\n\
         \x20 corrected claim, *pass* means the correction was observed.\n\
         - **pending**: to be shown by the work named.\n",
    columns: ["claim", "experiments", "explained in", "verdict"],
    statuses: ["as stated", "corrected", "beyond"],
    tags: [" **(corrected)**", " *(beyond)*"],
    none: "none",
    pending: "pending",
    pass: "pass",
    pass_except: "pass, except",
    title_end: ':',
    colon: ": ",
    who: ["root", "rootless"],
    verdicts: ["fail", "skip", "not snapshotted"],
};

const CHINESE: Edition = Edition {
    src: "book/zh/src",
    language: "zh",
    header: "# 论断索引\n\n\
         <!-- 由 tests/tests/claim_index.rs 生成，请勿手工修改。重新生成：\n\
         NSLAB_BLESS=1 cargo test -p nslab-tests --test claim_index -->\n\n\
         文章里的每一条论断都有一个编号；每个编号至少由一个实验来验证，并至少在一章里讲清楚。\n\
         本页由各个演示程序的 `--list --json` 输出、各章正文和经过测试的快照自动生成：\n\
         页面过时，或者某条论断没有实验、没有章节，测试都会失败。论断本身列在\n\
         `book/zh/src/appendix/claim-list.md` 中。\n\n\
         - **论断**：编号和论断内容。**（已更正）**：文章这么说，但实验表明它错了或不完整，\n\
         \x20 正确的说法见相应章节。*（文章之外）*：文章没有讲，但理解文章需要它。\n\
         - **实验**：每个演示程序及其实验名，也就是 `cargo run -p DEMO -- --only NAME`\n\
         \x20 里的 NAME；每个名字都链接到讲解它的小节。\n\
         - **结论**：测试对这些实验断言的结果（快照在 `tests/tests/snapshots/`）。\n\
         \x20 *通过* 表示每个实验以 root 和普通用户运行都通过；其他结果会写明是谁、得到了什么。\n\
         \x20 对已更正的论断，*通过* 表示观察到的是更正后的事实。\n\
         - **待定**：将由所注明的工作来验证。\n",
    columns: ["论断", "实验", "讲解章节", "结论"],
    statuses: ["原文正确", "已更正", "文章之外"],
    tags: [" **（已更正）**", " *（文章之外）*"],
    none: "无",
    pending: "待定",
    pass: "通过",
    pass_except: "通过，除了",
    title_end: '：',
    colon: "：",
    who: ["root", "无 root"],
    verdicts: ["失败", "跳过", "没有快照"],
};

/// One claim of the list.
#[derive(Debug)]
struct Claim {
    id: String,
    text: String,
    article: String,
    /// The `##` heading it is listed under.
    section: String,
}

/// One experiment of one demo, as `--list --json` describes it.
#[derive(Debug)]
struct Experiment {
    demo: String,
    name: String,
    claims: Vec<String>,
}

/// A page of the book: its title in SUMMARY.md, its path under `book/src`,
/// and its text.
#[derive(Debug)]
struct Chapter {
    title: String,
    path: String,
    text: String,
}

fn read_claim_list(path: &Path, edition: &Edition) -> Vec<Claim> {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let row = Regex::new(&format!(
        r"^\| *([A-Z]+-[A-Z0-9]+) *\| *(.+?) *\| *({}) *\|$",
        edition.statuses.join("|")
    ))
    .expect("re");
    let mut section = String::new();
    let mut claims: Vec<Claim> = Vec::new();
    for line in text.lines() {
        if let Some(heading) = line.strip_prefix("## ") {
            section = heading.trim().to_owned();
        } else if let Some(c) = row.captures(line) {
            assert!(
                !claims.iter().any(|claim| claim.id == c[1]),
                "{}: claim {} is listed twice",
                path.display(),
                &c[1]
            );
            // Stored in the English spelling, whatever the edition's.
            let status = edition.statuses.iter().position(|s| *s == &c[3]).expect("matched");
            claims.push(Claim {
                id: c[1].to_owned(),
                text: c[2].to_owned(),
                article: ENGLISH.statuses[status].to_owned(),
                section: section.clone(),
            });
        }
    }
    assert!(!claims.is_empty(), "{}: no claim rows found", path.display());
    claims
}

/// Every experiment of every `*-demo` in the workspace, in demo order.
fn catalogue(root: &Path) -> Vec<Experiment> {
    let mut demos: Vec<String> = fs::read_dir(root)
        .expect("read the workspace folder")
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        // A demo is a binary package: a folder being set up has no main.rs yet.
        .filter(|name| name.ends_with("-demo") && root.join(name).join("src/main.rs").is_file())
        .collect();
    demos.sort();
    assert!(!demos.is_empty(), "no *-demo folder in {}", root.display());

    let mut all = Vec::new();
    for demo in demos {
        let bin = nslab_tests::workspace_binary(&demo);
        let out = Command::new(&bin)
            .args(["--list", "--json"])
            .env("NO_COLOR", "1")
            .output()
            .unwrap_or_else(|e| panic!("run {} --list --json: {e}", bin.display()));
        assert!(
            out.status.success(),
            "{} --list --json failed ({}): {}",
            bin.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        let list: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{demo} --list --json is not JSON: {e}"));
        let experiments = list["experiments"]
            .as_array()
            .unwrap_or_else(|| panic!("{demo} --list --json has no `experiments` list"));
        for e in experiments {
            let field = |key: &str| {
                e[key].as_str().unwrap_or_else(|| panic!("{demo}: experiment without `{key}`"))
            };
            let claims = e["claims"]
                .as_array()
                .unwrap_or_else(|| panic!("{demo} {}: no `claims` list", field("name")))
                .iter()
                .map(|c| c.as_str().expect("claim IDs are strings").to_owned())
                .collect();
            all.push(Experiment { demo: demo.clone(), name: field("name").to_owned(), claims });
        }
    }
    for (file, test, claims, _) in MINI_DOCKER_TESTS {
        let path = root.join("tests/tests").join(file);
        let source =
            fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        // A #[test] fn, or a name declared through as_root_and_rootless!.
        let declared =
            source.contains(&format!("fn {test}()")) || source.contains(&format!("    {test} => "));
        assert!(declared, "MINI_DOCKER_TESTS names {file}::{test}, which does not exist");
        all.push(Experiment {
            demo: MINI_DOCKER.to_owned(),
            name: test.to_string(),
            claims: claims.iter().map(|c| c.to_string()).collect(),
        });
    }
    all
}

/// The pages of SUMMARY.md, in its order, except the introduction and the
/// appendix (they mention claim IDs; they do not explain them).
fn chapters(src: &Path) -> Vec<Chapter> {
    let summary = fs::read_to_string(src.join("SUMMARY.md")).expect("read SUMMARY.md");
    let link = Regex::new(r"\[([^\]]+)\]\(([^)#]+\.md)\)").expect("re");
    let mut pages = Vec::new();
    for c in summary.lines().filter_map(|line| link.captures(line)) {
        let path = c[2].to_owned();
        if path == "introduction.md" || path.starts_with("appendix/") {
            continue;
        }
        let text = fs::read_to_string(src.join(&path))
            .unwrap_or_else(|e| panic!("read {}: {e}", src.join(&path).display()));
        pages.push(Chapter { title: c[1].to_owned(), path, text });
    }
    pages
}

/// Does `text` name `id` as a whole word (`NS-1` is not in `NEST-1`)?
fn names(text: &str, id: &str) -> bool {
    Regex::new(&format!(r"(^|[^A-Za-z0-9-]){}($|[^A-Za-z0-9-])", regex::escape(id)))
        .expect("re")
        .is_match(text)
}

fn pending(list: &Pending, id: &str) -> Option<&'static str> {
    list.iter().find(|(p, _)| *p == id).map(|&(_, what)| what)
}

fn check(
    claims: &[Claim],
    experiments: &[Experiment],
    chapters: &[Chapter],
    pending_list: &Pending,
) -> Vec<String> {
    let mut problems = Vec::new();
    let known: BTreeSet<&str> = claims.iter().map(|c| c.id.as_str()).collect();
    for e in experiments {
        for id in &e.claims {
            if !known.contains(id.as_str()) {
                problems.push(format!(
                    "{} {} names claim {id}, which book/src/appendix/claim-list.md does not list",
                    e.demo, e.name
                ));
            }
        }
    }
    for (id, _) in pending_list {
        if !known.contains(id) {
            problems.push(format!("PENDING lists {id}, which is not a claim"));
        }
    }
    for claim in claims {
        let id = claim.id.as_str();
        let shown = experiments.iter().any(|e| e.claims.iter().any(|c| c == id));
        match (pending(pending_list, id), shown) {
            (Some(_), true) => problems.push(format!(
                "{id} has an experiment now: remove it from PENDING in tests/tests/claim_index.rs"
            )),
            (Some(_), false) => {}
            (None, false) => problems.push(format!(
                "{id} has no experiment: no demo's --list --json names it (add one, or, if a \
                 coming change will show it, add it to PENDING with a word on that work)"
            )),
            (None, true) => {
                if !chapters.iter().any(|ch| names(&ch.text, id)) {
                    problems.push(format!(
                        "{id} has no chapter: no page of SUMMARY.md (introduction and appendix \
                         aside) names it"
                    ));
                }
            }
        }
    }
    problems
}

/// The page a demo's experiments are explained in: the chapter that
/// includes the most of the demo's code and output.
fn home<'a>(demo: &str, chapters: &'a [Chapter]) -> Option<&'a Chapter> {
    let code = format!("/{demo}/src/");
    let output = format!("/snapshots/{}__", demo.replace('-', "_"));
    chapters
        .iter()
        .map(|ch| {
            let count = ch
                .text
                .lines()
                .filter(|l| l.contains("{{#include") && (l.contains(&code) || l.contains(&output)))
                .count();
            (count, ch)
        })
        .filter(|(count, _)| *count > 0)
        // max_by_key keeps the last of equals; rev() makes it the first.
        .rev()
        .max_by_key(|(count, _)| *count)
        .map(|(_, ch)| ch)
}

/// The link to an experiment's section: its home chapter's heading that
/// starts with the experiment's name in backticks, with mdBook's id rule.
fn experiment_link(e: &Experiment, chapters: &[Chapter]) -> Option<String> {
    if e.demo == MINI_DOCKER {
        let page = MINI_DOCKER_TESTS.iter().find(|t| t.1 == e.name).map(|t| t.3)?;
        return Some(format!("../{page}"));
    }
    let ch = home(&e.demo, chapters)?;
    let start = format!("`{}`", e.name);
    let heading = ch.text.lines().find_map(|line| {
        let title = line.trim_start_matches('#');
        (line.starts_with('#') && title.trim_start().starts_with(&start)).then(|| title.trim())
    });
    let page = format!("../{}", ch.path);
    Some(match heading {
        Some(title) => format!("{page}#{}", heading_id(title)),
        None => page,
    })
}

/// mdBook's heading id: the `{#id}` the heading gives itself (as the
/// Chinese edition's do, keeping the English anchors), or else the text
/// without markup, lower-cased, spaces to `-`, anything but letters, digits,
/// `-` and `_` dropped.
fn heading_id(title: &str) -> String {
    if let Some(id) = title.strip_suffix('}').and_then(|t| t.rsplit_once("{#")).map(|(_, id)| id) {
        return id.to_owned();
    }
    title
        .chars()
        .filter_map(|c| {
            if c.is_alphanumeric() || c == '-' || c == '_' {
                Some(c.to_ascii_lowercase())
            } else if c.is_whitespace() {
                Some('-')
            } else {
                None
            }
        })
        .collect()
}

/// `PASS`, `SKIP  reason`, … from a snapshot; `None` when there is none.
fn snapshot_verdict(snapshots: &Path, demo: &str, who: &str, name: &str) -> Option<String> {
    let file = snapshots.join(format!("{}__{who}-{name}.snap", demo.replace('-', "_")));
    let text = fs::read_to_string(file).ok()?;
    text.lines()
        .find_map(|l| l.trim_start().strip_prefix("verdict:"))
        .map(|v| v.split_whitespace().next().unwrap_or("").to_lowercase())
}

/// "pass" (as root and rootless), or which experiment gave what, run by whom.
fn verdict_cell(exps: &[&Experiment], snapshots: &Path, edition: &Edition) -> String {
    let mut odd: Vec<String> = Vec::new();
    // mini-docker's tests have no snapshot per name: CI runs them, so a
    // failure fails the build rather than changing a verdict.
    let exps: Vec<&&Experiment> = exps.iter().filter(|e| e.demo != MINI_DOCKER).collect();
    for (who, label) in ["root", "rootless"].into_iter().zip(edition.who) {
        let others: Vec<String> = exps
            .iter()
            .filter_map(|e| {
                let v = match snapshot_verdict(snapshots, &e.demo, who, &e.name).as_deref() {
                    Some("pass") => return None,
                    Some("fail") => edition.verdicts[0].to_owned(),
                    Some("skip") => edition.verdicts[1].to_owned(),
                    Some(other) => other.to_owned(),
                    None => edition.verdicts[2].to_owned(),
                };
                Some(format!("`{}` {v}", e.name))
            })
            .collect();
        if !others.is_empty() {
            odd.push(format!("{label}{}{}", edition.colon, others.join(", ")));
        }
    }
    if odd.is_empty() {
        edition.pass.to_owned()
    } else {
        format!("{} {}", edition.pass_except, odd.join("; "))
    }
}

fn render(
    claims: &[Claim],
    experiments: &[Experiment],
    chapters: &[Chapter],
    snapshots: &Path,
    edition: &Edition,
) -> String {
    let mut out = edition.header.to_owned();
    let [c1, c2, c3, c4] = edition.columns;
    let mut section = "";
    for claim in claims {
        if claim.section != section {
            section = &claim.section;
            let _ =
                write!(out, "\n## {section}\n\n| {c1} | {c2} | {c3} | {c4} |\n|---|---|---|---|\n");
        }
        let id = claim.id.as_str();
        let exps: Vec<&Experiment> =
            experiments.iter().filter(|e| e.claims.iter().any(|c| c == id)).collect();
        let tag = match claim.article.as_str() {
            "corrected" => edition.tags[0],
            "beyond" => edition.tags[1],
            _ => "",
        };
        let (shown, verdict) = match pending(PENDING, id) {
            Some(what) if exps.is_empty() => {
                (format!("{}{}{what}", edition.pending, edition.colon), edition.pending.to_owned())
            }
            _ if exps.is_empty() => (edition.none.to_owned(), edition.none.to_owned()),
            _ => {
                // One line per demo: `pid-demo: [a](…), [b](…)`.
                let mut by_demo: Vec<(&str, Vec<String>)> = Vec::new();
                for e in &exps {
                    let name = match experiment_link(e, chapters) {
                        Some(link) => format!("[`{}`]({link})", e.name),
                        None => format!("`{}`", e.name),
                    };
                    match by_demo.iter_mut().find(|(demo, _)| *demo == e.demo) {
                        Some((_, names)) => names.push(name),
                        None => by_demo.push((&e.demo, vec![name])),
                    }
                }
                let lines: Vec<String> = by_demo
                    .iter()
                    .map(|(demo, names)| format!("{demo}: {}", names.join(", ")))
                    .collect();
                (lines.join("<br>"), verdict_cell(&exps, snapshots, edition))
            }
        };
        // Chapter titles up to the colon: "PID", not "PID: process numbers".
        let explained: Vec<String> = chapters
            .iter()
            .filter(|ch| names(&ch.text, id))
            .map(|ch| {
                let short = ch.title.split(edition.title_end).next().unwrap_or(&ch.title);
                format!("[{short}](../{})", ch.path)
            })
            .collect();
        let explained =
            if explained.is_empty() { edition.none.to_owned() } else { explained.join(", ") };
        let _ = writeln!(
            out,
            "| **{id}**{tag}{}{} | {shown} | {explained} | {verdict} |",
            edition.colon,
            claim.text.replace('|', "\\|")
        );
    }
    out
}

fn first_difference(a: &str, b: &str) -> usize {
    a.lines()
        .zip(b.lines())
        .position(|(x, y)| x != y)
        .unwrap_or_else(|| a.lines().count().min(b.lines().count()))
        + 1
}

/// The checks must be able to fail: a claim without an experiment, one
/// without a chapter, an unknown ID, and a pending ID that has an experiment.
#[test]
fn gaps_are_reported() {
    let claim = |id: &str| Claim {
        id: id.to_owned(),
        text: "a claim".to_owned(),
        article: "as stated".to_owned(),
        section: "S".to_owned(),
    };
    let claims = [claim("AA-1"), claim("AA-2"), claim("AA-3"), claim("SEC-5")];
    let exp = |name: &str, ids: &[&str]| Experiment {
        demo: "x-demo".to_owned(),
        name: name.to_owned(),
        claims: ids.iter().map(|s| (*s).to_owned()).collect(),
    };
    let experiments = [exp("one", &["AA-1", "ZZ-9"]), exp("two", &["AA-2", "SEC-5"])];
    let chapters = [Chapter {
        title: "X".to_owned(),
        path: "x/README.md".to_owned(),
        text: "AA-1 is explained here; AA-22 and XAA-2 are other IDs.".to_owned(),
    }];
    // A pending list of its own: SEC-5 pending, and one ID that is no claim.
    let pending_list: &Pending = &[("SEC-5", "test"), ("QQ-1", "test")];
    let problems = check(&claims, &experiments, &chapters, pending_list);
    let expected = [
        "claim ZZ-9",
        "AA-2 has no chapter",
        "AA-3 has no experiment",
        "SEC-5 has an experiment now",
        "PENDING lists QQ-1",
    ];
    nslab_tests::assert_reports(&problems, &expected);
}

#[test]
fn heading_ids_follow_mdbook() {
    assert_eq!(heading_id("`first-pid-is-1` (PID-1, MECH-2)"), "first-pid-is-1-pid-1-mech-2");
    assert_eq!(
        heading_id("`init-adopts-orphans` (PID-3, first half)"),
        "init-adopts-orphans-pid-3-first-half"
    );
    // A Chinese heading keeps its English twin's anchor.
    assert_eq!(
        heading_id("`first-pid-is-1`（PID-1、MECH-2） {#first-pid-is-1-pid-1-mech-2}"),
        "first-pid-is-1-pid-1-mech-2"
    );
}
