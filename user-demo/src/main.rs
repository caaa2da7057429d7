//! # user-demo: user namespaces
//!
//! The article (section 二.6) says a process can be root (UID 0) inside a
//! container while it is an ordinary user on the host, and that container and
//! host IDs are mapped onto each other. These experiments take every step of
//! that by hand, as an unprivileged user: create a user namespace
//! (`clone(CLONE_NEWUSER)`), write the child's `setgroups`, `uid_map` and
//! `gid_map` from the parent side as rootless runtimes do, then look at what
//! UID 0 inside may and may not do to the host, and which namespaces it may
//! create.
//!
//! Unlike the other demos, lab does not enter a user namespace for this one:
//! those steps are the lesson. Started as root, every experiment first forks a
//! process that drops to UID and GID 65534 (`nobody`), because user namespaces
//! are what let a user who is *not* root do these things; only
//! `remap-to-range` keeps root, to write the wide map Docker's `userns-remap`
//! writes.
//!
//! Read: man 7 user_namespaces, man 7 capabilities, man 2 ioctl_ns,
//! man 2 setgroups, man 5 proc (`/proc/PID/uid_map`, `CapEff`).
//!
//! Run: `cargo run -p user-demo` (as root or not), `--list`, `--only NAME`,
//! `--control` (the same steps without `CLONE_NEWUSER`), `--hold`, `--json`.
//!
//! Safety: `sethostname()` in the host's UTS namespace is only ever tried by
//! a process that holds no capability there (checked first), so it fails; the
//! machine's hostname never changes. Scratch files live in fresh directories
//! under /tmp that are removed when the experiment ends, on error too.

use std::fs::{self, File};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use lab::unprivileged::{
    as_unprivileged, capeff, full_capability_set, nsenter_user, wait_go_while_held,
};
use lab::{Experiment, Facts, Lab, Observed, Verdict, clone_child, fork_child, ns, ok_or_errno};
use nix::errno::Errno;
use nix::mount::{MsFlags, mount};
use nix::sched::{CloneFlags, unshare};
use nix::sys::prctl;
use nix::sys::signal::{Signal, kill};
use nix::unistd::{
    Gid, Pid, Uid, chown, fchown, getegid, geteuid, getgid, gethostname, getpid, getuid, mkdtemp,
    setgid, setgroups, sethostname, setuid,
};

