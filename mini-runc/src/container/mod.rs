//! The container's processes: the parent that starts it, the child that
//! becomes its init, the tenant of `exec`, and the state directory and lock
//! they share (with the engine's monitor of `run -d`, in mini-docker).
//!
//! ```text
//!  mini-docker (parent.rs)                 the child, the container's init
//!  ───────────────────────                 ───────────────────────────────
//!  --pid container:NAME: setns(pid)
//!  clone(NEWNS[|NEWPID|NEWUTS|NEWIPC|
//!        NEWNET|NEWUSER]), or clone3
//!        with CLONE_INTO_CGROUP (v2
//!        with limits) ───────────────────▶ child.rs: PR_SET_PDEATHSIG, closes
//!                                          what it inherited, waits on the sync
//!                                          channel
//!  user namespace: writes uid_map and
//!    gid_map (rootless: setgroups deny,
//!    or newuidmap/newgidmap, userns.rs)
//!  limits: writes its PID into each
//!    cgroup.procs (unless clone3 put it
//!    there)
//!  hooks.create_runtime(PID) (the
//!    engine's: pasta, or the mount
//!    namespace `run --rm` holds)
//!  sends "go" ───────────────────────────▶ unshare(NEWCGROUP); --net container:
//!  meanwhile, on the other CPU: lo up       setns(net); a bundle's
//!    (as root, from outside);               createContainer hooks; user
//!    hooks.alongside(PID) (the engine's:    namespace: setresuid(0); builds
//!    the veth pair, eth0's address and      the rootfs (rootfs/); --ipc
//!    route; the bundle's files)             sharing; sethostname; lo up
//!                                           (unless the parent did);
//!                                           pivot_root; masked paths,
//!                                           capabilities, no_new_privs
//!  sends "go" again ─────────────────────▶ (waits for it)
//!  receives the pty master (-t) ◀───────── opens /dev/ptmx (-t)
//!  waits for "ready" or "error" ◀───────── sends "ready" (or the error)
//!  hooks.poststart (the engine's: the
//!    port relays of -p)
//!  relays the pty (-t) or forwards         init.rs: execve(command), made by
//!  signals, and waits ◀─────────────────── process.rs: the command is PID 1;
//!  returns the command's status            or --init: forks it (PID 2),
//!                                          forwards signals, reaps orphans,
//!                                          exits with the command's status
//! ```
//!
//! Every mount happens in the container's own mount namespace, so when the
//! last process in it ends the kernel takes all of them away: the host's
//! mount table is never touched. (An OCI bundle may name a mount namespace
//! to join instead, never the host's: the mounts are made there. It may
//! name a user namespace to join, too: then a process in between enters
//! it and clones the child from there, so that the new namespaces are the
//! joined one's, see `parent.rs`.) What is left to clean up (the cgroups, the
//! address lease, the state directory) is cleaned up by the caller of
//! [`parent::run_with`], the engine, through one teardown: mini-docker's
//! `teardown.rs` frees its network records and calls the runtime's share,
//! [`state::StateDir::tear_down`] (the cgroups, the state directory).
//!
//! The network is the engine's, not the process model's: a bridge, an
//! address lease and published ports are Docker's business, not runc's.
//! The engine does its part at steps of the start, which it hands over as
//! [`Hooks`] in the [`Config`], named and timed as the hooks of the OCI
//! runtime specification (createRuntime, createContainer, poststart), and
//! at one step of the process model's own (alongside the setup): the
//! process model runs them without knowing what they do.
//!
//! mini-runc's layer 1 of 2 (see `tests/tests/layers.rs`): `container/`
//! owns the process model, what an OCI runtime such as runc does with a
//! bundle. It imports only `rootfs/`, `cgroups/`, `security/` and
//! `error.rs` below it, and hands them plain values (`rootfs::Spec`, a
//! state directory path, a PID). It knows no image, no network and no
//! command line (those are mini-docker's, a crate above): [`Config`] holds
//! a [`Lower`] directory, not an `image::Image`, the `--root` path, not
//! `commands::Dirs`, and [`Hooks`], not `network/`'s steps. What the
//! engine's monitor of `run -d` shares with the process model (the start
//! report's write end) is here, in [`start_report`].
//!
//! An OCI bundle reaches the same model through `spec.rs` (config.json to
//! a [`Config`] plus [`Extras`]) and [`parent::create`]: the start stops
//! with init waiting on an exec fifo until the binary's `start` opens it
//! (runc's two-step life cycle), and `exec` is a [`tenant`]. A bundle's
//! own hooks are programs, not closures ([`hook_programs`]): the two that
//! run inside the container (createContainer, startContainer) travel in
//! [`Extras`] and run in `child.rs` and `init.rs`; the binary runs the
//! others. What else a bundle adds is in [`Extras`] too: a domain name,
//! device nodes, a time namespace with its clock offsets.
//!
//! The user's process is made in one place, [`process`]: the command
//! the container's first process becomes (or `--init`'s reaper forks), and the tenant of `exec` (mini-docker's, and the
//! mini-runc binary's), go through the same steps to `execve`.
//!
//! Inside, the files import each other in one direction only, from the
//! top of the start down (`spec` imports only this file's types): `parent`
//! → `child` → `init` → `process`; `parent` and `child` → `sharing` →
//! `tenant` → `process` and `state`; and all of them → this file's types
//! ([`Config`], [`Hooks`], [`IpcMode`], [`NetMode`], [`Joined`]) and the
//! files that import no sibling but `tty` and `start_report` (which
//! `process` uses): `signals`, `start_report`, `sync`, `tty`, `lock`,
//! `hook_programs`.

