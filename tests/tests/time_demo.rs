//! time-demo end to end: the clock offsets, the control run, the text.
//!
//! The demo reports clock differences in whole seconds, never raw clock
//! values, so its text is the same on every run and needs no extra redaction.

use nslab_tests::{As, Demo, assert_verdicts, experiment, int, text};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_time-demo");

const EXPERIMENTS: [&str; 5] =
    ["clocks-jump", "caller-stays", "exec-enters", "setns-enters", "offsets-frozen"];

/// The offsets the demo writes: one day for CLOCK_MONOTONIC, two for CLOCK_BOOTTIME.
const DAY: i64 = 86_400;

/// Since Linux 6.1 an execve() moves a process into its time_for_children
/// namespace; on an older kernel `exec-enters` is a skip.
fn exec_moves_into_time_ns() -> bool {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").expect("osrelease");
    let mut numbers = release.trim().split(|c: char| !c.is_ascii_digit()).map(str::parse::<u32>);
    match (numbers.next(), numbers.next()) {
        (Some(Ok(major)), Some(Ok(minor))) => (major, minor) >= (6, 1),
        _ => panic!("cannot read the kernel release {release:?}"),
    }
}

/// The verdict each experiment must give with its namespaces (`pass`), or
/// in a control run (`fail`).
fn verdict(name: &str, with_namespace: &'static str) -> &'static str {
    if name == "exec-enters" && !exec_moves_into_time_ns() { "skip" } else { with_namespace }
}

/// `value` is `expected` give or take one second.
fn about(e: &Value, side: &str, key: &str, expected: i64) {
    let value = int(e, side, key);
    assert!((value - expected).abs() <= 1, "{side}.{key} = {value}, expected about {expected}");
}

fn assert_isolation_facts(report: &Value) {
    assert_verdicts(report, |name| verdict(name, "pass"));

    let e = experiment(report, "clocks-jump");
    assert_eq!(text(e, "host", "write(timens_offsets)"), "ok");
    assert_eq!(text(e, "host", "timens_offsets"), "monotonic 86400 0, boottime 172800 0");
    about(e, "namespace", "monotonic_minus_host_s", DAY);
    about(e, "namespace", "boottime_minus_host_s", 2 * DAY);
    about(e, "namespace", "proc_uptime_minus_host_s", 2 * DAY);
    about(e, "namespace", "realtime_minus_host_s", 0);
    assert_ne!(text(e, "namespace", "time_ns"), text(e, "host", "time_ns"));

    let e = experiment(report, "caller-stays");
    let before = text(e, "host", "caller_before_time");
    assert_eq!(text(e, "namespace", "caller_after_time"), before, "the caller stays");
    assert_ne!(text(e, "namespace", "caller_after_time_for_children"), before);
    assert_eq!(
        text(e, "namespace", "first_child_time"),
        text(e, "namespace", "caller_after_time_for_children")
    );
    assert_eq!(int(e, "namespace", "caller_after_own_monotonic_jump_s"), 0);
    about(e, "namespace", "first_child_monotonic_minus_caller_s", DAY);

    let e = experiment(report, "exec-enters");
    if e["verdict"] == "pass" {
        assert_exec_moved_in(e);
    }

    // setns() moved a single-threaded caller in; with two threads it was refused.
    let e = experiment(report, "setns-enters");
    let before = text(e, "host", "own_time_before");
    let member = text(e, "namespace", "member_time");
    assert_ne!(member, before);
    assert_eq!(text(e, "namespace", "setns_with_two_threads"), "EUSERS");
    assert_eq!(text(e, "namespace", "setns_single_threaded"), "ok");
    assert_eq!(text(e, "namespace", "own_time_after"), member);
    assert_eq!(text(e, "namespace", "own_time_for_children_after"), member);
    about(e, "namespace", "own_monotonic_jump_s", DAY);
    about(e, "namespace", "member_monotonic_minus_own_s", 0);

    let e = experiment(report, "offsets-frozen");
    assert_eq!(text(e, "host", "write_before_first_process"), "ok");
    assert_eq!(text(e, "host", "write_after_first_process"), "EACCES");
    assert!(text(e, "host", "timens_offsets").starts_with("monotonic 86400 0"));
}

/// unshare() left the caller outside; its execve() moved it in, clock and all.
fn assert_exec_moved_in(e: &Value) {
    let before = text(e, "host", "time_before_unshare");
    assert_eq!(text(e, "namespace", "write(timens_offsets)"), "ok");
    assert_eq!(text(e, "namespace", "after_unshare_time"), before, "unshare left it outside");
    let new_ns = text(e, "namespace", "after_unshare_time_for_children");
    assert_ne!(new_ns, before);
    assert_eq!(e["namespace"]["after_exec_same_process"], true);
    assert_eq!(text(e, "namespace", "after_exec_time"), new_ns, "execve moved it in");
    assert_eq!(text(e, "namespace", "after_exec_time_for_children"), new_ns);
    about(e, "namespace", "monotonic_jump_across_exec_s", DAY);
}

/// Without CLONE_NEWTIME every experiment fails: the offsets cannot be
/// written (the host's time namespace has processes; rootless, it is not
/// even ours) and the clocks agree.
fn assert_control_flips(report: &Value) {
    assert_eq!(report["mode"], "control");
    assert_verdicts(report, |name| verdict(name, "fail"));
    let e = experiment(report, "clocks-jump");
    assert_ne!(text(e, "host", "write(timens_offsets)"), "ok");
    about(e, "namespace", "monotonic_minus_host_s", 0);
    let e = experiment(report, "exec-enters");
    if e["verdict"] == "fail" {
        let before = text(e, "host", "time_before_unshare");
        assert_eq!(text(e, "namespace", "after_unshare_time_for_children"), before);
        assert_eq!(text(e, "namespace", "after_exec_time"), before);
        about(e, "namespace", "monotonic_jump_across_exec_s", 0);
    }
    let e = experiment(report, "setns-enters");
    assert_eq!(text(e, "namespace", "own_time_after"), text(e, "host", "own_time_before"));
    about(e, "namespace", "own_monotonic_jump_s", 0);
    let e = experiment(report, "offsets-frozen");
    assert_ne!(text(e, "host", "write_before_first_process"), "ok");
}

/// Without the time namespace every isolation experiment fails; and joining
/// the host's own time namespace is allowed as root (and a no-op), refused
/// rootless, where that namespace's owner is the initial user namespace.
fn assert_control_run(report: &Value, who: As) {
    assert_control_flips(report);
    let joined = text(experiment(report, "setns-enters"), "namespace", "setns_single_threaded");
    if who == As::Root {
        let e = experiment(report, "clocks-jump");
        assert_eq!(text(e, "host", "write(timens_offsets)"), "EACCES");
        assert_eq!(joined, "ok");
    } else {
        assert_eq!(joined, "EPERM");
    }
}

/// The text of experiments this kernel can run: a skipped one (exec-enters
/// before Linux 6.1) is left out, so the snapshot shows a kernel that has it.
fn time_text(demo: &Demo, args: &[&str]) -> Option<String> {
    let name = args.last().expect("--only NAME");
    if verdict(name, "pass") == "skip" {
        return None;
    }
    demo.text(args)
}

nslab_tests::demo_tests! {
    demo: "time-demo",
    bin: BIN,
    experiments: EXPERIMENTS,
    facts: |report: &Value, _: As| assert_isolation_facts(report),
    control: assert_control_run,
    text: time_text,
}

/// `--list --json` names every experiment and its claims without running any.
#[test]
fn list_json_is_the_catalogue() {
    let list = nslab_tests::list_json(BIN, "time-demo", &EXPERIMENTS);
    assert_eq!(
        experiment(&list, "clocks-jump")["claims"],
        serde_json::json!(["TIME-NS", "NOT-NS"])
    );
    insta::assert_snapshot!("help", nslab_tests::help(BIN));
}
