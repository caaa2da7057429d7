//! A bundle's `config.json`, turned into the process model's plan.
//!
//! An OCI bundle is a directory holding a root filesystem and a
//! `config.json` (the OCI runtime specification, config.md and
//! config-linux.md). The file is read into the `oci-spec` crate's types
//! ([`Spec`]), then translated, one straight function per part of the
//! file, into what the process model already knows how to do: a
//! [`Config`] (the same one mini-docker builds from its command line), the
//! cgroup [`Limits`], and the few settings a process inherits across
//! `clone` and `execve` (rlimits, the umask), which the caller applies to
//! itself before the start.
//!
//! Every field the process model cannot honour is refused with one line
//! that names it (`config.json: linux.sysctl: not supported`); nothing is
//! silently ignored. That includes the fields `oci-spec` itself does not
//! know: the raw JSON is compared with what the typed value writes back
//! (`unknown_fields`), so a newer field, or a typo, is refused too.
//!
//! Where the process model is stricter than the file asks, the file is
//! accepted and the module says so: a bundle that mounts the cgroup file
//! system gets a cgroup namespace (cgroup_namespaces(7)), and the mounts
//! of `/proc`, `/sys` and `/dev` are the model's own (the file's must be
//! the usual ones, with options the model applies itself).
//!
//! It imports `container/`'s [`Config`] and its parts, and `cgroups/`'s
//! [`Limits`]. The binary calls it for the bundle it is given, and
//! mini-docker for the one it writes (with `in_process.rs`).

use std::collections::HashSet;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use nix::sched::CloneFlags;
use oci_spec::runtime::{
    Hook, LinuxCapabilities, LinuxDeviceType, LinuxIdMapping, LinuxNamespaceType, Mount,
    PosixRlimitType, Process, Spec,
};
use serde_json::Value;
use thiserror::Error;

use crate::cgroups::Limits;
use crate::container::{
    Config, Extras, Hooks, IdMap, IdRange, IpcMode, Joined, Lower, Namespaces, NetMode, TimeOffset,
};
use crate::rootfs::{Device, Volume};
use crate::security::{Security, capabilities, seccomp};

/// A `config.json` that cannot be read, or asks for what the process model
/// cannot do.
#[derive(Debug, Error)]
pub enum SpecError {
    #[error("reading {path:?}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path:?} is not a valid config.json: {why}")]
    Invalid { path: PathBuf, why: String },
    /// The field, as config.md names it, and why.
    #[error("config.json: {field}: {why}")]
    Unsupported { field: String, why: String },
}

fn refuse(field: impl Into<String>, why: impl Into<String>) -> SpecError {
    SpecError::Unsupported { field: field.into(), why: why.into() }
}

/// Refuses `field` when it is set.
fn absent<T>(field: &str, value: &Option<T>) -> Result<(), SpecError> {
    match value {
        Some(_) => Err(refuse(field, "not supported by mini-runc")),
        None => Ok(()),
    }
}

/// What a bundle asks for, as the process model takes it.
#[derive(Debug)]
pub struct Plan {
    pub config: Config,
    pub limits: Limits,
    /// What the process model adds for a bundle (the cgroup filesystem;
    /// `create` sets the exec fifo).
    pub extras: Extras,
    /// `hooks.prestart`, then `hooks.createRuntime`: programs the caller
    /// runs once the container's namespaces exist, before its setup (the
    /// process model's createRuntime step), with the state on stdin.
    /// (createContainer and startContainer run inside: see [`Extras`].)
    pub prestart: Vec<Hook>,
    pub create_runtime: Vec<Hook>,
    /// `hooks.poststart`: run by the caller once the command has started.
    pub poststart: Vec<Hook>,
    /// `hooks.poststop`: run by the caller once the container is deleted.
    pub poststop: Vec<Hook>,
    /// `linux.seccomp`, as JSON for `security/seccomp.rs`'s profile reader
    /// (the caller writes it into the state directory and compiles it).
    pub seccomp: Option<String>,
}

// ANCHOR: default-spec
/// The `config.json` that `mini-runc spec` writes: `oci-spec`'s default
/// (runc's: `sh` in new PID, network, IPC, UTS and mount namespaces), less
/// its inheritable and ambient sets, which ask for ambient capabilities
/// that are not inheritable (capabilities(7) allows none such, and this
/// translation refuses the request). `rootless`: a user namespace mapping
/// the caller's IDs, and no network namespace (as `runc spec --rootless`).
pub fn default_spec(rootless: bool) -> Spec {
    let mut spec = if rootless {
        Spec::rootless(nix::unistd::geteuid().as_raw(), nix::unistd::getegid().as_raw())
    } else {
        Spec::default()
    };
    spec.set_hostname(Some("mini-runc".to_owned()));
    if let Some(process) = spec.process_mut()
        && let Some(mut caps) = process.capabilities().clone()
    {
        caps.set_inheritable(None);
        caps.set_ambient(None);
        process.set_capabilities(Some(caps));
    }
    spec
}
// ANCHOR_END: default-spec

// ANCHOR: load
/// Reads `<bundle>/config.json` into `oci-spec`'s [`Spec`], refusing the
/// fields that type does not know.
pub fn load(bundle: &Path) -> Result<Spec, SpecError> {
    let path = bundle.join("config.json");
    let text = std::fs::read_to_string(&path)
        .map_err(|source| SpecError::Read { path: path.clone(), source })?;
    let invalid =
        |e: serde_json::Error| SpecError::Invalid { path: path.clone(), why: e.to_string() };
    let raw: Value = serde_json::from_str(&text).map_err(invalid)?;
    let spec: Spec = serde_json::from_value(raw.clone()).map_err(invalid)?;
    let typed = serde_json::to_value(&spec).map_err(invalid)?;
    if let Some(field) = unknown_fields(&raw, &typed, "").into_iter().next() {
        return Err(refuse(
            field,
            "unknown field (not in the OCI runtime specification oci-spec 0.10 reads)",
        ));
    }
    Ok(spec)
}
// ANCHOR_END: load

/// The keys of `raw` (with a non-null value) that `typed` lacks, as
/// dotted paths (`process.foo`, `mounts[2].bar`).
fn unknown_fields(raw: &Value, typed: &Value, at: &str) -> Vec<String> {
    let join = |key: &str| if at.is_empty() { key.to_owned() } else { format!("{at}.{key}") };
    match (raw, typed) {
        (Value::Object(raw), Value::Object(typed)) => raw
            .iter()
            .filter(|(_, v)| !v.is_null())
            .flat_map(|(key, v)| match typed.get(key) {
                None => vec![join(key)],
                // Annotations are a free-form map.
                Some(t) if key != "annotations" => unknown_fields(v, t, &join(key)),
                Some(_) => Vec::new(),
            })
            .collect(),
        (Value::Array(raw), Value::Array(typed)) => raw
            .iter()
            .zip(typed)
            .enumerate()
            .flat_map(|(i, (r, t))| unknown_fields(r, t, &format!("{at}[{i}]")))
            .collect(),
        _ => Vec::new(),
    }
}

