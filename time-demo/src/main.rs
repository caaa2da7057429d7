//! # time-demo: time namespaces
//!
//! Not in the article (claim TIME-NS, *beyond*; Linux 5.6 and later): a time
//! namespace gives its processes their own values of two clocks,
//! `CLOCK_MONOTONIC` and `CLOCK_BOOTTIME`, as fixed offsets from the host's.
//! It exists so that a container moved to another machine (checkpoint and
//! restore, CRIU) sees those clocks go on from where they were. The wall
//! clock, `CLOCK_REALTIME`, is *not* namespaced: every container shares the
//! machine's date and time (claim NOT-NS).
//!
//! Like a PID namespace, a time namespace made by `unshare()` receives only
//! the caller's children created afterwards (`/proc/self/ns/time_for_children`);
//! the offsets are written to `/proc/self/timens_offsets` before the first
//! process enters, and are frozen from then on. Unlike a PID namespace, the
//! caller can still enter it later: `execve()` moves a process into its
//! `time_for_children` namespace (Linux 6.1 and later), and a single-threaded
//! process may `setns()` into a time namespace it has a descriptor for, given
//! `CAP_SYS_ADMIN` in its own user namespace and in the one owning the target.
//! Either way its monotonic and boot-time clocks jump by the offsets.
//!
//! Read: man 7 time_namespaces, man 2 setns, man 2 execve, man 2 clock_gettime,
//! man 2 unshare, man 5 proc (`/proc/uptime`).
//!
//! Run: `cargo run -p time-demo` (as root or not), `--list`, `--only NAME`,
//! `--control` (the same steps without `CLONE_NEWTIME`), `--hold`, `--json`.

use std::ffi::CString;
use std::fs::{self, File};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use anyhow::{Context, Result};
use lab::{Experiment, Facts, Lab, Observed, Verdict, fork_child, ns, ok_or_errno};
use nix::errno::Errno;
use nix::sched::{CloneFlags, setns};
use nix::unistd::{dup2_stdout, execv, getpid};
use serde::{Deserialize, Serialize};

