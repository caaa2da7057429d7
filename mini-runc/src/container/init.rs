//! The container's first process, once the container is set up: it
//! becomes the user's command, or with `--init` a reaper that forks it.
//!
//! As under Docker and runc, the command *is* PID 1 of its PID namespace:
//! this process waits for `start` (an OCI `create`), runs the bundle's
//! startContainer hooks, and then `execve`s the command in place
//! (`process.rs`). The parent (mini-docker, the monitor of `run -d`, or
//! the mini-runc binary) waits for it, so the command's status is the
//! container's, and its signals go to it.
//!
//! PID 1 is special (pid_namespaces(7)): orphans are re-parented to it and
//! must be reaped, or they stay zombies; the kernel delivers to it only
//! the signals it has a handler for (a shell as PID 1 shrugs off SIGTERM);
//! when it exits, every other process in the namespace is killed. A
//! command that was not written to be PID 1 can ask for `--init`
//! (`docker run --init`, whose `docker-init` is tini): then this process
//! stays, as a small reaper, forks the command (PID 2), forwards every
//! signal it is sent to it, reaps whatever ends, and exits with the
//! command's status.
//!
//! It imports `container/`'s `Config`, `process.rs`, `signals.rs` and
//! `start_report.rs`: nothing that imports it back.

use std::os::fd::{AsRawFd, OwnedFd};

use nix::errno::Errno;
use nix::sys::signal::{SigSet, SigmaskHow, Signal, sigprocmask};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork};

use crate::container::hook_programs::{self, Hook};
use crate::container::process::{self, Confinement, Process, Stdio};
use crate::container::{Config, start_report};
use crate::error::{EXIT_RUNTIME, program};

/// Waits for `start` (`exec_fifo`), runs the startContainer hooks, then
/// becomes the command, or (`--init`) forks it and reaps until it ends;
/// returns only with an exit status (the reaper's, or a failure before
/// the command).
// ANCHOR: init
/// `start_hooks`: an OCI bundle's startContainer hooks and the state JSON
/// they get.
pub fn run(
    cfg: &Config,
    slave: Option<OwnedFd>,
    exec_fifo: Option<OwnedFd>,
    start_hooks: Option<(&[Hook], String)>,
) -> u8 {
    // Not after an OCI `create`, whose caller exits at once: the command
    // dies with the process that waits for it. (Set again here: becoming
    // the namespace's root may have changed our UID, which clears it,
    // prctl(2); the command sets it once more after its own switch.)
    let die_with_parent = exec_fifo.is_none();
    if die_with_parent {
        // SAFETY: prctl with integer arguments only.
        unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0) };
    }
    if exec_fifo.is_some() && slave.is_some() {
        // OCI `create` with a terminal: the command will have the pty, and
        // the stdio `create` was given must not stay open while this
        // process waits for `start` (a client such as containerd's shim
        // reads it to its end first).
        release_stdio();
    }
    // OCI `create`: wait for `start` before the command exists.
    if let Some(fifo) = exec_fifo
        && let Err(e) = wait_for_start(fifo)
    {
        say_err!("{}: waiting for start: {e}", program());
        return EXIT_RUNTIME;
    }
    // The bundle's startContainer hooks: in the container (its namespaces,
    // its root: the paths resolve there), after `start`, before the
    // command; a failure stops the container (runtime.md, "Lifecycle").
    if let Some((hooks, state)) = start_hooks {
        let created = hook_programs::with_status(&state, "created");
        if let Err(e) = hook_programs::run_all("hooks.startContainer", hooks, &created) {
            say_err!("{}: {e}", program());
            return EXIT_RUNTIME;
        }
    }
    // run -d: tell the waiting foreground that the command starts now; the
    // command's execve will close the report's last write end.
    start_report::starting();
    if !cfg.init {
        // The command, as PID 1: this process becomes it, or exits with
        // one line and Docker's code for what failed.
        process::exec(&command_process(cfg, slave.as_ref(), die_with_parent));
    }
    reap(cfg, slave)
}
// ANCHOR_END: init

