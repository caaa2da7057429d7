//! The signals mini-docker passes on to a container, and how they are
//! waited for: blocked, never handled, and collected with `sigwait` (see
//! sigprocmask(2) and sigwait(3)), so no code runs in a signal handler.
//!
//! `parent.rs` (the container's parent), `init.rs` (its PID 1) and
//! `tenant.rs` (`exec`) all wait on the same set; it lives here, below the
//! three, so that none of them imports another for it. It imports nothing
//! of mini-docker.

use nix::sys::signal::{SigSet, Signal};

/// Signals mini-docker passes on to the container, as `docker run` does.
/// They are blocked (not handled) and collected with `sigwait`, so no code
/// runs in a signal handler; the child inherits the blocked mask, so a
/// signal sent to PID 1 before it is ready waits instead of being lost.
pub const FORWARDED: [Signal; 7] = [
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGWINCH,
];

/// The forwarded signals plus SIGCHLD, which says "a child ended".
pub fn waited_signals() -> SigSet {
    let mut set = SigSet::empty();
    for sig in FORWARDED {
        set.add(sig);
    }
    set.add(Signal::SIGCHLD);
    set
}
