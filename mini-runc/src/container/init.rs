//! A minimal init, the container's PID 1 (what `docker run --init` adds).
//!
//! PID 1 is special (pid_namespaces(7)): orphans are re-parented to it and
//! must be reaped, or they stay zombies; the kernel delivers to it only the
//! signals it has asked for; when it exits, every other process in the
//! namespace is killed. So the command does not run as PID 1: init forks
//! it (PID 2), forwards the signals mini-docker passes on, reaps whatever
//! ends, and exits with the command's status when the command ends.
//!
//! The command's process becomes what it runs through `process.rs`, the
//! path `exec` takes too. It imports `container/`'s `Config`,
//! `process.rs`, `signals.rs` and `start_report.rs`: nothing that imports
//! it back.

use std::os::fd::{AsRawFd, OwnedFd};

use nix::errno::Errno;
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork};

use crate::container::hook_programs::{self, Hook};
use crate::container::process::{self, Confinement, Process, Stdio};
use crate::container::signals::waited_signals;
use crate::container::{Config, start_report};
use crate::error::{EXIT_RUNTIME, program};

/// Starts the command (on the pty's `slave` with `-t`) and waits for it;
/// returns its exit status.
// ANCHOR: init
/// `start_hooks`: an OCI bundle's startContainer hooks and the state JSON
/// they get.
pub fn run(
    cfg: &Config,
    slave: Option<OwnedFd>,
    exec_fifo: Option<OwnedFd>,
    start_hooks: Option<(&[Hook], String)>,
) -> u8 {
    let waited = waited_signals(); // already blocked: inherited from mini-docker
    if exec_fifo.is_some() && slave.is_some() {
        // OCI `create` with a terminal: the command will have the pty, and
        // the stdio `create` was given must not stay open in init (a client
        // such as containerd's shim reads it to its end before `start`).
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
    // SAFETY: init has one thread (it was cloned from a process with no
    // other thread and starts none), so the child's copy of memory holds no
    // lock another thread took: it may allocate, as `process::exec` does,
    // before `execve` or `_exit`.
    let command = match unsafe { fork() } {
        Ok(ForkResult::Child) => process::exec(&command_process(cfg, slave.as_ref())),
        Ok(ForkResult::Parent { child }) => child,
        Err(errno) => {
            say_err!("{}: fork the command: {errno}", program());
            start_report::failed(EXIT_RUNTIME);
            return EXIT_RUNTIME;
        }
    };
    start_report::close(); // only the command holds it now
    drop(slave); // only the command holds the terminal now
    loop {
        let Ok(sig) = waited.wait() else { return EXIT_RUNTIME };
        if sig != Signal::SIGCHLD {
            let _ = kill(command, sig);
            continue;
        }
        if let Some(status) = reap_all(command) {
            return status;
        }
    }
}
// ANCHOR_END: init

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

/// The command's process (PID 2), as [`process::exec`] makes it: the
/// container's user, directory and environment, and the confinement init
/// left for it to take (see security/mod.rs).
fn command_process<'a>(cfg: &'a Config, slave: Option<&'a OwnedFd>) -> Process<'a> {
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
        confinement: Confinement::ForkedByInit,
        // Without a PID namespace of its own (--pid host or container:NAME)
        // init is not PID 1 there, and its end does not take the command
        // with it (pid_namespaces(7)): ask for it.
        die_with_parent: !cfg.namespaces.pid,
        // Init is not dumpable already (confine_init), and a fork inherits it.
        not_dumpable: false,
    }
}
