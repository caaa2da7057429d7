//! A container's state directory: `<root>/<id>/`.
//!
//! ```text
//! <id>/name        the --name, if any
//! <id>/owner       "PID START": the mini-docker process running it
//! <id>/remove      present with --rm
//! <id>/lower/      the host image's skeleton (host image only)
//! <id>/upper/      overlayfs upper layer: everything the container wrote
//! <id>/work/       overlayfs work directory (the kernel's scratch space)
//! <id>/rootfs/     the mount point of the overlay, then of pivot_root
//! <id>/etc/        hostname, hosts, resolv.conf, bind-mounted into /etc
//! <id>/config.json the bundle's settings (mini-docker's engine writes it;
//!                  the process model reads it, see spec.rs)
//! <id>/seccomp.json its `linux.seccomp`, compiled again by `exec`
//! <id>/exec.json   what `exec` needs to know (see tenant.rs)
//! <id>/log         run -d: what the container wrote (mini-docker's monitor.rs)
//! <id>/shm/        --ipc shareable: its /dev/shm (see sharing.rs)
//! <id>/cgroups     the cgroups made and the limits (see cgroups/)
//! <id>/network     the address, veth and ports (mini-docker's network/)
//! <id>/lease       a link to the address's lease (its network/ipam.rs)
//! ```
//! Only files live here; the mounts on `rootfs/` exist in the container's
//! mount namespace alone. With `--rm` the whole directory goes when the
//! container ends; without it the upper layer, the name, the log and
//! `shm/` stay.
//!
//! What a container leaves outside its mount namespace goes in one place,
//! [`StateDir::tear_down`] (its cgroups, then this directory), which the
//! engine calls after freeing its own records (mini-docker's
//! `teardown.rs`) and the mini-runc binary calls on its own.
//!
//! A mini-docker killed with SIGKILL cannot clean up (its container dies
//! with it: the child has PR_SET_PDEATHSIG, and the mounts go with the
//! mount namespace). The next `run` notices that the `owner` process is
//! gone ([`StateDir::abandoned`]) and finishes the cleanup.
//!
//! It imports `container/`'s [`Config`] and [`NetMode`], `rootfs/`'s
//! `remove_tree`, and `cgroups/` for the teardown; no other file of
//! `container/` and nothing above it.

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::container::{Config, NetMode};
use crate::error::{ContainerError, UsageError};
use crate::rootfs::remove_tree;

#[derive(Debug)]
pub struct StateDir {
    pub dir: PathBuf,
}

fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> ContainerError {
    let path = path.to_owned();
    move |source| ContainerError::Io { what, path, source }
}

/// The name a retired container directory gets before its ID (see
/// [`StateDir::retire`]).
pub const RETIRED: &str = ".removing-";

/// Whether a state root's entry is a retired directory.
fn retired(entry: &std::fs::DirEntry) -> bool {
    entry.file_name().to_string_lossy().starts_with(RETIRED)
}

/// The marker [`StateDir::mark_restarting`] leaves.
const RESTARTING: &str = "restarting";

/// `mkdir` with an exact mode (the umask would change it).
fn mkdir(path: &Path, mode: u32) -> Result<(), ContainerError> {
    std::fs::DirBuilder::new().mode(mode).create(path).map_err(io("creating", path))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(io("chmod", path))
}

impl StateDir {
    /// Checks that `name` is free among the containers under `root`.
    pub fn check_name(root: &Path, name: &str) -> Result<(), UsageError> {
        let Ok(entries) = std::fs::read_dir(root) else { return Ok(()) };
        for entry in entries.filter_map(Result::ok).filter(|e| !retired(e)) {
            if std::fs::read_to_string(entry.path().join("name")).is_ok_and(|n| n == name) {
                return Err(UsageError::NameInUse(name.to_owned()));
            }
        }
        Ok(())
    }

    /// Creates `<root>/<id>/` and what the container needs in it. The
    /// directories are 0711 so that, with `--userns auto`, the container's
    /// root (an unprivileged host UID) can reach its upper layer.
    pub fn create(root: &Path, cfg: &Config) -> Result<StateDir, ContainerError> {
        let state = StateDir::make(root, &cfg.id)?;
        if let Err(e) = state.fill(cfg) {
            state.remove();
            return Err(e);
        }
        Ok(state)
    }

