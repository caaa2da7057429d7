//! Resolving a path *inside* the container's root, never outside it.
//!
//! A volume target such as `/data` is a path in the image, and the image
//! may be hostile: `/data` could be a symbolic link to `/../../etc` or to
//! `/etc` of the *host* (a link is resolved by the kernel from the caller's
//! root, which is still the host's before `pivot_root`). A runtime that
//! joined strings and called `mount` would bind over a host directory.
//!
//! `openat2(2)` with `RESOLVE_IN_ROOT` makes the kernel resolve the whole
//! path as if the directory we pass were `/`: `..` stops there and absolute
//! symlinks start there. We get back an `O_PATH` descriptor and mount onto
//! `/proc/self/fd/N`, which names exactly that inode: no second lookup, no
//! race with a link swapped in between.
//!
//! It imports only `error.rs`.

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use nix::errno::Errno;

use crate::error::RootfsError;

/// What to do when the path does not exist yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Create {
    Nothing,
    /// Make the missing directories.
    Dir,
    /// Make the missing parent directories and an empty file (a mount
    /// point for a file bind mount such as /etc/hostname or /dev/null).
    File,
}

/// `struct open_how` (openat2(2)).
#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

/// `openat2(dir, path, O_PATH, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)`.
// ANCHOR: openat2
pub fn openat2_in_root(dir: &OwnedFd, path: &str) -> Result<OwnedFd, Errno> {
    let cpath = CString::new(path).map_err(|_| Errno::EINVAL)?;
    let how = OpenHow {
        flags: (libc::O_PATH | libc::O_CLOEXEC) as u64,
        mode: 0,
        resolve: libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS,
    };
    // With RESOLVE_IN_ROOT, a lookup that walks a `..` (written in the path
    // or in a symlink met on the way, as a hostile image's may be) is
    // refused with EAGAIN when a rename or a mount anywhere on the host
    // (in any mount namespace) raced with it: the kernel cannot then vouch
    // that the `..` stayed inside the root, and asks the caller to try
    // again (openat2(2)).
    // Other containers starting at the same moment are such mounts.
    for _ in 0..OPENAT2_TRIES {
        // SAFETY: valid descriptor, NUL-terminated path, a correctly sized
        // open_how; the returned descriptor is ours alone.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                dir.as_raw_fd(),
                cpath.as_ptr(),
                &how as *const OpenHow,
                std::mem::size_of::<OpenHow>(),
            )
        };
        if fd >= 0 {
            // SAFETY: the kernel just gave us this descriptor.
            return Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) });
        }
        let errno = Errno::last();
        if errno != Errno::EAGAIN {
            return Err(errno);
        }
        // Let the racing mount finish before the next try.
        std::thread::yield_now();
    }
    Err(Errno::EAGAIN)
}

/// How often [`openat2_in_root`] retries a lookup that raced with a mount.
const OPENAT2_TRIES: usize = 100;
// ANCHOR_END: openat2

