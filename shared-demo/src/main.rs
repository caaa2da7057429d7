//! # shared-demo: what namespaces do not isolate
//!
//! The article (claim NOT-NS, *beyond*) leaves an impression it never states:
//! that a process in its own namespaces is on a machine of its own. It is
//! not. Namespaces give a process its own *view* of some kernel objects
//! (process IDs, mounts, interfaces, names, IPC objects, user IDs, cgroup
//! paths, two clocks); everything else is one per machine and shared by
//! every container on it: the kernel itself, its memory and load figures in
//! `/proc`, the wall clock, the loaded modules, the devices, and (outside a
//! user namespace) the kernel keyrings.
//!
//! Each experiment clones a child with every namespace type there is (time
//! through `unshare()`, since `clone()` cannot make one), mounts a fresh
//! `/proc` for its new PID namespace, reads the same thing as the host, and
//! compares. Here a `pass` verdict means "shared, as the kernel documents",
//! which corrects the article's picture.
//!
//! Read: man 7 namespaces, man 5 proc (`/proc/meminfo`, `/proc/loadavg`,
//! `/proc/modules`), man 4 random (`/proc/sys/kernel/random/boot_id`), man 7 keyrings,
//! man 7 user-keyring, man 7 session-keyring, man 7 time_namespaces, man 2 uname.
//!
//! Run: `cargo run -p shared-demo` (as root or not), `--list`, `--only NAME`,
//! `--control` (the same reads without the new namespaces), `--hold`, `--json`.

use std::collections::BTreeSet;
use std::fs;

use anyhow::{Context, Result};
use lab::{Experiment, Facts, Lab, Observed, Verdict, clone_child, ns};
use nix::errno::Errno;
use nix::mount::{MsFlags, mount};
use nix::sched::CloneFlags;
use nix::sys::utsname::uname;
use serde::Serialize;
use serde::de::DeserializeOwned;

const EXPERIMENTS: &[Experiment] = &[
    Experiment {
        name: "one-kernel",
        title: "Inside every namespace type at once, the kernel and its boot are the host's",
        claims: &["NOT-NS", "NS-1"],
        isolation: false,
        explanation: "The child is in a new namespace of every type (differ_from_host lists \
            them), yet uname() reports the same kernel release and \
            /proc/sys/kernel/random/boot_id the same boot: a container is a group of processes \
            on the host's one running kernel, not a machine. That is why a container cannot run \
            another kernel, and why one kernel bug is every container's bug. A --control run, \
            with no new namespaces but the helper mount namespace, reads the same values.",
        run: one_kernel,
    },
    Experiment {
        name: "memory-and-load",
        title: "A fresh /proc inside a new PID namespace still reports the host's memory and load",
        claims: &["NOT-NS"],
        isolation: false,
        explanation: "The child mounted a procfs of its own PID namespace: it lists only PID 1. \
            Yet /proc/meminfo gives the machine's MemTotal and /proc/loadavg the machine's load \
            averages, because the kernel computes both for the whole machine, whatever the \
            reader's namespaces (man 5 proc). A memory cgroup limits what a container may use; \
            it does not change these files, which is why tools like free and top in a container \
            show the host's figures (LXCFS exists to paper over this). A --control run reads \
            the same values.",
        run: memory_and_load,
    },
    Experiment {
        name: "wall-clock",
        title: "Even in a new time namespace, CLOCK_REALTIME is the host's",
        claims: &["NOT-NS", "TIME-NS"],
        isolation: false,
        explanation: "The child is in a new time namespace too, but time namespaces offset only \
            CLOCK_MONOTONIC and CLOCK_BOOTTIME (man 7 time_namespaces). The wall clock read \
            inside and outside at the same moment agrees to the second: there is one system \
            clock, and a process allowed to set it (CAP_SYS_TIME in the initial user namespace) \
            sets it for the whole machine. A --control run reads the same clock.",
        run: wall_clock,
    },
    Experiment {
        name: "modules-and-devices",
        title: "The loaded kernel modules and the device nodes are the host's",
        claims: &["NOT-NS"],
        isolation: false,
        explanation: "/proc/modules (when the kernel has loadable modules at all) lists the same \
            modules inside as outside: a module is loaded into the one kernel, for everyone. \
            /dev inside is the host's device file system, with the same entries, because a new \
            mount namespace starts as a copy of the host's mounts. No namespace type covers \
            devices: a runtime hides them by mounting a small tmpfs on /dev with a few chosen \
            nodes, and the devices cgroup (or a BPF program on cgroup2) decides which ones may \
            be opened. A --control run reads the same values.",
        run: modules_and_devices,
    },
    Experiment {
        name: "keyrings",
        title: "Kernel keyrings are shared by every namespace but the user namespace",
        claims: &["NOT-NS"],
        isolation: true,
        explanation: "The demo started a session keyring (as a login does) and cloned two \
            children. The one in new mount, UTS, IPC, PID, network, cgroup and time namespaces \
            but the host's user namespace finds the host's user keyring: the keys of a UID are \
            shared by every container running as that UID, which is why Docker's seccomp \
            profile forbids keyctl. Only a new user namespace gets its own user keyring \
            (keyrings are looked up per user namespace since Linux 5.3). The session keyring is \
            inherited by both: it belongs to the process's credentials, not to a namespace.",
        run: keyrings,
    },
];

