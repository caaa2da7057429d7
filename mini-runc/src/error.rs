//! What can go wrong, one enum per concern.
//!
//! Every message is lower case and names the input, path or system call that
//! failed, so the one line mini-docker prints is enough to act on:
//! `mini-docker: volume target "data" is relative: use an absolute path`.
//! Every error here ends the run with exit status 125, Docker's code for
//! "the runtime failed, the command never ran".
//!
//! mini-runc's layer 2 of 2, the bottom (see `tests/tests/layers.rs`), so
//! that every module may use these types and [`EXIT_RUNTIME`]; it imports
//! only the error enums that its layer-mates `cgroups/` and `security/`
//! define themselves (neither imports [`enum@Error`] back). The engine's
//! modules define theirs (mini-docker's `image::ImageError` and
//! `network::NetworkError`), and mini-docker's `commands/` gathers them
//! all into the one error a command returns.

use std::path::PathBuf;

use nix::errno::Errno;
use thiserror::Error;

/// Exit status when mini-docker itself fails (Docker's convention).
pub const EXIT_RUNTIME: u8 = 125;

/// Bad input on the command line, found before anything is created.
#[derive(Debug, Error)]
pub enum UsageError {
    #[error("malformed volume {0:?}: expected SRC:DST or SRC:DST:ro")]
    MalformedVolume(String),
    #[error("volume source {0:?} is relative: use an absolute path")]
    RelativeVolumeSource(String),
    #[error("volume source {path:?} cannot be used: {source}")]
    VolumeSource { path: String, source: std::io::Error },
    #[error("volume target {0:?} is relative: use an absolute path")]
    RelativeVolumeTarget(String),
    #[error("hostname {0:?} is longer than 64 bytes")]
    HostnameTooLong(String),
    #[error("hostname {0:?} is not valid: use letters, digits, '-' and '.'")]
    BadHostname(String),
    #[error("malformed environment variable {0:?}: expected KEY=VALUE or KEY")]
    BadEnv(String),
    #[error("malformed user {0:?}: expected UID or UID:GID (numbers)")]
    BadUser(String),
    #[error("working directory {0:?} is relative: use an absolute path")]
    RelativeWorkdir(String),
    #[error("container name {0:?} is not valid: use [a-zA-Z0-9][a-zA-Z0-9_.-]*")]
    BadName(String),
    #[error("container name {0:?} is already in use")]
    NameInUse(String),
    #[error("no such container {0:?} (see `mini-docker ps`)")]
    NoSuchContainer(String),
    #[error("container {0:?} is running: stop it first")]
    StillRunning(String),
    #[error("container {0:?} is not running")]
    NotRunning(String),
    #[error("unknown signal {0:?} (e.g. TERM, SIGKILL, 9)")]
    BadSignal(String),
    #[error("--ipc {0:?}: use private, shareable, host or container:NAME")]
    BadIpc(String),
    #[error("--pid {0:?}: use private, host or container:NAME")]
    BadPid(String),
    #[error("--net {0:?}: use bridge, none, host or container:NAME")]
    BadNet(String),
    /// The namespace ("IPC", "PID", "network"), the container, why not.
    #[error("cannot share the {0} namespace of {1:?}: {2}")]
    NotJoinable(&'static str, String, String),
    #[error("rootless mini-docker needs a user namespace: --userns host is only for root")]
    RootlessNeedsUserns,
}

/// Setting the container up inside its first process (becoming root of its
/// user namespace, the root filesystem, `pivot_root`, the hostname, the
/// pty); the message travels to the parent over the sync channel.
#[derive(Debug, Error)]
pub enum RootfsError {
    /// A system call failed; `call` is written the way the code makes it,
    /// with its arguments: `mount("proc", "/proc", "proc")`.
    #[error("{call}: {errno}")]
    Sys { call: String, errno: Errno },
}

impl RootfsError {
    pub fn sys(call: impl Into<String>) -> impl FnOnce(Errno) -> RootfsError {
        let call = call.into();
        move |errno| RootfsError::Sys { call, errno }
    }
}

/// Starting, synchronising and waiting for the container's processes.
#[derive(Debug, Error)]
pub enum ContainerError {
    #[error("{call}: {errno}")]
    Sys { call: String, errno: Errno },
    #[error("{what} {path:?}: {source}")]
    Io { what: &'static str, path: PathBuf, source: std::io::Error },
    #[error("sync channel: {0}")]
    Sync(String),
    /// The child reported that setting up the container failed.
    #[error("{0}")]
    Setup(String),
}

impl ContainerError {
    pub fn sys(call: impl Into<String>) -> impl FnOnce(Errno) -> ContainerError {
        let call = call.into();
        move |errno| ContainerError::Sys { call, errno }
    }
}

/// Any of the above, or of the kernel-facing parts: what the process
/// model returns when a step may fail in more than one of them (the
/// commands add the engine's errors, see mini-docker's `commands/mod.rs`).
#[derive(Debug, Error)]
pub enum Error {
    #[error(transparent)]
    Usage(#[from] UsageError),
    #[error(transparent)]
    Rootfs(#[from] RootfsError),
    #[error(transparent)]
    Container(#[from] ContainerError),
    #[error(transparent)]
    Cgroup(#[from] crate::cgroups::CgroupError),
    #[error(transparent)]
    Security(#[from] crate::security::SecurityError),
}
