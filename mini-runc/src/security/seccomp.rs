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
//! `io_uring` are where many kernel exploits start.
//!
//! # An allow-list
//!
//! The default profile is Docker's (moby's `profiles/seccomp/default.json`),
//! kept as data in `seccomp-default.json` beside this file, in Docker's own
//! format: about 370 calls allowed whatever the arguments, a few allowed
//! only with some arguments (`socket` but not for `AF_ALG` or `AF_VSOCK`,
//! `personality` only for five values, `clone` only without `CLONE_NEW*`
//! flags), a few allowed only with a capability the container holds
//! (`mount` with `CAP_SYS_ADMIN`), and `EPERM` for everything else
//! (`defaultAction`). An allow-list fails closed: a system call added to
//! Linux after the profile was written is refused until someone decides it
//! is safe. A deny-list fails open: it lets through everything its author
//! did not think of, including calls that did not exist yet
//! (`open_tree_attr`, Linux 6.15, does what the refused `open_tree` does).
//!
//! A profile travels in two forms:
//! - Docker's form (this default, and `--security-opt seccomp=FILE`), with
//!   `includes`/`excludes` (`caps`, `arches`, `minKernel`) and an `archMap`:
//!   what the engine reads. [`oci`] settles those once, for the container's
//!   capabilities and this machine, into
//! - the OCI form (`linux.seccomp` of `config.json`, config-linux.md):
//!   `defaultAction`, `architectures`, and `syscalls` with `names`,
//!   `action`, `errnoRet`, `args`: what the runtime reads. [`compile`] takes
//!   either, and writes one BPF program (see `seccomp_bpf.rs`).
//!
//! What the runtime adds, as runc does:
//! - **ABIs.** The program checks `seccomp_data.arch` first. `architectures`
//!   lists the native ABI and those the kernel runs beside it: on x86_64 the
//!   32-bit one (`SCMP_ARCH_X86`: `int 0x80`, 32-bit binaries), which gets
//!   the same rules under its own numbers (`syscall_table.rs`), as in Docker.
//!   Any other ABI is killed. x32 (`SCMP_ARCH_X32`, numbers with bit 30 set)
//!   is refused with `EPERM` as a whole: Docker's profile lists it, but most
//!   kernels (Debian's) are built without it, and mini-runc has no x32 table.
//! - **Calls newer than the profile** answer `ENOSYS`, not `EPERM`: any
//!   number above the highest the profile names (per ABI). A program then
//!   behaves as on an older kernel (the C library falls back, e.g. from
//!   `clone3` to `clone`), instead of failing on an `EPERM` it cannot
//!   explain. Still default-deny: nothing new runs.
//! - **A call's rules**: those with argument conditions are tried in
//!   profile order, then an unconditional one, then the default.
//!
//! `seccomp=unconfined` installs nothing. The program is compiled before
//! `clone` and installed by the command's process as the last step before
//! `execve`, or by init while it still holds `CAP_SYS_ADMIN` when
//! `no_new_privs` is off (see `mod.rs`).
//!
//! It imports only its `security/` siblings.

use std::path::Path;

use caps::Capability;
use serde_json::{Value, json};

use crate::security::SecurityError;
use crate::security::seccomp_bpf::{self, Call, Condition, Op, Section};
use crate::security::syscall_table::Abi;

/// A compiled filter: the instructions seccomp(2) installs.
pub type BpfProgram = Vec<libc::sock_filter>;

/// Which filter a container gets.
#[derive(Debug, Clone)]
pub enum Profile {
    /// Docker's default profile ([`DEFAULT_PROFILE`]).
    Default,
    /// No filter (`--security-opt seccomp=unconfined`, `--privileged`).
    Unconfined,
    /// A profile in a file, in Docker's form or the OCI one.
    File(std::path::PathBuf),
}

// ANCHOR: default-profile
/// Docker's default profile, in Docker's form (see the module's
/// documentation).
pub const DEFAULT_PROFILE: &str = include_str!("seccomp-default.json");
// ANCHOR_END: default-profile

/// What a rule does when it matches (the `SCMP_ACT_*` names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Allow,
    Errno(u32),
    KillThread,
    KillProcess,
    Trap,
    Log,
    Trace(u32),
}