fn main() -> std::process::ExitCode {
    lab::main(&lab::Demo {
        name: "shared-demo",
        about: "What namespaces do not isolate: one kernel, one clock, one memory, one keyring store",
        man: "namespaces",
        experiments: EXPERIMENTS,
        makes_own_user_namespaces: false,
    })
}

// ANCHOR: helpers
/// Every namespace type that clone() can create. The mount namespace is
/// always new: it is a helper that keeps the child's /proc mount away from
/// the host, in a control run too.
fn every_namespace(lab: &Lab) -> CloneFlags {
    let flags = CloneFlags::CLONE_NEWUSER
        | CloneFlags::CLONE_NEWUTS
        | CloneFlags::CLONE_NEWIPC
        | CloneFlags::CLONE_NEWPID
        | CloneFlags::CLONE_NEWNET
        | CloneFlags::CLONE_NEWCGROUP;
    lab.isolate(flags) | CloneFlags::CLONE_NEWNS
}

/// The eighth type, time: clone() cannot create one (its flag's bit is
/// taken by the exit-signal field), so the caller unshares it and its
/// children are born inside, as with `unshare --time --fork`.
fn new_time_namespace_for_children(lab: &Lab) -> Result<()> {
    let flags = lab.isolate(CloneFlags::from_bits_retain(libc::CLONE_NEWTIME));
    // SAFETY: unshare takes a flag word and touches no memory of ours.
    Errno::result(unsafe { libc::unshare(flags.bits()) }).context("unshare(CLONE_NEWTIME)")?;
    Ok(())
}

/// Clones a child with `flags`, gives it a /proc of its own PID namespace,
/// and returns what `read` returned there. The child stays alive (for
/// `--hold`) until the host has what it needs.
fn read_inside<T: Serialize + DeserializeOwned>(
    lab: &Lab,
    flags: CloneFlags,
    read: impl FnOnce() -> Result<T>,
) -> Result<T> {
    let mut child = clone_child(flags, |chan| {
        let private = MsFlags::MS_REC | MsFlags::MS_PRIVATE;
        mount(None::<&str>, "/", None::<&str>, private, None::<&str>)
            .context("mount(MS_REC|MS_PRIVATE) on /")?;
        // A procfs shows the PID namespace of whoever mounts it. Without a
        // new one (a control run) the host's /proc is that already, and a
        // rootless demo could not mount the host's PID namespace's procfs.
        if flags.contains(CloneFlags::CLONE_NEWPID) {
            let proc_flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
            mount(Some("proc"), "/proc", Some("proc"), proc_flags, None::<&str>)
                .context("mount proc on /proc")?;
        }
        chan.send(&read()?)?;
        chan.wait_go()
    })?;
    let value: T = child.chan.recv()?;
    // -a: every namespace of the child; keep our IDs, which it does not map.
    let look = "sh -c 'uname -r; head -1 /proc/meminfo; ls -d /proc/[0-9]*'";
    lab.hold(
        child.pid,
        &[
            lab.nsenter(child.pid, &format!("-a --preserve-credentials {look}")),
            "uname -r; head -1 /proc/meminfo   # on the host".into(),
        ],
    );
    child.chan.go()?;
    child.wait_success()?;
    Ok(value)
}