// ANCHOR: plan
/// The whole translation, in the order of config.md.
pub fn plan(spec: &Spec, bundle: &Path, id: &str) -> Result<Plan, SpecError> {
    check_platform(spec)?;
    let root = spec.root().as_ref().ok_or_else(|| refuse("root", "missing"))?;
    let rootfs =
        if root.path().is_absolute() { root.path().clone() } else { bundle.join(root.path()) };
    if !rootfs.is_dir() {
        return Err(refuse("root.path", format!("{rootfs:?} is not a directory")));
    }
    let process = spec.process().as_ref().ok_or_else(|| refuse("process", "missing"))?;
    let ProcessParts { command, env, cwd: workdir, user, additional_gids, terminal: tty, umask } =
        process_parts(process)?;
    if !additional_gids.is_empty() && linux_single_id(spec) {
        return Err(refuse(
            "process.user.additionalGids",
            "a user namespace with one group mapped cannot set groups (setgroups is denied)",
        ));
    }
    let mut security = security(process)?;
    let rlimits = rlimits(process)?;
    let linux = spec.linux().as_ref().ok_or_else(|| refuse("linux", "missing"))?;
    security.masked = linux.masked_paths().clone().unwrap_or_default();
    security.read_only = linux.readonly_paths().clone().unwrap_or_default();
    let sysctl = sysctl(linux)?;
    let NamespaceParts {
        mut namespaces,
        ipc_mode,
        net_mode,
        pid_join,
        hooks,
        user_join,
        mount_join,
    } = namespaces(linux, sysctl.clone())?;
    let hostname = hostname(spec, linux, &namespaces)?;
    let volumes = mounts(spec.mounts().as_deref().unwrap_or_default(), &rootfs, linux)?;
    let cgroup_fs = spec.mounts().iter().flatten().any(|m| {
        m.destination() == Path::new("/sys/fs/cgroup") && m.typ().as_deref() == Some("cgroup")
    });
    // The cgroup file system mini-runc mounts shows the container's own
    // cgroups only from a cgroup namespace rooted at them (runc, on cgroup
    // v1, bind-mounts the container's directories instead): a bundle that
    // mounts it gets one, asked for or not (Docker's asks for none on v1).
    namespaces.cgroup |= cgroup_fs;
    check_linux(linux)?;
    let limits = limits(linux)?;
    let seccomp = linux
        .seccomp()
        .as_ref()
        .map(|s| {
            absent("linux.seccomp.flags", s.flags())?;
            absent("linux.seccomp.listenerPath", s.listener_path())?;
            absent("linux.seccomp.listenerMetadata", s.listener_metadata())?;
            serde_json::to_string(s).map_err(|e| refuse("linux.seccomp", e.to_string()))
        })
        .transpose()?;
    let hooks_of = program_hooks(spec)?;
    let domainname = domainname(spec, linux, &namespaces)?;
    let devices = devices(linux)?;
    let time_offsets = time_namespace(linux)?;
    let config = Config {
        id: id.to_owned(),
        name: None,
        lower: Lower::Directory(rootfs),
        idmap_lower: false,
        hostname,
        command,
        env,
        workdir,
        user,
        additional_gids,
        volumes,
        read_only: root.readonly().unwrap_or(false),
        // The container's stdin is the caller's, as runc passes it on.
        interactive: true,
        tty,
        remove: false,
        // As runc: the command is the container's first process (PID 1).
        init: false,
        namespaces,
        security,
        ipc_mode,
        pid_join,
        net_mode,
        hooks,
    };
    Ok(Plan {
        config,
        limits,
        seccomp,
        prestart: hooks_of.prestart,
        create_runtime: hooks_of.create_runtime,
        poststart: hooks_of.poststart,
        poststop: hooks_of.poststop,
        extras: Extras {
            exec_fifo: None,
            cgroup_fs,
            bind_root: true,
            console_size: console_size(process)?,
            sys_writable: sys_writable(spec),
            rlimits,
            umask,
            oom_score_adj: process.oom_score_adj(),
            net_joined: linux
                .namespaces()
                .iter()
                .flatten()
                .any(|n| n.typ() == LinuxNamespaceType::Network && n.path().is_some()),
            rootfs_propagation: rootfs_propagation(linux)?,
            user_join,
            mount_join,
            domainname,
            devices,
            sysctl,
            time_offsets,
            create_container: hooks_of.create_container,
            start_container: hooks_of.start_container,
            // `create` names the file once the state directory exists.
            hook_state: None,
        },
    })
}
// ANCHOR_END: plan

/// `process.consoleSize`, as the pty's (rows, columns); it needs
/// `process.terminal` (there is no pty to size without one).
fn console_size(p: &Process) -> Result<Option<(u16, u16)>, SpecError> {
    let Some(size) = p.console_size() else { return Ok(None) };
    if !p.terminal().unwrap_or(false) {
        return Err(refuse("process.consoleSize", "given without process.terminal"));
    }
    let fit = |n: u64| u16::try_from(n).ok();
    match (fit(size.height()), fit(size.width())) {
        (Some(rows), Some(cols)) => Ok(Some((rows, cols))),
        _ => Err(refuse("process.consoleSize", "above 65535 (a winsize holds 16 bits)")),
    }
}

/// Whether the bundle's user namespace maps one group only: its
/// `setgroups` file then says "deny" (user_namespaces(7)).
fn linux_single_id(spec: &Spec) -> bool {
    let Some(linux) = spec.linux() else { return false };
    linux.gid_mappings().as_deref().is_some_and(|maps| matches!(maps, [m] if m.size() == 1))
}

// ANCHOR: propagation
/// `linux.rootfsPropagation`: the propagation type of the container's root
/// mount (mount_namespaces(7), "Shared subtree semantics"), set once the
/// container is in it. Every mount of the container's namespace was made a
/// slave first (`rootfs/mod.rs`), so whatever is asked, nothing the
/// container mounts reaches the host: `shared` gives the root a peer group
/// of the container's own (a new mount namespace made inside shares its
/// mounts), still a slave of the host's mount, whose later mounts come in;
/// `slave` keeps just that; `private` cuts it off. Without the field the
/// root stays as it was made: a slave of the host's mount when that one
/// is shared, else private, as under runc.
fn rootfs_propagation(
    linux: &oci_spec::runtime::Linux,
) -> Result<Option<nix::mount::MsFlags>, SpecError> {
    match linux.rootfs_propagation().as_deref() {
        None | Some("") => Ok(None),
        Some(word) => match crate::rootfs::propagation_flags(word) {
            Some(flags) => Ok(Some(flags)),
            None => Err(refuse(
                "linux.rootfsPropagation",
                format!("{word:?} is not a propagation type"),
            )),
        },
    }
}
// ANCHOR_END: propagation

/// Whether `/sys` is to stay writable: the bundle lists a sysfs mount on
/// it without `ro` (Docker's `--privileged` writes it so). The model
/// mounts `/sys` read-only otherwise.
fn sys_writable(spec: &Spec) -> bool {
    spec.mounts().iter().flatten().any(|m| {
        m.destination() == Path::new("/sys") && !m.options().iter().flatten().any(|o| o == "ro")
    })
}

/// Only Linux: the other platforms' sections are refused.
fn check_platform(spec: &Spec) -> Result<(), SpecError> {
    absent("solaris", spec.solaris())?;
    absent("windows", spec.windows())?;
    absent("vm", spec.vm())?;
    absent("zos", spec.zos())
}

/// What `process` says of the program to run (also `exec --process`'s).
#[derive(Debug)]
pub struct ProcessParts {
    pub command: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    /// `(uid, gid)`.
    pub user: (u32, u32),
    /// `user.additionalGids`: the supplementary groups, after the gid.
    pub additional_gids: Vec<u32>,
    pub terminal: bool,
    pub umask: Option<u32>,
}

/// `process`: args, env, cwd, user, terminal.
pub fn process_parts(p: &Process) -> Result<ProcessParts, SpecError> {
    let command = p.args().clone().unwrap_or_default();
    if command.is_empty() {
        return Err(refuse("process.args", "empty: there is no program to run"));
    }
    absent("process.commandLine", p.command_line())?;

    absent("process.selinuxLabel", p.selinux_label())?;
    absent("process.ioPriority", p.io_priority())?;
    absent("process.scheduler", p.scheduler())?;
    absent("process.execCPUAffinity", p.exec_cpu_affinity())?;
    if p.apparmor_profile().as_deref().is_some_and(|s| !s.is_empty()) {
        return Err(refuse("process.apparmorProfile", "not supported by mini-runc"));
    }
    let env = p.env().clone().unwrap_or_default();
    if let Some(bad) = env.iter().find(|e| !e.contains('=') || e.contains('\0')) {
        return Err(refuse("process.env", format!("{bad:?} is not KEY=VALUE")));
    }
    let cwd = p.cwd().to_string_lossy().into_owned();
    if !cwd.starts_with('/') {
        return Err(refuse("process.cwd", format!("{cwd:?} is not absolute")));
    }
    let user = p.user();
    absent("process.user.username", user.username())?;
    let mut additional_gids = user.additional_gids().clone().unwrap_or_default();
    additional_gids.retain(|&g| g != user.gid());
    Ok(ProcessParts {
        command,
        env,
        cwd,
        user: (user.uid(), user.gid()),
        additional_gids,
        terminal: p.terminal().unwrap_or(false),
        umask: user.umask(),
    })
}

