//! Classic container escapes, each stopped at its precondition: what a
//! default mini-docker container is refused, and what the named mistake
//! (`--privileged`, a mounted host socket, `--pid host` with
//! `--cap-add SYS_PTRACE`) lets through. The book's chapter "Escapes"
//! shows the snapshots.
//!
//! Nothing here performs an escape. `probe escape CHECK` (see
//! `mini-docker/src/bin/probe/escapes.rs`) opens the dangerous files for
//! writing and closes them without writing, attaches to a process and
//! detaches at once, mounts only in the container's own mount namespace.
//! The host-side things (a Unix socket server, a `sleep`) are the test's
//! own, bounded in time and ended by this test. As root only: the escapes
//! are about root in a container against root on the host.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::time::{Duration, Instant};

use nslab_tests::As;
use nslab_tests::mini_docker::{LIMIT, Lab};
use serde_json::Value;

/// The binaries each lab copies: mini-docker, and the probe it mounts.
const BINARIES: [&str; 2] = [env!("CARGO_BIN_EXE_mini-docker"), env!("CARGO_BIN_EXE_probe")];

/// `run --rm -v BIN:/probe:ro --net none OPTIONS host /probe/probe escape
/// ARGS…`: the probe's one-line report. `--net none`: the network plays
/// no part in these escapes.
fn escape(lab: &Lab, options: &[&str], args: &[&str]) -> Value {
    let mut all = vec!["--net", "none"];
    all.extend_from_slice(options);
    let mut command = vec!["/probe/probe", "escape"];
    command.extend_from_slice(args);
    let ran = lab.container(&all, &command);
    assert_eq!(ran.code, 0, "{options:?} {args:?}: {}", ran.stderr);
    ran.json()
}

/// Every container removed itself (`--rm`).
fn assert_clean(lab: &Lab) {
    assert_eq!(lab.state_entries(), Vec::<String>::new(), "containers left behind");
}

/// A field of a probe report, as text (`ok`, `EROFS`, …).
fn field(report: &Value, key: &str) -> String {
    match &report[key] {
        Value::String(s) => s.clone(),
        Value::Bool(true) => "yes".to_owned(),
        Value::Bool(false) => "no".to_owned(),
        _ => panic!("{key} missing in {report}"),
    }
}

/// The snapshot's text: one row per step, one column per run.
fn side_by_side(columns: &[&str], rows: &[(&str, Vec<String>)]) -> String {
    let width = rows.iter().map(|(step, _)| step.len()).max().unwrap_or(0).max(4);
    let widths: Vec<usize> = (0..columns.len())
        .map(|i| rows.iter().map(|(_, v)| v[i].len()).chain([columns[i].len()]).max().unwrap_or(0))
        .collect();
    let line = |first: &str, cells: &[String]| {
        let mut text = format!("{first:<width$}");
        for (cell, w) in cells.iter().zip(&widths) {
            text += &format!("  {cell:<w$}");
        }
        text.trim_end().to_owned() + "\n"
    };
    let header: Vec<String> = columns.iter().map(|c| (*c).to_owned()).collect();
    let mut text = line("step", &header);
    for (step, cells) in rows {
        text += &line(step, cells);
    }
    text
}

/// cgroup v1 `release_agent` (CVE-2022-0492, cgroups(7)): a default
/// container cannot mount a cgroup v1 hierarchy (seccomp and the missing
/// CAP_SYS_ADMIN refuse `mount`); a privileged one can, and finds the
/// hierarchy's `release_agent` open for writing. On a host without v1
/// hierarchies there is no `release_agent` at all: the test says so.
#[test]
fn cgroup_v1_release_agent() {
    let Some(lab) = Lab::new("mini-docker escapes: release_agent", As::Root, &BINARIES) else {
        return;
    };
    let default = escape(&lab, &[], &["cgroup-v1"]);
    let privileged = escape(&lab, &["--privileged"], &["cgroup-v1"]);
    // The v1 controllers bound to a hierarchy (/proc/cgroups, cgroups(7)).
    let v1: Vec<String> = std::fs::read_to_string("/proc/cgroups")
        .expect("/proc/cgroups")
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.split_whitespace().nth(1).is_some_and(|h| h != "0"))
        .filter_map(|l| Some(l.split_whitespace().next()?.to_owned()))
        .collect();
    if v1.is_empty() {
        for report in [&default, &privileged] {
            assert_eq!(field(report, "mount"), "no v1 hierarchy", "{report}");
        }
        nslab_tests::not_here("release_agent", "cgroup v2 only: there is no release_agent");
        assert_clean(&lab);
        return;
    }
    // A container without limits stays in mini-docker's cgroups, which are
    // this test's. Its cgroup namespace makes its cgroup the root of what
    // it mounts, and release_agent exists only at a hierarchy's real root:
    // it finds one only where this process sits at the root.
    let at_root =
        std::fs::read_to_string("/proc/self/cgroup").expect("/proc/self/cgroup").lines().any(|l| {
            let mut parts = l.splitn(3, ':').skip(1);
            let (controllers, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            path == "/" && controllers.split(',').any(|c| v1.iter().any(|v| v == c))
        });
    if !at_root {
        assert_eq!(field(&default, "mount"), "EPERM", "{default}");
        assert_ne!(field(&privileged, "mount"), "ok", "no release_agent found: {privileged}");
        nslab_tests::not_here("release_agent", "no v1 hierarchy whose root cgroup holds this test");
        assert_clean(&lab);
        return;
    }
    assert_eq!(field(&default, "mount"), "EPERM", "{default}");
    assert_eq!(field(&privileged, "mount"), "ok", "{privileged}");
    assert_eq!(field(&privileged, "release_agent"), "ok", "{privileged}");
    let text = side_by_side(
        &["default", "--privileged"],
        &[
            ("mount(\"cgroup\", v1 controller)", vec![field(&default, "mount"), "ok".into()]),
            ("open(release_agent, O_WRONLY)", vec!["(no mount)".into(), "ok".into()]),
        ],
    );
    insta::assert_snapshot!("release_agent", text);
    assert_clean(&lab);
}

