//! What can go wrong, one enum per concern.
//!
//! Every message is lower case and names the input, path or system call that
//! failed, so the one line mini-docker prints is enough to act on:
//! `mini-docker: volume target "data" is relative: use an absolute path`.
//! Every error here ends the run with exit status 125, Docker's code for
//! "the runtime failed, the command never ran".
//!
//! Layer 4 of 4, the bottom (see `tests/tests/layers.rs`), so that every
//! module may use these types and [`EXIT_RUNTIME`]; it imports only the
//! error enums that its layer-mates `cgroups/`, `network/` and `security/`
//! define themselves (none of which imports [`enum@Error`] back).

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

/// Finding or managing an image.
#[derive(Debug, Error)]
pub enum ImageError {
    #[error(
        "unknown image {0:?} (see `mini-docker images`; a directory image is a path like ./rootfs)"
    )]
    Unknown(String),
    #[error("image directory {path:?} cannot be used: {source}")]
    BadDirectory { path: PathBuf, source: std::io::Error },
    #[error("image directory {0:?} is not a directory")]
    NotADirectory(PathBuf),
    #[error("image path {0:?} contains ',' or ':', which overlayfs options cannot carry")]
    UnusablePath(PathBuf),
    #[error("image {0:?} has no default command: give one after the image name")]
    NoCommand(String),
    #[error("the built-in image {0:?} cannot be removed")]
    BuiltIn(String),
    #[error("{what} {path:?}: {source}")]
    Io { what: &'static str, path: PathBuf, source: std::io::Error },
    #[error("image name {0:?} is not valid: use [a-zA-Z0-9][a-zA-Z0-9_.-]*")]
    BadName(String),
    #[error("an image named {0:?} already exists (remove it with `mini-docker rmi {0}`)")]
    Exists(String),
    #[error("cannot import {file:?}: {why}")]
    BadArchive { file: PathBuf, why: String },
    /// A layer entry that would land outside the image, refused.
    #[error("refused layer entry {entry:?}: {why}")]
    Refused { entry: String, why: String },
    #[error("image user {0:?} is not numeric (user names are not supported yet)")]
    NamedUser(String),
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

/// Any of the above: what a command returns to `main`.
#[derive(Debug, Error)]
pub enum Error {
    #[error(transparent)]
    Usage(#[from] UsageError),
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error(transparent)]
    Rootfs(#[from] RootfsError),
    #[error(transparent)]
    Container(#[from] ContainerError),
    #[error(transparent)]
    Cgroup(#[from] crate::cgroups::CgroupError),
    #[error(transparent)]
    Network(#[from] crate::network::NetworkError),
    #[error(transparent)]
    Security(#[from] crate::security::SecurityError),
}
