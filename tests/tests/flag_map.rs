//! The chapter "From mini-docker to Docker, runc and Kubernetes"
//! (`book/src/beyond/docker-runc-k8s.md`) maps every mini-docker flag to
//! Docker, the OCI runtime spec and Kubernetes. This test keeps its
//! mini-docker column true to the real command line.
//!
//! It reads every table of the chapter whose first column is headed
//! `mini-docker` and, in that column, every code span:
//! - `` `--flag` ``, `` `-f` ``, `` `--flag VALUE` ``: a flag of `run`
//!   (`--flag` may be an alias clap lists as `[aliases: --flag]`, and
//!   `-dit` stands for `-d`, `-i` and `-t`, as Docker combines them);
//! - `` `mini-docker SUB` `` or `` `mini-docker SUB --flag` ``: a subcommand,
//!   or a flag of that subcommand; a bare `` `--flag` `` later in the same
//!   cell is a flag of that subcommand too.
//!
//! A cell that starts with `(not yet)` claims the opposite: the flag (or
//! subcommand, or VALUE of a flag with `[possible values: …]`) does not
//! exist yet. A cell that starts with `—` has no flag and is not checked.
//!
//! Then, against `mini-docker --help` and `mini-docker SUB --help`:
//! - every flag and subcommand the column claims must exist, and a VALUE
//!   must be one of the flag's possible values when `--help` lists them;
//! - every `(not yet)` must still be missing: once mini-docker has it, the
//!   row must say so;
//! - every flag of `run --help` and every subcommand must appear in some
//!   row, so a new flag gets its translation.
//!
//! The binary is found next to this test's own executable
//! (`target/<profile>/mini-docker`), as `claim_index.rs` finds the demos:
//! `CARGO_BIN_EXE_mini-docker` exists only for tests of mini-docker's own
//! package. `cargo test --workspace` builds it first.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use regex::Regex;

/// The chapter, from the workspace folder.
const CHAPTER: &str = "book/src/beyond/docker-runc-k8s.md";

/// The mark of a row mini-docker does not implement yet.
const NOT_YET: &str = "(not yet)";

/// The mark of a row with no flag at all.
const NO_FLAG: &str = "—";

/// Options every subcommand has; they need no row.
const GENERIC: &[&str] = &["--help", "--version"];

/// The fewest rows the chapter must have: the test must not pass because
/// the tables vanished or their heading changed.
const MIN_ROWS: usize = 40;

#[test]
fn flag_map_matches_mini_docker() {
    let root = root();
    let text =
        fs::read_to_string(root.join(CHAPTER)).unwrap_or_else(|e| panic!("read {CHAPTER}: {e}"));
    let rows = parse_rows(&text);
    assert!(
        rows.len() >= MIN_ROWS,
        "{CHAPTER}: only {} rows in tables whose first column is `mini-docker` (expected at \
         least {MIN_ROWS}); did a table heading change?",
        rows.len()
    );
    let cli = Cli::from_binary(&mini_docker());
    let problems = check(&rows, &cli);
    assert!(
        problems.is_empty(),
        "{CHAPTER} does not match `mini-docker --help`:\n  {}",
        problems.join("\n  ")
    );
}

/// One row's mini-docker cell.
#[derive(Debug)]
struct Row {
    /// Line number in the chapter, for the reports.
    line: usize,
    /// The row claims mini-docker does not have this yet.
    not_yet: bool,
    /// What the cell names, one per code span.
    claims: Vec<Claim>,
}

/// One code span of a mini-docker cell.
#[derive(Debug, Clone, PartialEq)]
struct Claim {
    /// `run`, or the subcommand named by `mini-docker SUB`.
    sub: String,
    /// `--flag` or `-f`, if any.
    flag: Option<String>,
    /// The word after the flag, if any.
    value: Option<String>,
    /// The span as written, for the reports.
    text: String,
}

/// What `mini-docker --help` and each subcommand's `--help` offer.
#[derive(Debug, Default)]
struct Cli {
    /// Subcommand name to its flags (long and short), each with its
    /// `[possible values: …]` (empty when `--help` lists none).
    subs: BTreeMap<String, BTreeMap<String, Vec<String>>>,
}

