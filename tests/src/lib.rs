//! Helpers for the end-to-end tests in `tests/tests/`.
//!
//! A test process is multi-threaded, and the kernel refuses
//! `unshare(CLONE_NEWUSER)` to a multi-threaded process, so every experiment
//! runs in a demo binary started as a child process: as root, and as the
//! unprivileged user 65534 (`nobody`), which makes the demo go rootless.
//!
//! Privilege policy: with `CI=true` a missing privilege fails the test; on a
//! developer's machine the test prints one line saying why and returns.
//!
//! This crate owns the harness only: running a binary as root or rootless,
//! redacting its output for snapshots, bounded waits, (in
//! [`mini_docker`]) the scratch world of a mini-docker test, and (in
//! [`clients`]) what the tests of Docker, podman and containerd driving
//! `mini-runc` share. It links no crate of the workspace: a test sees the
//! demos and mini-docker through their command lines and `--json`, as a
//! reader or another tool would.

pub mod clients;
pub mod mini_docker;

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use assert_cmd::Command;
use nix::unistd::geteuid;
use regex::Regex;
use serde_json::Value;

/// Who runs the demo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum As {
    /// Real root: every experiment runs.
    Root,
    /// An unprivileged user: uid 65534 when the tests run as root, otherwise
    /// the user running the tests. The demo enters a user namespace first.
    Rootless,
}

impl As {
    /// The value of the report's `privilege` field.
    pub fn word(self) -> &'static str {
        match self {
            As::Root => "root",
            As::Rootless => "rootless",
        }
    }
}

/// Declares each test twice, as root and rootless: `isolation_facts =>
/// namespace_run` makes `as_root::isolation_facts` calling
/// `namespace_run(As::Root)` and `rootless::isolation_facts` calling
/// `namespace_run(As::Rootless)`.
#[macro_export]
macro_rules! as_root_and_rootless {
    ($($test:ident => $run:ident),* $(,)?) => {
        mod as_root {
            $(#[test]
            fn $test() {
                super::$run($crate::As::Root);
            })*
        }
        mod rootless {
            $(#[test]
            fn $test() {
                super::$run($crate::As::Rootless);
            })*
        }
    };
}

/// The end-to-end tests every demo has, declared once: for `$demo`
/// (`BIN` its binary, `EXPERIMENTS` its experiments in order),
/// - `isolation_facts`: a whole `--json` run, then `$facts(&report, who)`;
/// - `control_run_flips_verdicts`: the same with `--control`, then
///   `$control(&report, who)`;
/// - `text_output`: each experiment alone, its text redacted by `$text`
///   (default [`Demo::text`]; `None` leaves that experiment out), its
///   verdict line asserted to be `$verdict(who, name)` (default `pass`),
///   then snapshotted as `<root|rootless>-<experiment>`;
///
/// each as root and rootless, and `bad_command_lines_exit_2`. The facts
/// themselves stay in the demo's test file, where a reader looks for them.
#[macro_export]
macro_rules! demo_tests {
    (demo: $demo:literal, bin: $bin:expr, experiments: $names:expr,
     facts: $facts:expr, control: $control:expr $(,)?) => {
        $crate::demo_tests! {
            demo: $demo, bin: $bin, experiments: $names, facts: $facts, control: $control,
            text: |demo: &$crate::Demo, args: &[&str]| demo.text(args),
        }
    };
    (demo: $demo:literal, bin: $bin:expr, experiments: $names:expr,
     facts: $facts:expr, control: $control:expr, text: $text:expr $(,)?) => {
        $crate::demo_tests! {
            demo: $demo, bin: $bin, experiments: $names, facts: $facts, control: $control,
            text: $text, verdict: |_: $crate::As, _: &str| "pass",
        }
    };
    (demo: $demo:literal, bin: $bin:expr, experiments: $names:expr,
     facts: $facts:expr, control: $control:expr, text: $text:expr, verdict: $verdict:expr $(,)?) => {
        fn namespace_run(who: $crate::As) {
            let Some(report) = $crate::Demo::new($demo, $bin, who).report(&[], &$names) else {
                return;
            };
            ($facts)(&report, who);
        }

        fn control_run(who: $crate::As) {
            let demo = $crate::Demo::new($demo, $bin, who);
            let Some(report) = demo.report(&["--control"], &$names) else {
                return;
            };
            ($control)(&report, who);
        }

        fn text_snapshots(who: $crate::As) {
            let Some(()) = $crate::can_run(concat!($demo, " text"), who) else {
                return;
            };
            let demo = $crate::Demo::new($demo, $bin, who);
            for name in $names {
                let Some(text) = ($text)(&demo, &["--only", name]) else {
                    continue;
                };
                let verdict = format!("verdict:    {}", ($verdict)(who, name).to_uppercase());
                assert!(text.contains(&verdict), "{name}: {text}");
                insta::assert_snapshot!(format!("{}-{name}", who.word()), text);
            }
        }

        $crate::as_root_and_rootless! {
            isolation_facts => namespace_run,
            control_run_flips_verdicts => control_run,
            text_output => text_snapshots,
        }

        /// Bad input gets one clear line and exit code 2.
        #[test]
        fn bad_command_lines_exit_2() {
            $crate::assert_bad_command_lines_exit_2($bin, &$names);
        }
    };
}

