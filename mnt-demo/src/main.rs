//! # mnt-demo: mount namespaces
//!
//! The article (section 二.3) says each container has its own table of mount
//! points, that volumes bring host directories into it, and that the host can
//! see the container's mount points. A mount namespace holds exactly one
//! thing: a list of mounts (which file system is attached where, and how
//! mount events propagate). These experiments mount and unmount on both sides
//! and read `/proc/PID/mountinfo` from each, then build a container's root
//! file system with `pivot_root` and show why `chroot` alone is not enough, and
//! finally keep a mount namespace, mounts and all, alive with no process in it.
//!
//! Read: man 7 mount_namespaces, man 2 mount, man 2 umount, man 2 pivot_root,
//! man 2 chroot, man 5 proc (`/proc/PID/mountinfo`), man 2 setns,
//! man 7 namespaces ("Namespace lifetime").
//!
//! Run: `cargo run -p mnt-demo` (as root or not), `--list`, `--only NAME`,
//! `--control` (the same steps without `CLONE_NEWNS` for the child), `--hold`, `--json`.
//!
//! Safety: "the host" of every experiment is the experiment's own process
//! after `unshare(CLONE_NEWNS)` and `MS_REC|MS_PRIVATE` on `/` (see
//! `scratch_host`), with a fresh tmpfs on `/tmp` for scratch. Nothing either
//! side mounts, and no file either side writes, reaches the machine's real
//! mount table or disk, in a control run too; all of it vanishes when the
//! experiment's process exits.

use std::fs;

use anyhow::{Context, Result};
use lab::{
    Channel, Experiment, Facts, Lab, Observed, Verdict, clone_child, fork_child, ns, ok_or_errno,
};
use nix::errno::Errno;
use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sched::{CloneFlags, setns, unshare};
use nix::unistd::{Pid, chdir, chroot, getpid, pivot_root};

