//! One layer: a tar stream (plain, gzip or zstd) unpacked into an empty
//! directory of its own, in the form overlayfs stacks.
//!
//! A layer tar speaks of the layers below it in two ways (the OCI image
//! specification, layer.md): `.wh.NAME` deletes NAME, and `.wh..wh..opq`
//! in a directory hides everything the lower layers have there. overlayfs
//! has its own spelling for both (Documentation/filesystems/overlayfs.rst),
//! which is what we write, so the kernel does the merging:
//! - a *whiteout* is a character device 0/0 named NAME (creating one needs
//!   no privilege since Linux 5.8, mknod(2));
//! - an *opaque* directory carries the extended attribute
//!   `trusted.overlay.opaque=y`, read by an overlay root mounts, and
//!   `user.overlay.opaque=y`, read by one mounted with `userxattr` in a
//!   user namespace (rootless, `--userns auto`); root can write both, an
//!   unprivileged user only the second.
//!
//! The tar is untrusted. Every entry is created relative to a descriptor
//! of its parent directory, reached one component at a time with
//! `openat(…, O_NOFOLLOW | O_DIRECTORY)`: a `..`, an absolute path, or a
//! symbolic link on the way (`link -> /etc`, then `link/passwd`) is
//! refused, and no path string is ever resolved by the kernel from `/`.
//! A file is made with `O_CREAT | O_EXCL | O_NOFOLLOW`: it never opens
//! what a link points to. A hard link must name a file of the same layer.
//!
//! Owners: root keeps the tar's. Rootless, the user has subordinate IDs
//! or not (`/etc/subuid`, see mini-runc's `userns.rs`):
//! - with them, the layer is unpacked by a child in a user namespace with
//!   the map the containers get ([`unpack_mapped`]): there the child is
//!   root, and `chown(2)` to the tar's UID 1000 makes the file the host ID
//!   that UID 1000 inside stands for, so a container sees the image's
//!   owners as they were (podman stores rootless images the same way). An
//!   owner beyond the range cannot be given and stays root's, counted;
//! - without them every file is the user's, who is root in the container.
//!
//! What an unprivileged user cannot make is left out and counted, for one
//! line at the end: device nodes (mknod(2) needs CAP_MKNOD in the initial
//! user namespace), and extended attributes the file system or the user
//! may not set (`security.capability` needs CAP_SETFCAP).

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use mini_runc::rootfs::remove_tree;
use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, openat};
use nix::sys::stat::{Mode, SFlag, fstatat, makedev, mkdirat, mknodat};
use nix::sys::time::TimeSpec;
use nix::unistd::{Gid, Uid, UnlinkatFlags, fchown, fchownat, linkat, symlinkat, unlinkat};
use sha2::{Digest, Sha256};

use crate::image::ImageError;

/// What could not be made, said once after the load.
#[derive(Debug, Default)]
pub struct Notes {
    pub devices_skipped: u64,
    pub xattrs_skipped: u64,
    /// Opaque directories that only an overlay mounted by root can read
    /// (the file system refused `user.*` attributes).
    pub opaque_root_only: u64,
    /// Files whose owner the rootless map has no ID for (left root's).
    pub owners_unmapped: u64,
}

impl Notes {
    /// One line per kind of thing left out.
    pub fn lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
        if self.devices_skipped > 0 {
            lines.push(format!(
                "skipped {} device node(s): creating one needs root (CAP_MKNOD); the container gets its own /dev",
                self.devices_skipped
            ));
        }
        if self.xattrs_skipped > 0 {
            lines.push(format!(
                "skipped {} extended attribute(s) this user or file system cannot set",
                self.xattrs_skipped
            ));
        }
        if self.owners_unmapped > 0 {
            lines.push(format!(
                "{} file(s) owned by IDs beyond your /etc/subuid or /etc/subgid range are root's in the image",
                self.owners_unmapped
            ));
        }
        if self.opaque_root_only > 0 {
            lines.push(format!(
                "{} opaque director(ies) only marked for overlayfs as root: the file system refuses user.* attributes (rootless and --userns auto will see the lower layers' files there)",
                self.opaque_root_only
            ));
        }
        lines
    }
}

