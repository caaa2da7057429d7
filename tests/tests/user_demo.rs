//! user-demo end to end: the ID and capability facts, the control run, the text.
//!
//! Both halves run the lesson as an unprivileged user: as root the demo drops
//! to 65534 itself, and the rootless half starts it as 65534. Only
//! `remap-to-range` needs real root, and is a skip rootless.

use std::sync::{Mutex, MutexGuard};

use nslab_tests::{As, Demo, assert_verdicts, can_run, experiment, int, text};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_user-demo");

const EXPERIMENTS: [&str; 8] = [
    "root-inside",
    "unmapped-is-overflow",
    "map-write-rules",
    "files-owned-by-caller",
    "root-only-file-refused",
    "hostname-owned-uts-only",
    "creates-other-namespaces",
    "remap-to-range",
];

/// The user every experiment runs as outside its namespaces.
const NOBODY: i64 = 65534;

fn real_hostname() -> String {
    nix::unistd::gethostname().expect("gethostname").to_string_lossy().into_owned()
}

/// What the scratch directories look like; none may be left behind.
fn leftovers() -> Vec<String> {
    let tmp = std::env::temp_dir();
    let entries = std::fs::read_dir(&tmp).expect("list the temp dir");
    entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|name| name.starts_with("nslab-user."))
        .collect()
}

/// Runs as 65534 even when the tests run as someone else: the uid the
/// facts below expect.
fn outside_uid(who: As) -> i64 {
    if who == As::Root || nix::unistd::geteuid().is_root() {
        NOBODY
    } else {
        nix::unistd::geteuid().as_raw().into()
    }
}

/// A machine that stops unprivileged users from creating user namespaces
/// makes the demo skip every experiment, saying why: a failure under
/// `CI=true`, one line on stderr elsewhere (the harness's policy).
fn blocked_here(reason: Option<&str>) -> bool {
    let Some(why) = reason.filter(|r| r.contains("cannot create a user namespace")) else {
        return false;
    };
    nslab_tests::skip("user-demo", why);
    true
}