/// The unprivileged user the tests switch to when run as root.
pub const NOBODY: u32 = 65534;

/// The subordinate range `/etc/subuid` and `/etc/subgid` give uid 65534
/// (`nobody`), by name or number (subuid(5)), when `newuidmap` and
/// `newgidmap` are there to use it: CI sets both up (`.ci/run`).
/// `(first UID, first GID, count)`.
pub fn nobody_subordinate() -> Option<(u32, u32, u32)> {
    let range = |file: &str| -> Option<(u32, u32)> {
        let text = std::fs::read_to_string(file).ok()?;
        text.lines().find_map(|line| {
            let parts: Vec<&str> = line.trim().split(':').collect();
            match parts.as_slice() {
                [who, first, count] if *who == "nobody" || *who == NOBODY.to_string() => {
                    Some((first.parse().ok()?, count.parse().ok()?))
                }
                _ => None,
            }
        })
    };
    let helpers = ["newuidmap", "newgidmap"].iter().all(|p| clients::have(p));
    let ((uid, n), (gid, m)) = (range("/etc/subuid")?, range("/etc/subgid")?);
    helpers.then_some((uid, gid, n.min(m)))
}

/// What a rootless container of `host_uid` (65534) has in `uid_map` (`gid:
/// false`) or `gid_map`, lines squeezed as the probe gives them: the user
/// as root, and with [`nobody_subordinate`] its range as IDs 1 and up.
pub fn rootless_id_map(host_uid: u32, gid: bool) -> Vec<String> {
    let mut lines = vec![format!("0 {host_uid} 1")];
    if let Some((uid, first_gid, count)) = nobody_subordinate().filter(|_| host_uid == NOBODY) {
        lines.push(format!("1 {} {count}", if gid { first_gid } else { uid }));
    }
    lines
}

pub(crate) fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// `Some(())` when the tests can run demos as `who`; `None` (after one line
/// on stderr) when they cannot and this is not CI. Panics in CI.
pub fn can_run(test: &str, who: As) -> Option<()> {
    if who == As::Root && !geteuid().is_root() {
        let why = "needs root (run `sudo -E cargo test --workspace`)";
        assert!(!in_ci(), "{test}: {why}; CI=true, so this is a failure, not a skip");
        skip_note(&format!("skipped {test}: {why}"));
        return None;
    }
    Some(())
}

/// Skips a test for a reason other than privilege (a missing program):
/// one line on a developer's machine, a failure under CI=true.
pub fn skip(test: &str, why: &str) {
    assert!(!in_ci(), "{test}: {why}; CI=true, so this is a failure, not a skip");
    skip_note(&format!("skipped {test}: {why}"));
}

