//! Ending a container, and removing what it leaves: one place for both,
//! whoever asks (`run` when its container ends, `rm`, `kill` and `stop`,
//! the monitor of `run -d`, and the sweep of the next `run`).
//!
//! What a container leaves outside its mount namespace (whose mounts go
//! with its last process) is the engine's and the runtime's:
//! ```text
//!  tear_down(state, keep)
//!   1. network::remove    the engine's: the address lease, the network
//!                         record (the veth pair went with the namespace)
//!   2. StateDir::tear_down the runtime's: the cgroups (killing what is
//!                         still in them), then the state directory, all
//!                         of it or all but the upper layer (Keep::Upper)
//! ```
//! The network goes first: its record lives in the state directory.
//!
//! A `run --rm` in the foreground hands its exit status back before the
//! slow half is done ([`tear_down_later`]): the container's mount
//! namespace (some forty mounts, which the kernel would unmount before it
//! even told mini-docker the command had ended) and its state directory
//! go in a process of their own, a [`Remover`] forked while the container
//! ran, once the directory is out of sight.
//!
//! Ending one: [`signal`] sends a signal the way `docker kill` does (to
//! the container's PID 1: the command, or `--init`'s reaper),
//! and [`kill_and_wait`] waits until the container's mini-docker (its
//! `owner`, the foreground `run` or the monitor) has ended, and so has
//! torn it down.
//!
//! mini-docker's layer 2 of 2, the engine (see `tests/tests/layers.rs`): it
//! imports `network/` and `lifecycle.rs` beside it and mini-runc's
//! process model below;
//! `commands/` and `monitor.rs` call it.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;
use std::time::{Duration, Instant};

use mini_runc::container::state::{Keep, StateDir};
use mini_runc::container::tenant;
use mini_runc::error::ContainerError;
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::signal::{SigSet, Signal, kill};
use nix::unistd::{ForkResult, Pid, fork, pipe2, setsid};

use crate::network;

/// How long a container may take to go after SIGKILL.
const KILL_WAIT: Duration = Duration::from_secs(5);

/// Removes what the container left: its network records, then (the
/// runtime's share) its cgroups and its state directory, keeping `keep`.
pub fn tear_down(state: &StateDir, keep: Keep) {
    network::remove(&state.dir);
    state.tear_down(keep);
}

// ANCHOR: tear-down-later
/// The process that removes a `--rm` container's state once the
/// foreground `run` has its status: forked while the container runs (at
/// the poststart step), so that when the command ends `run` only has to
/// retire the directory and say so. It holds the container's mount
/// namespace, which the engine opened when the container was created, so
/// the command's end does not wait for the kernel to unmount some forty
/// mounts (and its IPC and network namespaces, whose end the kernel
/// finishes in work it queues, which then competes with `run`'s own
/// wakeup), and a lock on the state directory itself (`flock(2)` on its
/// descriptor; the retired directory is the same one, renamed): a
/// [`sweep`] finishes only what no live process is removing.
#[derive(Debug)]
pub struct Remover {
    /// Write end of the pipe the remover waits on: one byte once the
    /// directory is retired; end-of-file (the start failed, or `run`
    /// died): nothing to remove, the remover ends.
    go: Option<OwnedFd>,
    /// Waited for when dropped without the byte, so that a `restart`
    /// finds the old container's namespace gone.
    pid: Option<Pid>,
}

impl Remover {
    /// Forks the remover, holding `namespaces` (the container's mount
    /// namespace first); `None` if it cannot be (they are let go: the
    /// container's end unmounts it, as without).
    pub fn fork(state: &StateDir, namespaces: Vec<OwnedFd>) -> Option<Remover> {
        let retired = state.retired_path();
        let held = std::fs::File::open(&state.dir).ok().filter(try_lock)?;
        let (wait_end, go) = pipe2(OFlag::O_CLOEXEC).ok()?;
        // SAFETY: the child closes descriptors, removes files (allocating:
        // the C library's fork handlers keep its allocator usable, should
        // another thread exist) and exits with _exit; it never returns
        // into the caller's code.
        match unsafe { fork() } {
            Ok(ForkResult::Child) => {
                drop(go); // or it would never read end-of-file
                // Not a part of the caller's session, nor of its pipes, nor
                // of its sockets (a published port's listener, which the
                // next run may want), nor of its blocked signals (the
                // caller waits for those with sigwait): only the namespaces,
                // the lock and the pipe stay open.
                let _ = setsid();
                let _ = nix::unistd::chdir("/");
                let _ = SigSet::empty().thread_set_mask();
                if let Ok(null) =
                    std::fs::OpenOptions::new().read(true).write(true).open("/dev/null")
                {
                    for fd in 0..=2 {
                        // SAFETY: dup2 onto the standard descriptors, which
                        // no `OwnedFd` owns.
                        unsafe { libc::dup2(null.as_raw_fd(), fd) };
                    }
                }
                let mut keep = vec![held.as_raw_fd(), wait_end.as_raw_fd()];
                keep.extend(namespaces.iter().map(|ns| ns.as_raw_fd()));
                // SAFETY: this process ends with _exit below; no owner of
                // the descriptors closed runs in it again.
                let _ = unsafe { mini_runc::container::process::close_all_but(&keep) };
                let retire_done = loop {
                    match nix::unistd::read(&wait_end, &mut [0u8]) {
                        Err(Errno::EINTR) => {}
                        read => break read == Ok(1),
                    }
                };
                drop(namespaces);
                if retire_done {
                    StateDir { dir: retired }.tear_down(Keep::Nothing);
                }
                // SAFETY: ends this process at once, running nothing of the parent's.
                unsafe { libc::_exit(0) }
            }
            Ok(ForkResult::Parent { child }) => Some(Remover { go: Some(go), pid: Some(child) }),
            Err(_) => None,
        }
    }
}

