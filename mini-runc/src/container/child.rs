//! The child side, from `clone` to the command: this process is the
//! container's PID 1, and becomes the command (or `--init`'s reaper).
//!
//! In order: it joins its cgroups (on v1, itself), asks to die with
//! mini-docker, closes the descriptors it inherited, and waits for the
//! parent's "go" (its ID maps written, on v2 its cgroups joined, the
//! createRuntime hook run). Then it unshares its cgroup
//! namespace, joins another container's network namespace (`--net
//! container:NAME`), runs the createContainer hook, becomes root of its
//! user namespace,
//! builds the root filesystem (`rootfs/`), shares IPC (`sharing.rs`), sets
//! the hostname (and an OCI bundle's domain name), brings up `lo` (as
//! root the parent does, meanwhile), makes
//! a bundle's time namespace and runs its createContainer hooks, switches
//! root with `pivot_root`, confines itself (`security/`), waits for a
//! second "go" if the parent works meanwhile (`lo`, the engine's step),
//! opens the pty
//! (`-t`), reports "ready", and goes on in `init.rs`: it `execve`s the
//! command, or with `--init` forks it and reaps. Each step returns its error, and [`main`] alone reports it
//! to the parent, across the sync channel.
//!
//! It imports its `container/` siblings below it (init, process, sharing,
//! state, sync, tty, the start report), `rootfs/` (which it hands a plain
//! `rootfs::Spec`, see [`rootfs_spec`]) and `security/`.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::Path;
use std::sync::Arc;

use nix::fcntl::OFlag;

use nix::errno::Errno;
use nix::sys::signal::Signal;
use nix::unistd::sethostname;

use crate::container::state::StateDir;
use crate::container::sync::SyncChannel;
use crate::container::{
    Config, Extras, IdMap, IdRange, IpcMode, Lower, Namespaces, NetMode, TimeOffset, hook_programs,
    init, process, start_report, tty,
};
use crate::error::{ContainerError, EXIT_RUNTIME, Error, ProcessError};
use crate::rootfs;

/// The body of the cloned process; its return value is the exit status.
pub fn main(
    cfg: &Config,
    state: &StateDir,
    chan: &mut SyncChannel,
    extras: &Extras,
    cgroup_tasks: &[OwnedFd],
) -> isize {
    // In a user namespace joined by path, its maps are the kernel's to
    // tell: the same decisions follow from them as from maps of our own.
    let joined;
    let cfg = match extras.user_join.as_ref().map(|_| joined_user_map()) {
        None => cfg,
        Some(Ok(map)) => {
            joined = Config {
                namespaces: Namespaces { user: Some(map), ..cfg.namespaces.clone() },
                ..cfg.clone()
            };
            &joined
        }
        Some(Err(e)) => {
            chan.error(&e.to_string());
            return EXIT_RUNTIME.into();
        }
    };
    match prepare(cfg, state, chan, extras, cgroup_tasks) {
        Ok((slave, fifo, hook_state)) => {
            // The bundle's startContainer hooks, which init runs once
            // `start` has come, with the state read before pivot_root.
            let start_hooks = match hook_state {
                Some(state) if !extras.start_container.is_empty() => {
                    Some((&extras.start_container[..], state))
                }
                _ => None,
            };
            init::run(cfg, slave, fifo, start_hooks).into()
        }
        Err(e) => {
            // The one place the child reports a failure: every step below
            // returns its error here, and the parent prints it (once the
            // channel is broken, the send fails and the parent reads
            // end-of-file instead).
            chan.error(&e.to_string());
            EXIT_RUNTIME.into()
        }
    }
}

/// Everything from `clone` to "ready": the container is set up, and its
/// init gets the pty's slave (`-t`), the exec fifo (`create`) and the
/// state the bundle's createContainer hooks were given.
type Prepared = (Option<OwnedFd>, Option<OwnedFd>, Option<String>);