/// Skips a test that does not apply to the host's kind (a cgroup v1
/// check on a v2 host): one line, seen even when the tests pass, and no
/// failure under CI, which runs on one kind of machine.
pub fn not_here(test: &str, why: &str) {
    skip_note(&format!("skipped {test}: {why}"));
}

/// One line on the real stderr: the test harness captures `eprintln!`, and a
/// skip must be seen even when the tests pass.
pub(crate) fn skip_note(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// A demo binary and who runs it.
#[derive(Debug)]
pub struct Demo {
    pub name: &'static str,
    path: PathBuf,
    pub who: As,
}

static COPIES: AtomicUsize = AtomicUsize::new(0);

impl Demo {
    /// `path` is the built binary: `env!("CARGO_BIN_EXE_pid-demo")` in the
    /// demo's own test target, so cargo builds it before the test runs.
    pub fn new(name: &'static str, path: &str, who: As) -> Self {
        Demo { name, path: PathBuf::from(path), who }
    }

    /// Runs the demo with `args` and returns its output. `NO_COLOR` keeps
    /// the text plain. Returns `None` (skip) when rootless mode is blocked on
    /// the host and this is not CI.
    pub fn run(&self, args: &[&str]) -> Option<Output> {
        let built = &self.path;
        let copy;
        let mut cmd = if self.who == As::Rootless && geteuid().is_root() {
            // nobody may not be able to reach target/; give it its own copy.
            copy = BinaryCopy::new(built);
            let mut cmd = std::process::Command::new(&copy.path);
            // std also drops supplementary groups when root changes the uid.
            cmd.uid(NOBODY).gid(NOBODY).current_dir("/");
            cmd
        } else {
            std::process::Command::new(built)
        };
        cmd.args(args).env("NO_COLOR", "1").env_remove("SUDO_USER");
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let output = spawn_retrying(&mut cmd).wait_with_output().expect("wait for the demo");
        if output.status.code() == Some(3) {
            let why = String::from_utf8_lossy(&output.stderr).trim().to_owned();
            assert!(
                !in_ci(),
                "{} as {:?}: {why}; CI=true, so this is a failure",
                self.name,
                self.who
            );
            skip_note(&format!("skipped {} as {:?}: {why}", self.name, self.who));
            return None;
        }
        Some(output)
    }

    /// `--json` with `args`: the parsed report, after checking the exit status.
    pub fn json(&self, args: &[&str]) -> Option<Value> {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let output = self.run(&all)?;
        let report: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
            panic!(
                "{} --json printed no JSON ({e}): {}",
                self.name,
                String::from_utf8_lossy(&output.stdout)
            )
        });
        assert_eq!(report["privilege"], self.who.word(), "privilege field");
        Some(report)
    }

    /// A whole run (`--json` plus `args`), when the tests may run the demo
    /// as `self.who` (see [`can_run`]): checks the mode the report names and
    /// that the experiments came in the order `names`.
    pub fn report(&self, args: &[&str], names: &[&str]) -> Option<Value> {
        can_run(&[self.name].iter().chain(args).copied().collect::<Vec<_>>().join(" "), self.who)?;
        let report = self.json(args)?;
        let mode = if args.contains(&"--control") { "control" } else { "namespace" };
        assert_eq!(report["mode"], mode, "{} {args:?}", self.name);
        let order: Vec<&str> = report["experiments"]
            .as_array()
            .expect("experiments")
            .iter()
            .map(|e| e["name"].as_str().expect("name"))
            .collect();
        assert_eq!(order, names, "{} {args:?}: the experiments and their order", self.name);
        Some(report)
    }

    /// Each experiment run alone (`--only NAME`), its text redacted for a
    /// snapshot; `None` when the tests may not run the demo as `self.who`.
    pub fn texts<'a>(&self, names: &[&'a str]) -> Option<Vec<(&'a str, String)>> {
        can_run(&format!("{} text", self.name), self.who)?;
        names.iter().map(|name| Some((*name, self.text(&["--only", name])?))).collect()
    }

    /// The text output with `args`, redacted for snapshots.
    pub fn text(&self, args: &[&str]) -> Option<String> {
        let output = self.run(args)?;
        assert!(
            output.status.success(),
            "{} {args:?}: {}",
            self.name,
            String::from_utf8_lossy(&output.stderr)
        );
        Some(redact(&String::from_utf8_lossy(&output.stdout)))
    }
}