mod child;
pub mod hook_programs;
pub mod in_process;
mod init;
pub mod lock;
pub mod parent;
pub mod process;
pub mod sharing;
mod signals;
pub mod spec;
pub mod start_report;
pub mod state;
mod sync;
pub mod tenant;
mod tty;

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::PathBuf;
use std::sync::Arc;

use nix::unistd::Pid;

use crate::rootfs::Volume;

/// A container's ID mapping (see `userns.rs`, where the maps are decided
/// and written).
pub use crate::userns::{IdMap, IdRange};

/// Which namespaces are new (`true`) and which are the host's.
#[derive(Debug, Clone)]
pub struct Namespaces {
    /// A new cgroup namespace, made once the child is in its cgroups.
    pub cgroup: bool,
    pub net: bool,
    pub pid: bool,
    pub ipc: bool,
    pub uts: bool,
    /// `Some` when the container gets a user namespace.
    pub user: Option<IdMap>,
}

/// The image, as the process model needs it: the overlay's read-only
/// lower layer (mini-docker's `commands/run.rs` makes it from an
/// `image::Image`).
#[derive(Debug, Clone)]
pub enum Lower {
    /// A skeleton written into the state directory before the start
    /// (`<state>/lower`, see mini-docker's `image/host.rs`), with these
    /// host directories bound read-only over it: the built-in `host` image.
    Skeleton(Vec<&'static str>),
    /// A directory holding a root filesystem.
    Directory(PathBuf),
    /// An image stored as layers, each a directory of its own, top layer
    /// first: stacked as overlayfs lower layers (`lowerdir=top:…:bottom`),
    /// so images that share a layer share its files on disk. A layer
    /// deletes a file of the ones below with a *whiteout* (a character
    /// device 0/0) and hides a directory's old contents with an *opaque*
    /// directory (the `overlay.opaque` extended attribute), as overlayfs
    /// reads them (Documentation/filesystems/overlayfs.rst).
    Layers(Vec<PathBuf>),
}

/// Everything the container needs, decided before `clone`.
#[derive(Debug, Clone)]
pub struct Config {
    pub id: String,
    pub name: Option<String>,
    pub lower: Lower,
    /// A [`Lower::Directory`] is seen through an idmapped mount of the
    /// container's user namespace, so that its root owns the image's files
    /// (`rootfs/idmap.rs`): where the kernel and the filesystem allow it,
    /// else as it is, after a notice.
    pub idmap_lower: bool,
    pub hostname: String,
    pub command: Vec<String>,
    /// `KEY=VALUE` entries, the final environment.
    pub env: Vec<String>,
    pub workdir: String,
    /// `(uid, gid)` inside the container.
    pub user: (u32, u32),
    /// Supplementary groups of the command, beside `gid`.
    pub additional_gids: Vec<u32>,
    pub volumes: Vec<Volume>,
    pub read_only: bool,
    pub interactive: bool,
    /// `-t`: the command gets a pseudo-terminal.
    pub tty: bool,
    pub remove: bool,
    /// `--init`: a reaper is the container's first process (PID 1) and
    /// forks the command, instead of the command being that process (see
    /// `init.rs`).
    pub init: bool,
    pub namespaces: Namespaces,
    /// Capabilities, seccomp, masked paths, --privileged.
    pub security: crate::security::Security,
    /// --ipc: private, shareable, host or container:NAME (see sharing.rs).
    pub ipc_mode: IpcMode,
    /// --pid container:NAME: that container's PID namespace.
    pub pid_join: Option<Joined>,
    /// --net: bridge, none, host or container:NAME (see sharing.rs).
    pub net_mode: NetMode,
    /// The engine's work at the steps of the start (its network).
    pub hooks: Hooks,
}

impl Config {
    /// Whether the parent makes idmapped mounts for the child (the image,
    /// volumes): only into a user namespace the container has, its own or
    /// one joined by path (`extras`).
    pub fn wants_idmaps(&self, extras: &Extras) -> bool {
        let lower =
            self.idmap_lower && matches!(self.lower, Lower::Directory(_) | Lower::Layers(_));
        let userns = self.namespaces.user.is_some() || extras.user_join.is_some();
        userns && (lower || self.volumes.iter().any(|v| v.idmap))
    }