const EXPERIMENTS: &[Experiment] = &[
    Experiment {
        name: "clocks-jump",
        title: "Inside, CLOCK_MONOTONIC and CLOCK_BOOTTIME run ahead by the offsets; CLOCK_REALTIME does not",
        claims: &["TIME-NS", "NOT-NS"],
        isolation: true,
        explanation: "After unshare(CLONE_NEWTIME) the demo wrote two offsets to \
            /proc/self/timens_offsets, one day for CLOCK_MONOTONIC and two for CLOCK_BOOTTIME, \
            and then forked a child, the first process of the new time namespace. Read at the \
            same moment, the child's monotonic and boot-time clocks (and /proc/uptime, which \
            follows the boot-time clock) are ahead of the host's by exactly those offsets. Its \
            CLOCK_REALTIME is the host's to the second: the wall clock is one per machine, and \
            no namespace changes it.",
        run: clocks_jump,
    },
    Experiment {
        name: "caller-stays",
        title: "unshare(CLONE_NEWTIME) leaves the caller where it is; only its next child enters",
        claims: &["TIME-NS", "MECH-1"],
        isolation: true,
        explanation: "As with PID namespaces, unshare(CLONE_NEWTIME) does not move the caller: \
            its /proc/self/ns/time and its own clocks are unchanged, and only time_for_children \
            names the new namespace. The first child forked afterwards is in it and reads the \
            shifted clock. Leaving the caller outside is what lets it set the offsets while the \
            namespace is still empty (man 7 time_namespaces). It is not final: the caller \
            enters too when it calls execve() or setns(), as the next two experiments show.",
        run: caller_stays,
    },
    Experiment {
        name: "exec-enters",
        title: "After unshare(CLONE_NEWTIME), execve() moves the caller into time_for_children",
        claims: &["TIME-NS", "MECH-1"],
        isolation: true,
        explanation: "A forked process unshared a time namespace and wrote a one-day monotonic \
            offset: its own time link stayed the host's, time_for_children named the new \
            namespace. Then it called execve() on this demo's own binary, and the new program, \
            the same process, reported its links and its clock: it was in the new namespace, \
            and CLOCK_MONOTONIC had jumped by the offset across the execve. Since Linux 6.1 \
            the kernel switches a process to its time_for_children namespace when it gets a \
            new memory map, at fork() and at execve(), because the clocks are read through \
            the vDSO page mapped into that memory (exec_task_namespaces() in \
            kernel/nsproxy.c; man 7 time_namespaces, older, mentions only children). This \
            is how `unshare --time PROGRAM` works without forking: the program it execs is \
            already inside.",
        run: exec_enters,
    },
    Experiment {
        name: "setns-enters",
        title: "A single-threaded process setns()es into a time namespace and its clocks jump",
        claims: &["TIME-NS", "MECH-3"],
        isolation: true,
        explanation: "The demo unshared a time namespace, wrote a one-day monotonic offset and \
            forked its first member. Then it opened the member's /proc/PID/ns/time and called \
            setns(fd, CLONE_NEWTIME) itself. While a second thread was running, the call \
            failed with EUSERS: the kernel lets only a single-threaded process change its time \
            namespace, since all threads share one memory map and so one vDSO clock page. With \
            the thread gone it succeeded: the demo's time and time_for_children links now \
            name the member's namespace, its CLOCK_MONOTONIC jumped by the offset from one \
            read to the next, and it reads the same clock as the member (man 2 setns, man 7 \
            time_namespaces). Joining needs CAP_SYS_ADMIN in the namespace's owning user \
            namespace, which is why a control run's setns into the host's namespace fails \
            rootless (EPERM) and changes nothing as root.",
        run: setns_enters,
    },
    Experiment {
        name: "offsets-frozen",
        title: "The offsets can be written only until the first process enters the namespace",
        claims: &["TIME-NS"],
        isolation: true,
        explanation: "Writing /proc/self/timens_offsets worked while the new time namespace was \
            empty. Once a child had entered it, a second write failed with EACCES and the \
            offsets stayed as they were: a clock that could be moved under running processes \
            would no longer be monotonic. In a control run the first write already fails: the \
            host's time namespace has had processes from the start (EACCES), and rootless it \
            belongs to the initial user namespace, where the demo lacks CAP_SYS_TIME (EPERM).",
        run: offsets_frozen,
    },
];

fn main() -> std::process::ExitCode {
    // `exec-enters` runs this binary again, in the same process, with a hidden
    // first argument: the new program only reports where it is (`after_exec`).
    if std::env::args().nth(1).as_deref() == Some(AFTER_EXEC) {
        return after_exec();
    }
    lab::main(&lab::Demo {
        name: "time-demo",
        about: "time namespaces: the monotonic and boot-time clocks shifted, the wall clock shared",
        man: "time_namespaces",
        experiments: EXPERIMENTS,
        makes_own_user_namespaces: false,
    })
}

// ANCHOR: helpers
/// nix has no CLONE_NEWTIME: libc's flag, as a CloneFlags for `lab.isolate`.
fn clone_newtime() -> CloneFlags {
    CloneFlags::from_bits_retain(libc::CLONE_NEWTIME)
}

/// unshare(2) through libc, since nix's flags lack CLONE_NEWTIME.
/// With no flags (a control run) it is a call that changes nothing.
fn unshare(flags: CloneFlags) -> nix::Result<()> {
    // SAFETY: unshare takes a flag word and touches no memory of ours.
    Errno::result(unsafe { libc::unshare(flags.bits()) }).map(drop)
}

/// One day, and two: the offsets the experiments write.
const MONOTONIC_OFFSET: i64 = 86_400;
const BOOTTIME_OFFSET: i64 = 2 * 86_400;

