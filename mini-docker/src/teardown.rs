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

use std::path::Path;
use std::time::{Duration, Instant};

use mini_runc::container::state::{Keep, StateDir};
use mini_runc::container::tenant;
use mini_runc::error::ContainerError;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::network;

/// How long a container may take to go after SIGKILL.
const KILL_WAIT: Duration = Duration::from_secs(5);

/// Removes what the container left: its network records, then (the
/// runtime's share) its cgroups and its state directory, keeping `keep`.
pub fn tear_down(state: &StateDir, keep: Keep) {
    network::remove(&state.dir);
    state.tear_down(keep);
}

/// The reclaim sweep, before a new container starts: tears down every
/// container whose mini-docker was killed before it could (keeping what a
/// container without `--rm` keeps, with exit status 137 recorded, see
/// lifecycle.rs), then frees the leases nobody holds.
pub fn sweep(root: &Path) {
    for dead in StateDir::abandoned(root) {
        let keep = dead.keeps();
        // Kept: `ps -a` and `inspect` show how it ended (killed with it).
        if keep == Keep::Upper {
            crate::lifecycle::record_killed(&dead);
        }
        tear_down(&dead, keep);
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
