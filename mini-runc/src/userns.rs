//! A user namespace's ID maps (user_namespaces(7)): which IDs outside
//! stand for which IDs inside, and who may write them.
//!
//! A process in a new user namespace runs as the overflow ID (65534) until
//! its `uid_map` and `gid_map` are written, once each, by a process with
//! the right over the IDs named:
//! - root (CAP_SETUID/CAP_SETGID outside) may map any host IDs: as root,
//!   `--userns auto` maps a whole range;
//! - an unprivileged user may map only its own UID and GID, one line of
//!   size 1, and only after writing `deny` to `setgroups` (else dropping a
//!   group by `setgroups` could unlock a file whose mode denies that
//!   group): the single-ID map;
//! - more than that, rootless, goes through `newuidmap(1)` and
//!   `newgidmap(1)` (Debian's `uidmap` package): setuid-root helpers that
//!   write the maps for a process of the caller's, once they checked each
//!   range against the caller's *subordinate* IDs in `/etc/subuid` and
//!   `/etc/subgid` (subuid(5), subgid(5): `NAME-OR-UID:FIRST:COUNT`).
//!   Podman, rootless Docker, runc and crun do the same.
//!
//! Rootless with a range, the map is podman's: the caller is the
//! container's root (0 -> caller), and container IDs 1..=COUNT are the
//! range. An image whose files have several owners, or that runs as a user
//! other than root, then works as it does as root. Without the helpers or
//! a range the map stays the caller's own ID, and [`rootless_map`] says so
//! in one line, with the fix.
//!
//! Files owned by a mapped ID are written by a process *inside* such a
//! namespace ([`Mapped`]): the engine unpacks a rootless image's layers
//! there, so that a file of UID 1000 in the image is owned on disk by the
//! host ID that UID 1000 inside stands for; and the runtime removes trees
//! holding such files there ([`crate::rootfs::remove_tree`]), where the
//! namespace's root may, and the plain user may not.
//!
//! Kernel-facing: it imports only `error.rs`.

use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use nix::errno::Errno;
use nix::sched::{CloneFlags, unshare};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork, getegid, geteuid, pipe2};

use crate::error::ContainerError;

/// A container's ID mapping when it has a user namespace: container IDs
/// `0..count` are host IDs `host_uid..` and `host_gid..`, and more ranges
/// may follow (`more_uids`, `more_gids`: a bundle's, or rootless a
/// subordinate range).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdMap {
    pub host_uid: u32,
    pub host_gid: u32,
    pub count: u32,
    pub more_uids: Vec<IdRange>,
    pub more_gids: Vec<IdRange>,
}

/// One line of `/proc/PID/uid_map` or `gid_map`: `size` IDs from
/// `container` inside are `host` upwards outside (user_namespaces(7)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdRange {
    pub container: u32,
    pub host: u32,
    pub size: u32,
}

impl IdMap {
    /// One range from container ID 0 (what mini-docker maps as root).
    pub fn range(host_uid: u32, host_gid: u32, count: u32) -> IdMap {
        IdMap { host_uid, host_gid, count, ..IdMap::default() }
    }

    /// Rootless with subordinate IDs: 0 is the caller (`uid`, `gid`),
    /// 1..=N the ranges starting at `sub_uid` and `sub_gid`, N the smaller
    /// of their sizes (a container ID is a user and a group alike).
    pub fn subordinate(uid: u32, gid: u32, sub_uid: (u32, u32), sub_gid: (u32, u32)) -> IdMap {
        let size = sub_uid.1.min(sub_gid.1);
        let more = |host| vec![IdRange { container: 1, host, size }];
        IdMap {
            host_uid: uid,
            host_gid: gid,
            count: 1,
            more_uids: more(sub_uid.0),
            more_gids: more(sub_gid.0),
        }
    }

    /// Only one ID is mapped (rootless): `setgroups` must be denied before
    /// an unprivileged process may write `gid_map` (user_namespaces(7)).
    pub fn single(&self) -> bool {
        self.count == 1 && self.more_uids.is_empty() && self.more_gids.is_empty()
    }

