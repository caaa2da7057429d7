//! # userns-demo: why distributions restrict user namespaces
//!
//! The article (section 二.6) presents user namespaces as pure gain: root
//! inside, an ordinary user outside. The price is what that root may reach.
//! Inside its own user namespace an unprivileged user holds `CAP_SYS_ADMIN`
//! over the namespaces it owns, and with it kernel code that used to be
//! reachable by real root only: mounting, the parsers of file system options,
//! netfilter tables. These experiments show that surface, the sysctl that
//! limits it (`user.max_user_namespaces`, set inside a user namespace of our
//! own, so the host's value never changes), and the feature that made user
//! namespaces practical for containers sharing one image: idmapped mounts.
//!
//! Started as root, the first two experiments drop to UID and GID 65534
//! (`nobody`) first, as user-demo does: the point is what a user who is *not*
//! root may do. Only `idmapped-mount` keeps root: it maps two containers to
//! host UIDs 1000 and 2000, and an unprivileged writer may map only its own.
//!
//! Read: man 7 user_namespaces, man 7 capabilities, man 2 fsopen,
//! man 2 fsconfig, man 2 open_tree, man 2 mount_setattr, man 2 move_mount,
//! man 5 proc (`/proc/sys/user`).
//!
//! Run: `cargo run -p userns-demo` (as root or not), `--list`, `--only NAME`,
//! `--control` (the same steps without `CLONE_NEWUSER`), `--hold`, `--json`.
//!
//! Safety: every mount happens in a private mount namespace that dies with
//! the experiment's process; `max_user_namespaces` is written only inside a
//! user namespace the experiment created (a control run, which has none,
//! does not write it at all).

use std::ffi::CString;
use std::fs::{self, File};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::{MetadataExt, PermissionsExt};

use anyhow::{Context, Result};
use lab::unprivileged::{
    NOBODY, as_unprivileged, capeff, full_capability_set, nsenter_user, wait_go_while_held,
};
use lab::{Experiment, Facts, Lab, Observed, Verdict, clone_child, fork_child, ns, ok_or_errno};
use nix::errno::Errno;
use nix::mount::{MsFlags, mount};
use nix::sched::{CloneFlags, unshare};
use nix::sys::prctl;
use nix::sys::signal::Signal;
use nix::unistd::{Gid, Uid, getegid, geteuid, getuid, setgid, setgroups, setuid};

const EXPERIMENTS: &[Experiment] = &[
    Experiment {
        name: "surface-opens",
        title: "An ordinary user's own user namespace reaches mount code that needed real root",
        claims: &["USR-1", "USR-4"],
        isolation: true,
        explanation: "One unshare(CLONE_NEWUSER|CLONE_NEWNS) gave an unprivileged process every \
            capability (CapEff) over a mount namespace it owns. With it, mount() of a tmpfs and \
            the new mount API work: fsopen() hands out a file system context, fsconfig() feeds \
            option strings to the file system's own parser, and FSCONFIG_CMD_CREATE builds a \
            superblock. fsopen() checks only CAP_SYS_ADMIN over the caller's mount namespace, so \
            even ext4, which no user namespace may mount (the create step says EPERM), parses \
            the options first. That parsing code is where CVE-2022-0185 was: before user \
            namespaces only real root could reach it. Without the user namespace the same user \
            gets EPERM at the first call.",
        run: surface_opens,
    },
    Experiment {
        name: "max-user-namespaces",
        title: "user.max_user_namespaces = 0, written inside a user namespace, stops every user namespace below it",
        claims: &["NEST-2", "USR-4"],
        isolation: true,
        explanation: "The files of /proc/sys/user are per user namespace: a new one starts at \
            2147483647 for each limit, and root inside (CAP_SYS_RESOURCE there) may lower them. \
            Creating a user namespace counts against the limit of the creator's namespace and \
            of every ancestor up to the host's, so after writing 0 inside, unshare(CLONE_NEWUSER) \
            failed with ENOSPC, while the host's value and the host's own unshare were \
            untouched. A distribution that sets user.max_user_namespaces=0 on the host turns \
            user namespaces off the same way for the whole machine.",
        run: max_user_namespaces,
    },
    Experiment {
        name: "idmapped-mount",
        title: "One image, two containers mapped to different host UIDs: through an idmapped mount each one's root owns the files",
        claims: &["USR-2", "USR-3"],
        isolation: true,
        explanation: "The image's files belong to host root, which no container's user namespace \
            maps: through a plain mount each container sees them owned by 65534 and cannot \
            write them. open_tree(OPEN_TREE_CLONE) copied the image's mount, \
            mount_setattr(MOUNT_ATTR_IDMAP) gave the copy a container's user namespace, and \
            move_mount() attached it. Through it the kernel reads an owner on disk as an ID \
            inside that namespace: 0 becomes host 1000 for the first container and host 2000 \
            for the second, so each one's root sees uid 0 and writes files that land on disk \
            owned by 0. Nothing was chowned: two differently mapped containers share one copy. \
            Without the user namespace, mount_setattr() refuses the host's own (EPERM).",
        run: idmapped_mount,
    },
];