/// `/proc/sys/kernel/core_pattern` (proc(5)): /proc/sys is mounted
/// read-only in a default container: root passes the permission check
/// (`may_open`), then the read-only mount refuses the write (EROFS); under
/// --privileged it is writable.
#[test]
fn core_pattern() {
    let Some(lab) = Lab::new("mini-docker escapes: core_pattern", As::Root, &BINARIES) else {
        return;
    };
    let default = field(&escape(&lab, &[], &["core-pattern"]), "open_write");
    let privileged = field(&escape(&lab, &["--privileged"], &["core-pattern"]), "open_write");
    assert_eq!((default.as_str(), privileged.as_str()), ("EROFS", "ok"));
    let text = side_by_side(
        &["default", "--privileged"],
        &[("open(/proc/sys/kernel/core_pattern, O_WRONLY)", vec![default, privileged])],
    );
    insta::assert_snapshot!("core_pattern", text);
    assert_clean(&lab);
}

/// Files of /sys/kernel that root may write and whose writes change the
/// whole machine; the first that exists here is tried (the kernel's
/// configuration decides which do).
const SYSFS_FILES: [&str; 4] = [
    "/sys/kernel/uevent_helper",
    "/sys/kernel/profiling",
    "/sys/kernel/rcu_normal",
    "/sys/kernel/mm/transparent_hugepage/enabled",
];

/// A read-only /sys (sysfs(5)): EROFS in a default container, writable
/// under --privileged.
#[test]
fn writable_sys() {
    let Some(lab) = Lab::new("mini-docker escapes: /sys", As::Root, &BINARIES) else { return };
    let Some(path) = SYSFS_FILES.iter().find(|p| Path::new(p).exists()) else {
        nslab_tests::skip("/sys escape", "none of the /sys/kernel files this test knows");
        return;
    };
    let default = field(&escape(&lab, &[], &["sysfs", path]), "open_write");
    let privileged = field(&escape(&lab, &["--privileged"], &["sysfs", path]), "open_write");
    assert_eq!((default.as_str(), privileged.as_str()), ("EROFS", "ok"), "{path}");
    let text = side_by_side(
        &["default", "--privileged"],
        &[("open(/sys/kernel/..., O_WRONLY)", vec![default, privileged])],
    );
    insta::assert_snapshot!("sysfs", text);
    assert_clean(&lab);
}

/// A host socket mounted in (the `docker.sock` mistake): the test serves a
/// Unix socket of its own; a default container cannot reach it (another
/// mount namespace: the path is not there), a container given it with
/// `-v` connects and gets the host process's answer.
#[test]
fn mounted_host_socket() {
    let Some(lab) = Lab::new("mini-docker escapes: mounted socket", As::Root, &BINARIES) else {
        return;
    };
    let socket = lab.dir.join("host.sock");
    let listener = UnixListener::bind(&socket).expect("bind the host's socket");
    listener.set_nonblocking(true).expect("non-blocking");
    // The host side: one connection at most, for at most LIMIT; it answers
    // with the PID namespace it lives in, which the container's is not.
    let server = std::thread::spawn(move || -> Option<String> {
        let start = Instant::now();
        let (stream, _) = loop {
            match listener.accept() {
                Ok(accepted) => break accepted,
                Err(_) if start.elapsed() < LIMIT => std::thread::sleep(Duration::from_millis(5)),
                Err(_) => return None,
            }
        };
        stream.set_nonblocking(false).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        let mut heard = String::new();
        BufReader::new(&stream).read_line(&mut heard).ok()?;
        let ns = std::fs::read_link("/proc/self/ns/pid").ok()?;
        writeln!(&stream, "host process in {}", ns.display()).ok()?;
        Some(heard.trim_end().to_owned())
    });
    let host_path = socket.display().to_string();
    let default = escape(&lab, &[], &["unix-connect", &host_path]);
    let volume = format!("{host_path}:/var/run/host.sock");
    let mistake = escape(&lab, &["-v", &volume], &["unix-connect", "/var/run/host.sock"]);
    let heard = server.join().expect("the server thread");
    let _ = std::fs::remove_file(&socket);
    assert_eq!(field(&default, "connect"), "ENOENT", "{default}");
    assert_eq!(field(&mistake, "connect"), "ok", "{mistake}");
    assert_eq!(heard.as_deref(), Some("hello from the container"));
    let host_ns = std::fs::read_link("/proc/self/ns/pid").expect("ns").display().to_string();
    assert_eq!(field(&mistake, "answer"), format!("host process in {host_ns}"));
    let text = side_by_side(
        &["default", "-v HOST_SOCKET:/var/run/host.sock"],
        &[
            ("connect()", vec![field(&default, "connect"), field(&mistake, "connect")]),
            ("answer", vec!["-".into(), field(&mistake, "answer")]),
        ],
    );
    insta::assert_snapshot!("host_socket", nslab_tests::redact(&text));
    assert_clean(&lab);
}

