//! The parent side: clone the container's first process into its new
//! namespaces, write its ID maps, put it in its cgroups, run the
//! createRuntime hook, say "go", work alongside the child's setup (its
//! `lo`, the engine's step: the bridge, the bundle's files), say "go"
//! again, then wait for it, forwarding signals. If
//! the start fails it kills the child; the rest of the cleanup is its
//! caller's (mini-docker's `commands/run.rs`).
//!
//! It imports its `container/` siblings below it (child, sharing, state,
//! signals, sync, tty, the start report) and `cgroups/`; no sibling
//! imports it.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sched::setns;
use nix::sched::{CloneFlags, clone};
use nix::sys::signal::{SigSet, SigmaskHow, Signal, kill, sigprocmask};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork, geteuid};

use crate::container::signals::waited_signals;
use crate::container::state::StateDir;
use crate::container::sync::SyncChannel;
use crate::container::{
    Config, Extras, IdMap, Joined, Lower, Namespaces, child, start_report, tty,
};
use crate::error::ContainerError;
use crate::rootfs::idmap;

/// The stack `clone(2)` gives the child. The child, the container's init,
/// runs on it for its whole life, but only sets up the container, forks
/// the command (whose `execve` brings a stack of its own) and waits, so
/// 1 MiB is plenty (pages it never touches cost nothing). `clone3` needs
/// none: there the child goes on with a copy of the caller's stack.
const STACK_SIZE: usize = 1024 * 1024;

impl Namespaces {
    /// The `clone` flags: a mount namespace always, the others unless the
    /// host's was asked for. The cgroup namespace comes later: the child
    /// unshares it once it is in its cgroups (moved there, or born there by
    /// `clone3`), so that its cgroup is the `/` it sees (see `child.rs`).
    // ANCHOR: clone-flags
    pub fn clone_flags(&self) -> CloneFlags {
        let mut flags = CloneFlags::CLONE_NEWNS;
        for (new, flag) in [
            (self.pid, CloneFlags::CLONE_NEWPID),
            (self.uts, CloneFlags::CLONE_NEWUTS),
            (self.ipc, CloneFlags::CLONE_NEWIPC),
            (self.net, CloneFlags::CLONE_NEWNET),
            (self.user.is_some(), CloneFlags::CLONE_NEWUSER),
        ] {
            if new {
                flags |= flag;
            }
        }
        flags
    }
    // ANCHOR_END: clone-flags
}

/// Runs the container to its end and returns the command's exit status;
/// `extras` is what its bundle adds to the settings (see [`Extras`]).
pub fn run_with(cfg: &Config, state: &StateDir, extras: &Extras) -> Result<u8, ContainerError> {
    let waited = waited_signals();
    let mut old_mask = SigSet::empty();
    sigprocmask(SigmaskHow::SIG_BLOCK, Some(&waited), Some(&mut old_mask))
        .map_err(ContainerError::sys("sigprocmask(SIG_BLOCK)"))?;
    let result = start(cfg, state, extras).and_then(|(pid, master)| match master {
        Some(master) => tty::relay(pid, master, cfg.interactive, &waited),
        None => wait_forwarding(pid, &waited),
    });
    let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&old_mask), None);
    result
}

// ANCHOR: create
/// The first half of an OCI runtime's life cycle (runc's `create`): the
/// container is set up and its init waits, before the command, until a
/// reader opens `exec_fifo` (runc's "exec fifo", opened by `start`).
/// Returns init's PID and, with a terminal, the pty's master for the
/// caller to hand on. The caller may exit: init is not tied to it (no
/// `PR_SET_PDEATHSIG`) and goes to the nearest subreaper.
pub fn create(
    cfg: &Config,
    state: &StateDir,
    extras: &Extras,
) -> Result<(Pid, Option<OwnedFd>), ContainerError> {
    if extras.exec_fifo.is_none() {
        return Err(ContainerError::NoExecFifo);
    }
    // Init inherits this mask and waits for these signals with sigwait.
    let waited = waited_signals();
    let mut old_mask = SigSet::empty();
    sigprocmask(SigmaskHow::SIG_BLOCK, Some(&waited), Some(&mut old_mask))
        .map_err(ContainerError::sys("sigprocmask(SIG_BLOCK)"))?;
    let result = start(cfg, state, extras);
    let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&old_mask), None);
    result
}
// ANCHOR_END: create

