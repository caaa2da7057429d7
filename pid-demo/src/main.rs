//! # pid-demo: PID namespaces
//!
//! The article (section 二.1) says a container has its own PID numbering, that
//! its first process is PID 1 and acts as its init, and that the host sees
//! and controls every process inside. Each experiment below checks one of
//! those claims with real system calls and prints what the host saw beside
//! what the namespace saw.
//!
//! Read: man 7 pid_namespaces, man 2 clone, man 2 unshare, man 2 setns,
//! man 5 proc (`NSpid`).
//!
//! Run: `cargo run -p pid-demo` (as root or not), `--list`, `--only NAME`,
//! `--control` (the same steps without `CLONE_NEWPID`), `--hold`, `--json`.

use std::fs::File;

use anyhow::{Context, Result};
use lab::{
    Experiment, Facts, Lab, Observed, PidFd, Verdict, clone_child, fork_child, ns, ok_or_errno,
};
use nix::mount::{MsFlags, mount};
use nix::sched::{CloneFlags, setns, unshare};
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, alarm, fork, getpid, getppid, pause};

const EXPERIMENTS: &[Experiment] = &[
    Experiment {
        name: "first-pid-is-1",
        title: "The first process in a new PID namespace is PID 1, with no visible parent",
        claims: &["PID-1", "MECH-2"],
        isolation: true,
        explanation: "clone(CLONE_NEWPID) created the child directly inside a new PID namespace: \
            from its first instruction getpid() returns 1 and getppid() returns 0, because its \
            parent lives in an outer namespace the child cannot name. Its /proc/self/ns/pid link \
            differs from the host's: a new namespace, not a renumbering.",
        run: first_pid_is_1,
    },
    Experiment {
        name: "same-process-two-pids",
        title: "The host's PID for the child and the child's PID 1 are the same process",
        claims: &["PID-2"],
        isolation: true,
        explanation: "The PID that clone() returned to the host, and the PID 1 the child sees, \
            are both listed on the NSpid line of the child's /proc/PID/status: one process, \
            one number per PID namespace it belongs to, outermost first.",
        run: same_process_two_pids,
    },
    Experiment {
        name: "init-adopts-orphans",
        title: "An orphan inside the namespace is re-parented to the namespace's PID 1",
        claims: &["PID-3"],
        isolation: true,
        explanation: "When a process's parent exits, the kernel re-parents it to the init of its \
            own PID namespace, not to the host's init: getppid() in the orphan becomes 1, and the \
            namespace's PID 1 is the one that reaps it with waitpid(). This is why a container's \
            first process must reap zombies (what tini and docker run --init add).",
        run: init_adopts_orphans,
    },
    Experiment {
        name: "init-exit-kills-all",
        title: "When PID 1 exits, the kernel kills the namespace's other processes",
        claims: &["PID-3"],
        isolation: true,
        explanation: "A sleeping process inside was alive until the namespace's PID 1 exited; \
            then the kernel sent SIGKILL to every process left in the namespace, and the \
            namespace took no new members: a fork() after setns() into it fails with ENOMEM. A \
            container ends when its first process ends.",
        run: init_exit_kills_all,
    },
    Experiment {
        name: "no-view-outside",
        title: "Inside, /proc lists only the namespace's processes and host PIDs cannot be signalled",
        claims: &["PID-4"],
        isolation: true,
        explanation: "A procfs mounted inside the namespace (in a private mount namespace, so the \
            host's /proc is untouched) lists only the namespace's own processes. The demo's host \
            PID means nothing in there: kill() on it fails with ESRCH, the same error as for a \
            PID that does not exist. Remounting /proc matters: the host's procfs would still \
            show every process.",
        run: no_view_outside,
    },
    Experiment {
        name: "host-sees-inside",
        title: "The host lists and signals the namespace's processes by their host PIDs",
        claims: &["PID-5"],
        isolation: false,
        explanation: "PID namespaces are one-way glass: every process in a child namespace also \
            has a PID in each ancestor namespace. The host found the namespace's processes in its \
            own /proc and sent one SIGTERM by its host PID; the namespace's init saw it die of \
            that signal. This is how docker kill and docker top reach a container.",
        run: host_sees_inside,
    },
    Experiment {
        name: "init-ignores-signals",
        title: "PID 1 ignores signals from inside that it has no handler for; SIGKILL from the host is obeyed",
        claims: &["PID-6"],
        isolation: true,
        explanation: "The kernel protects a namespace's init: a signal sent from inside the \
            namespace is dropped unless init installed a handler for it, even SIGKILL. From an \
            ancestor namespace SIGKILL (and SIGSTOP) still work. This is why docker stop on a \
            program that does not handle SIGTERM waits ten seconds and then kills it.",
        run: init_ignores_signals,
    },
    Experiment {
        name: "nested-levels",
        title: "Nested PID namespaces: one process has a different PID at each of three levels",
        claims: &["NEST-1"],
        isolation: true,
        explanation: "PID namespaces nest. The innermost process has one PID per level, all listed \
            on its NSpid line as the host reads it. Each level's own procfs lists its processes \
            and those of the levels below it, never those above: level 2 sees fewer processes \
            than level 1, and the host sees them all.",
        run: nested_levels,
    },
    Experiment {
        name: "unshare-pid-stays",
        title: "unshare(CLONE_NEWPID) leaves the caller where it is; only its next child enters",
        claims: &["MECH-1"],
        isolation: true,
        explanation: "The article says unshare() moves the caller into the new namespace. For PID \
            namespaces that is wrong: a process's PID never changes, so after unshare(CLONE_NEWPID) \
            the caller's /proc/self/ns/pid is unchanged and only pid_for_children points to the new \
            namespace. The first child forked afterwards is that namespace's PID 1.",
        run: unshare_pid_stays,
    },
    Experiment {
        name: "ns-links",
        title: "Only the namespace that was unshared differs in /proc/self/ns",
        claims: &["NS-1"],
        isolation: true,
        explanation: "Each /proc/PID/ns link names a namespace by its inode number. A child cloned \
            with CLONE_NEWPID alone has new pid and pid_for_children links and shares every other \
            namespace (mount, network, UTS, ...) with the host: each type is isolated separately.",
        run: ns_links,
    },
    Experiment {
        name: "fresh-each-time",
        title: "Every container start gets a fresh namespace",
        claims: &["LIFE-2"],
        isolation: true,
        explanation: "Two children cloned one after the other with CLONE_NEWPID are in two \
            different PID namespaces (different inode numbers), both unlike the host's: \
            namespaces are created per process tree, never reused. The demo keeps the first \
            namespace open while it makes the second, because an inode number names a namespace \
            only while the namespace exists; a freed number may be given out again.",
        run: fresh_each_time,
    },
];