    /// Whether the parent brings up the container's `lo`, from outside
    /// (`rootfs::loopback_up_in`) while the child sets up, rather than the
    /// child itself: for a network namespace of the container's own, when
    /// the parent is root and the namespace belongs to the same user
    /// namespace as the parent (setns(2) needs CAP_SYS_ADMIN over both),
    /// and no bundle's createContainer hook runs in the child meanwhile
    /// (runc has `lo` up before them).
    pub fn loopback_by_parent(&self, extras: &Extras) -> bool {
        let own_net = self.namespaces.net && !extras.net_joined;
        let host_users = self.namespaces.user.is_none() && extras.user_join.is_none();
        let no_hooks = extras.create_container.is_empty();
        own_net && host_users && no_hooks && nix::unistd::geteuid().is_root()
    }

    /// Whether the parent has work to do alongside the child's setup (the
    /// engine's, `lo`'s), and says "go" a second time once it is done.
    pub fn works_alongside(&self, extras: &Extras) -> bool {
        self.hooks.alongside.is_some() || self.loopback_by_parent(extras)
    }
}

/// What a bundle asks of the process model beyond a [`Config`]: its
/// devices, hooks, time namespace, domain name, console size, a writable
/// `/sys`, the cgroup filesystem at `/sys/fs/cgroup`, the root's
/// propagation; and, for `create`, the exec fifo (see [`parent::create`]).
#[derive(Debug, Clone, Default)]
pub struct Extras {
    /// `create`: init waits for a reader on this fifo before the command.
    pub exec_fifo: Option<PathBuf>,
    /// `mounts` lists a `cgroup` filesystem at `/sys/fs/cgroup`.
    pub cgroup_fs: bool,
    /// The [`Lower::Directory`] is the root itself, bind-mounted and
    /// written in place, not an overlay's lower layer (`root.path`).
    pub bind_root: bool,
    /// `process.consoleSize`: the pty's rows and columns, set by the child
    /// before the command can run.
    pub console_size: Option<(u16, u16)>,
    /// `domainname`: set with setdomainname(2) in the container's UTS
    /// namespace, next to the hostname.
    pub domainname: Option<String>,
    /// `linux.devices`: nodes made in the container's `/dev`.
    pub devices: Vec<crate::rootfs::Device>,
    /// `linux.sysctl`, checked (see `spec.rs`): written by the child in its
    /// namespaces, after the createContainer hooks.
    pub sysctl: Vec<(String, String)>,
    /// A `time` entry in `linux.namespaces` (without a path): the child
    /// unshares a time namespace for the processes it starts, with these
    /// `linux.timeOffsets` as `(clock, seconds, nanoseconds)`.
    pub time_offsets: Option<Vec<TimeOffset>>,
    /// The bundle's program hooks that run inside the container (see
    /// [`hook_programs`]): createContainer and startContainer.
    pub create_container: Vec<hook_programs::Hook>,
    pub start_container: Vec<hook_programs::Hook>,
    /// Where those hooks' state JSON is: the caller writes it at its
    /// createRuntime step (init's PID is known then), and the child reads
    /// it before `pivot_root` takes the host's paths away.
    pub hook_state: Option<PathBuf>,
    /// `/sys` stays writable (its mount in the bundle has no `ro`).
    pub sys_writable: bool,
    /// `process.rlimits` as `(resource, soft, hard)`, `process.user.umask`
    /// and `process.oomScoreAdj`: set by the container's first process on
    /// itself, while it still holds its privileges, and kept by the
    /// command across execve(2) (getrlimit(2), umask(2), proc(5)); never
    /// on the runtime, whose hooks would run under them.
    pub rlimits: Vec<(libc::c_int, u64, u64)>,
    pub umask: Option<u32>,
    pub oom_score_adj: Option<i32>,
    /// The network namespace is one joined by path, not a new one.
    pub net_joined: bool,
    /// `linux.rootfsPropagation`, when given: the propagation the root
    /// mount gets once the container is in it (mount_namespaces(7)).
    pub rootfs_propagation: Option<nix::mount::MsFlags>,
    /// `linux.namespaces[type=user].path`: the container's first process is
    /// cloned from inside this user namespace (by a process in between,
    /// see `parent.rs`), so that its new namespaces belong to it; nobody
    /// writes ID maps, the namespace has its own.
    pub user_join: Option<Joined>,
    /// `linux.namespaces[type=mount].path`: the container's first process
    /// is cloned without a mount namespace of its own and joins this one
    /// before its first mount; the root is built there.
    pub mount_join: Option<Joined>,
}

/// A clock's offset in a new time namespace: its name as
/// `/proc/PID/timens_offsets` takes it (`monotonic`, `boottime`), seconds
/// and nanoseconds.
pub type TimeOffset = (String, i64, u32);

/// What a hook that may fail returns: the engine's own error, which the
/// process model only prints (it stops the start).
pub type HookError = Box<dyn std::error::Error + Send + Sync>;

/// A createRuntime hook: given the child's PID.
pub type CreateRuntime = Arc<dyn Fn(Pid) -> Result<(), HookError>>;
/// A createContainer hook: runs in the child.
pub type CreateContainer = Arc<dyn Fn() -> Result<(), HookError>>;
/// A poststart hook.
pub type Poststart = Arc<dyn Fn()>;
/// The engine's work alongside the child's setup (see [`Hooks::alongside`]):
/// given the child's PID.
pub type Alongside = Arc<dyn Fn(Pid) -> Result<(), HookError>>;

/// Work the engine does at three steps of a container's start, named and
/// timed as the hooks of the OCI runtime specification (config.md,
/// "POSIX-platform Hooks"), and at one step of its own. There they are
/// programs the runtime executes; here they are closures, since the
/// engine and the process model are one program. `None`: nothing to do at
/// that step.
#[derive(Clone, Default)]
pub struct Hooks {
    /// createRuntime: in the parent, after `clone`, while the child waits
    /// for "go" (its ID maps written, its cgroups joined), given the
    /// child's PID. An error stops the start.
    pub create_runtime: Option<CreateRuntime>,
    /// createContainer: in the child, inside its namespaces, before its
    /// root filesystem is built and `pivot_root` hides the host's paths.
    /// An error stops the start.
    pub create_container: Option<CreateContainer>,
    /// poststart: in the parent, once the container has reported "ready",
    /// before it waits for it. It cannot fail: the container runs already.
    pub poststart: Option<Poststart>,
    /// No OCI hook: in the parent, once it has said "go", while the child
    /// builds the container on the other CPU; the child waits for a second
    /// "go", sent when this has ended, before its command may start (see
    /// [`Config::works_alongside`]). The engine does here what the child's
    /// setup does not need, off the start's critical path: the bridge's
    /// veth pair and `eth0`, and the files only later commands read (its
    /// bundle's `config.json`, the records of `exec` and `ps`). An error
    /// stops the start.
    pub alongside: Option<Alongside>,
}

/// Says which hooks are set (a closure has nothing else to show).
impl std::fmt::Debug for Hooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hooks")
            .field("create_runtime", &self.create_runtime.is_some())
            .field("create_container", &self.create_container.is_some())
            .field("poststart", &self.poststart.is_some())
            .field("alongside", &self.alongside.is_some())
            .finish()
    }
}