fn assert_user_facts(report: &Value, who: As) {
    assert_verdicts(report, |name| match (name, who) {
        ("remap-to-range", As::Rootless) => "skip",
        _ => "pass",
    });
    let me = outside_uid(who);

    let e = experiment(report, "root-inside");
    assert_eq!(int(e, "namespace", "getuid"), 0, "root inside");
    assert_eq!(int(e, "namespace", "getgid"), 0);
    assert_eq!(
        text(e, "namespace", "CapEff"),
        nslab_tests::full_capeff().expect("cap_last_cap"),
        "every capability inside"
    );
    assert_eq!(int(e, "host", "getuid"), me, "an ordinary user outside");
    assert_eq!(text(e, "host", "CapEff"), "0000000000000000", "no capability outside");
    assert_ne!(text(e, "namespace", "user_ns"), text(e, "host", "user_ns"));

    let e = experiment(report, "unmapped-is-overflow");
    assert_eq!(int(e, "host", "overflowuid"), NOBODY);
    assert_eq!(text(e, "namespace", "before_map_uid_map"), "(empty)");
    assert_eq!(int(e, "namespace", "before_map_getuid"), NOBODY, "unmapped: the overflow UID");
    assert_eq!(int(e, "namespace", "before_map_getgid"), NOBODY);
    assert_eq!(int(e, "host", "owner_of_root_dir"), 0);
    assert_eq!(int(e, "namespace", "before_map_owner_of_root_dir"), NOBODY);
    assert_eq!(int(e, "namespace", "after_map_getuid"), 0);
    assert_eq!(text(e, "namespace", "after_map_uid_map"), format!("0 {me} 1"));
    assert_eq!(int(e, "namespace", "after_map_owner_of_root_dir"), NOBODY, "host root unmapped");

    let e = experiment(report, "map-write-rules");
    assert_eq!(text(e, "host", "write_gid_map_first"), "EPERM", "setgroups not denied yet");
    assert_eq!(text(e, "host", "write_setgroups_deny"), "ok");
    assert_eq!(text(e, "host", "write_gid_map"), "ok");
    assert_eq!(text(e, "host", "write_uid_map"), "ok");
    assert_eq!(text(e, "host", "write_uid_map_again"), "EPERM", "a map is written once");
    assert_eq!(text(e, "host", "uid_map"), format!("0 {me} 1"));
    assert_eq!(text(e, "host", "setgroups"), "deny");
    assert_eq!(text(e, "namespace", "setgroups([0])"), "EPERM");

    let e = experiment(report, "files-owned-by-caller");
    assert_eq!(int(e, "namespace", "file_owner"), 0, "root's file, seen inside");
    assert_eq!(int(e, "host", "file_owner"), me, "the mapped host UID, seen outside");

    let e = experiment(report, "root-only-file-refused");
    assert_eq!(int(e, "namespace", "getuid"), 0);
    assert_eq!(text(e, "namespace", "CapEff"), nslab_tests::full_capeff().expect("cap_last_cap"));
    assert_eq!(text(e, "namespace", "open(file)"), "EACCES", "root inside, refused");
    assert_eq!(text(e, "host", "open(file)"), "EACCES");
    assert_eq!(int(e, "host", "file_owner"), 0);
    assert_eq!(int(e, "namespace", "file_owner"), NOBODY, "host root shows as the overflow UID");

    let e = experiment(report, "hostname-owned-uts-only");
    assert_eq!(text(e, "namespace", "sethostname(host_uts)"), "EPERM");
    assert_eq!(text(e, "namespace", "unshare(CLONE_NEWUTS)"), "ok");
    assert_eq!(text(e, "namespace", "sethostname(own_uts)"), "ok");
    assert_eq!(text(e, "namespace", "hostname_now"), "nslab-user");
    assert_eq!(text(e, "host", "hostname_after"), text(e, "host", "hostname_before"));

    let e = experiment(report, "creates-other-namespaces");
    let child_user = text(e, "namespace", "user_ns");
    assert_eq!(text(e, "namespace", "unshare(UTS|NS|NET|PID)"), "ok");
    assert_eq!(text(e, "namespace", "mount(tmpfs on /mnt)"), "ok");
    assert_eq!(int(e, "namespace", "getpid_of_first_child"), 1);
    for kind in ["uts", "mnt", "net", "pid_for_children"] {
        let key = format!("NS_GET_USERNS({kind})");
        assert_eq!(text(e, "namespace", &key), child_user, "{kind} owned by the child's user ns");
    }
    let host_user = text(e, "host", "user_ns");
    assert_ne!(child_user, host_user);
    assert_eq!(text(e, "host", "NS_GET_PARENT(child user_ns)"), host_user, "nested in ours");
    assert_eq!(text(e, "host", "NS_GET_USERNS(own uts)"), host_user);

    let e = experiment(report, "remap-to-range");
    if who == As::Root {
        assert_eq!(text(e, "host", "uid_map"), "0 100000 65536");
        assert_eq!(text(e, "host", "setgroups"), "allow", "a privileged writer need not deny");
        assert_eq!(int(e, "namespace", "getuid_before_setuid(0)"), NOBODY);
        assert_eq!(int(e, "namespace", "owner_of_made_by_root"), 0);
        assert_eq!(int(e, "namespace", "owner_of_made_by_1000"), 1000);
        assert_eq!(int(e, "host", "owner_of_made_by_root"), 100_000);
        assert_eq!(int(e, "host", "owner_of_made_by_1000"), 101_000);
    } else {
        assert!(e["reason"].as_str().is_some_and(|r| r.contains("needs root")), "{e:#}");
    }
}

