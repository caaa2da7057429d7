//! Capabilities (能力): root's power, cut into about forty pieces.
//!
//! Since Linux 2.2 "root" is not one privilege but a set of capabilities
//! (capabilities(7)): `CAP_SYS_ADMIN` for mounts and most namespace work,
//! `CAP_NET_ADMIN` for network configuration, `CAP_SYS_MODULE` for kernel
//! modules, `CAP_SYS_TIME` for the clock, and so on. A process holds five
//! sets of them:
//!
//! | set | meaning | in a mini-docker container |
//! |---|---|---|
//! | bounding | the most any `execve` can ever give this process and its children | Docker's default set |
//! | permitted | what it may switch on | Docker's default set (root), empty (other users) |
//! | effective | what the kernel checks now | the same as permitted |
//! | inheritable | what may pass through `execve` to programs with file capabilities | empty |
//! | ambient | what passes through `execve` to ordinary programs | empty |
//!
//! Docker's default set ([`DEFAULT`]) keeps what ordinary programs expect
//! root to do to *its own* files and processes (chown, kill, bind port 80,
//! setuid to another user…) and drops everything that reaches the kernel or
//! the host: mounts, modules, the clock, raw I/O, tracing other processes.
//!
//! One deliberate difference from Docker, documented in the book: the
//! inheritable set is empty, as runc and Docker do since CVE-2022-24769 (a
//! non-empty inheritable set let a program with file capabilities gain them
//! in the container). `CAP_MKNOD` is in the set, as in Docker: a container
//! may make device nodes, and its devices cgroup (written by the engine)
//! refuses to open any but a few, so `mknod /disk b 8 0` gives a node
//! nobody can read.
//!
//! In a user namespace (rootless, `--userns auto`) the capabilities count
//! only for what the namespace owns: even `--privileged` cannot load a
//! module or create a device node there.
//!
//! It imports only its `security/` siblings.

use caps::{CapSet, Capability, CapsHashSet};

use crate::security::SecurityError;

// ANCHOR: default-caps
/// Docker's default capabilities (moby `daemon/pkg/oci/caps/defaults.go`).
pub const DEFAULT: [Capability; 14] = [
    Capability::CAP_CHOWN,
    Capability::CAP_DAC_OVERRIDE,
    Capability::CAP_FSETID,
    Capability::CAP_FOWNER,
    Capability::CAP_MKNOD,
    Capability::CAP_NET_RAW,
    Capability::CAP_SETGID,
    Capability::CAP_SETUID,
    Capability::CAP_SETFCAP,
    Capability::CAP_SETPCAP,
    Capability::CAP_NET_BIND_SERVICE,
    Capability::CAP_SYS_CHROOT,
    Capability::CAP_KILL,
    Capability::CAP_AUDIT_WRITE,
];
// ANCHOR_END: default-caps

/// `SYS_ADMIN`, `sys_admin` or `CAP_SYS_ADMIN`: the capability; `ALL`: `None`.
fn parse_one(name: &str) -> Result<Option<Capability>, SecurityError> {
    let upper = name.to_ascii_uppercase();
    if upper == "ALL" {
        return Ok(None);
    }
    let full = if upper.starts_with("CAP_") { upper } else { format!("CAP_{upper}") };
    full.parse().map(Some).map_err(|_| SecurityError::UnknownCapability(name.to_owned()))
}

/// The container's capabilities: the default set, minus `--cap-drop`, plus
/// `--cap-add` (Docker applies the drops first, so `--cap-drop ALL
/// --cap-add KILL` leaves only KILL).
/// The result is a bit mask, bit N for capability N, the way
/// /proc/PID/status shows the sets (`CapEff: 00000000a80425fb`).
pub fn resolve(add: &[String], drop: &[String]) -> Result<u64, SecurityError> {
    let mut set = mask(&DEFAULT);
    for name in drop {
        set &= match parse_one(name)? {
            Some(cap) => !cap.bitmask(),
            None => 0,
        };
    }
    for name in add {
        set |= match parse_one(name)? {
            Some(cap) => cap.bitmask(),
            None => all(),
        };
    }
    Ok(set)
}

/// Every capability the `caps` crate knows (`--privileged`).
pub fn all() -> u64 {
    mask(&caps::all().into_iter().collect::<Vec<_>>())
}

/// The bit mask of some capabilities.
pub fn mask(set: &[Capability]) -> u64 {
    set.iter().fold(0, |m, c| m | c.bitmask())
}

/// The capabilities of a mask, in number order.
pub fn list(mask: u64) -> Vec<Capability> {
    let mut all: Vec<Capability> =
        caps::all().into_iter().filter(|c| mask & c.bitmask() != 0).collect();
    all.sort_by_key(|c| c.index());
    all
}

fn failed(call: &str) -> impl FnOnce(caps::errors::CapsError) -> SecurityError + '_ {
    move |e| SecurityError::Capabilities(format!("{call}: {e}"))
}

