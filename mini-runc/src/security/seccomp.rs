//! seccomp (安全计算模式): a filter on every system call the container makes.
//!
//! `seccomp(SECCOMP_SET_MODE_FILTER)` (seccomp(2)) attaches a small
//! classic-BPF program to the calling thread. The kernel runs it on every
//! system call, with the call's number, architecture and six arguments, and
//! the program answers: allow, fail with this errno, kill, trap… A filter
//! can never be removed, is inherited by every child and kept across
//! `execve`, and more filters only add restrictions (when several apply, the
//! strictest answer wins).
//!
//! Why bother, when capabilities already stop `mount` and friends? Because
//! many system calls are not guarded by a capability, or are guarded by one
//! a user namespace hands out freely: `keyctl` reaches the kernel keyring,
//! which is not namespaced; `unshare(CLONE_NEWUSER)` needs no privilege at
//! all and gives the caller a full set of capabilities in a new namespace,
//! a large attack surface; `userfaultfd`, `bpf`, `perf_event_open` and
//! `io_uring` are where many kernel exploits start. Docker's default profile
//! is an allow-list of about 350 calls; what it leaves out, mini-docker's
//! default filter ([`BLOCKED`]) denies with `EPERM`, with the same
//! exceptions when a capability was added (`--cap-add SYS_ADMIN` allows
//! `mount`, as in Docker). Three details matter:
//! - `clone` cannot be blocked (every `fork` is a `clone`): only its flags
//!   argument is checked, each `CLONE_NEW*` bit answering `EPERM`; `clone3`
//!   passes its flags in memory, which a filter cannot read, so it answers
//!   `ENOSYS` and the C library falls back to `clone` (Docker does the same);
//! - the filter checks the architecture first: a 32-bit call (`int 0x80` on
//!   x86_64, a 32-bit Arm program on arm64) has other numbers, so it kills
//!   the process; and on x86_64 the x32 ABI (numbers with bit 30 set) would
//!   reach the same kernel code under other numbers, so a second small
//!   filter refuses them;
//! - names are turned into numbers with this architecture's table
//!   (`syscall_table.rs`, x86_64 and arm64), and a name the architecture lacks
//!   is skipped: arm64 has none of x86's relics (`iopl`, `uselib`, …).
//!
//! `--security-opt seccomp=PROFILE.json` reads Docker's profile format
//! (`defaultAction`, `defaultErrnoRet`, and `syscalls` entries with `names`,
//! `action`, `errnoRet`, `args`, `includes`/`excludes` of `caps`/`arches`;
//! `minKernel` is ignored): the fields Docker's own `default.json` uses, so
//! allow-lists work as well as deny-lists. A rule's action is grouped into
//! one filter per action; where two rules give one call different actions,
//! the strictest wins (Docker takes the first). `seccomp=unconfined`
//! installs nothing.
//!
//! The filters are compiled (to BPF, with the `seccompiler` crate: pure Rust,
//! no libseccomp) by mini-docker before `clone` (by `exec`, from what `run`
//! recorded), and installed by the command's process as the very last step
//! before `execve`.
//!
//! It imports only its `security/` siblings.

use std::collections::BTreeMap;
use std::path::Path;

use caps::Capability;
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch, sock_filter,
};
use serde_json::Value;

use crate::security::SecurityError;
use crate::security::syscall_table;

/// Which filter a container gets.
#[derive(Debug, Clone)]
pub enum Profile {
    /// [`BLOCKED`], Docker's default profile turned into a deny list.
    Default,
    /// No filter (`--security-opt seccomp=unconfined`, `--privileged`).
    Unconfined,
    /// A Docker-format JSON profile.
    File(std::path::PathBuf),
}

/// A condition on one argument: `(index, op, value)`.
type Arg = (u8, SeccompCmpOp, u64);

/// One rule of a profile, the way Docker writes them.
#[derive(Debug, Clone)]
struct Rule {
    names: Vec<String>,
    action: SeccompAction,
    /// All must hold (several rules with the same names are alternatives).
    args: Vec<Arg>,
    /// The rule applies only when the container holds every one of these.
    caps_all: u64,
    /// The rule does not apply when the container holds any of these.
    caps_none: u64,
}