const EXPERIMENTS: &[Experiment] = &[
    Experiment {
        name: "root-inside",
        title: "An unprivileged user is UID 0, with every capability, inside its own user namespace",
        claims: &["USR-1"],
        isolation: true,
        explanation: "An ordinary user called clone(CLONE_NEWUSER); the parent then mapped the \
            child's UID 0 to its own UID by writing /proc/PID/uid_map (and gid_map). Inside, \
            getuid() is 0 and CapEff holds every capability; outside, the same user has none. The \
            capabilities are real but apply only to what this user namespace owns (man 7 \
            user_namespaces, man 7 capabilities): the next experiments show where they stop.",
        run: root_inside,
    },
    Experiment {
        name: "unmapped-is-overflow",
        title: "Before a map is written every ID shows as the overflow ID 65534; after it, only mapped ones have a name",
        claims: &["USR-2"],
        isolation: true,
        explanation: "A new user namespace starts with empty uid_map and gid_map: no ID has a \
            name inside, so the kernel shows the overflow IDs (/proc/sys/kernel/overflowuid, \
            65534) for the process itself and for every file. Once the parent writes '0 <its \
            UID> 1', getuid() inside becomes 0, yet / still belongs to 65534: host root is not \
            in the map and never will be.",
        run: unmapped_is_overflow,
    },
    Experiment {
        name: "map-write-rules",
        title: "An unprivileged parent must deny setgroups before gid_map, and each map is written once",
        claims: &["USR-2"],
        isolation: true,
        explanation: "Without CAP_SETGID in the parent namespace, gid_map may only be written \
            after 'deny' was written to setgroups; otherwise the write fails with EPERM. The \
            rule exists because root inside could otherwise call setgroups() to drop a group \
            that a file's permissions deny ('rw----r--'), and gain access on the host. A map \
            can be written only once: the second write fails with EPERM, so the ID translation \
            cannot change under a running process. Inside, setgroups() now fails too.",
        run: map_write_rules,
    },
    Experiment {
        name: "files-owned-by-caller",
        title: "A file that root inside creates in a shared directory belongs to the mapped host UID",
        claims: &["USR-3"],
        isolation: true,
        explanation: "The kernel stores files with host IDs. Root inside created a file in a \
            directory both sides see; inside, stat() translates the owner back through the map \
            and shows 0, while the host sees the UID that 0 is mapped to: the unprivileged user \
            who made the namespace. Root inside is that user, renamed.",
        run: files_owned_by_caller,
    },
    Experiment {
        name: "root-only-file-refused",
        title: "UID 0 inside cannot read a host file only root may read: EACCES",
        claims: &["USR-3"],
        isolation: true,
        explanation: "Inside, the process is UID 0 and holds CAP_DAC_OVERRIDE, yet open() fails \
            with EACCES. Such a capability overrides a file's permissions only if the file's \
            owner and group are both mapped into the process's user namespace (man 7 \
            user_namespaces, 'Operation of file-related capabilities'). Host root is not \
            mapped, the file even shows as owned by 65534, so the ordinary permission check \
            runs for the host UID that 0 is mapped to, and fails.",
        run: root_only_file_refused,
    },
    Experiment {
        name: "hostname-owned-uts-only",
        title: "Root inside cannot rename the host, but can rename a UTS namespace its user namespace owns",
        claims: &["USR-3", "NEST-2"],
        isolation: true,
        explanation: "Every namespace is owned by the user namespace its creator was in. The \
            host's UTS namespace belongs to the host's user namespace, where this process holds \
            no capability, so sethostname() fails with EPERM. After unshare(CLONE_NEWUTS) the \
            new UTS namespace belongs to our user namespace, where we hold CAP_SYS_ADMIN, so \
            sethostname() succeeds there and nowhere else (man 7 user_namespaces).",
        run: hostname_owned_uts_only,
    },
    Experiment {
        name: "creates-other-namespaces",
        title: "Inside its user namespace an unprivileged user creates UTS, mount, network and PID namespaces it owns",
        claims: &["USR-4", "NEST-2"],
        isolation: true,
        explanation: "Creating any namespace but a user namespace needs CAP_SYS_ADMIN, which an \
            ordinary user has only inside a user namespace of its own: that is how rootless \
            containers start. ioctl(NS_GET_USERNS) on each new namespace returns its owning \
            user namespace, the same inode as our /proc/self/ns/user; ioctl(NS_GET_PARENT) on \
            that user namespace, asked from the host, returns the host's: user namespaces nest, \
            and own everything made inside them (man 2 ioctl_ns).",
        run: creates_other_namespaces,
    },
    Experiment {
        name: "remap-to-range",
        title: "Root maps container root to a range of unprivileged host IDs, as Docker's userns-remap does",
        claims: &["USR-2", "USR-3"],
        isolation: true,
        explanation: "Root holds CAP_SETUID and CAP_SETGID in the parent namespace, so it may \
            write a map of many IDs, '0 100000 65536', without denying setgroups. The child \
            still had its creator's IDs, host root, which this map leaves out: it saw itself as \
            65534 until it called setuid(0), as runc does after the maps are written. Then \
            container UID 0 is host UID 100000 and container UID 1000 is host UID 101000: files \
            made inside land on the host owned by IDs no real user has. dockerd does this with \
            --userns-remap, taking the range from /etc/subuid and /etc/subgid.",
        run: remap_to_range,
    },
];

fn main() -> std::process::ExitCode {
    lab::main(&lab::Demo {
        name: "user-demo",
        about: "User namespaces: root inside, an ordinary user outside",
        man: "user_namespaces",
        experiments: EXPERIMENTS,
        makes_own_user_namespaces: true,
    })
}

// ANCHOR: helpers
/// Writes one of a child's `/proc/PID/` files from outside, in one write(),
/// as the kernel requires for the maps.
fn write_proc(child: Pid, file: &str, text: &str) -> nix::Result<()> {
    fs::write(format!("/proc/{child}/{file}"), text).map_err(errno)
}

