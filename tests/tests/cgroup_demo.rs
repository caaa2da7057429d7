//! cgroup-demo end to end: the paths each side sees, the control run, the
//! text, and no scratch cgroup left behind.
//!
//! Two experiments create a scratch cgroup and need real root; rootless they
//! are skips. `root-view` needs this test process to sit below the root of
//! some hierarchy (it does under systemd or any supervisor); at the root of
//! every hierarchy there is nothing to hide, and the demo says so with a skip.

use std::path::Path;

use nslab_tests::{As, Demo, can_run, experiment, int, text};
use regex::Regex;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_cgroup-demo");

const EXPERIMENTS: [&str; 3] = ["root-view", "root-is-where-unshared", "mountinfo-until-remount"];

/// The experiments that make a scratch cgroup.
const NEED_ROOT: [&str; 2] = ["root-is-where-unshared", "mountinfo-until-remount"];

/// The distinct paths of this test process's cgroups other than `/`: the
/// demo, started by us, starts in the same ones.
fn own_cgroup_paths() -> Vec<String> {
    let text = std::fs::read_to_string("/proc/self/cgroup").expect("read /proc/self/cgroup");
    let mut paths: Vec<String> = text
        .lines()
        .filter_map(|l| Some(l.splitn(3, ':').nth(2)?.to_owned()))
        .filter(|p| p != "/")
        .collect();
    paths.sort();
    paths.dedup();
    paths
}

/// What `root-view` should give here: a skip when we are at the root of
/// every hierarchy (nothing to hide), `otherwise` when not.
fn root_view_expected(otherwise: &'static str) -> &'static str {
    if own_cgroup_paths().is_empty() { "skip" } else { otherwise }
}

fn expected_verdict(who: As, control: bool, name: &str) -> &'static str {
    let isolated = if control { "fail" } else { "pass" };
    match name {
        "root-view" => root_view_expected(isolated),
        _ if who == As::Rootless => "skip",
        _ => isolated,
    }
}

fn assert_verdicts(report: &Value, who: As, control: bool) {
    for name in EXPERIMENTS {
        let e = experiment(report, name);
        assert_eq!(e["verdict"], expected_verdict(who, control, name), "{name}: {e:#}");
    }
}

fn assert_isolation_facts(report: &Value, who: As) {
    assert_verdicts(report, who, false);

    let e = experiment(report, "root-view");
    if e["verdict"] == "pass" {
        assert_eq!(e["namespace"]["paths_in_proc_self_cgroup"], json!(["/"]));
        let host = e["host"]["paths_in_proc_child_cgroup"].as_array().expect("a list");
        for path in own_cgroup_paths() {
            assert!(host.contains(&json!(path)), "the host sees the child's real path {path}");
        }
        assert_ne!(text(e, "namespace", "cgroup_ns"), text(e, "host", "cgroup_ns"));
    }

    if who == As::Rootless {
        for name in NEED_ROOT {
            let reason = experiment(report, name)["reason"].as_str().unwrap_or_default();
            assert_eq!(reason, "creating a scratch cgroup needs root", "{name}");
        }
        return;
    }

    let e = experiment(report, "root-is-where-unshared");
    let scratch = text(e, "host", "scratch_cgroup");
    assert!(Regex::new(r"^/nslab-\d+$").expect("re").is_match(scratch), "{scratch}");
    assert_eq!(text(e, "namespace", "path_before_unshare"), scratch);
    assert_eq!(text(e, "namespace", "path_after_unshare"), "/");
    assert_eq!(text(e, "host", "child_seen_from_host"), scratch);
    assert!(text(e, "namespace", "demo_process_seen_from_inside").starts_with("/.."));

    let e = experiment(report, "mountinfo-until-remount");
    assert_eq!(text(e, "namespace", "mount_root_before"), "/..");
    assert_eq!(e["namespace"]["mount_lists_scratch_before"], true);
    assert_eq!(text(e, "namespace", "mount_root_after_remount"), "/");
    assert_eq!(e["namespace"]["mount_lists_scratch_after"], false);
    let child = int(e, "host", "child_host_pid");
    assert_eq!(e["namespace"]["top_cgroup_procs_host_pids"], json!([child]));
    assert_eq!(text(e, "host", "mount_root"), "/", "the host's mount is untouched");
}