// ANCHOR: blocked
/// Docker's default profile (moby `profiles/seccomp/default.json`), turned
/// around: what it does not allow. Each group answers EPERM unless the
/// container holds one of the capabilities next to it (empty: always);
/// Docker allows those calls with the capability because the kernel's own
/// capability check then applies anyway.
pub const BLOCKED: &[(&[&str], &[Capability])] = &[
    // The kernel keyring is not namespaced: the keys of the host and of
    // every container live in it.
    (&["keyctl", "add_key", "request_key"], &[]),
    // Mounts and namespaces: the container's view of the system is fixed.
    (
        &[
            "mount",
            "umount2",
            "unshare",
            "setns",
            "fsopen",
            "fsconfig",
            "fsmount",
            "fspick",
            "move_mount",
            "open_tree",
            "mount_setattr",
            "sethostname",
            "setdomainname",
            "quotactl",
            "quotactl_fd",
            "lookup_dcookie",
            "fanotify_init",
        ],
        &[Capability::CAP_SYS_ADMIN],
    ),
    (&["pivot_root", "swapon", "swapoff"], &[]),
    // Kernel code: modules, another kernel, reboot.
    (&["init_module", "finit_module", "delete_module"], &[Capability::CAP_SYS_MODULE]),
    (&["kexec_load", "kexec_file_load"], &[]),
    (&["reboot"], &[Capability::CAP_SYS_BOOT]),
    // Where many kernel exploits start. io_uring's operations are not
    // system calls, so they would also slip past this very filter (Docker
    // blocks io_uring since version 25).
    (&["bpf"], &[Capability::CAP_SYS_ADMIN, Capability::CAP_BPF]),
    (&["perf_event_open"], &[Capability::CAP_SYS_ADMIN, Capability::CAP_PERFMON]),
    (&["userfaultfd"], &[]),
    (&["io_uring_setup", "io_uring_enter", "io_uring_register"], &[]),
    // The clock is not namespaced (only the monotonic and boot-time
    // offsets are, in a time namespace).
    (&["settimeofday", "clock_settime"], &[Capability::CAP_SYS_TIME]),
    // Other processes' memory and descriptors.
    (
        &["process_vm_readv", "process_vm_writev", "kcmp", "process_madvise", "pidfd_getfd"],
        &[Capability::CAP_SYS_PTRACE],
    ),
    // A file handle opens a file without a path, past the mount view.
    (&["open_by_handle_at"], &[Capability::CAP_DAC_READ_SEARCH]),
    (&["chroot"], &[Capability::CAP_SYS_CHROOT]),
    (&["acct"], &[Capability::CAP_SYS_PACCT]),
    (&["syslog"], &[Capability::CAP_SYSLOG, Capability::CAP_SYS_ADMIN]),
    // Port I/O: x86 only (arm64 has no such calls; the names are skipped).
    (&["iopl", "ioperm"], &[Capability::CAP_SYS_RAWIO]),
    (&["vhangup"], &[Capability::CAP_SYS_TTY_CONFIG]),
    (
        &["get_mempolicy", "set_mempolicy", "mbind", "set_mempolicy_home_node"],
        &[Capability::CAP_SYS_NICE],
    ),
    // Obsolete, never implemented, or not for containers.
    (&["move_pages", "nfsservctl"], &[]),
    (X86_OBSOLETE, &[]),
];

/// The same, x86 only: arm64's generic table never had them, so there the
/// names are skipped.
pub const X86_OBSOLETE: &[&str] =
    &["create_module", "get_kernel_syms", "query_module", "_sysctl", "uselib", "ustat", "sysfs"];

/// `clone` flags that create namespaces (Docker's mask 0x7e020000).
pub const CLONE_NAMESPACE_FLAGS: [u64; 7] = [
    libc::CLONE_NEWNS as u64,
    libc::CLONE_NEWCGROUP as u64,
    libc::CLONE_NEWUTS as u64,
    libc::CLONE_NEWIPC as u64,
    libc::CLONE_NEWUSER as u64,
    libc::CLONE_NEWPID as u64,
    libc::CLONE_NEWNET as u64,
];
// ANCHOR_END: blocked