impl Action {
    /// The filter's return value (linux/seccomp.h).
    fn ret(self) -> u32 {
        match self {
            Action::Allow => libc::SECCOMP_RET_ALLOW,
            Action::Errno(errno) => libc::SECCOMP_RET_ERRNO | (errno & libc::SECCOMP_RET_DATA),
            Action::KillThread => libc::SECCOMP_RET_KILL_THREAD,
            Action::KillProcess => libc::SECCOMP_RET_KILL_PROCESS,
            Action::Trap => libc::SECCOMP_RET_TRAP,
            Action::Log => libc::SECCOMP_RET_LOG,
            Action::Trace(data) => libc::SECCOMP_RET_TRACE | (data & libc::SECCOMP_RET_DATA),
        }
    }

    /// The action's name in a profile, and its errno where it carries one.
    fn name(self) -> (&'static str, Option<u32>) {
        match self {
            Action::Allow => ("SCMP_ACT_ALLOW", None),
            Action::Errno(errno) => ("SCMP_ACT_ERRNO", Some(errno)),
            Action::KillThread => ("SCMP_ACT_KILL_THREAD", None),
            Action::KillProcess => ("SCMP_ACT_KILL_PROCESS", None),
            Action::Trap => ("SCMP_ACT_TRAP", None),
            Action::Log => ("SCMP_ACT_LOG", None),
            Action::Trace(errno) => ("SCMP_ACT_TRACE", Some(errno)),
        }
    }
}

/// One rule of a profile.
#[derive(Debug, Clone)]
struct Rule {
    names: Vec<String>,
    action: Action,
    /// All must hold (several rules with the same names are alternatives).
    args: Vec<Condition>,
    /// Docker's form only: the rule applies when the container holds
    /// every one of these capabilities…
    caps_all: u64,
    /// …and none of these,
    caps_none: u64,
    /// on these architectures (Docker's names: `amd64`, `arm64`…; empty:
    /// any) and not those,
    arches_in: Vec<String>,
    arches_out: Vec<String>,
    /// on a kernel at least this recent.
    min_kernel: Option<(u32, u32)>,
}

/// A profile as read.
#[derive(Debug, Clone)]
struct Parsed {
    default: Action,
    /// `SCMP_ARCH_*` names: the OCI `architectures`, or the `archMap`
    /// entry of this machine's own architecture.
    architectures: Vec<String>,
    rules: Vec<Rule>,
}

/// Reads the profile (`None`: unconfined).
fn read(profile: &Profile) -> Result<Option<Parsed>, SecurityError> {
    match profile {
        Profile::Unconfined => Ok(None),
        Profile::Default => parse(DEFAULT_PROFILE, Path::new("(the default profile)")).map(Some),
        Profile::File(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| SecurityError::Profile { path: path.clone(), why: e.to_string() })?;
            parse(&text, path).map(Some)
        }
    }
}

/// Keeps the rules that apply to a container holding `caps` on this
/// machine; what is left has no `includes`/`excludes`.
fn resolve(parsed: Parsed, caps: u64) -> Parsed {
    resolve_for(parsed, caps, docker_arch(), kernel_version())
}

/// [`resolve`] for the architecture `arch` (Docker's name) and the kernel
/// version `kernel`; `build.rs` settles the default profile this way.
fn resolve_for(mut parsed: Parsed, caps: u64, arch: &str, kernel: (u32, u32)) -> Parsed {
    parsed.rules.retain(|r| {
        caps & r.caps_all == r.caps_all
            && caps & r.caps_none == 0
            && (r.arches_in.is_empty() || r.arches_in.iter().any(|a| *a == arch))
            && !r.arches_out.iter().any(|a| *a == arch)
            && r.min_kernel.is_none_or(|min| kernel >= min)
    });
    for rule in &mut parsed.rules {
        (rule.caps_all, rule.caps_none, rule.min_kernel) = (0, 0, None);
        rule.arches_in.clear();
        rule.arches_out.clear();
    }
    parsed
}

