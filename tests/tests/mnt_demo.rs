//! mnt-demo end to end: the isolation facts, the control run, the text, and
//! that a full run leaves the machine's mount table exactly as it was.

use nslab_tests::{As, Demo, assert_verdicts, can_run, experiment, int, text};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_mnt-demo");

const EXPERIMENTS: [&str; 8] = [
    "own-mount-table",
    "host-reads-mountinfo",
    "propagation",
    "bind-volume",
    "chroot-escape",
    "pivot-root",
    "pivot-root-refused",
    "kept-alive-by-mount",
];

/// The experiments whose point is isolation: a control run must fail them.
const ISOLATION: [&str; 5] =
    ["own-mount-table", "host-reads-mountinfo", "propagation", "pivot-root", "kept-alive-by-mount"];

const MARKER_TEXT: &str = "the host's marker";

fn flag(exp: &Value, side: &str, key: &str) -> bool {
    exp[side][key].as_bool().unwrap_or_else(|| panic!("{side}.{key} is not a boolean in {exp:#}"))
}

/// The facts each claim rests on, checked one by one before any snapshot.
fn assert_isolation_facts(report: &Value) {
    assert_verdicts(report, |_| "pass");

    let e = experiment(report, "own-mount-table");
    assert_ne!(text(e, "namespace", "mnt_ns"), text(e, "host", "mnt_ns"));
    assert!(flag(e, "namespace", "mountinfo_lists_/tmp/inside"), "the child sees its own mount");
    assert!(!flag(e, "host", "mountinfo_lists_/tmp/inside"), "the host does not");
    assert!(flag(e, "host", "mountinfo_lists_/tmp/host-later"), "the host sees its own mount");
    assert!(!flag(e, "namespace", "mountinfo_lists_/tmp/host-later"), "the child does not");

    let e = experiment(report, "host-reads-mountinfo");
    assert!(!flag(e, "host", "own_mountinfo_lists_/tmp/app-data"));
    assert!(flag(e, "namespace", "own_mountinfo_lists_/tmp/app-data"));
    let pid = int(e, "host", "child_host_pid");
    assert_eq!(
        text(e, "host", "child_mountinfo_shows"),
        format!("tmpfs nslab-app on /tmp/app-data (in /proc/{pid}/mountinfo)")
    );
    assert_eq!(text(e, "host", "reads_/proc/pid/root/tmp/app-data/state.txt"), "written inside");
    assert_eq!(text(e, "host", "reads_/tmp/app-data/state.txt"), "ENOENT");

    let e = experiment(report, "propagation");
    let group = text(e, "host", "/tmp/peers");
    assert!(group.starts_with("shared:"), "{group}");
    assert_eq!(text(e, "namespace", "/tmp/peers"), group, "the copy joins the same peer group");
    assert!(flag(e, "host", "sees_shared-inside") && flag(e, "namespace", "sees_shared-host"));
    assert_eq!(
        text(e, "namespace", "/tmp/peers_after_ms_slave"),
        group.replace("shared:", "master:")
    );
    assert!(flag(e, "namespace", "sees_slave-host"), "a slave receives");
    assert!(!flag(e, "host", "sees_slave-inside"), "a slave does not send");
    assert_eq!(text(e, "namespace", "/tmp/peers_after_ms_rec_private"), "private");
    assert!(!flag(e, "host", "sees_private-inside") && !flag(e, "namespace", "sees_private-host"));

    let e = experiment(report, "bind-volume");
    assert_eq!(text(e, "namespace", "reads_data/from-host.txt"), "written on the host");
    assert_eq!(text(e, "namespace", "write_data/from-inside.txt"), "ok");
    assert_eq!(text(e, "host", "reads_from-inside.txt"), "written inside");
    assert_eq!(text(e, "namespace", "write_data-ro/try.txt"), "EROFS");
    assert_eq!(text(e, "host", "write_later.txt"), "ok", "read-only is per mount");
    assert_eq!(text(e, "namespace", "reads_data-ro/later.txt"), "written on the host later");

    let e = experiment(report, "chroot-escape");
    assert!(flag(e, "namespace", "own_mount_namespace"));
    assert_eq!(text(e, "namespace", "reads_marker_in_jail"), "ENOENT");
    assert_eq!(text(e, "namespace", "reads_marker_after_escape"), MARKER_TEXT);

    let e = experiment(report, "pivot-root");
    assert_eq!(text(e, "namespace", "reads_old-root/tmp/host-marker.txt"), MARKER_TEXT);
    assert_eq!(text(e, "namespace", "after_umount2_detach"), "ENOENT");
    assert_eq!(e["namespace"]["root_lists"], serde_json::json!(["etc"]));
    assert_eq!(text(e, "namespace", "reads_marker"), "ENOENT");
    assert_eq!(text(e, "namespace", "reads_marker_after_chroot_escape"), "ENOENT");
    assert_eq!(text(e, "host", "reads_marker_after_child_pivot"), MARKER_TEXT);

    let e = experiment(report, "pivot-root-refused");
    assert_eq!(text(e, "namespace", "pivot_root(plain_directory)"), "EINVAL");
    assert!(text(e, "namespace", "/tmp_after_ms_shared").starts_with("shared:"));
    assert_eq!(text(e, "namespace", "pivot_root(tmpfs, parent_shared)"), "EINVAL");
    assert_eq!(text(e, "namespace", "pivot_root(tmpfs, parent_private)"), "ok");

    let e = experiment(report, "kept-alive-by-mount");
    assert_eq!(text(e, "host", "bind_mount_result"), "ok");
    assert_eq!(int(e, "host", "processes_left_in_namespace"), 0);
    assert_eq!(
        text(e, "namespace", "mnt_ns_entered_through_file"),
        text(e, "namespace", "container_mnt_ns")
    );
    assert!(flag(e, "namespace", "mountinfo_lists_/tmp/data"), "the mounts outlive the process");
    assert_eq!(text(e, "namespace", "reads_/tmp/data/note.txt"), "still here");
    assert_eq!(text(e, "host", "setns_after_umount"), "EINVAL");
}