/// The default profile as rules.
fn default_rules() -> Vec<Rule> {
    let eperm = SeccompAction::Errno(libc::EPERM as u32);
    let mut rules: Vec<Rule> = BLOCKED
        .iter()
        .map(|(names, unless)| Rule {
            names: names.iter().map(|n| n.to_string()).collect(),
            action: eperm.clone(),
            args: Vec::new(),
            caps_all: 0,
            caps_none: unless.iter().fold(0, |m, c| m | c.bitmask()),
        })
        .collect();
    // socket(AF_VSOCK, …): talks to the hypervisor, past the network namespace.
    rules.push(Rule {
        names: vec!["socket".to_owned()],
        action: eperm.clone(),
        args: vec![(0, SeccompCmpOp::Eq, libc::AF_VSOCK as u64)],
        caps_all: 0,
        caps_none: 0,
    });
    // ANCHOR: clone-rule
    // clone(flags, …): EPERM when any namespace bit is set in flags (arg 0 on
    // x86_64 and arm64). One rule per bit; rules for a call are alternatives.
    for flag in CLONE_NAMESPACE_FLAGS {
        rules.push(Rule {
            names: vec!["clone".to_owned()],
            action: eperm.clone(),
            args: vec![(0, SeccompCmpOp::MaskedEq(flag), flag)],
            caps_all: 0,
            caps_none: Capability::CAP_SYS_ADMIN.bitmask(),
        });
    }
    // clone3 passes its flags in a struct the filter cannot read: ENOSYS
    // makes glibc fall back to clone, where the flags are checked.
    rules.push(Rule {
        names: vec!["clone3".to_owned()],
        action: SeccompAction::Errno(libc::ENOSYS as u32),
        args: Vec::new(),
        caps_all: 0,
        caps_none: Capability::CAP_SYS_ADMIN.bitmask(),
    });
    // ANCHOR_END: clone-rule
    rules
}

/// Compiles the container's filters (none for `Unconfined`), for a
/// container holding the capabilities `caps`. The filters are installed in
/// the order given.
pub fn compile(profile: &Profile, caps: u64) -> Result<Vec<BpfProgram>, SecurityError> {
    let (default_action, rules) = match profile {
        Profile::Unconfined => return Ok(Vec::new()),
        Profile::Default => (SeccompAction::Allow, default_rules()),
        Profile::File(path) => parse_profile(path)?,
    };
    let arch = target_arch()?;
    let rules: Vec<&Rule> = rules
        .iter()
        .filter(|r| caps & r.caps_all == r.caps_all && caps & r.caps_none == 0)
        .collect();
    // Group the rules by action: a seccompiler filter has one action for the
    // calls it matches and one for the rest.
    let mut by_action: Vec<(SeccompAction, Calls)> = Vec::new();
    let mut every_call = Calls::new();
    for rule in rules {
        let index = match by_action.iter().position(|(a, _)| *a == rule.action) {
            Some(i) => i,
            None => {
                by_action.push((rule.action.clone(), Calls::new()));
                by_action.len() - 1
            }
        };
        for name in &rule.names {
            // Like libseccomp: a name this architecture lacks is skipped.
            let Some(nr) = syscall_table::number(name) else { continue };
            add_call(&mut by_action[index].1, nr, &rule.args)?;
            add_call(&mut every_call, nr, &rule.args)?;
        }
    }
    let mut filters = Vec::new();
    let build = |calls: Calls, matched: SeccompAction, otherwise: SeccompAction| {
        let rules = calls.into_iter().map(|(nr, rules)| (nr, rules.unwrap_or_default())).collect();
        SeccompFilter::new(rules, otherwise, matched, arch)
            .and_then(BpfProgram::try_from)
            .map_err(|e| SecurityError::Seccomp(format!("compiling the filter: {e}")))
    };
    if default_action != SeccompAction::Allow {
        // First filter: every call a rule names passes on to the filters
        // below; anything else gets the default action (an allow-list).
        filters.push(build(every_call, SeccompAction::Allow, default_action)?);
    }
    for (action, calls) in by_action {
        if action != SeccompAction::Allow && !calls.is_empty() {
            filters.push(build(calls, action, SeccompAction::Allow)?);
        }
    }
    #[cfg(target_arch = "x86_64")]
    filters.push(refuse_x32());
    Ok(filters)
}