/// Starts the container and returns once its init reported "ready": its
/// PID and, with `-t`, the pty's master. `exec_fifo`: see [`create`].
fn start(
    cfg: &Config,
    state: &StateDir,
    extras: &Extras,
) -> Result<(Pid, Option<OwnedFd>), ContainerError> {
    // --pid container:NAME: the child is born in that PID namespace.
    crate::container::sharing::enter_pid_namespace(cfg)?;
    // ANCHOR: clone
    let (mut parent_end, mut child_end) = SyncChannel::pair()?;
    let mut flags = cfg.namespaces.clone_flags();
    if extras.mount_join.is_some() {
        // The child joins that one instead (see child.rs).
        flags.remove(CloneFlags::CLONE_NEWNS);
    }
    // cgroup v2 with limits: the child is born in its cgroup (see below);
    // v1: the child moves itself, through these files (cgroups::tasks_files).
    let cgroup = crate::cgroups::clone_target(&state.dir);
    let tasks = crate::cgroups::tasks_files(&state.dir)?;
    let body = || child::main(cfg, state, &mut child_end, extras, &tasks);
    // Both: mini-docker has no other thread yet (the -p relays start once
    // the container runs, at the poststart hook below, and a `run -d`
    // monitor is a fork of a single-threaded process), nor has mini-runc.
    let (pid, in_cgroup) = match &extras.user_join {
        // Moved into its cgroups by us, who keep the host's privileges
        // (or, on v1, by itself through the files we opened).
        // SAFETY: single-threaded, as said above.
        Some(userns) => (unsafe { spawn_in_user_namespace(userns, flags, body) }?, false),
        // SAFETY: single-threaded, as said above.
        None => unsafe { spawn_child(flags, cgroup.as_ref(), body) }?,
    };
    let moved_itself = !tasks.is_empty();
    drop(tasks);
    drop(child_end); // so a dead child reads as end-of-file, not a hang
    // ANCHOR_END: clone
    // run -d: the child has its copy of the start report (see mini-docker's monitor.rs).
    start_report::close();

    // (A user namespace joined by path has its maps: `user` is None then.)
    let started = write_id_maps(pid, cfg.namespaces.user.as_ref())
        .and_then(|()| hand_over_idmapped_mounts(pid, cfg, state, extras, &mut parent_end))
        .and_then(|()| {
            // Into its cgroups while it waits for "go", before any of the
            // container's setup runs (unless it was born there, or moved
            // itself on v1).
            if in_cgroup || moved_itself {
                return Ok(());
            }
            Ok(crate::cgroups::join(&state.dir, pid)?)
        })
        .and_then(|()| {
            // The createRuntime hook (the engine's: pasta, the mount
            // namespace `run --rm` holds; a bundle's hook programs).
            let Some(hook) = &cfg.hooks.create_runtime else { return Ok(()) };
            hook(pid).map_err(|e| match e.downcast::<ContainerError>() {
                // A bundle's hook program, named already.
                Ok(named) => *named,
                Err(e) => ContainerError::Hook { step: "createRuntime", message: e.to_string() },
            })
        })
        .and_then(|()| parent_end.go())
        .and_then(|()| {
            // Work done here while the child sets up on the other CPU, then
            // the second "go" its command waits for. `lo`: bringing it up
            // wakes kernel workers on the CPU that asked, which in the
            // child preempted its setup (done here, a run took 0.96 of the
            // time: bench/README.md).
            if !cfg.works_alongside(extras) {
                return Ok(());
            }
            let mut work = || -> Result<(), ContainerError> {
                if cfg.loopback_by_parent(extras) {
                    crate::rootfs::loopback_up_in(pid.as_raw())?;
                }
                if let Some(work) = &cfg.hooks.alongside {
                    work(pid).map_err(|e| ContainerError::Hook {
                        step: "alongside the setup",
                        message: e.to_string(),
                    })?;
                }
                parent_end.go()
            };
            // A child that failed meanwhile (a mount refused) makes this
            // work fail too (its namespaces gone, the channel closed): its
            // own message, if it sent one, says why; it is read once the
            // child is surely gone.
            work().map_err(|e| {
                let _ = kill(pid, Signal::SIGKILL);
                match parent_end.wait_ready() {
                    Err(ContainerError::Child(message)) => ContainerError::Child(message),
                    _ => e,
                }
            })
        })
        .and_then(|()| if cfg.tty { parent_end.recv_fd().map(Some) } else { Ok(None) })
        .and_then(|master| parent_end.wait_ready().map(|()| master));
    let master = match started {
        Ok(master) => master,
        Err(e) => {
            let _ = kill(pid, Signal::SIGKILL);
            let _ = waitpid(pid, None);
            return Err(e);
        }
    };
    drop(parent_end);
    // The engine's poststart hook (-p: relay the published ports from now on).
    if let Some(hook) = &cfg.hooks.poststart {
        hook();
    }
    Ok((pid, master))
}

