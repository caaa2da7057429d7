//! The built-in `host` image: a root filesystem made of the host's own
//! programs and libraries.
//!
//! Nothing is copied. For each container mini-docker writes a *skeleton*
//! directory (a generated minimal `/etc`, empty mount points, and the same
//! `bin -> usr/bin` style links as the host), uses it as the overlay's lower
//! layer, and then, inside the container's mount namespace, bind-mounts the
//! host's `/usr`, `/bin`, `/lib*`, `/sbin` (and `/etc/alternatives`, which
//! links in `/usr` go through) read-only over the empty directories. The
//! container sees a normal Linux root; writing to `/usr` fails with EROFS;
//! the rest of the host (`/home`, `/root`, the rest of `/etc` but a copy of
//! `ld.so.cache`) is not there at all.
//!
//! It imports only `image/` (its error type among them).

use std::path::Path;

use crate::image::users::Accounts;
use crate::image::{ImageError, create_dir};

/// Top-level host paths the image is made of. On a merged-/usr system most
/// are symbolic links into `/usr`, which the skeleton copies as links.
const FROM_HOST: [&str; 7] = ["usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32"];

/// Host directories under `/etc` that programs in `/usr` rely on
/// (Debian's alternatives: `awk`, `editor`, … are links through it).
const FROM_HOST_ETC: [&str; 1] = ["etc/alternatives"];

const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n";
const GROUP: &str = "root:x:0:\ntty:x:5:\nnogroup:x:65534:\n";
const NSSWITCH: &str = "passwd: files\ngroup: files\nshadow: files\nhosts: files dns\n";
const OS_RELEASE: &str = "NAME=\"mini-docker host image\"\nID=mini-docker-host\nPRETTY_NAME=\"the host's /usr, read-only\"\n";

/// The host directories bind-mounted read-only over the skeleton (paths
/// relative to `/`): those of [`FROM_HOST`] and [`FROM_HOST_ETC`] that are
/// real directories on the host (not links).
pub fn bound_dirs() -> Vec<&'static str> {
    FROM_HOST
        .iter()
        .chain(FROM_HOST_ETC.iter())
        .copied()
        .filter(|name| Path::new("/").join(name).symlink_metadata().is_ok_and(|m| m.is_dir()))
        .collect()
}

/// The skeleton's `/etc/passwd` and `/etc/group`, for `-u NAME`.
pub fn accounts() -> Accounts {
    Accounts { passwd: Some(PASSWD.to_owned()), group: Some(GROUP.to_owned()) }
}

/// Writes the skeleton into `dir`: the same links as the host, empty mount
/// points, a generated `/etc`.
pub fn build_skeleton(dir: &Path) -> Result<(), ImageError> {
    let io = |what, path: &Path| {
        let path = path.to_owned();
        move |source| ImageError::Io { what, path, source }
    };
    create_dir(dir, 0o755)?;
    for name in FROM_HOST {
        let host = Path::new("/").join(name);
        let Ok(meta) = host.symlink_metadata() else { continue };
        let here = dir.join(name);
        if meta.file_type().is_symlink() {
            let target = std::fs::read_link(&host).map_err(io("reading link", &host))?;
            std::os::unix::fs::symlink(&target, &here).map_err(io("creating link", &here))?;
        } else if meta.is_dir() {
            create_dir(&here, 0o755)?;
        }
    }
    for (name, mode) in [
        ("etc", 0o755),
        ("proc", 0o555),
        ("sys", 0o555),
        ("dev", 0o755),
        ("tmp", 0o1777),
        ("root", 0o700),
        ("home", 0o755),
        ("run", 0o755),
        ("var", 0o755),
        ("var/tmp", 0o1777),
        ("mnt", 0o755),
    ] {
        create_dir(&dir.join(name), mode)?;
    }
    for name in FROM_HOST_ETC {
        if Path::new("/").join(name).is_dir() {
            create_dir(&dir.join(name), 0o755)?;
        }
    }
    let etc = dir.join("etc");
    for (name, text) in [
        ("passwd", PASSWD),
        ("group", GROUP),
        ("nsswitch.conf", NSSWITCH),
        ("os-release", OS_RELEASE),
        // Mount points for the files mini-docker binds over them; made here
        // because with --userns auto the container's root may not write
        // into this root-owned /etc.
        ("hostname", ""),
        ("hosts", ""),
        ("resolv.conf", ""),
    ] {
        let path = etc.join(name);
        std::fs::write(&path, text).map_err(io("writing", &path))?;
    }
    // The dynamic loader finds libraries outside its built-in directories
    // through this cache; without it some host programs would not start.
    let cache = Path::new("/etc/ld.so.cache");
    if cache.is_file() {
        let path = etc.join("ld.so.cache");
        std::fs::copy(cache, &path).map_err(io("copying", &path))?;
    }
    Ok(())
}