// ANCHOR: oci
/// The profile as an OCI `linux.seccomp` (config-linux.md, "Seccomp"), for
/// a container holding `caps`; `None` for `Unconfined`. This is what an
/// engine writes into `config.json`, as Docker's does: the rules that
/// depend on a capability are settled here, once, since the runtime's
/// format has no `includes`/`excludes`; and the one architecture listed is
/// the only one [`compile`] lets through (a 32-bit call is killed, an x32
/// one refused).
pub fn oci(profile: &Profile, caps: u64) -> Result<Option<Value>, SecurityError> {
    let (default_action, rules) = match profile {
        Profile::Unconfined => return Ok(None),
        Profile::Default => (SeccompAction::Allow, default_rules()),
        Profile::File(path) => parse_profile(path)?,
    };
    let syscalls: Vec<Value> = rules
        .iter()
        .filter(|r| caps & r.caps_all == r.caps_all && caps & r.caps_none == 0)
        .map(|rule| {
            let (action, errno) = action_name(&rule.action);
            let args: Vec<Value> = rule.args.iter().map(arg_json).collect();
            let mut entry = serde_json::json!({ "names": rule.names, "action": action });
            if let Some(errno) = errno {
                entry["errnoRet"] = errno.into();
            }
            if !args.is_empty() {
                entry["args"] = args.into();
            }
            entry
        })
        .collect();
    let (default, default_errno) = action_name(&default_action);
    let mut oci = serde_json::json!({
        "defaultAction": default,
        "architectures": [oci_arch()?],
        "syscalls": syscalls,
    });
    if let Some(errno) = default_errno {
        oci["defaultErrnoRet"] = errno.into();
    }
    Ok(Some(oci))
}
// ANCHOR_END: oci

/// An action's name in a profile, and its errno where it carries one.
fn action_name(action: &SeccompAction) -> (&'static str, Option<u32>) {
    match action {
        SeccompAction::Allow => ("SCMP_ACT_ALLOW", None),
        SeccompAction::Errno(errno) => ("SCMP_ACT_ERRNO", Some(*errno)),
        SeccompAction::KillThread => ("SCMP_ACT_KILL_THREAD", None),
        SeccompAction::KillProcess => ("SCMP_ACT_KILL_PROCESS", None),
        SeccompAction::Trap => ("SCMP_ACT_TRAP", None),
        SeccompAction::Log => ("SCMP_ACT_LOG", None),
        SeccompAction::Trace(errno) => ("SCMP_ACT_TRACE", Some(*errno)),
    }
}

/// One argument condition, as a profile writes it: `SCMP_CMP_MASKED_EQ`
/// holds when `(arg & value) == valueTwo`.
fn arg_json((index, op, value): &Arg) -> Value {
    let (name, first, second) = match op {
        SeccompCmpOp::Eq => ("SCMP_CMP_EQ", *value, 0),
        SeccompCmpOp::Ne => ("SCMP_CMP_NE", *value, 0),
        SeccompCmpOp::Lt => ("SCMP_CMP_LT", *value, 0),
        SeccompCmpOp::Le => ("SCMP_CMP_LE", *value, 0),
        SeccompCmpOp::Gt => ("SCMP_CMP_GT", *value, 0),
        SeccompCmpOp::Ge => ("SCMP_CMP_GE", *value, 0),
        SeccompCmpOp::MaskedEq(mask) => ("SCMP_CMP_MASKED_EQ", *mask, *value),
    };
    serde_json::json!({ "index": index, "value": first, "valueTwo": second, "op": name })
}

/// The OCI name of the architecture [`compile`] builds filters for.
fn oci_arch() -> Result<&'static str, SecurityError> {
    match target_arch()? {
        TargetArch::aarch64 => Ok("SCMP_ARCH_AARCH64"),
        _ => Ok("SCMP_ARCH_X86_64"),
    }
}

/// System call number → its rules (`None`: whatever the arguments).
type Calls = BTreeMap<i64, Option<Vec<SeccompRule>>>;