// ANCHOR: capabilities
/// `process.capabilities` and `noNewPrivileges`. The model's usual shape is
/// one set, bounding, permitted and effective alike, with nothing
/// inheritable or ambient (Docker's; for a user other than root Docker
/// leaves permitted and effective empty, which setresuid(2) would empty
/// anyway). Any other shape is kept as the bundle gives it
/// ([`capabilities::Sets`]), checked against the kernel's rules
/// (capabilities(7)): effective within permitted, ambient within both
/// permitted and inheritable.
pub fn security(p: &Process) -> Result<Security, SpecError> {
    let (caps, sets) = match p.capabilities() {
        None => (0, None),
        Some(c) => capability_sets(c, p.user().uid())?,
    };
    Ok(Security {
        privileged: false,
        caps,
        sets,
        no_new_privs: p.no_new_privileges().unwrap_or(false),
        // linux.seccomp is compiled once the state directory exists.
        seccomp: seccomp::Profile::Unconfined,
        filters: Vec::new(),
        // linux.maskedPaths and readonlyPaths: set by `plan`.
        masked: Vec::new(),
        read_only: Vec::new(),
    })
}

fn capability_sets(
    c: &LinuxCapabilities,
    uid: u32,
) -> Result<(u64, Option<capabilities::Sets>), SpecError> {
    let mask = |field: &str, set: &Option<oci_spec::runtime::Capabilities>| {
        let mut mask = 0u64;
        for cap in set.iter().flatten() {
            let name = cap.to_string();
            let name = if name.starts_with("CAP_") { name } else { format!("CAP_{name}") };
            let parsed: caps::Capability = name
                .parse()
                .map_err(|_| refuse(field, format!("{name} is not known to this kernel's list")))?;
            mask |= parsed.bitmask();
        }
        Ok::<u64, SpecError>(mask)
    };
    let bounding = mask("process.capabilities.bounding", c.bounding())?;
    let sets = capabilities::Sets {
        effective: mask("process.capabilities.effective", c.effective())?,
        permitted: mask("process.capabilities.permitted", c.permitted())?,
        inheritable: mask("process.capabilities.inheritable", c.inheritable())?,
        ambient: mask("process.capabilities.ambient", c.ambient())?,
    };
    if sets.effective & !sets.permitted != 0 {
        return Err(refuse(
            "process.capabilities.effective",
            "holds a capability that is not permitted (capabilities(7))",
        ));
    }
    if sets.ambient & !(sets.permitted & sets.inheritable) != 0 {
        return Err(refuse(
            "process.capabilities.ambient",
            "holds a capability that is not both permitted and inheritable (capabilities(7))",
        ));
    }
    let one_set =
        capabilities::Sets { effective: bounding, permitted: bounding, inheritable: 0, ambient: 0 };
    let dropped_by_setresuid = capabilities::Sets::default();
    if sets == one_set || (uid != 0 && sets == dropped_by_setresuid) {
        return Ok((bounding, None));
    }
    Ok((bounding, Some(sets)))
}
// ANCHOR_END: capabilities

/// `process.rlimits`, as setrlimit(2) resources (also `exec --process`'s).
pub fn rlimits(p: &Process) -> Result<Vec<(libc::c_int, u64, u64)>, SpecError> {
    let mut out = Vec::new();
    for limit in p.rlimits().iter().flatten() {
        let resource = match limit.typ() {
            PosixRlimitType::RlimitCpu => libc::RLIMIT_CPU,
            PosixRlimitType::RlimitFsize => libc::RLIMIT_FSIZE,
            PosixRlimitType::RlimitData => libc::RLIMIT_DATA,
            PosixRlimitType::RlimitStack => libc::RLIMIT_STACK,
            PosixRlimitType::RlimitCore => libc::RLIMIT_CORE,
            PosixRlimitType::RlimitRss => libc::RLIMIT_RSS,
            PosixRlimitType::RlimitNproc => libc::RLIMIT_NPROC,
            PosixRlimitType::RlimitNofile => libc::RLIMIT_NOFILE,
            PosixRlimitType::RlimitMemlock => libc::RLIMIT_MEMLOCK,
            PosixRlimitType::RlimitAs => libc::RLIMIT_AS,
            PosixRlimitType::RlimitLocks => libc::RLIMIT_LOCKS,
            PosixRlimitType::RlimitSigpending => libc::RLIMIT_SIGPENDING,
            PosixRlimitType::RlimitMsgqueue => libc::RLIMIT_MSGQUEUE,
            PosixRlimitType::RlimitNice => libc::RLIMIT_NICE,
            PosixRlimitType::RlimitRtprio => libc::RLIMIT_RTPRIO,
            PosixRlimitType::RlimitRttime => libc::RLIMIT_RTTIME,
        };
        if limit.soft() > limit.hard() {
            return Err(refuse("process.rlimits", format!("{}: soft above hard", limit.typ())));
        }
        out.push((resource as libc::c_int, limit.soft(), limit.hard()));
    }
    Ok(out)
}

/// What `linux.namespaces` comes to (see [`namespaces`]).
pub struct NamespaceParts {
    pub namespaces: Namespaces,
    pub ipc_mode: IpcMode,
    pub net_mode: NetMode,
    pub pid_join: Option<Joined>,
    pub hooks: Hooks,
    /// The user namespace joined by path (see [`Extras::user_join`]).
    pub user_join: Option<Joined>,
    /// The mount namespace joined by path (see [`Extras::mount_join`]).
    pub mount_join: Option<Joined>,
}

/// Opens a namespace named by `path` for a later `setns(2)`, checking
/// that it is one of the kind `flag` names: the `NS_GET_NSTYPE` ioctl
/// (ioctl_ns(2)) answers with its `CLONE_NEW*` flag.
fn open_namespace(
    field: &str,
    path: &Path,
    flag: nix::sched::CloneFlags,
) -> Result<Joined, SpecError> {
    let field = format!("{field}.path");
    let flags = nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC;
    let fd = nix::fcntl::open(path, flags, nix::sys::stat::Mode::empty())
        .map_err(|errno| refuse(&field, format!("open({path:?}): {errno}")))?;
    /// `_IO(0xb7, 0x3)`, from include/uapi/linux/nsfs.h.
    const NS_GET_NSTYPE: libc::c_ulong = 0xb703;
    // SAFETY: an ioctl without an argument on a descriptor we own.
    let kind = unsafe { libc::ioctl(fd.as_raw_fd(), NS_GET_NSTYPE as _) };
    if kind != flag.bits() {
        return Err(refuse(field, format!("{path:?} is not a namespace of this type")));
    }
    Ok(Joined::at(fd, path.display().to_string()))
}