// ANCHOR: oci
/// The profile as an OCI `linux.seccomp` (config-linux.md, "Seccomp"), for
/// a container holding `caps`; `None` for `Unconfined`. This is what an
/// engine writes into `config.json`, as Docker's does: the rules that
/// depend on a capability, an architecture or the kernel are settled here,
/// once, since the runtime's format has no `includes`/`excludes`.
pub fn oci(profile: &Profile, caps: u64) -> Result<Option<Value>, SecurityError> {
    let Some(parsed) = read(profile)? else { return Ok(None) };
    Ok(Some(oci_of(&resolve(parsed, caps))))
}
// ANCHOR_END: oci

/// A profile settled for a container holding `caps`, both ways at once:
/// the OCI `linux.seccomp` an engine writes into `config.json` ([`oci`])
/// and the filter compiled from the very same rules ([`compile`]). An
/// engine that starts the container in-process (mini-docker) hands the
/// filter beside the bundle and so reads and compiles the profile once
/// per start, not three times; `compiled_as_written` in the tests below
/// checks that the filter is the one the runtime compiles from the file.
/// The profile is JSON text, ready for the file; Docker's default goes
/// into `config.json` without a check, and a user's is read as the file's
/// type once more to check it before the start (mini-docker's
/// `bundle.rs`).
pub struct Settled {
    pub oci: String,
    pub filters: Vec<BpfProgram>,
}

/// [`Settled`] for `profile`; `None` for `Unconfined`. (The engine asks
/// `precompiled::settle`, which has the default profile compiled already.)
pub fn settle(profile: &Profile, caps: u64) -> Result<Option<Settled>, SecurityError> {
    let Some(parsed) = read(profile)? else { return Ok(None) };
    let parsed = resolve(parsed, caps);
    Ok(Some(Settled { oci: oci_of(&parsed).to_string(), filters: compile_parsed(&parsed)? }))
}

/// What `build.rs` writes for `precompiled.rs`: the default profile settled
/// for `caps` on a kernel new enough for all its rules, as OCI JSON, and
/// its program; and the newest `minKernel` it names.
pub fn precompile(caps: u64) -> Result<(String, BpfProgram, (u32, u32)), SecurityError> {
    let parsed =
        read(&Profile::Default)?.ok_or_else(|| SecurityError::Seccomp("no profile".into()))?;
    let newest = parsed.rules.iter().filter_map(|r| r.min_kernel).max().unwrap_or((0, 0));
    let parsed = resolve_for(parsed, caps, docker_arch(), (u32::MAX, u32::MAX));
    let mut filters = compile_parsed(&parsed)?;
    Ok((oci_of(&parsed).to_string(), filters.remove(0), newest))
}

/// The settled rules as OCI's `linux.seccomp`.
fn oci_of(parsed: &Parsed) -> Value {
    let syscalls: Vec<Value> = parsed
        .rules
        .iter()
        .map(|rule| {
            let (action, errno) = rule.action.name();
            let mut entry = json!({ "names": rule.names, "action": action });
            if let Some(errno) = errno {
                entry["errnoRet"] = errno.into();
            }
            if !rule.args.is_empty() {
                entry["args"] = rule.args.iter().map(arg_json).collect();
            }
            entry
        })
        .collect();
    let (default, default_errno) = parsed.default.name();
    let mut oci = json!({
        "defaultAction": default,
        "architectures": parsed.architectures,
        "syscalls": syscalls,
    });
    if let Some(errno) = default_errno {
        oci["defaultErrnoRet"] = errno.into();
    }
    oci
}

/// One argument condition, as a profile writes it: `SCMP_CMP_MASKED_EQ`
/// holds when `(arg & value) == valueTwo`.
fn arg_json(c: &Condition) -> Value {
    let (name, first, second) = match c.op {
        Op::Eq => ("SCMP_CMP_EQ", c.value, 0),
        Op::Ne => ("SCMP_CMP_NE", c.value, 0),
        Op::Lt => ("SCMP_CMP_LT", c.value, 0),
        Op::Le => ("SCMP_CMP_LE", c.value, 0),
        Op::Gt => ("SCMP_CMP_GT", c.value, 0),
        Op::Ge => ("SCMP_CMP_GE", c.value, 0),
        Op::MaskedEq(mask) => ("SCMP_CMP_MASKED_EQ", mask, c.value),
    };
    json!({ "index": c.index, "value": first, "valueTwo": second, "op": name })
}