fn add_call(calls: &mut Calls, nr: i64, args: &[Arg]) -> Result<(), SecurityError> {
    let entry = calls.entry(nr).or_insert_with(|| Some(Vec::new()));
    if args.is_empty() {
        *entry = None; // unconditional: absorbs any conditional rule
        return Ok(());
    }
    if let Some(rules) = entry {
        let conditions = args
            .iter()
            .map(|(index, op, value)| {
                SeccompCondition::new(*index, SeccompCmpArgLen::Qword, op.clone(), *value)
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| SecurityError::Seccomp(format!("argument condition: {e}")))?;
        rules.push(
            SeccompRule::new(conditions)
                .map_err(|e| SecurityError::Seccomp(format!("rule: {e}")))?,
        );
    }
    Ok(())
}

/// The architecture the filters accept (`seccomp_data.arch`): the one
/// mini-docker was built for, where `syscall_table.rs` has its numbers.
fn target_arch() -> Result<TargetArch, SecurityError> {
    if cfg!(target_arch = "x86_64") {
        Ok(TargetArch::x86_64)
    } else if cfg!(target_arch = "aarch64") {
        Ok(TargetArch::aarch64)
    } else {
        Err(SecurityError::Seccomp(format!(
            "no system call table for {}: use --security-opt seccomp=unconfined",
            std::env::consts::ARCH
        )))
    }
}

// ANCHOR: x32
/// On x86_64, system call numbers with bit 30 set (`__X32_SYSCALL_BIT`) are
/// the x32 ABI's: the same kernel functions under other numbers, which a
/// filter matching numbers would let through. This hand-written BPF answers
/// them EPERM (libseccomp does the same for a filter without the x32 arch).
#[cfg(target_arch = "x86_64")]
fn refuse_x32() -> BpfProgram {
    const LD_W_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
    const JGE_K: u16 = 0x35; // BPF_JMP | BPF_JGE | BPF_K
    const RET_K: u16 = 0x06; // BPF_RET | BPF_K
    let op = |code, jt, jf, k| sock_filter { code, jt, jf, k };
    vec![
        op(LD_W_ABS, 0, 0, 0), // A = seccomp_data.nr
        op(JGE_K, 0, 1, 0x4000_0000),
        op(RET_K, 0, 0, libc::SECCOMP_RET_ERRNO | libc::EPERM as u32),
        op(RET_K, 0, 0, libc::SECCOMP_RET_ALLOW),
    ]
}
// ANCHOR_END: x32

/// `struct sock_fprog` (linux/filter.h): the program seccomp(2) takes.
#[repr(C)]
struct SockFprog {
    len: libc::c_ushort,
    filter: *const sock_filter,
}

/// Installs the filters on this thread (and so on the command it execs),
/// with the system call itself: `seccompiler::apply_filter` would also set
/// `no_new_privs`, which `--security-opt no-new-privileges=false` must not.
/// So `no_new_privs` must be set first, or `CAP_SYS_ADMIN` held.
// ANCHOR: install
pub fn install(filters: &[BpfProgram]) -> Result<(), SecurityError> {
    for filter in filters {
        let len = libc::c_ushort::try_from(filter.len())
            .map_err(|_| SecurityError::Seccomp(format!("{} instructions", filter.len())))?;
        let program = SockFprog { len, filter: filter.as_ptr() };
        // SAFETY: the kernel copies the program (copy_from_user) during the
        // call; `filter` outlives it.
        let rc =
            unsafe { libc::syscall(libc::SYS_seccomp, libc::SECCOMP_SET_MODE_FILTER, 0, &program) };
        if rc != 0 {
            let errno = nix::errno::Errno::last();
            return Err(SecurityError::Seccomp(format!("seccomp(SET_MODE_FILTER): {errno}")));
        }
    }
    Ok(())
}
// ANCHOR_END: install

/// Reads a Docker seccomp profile.
fn parse_profile(path: &Path) -> Result<(SeccompAction, Vec<Rule>), SecurityError> {
    let bad = |why: String| SecurityError::Profile { path: path.to_owned(), why };
    let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
    let json: Value = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
    let default_errno = json["defaultErrnoRet"].as_u64().unwrap_or(libc::EPERM as u64);
    let action = |value: &Value, errno: Option<u64>| -> Result<SeccompAction, SecurityError> {
        let name = value.as_str().ok_or_else(|| bad(format!("action {value} is not a string")))?;
        let errno = errno.unwrap_or(default_errno) as u32;
        Ok(match name {
            "SCMP_ACT_ALLOW" => SeccompAction::Allow,
            "SCMP_ACT_ERRNO" => SeccompAction::Errno(errno),
            "SCMP_ACT_KILL" | "SCMP_ACT_KILL_THREAD" => SeccompAction::KillThread,
            "SCMP_ACT_KILL_PROCESS" => SeccompAction::KillProcess,
            "SCMP_ACT_TRAP" => SeccompAction::Trap,
            "SCMP_ACT_LOG" => SeccompAction::Log,
            "SCMP_ACT_TRACE" => SeccompAction::Trace(errno),
            other => return Err(bad(format!("unsupported action {other:?}"))),
        })
    };
    let default = action(&json["defaultAction"], None)?;
    let mut rules = Vec::new();
    for entry in json["syscalls"].as_array().map(Vec::as_slice).unwrap_or_default() {
        if !arch_matches(&entry["includes"]["arches"], true)
            || arch_matches(&entry["excludes"]["arches"], false)
        {
            continue;
        }
        let names: Vec<String> = match (entry["names"].as_array(), entry["name"].as_str()) {
            (Some(names), _) => {
                names.iter().filter_map(|n| n.as_str().map(str::to_owned)).collect()
            }
            (None, Some(name)) => vec![name.to_owned()],
            (None, None) => return Err(bad(format!("a rule without names: {entry}"))),
        };
        let mut args = Vec::new();
        for arg in entry["args"].as_array().map(Vec::as_slice).unwrap_or_default() {
            let num = |key: &str| arg[key].as_u64().unwrap_or(0);
            let index =
                u8::try_from(num("index")).map_err(|_| bad(format!("argument index in {arg}")))?;
            let (op, value) = match arg["op"].as_str().unwrap_or("") {
                "SCMP_CMP_EQ" => (SeccompCmpOp::Eq, num("value")),
                "SCMP_CMP_NE" => (SeccompCmpOp::Ne, num("value")),
                "SCMP_CMP_LT" => (SeccompCmpOp::Lt, num("value")),
                "SCMP_CMP_LE" => (SeccompCmpOp::Le, num("value")),
                "SCMP_CMP_GT" => (SeccompCmpOp::Gt, num("value")),
                "SCMP_CMP_GE" => (SeccompCmpOp::Ge, num("value")),
                // (arg & value) == valueTwo
                "SCMP_CMP_MASKED_EQ" => (SeccompCmpOp::MaskedEq(num("value")), num("valueTwo")),
                other => return Err(bad(format!("unsupported argument op {other:?}"))),
            };
            args.push((index, op, value));
        }
        rules.push(Rule {
            names,
            action: action(&entry["action"], entry["errnoRet"].as_u64())?,
            args,
            caps_all: cap_mask(&entry["includes"]["caps"]),
            caps_none: cap_mask(&entry["excludes"]["caps"]),
        });
    }
    Ok((default, rules))
}

/// Whether the architecture mini-docker was built for is in a profile's
/// `arches` list (`empty`: the answer for an absent or empty list).
fn arch_matches(arches: &Value, empty: bool) -> bool {
    let docker_arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    match arches.as_array() {
        Some(list) if !list.is_empty() => list.iter().any(|a| a.as_str() == Some(docker_arch)),
        _ => empty,
    }
}

fn cap_mask(list: &Value) -> u64 {
    list.as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(|c| c.as_str()?.parse::<Capability>().ok())
        .fold(0, |m, c| m | c.bitmask())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_filter_compiles() {
        let default = crate::security::capabilities::resolve(&[], &[]).expect("caps");
        let filters = compile(&Profile::Default, default).expect("compile");
        // EPERM list, ENOSYS for clone3, the x32 guard.
        assert_eq!(filters.len(), if cfg!(target_arch = "x86_64") { 3 } else { 2 });
        assert!(compile(&Profile::Unconfined, default).expect("none").is_empty());
        // x86 only: the generic table arm64 uses never had them.
        let x86_only: Vec<&str> =
            ["iopl", "ioperm"].into_iter().chain(X86_OBSOLETE.iter().copied()).collect();
        for (names, _) in BLOCKED {
            for name in *names {
                let expected = cfg!(target_arch = "x86_64") || !x86_only.contains(name);
                assert_eq!(syscall_table::number(name).is_some(), expected, "{name} in the table");
            }
        }
    }

    #[test]
    fn docker_profile() {
        let dir = std::env::temp_dir().join(format!("mini-docker-seccomp-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("mkdir");
        let path = dir.join("profile.json");
        let profile = r#"{
            "defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [
                {"names": ["read", "write", "exit_group", "no_such_call"], "action": "SCMP_ACT_ALLOW"},
                {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
                {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
                {"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}}
            ]
        }"#;
        std::fs::write(&path, profile).expect("write");
        let filters = compile(&Profile::File(path.clone()), 0).expect("compile");
        // allow-list + the mkdir ENOSYS filter (+ x32). arm64 has only
        // `mkdirat`: the name `mkdir` is skipped there.
        assert_eq!(filters.len(), if cfg!(target_arch = "x86_64") { 3 } else { 2 });
        std::fs::write(&path, r#"{"defaultAction": "SCMP_ACT_NOTIFY"}"#).expect("write");
        let e = compile(&Profile::File(path), 0).expect_err("notify").to_string();
        assert!(e.contains("unsupported action \"SCMP_ACT_NOTIFY\""), "{e}");
        let _ = std::fs::remove_dir_all(dir);
    }
}