/// What a rootless runtime writes after clone(CLONE_NEWUSER), from the
/// parent side: deny setgroups, then map the child's 0 to our own UID and
/// GID, one ID each (the only map an unprivileged writer may write).
fn map_root_to_me(child: Pid) -> nix::Result<()> {
    write_proc(child, "setgroups", "deny")?;
    write_proc(child, "uid_map", &format!("0 {} 1", geteuid()))?;
    write_proc(child, "gid_map", &format!("0 {} 1", getegid()))
}

/// A map file's lines with the kernel's padding squeezed: `0 65534 1`.
fn map_lines(pid: Option<Pid>, file: &str) -> Result<String> {
    let dir = pid.map_or("/proc/self".to_owned(), |pid| format!("/proc/{pid}"));
    let path = format!("{dir}/{file}");
    let text = fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    let lines: Vec<String> =
        text.lines().map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ")).collect();
    Ok(if lines.is_empty() { "(empty)".into() } else { lines.join("; ") })
}

/// A fresh directory under /tmp (mkdtemp), removed with all it holds when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Result<Scratch> {
        let tmp = std::env::temp_dir();
        sweep_killed_runs(&tmp);
        let template = tmp.join(format!("nslab-user.{}.XXXXXX", getpid()));
        Ok(Scratch(mkdtemp(&template).context("mkdtemp")?))
    }
}

/// A run stopped with Ctrl-C during --hold is killed before it can remove
/// its directory: remove the directories whose creator no longer exists.
fn sweep_killed_runs(tmp: &Path) {
    let Ok(entries) = fs::read_dir(tmp) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let creator = name.strip_prefix("nslab-user.").and_then(|rest| rest.split('.').next());
        let Some(pid) = creator.and_then(|pid| pid.parse().ok()) else { continue };
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir()); // never a symlink
        if is_dir && kill(Pid::from_raw(pid), None) == Err(Errno::ESRCH) {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// The errno of a failed file operation, for facts (`EACCES`).
fn errno(e: std::io::Error) -> Errno {
    Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))
}
// ANCHOR_END: helpers

// ANCHOR: root_inside
fn root_inside(lab: &Lab) -> Result<Observed> {
    as_unprivileged(lab, || {
        let mut child = clone_child(lab.isolate(CloneFlags::CLONE_NEWUSER), |chan| {
            chan.wait_go()?; // until the parent has written our ID maps
            chan.send(
                &Facts::new()
                    .with("getuid", getuid().as_raw())
                    .with("getgid", getgid().as_raw())
                    .with("CapEff", ns::status_field(None, "CapEff")?)
                    .with("user_ns", ns::link(None, "user")?),
            )?;
            wait_go_while_held(chan)
        })?;
        let mapped = map_root_to_me(child.pid);
        child.chan.go()?;
        let inside: Facts = child.chan.recv()?;
        lab.hold(
            child.pid,
            &[
                format!("cat /proc/{0}/uid_map /proc/{0}/gid_map", child.pid),
                format!("grep CapEff /proc/{}/status", child.pid),
                nsenter_user(lab, child.pid, "id"),
            ],
        );
        child.chan.go()?;
        child.wait_success()?;

        let host = Facts::new()
            .with("getuid", getuid().as_raw())
            .with("getgid", getgid().as_raw())
            .with("CapEff", ns::status_field(None, "CapEff")?)
            .with("user_ns", ns::link(None, "user")?)
            .with("map_root_to_me(child)", ok_or_errno(&mapped));
        let all = format!("{:016x}", full_capability_set()?);
        let verdict = Verdict::check(
            inside.int("getuid") == Some(0)
                && inside.text("CapEff") == Some(all.as_str())
                && !getuid().is_root()
                && capeff()? == 0
                && inside.get("user_ns") != host.get("user_ns"),
        );
        Ok(Observed::new(verdict, host, inside))
    })
}
// ANCHOR_END: root_inside

