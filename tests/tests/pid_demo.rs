//! pid-demo end to end: the isolation facts, the control run, the text.

use nslab_tests::{As, assert_verdicts, experiment, int, text};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_pid-demo");

const EXPERIMENTS: [&str; 11] = [
    "first-pid-is-1",
    "same-process-two-pids",
    "init-adopts-orphans",
    "init-exit-kills-all",
    "no-view-outside",
    "host-sees-inside",
    "init-ignores-signals",
    "nested-levels",
    "unshare-pid-stays",
    "ns-links",
    "fresh-each-time",
];

/// The facts each claim rests on, checked one by one before any snapshot.
fn assert_isolation_facts(report: &Value) {
    assert_verdicts(report, |_| "pass");

    let e = experiment(report, "first-pid-is-1");
    assert_eq!(int(e, "namespace", "getpid"), 1);
    assert_eq!(int(e, "namespace", "getppid"), 0);
    assert_ne!(text(e, "namespace", "pid_ns"), text(e, "host", "pid_ns"));

    let e = experiment(report, "same-process-two-pids");
    let host_pid = int(e, "host", "clone_returned");
    assert_eq!(e["namespace"]["nspid"], serde_json::json!([host_pid, 1]));

    let e = experiment(report, "init-adopts-orphans");
    assert_eq!(int(e, "namespace", "parent_after"), 1);
    assert_eq!(
        text(e, "namespace", "reaped_by_this_init"),
        int(e, "namespace", "orphan_pid").to_string()
    );

    let e = experiment(report, "init-exit-kills-all");
    assert_eq!(e["host"]["sleeper_alive_before_init_exit"], true);
    assert_eq!(e["host"]["sleeper_alive_after_init_exit"], false);
    assert_eq!(text(e, "host", "fork_into_namespace_after"), "ENOMEM");

    let e = experiment(report, "no-view-outside");
    assert_eq!(e["namespace"]["proc_lists"], serde_json::json!([1]));
    assert_eq!(text(e, "namespace", "kill(demo_host_pid, 0)"), "ESRCH");
    assert!(int(e, "host", "proc_lists_count") > 1);

    let e = experiment(report, "host-sees-inside");
    assert_eq!(text(e, "host", "kill(first, SIGTERM)"), "ok");
    assert_eq!(text(e, "namespace", "first_ended_by"), "SIGTERM");

    let e = experiment(report, "init-ignores-signals");
    assert_eq!(text(e, "namespace", "init_after_them"), "alive");
    assert_eq!(text(e, "host", "init_ended_by"), "SIGKILL");

    let e = experiment(report, "nested-levels");
    let nspid = e["host"]["innermost_nspid"].as_array().expect("nspid");
    assert_eq!(nspid.len(), 3, "one PID per level");
    assert_eq!(&nspid[1..], [3, 2]);
    assert_eq!(e["namespace"]["level_1_proc_lists"], serde_json::json!([1, 2, 3]));
    assert_eq!(e["namespace"]["level_2_proc_lists"], serde_json::json!([1, 2]));

    let e = experiment(report, "unshare-pid-stays");
    assert_eq!(text(e, "namespace", "caller_after_pid"), text(e, "host", "caller_before_pid"));
    assert_eq!(
        int(e, "namespace", "caller_after_host_pid"),
        int(e, "host", "caller_before_host_pid")
    );
    assert_eq!(int(e, "namespace", "first_child_getpid"), 1);
    assert_ne!(text(e, "namespace", "first_child_pid"), text(e, "host", "caller_before_pid"));

    let e = experiment(report, "ns-links");
    assert_eq!(e["namespace"]["differ_from_host"], serde_json::json!(["pid", "pid_for_children"]));

    let e = experiment(report, "fresh-each-time");
    assert_ne!(text(e, "namespace", "first_run_pid_ns"), text(e, "namespace", "second_run_pid_ns"));
}

/// Without CLONE_NEWPID every isolation experiment must fail; the one about
/// the host's view (PID-5) passes either way.
fn assert_control_flips(report: &Value) {
    assert_eq!(report["mode"], "control");
    assert_verdicts(report, |name| if name == "host-sees-inside" { "pass" } else { "fail" });
    let e = experiment(report, "first-pid-is-1");
    assert_ne!(int(e, "namespace", "getpid"), 1, "without CLONE_NEWPID the child is not PID 1");
}

nslab_tests::demo_tests! {
    demo: "pid-demo",
    bin: BIN,
    experiments: EXPERIMENTS,
    facts: |report: &Value, _: As| assert_isolation_facts(report),
    control: |report: &Value, _: As| assert_control_flips(report),
}

/// `--list --json` names every experiment and its claims without running any.
#[test]
fn list_json_is_the_catalogue() {
    let list = nslab_tests::list_json(BIN, "pid-demo", &EXPERIMENTS);
    assert_eq!(experiment(&list, "unshare-pid-stays")["claims"], serde_json::json!(["MECH-1"]));
    insta::assert_snapshot!("help", nslab_tests::help(BIN));
}

/// When user namespaces are blocked, a non-root run stops with exit code 3
/// and names the setting. The test blocks them for real, without touching
/// the machine: the demo starts in a fresh user namespace whose own
/// `user.max_user_namespaces` (a per-user-namespace limit) is set to 0, and
/// as an unmapped, capability-less user there it is not root.
#[test]
fn blocked_user_namespaces_name_the_setting() {
    use std::os::unix::process::CommandExt;
    let mut cmd = std::process::Command::new(BIN);
    // SAFETY: between fork and exec only async-signal-safe calls are made.
    unsafe {
        cmd.pre_exec(|| {
            if libc::unshare(libc::CLONE_NEWUSER) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            let path = c"/proc/sys/user/max_user_namespaces";
            let fd = libc::open(path.as_ptr(), libc::O_WRONLY);
            if fd < 0 || libc::write(fd, c"0".as_ptr().cast(), 1) != 1 {
                return Err(std::io::Error::last_os_error());
            }
            libc::close(fd);
            Ok(())
        });
    }
    let out = cmd.output().expect("run the demo in a user namespace with no room for another");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("user.max_user_namespaces=0"), "names the setting: {err}");
    assert!(
        err.contains("sudo sysctl -w user.max_user_namespaces="),
        "gives the sysctl fix: {err}"
    );
    assert!(err.contains("run with sudo"), "gives the sudo fix: {err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
}
