//! shared-demo end to end: what stays the same inside every namespace type,
//! the control run, the text.
//!
//! The facts here are the machine's own (its kernel release, memory, boot
//! id): the test reads the same files itself and expects the demo's values
//! on both sides. For snapshots they are replaced with named placeholders;
//! a namespace side that differed from the host would keep its raw value and
//! break the snapshot.

use nslab_tests::{As, Demo, assert_verdicts, experiment, int, text};
use regex::Regex;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_shared-demo");

const EXPERIMENTS: [&str; 5] =
    ["one-kernel", "memory-and-load", "wall-clock", "modules-and-devices", "keyrings"];

fn release() -> String {
    nix::sys::utsname::uname().expect("uname").release().to_string_lossy().into_owned()
}

fn boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id").expect("boot_id").trim().to_owned()
}

fn memtotal() -> String {
    let meminfo = std::fs::read_to_string("/proc/meminfo").expect("meminfo");
    let line = meminfo.lines().find_map(|l| l.strip_prefix("MemTotal:")).expect("MemTotal");
    line.trim().to_owned()
}

/// The namespace types this kernel has, but the *_for_children links.
fn every_kind() -> Vec<&'static str> {
    let kinds = ["cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts"];
    kinds
        .into_iter()
        .filter(|k| std::path::Path::new(&format!("/proc/self/ns/{k}")).exists())
        .collect()
}

fn same(e: &Value, key: &str) {
    assert_eq!(e["namespace"][key], e["host"][key], "{key}: {e:#}");
}

fn assert_shared_facts(report: &Value, control: bool) {
    let e = experiment(report, "one-kernel");
    assert_eq!(text(e, "host", "uname_release"), release());
    assert_eq!(text(e, "host", "boot_id"), boot_id());
    same(e, "uname_release");
    same(e, "boot_id");
    let new_ones = if control { vec!["mnt"] } else { every_kind() };
    assert_eq!(e["namespace"]["differ_from_host"], json!(new_ones));

    let e = experiment(report, "memory-and-load");
    assert_eq!(text(e, "host", "meminfo_memtotal"), memtotal());
    same(e, "meminfo_memtotal");
    same(e, "loadavg");
    if !control {
        assert_eq!(e["namespace"]["proc_lists"], json!([1]), "a procfs of the new PID namespace");
    }

    let e = experiment(report, "wall-clock");
    assert_eq!(int(e, "namespace", "realtime_minus_host_s"), 0);
    if !control {
        assert_ne!(text(e, "namespace", "time_ns"), text(e, "host", "time_ns"));
    }

    let e = experiment(report, "modules-and-devices");
    assert_eq!(e["namespace"]["proc_modules_same_as_host"], true);
    assert_eq!(e["namespace"]["dev_same_as_host"], true);
    same(e, "dev_entries_count");

    let e = experiment(report, "keyrings");
    let session = text(e, "host", "session_keyring");
    let user = text(e, "host", "user_keyring");
    assert!(session.parse::<i32>().is_ok_and(|id| id > 0), "a keyring serial: {session}");
    assert_eq!(text(e, "namespace", "all_but_user_ns_session_keyring"), session);
    assert_eq!(text(e, "namespace", "all_ns_session_keyring"), session);
    assert_eq!(text(e, "namespace", "all_but_user_ns_user_keyring"), user);
    if control {
        assert_eq!(text(e, "namespace", "all_ns_user_keyring"), user);
    } else {
        assert_ne!(text(e, "namespace", "all_ns_user_keyring"), user);
    }
}

/// Every experiment passes: what it shows is shared, with or without namespaces.
fn assert_namespace_run(report: &Value) {
    assert_verdicts(report, |_| "pass");
    assert_shared_facts(report, false);
}

/// Without the namespaces the shared facts are the same, so those
/// experiments pass again; only `keyrings`, whose contrast is a user
/// namespace, fails.
fn assert_control_run(report: &Value) {
    assert_verdicts(report, |name| if name == "keyrings" { "fail" } else { "pass" });
    for name in EXPERIMENTS {
        let isolation = experiment(report, name)["isolation"].as_bool().expect("isolation");
        assert_eq!(isolation, name == "keyrings", "{name}");
    }
    assert_shared_facts(report, true);
}

/// Gives each distinct value a numbered placeholder, in order of appearance.
fn numbered(text: &str, re: &Regex, label: &str) -> String {
    let mut seen: Vec<String> = Vec::new();
    re.replace_all(text, |c: &regex::Captures| {
        let value = c[c.len() - 1].to_owned();
        let index = seen.iter().position(|v| *v == value).unwrap_or_else(|| {
            seen.push(value.clone());
            seen.len() - 1
        });
        let whole = &c[0];
        whole.replace(&value, &format!("[{label}_{}]", index + 1))
    })
    .into_owned()
}

/// The harness's redaction, then the host's own values.
fn shared_text(demo: &Demo, args: &[&str]) -> Option<String> {
    let mut text = demo.text(args)?;
    for (value, name) in
        [(release(), "[KERNEL_RELEASE]"), (boot_id(), "[BOOT_ID]"), (memtotal(), "[MEMTOTAL]")]
    {
        text = text.replace(&value, name);
    }
    // Load averages change every 5 s; keyring serial numbers are random.
    let load = Regex::new(r"(\d+\.\d\d \d+\.\d\d \d+\.\d\d)").expect("re");
    text = numbered(&text, &load, "LOADAVG");
    let keyring = Regex::new(r"(?m)^(.*_keyring\s+)(\d+)$").expect("re");
    Some(numbered(&text, &keyring, "KEYRING"))
}

nslab_tests::demo_tests! {
    demo: "shared-demo",
    bin: BIN,
    experiments: EXPERIMENTS,
    facts: |report: &Value, _: As| assert_namespace_run(report),
    control: |report: &Value, _: As| assert_control_run(report),
    text: shared_text,
}

/// `--list --json` names every experiment and its claims without running any.
#[test]
fn list_json_is_the_catalogue() {
    let list = nslab_tests::list_json(BIN, "shared-demo", &EXPERIMENTS);
    for name in EXPERIMENTS {
        let claims = experiment(&list, name)["claims"].as_array().expect("claims").clone();
        assert!(claims.contains(&json!("NOT-NS")), "{name} tests NOT-NS");
    }
    insta::assert_snapshot!("help", nslab_tests::help(BIN));
}
