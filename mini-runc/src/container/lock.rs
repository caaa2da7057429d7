//! One lock for the state directory, so that concurrent commands do not
//! corrupt it: two `run --name web` at once must not both find the name
//! free, and `rm` must not remove a container that `run` is creating.
//!
//! `flock(2)` on the state directory itself (a directory can be locked
//! like a file, and no lock file is left lying among the containers):
//! exclusive, held for the few file operations that read and change the
//! directory, and released when the guard is dropped (or the process dies:
//! the kernel releases it). The descriptor is close-on-exec and the lock is
//! dropped before a container starts, so no container process holds it.
//!
//! It imports only `error.rs`.

use std::os::fd::AsRawFd;
use std::os::unix::fs::DirBuilderExt;
use std::path::Path;

use crate::error::ContainerError;

/// Held while it lives.
#[derive(Debug)]
pub struct StateLock {
    _file: std::fs::File,
}

impl StateLock {
    /// Waits for the lock of the state directory `root`.
    pub fn acquire(root: &Path) -> Result<StateLock, ContainerError> {
        let io = |what| {
            let path = root.to_owned();
            move |source| ContainerError::Io { what, path, source }
        };
        // As `StateDir::create` makes it: 0711, so that with --userns auto
        // the container's root can reach its own directory.
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o711)
            .create(root)
            .map_err(io("creating"))?;
        let file = std::fs::File::open(root).map_err(io("opening"))?;
        let path = root;
        // SAFETY: flock on a descriptor we own.
        while unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
            let errno = nix::errno::Errno::last();
            if errno != nix::errno::Errno::EINTR {
                return Err(ContainerError::Sys { call: format!("flock({path:?})"), errno });
            }
        }
        Ok(StateLock { _file: file })
    }
}