// ANCHOR: unmapped_is_overflow
fn unmapped_is_overflow(lab: &Lab) -> Result<Observed> {
    as_unprivileged(lab, || {
        let mut child = clone_child(lab.isolate(CloneFlags::CLONE_NEWUSER), |chan| {
            chan.send(&ids_seen_from_here("before_map_")?)?; // nothing is mapped yet
            wait_go_while_held(chan)?; // now the parent has mapped our 0 to its UID
            chan.send(&ids_seen_from_here("after_map_")?)
        })?;
        let mut inside: Facts = child.chan.recv()?;
        lab.hold(
            child.pid,
            &[
                format!("cat /proc/{}/uid_map   # empty: nothing is mapped yet", child.pid),
                format!("grep -E '^[UG]id' /proc/{}/status", child.pid),
            ],
        );
        let mapped = map_root_to_me(child.pid);
        child.chan.go()?;
        inside.extend(child.chan.recv()?);
        child.wait_success()?;

        let overflowuid = fs::read_to_string("/proc/sys/kernel/overflowuid")
            .context("reading /proc/sys/kernel/overflowuid")?;
        let overflow: i64 = overflowuid.trim().parse().context("parsing overflowuid")?;
        let host = Facts::new()
            .with("overflowuid", overflow)
            .with("owner_of_root_dir", fs::metadata("/").context("stat /")?.uid())
            .with("map_root_to_me(child)", ok_or_errno(&mapped));
        let verdict = Verdict::check(
            inside.text("before_map_uid_map") == Some("(empty)")
                && inside.int("before_map_getuid") == Some(overflow)
                && inside.int("before_map_owner_of_root_dir") == Some(overflow)
                && inside.int("after_map_getuid") == Some(0)
                && inside.int("after_map_owner_of_root_dir") == Some(overflow),
        );
        Ok(Observed::new(verdict, host, inside))
    })
}

/// Our IDs, our uid_map, and the owner of `/` (host root), seen from here.
fn ids_seen_from_here(prefix: &str) -> Result<Facts> {
    Ok(Facts::new()
        .with(&format!("{prefix}getuid"), getuid().as_raw())
        .with(&format!("{prefix}getgid"), getgid().as_raw())
        .with(&format!("{prefix}uid_map"), map_lines(None, "uid_map")?)
        .with(&format!("{prefix}owner_of_root_dir"), fs::metadata("/").context("stat /")?.uid()))
}
// ANCHOR_END: unmapped_is_overflow

// ANCHOR: map_write_rules
fn map_write_rules(lab: &Lab) -> Result<Observed> {
    as_unprivileged(lab, || {
        let mut child = clone_child(lab.isolate(CloneFlags::CLONE_NEWUSER), |chan| {
            chan.wait_go()?; // the parent writes our maps, by the rules
            chan.send(
                &Facts::new()
                    .with("getuid", getuid().as_raw())
                    .with("getgid", getgid().as_raw())
                    .with("setgroups([0])", ok_or_errno(&setgroups(&[Gid::from_raw(0)]))),
            )
        })?;
        let pid = child.pid;
        let uid_line = format!("0 {} 1", geteuid());
        let gid_line = format!("0 {} 1", getegid());
        // Each step, in order, with what the kernel answered.
        let host = Facts::new()
            .with("write_gid_map_first", ok_or_errno(&write_proc(pid, "gid_map", &gid_line)))
            .with("write_setgroups_deny", ok_or_errno(&write_proc(pid, "setgroups", "deny")))
            .with("write_gid_map", ok_or_errno(&write_proc(pid, "gid_map", &gid_line)))
            .with("write_uid_map", ok_or_errno(&write_proc(pid, "uid_map", &uid_line)))
            .with("write_uid_map_again", ok_or_errno(&write_proc(pid, "uid_map", &uid_line)))
            .with("uid_map", map_lines(Some(pid), "uid_map")?)
            .with("gid_map", map_lines(Some(pid), "gid_map")?)
            .with(
                "setgroups",
                fs::read_to_string(format!("/proc/{pid}/setgroups"))
                    .context("reading setgroups")?
                    .trim(),
            );
        child.chan.go()?;
        let inside: Facts = child.chan.recv()?;
        child.wait_success()?;

        let answered = |key: &str| host.text(key).unwrap_or_default().to_owned();
        let verdict = Verdict::check(
            answered("write_gid_map_first") == "EPERM"
                && answered("write_setgroups_deny") == "ok"
                && answered("write_gid_map") == "ok"
                && answered("write_uid_map") == "ok"
                && answered("write_uid_map_again") == "EPERM"
                && inside.int("getuid") == Some(0)
                && inside.int("getgid") == Some(0),
        );
        Ok(Observed::new(verdict, host, inside))
    })
}
// ANCHOR_END: map_write_rules