// ANCHOR: namespaces
/// `linux.namespaces` and the ID mappings. A namespace listed without a
/// path is new, one left out is the host's; a `path` joins an existing
/// one: the PID namespace before `clone` (the process model's
/// `pid_join`); the user namespace before `clone` too, by a process in
/// between, so that the new namespaces belong to it (`parent.rs`); the
/// network, IPC, UTS and time namespaces by `setns(2)` in the child,
/// before its root filesystem is built (a createContainer hook); the mount
/// namespace by the child as well, just before it builds the root there,
/// as runc does. A new time namespace is the child's to make
/// (`time_namespace`).
pub fn namespaces(
    linux: &oci_spec::runtime::Linux,
    sysctl: Vec<(String, String)>,
) -> Result<NamespaceParts, SpecError> {
    let mut seen = HashSet::new();
    let (mut net, mut pid, mut ipc, mut uts, mut user, mut mount, mut cgroup) =
        (false, false, false, false, false, false, false);
    let (mut pid_join, mut user_join, mut mount_join) = (None, None, None);
    let mut joins: Vec<(PathBuf, nix::sched::CloneFlags)> = Vec::new();
    // The network and IPC namespaces joined by path, for the sysctl check.
    let (mut net_path, mut ipc_path) = (None, None);
    for ns in linux.namespaces().iter().flatten() {
        // As config.json spells the type ("mount", where Display says "mnt").
        let kind = serde_json::to_value(ns.typ()).ok();
        let kind =
            kind.as_ref().and_then(Value::as_str).map_or(ns.typ().to_string(), str::to_owned);
        let field = format!("linux.namespaces ({kind})");
        if !seen.insert(ns.typ()) {
            return Err(refuse(field, "listed twice"));
        }
        let path = ns.path().clone();
        match (ns.typ(), path) {
            (LinuxNamespaceType::Mount, None) => mount = true,
            (LinuxNamespaceType::Cgroup, None) => cgroup = true,
            (LinuxNamespaceType::User, None) => user = true,
            (LinuxNamespaceType::Pid, None) => pid = true,
            (LinuxNamespaceType::Network, None) => net = true,
            (LinuxNamespaceType::Ipc, None) => ipc = true,
            (LinuxNamespaceType::Uts, None) => uts = true,
            (LinuxNamespaceType::Pid, Some(path)) => {
                pid_join = Some(open_namespace(&field, &path, CloneFlags::CLONE_NEWPID)?);
            }
            // setns(2) refuses the caller's own user namespace (EINVAL).
            (LinuxNamespaceType::User, Some(path)) if is_host_namespace(&path, "user") => {
                return Err(refuse(
                    format!("{field}.path"),
                    format!("{path:?} is the runtime's own user namespace: list none instead"),
                ));
            }
            (LinuxNamespaceType::User, Some(path)) => {
                user_join = Some(open_namespace(&field, &path, CloneFlags::CLONE_NEWUSER)?)
            }
            // The root is built, and pivot_root(2) moves the root of every
            // process, in the namespace joined: never the host's.
            (LinuxNamespaceType::Mount, Some(path)) if is_host_namespace(&path, "mnt") => {
                return Err(refuse(
                    format!("{field}.path"),
                    format!(
                        "{path:?} is the host's mount namespace: the container's root would replace the host's"
                    ),
                ));
            }
            (LinuxNamespaceType::Mount, Some(path)) => {
                mount_join = Some(open_namespace(&field, &path, CloneFlags::CLONE_NEWNS)?);
                mount = true;
            }
            // A new one: see `time_namespace`.
            (LinuxNamespaceType::Time, None) => {}
            (
                kind @ (LinuxNamespaceType::Network
                | LinuxNamespaceType::Ipc
                | LinuxNamespaceType::Uts
                | LinuxNamespaceType::Time
                | LinuxNamespaceType::Cgroup),
                Some(path),
            ) => {
                if !path.exists() {
                    return Err(refuse(
                        format!("{field}.path"),
                        format!("{path:?} does not exist"),
                    ));
                }
                let flag = match kind {
                    LinuxNamespaceType::Network => {
                        net = true;
                        net_path = Some(path.clone());
                        nix::sched::CloneFlags::CLONE_NEWNET
                    }
                    LinuxNamespaceType::Ipc => {
                        ipc = true;
                        ipc_path = Some(path.clone());
                        nix::sched::CloneFlags::CLONE_NEWIPC
                    }
                    // setns(2) moves the child itself, and so the processes
                    // it starts (time_namespaces(7)).
                    LinuxNamespaceType::Time => {
                        nix::sched::CloneFlags::from_bits_retain(libc::CLONE_NEWTIME)
                    }
                    // The child makes none of its own then: its root is
                    // the other's (cgroup_namespaces(7)).
                    LinuxNamespaceType::Cgroup => nix::sched::CloneFlags::CLONE_NEWCGROUP,
                    _ => {
                        uts = true;
                        nix::sched::CloneFlags::CLONE_NEWUTS
                    }
                };
                joins.push((path, flag));
            }
        }
    }
    if !mount {
        return Err(refuse(
            "linux.namespaces",
            "a mount namespace is required (the process model always builds the root in one)",
        ));
    }
    if user_join.is_some() && (linux.uid_mappings().is_some() || linux.gid_mappings().is_some()) {
        return Err(refuse(
            "linux.uidMappings",
            "given with linux.namespaces (user).path: mappings are for a new user namespace, \
             and the one joined has its own",
        ));
    }
    let map = id_map(linux, user)?;
    let namespaces = Namespaces { cgroup, net, pid, ipc, uts, user: map };
    let ipc_mode = if ipc { IpcMode::Private } else { IpcMode::Host };
    let net_mode = if net { NetMode::None } else { NetMode::Host };
    for (key, _) in &sysctl {
        let (ours, joined, name) =
            if key.starts_with("net.") { (net, &net_path, "net") } else { (ipc, &ipc_path, "ipc") };
        if !ours {
            return Err(refuse(
                "linux.sysctl",
                format!("{key} needs the container's own namespace"),
            ));
        }
        if let Some(path) = joined
            && is_host_namespace(path, name)
        {
            return Err(refuse(
                "linux.sysctl",
                format!("{key}: the {name} namespace joined at {path:?} is the host's"),
            ));
        }
    }
    let mut hooks = Hooks::default();
    if !joins.is_empty() {
        // (The sysctls are written after this, by the child: see
        // `write_sysctls`.)
        hooks.create_container = Some(Arc::new(move || join_namespaces(&joins)));
    }
    Ok(NamespaceParts { namespaces, ipc_mode, net_mode, pid_join, hooks, user_join, mount_join })
}
// ANCHOR_END: namespaces

/// In the child, inside its new namespaces: `setns(2)` into each one the
/// bundle named by path (the new one `clone` made is dropped).
fn join_namespaces(
    joins: &[(PathBuf, nix::sched::CloneFlags)],
) -> Result<(), crate::container::HookError> {
    for (path, flag) in joins {
        let file = std::fs::File::open(path).map_err(|e| format!("open({path:?}): {e}"))?;
        nix::sched::setns(&file, *flag).map_err(|errno| {
            format!("setns({path:?}, {flag:?}) (fd {}): {errno}", file.as_raw_fd())
        })?;
    }
    Ok(())
}