    /// The first half of [`StateDir::create`], for an engine that writes
    /// the bundle's `config.json` into the directory before the process
    /// model reads it: `<root>/<id>/` and its empty `rootfs/` (the bundle's
    /// `root.path`), nothing else. [`StateDir::fill`] does the rest.
    pub fn make(root: &Path, id: &str) -> Result<StateDir, ContainerError> {
        if !root.is_dir() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o711)
                .create(root)
                .map_err(io("creating", root))?;
        }
        let dir = root.join(id);
        mkdir(&dir, 0o711)?;
        let state = StateDir { dir };
        if let Err(e) = mkdir(&state.rootfs(), 0o755) {
            state.remove();
            return Err(e);
        }
        Ok(state)
    }

    /// What the container needs in its directory, from its settings.
    pub fn fill(&self, cfg: &Config) -> Result<(), ContainerError> {
        if let Some(name) = &cfg.name {
            let path = self.dir.join("name");
            std::fs::write(&path, name).map_err(io("writing", &path))?;
        }
        self.record_owner()?;
        if cfg.remove {
            std::fs::write(self.dir.join("remove"), "").map_err(io("writing", &self.dir))?;
        }
        // A restarted container keeps the upper layer it had.
        if !self.upper().is_dir() {
            mkdir(&self.upper(), 0o755)?;
        }
        for dir in [self.work(), self.etc()] {
            mkdir(&dir, 0o755)?;
        }
        let hosts = format!(
            "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t{}\n",
            cfg.hostname
        );
        // With the host's network the host's resolvers work; with none there
        // is nothing to resolve through.
        let resolv = if cfg.namespaces.net {
            "# no network: mini-docker --net none\n".to_owned()
        } else {
            std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default()
        };
        for (name, text) in
            [("hostname", format!("{}\n", cfg.hostname)), ("hosts", hosts), ("resolv.conf", resolv)]
        {
            let path = self.etc().join(name);
            std::fs::write(&path, text).map_err(io("writing", &path))?;
        }
        // --net container:NAME: the other container's names and resolvers.
        if let NetMode::Container { state, name: other_name, .. } = &cfg.net_mode {
            let other = StateDir { dir: state.clone() };
            for name in ["hosts", "resolv.conf"] {
                let (from, to) = (other.etc().join(name), self.etc().join(name));
                std::fs::copy(&from, &to).map_err(|e| match e.kind() {
                    // It ended after its name was checked.
                    std::io::ErrorKind::NotFound => {
                        ContainerError::Ended { kind: "network", name: other_name.clone() }
                    }
                    _ => io("copying", &from)(e),
                })?;
            }
        }
        // With --userns auto the container's root is a host UID such as
        // 100000: the layers it writes to must belong to it.
        if let Some(map) = cfg.namespaces.user.as_ref().filter(|m| !m.single()) {
            for dir in [self.upper(), self.work()] {
                std::os::unix::fs::chown(&dir, Some(map.host_uid), Some(map.host_gid))
                    .map_err(io("chown", &dir))?;
            }
        }
        Ok(())
    }

    pub fn lower(&self) -> PathBuf {
        self.dir.join("lower")
    }
    pub fn upper(&self) -> PathBuf {
        self.dir.join("upper")
    }
    pub fn work(&self) -> PathBuf {
        self.dir.join("work")
    }
    pub fn rootfs(&self) -> PathBuf {
        self.dir.join("rootfs")
    }
    pub fn etc(&self) -> PathBuf {
        self.dir.join("etc")
    }

    /// Removes everything (`--rm`, or a container that never started).
    pub fn remove(&self) {
        remove_tree(&self.dir);
    }

    /// Removes what only a running container needs; keeps `upper/` and
    /// `name` so the container's changes survive it.
    pub fn remove_runtime_parts(&self) {
        let file = |name: &str| self.dir.join(name);
        let (owner, exec, seccomp) = (file("owner"), file("exec.json"), file("seccomp.json"));
        for dir in [self.lower(), self.work(), self.rootfs(), self.etc(), owner, exec, seccomp] {
            remove_tree(&dir);
        }
    }

    /// Every container under `root`: (ID, name), sorted by ID.
    pub fn list(root: &Path) -> Vec<(String, String)> {
        let Ok(entries) = std::fs::read_dir(root) else { return Vec::new() };
        let mut all: Vec<(String, String)> = entries
            .filter_map(Result::ok)
            .filter(|e| !retired(e) && e.path().is_dir())
            .map(|e| {
                let name = std::fs::read_to_string(e.path().join("name")).unwrap_or_default();
                (e.file_name().to_string_lossy().into_owned(), name)
            })
            .collect();
        all.sort();
        all
    }

    /// The container under `root` whose name is `key`, or whose ID starts
    /// with it.
    pub fn find(root: &Path, key: &str) -> Option<StateDir> {
        let matches: Vec<String> = StateDir::list(root)
            .into_iter()
            .filter(|(id, name)| name == key || (!key.is_empty() && id.starts_with(key)))
            .map(|(id, _)| id)
            .collect();
        match matches.as_slice() {
            [id] => Some(StateDir { dir: root.join(id) }),
            _ => None,
        }
    }

    /// Records this process as the container's `owner`: "PID START". The
    /// file is written aside and renamed over the old one, so that a
    /// concurrent `run`'s sweep never reads it empty or half-written and
    /// takes a starting container for a dead one (rename(2) is atomic).
    pub fn record_owner(&self) -> Result<(), ContainerError> {
        let me = std::process::id();
        let (path, aside) = (self.dir.join("owner"), self.dir.join("owner.new"));
        std::fs::write(&aside, format!("{me} {}\n", start_time(me).unwrap_or_default()))
            .and_then(|()| std::fs::rename(&aside, &path))
            .map_err(io("writing", &path))
    }

    /// Whether the mini-docker process that started it still runs.
    pub fn running(&self) -> bool {
        let Ok(owner) = std::fs::read_to_string(self.dir.join("owner")) else { return false };
        let mut fields = owner.split_whitespace();
        let pid = fields.next().and_then(|p| p.parse::<u32>().ok());
        let start = fields.next().and_then(|s| s.parse::<u64>().ok());
        pid.is_some_and(|pid| start_time(pid) == start)
    }

    /// As `ps` and `inspect` show it: "running" while its `owner`
    /// (mini-docker, or `run -d`'s monitor) runs; "dead" when the owner is
    /// gone without cleaning up (its `owner` file is still there); else
    /// "exited" (kept).
    pub fn status(&self) -> &'static str {
        if self.running() {
            "running"
        } else if self.dir.join("owner").exists() {
            "dead"
        } else {
            "exited"
        }
    }

    /// Marks the container as being restarted, before it is stopped: its
    /// teardown then keeps the upper layer even if it was run with `--rm`
    /// (a `docker restart` keeps such a container too).
    pub fn mark_restarting(&self) -> Result<(), ContainerError> {
        let path = self.dir.join(RESTARTING);
        std::fs::write(&path, "").map_err(io("writing", &path))
    }

    /// Takes [`StateDir::mark_restarting`]'s mark away (a restart that
    /// could not start it again: its `--rm` holds again).
    pub fn clear_restarting(&self) {
        let _ = std::fs::remove_file(self.dir.join(RESTARTING));
    }

    /// Whether [`StateDir::mark_restarting`] marked it.
    pub fn restarting(&self) -> bool {
        self.dir.join(RESTARTING).exists()
    }

    /// A stopped container about to start again in this directory: what
    /// its teardown removed (the mount point of its root) is made anew;
    /// its upper layer, log and records stay.
    pub fn reopen(&self) -> Result<(), ContainerError> {
        self.clear_restarting();
        if !self.rootfs().is_dir() {
            mkdir(&self.rootfs(), 0o755)?;
        }
        Ok(())
    }

    /// What of it stays once it has ended: nothing with `--rm`, else its
    /// upper layer (and name, log, `shm/`).
    pub fn keeps(&self) -> Keep {
        if self.dir.join("remove").exists() && !self.restarting() {
            Keep::Nothing
        } else {
            Keep::Upper
        }
    }

    /// The runtime's share of a container's teardown, once its processes
    /// are gone or going: its cgroups (killing what is still in them, see
    /// `cgroups::remove`), then its state directory, all of it or all but
    /// what [`Keep::Upper`] keeps. The mounts need nothing: they lived in
    /// the container's mount namespace and went with its last process.
    /// The engine frees its own records first (mini-docker's `teardown.rs`).
    pub fn tear_down(&self, keep: Keep) {
        crate::cgroups::remove(&self.dir);
        match keep {
            Keep::Nothing => self.remove(),
            Keep::Upper => self.remove_runtime_parts(),
        }
    }

    /// The containers under `root` whose mini-docker was killed before it
    /// could clean up: their `owner` process no longer exists (or is
    /// another process that got the same PID: the start time differs).
    /// The engine's sweep tears each one down.
    pub fn abandoned(root: &Path) -> Vec<StateDir> {
        let Ok(entries) = std::fs::read_dir(root) else { return Vec::new() };
        entries
            .filter_map(Result::ok)
            .filter(|entry| !retired(entry))
            .map(|entry| StateDir { dir: entry.path() })
            .filter(|state| state.dir.join("owner").exists() && !state.running())
            .collect()
    }

    // ANCHOR: retire
    /// Takes an ended container's directory out of sight in one
    /// `rename(2)` (atomic: a listing sees it whole or not at all), so that
    /// its removal can go on after the command that ran it has returned;
    /// returns the directory under its new name. No listing, name check or
    /// sweep of containers sees a retired directory; [`StateDir::retired`]
    /// finds those whose removal was cut short.
    pub fn retire(&self) -> Result<StateDir, ContainerError> {
        let to = self.retired_path();
        std::fs::rename(&self.dir, &to).map_err(io("renaming", &self.dir))?;
        Ok(StateDir { dir: to })
    }

    /// The path [`StateDir::retire`] renames the directory to.
    pub fn retired_path(&self) -> PathBuf {
        let id = self.dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        self.dir.with_file_name(format!("{RETIRED}{id}"))
    }
    // ANCHOR_END: retire

    /// The retired directories under `root` (see [`StateDir::retire`]).
    pub fn retired(root: &Path) -> Vec<StateDir> {
        let Ok(entries) = std::fs::read_dir(root) else { return Vec::new() };
        entries
            .filter_map(Result::ok)
            .filter(|entry| retired(entry) && entry.path().is_dir())
            .map(|entry| StateDir { dir: entry.path() })
            .collect()
    }
}