const EXPERIMENTS: &[Experiment] = &[
    Experiment {
        name: "own-mount-table",
        title: "A tmpfs mounted inside is not in the host's mount table, and a later host mount is not inside",
        claims: &["MNT-1", "MECH-2"],
        isolation: true,
        explanation: "clone(CLONE_NEWNS) gave the child a copy of the host's mount table (man 7 \
            mount_namespaces). From then on the two tables are separate lists: the tmpfs the \
            child mounted on /tmp/inside is only in the child's /proc/self/mountinfo, and the \
            tmpfs the host mounted afterwards on /tmp/host-later is only in the host's. Both \
            sides still see the same files in /tmp: a mount namespace isolates the mounts, not \
            the file systems under them. The mounts are private because the scratch host made / \
            MS_REC|MS_PRIVATE first; MNT-2 shows what happens otherwise.",
        run: own_mount_table,
    },
    Experiment {
        name: "host-reads-mountinfo",
        title: "The host's own mount table does not list the namespace's mounts; /proc/PID/mountinfo does",
        claims: &["MNT-5", "SEC-3"],
        isolation: true,
        explanation: "The article says the host can see the container's mount points. Not in its \
            own mount table: the host's /proc/self/mountinfo (what mount and findmnt print) has \
            no line for the tmpfs the namespace mounted, and the host's own /tmp/app-data is \
            an empty directory. The host reads the namespace's table in /proc/PID/mountinfo of \
            any process inside it (findmnt --task PID, man 5 proc), and reaches the files \
            through /proc/PID/root, which resolves paths in that process's mount namespace. So \
            the host can look, but it has to know where.",
        run: host_reads_mountinfo,
    },
    Experiment {
        name: "propagation",
        title: "Mounts cross between namespaces while shared, one way as a slave, never once private",
        claims: &["MNT-2"],
        isolation: true,
        explanation: "A new mount namespace copies each mount's propagation type too (man 7 \
            mount_namespaces). The host made its scratch tmpfs /tmp/peers MS_SHARED: the copy in \
            the child joined the same peer group (the same shared:N in both mountinfo files), so \
            a mount made under it on either side appeared on the other. After MS_SLAVE the \
            child's copy shows master:N: mounts still arrive from the host but no longer go back. \
            After MS_REC|MS_PRIVATE nothing crosses either way. systemd remounts every mount \
            MS_SHARED at boot, so shared is the usual default, and a new mount namespace \
            inherits it: that is why every container runtime makes / private (or a slave) first: \
            otherwise a container's mounts would appear on the host.",
        run: propagation,
    },
    Experiment {
        name: "bind-volume",
        title: "A bind mount (a volume) shares a host directory both ways; a read-only bind refuses writes",
        claims: &["MNT-3"],
        isolation: false,
        explanation: "docker run -v /host/dir:/data is a bind mount (MS_BIND, man 2 mount): the \
            same directory attached at a second place, not a copy. A file the host wrote was \
            read inside, and a file written inside was read by the host. A read-only volume \
            takes two calls: MS_BIND, then MS_BIND|MS_REMOUNT|MS_RDONLY, because a bind ignores \
            other flags; writes through that mount fail with EROFS while the host still writes \
            the same directory: read-only belongs to the mount, not to the files. The mount \
            namespace only keeps the bind out of the host's mount table; a control run (no new \
            namespace) shares the files just the same.",
        run: bind_volume,
    },
    Experiment {
        name: "chroot-escape",
        title: "chroot alone is escaped with CAP_SYS_CHROOT, even in a mount namespace of its own",
        claims: &["MNT-4"],
        isolation: false,
        explanation: "chroot() changes only the directory a process calls / (man 2 chroot): inside \
            /tmp/jail the host's marker file was out of reach. But a process that may call \
            chroot() can call it again on a subdirectory without entering it; its working \
            directory is then outside its root, so \"..\" is never stopped, and it walks up to the \
            real root and makes that its root again. The marker was read. A mount namespace \
            does not help, because the host's whole file system is still mounted in it, \
            above the jail.",
        run: chroot_escape,
    },
    Experiment {
        name: "pivot-root",
        title: "pivot_root into a tmpfs, old root detached: the host's files are gone, even for the chroot escape",
        claims: &["MNT-4"],
        isolation: true,
        explanation: "pivot_root(new_root, put_old) (man 2 pivot_root) swaps the root mount of the \
            caller's mount namespace: the tiny tmpfs became /, and the old root moved to \
            /old-root, where the host's marker was still reachable. umount2(\"/old-root\", \
            MNT_DETACH) removed it from the namespace's mount table (man 2 umount): from then \
            on no path leads to the host's files, and the chroot escape climbs only to the top \
            of this mount tree, where none of them are. The host's own root is untouched. This is \
            what runc does. A control run (no new namespace) pivots the host's scratch \
            namespace too: pivot_root acts on a whole mount namespace, so the host loses its \
            marker.",
        run: pivot_root_new_root,
    },
    Experiment {
        name: "pivot-root-refused",
        title: "pivot_root fails with EINVAL when the new root is not a mount point or its parent mount is shared",
        claims: &["MNT-4", "MNT-2"],
        isolation: false,
        explanation: "Two rules of man 2 pivot_root that every learner meets as a bare EINVAL: \
            new_root must be a mount point (a plain directory is not; runtimes bind-mount the \
            root file system onto itself to make it one), and neither new_root's parent mount \
            nor the current root's may be shared, because moving mounts inside a peer group \
            would move them in every namespace of the group. The same tmpfs, refused while \
            /tmp was shared, was accepted once MS_REC|MS_PRIVATE had made it private.",
        run: pivot_root_refused,
    },
    Experiment {
        name: "kept-alive-by-mount",
        title: "A bind mount of /proc/PID/ns/mnt keeps a mount namespace, mounts and all, alive with no process",
        claims: &["LIFE-1", "MECH-3"],
        isolation: true,
        explanation: "A namespace lives as long as anything refers to it, not only its processes. \
            The host bind-mounted the child's /proc/PID/ns/mnt on a file (what ip netns add does \
            for network namespaces); after the child exited, a new process opened that file, \
            entered the namespace with setns(CLONE_NEWNS), and found the child's tmpfs still \
            mounted, with its file. Once the bind was unmounted, the file was an empty file again \
            and setns() on it failed with EINVAL. The kernel allows such a bind only for a mount \
            namespace newer than the caller's, so that no namespace can end up holding itself \
            alive; in a control run the child's namespace is the host's own, and the bind fails \
            with EINVAL.",
        run: kept_alive_by_mount,
    },
];

fn main() -> std::process::ExitCode {
    lab::main(&lab::Demo {
        name: "mnt-demo",
        about: "Mount namespaces: a mount table of its own, propagation, volumes, pivot_root",
        man: "mount_namespaces",
        experiments: EXPERIMENTS,
        makes_own_user_namespaces: false,
    })
}

// ANCHOR: helpers
/// Plays "the host" without touching the machine. This experiment's process
/// moves into a mount namespace of its own, makes every mount in it private
/// (so nothing done below propagates back to the machine's table, even in a
/// control run), and puts a fresh tmpfs on /tmp for scratch. All of it
/// vanishes when the process exits, even if it is killed.
fn scratch_host() -> Result<Facts> {
    unshare(CloneFlags::CLONE_NEWNS).context("unshare(CLONE_NEWNS) for the scratch host")?;
    mount(None::<&str>, "/", None::<&str>, MsFlags::MS_REC | MsFlags::MS_PRIVATE, None::<&str>)
        .context("mount(MS_REC|MS_PRIVATE) on /")?;
    mount_tmpfs("nslab-scratch", "/tmp")?;
    Ok(Facts::new().with("host_side", "scratch: unshare(CLONE_NEWNS), / private, tmpfs on /tmp"))
}