/// A reader that hashes what passes through it (SHA-256) and counts it.
pub struct Hashing<R> {
    inner: R,
    hasher: Sha256,
    pub bytes: u64,
}

impl<R: Read> Hashing<R> {
    pub fn new(inner: R) -> Hashing<R> {
        Hashing { inner, hasher: Sha256::new(), bytes: 0 }
    }

    /// Reads what is left (a tar reader stops at its end-of-archive
    /// blocks; a digest covers the whole stream), then gives the digest.
    pub fn finish(mut self) -> std::io::Result<(String, u64)> {
        std::io::copy(&mut self, &mut std::io::sink())?;
        Ok((crate::image::store::hex(&self.hasher.finalize()), self.bytes))
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

/// How a stream is compressed, from its first bytes (the media type of an
/// OCI layer says it too, but a docker-archive's layer says nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    pub fn sniff(start: &[u8]) -> Compression {
        match start {
            [0x1f, 0x8b, ..] => Compression::Gzip,
            [0x28, 0xb5, 0x2f, 0xfd, ..] => Compression::Zstd,
            _ => Compression::None,
        }
    }
}

/// `reader`, decompressed according to its first bytes.
pub fn decompress<'a>(reader: impl Read + 'a) -> std::io::Result<Box<dyn Read + 'a>> {
    let mut reader = BufReader::with_capacity(1 << 16, reader);
    Ok(match Compression::sniff(reader.fill_buf()?) {
        Compression::None => Box::new(reader),
        // Multi-member gzip too (pigz, some registries).
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(reader)),
        Compression::Zstd => Box::new(ZstdFrames { source: Some(reader), frame: None }),
    })
}

/// A zstd stream of one or more frames (`ruzstd`'s decoder reads one).
struct ZstdFrames<R: BufRead> {
    source: Option<R>,
    frame: Option<ruzstd::decoding::StreamingDecoder<R, ruzstd::decoding::FrameDecoder>>,
}

impl<R: BufRead> Read for ZstdFrames<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            if let Some(frame) = self.frame.as_mut() {
                let n = frame.read(buf)?;
                if n > 0 || buf.is_empty() {
                    return Ok(n);
                }
                let done = self.frame.take().map(|f| f.into_inner());
                self.source = done;
            }
            let Some(mut source) = self.source.take() else { return Ok(0) };
            if source.fill_buf()?.is_empty() {
                return Ok(0);
            }
            let frame = ruzstd::decoding::StreamingDecoder::new(source)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))?;
            self.frame = Some(frame);
        }
    }
}

/// Unpacks the tar stream `reader` into `dir`, an empty directory (a
/// canonical path); returns the bytes its files hold. With `markers`, an
/// entry at the top with one of those names means the tar is not a root
/// file system but an image archive ([`ImageError::ImageArchive`]).
pub fn unpack(
    reader: impl Read,
    dir: &Path,
    notes: &mut Notes,
    markers: &[&str],
) -> Result<u64, ImageError> {
    let root = openat(
        nix::fcntl::AT_FDCWD,
        dir,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| io_error("opening", dir, e))?;
    // In a user namespace (rootless, see `unpack_mapped`) the process is
    // root there: it may chown to mapped IDs, but not mknod a device or
    // set a trusted.* attribute, which need root on the host.
    let root_here = nix::unistd::geteuid().is_root();
    let mapped = root_here && mini_runc::userns::in_user_namespace();
    let mut layer = Layer {
        root,
        dir: dir.to_owned(),
        as_root: root_here && !mapped,
        chown: root_here,
        mapped,
        free: free_bytes(dir),
        size: 0,
        parent: None,
        dirs: Vec::new(),
        notes,
    };
    let mut archive = tar::Archive::new(reader);
    let bad = |e: std::io::Error| ImageError::BadLayer(error_chain(&e));
    for entry in archive.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        let raw = entry.path().map_err(bad)?.into_owned();
        let shown = raw.display().to_string();
        if raw.is_absolute() {
            return Err(refused(&shown, "absolute path"));
        }
        let path = normal_parts(&raw)
            .ok_or_else(|| refused(&shown, "a '..' component would leave the image"))?;
        if path.components().count() == 1 && markers.iter().any(|m| path == Path::new(m)) {
            return Err(ImageError::ImageArchive(shown));
        }
        let Some(name) = path.file_name().map(|n| n.to_owned()) else { continue };
        let parent_path = path.parent().unwrap_or(Path::new("")).to_owned();
        let parent = layer.parent(&parent_path, &shown)?;
        layer.entry(&mut entry, &parent, &parent_path, Path::new(&name), &shown)?;
        layer.parent = Some((parent_path, parent));
    }
    layer.finish_dirs()?;
    Ok(layer.size)
}