// ANCHOR: reaper
/// `--init`: forks the command and stays as PID 1, forwarding signals to
/// it and reaping every process that ends, until the command ends; returns
/// its status (128 + N when killed by signal N, as a shell shows it).
fn reap(cfg: &Config, slave: Option<OwnedFd>) -> u8 {
    // Every signal that can be caught is blocked and collected with
    // sigwait, so it reaches the command whatever it is (a blocked signal
    // is never dropped, even for a PID 1 without a handler, see signal(7)
    // and pid_namespaces(7)); the faults stay the reaper's own.
    let waited = forwardable();
    let _ = sigprocmask(SigmaskHow::SIG_BLOCK, Some(&waited), None);
    // Without a PID namespace of its own (--pid host or container:NAME)
    // the reaper is not PID 1: as a subreaper it still gets the orphans of
    // its descendants (prctl(2), PR_SET_CHILD_SUBREAPER).
    // SAFETY: prctl with integer arguments only.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    // SAFETY: the container's first process has one thread (it was cloned
    // from a process with no other thread and starts none), so the child's
    // copy of memory holds no lock another thread took: it may allocate,
    // as `process::exec` does, before `execve` or `_exit`.
    let command = match unsafe { fork() } {
        // Without a PID namespace of its own the reaper's end does not take
        // the command with it (pid_namespaces(7)): it asks for that.
        Ok(ForkResult::Child) => {
            process::exec(&command_process(cfg, slave.as_ref(), !cfg.namespaces.pid))
        }
        Ok(ForkResult::Parent { child }) => child,
        Err(errno) => {
            say_err!("{}: fork the command: {errno}", program());
            start_report::failed(EXIT_RUNTIME);
            return EXIT_RUNTIME;
        }
    };
    start_report::close(); // only the command holds it now
    drop(slave); // only the command holds the terminal now
    // From here on the reaper only waits, as long as the container runs.
    process::release_unused_memory();
    loop {
        // sigwait(3) itself, not nix's: nix names no real-time signal, and
        // those are forwarded too.
        let mut sig = 0;
        // SAFETY: a valid signal set and a place for the number.
        if unsafe { libc::sigwait(waited.as_ref(), &mut sig) } != 0 {
            return EXIT_RUNTIME;
        }
        if sig != libc::SIGCHLD {
            // SAFETY: kill(2) with a PID and a signal number.
            unsafe { libc::kill(command.as_raw(), sig) };
            continue;
        }
        if let Some(status) = reap_all(command) {
            return status;
        }
    }
}
// ANCHOR_END: reaper

/// Every signal but SIGKILL and SIGSTOP (which cannot be blocked) and the
/// faults the kernel raises for the reaper's own mistakes (SIGSEGV and the
/// like: blocking them is undefined, see sigprocmask(2)).
fn forwardable() -> SigSet {
    let faults = [libc::SIGSEGV, libc::SIGBUS, libc::SIGILL, libc::SIGFPE, libc::SIGTRAP];
    let mut set = SigSet::all();
    for sig in faults.into_iter().chain([libc::SIGKILL, libc::SIGSTOP, libc::SIGSYS]) {
        if let Ok(sig) = Signal::try_from(sig) {
            set.remove(sig);
        }
    }
    set
}

// ANCHOR: exec-fifo
/// Blocks until `mini-runc start` opens the exec fifo for reading, then
/// writes one byte for it to read. Opening a FIFO for writing blocks until
/// it has a reader (fifo(7)); the O_PATH handle is reopened for writing
/// through `/proc/self/fd`, since the fifo's own path is on the host.
fn wait_for_start(fifo: OwnedFd) -> Result<(), Errno> {
    let path = format!("/proc/self/fd/{}", fifo.as_raw_fd());
    let flags = nix::fcntl::OFlag::O_WRONLY | nix::fcntl::OFlag::O_CLOEXEC;
    let writer = nix::fcntl::open(path.as_str(), flags, nix::sys::stat::Mode::empty())?;
    nix::unistd::write(&writer, b"0")?;
    Ok(())
}
// ANCHOR_END: exec-fifo

/// Points init's stdin, stdout and stderr at /dev/null.
fn release_stdio() {
    if let Ok(null) = std::fs::OpenOptions::new().read(true).write(true).open("/dev/null") {
        for fd in 0..3 {
            // SAFETY: dup2 on two valid descriptors.
            unsafe { libc::dup2(null.as_raw_fd(), fd) };
        }
    }
}

/// Reaps every child that has ended (the command, or orphans re-parented
/// to us); returns the command's status once it has ended.
// ANCHOR: reap
fn reap_all(command: Pid) -> Option<u8> {
    let mut status = None;
    loop {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) if pid == command => status = Some(code as u8),
            Ok(WaitStatus::Signaled(pid, sig, _)) if pid == command => {
                status = Some(128 + sig as u8)
            }
            Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => return status,
            Ok(_) | Err(Errno::EINTR) => {}
            Err(_) => return status,
        }
    }
}
// ANCHOR_END: reap

/// The command's process, as [`process::exec`] makes it: the container's
/// user, directory and environment, and the confinement the container's
/// first process took already (see security/mod.rs).
fn command_process<'a>(
    cfg: &'a Config,
    slave: Option<&'a OwnedFd>,
    die_with_parent: bool,
) -> Process<'a> {
    let stdio = match slave {
        Some(slave) => Stdio::Terminal(slave),
        None if cfg.interactive => Stdio::Inherited,
        None => Stdio::NullStdin,
    };
    Process {
        args: &cfg.command,
        env: &cfg.env,
        cwd: &cfg.workdir,
        uid: cfg.user.0,
        gid: cfg.user.1,
        additional_gids: &cfg.additional_gids,
        may_set_groups: !cfg.namespaces.user.as_ref().is_some_and(|m| m.single()),
        umask: None,
        stdio,
        security: &cfg.security,
        confinement: Confinement::Started,
        die_with_parent,
        // Not dumpable already (confine_init), and a fork inherits it.
        not_dumpable: false,
    }
}
