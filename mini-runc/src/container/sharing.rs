//! `--ipc shareable` and `--ipc container:NAME`: two containers that share
//! System V IPC, POSIX message queues and `/dev/shm` (claims IPC-3, SEC-2);
//! `--pid container:NAME`: a container in another one's PID namespace
//! (Kubernetes' shared process namespace in a pod, a debugging sidecar);
//! `--net container:NAME`: in another one's network namespace (every
//! container of a Kubernetes pod shares one: same `eth0`, same address,
//! and `localhost` reaches the other containers' servers).
//!
//! Docker's IPC modes: `private` (a new IPC namespace nobody may join),
//! `shareable` (a new one others may join), `container:NAME` (the IPC
//! namespace of a shareable container), `host`. Sharing *memory* takes two
//! things, because POSIX shared memory is not in the IPC namespace at all:
//! it is files on the tmpfs mounted at `/dev/shm`, which belongs to the
//! *mount* namespace. So joining a container's IPC namespace (`setns`)
//! shares its System V segments and message queues, and `/dev/shm` must
//! be shared by a bind mount. A mount of another mount namespace cannot be
//! bound (mount(2): EINVAL), so, as Docker does, the shareable container's
//! `/dev/shm` is a directory on the host, `<state of A>/shm` (on /run, a
//! tmpfs), bound into both:
//!
//! ```text
//!  container A (--ipc shareable)          container B (--ipc container:A)
//!  ipc namespace ◀─────────── setns ───── (its own, from clone, left behind)
//!  /dev/shm ◀── <state of A>/shm ──────▶ /dev/shm     (two bind mounts)
//!  /dev/mqueue ◀──── a new mqueue mount ── /dev/mqueue (A's queues)
//! ```
//!
//! That is the article's warning (SEC-2): whatever one container writes in
//! `/dev/shm`, the other reads, so a compromised container reaches the
//! memory of every container sharing with it. A `private` container cannot
//! be joined at all.
//!
//! Joining needs `CAP_SYS_ADMIN` over the other container's IPC namespace,
//! which a container in a user namespace of its own does not have: both
//! containers must run as root without `--userns` (Docker's default too).
//!
//! It imports `container/`'s types ([`Config`], [`IpcMode`], [`NetMode`],
//! [`Joined`], defined in `mod.rs` so that `state.rs` and `child.rs` need
//! not import this file), `state.rs` and `tenant.rs` (to find the other
//! container, under the `--root` path its parsers take) and
//! `rootfs/resolve.rs`. The shared address lease is the engine's business
//! (mini-docker's `commands/run.rs`, with its `network/`).

use std::os::fd::OwnedFd;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use nix::fcntl::{OFlag, open};
use nix::mount::{MsFlags, mount};
use nix::sched::{CloneFlags, setns};
use nix::sys::stat::Mode;

use crate::container::state::StateDir;
use crate::container::tenant;
use crate::container::{Config, IpcMode, Joined, NetMode};
use crate::error::{ContainerError, UsageError};
use crate::rootfs::resolve::{Create, fd_path, open_in_root};

/// The `--ipc` of `run`: `private`, `shareable`, `host` or
/// `container:NAME` (NAME running, shareable, without a user namespace).
/// `root` holds the containers' state directories (`--root`).
pub fn parse_ipc(text: &str, root: &Path) -> Result<IpcMode, UsageError> {
    let name = match text {
        "private" | "" => return Ok(IpcMode::Private),
        "shareable" => return Ok(IpcMode::Shareable),
        "host" => return Ok(IpcMode::Host),
        other => other.strip_prefix("container:").unwrap_or(""),
    };
    if name.is_empty() {
        return Err(UsageError::BadIpc(text.to_owned()));
    }
    let (state, ns, _) = joinable("IPC", name, root, "ipc")?;
    if tenant::recorded(&state)["ipc"] != "shareable" {
        let why = "it was not started with --ipc shareable".to_owned();
        return Err(UsageError::NotJoinable("IPC", name.to_owned(), why));
    }
    Ok(IpcMode::Container { ns, shm: shm_dir(&state) })
}

/// The directory a shareable container's `/dev/shm` is.
fn shm_dir(state: &StateDir) -> std::path::PathBuf {
    state.dir.join("shm")
}

// ANCHOR: share-ipc
/// In the container's first process, after the root file system is built
/// and before `pivot_root`. `--ipc shareable`: `/dev/shm` becomes the
/// state directory's `shm/`. `--ipc container:NAME`: joins that container's
/// IPC namespace, mounts its message queues on `/dev/mqueue` and binds its
/// `shm/` on `/dev/shm`.
pub fn share_ipc(root: &OwnedFd, cfg: &Config, state: &StateDir) -> Result<(), ContainerError> {
    // (A descriptor must stay open while its /proc/self/fd path is used.)
    let in_root = |path: &str| open_in_root(root, path, Create::Dir);
    let bind = |source: &std::path::Path| -> Result<(), ContainerError> {
        let target = in_root("/dev/shm")?;
        mount(Some(source), fd_path(&target).as_str(), None::<&str>, MsFlags::MS_BIND, None::<&str>)
            .map_err(ContainerError::sys(format!("mount({source:?}, \"/dev/shm\", MS_BIND)")))
    };
    let (pid, shm) = match &cfg.ipc_mode {
        IpcMode::Shareable => {
            let shm = shm_dir(state);
            std::fs::create_dir(&shm)
                .and_then(|()| std::fs::set_permissions(&shm, PermissionsExt::from_mode(0o1777)))
                .map_err(|source| ContainerError::Io {
                    what: "creating",
                    path: shm.clone(),
                    source,
                })?;
            return bind(&shm);
        }
        IpcMode::Container { ns, shm } => (ns, shm),
        IpcMode::Private | IpcMode::Host => return Ok(()),
    };
    join(cfg, "--ipc", pid, CloneFlags::CLONE_NEWIPC)?;
    let quiet = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    // An mqueue instance shows the queues of the mounter's IPC namespace.
    let mqueue = in_root("/dev/mqueue")?;
    mount(Some("mqueue"), fd_path(&mqueue).as_str(), Some("mqueue"), quiet, None::<&str>)
        .map_err(ContainerError::sys("mount(\"mqueue\", \"/dev/mqueue\")"))?;
    bind(shm)
}
// ANCHOR_END: share-ipc