// ANCHOR: compile
/// Compiles the container's filter (none for `Unconfined`), for a
/// container holding the capabilities `caps`: one program, with a section
/// per ABI (see the module's documentation and `seccomp_bpf.rs`).
pub fn compile(profile: &Profile, caps: u64) -> Result<Vec<BpfProgram>, SecurityError> {
    let Some(parsed) = read(profile)? else { return Ok(Vec::new()) };
    compile_parsed(&resolve(parsed, caps))
}

/// [`compile`], of rules read and settled already.
fn compile_parsed(parsed: &Parsed) -> Result<Vec<BpfProgram>, SecurityError> {
    let Some(native) = Abi::native() else {
        return Err(SecurityError::Seccomp(format!(
            "no system call table for {}: use --security-opt seccomp=unconfined",
            std::env::consts::ARCH
        )));
    };
    // The native ABI always; the others the profile lists, where this
    // machine has a table for them (not x32: refused below).
    let abis = Abi::supported().iter().copied().filter(|abi| {
        *abi == native || parsed.architectures.iter().any(|a| Some(*abi) == Abi::from_scmp_name(a))
    });
    let default = parsed.default.ret();
    let mut sections = Vec::new();
    for abi in abis {
        let mut calls = std::collections::BTreeMap::<u32, Call>::new();
        for rule in &parsed.rules {
            // Like libseccomp: a name this ABI lacks is skipped.
            for nr in rule.names.iter().filter_map(|n| abi.number(n)) {
                let call = calls.entry(nr).or_default();
                if rule.args.is_empty() {
                    call.otherwise.get_or_insert(rule.action.ret());
                } else {
                    call.conditional.push((rule.args.clone(), rule.action.ret()));
                }
            }
        }
        // Newer than the profile: ENOSYS (pointless when the default
        // allows, or already answers ENOSYS).
        let enosys = Action::Errno(libc::ENOSYS as u32);
        let above = match (calls.keys().next_back(), parsed.default) {
            (_, Action::Allow | Action::Log | Action::Trace(_)) => None,
            (_, action) if action == enosys => None,
            (highest, _) => highest.map(|nr| (*nr, enosys.ret())),
        };
        let x32 = (abi == Abi::X86_64).then(|| Action::Errno(libc::EPERM as u32).ret());
        sections.push(Section { arch: abi.audit_arch(), calls, default, above, x32 });
    }
    let program = seccomp_bpf::assemble(&sections, libc::SECCOMP_RET_KILL_PROCESS)
        .map_err(|e| SecurityError::Seccomp(format!("compiling the filter: {e}")))?;
    Ok(vec![program])
}
// ANCHOR_END: compile

/// Docker's name for this machine's architecture (`includes.arches`).
fn docker_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// The running kernel's version, as (major, minor) (uname(2)); (0, 0)
/// when unreadable, so a `minKernel` rule is dropped.
pub fn kernel_version() -> (u32, u32) {
    let release = nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default();
    parse_version(&release).unwrap_or((0, 0))
}

