//! A minimal init, the container's PID 1 (what `docker run --init` adds).
//!
//! PID 1 is special (pid_namespaces(7)): orphans are re-parented to it and
//! must be reaped, or they stay zombies; the kernel delivers to it only the
//! signals it has asked for; when it exits, every other process in the
//! namespace is killed. So the command does not run as PID 1: init forks
//! it (PID 2), forwards the signals mini-docker passes on, reaps whatever
//! ends, and exits with the command's status when the command ends.
//!
//! It imports `container/`'s `Config`, `signals.rs`, `start_report.rs` and
//! `tty.rs`, and `security/`: nothing that imports it back.

use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

use nix::errno::Errno;
use nix::sys::signal::{SigSet, SigmaskHow, Signal, kill, sigprocmask};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{ForkResult, Gid, Pid, Uid, execve, fork, setgroups, setresgid, setresuid};

use crate::container::hook_programs::{self, Hook};
use crate::container::signals::waited_signals;
use crate::container::{Config, start_report, tty};
use crate::error::EXIT_RUNTIME;

/// Docker's codes for a command that cannot be run.
const EXIT_CANNOT_INVOKE: i32 = 126;
const EXIT_NOT_FOUND: i32 = 127;

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

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
        say_err!("mini-runc: waiting for start: {e}");
        return EXIT_RUNTIME;
    }
    // The bundle's startContainer hooks: in the container (its namespaces,
    // its root: the paths resolve there), after `start`, before the
    // command; a failure stops the container (runtime.md, "Lifecycle").
    if let Some((hooks, state)) = start_hooks {
        let created = hook_programs::with_status(&state, "created");
        if let Err(e) = hook_programs::run_all("hooks.startContainer", hooks, &created) {
            say_err!("mini-runc: {e}");
            return EXIT_RUNTIME;
        }
    }
    // run -d: tell the waiting foreground that the command starts now; the
    // command's execve will close the report's last write end.
    start_report::starting();
    // SAFETY: init has one thread (it was cloned from a process with no
    // other thread and starts none), so the child's copy of memory holds no
    // lock another thread took: it may allocate, as `exec_command` does,
    // before `execve` or `_exit`.
    let command = match unsafe { fork() } {
        Ok(ForkResult::Child) => exec_command(cfg, slave.as_ref()),
        Ok(ForkResult::Parent { child }) => child,
        Err(errno) => {
            say_err!("mini-docker: fork the command: {errno}");
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

/// In the command's process (PID 2): restore the signal mask, drop to the
/// requested user, and `execve` the command. Never returns.
fn exec_command(cfg: &Config, slave: Option<&OwnedFd>) -> ! {
    // A fresh start for signals: nothing blocked, every disposition the
    // default. mini-docker's caller may have ignored SIGINT (a background
    // job), and Rust ignores SIGPIPE; neither belongs to the command.
    let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
    for sig in 1..libc::SIGRTMIN() {
        // SAFETY: setting a default disposition (fails harmlessly for
        // SIGKILL and SIGSTOP).
        unsafe { libc::signal(sig, libc::SIG_DFL) };
    }
    if !cfg.namespaces.pid {
        // Without a PID namespace of its own (--pid host or container:NAME)
        // init is not PID 1 there, and its end does not take the command
        // with it (pid_namespaces(7)): ask for it.
        // SAFETY: prctl with integer arguments only.
        unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0) };
    }
    if let Some(slave) = slave {
        if let Err(e) = tty::become_terminal(slave) {
            fail(EXIT_RUNTIME.into(), &format!("making the pty the controlling terminal: {e}"));
        }
    } else if !cfg.interactive {
        // Like `docker run` without -i: the command reads an empty stdin.
        if let Ok(null) = std::fs::File::open("/dev/null") {
            // SAFETY: dup2 on two valid descriptors.
            unsafe { libc::dup2(null.as_raw_fd(), 0) };
        }
    }
    let (uid, gid) = cfg.user;
    if (uid, gid) != (0, 0) {
        let single_id = cfg.namespaces.user.as_ref().is_some_and(|m| m.single());
        let gid = Gid::from_raw(gid);
        if !single_id && let Err(e) = setgroups(&[gid]) {
            fail(EXIT_RUNTIME.into(), &format!("setgroups([{gid}]): {e}"));
        }
        if let Err(e) = setresgid(gid, gid, gid) {
            fail(EXIT_RUNTIME.into(), &format!("setresgid({gid}): {e} (is it mapped?)"));
        }
        let uid = Uid::from_raw(uid);
        if let Err(e) = setresuid(uid, uid, uid) {
            fail(EXIT_RUNTIME.into(), &format!("setresuid({uid}): {e} (is it mapped?)"));
        }
    }
    if let Err(e) = std::env::set_current_dir(&cfg.workdir) {
        fail(EXIT_CANNOT_INVOKE, &format!("chdir({:?}): {e}", cfg.workdir));
    }
    let program = &cfg.command[0];
    let path = find_program(program, &cfg.env);
    let cstr = |s: &str| CString::new(s).unwrap_or_default();
    let args: Vec<CString> = cfg.command.iter().map(|a| cstr(a)).collect();
    let env: Vec<CString> = cfg.env.iter().map(|e| cstr(e)).collect();
    // The command's capabilities, then its seccomp filter: the last step
    // before execve (see security/mod.rs for the order).
    if let Err(e) = crate::security::confine_command(&cfg.security, uid) {
        fail(EXIT_RUNTIME.into(), &e.to_string());
    }
    let errno = match execve(&cstr(&path), &args, &env) {
        Err(errno) => errno,
        Ok(never) => match never {},
    };
    let code = if errno == Errno::ENOENT { EXIT_NOT_FOUND } else { EXIT_CANNOT_INVOKE };
    if errno == Errno::ENOENT && !program.contains('/') {
        fail(code, &format!("{program:?}: executable file not found in $PATH"));
    }
    fail(code, &format!("execve({path:?}): {errno}"))
}

/// `execvp`'s search, done here because it must use the *container's*
/// PATH: the first `DIR/program` that exists, or `program` unchanged.
fn find_program(program: &str, env: &[String]) -> String {
    if program.contains('/') {
        return program.to_owned();
    }
    let path = env.iter().find_map(|e| e.strip_prefix("PATH=")).unwrap_or(DEFAULT_PATH);
    path.split(':')
        .map(|dir| Path::new(if dir.is_empty() { "." } else { dir }).join(program))
        .find(|candidate| candidate.is_file())
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|| program.to_owned())
}

fn fail(code: i32, message: &str) -> ! {
    say_err!("mini-docker: {message}");
    // run -d: the status, for the foreground still waiting (mini-docker's monitor.rs).
    start_report::failed(code as u8);
    // SAFETY: ends this process at once, without running the parent's
    // atexit handlers or flushing its copies of buffers.
    unsafe { libc::_exit(code) }
}