/// A small tmpfs named `source` (the name mountinfo shows) on `target`.
fn mount_tmpfs(source: &str, target: &str) -> Result<()> {
    mount(Some(source), target, Some("tmpfs"), MsFlags::empty(), Some("size=256k"))
        .with_context(|| format!("mount tmpfs {source} on {target}"))
}

fn mkdirs(paths: &[&str]) -> Result<()> {
    for path in paths {
        fs::create_dir_all(path).with_context(|| format!("mkdir {path}"))?;
    }
    Ok(())
}

/// One line of /proc/PID/mountinfo (man 5 proc), the fields this demo reads:
///
/// ```text
/// 36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
/// id parent dev root mount-point options [optional fields] - type source super-options
/// ```
#[derive(Debug)]
struct MountLine {
    mount_point: String,
    /// The optional fields: `shared:N` (a member of peer group N),
    /// `master:N` (a slave of group N), or nothing for a private mount.
    propagation: String,
    fstype: String,
    source: String,
}

/// The mount table of `pid`'s mount namespace (`None`: our own).
fn mountinfo(pid: Option<Pid>) -> Result<Vec<MountLine>> {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/mountinfo"),
        None => "/proc/self/mountinfo".into(),
    };
    let text = fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    let parse = |line: &str| {
        let (before, after) = line.split_once(" - ")?;
        let fields: Vec<&str> = before.split(' ').collect();
        let mut after = after.split(' ');
        Some(MountLine {
            mount_point: fields.get(4)?.to_string(),
            propagation: fields.get(6..).unwrap_or_default().join(" "),
            fstype: after.next()?.to_owned(),
            source: after.next()?.to_owned(),
        })
    };
    Ok(text.lines().filter_map(parse).collect())
}

/// The topmost mount on `point` in a table (mounts can be stacked).
fn find<'a>(table: &'a [MountLine], point: &str) -> Option<&'a MountLine> {
    table.iter().rev().find(|m| m.mount_point == point)
}

/// Is something mounted on `point` in our own mount namespace?
fn is_mounted(point: &str) -> Result<bool> {
    Ok(find(&mountinfo(None)?, point).is_some())
}

/// The propagation of the mount on `point` in our namespace: `shared:N`,
/// `master:N`, or `private`.
fn propagation_of(point: &str) -> Result<String> {
    let table = mountinfo(None)?;
    let line = find(&table, point).with_context(|| format!("nothing is mounted on {point}"))?;
    Ok(if line.propagation.is_empty() { "private".into() } else { line.propagation.clone() })
}

/// A file's text, or the errno that reading it failed with (`ENOENT`).
fn read_or_errno(path: &str) -> String {
    match fs::read_to_string(path) {
        Ok(text) => text.trim().to_owned(),
        Err(e) => errno_name(&e),
    }
}

/// `ok`, or the errno's name, for a std::fs result (lab::ok_or_errno does it for nix).
fn io_ok_or_errno<T>(result: &std::io::Result<T>) -> String {
    match result {
        Ok(_) => "ok".into(),
        Err(e) => errno_name(e),
    }
}

fn errno_name(e: &std::io::Error) -> String {
    format!("{:?}", Errno::from_raw(e.raw_os_error().unwrap_or(0)))
}

/// A yes/no fact, for verdicts.
fn yes(facts: &Facts, key: &str) -> bool {
    facts.get(key) == Some(&true.into())
}

/// The names in a directory, sorted.
fn list_dir(path: &str) -> Result<Vec<String>> {
    let mut names: Vec<String> = fs::read_dir(path)
        .with_context(|| format!("listing {path}"))?
        .filter_map(|entry| Some(entry.ok()?.file_name().to_str()?.to_owned()))
        .collect();
    names.sort();
    Ok(names)
}
// ANCHOR_END: helpers

