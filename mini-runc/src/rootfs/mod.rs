//! The container's root filesystem, built in its own mount namespace.
//!
//! In order (each step a system call you can look up):
//! 1. `mount("/", MS_REC | MS_SLAVE)`: nothing we mount from now on
//!    propagates back to the host (systemd makes `/` shared), while what
//!    the host mounts later still reaches the container's copies of its
//!    shared mounts (runc's default); and no mount is shared any more,
//!    as `pivot_root(2)` needs of the new root and its parent;
//! 2. overlayfs on `<state>/rootfs`: the image is the read-only lower layer,
//!    the container's writes go to its own upper layer (an OCI bundle's
//!    `root.path` is bind-mounted instead, and written in place, as runc
//!    does);
//! 3. the host image's `/usr`, `/lib*`… bind-mounted read-only;
//! 4. `/proc` (a new instance, which shows the container's PID namespace;
//!    the host's, bound, when it shares the host's), `/sys` read-only
//!    (unless `--privileged`), a minimal `/dev` (see `dev.rs`),
//!    `/etc/hostname`, `/etc/hosts`, `/etc/resolv.conf`;
//! 5. the volumes, last, so they can cover anything above, each given the
//!    propagation type it asks for once it is made (`shared`: a peer group
//!    of the container's own, still a slave of the host's);
//! 6. later, once the child has also set up IPC sharing, the hostname and
//!    `lo` (see `container/child.rs`): `pivot_root(".", ".")` then
//!    `umount2(".", MNT_DETACH)`: the overlay becomes `/` and the host's
//!    root disappears from the namespace.
//!
//! Every mount target is resolved *inside* the new root (see [`resolve`]).
//!
//! mini-runc's layer 2 of 2, kernel-facing (see `tests/tests/layers.rs`):
//! `rootfs/` owns the mounts, `/dev`, `pivot_root` and the resolution of
//! paths inside the new root, and knows nothing of commands, containers or
//! images. It takes a [`Spec`] of plain paths and flags (and defines
//! [`Volume`], a bind mount or a tmpfs), and imports only `error.rs`; `container/`,
//! `security/paths.rs` and mini-docker's `image/` use it.

mod dev;
pub mod idmap;
pub mod resolve;

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use nix::fcntl::{OFlag, open};
use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sched::{CloneFlags, setns};
use nix::sys::stat::Mode;
use nix::sys::statvfs::{FsFlags, statvfs};
use nix::unistd::{chdir, fchdir};

use crate::error::RootfsError;
use resolve::{Create, fd_path, open_in_root};

