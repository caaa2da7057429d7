//! `run -d`: a detached container, looked after by a monitor process.
//!
//! `mini-docker run` normally stays in the foreground: it is the parent of
//! the container's first process (the command, PID 1), forwards signals
//! to it, and cleans up when it
//! ends. With `-d` that role passes to a *monitor*, a forked copy of
//! mini-docker that starts its own session (`setsid`: no terminal, so no
//! SIGHUP when the terminal closes), sends the container's output to
//! `<state>/log`, and records itself as the container's `owner`. The
//! command the user typed prints the container's ID as soon as the
//! container's command runs, and exits; the monitor lives as long as the
//! container (Docker's is `containerd-shim`; Podman's is `conmon`). It is
//! the one process a detached container adds: the command is the
//! container's PID 1 (with `--init`, the reaper is a second one). Its
//! memory, next to conmon's, is in `bench/detached.py`.
//!
//! ```text
//!  mini-docker run -d …        monitor (setsid)            container
//!  ──────────────────          ────────────────            ─────────
//!  state dir, exec.json
//!  pipe: the start report
//!  fork ─────────────────────▶ owner ← its PID
//!  reads the report            stdout, stderr → log
//!                              cgroups, network, then
//!                              clone, ID maps, … ────────▶ PID 1: "S",
//!                              closes its write end         execve(command)
//!  "S", end-of-file:           waits, forwards signals      (closes the last
//!  prints the ID, exits 0      cleans up when it ends        write end)
//! ```
//!
//! How does the foreground know that the command *runs*, and not only
//! that the container was set up? The way `posix_spawn` and Rust's
//! `std::process::Command` know: a pipe whose write end is close-on-exec
//! (`O_CLOEXEC`, see pipe(2) and execve(2)). The write end travels from
//! the monitor through `clone` into the container's first process (and
//! through `--init`'s `fork` into the command's); each holder closes its
//! copy once the next one has it. That process writes `S` ("starting")
//! just before the command's `execve`; a command
//! that cannot be run writes its exit status (127 not found, 126 not
//! executable) after its error line; a successful `execve` closes the last
//! write end, and the foreground reads end-of-file. So, at end-of-file:
//! - `S` alone: the command runs; print the ID, exit 0;
//! - `S` and a status: print the command's error line (from the log) and
//!   exit with that status, like a foreground `run` (and `docker run -d`);
//! - nothing: the container was never set up (or the monitor was killed):
//!   the monitor's error, 125.
//!
//! A command that cannot start leaves nothing behind: not even its kept
//! state, since nothing ever ran (the foreground removes it once the
//! monitor has freed the cgroups and the address).
//!
//! If the monitor is killed later, its container dies with it (its PID 1
//! has `PR_SET_PDEATHSIG`), and the next `run` or `ps` sweeps its state
//! (`rm` cleans it too).
//!
//! mini-docker's layer 2 of 2, the engine (see `tests/tests/layers.rs`):
//! it is Docker's `containerd-shim`, not runc, and it uses mini-runc's
//! process model (`Config`, `StateDir`), and `teardown.rs` (to remove a
//! failed start's records). The one piece of it the process model
//! needs, the write end of the start report, is mini-runc's
//! `container/start_report.rs`, so the runtime needs nothing of this file.

use std::io::{Read, Seek};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

use mini_runc::container::state::{Keep, StateDir};
use mini_runc::container::{Config, start_report};
use mini_runc::error::ContainerError;
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork, pipe2, setsid};

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

/// What the foreground of `run -d` prints once the command runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Announce {
    /// The container's ID (`run -d`).
    Id,
    /// Nothing (`restart` prints the name it was given).
    Nothing,
}

/// The container's log: everything its processes write to stdout and stderr.
pub fn log_path(state: &StateDir) -> std::path::PathBuf {
    state.dir.join("log")
}