impl Drop for Remover {
    fn drop(&mut self) {
        drop(self.go.take());
        if let Some(pid) = self.pid.take() {
            let _ = nix::sys::wait::waitpid(pid, None);
        }
    }
}

/// [`tear_down`] of a `--rm` container whose command has ended, for the
/// foreground `run`, which returns the command's status as soon as it
/// can: the address and the cgroups go now; the state directory is
/// retired (renamed out of sight in one step, so no later command sees it
/// half-removed, and its name is free), and the [`Remover`] takes it from
/// there, while `run` exits. (The cgroups stay this process's to remove:
/// the record naming them is in the directory, which whoever made the
/// state root may remove as soon as `run` has returned, and a remover
/// that found no record would leave them behind. With the host's PID
/// namespace, what
/// the command left running is in them, and is killed with them.)
///
/// For that moment after `run` has returned, the container's mounts (its
/// volumes' bind mounts too) still exist in the held namespace: a script
/// that unmounts a volume's file system right after `run --rm` may find it
/// busy until the removal is done.
pub fn tear_down_later(state: &StateDir, mut remover: Remover) {
    network::remove(&state.dir);
    mini_runc::cgroups::remove(&state.dir);
    match state.retire() {
        Ok(retired) => {
            let said = remover.go.as_ref().is_some_and(|go| nix::unistd::write(go, b"r") == Ok(1));
            if said {
                // It works on while `run` exits: not waited for.
                remover.pid = None;
            } else {
                // The remover is gone (killed): its lock is free, do its work.
                drop(remover);
                retired.tear_down(Keep::Nothing);
            }
        }
        Err(_) => {
            // End-of-file: the remover lets go of its lock and ends.
            drop(remover);
            state.tear_down(Keep::Nothing);
        }
    }
}
// ANCHOR_END: tear-down-later

/// `flock(2)` without waiting; whether this descriptor holds the lock now.
fn try_lock(file: &std::fs::File) -> bool {
    // SAFETY: flock on a descriptor we own.
    unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) == 0 }
}

/// The reclaim sweep, before a new container starts: tears down every
/// container whose mini-docker was killed before it could (keeping what a
/// container without `--rm` keeps, with exit status 137 recorded, see
/// lifecycle.rs), finishes the removals a killed [`tear_down_later`] left,
/// then frees the leases nobody holds.
pub fn sweep(root: &Path) {
    for dead in StateDir::abandoned(root) {
        let keep = dead.keeps();
        // Kept: `ps -a` and `inspect` show how it ended (killed with it).
        if keep == Keep::Upper {
            crate::lifecycle::record_killed(&dead);
        }
        tear_down(&dead, keep);
    }
    // Retired directories whose remover died (its lock is free); one that
    // is still being removed is left to its remover.
    for retired in StateDir::retired(root) {
        // (Gone meanwhile: its remover has just finished.)
        if std::fs::File::open(&retired.dir).is_ok_and(|dir| try_lock(&dir)) {
            retired.tear_down(Keep::Nothing);
        }
    }
    network::ipam::sweep(root);
}

/// Sends `sig` to the container's first process, as `docker kill` does:
/// the command, PID 1 of its PID namespace (whose end kills every process
/// in it, pid_namespaces(7)), or `--init`'s reaper, which forwards it to
/// the command. A PID 1 gets only the signals it handles (a shell as PID
/// 1 shrugs off SIGTERM), and SIGKILL.
pub fn signal(init: Pid, sig: Signal) -> Result<(), ContainerError> {
    kill(init, sig).map_err(ContainerError::sys(format!("kill({init}, {sig})")))
}

/// Waits until the container's mini-docker has ended, at most `limit`;
/// whether it did.
pub fn ended(state: &StateDir, limit: Duration) -> bool {
    let start = Instant::now();
    while state.running() {
        if start.elapsed() > limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    true
}

/// SIGKILL, then a wait (at most 5 s) until the container's mini-docker
/// has ended, torn it down, and let go of it; `key` (the name or ID the
/// user gave) names it in the error.
pub fn kill_and_wait(state: &StateDir, key: &str) -> Result<(), ContainerError> {
    if let Some(init) = tenant::init_pid(state) {
        signal(init, Signal::SIGKILL)?;
    }
    if !ended(state, KILL_WAIT) {
        return Err(ContainerError::StillRunning(key.to_owned()));
    }
    Ok(())
}