/// What [`prepare`] builds, as plain paths and flags. The container's
/// process model fills it in (`container/child.rs`), much as an OCI runtime
/// reads `root` and `mounts` from a bundle's `config.json`.
#[derive(Debug, Clone)]
pub struct Spec {
    /// The overlay's read-only lower layers, the image: top layer first
    /// (one directory for most images; a stored image's layers stacked).
    /// With `bind_root`, the one directory that is the root.
    pub lower: Vec<PathBuf>,
    /// The image's directories as idmapped mounts, detached (see
    /// `idmap.rs`), one for each of `lower`, top first: each attached on
    /// its `lower` entry, an empty directory, first. Empty: none.
    pub idmapped_lower: Vec<Arc<OwnedFd>>,
    /// Idmapped mounts of volumes' sources, by index in `volumes`:
    /// attached on their targets instead of a bind mount.
    pub idmapped_volumes: Vec<(usize, Arc<OwnedFd>)>,
    /// Host directories (relative to `/`) bound read-only over it: the
    /// `host` image's `/usr`, `/lib*`… (none for any other image).
    pub host_dirs: Vec<&'static str>,
    /// The overlay's upper layer (everything the container writes).
    pub upper: PathBuf,
    /// The overlay's work directory (the kernel's scratch space).
    pub work: PathBuf,
    /// Where the overlay is mounted: the future root.
    pub target: PathBuf,
    /// The mounts are made from a user namespace of its own.
    pub user_namespace: bool,
    /// That user namespace maps one ID only (rootless).
    pub single_id: bool,
    /// A PID namespace other than the host's (its own, or another
    /// container's): a new `/proc` instance shows it.
    pub pid_namespace: bool,
    /// A network namespace other than the host's (its own, or another
    /// container's, already joined): a new `/sys` shows its interfaces.
    pub net_namespace: bool,
    /// An IPC namespace of its own: a new `/dev/mqueue` instance.
    pub ipc_namespace: bool,
    /// `/sys` stays writable (`--privileged`).
    pub sys_writable: bool,
    /// The directory holding `hostname`, `hosts` and `resolv.conf`, bound
    /// over the container's `/etc/…`.
    pub etc: PathBuf,
    pub volumes: Vec<Volume>,
    /// Created inside the root if missing.
    pub workdir: String,
    /// The cgroup filesystem on `/sys/fs/cgroup`, read-only (an OCI
    /// bundle's `cgroup` mount; mini-docker asks for none).
    pub cgroup_fs: bool,
    /// `lower` is the root itself, bind-mounted and written in place (an
    /// OCI bundle's `root.path`, as runc uses it): no overlay, and no
    /// `/etc/hostname`, `hosts` or `resolv.conf` bound over the bundle's.
    pub bind_root: bool,
    /// Device nodes made in `/dev` besides the usual ones (an OCI
    /// bundle's `linux.devices`; mini-docker asks for none).
    pub devices: Vec<Device>,
}

/// A device node to make in the container's `/dev` (see `dev.rs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// Absolute, below `/dev`, without `..` (checked by the caller).
    pub path: String,
    /// The file type: `S_IFCHR`, `S_IFBLK` or `S_IFIFO`.
    pub kind: libc::mode_t,
    pub major: u64,
    pub minor: u64,
    /// The permission bits (`fileMode`).
    pub mode: u32,
    /// The owner, as IDs inside the container.
    pub uid: u32,
    pub gid: u32,
}

/// A bind mount from the host into the container, or a tmpfs of its own.
#[derive(Debug, Clone)]
pub struct Volume {
    pub source: PathBuf,
    /// Absolute, as seen inside the container; resolved inside its root
    /// when mounted (see `rootfs/resolve.rs`).
    pub target: String,
    pub read_only: bool,
    pub source_is_dir: bool,
    /// `nosuid`, `nodev`, `noexec` asked for on the bind (as podman binds
    /// `/dev/shm`): a bind mount takes its own flags only in a remount.
    pub restrict: MsFlags,
    /// `Some(data)`: a new tmpfs with these options (tmpfs(5): `size=`,
    /// `mode=`) on `target`, not a bind of `source`.
    pub tmpfs: Option<String>,
    /// `rbind` (the mounts below `source` come along, `MS_REC`), not
    /// `bind` (the one mount alone).
    pub recursive: bool,
    /// A propagation type for the new mount (`MS_SHARED`, `MS_SLAVE`,
    /// `MS_PRIVATE`, `MS_UNBINDABLE`, maybe with `MS_REC`; see
    /// [`PROPAGATION`]). `None`: as the bind made it, a slave of the
    /// host's mount when that one is shared, else private.
    pub propagation: Option<MsFlags>,
    /// Bound through the container's user namespace's ID map (an OCI
    /// mount's `uidMappings`, see `idmap.rs`).
    pub idmap: bool,
}

// ANCHOR: propagation-words
/// The propagation types, as mount(8) and the OCI runtime specification
/// spell them (`--make-rslave`, `"rslave"`), and the flags mount(2) takes
/// for them: an `r` adds `MS_REC`, the mounts below too.
pub const PROPAGATION: [(&str, MsFlags); 8] = [
    ("shared", MsFlags::MS_SHARED),
    ("rshared", MsFlags::MS_SHARED.union(MsFlags::MS_REC)),
    ("slave", MsFlags::MS_SLAVE),
    ("rslave", MsFlags::MS_SLAVE.union(MsFlags::MS_REC)),
    ("private", MsFlags::MS_PRIVATE),
    ("rprivate", MsFlags::MS_PRIVATE.union(MsFlags::MS_REC)),
    ("unbindable", MsFlags::MS_UNBINDABLE),
    ("runbindable", MsFlags::MS_UNBINDABLE.union(MsFlags::MS_REC)),
];
// ANCHOR_END: propagation-words