    /// Every range of the UIDs (`gid: false`) or GIDs, the one from
    /// container ID 0 first.
    pub fn ranges(&self, gid: bool) -> Vec<IdRange> {
        let (host, more) =
            if gid { (self.host_gid, &self.more_gids) } else { (self.host_uid, &self.more_uids) };
        let first = IdRange { container: 0, host, size: self.count };
        std::iter::once(first).chain(more.iter().copied()).collect()
    }

    /// The text of `uid_map` (`gid: false`) or `gid_map`: one line per range.
    pub fn lines(&self, gid: bool) -> String {
        self.ranges(gid)
            .iter()
            .map(|r| format!("{} {} {}\n", r.container, r.host, r.size))
            .collect()
    }
}

// ANCHOR: subordinate-range
/// The first range `/etc/subuid`-style `text` gives the user `name` or
/// `uid` (subuid(5): `NAME-OR-UID:FIRST:COUNT`, one per line, lines that
/// do not parse ignored, as shadow's own tools ignore them).
pub fn subordinate_range(text: &str, name: Option<&str>, uid: u32) -> Option<(u32, u32)> {
    let uid = uid.to_string();
    text.lines().find_map(|line| {
        let mut parts = line.trim().split(':');
        let who = parts.next()?;
        if who != uid && Some(who) != name {
            return None;
        }
        let first: u32 = parts.next()?.parse().ok()?;
        let count: u32 = parts.next()?.parse().ok()?;
        (count > 0 && parts.next().is_none()).then_some((first, count))
    })
}
// ANCHOR_END: subordinate-range

/// A setuid helper, found on the PATH as podman finds it (without one,
/// the usual directories; `uidmap` installs them in `/usr/bin`).
fn helper(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    std::env::split_paths(&path).map(|dir| dir.join(program)).find(|p| p.is_file())
}

/// Why the rootless caller gets the single-ID map, or its full map.
fn decide_rootless() -> Result<IdMap, String> {
    let (uid, gid) = (geteuid().as_raw(), getegid().as_raw());
    let user = nix::unistd::User::from_uid(geteuid()).ok().flatten();
    let name = user.as_ref().map(|u| u.name.clone());
    let shown = name.clone().unwrap_or_else(|| format!("uid {uid}"));
    let missing: Vec<&str> =
        ["newuidmap", "newgidmap"].into_iter().filter(|p| helper(p).is_none()).collect();
    if !missing.is_empty() {
        return Err(format!("{} not found (install the uidmap package)", missing.join(" and ")));
    }
    let range = |file: &str| {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        subordinate_range(&text, name.as_deref(), uid)
    };
    match (range("/etc/subuid"), range("/etc/subgid")) {
        (Some(u), Some(g)) => Ok(IdMap::subordinate(uid, gid, u, g)),
        (u, _) => {
            let file = if u.is_none() { "/etc/subuid" } else { "/etc/subgid" };
            Err(format!(
                "no range for user {shown} in {file} (add a line such as \"{}:100000:65536\" to \
                 /etc/subuid and /etc/subgid, see subuid(5))",
                name.as_deref().unwrap_or(&uid.to_string())
            ))
        }
    }
}

// ANCHOR: rootless-map
/// The rootless caller's map: the full one when `newuidmap`/`newgidmap`
/// exist and `/etc/subuid` and `/etc/subgid` give the caller a range,
/// else the caller's own ID only, after one line on stderr saying why.
pub fn rootless_map() -> IdMap {
    decide_rootless().unwrap_or_else(|why| {
        say_err!(
            "{}: notice: only your own ID is mapped in the container (root inside, no other \
             user): {why}",
            crate::error::program()
        );
        IdMap::range(geteuid().as_raw(), getegid().as_raw(), 1)
    })
}
// ANCHOR_END: rootless-map

/// [`rootless_map`]'s full map, or `None`, without a word: for work that
/// only a full map needs (removing files that mapped users own).
pub fn full_rootless_map() -> Option<IdMap> {
    if geteuid().is_root() {
        return None;
    }
    decide_rootless().ok()
}

/// Whether writing `map` needs the setuid helpers: rootless, anything but
/// the caller's own ID.
fn needs_helpers(map: &IdMap) -> bool {
    !geteuid().is_root() && !map.single()
}