// ANCHOR: unpack-mapped
/// [`unpack`], rootless with subordinate IDs: done by a child in a user
/// namespace with the containers' map (see the module's doc), fed the tar
/// through a pipe, while this process goes on reading `reader` (so what
/// hashes the stream sees all of it). Otherwise `unpack` itself.
pub fn unpack_mapped(
    mut reader: impl Read,
    dir: &Path,
    notes: &mut Notes,
    markers: &[&str],
) -> Result<u64, ImageError> {
    let Some(map) = mini_runc::userns::full_rootless_map() else {
        return unpack(reader, dir, notes, markers);
    };
    let (tar_read, tar_write) =
        nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| io_error("pipe2", dir, e))?;
    let write_end = tar_write.as_raw_fd();
    let target = dir.to_owned();
    let markers: Vec<String> = markers.iter().map(|m| m.to_string()).collect();
    let body = move || {
        // The child's copy of the write end, or it would never read the
        // end of a truncated stream. (Its owner, in the caller's frame, is
        // never dropped in the child, which ends with `_exit`.)
        // SAFETY: an open descriptor that nothing else in the child uses.
        unsafe { libc::close(write_end) };
        let markers: Vec<&str> = markers.iter().map(String::as_str).collect();
        let mut notes = Notes::default();
        match unpack(File::from(tar_read), &target, &mut notes, &markers) {
            Ok(size) => Ok(format!(
                "{size} {} {} {} {}",
                notes.devices_skipped,
                notes.xattrs_skipped,
                notes.opaque_root_only,
                notes.owners_unmapped
            )
            .into_bytes()),
            Err(ImageError::ImageArchive(entry)) => Err(format!("archive\t{entry}")),
            Err(e) => Err(format!("error\t{e}")),
        }
    };
    // SAFETY: `load` and `import` run no other thread; the body takes no
    // lock but the allocator's, which glibc's fork leaves usable.
    let mapped = unsafe { mini_runc::userns::Mapped::spawn(&map, body) }
        .map_err(|e| ImageError::BadLayer(e.to_string()))?;
    let mut sink = File::from(tar_write);
    let mut buf = vec![0u8; 1 << 16];
    let read_error = loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break None,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => break Some(e),
        };
        // A broken pipe: the child has read the end of the archive (or
        // failed, which its result says); the caller reads the rest.
        if sink.write_all(&buf[..n]).is_err() {
            break None;
        }
    };
    drop(sink);
    let outcome = mapped.finish().map_err(|e| ImageError::BadLayer(e.to_string()))?;
    if let Some(e) = read_error {
        return Err(ImageError::BadLayer(error_chain(&e)));
    }
    let text = match outcome {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(text) => {
            return Err(match text.split_once('\t') {
                Some(("archive", entry)) => ImageError::ImageArchive(entry.to_owned()),
                Some((_, message)) => ImageError::Mapped(message.to_owned()),
                None => ImageError::Mapped(text),
            });
        }
    };
    let numbers: Vec<u64> = text.split_whitespace().filter_map(|w| w.parse().ok()).collect();
    let [size, devices, xattrs, opaque, unmapped] = numbers[..] else {
        return Err(ImageError::Mapped(format!("unpacking {}: no result", dir.display())));
    };
    notes.devices_skipped += devices;
    notes.xattrs_skipped += xattrs;
    notes.opaque_root_only += opaque;
    notes.owners_unmapped += unmapped;
    Ok(size)
}
// ANCHOR_END: unpack-mapped

