//! A minimal `/dev`, the way Docker and runc give one.
//!
//! A tmpfs, holding:
//! - the usual character devices: made with `mknod(2)` as root, as runc
//!   makes them; in a user namespace bind-mounted from the host's `/dev`
//!   instead: `mknod` needs CAP_MKNOD in the *initial* user namespace, so
//!   a rootless runtime cannot create them, but it may bind existing
//!   nodes. (A node costs two system calls; a bind mount five, and one
//!   more mount for the kernel to take down when the container ends.)
//! - a new `devpts` instance (`newinstance`): the container's terminals
//!   are numbered from 0 and the host's are not visible; `/dev/ptmx` is a
//!   link to its `ptmx`;
//! - `/dev/shm` (POSIX shared memory: a tmpfs) and, with an IPC namespace
//!   of its own, `/dev/mqueue` (POSIX message queues of that namespace);
//! - the links `/dev/fd`, `/dev/stdin`, `/dev/stdout`, `/dev/stderr` into
//!   `/proc/self/fd`;
//! - the device nodes an OCI bundle lists (`linux.devices`, see
//!   [`make_devices`]).
//!
//! It reads three fields of [`Spec`] (a user namespace and whether it maps
//! a single ID, an IPC namespace of its own, the devices) and imports only
//! `rootfs/` and `error.rs`.

use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd};

use nix::errno::Errno;
use nix::mount::MsFlags;

use crate::error::RootfsError;
use crate::rootfs::resolve::{Create, open_in_root};
use crate::rootfs::{Device, Spec, bind, mount_in_new_dir, mount_in_root};

/// The usual character devices, with the numbers Linux gives them
/// (the kernel's Documentation/admin-guide/devices.txt): major 1 for the
/// memory devices, 5:0 for the controlling terminal.
const DEVICES: [(&str, u64, u64); 6] = [
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
];

