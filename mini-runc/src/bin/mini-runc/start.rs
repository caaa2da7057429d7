//! `start` (runc-start(8)): lets a created container run its command.
//!
//! The container's init is blocked opening the exec fifo for writing
//! (container/init.rs): a FIFO's open for writing waits until it has a
//! reader (fifo(7)). `start` opens it for reading, reads the byte init
//! writes, and removes the fifo: from then on the container is "running".

use std::os::fd::AsFd;
use std::path::Path;
use std::time::{Duration, Instant};

use nix::fcntl::OFlag;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::stat::Mode;

use crate::Failure;
use crate::record::{self, FIFO, Record};

/// How long init may take to open the fifo once `start` has (it is waiting
/// already; this only bounds a wedged container).
const START_WAIT: Duration = Duration::from_secs(10);

// ANCHOR: start
pub fn start(root: &Path, id: &str) -> Result<(), Failure> {
    let record = Record::open(root, id)?;
    match record.status() {
        "created" => {}
        "running" => return Err(format!("cannot start an already running container {id:?}")),
        _ => return Err(format!("cannot start a container that has stopped: {id:?}")),
    }
    let path = record.dir.join(FIFO);
    // Non-blocking: the open succeeds at once, and init's open for
    // writing, waiting for a reader, goes on.
    let fifo = nix::fcntl::open(
        &path,
        OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|errno| format!("open({path:?}): {errno}"))?;
    let deadline = Instant::now() + START_WAIT;
    loop {
        let mut fds = [PollFd::new(fifo.as_fd(), PollFlags::POLLIN)];
        let ready = poll(&mut fds, PollTimeout::from(100u16)).unwrap_or(0);
        if ready > 0 {
            let mut byte = [0u8; 1];
            if nix::unistd::read(&fifo, &mut byte).is_ok_and(|n| n == 1) {
                break;
            }
        }
        if !record.alive() {
            return Err(format!("container {id:?} ended before it started"));
        }
        if Instant::now() > deadline {
            return Err(format!(
                "container {id:?}: init did not take the start within {START_WAIT:?}"
            ));
        }
    }
    std::fs::remove_file(&path).map_err(|e| format!("removing {path:?}: {e}"))?;
    // The bundle's poststart hooks: the command runs (or is about to,
    // once init's startContainer hooks are done); a failure is reported,
    // the container stays (runtime.md, "Lifecycle").
    let later = record::LaterHooks::read(&record.dir);
    if !later.poststart.is_empty() {
        let state = Record::open(root, id).map(|r| r.oci_state()).unwrap_or_default();
        record::run_and_warn("hooks.poststart", &later.poststart, &state);
    }
    Ok(())
}
// ANCHOR_END: start