/// The `--ipc` of `run` (parsed by [`sharing::parse_ipc`]).
#[derive(Debug, Clone)]
pub enum IpcMode {
    Private,
    Shareable,
    Host,
    /// The container's IPC namespace, and its shared `/dev/shm`.
    Container {
        ns: Joined,
        shm: std::path::PathBuf,
    },
}

impl IpcMode {
    /// Whether `clone` makes a new IPC namespace (`container:` leaves it for
    /// the other container's once the root filesystem is built, see
    /// [`sharing::share_ipc`]).
    pub fn new_namespace(&self) -> bool {
        !matches!(self, IpcMode::Host)
    }

    /// As `exec.json` records it.
    pub fn word(&self) -> &'static str {
        match self {
            IpcMode::Private => "private",
            IpcMode::Shareable => "shareable",
            IpcMode::Host => "host",
            IpcMode::Container { .. } => "container",
        }
    }
}

/// The `--net` of `run` (parsed by [`sharing::parse_net`]).
#[derive(Debug, Clone)]
pub enum NetMode {
    /// A new namespace plugged into the bridge (mini-docker's `network/`,
    /// through [`Hooks`]).
    Bridge,
    /// A new namespace with only `lo`.
    None,
    Host,
    /// Another container's namespace, and that container's state
    /// directory (its lease, its `/etc/hosts` and `resolv.conf`, which
    /// Docker shares too).
    Container {
        ns: Joined,
        state: std::path::PathBuf,
        name: String,
        init: nix::unistd::Pid,
    },
}