/// Writes offset records (`monotonic 86400 0`, one per line) for the time
/// namespace our next children will be in. Returns `ok` or the errno's name.
fn write_offsets(records: &str) -> String {
    match fs::write("/proc/self/timens_offsets", records) {
        Ok(()) => "ok".into(),
        Err(e) => format!("{:?}", Errno::from_raw(e.raw_os_error().unwrap_or(0))),
    }
}

/// /proc/self/timens_offsets on one line: `monotonic 86400 0, boottime 0 0`.
fn read_offsets() -> Result<String> {
    let text = fs::read_to_string("/proc/self/timens_offsets").context("read timens_offsets")?;
    let lines: Vec<String> =
        text.lines().map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ")).collect();
    Ok(lines.join(", "))
}

/// clock_gettime(2) of one clock, in seconds.
fn clock(id: libc::clockid_t) -> f64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid timespec for the kernel to fill in.
    let _ = unsafe { libc::clock_gettime(id, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
}

/// The three clocks, and the boot-time clock as /proc/uptime shows it.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct Clocks {
    monotonic: f64,
    boottime: f64,
    realtime: f64,
    uptime: f64,
}

impl Clocks {
    fn now() -> Result<Clocks> {
        let uptime = fs::read_to_string("/proc/uptime").context("read /proc/uptime")?;
        let uptime = uptime.split_whitespace().next().and_then(|s| s.parse().ok()).unwrap_or(0.0);
        Ok(Clocks {
            monotonic: clock(libc::CLOCK_MONOTONIC),
            boottime: clock(libc::CLOCK_BOOTTIME),
            realtime: clock(libc::CLOCK_REALTIME),
            uptime,
        })
    }

    /// The midpoint of two readings, to compare with one taken in between.
    fn between(a: Clocks, b: Clocks) -> Clocks {
        let mid = |x: f64, y: f64| (x + y) / 2.0;
        Clocks {
            monotonic: mid(a.monotonic, b.monotonic),
            boottime: mid(a.boottime, b.boottime),
            realtime: mid(a.realtime, b.realtime),
            uptime: mid(a.uptime, b.uptime),
        }
    }
}

/// Whole seconds from `b` to `a`: clocks read a few microseconds apart
/// differ by their offset and nothing else.
fn seconds(a: f64, b: f64) -> i64 {
    (a - b).round() as i64
}
// ANCHOR_END: helpers

// ANCHOR: clocks_jump
fn clocks_jump(lab: &Lab) -> Result<Observed> {
    let host_time_ns = ns::link(None, "time")?;
    unshare(lab.isolate(clone_newtime())).context("unshare(CLONE_NEWTIME)")?;
    // Before any process is in the new namespace: set its clocks' offsets.
    let written =
        write_offsets(&format!("monotonic {MONOTONIC_OFFSET} 0\nboottime {BOOTTIME_OFFSET} 0\n"));
    let offsets = read_offsets()?;
    let mut child = fork_child(|chan| {
        // The first process of the new time namespace.
        chan.wait_go()?;
        chan.send(&Clocks::now()?)?;
        chan.send(&ns::link(None, "time")?)?;
        chan.wait_go()
    })?;
    let before = Clocks::now()?;
    child.chan.go()?;
    let inside: Clocks = child.chan.recv()?;
    let after = Clocks::now()?;
    let child_time_ns: String = child.chan.recv()?;
    lab.hold(
        child.pid,
        &[lab.nsenter(child.pid, "-T cat /proc/uptime"), "cat /proc/uptime   # on the host".into()],
    );
    child.chan.go()?;
    child.wait_success()?;

    let host_clocks = Clocks::between(before, after);
    let host = Facts::new()
        .with("time_ns", &host_time_ns)
        .with("write(timens_offsets)", &written)
        .with("timens_offsets", &offsets);
    let namespace = Facts::new()
        .with("time_ns", &child_time_ns)
        .with("monotonic_minus_host_s", seconds(inside.monotonic, host_clocks.monotonic))
        .with("boottime_minus_host_s", seconds(inside.boottime, host_clocks.boottime))
        .with("proc_uptime_minus_host_s", seconds(inside.uptime, host_clocks.uptime))
        .with("realtime_minus_host_s", seconds(inside.realtime, host_clocks.realtime));
    let verdict = Verdict::check(
        namespace.int("monotonic_minus_host_s") == Some(MONOTONIC_OFFSET)
            && namespace.int("boottime_minus_host_s") == Some(BOOTTIME_OFFSET)
            && namespace.int("realtime_minus_host_s") == Some(0)
            && child_time_ns != host_time_ns,
    );
    Ok(Observed::new(verdict, host, namespace))
}
// ANCHOR_END: clocks_jump