/// A world-readable copy of a binary, removed when dropped.
struct BinaryCopy {
    dir: PathBuf,
    path: PathBuf,
}

impl BinaryCopy {
    fn new(built: &Path) -> Self {
        use std::os::unix::fs::PermissionsExt;
        let n = COPIES.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("nslab-test-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create copy dir");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod dir");
        let path = dir.join(built.file_name().expect("file name"));
        std::fs::copy(built, &path).expect("copy binary");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
            .expect("chmod binary");
        BinaryCopy { dir, path }
    }
}

impl Drop for BinaryCopy {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The experiment named `name` in a report.
pub fn experiment<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["experiments"]
        .as_array()
        .and_then(|all| all.iter().find(|e| e["name"] == name))
        .unwrap_or_else(|| panic!("no experiment {name} in the report"))
}

/// Every experiment of a report has the verdict `expected` gives for its
/// name (`pass`, `fail` or `skip`): a test names the experiments it expects
/// to be skipped, so a skip where a run was expected fails it.
pub fn assert_verdicts(report: &Value, expected: impl Fn(&str) -> &'static str) {
    for exp in report["experiments"].as_array().expect("experiments") {
        let name = exp["name"].as_str().expect("name");
        assert_eq!(exp["verdict"], expected(name), "verdict of {name}: {exp:#}");
    }
}

/// An integer fact from one side (`host` or `namespace`) of an experiment.
pub fn int(exp: &Value, side: &str, key: &str) -> i64 {
    exp[side][key].as_i64().unwrap_or_else(|| panic!("{side}.{key} is not an integer in {exp:#}"))
}

/// A text fact from one side of an experiment.
pub fn text<'a>(exp: &'a Value, side: &str, key: &str) -> &'a str {
    exp[side][key].as_str().unwrap_or_else(|| panic!("{side}.{key} is not text in {exp:#}"))
}