/// The flags of a propagation type's name (see [`PROPAGATION`]).
pub fn propagation_flags(word: &str) -> Option<MsFlags> {
    PROPAGATION.iter().find(|(w, _)| *w == word).map(|(_, flags)| *flags)
}

/// The name of a propagation type's flags (see [`PROPAGATION`]).
pub fn propagation_word(flags: MsFlags) -> Option<&'static str> {
    PROPAGATION.iter().find(|(_, f)| *f == flags).map(|(word, _)| *word)
}

/// The most bytes of options `mount(2)` passes to a file system: one page
/// (the kernel copies at most `PAGE_SIZE`, 4096 on the usual machines).
const MOUNT_DATA_MAX: usize = 4096;

/// Builds the root filesystem on `spec.target` and returns a descriptor of
/// its top directory, ready for [`pivot_root`].
pub fn prepare(spec: &Spec) -> Result<OwnedFd, RootfsError> {
    // ANCHOR: make-rslave
    // Every mount of this namespace becomes a slave: a copy of a host
    // mount that was shared keeps receiving the host's new mounts below
    // it, and sends nothing back (mount_namespaces(7), MS_SLAVE).
    mount(None::<&str>, "/", None::<&str>, MsFlags::MS_REC | MsFlags::MS_SLAVE, None::<&str>)
        .map_err(RootfsError::sys("mount(\"/\", MS_REC | MS_SLAVE)"))?;
    // ANCHOR_END: make-rslave

    let root = if spec.bind_root { bind_root(spec)? } else { overlay_root(spec)? };

    for dir in &spec.host_dirs {
        let path = format!("/{dir}");
        bind(&root, &path, &path, Create::Dir, true)?;
        read_only_in_root(&root, &path)?;
    }
    mount_proc_sys(&root, spec)?;
    if spec.cgroup_fs {
        mount_cgroups(&root)?;
    }
    dev::mount_dev(&root, spec)?;
    // (An OCI bundle's /etc is its own: the client binds these if it
    // wants them, as Docker does.)
    if !spec.bind_root {
        for name in ["hostname", "hosts", "resolv.conf"] {
            bind(&root, spec.etc.join(name), &format!("/etc/{name}"), Create::File, true)?;
        }
    }
    for (i, volume) in spec.volumes.iter().enumerate() {
        if let Some(data) = &volume.tmpfs {
            // A new mount takes its flags at once (no remount needed).
            let ro = if volume.read_only { MsFlags::MS_RDONLY } else { MsFlags::empty() };
            let flags = volume.restrict | ro;
            mount_in_root(&root, "tmpfs", &volume.target, "tmpfs", flags, Some(data))?;
            continue;
        }
        let create = if volume.source_is_dir { Create::Dir } else { Create::File };
        match spec.idmapped_volumes.iter().find(|(at, _)| *at == i) {
            // Made by the parent, through the container's ID map (idmap.rs).
            Some((_, tree)) => {
                let at = open_in_root(&root, &volume.target, create)?;
                idmap::attach(tree, &at, &volume.target)?;
            }
            None => bind(&root, &volume.source, &volume.target, create, volume.recursive)?,
        }
        if volume.read_only {
            read_only_in_root(&root, &volume.target)?;
        }
        if !volume.restrict.is_empty() {
            restrict_in_root(&root, &volume.target, volume.restrict)?;
        }
        if let Some(flags) = volume.propagation {
            let at = open_in_root(&root, &volume.target, Create::Nothing)?;
            set_propagation(&fd_path(&at), flags)?;
        }
    }
    open_in_root(&root, &spec.workdir, Create::Dir)?;
    Ok(root)
}