fn prepare(
    cfg: &Config,
    state: &StateDir,
    chan: &mut SyncChannel,
    extras: &Extras,
    cgroup_tasks: &[OwnedFd],
) -> Result<Prepared, Error> {
    // cgroup v1: into the container's cgroups before anything else, by
    // writing "0" into each `tasks` file the parent opened (see
    // cgroups::tasks_files for why the child moves itself).
    crate::cgroups::join_self(cgroup_tasks)
        .map_err(ContainerError::sys("write(cgroup tasks, \"0\")"))?;
    let exec_fifo = extras.exec_fifo.as_deref();
    // If mini-docker dies (even by SIGKILL) the container dies with it;
    // not after an OCI `create`, whose caller exits at once.
    if exec_fifo.is_none() {
        // SAFETY: prctl with integer arguments only.
        unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, Signal::SIGKILL as libc::c_ulong, 0, 0, 0) };
    }
    // `create`: the exec fifo, held by an O_PATH descriptor from here on,
    // since its path on the host is out of reach after pivot_root (init
    // reopens it through /proc/self/fd, see init.rs).
    let fifo = match exec_fifo {
        Some(path) => {
            Some(open_path(path).map_err(ContainerError::sys(format!("open({path:?}, O_PATH)")))?)
        }
        None => None,
    };
    // Kept: the sync channel, the start report (run -d), the exec fifo,
    // and the other container's namespaces this process joins itself
    // (--ipc and --net container:NAME; mini-docker joined --pid's before
    // the clone).
    let mut keep = vec![chan.as_raw_fd()];
    keep.extend(fifo.as_ref().map(AsRawFd::as_raw_fd));
    keep.extend(start_report::write_end());
    if let IpcMode::Container { ns, .. } = &cfg.ipc_mode {
        keep.push(ns.as_raw_fd());
    }
    if let NetMode::Container { ns, .. } = &cfg.net_mode {
        keep.push(ns.as_raw_fd());
    }
    keep.extend(extras.mount_join.as_ref().map(AsRawFd::as_raw_fd));
    close_inherited(&keep).map_err(ContainerError::sys("close_range"))?;
    // The idmapped mounts the parent made for us come just before "go".
    let idmapped = if cfg.wants_idmaps(extras) { chan.recv_mounts()? } else { Vec::new() };
    chan.wait_go()?;
    // We are in our cgroups (if any), moved there by the parent or born
    // there by clone3: a new cgroup namespace now makes them the `/` of
    // /proc/self/cgroup (cgroup_namespaces(7); claim CG-NS). Made here and
    // not by clone: its root is the cgroup the process is in when it is
    // made. Without one (`--cgroupns host`) the host's paths show.
    if cfg.namespaces.cgroup {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWCGROUP)
            .map_err(ContainerError::sys("unshare(CLONE_NEWCGROUP)"))?;
    }
    // --net container:NAME: into that container's network namespace, before
    // the root file system is built: the sysfs mounted there shows the
    // interfaces of the namespace its mounter is in.
    crate::container::sharing::join_network(cfg)?;
    // The createContainer hook, inside the namespaces and while the host's
    // paths are in reach (mini-docker sets none now; `Hooks` keeps the
    // step for an engine that needs it).
    if let Some(hook) = &cfg.hooks.create_container {
        hook().map_err(|e| ContainerError::Hook {
            step: "createContainer",
            message: e.to_string(),
        })?;
    }
    crate::container::spec::write_sysctls(&extras.sysctl)?;
    let hook_state = set_up(cfg, state, extras, idmapped)?;
    // The other containers' namespaces are joined now: their descriptors go
    // too. (Their owners, in the copy of `cfg` this process has, are never
    // dropped here: this process ends by an exit system call, never by
    // unwinding.)
    let mut keep = vec![chan.as_raw_fd()];
    keep.extend(start_report::write_end());
    keep.extend(fifo.as_ref().map(AsRawFd::as_raw_fd));
    close_inherited(&keep).map_err(ContainerError::sys("close_range"))?;
    // The parent's work alongside this setup has ended (see
    // `Config::works_alongside`): `lo` is up, the engine's files exist.
    if cfg.works_alongside(extras) {
        chan.wait_go()?;
    }
    let mut slave = None;
    if cfg.tty {
        // After pivot_root: /dev/ptmx is the container's devpts.
        let (master, pty) = tty::open_pty()?;
        // Before the master leaves and the command runs, so that its first
        // TIOCGWINSZ reads the bundle's size.
        if let Some((rows, cols)) = extras.console_size {
            tty::set_window_size(&master, rows, cols)
                .map_err(ContainerError::sys("process.consoleSize: TIOCSWINSZ"))?;
        }
        chan.send_fd(&master)?;
        slave = Some(pty);
    }
    chan.ready()?;
    Ok((slave, fifo, hook_state))
}

