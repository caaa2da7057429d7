//! Root, or rootless through a user namespace (man 7 user_namespaces).
//!
//! As root every experiment runs. Otherwise the demo first calls
//! `unshare(CLONE_NEWUSER)` and maps the caller's UID and GID to 0: inside
//! that user namespace it holds every capability over the namespaces it
//! creates, which is enough for most lessons. `user-demo` shows these steps
//! one by one; here they are plumbing.
//!
//! A leaf of this crate: it imports nothing of lab, so the model, the CLI
//! and the spawner can all ask it who the demo runs as.

use std::fs;

use nix::errno::Errno;
use nix::sched::{CloneFlags, unshare};
use nix::unistd::{Gid, Uid, getegid, geteuid};
use serde::{Deserialize, Serialize};

/// How the demo holds its privileges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Privilege {
    /// Real root (UID 0 with full capabilities) on the host.
    Root,
    /// An unprivileged user, mapped to 0 in a user namespace of its own.
    Rootless,
}

/// How the process got its privileges, in words for the report header.
#[derive(Debug, Clone)]
pub struct Acquired {
    pub privilege: Privilege,
    pub outer_uid: Uid,
    /// Whether lab entered a user namespace for the demo.
    pub entered: bool,
}

impl Acquired {
    /// One line for the report header. `drops_to_unprivileged`: the demo
    /// (user-demo) runs its lessons as an unprivileged user even as root.
    pub fn describe(&self, drops_to_unprivileged: bool) -> String {
        match self.privilege {
            Privilege::Root if drops_to_unprivileged => {
                "root (experiments about unprivileged users drop to uid 65534 first)".into()
            }
            Privilege::Root => "root".into(),
            Privilege::Rootless if self.entered => format!(
                "rootless (uid {} is not root: the demo first entered a user namespace that maps it to 0)",
                self.outer_uid
            ),
            Privilege::Rootless => format!("rootless (uid {})", self.outer_uid),
        }
    }
}

/// Becomes as privileged as the kernel allows: stays root if root, otherwise
/// enters a new user namespace. Must run before any thread is started: the
/// kernel refuses `unshare(CLONE_NEWUSER)` to a multi-threaded process.
///
/// With `enter_user_namespace` false (user-demo), a non-root caller is left
/// as it is: that demo creates its user namespaces itself.
pub fn acquire(enter_user_namespace: bool) -> Result<Acquired, String> {
    let (uid, gid) = (geteuid(), getegid());
    if uid.is_root() {
        return Ok(Acquired { privilege: Privilege::Root, outer_uid: uid, entered: false });
    }
    if !enter_user_namespace {
        return Ok(Acquired { privilege: Privilege::Rootless, outer_uid: uid, entered: false });
    }
    unshare(CloneFlags::CLONE_NEWUSER)
        .map_err(|e| blocked("unshare(CLONE_NEWUSER)", e, read_sysctl))?;
    map_to_root(uid, gid).map_err(|(what, e)| blocked(what, e, read_sysctl))?;
    Ok(Acquired { privilege: Privilege::Rootless, outer_uid: uid, entered: true })
}

/// Writes the one-line ID maps `0 <uid> 1` and `0 <gid> 1`. An unprivileged
/// writer must deny `setgroups` before writing `gid_map` (man 7
/// user_namespaces, "Interaction with system calls that change process UIDs or GIDs").
fn map_to_root(uid: Uid, gid: Gid) -> Result<(), (&'static str, Errno)> {
    let write = |path: &'static str, text: String| {
        fs::write(path, text).map_err(|e| (path, Errno::from_raw(e.raw_os_error().unwrap_or(0))))
    };
    write("/proc/self/setgroups", "deny".into())?;
    write("/proc/self/uid_map", format!("0 {uid} 1"))?;
    write("/proc/self/gid_map", format!("0 {gid} 1"))?;
    Ok(())
}

fn read_sysctl(path: &str) -> Option<String> {
    fs::read_to_string(path).ok().map(|s| s.trim().to_owned())
}

/// One clear message: what failed, which setting blocks it, and the two fixes.
pub fn blocked(call: &str, errno: Errno, sysctl: impl Fn(&str) -> Option<String>) -> String {
    let cause = if sysctl("/proc/sys/kernel/apparmor_restrict_unprivileged_userns").as_deref()
        == Some("1")
    {
        Some(
            "kernel.apparmor_restrict_unprivileged_userns=1 (AppArmor denies unprivileged user namespaces)",
        )
    } else if sysctl("/proc/sys/user/max_user_namespaces").as_deref() == Some("0") {
        Some("user.max_user_namespaces=0 (user namespaces are disabled)")
    } else if sysctl("/proc/sys/kernel/unprivileged_userns_clone").as_deref() == Some("0") {
        Some("kernel.unprivileged_userns_clone=0 (unprivileged user namespaces are disabled)")
    } else {
        None
    };
    match cause {
        Some(cause) => {
            let setting = cause.split_once('=').map_or(cause, |(name, _)| name);
            let value = match setting {
                "kernel.apparmor_restrict_unprivileged_userns" => "0",
                "user.max_user_namespaces" => "15000",
                _ => "1",
            };
            format!(
                "cannot create a user namespace without root: {call} failed with {errno} because of {cause}. \
                 Fix: run with sudo, or allow it with `sudo sysctl -w {setting}={value}`"
            )
        }
        // The kernel refuses a new user namespace to a process whose own
        // UID has no mapping in its current one (man 7 user_namespaces).
        None if sysctl("/proc/self/uid_map").is_some_and(|map| map.is_empty()) => format!(
            "cannot create a user namespace without root: {call} failed with {errno} because this \
             process runs in a user namespace where its UID is not mapped (/proc/self/uid_map is empty). \
             Fix: run with sudo, or from a process whose UID is mapped"
        ),
        None => format!(
            "cannot create a user namespace without root: {call} failed with {errno} \
             (no sysctl blocks it: a seccomp filter, e.g. inside a container, may). Fix: run with sudo"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sysctls(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |path| pairs.iter().find(|(p, _)| path.ends_with(p)).map(|(_, v)| v.to_string())
    }

    #[test]
    fn names_the_apparmor_restriction_and_both_fixes() {
        let msg = blocked(
            "/proc/self/uid_map",
            Errno::EPERM,
            sysctls(&[("apparmor_restrict_unprivileged_userns", "1")]),
        );
        assert!(msg.contains("kernel.apparmor_restrict_unprivileged_userns=1"), "{msg}");
        assert!(
            msg.contains("sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0"),
            "{msg}"
        );
        assert!(msg.contains("run with sudo"), "{msg}");
    }

    #[test]
    fn names_a_zero_namespace_limit() {
        let msg = blocked(
            "unshare(CLONE_NEWUSER)",
            Errno::ENOSPC,
            sysctls(&[("max_user_namespaces", "0")]),
        );
        assert!(msg.contains("user.max_user_namespaces=0"), "{msg}");
        assert!(msg.contains("sysctl -w user.max_user_namespaces=15000"), "{msg}");
    }

    #[test]
    fn names_an_unmapped_uid() {
        let msg = blocked("unshare(CLONE_NEWUSER)", Errno::EPERM, sysctls(&[("uid_map", "")]));
        assert!(msg.contains("/proc/self/uid_map is empty"), "{msg}");
    }

    #[test]
    fn says_so_when_no_sysctl_explains_it() {
        let msg = blocked("unshare(CLONE_NEWUSER)", Errno::EPERM, sysctls(&[]));
        assert!(msg.contains("seccomp"), "{msg}");
    }
}