/// Without the cgroup namespace the isolation experiments fail (rootless,
/// the ones that need root are skipped either way).
fn assert_control_run(report: &Value, who: As) {
    assert_verdicts(report, who, true);
    let e = experiment(report, "root-view");
    if e["verdict"] == "fail" {
        assert_ne!(e["namespace"]["paths_in_proc_self_cgroup"], json!(["/"]));
    }
    if who == As::Root {
        let e = experiment(report, "root-is-where-unshared");
        assert_eq!(text(e, "namespace", "path_after_unshare"), text(e, "host", "scratch_cgroup"));
        let e = experiment(report, "mountinfo-until-remount");
        assert_eq!(text(e, "namespace", "mount_root_before"), "/");
    }
}

/// The demo's text, redacted by the harness, then of what only this demo
/// shows: the scratch cgroup's name (`nslab-<PID>`) and the cgroups the test
/// process happens to run in. Then [`same_on_v1_and_v2`] removes what depends
/// on the machine's cgroup layout.
fn cgroup_text(demo: &Demo, args: &[&str]) -> Option<String> {
    let mut text = demo.text(args)?;
    let mut paths = own_cgroup_paths();
    // Longest first, so that a path inside another is replaced whole.
    paths.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for path in paths {
        text = text.replace(&path, "[TEST_CGROUP]");
    }
    let scratch = Regex::new(r"\bnslab-\d+\b").expect("re");
    Some(same_on_v1_and_v2(&scratch.replace_all(&text, "nslab-[DEMO_PID]")))
}

/// One snapshot for every cgroup layout. Three values differ between a v1
/// (or hybrid) machine and a cgroup2-only one; each is checked, then written
/// in one form:
/// - `hierarchy`: `/sys/fs/cgroup/pids (cgroup v1, pids controller)` or
///   `/sys/fs/cgroup (cgroup2)`, a mounted hierarchy either way, becomes
///   `[HIERARCHY]`;
/// - `paths_in_proc_child_cgroup`: v1 has one line per hierarchy, and `/`
///   for those where the test process sits at the top; cgroup2 has one line.
///   The list must hold the test's own cgroup; it is shown as that alone;
/// - `demo_process_seen_from_host`/`_inside`: the demo's own cgroup, `/` when
///   it sits at the top of the hierarchy (as in v1's pids hierarchy) or a
///   path (under systemd); from inside it is the same path after `/..`. Both
///   become `[DEMO_CGROUP]`.
fn same_on_v1_and_v2(text: &str) -> String {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").expect("read mountinfo");
    let line = Regex::new(r"^(\s*(?:[a-z]+:)?\s+)(\S+)(\s+)(.*)$").expect("re");
    let hierarchy = Regex::new(r"^(/\S+) \((cgroup v1, pids controller|cgroup2)\)$").expect("re");
    let mut demo_cgroup = None;
    let mut out = Vec::new();
    for text_line in text.lines() {
        let Some(c) = line.captures(text_line) else {
            out.push(text_line.to_owned());
            continue;
        };
        let (lead, key, gap, value) = (&c[1], &c[2], &c[3], &c[4]);
        let value = match key {
            "hierarchy" => {
                let m = hierarchy.captures(value).unwrap_or_else(|| panic!("{value}"));
                let fstype = if &m[2] == "cgroup2" { "cgroup2" } else { "cgroup" };
                let mounted = mountinfo.lines().any(|l| {
                    l.split_whitespace().nth(4) == Some(&m[1])
                        && l.contains(&format!(" - {fstype} "))
                });
                assert!(mounted, "the hierarchy {value} is mounted");
                "[HIERARCHY]".to_owned()
            }
            "paths_in_proc_child_cgroup" => {
                let tokens: Vec<&str> = value.split(' ').collect();
                assert!(tokens.contains(&"[TEST_CGROUP]"), "the host sees the real path: {value}");
                assert!(tokens.iter().all(|t| *t == "/" || *t == "[TEST_CGROUP]"), "{value}");
                "[TEST_CGROUP]".to_owned()
            }
            "demo_process_seen_from_host" => {
                demo_cgroup = Some(value.to_owned());
                "[DEMO_CGROUP]".to_owned()
            }
            "demo_process_seen_from_inside" => {
                let host = demo_cgroup.as_deref().expect("the host's view comes first");
                let expected = if host == "/" { "/..".to_owned() } else { format!("/..{host}") };
                assert_eq!(value, expected, "from inside, the demo's cgroup is above the root");
                "/..[DEMO_CGROUP]".to_owned()
            }
            _ => value.to_owned(),
        };
        out.push(format!("{lead}{key}{gap}{value}"));
    }
    out.join("\n") + if text.ends_with('\n') { "\n" } else { "" }
}