// ANCHOR: bounding
/// Drops from the bounding set every capability not in `keep`, with
/// `prctl(PR_CAPBSET_DROP, cap)` for each number up to the kernel's last
/// (`/proc/sys/kernel/cap_last_cap`), so capabilities newer than the `caps`
/// crate go too. Needs `CAP_SETPCAP`, so it comes before the effective set
/// is reduced. Irreversible for this process and every child.
pub fn drop_bounding(keep: u64) -> Result<(), SecurityError> {
    let last: u8 = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(63);
    for cap in 0..=last.min(63) {
        if keep & (1 << cap) != 0 {
            continue;
        }
        // SAFETY: prctl with integer arguments only.
        if unsafe { libc::prctl(libc::PR_CAPBSET_DROP, libc::c_ulong::from(cap), 0, 0, 0) } != 0 {
            let errno = nix::errno::Errno::last();
            return Err(SecurityError::Capabilities(format!(
                "prctl(PR_CAPBSET_DROP, {cap}): {errno}"
            )));
        }
    }
    Ok(())
}
// ANCHOR_END: bounding

/// Sets the effective and permitted sets to exactly `set` (the effective
/// one first: the kernel refuses an effective set larger than the
/// permitted one), empties the inheritable set and clears the ambient set.
/// Only ever removes capabilities: what we do not hold (the host may lack
/// some, e.g. `--cap-add ALL`) stays out.
// ANCHOR: set-caps
pub fn set_process(set: u64) -> Result<(), SecurityError> {
    let held = caps::read(None, CapSet::Permitted).map_err(failed("capget(permitted)"))?;
    let hash: CapsHashSet = list(set).into_iter().filter(|c| held.contains(c)).collect();
    caps::clear(None, CapSet::Ambient).map_err(failed("clear the ambient set"))?;
    caps::clear(None, CapSet::Inheritable).map_err(failed("clear the inheritable set"))?;
    caps::set(None, CapSet::Effective, &hash).map_err(failed("capset(effective)"))?;
    caps::set(None, CapSet::Permitted, &hash).map_err(failed("capset(permitted)"))
}
// ANCHOR_END: set-caps

// ANCHOR: sets
/// A process's capability sets besides the bounding set, when an OCI
/// bundle gives them apart (`process.capabilities`): the model's default is
/// one set, bounding, permitted and effective alike, with nothing
/// inheritable or ambient.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sets {
    pub effective: u64,
    pub permitted: u64,
    pub inheritable: u64,
    /// Kept across `execve` by a process without file capabilities, the way
    /// an unprivileged user keeps a capability (capabilities(7), "Ambient
    /// capability set"); each must be permitted and inheritable too.
    pub ambient: u64,
}

/// Sets the four sets, last step before `execve`: the inheritable set,
/// then effective and permitted (the effective one first, as in
/// [`set_process`]), then raises each ambient capability
/// (`PR_CAP_AMBIENT_RAISE`, prctl(2)). A capability this process does not
/// hold stays out of every set.
pub fn set_sets(sets: Sets) -> Result<(), SecurityError> {
    let held = caps::read(None, CapSet::Permitted).map_err(failed("capget(permitted)"))?;
    let only_held = |mask: u64| -> CapsHashSet {
        list(mask).into_iter().filter(|c| held.contains(c)).collect()
    };
    caps::clear(None, CapSet::Ambient).map_err(failed("clear the ambient set"))?;
    caps::set(None, CapSet::Inheritable, &only_held(sets.inheritable))
        .map_err(failed("capset(inheritable)"))?;
    caps::set(None, CapSet::Effective, &only_held(sets.effective))
        .map_err(failed("capset(effective)"))?;
    caps::set(None, CapSet::Permitted, &only_held(sets.permitted))
        .map_err(failed("capset(permitted)"))?;
    for cap in only_held(sets.ambient & sets.inheritable & sets.permitted) {
        caps::raise(None, CapSet::Ambient, cap).map_err(failed("PR_CAP_AMBIENT_RAISE"))?;
    }
    Ok(())
}
// ANCHOR_END: sets

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_and_drop() {
        let default = resolve(&[], &[]).expect("default");
        assert_eq!(list(default).len(), DEFAULT.len());
        // Docker's CapEff.
        assert_eq!(default, 0xa804_25fb);
        let more = resolve(&["sys_admin".into(), "CAP_MKNOD".into()], &["NET_RAW".into()])
            .expect("add and drop");
        assert_eq!(more, (default | (1 << 21)) & !(1 << 13), "+SYS_ADMIN +MKNOD -NET_RAW");
        let only_kill = resolve(&["KILL".into()], &["ALL".into()]).expect("drop all");
        assert_eq!(list(only_kill), [Capability::CAP_KILL]);
        assert!(matches!(
            resolve(&["NOPE".into()], &[]),
            Err(SecurityError::UnknownCapability(n)) if n == "NOPE"
        ));
    }
}
