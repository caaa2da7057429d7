//! A tenant: a process that joins a running container (`mini-docker
//! exec`), the way `docker exec` and `nsenter` do (claims MECH-3, SEC-3).
//!
//! A namespace lives as long as something refers to it; every process in
//! the container refers to all of them through `/proc/PID/ns/<type>`.
//! Opening those files and calling `setns(2)` on each moves the calling
//! process into the same namespaces:
//!
//! ```text
//!  mini-docker exec                          the container
//!  ───────────────                           ─────────────
//!  join the container's cgroups
//!  open /proc/PID/ns/{user,ipc,uts,net,      the command (PID 1 inside),
//!                     cgroup,pid,mnt}        or --init's reaper
//!    (PID: PID 1's, or rootless behind a     └─ the command (PID 2)
//!    reaper one of its children; only
//!    those that differ from ours)
//!  setns(user) first: the capabilities the
//!  others need are those of its owner
//!  setns(ipc, uts, net, cgroup, pid, mnt)
//!  -t: a pty from the container's devpts
//!  fork ───────────────────────────────────▶ the tenant: a new PID inside
//!  waits, passing signals on (-t: and        (setns(pid) only applies to
//!  relaying the pty)                         children); then the bounding
//!                                            set and no_new_privs, user,
//!                                            chdir, the container's
//!                                            capabilities and seccomp
//!                                            filter, execve
//! ```
//!
//! Nothing about the container is asked of the container: the host reads
//! and enters it from outside, which is also the article's warning (SEC-3):
//! whoever controls the host controls every container.
//!
//! What `exec` needs to know that `/proc` does not tell (the container's
//! user, working directory, environment and security settings) is written
//! by `run` into `<state>/exec.json`.
//!
//! The forked process becomes the command through `process.rs`, the path
//! `run`'s command takes too (only the first confinement step differs).
//! It imports `container/`'s `Config`, `process.rs`, `signals.rs`,
//! `state.rs` and `tty.rs`, `cgroups/` and `security/`; `sharing.rs` imports it (to check
//! the container it joins), never the other way round.

use std::os::fd::OwnedFd;
use std::os::unix::fs::MetadataExt as _;
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{OFlag, open};
use nix::sched::{CloneFlags, setns};
use nix::sys::signal::{SigSet, SigmaskHow, Signal, kill, sigprocmask};
use nix::sys::stat::Mode;
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork};
use serde_json::{Value, json};

use crate::container::Config;
use crate::container::process::{self, Confinement, Process, Stdio};
use crate::container::signals::waited_signals;
use crate::container::state::StateDir;
use crate::error::{ContainerError, Error, UsageError};
use crate::security::{Security, seccomp};

const RECORD: &str = "exec.json";

/// What `exec` gives the new process, from `run`'s [`Config`] unless the
/// `exec` command line says otherwise.
#[derive(Debug, Clone)]
pub struct Tenant {
    pub command: Vec<String>,
    pub user: (u32, u32),
    /// Supplementary groups, beside the gid.
    pub additional_gids: Vec<u32>,
    pub workdir: String,
    pub env: Vec<String>,
    pub interactive: bool,
    /// `-t`: a pseudo-terminal from the container's devpts.
    pub tty: bool,
    /// The file mode creation mask, if not the caller's (an OCI process's
    /// `user.umask`).
    pub umask: Option<u32>,
    /// Whether the container has its own user namespace with one ID only.
    single_id: bool,
    /// The container's state directory (its cgroups are recorded there).
    state_dir: std::path::PathBuf,
    security: Security,
}

fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> ContainerError {
    let path = path.to_owned();
    move |source| ContainerError::Io { what, path, source }
}

/// `run`: writes what a later `exec` needs into the state directory.
pub fn record(state: &StateDir, cfg: &Config) -> Result<(), ContainerError> {
    write_record(state, &record_text(cfg))
}

