//! What can go wrong, one enum per concern.
//!
//! Every message is lower case and names the input, path or system call that
//! failed, so the one line mini-docker prints is enough to act on:
//! `mini-docker: volume target "data" is relative: use an absolute path`.
//! Every error here ends the run with exit status 125, Docker's code for
//! "the runtime failed, the command never ran", but two of
//! [`ProcessError`]'s: 127 (the command does not exist) and 126 (it cannot
//! be run), see [`ProcessError::exit_code`].
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
/// Exit status when the command exists but cannot be run (Docker's, and
/// the shell's: a file without execute permission, a directory).
pub const EXIT_CANNOT_INVOKE: u8 = 126;
/// Exit status when the command does not exist (Docker's, and the shell's).
pub const EXIT_NOT_FOUND: u8 = 127;

/// The prefix of a line the runtime prints itself, from inside a
/// container's process where no caller can add one: the name this program
/// was started as (argv[0]'s last component, as err(3) prints it). So the
/// same code says `mini-docker: …` under the engine and `mini-runc: …`
/// under the runtime's own binary.
pub fn program() -> String {
    std::env::args_os()
        .next()
        .as_deref()
        .and_then(|arg0| std::path::Path::new(arg0).file_name())
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| "mini-runc".to_owned())
}

/// Bad input on the command line, found before anything is created.
#[derive(Debug, Error)]
pub enum UsageError {
    #[error(
        "malformed volume {0:?}: expected SRC:DST or SRC:DST:OPTIONS (ro or rw, and \
         [r]shared, [r]slave or [r]private, comma-separated)"
    )]
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
    /// An `-e` of the engine: `KEY` alone copies the engine's own value.
    #[error("malformed environment variable {0:?}: expected KEY=VALUE or KEY")]
    BadEnv(String),
    /// An entry of the environment the runtime is handed: by then a bare
    /// `KEY` has been resolved (see `container/process.rs`).
    #[error("malformed environment entry {0:?}: expected KEY=VALUE, with no NUL byte")]
    BadEnvEntry(String),
    #[error("no command given: name the program to run")]
    NoCommand,
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

/// Building the container's root filesystem inside its first process
/// (`rootfs/`: overlayfs, volumes, /proc, /sys, /dev, `pivot_root`); the
/// message travels to the parent over the sync channel.
#[derive(Debug, Error)]
pub enum RootfsError {
    /// A system call failed; `call` is written the way the code makes it,
    /// with its arguments: `mount("proc", "/proc", "proc")`.
    #[error("{call}: {errno}")]
    Sys { call: String, errno: Errno },
    /// A device node the bundle lists, bound from the host's in a user
    /// namespace, is not the device it names there.
    #[error("linux.devices: the host's {path} is {host}, not the {asked} the bundle names")]
    OtherDevice { path: String, host: String, asked: String },
}

impl RootfsError {
    pub fn sys(call: impl Into<String>) -> impl FnOnce(Errno) -> RootfsError {
        let call = call.into();
        move |errno| RootfsError::Sys { call, errno }
    }
}

