//! Security defaults: what keeps root in a container from being root on
//! the host (the article's section 四, claims SEC-1, SEC-5, SEC-6).
//!
//! Namespaces change what a process *sees*; they do not change what its
//! root may *do* to the kernel they all share. Docker adds, by default:
//! 1. a reduced set of **capabilities** (see [`capabilities`]);
//! 2. **`no_new_privs`**: no `execve` can raise privileges again, so a
//!    setuid-root program (`/usr/bin/su`, `/usr/bin/mount` from the `host`
//!    image) or a file capability gives nothing (prctl(2), PR_SET_NO_NEW_PRIVS);
//!    Docker sets it only with `--security-opt no-new-privileges`, mini-docker
//!    by default (`--security-opt no-new-privileges=false` turns it off);
//! 3. a **seccomp filter** on system calls (see [`seccomp`]);
//! 4. **masked and read-only paths** in `/proc` and `/sys` (see [`paths`]);
//! 5. a mandatory access control profile (AppArmor's `docker-default`, or
//!    SELinux labels) when the host runs such an LSM. mini-docker applies
//!    none; `mini-docker info` says whether one is active ([`lsm`]).
//!
//! `--privileged` is the counter-example: every capability, no seccomp, no
//! `no_new_privs`, nothing masked, `/proc/sys` and `/sys` writable, the
//! host's devices in `/dev`. Only the namespaces are left.
//!
//! # The order of operations
//!
//! Each step needs a privilege the next one takes away, so the order is
//! forced (runc's is the same):
//! ```text
//!  child (PID 1), after the rootfs is built and pivot_root:
//!   1. masked and read-only paths     mount(): needs CAP_SYS_ADMIN
//!   2. bounding set reduced           prctl(PR_CAPBSET_DROP): needs CAP_SETPCAP
//!   3. init's own capabilities        capset(): the container's set, plus
//!      reduced                        SETUID/SETGID for step 5
//!   4. no_new_privs, not dumpable     so the container cannot ptrace its
//!                                     init, which has no seccomp filter
//!  then, in the same process (or in the child --init's reaper forks):
//!   5. setgroups, setresgid,          needs CAP_SETGID/CAP_SETUID; a switch
//!      setresuid (-u)                 away from uid 0 empties the sets
//!                                     (capabilities(7))
//!   6. chdir (-w)
//!   7. the command's capabilities     capset(): the container's set (root),
//!                                     none (another user)
//!   8. seccomp filter                 last: from here on, even mini-docker's
//!                                     own code is filtered
//!   9. execve(command)                execve itself is allowed
//! ```
//! `--init`'s reaper gets no seccomp filter: it only forks, waits and
//! forwards signals, and a user's profile might forbid the calls it needs
//! (`wait4`, `rt_sigtimedwait`), which would leave a container nobody can
//! stop. The exception is `--security-opt no-new-privileges=false`:
//! without `no_new_privs`, seccomp(2) takes only a process holding
//! `CAP_SYS_ADMIN`, so the filter goes on before step 2 and every later
//! step, the reaper's included, runs under it (runc's order; see
//! [`filter_before_drop`]).
//!
//! `mini-docker exec` gives its process the same confinement, from what
//! `run` recorded: step 2 and `no_new_privs` ([`confine_exec`]), then 5 to
//! 9 as above. Step 1 is done already in the mount namespace it joins, and
//! step 3 is init's alone; it is made non-dumpable too, until its `execve`
//! (see `container/tenant.rs`).
//!
//! `security/` owns these steps and the settings behind them ([`Security`]);
//! it knows nothing of containers or commands and may not import
//! `container/` (nor mini-docker's `commands/`, a crate above): `run`'s
//! flags are parsed in mini-docker's `commands/run.rs` (clap stays there)
//! into a plain [`SecurityRequest`]. mini-runc's layer 2 of 2,
//! kernel-facing (see `tests/tests/layers.rs`), beside `rootfs/`, whose
//! mount helpers [`paths`] uses (`rootfs/` imports nothing of
//! `security/`, so the two never form a cycle).

pub mod capabilities;
pub mod paths;
pub mod precompiled;
pub mod seccomp;
mod seccomp_bpf;
mod syscall_table;

use std::path::PathBuf;

use seccomp::BpfProgram;
use thiserror::Error;

/// The security settings asked for, unchecked: `--privileged`,
/// `--cap-add`, `--cap-drop` and `--security-opt` of `run`, parsed in
/// mini-docker's `commands/run.rs`. `exec` has none: its process gets the container's
/// settings, as `run` recorded them (container/tenant.rs).
#[derive(Debug, Clone, Default)]
pub struct SecurityRequest {
    pub privileged: bool,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub security_opt: Vec<String>,
}