/// The text [`record`] writes, for a caller that writes it later (see
/// [`write_record`]).
pub fn record_text(cfg: &Config) -> String {
    let sec = &cfg.security;
    let seccomp = match &sec.seccomp {
        seccomp::Profile::Default => json!("default"),
        seccomp::Profile::Unconfined => json!("unconfined"),
        seccomp::Profile::File(path) => json!({ "file": path }),
    };
    let record = json!({
        "user": [cfg.user.0, cfg.user.1],
        "groups": cfg.additional_gids,
        "workdir": cfg.workdir,
        "env": cfg.env,
        "single_id": cfg.namespaces.user.as_ref().is_some_and(|m| m.single()),
        "userns": cfg.namespaces.user.is_some(),
        "ipc": cfg.ipc_mode.word(),
        "net": cfg.net_mode.describe(),
        "init": cfg.init,
        "privileged": sec.privileged,
        "caps": sec.caps,
        "sets": sec.sets.map(|s| [s.effective, s.permitted, s.inheritable, s.ambient]),
        "no_new_privs": sec.no_new_privs,
        "seccomp": seccomp,
    });
    record.to_string()
}

/// Writes a [`record_text`] into the state directory.
pub fn write_record(state: &StateDir, text: &str) -> Result<(), ContainerError> {
    let path = state.dir.join(RECORD);
    std::fs::write(&path, text).map_err(io("writing", &path))
}

/// The capability sets `record` wrote: effective, permitted, inheritable
/// and ambient, or `null` for the model's one set.
fn sets(recorded: &Value) -> Option<crate::security::capabilities::Sets> {
    let masks: Vec<u64> = recorded.as_array()?.iter().filter_map(Value::as_u64).collect();
    let [effective, permitted, inheritable, ambient] = masks[..] else { return None };
    Some(crate::security::capabilities::Sets { effective, permitted, inheritable, ambient })
}

impl Tenant {
    /// The container's settings, as `run` recorded them.
    pub fn load(state: &StateDir, command: Vec<String>) -> Result<Tenant, Error> {
        let path = state.dir.join(RECORD);
        let text = std::fs::read_to_string(&path).map_err(io("reading", &path))?;
        let bad = || ContainerError::BadRecord(path.clone());
        let v: Value = serde_json::from_str(&text).map_err(|_| bad())?;
        let id = |x: &Value| x.as_u64().and_then(|n| u32::try_from(n).ok()).ok_or_else(bad);
        let profile = match &v["seccomp"] {
            Value::String(s) if s == "unconfined" => seccomp::Profile::Unconfined,
            Value::String(_) => seccomp::Profile::Default,
            other => seccomp::Profile::File(other["file"].as_str().ok_or_else(bad)?.into()),
        };
        let privileged = v["privileged"].as_bool().unwrap_or(false);
        let caps = v["caps"].as_u64().ok_or_else(bad)?;
        let filters = if privileged {
            Vec::new()
        } else {
            crate::security::seccomp::compile(&profile, caps)?
        };
        let security = Security {
            privileged,
            caps,
            no_new_privs: v["no_new_privs"].as_bool().unwrap_or(true),
            seccomp: profile,
            filters,
            sets: sets(&v["sets"]),
            // Covered in the container's mount namespace already.
            masked: Vec::new(),
            read_only: Vec::new(),
        };
        let strings = |x: &Value| -> Vec<String> {
            x.as_array()
                .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_owned)).collect())
                .unwrap_or_default()
        };
        Ok(Tenant {
            command,
            user: (id(&v["user"][0])?, id(&v["user"][1])?),
            additional_gids: v["groups"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .map(id)
                .collect::<Result<_, _>>()?,
            workdir: v["workdir"].as_str().unwrap_or("/").to_owned(),
            env: strings(&v["env"]),
            interactive: false,
            tty: false,
            umask: None,
            single_id: v["single_id"].as_bool().unwrap_or(false),
            state_dir: state.dir.clone(),
            security,
        })
    }
}

impl Tenant {
    /// The container's confinement, which the tenant takes.
    pub fn security(&self) -> &Security {
        &self.security
    }
}

