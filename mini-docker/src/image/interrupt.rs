//! Ctrl-C and SIGTERM during a load or an import: the work stops at the
//! next read and unwinds, and the staging directory goes with it (see
//! `store.rs`), so an interrupted load leaves nothing behind.
//!
//! The handler only records the signal (an async-signal-safe store,
//! signal-safety(7)); the readers of the archive check it. It is installed
//! without `SA_RESTART`, so a read blocked on a pipe (`… | mini-docker
//! load`) returns `EINTR` at once instead of waiting for more input
//! (signal(7), "Interruption of system calls").

use std::io::Read;
use std::sync::atomic::{AtomicI32, Ordering};

use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};

static CAUGHT: AtomicI32 = AtomicI32::new(0);

extern "C" fn record(signal: libc::c_int) {
    CAUGHT.store(signal, Ordering::SeqCst);
}

/// From now on SIGINT, SIGTERM and SIGHUP stop the load instead of the
/// process.
pub fn catch() {
    let action = SigAction::new(SigHandler::Handler(record), SaFlags::empty(), SigSet::empty());
    for signal in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        // SAFETY: the handler only stores to an atomic.
        let _ = unsafe { sigaction(signal, &action) };
    }
}

/// The signal that arrived, if one did.
pub fn caught() -> Option<Signal> {
    Signal::try_from(CAUGHT.load(Ordering::SeqCst)).ok()
}

/// A reader that stops with an error once a signal was caught, and
/// reports each chunk it read to `progress` (the bytes of a load).
pub struct Watched<R, F: FnMut(u64)> {
    pub inner: R,
    pub progress: F,
}

impl<R: Read, F: FnMut(u64)> Read for Watched<R, F> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let stop = |signal: Signal| std::io::Error::other(format!("interrupted by {signal}"));
        if let Some(signal) = caught() {
            return Err(stop(signal));
        }
        match self.inner.read(buf) {
            // Not `Interrupted`, which std's copy loops retry.
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => match caught() {
                Some(signal) => Err(stop(signal)),
                None => Err(e),
            },
            Ok(n) => {
                (self.progress)(n as u64);
                Ok(n)
            }
            other => other,
        }
    }
}