// ANCHOR: own_mount_table
fn own_mount_table(lab: &Lab) -> Result<Observed> {
    let mut host = scratch_host()?;
    mkdirs(&["/tmp/inside", "/tmp/host-later"])?;
    let mut child = clone_child(lab.isolate(CloneFlags::CLONE_NEWNS), |chan| {
        mount_tmpfs("nslab-inside", "/tmp/inside")?;
        let mut seen = Facts::new()
            .with("mnt_ns", ns::link(None, "mnt")?)
            .with("mounted", "tmpfs nslab-inside on /tmp/inside")
            .with("mountinfo_lists_/tmp/inside", is_mounted("/tmp/inside")?);
        chan.go()?; // the host looks for our mount, then mounts its own
        chan.wait_go()?;
        seen.set("mountinfo_lists_/tmp/host-later", is_mounted("/tmp/host-later")?);
        chan.send(&seen)?;
        chan.wait_go()
    })?;
    child.chan.wait_go()?;
    host.set("mnt_ns", ns::link(None, "mnt")?);
    host.set("mounted", "tmpfs nslab-host-later on /tmp/host-later, afterwards");
    host.set("mountinfo_lists_/tmp/inside", is_mounted("/tmp/inside")?);
    mount_tmpfs("nslab-host-later", "/tmp/host-later")?;
    host.set("mountinfo_lists_/tmp/host-later", is_mounted("/tmp/host-later")?);
    child.chan.go()?;
    let inside: Facts = child.chan.recv()?;
    lab.hold(
        child.pid,
        &[
            lab.nsenter(child.pid, "-m findmnt -R /tmp"),
            lab.nsenter(getpid(), "-m findmnt -R /tmp   # the scratch host's table"),
            "findmnt -R /tmp   # the machine's table: no nslab mount".into(),
        ],
    );
    child.chan.go()?;
    child.wait_success()?;

    let verdict = Verdict::check(
        inside.get("mnt_ns") != host.get("mnt_ns")
            && yes(&inside, "mountinfo_lists_/tmp/inside")
            && !yes(&host, "mountinfo_lists_/tmp/inside")
            && yes(&host, "mountinfo_lists_/tmp/host-later")
            && !yes(&inside, "mountinfo_lists_/tmp/host-later"),
    );
    Ok(Observed::new(verdict, host, inside))
}
// ANCHOR_END: own_mount_table

// ANCHOR: host_reads_mountinfo
fn host_reads_mountinfo(lab: &Lab) -> Result<Observed> {
    let mut host = scratch_host()?;
    mkdirs(&["/tmp/app-data"])?;
    let mut child = clone_child(lab.isolate(CloneFlags::CLONE_NEWNS), |chan| {
        mount_tmpfs("nslab-app", "/tmp/app-data")?;
        fs::write("/tmp/app-data/state.txt", "written inside").context("write state.txt")?;
        chan.send(
            &Facts::new()
                .with("mounted", "tmpfs nslab-app on /tmp/app-data")
                .with("own_mountinfo_lists_/tmp/app-data", is_mounted("/tmp/app-data")?),
        )?;
        chan.wait_go()
    })?;
    let inside: Facts = child.chan.recv()?;

    // The host's own table, as mount(8) and findmnt(8) read it ...
    let own = is_mounted("/tmp/app-data")?;
    // ... and the namespace's table, read through a process inside it.
    let theirs = mountinfo(Some(child.pid))?;
    let shown = find(&theirs, "/tmp/app-data").map_or("nothing".into(), |m| {
        format!("{} {} on {} (in /proc/{}/mountinfo)", m.fstype, m.source, m.mount_point, child.pid)
    });
    // /proc/PID/root resolves paths in the child's mount namespace.
    let through_root = read_or_errno(&format!("/proc/{}/root/tmp/app-data/state.txt", child.pid));
    let direct = read_or_errno("/tmp/app-data/state.txt");
    lab.hold(
        child.pid,
        &[
            format!("findmnt --task {} -R /tmp", child.pid),
            format!("ls /proc/{}/root/tmp/app-data", child.pid),
        ],
    );
    child.chan.go()?;
    child.wait_success()?;

    host.set("child_host_pid", child.pid.as_raw());
    host.set("own_mountinfo_lists_/tmp/app-data", own);
    host.set("child_mountinfo_shows", &shown);
    host.set("reads_/proc/pid/root/tmp/app-data/state.txt", &through_root);
    host.set("reads_/tmp/app-data/state.txt", &direct);
    let verdict = Verdict::check(
        !own && shown.starts_with("tmpfs nslab-app") && through_root == "written inside",
    );
    Ok(Observed::new(verdict, host, inside))
}
// ANCHOR_END: host_reads_mountinfo