// ANCHOR: files_owned_by_caller
fn files_owned_by_caller(lab: &Lab) -> Result<Observed> {
    as_unprivileged(lab, || {
        // A directory of ours; the child shares our mount namespace, so it sees it too.
        let shared = Scratch::new()?;
        let file = shared.0.join("made-inside");
        let mut child = clone_child(lab.isolate(CloneFlags::CLONE_NEWUSER), |chan| {
            chan.wait_go()?; // mapped
            let made = File::create(&file).context("create a file inside")?;
            let seen = made.metadata().context("fstat")?;
            chan.send(
                &Facts::new()
                    .with("getuid", getuid().as_raw())
                    .with("file_owner", seen.uid())
                    .with("file_group", seen.gid()),
            )?;
            wait_go_while_held(chan)
        })?;
        let mapped = map_root_to_me(child.pid);
        child.chan.go()?;
        let inside: Facts = child.chan.recv()?;
        lab.hold(
            child.pid,
            &[
                format!("ls -ln {}   # on the host", file.display()),
                nsenter_user(lab, child.pid, &format!("ls -ln {}", file.display())),
            ],
        );
        child.chan.go()?;
        child.wait_success()?;

        let seen = fs::metadata(&file).context("stat the file from the host")?;
        let host = Facts::new()
            .with("getuid", getuid().as_raw())
            .with("map_root_to_me(child)", ok_or_errno(&mapped))
            .with("file_owner", seen.uid())
            .with("file_group", seen.gid());
        let verdict = Verdict::check(
            inside.int("getuid") == Some(0)
                && inside.int("file_owner") == Some(0)
                && seen.uid() == getuid().as_raw()
                && !getuid().is_root(),
        );
        Ok(Observed::new(verdict, host, inside))
    })
}
// ANCHOR_END: files_owned_by_caller

// ANCHOR: root_only_file_refused
fn root_only_file_refused(lab: &Lab) -> Result<Observed> {
    // Root makes its own secret: a 0600 file of root's in a directory anyone
    // may enter. An ordinary user borrows /etc/shadow (root:shadow, 0640).
    let scratch;
    let (secret, described) = if geteuid().is_root() {
        scratch = Scratch::new()?;
        fs::set_permissions(&scratch.0, fs::Permissions::from_mode(0o755)).context("chmod 755")?;
        let secret = scratch.0.join("root-only");
        fs::write(&secret, "only root may read this\n").context("write the root-only file")?;
        fs::set_permissions(&secret, fs::Permissions::from_mode(0o600)).context("chmod 600")?;
        (secret, "a 0600 file of root's, made for this run")
    } else {
        let shadow = PathBuf::from("/etc/shadow");
        match File::open(&shadow) {
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {}
            Err(e) => {
                return Ok(Observed::skip(format!("no root-only file to try: /etc/shadow: {e}")));
            }
            Ok(_) => return Ok(Observed::skip("this user may read /etc/shadow: nothing to show")),
        }
        (shadow, "/etc/shadow")
    };
    as_unprivileged(lab, || {
        let mut child = clone_child(lab.isolate(CloneFlags::CLONE_NEWUSER), |chan| {
            chan.wait_go()?; // mapped
            chan.send(
                &Facts::new()
                    .with("getuid", getuid().as_raw())
                    .with("CapEff", ns::status_field(None, "CapEff")?)
                    .with("file_owner", fs::metadata(&secret).context("stat")?.uid())
                    .with("open(file)", ok_or_errno(&File::open(&secret).map_err(errno))),
            )
        })?;
        let mapped = map_root_to_me(child.pid);
        child.chan.go()?;
        let inside: Facts = child.chan.recv()?;
        child.wait_success()?;

        let host = Facts::new()
            .with("file", described)
            .with("file_owner", fs::metadata(&secret).context("stat")?.uid())
            .with("getuid", getuid().as_raw())
            .with("map_root_to_me(child)", ok_or_errno(&mapped))
            .with("open(file)", ok_or_errno(&File::open(&secret).map_err(errno)));
        let verdict = Verdict::check(
            inside.int("getuid") == Some(0)
                && inside.text("open(file)") == Some("EACCES")
                && host.text("open(file)") == Some("EACCES"),
        );
        Ok(Observed::new(verdict, host, inside))
    })
}
// ANCHOR_END: root_only_file_refused