fn main() -> std::process::ExitCode {
    lab::main(&lab::Demo {
        name: "userns-demo",
        about: "Why distributions restrict user namespaces: the surface, the limit, idmapped mounts",
        man: "user_namespaces",
        experiments: EXPERIMENTS,
        makes_own_user_namespaces: true,
    })
}

// ANCHOR: helpers
/// A process that has just unshared its user namespace maps its own UID and
/// GID to 0 there: the one map an unprivileged process may write for itself.
fn map_myself_to_root(uid: Uid, gid: Gid) -> Result<()> {
    fs::write("/proc/self/setgroups", "deny").context("write /proc/self/setgroups")?;
    fs::write("/proc/self/uid_map", format!("0 {uid} 1")).context("write /proc/self/uid_map")?;
    fs::write("/proc/self/gid_map", format!("0 {gid} 1")).context("write /proc/self/gid_map")?;
    Ok(())
}

/// The errno of a failed file operation, for facts (`EACCES`).
fn errno(e: std::io::Error) -> Errno {
    Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))
}
// ANCHOR_END: helpers

// ANCHOR: surface_opens
/// fsopen(2): the first step of the new mount API, a file system context
/// for `fstype`. nix has no wrapper.
fn fsopen(fstype: &str) -> nix::Result<OwnedFd> {
    let name = CString::new(fstype).map_err(|_| Errno::EINVAL)?;
    // SAFETY: a NUL-terminated name that outlives the call, and a flag.
    let fd = unsafe { libc::syscall(libc::SYS_fsopen, name.as_ptr(), libc::FSOPEN_CLOEXEC) };
    let fd = Errno::result(fd)?;
    // SAFETY: the kernel just returned this new fd; nobody else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// fsconfig(2) on a context: `Some((key, value))` hands one option to the
/// file system's parser (FSCONFIG_SET_STRING); `None` asks it to build the
/// superblock (FSCONFIG_CMD_CREATE).
fn fsconfig(context: &OwnedFd, option: Option<(&str, &str)>) -> nix::Result<()> {
    let fd = context.as_raw_fd();
    let res = match option {
        Some((key, value)) => {
            let (key, value) = (CString::new(key), CString::new(value));
            let (Ok(key), Ok(value)) = (key, value) else { return Err(Errno::EINVAL) };
            // SAFETY: an fd we own, two NUL-terminated strings that outlive the call.
            unsafe {
                libc::syscall(
                    libc::SYS_fsconfig,
                    fd,
                    libc::FSCONFIG_SET_STRING,
                    key.as_ptr(),
                    value.as_ptr(),
                    0,
                )
            }
        }
        // SAFETY: an fd we own; this command takes no key, value or aux.
        None => unsafe {
            libc::syscall(
                libc::SYS_fsconfig,
                fd,
                libc::FSCONFIG_CMD_CREATE,
                std::ptr::null::<libc::c_char>(),
                std::ptr::null::<libc::c_void>(),
                0,
            )
        },
    };
    Errno::result(res).map(drop)
}

/// What the new mount API lets this process do with `fstype`: open a
/// context, have two options parsed, create the superblock. Each step is a
/// fact; a failed step stops the rest. The superblock, if made, is never
/// mounted anywhere and goes away with the fd.
fn try_new_mount_api(facts: &mut Facts, fstype: &str, options: [(&str, &str); 2]) {
    let context = fsopen(fstype);
    facts.set(&format!("fsopen({fstype})"), ok_or_errno(&context));
    let Ok(context) = context else { return };
    for (key, value) in options {
        let parsed = fsconfig(&context, Some((key, value)));
        facts.set(&format!("fsconfig({fstype}, {key}={value})"), ok_or_errno(&parsed));
    }
    let created = fsconfig(&context, None);
    facts.set(&format!("fsconfig({fstype}, CMD_CREATE)"), ok_or_errno(&created));
}

/// A file system this kernel knows that no user namespace may mount: ext4
/// if it is built in or loaded (`/proc/filesystems`).
fn ext4_known() -> bool {
    fs::read_to_string("/proc/filesystems")
        .is_ok_and(|list| list.lines().any(|l| l.split_whitespace().last() == Some("ext4")))
}

fn surface_opens(lab: &Lab) -> Result<Observed> {
    as_unprivileged(lab, || {
        let (uid, gid) = (geteuid(), getegid());
        let host_user_ns = ns::link(None, "user")?;
        // The same user, outside any namespace of its own.
        let mut host =
            Facts::new().with("getuid", uid.as_raw()).with("CapEff", format!("{:016x}", capeff()?));
        host.set("fsopen(tmpfs)", ok_or_errno(&fsopen("tmpfs")));

        let mut child = fork_child(|chan| {
            // One call: a new user namespace, and a mount namespace it owns.
            let flags = lab.isolate(CloneFlags::CLONE_NEWUSER) | CloneFlags::CLONE_NEWNS;
            let unshared = unshare(flags);
            let mut facts = Facts::new().with("unshare(NEWUSER|NEWNS)", ok_or_errno(&unshared));
            let own_user_ns = ns::link(None, "user")? != host_user_ns;
            if own_user_ns {
                map_myself_to_root(uid, gid)?;
            }
            facts.set("getuid", getuid().as_raw());
            facts.set("CapEff", format!("{:016x}", capeff()?));
            // mount(2), only in a mount namespace of our own, made private
            // first: nothing we mount can propagate anywhere.
            if unshared.is_ok() && own_user_ns {
                let private = MsFlags::MS_REC | MsFlags::MS_PRIVATE;
                mount(None::<&str>, "/", None::<&str>, private, None::<&str>)
                    .context("mount(MS_REC|MS_PRIVATE) on /")?;
                let tmpfs =
                    mount(Some("nslab"), "/tmp", Some("tmpfs"), MsFlags::empty(), Some("size=16k"));
                facts.set("mount(tmpfs on /tmp)", ok_or_errno(&tmpfs));
            }
            // The new mount API: a tmpfs, which user namespaces may mount...
            try_new_mount_api(&mut facts, "tmpfs", [("size", "16k"), ("mode", "0700")]);
            // ...and ext4, which they may not: its parser still runs.
            if ext4_known() {
                try_new_mount_api(&mut facts, "ext4", [("errors", "remount-ro"), ("nslab", "1")]);
            } else {
                facts.set("fsopen(ext4)", "not tried: ext4 is not in /proc/filesystems");
            }
            chan.send(&facts)?;
            wait_go_while_held(chan)
        })?;
        let inside: Facts = child.chan.recv()?;
        lab.hold(
            child.pid,
            &[
                format!("grep CapEff /proc/{}/status", child.pid),
                format!("lsns -p {}", child.pid),
                nsenter_user(lab, child.pid, "-m findmnt /tmp"),
            ],
        );
        child.chan.go()?;
        child.wait_success()?;

        let all = format!("{:016x}", full_capability_set()?);
        let said = |key: &str| inside.text(key).unwrap_or_default().to_owned();
        let ext4_parsed = !ext4_known()
            || (said("fsopen(ext4)") == "ok"
                && said("fsconfig(ext4, errors=remount-ro)") == "ok"
                && said("fsconfig(ext4, nslab=1)") == "EINVAL"
                && said("fsconfig(ext4, CMD_CREATE)") == "EPERM");
        let verdict = Verdict::check(
            host.text("fsopen(tmpfs)") == Some("EPERM")
                && said("CapEff") == all
                && said("mount(tmpfs on /tmp)") == "ok"
                && said("fsopen(tmpfs)") == "ok"
                && said("fsconfig(tmpfs, CMD_CREATE)") == "ok"
                && ext4_parsed,
        );
        Ok(Observed::new(verdict, host, inside))
    })
}
// ANCHOR_END: surface_opens

// ANCHOR: max_user_namespaces
const MAX_USER_NAMESPACES: &str = "/proc/sys/user/max_user_namespaces";

fn read_limit() -> Result<i64> {
    let text = fs::read_to_string(MAX_USER_NAMESPACES)
        .with_context(|| format!("reading {MAX_USER_NAMESPACES}"))?;
    text.trim().parse().with_context(|| format!("parsing {MAX_USER_NAMESPACES}"))
}

/// unshare(CLONE_NEWUSER) in a throwaway child: whether one more user
/// namespace may be made from here.
fn one_more_user_namespace() -> Result<String> {
    let mut child =
        fork_child(|chan| chan.send(&ok_or_errno(&unshare(CloneFlags::CLONE_NEWUSER))))?;
    let answer = child.chan.recv();
    child.wait_success()?;
    answer
}

fn max_user_namespaces(lab: &Lab) -> Result<Observed> {
    as_unprivileged(lab, || {
        let (uid, gid) = (geteuid(), getegid());
        let host_user_ns = ns::link(None, "user")?;
        let host_limit_before = read_limit()?;

        let mut child = fork_child(|chan| {
            let created = unshare(lab.isolate(CloneFlags::CLONE_NEWUSER));
            let own_user_ns = ns::link(None, "user")? != host_user_ns;
            if own_user_ns {
                map_myself_to_root(uid, gid)?;
            }
            let mut facts = Facts::new()
                .with("unshare(CLONE_NEWUSER)", ok_or_errno(&created))
                .with("max_user_namespaces_at_start", read_limit()?);
            // Write the limit only in a user namespace of our own: in a
            // control run this is still the host's, and stays untouched.
            let written = if own_user_ns {
                ok_or_errno(&fs::write(MAX_USER_NAMESPACES, "0").map_err(errno))
            } else {
                "not tried: this is the host's user namespace".to_owned()
            };
            facts.set("write 0 to max_user_namespaces", written);
            facts.set("max_user_namespaces_now", read_limit()?);
            facts.set("unshare(CLONE_NEWUSER) below it", one_more_user_namespace()?);
            chan.send(&facts)?;
            wait_go_while_held(chan)
        })?;
        let inside: Facts = child.chan.recv()?;
        lab.hold(
            child.pid,
            &[
                nsenter_user(lab, child.pid, "cat /proc/sys/user/max_user_namespaces"),
                nsenter_user(lab, child.pid, "unshare -U true   # No space left on device"),
                "cat /proc/sys/user/max_user_namespaces   # on the host".into(),
            ],
        );
        child.chan.go()?;
        child.wait_success()?;

        // From the host's side: its limit is what it was, and it may still
        // create user namespaces.
        let host = Facts::new()
            .with("max_user_namespaces_unchanged", read_limit()? == host_limit_before)
            .with("unshare(CLONE_NEWUSER)", one_more_user_namespace()?);
        let verdict = Verdict::check(
            inside.text("write 0 to max_user_namespaces") == Some("ok")
                && inside.int("max_user_namespaces_now") == Some(0)
                && inside.text("unshare(CLONE_NEWUSER) below it") == Some("ENOSPC")
                && host.get("max_user_namespaces_unchanged") == Some(&true.into())
                && host.text("unshare(CLONE_NEWUSER)") == Some("ok"),
        );
        Ok(Observed::new(verdict, host, inside))
    })
}
// ANCHOR_END: max_user_namespaces

// ANCHOR: idmapped_mount
/// Attaches a copy of the mount at `source` on `target`, idmapped with the
/// user namespace `userns`: open_tree(2), mount_setattr(2), move_mount(2).
/// Each call's result is a fact under `label`; a failed call stops the rest.
fn idmapped_copy(facts: &mut Facts, label: &str, source: &str, target: &str, userns: &File) {
    let (source_c, target_c) = (CString::new(source), CString::new(target));
    let (Ok(source_c), Ok(target_c)) = (source_c, target_c) else { return };
    let empty = c"";
    // 1. A detached copy of the mount, held by an fd: not in any mount table yet.
    let flags = libc::OPEN_TREE_CLONE | libc::OPEN_TREE_CLOEXEC;
    // SAFETY: a NUL-terminated path that outlives the call, and flags.
    let fd =
        unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, source_c.as_ptr(), flags) };
    let tree = Errno::result(fd).map(|fd| {
        // SAFETY: the kernel just returned this new fd; nobody else owns it.
        unsafe { OwnedFd::from_raw_fd(fd as RawFd) }
    });
    facts.set(&format!("{label}_open_tree(CLONE)"), ok_or_errno(&tree));
    let Ok(tree) = tree else { return };
    // 2. Give the copy the ID mapping of `userns`.
    let attr = libc::mount_attr {
        attr_set: libc::MOUNT_ATTR_IDMAP,
        attr_clr: 0,
        propagation: 0,
        userns_fd: userns.as_raw_fd() as u64,
    };
    // SAFETY: the fd we own with an empty path (AT_EMPTY_PATH: the fd
    // itself), a valid mount_attr and its size.
    let res = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            tree.as_raw_fd(),
            empty.as_ptr(),
            libc::AT_EMPTY_PATH,
            &attr as *const libc::mount_attr,
            std::mem::size_of::<libc::mount_attr>(),
        )
    };
    let idmapped = Errno::result(res);
    facts.set(&format!("{label}_mount_setattr(IDMAP)"), ok_or_errno(&idmapped));
    if idmapped.is_err() {
        return;
    }
    // 3. Attach it.
    // SAFETY: the fd we own with an empty path, AT_FDCWD and a NUL-terminated target.
    let res = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tree.as_raw_fd(),
            empty.as_ptr(),
            libc::AT_FDCWD,
            target_c.as_ptr(),
            libc::MOVE_MOUNT_F_EMPTY_PATH,
        )
    };
    facts.set(&format!("{label}_move_mount"), ok_or_errno(&Errno::result(res)));
}