/// Opens `path` (absolute, as seen from inside the container) under
/// `root`, creating what is missing as `create` says.
pub fn open_in_root(root: &OwnedFd, path: &str, create: Create) -> Result<OwnedFd, RootfsError> {
    let relative = path.trim_start_matches('/');
    let relative = if relative.is_empty() { "." } else { relative };
    let failed =
        |errno| RootfsError::Sys { call: format!("openat2({path:?}, RESOLVE_IN_ROOT)"), errno };
    match openat2_in_root(root, relative) {
        Ok(fd) => return Ok(fd),
        Err(Errno::ENOENT) if create != Create::Nothing => {}
        Err(errno) => return Err(failed(errno)),
    }
    // The deepest directory on the way that exists, found from the bottom
    // up (usually the parent: one more lookup); then each missing
    // component is made inside the directory the kernel resolved for us,
    // and the new directory opened from there. Walking down from the top
    // instead cost seven or eight system calls per mount point, and a
    // container's root has some thirty of them.
    let parts: Vec<&str> = relative.split('/').filter(|p| !p.is_empty() && *p != ".").collect();
    // (The whole path is missing: start from its parent.)
    let mut existing = parts.len().saturating_sub(1);
    let mut dir = loop {
        if existing == 0 {
            break openat2_in_root(root, ".").map_err(failed)?;
        }
        match openat2_in_root(root, &parts[..existing].join("/")) {
            Ok(fd) => break fd,
            Err(Errno::ENOENT) => existing -= 1,
            Err(errno) => return Err(failed(errno)),
        }
    };
    for (i, name) in parts.iter().enumerate().skip(existing) {
        let sofar = parts[..=i].join("/");
        let cname = CString::new(*name).map_err(|_| failed(Errno::EINVAL))?;
        let last = i + 1 == parts.len();
        // SAFETY: valid directory descriptor and NUL-terminated name; the
        // descriptor openat returns is new and owned by nothing else.
        let made = unsafe {
            if last && create == Create::File {
                let flags = libc::O_CREAT
                    | libc::O_EXCL
                    | libc::O_WRONLY
                    | libc::O_NOFOLLOW
                    | libc::O_CLOEXEC;
                let fd = libc::openat(dir.as_raw_fd(), cname.as_ptr(), flags, 0o644);
                if fd >= 0 {
                    drop(OwnedFd::from_raw_fd(fd));
                    Ok(())
                } else {
                    Err(Errno::last())
                }
            } else if libc::mkdirat(dir.as_raw_fd(), cname.as_ptr(), 0o755) == 0 {
                Ok(())
            } else {
                Err(Errno::last())
            }
        };
        match made {
            Ok(()) if !last => {
                // Made by us just now, one component: O_NOFOLLOW is all
                // the resolving it needs.
                let flags = libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC;
                // SAFETY: as above.
                let fd = unsafe { libc::openat(dir.as_raw_fd(), cname.as_ptr(), flags) };
                if fd < 0 {
                    return Err(failed(Errno::last()));
                }
                // SAFETY: the kernel just gave us this descriptor.
                dir = unsafe { OwnedFd::from_raw_fd(fd) };
            }
            Ok(()) => {}
            // Someone made it first: resolve it from the root again.
            Err(Errno::EEXIST) if !last => dir = openat2_in_root(root, &sofar).map_err(failed)?,
            Err(Errno::EEXIST) => {}
            Err(errno) => {
                return Err(RootfsError::Sys {
                    call: format!("creating \"/{sofar}\" for {path:?}"),
                    errno,
                });
            }
        }
    }
    openat2_in_root(root, relative).map_err(failed)
}

/// The path through which `mount(2)` reaches a descriptor's inode.
pub fn fd_path(fd: &OwnedFd) -> String {
    format!("/proc/self/fd/{}", fd.as_raw_fd())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Missing directories and files are made inside the root, also on
    /// the way through an absolute symlink or a `..` that would lead out
    /// of it; an existing path is opened as it is.
    #[test]
    fn made_inside_the_root() {
        let top = std::env::temp_dir().join(format!("resolve-test-{}", std::process::id()));
        let root_dir = top.join("root");
        std::fs::create_dir_all(root_dir.join("real")).expect("mkdir");
        std::os::unix::fs::symlink("/real", root_dir.join("link")).expect("symlink");
        let root = OwnedFd::from(std::fs::File::open(&root_dir).expect("open root"));

        open_in_root(&root, "/link/a/b", Create::Dir).expect("dirs");
        assert!(root_dir.join("real/a/b").is_dir());
        open_in_root(&root, "/../../x/y/file", Create::File).expect("file");
        assert!(root_dir.join("x/y/file").is_file());
        assert!(!top.join("x").exists(), "nothing made outside the root");
        open_in_root(&root, "/real/a", Create::Nothing).expect("existing");
        assert_eq!(
            open_in_root(&root, "/nope", Create::Nothing)
                .err()
                .map(|e| e.to_string().contains("ENOENT")),
            Some(true)
        );
        let _ = std::fs::remove_dir_all(&top);
    }
}