/// `open(path, O_PATH | O_CLOEXEC)`: a handle on the file, not opened for
/// reading or writing (open(2)); the command's `execve` closes it.
fn open_path(path: &Path) -> Result<OwnedFd, Errno> {
    nix::fcntl::open(path, OFlag::O_PATH | OFlag::O_CLOEXEC, nix::sys::stat::Mode::empty())
}

/// Closes every descriptor but 0, 1, 2 and `keep` (see
/// [`process::close_all_but`]). This process is a copy of mini-docker and
/// holds mini-docker's descriptors: the parent's end of the sync channel,
/// the sockets of published ports (bound in the host's network namespace),
/// a cgroup directory. Close-on-exec would close them at `execve`, but the
/// container's init never calls it: left open, they would live as long as
/// the container, and its root could reach them through `/proc/1/fd`.
fn close_inherited(keep: &[RawFd]) -> Result<(), Errno> {
    // SAFETY: their owners live in the parent's frames (`cfg` included)
    // and in statics, which this copy never returns to nor drops (it ends
    // by an exit system call, not by unwinding): nothing closes them again
    // or uses their numbers afterwards.
    unsafe { process::close_all_but(keep) }
}

// ANCHOR: set-up
/// Returns the state JSON for the bundle's startContainer hooks, when it
/// has program hooks (read while the host's paths are in reach).
fn set_up(
    cfg: &Config,
    state: &StateDir,
    extras: &Extras,
    idmapped: Vec<(String, OwnedFd)>,
) -> Result<Option<String>, Error> {
    if cfg.namespaces.user.is_some() {
        become_root()?;
    }
    // A mount namespace joined by path: the root is built there, from its
    // view of the paths (runc's way); before any mount, and with the
    // capabilities of the user namespace that owns it (ours by now).
    if let Some(mnt) = &extras.mount_join {
        let at = mnt.path().unwrap_or("linux.namespaces (mount).path");
        nix::sched::setns(mnt, nix::sched::CloneFlags::CLONE_NEWNS)
            .map_err(ContainerError::sys(format!("setns({at:?}, CLONE_NEWNS)")))?;
    }
    let root = rootfs::prepare(&rootfs_spec(cfg, state, extras, idmapped))?;
    // --ipc shareable or container:NAME: /dev/shm (and the IPC namespace).
    crate::container::sharing::share_ipc(&root, cfg, state)?;
    // (No hostname, from an OCI bundle: the UTS namespace keeps the copy
    // of the host's it starts with, as under runc.)
    if cfg.namespaces.uts && !cfg.hostname.is_empty() {
        sethostname(&cfg.hostname)
            .map_err(ContainerError::sys(format!("sethostname({:?})", cfg.hostname)))?;
    }
    // (spec.rs refuses a domainname without a UTS namespace of its own.)
    if let Some(name) = &extras.domainname {
        set_domainname(name)?;
    }
    // A new network namespace's `lo` starts down; one joined by path is
    // someone else's, and left as it is (runc does the same). As root,
    // the parent brings it up meanwhile (see `Config::loopback_by_parent`).
    if cfg.namespaces.net && !extras.net_joined && !cfg.loopback_by_parent(extras) {
        rootfs::loopback_up()?;
    }
    if let Some(offsets) = &extras.time_offsets {
        new_time_namespace(offsets)?;
    }
    let hook_state = create_container_hooks(extras)?;
    rootfs::pivot_root(&root)?;
    if cfg.read_only {
        rootfs::remount_read_only("/")?;
    }
    // Masked paths, then the root's propagation (an unbindable /dev could
    // lend no /dev/null to a mask), then capabilities and no_new_privs:
    // each step needs a privilege the next takes away (see security/mod.rs
    // for the order).
    own_limits(extras)?;
    crate::security::cover_paths(&cfg.security)?;
    if let Some(flags) = extras.rootfs_propagation {
        rootfs::set_propagation("/", flags)?;
    }
    crate::security::confine_init(&cfg.security)?;
    Ok(hook_state)
}
// ANCHOR_END: set-up