// ANCHOR: hostname_owned_uts_only
fn hostname_owned_uts_only(lab: &Lab) -> Result<Observed> {
    as_unprivileged(lab, || {
        let hostname_before = gethostname().context("gethostname")?;
        let mut child = clone_child(lab.isolate(CloneFlags::CLONE_NEWUSER), |chan| {
            chan.wait_go()?; // mapped
            // Still in the host's UTS namespace: this call must fail.
            refuse_if_privileged_on_host()?;
            let host_uts = sethostname("nslab-user");
            // A UTS namespace of our own, owned by our user namespace.
            let own_uts = unshare(CloneFlags::CLONE_NEWUTS);
            let in_own_uts = match own_uts {
                Ok(()) => ok_or_errno(&sethostname("nslab-user")),
                Err(_) => "not tried: no UTS namespace of our own".into(),
            };
            chan.send(
                &Facts::new()
                    .with("getuid", getuid().as_raw())
                    .with("sethostname(host_uts)", ok_or_errno(&host_uts))
                    .with("unshare(CLONE_NEWUTS)", ok_or_errno(&own_uts))
                    .with("sethostname(own_uts)", in_own_uts)
                    .with("hostname_now", gethostname()?.to_string_lossy()),
            )?;
            wait_go_while_held(chan)
        })?;
        let mapped = map_root_to_me(child.pid);
        child.chan.go()?;
        let inside: Facts = child.chan.recv()?;
        lab.hold(
            child.pid,
            &[nsenter_user(lab, child.pid, "-u hostname"), "hostname   # on the host".into()],
        );
        child.chan.go()?;
        child.wait_success()?;

        let hostname_after = gethostname().context("gethostname")?;
        let host = Facts::new()
            .with("map_root_to_me(child)", ok_or_errno(&mapped))
            .with("hostname_before", hostname_before.to_string_lossy())
            .with("hostname_after", hostname_after.to_string_lossy());
        let verdict = Verdict::check(
            inside.int("getuid") == Some(0)
                && inside.text("sethostname(host_uts)") == Some("EPERM")
                && inside.text("sethostname(own_uts)") == Some("ok")
                && inside.text("hostname_now") == Some("nslab-user")
                && hostname_after == hostname_before,
        );
        Ok(Observed::new(verdict, host, inside))
    })
}

/// Belt and braces: never call sethostname() on the host's UTS namespace
/// with CAP_SYS_ADMIN in the host's user namespace, whose uid_map is the
/// identity map of all 2^32 IDs.
fn refuse_if_privileged_on_host() -> Result<()> {
    const CAP_SYS_ADMIN: u32 = 21;
    let in_host_user_ns = map_lines(None, "uid_map")? == "0 0 4294967295";
    if in_host_user_ns && capeff()? & (1 << CAP_SYS_ADMIN) != 0 {
        bail!("refusing to try sethostname() with CAP_SYS_ADMIN on the host");
    }
    Ok(())
}
// ANCHOR_END: hostname_owned_uts_only

// ANCHOR: creates_other_namespaces
// ioctl_ns(2): both return a new fd for a user namespace.
// NS_GET_USERNS: the user namespace that owns the namespace of `fd`.
nix::ioctl_none!(ns_get_userns, 0xb7, 0x1);
// NS_GET_PARENT: the parent of the (user or PID) namespace of `fd`.
nix::ioctl_none!(ns_get_parent, 0xb7, 0x2);