fn main() -> std::process::ExitCode {
    lab::main(&lab::Demo {
        name: "pid-demo",
        about: "PID namespaces: PID 1 inside, one process with a PID at each level",
        man: "pid_namespaces",
        experiments: EXPERIMENTS,
        makes_own_user_namespaces: false,
    })
}

// ANCHOR: first_pid_is_1
fn first_pid_is_1(lab: &Lab) -> Result<Observed> {
    let mut child = clone_child(lab.isolate(CloneFlags::CLONE_NEWPID), |chan| {
        // The child's first act: look at itself.
        chan.send(
            &Facts::new()
                .with("getpid", getpid().as_raw())
                .with("getppid", getppid().as_raw())
                .with("pid_ns", ns::link(None, "pid")?),
        )?;
        chan.wait_go() // stay alive while the host looks (and with --hold, the reader)
    })?;
    let inside: Facts = child.chan.recv()?;
    let host = Facts::new()
        .with("clone_returned", child.pid.as_raw())
        .with("pid_ns", ns::link(None, "pid")?);
    lab.hold(
        child.pid,
        &[
            format!("grep NSpid /proc/{}/status", child.pid),
            lab.nsenter(child.pid, "-p ls -l /proc/self/ns/pid"),
        ],
    );
    child.chan.go()?;
    child.wait_success()?;

    let verdict = Verdict::check(
        inside.int("getpid") == Some(1)
            && inside.int("getppid") == Some(0)
            && inside.get("pid_ns") != host.get("pid_ns"),
    );
    Ok(Observed::new(verdict, host, inside))
}
// ANCHOR_END: first_pid_is_1