// ANCHOR: caller_stays
fn caller_stays(lab: &Lab) -> Result<Observed> {
    let before = Facts::new()
        .with("time", ns::link(None, "time")?)
        .with("time_for_children", ns::link(None, "time_for_children")?);
    let clock_before = clock(libc::CLOCK_MONOTONIC);
    unshare(lab.isolate(clone_newtime())).context("unshare(CLONE_NEWTIME)")?;
    let written = write_offsets(&format!("monotonic {MONOTONIC_OFFSET} 0\n"));
    let own_jump = seconds(clock(libc::CLOCK_MONOTONIC), clock_before);
    let after = Facts::new()
        .with("time", ns::link(None, "time")?)
        .with("time_for_children", ns::link(None, "time_for_children")?)
        .with("write(timens_offsets)", &written)
        .with("own_monotonic_jump_s", own_jump);
    let mut first_child =
        fork_child(|chan| chan.send(&(ns::link(None, "time")?, clock(libc::CLOCK_MONOTONIC))))?;
    let (child_ns, child_clock): (String, f64) = first_child.chan.recv()?;
    let caller_clock = clock(libc::CLOCK_MONOTONIC);
    first_child.wait_success()?;

    let host = prefixed("caller_before_", &before);
    let mut namespace = prefixed("caller_after_", &after);
    namespace.set("first_child_time", &child_ns);
    namespace.set("first_child_monotonic_minus_caller_s", seconds(child_clock, caller_clock));
    let caller_stayed = after.get("time") == before.get("time") && own_jump == 0;
    let child_entered = after.get("time_for_children") != before.get("time")
        && after.text("time_for_children") == Some(child_ns.as_str())
        && namespace.int("first_child_monotonic_minus_caller_s") == Some(MONOTONIC_OFFSET);
    Ok(Observed::new(Verdict::check(caller_stayed && child_entered), host, namespace))
}

fn prefixed(prefix: &str, facts: &Facts) -> Facts {
    facts.iter().fold(Facts::new(), |all, (key, value)| all.with(&format!("{prefix}{key}"), value))
}
// ANCHOR_END: caller_stays

// ANCHOR: exec_enters
/// The hidden first argument that makes this binary report and exit.
const AFTER_EXEC: &str = "--report-after-exec";

/// What the process reports before its execve: its links, and the offsets written.
#[derive(Debug, Serialize, Deserialize)]
struct BeforeExec {
    time_before: String,
    written: String,
    after_unshare: (String, String),
    pid: i32,
}

/// What the program reports right after the execve: where it is, and its clock.
#[derive(Debug, Serialize, Deserialize)]
struct AfterExec {
    pid: i32,
    time: String,
    time_for_children: String,
    monotonic: f64,
}

/// Whether this kernel is at least `major.minor` (uname(2)'s release).
fn kernel_at_least(major: u32, minor: u32) -> bool {
    let Ok(uts) = nix::sys::utsname::uname() else { return false };
    let release = uts.release().to_string_lossy().into_owned();
    let mut numbers = release.split(|c: char| !c.is_ascii_digit()).map(|n| n.parse::<u32>());
    match (numbers.next(), numbers.next()) {
        (Some(Ok(a)), Some(Ok(b))) => (a, b) >= (major, minor),
        _ => false,
    }
}