// ANCHOR: spawn-child
/// Creates the container's first process in new namespaces (`flags`),
/// running `body`; returns its PID and whether it was born in `cgroup`.
///
/// Moving a process into a cgroup (writing `cgroup.procs`) can wait for an
/// RCU grace period, several milliseconds when no move happened lately. On
/// cgroup v2, `clone3(2)` with `CLONE_INTO_CGROUP` (Linux 5.7) creates the
/// child directly in the cgroup given as a directory descriptor: nothing
/// to move. Otherwise, `clone(2)` on a stack of its own: on v1 the child
/// moves itself ([`crate::cgroups::tasks_files`]), on v2 the caller moves
/// it ([`crate::cgroups::join`]).
///
/// # Safety
/// As for `fork`: the calling process has no other threads (the child gets
/// a copy of our memory, with any lock another thread held at that moment).
unsafe fn spawn_child(
    flags: CloneFlags,
    cgroup: Option<&OwnedFd>,
    mut body: impl FnMut() -> isize,
) -> Result<(Pid, bool), ContainerError> {
    if let Some(cgroup) = cgroup {
        // SAFETY: single-threaded, as our own caller promised.
        match unsafe { clone_into_cgroup(flags, cgroup, &mut body) } {
            Ok(pid) => return Ok((pid, true)),
            // A kernel without clone3 (before 5.3) or without the flag
            // (before 5.7): clone, then move.
            Err(Errno::ENOSYS | Errno::E2BIG | Errno::EINVAL) => {}
            Err(errno) => return Err(clone_failed("clone3 (CLONE_INTO_CGROUP)", errno, flags)),
        }
    }
    let mut stack = vec![0u8; STACK_SIZE];
    // SAFETY: the child is a new process with a copy of our memory (no
    // CLONE_VM), `stack` included, which it runs on; this program has no
    // other threads, so no lock is held in the copy.
    let pid = unsafe { clone(Box::new(body), &mut stack, flags, Some(libc::SIGCHLD)) }
        .map_err(|errno| clone_failed("clone", errno, flags))?;
    Ok((pid, false))
}