/// One line of a /proc file that starts with `key` (`MemTotal:`), its value trimmed.
fn proc_field(file: &str, key: &str) -> Result<String> {
    let text = fs::read_to_string(file).with_context(|| format!("read {file}"))?;
    text.lines()
        .find_map(|l| l.strip_prefix(key))
        .map(|v| v.trim().to_owned())
        .with_context(|| format!("{file} has no {key} line"))
}

fn read_trimmed(file: &str) -> Result<String> {
    Ok(fs::read_to_string(file).with_context(|| format!("read {file}"))?.trim().to_owned())
}
// ANCHOR_END: helpers

// ANCHOR: one_kernel
fn one_kernel(lab: &Lab) -> Result<Observed> {
    new_time_namespace_for_children(lab)?;
    let read = || -> Result<Facts> {
        Ok(Facts::new()
            .with("uname_release", uname()?.release().to_string_lossy())
            .with("boot_id", read_trimmed("/proc/sys/kernel/random/boot_id")?))
    };
    // The namespace links travel as owned strings.
    let links = || -> Vec<(String, String)> {
        ns::links(None).into_iter().map(|(kind, link)| (kind.to_owned(), link)).collect()
    };
    let (mut inside, inside_links) =
        read_inside(lab, every_namespace(lab), || Ok((read()?, links())))?;
    let host = read()?;
    let differ: Vec<String> = links()
        .iter()
        .zip(&inside_links)
        .filter(|((kind, host_link), (_, child_link))| {
            host_link != child_link && !kind.ends_with("_for_children")
        })
        .map(|((kind, _), _)| kind.clone())
        .collect();
    inside.set("differ_from_host", &differ);
    let verdict = Verdict::check(
        inside.get("uname_release") == host.get("uname_release")
            && inside.get("boot_id") == host.get("boot_id"),
    );
    Ok(Observed::new(verdict, host, inside))
}
// ANCHOR_END: one_kernel

// ANCHOR: memory_and_load
fn memory_and_load(lab: &Lab) -> Result<Observed> {
    new_time_namespace_for_children(lab)?;
    // The three load averages (1, 5, 15 minutes): the kernel updates them
    // every 5 s, so the host reads them before and after the child does.
    let loadavg = || -> Result<String> {
        let text = read_trimmed("/proc/loadavg")?;
        Ok(text.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
    };
    let read = || -> Result<Facts> {
        Ok(Facts::new()
            .with("meminfo_memtotal", proc_field("/proc/meminfo", "MemTotal:")?)
            .with("loadavg", loadavg()?))
    };
    let load_before = loadavg()?;
    let inside = read_inside(lab, every_namespace(lab), || {
        Ok(read()?.with("proc_lists", ns::pids_in("/proc")?))
    })?;
    let mut host = read()?;
    if inside.text("loadavg") == Some(load_before.as_str()) {
        host.set("loadavg", &load_before); // the child read it before an update
    }
    let same = |key: &str| inside.get(key) == host.get(key);
    let verdict = Verdict::check(same("meminfo_memtotal") && same("loadavg"));
    Ok(Observed::new(verdict, host, inside))
}
// ANCHOR_END: memory_and_load

// ANCHOR: wall_clock
fn wall_clock(lab: &Lab) -> Result<Observed> {
    new_time_namespace_for_children(lab)?;
    let realtime = || {
        let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: `ts` is a valid timespec for the kernel to fill in.
        let _ = unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) };
        ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
    };
    let before = realtime();
    let (inside_clock, inside_time_ns): (f64, String) =
        read_inside(lab, every_namespace(lab), || Ok((realtime(), ns::link(None, "time")?)))?;
    let after = realtime();
    // The child read its clock between our two readings: it lies between them.
    let offset = if inside_clock < before {
        inside_clock - before
    } else if inside_clock > after {
        inside_clock - after
    } else {
        0.0
    };
    let host = Facts::new().with("time_ns", ns::link(None, "time")?);
    let inside = Facts::new()
        .with("time_ns", &inside_time_ns)
        .with("realtime_minus_host_s", offset.round() as i64);
    let verdict = Verdict::check(offset.abs() < 1.0);
    Ok(Observed::new(verdict, host, inside))
}
// ANCHOR_END: wall_clock