// ANCHOR: sysctl
/// `linux.sysctl`: only the keys a namespace of the container's own makes
/// private (the network's `net.*`, the IPC namespace's System V and POSIX
/// queue limits); any other key would change the host's kernel.
fn sysctl(linux: &oci_spec::runtime::Linux) -> Result<Vec<(String, String)>, SpecError> {
    const IPC: &[&str] = &[
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    let mut all: Vec<(String, String)> =
        linux.sysctl().clone().unwrap_or_default().into_iter().collect();
    all.sort();
    for (key, _) in &all {
        let namespaced =
            key.starts_with("net.") || key.starts_with("fs.mqueue.") || IPC.contains(&key.as_str());
        if !namespaced || key.contains("..") || key.contains('/') {
            return Err(refuse(
                "linux.sysctl",
                format!("{key} is not namespaced: it would change the host"),
            ));
        }
    }
    Ok(all)
}

/// In the child, inside its namespaces (those joined by path included)
/// and after the createContainer hooks: each key written under `/proc/sys`
/// (dots become slashes, sysctl(8)). The files under /proc/sys/net and the
/// IPC ones act on the namespaces of the process that writes them, so the
/// host's `/proc`, still mounted here, is right. A step of the child's own,
/// not a hook, so that an engine's hooks (which replace the plan's) leave
/// it in place.
pub fn write_sysctls(all: &[(String, String)]) -> Result<(), crate::error::ContainerError> {
    for (key, value) in all {
        let path = Path::new("/proc/sys").join(key.replace('.', "/"));
        std::fs::write(&path, value).map_err(|e| crate::error::ContainerError::Hook {
            step: "linux.sysctl",
            message: format!("writing {path:?}: {e}"),
        })?;
    }
    Ok(())
}
// ANCHOR_END: sysctl

/// The bundle's program hooks, by the step that runs them.
#[derive(Debug, Default)]
struct ProgramHooks {
    prestart: Vec<Hook>,
    create_runtime: Vec<Hook>,
    create_container: Vec<Hook>,
    start_container: Vec<Hook>,
    poststart: Vec<Hook>,
    poststop: Vec<Hook>,
}

// ANCHOR: program-hooks
/// `hooks`: each kind (config.md, "POSIX-platform Hooks"), checked: an
/// absolute `path` (execv(3) semantics, no search of `$PATH`), `env` as
/// `KEY=VALUE`, a `timeout` above zero. prestart, deprecated but what
/// Docker 20.10 sends for its network, runs with createRuntime, as the
/// specification allows.
fn program_hooks(spec: &Spec) -> Result<ProgramHooks, SpecError> {
    let Some(hooks) = spec.hooks() else { return Ok(ProgramHooks::default()) };
    #[allow(deprecated)]
    let prestart = hooks.prestart().clone().unwrap_or_default();
    let checked = |field: &str, list: &Option<Vec<Hook>>| -> Result<Vec<Hook>, SpecError> {
        let list = list.clone().unwrap_or_default();
        for (i, hook) in list.iter().enumerate() {
            let field = format!("{field}[{i}]");
            if !hook.path().is_absolute() {
                return Err(refuse(format!("{field}.path"), "must be absolute"));
            }
            if let Some(bad) = hook.env().iter().flatten().find(|e| !e.contains('=')) {
                return Err(refuse(format!("{field}.env"), format!("{bad:?} is not KEY=VALUE")));
            }
            if hook.timeout().is_some_and(|t| t <= 0) {
                return Err(refuse(format!("{field}.timeout"), "must be greater than zero"));
            }
        }
        Ok(list)
    };
    Ok(ProgramHooks {
        prestart: checked("hooks.prestart", &Some(prestart))?,
        create_runtime: checked("hooks.createRuntime", hooks.create_runtime())?,
        create_container: checked("hooks.createContainer", hooks.create_container())?,
        start_container: checked("hooks.startContainer", hooks.start_container())?,
        poststart: checked("hooks.poststart", hooks.poststart())?,
        poststop: checked("hooks.poststop", hooks.poststop())?,
    })
}
// ANCHOR_END: program-hooks

// ANCHOR: id-map
/// `linux.uidMappings` and `gidMappings`: each entry a line of the
/// namespace's `uid_map` or `gid_map` (user_namespaces(7)). The process
/// model needs container ID 0 mapped (it becomes root in the namespace to
/// build the root), by a range that starts there, the same size for users
/// and groups; further ranges are written as given, and the kernel checks
/// that none overlaps another.
fn id_map(linux: &oci_spec::runtime::Linux, user: bool) -> Result<Option<IdMap>, SpecError> {
    type Ranges = Option<(LinuxIdMapping, Vec<IdRange>)>;
    let split = |field: &str, maps: &Option<Vec<LinuxIdMapping>>| -> Result<Ranges, SpecError> {
        let maps = maps.as_deref().unwrap_or_default();
        if maps.is_empty() {
            return Ok(None);
        }
        if maps.iter().any(|m| m.size() == 0) {
            return Err(refuse(field, "a range of size 0"));
        }
        let Some(root) = maps.iter().find(|m| m.container_id() == 0) else {
            return Err(refuse(field, "no range starts at container ID 0 (root must be mapped)"));
        };
        let more = maps
            .iter()
            .filter(|m| m.container_id() != 0)
            .map(|m| IdRange { container: m.container_id(), host: m.host_id(), size: m.size() })
            .collect();
        Ok(Some((*root, more)))
    };
    let uid = split("linux.uidMappings", linux.uid_mappings())?;
    let gid = split("linux.gidMappings", linux.gid_mappings())?;
    match (user, uid, gid) {
        (false, None, None) => Ok(None),
        (false, _, _) => Err(refuse("linux.uidMappings", "given without a user namespace")),
        (true, Some((u, more_uids)), Some((g, more_gids))) if u.size() == g.size() => {
            Ok(Some(IdMap {
                host_uid: u.host_id(),
                host_gid: g.host_id(),
                count: u.size(),
                more_uids,
                more_gids,
            }))
        }
        (true, Some(_), Some(_)) => Err(refuse(
            "linux.gidMappings",
            "its range from container ID 0 must be the size of linux.uidMappings'",
        )),
        (true, _, _) => Err(refuse("linux.uidMappings", "a user namespace needs both mappings")),
    }
}
// ANCHOR_END: id-map

// ANCHOR: host-namespace
/// Whether the namespace at `path` is the host's `name` namespace: the
/// runtime's own (`/proc/self/ns/<name>`, what runc's isHostNetNS compares
/// with), or PID 1's in the runtime's view (`/proc/1/ns/<name>`, when it
/// may be read: ptrace access mode rules apply, proc(5)). Namespaces are
/// compared by device and inode, which identify one (namespaces(7), "The
/// /proc/[pid]/ns/ directory"). When the path or the runtime's own cannot
/// be read, it counts as the host's: refusing is the safe side.
fn is_host_namespace(path: &Path, name: &str) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    let id = |p: &Path| std::fs::metadata(p).map(|m| (m.dev(), m.ino()));
    let (Ok(joined), Ok(own)) = (id(path), id(&Path::new("/proc/self/ns").join(name))) else {
        return true;
    };
    joined == own || id(&Path::new("/proc/1/ns").join(name)).is_ok_and(|init| joined == init)
}
// ANCHOR_END: host-namespace

/// `hostname`: set in a UTS namespace of the container's own (runc
/// refuses it without one as well); one joined by path must not be the
/// host's, whose name it would change.
fn hostname(
    spec: &Spec,
    linux: &oci_spec::runtime::Linux,
    ns: &Namespaces,
) -> Result<String, SpecError> {
    let host_uts = linux
        .namespaces()
        .iter()
        .flatten()
        .filter(|n| n.typ() == LinuxNamespaceType::Uts)
        .find_map(|n| n.path().clone())
        .filter(|path| is_host_namespace(path, "uts"));
    match (spec.hostname().as_deref(), host_uts) {
        (None | Some(""), _) => Ok(String::new()),
        (Some(name), _) if !ns.uts => {
            Err(refuse("hostname", format!("{name:?} needs a UTS namespace")))
        }
        (Some(name), Some(path)) => Err(refuse(
            "hostname",
            format!("{name:?}: the UTS namespace joined at {path:?} is the host's"),
        )),
        (Some(name), None) if name.len() > 64 => Err(refuse("hostname", "longer than 64 bytes")),
        (Some(name), None) => Ok(name.to_owned()),
    }
}

/// `domainname`: like the hostname, set in a UTS namespace of the
/// container's own, never the host's (uts_namespaces(7)); at most 64
/// bytes (`__NEW_UTS_LEN`).
fn domainname(
    spec: &Spec,
    linux: &oci_spec::runtime::Linux,
    ns: &Namespaces,
) -> Result<Option<String>, SpecError> {
    let Some(name) = spec.domainname().as_deref().filter(|n| !n.is_empty()) else {
        return Ok(None);
    };
    let joined = linux
        .namespaces()
        .iter()
        .flatten()
        .filter(|n| n.typ() == LinuxNamespaceType::Uts)
        .find_map(|n| n.path().clone());
    if !ns.uts {
        return Err(refuse("domainname", format!("{name:?} needs a UTS namespace")));
    }
    if let Some(path) = joined.filter(|path| is_host_namespace(path, "uts")) {
        return Err(refuse(
            "domainname",
            format!("{name:?}: the UTS namespace joined at {path:?} is the host's"),
        ));
    }
    if name.len() > 64 || name.contains('\0') {
        return Err(refuse("domainname", "longer than 64 bytes, or holds a NUL"));
    }
    Ok(Some(name.to_owned()))
}