/// The mode, owner, times and attributes a directory gets once everything
/// in it is written (until then it stays writable for us).
struct DirMeta {
    path: PathBuf,
    mode: u32,
    owner: (u32, u32),
    mtime: i64,
    xattrs: Vec<(String, Vec<u8>)>,
}

struct Layer<'n> {
    root: OwnedFd,
    dir: PathBuf,
    /// Root on the host: devices, `trusted.*` attributes.
    as_root: bool,
    /// Owners can be set: as root, or as the root of a mapped user namespace.
    chown: bool,
    /// In a mapped user namespace: an owner it has no ID for is counted,
    /// not an error.
    mapped: bool,
    /// Bytes free on the data root's file system, counted down.
    free: u64,
    size: u64,
    /// The last parent directory reached (entries come grouped by directory).
    parent: Option<(PathBuf, OwnedFd)>,
    dirs: Vec<DirMeta>,
    notes: &'n mut Notes,
}

impl Layer<'_> {
    /// A descriptor of `path` (relative to the layer), made with the
    /// missing directories on the way; never through a symbolic link.
    fn parent(&mut self, path: &Path, shown: &str) -> Result<OwnedFd, ImageError> {
        if let Some((last, fd)) = self.parent.take()
            && last == path
        {
            return Ok(fd);
        }
        walk(&self.root, path, true, shown)
    }

    fn entry<R: Read>(
        &mut self,
        entry: &mut tar::Entry<R>,
        parent: &OwnedFd,
        parent_path: &Path,
        name: &Path,
        shown: &str,
    ) -> Result<(), ImageError> {
        let text = name.to_string_lossy();
        if let Some(hidden) = text.strip_prefix(".wh.") {
            if hidden == ".wh..opq" {
                return self.opaque(parent, shown);
            }
            if hidden.starts_with(".wh.") || hidden.is_empty() {
                return Ok(()); // aufs's own bookkeeping (.wh..wh.plnk): nothing for overlayfs
            }
            self.remove(parent, parent_path, Path::new(hidden))?;
            // ANCHOR: whiteout
            return mknodat(parent, hidden, SFlag::S_IFCHR, Mode::empty(), makedev(0, 0))
                .map_err(|e| refused(shown, &format!("mknod(whiteout): {e}")));
            // ANCHOR_END: whiteout
        }
        let xattrs = pax_xattrs(entry);
        let header = entry.header().clone();
        let kind = header.entry_type();
        let mode = header.mode().unwrap_or(0o644) & 0o7777;
        let owner = (header.uid().unwrap_or(0) as u32, header.gid().unwrap_or(0) as u32);
        let mtime = header.mtime().unwrap_or(0) as i64;
        let sys = |call: &str| {
            let shown = shown.to_owned();
            let call = call.to_owned();
            move |e: Errno| refused(&shown, &format!("{call}: {e}"))
        };
        use tar::EntryType as T;
        match kind {
            T::Directory => {
                match fstatat(parent, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
                    Ok(st) if is(st.st_mode, SFlag::S_IFDIR) => {}
                    Ok(_) => {
                        self.remove(parent, parent_path, name)?;
                        mkdirat(parent, name, Mode::from_bits_truncate(0o700))
                            .map_err(sys("mkdir"))?;
                    }
                    Err(_) => mkdirat(parent, name, Mode::from_bits_truncate(0o700))
                        .map_err(sys("mkdir"))?,
                }
                let path = parent_path.join(name);
                self.dirs.push(DirMeta { path, mode, owner, mtime, xattrs });
            }
            T::Regular | T::Continuous | T::GNUSparse => {
                self.remove(parent, parent_path, name)?;
                let declared = entry.size();
                if declared > self.free {
                    let why = format!(
                        "declares {declared} bytes, more than the {} free in {}",
                        self.free,
                        self.dir.display()
                    );
                    return Err(refused(shown, &why));
                }
                let flags = OFlag::O_CREAT
                    | OFlag::O_EXCL
                    | OFlag::O_WRONLY
                    | OFlag::O_NOFOLLOW
                    | OFlag::O_CLOEXEC;
                let fd = openat(parent, name, flags, Mode::from_bits_truncate(0o600))
                    .map_err(sys("open"))?;
                let mut file = File::from(fd);
                let copied = std::io::copy(entry, &mut file)
                    .map_err(|e| refused(shown, &error_chain(&e)))?;
                if copied != declared {
                    let why = format!("truncated: declares {declared} bytes, holds {copied}");
                    return Err(refused(shown, &why));
                }
                self.free = self.free.saturating_sub(copied);
                self.size += copied;
                if self.chown {
                    let owned =
                        fchown(&file, Some(Uid::from_raw(owner.0)), Some(Gid::from_raw(owner.1)));
                    self.owned(owned).map_err(sys("fchown"))?;
                }
                // After chown, which clears set-user-ID bits (chown(2)).
                nix::sys::stat::fchmod(&file, Mode::from_bits_truncate(mode))
                    .map_err(sys("fchmod"))?;
                self.set_xattrs(&file, &xattrs);
                let time = TimeSpec::new(mtime, 0);
                let _ = nix::sys::stat::futimens(&file, &time, &time);
            }
            T::Symlink => {
                let target = entry.link_name().ok().flatten().unwrap_or_default().into_owned();
                self.remove(parent, parent_path, name)?;
                // The target is only text: it is never followed here.
                symlinkat(&target, parent, name).map_err(sys("symlink"))?;
                self.own_nofollow(parent, name, owner);
                let time = TimeSpec::new(mtime, 0);
                let _ = nix::sys::stat::utimensat(
                    parent,
                    name,
                    &time,
                    &time,
                    nix::sys::stat::UtimensatFlags::NoFollowSymlink,
                );
            }
            T::Link => {
                let target = entry.link_name().ok().flatten().unwrap_or_default().into_owned();
                let inside = normal_parts(&target).filter(|_| !target.is_absolute());
                let Some(target) = inside.filter(|t| t.file_name().is_some()) else {
                    return Err(refused(shown, "hard link to a path outside the image"));
                };
                let target_parent = target.parent().unwrap_or(Path::new(""));
                let from = walk(&self.root, target_parent, false, shown)?;
                self.remove(parent, parent_path, name)?;
                let target_name = target.file_name().unwrap_or_default();
                linkat(&from, target_name, parent, name, AtFlags::empty()).map_err(|e| {
                    let why =
                        format!("hard link to {}, which this layer lacks: {e}", target.display());
                    refused(shown, &why)
                })?;
            }
            T::Char | T::Block | T::Fifo => {
                let (sflag, dev) = match kind {
                    T::Char => (SFlag::S_IFCHR, true),
                    T::Block => (SFlag::S_IFBLK, true),
                    _ => (SFlag::S_IFIFO, false),
                };
                if dev && !self.as_root {
                    self.notes.devices_skipped += 1;
                    return Ok(());
                }
                let major = header.device_major().ok().flatten().unwrap_or(0);
                let minor = header.device_minor().ok().flatten().unwrap_or(0);
                self.remove(parent, parent_path, name)?;
                let perm = Mode::from_bits_truncate(mode);
                mknodat(parent, name, sflag, perm, makedev(major.into(), minor.into()))
                    .map_err(sys("mknod"))?;
                self.own_nofollow(parent, name, owner);
            }
            // pax and GNU long-name headers are read by the tar crate;
            // anything else carries no file.
            _ => {}
        }
        Ok(())
    }

    /// Removes what an earlier entry of this layer put at `name` (a tar
    /// may write a path twice; the last entry wins).
    fn remove(
        &mut self,
        parent: &OwnedFd,
        parent_path: &Path,
        name: &Path,
    ) -> Result<(), ImageError> {
        let Ok(st) = fstatat(parent, name, AtFlags::AT_SYMLINK_NOFOLLOW) else { return Ok(()) };
        if is(st.st_mode, SFlag::S_IFDIR) {
            // Every component up to here was checked to be a real
            // directory, and only this process writes in the staging area.
            remove_tree(&self.dir.join(parent_path).join(name));
            self.dirs.retain(|d| !d.path.starts_with(parent_path.join(name)));
            self.parent = None;
            Ok(())
        } else {
            unlinkat(parent, name, UnlinkatFlags::NoRemoveDir)
                .map_err(|e| io_error("removing", &parent_path.join(name), e))
        }
    }

    /// `.wh..wh..opq`: the directory hides what lower layers have in it.
    fn opaque(&mut self, dir: &OwnedFd, shown: &str) -> Result<(), ImageError> {
        // ANCHOR: opaque
        let trusted = self.as_root && set_xattr(dir, "trusted.overlay.opaque", b"y").is_ok();
        let user = set_xattr(dir, "user.overlay.opaque", b"y");
        // ANCHOR_END: opaque
        match (trusted, user) {
            (_, Ok(())) => Ok(()),
            (true, Err(_)) => {
                self.notes.opaque_root_only += 1;
                Ok(())
            }
            (false, Err(e)) => Err(refused(
                shown,
                &format!("cannot mark the directory opaque (user.overlay.opaque): {e}"),
            )),
        }
    }

    /// chown without following a link (root only: see the module's doc).
    fn own_nofollow(&mut self, parent: &OwnedFd, name: &Path, owner: (u32, u32)) {
        if self.chown {
            let (uid, gid) = (Uid::from_raw(owner.0), Gid::from_raw(owner.1));
            let owned = fchownat(parent, name, Some(uid), Some(gid), AtFlags::AT_SYMLINK_NOFOLLOW);
            let _ = self.owned(owned);
        }
    }

    /// A chown's result: in a mapped user namespace an owner without an ID
    /// there (EINVAL, chown(2)) is counted and the file stays root's.
    fn owned(&mut self, result: Result<(), Errno>) -> Result<(), Errno> {
        match result {
            Err(Errno::EINVAL) if self.mapped => {
                self.notes.owners_unmapped += 1;
                Ok(())
            }
            other => other,
        }
    }

    fn set_xattrs(&mut self, fd: &impl AsFd, xattrs: &[(String, Vec<u8>)]) {
        for (name, value) in xattrs {
            // overlayfs's own markers are ours to write, never a layer's.
            if name.starts_with("trusted.overlay.") || name.starts_with("user.overlay.") {
                self.notes.xattrs_skipped += 1;
                continue;
            }
            if set_xattr(fd, name, value).is_err() {
                self.notes.xattrs_skipped += 1;
            }
        }
    }

    /// The directories' own mode, owner, attributes and times, deepest
    /// first, now that nothing more is written into them.
    fn finish_dirs(&mut self) -> Result<(), ImageError> {
        let dirs = std::mem::take(&mut self.dirs);
        for meta in dirs.iter().rev() {
            let fd = walk(&self.root, &meta.path, false, &meta.path.display().to_string())?;
            if self.chown {
                let (uid, gid) = (Uid::from_raw(meta.owner.0), Gid::from_raw(meta.owner.1));
                let owned = fchown(&fd, Some(uid), Some(gid));
                self.owned(owned).map_err(|e| io_error("chown", &meta.path, e))?;
            }
            self.set_xattrs(&fd, &meta.xattrs);
            nix::sys::stat::fchmod(&fd, Mode::from_bits_truncate(meta.mode))
                .map_err(|e| io_error("chmod", &meta.path, e))?;
            let time = TimeSpec::new(meta.mtime, 0);
            let _ = nix::sys::stat::futimens(&fd, &time, &time);
        }
        Ok(())
    }
}

