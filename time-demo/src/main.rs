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
//! the offsets are written to `/proc/self/timens_offsets` before the first of
//! them, and are frozen from then on.
//!
//! Read: man 7 time_namespaces, man 2 clock_gettime, man 2 unshare,
//! man 5 proc (`/proc/uptime`).
//!
//! Run: `cargo run -p time-demo` (as root or not), `--list`, `--only NAME`,
//! `--control` (the same steps without `CLONE_NEWTIME`), `--hold`, `--json`.

use std::fs;

use anyhow::{Context, Result};
use lab::{Experiment, Facts, Lab, Observed, Verdict, fork_child, ns};
use nix::errno::Errno;
use nix::sched::CloneFlags;
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
            shifted clock. A process's clocks never jump under its feet; the offsets can be set \
            while the namespace is still empty.",
        run: caller_stays,
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