const LINKS: [(&str, &str); 5] = [
    ("ptmx", "pts/ptmx"),
    ("fd", "/proc/self/fd"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"),
];

// ANCHOR: dev
pub fn mount_dev(root: &OwnedFd, spec: &Spec) -> Result<(), RootfsError> {
    let nosuid = MsFlags::MS_NOSUID;
    let quiet = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    // noexec too: nothing under /dev is a program, and a writable tmpfs
    // that can hold one is a place to drop it. podman and crun ask for it
    // in config.json; a bundle that does not (Docker's) gets it anyway.
    mount_in_root(
        root,
        "tmpfs",
        "/dev",
        "tmpfs",
        nosuid | MsFlags::MS_NOEXEC | MsFlags::MS_STRICTATIME,
        Some("mode=755,size=65536k"),
    )?;
    // The new tmpfs, where the nodes, links and mount points are made
    // (see `mount_in_new_dir`).
    let dev = open_in_root(root, "/dev", Create::Nothing)?;
    for (name, major, minor) in DEVICES {
        // mknod is refused in a user namespace: the container's own, or the
        // one this runtime itself runs in (root in a rootless container),
        // where it has no CAP_MKNOD in the initial one.
        let made = !spec.user_namespace && usual_device(&dev, name, major, minor)?;
        if !made {
            let path = format!("/dev/{name}");
            bind(root, &path, &path, Create::File, true)?;
        }
    }
    // gid=5 (tty) only when the container has that group mapped.
    let pts = if spec.single_id {
        "newinstance,ptmxmode=0666,mode=0620"
    } else {
        "newinstance,ptmxmode=0666,mode=0620,gid=5"
    };
    let devpts_flags = MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC;
    mount_in_new_dir(&dev, "/dev/pts", "devpts", "devpts", devpts_flags, Some(pts))?;
    mount_in_new_dir(&dev, "/dev/shm", "shm", "tmpfs", quiet, Some("mode=1777,size=65536k"))?;
    if spec.ipc_namespace {
        // An mqueue instance belongs to the mounter's IPC namespace.
        mount_in_new_dir(&dev, "/dev/mqueue", "mqueue", "mqueue", quiet, None)?;
    }
    for (name, target) in LINKS {
        symlink_at(&dev, name, target)?;
    }
    make_devices(root, &spec.devices, spec.user_namespace)
}
// ANCHOR_END: dev

/// One of [`DEVICES`], made in the new `/dev` (crw-rw-rw-, root's), as
/// runc makes them outside a user namespace; `false` if mknod(2) is not
/// allowed here (EPERM: no CAP_MKNOD in the initial user namespace).
fn usual_device(dev: &OwnedFd, name: &str, major: u64, minor: u64) -> Result<bool, RootfsError> {
    use nix::sys::stat::{FchmodatFlags, Mode, SFlag, fchmodat, makedev, mknodat};
    let mode = Mode::from_bits_truncate(0o666);
    let call = |what: &str| format!("{what}(\"/dev/{name}\")");
    match mknodat(dev, name, SFlag::S_IFCHR, mode, makedev(major, minor)) {
        Ok(()) => {}
        Err(Errno::EPERM) => return Ok(false),
        Err(errno) => return Err(RootfsError::Sys { call: call("mknodat"), errno }),
    }
    // (mknod's mode passes through the umask.)
    fchmodat(dev, name, mode, FchmodatFlags::FollowSymlink)
        .map_err(RootfsError::sys(call("fchmodat")))?;
    Ok(true)
}

/// The host's node at the device's path (before `pivot_root`, the host's
/// `/dev` is still in view) is the device the bundle names: its type and
/// numbers. Bound in its place otherwise, it would be another device.
fn same_as_hosts(device: &Device) -> Result<(), RootfsError> {
    use std::os::unix::fs::MetadataExt;
    let describe = |kind: u32, rdev: u64| {
        let letter = match kind & libc::S_IFMT {
            libc::S_IFCHR => "c",
            libc::S_IFBLK => "b",
            libc::S_IFIFO => "p",
            _ => "not a device",
        };
        let (major, minor) = (nix::sys::stat::major(rdev), nix::sys::stat::minor(rdev));
        format!("{letter} {major}:{minor}")
    };
    let asked = describe(device.kind, nix::sys::stat::makedev(device.major, device.minor));
    let host = match std::fs::metadata(&device.path) {
        Ok(meta) => describe(meta.mode(), meta.rdev()),
        Err(e) => {
            return Err(RootfsError::Sys {
                call: format!("stat({:?})", device.path),
                errno: Errno::from_raw(e.raw_os_error().unwrap_or(0)),
            });
        }
    };
    if host != asked {
        return Err(RootfsError::OtherDevice { path: device.path.clone(), host, asked });
    }
    Ok(())
}

// ANCHOR: devices
/// The bundle's own device nodes, each made with `mknodat(2)` (its type,
/// major and minor numbers), then given its mode and owner: mknod's mode
/// passes through the umask, which the bundle may have set. In a user
/// namespace `mknod` is refused for a character or block device
/// (CAP_MKNOD counts only in the initial one, user_namespaces(7)), so,
/// as runc does there, the host's node at the same path is bind-mounted
/// onto an empty file instead: same device, the host's mode and owner.
/// A path the model made already (`/dev/null`…) keeps what it has.
fn make_devices(
    root: &OwnedFd,
    devices: &[Device],
    user_namespace: bool,
) -> Result<(), RootfsError> {
    use nix::sys::stat::{FchmodatFlags, Mode, SFlag, fchmodat, makedev, mknodat};
    for device in devices {
        let (parent, name) = device.path.rsplit_once('/').unwrap_or(("/dev", &device.path));
        let dir = open_in_root(root, parent, Create::Dir)?;
        let kind = SFlag::from_bits_truncate(device.kind);
        let binds = user_namespace && kind != SFlag::S_IFIFO;
        if binds {
            if open_in_root(root, &device.path, Create::Nothing).is_err() {
                same_as_hosts(device)?;
                bind(root, &device.path, &device.path, Create::File, true)?;
            }
            continue;
        }
        let mode = Mode::from_bits_truncate(device.mode as libc::mode_t);
        let number = makedev(device.major, device.minor);
        let call = |what: &str| format!("{what}({:?})", device.path);
        match mknodat(&dir, name, kind, mode, number) {
            Ok(()) => {}
            Err(Errno::EEXIST) => continue,
            Err(errno) => return Err(RootfsError::Sys { call: call("mknodat"), errno }),
        }
        fchmodat(&dir, name, mode, FchmodatFlags::FollowSymlink)
            .map_err(RootfsError::sys(call("fchmodat")))?;
        let (uid, gid) =
            (nix::unistd::Uid::from_raw(device.uid), nix::unistd::Gid::from_raw(device.gid));
        nix::unistd::fchownat(
            &dir,
            name,
            Some(uid),
            Some(gid),
            nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .map_err(RootfsError::sys(call("fchownat")))?;
    }
    Ok(())
}
// ANCHOR_END: devices

/// `symlinkat(target, dev, name)`: `/dev/name -> target`.
fn symlink_at(dir: &OwnedFd, name: &str, target: &str) -> Result<(), RootfsError> {
    let failed =
        |errno| RootfsError::Sys { call: format!("symlinkat({target:?}, \"/dev/{name}\")"), errno };
    let (cname, ctarget) = (
        CString::new(name).map_err(|_| failed(Errno::EINVAL))?,
        CString::new(target).map_err(|_| failed(Errno::EINVAL))?,
    );
    // SAFETY: NUL-terminated strings and a valid directory descriptor.
    if unsafe { libc::symlinkat(ctarget.as_ptr(), dir.as_raw_fd(), cname.as_ptr()) } != 0 {
        return Err(failed(Errno::last()));
    }
    Ok(())
}