/// The image as the overlay's read-only lower layer, the container's
/// writes in an upper layer of its own; returns the root's descriptor.
fn overlay_root(spec: &Spec) -> Result<OwnedFd, RootfsError> {
    // The image through its idmapped mounts, when the runtime made them
    // (one per layer).
    for (lower, tree) in spec.lower.iter().zip(&spec.idmapped_lower) {
        let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let point = open(lower, flags, Mode::empty())
            .map_err(RootfsError::sys(format!("open({lower:?})")))?;
        idmap::attach(tree, &point, &lower.display().to_string())?;
    }
    // ANCHOR: overlay
    let rootfs = &spec.target;
    // Several lower layers are joined with ':', the topmost first.
    let lowers: Vec<String> = spec.lower.iter().map(|l| l.display().to_string()).collect();
    let mut options = format!(
        "lowerdir={},upperdir={},workdir={}",
        lowers.join(":"),
        spec.upper.display(),
        spec.work.display()
    );
    if spec.user_namespace {
        // In a user namespace overlayfs may not write its trusted.overlay.*
        // attributes; user.overlay.* is allowed (kernel 5.11+).
        options.push_str(",userxattr");
    }
    // mount(2) copies its data argument into one page: a long list of
    // layers would be cut short by the kernel, so it is refused here.
    if options.len() >= MOUNT_DATA_MAX {
        let call = format!(
            "mount(\"overlay\", {rootfs:?}): {} lower layers make {} bytes of options, over one page",
            spec.lower.len(),
            options.len()
        );
        return Err(RootfsError::Sys { call, errno: nix::errno::Errno::E2BIG });
    }
    mount(Some("overlay"), rootfs, Some("overlay"), MsFlags::empty(), Some(options.as_str()))
        .map_err(|errno| overlay_failed(errno, rootfs, &options))?;
    let root = open(rootfs, OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty())
        .map_err(RootfsError::sys(format!("open({rootfs:?})")))?;
    // ANCHOR_END: overlay
    Ok(root)
}

/// An OCI bundle's root filesystem, bind-mounted on the target: the
/// container's writes go to it in place, as under runc (a client such as
/// Docker prepared it, and reads the changes there: `docker diff`,
/// `docker cp`).
fn bind_root(spec: &Spec) -> Result<OwnedFd, RootfsError> {
    let rootfs = &spec.target;
    let flags = MsFlags::MS_BIND | MsFlags::MS_REC;
    let root = spec.lower.first().map(PathBuf::as_path).unwrap_or(Path::new(""));
    mount(Some(root), rootfs, None::<&str>, flags, None::<&str>)
        .map_err(RootfsError::sys(format!("mount({root:?}, {rootfs:?}, MS_BIND | MS_REC)")))?;
    open(rootfs, OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty())
        .map_err(RootfsError::sys(format!("open({rootfs:?})")))
}

/// The error for a refused overlay mount. No fallback (a read-only bind
/// plus a tmpfs) is built, so say what is missing instead.
fn overlay_failed(errno: nix::errno::Errno, rootfs: &Path, options: &str) -> RootfsError {
    let hint = if options.contains("userxattr") {
        " (overlayfs in a user namespace needs Linux 5.11+)"
    } else {
        ""
    };
    RootfsError::Sys { call: format!("mount(\"overlay\", {rootfs:?}, \"{options}\"){hint}"), errno }
}