fn exec_enters(lab: &Lab) -> Result<Observed> {
    if !kernel_at_least(6, 1) {
        return Ok(Observed::skip(
            "execve() moves a process into time_for_children since Linux 6.1",
        ));
    }
    // The program after the execve writes one line here; it will be its stdout.
    let (report, report_end) = UnixStream::pair().context("socketpair(AF_UNIX)")?;
    report.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut child = fork_child(|chan| {
        let time_before = ns::link(None, "time")?;
        unshare(lab.isolate(clone_newtime())).context("unshare(CLONE_NEWTIME)")?;
        let written = write_offsets(&format!("monotonic {MONOTONIC_OFFSET} 0\n"));
        let after_unshare = (ns::link(None, "time")?, ns::link(None, "time_for_children")?);
        chan.send(&BeforeExec { time_before, written, after_unshare, pid: getpid().as_raw() })?;
        chan.wait_go()?;
        // Our stdout becomes the report socket; dup2's copy is not close-on-exec.
        dup2_stdout(&report_end).context("dup2(report, 1)")?;
        let program = CString::new("/proc/self/exe")?;
        let args = [CString::new("time-demo")?, CString::new(AFTER_EXEC)?];
        chan.send(&clock(libc::CLOCK_MONOTONIC))?; // the last reading before the execve
        let errno = execv(&program, &args).unwrap_err();
        Err(errno).context("execve(/proc/self/exe)")
    })?;
    drop(report_end); // our copy: only the child's (then the new program's) is left
    let before: BeforeExec = child.chan.recv()?;
    let links = format!("readlink /proc/{0}/ns/time /proc/{0}/ns/time_for_children", child.pid);
    lab.hold(child.pid, &[format!("{links}   # before its execve: two namespaces")]);
    child.chan.go()?;
    let (time_before, (time_after_unshare, for_children)) =
        (before.time_before, before.after_unshare);
    let monotonic_before_exec: f64 = child.chan.recv()?;
    let mut line = String::new();
    let read =
        BufReader::new(report).read_line(&mut line).context("reading the report after execve")?;
    if read == 0 {
        // No program ran after the execve: its error waits in the channel.
        child.chan.recv::<()>()?;
    }
    child.wait_success()?;
    let after: AfterExec = serde_json::from_str(&line)
        .with_context(|| format!("the report after execve: {line:?}"))?;

    let host = Facts::new().with("time_before_unshare", &time_before);
    let namespace = Facts::new()
        .with("write(timens_offsets)", &before.written)
        .with("after_unshare_time", &time_after_unshare)
        .with("after_unshare_time_for_children", &for_children)
        .with("after_exec_same_process", after.pid == before.pid)
        .with("after_exec_time", &after.time)
        .with("after_exec_time_for_children", &after.time_for_children)
        .with("monotonic_jump_across_exec_s", seconds(after.monotonic, monotonic_before_exec));
    let verdict = Verdict::check(
        time_after_unshare == time_before
            && for_children != time_before
            && after.pid == before.pid
            && after.time == for_children
            && namespace.int("monotonic_jump_across_exec_s") == Some(MONOTONIC_OFFSET),
    );
    Ok(Observed::new(verdict, host, namespace))
}