/// `--pid container:NAME`: that container's PID namespace (running,
/// without a user namespace); `None` for `private` and `host`.
pub fn parse_pid(text: &str, root: &Path) -> Result<Option<Joined>, UsageError> {
    let Some(name) = text.strip_prefix("container:").filter(|n| !n.is_empty()) else {
        return match text {
            "private" | "host" => Ok(None),
            _ => Err(UsageError::BadPid(text.to_owned())),
        };
    };
    Ok(Some(joinable("PID", name, root, "pid")?.1))
}

/// The container `name` (under `root`), if its namespaces may be joined: it runs, and has
/// no user namespace of its own (joining needs CAP_SYS_ADMIN over the
/// namespace's owner, see setns(2)). Returns it, its `kind` namespace and
/// its init's host PID.
fn joinable(
    label: &'static str,
    name: &str,
    root: &Path,
    kind: &str,
) -> Result<(StateDir, Joined, nix::unistd::Pid), UsageError> {
    let refuse = |why: &str| UsageError::NotJoinable(label, name.to_owned(), why.to_owned());
    let state =
        StateDir::find(root, name).ok_or_else(|| UsageError::NoSuchContainer(name.to_owned()))?;
    let init = tenant::ready_init(&state).ok_or_else(|| refuse("it is not running"))?;
    if tenant::recorded(&state)["userns"] != false {
        return Err(refuse("it has a user namespace of its own"));
    }
    let path = format!("/proc/{}/ns/{kind}", tenant::namespace_holder(init));
    let fd = open(path.as_str(), OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty())
        .map_err(|errno| refuse(&format!("open({path:?}): {errno}")))?;
    // Opened from the right process only if that process still is the
    // container's: checked after the open, the descriptor is then safe.
    if tenant::ready_init(&state) != Some(init) {
        return Err(refuse("it is not running"));
    }
    Ok((state, Joined::at(fd, path), init))
}

// ANCHOR: enter-pid
/// mini-docker itself, before `clone`: `setns` on a PID namespace changes
/// only where the caller's *children* are created (pid_namespaces(7)), so
/// the container's init is born in the other container's PID namespace,
/// not as its PID 1. Needs `CAP_SYS_ADMIN` over it: root, no user namespace.
pub fn enter_pid_namespace(cfg: &Config) -> Result<(), ContainerError> {
    let Some(ns) = &cfg.pid_join else { return Ok(()) };
    join(cfg, "--pid", ns, CloneFlags::CLONE_NEWPID)
}
// ANCHOR_END: enter-pid

// ANCHOR: join
/// `setns(2)` into another container's namespace (`flag` says which kind),
/// opened from its `/proc/PID/ns/KIND` link when `container:NAME` of
/// `option` was checked. The caller needs `CAP_SYS_ADMIN` over the user
/// namespace that owns the target namespace, which a container in a user
/// namespace of its own never has over another container's.
fn join(
    cfg: &Config,
    option: &'static str,
    ns: &Joined,
    flag: CloneFlags,
) -> Result<(), ContainerError> {
    if cfg.namespaces.user.is_some() {
        return Err(ContainerError::JoinFromUserns(option));
    }
    setns(ns, flag).map_err(ContainerError::sys(format!("setns({option} container:NAME)")))
}
// ANCHOR_END: join

/// The `--net` of `run`: `bridge`, `none`, `host` or `container:NAME`;
/// without `--net`, Docker's default, the bridge, for root, and `none`
/// rootless (a bridge needs CAP_NET_ADMIN in the host's network namespace).
pub fn parse_net(text: Option<&str>, root: &Path) -> Result<NetMode, UsageError> {
    let default = if nix::unistd::geteuid().is_root() { "bridge" } else { "none" };
    let text = text.unwrap_or(default);
    let name = match text {
        "bridge" => return Ok(NetMode::Bridge),
        "none" => return Ok(NetMode::None),
        "host" => return Ok(NetMode::Host),
        other => other.strip_prefix("container:").unwrap_or(""),
    };
    if name.is_empty() {
        return Err(UsageError::BadNet(text.to_owned()));
    }
    let (state, ns, init) = joinable("network", name, root, "net")?;
    Ok(NetMode::Container { ns, state: state.dir, name: name.to_owned(), init })
}

// ANCHOR: join-net
/// `--net container:NAME`, in the container's first process, before its
/// root file system is built (so that its new sysfs shows the joined
/// namespace's interfaces): `clone` made no network namespace for it, and
/// it now enters the other container's. From then on both see one `eth0`,
/// one address, one `lo`: a server of one answers the other on 127.0.0.1.
pub fn join_network(cfg: &Config) -> Result<(), ContainerError> {
    let NetMode::Container { ns, .. } = &cfg.net_mode else { return Ok(()) };
    join(cfg, "--net", ns, CloneFlags::CLONE_NEWNET)
}
// ANCHOR_END: join-net