fn creates_other_namespaces(lab: &Lab) -> Result<Observed> {
    as_unprivileged(lab, || {
        let mut child = clone_child(lab.isolate(CloneFlags::CLONE_NEWUSER), |chan| {
            chan.wait_go()?; // mapped
            let others = CloneFlags::CLONE_NEWUTS
                | CloneFlags::CLONE_NEWNS
                | CloneFlags::CLONE_NEWNET
                | CloneFlags::CLONE_NEWPID;
            let created = unshare(others);
            let mut facts = Facts::new()
                .with("user_ns", ns::link(None, "user")?)
                .with("unshare(UTS|NS|NET|PID)", ok_or_errno(&created));
            if created.is_ok() {
                // Use two of them: a mount (made private first, so nothing
                // propagates anywhere) and the PID namespace's first process.
                let private = MsFlags::MS_REC | MsFlags::MS_PRIVATE;
                mount(None::<&str>, "/", None::<&str>, private, None::<&str>)
                    .context("mount(MS_REC|MS_PRIVATE) on /")?;
                let tmpfs =
                    mount(Some("nslab"), "/mnt", Some("tmpfs"), MsFlags::empty(), None::<&str>);
                facts.set("mount(tmpfs on /mnt)", ok_or_errno(&tmpfs));
            }
            // pid_for_children names a PID namespace only once it has a process.
            let mut first = fork_child(|c| {
                c.send(&getpid().as_raw())?;
                c.wait_go()
            })?;
            facts.set("getpid_of_first_child", first.chan.recv::<i32>()?);
            for kind in ["uts", "mnt", "net", "pid_for_children"] {
                let owner = owner_of(&format!("/proc/self/ns/{kind}"), ns_get_userns);
                facts.set(&format!("NS_GET_USERNS({kind})"), owner);
            }
            first.chan.go()?;
            first.wait_success()?;
            chan.send(&facts)?;
            wait_go_while_held(chan)
        })?;
        let mapped = map_root_to_me(child.pid);
        child.chan.go()?;
        let inside: Facts = child.chan.recv()?;
        // From the host, one level up: whose child is the child's user namespace?
        let child_user = format!("/proc/{}/ns/user", child.pid);
        let parent = owner_of(&child_user, ns_get_parent);
        lab.hold(
            child.pid,
            &[
                format!("lsns -p {}", child.pid),
                nsenter_user(lab, child.pid, "-n ip link   # only lo"),
                nsenter_user(lab, child.pid, "-m findmnt /mnt"),
            ],
        );
        child.chan.go()?;
        child.wait_success()?;

        let host = Facts::new()
            .with("user_ns", ns::link(None, "user")?)
            .with("map_root_to_me(child)", ok_or_errno(&mapped))
            .with("NS_GET_USERNS(own uts)", owner_of("/proc/self/ns/uts", ns_get_userns))
            .with("NS_GET_PARENT(child user_ns)", &parent);
        let child_user_ns = inside.text("user_ns").unwrap_or_default();
        let all_owned = ["uts", "mnt", "net", "pid_for_children"]
            .iter()
            .all(|kind| inside.text(&format!("NS_GET_USERNS({kind})")) == Some(child_user_ns));
        let verdict = Verdict::check(
            inside.text("unshare(UTS|NS|NET|PID)") == Some("ok")
                && inside.text("mount(tmpfs on /mnt)") == Some("ok")
                && inside.int("getpid_of_first_child") == Some(1)
                && all_owned
                && child_user_ns != host.text("user_ns").unwrap_or_default()
                && Some(parent.as_str()) == host.text("user_ns"),
        );
        Ok(Observed::new(verdict, host, inside))
    })
}

/// Opens the namespace file `path`, asks the kernel for a related user
/// namespace with `request`, and names it as /proc/PID/ns/user would:
/// `user:[inode]`, the inode of the fd the ioctl returned (ioctl_ns(2)).
/// A failure is a fact too: its errno's name (`EPERM`).
fn owner_of(path: &str, request: unsafe fn(libc::c_int) -> nix::Result<libc::c_int>) -> String {
    let ask = || -> nix::Result<u64> {
        let ns_file = File::open(path).map_err(errno)?;
        // SAFETY: the fd stays open during the call; the request takes no argument.
        let fd = unsafe { request(ns_file.as_raw_fd()) }?;
        // SAFETY: the kernel just returned this new fd; nobody else owns it.
        let user_ns = File::from(unsafe { OwnedFd::from_raw_fd(fd) });
        Ok(user_ns.metadata().map_err(errno)?.ino())
    };
    match ask() {
        Ok(inode) => format!("user:[{inode}]"),
        Err(errno) => format!("{errno:?}"),
    }
}
// ANCHOR_END: creates_other_namespaces