// ANCHOR: write-maps
/// Writes the ID maps of `pid`, a process of ours in a new user namespace:
/// as root, or rootless with the single-ID map, into `/proc/PID/uid_map`
/// and `gid_map` (rootless after `setgroups` "deny"); rootless with more,
/// by running `newuidmap PID 0 UID 1 1 FIRST COUNT` and `newgidmap` alike
/// (newuidmap(1)), which check the ranges against /etc/subuid and
/// /etc/subgid and leave `setgroups` allowed.
pub fn write_maps(pid: Pid, map: &IdMap) -> Result<(), ContainerError> {
    if needs_helpers(map) {
        return run_helper("newuidmap", pid, &map.ranges(false))
            .and_then(|()| run_helper("newgidmap", pid, &map.ranges(true)));
    }
    let proc = Path::new("/proc").join(pid.as_raw().to_string());
    let write = |file: &str, text: String| {
        let path = proc.join(file);
        std::fs::write(&path, text).map_err(|source| ContainerError::Io {
            what: "writing",
            path,
            source,
        })
    };
    if map.single() {
        write("setgroups", "deny".to_owned())?;
    }
    write("uid_map", map.lines(false))?;
    write("gid_map", map.lines(true))
}
// ANCHOR_END: write-maps

/// `newuidmap PID CONTAINER HOST SIZE...` (or `newgidmap`), its error
/// output passed on in the error.
fn run_helper(program: &str, pid: Pid, ranges: &[IdRange]) -> Result<(), ContainerError> {
    let Some(path) = helper(program) else {
        return Err(ContainerError::IdHelper {
            program: program.to_owned(),
            why: "not found (install the uidmap package): a map of more than the caller's own \
                  ID needs it rootless"
                .to_owned(),
        });
    };
    let mut cmd = Command::new(&path);
    cmd.arg(pid.as_raw().to_string());
    for r in ranges {
        cmd.args([r.container.to_string(), r.host.to_string(), r.size.to_string()]);
    }
    let failed = |why: String| ContainerError::IdHelper { program: program.to_owned(), why };
    let out = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| failed(e.to_string()))?;
    if !out.status.success() {
        let text = String::from_utf8_lossy(&out.stderr);
        let why = text.lines().next().unwrap_or("failed").trim().to_owned();
        return Err(failed(format!("{why} ({})", out.status)));
    }
    Ok(())
}

// ANCHOR: mapped
/// A child process in a user namespace of its own, mapped by [`IdMap`],
/// running a body as that namespace's root (its capabilities reach every
/// file whose owner and group are mapped). [`Mapped::finish`] waits for
/// it and returns what the body returned.
#[derive(Debug)]
pub struct Mapped {
    pid: Pid,
    result: std::fs::File,
}

impl Mapped {
    /// Forks a child that makes a user namespace (`unshare(CLONE_NEWUSER)`),
    /// waits for this process to write its maps ([`write_maps`]), then runs
    /// `body` and exits, sending back its `Ok` bytes or its `Err` text.
    /// The caller's copy of `body` (and what it owns) is dropped here.
    ///
    /// # Safety
    /// As for `fork`: no other thread of the caller may hold a lock the
    /// child needs (glibc's `fork` leaves its allocator usable in the
    /// child; the body must not need any other lock).
    pub unsafe fn spawn(
        map: &IdMap,
        body: impl FnOnce() -> Result<Vec<u8>, String>,
    ) -> Result<Mapped, ContainerError> {
        let (go_read, go_write) =
            pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(ContainerError::sys("pipe2"))?;
        let (result_read, result_write) =
            pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(ContainerError::sys("pipe2"))?;
        // SAFETY: the caller promised what fork needs; the child ends with
        // `_exit` and never returns into the caller's frames.
        match unsafe { fork() }.map_err(ContainerError::sys("fork"))? {
            ForkResult::Child => {
                drop((go_write, result_read));
                let code = child(go_read, result_write, body);
                // SAFETY: ends the child without running the parent's
                // destructors or atexit handlers.
                unsafe { libc::_exit(code) }
            }
            ForkResult::Parent { child } => {
                drop((go_read, result_write, body));
                let mut mapped = Mapped { pid: child, result: result_read.into() };
                let mut unshared = [0u8; 1];
                let written = match mapped.result.read(&mut unshared) {
                    Ok(1) if unshared[0] == b'u' => write_maps(child, map),
                    _ => Err(ContainerError::Sys {
                        call: "unshare(CLONE_NEWUSER) (a process to write mapped owners)".into(),
                        errno: Errno::EPERM,
                    }),
                };
                if let Err(e) = written {
                    drop(go_write); // the child reads end-of-file and exits
                    let _ = waitpid(child, None);
                    return Err(e);
                }
                let _ = std::fs::File::from(go_write).write_all(b"g");
                Ok(mapped)
            }
        }
    }