/// The bundle's rlimits, umask and OOM score, set on this process before
/// its capabilities are dropped (raising a hard limit or lowering the
/// score takes CAP_SYS_RESOURCE); the command inherits them.
fn own_limits(extras: &Extras) -> Result<(), ContainerError> {
    for &(resource, soft, hard) in &extras.rlimits {
        let limit = libc::rlimit { rlim_cur: soft, rlim_max: hard };
        // SAFETY: a valid rlimit for a resource number from libc.
        if unsafe { libc::setrlimit(resource as _, &limit) } != 0 {
            let call = format!("process.rlimits: setrlimit({resource}, {soft}, {hard})");
            return Err(ContainerError::Sys { call, errno: nix::errno::Errno::last() });
        }
    }
    if let Some(score) = extras.oom_score_adj {
        let path = std::path::PathBuf::from("/proc/self/oom_score_adj");
        std::fs::write(&path, score.to_string()).map_err(|source| ContainerError::Io {
            what: "writing",
            path,
            source,
        })?;
    }
    if let Some(mask) = extras.umask {
        nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(mask as libc::mode_t));
    }
    Ok(())
}

/// setdomainname(2): the NIS domain name, which a UTS namespace holds
/// next to the hostname (uts_namespaces(7)); nix has no wrapper for it.
fn set_domainname(name: &str) -> Result<(), ContainerError> {
    let call = || format!("setdomainname({name:?})");
    // SAFETY: a pointer to `name`'s bytes and their length; the kernel
    // copies them and needs no terminating NUL.
    let ret = unsafe { libc::setdomainname(name.as_ptr().cast(), name.len()) };
    Errno::result(ret).map(drop).map_err(ContainerError::sys(call()))
}

// ANCHOR: time-namespace
/// A time namespace for the container: `unshare(CLONE_NEWTIME)` moves
/// only this process's *future children* into it (time_namespaces(7)),
/// and its clock offsets may be written only until the first of them is
/// born, so they are written here, at once: every process started from
/// now on (the createContainer hooks, the command, and whatever it
/// starts) sees CLOCK_MONOTONIC and CLOCK_BOOTTIME (and `/proc/uptime`)
/// moved by them. This process enters it too, at its `execve` of the
/// command: recent kernels' `execve` moves a process into its namespace
/// for children (`mini_runc_fields.rs` checks the command's uptime);
/// `--init`'s reaper stays outside.
fn new_time_namespace(offsets: &[TimeOffset]) -> Result<(), ContainerError> {
    let flag = nix::sched::CloneFlags::from_bits_retain(libc::CLONE_NEWTIME);
    nix::sched::unshare(flag).map_err(ContainerError::sys("unshare(CLONE_NEWTIME)"))?;
    // "<clock> <seconds> <nanoseconds>", one line per clock.
    let text: String = offsets.iter().map(|(clock, s, ns)| format!("{clock} {s} {ns}\n")).collect();
    if text.is_empty() {
        return Ok(());
    }
    std::fs::write("/proc/self/timens_offsets", &text).map_err(|e| ContainerError::Sys {
        call: format!("writing {text:?} to /proc/self/timens_offsets"),
        errno: Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
    })
}
// ANCHOR_END: time-namespace

/// The bundle's createContainer hooks: programs found on the host's paths
/// (the root is not switched yet), run in the container's namespaces
/// with the state JSON the caller wrote at its createRuntime step.
/// Returns that state for the startContainer hooks.
fn create_container_hooks(extras: &Extras) -> Result<Option<String>, Error> {
    let Some(path) = &extras.hook_state else { return Ok(None) };
    let state = std::fs::read_to_string(path).map_err(|source| ContainerError::Io {
        what: "hooks: reading the state JSON",
        path: path.clone(),
        source,
    })?;
    let creating = hook_programs::with_status(&state, "creating");
    hook_programs::run_all("hooks.createContainer", &extras.create_container, &creating)
        .map_err(ContainerError::HookProgram)?;
    Ok(Some(state))
}

