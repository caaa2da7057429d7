//! Idmapped mounts: a directory seen through a user namespace's ID map,
//! without changing a byte on disk.
//!
//! Under `--userns auto` the container's root is, say, host UID 100000.
//! An image unpacked by host root has its files owned by host UID 0, which
//! that user namespace does not map: inside they show as `nobody` (65534),
//! and root in the container does not own its own `/bin`. Chowning the
//! image (or a copy of it per container) would fix the view and cost a
//! walk of every file. An idmapped mount fixes the view instead
//! (mount_setattr(2), `MOUNT_ATTR_IDMAP`, Linux 5.12): through it, a
//! file's on-disk owner is read as an ID *inside* the given user namespace,
//! so on-disk 0 is the container's 0 (host 100000), on-disk 1000 the
//! container's 1000, and a file the container creates through it is
//! written to disk as the on-disk ID again.
//!
//! Who may do it: mount_setattr(2) wants `CAP_SYS_ADMIN` in the user
//! namespace that owns the mount being changed. The image's directory is
//! on a mount of the host's namespace, so only host root can; the
//! container's root, inside its own user namespace, cannot. So the
//! runtime's parent (host root) does it, after `clone` and once the
//! child's ID maps are written, with the child's `/proc/PID/ns/user`:
//! 1. `open_tree(2)` with `OPEN_TREE_CLONE`: a copy of the mount of the
//!    image's directory, detached (in no mount namespace), as a descriptor;
//! 2. `mount_setattr(2)` on it with `MOUNT_ATTR_IDMAP` and the user
//!    namespace's descriptor (a detached mount may still get an idmap; an
//!    attached one may not, once it has been seen);
//! 3. the descriptor crosses the sync channel (`SCM_RIGHTS`), and the child
//!    attaches it in its own mount namespace with `move_mount(2)`
//!    ([`attach`]), where overlayfs takes it as the lower layer (idmapped
//!    layers: Linux 5.19).
//!
//! Not every filesystem allows it (ext4, xfs, btrfs and tmpfs do; a
//! filesystem without `FS_ALLOW_IDMAP` answers EINVAL), and a kernel before
//! 5.12 has no such call (ENOSYS): the caller decides what to do then.
//!
//! It imports only `error.rs`; nix has no wrappers for these calls.

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::errno::Errno;

use crate::error::RootfsError;

/// From include/uapi/linux/mount.h.
const OPEN_TREE_CLONE: libc::c_uint = 1;
const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x0000_0004;
const MOVE_MOUNT_T_EMPTY_PATH: libc::c_uint = 0x0000_0040;

/// `struct mount_attr` (mount_setattr(2)).
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

fn c_path(path: &Path) -> Result<CString, Errno> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| Errno::EINVAL)
}

/// A detached copy of the mount at `source` (with the mounts below it when
/// `recursive`), seen through the ID map of the user namespace `userns`.
// ANCHOR: idmapped-tree
pub fn idmapped_tree(source: &Path, userns: &OwnedFd, recursive: bool) -> Result<OwnedFd, Errno> {
    let path = c_path(source)?;
    let recursive = if recursive { libc::AT_RECURSIVE as libc::c_uint } else { 0 };
    let flags = OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint | recursive;
    // SAFETY: a NUL-terminated path and integer flags.
    let fd = unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, path.as_ptr(), flags) };
    let fd = Errno::result(fd)?;
    // SAFETY: open_tree just returned this descriptor; nothing else owns it.
    let tree = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_IDMAP,
        attr_clr: 0,
        propagation: 0,
        userns_fd: userns.as_raw_fd() as u64,
    };
    // SAFETY: valid descriptors, an empty NUL-terminated path with
    // AT_EMPTY_PATH (the call acts on `tree` itself), and a mount_attr of
    // the size given.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            tree.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH as libc::c_uint | recursive,
            &attr as *const MountAttr,
            size_of::<MountAttr>(),
        )
    };
    Errno::result(ret)?;
    Ok(tree)
}
// ANCHOR_END: idmapped-tree

/// Attaches the detached mount `tree` on the directory (or file) that
/// `target` (an `O_PATH` descriptor, `shown` in errors) names, in the
/// caller's mount namespace (move_mount(2)). Both ends are descriptors:
/// move_mount does not follow a symbolic link at the end of its target
/// path, such as `/proc/self/fd/N`, unless asked, and needs no path here.
pub fn attach(tree: &OwnedFd, target: &OwnedFd, shown: &str) -> Result<(), RootfsError> {
    // SAFETY: two valid descriptors, each with an empty NUL-terminated
    // path and its *_EMPTY_PATH flag: the call acts on the descriptors.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tree.as_raw_fd(),
            c"".as_ptr(),
            target.as_raw_fd(),
            c"".as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH,
        )
    };
    Errno::result(ret)
        .map(drop)
        .map_err(RootfsError::sys(format!("move_mount(idmapped, {shown:?})")))
}