/// `/proc` and `/sys`: new instances when the container has a PID (or
/// network) namespace other than the host's, which is also what lets a
/// rootless container mount them (user_namespaces(7)); when it shares the
/// host's, the host's `/proc` bound as it is, and the host's `/sys` bound
/// read-only (writable with `--privileged`).
// ANCHOR: proc-sys
fn mount_proc_sys(root: &OwnedFd, spec: &Spec) -> Result<(), RootfsError> {
    let quiet = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    // (--pid container:NAME: a new /proc shows the joined namespace.)
    if spec.pid_namespace {
        mount_in_root(root, "proc", "/proc", "proc", quiet, None)?;
    } else {
        bind(root, "/proc", "/proc", Create::Dir, true)?;
    }
    if spec.net_namespace {
        // sysfs shows the network devices of the mounter's net namespace.
        // --privileged: a writable /sys (see security/).
        let ro = if spec.sys_writable { MsFlags::empty() } else { MsFlags::MS_RDONLY };
        mount_in_root(root, "sysfs", "/sys", "sysfs", quiet | ro, None)?;
    } else {
        bind(root, "/sys", "/sys", Create::Dir, true)?;
        if !spec.sys_writable {
            read_only_in_root(root, "/sys")?;
        }
    }
    Ok(())
}
// ANCHOR_END: proc-sys

// ANCHOR: cgroup-fs
/// `/sys/fs/cgroup`, read-only, as the host has it: each hierarchy the
/// host mounts there (its /proc/self/mountinfo) gets a new instance with
/// the same controllers. This process is in a cgroup namespace of its own
/// already (see container/child.rs), so each instance's root is the
/// container's cgroup, not the host's (cgroup_namespaces(7)). On a pure
/// cgroup2 host, one cgroup2 instance; on v1, a tmpfs holding them.
fn mount_cgroups(root: &OwnedFd) -> Result<(), RootfsError> {
    let quiet = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    let ro = quiet | MsFlags::MS_RDONLY;
    // Read with room for the table reserved: the kernel makes the text
    // anew at each read(2) of a proc file, and std's read_to_string, which
    // knows no size, starts with a read of 32 bytes and doubles (nine reads
    // of this table here); with room, it reads 8 KiB at a time (two reads
    // here, the table and its end).
    let mut mountinfo = String::with_capacity(64 * 1024);
    std::fs::File::open("/proc/self/mountinfo")
        .and_then(|mut file| std::io::Read::read_to_string(&mut file, &mut mountinfo))
        .map_err(|e| RootfsError::Sys {
            call: format!("reading /proc/self/mountinfo: {e}"),
            errno: nix::errno::Errno::EIO,
        })?;
    // (mount point, filesystem type, super options), from lines such as
    // "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory".
    let hierarchies: Vec<(String, String, String)> = mountinfo
        .lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let point = left.split_whitespace().nth(4)?;
            let mut right = right.split_whitespace();
            let fstype = right.next()?;
            let options = right.nth(1).unwrap_or("");
            let ours = point == "/sys/fs/cgroup" || point.starts_with("/sys/fs/cgroup/");
            (ours && (fstype == "cgroup" || fstype == "cgroup2"))
                .then(|| (point.to_owned(), fstype.to_owned(), options.to_owned()))
        })
        .collect();
    if hierarchies.iter().any(|(point, fstype, _)| point == "/sys/fs/cgroup" && fstype == "cgroup2")
    {
        return mount_in_root(root, "cgroup", "/sys/fs/cgroup", "cgroup2", ro, None);
    }
    mount_in_root(root, "tmpfs", "/sys/fs/cgroup", "tmpfs", quiet, Some("mode=755"))?;
    // Each hierarchy on a directory made for it in the new tmpfs.
    let tmpfs = open_in_root(root, "/sys/fs/cgroup", Create::Nothing)?;
    for (point, fstype, options) in &hierarchies {
        let data: Vec<&str> = options.split(',').filter(|o| *o != "rw" && *o != "ro").collect();
        let data = data.join(",");
        let data = (!data.is_empty()).then_some(data.as_str());
        // (A point the table names twice, stacked mounts, or one below
        // another hierarchy's: the directory exists, and is looked up.)
        let direct = point.strip_prefix("/sys/fs/cgroup/").is_some_and(|name| !name.contains('/'));
        match direct.then(|| mount_in_new_dir(&tmpfs, point, "cgroup", fstype, ro, data)) {
            Some(Err(RootfsError::Sys { errno: nix::errno::Errno::EEXIST, .. })) | None => {
                mount_in_root(root, "cgroup", point, fstype, ro, data)?
            }
            Some(mounted) => mounted?,
        }
    }
    read_only_at(&tmpfs, "/sys/fs/cgroup")
}
// ANCHOR_END: cgroup-fs

