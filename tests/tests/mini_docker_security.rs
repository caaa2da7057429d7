//! mini-docker's security defaults, end to end (claims SEC-1, SEC-5, SEC-6):
//! from inside a default container, what must fail fails with the expected
//! error; with `--privileged` (or `seccomp=unconfined`) the same attempts
//! reach the kernel; the capability sets and seccomp mode the probe reads
//! are the documented defaults.
//!
//! `probe try CALL` makes one system call with harmless arguments (see
//! `mini-docker/src/bin/probe/syscalls.rs`): `EPERM` means refused, anything
//! else means the kernel got to work on it. Each test has its own scratch
//! directory, removed at the end; every run is bounded in time.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use nslab_tests::mini_docker::{LIMIT, Lab, Running, chmod};
use nslab_tests::{As, as_root_and_rootless};
use serde_json::Value;

/// The binaries each lab copies: mini-docker, and the probe it mounts.
const BINARIES: [&str; 2] = [env!("CARGO_BIN_EXE_mini-docker"), env!("CARGO_BIN_EXE_probe")];

/// Docker's default capabilities (see
/// `mini-runc/src/security/capabilities.rs`), as /proc/PID/status shows them.
const DEFAULT_CAPS: &str = "00000000a80425fb";

/// `probe try CALL` for each call, in one `--rm` container with `options`:
/// call → result.
fn try_calls(lab: &Lab, options: &[&str], calls: &[&str]) -> Vec<(String, String)> {
    let script: Vec<String> = calls.iter().map(|c| format!("/probe/probe try {c}")).collect();
    let ran = lab.container(options, &["sh", "-c", &script.join("; ")]);
    assert_eq!(ran.code, 0, "{options:?}: {}", ran.stderr);
    ran.stdout
        .lines()
        .map(|line| {
            let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
            (
                v["call"].as_str().unwrap_or("").to_owned(),
                v["result"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

/// A field of /proc/self/status as the command in a container sees it.
fn status_field(lab: &Lab, options: &[&str], key: &str) -> String {
    let ran = lab.container(options, &["sh", "-c", "cat /proc/self/status"]);
    assert_eq!(ran.code, 0, "{options:?}: {}", ran.stderr);
    ran.stdout
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .map(|v| v.trim().to_owned())
        .unwrap_or_else(|| panic!("no {key} in {}", ran.stdout))
}

/// The default capability sets, `no_new_privs` and seccomp mode; --cap-add,
/// --cap-drop, a non-root user; --privileged has every capability and no
/// filter.
fn defaults(who: As) {
    let Some(lab) = Lab::new("mini-docker security defaults", who, &BINARIES) else { return };
    let inside = lab.probe(&[]);
    assert_eq!(inside["cap_eff"], DEFAULT_CAPS);
    assert_eq!(inside["seccomp"], "2", "a seccomp filter (mode 2)");
    assert_eq!(inside["no_new_privs"], "1");
    for (key, value) in [
        ("CapPrm", DEFAULT_CAPS),
        ("CapBnd", DEFAULT_CAPS),
        ("CapInh", "0000000000000000"),
        ("CapAmb", "0000000000000000"),
    ] {
        assert_eq!(status_field(&lab, &[], key), value, "{key}");
    }
    // The snapshot (and the book): what the command's /proc/self/status says.
    let ran = lab.container(&[], &["grep", "-E", "^(Cap|NoNewPrivs|Seccomp)", "/proc/self/status"]);
    insta::assert_snapshot!(format!("defaults-{}", who.word()), ran.stdout);
    // --cap-drop MKNOD: bit 27 off.
    assert_eq!(lab.probe(&["--cap-drop", "MKNOD"])["cap_eff"], "00000000a00425fb");
    assert_eq!(
        lab.probe(&["--cap-drop", "ALL", "--cap-add", "kill"])["cap_eff"],
        "0000000000000020"
    );
    assert_eq!(status_field(&lab, &["--cap-drop", "ALL"], "CapBnd"), "0000000000000000");
    if who == As::Root {
        // Another user than root: nothing effective, the same bounding set.
        let user = lab.probe(&["-u", "1000"]);
        assert_eq!(
            (user["uid"].as_u64(), user["cap_eff"].as_str()),
            (Some(1000), Some("0000000000000000"))
        );
        assert_eq!(status_field(&lab, &["-u", "1000"], "CapBnd"), DEFAULT_CAPS);
    }
    let unconfined = lab.probe(&["--security-opt", "seccomp=unconfined"]);
    assert_eq!(
        (unconfined["seccomp"].as_str(), unconfined["cap_eff"].as_str()),
        (Some("0"), Some(DEFAULT_CAPS))
    );
    let privileged = lab.probe(&["--privileged"]);
    assert_eq!(
        (privileged["seccomp"].as_str(), privileged["no_new_privs"].as_str()),
        (Some("0"), Some("0"))
    );
    let all =
        u64::from_str_radix(privileged["cap_eff"].as_str().expect("cap_eff"), 16).expect("hex");
    let expected = match who {
        // As root: every capability mini-docker itself holds.
        As::Root => {
            let host = std::fs::read_to_string("/proc/self/status").expect("status");
            let bounding = host.lines().find_map(|l| l.strip_prefix("CapBnd:")).expect("CapBnd");
            u64::from_str_radix(bounding.trim(), 16).expect("hex")
        }
        // In a new user namespace: every capability the kernel has.
        As::Rootless => {
            let last =
                std::fs::read_to_string("/proc/sys/kernel/cap_last_cap").expect("cap_last_cap");
            (1u64 << (last.trim().parse::<u32>().expect("number") + 1)) - 1
        }
    };
    assert_eq!(all, expected, "every capability");
    assert!(lab.state_entries().is_empty());
}

/// The system calls the probe tries (the escape routes a default container
/// must not have), in a default container, with seccomp off, and privileged.
const CALLS: [&str; 20] = [
    "keyctl",
    "mount",
    "umount2",
    "pivot_root",
    "unshare",
    "unshare-user",
    "setns",
    "clone-newuts",
    "fork",
    "sethostname",
    "mknod",
    "init_module",
    "finit_module",
    "kexec_load",
    "reboot",
    "swapon",
    "clock_settime",
    "open_by_handle_at",
    "perf_event_open",
    "bpf",
];

/// The calls of [`CALLS`] whose result depends on the kernel's
/// configuration: the snapshot (and the book) leaves them out.
const UNSTABLE: [&str; 8] = [
    "mknod",
    "init_module",
    "finit_module",
    "kexec_load",
    "swapon",
    "open_by_handle_at",
    "perf_event_open",
    "bpf",
];

fn refused(who: As) {
    let Some(lab) = Lab::new("mini-docker refused calls", who, &BINARIES) else { return };
    let default = try_calls(&lab, &[], &CALLS);
    let unconfined = try_calls(&lab, &["--security-opt", "seccomp=unconfined"], &CALLS);
    let privileged = try_calls(&lab, &["--privileged"], &CALLS);
    for results in [&default, &unconfined, &privileged] {
        let calls: Vec<&str> = results.iter().map(|(c, _)| c.as_str()).collect();
        assert_eq!(calls, CALLS);
    }
    let result = |results: &[(String, String)], call: &str| {
        results.iter().find(|(c, _)| c == call).map(|(_, r)| r.clone()).expect("call")
    };
    for call in CALLS {
        // mknod of /dev/null's numbers: CAP_MKNOD is Docker's, and the
        // devices cgroup lets any node be made (its open is what it
        // checks, see `devices`); in a user namespace the kernel refuses it.
        let expected = match call {
            "fork" => "ok",
            "mknod" if who == As::Root => "ok",
            _ => "EPERM",
        };
        assert_eq!(result(&default, call), expected, "default container: {call}");
    }
    // Only seccomp stops these: a user namespace needs no privilege at
    // all, and the keyring no capability (claim SEC-5).
    for call in ["keyctl", "unshare-user"] {
        assert_eq!(result(&unconfined, call), "ok", "seccomp=unconfined: {call}");
    }
    // Capabilities stop the rest, even without seccomp.
    for call in ["mount", "unshare", "setns", "sethostname", "clone-newuts", "reboot"] {
        assert_eq!(result(&unconfined, call), "EPERM", "seccomp=unconfined: {call}");
    }
    // The reason for the EPERM in a default container: the filter sees the
    // call before the kernel's own checks (clock_settime of the monotonic
    // clock is EINVAL without the filter, whatever the capabilities).
    assert_eq!(result(&unconfined, "clock_settime"), "EINVAL");
    // --privileged: the kernel gets to work on all of them (claim SEC-1).
    for call in
        ["keyctl", "mount", "unshare", "unshare-user", "setns", "clone-newuts", "sethostname"]
    {
        assert_eq!(result(&privileged, call), "ok", "--privileged: {call}");
    }
    assert_eq!(result(&privileged, "reboot"), "EINVAL", "bad magic number, past the checks");
    for call in ["pivot_root", "umount2"] {
        assert_eq!(result(&privileged, call), "ENOENT", "--privileged: {call}");
    }
    match who {
        As::Root => {
            assert_eq!(result(&privileged, "mknod"), "ok");
            for call in ["init_module", "finit_module", "kexec_load", "open_by_handle_at"] {
                assert_ne!(result(&privileged, call), "EPERM", "--privileged as root: {call}");
            }
        }
        // In a user namespace even --privileged cannot create devices or
        // load modules: those need capabilities in the host's namespace.
        As::Rootless => assert_eq!(result(&privileged, "mknod"), "EPERM"),
    }
    let mut text = format!("{:<16} {:<8} {:<10} PRIVILEGED\n", "CALL", "DEFAULT", "UNCONFINED");
    for call in CALLS.into_iter().filter(|c| !UNSTABLE.contains(c)) {
        let (d, u, p) =
            (result(&default, call), result(&unconfined, call), result(&privileged, call));
        text += &format!("{call:<16} {d:<8} {u:<10} {p}\n");
    }
    insta::assert_snapshot!(format!("refused-{}", who.word()), text);
    assert!(lab.state_entries().is_empty());
}

/// Masked and read-only paths, /sys read-only; --privileged writes them.
fn proc_and_sys(who: As) {
    let Some(lab) = Lab::new("mini-docker masked paths", who, &BINARIES) else { return };
    let inside = lab.probe(&[]);
    let mounts = inside["mounts"].as_array().expect("mounts");
    let mount = |target: &str| mounts.iter().find(|m| m["target"] == target);
    let access =
        |m: &Value| m["options"].as_str().unwrap_or("").split(',').next().unwrap_or("").to_owned();
    for path in ["/proc/sys", "/proc/bus", "/proc/fs", "/proc/irq", "/sys"] {
        if Path::new(path).exists() {
            let m = mount(path).unwrap_or_else(|| panic!("{path} not mounted"));
            assert_eq!(access(m), "ro", "{path}");
        }
    }
    for path in ["/proc/keys", "/proc/timer_list", "/proc/kcore", "/proc/sched_debug"] {
        if Path::new(path).exists() {
            assert!(mount(path).is_some(), "{path} not masked");
        }
    }
    for path in ["/proc/acpi", "/proc/scsi", "/sys/firmware"] {
        if Path::new(path).is_dir() {
            let m = mount(path).unwrap_or_else(|| panic!("{path} not masked"));
            assert_eq!((m["fstype"].as_str(), access(m).as_str()), (Some("tmpfs"), "ro"), "{path}");
        }
    }
    // The container's cgroups, read-only (as in Docker).
    let cgroup = mount("/sys/fs/cgroup").expect("/sys/fs/cgroup mounted");
    assert_eq!(access(cgroup), "ro", "/sys/fs/cgroup");
    // Docker's sysctls in the container's own network namespace: any port,
    // and ICMP echo sockets for every group (not in a user namespace,
    // whose map holds no group 2147483647).
    let ran = lab.container(
        &["--net", "none"],
        &[
            "cat",
            "/proc/sys/net/ipv4/ip_unprivileged_port_start",
            "/proc/sys/net/ipv4/ping_group_range",
        ],
    );
    let mut lines = ran.stdout.lines();
    assert_eq!(lines.next(), Some("0"), "{}", ran.stderr);
    let ping = lines.next().unwrap_or("").split_whitespace().collect::<Vec<_>>().join(" ");
    assert_eq!(ping == "0 2147483647", who == As::Root, "ping_group_range: {ping}");
    // What a process sees: empty masks, writes refused.
    let script = "wc -c < /proc/keys; ls -A /sys/firmware | wc -l; \
                  echo 1 > /proc/sys/kernel/hostname; echo 1 > /sys/kernel/uevent_helper; \
                  test -e /proc/kcore && wc -c < /proc/kcore; true";
    let ran = lab.container(&[], &["sh", "-c", script]);
    let mut lines = ran.stdout.lines();
    assert_eq!((lines.next(), lines.next()), (Some("0"), Some("0")), "{}", ran.stdout);
    if Path::new("/proc/kcore").exists() {
        assert_eq!(lines.next(), Some("0"), "/proc/kcore reads as /dev/null");
    }
    assert_eq!(ran.stderr.matches("Read-only file system").count(), 2, "{}", ran.stderr);

    let privileged = lab.probe(&["--privileged"]);
    let mounts = privileged["mounts"].as_array().expect("mounts");
    let mount = |target: &str| mounts.iter().find(|m| m["target"] == target);
    assert!(mount("/proc/sys").is_none() && mount("/proc/keys").is_none(), "nothing covered");
    assert_eq!(access(mount("/sys").expect("/sys")), "rw");
    if who == As::Rootless {
        // /proc/sys belongs to the host's root, unmapped in the user
        // namespace: even --privileged gets EACCES there.
        assert!(lab.state_entries().is_empty());
        return;
    }
    // The container's own hostname, through /proc/sys (its UTS namespace).
    let ran = lab.container(
        &["--privileged"],
        &["sh", "-c", "echo written > /proc/sys/kernel/hostname; hostname"],
    );
    assert_eq!((ran.code, ran.stdout.as_str()), (0, "written\n"), "{}", ran.stderr);
    assert_eq!(ran.stderr.lines().count(), 1, "one warning line: {}", ran.stderr);
    assert!(ran.stderr.starts_with("mini-docker: warning: --privileged"), "{}", ran.stderr);
    assert!(lab.state_entries().is_empty());
}

/// The host is out of reach of a default container: its processes are
/// invisible and cannot be signalled, its hostname cannot be changed even
/// when the UTS namespace is shared; --privileged brings the host's devices.
#[test]
fn host_out_of_reach() {
    let Some(lab) = Lab::new("mini-docker host reach", As::Root, &BINARIES) else { return };
    let mut sleeper = Command::new("sleep").arg("30").spawn().expect("sleep");
    let pid = sleeper.id().to_string();
    let ran = lab.container(&[], &["sh", "-c", &format!("/probe/probe try kill {pid}; ls /proc | grep -c '^[0-9]'; test -e /proc/{pid} || echo hidden")]);
    let mut lines = ran.stdout.lines();
    assert_eq!(lines.next(), Some(r#"{"call":"kill","result":"ESRCH"}"#));
    let count: usize = lines.next().and_then(|c| c.parse().ok()).expect("count");
    assert!(count <= 5, "only the container's processes: {count}");
    assert_eq!(lines.next(), Some("hidden"));
    // --pid host: the processes are visible, and root may signal them;
    // that is why the PID namespace matters.
    let ran = lab.container(&["--pid", "host"], &["/probe/probe", "try", "kill", &pid]);
    assert_eq!(ran.stdout.trim(), r#"{"call":"kill","result":"ok"}"#, "{}", ran.stderr);
    let _ = sleeper.kill();
    let _ = sleeper.wait();

    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").expect("hostname");
    let ran =
        lab.container(&["--uts", "host"], &["/probe/probe", "try", "sethostname", "nslab-evil"]);
    assert_eq!(ran.stdout.trim(), r#"{"call":"sethostname","result":"EPERM"}"#, "{}", ran.stderr);
    assert_eq!(std::fs::read_to_string("/proc/sys/kernel/hostname").expect("hostname"), hostname);

    let count = |options: &[&str]| {
        let ran = lab.container(options, &["sh", "-c", "ls /dev | wc -l"]);
        ran.stdout.trim().parse::<usize>().expect("count")
    };
    let (default, privileged) = (count(&[]), count(&["--privileged"]));
    assert!(privileged > default, "host devices: {privileged} entries vs {default}");
    assert!(lab.state_entries().is_empty());
}

/// `--security-opt seccomp=PROFILE.json` (Docker's format) and refused options.
fn profiles_and_options(who: As) {
    let Some(lab) = Lab::new("mini-docker seccomp profile", who, &BINARIES) else { return };
    let profile = lab.dir.join("bin/profile.json");
    std::fs::write(
        &profile,
        r#"{"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}]}"#,
    )
    .expect("profile");
    chmod(&profile, 0o644);
    let opt = format!("seccomp={}", profile.display());
    let ran = lab.container(
        &["--security-opt", &opt],
        &["sh", "-c", "mkdir /tmp/d; /probe/probe try keyctl"],
    );
    assert!(
        ran.stderr.contains("Function not implemented"),
        "ENOSYS from the profile: {}",
        ran.stderr
    );
    assert_eq!(ran.stdout.trim(), r#"{"call":"keyctl","result":"ok"}"#, "only the profile applies");

    std::fs::write(&profile, r#"{"defaultAction": "SCMP_ACT_NOTIFY"}"#).expect("profile");
    for (options, message) in [
        (&["--security-opt", opt.as_str()][..], "unsupported action \"SCMP_ACT_NOTIFY\""),
        (&["--security-opt", "seccomp=/no/such.json"], "seccomp profile \"/no/such.json\""),
        (&["--security-opt", "apparmor=docker-default"], "unsupported --security-opt"),
        (&["--cap-add", "NOT_A_CAP"], "unknown capability \"NOT_A_CAP\""),
    ] {
        let ran = lab.container(options, &["true"]);
        assert_eq!(ran.code, 125, "{options:?}");
        assert_eq!(ran.stderr.lines().count(), 1, "{options:?}: {}", ran.stderr);
        assert!(ran.stderr.contains(message), "{options:?}: {}", ran.stderr);
    }
    // Without no_new_privs, installing the filter takes CAP_SYS_ADMIN: init
    // installs it while it still holds the capability, so the command gets
    // both the filter and Docker's default capabilities.
    for options in [
        &["--security-opt", "no-new-privileges=false"][..],
        &["--security-opt", "no-new-privileges=false", "--cap-add", "SYS_ADMIN"],
    ] {
        let nnp_off = lab.probe(options);
        assert_eq!(
            (nnp_off["no_new_privs"].as_str(), nnp_off["seccomp"].as_str()),
            (Some("0"), Some("2")),
            "{options:?}"
        );
    }
    let ran = lab.container(
        &["--security-opt", "no-new-privileges=false"],
        &["sh", "-c", "/probe/probe try keyctl; grep CapEff /proc/self/status"],
    );
    assert_eq!(
        ran.stdout,
        format!("{{\"call\":\"keyctl\",\"result\":\"EPERM\"}}\nCapEff:\t{DEFAULT_CAPS}\n"),
        "{}",
        ran.stderr
    );
    let info = lab.run(&["info"]);
    assert!(info.stdout.lines().any(|l| l.starts_with("LSM:")), "{}", info.stdout);
    assert!(lab.state_entries().is_empty());
}

as_root_and_rootless! {
    security_defaults => defaults,
    refused_calls => refused,
    masked_and_read_only_paths => proc_and_sys,
    seccomp_profiles_and_options => profiles_and_options,
    seccomp_profile_classes_as_docker => profile_answers,
    exec_joins_with_the_same_confinement => exec,
    kill_stop_and_inspect => kill_stop_inspect,
    detached_logs_and_rm => detached,
    one_name_under_concurrency => concurrent_names,
    sharing_ipc_and_pid => ipc_sharing,
}

/// `exec` joins a running container with setns (claims MECH-3, SEC-3): the
/// same namespaces as the container's command, a new PID inside, and the
/// same confinement (capabilities, no_new_privs, seccomp filter); the host
/// also reads the container's files through /proc/PID/root.
fn exec(who: As) {
    let Some(lab) = Lab::new("mini-docker exec", who, &BINARIES) else { return };
    let volume = lab.probe_volume();
    for (name, options) in [("plain", &[][..]), ("privileged", &["--privileged"][..])] {
        let mut args = vec!["run", "--rm", "--name", name, "--hostname", "box", "-v", &volume];
        args.extend_from_slice(options);
        // The container's command: the probe's report, then a long sleep.
        let script = "/probe/probe > /tmp/report.json; exec sleep 30";
        args.extend_from_slice(&["host", "sh", "-c", script]);
        let container = lab.spawn(&args);
        let start = Instant::now();
        while lab.run(&["exec", name, "test", "-s", "/tmp/report.json"]).code != 0 {
            assert!(start.elapsed() < LIMIT, "{name}: the container never started");
            std::thread::sleep(Duration::from_millis(20));
        }
        let command: Value =
            serde_json::from_str(&lab.run(&["exec", name, "cat", "/tmp/report.json"]).stdout)
                .expect("the command's report");
        let ran = lab.run(&["exec", name, "/probe/probe"]);
        assert_eq!(ran.code, 0, "{}", ran.stderr);
        let tenant: Value = serde_json::from_str(&ran.stdout).expect("report");
        assert_eq!(tenant["namespaces"], command["namespaces"], "{name}: the same namespaces");
        assert_eq!(tenant["hostname"], "box");
        assert!(
            tenant["pid"].as_u64().is_some_and(|p| p > 2),
            "a new PID inside: {}",
            tenant["pid"]
        );
        for key in ["cap_eff", "seccomp", "no_new_privs"] {
            assert_eq!(tenant[key], command[key], "{name}: {key}");
        }
        let keyctl = lab.run(&["exec", name, "/probe/probe", "try", "keyctl"]).stdout;
        let expected = if name == "plain" { "EPERM" } else { "ok" };
        assert_eq!(
            keyctl.trim(),
            format!(r#"{{"call":"keyctl","result":"{expected}"}}"#),
            "{name}"
        );
        // -t: a terminal of the container's own devpts.
        let ran = lab.run(&["exec", "-t", name, "sh", "-c", "test -t 0 && test -t 1 && tty"]);
        assert_eq!(ran.stdout, "/dev/pts/0\r\n", "{}", ran.stderr);
        // Exit statuses as `run`'s; -u, -w and -e as `run`'s.
        assert_eq!(lab.run(&["exec", name, "sh", "-c", "exit 7"]).code, 7);
        assert_eq!(lab.run(&["exec", name, "no-such-command"]).code, 127);
        let ran = lab.run(&[
            "exec",
            "-w",
            "/tmp",
            "-e",
            "GREETING=hi",
            name,
            "sh",
            "-c",
            "echo $GREETING $(pwd)",
        ]);
        assert_eq!(ran.stdout, "hi /tmp\n", "{}", ran.stderr);
        if who == As::Root {
            let ran = lab.run(&["exec", "-u", "1000", name, "/probe/probe"]);
            let user: Value = serde_json::from_str(&ran.stdout).expect("report");
            assert_eq!(
                (user["uid"].as_u64(), user["cap_eff"].as_str()),
                (Some(1000), Some("0000000000000000"))
            );
            // SEC-3: the host reads the container's files, no joining needed.
            let pid = command_pid(&lab, name);
            let hostname =
                std::fs::read_to_string(format!("/proc/{pid}/root/etc/hostname")).expect("read");
            assert_eq!(hostname, "box\n");
        }
        // `sleep` is PID 1: only SIGKILL (what plain `kill` sends) ends it.
        assert_eq!(lab.run(&["kill", name]).code, 0);
        assert_eq!(container.finish().code, 137, "{name}: sleep ended by SIGKILL");
    }
    let ran = lab.run(&["exec", "plain", "true"]);
    assert_eq!(
        (ran.code, ran.stderr.as_str()),
        (1, "mini-docker: no such container \"plain\" (see `mini-docker ps`)\n")
    );
    assert!(lab.state_entries().is_empty());
}

/// Starts `run --rm --name NAME host sh -c SCRIPT` and waits until `exec`
/// reaches it.
fn start(lab: &Lab, name: &str, script: &str) -> Running {
    let running = lab.spawn(&["run", "--rm", "--name", name, "host", "sh", "-c", script]);
    let start = Instant::now();
    while lab.run(&["exec", name, "true"]).code != 0 {
        assert!(start.elapsed() < LIMIT, "{name}: the container never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    running
}

/// `kill -s SIG` reaches the command; `stop` is SIGTERM, then SIGKILL
/// after the grace period; `inspect` shows the running container.
fn kill_stop_inspect(who: As) {
    let Some(lab) = Lab::new("mini-docker kill, stop, inspect", who, &BINARIES) else { return };
    // The shell is PID 1: a signal reaches it only through a handler (its
    // trap), which `wait` runs at once.
    let first = start(&lab, "first", "trap 'exit 42' USR1; sleep 30 & wait");
    let ran = lab.run(&["inspect", "first"]);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let info: Value = serde_json::from_str(&ran.stdout).expect("inspect");
    let info = &info[0];
    assert_eq!((info["name"].as_str(), info["state"].as_str()), (Some("first"), Some("running")));
    assert!(info["pids"]["init"].as_u64().is_some() && info["pids"]["command"].as_u64().is_some());
    let namespaces = info["namespaces"].as_object().expect("namespaces");
    assert_eq!(namespaces.len(), 7, "{namespaces:?}");
    assert_ne!(
        namespaces["mnt"].as_str(),
        std::fs::read_link("/proc/self/ns/mnt")
            .ok()
            .and_then(|p| p.to_str().map(str::to_owned))
            .as_deref()
    );
    assert_eq!(info["security"]["capabilities"].as_array().map(Vec::len), Some(14));
    assert_eq!(info["mounts"][0], serde_json::json!({ "target": "/", "fstype": "overlay" }));
    assert_eq!(lab.run(&["kill", "-s", "USR1", "first"]).code, 0);
    assert_eq!(first.finish().code, 42, "the shell's USR1 trap ran");

    let second = start(&lab, "second", "trap '' TERM; sleep 30");
    let begun = Instant::now();
    let ran = lab.run(&["stop", "-t", "1", "second"]);
    assert_eq!((ran.code, ran.stdout.as_str()), (0, "second\n"), "{}", ran.stderr);
    assert!(begun.elapsed() >= Duration::from_secs(1), "the grace period");
    assert_eq!(second.finish().code, 137, "SIGKILL after TERM was ignored");

    for (args, message) in [
        (&["stop", "second"][..], "no such container \"second\""),
        (&["kill", "-s", "NOPE", "x"], "unknown signal \"NOPE\""),
    ] {
        let ran = lab.run(args);
        assert_eq!(ran.code, 1, "{args:?}");
        assert!(ran.stderr.contains(message), "{args:?}: {}", ran.stderr);
    }
    assert!(lab.state_entries().is_empty());
}

/// Waits (bounded) until `check` holds, and fails the test if it never does.
fn eventually(what: &str, check: impl FnMut() -> bool) {
    assert!(nslab_tests::mini_docker::eventually(check), "never: {what}");
}

/// `run -d`: the ID at once, a monitor that keeps the output in a log;
/// `inspect` shows its network and limits; `logs [-f]`, `rm [-f]`; `ps`
/// hides an exited container that `ps -a` shows; a killed monitor takes its
/// container along, and `ps` reclaims what it left; a command
/// that cannot run fails `run -d` itself (127, 126) and leaves nothing.
fn detached(who: As) {
    let Some(lab) = Lab::new("mini-docker run -d", who, &BINARIES) else { return };
    // Limits need root on cgroup v1; as root the default network is bridge.
    let limit_flags: &[&str] =
        if who == As::Root { &["--memory", "64m", "--pids-limit", "50"] } else { &[] };
    let mut args = vec!["run", "-d", "--name", "d1"];
    args.extend_from_slice(limit_flags);
    args.extend_from_slice(&["host", "sh", "-c", "echo out; echo err >&2; exec sleep 30"]);
    let ran = lab.run(&args);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let id = ran.stdout.trim();
    assert!(id.len() == 64 && id.chars().all(|c| c.is_ascii_hexdigit()), "an ID: {id:?}");
    let ps = lab.run(&["ps"]).stdout;
    assert!(ps.lines().any(|l| l.starts_with(&id[..12]) && l.contains(" Up ")), "{ps}");
    let info: Value = serde_json::from_str(&lab.run(&["inspect", "d1"]).stdout).expect("inspect");
    let (network, limits) = (&info[0]["network"], &info[0]["limits"]);
    if who == As::Root {
        assert_eq!(network["mode"], "bridge", "{network}");
        let address: std::net::Ipv4Addr =
            network["address"].as_str().and_then(|a| a.parse().ok()).expect("an address");
        assert_eq!(address.octets()[..3], [10, 89, 0], "in 10.89.0.0/24: {network}");
        assert!(address.octets()[3] > 1, "not the network's or the bridge's: {network}");
        assert_eq!((&network["prefix"], &network["gateway"]), (&24.into(), &"10.89.0.1".into()));
        assert!(network["veth"].as_str().is_some_and(|v| v.starts_with("md")), "{network}");
        assert_eq!(
            (limits["memory"].as_u64(), limits["pids"].as_u64()),
            (Some(64 << 20), Some(50))
        );
        assert_eq!(limits["cpus"], Value::Null, "not asked: {limits}");
        let cgroups = limits["cgroups"].as_array().expect("cgroup paths");
        assert!(!cgroups.is_empty(), "{limits}");
        assert!(cgroups.iter().all(|c| c.as_str().is_some_and(|c| c.ends_with(id))), "{limits}");
    } else {
        assert_eq!((&network["mode"], &network["address"]), (&"none".into(), &Value::Null));
        assert_eq!(limits, &Value::Null, "no limit, no cgroup of its own");
    }
    eventually("both lines in the log", || {
        let logs = lab.run(&["logs", "d1"]).stdout;
        logs.contains("out\n") && logs.contains("err\n")
    });
    assert_eq!(lab.run(&["exec", "d1", "true"]).code, 0);
    let ran = lab.run(&["rm", "d1"]);
    assert_eq!(
        (ran.code, ran.stderr.as_str()),
        (1, "mini-docker: container \"d1\" is running: stop it first\n")
    );
    assert_eq!(lab.run(&["rm", "-f", "d1"]).code, 0);

    // logs -f ends with the container, after its last line.
    let ran =
        lab.run(&["run", "-d", "--name", "d2", "host", "sh", "-c", "echo a; sleep 0.5; echo b"]);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let ran = lab.run(&["logs", "-f", "d2"]);
    assert_eq!((ran.code, ran.stdout.as_str()), (0, "a\nb\n"), "{}", ran.stderr);
    let ps = lab.run(&["ps"]).stdout;
    assert!(!ps.contains(" d2 "), "plain ps shows running containers only: {ps}");
    let ps = lab.run(&["ps", "-a"]).stdout;
    assert!(ps.lines().any(|l| l.contains(" d2 ") && l.contains(" Exited (0) ")), "{ps}");
    assert_eq!(lab.run(&["rm", "d2"]).code, 0);

    // The monitor killed: its container dies with it; `ps` reclaims what it
    // left, as `run` would (--rm: nothing is kept).
    let ran = lab.run(&["run", "-d", "--rm", "--name", "d3", "host", "sleep", "30"]);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let info: Value = serde_json::from_str(&lab.run(&["inspect", "d3"]).stdout).expect("inspect");
    let monitor = info[0]["pids"]["mini_docker"].as_i64().expect("monitor pid") as i32;
    let command = info[0]["pids"]["command"].as_i64().expect("command pid") as i32;
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(monitor), nix::sys::signal::SIGKILL)
        .expect("kill");
    eventually("the command dies with its monitor", || {
        !Path::new(&format!("/proc/{command}")).exists()
            || std::fs::read_to_string(format!("/proc/{command}/stat"))
                .is_ok_and(|s| s.contains(") Z "))
    });
    eventually("ps reclaims it", || !lab.run(&["ps", "-a"]).stdout.contains(" d3 "));
    assert!(lab.state_entries().is_empty(), "left {:?}", lab.state_entries());

    // A command that cannot run: the same line and status as in the
    // foreground, no ID, and nothing left in the state root (neither the
    // container's directory nor its address lease).
    for (command, code, message) in [
        ("no-such-command", 127, "\"no-such-command\": executable file not found in $PATH"),
        ("/etc/hostname", 126, "execve(\"/etc/hostname\"): EACCES: Permission denied"),
    ] {
        let mut args = vec!["run", "-d", "--name", "bad"];
        args.extend_from_slice(limit_flags);
        args.extend_from_slice(&["host", command]);
        let ran = lab.run(&args);
        assert_eq!(
            (ran.code, ran.stdout.as_str(), ran.stderr.as_str()),
            (code, "", format!("mini-docker: {message}\n").as_str()),
            "run -d host {command}"
        );
        assert_eq!(lab.state_entries(), Vec::<String>::new(), "run -d host {command}");
    }
}

/// Six `run --name same` at once: the state lock lets exactly one have
/// the name.
fn concurrent_names(who: As) {
    let Some(lab) = Lab::new("mini-docker concurrent names", who, &BINARIES) else { return };
    let runs: Vec<Running> = (0..6)
        .map(|_| lab.spawn(&["run", "--rm", "--name", "same", "host", "sleep", "2"]))
        .collect();
    let ran: Vec<_> = runs.into_iter().map(Running::finish).collect();
    let mut codes: Vec<i32> = ran.iter().map(|r| r.code).collect();
    codes.sort();
    assert_eq!(codes, [0, 125, 125, 125, 125, 125]);
    for err in ran.iter().map(|r| &r.stderr) {
        assert!(
            err.is_empty() || err == "mini-docker: container name \"same\" is already in use\n",
            "{err}"
        );
    }
    assert!(lab.state_entries().is_empty());
}

/// `--ipc shareable` and `--ipc container:NAME` (claims IPC-3, SEC-2): the
/// second container reads the first one's /dev/shm files and System V
/// segments; a default container sees neither; a private container cannot
/// be joined. `--pid container:NAME` sees the other container's processes.
fn ipc_sharing(who: As) {
    let Some(lab) = Lab::new("mini-docker --ipc", who, &BINARIES) else { return };
    let script = "echo secret > /dev/shm/s && ipcmk -M 4096 > /dev/null && exec sleep 30";
    let ran =
        lab.run(&["run", "-d", "--name", "a", "--ipc", "shareable", "host", "sh", "-c", script]);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    eventually("the segment exists", || {
        lab.run(&["exec", "a", "sh", "-c", "ipcs -m | grep -q 4096"]).code == 0
    });
    let peek = "cat /dev/shm/s 2>/dev/null; ipcs -m | grep -c 4096";
    let private = lab.run(&["run", "--rm", "host", "sh", "-c", peek]);
    assert_eq!(private.stdout, "0\n", "a default container sees neither: {}", private.stderr);
    match who {
        As::Root => {
            let ran = lab.run(&["run", "--rm", "--ipc", "container:a", "host", "sh", "-c", peek]);
            assert_eq!((ran.code, ran.stdout.as_str()), (0, "secret\n1\n"), "{}", ran.stderr);
            let ran = lab.run(&["run", "-d", "--name", "p", "host", "sleep", "30"]);
            assert_eq!(ran.code, 0, "{}", ran.stderr);
            let ran = lab.run(&["run", "--rm", "--ipc", "container:p", "host", "true"]);
            assert_eq!(ran.code, 125);
            assert!(ran.stderr.contains("not started with --ipc shareable"), "{}", ran.stderr);
            assert_eq!(lab.run(&["rm", "-f", "p"]).code, 0);
            let ps =
                "ps -e -o args | grep -c '^sleep 30$'; test -e /proc/1/cmdline && echo has-pid-1";
            let ran = lab.run(&["run", "--rm", "--pid", "container:a", "host", "sh", "-c", ps]);
            assert_eq!((ran.code, ran.stdout.as_str()), (0, "1\nhas-pid-1\n"), "{}", ran.stderr);
        }
        // In a user namespace of its own, a container cannot join another's.
        As::Rootless => {
            let ran = lab.run(&["run", "--rm", "--ipc", "container:a", "host", "true"]);
            assert_eq!(ran.code, 125);
            assert!(ran.stderr.contains("user namespace of its own"), "{}", ran.stderr);
            let ran = lab.run(&["run", "--rm", "--pid", "container:a", "host", "true"]);
            assert!(ran.stderr.contains("user namespace of its own"), "{}", ran.stderr);
        }
    }
    assert_eq!(lab.run(&["rm", "-f", "a"]).code, 0);
    let left = lab.state_entries();
    assert!(left.is_empty(), "left {left:?}");
}

/// The host PID of the `sleep` the container `name` runs.
fn command_pid(lab: &Lab, name: &str) -> i32 {
    let ran = lab.run(&["exec", name, "sh", "-c", "cat /proc/1/stat"]);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    // Inside, init is PID 1; its child runs sleep. From the host: find the
    // `sleep 30` whose root is this container's (same /etc/hostname).
    for entry in std::fs::read_dir("/proc").expect("/proc").filter_map(Result::ok) {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else { continue };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else { continue };
        if cmdline == b"sleep\x0030\x00"
            && std::fs::read_to_string(entry.path().join("root/etc/hostname"))
                .is_ok_and(|h| h == "box\n")
        {
            return pid;
        }
    }
    panic!("no sleep 30 in container {name}");
}

// ANCHOR: profile-cases
/// One system call for each rule class of the default seccomp profile
/// (`mini-runc/src/security/seccomp-default.json`, Docker's own): what
/// `probe try` calls, the rule that decides it, and Docker's answer
/// (`ok`, or the errno; an errno other than EPERM and ENOSYS means the
/// kernel got the call and refused its harmless arguments).
const PROFILE_CASES: [(&str, &str, &str); 23] = [
    ("getpid", "allowed", "ok"),
    ("socket-inet", "socket: AF_INET allowed", "ok"),
    ("socket-alg", "socket: AF_ALG refused", "EPERM"),
    ("socket-vsock", "socket: AF_VSOCK refused", "EPERM"),
    ("personality-query", "personality: 0xffffffff", "ok"),
    ("personality-aslr", "personality: ADDR_NO_RANDOMIZE", "EPERM"),
    ("fork", "clone: no CLONE_NEW* flag", "ok"),
    ("clone-newuts", "clone: CLONE_NEWUTS", "EPERM"),
    ("clone3", "errnoRet 38 (ENOSYS)", "ENOSYS"),
    ("chroot", "capability held (SYS_CHROOT)", "ENOENT"),
    ("mount", "capability missing (SYS_ADMIN)", "EPERM"),
    ("ptrace", "minKernel 4.8", "ESRCH"),
    ("process_vm_readv", "minKernel 4.8", "ok"),
    ("keyctl", "not listed", "EPERM"),
    ("io_uring_setup", "not listed", "EPERM"),
    ("migrate_pages", "not listed", "EPERM"),
    ("mseal", "allowed (Linux 6.10)", "ok"),
    ("lsm_list_modules", "SYS_ADMIN only (Linux 6.8)", "EPERM"),
    ("open_tree_attr", "newer than the profile", "ENOSYS"),
    ("file_setattr", "newer than the profile", "ENOSYS"),
    ("i386-getpid", "32-bit ABI: allowed", "ok"),
    ("i386-keyctl", "32-bit ABI: not listed", "EPERM"),
    ("x32-getpid", "x32 ABI", "ENOSYS"),
];

/// Where mini-docker answers otherwise, on purpose: it refuses the x32 ABI
/// as a whole (Docker lets the profile's calls through to a kernel that,
/// built without x32 as Debian's is, answers ENOSYS).
const OURS_DIFFER: [(&str, &str); 1] = [("x32-getpid", "EPERM")];

/// Calls newer than the libseccomp a Docker host may run (Debian 12's
/// 2.5.4 knows neither): runc cannot resolve the names, and answers
/// ENOSYS for numbers above the highest it knows.
const NEWER_THAN_LIBSECCOMP: [&str; 2] = ["mseal", "lsm_list_modules"];
// ANCHOR_END: profile-cases

/// The cases this machine's architecture has (the `i386-` and `x32-` ones
/// are x86_64's other ABIs).
fn profile_cases() -> Vec<(&'static str, &'static str, &'static str)> {
    let x86 = cfg!(target_arch = "x86_64");
    PROFILE_CASES
        .into_iter()
        .filter(|(call, _, _)| x86 || !(call.starts_with("i386-") || call.starts_with("x32-")))
        .collect()
}

/// A default container answers each case as Docker's profile says; as
/// root, so does `docker run` with that profile on the same probe; and the
/// devices cgroup: a block device node can be made but not opened,
/// `--device` opens one.
fn profile_answers(who: As) {
    let Some(lab) = Lab::new("mini-docker seccomp profile classes", who, &BINARIES) else { return };
    let cases = profile_cases();
    let calls: Vec<&str> = cases.iter().map(|(call, _, _)| *call).collect();
    let ours = try_calls(&lab, &["--net", "none"], &calls);
    let mut text = format!("{:<18} {:<32} {:<12} DOCKER\n", "CALL", "RULE", "MINI-DOCKER");
    for ((call, rule, docker), (asked, answer)) in cases.iter().zip(&ours) {
        assert_eq!(call, asked);
        let expected = OURS_DIFFER.iter().find(|(c, _)| c == call).map_or(*docker, |(_, a)| a);
        assert_eq!(answer, expected, "{call} ({rule}) in a default container");
        text += &format!("{call:<18} {rule:<32} {answer:<12} {docker}\n");
    }
    insta::assert_snapshot!(format!("profile-{}", who.word()), text);
    if who == As::Root
        && let Some(docker) = docker_answers(&lab, &calls)
    {
        for ((call, rule, expected), (asked, answer)) in cases.iter().zip(&docker) {
            assert_eq!(call, asked);
            let older = NEWER_THAN_LIBSECCOMP.contains(call) && answer == "ENOSYS";
            // (x32: ENOSYS from a kernel without it, else the call runs.)
            let x32 = *call == "x32-getpid" && answer == "ok";
            assert!(answer == expected || older || x32, "docker: {call} ({rule}): {answer}");
        }
    }
    if who == As::Root {
        devices(&lab);
    }
    assert!(lab.state_entries().is_empty());
}

/// Each call through `docker run --network none --security-opt
/// seccomp=PROFILE`, with Docker's profile as mini-docker keeps it, in an
/// image of the host's busybox, the probe and its C library bind-mounted.
/// `None` (one line; a failure under CI=true) without docker.
fn docker_answers(lab: &Lab, calls: &[&str]) -> Option<Vec<(String, String)>> {
    use nslab_tests::clients;
    clients::require("docker with Docker's profile", &["docker"])?;
    let dir = lab.scratch("docker");
    let tarball = dir.join("busybox.tar");
    clients::busybox_tarball(&tarball);
    let image = format!("nslab-secdef:{}", std::process::id());
    let docker = |args: &[&str]| {
        let mut cmd = Command::new("docker");
        cmd.args(args);
        clients::run_in(&dir, cmd, clients::LIMIT)
    };
    let ran = docker(&["import", tarball.to_str().expect("utf-8"), &image]);
    assert_eq!(ran.code, 0, "docker import: {}", ran.stderr);
    let profile =
        concat!(env!("CARGO_MANIFEST_DIR"), "/../mini-runc/src/security/seccomp-default.json");
    let seccomp = format!("seccomp={profile}");
    let probe = lab.probe_volume();
    let mut args =
        vec!["run", "--rm", "--network", "none", "--security-opt", &seccomp, "-v", &probe];
    let libraries: Vec<String> = ["/lib", "/lib64", "/usr/lib"]
        .iter()
        .filter(|p| Path::new(p).exists())
        .map(|p| format!("{p}:{p}:ro"))
        .collect();
    for volume in &libraries {
        args.extend(["-v", volume]);
    }
    let script: Vec<String> = calls.iter().map(|c| format!("/probe/probe try {c}")).collect();
    let script = script.join("; ");
    args.extend([image.as_str(), "sh", "-c", &script]);
    let ran = docker(&args);
    let _ = docker(&["rmi", "-f", &image]);
    assert_eq!(ran.code, 0, "docker run: {}", ran.stderr);
    let answers: Vec<(String, String)> = ran
        .stdout
        .lines()
        .map(|line| {
            let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
            (
                v["call"].as_str().unwrap_or("").to_owned(),
                v["result"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    assert_eq!(answers.len(), calls.len(), "docker: {}", ran.stdout);
    // For the reader of the test's output: Docker's live answers.
    eprintln!("docker: {answers:?}");
    Some(answers)
}

/// The devices cgroup, as root (rootless, the kernel refuses `mknod` of
/// a device in a user namespace anyway): `CAP_MKNOD` makes a block device
/// node, the cgroup refuses to open it; `--privileged` has no devices
/// cgroup (the open reaches the kernel: ENXIO, no such device); `--device`
/// allows one node (fuse, which Docker's rules refuse by name).
fn devices(lab: &Lab) {
    let answer = |options: &[&str], call: &[&str]| {
        let mut command = vec!["/probe/probe", "try"];
        command.extend_from_slice(call);
        let ran = lab.container(options, &command);
        assert_eq!(ran.code, 0, "{options:?} {call:?}: {}", ran.stderr);
        let v: Value = serde_json::from_str(ran.stdout.trim()).expect("report");
        v["result"].as_str().unwrap_or("").to_owned()
    };
    assert_eq!(answer(&["--net", "none"], &["block-node"]), "mknod ok, open EPERM");
    assert_eq!(answer(&["--net", "none", "--privileged"], &["block-node"]), "mknod ok, open ENXIO");
    if Path::new("/dev/fuse").exists() {
        assert_eq!(
            answer(&["--net", "none", "--device", "/dev/fuse"], &["open", "/dev/fuse"]),
            "ok"
        );
        assert_eq!(
            answer(&["--net", "none", "--device", "/dev/fuse:/dev/f:r"], &["open", "/dev/f"]),
            "ok"
        );
    }
    for (device, message) in [
        ("/dev/no-such", "--device \"/dev/no-such\": No such file"),
        ("/etc/passwd:/dev/passwd", "not a character or block device"),
        ("/dev/null:/tmp/null", "must be below /dev"),
        ("/dev/null:/dev/n:rx", "some of r, w and m"),
    ] {
        let ran = lab.container(&["--device", device], &["true"]);
        assert_eq!((ran.code, ran.stderr.lines().count()), (125, 1), "{device}: {}", ran.stderr);
        assert!(ran.stderr.contains(message), "{device}: {}", ran.stderr);
    }
}