// ANCHOR: devices
/// `linux.devices`: each a node the child makes in the container's `/dev`
/// (rootfs/dev.rs). The path must stay below `/dev`: it is made while the
/// host's paths are in reach, so a `..` is refused, not resolved.
fn devices(linux: &oci_spec::runtime::Linux) -> Result<Vec<Device>, SpecError> {
    let mut out = Vec::new();
    for (i, d) in linux.devices().iter().flatten().enumerate() {
        let path = d.path().to_string_lossy().into_owned();
        let field = format!("linux.devices[{i}] ({path})");
        let below_dev = path.strip_prefix("/dev/").is_some_and(|rest| {
            !rest.is_empty()
                && rest.split('/').all(|part| !part.is_empty() && part != "." && part != "..")
        });
        if !below_dev {
            return Err(refuse(field, "the path must be below /dev, without . or .."));
        }
        let kind = match d.typ() {
            LinuxDeviceType::C | LinuxDeviceType::U => libc::S_IFCHR,
            LinuxDeviceType::B => libc::S_IFBLK,
            LinuxDeviceType::P => libc::S_IFIFO,
            LinuxDeviceType::A => return Err(refuse(field, "type \"a\" is not a device node")),
        };
        let number = |n: i64, what: &str| {
            u64::try_from(n).map_err(|_| refuse(&field, format!("{what} {n} is negative")))
        };
        let mode = d.file_mode().unwrap_or(0o666);
        if mode & !0o7777 != 0 {
            return Err(refuse(
                field,
                format!("fileMode {mode:#o} holds more than permission bits"),
            ));
        }
        out.push(Device {
            path,
            kind,
            major: number(d.major(), "major")?,
            minor: number(d.minor(), "minor")?,
            mode,
            uid: d.uid().unwrap_or(0),
            gid: d.gid().unwrap_or(0),
        });
    }
    Ok(out)
}
// ANCHOR_END: devices

/// A `time` entry in `linux.namespaces` without a path: a new time
/// namespace, with `linux.timeOffsets` (clocks `monotonic` and
/// `boottime`, the two a time namespace moves, time_namespaces(7)).
/// Offsets need a new one: a namespace joined has its own already.
fn time_namespace(linux: &oci_spec::runtime::Linux) -> Result<Option<Vec<TimeOffset>>, SpecError> {
    let entry = linux.namespaces().iter().flatten().find(|n| n.typ() == LinuxNamespaceType::Time);
    let offsets = linux.time_offsets().clone().unwrap_or_default();
    match entry {
        None if offsets.is_empty() => return Ok(None),
        None => return Err(refuse("linux.timeOffsets", "given without a time namespace")),
        Some(ns) if ns.path().is_some() && !offsets.is_empty() => {
            return Err(refuse(
                "linux.timeOffsets",
                "the time namespace joined by path has its offsets already",
            ));
        }
        Some(ns) if ns.path().is_some() => return Ok(None),
        Some(_) => {}
    }
    let mut out = Vec::new();
    for (clock, offset) in offsets {
        if clock != "monotonic" && clock != "boottime" {
            return Err(refuse(
                format!("linux.timeOffsets.{clock}"),
                "a time namespace moves only monotonic and boottime",
            ));
        }
        let nanos = offset.nanosecs().unwrap_or(0);
        if nanos >= 1_000_000_000 {
            return Err(refuse(format!("linux.timeOffsets.{clock}.nanosecs"), "not below 1e9"));
        }
        out.push((clock, offset.secs().unwrap_or(0), nanos));
    }
    out.sort();
    Ok(Some(out))
}