// ANCHOR: same_process_two_pids
fn same_process_two_pids(lab: &Lab) -> Result<Observed> {
    let mut child = clone_child(lab.isolate(CloneFlags::CLONE_NEWPID), |chan| {
        // /proc is still the host's procfs here, so NSpid starts at the host's level.
        chan.send(&Facts::new().with("getpid", getpid().as_raw()).with("nspid", ns::nspid(None)?))
    })?;
    let inside: Facts = child.chan.recv()?;
    let host = Facts::new()
        .with("clone_returned", child.pid.as_raw())
        .with("nspid", ns::nspid(Some(child.pid))?);
    child.wait_success()?;

    let nspid = inside.ints("nspid");
    let verdict = Verdict::check(
        nspid == [child.pid.as_raw() as i64, 1]
            && inside.int("getpid") == Some(1)
            && host.ints("nspid") == nspid,
    );
    Ok(Observed::new(verdict, host, inside))
}
// ANCHOR_END: same_process_two_pids

// ANCHOR: init_adopts_orphans
fn init_adopts_orphans(lab: &Lab) -> Result<Observed> {
    let mut init = clone_child(lab.isolate(CloneFlags::CLONE_NEWPID), |chan| {
        // PID 1 forks a middle process, which forks the future orphan and exits.
        let mut middle = fork_child(|_| {
            let mut orphan = fork_child(|c| {
                // This one must outlive its parent: drop the "die with my
                // parent" signal every lab child starts with.
                nix::sys::prctl::set_pdeathsig(None)?;
                let first_parent = getppid();
                c.go()?; // tell the middle process it may exit now
                // Wait (at most 2 s) for the kernel to re-parent us.
                for _ in 0..2000 {
                    if getppid() != first_parent {
                        break;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
                chan.send(
                    &Facts::new()
                        .with("orphan_pid", getpid().as_raw())
                        .with("parent_before", first_parent.as_raw())
                        .with("parent_after", getppid().as_raw()),
                )
            })?;
            orphan.chan.wait_go()?;
            orphan.leave(); // exit without waiting: that is what makes it an orphan
            Ok(())
        })?;
        middle.wait_success()?;
        chan.wait_go()?; // the host has the orphan's report: it is exiting now
        // The orphan is now our child: reap it as an init must.
        let reaped = match waitpid(None, None) {
            Ok(status) => status.pid().map_or(0, Pid::as_raw).to_string(),
            Err(errno) => format!("{errno:?} (the orphan is not our child)"),
        };
        chan.send(&reaped)
    })?;
    let mut inside: Facts = init.chan.recv()?; // sent by the orphan
    init.chan.go()?;
    let reaped: String = init.chan.recv()?;
    inside.set("reaped_by_this_init", &reaped);
    init.wait_success()?;

    let host = Facts::new().with("init_host_pid", init.pid.as_raw());
    let orphan = inside.int("orphan_pid").map(|p| p.to_string());
    let verdict = Verdict::check(
        inside.int("parent_after") == Some(1) && orphan.as_deref() == Some(reaped.as_str()),
    );
    Ok(Observed::new(verdict, host, inside))
}
// ANCHOR_END: init_adopts_orphans

// ANCHOR: init_exit_kills_all
fn init_exit_kills_all(lab: &Lab) -> Result<Observed> {
    let mut init = clone_child(lab.isolate(CloneFlags::CLONE_NEWPID), |chan| {
        let mut sleeper = fork_child(|c| {
            // Only the kernel may end this one: no "die with my parent" signal.
            nix::sys::prctl::set_pdeathsig(None)?;
            c.send(&ns::nspid(None)?)?;
            alarm::set(10); // never outlive the demo by more than 10 s
            pause();
            Ok(())
        })?;
        let sleeper_nspid: Vec<i32> = sleeper.chan.recv()?;
        sleeper.leave(); // PID 1 exits without waiting for it
        chan.send(&sleeper_nspid)?;
        chan.wait_go()
    })?;
    let sleeper_nspid: Vec<i32> = init.chan.recv()?;
    let sleeper = Pid::from_raw(sleeper_nspid[0]); // its PID as the host sees it
    // A pidfd names this very process: the PID number could be reused once it is gone.
    let sleeper_fd = PidFd::open(sleeper)?;
    let alive_before = sleeper_fd.signal(None).is_ok();
    // Keep a handle on the namespace so we can try to enter it after init is gone.
    let pid_ns =
        File::open(format!("/proc/{}/ns/pid", init.pid)).context("open /proc/PID/ns/pid")?;

    lab.hold(init.pid, &[format!("ps -o pid,ppid,cmd --ppid {}", init.pid)]);
    init.chan.go()?; // let PID 1 exit
    init.wait_success()?;
    let alive_after = sleeper_fd.signal(None).is_ok();
    if alive_after {
        let _ = sleeper_fd.signal(Some(Signal::SIGKILL)); // control run: we started it, we end it
    }

    // Try to put a new process into the namespace whose init has exited.
    let mut prober = fork_child(|chan| {
        setns(&pid_ns, CloneFlags::CLONE_NEWPID).context("setns(CLONE_NEWPID)")?;
        // SAFETY: this prober is single-threaded (a fork_child of its own),
        // and the child only calls _exit, which is async-signal-safe.
        let fork_result = match unsafe { fork() } {
            // SAFETY: _exit ends the child at once, without running this
            // process's atexit handlers or flushing buffers it shares.
            Ok(ForkResult::Child) => unsafe { libc::_exit(0) },
            Ok(ForkResult::Parent { child }) => waitpid(child, None).map(|_| ()),
            Err(errno) => Err(errno),
        };
        chan.send(&ok_or_errno(&fork_result))
    })?;
    let fork_after = prober.chan.recv::<String>().unwrap_or_else(|e| format!("{e:#}"));
    let _ = prober.wait();

    let host = Facts::new()
        .with("sleeper_host_pid", sleeper.as_raw())
        .with("sleeper_alive_before_init_exit", alive_before)
        .with("sleeper_alive_after_init_exit", alive_after)
        .with("fork_into_namespace_after", &fork_after);
    let inside = Facts::new().with("sleeper_nspid", &sleeper_nspid);
    let verdict = Verdict::check(alive_before && !alive_after && fork_after == "ENOMEM");
    Ok(Observed::new(verdict, host, inside))
}
// ANCHOR_END: init_exit_kills_all

// ANCHOR: no_view_outside
fn no_view_outside(lab: &Lab) -> Result<Observed> {
    let demo_pid = getpid(); // our PID, as the host knows it
    let host_count = ns::pids_in("/proc")?.len();
    // A private mount namespace too, so the new /proc never shows on the host.
    let flags = lab.isolate(CloneFlags::CLONE_NEWPID) | CloneFlags::CLONE_NEWNS;
    let mut child = clone_child(flags, |chan| {
        mount(None::<&str>, "/", None::<&str>, MsFlags::MS_REC | MsFlags::MS_PRIVATE, None::<&str>)
            .context("mount(MS_REC|MS_PRIVATE) on /")?;
        let proc_flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
        mount(Some("proc"), "/proc", Some("proc"), proc_flags, None::<&str>)
            .context("mount proc on /proc")?;
        chan.send(
            &Facts::new()
                .with("proc_lists", ns::pids_in("/proc")?)
                .with("kill(demo_host_pid, 0)", ok_or_errno(&kill(demo_pid, None))),
        )?;
        chan.wait_go()
    })?;
    let inside: Facts = child.chan.recv()?;
    lab.hold(
        child.pid,
        &[
            lab.nsenter(child.pid, "-p -m ls /proc"),
            format!("ls /proc | wc -l   # on the host: {host_count} entries"),
        ],
    );
    child.chan.go()?;
    child.wait_success()?;

    let host =
        Facts::new().with("demo_host_pid", demo_pid.as_raw()).with("proc_lists_count", host_count);
    let verdict = Verdict::check(
        inside.ints("proc_lists") == [1] && inside.text("kill(demo_host_pid, 0)") == Some("ESRCH"),
    );
    Ok(Observed::new(verdict, host, inside))
}
// ANCHOR_END: no_view_outside

// ANCHOR: host_sees_inside
fn host_sees_inside(lab: &Lab) -> Result<Observed> {
    let mut init = clone_child(lab.isolate(CloneFlags::CLONE_NEWPID), |chan| {
        let mut sleepers = Vec::new();
        for _ in 0..2 {
            let mut sleeper = fork_child(|c| {
                c.send(&ns::nspid(None)?)?;
                alarm::set(10);
                pause();
                Ok(())
            })?;
            let nspid: Vec<i32> = sleeper.chan.recv()?;
            sleepers.push((sleeper, nspid));
        }
        let nspids: Vec<&Vec<i32>> = sleepers.iter().map(|(_, n)| n).collect();
        chan.send(&nspids)?;
        chan.wait_go()?; // the host signals the first sleeper now
        let mut ended_by = Vec::new();
        for (mut sleeper, _) in sleepers {
            let _ = kill(sleeper.pid, Signal::SIGKILL); // no effect if the host already killed it
            ended_by.push(match sleeper.wait()? {
                WaitStatus::Signaled(_, signal, _) => signal.as_str().to_owned(),
                other => format!("{other:?}"),
            });
        }
        chan.send(&ended_by)
    })?;
    let nspids: Vec<Vec<i32>> = init.chan.recv()?;
    let host_pids: Vec<i32> = nspids.iter().map(|n| n[0]).collect();
    // The host reads the namespace's processes in its own /proc ...
    let seen: Vec<Vec<i32>> =
        host_pids.iter().map(|p| ns::nspid(Some(Pid::from_raw(*p))).unwrap_or_default()).collect();
    lab.hold(init.pid, &[format!("ps -o pid,ppid,cmd --ppid {}", init.pid)]);
    // ... and signals the first one by its host PID.
    let sigterm = kill(Pid::from_raw(host_pids[0]), Signal::SIGTERM);
    init.chan.go()?;
    let ended_by: Vec<String> = init.chan.recv()?;
    init.wait_success()?;

    let host = Facts::new()
        .with("host_pids_found", &host_pids)
        .with("kill(first, SIGTERM)", ok_or_errno(&sigterm));
    let inside = Facts::new()
        .with("nspid_of_each", nspids.iter().map(|n| nspid_text(n)).collect::<Vec<_>>())
        .with("first_ended_by", &ended_by[0]);
    let verdict = Verdict::check(seen == nspids && sigterm.is_ok() && ended_by[0] == "SIGTERM");
    Ok(Observed::new(verdict, host, inside))
}

/// An NSpid list as `(4242 2)`: outermost PID first.
fn nspid_text(nspid: &[i32]) -> String {
    let pids: Vec<String> = nspid.iter().map(i32::to_string).collect();
    format!("({})", pids.join(" "))
}
// ANCHOR_END: host_sees_inside

// ANCHOR: init_ignores_signals
fn init_ignores_signals(lab: &Lab) -> Result<Observed> {
    let mut init = clone_child(lab.isolate(CloneFlags::CLONE_NEWPID), |chan| {
        // No signal handlers are installed: SIGTERM's default action would kill us.
        let mut sender = fork_child(|_| {
            let init = getppid(); // PID 1, seen from inside
            let _ = kill(init, Signal::SIGTERM);
            let _ = kill(init, Signal::SIGKILL);
            Ok(())
        })?;
        sender.wait_success()?;
        chan.send(&"alive")?;
        chan.wait_go()?; // wait for the host's SIGKILL
        Ok(())
    })?;
    let after_inside_signals = init.chan.recv::<String>().unwrap_or_else(|_| "dead".into());
    lab.hold(
        init.pid,
        &[format!(
            "kill -TERM {}   # from the host: no handler, but the host's SIGKILL works",
            init.pid
        )],
    );
    let sigkill = kill(init.pid, Signal::SIGKILL);
    let ended_by = match init.wait()? {
        WaitStatus::Signaled(_, signal, _) => signal.as_str().to_owned(),
        other => format!("{other:?}"),
    };

    let inside = Facts::new()
        .with("signals_sent_to_init_from_inside", ["SIGTERM", "SIGKILL"])
        .with("init_after_them", &after_inside_signals);
    let host = Facts::new()
        .with("kill(init, SIGKILL)", ok_or_errno(&sigkill))
        .with("init_ended_by", &ended_by);
    let verdict = Verdict::check(after_inside_signals == "alive" && ended_by == "SIGKILL");
    Ok(Observed::new(verdict, host, inside))
}
// ANCHOR_END: init_ignores_signals

// ANCHOR: nested_levels
fn nested_levels(lab: &Lab) -> Result<Observed> {
    let newpid = lab.isolate(CloneFlags::CLONE_NEWPID);
    let mut level1 = clone_child(newpid | CloneFlags::CLONE_NEWNS, |to_host| {
        make_root_private()?;
        let mut level2 = clone_child(newpid | CloneFlags::CLONE_NEWNS, |to_level1| {
            make_root_private()?;
            // The innermost process reads its NSpid while /proc is still the host's.
            let mut innermost = fork_child(|c| {
                c.send(&ns::nspid(None)?)?;
                c.wait_go()
            })?;
            let nspid: Vec<i32> = innermost.chan.recv()?;
            mount_proc()?;
            to_level1.send(&(nspid, ns::pids_in("/proc")?))?;
            to_level1.wait_go()?;
            innermost.chan.go()?;
            innermost.wait_success()
        })?;
        let (nspid, level2_sees): (Vec<i32>, Vec<i32>) = level2.chan.recv()?;
        mount_proc()?; // only now: level 2 must not inherit this procfs
        to_host.send(&(nspid, ns::pids_in("/proc")?, level2_sees))?;
        to_host.wait_go()?;
        level2.chan.go()?;
        level2.wait_success()
    })?;
    let (nspid, level1_sees, level2_sees): (Vec<i32>, Vec<i32>, Vec<i32>) = level1.chan.recv()?;
    let innermost = Pid::from_raw(nspid[0]);
    let host_reads = ns::nspid(Some(innermost))?;
    lab.hold(
        level1.pid,
        &[
            format!("grep NSpid /proc/{innermost}/status"),
            lab.nsenter(level1.pid, "-p -m ls /proc"),
        ],
    );
    level1.chan.go()?;
    level1.wait_success()?;

    let host = Facts::new()
        .with("innermost_host_pid", innermost.as_raw())
        .with("innermost_nspid", &host_reads);
    let inside = Facts::new()
        .with("level_1_proc_lists", &level1_sees)
        .with("level_2_proc_lists", &level2_sees);
    let distinct =
        host_reads.len() == 3 && host_reads[0] != host_reads[1] && host_reads[1] != host_reads[2];
    let verdict =
        Verdict::check(distinct && level2_sees.len() < level1_sees.len() && level1_sees.len() == 3);
    Ok(Observed::new(verdict, host, inside))
}

/// Mounts made below stay in this mount namespace (systemd makes `/` shared).
fn make_root_private() -> Result<()> {
    mount(None::<&str>, "/", None::<&str>, MsFlags::MS_REC | MsFlags::MS_PRIVATE, None::<&str>)
        .context("mount(MS_REC|MS_PRIVATE) on /")
}

/// A procfs that shows the PID namespace of the caller.
fn mount_proc() -> Result<()> {
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    mount(Some("proc"), "/proc", Some("proc"), flags, None::<&str>).context("mount proc on /proc")
}
// ANCHOR_END: nested_levels

// ANCHOR: unshare_pid_stays
fn unshare_pid_stays(lab: &Lab) -> Result<Observed> {
    let mut caller = fork_child(|chan| {
        let before = Facts::new()
            .with("host_pid", getpid().as_raw()) // getpid(): we are in the host's namespace
            .with("pid", ns::link(None, "pid")?)
            .with("pid_for_children", ns::link(None, "pid_for_children")?);
        unshare(lab.isolate(CloneFlags::CLONE_NEWPID)).context("unshare(CLONE_NEWPID)")?;
        let mut after = Facts::new()
            .with("host_pid", getpid().as_raw())
            .with("pid", ns::link(None, "pid")?)
            // The new namespace has no process yet: readlink fails with ENOENT.
            .with(
                "pid_for_children",
                ns::link(None, "pid_for_children").unwrap_or_else(|_| "none yet".into()),
            );
        let mut first_child = fork_child(|c| {
            c.send(
                &Facts::new().with("getpid", getpid().as_raw()).with("pid", ns::link(None, "pid")?),
            )?;
            c.wait_go()
        })?;
        let child: Facts = first_child.chan.recv()?;
        after.set("pid_for_children_after_fork", ns::link(None, "pid_for_children")?);
        first_child.chan.go()?;
        first_child.wait_success()?;
        chan.send(&(before, after, child))
    })?;
    let (before, after, child): (Facts, Facts, Facts) = caller.chan.recv()?;
    caller.wait_success()?;

    let caller_stayed =
        before.get("pid") == after.get("pid") && before.get("host_pid") == after.get("host_pid");
    let child_entered = child.int("getpid") == Some(1)
        && child.get("pid") != before.get("pid")
        && child.get("pid") == after.get("pid_for_children_after_fork");
    let host = prefixed("caller_before_", &before);
    let mut inside = prefixed("caller_after_", &after);
    inside.extend(prefixed("first_child_", &child));
    let verdict = Verdict::check(caller_stayed && child_entered);
    Ok(Observed::new(verdict, host, inside))
}

fn prefixed(prefix: &str, facts: &Facts) -> Facts {
    facts.iter().fold(Facts::new(), |all, (key, value)| all.with(&format!("{prefix}{key}"), value))
}
// ANCHOR_END: unshare_pid_stays

// ANCHOR: ns_links
fn ns_links(lab: &Lab) -> Result<Observed> {
    let mut child =
        clone_child(lab.isolate(CloneFlags::CLONE_NEWPID), |chan| chan.send(&ns::links(None)))?;
    let inside: Vec<(String, String)> = child.chan.recv()?;
    child.wait_success()?;

    let mine = ns::links(None);
    let differ: Vec<&str> = mine
        .iter()
        .zip(&inside)
        .filter(|((_, host_link), (_, child_link))| host_link != child_link)
        .map(|((kind, _), _)| *kind)
        .collect();
    let host = mine.iter().fold(Facts::new(), |f, (kind, link)| f.with(kind, link));
    let mut namespace = inside.iter().fold(Facts::new(), |f, (kind, link)| f.with(kind, link));
    namespace.set("differ_from_host", &differ);
    let verdict = Verdict::check(differ == ["pid", "pid_for_children"]);
    Ok(Observed::new(verdict, host, namespace))
}
// ANCHOR_END: ns_links

// ANCHOR: fresh_each_time
fn fresh_each_time(lab: &Lab) -> Result<Observed> {
    let mut seen = Vec::new();
    // An inode number names a namespace only while it exists: once freed, the
    // number may be handed out again. Holding each namespace open (an fd of
    // /proc/PID/ns/pid) keeps it alive, so equal numbers would mean "same".
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut child = clone_child(lab.isolate(CloneFlags::CLONE_NEWPID), |chan| {
            chan.send(&ns::link(None, "pid")?)?;
            chan.wait_go()
        })?;
        seen.push(child.chan.recv::<String>()?);
        let path = format!("/proc/{}/ns/pid", child.pid);
        held.push(File::open(&path).with_context(|| format!("open {path}"))?);
        child.chan.go()?;
        child.wait_success()?;
    }
    let host_ns = ns::link(None, "pid")?;
    let host = Facts::new().with("pid_ns", &host_ns);
    let inside =
        Facts::new().with("first_run_pid_ns", &seen[0]).with("second_run_pid_ns", &seen[1]);
    let verdict = Verdict::check(seen[0] != seen[1] && !seen.contains(&host_ns));
    Ok(Observed::new(verdict, host, inside))
}
// ANCHOR_END: fresh_each_time