// ANCHOR: detach
/// Forks the monitor. In the monitor, returns [`Side::Monitor`]; in the
/// foreground, waits until the container's command runs (or cannot run, or
/// the monitor failed) and returns the status to exit with.
pub fn detach(state: &StateDir, cfg: &Config, announce: Announce) -> Result<Side, ContainerError> {
    let log = log_path(state);
    // Appended to: a restarted container's log goes on, as Docker's does.
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .map_err(|source| ContainerError::Io { what: "creating", path: log.clone(), source })?;
    // Opened now, at the end of what is there: a monitor that fails
    // removes the state directory, log included, and the foreground must
    // still read its error.
    let mut log_reader = std::fs::File::open(&log).map_err(|source| ContainerError::Io {
        what: "opening",
        path: log.clone(),
        source,
    })?;
    let _ = log_reader.seek(std::io::SeekFrom::End(0));
    let (report_reader, report_writer) =
        pipe2(OFlag::O_CLOEXEC).map_err(ContainerError::sys("pipe2 (the start report)"))?;
    // SAFETY: mini-docker has no other thread yet (the -p relays start
    // once the container runs), so the child may use anything.
    match unsafe { fork() }.map_err(ContainerError::sys("fork (the monitor)"))? {
        ForkResult::Child => {
            drop(report_reader);
            start_report::hold(report_writer);
            let _ = setsid();
            let stdin = detached_stdin(cfg);
            // SAFETY: dup2 from descriptors open here (the log, the stdin
            // chosen) onto 0, 1 and 2, which no `OwnedFd` owns: replacing
            // them closes nothing an owner would close again.
            unsafe {
                libc::dup2(file.as_raw_fd(), 1);
                libc::dup2(file.as_raw_fd(), 2);
                if let Some(stdin) = &stdin {
                    libc::dup2(stdin.as_raw_fd(), 0);
                }
            }
            state.record_owner()?;
            Ok(Side::Monitor)
        }
        ForkResult::Parent { child } => {
            // Only the monitor's side may hold a write end, or the
            // foreground would never read end-of-file.
            drop(report_writer);
            Ok(Side::Foreground(wait_started(
                state,
                cfg,
                announce,
                child,
                &report_reader,
                log_reader,
            )))
        }
    }
}
// ANCHOR_END: detach

/// What the detached command reads. With `-i` (`-di`, `-dit`), Docker
/// keeps its stdin open though nothing is attached: a shell waits for
/// input instead of reading end-of-file and ending. Here that is a pipe
/// whose write end the monitor keeps, unused, as long as it lives (the
/// container's init closes its inherited copy, see mini-runc's child.rs).
/// With `-t` the terminal's input is the pty, which stays open anyway.
/// Else `/dev/null`.
fn detached_stdin(cfg: &Config) -> Option<OwnedFd> {
    if cfg.interactive && !cfg.tty {
        let (read_end, write_end) = pipe2(OFlag::O_CLOEXEC).ok()?;
        std::mem::forget(write_end);
        return Some(read_end);
    }
    std::fs::File::open("/dev/null").ok().map(OwnedFd::from)
}

/// The foreground's wait (see the module's comment): the ID once the
/// command runs; else the error line, the status, and no state left.
fn wait_started(
    state: &StateDir,
    cfg: &Config,
    announce: Announce,
    monitor: Pid,
    report: &OwnedFd,
    mut log: std::fs::File,
) -> u8 {
    let deadline = Instant::now() + START_LIMIT;
    let Some(heard) = read_report(report, deadline) else {
        say_err!(
            "mini-docker: the container did not start within {START_LIMIT:?} (see {})",
            log_path(state).display()
        );
        return mini_runc::error::EXIT_RUNTIME;
    };
    let status = match heard.as_slice() {
        [start_report::STARTING] => {
            if announce == Announce::Id {
                say!("{}", cfg.id);
            }
            return 0;
        }
        [start_report::STARTING, status] => *status,
        _ => mini_runc::error::EXIT_RUNTIME,
    };
    // The monitor frees the cgroups and the address when its container
    // ends; then the rest goes (nothing ran, so nothing is worth keeping).
    // A monitor killed before that left its records: free them here.
    if reaped_by(monitor, Instant::now() + START_LIMIT) {
        crate::teardown::tear_down(state, Keep::Nothing);
    }
    // The error line, which the command's process (or the monitor) printed
    // with the program's name (see mini-runc's container/process.rs).
    let prefix = format!("{}: ", mini_runc::error::program());
    let mut text = String::new();
    let _ = log.read_to_string(&mut text);
    match text.lines().rev().find(|l| l.starts_with(&prefix)) {
        Some(line) => say_err!("{line}"),
        None => say_err!("{prefix}the monitor ended before the command started"),
    }
    status
}

/// Everything written into the start report until end-of-file (every
/// write end closed); `None` if `deadline` passes first.
fn read_report(report: &OwnedFd, deadline: Instant) -> Option<Vec<u8>> {
    let mut heard = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let timeout = PollTimeout::try_from(left).unwrap_or(PollTimeout::MAX);
        match poll(&mut [PollFd::new(report.as_fd(), PollFlags::POLLIN)], timeout) {
            Ok(0) => return None,
            Ok(_) | Err(Errno::EINTR) => {}
            Err(_) => return None,
        }
        let mut buf = [0u8; 8];
        match nix::unistd::read(report, &mut buf) {
            Ok(0) => return Some(heard),
            Ok(n) => heard.extend_from_slice(&buf[..n]),
            Err(Errno::EINTR | Errno::EAGAIN) => {}
            Err(_) => return None,
        }
    }
}

/// Waits for the monitor to end, until `deadline`; whether it did.
fn reaped_by(monitor: Pid, deadline: Instant) -> bool {
    loop {
        match waitpid(monitor, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(..) | WaitStatus::Signaled(..)) | Err(Errno::ECHILD) => {
                return true;
            }
            _ if Instant::now() >= deadline => return false,
            _ => std::thread::sleep(Duration::from_millis(2)),
        }
    }
}