/// What the container gets, decided before `clone`.
#[derive(Debug, Clone)]
pub struct Security {
    /// `--privileged`, as the engine decided it (what `inspect` reports).
    /// The runtime acts on what it means, which the bundle spells out:
    /// every capability, no seccomp profile, no masked path, a writable
    /// `/sys`, the host's devices in `linux.devices`.
    pub privileged: bool,
    /// The container's capabilities, bit N for capability N: its bounding
    /// set, and its permitted and effective sets unless `sets` says
    /// otherwise.
    pub caps: u64,
    /// An OCI bundle's sets, when they are not that one set.
    pub sets: Option<capabilities::Sets>,
    pub no_new_privs: bool,
    /// Where the filters come from (`exec` compiles them again).
    pub seccomp: seccomp::Profile,
    /// The compiled seccomp filters, installed in this order.
    pub filters: Vec<BpfProgram>,
    /// Covered after `pivot_root` (see paths.rs): the bundle's
    /// `linux.maskedPaths` and `readonlyPaths`.
    pub masked: Vec<String>,
    pub read_only: Vec<String>,
}

/// A refused security option, or a step of confinement that failed.
#[derive(Debug, Error)]
pub enum SecurityError {
    #[error("unknown capability {0:?} (see capabilities(7): e.g. NET_ADMIN, SYS_ADMIN, ALL)")]
    UnknownCapability(String),
    #[error(
        "unsupported --security-opt {0:?}: use seccomp=unconfined, seccomp=PROFILE.json or no-new-privileges[=false]"
    )]
    BadOption(String),
    #[error("seccomp profile {path:?}: {why}")]
    Profile { path: PathBuf, why: String },
    #[error("seccomp: {0}")]
    Seccomp(String),
    #[error("capabilities: {0}")]
    Capabilities(String),
    #[error("masked paths: {0}")]
    Paths(String),
    #[error("{0}")]
    Prctl(String),
}

impl Security {
    /// Checks the flags and compiles the seccomp filter.
    pub fn from_request(args: &SecurityRequest) -> Result<Security, SecurityError> {
        let mut security = Security::decide(args)?;
        security.filters = seccomp::compile(&security.seccomp, security.caps)?;
        Ok(security)
    }

    /// Checks the flags, without compiling the filter: what an engine
    /// writes into a bundle's `config.json` (the runtime compiles what the
    /// file says).
    pub fn decide(args: &SecurityRequest) -> Result<Security, SecurityError> {
        let mut profile = seccomp::Profile::Default;
        let mut no_new_privs = true;
        for opt in &args.security_opt {
            // Docker accepts both `key=value` and the older `key:value`.
            let (key, value) = opt.split_once(['=', ':']).unwrap_or((opt.as_str(), ""));
            match (key, value) {
                ("seccomp", "unconfined") => profile = seccomp::Profile::Unconfined,
                ("seccomp", "") => return Err(SecurityError::BadOption(opt.clone())),
                ("seccomp", path) => profile = seccomp::Profile::File(PathBuf::from(path)),
                ("no-new-privileges", "" | "true") => no_new_privs = true,
                ("no-new-privileges", "false") => no_new_privs = false,
                _ => return Err(SecurityError::BadOption(opt.clone())),
            }
        }
        if args.privileged {
            return Ok(Security {
                privileged: true,
                caps: capabilities::all(),
                sets: None,
                no_new_privs: false,
                seccomp: seccomp::Profile::Unconfined,
                filters: Vec::new(),
                masked: Vec::new(),
                read_only: Vec::new(),
            });
        }
        let caps = capabilities::resolve(&args.cap_add, &args.cap_drop)?;
        // Without no_new_privs, seccomp() demands CAP_SYS_ADMIN: init
        // installs the filter before it drops that capability (see
        // `filter_before_drop`), so every combination works, as in Docker.
        let owned = |list: &[&str]| list.iter().map(|p| p.to_string()).collect();
        Ok(Security {
            privileged: false,
            caps,
            sets: None,
            no_new_privs,
            seccomp: profile,
            filters: Vec::new(),
            masked: owned(&paths::MASKED),
            read_only: owned(&paths::READ_ONLY),
        })
    }

    /// The one-line warning `--privileged` prints.
    pub const PRIVILEGED_WARNING: &str = "mini-docker: warning: --privileged: all capabilities, no seccomp, host devices, writable /proc/sys and /sys: this container can take over the host";
}

fn prctl(what: &str, option: libc::c_int, value: libc::c_ulong) -> Result<(), SecurityError> {
    // SAFETY: prctl with integer arguments only.
    if unsafe { libc::prctl(option, value, 0, 0, 0) } != 0 {
        let errno = nix::errno::Errno::last();
        return Err(SecurityError::Prctl(format!("prctl({what}): {errno}")));
    }
    Ok(())
}

/// Step 1: the masked and read-only paths (see paths.rs), in the
/// container's root; none with `--privileged`.
pub fn cover_paths(sec: &Security) -> Result<(), SecurityError> {
    paths::cover(&sec.masked, &sec.read_only)
}