/// The workspace folder.
fn root() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    fs::canonicalize(&root).unwrap_or(root)
}

/// The built mini-docker, current with its sources.
fn mini_docker() -> PathBuf {
    nslab_tests::workspace_binary("mini-docker")
}

/// The mini-docker cell of every row of every table headed `| mini-docker |`.
fn parse_rows(text: &str) -> Vec<Row> {
    let span = Regex::new(r"`([^`]+)`").expect("re");
    let mut rows = Vec::new();
    let mut in_table = false;
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if !line.starts_with('|') {
            in_table = false;
            continue;
        }
        let cells = cells(line);
        let first = cells.first().map(String::as_str).unwrap_or("");
        if !in_table {
            // A header row starts a table; only ours are read.
            in_table = first == "mini-docker";
            continue;
        }
        if first.chars().all(|c| c == '-' || c == ':') {
            continue; // the |---|---| line
        }
        let not_yet = first.starts_with(NOT_YET);
        let claims = if first.starts_with(NO_FLAG) {
            Vec::new()
        } else {
            let mut sub = "run".to_owned();
            let mut claims = Vec::new();
            for c in span.captures_iter(first) {
                let claim = claim(&c[1], &sub);
                sub.clone_from(&claim.sub);
                claims.push(claim);
            }
            claims
        };
        rows.push(Row { line: n + 1, not_yet, claims });
    }
    rows
}

/// The cells of a table row, trimmed (`\|` is not a separator).
fn cells(line: &str) -> Vec<String> {
    let inner = line.trim().trim_start_matches('|').trim_end_matches('|');
    let mut cells = vec![String::new()];
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'|') => {
                cells.last_mut().expect("one cell").push('|');
                chars.next();
            }
            '|' => cells.push(String::new()),
            _ => cells.last_mut().expect("one cell").push(c),
        }
    }
    cells.iter().map(|c| c.trim().to_owned()).collect()
}

/// `--flag VALUE`, `-f` (flags of `sub`), `mini-docker SUB`,
/// `mini-docker SUB --flag VALUE`.
fn claim(span: &str, sub: &str) -> Claim {
    let words: Vec<&str> = span.split_whitespace().collect();
    let (sub, rest) = match words.as_slice() {
        ["mini-docker", sub, rest @ ..] => ((*sub).to_owned(), rest),
        rest => (sub.to_owned(), rest),
    };
    let at = rest.iter().position(|w| w.starts_with('-'));
    let flag = at.map(|i| rest[i].split('=').next().unwrap_or(rest[i]).to_owned());
    let value = at.and_then(|i| rest.get(i + 1)).map(|v| (*v).to_owned());
    Claim { sub, flag, value, text: span.to_owned() }
}