/// Replaces what varies from run to run with named placeholders, and only
/// that: PIDs as the host sees them, namespace inode numbers, counts of host
/// processes, the machine's names, the caller's UID. Inode numbers and host
/// PIDs are numbered in order of appearance (`[NS_INODE_1]`, `[HOST_PID_2]`),
/// so a snapshot still shows which values were equal and which differed.
pub fn redact(text: &str) -> String {
    let uts = nix::sys::utsname::uname().expect("uname");
    let hostname = uts.nodename().to_string_lossy().into_owned();
    let domain = uts.domainname().to_string_lossy().into_owned();
    let mut out = text.to_owned();
    let fixed: [(Regex, &str); 2] = [
        (Regex::new(r"\(uid \d+").expect("re"), "(uid [UID]"),
        (Regex::new(&format!(r"\b{}\b", regex::escape(&hostname))).expect("re"), "[HOST_HOSTNAME]"),
    ];
    for (re, with) in &fixed {
        out = re.replace_all(&out, *with).into_owned();
    }
    if domain != "(none)" {
        out = out.replace(&domain, "[HOST_DOMAIN]");
    }

    let mut inodes = Numbering::new("NS_INODE");
    let inode = Regex::new(r"(\w+):\[(\d+)\]").expect("re");
    out = inode
        .replace_all(&out, |c: &regex::Captures| format!("{}:{}", &c[1], inodes.name(&c[2])))
        .into_owned();

    let mut pids = Numbering::new("HOST_PID");
    let proc_path = Regex::new(r"/proc/(\d+)/").expect("re");
    // Fact lines whose key says the value is a host PID (or starts with one,
    // as NSpid does): host PIDs have three digits or more, PIDs inside are small.
    let host_pid_line =
        Regex::new(r"^(\s+(?:\S+:)?\s+\S*(?:host_pid|nspid|clone_returned)\S*\s)(.*)$")
            .expect("re");
    let big_number = Regex::new(r"\b\d{3,}\b").expect("re");
    let count_line = Regex::new(r"^(\s+(?:\S+:)?\s+\S*_count\s+)\d+$").expect("re");
    let lines: Vec<String> = out
        .lines()
        .map(|line| {
            let line = proc_path
                .replace_all(line, |c: &regex::Captures| format!("/proc/{}/", pids.name(&c[1])));
            if let Some(c) = host_pid_line.captures(&line) {
                let value = big_number.replace_all(&c[2], |n: &regex::Captures| pids.name(&n[0]));
                format!("{}{value}", &c[1])
            } else {
                count_line.replace(&line, "${1}[COUNT]").into_owned()
            }
        })
        .collect();
    let out = lines.join("\n") + "\n";

    // A full capability set (`CapEff` of root, or of a user namespace's
    // root) has one bit per capability the kernel knows: its hex depends on
    // the kernel version (`/proc/sys/kernel/cap_last_cap`).
    let out = match full_capeff() {
        Some(full) => Regex::new(&format!(r"\b{full}\b"))
            .expect("re")
            .replace_all(&out, "[ALL_CAPABILITIES]")
            .into_owned(),
        None => out,
    };

    // Peer groups of shared mounts, as /proc/PID/mountinfo names them
    // (`shared:N`, `master:N`, `propagate_from:N`): N is the lowest free ID
    // on the whole machine when the group is made. Numbered in order of
    // appearance, so a snapshot still shows which groups were the same.
    let mut groups = Numbering::new("PEER_GROUP");
    let peer_group = Regex::new(r"\b(shared|master|propagate_from):(\d+)\b").expect("re");
    let out = peer_group
        .replace_all(&out, |c: &regex::Captures| format!("{}:{}", &c[1], groups.name(&c[2])))
        .into_owned();

    // Network interfaces a demo creates are named `nsl<PID>-<role>`
    // (`nsl4242-br`): the PID of the process that made them keeps names unique
    // across runs at the same time. It is a host PID, numbered like the others.
    let ifname = Regex::new(r"\bnsl(\d+)-").expect("re");
    ifname.replace_all(&out, |c: &regex::Captures| format!("nsl{}-", pids.name(&c[1]))).into_owned()
}

/// Every capability this kernel knows (bits 0 ..= `cap_last_cap`) as
/// `/proc/PID/status` prints a `CapEff` that holds them all; `None` where
/// the kernel does not say.
pub fn full_capeff() -> Option<String> {
    let last = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap").ok()?;
    let last = last.trim().parse::<u32>().ok().filter(|l| *l < 64)?;
    Some(format!("{:016x}", u64::MAX >> (63 - last)))
}

/// A checker's own test: each of `expected` is part of some report in
/// `problems`, and there are no other reports.
pub fn assert_reports(problems: &[String], expected: &[&str]) {
    for what in expected {
        assert!(
            problems.iter().any(|p| p.contains(what)),
            "no report mentions `{what}`; reports:\n  {}",
            problems.join("\n  ")
        );
    }
    assert_eq!(problems.len(), expected.len(), "reports:\n  {}", problems.join("\n  "));
}

/// Gives each distinct value a numbered placeholder, in order of appearance.
struct Numbering {
    label: &'static str,
    seen: Vec<String>,
}

impl Numbering {
    fn new(label: &'static str) -> Self {
        Numbering { label, seen: Vec::new() }
    }

    fn name(&mut self, value: &str) -> String {
        let index = match self.seen.iter().position(|v| v == value) {
            Some(i) => i,
            None => {
                self.seen.push(value.to_owned());
                self.seen.len() - 1
            }
        };
        format!("[{}_{}]", self.label, index + 1)
    }
}