/// What [`StateDir::tear_down`] leaves of a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// `--rm`, `rm`, or a container that never started: everything goes.
    Nothing,
    /// A container kept after it ended: its upper layer (what it wrote),
    /// its name, its log.
    Upper,
}

/// A live process's start time (field 22 of /proc/PID/stat, in clock
/// ticks since boot): with the PID, it names one process for good. `None`
/// when there is no such process, or only its zombie (dead, not yet reaped).
pub fn start_time(pid: u32) -> Option<u64> {
    use std::io::Read as _;
    // Room for the whole line at once: /proc's files report a size of 0,
    // so read_to_string would read it in growing pieces, six reads.
    let mut stat = String::with_capacity(1024);
    std::fs::File::open(format!("/proc/{pid}/stat")).ok()?.read_to_string(&mut stat).ok()?;
    // The command name (field 2) may hold spaces; the rest follows ')'.
    let mut rest = stat.rsplit_once(')')?.1.split_whitespace();
    if matches!(rest.next(), Some("Z" | "X")) {
        return None;
    }
    rest.nth(18)?.parse().ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn start_time_names_this_process() {
        let me = std::process::id();
        assert!(super::start_time(me).is_some_and(|t| t > 0));
        assert_eq!(super::start_time(me), super::start_time(me));
        assert_eq!(super::start_time(u32::MAX), None);
    }
}