/// Opens `path` below `root` one component at a time, each a real
/// directory (`O_NOFOLLOW`: a symbolic link is refused, not followed),
/// making the missing ones when `create`.
fn walk(root: &OwnedFd, path: &Path, create: bool, shown: &str) -> Result<OwnedFd, ImageError> {
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let mut dir =
        openat(root, ".", flags, Mode::empty()).map_err(|e| refused(shown, &e.to_string()))?;
    let mut so_far = PathBuf::new();
    for part in path.components() {
        so_far.push(part);
        // ANCHOR: walk
        let next = match openat(&dir, part.as_os_str(), flags, Mode::empty()) {
            Err(Errno::ENOENT) if create => {
                mkdirat(&dir, part.as_os_str(), Mode::from_bits_truncate(0o755))
                    .and_then(|()| openat(&dir, part.as_os_str(), flags, Mode::empty()))
            }
            other => other,
        };
        // ANCHOR_END: walk
        // A symbolic link answers ELOOP or ENOTDIR (O_NOFOLLOW and
        // O_DIRECTORY both refuse it, open(2)): tell which it was.
        let link = || {
            fstatat(&dir, part.as_os_str(), AtFlags::AT_SYMLINK_NOFOLLOW)
                .is_ok_and(|st| is(st.st_mode, SFlag::S_IFLNK))
        };
        dir = match next {
            Ok(fd) => fd,
            Err(Errno::ELOOP | Errno::ENOTDIR) if link() => {
                let why = format!(
                    "goes through the symbolic link {} (a layer writes files at their real path)",
                    so_far.display()
                );
                return Err(refused(shown, &why));
            }
            Err(Errno::ENOTDIR) => {
                return Err(refused(shown, &format!("{} is not a directory", so_far.display())));
            }
            Err(e) => return Err(refused(shown, &format!("{}: {e}", so_far.display()))),
        };
    }
    Ok(dir)
}