/// A binary of another workspace package, built next to this test
/// (`target/<profile>/NAME`; the test runs as `target/<profile>/deps/…`).
/// Cargo sets `CARGO_BIN_EXE_*` only for a test's own package, hence the
/// search. Panics with the command to run when the binary is missing, or
/// older than one of its sources (from the `NAME.d` file cargo writes).
pub fn workspace_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test's own path");
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .unwrap_or_else(|| panic!("{} is not in target/<profile>/deps", exe.display()))
        .join(name);
    assert!(
        bin.is_file(),
        "no binary {}: build it first (`cargo build --workspace`, or run `cargo test \
         --workspace`, which does)",
        bin.display()
    );
    if let Some(newer) = newer_source(&bin) {
        panic!(
            "{} is older than {}: rebuild it (`cargo build --workspace`)",
            bin.display(),
            newer.display()
        );
    }
    bin
}

/// A source file of `bin` changed after it was built, per `<bin>.d`
/// (`target: dep dep …`, spaces in paths escaped as `\ `).
fn newer_source(bin: &Path) -> Option<PathBuf> {
    let modified = |path: &Path| std::fs::metadata(path).and_then(|m| m.modified()).ok();
    let built = modified(bin)?;
    let deps = std::fs::read_to_string(bin.with_extension("d")).ok()?;
    let (_, list) = deps.lines().next()?.split_once(": ")?;
    let list = list.replace("\\ ", "\u{0}");
    list.split_whitespace()
        .map(|p| PathBuf::from(p.replace('\u{0}', " ")))
        .find(|p| modified(p).is_some_and(|t| t > built))
}

/// Bad command lines get exit code 2: `--only` with an unknown name (the
/// one-line message names every real experiment) and an unknown flag.
pub fn assert_bad_command_lines_exit_2(bin: &str, names: &[&str]) {
    let out = Command::new(bin).args(["--only", "nope"]).output().expect("run the demo");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no experiment named 'nope'"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    for name in names {
        assert!(err.contains(name), "the message lists {name}: {err}");
    }
    let out = Command::new(bin).arg("--no-such-flag").output().expect("run the demo");
    assert_eq!(out.status.code(), Some(2));
}

/// `--list --json`, which runs nothing: checks it names `demo` and lists
/// `names` in order, and returns the document for further checks.
pub fn list_json(bin: &str, demo: &str, names: &[&str]) -> Value {
    let out = Command::new(bin).args(["--list", "--json"]).output().expect("run the demo");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let list: Value = serde_json::from_slice(&out.stdout).expect("--list --json prints JSON");
    assert_eq!(list["demo"], demo);
    let order: Vec<&str> = list["experiments"]
        .as_array()
        .expect("experiments")
        .iter()
        .map(|e| e["name"].as_str().expect("name"))
        .collect();
    assert_eq!(order, names);
    list
}

/// The text of `--help`, for a snapshot.
pub fn help(bin: &str) -> String {
    let out = Command::new(bin).arg("--help").output().expect("run the demo");
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Spawns `cmd`. Another test thread may fork while a freshly copied binary
/// is still open for writing; its child holds the fd until it execs, and
/// exec fails with ETXTBSY meanwhile. Retry for at most a second.
pub fn spawn_retrying(cmd: &mut std::process::Command) -> std::process::Child {
    for _ in 0..100 {
        match cmd.spawn() {
            Err(e) if e.raw_os_error() == Some(nix::errno::Errno::ETXTBSY as i32) => {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            spawned => return spawned.expect("spawn"),
        }
    }
    panic!("{cmd:?} stayed busy (ETXTBSY) for a second")
}

/// Waits for `child` at most `limit`; past that, kills it and fails.
pub fn wait_bounded(
    child: &mut std::process::Child,
    limit: std::time::Duration,
) -> std::process::ExitStatus {
    let start = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the command ran longer than {limit:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}
