//! The container's processes, parent side and child side.
//!
//! ```text
//!  mini-docker (parent)                     child = the container's PID 1
//!  ────────────────────                     ─────────────────────────────
//!  clone(NEWPID|NEWNS|NEWUTS|NEWIPC|
//!        NEWNET[|NEWUSER]) ───────────────▶ waits on the sync channel
//!  writes uid_map / gid_map
//!  writes its PID into cgroup.procs
//!  sends "go" ─────────────────────────────▶ unshare(NEWCGROUP),
//!                                            builds the rootfs, pivot_root,
//!                                            sethostname
//!  receives the pty master (-t) ◀────────── opens /dev/ptmx (-t)
//!  waits for "ready" or "error" ◀────────── sends "ready" (or the error)
//!  forwards signals to the child             init: forks the command, forwards
//!  waits, cleans up, exits with               signals, reaps orphans, exits
//!  the command's status ◀─────────────────── with the command's status
//! ```
//!
//! Every mount happens in the container's own mount namespace, so when the
//! last process in it ends the kernel takes all of them away: the host's
//! mount table is never touched. What the parent cleans up is the state
//! directory (see [`state`]).

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
    /// Absolute, resolved inside the container's root.
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