/// Without CLONE_NEWNS for the child, every isolation verdict fails, and it
/// fails for the right reason; the others still pass.
fn assert_control_flips(report: &Value) {
    assert_eq!(report["mode"], "control");
    assert_verdicts(report, |name| if ISOLATION.contains(&name) { "fail" } else { "pass" });

    let e = experiment(report, "own-mount-table");
    assert_eq!(text(e, "namespace", "mnt_ns"), text(e, "host", "mnt_ns"));
    assert!(flag(e, "host", "mountinfo_lists_/tmp/inside"), "one table: the host sees it");
    let e = experiment(report, "host-reads-mountinfo");
    assert!(flag(e, "host", "own_mountinfo_lists_/tmp/app-data"));
    let e = experiment(report, "propagation");
    assert!(flag(e, "host", "sees_private-inside"), "one table: private does not help");
    let e = experiment(report, "pivot-root");
    assert_eq!(
        text(e, "host", "reads_marker_after_child_pivot"),
        "ENOENT",
        "one namespace: the child's pivot_root moved the host's root too"
    );
    let e = experiment(report, "chroot-escape");
    assert!(!flag(e, "namespace", "own_mount_namespace"));
    let e = experiment(report, "kept-alive-by-mount");
    assert_eq!(
        text(e, "host", "bind_mount_result"),
        "EINVAL",
        "the kernel refuses to bind a mount namespace's file inside that same namespace"
    );
}

nslab_tests::demo_tests! {
    demo: "mnt-demo",
    bin: BIN,
    experiments: EXPERIMENTS,
    facts: |report: &Value, _: As| assert_isolation_facts(report),
    control: |report: &Value, _: As| assert_control_flips(report),
}

/// Nothing is left behind: the machine's mount table (as this test process
/// sees it) is the same before and after full runs, with and without the
/// namespace, as root and rootless, and no scratch file reached the real /tmp.
#[test]
fn nothing_left_behind() {
    let Some(()) = can_run("mnt-demo leaves nothing behind", As::Root) else {
        return;
    };
    let table = || std::fs::read_to_string("/proc/self/mountinfo").expect("read mountinfo");
    let scratch = [
        "/tmp/host-marker.txt",
        "/tmp/peers",
        "/tmp/jail",
        "/tmp/volume",
        "/tmp/box",
        "/tmp/mnt-keeper",
    ];
    let exist = || scratch.map(|path| std::path::Path::new(path).exists());
    let (before, existed) = (table(), exist());
    for who in [As::Root, As::Rootless] {
        for args in [&[][..], &["--control"][..]] {
            let Some(output) = Demo::new("mnt-demo", BIN, who).run(args) else {
                continue;
            };
            assert!(output.status.success(), "{who:?} {args:?}: {output:?}");
        }
    }
    assert_eq!(table(), before, "the machine's mount table changed");
    assert_eq!(exist(), existed, "a scratch path of {scratch:?} appeared on the real /tmp");
}