impl Cli {
    /// Runs `mini-docker --help`, then `mini-docker SUB --help` for each
    /// subcommand it lists.
    fn from_binary(bin: &Path) -> Cli {
        let help = |args: &[&str]| -> String {
            let out = Command::new(bin)
                .args(args)
                .env("NO_COLOR", "1")
                .output()
                .unwrap_or_else(|e| panic!("run {} {}: {e}", bin.display(), args.join(" ")));
            assert!(
                out.status.success(),
                "{} {} failed ({}): {}",
                bin.display(),
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        let mut cli = Cli::default();
        for sub in subcommands(&help(&["--help"])) {
            let flags = flags(&help(&[sub.as_str(), "--help"]));
            cli.subs.insert(sub, flags);
        }
        assert!(cli.subs.contains_key("run"), "`mini-docker --help` lists no `run` subcommand");
        cli
    }
}

/// The names under `Commands:` in clap's help, `help` aside.
fn subcommands(help: &str) -> Vec<String> {
    let entry = Regex::new(r"^  ([a-z][a-z0-9-]*)(\s|$)").expect("re");
    help.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| entry.captures(l).map(|c| c[1].to_owned()))
        .filter(|name| name != "help")
        .collect()
}

/// Every `-f`/`--flag` of clap's `Options:` list, with its possible values.
/// clap puts an option at column 2 (`-f, --flag`) or 6 (`--flag`), and its
/// help either on the same line or, when some help is long, on the lines
/// below (indented further): an entry runs to the next option.
fn flags(help: &str) -> BTreeMap<String, Vec<String>> {
    let entry = Regex::new(
        r"^(?:  (-[A-Za-z0-9])(?:, (--[a-z][a-z0-9-]*))?|      (--[a-z][a-z0-9-]*))(?:[ =<\[]|$)",
    )
    .expect("re");
    let values = Regex::new(r"\[possible values: ([^\]]*)\]").expect("re");
    let aliases = Regex::new(r"\[(?:short )?alias(?:es)?: ([^\]]*)\]").expect("re");
    // (names, the entry's text)
    let mut entries: Vec<(Vec<String>, String)> = Vec::new();
    for line in help.lines().skip_while(|l| !l.starts_with("Options:")) {
        if let Some(c) = entry.captures(line) {
            let names = [c.get(1), c.get(2), c.get(3)]
                .into_iter()
                .flatten()
                .map(|m| m.as_str().to_owned())
                .collect();
            entries.push((names, line.to_owned()));
        } else if let Some((_, text)) = entries.last_mut() {
            text.push(' ');
            text.push_str(line.trim());
        }
    }
    let mut flags = BTreeMap::new();
    for (mut names, text) in entries {
        // Other spellings of the flag: `--net` for `--network`.
        if let Some(listed) = aliases.captures(&text) {
            names.extend(listed[1].split(',').map(|a| a.trim().to_owned()));
        }
        let possible: Vec<String> = values
            .captures(&text)
            .map(|v| v[1].split(',').map(|s| s.trim().to_owned()).collect())
            .unwrap_or_default();
        for name in names {
            flags.insert(name, possible.clone());
        }
    }
    flags
}

/// Every disagreement between the rows and the command line, one line each.
fn check(rows: &[Row], cli: &Cli) -> Vec<String> {
    let mut problems = Vec::new();
    // Flags of `run` and subcommands some row names as implemented.
    let mut covered: BTreeSet<(String, String)> = BTreeSet::new();
    for row in rows {
        let at = format!("{CHAPTER}:{}", row.line);
        if row.not_yet && row.claims.is_empty() {
            problems.push(format!("{at}: a {NOT_YET} row must name the flag in backticks"));
        }
        for claim in &row.claims {
            let verdict = status(claim, cli);
            if row.not_yet {
                if let Ok(what) = verdict {
                    problems.push(format!(
                        "{at}: `{}` is marked {NOT_YET}, but mini-docker has it now ({what}): \
                         fill in the row",
                        claim.text
                    ));
                }
            } else {
                match verdict {
                    Ok(_) => {
                        covered.insert((claim.sub.clone(), claim.flag.clone().unwrap_or_default()));
                    }
                    Err(why) => problems.push(format!(
                        "{at}: `{}` {why} (mark the row {NOT_YET}, or fix the spelling)",
                        claim.text
                    )),
                }
            }
        }
    }
    for (sub, flags) in &cli.subs {
        if !covered.contains(&(sub.clone(), String::new())) && sub != "run" {
            problems.push(format!("`mini-docker {sub}` has no row: add one"));
        }
        if sub != "run" {
            continue;
        }
        for flag in flags.keys().filter(|f| f.starts_with("--") && !GENERIC.contains(&f.as_str())) {
            if !covered.contains(&(sub.clone(), flag.clone())) {
                problems.push(format!("`mini-docker run {flag}` has no row: add one"));
            }
        }
    }
    problems
}

/// `Ok(what exists)` when mini-docker has what the claim names, else
/// `Err(why not)`. A value is checked only against `[possible values: …]`;
/// without that list, a value of an existing flag cannot be shown missing.
fn status(claim: &Claim, cli: &Cli) -> Result<String, String> {
    let Some(flags) = cli.subs.get(&claim.sub) else {
        return Err(format!("is not a subcommand in `mini-docker --help`: no `{}`", claim.sub));
    };
    let Some(flag) = &claim.flag else {
        return Ok(format!("`mini-docker {}` is a subcommand", claim.sub));
    };
    let help = format!("`mini-docker {} --help`", claim.sub);
    // `-dit`: short flags written together, each one a flag of its own.
    let combined = flag.len() > 2 && !flag.starts_with("--");
    if combined {
        let missing: Vec<String> = flag[1..]
            .chars()
            .map(|c| format!("-{c}"))
            .filter(|short| !flags.contains_key(short))
            .collect();
        if !missing.is_empty() {
            return Err(format!("is not in {help}: no `{}`", missing.join("`, `")));
        }
        return Ok(format!("{help} has each of `{flag}`"));
    }
    let Some(possible) = flags.get(flag) else {
        return Err(format!("is not in {help}: no `{flag}`"));
    };
    match &claim.value {
        Some(value) if !possible.is_empty() && !possible.contains(value) => {
            Err(format!("is not in {help}: `{flag}` takes {} only", possible.join(", ")))
        }
        _ => Ok(format!("{help} has `{flag}`")),
    }
}

/// The checks must be able to fail: a missing flag, a wrong value, a
/// missing subcommand, a `(not yet)` that exists, and a flag with no row.
#[test]
fn mismatches_are_reported() {
    let table = "\
| mini-docker | docker run | OCI | Kubernetes |
|---|---|---|---|
| `--hostname` | `--hostname` | `hostname` | `hostname` |
| `--net host` | `--network host` | no `network` | `hostNetwork: true` |
| `--net bridge` | x | x | x |
| `--gone` | x | x | x |
| `mini-docker ps`, `-a` | x | x | x |
| `mini-docker exec` | x | x | x |
| (not yet) `-p`, `--publish` | x | x | x |
| (not yet) `--rm` | x | x | x |
| (not yet) `--net none` | x | x | x |
| (not yet) `mini-docker ps` | x | x | x |
| `--old` `-rx` `-rh` | x | x | x |
| (not yet) no code span | x | x | x |
| — no flag, `--anything` | x | x | x |

| docker run | mini-docker |
|---|---|
| `--ignored` | `--ignored` |
";
    let rows = parse_rows(table);
    assert_eq!(rows.len(), 13, "{rows:#?}");
    assert_eq!(
        rows[1].claims[0],
        Claim {
            sub: "run".into(),
            flag: Some("--net".into()),
            value: Some("host".into()),
            text: "--net host".into()
        }
    );
    assert!(rows[6].not_yet && rows[6].claims.len() == 2);
    assert!(rows[12].claims.is_empty());

    let help_top = "Usage: mini-docker [OPTIONS] <COMMAND>\n\nCommands:\n  run     Run\n  \
                    ps      List\n  rm      Remove\n  help    Print\n\nOptions:\n  -h, --help  \
                    Print help\n";
    // The layout clap uses when some help is long: the text below the option.
    let help_run = "Usage: mini-docker run [OPTIONS]\n\nOptions:\n      --rm\n          Remove\n\n      \
                    --hostname <H>\n          Name\n\n      --net <NET>\n          Network\n          \
                    \n          [default: none]\n          [possible values: none, host]\n\n      \
                    --memory-swap <SIZE>\n          Swap\n\n  -r, --read-only\n          RO [alias: \
                    --old]\n\n  -h, --help\n          Print help\n";
    let mut cli = Cli::default();
    for sub in subcommands(help_top) {
        let help = if sub == "run" { help_run } else { "Options:\n  -h, --help  Print\n" };
        cli.subs.insert(sub, flags(help));
    }
    assert_eq!(cli.subs.keys().collect::<Vec<_>>(), ["ps", "rm", "run"]);
    assert_eq!(cli.subs["run"]["--net"], ["none", "host"]);

    let problems = check(&rows, &cli);
    let expected = [
        "`--net bridge` is not in `mini-docker run --help`: `--net` takes none, host only",
        "`--gone` is not in `mini-docker run --help`: no `--gone`",
        "`mini-docker exec` is not a subcommand",
        "`-a` is not in `mini-docker ps --help`: no `-a`",
        "`--rm` is marked (not yet), but mini-docker has it",
        "`--net none` is marked (not yet)",
        "`mini-docker ps` is marked (not yet)",
        "must name the flag in backticks",
        "`-rx` is not in `mini-docker run --help`: no `-x`",
        "`mini-docker rm` has no row",
        "`mini-docker run --memory-swap` has no row",
        "`mini-docker run --read-only` has no row",
        "`mini-docker run --rm` has no row",
    ];
    nslab_tests::assert_reports(&problems, &expected);
}