/// Starting, synchronising, joining and ending the container's processes.
#[derive(Debug, Error)]
pub enum ContainerError {
    #[error("{call}: {errno}")]
    Sys { call: String, errno: Errno },
    #[error("{what} {path:?}: {source}")]
    Io { what: &'static str, path: PathBuf, source: std::io::Error },
    /// The sync channel itself: a broken socket, or an unexpected line.
    #[error("sync channel: {0}")]
    Sync(String),
    /// `newuidmap` or `newgidmap` (rootless ID maps beyond the caller's
    /// own ID, see `userns.rs`) missing or refusing.
    #[error("{program}: {why}")]
    IdHelper { program: String, why: String },
    /// A process in a mapped user namespace (`userns::Mapped`) ended
    /// without saying how its work went.
    #[error("the process in the user namespace ended without a result ({0})")]
    Mapped(String),
    /// The container's first process failed to set it up and said why
    /// across the sync channel: its one error, as text (see `child.rs`).
    #[error("{0}")]
    Child(String),
    /// An engine's hook (a closure of [`crate::container::Hooks`]) failed
    /// at `step` (createRuntime, createContainer: the names of the OCI
    /// runtime specification), with the hook's own message.
    #[error("{step} hook: {message}")]
    Hook { step: &'static str, message: String },
    /// A bundle's hook program failed; the message names it as config.md
    /// does, with its path (`hooks.createContainer[0] (/bin/sh): …`, see
    /// `hook_programs.rs`).
    #[error("{0}")]
    HookProgram(String),
    /// Joining the container's cgroups (the parent for the child, or `exec`).
    #[error(transparent)]
    Cgroup(#[from] crate::cgroups::CgroupError),
    /// A mount of the process model's own (the shared `/dev/shm`).
    #[error(transparent)]
    Rootfs(#[from] RootfsError),
    /// Making the pseudo-terminal of `-t` (`posix_openpt` and friends).
    #[error("pty: {call}: {errno}")]
    Pty { call: String, errno: Errno },
    /// The container (the name or ID a user gave) outlived a SIGKILL and the wait after it.
    #[error("{0}: still running after SIGKILL")]
    StillRunning(String),
    /// The settings `run` records for `exec` (`exec.json`) cannot be read back.
    #[error("{}: not what run writes", .0.display())]
    BadRecord(PathBuf),
    /// `--ipc`, `--pid` or `--net container:NAME` asked of a container with
    /// a user namespace: `setns` needs CAP_SYS_ADMIN over the other's.
    #[error("{0} container:NAME needs a container without a user namespace (root, --userns host)")]
    JoinFromUserns(&'static str),
    /// The container whose namespace is shared ended after it was checked.
    #[error("cannot share the {kind} namespace of {name:?}: it has ended")]
    Ended { kind: &'static str, name: String },
    /// `parent::create` without the exec fifo its init waits on.
    #[error("create: no exec fifo given")]
    NoExecFifo,
    #[error("exec --detach with a terminal: not supported")]
    DetachedTerminal,
    /// A console socket was given for a process without a terminal.
    #[error("a console socket without a terminal")]
    ConsoleWithoutTerminal,
    /// Handing the pty's master to the client's console socket failed;
    /// the message names the socket and the call.
    #[error("{0}")]
    Console(String),
}

impl ContainerError {
    pub fn sys(call: impl Into<String>) -> impl FnOnce(Errno) -> ContainerError {
        let call = call.into();
        move |errno| ContainerError::Sys { call, errno }
    }
}

/// Becoming the user's process (`container/process.rs`): the last steps
/// before `execve`, in the process that then fails alone, with one line
/// and [`ProcessError::exit_code`].
#[derive(Debug, Error)]
pub enum ProcessError {
    /// `setgroups`, `setresgid` or `setresuid`, written with its
    /// arguments. EINVAL: the ID has no mapping in the user namespace
    /// (setresuid(2)).
    #[error("{call}: {errno}{}", if *.errno == Errno::EINVAL { " (is it mapped?)" } else { "" })]
    Identity { call: String, errno: Errno },
    /// `setsid`, `TIOCSCTTY` or `dup2` of the pty's slave.
    #[error("making the pty the controlling terminal: {0}")]
    Terminal(Errno),
    #[error("chdir({dir:?}): {source}")]
    Chdir { dir: String, source: std::io::Error },
    /// Supplementary groups asked for where `setgroups` is denied (a user
    /// namespace that maps one group).
    #[error("supplementary groups {0:?}: setgroups is denied where one group is mapped")]
    Groups(Vec<u32>),
    /// No `DIR/program` in the container's PATH (execvp(3) answers ENOENT).
    #[error("{0:?}: executable file not found in $PATH")]
    NotFound(String),
    #[error("execve({path:?}): {errno}")]
    Execve { path: String, errno: Errno },
    /// An argument that cannot cross `execve` (a NUL byte ends a C string).
    #[error("argument {0:?} holds a NUL byte")]
    Nul(String),
    #[error(transparent)]
    Usage(#[from] UsageError),
    /// Capabilities, `no_new_privs` or seccomp (see `security/`).
    #[error(transparent)]
    Confine(#[from] crate::security::SecurityError),
}

impl ProcessError {
    pub fn identity(call: impl Into<String>) -> impl FnOnce(Errno) -> ProcessError {
        let call = call.into();
        move |errno| ProcessError::Identity { call, errno }
    }

    /// Docker's codes, decided by what failed: 127 when the program does
    /// not exist (ENOENT, from the PATH search or from `execve`), 126 when
    /// it cannot be run (any other `execve` error, or a working directory
    /// that cannot be entered), 125 when the runtime failed before.
    pub fn exit_code(&self) -> u8 {
        match self {
            ProcessError::NotFound(_) => EXIT_NOT_FOUND,
            ProcessError::Execve { errno: Errno::ENOENT, .. } => EXIT_NOT_FOUND,
            ProcessError::Execve { .. } | ProcessError::Chdir { .. } => EXIT_CANNOT_INVOKE,
            _ => EXIT_RUNTIME,
        }
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
    Process(#[from] ProcessError),
    #[error(transparent)]
    Cgroup(#[from] crate::cgroups::CgroupError),
    #[error(transparent)]
    Security(#[from] crate::security::SecurityError),
}