    /// Waits for the child; its body's result.
    pub fn finish(mut self) -> Result<Result<Vec<u8>, String>, ContainerError> {
        let mut bytes = Vec::new();
        let read = self.result.read_to_end(&mut bytes);
        let status = waitpid(self.pid, None).map_err(|errno| ContainerError::Sys {
            call: format!("waitpid({})", self.pid),
            errno,
        })?;
        read.map_err(|source| ContainerError::Io {
            what: "reading",
            path: PathBuf::from("the user namespace's result pipe"),
            source,
        })?;
        match (status, bytes.split_first()) {
            (WaitStatus::Exited(_, 0), Some((b'0', rest))) => Ok(Ok(rest.to_vec())),
            (WaitStatus::Exited(_, _), Some((b'1', rest))) => {
                Ok(Err(String::from_utf8_lossy(rest).into_owned()))
            }
            (status, _) => Err(ContainerError::Mapped(format!("{status:?}"))),
        }
    }
}

/// The child's side of [`Mapped::spawn`]: its exit code.
fn child(go: OwnedFd, result: OwnedFd, body: impl FnOnce() -> Result<Vec<u8>, String>) -> i32 {
    let mut result = std::fs::File::from(result);
    if unshare(CloneFlags::CLONE_NEWUSER).is_err() {
        return 1; // the parent reads end-of-file
    }
    // "Unshared": the parent writes the maps now.
    if result.write_all(b"u").is_err() {
        return 1;
    }
    let mut go = std::fs::File::from(go);
    let mut byte = [0u8; 1];
    if !matches!(go.read(&mut byte), Ok(1)) {
        return 1;
    }
    let (mark, bytes) = match body() {
        Ok(bytes) => (b'0', bytes),
        Err(text) => (b'1', text.into_bytes()),
    };
    let sent = result.write_all(&[mark]).and_then(|()| result.write_all(&bytes));
    i32::from(sent.is_err() || mark == b'1')
}
// ANCHOR_END: mapped

/// Whether this process is in a user namespace other than the initial
/// one: its `uid_map` is not the identity over all IDs.
pub fn in_user_namespace() -> bool {
    let map = std::fs::read_to_string("/proc/self/uid_map").unwrap_or_default();
    map.split_whitespace().collect::<Vec<_>>() != ["0", "0", "4294967295"]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_by_name_or_uid() {
        let text = "# comment\nalice:100000:65536\n1000:200000:10\nbad line\nbob:5:0\n";
        assert_eq!(subordinate_range(text, Some("alice"), 7), Some((100_000, 65_536)));
        assert_eq!(subordinate_range(text, Some("carol"), 1000), Some((200_000, 10)));
        assert_eq!(subordinate_range(text, Some("bob"), 2), None, "a range of 0 IDs");
        assert_eq!(subordinate_range(text, None, 65_534), None);
    }

    #[test]
    fn the_rootless_full_map() {
        let map = IdMap::subordinate(65_534, 65_534, (100_000, 65_536), (300_000, 1000));
        assert!(!map.single());
        assert_eq!(map.lines(false), "0 65534 1\n1 100000 1000\n");
        assert_eq!(map.lines(true), "0 65534 1\n1 300000 1000\n");
        assert!(IdMap::range(1000, 1000, 1).single());
    }
}