// ANCHOR: remap_to_range
fn remap_to_range(lab: &Lab) -> Result<Observed> {
    if !geteuid().is_root() {
        return Ok(Observed::skip(
            "needs root: an unprivileged writer may map only its own UID (newuidmap aside)",
        ));
    }
    const BASE: u32 = 100_000; // host UID of container root
    // The directory container root writes to must be its own: dockerd too
    // chowns its userns-remap data root to the remapped root.
    let shared = Scratch::new()?;
    chown(&shared.0, Some(Uid::from_raw(BASE)), Some(Gid::from_raw(BASE)))
        .context("chown the scratch directory to 100000:100000")?;
    let dir = &shared.0;
    let mut child = clone_child(lab.isolate(CloneFlags::CLONE_NEWUSER), |chan| {
        chan.wait_go()?; // mapped
        // We still hold the IDs of our creator, host root, which this map
        // leaves out: inside, we are the overflow UID. Become the namespace's
        // root, as runc does after writing the maps (setgroups is still
        // allowed: the writer was privileged).
        let uid_before = getuid().as_raw();
        setgroups(&[]).context("setgroups([])")?;
        setgid(Gid::from_raw(0)).context("setgid(0)")?;
        setuid(Uid::from_raw(0)).context("setuid(0)")?;
        prctl::set_pdeathsig(Signal::SIGKILL).context("prctl(PR_SET_PDEATHSIG)")?; // reset by setuid
        let by_root = File::create(dir.join("made-by-root")).context("create made-by-root")?;
        let by_user = File::create(dir.join("made-by-1000")).context("create made-by-1000")?;
        // Root inside may give a file to any mapped ID.
        fchown(&by_user, Some(Uid::from_raw(1000)), Some(Gid::from_raw(1000)))
            .context("fchown(1000, 1000)")?;
        chan.send(
            &Facts::new()
                .with("getuid_before_setuid(0)", uid_before)
                .with("getuid", getuid().as_raw())
                .with("owner_of_made_by_root", by_root.metadata()?.uid())
                .with("owner_of_made_by_1000", by_user.metadata()?.uid()),
        )?;
        wait_go_while_held(chan)
    })?;
    // Root writes a range: container IDs 0..65536 are host IDs 100000..165536.
    // It holds CAP_SETUID/CAP_SETGID above the child, so setgroups stays "allow".
    let range = format!("0 {BASE} 65536");
    let uid_map = write_proc(child.pid, "uid_map", &range);
    let gid_map = write_proc(child.pid, "gid_map", &range);
    child.chan.go()?;
    let inside: Facts = child.chan.recv()?;
    lab.hold(
        child.pid,
        &[format!("ls -ln {}   # on the host", dir.display()), nsenter_user(lab, child.pid, "id")],
    );
    let host = Facts::new()
        .with("write_uid_map", ok_or_errno(&uid_map))
        .with("write_gid_map", ok_or_errno(&gid_map))
        .with("uid_map", map_lines(Some(child.pid), "uid_map")?)
        .with(
            "setgroups",
            fs::read_to_string(format!("/proc/{}/setgroups", child.pid))
                .context("reading setgroups")?
                .trim(),
        )
        .with("owner_of_made_by_root", owner(&dir.join("made-by-root"))?)
        .with("owner_of_made_by_1000", owner(&dir.join("made-by-1000"))?);
    child.chan.go()?;
    child.wait_success()?;

    let verdict = Verdict::check(
        inside.int("getuid") == Some(0)
            && inside.int("owner_of_made_by_root") == Some(0)
            && inside.int("owner_of_made_by_1000") == Some(1000)
            && host.int("owner_of_made_by_root") == Some(BASE.into())
            && host.int("owner_of_made_by_1000") == Some((BASE + 1000).into()),
    );
    Ok(Observed::new(verdict, host, inside))
}

fn owner(path: &Path) -> Result<u32> {
    Ok(fs::metadata(path).with_context(|| format!("stat {}", path.display()))?.uid())
}
// ANCHOR_END: remap_to_range
