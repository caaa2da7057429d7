//! ipc-demo end to end: the isolation facts, the control run, the text, and
//! proof that no run leaves an IPC object behind on the machine.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use nslab_tests::{As, Demo, assert_verdicts, can_run, experiment, text};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_ipc-demo");

const EXPERIMENTS: [&str; 6] = [
    "host-objects-absent-inside",
    "same-key-both-sides",
    "host-needs-setns",
    "posix-mqueue-per-namespace",
    "dev-shm-crosses-ipc-ns",
    "private-dev-shm",
];

const KEY: &str = "key 0x6e736c62";
const HOST_TEXT: &str = "written on the host side";
const INSIDE_TEXT: &str = "written inside the namespace";

/// The facts each claim rests on, checked one by one before any snapshot.
fn assert_isolation_facts(report: &Value) {
    assert_verdicts(report, |_| "pass");
    for e in report["experiments"].as_array().expect("experiments") {
        assert_eq!(
            text(e, "host", "host_side"),
            "a scratch IPC and mount namespace, not the machine's",
            "every experiment plays the host in namespaces of its own"
        );
    }

    let e = experiment(report, "host-objects-absent-inside");
    assert_ne!(text(e, "namespace", "ipc_ns"), text(e, "host", "ipc_ns"));
    assert_eq!(text(e, "host", "/proc/sysvipc/shm"), format!("{KEY} shmid 0 size 4096"));
    assert_eq!(text(e, "host", "/proc/sysvipc/sem"), format!("{KEY} semid 0 nsems 1"));
    assert_eq!(text(e, "host", "/proc/sysvipc/msg"), format!("{KEY} msqid 0 qnum 1"));
    for call in ["shmget(KEY, 0, 0)", "semget(KEY, 0, 0)", "msgget(KEY, 0)"] {
        assert_eq!(text(e, "namespace", call), "ENOENT", "{call} inside");
    }
    for file in ["/proc/sysvipc/shm", "/proc/sysvipc/sem", "/proc/sysvipc/msg"] {
        assert_eq!(text(e, "namespace", file), "nothing", "{file} read inside");
    }

    let e = experiment(report, "same-key-both-sides");
    for call in [
        "shmget(KEY, 8192, IPC_CREAT|IPC_EXCL)",
        "semget(KEY, 2, IPC_CREAT|IPC_EXCL)",
        "msgget(KEY, IPC_CREAT|IPC_EXCL)",
    ] {
        assert_eq!(text(e, "namespace", call), "ok", "{call}: the key is free inside");
    }
    assert_eq!(text(e, "host", "/proc/sysvipc/shm"), format!("{KEY} shmid 0 size 4096"));
    assert_eq!(text(e, "host", "/proc/sysvipc/sem"), format!("{KEY} semid 0 nsems 1"));
    assert_eq!(text(e, "host", "/proc/sysvipc/msg"), format!("{KEY} msqid 0 qnum 1"));
    assert_eq!(text(e, "namespace", "/proc/sysvipc/shm"), format!("{KEY} shmid 0 size 8192"));
    assert_eq!(text(e, "namespace", "/proc/sysvipc/sem"), format!("{KEY} semid 0 nsems 2"));
    assert_eq!(text(e, "namespace", "/proc/sysvipc/msg"), format!("{KEY} msqid 0 qnum 0"));

    let e = experiment(report, "host-needs-setns");
    assert_eq!(text(e, "host", "shmget(KEY, 0, 0)"), "ENOENT");
    assert_eq!(text(e, "host", "/proc/sysvipc/shm"), "nothing");
    assert_eq!(text(e, "namespace", "joiner_ipc_ns"), text(e, "namespace", "container_ipc_ns"));
    assert_eq!(text(e, "namespace", "joiner_shmget(KEY, 0, 0)"), "ok");
    assert_eq!(
        text(e, "namespace", "joiner_reads_/proc/sysvipc/shm"),
        format!("{KEY} shmid 0 size 4096"),
        "the same /proc file, read after setns, lists the container's segment"
    );
    assert_eq!(text(e, "namespace", "joiner_shmat_reads"), INSIDE_TEXT);

    let e = experiment(report, "posix-mqueue-per-namespace");
    assert_eq!(text(e, "host", "mqueue_mount_lists"), "nslab-ipc-demo");
    assert_eq!(
        text(e, "namespace", "inherited_mount_lists"),
        "nslab-ipc-demo",
        "an mqueue mount shows its mounter's IPC namespace, whoever reads it"
    );
    assert_eq!(text(e, "namespace", "mount(mqueue)_on_top"), "ok");
    assert_eq!(text(e, "namespace", "top_mount_lists"), "nothing");
    assert_eq!(text(e, "namespace", "mq_open(NAME, O_RDONLY)"), "ENOENT");

    let e = experiment(report, "dev-shm-crosses-ipc-ns");
    assert_ne!(text(e, "namespace", "ipc_ns"), text(e, "host", "ipc_ns"));
    assert_eq!(text(e, "namespace", "mnt_ns"), text(e, "host", "mnt_ns"));
    assert_eq!(text(e, "host", "dev_shm_lists"), "nslab-ipc-demo");
    assert_eq!(text(e, "namespace", "shmget(KEY, 0, 0)"), "ENOENT", "System V: isolated");
    assert_eq!(text(e, "namespace", "shm_open(NAME)"), HOST_TEXT, "/dev/shm: shared");

    let e = experiment(report, "private-dev-shm");
    assert_ne!(text(e, "namespace", "mnt_ns"), text(e, "host", "mnt_ns"));
    assert_eq!(
        text(e, "namespace", "shm_open(NAME)_before_mount"),
        HOST_TEXT,
        "a new mount namespace alone still shares the tmpfs"
    );
    assert_eq!(text(e, "namespace", "shm_open(NAME)_after_mount"), "ENOENT");
    assert_eq!(text(e, "host", "shm_open(NAME)"), HOST_TEXT);
}