// ANCHOR: spawn-in-user-namespace
/// Creates the container's first process inside the user namespace a
/// bundle names by path, running `body`; returns its PID.
///
/// A namespace belongs to the user namespace its creator is in
/// (user_namespaces(7)): for the container's new namespaces to be the
/// joined one's, they must be made from inside it. This process stays
/// outside, with the host's privileges its cgroups and hooks need, so a
/// process in between does it: `fork`; it `setns(2)`s into the user
/// namespace (allowed: it has one thread), then `clone`s the container's
/// first process with `CLONE_PARENT`, which makes it *our* child, not its
/// own (so waiting for it and passing signals on work as ever); it sends
/// the PID through a pipe and exits, and we reap it.
///
/// # Safety
/// As for `fork`: the calling process has no other threads.
unsafe fn spawn_in_user_namespace(
    userns: &Joined,
    flags: CloneFlags,
    mut body: impl FnMut() -> isize,
) -> Result<Pid, ContainerError> {
    let (from_child, to_parent) =
        nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(ContainerError::sys("pipe2"))?;
    // SAFETY: no other thread, as our own caller promised: the copy may
    // allocate (the stack below) and run `body`'s clone.
    let middle = match unsafe { fork() }.map_err(ContainerError::sys("fork"))? {
        ForkResult::Child => {
            drop(from_child);
            // (step, value): step 0 and the PID, or the step that failed
            // (1 setns, 2 clone) and its errno.
            let (step, value): (i32, i32) = match setns(userns, CloneFlags::CLONE_NEWUSER) {
                Err(errno) => (1, errno as i32),
                Ok(()) => {
                    let mut stack = vec![0u8; STACK_SIZE];
                    let flags = flags | CloneFlags::CLONE_PARENT;
                    // SAFETY: as in spawn_child: a copy of our memory, on
                    // its own stack, with no lock held (one thread).
                    match unsafe {
                        clone(Box::new(&mut body), &mut stack, flags, Some(libc::SIGCHLD))
                    } {
                        Ok(pid) => (0, pid.as_raw()),
                        Err(errno) => (2, errno as i32),
                    }
                }
            };
            let mut message = [0u8; 8];
            message[..4].copy_from_slice(&step.to_ne_bytes());
            message[4..].copy_from_slice(&value.to_ne_bytes());
            let _ = nix::unistd::write(&to_parent, &message);
            // SAFETY: ends the copy at once, without running the parent's
            // destructors or atexit handlers.
            unsafe { libc::_exit(0) }
        }
        ForkResult::Parent { child } => child,
    };
    drop(to_parent);
    let mut message = [0u8; 8];
    let mut got = 0;
    while got < message.len() {
        match nix::unistd::read(&from_child, &mut message[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(Errno::EINTR) => {}
            Err(_) => break,
        }
    }
    let _ = waitpid(middle, None);
    let word = |at: usize| {
        i32::from_ne_bytes([message[at], message[at + 1], message[at + 2], message[at + 3]])
    };
    let path = userns.path().unwrap_or("linux.namespaces (user).path").to_owned();
    match (got, word(0), word(4)) {
        (8, 0, pid) => Ok(Pid::from_raw(pid)),
        (8, 1, errno) => Err(ContainerError::Sys {
            call: format!("setns({path:?}, CLONE_NEWUSER)"),
            errno: Errno::from_raw(errno),
        }),
        (8, _, errno) => {
            Err(clone_failed("clone (in the joined user namespace)", Errno::from_raw(errno), flags))
        }
        _ => Err(ContainerError::Sys {
            call: "fork (the process joining the user namespace ended without a word)".to_owned(),
            errno: Errno::EPIPE,
        }),
    }
}
// ANCHOR_END: spawn-in-user-namespace

/// From include/uapi/linux/sched.h (libc's constant is an `int`, too
/// narrow for bit 33).
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// `clone3(2)` like `fork`: no stack of its own (the child goes on with a
/// copy of ours), `flags` plus `CLONE_INTO_CGROUP`. The child runs `body`
/// and exits with its value (a panic, which must not unwind through the
/// parent's frames copied into the child, exits with 125); the parent gets
/// the child's PID.
///
/// # Safety
/// The calling process has no other threads, as for `fork`.
unsafe fn clone_into_cgroup(
    flags: CloneFlags,
    cgroup: &OwnedFd,
    body: &mut dyn FnMut() -> isize,
) -> Result<Pid, Errno> {
    // SAFETY: clone_args is plain integers; all-zero is "not asked for".
    let mut args: libc::clone_args = unsafe { std::mem::zeroed() };
    // (Through u32: an i32 with bit 31 set would sign-extend into bit 33.)
    args.flags = flags.bits() as u32 as u64 | CLONE_INTO_CGROUP;
    args.exit_signal = libc::SIGCHLD as u64;
    args.cgroup = cgroup.as_raw_fd() as u64;
    // SAFETY: a valid clone_args of the size given; without CLONE_VM the
    // child has a copy of our memory, and this program has no other
    // threads, so no lock is held in the copy (as after fork).
    let ret = unsafe {
        libc::syscall(libc::SYS_clone3, &args as *const libc::clone_args, size_of_val(&args))
    };
    match ret {
        -1 => Err(Errno::last()),
        0 => {
            // The cgroup's descriptor is the parent's business.
            // SAFETY: its owner, in the caller's frame, is never used or
            // dropped in the child, which ends with `_exit` below: nothing
            // closes it twice or uses the number afterwards.
            unsafe { libc::close(cgroup.as_raw_fd()) };
            let status = std::panic::catch_unwind(std::panic::AssertUnwindSafe(body))
                .unwrap_or(crate::error::EXIT_RUNTIME.into());
            // SAFETY: ends the child at once, without running destructors
            // or atexit handlers of the parent's copied state.
            unsafe { libc::_exit(status as i32) }
        }
        pid => Ok(Pid::from_raw(pid as i32)),
    }
}
// ANCHOR_END: spawn-child

/// The error for a refused `clone`, with the likely reason when a user
/// namespace was asked for.
fn clone_failed(call: &str, errno: Errno, flags: CloneFlags) -> ContainerError {
    let userns = flags.contains(CloneFlags::CLONE_NEWUSER);
    let hint = match errno {
        Errno::EPERM | Errno::ENOSPC if userns => {
            " (user namespaces blocked? see `mini-docker info`)"
        }
        _ => "",
    };
    ContainerError::Sys { call: format!("{call}({flags:?}){hint}"), errno }
}

/// Writes the child's ID maps from outside its user namespace
/// (user_namespaces(7)): rootless, the caller becomes root inside, and
/// with subordinate IDs (`/etc/subuid`) the range as the other users,
/// written by `newuidmap` and `newgidmap`; as root with `--userns auto`, a
/// whole range (see `userns.rs`).
// ANCHOR: id-maps
fn write_id_maps(pid: Pid, map: Option<&IdMap>) -> Result<(), ContainerError> {
    let Some(map) = map else { return Ok(()) };
    crate::userns::write_maps(pid, map)
}
// ANCHOR_END: id-maps

// ANCHOR: idmapped-mounts
/// The image (and the volumes an OCI bundle asks for) as idmapped mounts
/// through the child's user namespace, its ID maps written by now, handed
/// to the child, which attaches them in its own mount namespace (see
/// `rootfs/idmap.rs` for why the parent makes them). An image the kernel
/// or its filesystem cannot idmap is used as it is, after one notice: its
/// files keep their host owners, `nobody` inside. A volume that cannot be
/// idmapped is an error: the bundle asked for it.
fn hand_over_idmapped_mounts(
    pid: Pid,
    cfg: &Config,
    state: &StateDir,
    extras: &Extras,
    chan: &mut SyncChannel,
) -> Result<(), ContainerError> {
    if !cfg.wants_idmaps(extras) {
        return Ok(());
    }
    let path = Path::new("/proc").join(pid.as_raw().to_string()).join("ns/user");
    let userns = std::fs::File::open(&path).map_err(|source| ContainerError::Io {
        what: "opening",
        path,
        source,
    })?;
    let userns = OwnedFd::from(userns);
    let mut mounts = Vec::new();
    // The image: one directory on `<state>/lower`, or each layer N of a
    // layered image on `<state>/lower/N`. All of them or none: a stack
    // of which some layers are idmapped would mix two views of owners.
    let (dirs, points): (Vec<&Path>, Vec<(String, PathBuf)>) = match (cfg.idmap_lower, &cfg.lower) {
        (true, Lower::Directory(dir)) => {
            (vec![dir.as_path()], vec![("lower".to_owned(), state.lower())])
        }
        (true, Lower::Layers(layers)) => (
            layers.iter().map(PathBuf::as_path).collect(),
            (0..layers.len())
                .map(|n| (format!("lower/{n}"), state.lower().join(n.to_string())))
                .collect(),
        ),
        _ => (Vec::new(), Vec::new()),
    };
    let mut trees = Vec::new();
    for (dir, (name, point)) in dirs.iter().zip(points) {
        match idmap::idmapped_tree(dir, &userns, false) {
            Ok(tree) => {
                // Its mount point, which the child (not host root) cannot make.
                std::fs::create_dir_all(&point).map_err(|source| ContainerError::Io {
                    what: "creating",
                    path: point,
                    source,
                })?;
                trees.push((name, tree));
            }
            Err(errno) => {
                say_err!(
                    "{}: notice: the image {dir:?} cannot be idmapped here (mount_setattr: {errno}): \
                     its files keep their host owners in the container",
                    crate::error::program()
                );
                trees.clear();
                break;
            }
        }
    }
    mounts.extend(trees);
    for (i, volume) in cfg.volumes.iter().enumerate().filter(|(_, v)| v.idmap) {
        let tree = idmap::idmapped_tree(&volume.source, &userns, volume.recursive).map_err(
            ContainerError::sys(format!("mount_setattr({:?}, MOUNT_ATTR_IDMAP)", volume.source)),
        )?;
        mounts.push((i.to_string(), tree));
    }
    chan.send_mounts(&mounts)
}
// ANCHOR_END: idmapped-mounts

/// The ID map for a container with a user namespace: rootless, the
/// caller as root and its subordinate range as the other IDs, or the
/// caller only (after a notice, see [`crate::userns::rootless_map`]); as
/// root, `root`'s range in /etc/subuid and /etc/subgid, or the documented
/// default 100000-165535.
pub fn id_map() -> IdMap {
    if !geteuid().is_root() {
        return crate::userns::rootless_map();
    }
    let range = |file: &str| -> Option<(u32, u32)> {
        let text = std::fs::read_to_string(file).ok()?;
        text.lines().find_map(|line| {
            let mut parts = line.split(':');
            let who = parts.next()?;
            if who != "root" && who != "0" {
                return None;
            }
            Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
        })
    };
    match (range("/etc/subuid"), range("/etc/subgid")) {
        (Some((u, n)), Some((g, m))) => IdMap::range(u, g, n.min(m)),
        _ => IdMap::range(100_000, 100_000, 65_536),
    }
}

/// Waits for the child, passing on every forwarded signal, and returns its
/// status the way a shell shows it (128 + N when killed by signal N).
// ANCHOR: wait-forwarding
fn wait_forwarding(pid: Pid, waited: &SigSet) -> Result<u8, ContainerError> {
    loop {
        let sig = waited.wait().map_err(ContainerError::sys("sigwait"))?;
        if sig != Signal::SIGCHLD {
            let _ = kill(pid, sig);
            continue;
        }
        match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(_, code)) => return Ok(code as u8),
            Ok(WaitStatus::Signaled(_, sig, _)) => return Ok(128 + sig as u8),
            Ok(_) => {}
            Err(Errno::EINTR) => {}
            Err(errno) => {
                return Err(ContainerError::Sys { call: format!("waitpid({pid})"), errno });
            }
        }
    }
}
// ANCHOR_END: wait-forwarding

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroups::Version;
    use std::io::Write as _;
    use std::path::PathBuf;

    /// `clone3(CLONE_INTO_CGROUP)` for real, on the host's cgroup2 tree
    /// (on a v1 host, `/sys/fs/cgroup/unified`): the child exits 0 only if
    /// its own `/proc/self/cgroup` puts it in the new cgroup from birth.
    #[test]
    fn born_in_its_cgroup() {
        let mount = match Version::detect() {
            Version::V2(mount) => mount,
            Version::V1 => PathBuf::from("/sys/fs/cgroup/unified"),
        };
        if !geteuid().is_root() || !mount.join("cgroup.procs").exists() {
            let _ =
                writeln!(std::io::stderr(), "skipped born_in_its_cgroup: needs root and cgroup2");
            return;
        }
        let name = format!("md-clone3-test-{}", std::process::id());
        let dir = mount.join(&name);
        std::fs::create_dir(&dir).expect("a test cgroup");
        let flags = nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_DIRECTORY;
        let fd = nix::fcntl::open(&dir, flags, nix::sys::stat::Mode::empty()).expect("open");
        let expected = format!("0::/{name}\n");
        // The child of a multi-threaded test process: raw system calls only
        // (another thread may have held the allocator's lock at the clone).
        let mut body = || -> isize {
            let mut buf = [0u8; 4096];
            // SAFETY: a NUL-terminated path and a buffer of the given size.
            let n = unsafe {
                let fd = libc::open(c"/proc/self/cgroup".as_ptr(), libc::O_RDONLY);
                let n = libc::read(fd, buf.as_mut_ptr().cast(), buf.len());
                libc::close(fd);
                n
            };
            let text = &buf[..n.max(0) as usize];
            let found = text.windows(expected.len()).any(|w| w == expected.as_bytes());
            if found { 0 } else { 1 }
        };
        // SAFETY: not single-threaded (other tests run), so the child makes
        // raw system calls only and allocates nothing.
        let child =
            unsafe { clone_into_cgroup(CloneFlags::empty(), &fd, &mut body) }.expect("clone3");
        let status = waitpid(child, None).expect("wait");
        let _ = std::fs::remove_dir(&dir);
        assert_eq!(status, WaitStatus::Exited(child, 0), "not born in {dir:?}");
    }
}