fn is(mode: libc::mode_t, kind: SFlag) -> bool {
    mode & SFlag::S_IFMT.bits() == kind.bits()
}

/// `fsetxattr(2)` on an open file or directory.
fn set_xattr(fd: &impl AsFd, name: &str, value: &[u8]) -> Result<(), Errno> {
    let name = std::ffi::CString::new(name).map_err(|_| Errno::EINVAL)?;
    // SAFETY: a valid descriptor, a NUL-terminated name, a value slice
    // with its own length.
    let done = unsafe {
        libc::fsetxattr(
            fd.as_fd().as_raw_fd(),
            name.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    Errno::result(done).map(drop)
}

/// The extended attributes a pax header carries (`SCHILY.xattr.NAME`).
fn pax_xattrs<R: Read>(entry: &mut tar::Entry<R>) -> Vec<(String, Vec<u8>)> {
    let Ok(Some(extensions)) = entry.pax_extensions() else { return Vec::new() };
    extensions
        .filter_map(Result::ok)
        .filter_map(|ext| {
            let name = ext.key().ok()?.strip_prefix("SCHILY.xattr.")?.to_owned();
            Some((name, ext.value_bytes().to_vec()))
        })
        .collect()
}

fn free_bytes(dir: &Path) -> u64 {
    nix::sys::statvfs::statvfs(dir)
        .map(|s| s.blocks_available().saturating_mul(s.fragment_size()))
        .unwrap_or(u64::MAX)
}

/// The path without `.` and leading `/`; `None` when it has a `..`.
pub fn normal_parts(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::Normal(p) => out.push(p),
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) | Component::ParentDir => return None,
        }
    }
    Some(out)
}

fn refused(entry: &str, why: &str) -> ImageError {
    ImageError::Refused { entry: entry.to_owned(), why: why.to_owned() }
}

fn io_error(what: &'static str, path: &Path, errno: Errno) -> ImageError {
    ImageError::Io { what, path: path.to_owned(), source: std::io::Error::from(errno) }
}

/// An error and its causes on one line.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text = format!("{text}: {c}");
        cause = c.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_paths() {
        assert_eq!(normal_parts(Path::new("./a/./b")), Some(PathBuf::from("a/b")));
        assert_eq!(normal_parts(Path::new("a/../b")), None);
        assert_eq!(normal_parts(Path::new("/a")), None);
    }

    #[test]
    fn compression_from_magic() {
        assert_eq!(Compression::sniff(&[0x1f, 0x8b, 8]), Compression::Gzip);
        assert_eq!(Compression::sniff(&[0x28, 0xb5, 0x2f, 0xfd, 0]), Compression::Zstd);
        assert_eq!(Compression::sniff(b"bin/"), Compression::None);
    }
}