/// The processes whose parent is `parent` (a scan of /proc/*/stat).
pub fn children(parent: i32) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let pid: i32 = entry.file_name().to_str()?.parse().ok()?;
            (parent_of(pid)? == parent).then_some(pid)
        })
        .collect()
}

fn mount_ns(pid: i32) -> Result<std::path::PathBuf, std::io::Error> {
    std::fs::read_link(format!("/proc/{pid}/ns/mnt"))
}

/// The recorded settings, as JSON (for `inspect`).
pub fn recorded(state: &StateDir) -> Value {
    std::fs::read_to_string(state.dir.join(RECORD))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Value::Null)
}

/// The container's init, seen from the host: the child of the `owner`
/// mini-docker process that lives in another mount namespace, or whose
/// namespaces we may not even look at (init is not dumpable, see
/// `security/mod.rs`; mini-docker's own helpers are).
pub fn init_pid(state: &StateDir) -> Option<Pid> {
    let owner = std::fs::read_to_string(state.dir.join("owner")).ok()?;
    let owner: i32 = owner.split_whitespace().next()?.parse().ok()?;
    let owner_mnt = mount_ns(owner).ok()?;
    children(owner)
        .into_iter()
        .find(|&pid| mount_ns(pid).map_or(true, |m| m != owner_mnt))
        .map(Pid::from_raw)
}

/// The init of a container that is ready: the command starts only after
/// the container is set up (root file system, pivot_root, capabilities),
/// so a container without a command yet must not be joined: its mount
/// namespace may still show the host's root.
pub fn ready_init(state: &StateDir) -> Option<Pid> {
    init_pid(state).filter(|&init| state.running() && runs_the_command(init))
}

/// Whether the container's first process runs the command: it has
/// `execve`d it (it runs another program than its parent, of which it was
/// a copy), or it is `--init`'s reaper and has forked it. Until its
/// `execve` it is not dumpable (see `security/mod.rs`), and rootless we
/// may not even look at its program: not yet, then.
fn runs_the_command(init: Pid) -> bool {
    let program =
        |pid: i32| std::fs::metadata(format!("/proc/{pid}/exe")).map(|m| (m.dev(), m.ino())).ok();
    let parent = parent_of(init.as_raw());
    let execed = match (program(init.as_raw()), parent.and_then(program)) {
        (Some(own), Some(parent)) => own != parent,
        _ => false,
    };
    execed || !children(init.as_raw()).is_empty()
}

/// The PID of the command: the container's first process, or with
/// `--init` (as `run` recorded it) the reaper's first child.
pub fn command_pid(state: &StateDir, init: Pid) -> Option<Pid> {
    if recorded(state)["init"] != true {
        return Some(init);
    }
    children(init.as_raw()).into_iter().min().map(Pid::from_raw)
}

/// The parent of `pid` (field 4 of /proc/PID/stat).
fn parent_of(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.split_whitespace().nth(1)?.parse().ok()
}

/// Whose `/proc/PID/ns/*` to open: init's when we may read them (root),
/// else one of init's children, which share them (rootless: init is not
/// dumpable, and its memory belongs to the host's user namespace, where we
/// hold no capability).
pub fn namespace_holder(init: Pid) -> Pid {
    if mount_ns(init.as_raw()).is_ok() {
        return init;
    }
    children(init.as_raw())
        .into_iter()
        .find(|&pid| mount_ns(pid).is_ok())
        .map_or(init, Pid::from_raw)
}

/// The namespaces a tenant joins, in the order it joins them: the user
/// namespace first (it decides which capabilities count for the others),
/// the mount namespace last (after it, `/proc` is the container's).
// ANCHOR: join-order
const JOIN: [(&str, CloneFlags); 8] = [
    ("user", CloneFlags::CLONE_NEWUSER),
    // An OCI bundle's time namespace: init made it for its children only
    // and stays outside (see child.rs), so it is the one for its children.
    ("time_for_children", CloneFlags::from_bits_retain(libc::CLONE_NEWTIME)),
    ("ipc", CloneFlags::CLONE_NEWIPC),
    ("uts", CloneFlags::CLONE_NEWUTS),
    ("net", CloneFlags::CLONE_NEWNET),
    ("cgroup", CloneFlags::CLONE_NEWCGROUP),
    ("pid", CloneFlags::CLONE_NEWPID),
    ("mnt", CloneFlags::CLONE_NEWNS),
];
// ANCHOR_END: join-order