/// `6.1.0-13-amd64` → (6, 1).
fn parse_version(text: &str) -> Option<(u32, u32)> {
    let mut parts = text.split(['.', '-']);
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

/// `struct sock_fprog` (linux/filter.h): the program seccomp(2) takes.
#[repr(C)]
struct SockFprog {
    len: libc::c_ushort,
    filter: *const libc::sock_filter,
}

/// Installs the filters on this thread (and so on the command it execs),
/// with the system call itself and no flags (so `no_new_privs` stays as
/// the container asked). So `no_new_privs` must be set first, or
/// `CAP_SYS_ADMIN` held (seccomp(2), EACCES).
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

/// Reads a profile in Docker's form or the OCI one (`origin` names it in
/// errors).
fn parse(text: &str, origin: &Path) -> Result<Parsed, SecurityError> {
    let bad = |why: String| SecurityError::Profile { path: origin.to_owned(), why };
    let json: Value = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
    let default_errno = json["defaultErrnoRet"].as_u64().unwrap_or(libc::EPERM as u64);
    let action = |value: &Value, errno: Option<u64>| -> Result<Action, SecurityError> {
        let name = value.as_str().ok_or_else(|| bad(format!("action {value} is not a string")))?;
        let errno = errno.unwrap_or(default_errno) as u32;
        Ok(match name {
            "SCMP_ACT_ALLOW" => Action::Allow,
            "SCMP_ACT_ERRNO" => Action::Errno(errno),
            "SCMP_ACT_KILL" | "SCMP_ACT_KILL_THREAD" => Action::KillThread,
            "SCMP_ACT_KILL_PROCESS" => Action::KillProcess,
            "SCMP_ACT_TRAP" => Action::Trap,
            "SCMP_ACT_LOG" => Action::Log,
            "SCMP_ACT_TRACE" => Action::Trace(errno),
            other => return Err(bad(format!("unsupported action {other:?}"))),
        })
    };
    let default = action(&json["defaultAction"], None)?;
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .filter_map(|s| s.as_str().map(str::to_owned))
            .collect()
    };
    // OCI's `architectures`, else the entry of Docker's `archMap` for this
    // machine: the architecture and its sub-architectures.
    let mut architectures = strings(&json["architectures"]);
    if architectures.is_empty() {
        let native = Abi::native().map(Abi::scmp_name);
        for entry in json["archMap"].as_array().map(Vec::as_slice).unwrap_or_default() {
            if entry["architecture"].as_str() == native {
                architectures = native.into_iter().map(str::to_owned).collect();
                architectures.extend(strings(&entry["subArchitectures"]));
            }
        }
    }
    let mut rules = Vec::new();
    for entry in json["syscalls"].as_array().map(Vec::as_slice).unwrap_or_default() {
        let names: Vec<String> = match (entry["names"].as_array(), entry["name"].as_str()) {
            (Some(_), _) => strings(&entry["names"]),
            (None, Some(name)) => vec![name.to_owned()],
            (None, None) => return Err(bad(format!("a rule without names: {entry}"))),
        };
        let mut args = Vec::new();
        for arg in entry["args"].as_array().map(Vec::as_slice).unwrap_or_default() {
            let num = |key: &str| arg[key].as_u64().unwrap_or(0);
            let index = u8::try_from(num("index"))
                .ok()
                .filter(|i| *i < 6)
                .ok_or_else(|| bad(format!("argument index in {arg}")))?;
            let (op, value) = match arg["op"].as_str().unwrap_or("") {
                "SCMP_CMP_EQ" => (Op::Eq, num("value")),
                "SCMP_CMP_NE" => (Op::Ne, num("value")),
                "SCMP_CMP_LT" => (Op::Lt, num("value")),
                "SCMP_CMP_LE" => (Op::Le, num("value")),
                "SCMP_CMP_GT" => (Op::Gt, num("value")),
                "SCMP_CMP_GE" => (Op::Ge, num("value")),
                // (arg & value) == valueTwo
                "SCMP_CMP_MASKED_EQ" => (Op::MaskedEq(num("value")), num("valueTwo")),
                other => return Err(bad(format!("unsupported argument op {other:?}"))),
            };
            args.push(Condition { index, op, value });
        }
        let min_kernel = match entry["includes"]["minKernel"].as_str() {
            Some(text) => {
                Some(parse_version(text).ok_or_else(|| bad(format!("minKernel {text:?}")))?)
            }
            None => None,
        };
        rules.push(Rule {
            names,
            action: action(&entry["action"], entry["errnoRet"].as_u64())?,
            args,
            caps_all: cap_mask(&entry["includes"]["caps"]),
            caps_none: cap_mask(&entry["excludes"]["caps"]),
            arches_in: strings(&entry["includes"]["arches"]),
            arches_out: strings(&entry["excludes"]["arches"]),
            min_kernel,
        });
    }
    Ok(Parsed { default, architectures, rules })
}