/// The program after the execve: one JSON line on stdout, then exit.
fn after_exec() -> std::process::ExitCode {
    let report = || -> Result<AfterExec> {
        Ok(AfterExec {
            monotonic: clock(libc::CLOCK_MONOTONIC),
            pid: getpid().as_raw(),
            time: ns::link(None, "time")?,
            time_for_children: ns::link(None, "time_for_children")?,
        })
    };
    let written = report().and_then(|r| {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{}", serde_json::to_string(&r)?)?;
        Ok(out.flush()?)
    });
    match written {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("time-demo {AFTER_EXEC}: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
// ANCHOR_END: exec_enters

// ANCHOR: setns_enters
fn setns_enters(lab: &Lab) -> Result<Observed> {
    let own_before = ns::link(None, "time")?;
    unshare(lab.isolate(clone_newtime())).context("unshare(CLONE_NEWTIME)")?;
    let written = write_offsets(&format!("monotonic {MONOTONIC_OFFSET} 0\n"));
    // The namespace's first member: it freezes the offsets and keeps the namespace alive.
    let mut member = fork_child(|chan| {
        chan.send(&ns::link(None, "time")?)?;
        chan.wait_go()?;
        chan.send(&clock(libc::CLOCK_MONOTONIC))?;
        chan.wait_go()
    })?;
    let member_ns: String = member.chan.recv()?;
    let fd =
        File::open(format!("/proc/{}/ns/time", member.pid)).context("open /proc/PID/ns/time")?;
    let time_ns = clone_newtime();

    // First with a second thread alive in this process...
    let (release, parked) = std::sync::mpsc::channel::<()>();
    let thread = std::thread::spawn(move || parked.recv());
    let while_threaded = ok_or_errno(&setns(&fd, time_ns));
    let _ = release.send(());
    let _ = thread.join();
    // ...then single-threaded again: read the clock, join, read it again.
    let clock_before = clock(libc::CLOCK_MONOTONIC);
    let joined = ok_or_errno(&setns(&fd, time_ns));
    let clock_after = clock(libc::CLOCK_MONOTONIC);
    member.chan.go()?;
    let member_clock: f64 = member.chan.recv()?;
    let own_clock = clock(libc::CLOCK_MONOTONIC);
    let own_after = (ns::link(None, "time")?, ns::link(None, "time_for_children")?);
    lab.hold(member.pid, &[format!("cat /proc/{}/timens_offsets", member.pid)]);
    member.chan.go()?;
    member.wait_success()?;

    let host =
        Facts::new().with("own_time_before", &own_before).with("write(timens_offsets)", &written);
    let namespace = Facts::new()
        .with("member_time", &member_ns)
        .with("setns_with_two_threads", &while_threaded)
        .with("setns_single_threaded", &joined)
        .with("own_time_after", &own_after.0)
        .with("own_time_for_children_after", &own_after.1)
        .with("own_monotonic_jump_s", seconds(clock_after, clock_before))
        .with("member_monotonic_minus_own_s", seconds(member_clock, own_clock));
    let verdict = Verdict::check(
        while_threaded == "EUSERS"
            && joined == "ok"
            && member_ns != own_before
            && own_after.0 == member_ns
            && namespace.int("own_monotonic_jump_s") == Some(MONOTONIC_OFFSET)
            && namespace.int("member_monotonic_minus_own_s") == Some(0),
    );
    Ok(Observed::new(verdict, host, namespace))
}
// ANCHOR_END: setns_enters

// ANCHOR: offsets_frozen
fn offsets_frozen(lab: &Lab) -> Result<Observed> {
    unshare(lab.isolate(clone_newtime())).context("unshare(CLONE_NEWTIME)")?;
    let first_write = write_offsets(&format!("monotonic {MONOTONIC_OFFSET} 0\n"));
    let mut member = fork_child(|chan| {
        chan.send(&ns::link(None, "time")?)?;
        chan.wait_go()
    })?;
    let member_ns: String = member.chan.recv()?;
    // Now a process is in the namespace: try to move its clock by an hour.
    let second_write = write_offsets("monotonic 3600 0\n");
    let offsets = read_offsets()?;
    lab.hold(member.pid, &[format!("cat /proc/{}/timens_offsets", member.pid)]);
    member.chan.go()?;
    member.wait_success()?;

    let host = Facts::new()
        .with("write_before_first_process", &first_write)
        .with("write_after_first_process", &second_write)
        .with("timens_offsets", &offsets);
    let namespace = Facts::new().with("member_time_ns", &member_ns);
    let verdict = Verdict::check(
        first_write == "ok"
            && second_write == "EACCES"
            && offsets.starts_with(&format!("monotonic {MONOTONIC_OFFSET} 0")),
    );
    Ok(Observed::new(verdict, host, namespace))
}
// ANCHOR_END: offsets_frozen