/// `--pid host` and ptrace (ptrace(2), "Ptrace access mode checking"): a
/// `sleep` the test started is invisible to a default container; with
/// `--pid host` it is visible but PTRACE_SEIZE (the attach check) is refused (its permitted
/// capabilities are not a subset of the container's); adding
/// CAP_SYS_PTRACE lets the attach through (the probe detaches at once).
#[test]
fn host_pid_and_ptrace() {
    let Some(lab) = Lab::new("mini-docker escapes: ptrace", As::Root, &BINARIES) else { return };
    let mut sleeper = std::process::Command::new("sleep").arg("30").spawn().expect("sleep");
    let pid = sleeper.id().to_string();
    let runs = [
        escape(&lab, &[], &["ptrace", &pid]),
        escape(&lab, &["--pid", "host"], &["ptrace", &pid]),
        escape(&lab, &["--pid", "host", "--cap-add", "SYS_PTRACE"], &["ptrace", &pid]),
    ];
    // The sleep is still there, running on: the attach changed nothing.
    let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    let seen: Vec<(String, String)> =
        runs.iter().map(|r| (field(r, "visible"), field(r, "attach"))).collect();
    let expected = [("no", "ESRCH"), ("yes", "EPERM"), ("yes", "ok")];
    for (got, want) in seen.iter().zip(expected) {
        assert_eq!((got.0.as_str(), got.1.as_str()), want, "{runs:?}");
    }
    assert!(!state.contains(") t ") && !state.contains(") T "), "not left stopped: {state}");
    let text = side_by_side(
        &["default", "--pid host", "--pid host --cap-add SYS_PTRACE"],
        &[
            ("/proc/PID exists", seen.iter().map(|s| s.0.clone()).collect()),
            ("ptrace(PTRACE_SEIZE, PID)", seen.iter().map(|s| s.1.clone()).collect()),
        ],
    );
    insta::assert_snapshot!("ptrace", text);
    assert_clean(&lab);
}

/// `/proc/1/exe` (CVE-2019-5736): with `--init`, the container's PID 1 is
/// the reaper, a fork of the host's mini-docker binary (without it, PID 1
/// is the command, which has `execve`d its own program). By default the
/// reaper is not dumpable, so the container cannot even follow the link
/// (EACCES); under --privileged (CAP_SYS_PTRACE) it can, and opens the
/// host's binary as O_PATH, but not for writing while any process runs it
/// (ETXTBSY).
#[test]
fn proc_exe_of_init() {
    let Some(lab) = Lab::new("mini-docker escapes: /proc/1/exe", As::Root, &BINARIES) else {
        return;
    };
    let default = escape(&lab, &["--init"], &["exe", "/proc/1/exe"]);
    let privileged = escape(&lab, &["--init", "--privileged"], &["exe", "/proc/1/exe"]);
    for key in ["readlink", "open_path", "open_write"] {
        assert_eq!(field(&default, key), "EACCES", "{key}: {default}");
    }
    let host_binary = lab.bin("mini-docker").display().to_string();
    assert_eq!(field(&privileged, "readlink"), host_binary, "the host's binary");
    assert_eq!(field(&privileged, "open_path"), "ok");
    assert_eq!(field(&privileged, "open_write"), "ETXTBSY");
    let link = |r: &Value| field(r, "readlink").replace(&lab.dir.display().to_string(), "[LAB]");
    let text = side_by_side(
        &["default", "--privileged"],
        &[
            ("readlink(/proc/1/exe)", vec![link(&default), link(&privileged)]),
            ("open(/proc/1/exe, O_PATH)", vec![field(&default, "open_path"), "ok".into()]),
            ("open(/proc/1/exe, O_WRONLY)", vec![field(&default, "open_write"), "ETXTBSY".into()]),
        ],
    );
    insta::assert_snapshot!("proc_exe", text);
    assert_clean(&lab);
}