nslab_tests::demo_tests! {
    demo: "cgroup-demo",
    bin: BIN,
    experiments: EXPERIMENTS,
    facts: |report: &Value, who: As| assert_isolation_facts(report, who),
    control: assert_control_run,
    text: cgroup_text,
    verdict: |who: As, name: &str| expected_verdict(who, false, name),
}

/// `--unified` on a hybrid machine (or any run on a cgroup2-only one) makes
/// the scratch cgroup in the cgroup2 hierarchy: the same facts hold there.
#[test]
fn cgroup2_hierarchy_as_root() {
    let Some(()) = can_run("cgroup-demo --unified", As::Root) else {
        return;
    };
    let cgroup2 = std::fs::read_to_string("/proc/self/mountinfo")
        .expect("mountinfo")
        .lines()
        .any(|l| l.contains(" - cgroup2 "));
    if !cgroup2 {
        nslab_tests::not_here("cgroup2_hierarchy_as_root", "no cgroup2 hierarchy is mounted");
        return;
    }
    let Some(report) = Demo::new("cgroup-demo", BIN, As::Root).json(&["--unified"]) else {
        return;
    };
    assert_isolation_facts(&report, As::Root);
    for name in NEED_ROOT {
        let hierarchy = text(experiment(&report, name), "host", "hierarchy");
        assert!(hierarchy.ends_with("(cgroup2)"), "{name}: {hierarchy}");
    }
}

/// Every scratch cgroup is removed, on every path: a normal run, a control
/// run, the cgroup2 hierarchy. Other runs of the demo may be going on at the
/// same time (the other tests here), so a directory counts as left behind
/// only when the process it is named after has exited: a demo removes its
/// cgroup before its experiment process ends.
#[test]
fn no_cgroup_left_behind() {
    let Some(()) = can_run("cgroup-demo leak check", As::Root) else {
        return;
    };
    let demo = Demo::new("cgroup-demo", BIN, As::Root);
    for args in [&[][..], &["--control"], &["--unified"]] {
        let Some(output) = demo.run(args) else {
            return;
        };
        assert!(output.status.success(), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
        let left = left_behind();
        assert!(left.is_empty(), "{args:?} left scratch cgroups behind: {left:?}");
    }
}

/// `nslab-<PID>` directories in any hierarchy whose PID is gone.
fn left_behind() -> Vec<String> {
    let name = Regex::new(r"^nslab-(\d+)$").expect("re");
    let mut hierarchies = vec![Path::new("/sys/fs/cgroup").to_owned()];
    for entry in std::fs::read_dir("/sys/fs/cgroup").expect("list /sys/fs/cgroup").flatten() {
        hierarchies.push(entry.path());
    }
    let mut left = Vec::new();
    for dir in hierarchies {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let file_name = entry.file_name().to_string_lossy().into_owned();
            let Some(c) = name.captures(&file_name) else { continue };
            let alive = Path::new(&format!("/proc/{}", &c[1])).exists();
            if !alive && entry.path().exists() {
                left.push(entry.path().display().to_string());
            }
        }
    }
    left
}

/// `--list --json` names every experiment and its claims without running any.
#[test]
fn list_json_is_the_catalogue() {
    let list = nslab_tests::list_json(BIN, "cgroup-demo", &EXPERIMENTS);
    for name in EXPERIMENTS {
        let claims = experiment(&list, name)["claims"].as_array().expect("claims").clone();
        assert!(claims.contains(&json!("CG-NS")), "{name} tests CG-NS");
    }
    insta::assert_snapshot!("help", nslab_tests::help(BIN));
}