/// The mounts the process model makes itself, with the options it uses
/// (rootfs/mod.rs and rootfs/dev.rs): the file may list them, with these
/// options or fewer, and gets them as the model makes them.
const BUILT_IN: &[(&str, &str, &[&str])] = &[
    ("/proc", "proc", &["nosuid", "noexec", "nodev"]),
    ("/sys", "sysfs", &["nosuid", "noexec", "nodev", "ro"]),
    ("/dev", "tmpfs", &["nosuid", "noexec", "strictatime", "mode=755", "size=65536k"]),
    (
        "/dev/pts",
        "devpts",
        &["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
    ),
    ("/dev/shm", "tmpfs", &["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]),
    ("/dev/mqueue", "mqueue", &["nosuid", "noexec", "nodev"]),
    ("/sys/fs/cgroup", "cgroup", &["ro", "nosuid", "noexec", "nodev", "relatime"]),
];

/// Options a bind mount may carry: `bind` or `rbind` (the mounts below the
/// source too), read-only or not, the flags, a propagation type (see
/// [`bind_propagation`]), and an ID-mapped mount.
const BIND_OPTIONS: &[&str] = &[
    "bind",
    "rbind",
    "ro",
    "rw",
    "shared",
    "rshared",
    "slave",
    "rslave",
    "private",
    "rprivate",
    "unbindable",
    "runbindable",
    "nosuid",
    "nodev",
    "noexec",
    "idmap",
    "ridmap",
];

// ANCHOR: mounts
/// `mounts`: the usual ones are the model's own ([`BUILT_IN`]); a bind
/// mount becomes a [`Volume`]; anything else is refused.
fn mounts(
    mounts: &[Mount],
    rootfs: &Path,
    linux: &oci_spec::runtime::Linux,
) -> Result<Vec<Volume>, SpecError> {
    let mut volumes = Vec::new();
    for (i, m) in mounts.iter().enumerate() {
        let dest = m.destination().to_string_lossy().into_owned();
        let field = format!("mounts[{i}] ({dest})");
        let options = m.options().clone().unwrap_or_default();
        let typ = m.typ().as_deref().unwrap_or("none");
        let is_bind = typ == "bind" || options.iter().any(|o| o == "bind" || o == "rbind");
        let idmap = idmapped_mount(&field, m, linux, is_bind)?;
        if is_bind {
            if let Some(bad) = options.iter().find(|o| !BIND_OPTIONS.contains(&o.as_str())) {
                return Err(refuse(field, format!("bind mount option {bad:?} is not supported")));
            }
            let source =
                m.source().clone().ok_or_else(|| refuse(&field, "a bind mount needs a source"))?;
            if !source.is_absolute() {
                return Err(refuse(field, format!("source {source:?} is relative")));
            }
            let meta = std::fs::metadata(&source)
                .map_err(|e| refuse(&field, format!("source {source:?}: {e}")))?;
            if !dest.starts_with('/') {
                return Err(refuse(field, "destination is relative"));
            }
            volumes.push(Volume {
                source,
                target: dest,
                read_only: options.iter().any(|o| o == "ro"),
                source_is_dir: meta.is_dir(),
                restrict: bind_restrictions(&options),
                tmpfs: None,
                recursive: options.iter().any(|o| o == "rbind"),
                propagation: bind_propagation(&options),
                idmap,
            });
            continue;
        }
        let Some((_, _, allowed)) = BUILT_IN.iter().find(|(d, t, _)| *d == dest && *t == typ)
        else {
            if typ == "tmpfs" && dest.starts_with('/') {
                volumes.push(tmpfs(&field, dest, &options, rootfs)?);
                continue;
            }
            return Err(refuse(field, format!("a {typ} mount here is not supported")));
        };
        // `rprivate` (podman writes it on the cgroup mount) is what these
        // mounts are: new ones, made where no mount is shared any more.
        let private = |o: &str| o == "private" || o == "rprivate";
        if let Some(bad) = options
            .iter()
            .find(|o| !allowed.contains(&o.as_str()) && !same_size(o, allowed) && !private(o))
        {
            return Err(refuse(
                field,
                format!("option {bad:?} differs from the mount mini-runc makes"),
            ));
        }
    }
    Ok(volumes)
}
// ANCHOR_END: mounts

/// A mount's `uidMappings` and `gidMappings` (OCI 1.1, idmapped mounts):
/// the source seen through an ID map (see mini-runc's `rootfs/idmap.rs`).
/// mini-runc makes the idmap with the container's own user namespace, so
/// it takes them on a bind mount and when they are the container's own
/// `linux.uidMappings` and `gidMappings` (the usual case: the volume's
/// on-disk owners become the same IDs inside); other maps are refused.
/// The `idmap` option (OCI 1.2) without maps asks for the same.
fn idmapped_mount(
    field: &str,
    m: &Mount,
    linux: &oci_spec::runtime::Linux,
    is_bind: bool,
) -> Result<bool, SpecError> {
    let (uids, gids) = (m.uid_mappings(), m.gid_mappings());
    // OCI 1.2's `idmap` option alone: the container's own maps.
    let asked = m.options().iter().flatten().any(|o| o == "idmap" || o == "ridmap");
    let joined_user = linux
        .namespaces()
        .iter()
        .flatten()
        .any(|n| n.typ() == LinuxNamespaceType::User && n.path().is_some());
    if uids.is_none() && gids.is_none() {
        // (A user namespace joined by path idmaps with its own maps.)
        if asked && linux.uid_mappings().is_none() && !joined_user {
            return Err(refuse(field, "the idmap option needs a user namespace with its maps"));
        }
        return Ok(asked);
    }
    let field = format!("{field}.uidMappings");
    if !is_bind {
        return Err(refuse(field, "idmapped mounts are supported on bind mounts only"));
    }
    if uids.is_none() || gids.is_none() {
        return Err(refuse(field, "an idmapped mount needs both uidMappings and gidMappings"));
    }
    if uids != linux.uid_mappings() || gids != linux.gid_mappings() {
        return Err(refuse(
            field,
            "mini-runc idmaps a mount with the container's own user namespace: \
             the maps must be linux.uidMappings and linux.gidMappings",
        ));
    }
    Ok(true)
}

// ANCHOR: tmpfs
/// A tmpfs of the container's own (containerd's default `/run`, podman's
/// `--read-only` scratch directories): the flags mount(8) names and
/// tmpfs(5)'s `size=` and `mode=`; any other option is refused. And
/// `tmpcopyup` (runc's and crun's: the image's files under the target
/// copied into the new tmpfs), which podman asks for: taken where there
/// is nothing to copy (the image has no such directory, or an empty one),
/// refused elsewhere, as mini-runc copies nothing.
fn tmpfs(
    field: &str,
    target: String,
    options: &[String],
    rootfs: &Path,
) -> Result<Volume, SpecError> {
    const FLAGS: &[&str] =
        &["nosuid", "nodev", "noexec", "ro", "rw", "strictatime", "private", "rprivate"];
    let mut data = Vec::new();
    for option in options {
        if option == "tmpcopyup" {
            let under = rootfs.join(target.trim_start_matches('/'));
            let nothing = std::fs::read_dir(&under).map_or(true, |mut d| d.next().is_none());
            if !nothing {
                return Err(refuse(field, "tmpcopyup over a directory with files: not supported"));
            }
            continue;
        }
        let sized = option.strip_prefix("size=").is_some_and(|v| {
            let digits = v.trim_end_matches(['k', 'm', 'g', '%']);
            !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
        });
        let moded = option
            .strip_prefix("mode=")
            .is_some_and(|v| !v.is_empty() && v.bytes().all(|b| (b'0'..=b'7').contains(&b)));
        if sized || moded {
            data.push(option.as_str());
        } else if !FLAGS.contains(&option.as_str()) {
            return Err(refuse(field, format!("tmpfs option {option:?} is not supported")));
        }
    }
    let mut restrict = bind_restrictions(options);
    if options.iter().any(|o| o == "strictatime") {
        restrict |= nix::mount::MsFlags::MS_STRICTATIME;
    }
    Ok(Volume {
        source: "tmpfs".into(),
        target,
        read_only: options.iter().any(|o| o == "ro"),
        source_is_dir: true,
        restrict,
        tmpfs: Some(data.join(",")),
        recursive: false,
        propagation: None,
        idmap: false,
    })
}
// ANCHOR_END: tmpfs

/// A bind's `nosuid`, `nodev` and `noexec`, as mount flags (mount(8)).
fn bind_restrictions(options: &[String]) -> nix::mount::MsFlags {
    use nix::mount::MsFlags;
    options.iter().fold(MsFlags::empty(), |flags, o| match o.as_str() {
        "nosuid" => flags | MsFlags::MS_NOSUID,
        "nodev" => flags | MsFlags::MS_NODEV,
        "noexec" => flags | MsFlags::MS_NOEXEC,
        _ => flags,
    })
}

/// A bind mount's propagation option (mount_namespaces(7)); the last one
/// given counts, as in mount(8). The bind is made from the container's
/// copy of the source's mount, a slave since `/` was made `rslave`: so
/// `slave` (what `-v a:b:rslave` and Kubernetes' `HostToContainer` ask
/// for) sees what the host mounts below the source later, `shared` adds a
/// peer group of the container's own, and nothing reaches the host either
/// way. `private` cuts the mount off; `None` leaves it as the bind made
/// it (a slave of a shared source's mount, else private).
fn bind_propagation(options: &[String]) -> Option<nix::mount::MsFlags> {
    options.iter().fold(None, |flags, o| crate::rootfs::propagation_flags(o).or(flags))
}

/// `size=67108864` is the model's `size=65536k` (Docker writes bytes).
fn same_size(option: &str, allowed: &[&str]) -> bool {
    let bytes = |o: &str| -> Option<u64> {
        let v = o.strip_prefix("size=")?;
        match v.strip_suffix('k') {
            Some(k) => k.parse::<u64>().ok().map(|k| k * 1024),
            None => v.parse().ok(),
        }
    };
    bytes(option).is_some_and(|b| allowed.iter().any(|a| bytes(a) == Some(b)))
}

/// The rest of `linux`: what is supported is checked, the rest refused.
fn check_linux(linux: &oci_spec::runtime::Linux) -> Result<(), SpecError> {
    // Covered after pivot_root, inside the container's root; a path that
    // is not plainly absolute could name something else there.
    for (field, list) in [
        ("linux.maskedPaths", linux.masked_paths()),
        ("linux.readonlyPaths", linux.readonly_paths()),
    ] {
        let plain = |p: &String| {
            let path = Path::new(p);
            path.is_absolute()
                && path.components().all(|c| {
                    matches!(c, std::path::Component::Normal(_) | std::path::Component::RootDir)
                })
        };
        if let Some(bad) = list.iter().flatten().find(|p| !plain(p)) {
            return Err(refuse(field, format!("{bad:?} is not an absolute path without . or ..")));
        }
    }
    if let Some(path) = linux.cgroups_path() {
        if path.components().any(|c| matches!(c, std::path::Component::ParentDir)) {
            return Err(refuse(
                "linux.cgroupsPath",
                format!("{path:?} leaves the cgroup hierarchy"),
            ));
        }
        // "/", "" or "./": the hierarchy's root, where every process of
        // the host is; `delete` would kill them all.
        if crate::cgroups::below_root(path).is_err() {
            return Err(refuse(
                "linux.cgroupsPath",
                format!("{path:?} names the hierarchy's root, not a cgroup of the container's own"),
            ));
        }
    }
    if linux.mount_label().as_deref().is_some_and(|s| !s.is_empty()) {
        return Err(refuse("linux.mountLabel", "not supported by mini-runc"));
    }
    absent("linux.netDevices", linux.net_devices())?;
    absent("linux.intelRdt", linux.intel_rdt())?;
    absent("linux.memoryPolicy", linux.memory_policy())?;
    absent("linux.personality", linux.personality())
}

/// The device rules runc appends to every bundle's (its `AllowedDevices`):
/// `mknod` of any node (what may be *opened* is what the other rules say;
/// the runtime itself makes `linux.devices` nodes from inside the cgroup),
/// then the devices every container's `/dev` holds.
const DEFAULT_DEVICES: &[&str] = &[
    "c *:* m",
    "b *:* m",
    "c 1:3 rwm",
    "c 1:5 rwm",
    "c 1:7 rwm",
    "c 1:8 rwm",
    "c 1:9 rwm",
    "c 5:0 rwm",
    "c 5:1 rwm",
    "c 5:2 rwm",
    "c 136:* rwm",
    "c 10:200 rwm",
];

// ANCHOR: limits
/// `linux.resources`: memory (limit, swap), pids, cpu (shares, quota over
/// the model's period of 100 ms, cpus), and the device rules. The
/// container gets a cgroup even without any (`own`), at
/// `linux.cgroupsPath` when given (absolute: below each hierarchy's root;
/// relative: below the runtime's own cgroup, as runc's cgroupfs driver
/// reads it), else at `mini-runc/<id>` (the engine's are under
/// `mini-docker/`): without a PID namespace it is the only list of its
/// processes.
fn limits(linux: &oci_spec::runtime::Linux) -> Result<Limits, SpecError> {
    let mut limits = Limits {
        path: linux.cgroups_path().clone(),
        parent: Some(crate::cgroups::RUNTIME_PARENT),
        own: true,
        ..Limits::default()
    };
    let Some(r) = linux.resources() else { return Ok(limits) };
    for (i, rule) in r.devices().iter().flatten().enumerate() {
        let kind = match rule.typ() {
            None | Some(oci_spec::runtime::LinuxDeviceType::A) => "a",
            Some(oci_spec::runtime::LinuxDeviceType::C | oci_spec::runtime::LinuxDeviceType::U) => {
                "c"
            }
            Some(oci_spec::runtime::LinuxDeviceType::B) => "b",
            Some(other) => {
                return Err(refuse(
                    format!("linux.resources.devices[{i}]"),
                    format!("type {other:?}"),
                ));
            }
        };
        let number =
            |n: Option<i64>| n.filter(|&n| n >= 0).map_or("*".to_owned(), |n| n.to_string());
        let access = rule.access().clone().unwrap_or_else(|| "rwm".to_owned());
        if access.is_empty() || !access.chars().all(|c| "rwm".contains(c)) {
            return Err(refuse(
                format!("linux.resources.devices[{i}].access"),
                format!("{access:?}"),
            ));
        }
        let text = format!("{kind} {}:{} {access}", number(rule.major()), number(rule.minor()));
        limits.devices.push((rule.allow(), text));
    }
    if !limits.devices.is_empty() {
        // As runc does, the devices every container's /dev holds stay
        // usable, whatever the rules said (the null, zero, full, random,
        // urandom, tty and console devices, ptmx and the pty slaves, tun),
        // and any node may be made (but not opened).
        for rule in DEFAULT_DEVICES {
            limits.devices.push((true, (*rule).to_owned()));
        }
    }
    if let Some(m) = r.memory() {
        absent("linux.resources.memory.reservation", &m.reservation())?;
        absent("linux.resources.memory.kernel", &m.kernel())?;
        absent("linux.resources.memory.kernelTCP", &m.kernel_tcp())?;
        absent("linux.resources.memory.swappiness", &m.swappiness())?;
        if m.disable_oom_killer() == Some(true) {
            return Err(refuse(
                "linux.resources.memory.disableOOMKiller",
                "not supported by mini-runc",
            ));
        }
        absent("linux.resources.memory.useHierarchy", &m.use_hierarchy())?;
        absent("linux.resources.memory.checkBeforeUpdate", &m.check_before_update())?;
        limits.memory = m.limit().filter(|&l| l > 0).map(|l| l as u64);
        limits.memory_swap = match (limits.memory, m.swap()) {
            (_, None) => limits.memory.map(|l| l.saturating_mul(2)),
            (_, Some(s)) if s < 0 => None,
            (Some(mem), Some(s)) if (s as u64) < mem => {
                return Err(refuse("linux.resources.memory.swap", "below the memory limit"));
            }
            (Some(_), Some(s)) => Some(s as u64),
            (None, Some(_)) => {
                return Err(refuse("linux.resources.memory.swap", "without a memory limit"));
            }
        };
    }
    if let Some(p) = r.pids() {
        limits.pids = (p.limit() > 0).then_some(p.limit() as u64);
    }
    if let Some(c) = r.cpu() {
        absent("linux.resources.cpu.idle", &c.idle())?;
        absent("linux.resources.cpu.burst", &c.burst())?;
        absent("linux.resources.cpu.realtimeRuntime", &c.realtime_runtime())?;
        absent("linux.resources.cpu.realtimePeriod", &c.realtime_period())?;
        absent("linux.resources.cpu.mems", c.mems())?;
        if c.period().is_some_and(|p| p != crate::cgroups::CPU_PERIOD_US) {
            return Err(refuse(
                "linux.resources.cpu.period",
                format!("only {} is supported", crate::cgroups::CPU_PERIOD_US),
            ));
        }
        limits.cpus =
            c.quota().filter(|&q| q > 0).map(|q| q as f64 / crate::cgroups::CPU_PERIOD_US as f64);
        limits.cpu_shares = c.shares().filter(|&s| s > 0);
        limits.cpuset_cpus = c.cpus().clone().filter(|s| !s.is_empty());
    }
    if let Some(io) = r.block_io() {
        // Docker writes `"blockIO": {"weight": 0}`: no weight.
        let empty = io.weight().unwrap_or(0) == 0
            && io.leaf_weight().is_none()
            && io.weight_device().is_none()
            && io.throttle_read_bps_device().is_none()
            && io.throttle_write_bps_device().is_none()
            && io.throttle_read_iops_device().is_none()
            && io.throttle_write_iops_device().is_none();
        if !empty {
            return Err(refuse("linux.resources.blockIO", "not supported by mini-runc"));
        }
    }
    absent("linux.resources.hugepageLimits", r.hugepage_limits())?;
    absent("linux.resources.network", r.network())?;
    absent("linux.resources.rdma", r.rdma())?;
    absent("linux.resources.unified", r.unified())?;
    Ok(limits)
}
// ANCHOR_END: limits

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle_with(config: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "mini-runc-spec-{}-{}",
            std::process::id(),
            config.len()
        ));
        std::fs::create_dir_all(dir.join("rootfs")).expect("bundle");
        std::fs::write(dir.join("config.json"), config).expect("config.json");
        dir
    }

    #[test]
    fn the_default_spec_is_accepted() {
        let spec = default_spec(false);
        let dir = bundle_with(&serde_json::to_string(&spec).expect("json"));
        let spec = load(&dir).expect("load");
        let plan = plan(&spec, &dir, "abc").expect("plan");
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(plan.config.command, ["sh"]);
        assert!(plan.config.namespaces.pid && plan.config.namespaces.net);
        assert_eq!(plan.extras.rlimits, [(libc::RLIMIT_NOFILE as libc::c_int, 1024, 1024)]);
    }

    #[test]
    fn unknown_and_unsupported_fields_are_named() {
        let dir =
            bundle_with(r#"{"ociVersion": "1.0.2", "root": {"path": "rootfs"}, "proces": {}}"#);
        let err = load(&dir).expect_err("a typo");
        assert!(err.to_string().contains("proces"), "{err}");
        std::fs::write(
            dir.join("config.json"),
            r#"{"ociVersion": "1.0.2", "root": {"path": "rootfs"},
                "process": {"args": ["sh"], "cwd": "/", "user": {"uid": 0, "gid": 0}},
                "linux": {"namespaces": [{"type": "mount"}], "sysctl": {"net.ipv4.ip_forward": "1"}}}"#,
        )
        .expect("config.json");
        let spec = load(&dir).expect("load");
        let err = plan(&spec, &dir, "abc").expect_err("sysctl");
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(
            err.to_string(),
            "config.json: linux.sysctl: net.ipv4.ip_forward needs the container's own namespace"
        );
    }
}
