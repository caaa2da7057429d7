//! The start report of `run -d`: a pipe whose write end is close-on-exec
//! (see mini-docker's `monitor.rs` for the whole story). The monitor holds the write
//! end ([`hold`]); `clone` copies it into the container's first process
//! (and `--init`'s `fork` into the command), which says "starting" or the
//! command's exit status through it; each holder closes its copy once the
//! next one has it, and the command's `execve` closes the last.
//!
//! It is the part of the monitor the process model needs (`child.rs`,
//! `parent.rs`, `init.rs`), kept here, in the runtime, so that the process
//! model needs nothing of the engine above it. It imports nothing else of
//! mini-runc.

use std::os::fd::{IntoRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicI32, Ordering};

/// The start report's first byte, written by the container's first
/// process just before the command (its `execve`, or `--init`'s fork).
pub const STARTING: u8 = b'S';

/// This process's write end of the start report, or -1 (a foreground
/// `run` has none). A global, not a `Config` field: `clone` and `fork`
/// copy it together with the descriptor it names, so init and the command
/// find their own copies here.
static REPORT: AtomicI32 = AtomicI32::new(-1);

/// The monitor, once forked: from now on this process (and what it
/// clones or forks) holds `write_end`.
pub fn hold(write_end: OwnedFd) {
    REPORT.store(write_end.into_raw_fd(), Ordering::Relaxed);
}

/// Just before the command: "the command is starting".
pub fn starting() {
    report(STARTING);
}

/// The command's process, when it cannot be run: its exit status (after
/// its error line, so that the foreground finds that line in the log).
pub fn failed(status: u8) {
    report(status);
}

/// This process's write end of the start report, if it has one.
pub fn write_end() -> Option<RawFd> {
    Some(REPORT.load(Ordering::Relaxed)).filter(|&fd| fd >= 0)
}

/// Closes this process's write end: the monitor once the container's
/// first process has a copy (after `clone`), `--init`'s reaper once the
/// command has one (after `fork`).
pub fn close() {
    let fd = REPORT.swap(-1, Ordering::Relaxed);
    if fd >= 0 {
        // SAFETY: the descriptor is ours, and no one else uses it.
        unsafe { libc::close(fd) };
    }
}

fn report(byte: u8) {
    let fd = REPORT.load(Ordering::Relaxed);
    if fd >= 0 {
        // If the foreground is gone (killed, or it gave up waiting), the
        // write fails with EPIPE, which changes nothing; but it would also
        // raise SIGPIPE, killing the container or turning a
        // command's 127 into 141. So SIGPIPE is ignored around the write.
        // SAFETY: `fd` is this process's write end, which only
        // `close` closes (after taking it out of `REPORT`); the
        // buffer is a live one-byte array; the old disposition is put back.
        unsafe {
            let old = libc::signal(libc::SIGPIPE, libc::SIG_IGN);
            libc::write(fd, [byte].as_ptr().cast(), 1);
            libc::signal(libc::SIGPIPE, old);
        }
    }
}