/// The owner of `path` as the caller sees it, or the errno's name, as the fact `key`.
fn set_owner(facts: &mut Facts, key: &str, path: &str) {
    match fs::metadata(path) {
        Ok(meta) => facts.set(key, meta.uid()),
        Err(e) => facts.set(key, format!("{:?}", errno(e))),
    }
}

fn idmapped_mount(lab: &Lab) -> Result<Observed> {
    if !geteuid().is_root() {
        return Ok(Observed::skip(
            "needs root: an unprivileged writer may map only its own UID, not host UIDs 1000 and 2000",
        ));
    }
    // Our mounts must never appear on the host: a private mount namespace
    // and a scratch tmpfs, both gone when this process exits.
    unshare(CloneFlags::CLONE_NEWNS).context("unshare(CLONE_NEWNS)")?;
    mount(None::<&str>, "/", None::<&str>, MsFlags::MS_REC | MsFlags::MS_PRIVATE, None::<&str>)
        .context("mount(MS_REC|MS_PRIVATE) on /")?;
    mount(Some("nslab"), "/tmp", Some("tmpfs"), MsFlags::empty(), Some("size=64k"))
        .context("mount tmpfs on /tmp")?;
    // The "image": a file system of its own, its files owned by root, as
    // root unpacked them. Its top directory is root's, 0755: only root may write.
    for dir in ["/tmp/image", "/tmp/first", "/tmp/second"] {
        fs::create_dir(dir).with_context(|| format!("mkdir {dir}"))?;
    }
    mount(Some("image"), "/tmp/image", Some("tmpfs"), MsFlags::empty(), Some("size=16k,mode=0755"))
        .context("mount the image's tmpfs")?;
    fs::write("/tmp/image/hostname", "nslab\n").context("write /tmp/image/hostname")?;
    fs::set_permissions("/tmp/image/hostname", fs::Permissions::from_mode(0o644))
        .context("chmod 644")?;

    let mut host = Facts::new();
    set_owner(&mut host, "owner_on_disk", "/tmp/image/hostname");
    let mut inside = Facts::new();
    let mut containers = Vec::new();
    for (label, base) in [("first", 1000), ("second", 2000)] {
        let mount_point = format!("/tmp/{label}");
        let mut container = clone_child(lab.isolate(CloneFlags::CLONE_NEWUSER), |chan| {
            chan.wait_go()?; // mapped, and the idmapped copy is attached
            // We still hold our creator's IDs, host root, which the map
            // leaves out: become the namespace's root, as runc does.
            setgroups(&[]).context("setgroups([])")?;
            setgid(Gid::from_raw(0)).context("setgid(0)")?;
            setuid(Uid::from_raw(0)).context("setuid(0)")?;
            prctl::set_pdeathsig(Signal::SIGKILL).context("prctl(PR_SET_PDEATHSIG)")?;
            let mut facts = Facts::new().with(&format!("{label}_getuid"), getuid().as_raw());
            set_owner(&mut facts, &format!("{label}_owner_through_image"), "/tmp/image/hostname");
            let plain = File::create(format!("/tmp/image/made-by-{label}")).map_err(errno);
            facts.set(&format!("{label}_create_through_image"), ok_or_errno(&plain));
            let through_copy = format!("{mount_point}/hostname");
            set_owner(&mut facts, &format!("{label}_owner_through_{label}"), &through_copy);
            let made = File::create(format!("{mount_point}/made-by-{label}")).map_err(errno);
            facts.set(&format!("{label}_create_file"), ok_or_errno(&made));
            chan.send(&facts)?;
            wait_go_while_held(chan)
        })?;
        // Root holds CAP_SETUID and CAP_SETGID above the child: it may write
        // the maps without denying setgroups.
        let line = format!("0 {base} 1");
        let uid_map = fs::write(format!("/proc/{}/uid_map", container.pid), &line).map_err(errno);
        let gid_map = fs::write(format!("/proc/{}/gid_map", container.pid), &line).map_err(errno);
        let mapped = match uid_map.and(gid_map) {
            Ok(()) => line,
            Err(errno) => format!("{errno:?}"),
        };
        host.set(&format!("{label}_map"), mapped);
        let userns = File::open(format!("/proc/{}/ns/user", container.pid))
            .context("open the container's /proc/PID/ns/user")?;
        idmapped_copy(&mut host, label, "/tmp/image", &mount_point, &userns);
        container.chan.go()?;
        inside.extend(container.chan.recv()?);
        containers.push(container);
    }
    for label in ["first", "second"] {
        set_owner(&mut host, &format!("owner_through_{label}"), &format!("/tmp/{label}/hostname"));
        let made = format!("/tmp/image/made-by-{label}");
        set_owner(&mut host, &format!("made_by_{label}_owner_on_disk"), &made);
    }
    if let Some(first) = containers.first() {
        lab.hold(
            first.pid,
            &[
                format!("sudo findmnt -N {} -o TARGET,FSTYPE,VFS-OPTIONS /tmp/first", first.pid),
                lab.nsenter(first.pid, "-m ls -ln /tmp/image /tmp/first"),
                nsenter_user(lab, first.pid, "-m ls -ln /tmp/image /tmp/first"),
            ],
        );
    }
    for mut container in containers {
        container.chan.go()?;
        container.wait_success()?;
    }

    let is = |facts: &Facts, key: &str, value: i64| facts.int(key) == Some(value);
    let verdict = Verdict::check(
        is(&host, "owner_on_disk", 0)
            && is(&host, "owner_through_first", 1000)
            && is(&host, "owner_through_second", 2000)
            && is(&host, "made_by_first_owner_on_disk", 0)
            && is(&host, "made_by_second_owner_on_disk", 0)
            && ["first", "second"].iter().all(|label| {
                is(&inside, &format!("{label}_getuid"), 0)
                    && is(&inside, &format!("{label}_owner_through_image"), NOBODY.into())
                    && inside.text(&format!("{label}_create_through_image")) == Some("EACCES")
                    && is(&inside, &format!("{label}_owner_through_{label}"), 0)
                    && inside.text(&format!("{label}_create_file")) == Some("ok")
            }),
    );
    Ok(Observed::new(verdict, host, inside))
}
// ANCHOR_END: idmapped_mount