/// Mounts a new `fstype` instance on `target` (inside the root).
fn mount_in_root(
    root: &OwnedFd,
    source: &str,
    target: &str,
    fstype: &str,
    flags: MsFlags,
    data: Option<&str>,
) -> Result<(), RootfsError> {
    let at = open_in_root(root, target, Create::Dir)?;
    mount_new(source, &fd_path(&at), target, fstype, flags, data)
}

/// Mounts a new `fstype` instance on `target`, a directory made for it in
/// `dir`, the root of a file system this process has just mounted:
/// nothing else has written there, so no lookup inside the root is needed
/// (its walk through the overlay, and five more system calls). `target`
/// is the path inside the root that ends in the directory's name.
fn mount_in_new_dir(
    dir: &OwnedFd,
    target: &str,
    source: &str,
    fstype: &str,
    flags: MsFlags,
    data: Option<&str>,
) -> Result<(), RootfsError> {
    let name = Path::new(target).file_name().and_then(|n| n.to_str()).unwrap_or(".");
    nix::sys::stat::mkdirat(dir, name, Mode::from_bits_truncate(0o755))
        .map_err(RootfsError::sys(format!("mkdir({target:?})")))?;
    mount_new(source, &format!("{}/{name}", fd_path(dir)), target, fstype, flags, data)
}

/// mount(2) of a new `fstype` instance on `at` (a /proc/self/fd path),
/// which is `target` inside the root, the path its error names.
fn mount_new(
    source: &str,
    at: &str,
    target: &str,
    fstype: &str,
    flags: MsFlags,
    data: Option<&str>,
) -> Result<(), RootfsError> {
    mount(Some(source), at, Some(fstype), flags, data).map_err(RootfsError::sys(format!(
        "mount({source:?}, {target:?}, {fstype:?}, {flags:?}, {:?})",
        data.unwrap_or("")
    )))
}

/// Bind-mounts the host path `source` (with what is mounted below it) on
/// `target` inside the root.
fn bind(
    root: &OwnedFd,
    source: impl AsRef<Path>,
    target: &str,
    create: Create,
    recursive: bool,
) -> Result<(), RootfsError> {
    let source = source.as_ref();
    let at = open_in_root(root, target, create)?;
    let flags = if recursive { MsFlags::MS_BIND | MsFlags::MS_REC } else { MsFlags::MS_BIND };
    mount(Some(source), fd_path(&at).as_str(), None::<&str>, flags, None::<&str>)
        .map_err(RootfsError::sys(format!("mount({source:?}, {target:?}, {flags:?})")))
}

/// Makes the mount on `target` (inside the root) read-only.
fn read_only_in_root(root: &OwnedFd, target: &str) -> Result<(), RootfsError> {
    // A new lookup: it crosses into the mount just made on `target`.
    read_only_at(&open_in_root(root, target, Create::Nothing)?, target)
}

/// Makes the mount whose root `at` is read-only (`target`: its path inside
/// the root, which the error names).
fn read_only_at(at: &OwnedFd, target: &str) -> Result<(), RootfsError> {
    remount_read_only(&fd_path(at)).map_err(|e| match e {
        RootfsError::Sys { errno, .. } => {
            RootfsError::Sys { call: format!("remount {target:?} read-only"), errno }
        }
        other => other,
    })
}

/// Adds `flags` (nosuid, nodev, noexec) to the mount on `target` (inside
/// the root), keeping the flags it has.
fn restrict_in_root(root: &OwnedFd, target: &str, flags: MsFlags) -> Result<(), RootfsError> {
    let at = open_in_root(root, target, Create::Nothing)?;
    remount_adding(&fd_path(&at), flags).map_err(|e| match e {
        RootfsError::Sys { errno, .. } => {
            RootfsError::Sys { call: format!("remount {target:?} with {flags:?}"), errno }
        }
        other => other,
    })
}