/// Without the namespace under test every experiment fails, for the reason
/// the namespace would have prevented.
fn assert_control_flips(report: &Value) {
    assert_eq!(report["mode"], "control");
    assert_verdicts(report, |_| "fail");
    for e in report["experiments"].as_array().expect("experiments") {
        assert!(
            e["namespace"].get("error").is_none(),
            "a control run fails, it does not err: {e:#}"
        );
    }

    let e = experiment(report, "host-objects-absent-inside");
    assert_eq!(text(e, "namespace", "ipc_ns"), text(e, "host", "ipc_ns"));
    assert_eq!(text(e, "namespace", "shmget(KEY, 0, 0)"), "ok");

    let e = experiment(report, "same-key-both-sides");
    assert_eq!(text(e, "namespace", "shmget(KEY, 8192, IPC_CREAT|IPC_EXCL)"), "EEXIST");

    let e = experiment(report, "host-needs-setns");
    assert_eq!(text(e, "host", "shmget(KEY, 0, 0)"), "ok", "no namespace: no need to enter");

    let e = experiment(report, "posix-mqueue-per-namespace");
    assert_eq!(text(e, "namespace", "mq_open(NAME, O_RDONLY)"), "ok");

    let e = experiment(report, "dev-shm-crosses-ipc-ns");
    assert_eq!(text(e, "namespace", "shmget(KEY, 0, 0)"), "ok");

    let e = experiment(report, "private-dev-shm");
    assert_eq!(
        text(e, "host", "shm_open(NAME)"),
        INSIDE_TEXT,
        "without a mount namespace the child's tmpfs covers the host side's /dev/shm"
    );
}

/// What the host's real IPC namespace and shared memory mounts hold:
/// the three /proc/sysvipc files, and the names in /dev/shm and /dev/mqueue
/// (when mounted). A demo run must leave all of it as it found it.
fn machine_ipc_state() -> Vec<(String, String)> {
    let mut state = Vec::new();
    for kind in ["shm", "sem", "msg"] {
        let path = format!("/proc/sysvipc/{kind}");
        state.push((path.clone(), std::fs::read_to_string(&path).expect("read /proc/sysvipc")));
    }
    for dir in ["/dev/shm", "/dev/mqueue"] {
        let mut names: Vec<String> = match std::fs::read_dir(dir) {
            Ok(entries) => {
                entries.filter_map(|e| Some(e.ok()?.file_name().to_string_lossy().into())).collect()
            }
            Err(_) => vec!["(not there)".into()],
        };
        names.sort();
        state.push((dir.to_owned(), names.join("\n")));
    }
    state
}