// ANCHOR: confine-init
/// Steps 2–4 (see the module's documentation), in the container's first
/// process after `pivot_root` and [`cover_paths`]; it becomes init.
pub fn confine_init(sec: &Security) -> Result<(), SecurityError> {
    if filter_before_drop(sec) {
        // seccomp(2) without no_new_privs needs CAP_SYS_ADMIN, which the
        // container is about to lose: install the filter now, as runc
        // does; init and the command inherit it.
        seccomp::install(&sec.filters)?;
    }
    capabilities::drop_bounding(sec.caps)?;
    keep_caps(sec)?;
    let switch_user =
        caps::Capability::CAP_SETUID.bitmask() | caps::Capability::CAP_SETGID.bitmask();
    capabilities::set_process(sec.caps | switch_user)?;
    if sec.no_new_privs {
        prctl("PR_SET_NO_NEW_PRIVS, 1", libc::PR_SET_NO_NEW_PRIVS, 1)?;
    }
    prctl("PR_SET_DUMPABLE, 0", libc::PR_SET_DUMPABLE, 0)
}
// ANCHOR_END: confine-init

// ANCHOR: confine-command
/// Steps 7 and 8, in the command's process, after it switched user and
/// directory; the next system call is `execve`.
pub fn confine_command(sec: &Security, uid: u32) -> Result<(), SecurityError> {
    match sec.sets {
        // The bundle's sets (a user other than root kept its permitted set
        // through setresuid: see `keep_caps`).
        Some(sets) => capabilities::set_sets(sets)?,
        // Another user than root already lost every capability in
        // setresuid (capabilities(7), "Effect of user ID changes"); root
        // keeps the set.
        None => capabilities::set_process(if uid == 0 { sec.caps } else { 0 })?,
    }
    if filter_before_drop(sec) {
        return Ok(()); // installed by init, inherited
    }
    seccomp::install(&sec.filters)
}
// ANCHOR_END: confine-command

/// With the bundle's own sets, a user other than root is to hold
/// capabilities: `PR_SET_KEEPCAPS` keeps the permitted set through the
/// switch to that user (prctl(2); `execve` clears the flag again), and
/// [`confine_command`] sets the rest.
fn keep_caps(sec: &Security) -> Result<(), SecurityError> {
    match sec.sets {
        Some(sets) if sets.permitted != 0 => prctl("PR_SET_KEEPCAPS, 1", libc::PR_SET_KEEPCAPS, 1),
        _ => Ok(()),
    }
}

/// A filter without `no_new_privs` for a container without
/// `CAP_SYS_ADMIN` (`--security-opt no-new-privileges=false`, Docker's own
/// default): seccomp(2) refuses such a process (EACCES), so the filter goes
/// on in [`confine_init`], while the capability is still held, as runc
/// does. Init and every later step of the command then run under it: the
/// profile must allow what they call (`capset`, `setresuid`, `wait4`…;
/// Docker's does).
fn filter_before_drop(sec: &Security) -> bool {
    !sec.no_new_privs
        && !sec.filters.is_empty()
        && sec.caps & caps::Capability::CAP_SYS_ADMIN.bitmask() == 0
}

// ANCHOR: confine-exec
/// `mini-docker exec`: a process that joined the container's namespaces
/// gets what the container's own processes have (it was started by
/// mini-docker with every capability), in the same order: the bounding set
/// and `no_new_privs` here, before the user switch (dropping from the
/// bounding set needs `CAP_SETPCAP`); then, just before `execve`,
/// [`confine_command`].
pub fn confine_exec(sec: &Security) -> Result<(), SecurityError> {
    keep_caps(sec)?;
    if filter_before_drop(sec) {
        // As in confine_init: while CAP_SYS_ADMIN is still held.
        seccomp::install(&sec.filters)?;
    }
    capabilities::drop_bounding(sec.caps)?;
    if sec.no_new_privs {
        prctl("PR_SET_NO_NEW_PRIVS, 1", libc::PR_SET_NO_NEW_PRIVS, 1)?;
    }
    Ok(())
}
// ANCHOR_END: confine-exec

/// For `info`: the active Linux Security Modules, and whether one of them
/// does mandatory access control (AppArmor, SELinux, Smack, TOMOYO).
pub fn lsm() -> String {
    let Ok(list) = std::fs::read_to_string("/sys/kernel/security/lsm") else {
        return "unknown (/sys/kernel/security/lsm absent: no securityfs, or no LSM); \
                mini-docker applies no AppArmor or SELinux profile"
            .to_owned();
    };
    let list = list.trim().trim_end_matches(',');
    let mac: Vec<&str> = list
        .split(',')
        .filter(|m| ["apparmor", "selinux", "smack", "tomoyo"].contains(m))
        .collect();
    if mac.is_empty() {
        format!("no MAC module active ({list}); mini-docker applies no AppArmor or SELinux profile")
    } else {
        format!("{} active ({list}); mini-docker applies no profile of its own", mac.join(", "))
    }
}

/// For `info`: which defaults a container gets.
pub fn defaults() -> String {
    let caps = capabilities::resolve(&[], &[]).unwrap_or_default();
    let seccomp = if std::fs::read_to_string("/proc/self/status")
        .is_ok_and(|s| s.lines().any(|l| l.starts_with("Seccomp:")))
    {
        "seccomp filter"
    } else {
        "no seccomp (kernel without CONFIG_SECCOMP)"
    };
    format!("CapEff {caps:016x}, no_new_privs, {seccomp}, masked /proc paths")
}