/// What `rootfs/` builds, in plain paths and flags: the container's
/// settings and its state directory's layout, and the idmapped mounts
/// the parent made (the image's goes on `<state>/lower`, an empty
/// directory, which the overlay then takes as its lower layer; a layered
/// image's layer N on `<state>/lower/N`).
fn rootfs_spec(
    cfg: &Config,
    state: &StateDir,
    extras: &Extras,
    idmapped: Vec<(String, OwnedFd)>,
) -> rootfs::Spec {
    let mut idmapped_lower = Vec::new();
    let mut idmapped_volumes = Vec::new();
    for (name, tree) in idmapped {
        match (name.parse::<usize>(), name.strip_prefix("lower/")) {
            (Ok(i), _) => idmapped_volumes.push((i, Arc::new(tree))),
            (_, Some(layer)) => {
                idmapped_lower.push((layer.parse::<usize>().unwrap_or(0), Arc::new(tree)));
            }
            _ => idmapped_lower.push((0, Arc::new(tree))),
        }
    }
    idmapped_lower.sort_by_key(|(n, _)| *n);
    let idmapped_lower: Vec<Arc<OwnedFd>> = idmapped_lower.into_iter().map(|(_, t)| t).collect();
    let (lower, host_dirs) = match &cfg.lower {
        Lower::Skeleton(host_dirs) => (vec![state.lower()], host_dirs.clone()),
        Lower::Directory(_) if !idmapped_lower.is_empty() => (vec![state.lower()], Vec::new()),
        Lower::Directory(dir) => (vec![dir.clone()], Vec::new()),
        Lower::Layers(layers) if idmapped_lower.len() == layers.len() => {
            let points = (0..layers.len()).map(|n| state.lower().join(n.to_string()));
            (points.collect(), Vec::new())
        }
        Lower::Layers(layers) => (layers.clone(), Vec::new()),
    };
    rootfs::Spec {
        lower,
        idmapped_lower,
        idmapped_volumes,
        host_dirs,
        upper: state.upper(),
        work: state.work(),
        target: state.rootfs(),
        user_namespace: cfg.namespaces.user.is_some(),
        single_id: cfg.namespaces.user.as_ref().is_some_and(|m| m.single()),
        // --pid container:NAME: no new namespace, but not the host's either.
        pid_namespace: cfg.namespaces.pid || cfg.pid_join.is_some(),
        // --net container:NAME: joined already (see `main`).
        net_namespace: cfg.namespaces.net || matches!(cfg.net_mode, NetMode::Container { .. }),
        ipc_namespace: cfg.namespaces.ipc,
        sys_writable: extras.sys_writable,
        etc: state.etc(),
        volumes: cfg.volumes.clone(),
        workdir: cfg.workdir.clone(),
        cgroup_fs: extras.cgroup_fs,
        bind_root: extras.bind_root,
        devices: extras.devices.clone(),
    }
}

/// Our UIDs are still the caller's (with `--userns auto` as root, host
/// root, which is not mapped); switch to the namespace's root so that files
/// we create belong to it. `setgroups` is refused where the namespace's
/// `setgroups` file says "deny" (the parent writes it when only one GID is
/// mapped).
fn become_root() -> Result<(), ProcessError> {
    let no_groups: &[u32] = &[];
    process::switch_identity(0, 0, process::may_set_groups().then_some(no_groups))
}

// ANCHOR: joined-user-map
/// The ID map of the user namespace this process joined, as its
/// `/proc/self/uid_map` and `gid_map` show it from inside (one line per
/// range: the first ID inside, the first outside, the count). The setup
/// runs as the namespace's root, so ID 0 must be mapped.
fn joined_user_map() -> Result<IdMap, ContainerError> {
    let ranges = |file: &str| -> Result<Vec<IdRange>, ContainerError> {
        let path = std::path::PathBuf::from(file);
        let text = std::fs::read_to_string(&path).map_err(|source| ContainerError::Io {
            what: "reading",
            path,
            source,
        })?;
        Ok(text
            .lines()
            .filter_map(|line| {
                let mut n = line.split_whitespace().map(|w| w.parse::<u32>().ok());
                Some(IdRange { container: n.next()??, host: n.next()??, size: n.next()?? })
            })
            .collect())
    };
    let (uids, gids) = (ranges("/proc/self/uid_map")?, ranges("/proc/self/gid_map")?);
    let root = |list: &[IdRange]| list.iter().find(|r| r.container == 0).copied();
    let (Some(u), Some(g)) = (root(&uids), root(&gids)) else {
        return Err(ContainerError::Sys {
            call: "linux.namespaces (user).path: the namespace joined maps no user or group 0 \
                   (the container's setup runs as its root)"
                .to_owned(),
            errno: Errno::EINVAL,
        });
    };
    let others = |list: Vec<IdRange>| list.into_iter().filter(|r| r.container != 0).collect();
    Ok(IdMap {
        host_uid: u.host,
        host_gid: g.host,
        count: u.size.min(g.size),
        more_uids: others(uids),
        more_gids: others(gids),
    })
}
// ANCHOR_END: joined-user-map