// ANCHOR: modules_and_devices
fn modules_and_devices(lab: &Lab) -> Result<Observed> {
    new_time_namespace_for_children(lab)?;
    // Module names (the addresses on each line are hidden from most readers).
    let modules = || -> Option<BTreeSet<String>> {
        let text = fs::read_to_string("/proc/modules").ok()?;
        Some(text.lines().filter_map(|l| Some(l.split_whitespace().next()?.to_owned())).collect())
    };
    let devices = || -> Result<BTreeSet<String>> {
        fs::read_dir("/dev")
            .context("list /dev")?
            .map(|e| Ok(e?.file_name().to_string_lossy().into_owned()))
            .collect()
    };
    let (inside_modules, inside_devices) =
        read_inside(lab, every_namespace(lab), || Ok((modules(), devices()?)))?;
    let (host_modules, host_devices) = (modules(), devices()?);

    let describe = |m: &Option<BTreeSet<String>>, facts: Facts| match m {
        None => facts.with("proc_modules", "absent (this kernel has no loadable modules)"),
        Some(names) => {
            facts.with("proc_modules", "present").with("proc_modules_count", names.len())
        }
    };
    let host = describe(&host_modules, Facts::new()).with("dev_entries_count", host_devices.len());
    let inside = describe(&inside_modules, Facts::new())
        .with("proc_modules_same_as_host", inside_modules == host_modules)
        .with("dev_entries_count", inside_devices.len())
        .with("dev_same_as_host", inside_devices == host_devices);
    let verdict = Verdict::check(inside_modules == host_modules && inside_devices == host_devices);
    Ok(Observed::new(verdict, host, inside))
}
// ANCHOR_END: modules_and_devices

// ANCHOR: keyrings
/// keyctl(2) operations and special keyring IDs (linux/keyctl.h; not in libc).
const KEYCTL_GET_KEYRING_ID: libc::c_long = 0;
const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;
const KEY_SPEC_SESSION_KEYRING: libc::c_long = -3;
const KEY_SPEC_USER_KEYRING: libc::c_long = -4;

/// The serial number of one of the caller's special keyrings, without
/// creating it (`keyctl show @u` does the same).
fn keyring_id(special: libc::c_long) -> String {
    // SAFETY: keyctl(GET_KEYRING_ID, id, create=0) reads no memory of ours.
    let id = unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_GET_KEYRING_ID, special, 0) };
    match Errno::result(id) {
        Ok(id) => id.to_string(),
        Err(errno) => format!("{errno:?}"),
    }
}

fn keyrings(lab: &Lab) -> Result<Observed> {
    // A new anonymous session keyring, as pam_keyinit makes one at login.
    // SAFETY: a null name asks for an anonymous keyring; no memory is read.
    let joined = unsafe {
        libc::syscall(libc::SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, std::ptr::null::<u8>())
    };
    Errno::result(joined).context("keyctl(KEYCTL_JOIN_SESSION_KEYRING)")?;
    new_time_namespace_for_children(lab)?;
    let read = || -> Result<(String, String)> {
        Ok((keyring_id(KEY_SPEC_SESSION_KEYRING), keyring_id(KEY_SPEC_USER_KEYRING)))
    };
    let but_user = every_namespace(lab) - CloneFlags::CLONE_NEWUSER;
    let (session_a, user_a) = read_inside(lab, but_user, read)?;
    let (session_b, user_b) = read_inside(lab, every_namespace(lab), read)?;
    let (session, user) = read()?;

    let host = Facts::new().with("session_keyring", &session).with("user_keyring", &user);
    let inside = Facts::new()
        .with("all_but_user_ns_session_keyring", &session_a)
        .with("all_but_user_ns_user_keyring", &user_a)
        .with("all_ns_session_keyring", &session_b)
        .with("all_ns_user_keyring", &user_b);
    let verdict = Verdict::check(
        session_a == session && session_b == session && user_a == user && user_b != user,
    );
    Ok(Observed::new(verdict, host, inside))
}
// ANCHOR_END: keyrings
