//! `mini-docker info`: what this host supports, so that a failure can be
//! explained before it happens (youki's `info`, podman's `info`).

use std::path::Path;

use nix::sched::{CloneFlags, unshare};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, fork, geteuid};

use crate::commands::{Dirs, Error};

pub fn info(dirs: &Dirs) -> Result<(), Error> {
    let uts = nix::sys::utsname::uname().ok();
    let kernel = uts.map(|u| u.release().to_string_lossy().into_owned()).unwrap_or_default();
    let privilege = if geteuid().is_root() {
        "root".to_owned()
    } else {
        format!("rootless (uid {}): a user namespace is always used", geteuid())
    };
    let rows = [
        ("kernel", kernel),
        ("privilege", privilege),
        ("user namespaces", user_namespaces()),
        ("cgroups", cgroups()),
        ("limits", mini_runc::cgroups::describe()),
        ("overlayfs", overlayfs()),
        ("security", mini_runc::security::defaults()),
        ("LSM", mini_runc::security::lsm()),
        ("state", dirs.state.display().to_string()),
        ("images", crate::image::store_dir(&dirs.data).display().to_string()),
    ];
    for (key, value) in rows {
        say!("{:<16} {value}", format!("{key}:"));
    }
    Ok(())
}

fn read(path: &str) -> Option<String> {
    std::fs::read_to_string(path).ok().map(|s| s.trim().to_owned())
}

/// Tries `unshare(CLONE_NEWUSER)` in a throwaway child, then names the
/// setting that explains a refusal.
fn user_namespaces() -> String {
    // SAFETY: single-threaded; the child only calls unshare and _exit.
    let allowed = match unsafe { fork() } {
        Ok(ForkResult::Child) => {
            let code = if unshare(CloneFlags::CLONE_NEWUSER).is_ok() { 0 } else { 1 };
            // SAFETY: ends the child without running the parent's cleanup.
            unsafe { libc::_exit(code) }
        }
        Ok(ForkResult::Parent { child }) => {
            matches!(waitpid(child, None), Ok(WaitStatus::Exited(_, 0)))
        }
        Err(_) => false,
    };
    if allowed {
        return "allowed".to_owned();
    }
    let why = if read("/proc/sys/user/max_user_namespaces").as_deref() == Some("0") {
        "user.max_user_namespaces is 0"
    } else if read("/proc/sys/kernel/unprivileged_userns_clone").as_deref() == Some("0") {
        "kernel.unprivileged_userns_clone is 0"
    } else if read("/proc/sys/kernel/apparmor_restrict_unprivileged_userns").as_deref() == Some("1")
    {
        "AppArmor restricts unprivileged user namespaces"
    } else {
        "refused for another reason (a seccomp filter? a container runtime?)"
    };
    format!("blocked: {why}")
}

/// v2 when /sys/fs/cgroup is cgroup2 itself; v1 (hybrid when a v2 tree is
/// mounted at .../unified) otherwise, with the enabled controllers.
fn cgroups() -> String {
    let fs_type = |path: &str| nix::sys::statfs::statfs(path).map(|s| s.filesystem_type()).ok();
    if fs_type("/sys/fs/cgroup") == Some(nix::sys::statfs::CGROUP2_SUPER_MAGIC) {
        let controllers = read("/sys/fs/cgroup/cgroup.controllers").unwrap_or_default();
        return format!("v2, controllers: {controllers}");
    }
    let enabled: Vec<String> = read("/proc/cgroups")
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 4 && f[3] == "1").then(|| f[0].to_owned())
        })
        .collect();
    let hybrid = if Path::new("/sys/fs/cgroup/unified/cgroup.controllers").exists() {
        " (hybrid: a v2 tree at /sys/fs/cgroup/unified)"
    } else {
        ""
    };
    format!("v1{hybrid}, controllers: {}", enabled.join(" "))
}

fn overlayfs() -> String {
    let listed = read("/proc/filesystems")
        .is_some_and(|all| all.lines().any(|l| l.split_whitespace().last() == Some("overlay")));
    if listed {
        "available (rootless needs kernel 5.11+ for overlayfs in a user namespace)".to_owned()
    } else {
        "not listed in /proc/filesystems (the module may load on first use)".to_owned()
    }
}