/// The capabilities a rule names, as a mask. A name this machine does not
/// know is a capability no container holds: bit 63, never granted (there
/// are about 41), so an `includes` naming it never applies.
fn cap_mask(list: &Value) -> u64 {
    list.as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|c| c.as_str().and_then(|c| c.parse::<Capability>().ok()))
        .fold(0, |m, c| m | c.map_or(1 << 63, |c| c.bitmask()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::seccomp_bpf::run;

    const EPERM: u32 = libc::SECCOMP_RET_ERRNO | libc::EPERM as u32;
    const ENOSYS: u32 = libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32;
    const ALLOW: u32 = libc::SECCOMP_RET_ALLOW;

    /// The default filter's answer to a call, by name, for `abi`.
    fn answer(caps: u64, abi: Abi, name: &str, args: [u64; 6]) -> u32 {
        let filters = compile(&Profile::Default, caps).expect("compile");
        let nr = abi.number(name).unwrap_or_else(|| panic!("{name} on {abi:?}"));
        run(&filters[0], nr, abi.audit_arch(), args)
    }

    #[test]
    fn the_default_profile_is_an_allow_list() {
        let Some(native) = Abi::native() else { return };
        let default = crate::security::capabilities::resolve(&[], &[]).expect("caps");
        let filters = compile(&Profile::Default, default).expect("compile");
        assert_eq!(filters.len(), 1, "one program");
        // Runs and a binary search (seccomp_bpf.rs): 309 instructions for
        // the two ABIs of x86_64 (484 with a `ret` per run), where one
        // `jeq` per number took 1456.
        assert!(filters[0].len() < 350, "{} instructions", filters[0].len());
        let ask = |name: &str, args: [u64; 6]| answer(default, native, name, args);
        // Unconditionally allowed, and not named at all.
        assert_eq!(ask("getpid", [0; 6]), ALLOW);
        assert_eq!(ask("keyctl", [0; 6]), EPERM);
        assert_eq!(ask("userfaultfd", [0; 6]), EPERM);
        assert_eq!(ask("io_uring_setup", [0; 6]), EPERM);
        // By argument.
        let af = |family: i32| [family as u64, 0, 0, 0, 0, 0];
        assert_eq!(ask("socket", af(libc::AF_INET)), ALLOW);
        assert_eq!(ask("socket", af(libc::AF_ALG)), EPERM);
        assert_eq!(ask("socket", af(libc::AF_VSOCK)), EPERM);
        assert_eq!(ask("socket", af(libc::AF_XDP)), ALLOW, "44: above AF_VSOCK");
        assert_eq!(ask("personality", [0xffff_ffff, 0, 0, 0, 0, 0]), ALLOW);
        assert_eq!(ask("personality", [libc::ADDR_NO_RANDOMIZE as u64, 0, 0, 0, 0, 0]), EPERM);
        assert_eq!(ask("clone", [libc::SIGCHLD as u64, 0, 0, 0, 0, 0]), ALLOW);
        assert_eq!(ask("clone", [libc::CLONE_NEWUSER as u64, 0, 0, 0, 0, 0]), EPERM);
        assert_eq!(ask("clone3", [0; 6]), ENOSYS);
        // By capability.
        assert_eq!(ask("mount", [0; 6]), EPERM);
        let admin = default | Capability::CAP_SYS_ADMIN.bitmask();
        assert_eq!(answer(admin, native, "mount", [0; 6]), ALLOW);
        assert_eq!(
            answer(admin, native, "clone", [libc::CLONE_NEWUSER as u64, 0, 0, 0, 0, 0]),
            ALLOW
        );
        assert_eq!(answer(admin, native, "clone3", [0; 6]), ALLOW);
        // minKernel 4.8.
        assert_eq!(ask("process_vm_readv", [0; 6]), ALLOW);
        // Newer than the profile (which stops at removexattrat, Linux 6.13).
        assert_eq!(ask("open_tree_attr", [0; 6]), ENOSYS);
        assert_eq!(ask("file_setattr", [0; 6]), ENOSYS);
        if native == Abi::X86_64 {
            // The 32-bit ABI: the same rules under its numbers.
            assert_eq!(answer(default, Abi::I386, "getpid", [0; 6]), ALLOW);
            assert_eq!(answer(default, Abi::I386, "keyctl", [0; 6]), EPERM);
            assert_eq!(answer(default, Abi::I386, "socketcall", [0; 6]), ALLOW);
            let getpid = Abi::X86_64.number("getpid").expect("getpid");
            let x32 = getpid | seccomp_bpf::X32_SYSCALL_BIT;
            assert_eq!(run(&filters[0], x32, Abi::X86_64.audit_arch(), [0; 6]), EPERM, "x32");
            let arm = 0x4000_0028; // AUDIT_ARCH_ARM: no section
            assert_eq!(run(&filters[0], 20, arm, [0; 6]), libc::SECCOMP_RET_KILL_PROCESS);
        }
        assert!(compile(&Profile::Unconfined, default).expect("none").is_empty());
    }

    /// What the engine writes (the OCI form) compiles to the program the
    /// Docker form does.
    #[test]
    fn the_oci_form_is_the_same_filter() {
        if Abi::native().is_none() {
            return;
        }
        let dir =
            std::env::temp_dir().join(format!("mini-runc-seccomp-oci-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("mkdir");
        for caps in
            [0, crate::security::capabilities::resolve(&[], &[]).expect("caps"), u64::MAX >> 23]
        {
            let oci = oci(&Profile::Default, caps).expect("oci").expect("a profile");
            assert!(
                oci["syscalls"]
                    .as_array()
                    .expect("syscalls")
                    .iter()
                    .all(|r| r["includes"].is_null())
            );
            let path = dir.join("seccomp.json");
            std::fs::write(&path, oci.to_string()).expect("write");
            let from_oci = compile(&Profile::File(path), caps).expect("compile the OCI form");
            let direct = compile(&Profile::Default, caps).expect("compile");
            let same = |a: &libc::sock_filter, b: &libc::sock_filter| {
                (a.code, a.jt, a.jf, a.k) == (b.code, b.jt, b.jf, b.k)
            };
            assert!(from_oci[0].iter().zip(&direct[0]).all(|(a, b)| same(a, b)));
            assert_eq!(from_oci[0].len(), direct[0].len());
        }
        let _ = std::fs::remove_dir_all(dir);
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
                {"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
                {"names": ["chroot"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_NO_SUCH"]}}
            ]
        }"#;
        std::fs::write(&path, profile).expect("write");
        if let Some(native) = Abi::native() {
            let filters = compile(&Profile::File(path.clone()), 0).expect("compile");
            let ask = |name: &str| {
                run(&filters[0], native.number(name).expect(name), native.audit_arch(), [0; 6])
            };
            assert_eq!(ask("read"), ALLOW);
            assert_eq!(ask("mkdirat"), ENOSYS);
            assert_eq!(ask("mount"), EPERM, "without CAP_SYS_ADMIN");
            assert_eq!(ask("chroot"), EPERM, "an unknown capability is never held");
            assert_eq!(ask("getpid"), EPERM);
        }
        std::fs::write(&path, r#"{"defaultAction": "SCMP_ACT_NOTIFY"}"#).expect("write");
        let e = compile(&Profile::File(path), 0).expect_err("notify").to_string();
        assert!(e.contains("unsupported action \"SCMP_ACT_NOTIFY\""), "{e}");
        let _ = std::fs::remove_dir_all(dir);
    }

    /// What `settle` hands an in-process start is what the runtime
    /// compiles from the `linux.seccomp` it wrote: for no capability, for
    /// Docker's default set and for all of them (rules differ by
    /// capability).
    #[test]
    fn compiled_as_written() {
        let path =
            std::env::temp_dir().join(format!("seccomp-settled-{}.json", std::process::id()));
        for caps in [
            0,
            crate::security::capabilities::mask(&crate::security::capabilities::DEFAULT),
            u64::MAX,
        ] {
            let settled = settle(&Profile::Default, caps).expect("settle").expect("a profile");
            std::fs::write(&path, &settled.oci).expect("write");
            let compiled = compile(&Profile::File(path.clone()), caps).expect("compile");
            assert_eq!(
                settled.filters.iter().map(bytes).collect::<Vec<_>>(),
                compiled.iter().map(bytes).collect::<Vec<_>>(),
                "caps {caps:#x}"
            );
        }
        let _ = std::fs::remove_file(&path);
        assert!(settle(&Profile::Unconfined, 0).expect("settle").is_none());
    }

    /// A program's instructions as plain numbers (`sock_filter` has no `PartialEq`).
    fn bytes(program: &BpfProgram) -> Vec<(u16, u8, u8, u32)> {
        program.iter().map(|i| (i.code, i.jt, i.jf, i.k)).collect()
    }
}