nslab_tests::demo_tests! {
    demo: "ipc-demo",
    bin: BIN,
    experiments: EXPERIMENTS,
    facts: |report: &Value, _: As| assert_isolation_facts(report),
    control: |report: &Value, _: As| assert_control_flips(report),
}

/// Full runs, with and without the namespaces, as root and rootless, leave
/// the machine's System V objects, /dev/shm and /dev/mqueue as they were.
#[test]
fn nothing_left_behind() {
    let Some(()) = can_run("ipc-demo leaves nothing", As::Root) else {
        return;
    };
    let before = machine_ipc_state();
    for who in [As::Root, As::Rootless] {
        for args in [&[][..], &["--control"][..]] {
            let Some(output) = Demo::new("ipc-demo", BIN, who).run(args) else {
                continue;
            };
            assert!(output.status.success(), "ipc-demo {args:?} as {who:?}: {output:?}");
        }
    }
    assert_eq!(machine_ipc_state(), before, "a run changed the machine's IPC state");
}

/// Ctrl-C while a namespace is held open: every process of the demo ends
/// (they carry PR_SET_PDEATHSIG) and, with them, the namespaces holding the
/// demo's objects. Nothing is left on the machine.
#[test]
fn ctrl_c_leaves_nothing() {
    let Some(()) = can_run("ipc-demo Ctrl-C", As::Root) else {
        return;
    };
    let before = machine_ipc_state();
    let mut demo = Command::new(BIN)
        .args(["--hold", "--only", "same-key-both-sides"])
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ipc-demo --hold");

    // Wait (at most 10 s) for "holding: the namespace's process is PID N".
    let stderr = demo.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = line.trim().strip_prefix("holding: the namespace's process is PID ")
            {
                let _ = tx.send(rest.trim_end_matches(" on the host.").parse::<i32>().ok());
                return;
            }
        }
        let _ = tx.send(None);
    });
    let held = rx.recv_timeout(Duration::from_secs(10));
    let held_ipc_ns = held.ok().flatten().and_then(|pid| ipc_ns_of(&pid.to_string()));
    let demo_pid = Pid::from_raw(demo.id() as i32);
    kill(demo_pid, Signal::SIGINT).expect("SIGINT to the demo");
    let status = demo.wait().expect("wait for the demo");
    let held = held.expect("the demo said it was holding").expect("a PID in the holding line");
    let held_ipc_ns = held_ipc_ns.expect("the held process's /proc/PID/ns/ipc");
    assert!(!status.success(), "the demo was interrupted: {status:?}");

    // The held child dies with its parent; give the kernel a moment.
    let deadline = Instant::now() + Duration::from_secs(2);
    while is_running(held) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(!is_running(held), "the held process {held} outlived the demo");
    // No process is left in the namespace that held the objects, so the
    // kernel has destroyed it and them (man 7 ipc_namespaces).
    let members: Vec<String> = std::fs::read_dir("/proc")
        .expect("list /proc")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|pid| is_running_text(pid) && ipc_ns_of(pid).as_deref() == Some(&held_ipc_ns))
        .collect();
    assert!(members.is_empty(), "processes {members:?} are still in {held_ipc_ns}");
    assert_eq!(machine_ipc_state(), before, "an interrupted run changed the machine's IPC state");
}

/// The `/proc/PID/ns/ipc` link of a process, e.g. `ipc:[4026532179]`.
fn ipc_ns_of(pid: &str) -> Option<String> {
    Some(std::fs::read_link(format!("/proc/{pid}/ns/ipc")).ok()?.to_string_lossy().into_owned())
}

fn is_running_text(pid: &str) -> bool {
    pid.parse().is_ok_and(is_running)
}

/// The process exists and has not exited. A dead process waits as a zombie
/// (state Z) until whoever adopted it reaps it, which here may take a while.
fn is_running(pid: i32) -> bool {
    kill(Pid::from_raw(pid), None).is_ok()
        && std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|stat| Some(stat.rsplit_once(')')?.1.split_whitespace().next()? != "Z"))
            .unwrap_or(false)
}