impl NetMode {
    /// Whether `clone` makes a new network namespace (`container:` joins
    /// the other one instead, see [`sharing::join_network`]).
    pub fn new_namespace(&self) -> bool {
        matches!(self, NetMode::Bridge | NetMode::None)
    }

    /// As `exec.json` records it (and `inspect` shows it): `container:ID`
    /// names the container whose namespace was joined.
    pub fn describe(&self) -> String {
        match self {
            NetMode::Bridge => "bridge".to_owned(),
            NetMode::None => "none".to_owned(),
            NetMode::Host => "host".to_owned(),
            NetMode::Container { state, .. } => {
                let id = state.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
                format!("container:{id}")
            }
        }
    }
}

/// Another container's namespace, held open from the moment its name was
/// checked: an open `/proc/PID/ns/KIND` names that namespace for as long
/// as the descriptor lives, even if the container ends and its PID goes to
/// another process before the join (a path would then name *that*
/// process's namespace). Shared, because a [`Config`] is cloned.
#[derive(Debug, Clone)]
pub struct Joined {
    fd: std::sync::Arc<OwnedFd>,
    /// The path it was opened at, for `config.json`'s `linux.namespaces`.
    path: Option<String>,
}

impl Joined {
    /// An open `/proc/PID/ns/KIND` of the container to join.
    pub fn new(fd: OwnedFd) -> Joined {
        Joined { fd: std::sync::Arc::new(fd), path: None }
    }

    /// The same, remembering the path it was opened at.
    pub fn at(fd: OwnedFd, path: String) -> Joined {
        Joined { fd: std::sync::Arc::new(fd), path: Some(path) }
    }

    /// The path it was opened at, if known.
    pub fn path(&self) -> Option<&str> {
        self.path.as_deref()
    }
}

impl AsFd for Joined {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl std::os::fd::AsRawFd for Joined {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.fd.as_raw_fd()
    }
}