/// A bind mount's own flags change only through a remount. Flags the mount
/// already has (nosuid, nodev, noexec) must be repeated: from a user
/// namespace the kernel refuses to clear them (they are "locked").
pub fn remount_read_only(path: &str) -> Result<(), RootfsError> {
    remount_adding(path, MsFlags::MS_RDONLY)
}

/// Changes the propagation type of the mount on `path` (`flags`: one of
/// `MS_SHARED`, `MS_SLAVE`, `MS_PRIVATE`, `MS_UNBINDABLE`, with `MS_REC`
/// for every mount below it too); mount(2) takes no other flag with them.
pub fn set_propagation(path: &str, flags: MsFlags) -> Result<(), RootfsError> {
    mount(None::<&str>, path, None::<&str>, flags, None::<&str>)
        .map_err(RootfsError::sys(format!("mount({path:?}, {flags:?})")))
}

/// A remount of the bind mount on `path` with `add` and the flags it has
/// (read-only included: statvfs(3) reports it as ST_RDONLY).
fn remount_adding(path: &str, add: MsFlags) -> Result<(), RootfsError> {
    let current = statvfs(path).map_err(RootfsError::sys(format!("statvfs({path:?})")))?;
    let mut flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | add;
    for (has, keep) in [
        (FsFlags::ST_RDONLY, MsFlags::MS_RDONLY),
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
    ] {
        if current.flags().contains(has) {
            flags |= keep;
        }
    }
    mount(None::<&str>, path, None::<&str>, flags, None::<&str>)
        .map_err(RootfsError::sys(format!("mount({path:?}, {flags:?})")))
}

/// Makes `root` the root of this mount namespace and detaches the old one.
///
/// `pivot_root(".", ".")` (see pivot_root(2), NOTES): with both arguments
/// the current directory, the old root ends up mounted *on top of* the new
/// one, where `umount2(".", MNT_DETACH)` takes it away; no `put_old`
/// directory is needed, so this works on a read-only image too.
// ANCHOR: pivot-root
pub fn pivot_root(root: &OwnedFd) -> Result<(), RootfsError> {
    fchdir(root).map_err(RootfsError::sys("fchdir(new root)"))?;
    nix::unistd::pivot_root(".", ".").map_err(RootfsError::sys("pivot_root(\".\", \".\")"))?;
    umount2(".", MntFlags::MNT_DETACH).map_err(RootfsError::sys("umount2(\".\", MNT_DETACH)"))?;
    chdir("/").map_err(RootfsError::sys("chdir(\"/\")"))
}
// ANCHOR_END: pivot-root

/// A new network namespace has only `lo`, and it is down: bring it up, as
/// `ip link set lo up` does, with the SIOCSIFFLAGS ioctl (netdevice(7)) on
/// a socket of this process's network namespace.
pub fn loopback_up() -> Result<(), RootfsError> {
    loopback_up_through(inet_socket()?)
}

/// [`loopback_up`] for the network namespace of process `pid`, done from
/// this process (see [`in_network_namespace_of`]): a socket stays in the
/// network namespace it was made in (network_namespaces(7)), so the ioctl
/// on it acts on the other namespace's `lo`.
pub fn loopback_up_in(pid: i32) -> Result<(), RootfsError> {
    loopback_up_through(in_network_namespace_of(pid, inet_socket)??)
}

