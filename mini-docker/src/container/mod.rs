//! The container's processes: the parent that starts it, the child that
//! becomes its init, the monitor of `run -d`, the tenant of `exec`, and the
//! state directory and lock they share.
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
//!    gid_map (rootless: setgroups deny)
//!  limits: writes its PID into each
//!    cgroup.procs (unless clone3 put it
//!    there)
//!  --net bridge: a veth pair into it
//!  sends "go" ───────────────────────────▶ unshare(NEWCGROUP); --net container:
//!                                          setns(net); --net bridge: eth0's
//!                                          address and route; user namespace:
//!                                          setresuid(0); builds the rootfs
//!                                          (rootfs/); --ipc sharing; sethostname;
//!                                          lo up; pivot_root; masked paths,
//!                                          capabilities, no_new_privs (security/)
//!  receives the pty master (-t) ◀───────── opens /dev/ptmx (-t)
//!  waits for "ready" or "error" ◀───────── sends "ready" (or the error)
//!  -p: starts the port relays
//!  relays the pty (-t) or forwards         init.rs: forks the command (PID 2),
//!  signals, and waits ◀─────────────────── forwards signals, reaps orphans,
//!  returns the command's status            exits with the command's status
//! ```
//!
//! Every mount happens in the container's own mount namespace, so when the
//! last process in it ends the kernel takes all of them away: the host's
//! mount table is never touched. What is left to clean up (the cgroups, the
//! address lease, the state directory, see [`state`]) is cleaned up by the
//! caller of [`parent::run`]: `commands/run.rs`, in the foreground or, with
//! `run -d`, in the monitor (see [`monitor`]).
//!
//! `container/` owns the process model. It may use `rootfs/`, `image/`,
//! `cgroups/`, `network/` and `security/`, and may not import `commands/`;
//! one known upward import is left, to be removed: `sharing.rs` takes
//! `commands::Dirs` to find the container it joins. Inside, parent.rs,
//! child.rs, init.rs, monitor.rs, tenant.rs and sharing.rs import one
//! another (init and tenant take parent's `waited_signals`), and `rootfs/`
//! imports [`Config`] and [`state::StateDir`] back: together one import
//! cycle (`python3 ../shared/tools/modcycles.py mini-docker/src`).

mod child;
mod init;
pub mod lock;
pub mod monitor;
pub mod parent;
pub mod sharing;
pub mod state;
mod sync;
pub mod tenant;
mod tty;

use std::path::PathBuf;

use crate::image::Image;

/// A container's ID mapping when it has a user namespace: container IDs
/// `0..count` are host IDs `host_uid..` and `host_gid..`.
#[derive(Debug, Clone, Copy)]
pub struct IdMap {
    pub host_uid: u32,
    pub host_gid: u32,
    pub count: u32,
}

impl IdMap {
    /// Only one ID is mapped (rootless): `setgroups` must be denied before
    /// an unprivileged process may write `gid_map` (user_namespaces(7)).
    pub fn single(&self) -> bool {
        self.count == 1
    }
}

/// Which namespaces are new (`true`) and which are the host's.
#[derive(Debug, Clone, Copy)]
pub struct Namespaces {
    pub net: bool,
    pub pid: bool,
    pub ipc: bool,
    pub uts: bool,
    /// `Some` when the container gets a user namespace.
    pub user: Option<IdMap>,
}

/// A bind mount from the host into the container.
#[derive(Debug, Clone)]
pub struct Volume {
    pub source: PathBuf,
    /// Absolute, as seen inside the container; resolved inside its root
    /// when mounted (see `rootfs/resolve.rs`).
    pub target: String,
    pub read_only: bool,
    pub source_is_dir: bool,
}

/// Everything the container needs, decided before `clone`.
#[derive(Debug, Clone)]
pub struct Config {
    pub id: String,
    pub name: Option<String>,
    pub image: Image,
    pub hostname: String,
    pub command: Vec<String>,
    /// `KEY=VALUE` entries, the final environment.
    pub env: Vec<String>,
    pub workdir: String,
    /// `(uid, gid)` inside the container.
    pub user: (u32, u32),
    pub volumes: Vec<Volume>,
    pub read_only: bool,
    pub interactive: bool,
    /// `-t`: the command gets a pseudo-terminal.
    pub tty: bool,
    pub remove: bool,
    pub namespaces: Namespaces,
    /// Capabilities, seccomp, masked paths, --privileged.
    pub security: crate::security::Security,
    /// --ipc: private, shareable, host or container:NAME (see sharing.rs).
    pub ipc_mode: sharing::IpcMode,
    /// --pid container:NAME: that container's PID namespace.
    pub pid_join: Option<sharing::Joined>,
    /// --net: bridge, none, host or container:NAME (see sharing.rs).
    pub net_mode: sharing::NetMode,
}
