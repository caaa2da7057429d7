//! Masked and read-only paths: the holes of /proc and /sys, covered.
//!
//! `/proc` and `/sys` were written before containers. A new `/proc`
//! instance shows the container's own processes, but many of its files are
//! about the whole host and are not namespaced: `/proc/kcore` is the
//! host's physical memory as an ELF core file, `/proc/keys` the kernel
//! keyring, `/proc/timer_list` and `/proc/sched_debug` list host processes
//! and addresses, `/proc/sysrq-trigger` reboots the host with one byte,
//! and `/proc/sys` holds the kernel's settings (sysctl). Docker covers them
//! after the root is built, the way runc's `maskedPaths` and `readonlyPaths`
//! do:
//! - a *masked* file gets `/dev/null` bind-mounted over it (reads are
//!   empty, writes vanish); a masked directory gets an empty read-only tmpfs;
//! - a *read-only* path is bind-mounted on itself, then remounted read-only
//!   (`mount(2)` needs the two steps for a bind mount).
//!
//! Mounting over them needs `CAP_SYS_ADMIN`, which the container lacks by
//! default: it cannot take the covers off (and the default seccomp filter
//! refuses `umount2` too; `--cap-add SYS_ADMIN` lifts both). With
//! `--privileged` nothing is covered: that is the point of the flag.
//!
//! It imports `rootfs/`'s `remount_read_only`, a module of the same layer
//! that imports nothing of `security/`.

use nix::errno::Errno;
use nix::mount::{MsFlags, mount};

use crate::rootfs::remount_read_only;
use crate::security::SecurityError;

// ANCHOR: paths
/// Docker's masked paths (moby `oci/defaults.go`): mini-docker's default.
pub const MASKED: [&str; 12] = [
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Docker masks one more directory per CPU, where the kernel has it
/// (x86's thermal monitoring: `/sys/devices/system/cpu/cpu*/thermal_throttle`,
/// whose counters and `core_throttle_max_time_ms` tell a container about
/// the host's load and power). The engine expands the pattern when it
/// writes the bundle, as Docker does, since `linux.maskedPaths` holds
/// paths, not patterns.
pub fn per_cpu_masked() -> Vec<String> {
    let Ok(entries) = std::fs::read_dir("/sys/devices/system/cpu") else { return Vec::new() };
    let mut found: Vec<(u32, String)> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let n: u32 = name.strip_prefix("cpu")?.parse().ok()?;
            let path = format!("/sys/devices/system/cpu/{name}/thermal_throttle");
            std::path::Path::new(&path).exists().then_some((n, path))
        })
        .collect();
    found.sort();
    found.into_iter().map(|(_, path)| path).collect()
}

/// Docker's read-only paths (and `/sys`, which `rootfs/` mounts read-only).
pub const READ_ONLY: [&str; 5] =
    ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];
// ANCHOR_END: paths

fn failed(call: String) -> impl FnOnce(Errno) -> SecurityError {
    move |errno| SecurityError::Paths(format!("{call}: {errno}"))
}

// ANCHOR: mask
/// Covers the masked paths and makes the read-only ones read-only, in the
/// container's root (after `pivot_root`, so the paths are the container's).
/// A path this kernel does not have is skipped. The lists are the bundle's
/// `linux.maskedPaths` and `readonlyPaths` (mini-docker writes [`MASKED`]
/// and [`READ_ONLY`]); a path masked and also read-only is masked alone.
pub fn cover(masked: &[String], read_only: &[String]) -> Result<(), SecurityError> {
    for path in masked {
        let path = path.as_str();
        let Ok(meta) = std::fs::symlink_metadata(path) else { continue };
        if meta.is_dir() {
            let flags = MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
            mount(Some("tmpfs"), path, Some("tmpfs"), flags, Some("size=0"))
                .map_err(failed(format!("mount(\"tmpfs\", {path:?}, MS_RDONLY)")))?;
        } else {
            mount(Some("/dev/null"), path, None::<&str>, MsFlags::MS_BIND, None::<&str>)
                .map_err(failed(format!("mount(\"/dev/null\", {path:?}, MS_BIND)")))?;
        }
    }
    for path in read_only.iter().filter(|p| !masked.contains(p)) {
        let path = path.as_str();
        if std::fs::symlink_metadata(path).is_err() {
            continue;
        }
        let flags = MsFlags::MS_BIND | MsFlags::MS_REC;
        mount(Some(path), path, None::<&str>, flags, None::<&str>)
            .map_err(failed(format!("mount({path:?}, {path:?}, MS_BIND | MS_REC)")))?;
        remount_read_only(path).map_err(|e| SecurityError::Paths(e.to_string()))?;
    }
    Ok(())
}
// ANCHOR_END: mask