// ANCHOR: propagation
fn propagation(lab: &Lab) -> Result<Observed> {
    let mut host = scratch_host()?;
    // A scratch area of our own, made shared: a peer group of one, so far.
    mkdirs(&["/tmp/peers"])?;
    mount_tmpfs("nslab-peers", "/tmp/peers")?;
    mount(None::<&str>, "/tmp/peers", None::<&str>, MsFlags::MS_SHARED, None::<&str>)
        .context("mount(MS_SHARED) on /tmp/peers")?;
    // Mount points for each round, on the shared tmpfs (both sides see its files).
    for round in ROUNDS {
        mkdirs(&[&format!("/tmp/peers/{round}-inside"), &format!("/tmp/peers/{round}-host")])?;
    }
    host.set("/tmp/peers", propagation_of("/tmp/peers")?);

    let mut child = clone_child(lab.isolate(CloneFlags::CLONE_NEWNS), |chan| {
        let mut seen = Facts::new().with("/tmp/peers", propagation_of("/tmp/peers")?);
        // 1. Our copy of /tmp/peers is in the host's peer group.
        seen.set("sees_shared-host", mount_then_look(chan, "shared")?);
        // 2. A slave receives mounts from its master's group and sends none back.
        mount(None::<&str>, "/tmp/peers", None::<&str>, MsFlags::MS_SLAVE, None::<&str>)
            .context("mount(MS_SLAVE) on /tmp/peers")?;
        seen.set("/tmp/peers_after_ms_slave", propagation_of("/tmp/peers")?);
        seen.set("sees_slave-host", mount_then_look(chan, "slave")?);
        // 3. What a runtime does first: the whole tree private (runc: a slave).
        let private = MsFlags::MS_REC | MsFlags::MS_PRIVATE;
        mount(None::<&str>, "/", None::<&str>, private, None::<&str>)
            .context("mount(MS_REC|MS_PRIVATE) on /")?;
        seen.set("/tmp/peers_after_ms_rec_private", propagation_of("/tmp/peers")?);
        seen.set("sees_private-host", mount_then_look(chan, "private")?);
        chan.send(&seen)?;
        chan.wait_go()
    })?;
    // The host's half of each round: look for the child's mount, then mount its own.
    for round in ROUNDS {
        child.chan.wait_go()?;
        host.set(
            &format!("sees_{round}-inside"),
            is_mounted(&format!("/tmp/peers/{round}-inside"))?,
        );
        mount_tmpfs(&format!("nslab-{round}"), &format!("/tmp/peers/{round}-host"))?;
        child.chan.go()?;
    }
    let inside: Facts = child.chan.recv()?;
    lab.hold(
        child.pid,
        &[
            format!("grep nslab /proc/{}/mountinfo", child.pid),
            format!("grep nslab /proc/{}/mountinfo   # the scratch host", getpid()),
            "findmnt -o TARGET,PROPAGATION /   # the machine's /: shared under systemd".into(),
        ],
    );
    child.chan.go()?;
    child.wait_success()?;

    let group = host.text("/tmp/peers").unwrap_or_default();
    let verdict = Verdict::check(
        group.starts_with("shared:")
            // Shared: the same peer group on both sides; mounts cross both ways.
            && inside.text("/tmp/peers") == Some(group)
            && yes(&host, "sees_shared-inside")
            && yes(&inside, "sees_shared-host")
            // Slave of that group: mounts cross from the host to the child only.
            && inside.text("/tmp/peers_after_ms_slave") == Some(&group.replace("shared:", "master:"))
            && yes(&inside, "sees_slave-host")
            && !yes(&host, "sees_slave-inside")
            // Private: nothing crosses.
            && inside.text("/tmp/peers_after_ms_rec_private") == Some("private")
            && !yes(&inside, "sees_private-host")
            && !yes(&host, "sees_private-inside"),
    );
    Ok(Observed::new(verdict, host, inside))
}

const ROUNDS: [&str; 3] = ["shared", "slave", "private"];

/// The child's half of one round: mount a tmpfs on /tmp/peers/ROUND-inside,
/// let the host look for it and mount its own on /tmp/peers/ROUND-host, then
/// say whether the host's mount arrived here.
fn mount_then_look(chan: &mut Channel, round: &str) -> Result<bool> {
    mount_tmpfs(&format!("nslab-{round}"), &format!("/tmp/peers/{round}-inside"))?;
    chan.go()?;
    chan.wait_go()?;
    is_mounted(&format!("/tmp/peers/{round}-host"))
}
// ANCHOR_END: propagation