// ANCHOR: join
/// Joins every namespace of `init` that differs from ours (setns(2) on a
/// namespace we are already in is refused for the user namespace, and
/// pointless for the others).
fn join(init: Pid) -> Result<(), ContainerError> {
    let init = namespace_holder(init);
    let mut files: Vec<(OwnedFd, CloneFlags, &str)> = Vec::new();
    for (name, flag) in JOIN {
        let theirs = format!("/proc/{init}/ns/{name}");
        let ours = format!("/proc/self/ns/{name}");
        if std::fs::read_link(&theirs).ok() == std::fs::read_link(&ours).ok() {
            continue;
        }
        // All opened first: after the mount namespace, /proc is another one.
        let fd = open(theirs.as_str(), OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty())
            .map_err(ContainerError::sys(format!("open({theirs:?})")))?;
        files.push((fd, flag, name));
    }
    for (fd, flag, name) in &files {
        setns(fd, *flag).map_err(ContainerError::sys(format!("setns({name})")))?;
    }
    Ok(())
}
// ANCHOR_END: join

/// Runs the tenant's command in the container of `init`; returns its exit
/// status (125 when joining failed, 126/127 as `run`: the same
/// `process.rs` decides them).
pub fn exec(init: Pid, tenant: &Tenant) -> Result<u8, Error> {
    enter_and_fork(init, tenant, false, None).map(|(status, _)| status)
}

/// Hands the pty's master to the client (an OCI runtime's
/// `--console-socket`), which relays the terminal from then on.
pub type SendConsole<'a> = &'a dyn Fn(&OwnedFd) -> Result<(), String>;

// ANCHOR: exec-console
/// `exec --tty --console-socket` (what `docker exec -t` and `podman exec
/// -t` ask of the runtime): the tenant gets a pty of the container's
/// devpts as its controlling terminal, and `send` hands the master to the
/// client. Detached, the tenant's PID is returned at once; otherwise this
/// waits for it, and its status is returned with it.
pub fn exec_with_console(
    init: Pid,
    tenant: &Tenant,
    detached: bool,
    send: SendConsole,
) -> Result<(u8, Pid), Error> {
    if !tenant.tty {
        return Err(ContainerError::ConsoleWithoutTerminal.into());
    }
    enter_and_fork(init, tenant, detached, Some(send))
}
// ANCHOR_END: exec-console

// ANCHOR: exec-detached
/// An OCI runtime's `exec --detach`: the tenant is started and left
/// running, not tied to this process (no `PR_SET_PDEATHSIG`); its PID is
/// returned, and it goes to the nearest subreaper when the caller exits
/// (containerd's shim is one, and reaps it).
pub fn exec_detached(init: Pid, tenant: &Tenant) -> Result<Pid, Error> {
    if tenant.tty {
        return Err(ContainerError::DetachedTerminal.into());
    }
    enter_and_fork(init, tenant, true, None).map(|(_, child)| child)
}
// ANCHOR_END: exec-detached