fn namespace_run(who: As) {
    let Some(()) = can_run("user-demo", who) else {
        return;
    };
    let hostname = real_hostname();
    let Some(report) = Demo::new("user-demo", BIN, who).json(&[]) else {
        return;
    };
    assert_eq!(report["mode"], "namespace");
    if blocked_here(experiment(&report, "root-inside")["reason"].as_str()) {
        return;
    }
    let names: Vec<_> =
        report["experiments"].as_array().expect("list").iter().map(|e| e["name"].clone()).collect();
    assert_eq!(names, EXPERIMENTS);
    assert_user_facts(&report, who);
    assert_eq!(real_hostname(), hostname, "the machine's hostname is untouched");
}

/// Without CLONE_NEWUSER nothing maps, nobody is root inside, nothing can be
/// created: every isolation verdict flips, and still nothing on the machine changes.
fn control_run(who: As) {
    let Some(()) = can_run("user-demo --control", who) else {
        return;
    };
    let hostname = real_hostname();
    let Some(report) = Demo::new("user-demo", BIN, who).json(&["--control"]) else {
        return;
    };
    assert_eq!(report["mode"], "control");
    assert_verdicts(&report, |name| match (name, who) {
        ("remap-to-range", As::Rootless) => "skip",
        _ => "fail",
    });
    let e = experiment(&report, "root-inside");
    assert_eq!(int(e, "namespace", "getuid"), outside_uid(who), "not root without the namespace");
    assert_eq!(text(e, "namespace", "CapEff"), "0000000000000000");
    let e = experiment(&report, "hostname-owned-uts-only");
    assert_eq!(text(e, "namespace", "sethostname(host_uts)"), "EPERM");
    assert_eq!(text(e, "namespace", "unshare(CLONE_NEWUTS)"), "EPERM");
    let e = experiment(&report, "creates-other-namespaces");
    assert_eq!(text(e, "namespace", "unshare(UTS|NS|NET|PID)"), "EPERM");
    assert_eq!(real_hostname(), hostname, "the control run must not rename the machine");
}

fn text_snapshots(who: As) {
    let Some(()) = can_run("user-demo text", who) else {
        return;
    };
    let demo = Demo::new("user-demo", BIN, who);
    for name in EXPERIMENTS {
        let Some(text) = demo.text(&["--only", name]) else {
            return;
        };
        if blocked_here(Some(text.as_str())) {
            return;
        }
        let expected = match (name, who) {
            ("remap-to-range", As::Rootless) => "verdict:    SKIP",
            _ => "verdict:    PASS",
        };
        assert!(text.contains(expected), "{name}: {text}");
        insta::assert_snapshot!(format!("{}-{name}", who.word()), text);
    }
}

/// The scratch directories are gone once a run is over, error or not.
fn nothing_left_behind(before: &[String]) {
    let after = leftovers();
    let new: Vec<_> = after.iter().filter(|n| !before.contains(n)).collect();
    assert!(new.is_empty(), "left behind in {}: {new:?}", std::env::temp_dir().display());
}

/// One test at a time, so one test's scratch directory, alive mid-run, is
/// never taken for another's leftover (each run takes milliseconds).
fn one_at_a_time() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[test]
fn user_facts_as_root() {
    let _serial = one_at_a_time();
    let before = leftovers();
    namespace_run(As::Root);
    nothing_left_behind(&before);
}

#[test]
fn user_facts_rootless() {
    let _serial = one_at_a_time();
    let before = leftovers();
    namespace_run(As::Rootless);
    nothing_left_behind(&before);
}

#[test]
fn control_run_flips_verdicts_as_root() {
    let _serial = one_at_a_time();
    let before = leftovers();
    control_run(As::Root);
    nothing_left_behind(&before);
}

#[test]
fn control_run_flips_verdicts_rootless() {
    let _serial = one_at_a_time();
    let before = leftovers();
    control_run(As::Rootless);
    nothing_left_behind(&before);
}

#[test]
fn text_output_as_root() {
    let _serial = one_at_a_time();
    text_snapshots(As::Root);
}

#[test]
fn text_output_rootless() {
    let _serial = one_at_a_time();
    text_snapshots(As::Rootless);
}