// ANCHOR: bind_volume
fn bind_volume(lab: &Lab) -> Result<Observed> {
    let mut host = scratch_host()?;
    // The host directory to share, and the container's two mount points for it.
    mkdirs(&["/tmp/volume", "/tmp/box/data", "/tmp/box/data-ro"])?;
    fs::write("/tmp/volume/from-host.txt", "written on the host").context("write from-host.txt")?;

    let mut child = clone_child(lab.isolate(CloneFlags::CLONE_NEWNS), |chan| {
        // docker run -v /tmp/volume:/tmp/box/data
        mount(Some("/tmp/volume"), "/tmp/box/data", None::<&str>, MsFlags::MS_BIND, None::<&str>)
            .context("bind mount /tmp/volume on /tmp/box/data")?;
        let mut seen = Facts::new()
            .with("bind", "/tmp/volume -> /tmp/box/data")
            .with("reads_data/from-host.txt", read_or_errno("/tmp/box/data/from-host.txt"))
            .with(
                "write_data/from-inside.txt",
                io_ok_or_errno(&fs::write("/tmp/box/data/from-inside.txt", "written inside")),
            );
        // docker run -v /tmp/volume:/tmp/box/data-ro:ro takes two calls: a
        // bind ignores MS_RDONLY, so the bind is remounted read-only after.
        mount(
            Some("/tmp/volume"),
            "/tmp/box/data-ro",
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .context("bind mount /tmp/volume on /tmp/box/data-ro")?;
        let ro = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
        mount(None::<&str>, "/tmp/box/data-ro", None::<&str>, ro, None::<&str>)
            .context("mount(MS_BIND|MS_REMOUNT|MS_RDONLY) on /tmp/box/data-ro")?;
        seen.set("ro_bind", "/tmp/volume -> /tmp/box/data-ro, remounted MS_RDONLY");
        seen.set(
            "write_data-ro/try.txt",
            io_ok_or_errno(&fs::write("/tmp/box/data-ro/try.txt", "refused")),
        );
        chan.go()?; // the host reads and writes now
        chan.wait_go()?;
        seen.set("reads_data-ro/later.txt", read_or_errno("/tmp/box/data-ro/later.txt"));
        chan.send(&seen)?;
        chan.wait_go()
    })?;
    child.chan.wait_go()?;
    host.set("volume", "/tmp/volume");
    host.set("reads_from-inside.txt", read_or_errno("/tmp/volume/from-inside.txt"));
    let later = fs::write("/tmp/volume/later.txt", "written on the host later");
    host.set("write_later.txt", io_ok_or_errno(&later));
    child.chan.go()?;
    let inside: Facts = child.chan.recv()?;
    lab.hold(
        child.pid,
        &[
            lab.nsenter(child.pid, "-m findmnt -R /tmp"),
            lab.nsenter(child.pid, "-m touch /tmp/box/data-ro/x   # Read-only file system"),
        ],
    );
    child.chan.go()?;
    child.wait_success()?;

    let verdict = Verdict::check(
        inside.text("reads_data/from-host.txt") == Some("written on the host")
            && host.text("reads_from-inside.txt") == Some("written inside")
            && inside.text("write_data-ro/try.txt") == Some("EROFS")
            && host.text("write_later.txt") == Some("ok")
            && inside.text("reads_data-ro/later.txt") == Some("written on the host later"),
    );
    Ok(Observed::new(verdict, host, inside))
}
// ANCHOR_END: bind_volume

// ANCHOR: chroot_escape
const MARKER: &str = "/tmp/host-marker.txt";

fn chroot_escape(lab: &Lab) -> Result<Observed> {
    let mut host = scratch_host()?;
    fs::write(MARKER, "the host's marker").context("write the marker")?;
    mkdirs(&["/tmp/jail/etc"])?;
    host.set("marker", MARKER);
    let host_mnt_ns = ns::link(None, "mnt")?;

    let mut child = clone_child(lab.isolate(CloneFlags::CLONE_NEWNS), |chan| {
        let own_mnt_ns = ns::link(None, "mnt")? != host_mnt_ns;
        chroot("/tmp/jail").context("chroot(/tmp/jail)")?;
        chdir("/").context("chdir(/)")?;
        let mut seen = Facts::new()
            .with("own_mount_namespace", own_mnt_ns)
            .with("chroot", "/tmp/jail")
            .with("root_lists", list_dir("/")?)
            .with("reads_marker_in_jail", read_or_errno(MARKER));
        escape_chroot()?;
        seen.set("reads_marker_after_escape", read_or_errno(MARKER));
        chan.send(&seen)
    })?;
    let inside: Facts = child.chan.recv()?;
    child.wait_success()?;

    let verdict = Verdict::check(
        inside.text("reads_marker_in_jail") == Some("ENOENT")
            && inside.text("reads_marker_after_escape") == Some("the host's marker"),
    );
    Ok(Observed::new(verdict, host, inside))
}

/// The classic escape (it needs CAP_SYS_CHROOT): chroot() into a
/// subdirectory without entering it. The working directory is now outside
/// the root, so ".." is never stopped at the root: walk up (at most 64
/// levels; the top's ".." is itself) and make wherever that ends the root.
fn escape_chroot() -> Result<()> {
    mkdirs(&["/escape"])?;
    chroot("/escape").context("chroot(/escape)")?;
    for _ in 0..64 {
        chdir("..").context("chdir(..)")?;
    }
    chroot(".").context("chroot(.)")
}
// ANCHOR_END: chroot_escape

// ANCHOR: pivot_root_new_root
fn pivot_root_new_root(lab: &Lab) -> Result<Observed> {
    let mut host = scratch_host()?;
    fs::write(MARKER, "the host's marker").context("write the marker")?;
    mkdirs(&["/tmp/rootfs"])?;
    host.set("marker", MARKER);

    let mut child = clone_child(lab.isolate(CloneFlags::CLONE_NEWNS), |chan| {
        // What a runtime does first (unshare(1) makes / private, runc a slave):
        // private here, so nothing below may propagate anywhere.
        mount(None::<&str>, "/", None::<&str>, MsFlags::MS_REC | MsFlags::MS_PRIVATE, None::<&str>)
            .context("mount(MS_REC|MS_PRIVATE) on /")?;
        // The new root must be a mount point: a tmpfs holding a tiny tree.
        mount_tmpfs("nslab-rootfs", "/tmp/rootfs")?;
        mkdirs(&["/tmp/rootfs/etc", "/tmp/rootfs/old-root"])?;
        fs::write("/tmp/rootfs/etc/os-release", "NAME=\"nslab tiny root\"\n")
            .context("write etc/os-release")?;

        pivot_root("/tmp/rootfs", "/tmp/rootfs/old-root")
            .context("pivot_root(/tmp/rootfs, /tmp/rootfs/old-root)")?;
        chdir("/").context("chdir(/)")?;
        let old_marker = format!("/old-root{MARKER}");
        let mut seen = Facts::new()
            .with("pivot_root", "/tmp/rootfs is /, the old root is /old-root")
            .with("reads_old-root/tmp/host-marker.txt", read_or_errno(&old_marker));
        umount2("/old-root", MntFlags::MNT_DETACH).context("umount2(/old-root, MNT_DETACH)")?;
        seen.set("after_umount2_detach", read_or_errno(&old_marker));
        fs::remove_dir("/old-root").context("rmdir /old-root")?;
        seen.set("root_lists", list_dir("/")?);
        seen.set("reads_/etc/os-release", read_or_errno("/etc/os-release"));
        seen.set("reads_marker", read_or_errno(MARKER));
        escape_chroot()?;
        seen.set("reads_marker_after_chroot_escape", read_or_errno(MARKER));
        chan.send(&seen)?;
        chan.wait_go()
    })?;
    let inside: Facts = child.chan.recv()?;
    host.set("reads_marker_after_child_pivot", read_or_errno(MARKER));
    lab.hold(
        child.pid,
        &[format!("ls /proc/{}/root/", child.pid), format!("cat /proc/{}/mountinfo", child.pid)],
    );
    child.chan.go()?;
    child.wait_success()?;

    let verdict = Verdict::check(
        inside.text("reads_old-root/tmp/host-marker.txt") == Some("the host's marker")
            && inside.text("after_umount2_detach") == Some("ENOENT")
            && inside.text("reads_marker") == Some("ENOENT")
            && inside.text("reads_marker_after_chroot_escape") == Some("ENOENT")
            && host.text("reads_marker_after_child_pivot") == Some("the host's marker"),
    );
    Ok(Observed::new(verdict, host, inside))
}
// ANCHOR_END: pivot_root_new_root

// ANCHOR: pivot_root_refused
fn pivot_root_refused(lab: &Lab) -> Result<Observed> {
    let host = scratch_host()?;
    mkdirs(&["/tmp/plain/old", "/tmp/rootfs"])?;

    let mut child = clone_child(lab.isolate(CloneFlags::CLONE_NEWNS), |chan| {
        // 1. A plain directory is not a mount point.
        let plain = pivot_root("/tmp/plain", "/tmp/plain/old");
        // 2. A mount point, but its parent mount (/tmp) is shared.
        mount_tmpfs("nslab-rootfs", "/tmp/rootfs")?;
        mkdirs(&["/tmp/rootfs/old"])?;
        mount(None::<&str>, "/tmp", None::<&str>, MsFlags::MS_SHARED, None::<&str>)
            .context("mount(MS_SHARED) on /tmp")?;
        let shared_tmp = propagation_of("/tmp")?;
        let with_shared_parent = pivot_root("/tmp/rootfs", "/tmp/rootfs/old");
        // 3. The runtime's first step, and the same call again.
        mount(None::<&str>, "/", None::<&str>, MsFlags::MS_REC | MsFlags::MS_PRIVATE, None::<&str>)
            .context("mount(MS_REC|MS_PRIVATE) on /")?;
        let private_tmp = propagation_of("/tmp")?;
        let with_private_parent = pivot_root("/tmp/rootfs", "/tmp/rootfs/old");
        chan.send(
            &Facts::new()
                .with("pivot_root(plain_directory)", ok_or_errno(&plain))
                .with("/tmp_after_ms_shared", shared_tmp)
                .with("pivot_root(tmpfs, parent_shared)", ok_or_errno(&with_shared_parent))
                .with("/tmp_after_ms_rec_private", private_tmp)
                .with("pivot_root(tmpfs, parent_private)", ok_or_errno(&with_private_parent)),
        )
    })?;
    let inside: Facts = child.chan.recv()?;
    child.wait_success()?;

    let verdict = Verdict::check(
        inside.text("pivot_root(plain_directory)") == Some("EINVAL")
            && inside.text("pivot_root(tmpfs, parent_shared)") == Some("EINVAL")
            && inside.text("pivot_root(tmpfs, parent_private)") == Some("ok"),
    );
    Ok(Observed::new(verdict, host, inside))
}
// ANCHOR_END: pivot_root_refused

// ANCHOR: kept_alive_by_mount
fn kept_alive_by_mount(lab: &Lab) -> Result<Observed> {
    let mut host = scratch_host()?;
    mkdirs(&["/tmp/data"])?;
    let keeper = "/tmp/mnt-keeper";
    fs::write(keeper, "").with_context(|| format!("create {keeper}"))?;

    let mut container = clone_child(lab.isolate(CloneFlags::CLONE_NEWNS), |chan| {
        mount_tmpfs("nslab-kept", "/tmp/data")?;
        fs::write("/tmp/data/note.txt", "still here").context("write note.txt")?;
        chan.send(&ns::link(None, "mnt")?)?;
        chan.wait_go()
    })?;
    let container_mnt: String = container.chan.recv()?;
    // The same call `ip netns add` makes: bind the namespace file onto a path.
    let source = format!("/proc/{}/ns/mnt", container.pid);
    let bind = mount(Some(source.as_str()), keeper, None::<&str>, MsFlags::MS_BIND, None::<&str>);
    container.chan.go()?;
    container.wait_success()?; // the namespace's only process has exited
    let processes_left = ns::processes_in("mnt", &container_mnt);
    let through_file = format!("--mount=/proc/{}/root{keeper} findmnt -R /tmp", getpid());
    lab.pause(
        &format!("no process is left in the namespace; only the mount on {keeper} holds it."),
        &[lab.nsenter(getpid(), &through_file)],
    );

    let visit = enter_and_look(keeper);
    if bind.is_ok() {
        umount2(keeper, MntFlags::MNT_DETACH).with_context(|| format!("umount {keeper}"))?;
    }
    let after_umount = match enter_and_look(keeper) {
        Ok(_) => "ok".to_owned(),
        Err(e) => e.root_cause().to_string(),
    };

    host.set("bind_mount", format!("{source} -> {keeper}"));
    host.set("bind_mount_result", ok_or_errno(&bind));
    host.set("processes_left_in_namespace", processes_left);
    host.set("setns_after_umount", &after_umount);
    let mut inside = Facts::new().with("container_mnt_ns", &container_mnt);
    match visit {
        Ok(seen) => inside.extend(seen),
        Err(e) => inside.set("setns_through_file", e.root_cause().to_string()),
    }
    let verdict = Verdict::check(
        bind.is_ok()
            && processes_left == 0
            && inside.text("mnt_ns_entered_through_file") == Some(container_mnt.as_str())
            && yes(&inside, "mountinfo_lists_/tmp/data")
            && inside.text("reads_/tmp/data/note.txt") == Some("still here")
            && after_umount == "EINVAL",
    );
    Ok(Observed::new(verdict, host, inside))
}

/// A new process enters the mount namespace named by the file `path` and
/// looks at its mount table. setns(CLONE_NEWNS) also moves the caller's root
/// and working directory to the namespace's root: the old ones belong to
/// another mount tree.
fn enter_and_look(path: &str) -> Result<Facts> {
    let mut visitor = fork_child(|chan| {
        let file = fs::File::open(path).with_context(|| format!("open {path}"))?;
        setns(&file, CloneFlags::CLONE_NEWNS).map_err(|errno| anyhow::anyhow!("{errno:?}"))?;
        chan.send(
            &Facts::new()
                .with("mnt_ns_entered_through_file", ns::link(None, "mnt")?)
                .with("mountinfo_lists_/tmp/data", is_mounted("/tmp/data")?)
                .with("reads_/tmp/data/note.txt", read_or_errno("/tmp/data/note.txt")),
        )
    })?;
    let seen = visitor.chan.recv();
    let _ = visitor.wait();
    seen
}

// ANCHOR_END: kept_alive_by_mount