/// Joins the container and forks the tenant; waits for it unless
/// `detached`. Returns its status (0 when detached) and its PID. With
/// `console`, the pty's master goes to the client instead of being
/// relayed here.
fn enter_and_fork(
    init: Pid,
    tenant: &Tenant,
    detached: bool,
    console: Option<SendConsole>,
) -> Result<(u8, Pid), Error> {
    if tenant.command.is_empty() {
        return Err(UsageError::NoCommand.into());
    }
    // The rule `run`'s environment follows too, checked before anything
    // is joined.
    for entry in &tenant.env {
        process::check_env(entry)?;
    }
    let waited = waited_signals();
    let mut old_mask = SigSet::empty();
    sigprocmask(SigmaskHow::SIG_BLOCK, Some(&waited), Some(&mut old_mask))
        .map_err(ContainerError::sys("sigprocmask(SIG_BLOCK)"))?;
    // Into the container's cgroups first (their files are the host's
    // /sys/fs/cgroup, out of sight after the mount namespace): the tenant
    // counts against the container's limits, as with `docker exec`.
    crate::cgroups::join_current(&tenant.state_dir)?;
    join(init)?;
    // -t: now in the container's mount namespace, /dev/ptmx is its devpts.
    let pty = if tenant.tty { Some(super::tty::open_pty()?) } else { None };
    // SAFETY: `mini-docker exec` starts no thread, so the child's copy of
    // memory holds no lock another thread took: it may allocate, as
    // `process::exec` does, before `execve` or `_exit`.
    let child = match unsafe { fork() }.map_err(ContainerError::sys("fork"))? {
        ForkResult::Child => {
            let slave = pty.as_ref().map(|(_, slave)| slave);
            process::exec(&tenant_process(tenant, slave, detached))
        }
        ForkResult::Parent { child } => child,
    };
    let pty = match (pty, console) {
        (Some((master, slave)), Some(send)) => {
            drop(slave);
            if let Err(e) = send(&master) {
                // Nobody would ever read its terminal: end it (our child).
                let _ = kill(child, Signal::SIGKILL);
                let _ = waitpid(child, None);
                let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&old_mask), None);
                return Err(ContainerError::Console(e).into());
            }
            None
        }
        (pty, _) => pty,
    };
    if detached {
        let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&old_mask), None);
        return Ok((0, child));
    }
    let status = match pty {
        Some((master, slave)) => {
            drop(slave);
            super::tty::relay(child, master, tenant.interactive, &waited)
        }
        None => wait_forwarding(child, &waited),
    };
    let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&old_mask), None);
    Ok((status?, child))
}

fn wait_forwarding(child: Pid, waited: &SigSet) -> Result<u8, ContainerError> {
    loop {
        let sig = waited.wait().map_err(ContainerError::sys("sigwait"))?;
        if sig != Signal::SIGCHLD {
            let _ = kill(child, sig);
            continue;
        }
        match waitpid(child, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(_, code)) => return Ok(code as u8),
            Ok(WaitStatus::Signaled(_, sig, _)) => return Ok(128 + sig as u8),
            Ok(_) | Err(Errno::EINTR) => {}
            Err(errno) => {
                return Err(ContainerError::Sys { call: format!("waitpid({child})"), errno });
            }
        }
    }
}

/// The tenant's process, as [`process::exec`] makes it, in the forked
/// child now inside the container's PID namespace: the bounding set and
/// `no_new_privs`, user, directory, capabilities and seccomp filter (see
/// security/mod.rs), execve.
fn tenant_process<'a>(
    tenant: &'a Tenant,
    slave: Option<&'a OwnedFd>,
    detached: bool,
) -> Process<'a> {
    let stdio = match slave {
        Some(slave) => Stdio::Terminal(slave),
        None if tenant.interactive => Stdio::Inherited,
        None => Stdio::NullStdin,
    };
    Process {
        args: &tenant.command,
        env: &tenant.env,
        cwd: &tenant.workdir,
        uid: tenant.user.0,
        gid: tenant.user.1,
        additional_gids: &tenant.additional_gids,
        may_set_groups: !tenant.single_id,
        umask: tenant.umask,
        stdio,
        security: &tenant.security,
        confinement: Confinement::Joined,
        // Die with mini-docker exec (not when detached: see exec_detached).
        die_with_parent: !detached,
        // Until `execve` (which makes it dumpable again) this process holds
        // a full set of capabilities (host root's, or all of those of the
        // container's user namespace) while it is visible in the
        // container's PID namespace: not dumpable, the container's
        // processes cannot ptrace it or open its /proc files
        // (PR_SET_DUMPABLE; runc's CVE-2016-9962 was this window).
        not_dumpable: true,
    }
}