/// Runs `work` in the network namespace of process `pid`, then comes back:
/// this process enters that namespace (setns(2)) for as long as `work`
/// takes, and the sockets `work` makes stay there. Needs CAP_SYS_ADMIN
/// over both namespaces. `work` must not keep what it opened after it
/// returns expecting it to act on this process's own network.
pub fn in_network_namespace_of<T>(pid: i32, work: impl FnOnce() -> T) -> Result<T, RootfsError> {
    let flags = OFlag::O_RDONLY | OFlag::O_CLOEXEC;
    let own = open("/proc/self/ns/net", flags, Mode::empty())
        .map_err(RootfsError::sys("open(\"/proc/self/ns/net\")"))?;
    let path = format!("/proc/{pid}/ns/net");
    let theirs = open(path.as_str(), flags, Mode::empty())
        .map_err(RootfsError::sys(format!("open({path:?})")))?;
    setns(&theirs, CloneFlags::CLONE_NEWNET)
        .map_err(RootfsError::sys(format!("setns({path:?}, CLONE_NEWNET)")))?;
    let done = work();
    // Back before anything else, whatever `work` returned.
    setns(&own, CloneFlags::CLONE_NEWNET)
        .map_err(RootfsError::sys("setns(\"/proc/self/ns/net\", CLONE_NEWNET), back"))?;
    Ok(done)
}

/// A socket for the interface ioctls, in this process's network namespace.
fn inet_socket() -> Result<OwnedFd, RootfsError> {
    use nix::sys::socket::{AddressFamily, SockFlag, SockType, socket};
    socket(AddressFamily::Inet, SockType::Datagram, SockFlag::SOCK_CLOEXEC, None)
        .map_err(RootfsError::sys("socket(AF_INET, SOCK_DGRAM)"))
}

/// Sets IFF_UP on `lo` of the network namespace `socket` belongs to.
fn loopback_up_through(socket: OwnedFd) -> Result<(), RootfsError> {
    use std::os::fd::AsRawFd;
    // SAFETY: the ifreq is zeroed, then filled with a NUL-terminated name,
    // and only its flags member is read and written; `socket` is open.
    unsafe {
        let mut req: libc::ifreq = std::mem::zeroed();
        for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
            *dst = *src as libc::c_char;
        }
        let mut result = libc::ioctl(socket.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req);
        if result == 0 {
            req.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
            result = libc::ioctl(socket.as_raw_fd(), libc::SIOCSIFFLAGS, &req);
        }
        if result != 0 {
            let errno = nix::errno::Errno::last();
            return Err(RootfsError::sys("ioctl(\"lo\", SIOCSIFFLAGS, IFF_UP)")(errno));
        }
    }
    Ok(())
}

/// `rm -rf`, also through the mode-000 directories overlayfs leaves in its
/// work directory (owned by us, but unreadable until chmod'ed). Here, with
/// the overlay, because both the state directory (`container/state.rs`)
/// and a failed image import (mini-docker's `image/import.rs`) need it.
pub fn remove_tree(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    match path.symlink_metadata() {
        Err(_) => return,
        Ok(meta) if !meta.is_dir() => {
            let _ = std::fs::remove_file(path);
            return;
        }
        Ok(_) => {}
    }
    if std::fs::remove_dir_all(path).is_ok() {
        return;
    }
    fn open_up(path: &Path) {
        let Ok(meta) = path.symlink_metadata() else { return };
        if meta.is_dir() {
            let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700));
            if let Ok(entries) = std::fs::read_dir(path) {
                for entry in entries.filter_map(Result::ok) {
                    open_up(&entry.path());
                }
            }
        }
    }
    open_up(path);
    if std::fs::remove_dir_all(path).is_ok() {
        return;
    }
    remove_as_mapped_root(path);
}

/// Rootless with subordinate IDs, a tree may hold files of the mapped
/// users (an image's layers, what a container's users wrote in its upper
/// layer), which the plain user may not remove; the root of a user
/// namespace with the same map may (see `userns.rs`).
fn remove_as_mapped_root(path: &Path) {
    let Some(map) = crate::userns::full_rootless_map() else { return };
    let target = path.to_owned();
    // SAFETY: the body allocates only (glibc's fork leaves the allocator
    // usable in the child) and takes no other lock.
    let mapped = unsafe {
        crate::userns::Mapped::spawn(&map, move || {
            std::fs::remove_dir_all(&target).map(|()| Vec::new()).map_err(|e| e.to_string())
        })
    };
    if let Ok(mapped) = mapped {
        let _ = mapped.finish();
    }
}
