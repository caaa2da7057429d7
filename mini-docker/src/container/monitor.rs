//! `run -d`: a detached container, looked after by a monitor process.
//!
//! `mini-docker run` normally stays in the foreground: it is the parent of
//! the container's init, forwards signals to it, and cleans up when it
//! ends. With `-d` that role passes to a *monitor*, a forked copy of
//! mini-docker that starts its own session (`setsid`: no terminal, so no
//! SIGHUP when the terminal closes), sends the container's output to
//! `<state>/log`, and records itself as the container's `owner`. The
//! command the user typed prints the container's ID as soon as the
//! container's command runs, and exits; the monitor lives as long as the
//! container (Docker's is `containerd-shim`; Podman's is `conmon`).
//!
//! ```text
//!  mini-docker run -d …        monitor (setsid)            container
//!  ──────────────────          ────────────────            ─────────
//!  state dir, exec.json
//!  fork ─────────────────────▶ owner ← its PID
//!  waits: the command runs?    stdout, stderr → log
//!                              clone, ID maps, … ────────▶ init ─▶ command
//!  prints the ID, exits 0      waits, forwards signals
//!                              cleans up when it ends
//! ```
//! If the monitor is killed, its container dies with it (init has
//! `PR_SET_PDEATHSIG`), and the next `ps` or `run` sweeps its state.

use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork, setsid};

use crate::container::state::StateDir;
use crate::container::{Config, tenant};
use crate::error::{ContainerError, Error};

/// How long `run -d` waits for the container's command to start.
const START_LIMIT: Duration = Duration::from_secs(10);

/// Which process returned from [`detach`].
#[derive(Debug)]
pub enum Side {
    /// The command the user typed: exit with this status.
    Foreground(u8),
    /// The monitor: go on and run the container.
    Monitor,
}

/// The container's log: everything its processes write to stdout and stderr.
pub fn log_path(state: &StateDir) -> std::path::PathBuf {
    state.dir.join("log")
}

// ANCHOR: detach
/// Forks the monitor. In the monitor, returns [`Side::Monitor`]; in the
/// foreground, waits until the container's command runs (or the monitor
/// failed) and returns the status to exit with.
pub fn detach(state: &StateDir, cfg: &Config) -> Result<Side, Error> {
    let log = log_path(state);
    let file = std::fs::File::create(&log).map_err(|source| ContainerError::Io {
        what: "creating",
        path: log.clone(),
        source,
    })?;
    // SAFETY: single-threaded: the child may use anything.
    match unsafe { fork() }.map_err(ContainerError::sys("fork (the monitor)"))? {
        ForkResult::Child => {
            let _ = setsid();
            // SAFETY: dup2 onto 1 and 2, and /dev/null onto 0.
            unsafe {
                libc::dup2(file.as_raw_fd(), 1);
                libc::dup2(file.as_raw_fd(), 2);
                if let Ok(null) = std::fs::File::open("/dev/null") {
                    libc::dup2(null.as_raw_fd(), 0);
                }
            }
            let me = std::process::id();
            let owner = format!("{me} {}\n", start_time(me).unwrap_or_default());
            let path = state.dir.join("owner");
            std::fs::write(&path, owner).map_err(|source| ContainerError::Io {
                what: "writing",
                path,
                source,
            })?;
            Ok(Side::Monitor)
        }
        ForkResult::Parent { child } => Ok(Side::Foreground(wait_started(state, cfg, child))),
    }
}
// ANCHOR_END: detach

/// The foreground's wait: the ID once the container's command runs; the
/// monitor's error (from the log) if it ended first, with status 125. The
/// monitor cleans up in every case.
fn wait_started(state: &StateDir, cfg: &Config, monitor: Pid) -> u8 {
    let start = Instant::now();
    loop {
        if let Ok(WaitStatus::Exited(..) | WaitStatus::Signaled(..)) =
            waitpid(monitor, Some(WaitPidFlag::WNOHANG))
        {
            let log = std::fs::read_to_string(log_path(state)).unwrap_or_default();
            let last = log.lines().rev().find(|l| l.starts_with("mini-docker: ")).unwrap_or("");
            // A command that ran and ended at once is not an error: the ID.
            if last.is_empty() {
                say!("{}", cfg.id);
                return 0;
            }
            say_err!("{last}");
            return crate::EXIT_RUNTIME;
        }
        let owner_is_monitor = std::fs::read_to_string(state.dir.join("owner"))
            .is_ok_and(|o| o.split_whitespace().next() == Some(&monitor.to_string()));
        let command_runs = owner_is_monitor && tenant::ready_init(state).is_some();
        if command_runs {
            say!("{}", cfg.id);
            return 0;
        }
        if start.elapsed() > START_LIMIT {
            say_err!(
                "mini-docker: the container did not start within {START_LIMIT:?} (see {})",
                log_path(state).display()
            );
            return crate::EXIT_RUNTIME;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// A live process's start time (field 22 of /proc/PID/stat): with the PID,
/// it names one process for good (the same as `state.rs` writes).
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.split_whitespace().nth(19)?.parse().ok()
}
