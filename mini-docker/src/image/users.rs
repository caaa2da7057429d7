//! Who `-u alice` is: the image's own `/etc/passwd` and `/etc/group`
//! decide, as under Docker, never the host's (the same name may be
//! another UID there, or no one).
//!
//! The rules, checked against `docker run` (`id`, and `Groups:` in
//! `/proc/self/status`):
//! - `NAME` or `UID`: the passwd entry gives the UID, the primary GID and
//!   HOME; the supplementary groups are every group whose member list
//!   names the user. A UID with no entry is that UID with GID 0 and HOME
//!   `/`; a NAME with no entry is an error (exit 125).
//! - `NAME:GROUP` or `UID:GID`: the group (by name in `/etc/group`, or a
//!   number, known or not) replaces the primary GID, and there are no
//!   supplementary groups.
//! - `:GROUP`: root with that group.
//!
//! The files are read from inside the image's root, with `openat2(2)`'s
//! `RESOLVE_IN_ROOT` (mini-runc's `rootfs/resolve.rs`): an image whose
//! `/etc/passwd` is a symbolic link to `/etc/shadow` reads its own
//! `/etc/shadow`, not the host's. Only regular files are read (a FIFO
//! would block), and only their first [`MOST`] bytes.
//!
//! It imports `image/` (its error type) and mini-runc's `rootfs::resolve`.

use std::io::Read;
use std::os::fd::OwnedFd;
use std::path::Path;

use mini_runc::rootfs::resolve::{fd_path, openat2_in_root};
use nix::errno::Errno;

use crate::image::ImageError;

/// The most of `/etc/passwd` or `/etc/group` read: far more than any real
/// image's, and a bound on what a hostile one makes us hold.
const MOST: u64 = 4 << 20;

/// A user resolved in an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub uid: u32,
    pub gid: u32,
    /// The supplementary groups (an OCI `user.additionalGids`), without
    /// the primary one (the runtime puts that first).
    pub additional_gids: Vec<u32>,
    /// From the passwd entry; `/` without one.
    pub home: String,
}

/// An image's account files, as text (`None`: the image has none).
#[derive(Debug, Clone, Default)]
pub struct Accounts {
    pub passwd: Option<String>,
    pub group: Option<String>,
}

impl Accounts {
    /// Reads `etc/passwd` and `etc/group` inside the root directory `root`.
    pub fn read(root: &Path) -> Result<Accounts, ImageError> {
        let io = |source| ImageError::Io { what: "opening", path: root.to_owned(), source };
        let dir = std::fs::File::open(root).map_err(io)?;
        let dir = OwnedFd::from(dir);
        Ok(Accounts {
            passwd: read_in_root(&dir, root, "etc/passwd")?,
            group: read_in_root(&dir, root, "etc/group")?,
        })
    }

    /// Resolves `spec` (`NAME`, `UID`, `NAME:GROUP`, `UID:GID`, `:GROUP`).
    pub fn resolve(&self, spec: &str) -> Result<User, ImageError> {
        let (user_part, group_part) = match spec.split_once(':') {
            Some((_, g)) if g.contains(':') => return Err(ImageError::BadUser(spec.to_owned())),
            Some((u, g)) => (u, Some(g).filter(|g| !g.is_empty())),
            None => (spec, None),
        };
        // No user named: root (`-u :GROUP`).
        let user_part = if user_part.is_empty() { "0" } else { user_part };
        let number = user_part.parse::<u32>().ok();
        let entry = lines(&self.passwd).find_map(|fields| {
            let entry = Passwd::parse(&fields)?;
            let hit = match number {
                Some(uid) => entry.uid == uid,
                None => entry.name == user_part,
            };
            hit.then_some(entry)
        });
        let (uid, mut gid, home, name) = match (entry, number) {
            (Some(e), _) => (e.uid, e.gid, e.home.to_owned(), Some(e.name)),
            (None, Some(uid)) => (uid, 0, "/".to_owned(), None),
            (None, None) => return Err(ImageError::NoSuchUser(user_part.to_owned())),
        };
        let mut additional_gids = Vec::new();
        match (group_part, name) {
            (Some(group), _) => {
                let number = group.parse::<u32>().ok();
                let found = lines(&self.group).find_map(|fields| {
                    let (gname, gid) = (fields.first()?, fields.get(2)?.parse::<u32>().ok()?);
                    let hit = match number {
                        Some(n) => gid == n,
                        None => *gname == group,
                    };
                    hit.then_some(gid)
                });
                gid = match (found, number) {
                    (Some(g), _) | (None, Some(g)) => g,
                    (None, None) => return Err(ImageError::NoSuchGroup(group.to_owned())),
                };
            }
            (None, Some(name)) => {
                for fields in lines(&self.group) {
                    let members = fields.get(3).copied().unwrap_or("");
                    let Some(g) = fields.get(2).and_then(|g| g.parse::<u32>().ok()) else {
                        continue;
                    };
                    if members.split(',').any(|m| m == name) && g != gid {
                        additional_gids.push(g);
                    }
                }
            }
            (None, None) => {}
        }
        additional_gids.sort_unstable();
        additional_gids.dedup();
        Ok(User { uid, gid, additional_gids, home })
    }
}

/// A passwd line's fields that matter: `name:x:uid:gid:gecos:home:shell`.
struct Passwd<'a> {
    name: &'a str,
    uid: u32,
    gid: u32,
    home: &'a str,
}

impl<'a> Passwd<'a> {
    fn parse(fields: &[&'a str]) -> Option<Passwd<'a>> {
        Some(Passwd {
            name: fields.first()?,
            uid: fields.get(2)?.parse().ok()?,
            gid: fields.get(3)?.parse().ok()?,
            home: fields.get(5).copied().filter(|h| !h.is_empty()).unwrap_or("/"),
        })
    }
}

/// The `:`-separated fields of each line that is not blank or a comment.
fn lines(text: &Option<String>) -> impl Iterator<Item = Vec<&str>> {
    text.as_deref()
        .unwrap_or("")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.split(':').collect())
}

/// The text of the regular file `path` inside `dir` (`shown` names the
/// root in errors); `None` when there is none.
fn read_in_root(dir: &OwnedFd, shown: &Path, path: &str) -> Result<Option<String>, ImageError> {
    let err =
        |source: std::io::Error| ImageError::Io { what: "reading", path: shown.join(path), source };
    let fd = match openat2_in_root(dir, path) {
        Ok(fd) => fd,
        Err(Errno::ENOENT | Errno::ENOTDIR) => return Ok(None),
        Err(errno) => return Err(err(errno.into())),
    };
    // fstat(2) works on the O_PATH descriptor; a FIFO or a device is not
    // an account file (and opening a FIFO would wait for a writer).
    let stat = nix::sys::stat::fstat(&fd).map_err(|e| err(e.into()))?;
    if stat.st_mode & libc::S_IFMT != libc::S_IFREG {
        return Ok(None);
    }
    // Reopening /proc/self/fd/N opens that very inode: no second lookup.
    let file = std::fs::File::open(fd_path(&fd)).map_err(err)?;
    let mut bytes = Vec::new();
    file.take(MOST).read_to_end(&mut bytes).map_err(err)?;
    Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image() -> Accounts {
        Accounts {
            passwd: Some(
                "root:x:0:0:root:/root:/bin/sh\n\
                 alice:x:1000:1000:Alice:/home/alice:/bin/sh\n\
                 bob:x:1001:1001::/home/bob:/bin/sh\n"
                    .to_owned(),
            ),
            group: Some(
                "root:x:0:\nalice:x:1000:\nbob:x:1001:\nstaff:x:50:alice,bob\naudio:x:29:alice\n"
                    .to_owned(),
            ),
        }
    }

    fn user(spec: &str) -> (u32, u32, Vec<u32>, String) {
        let u = image().resolve(spec).unwrap_or_else(|e| panic!("{spec}: {e}"));
        (u.uid, u.gid, u.additional_gids, u.home)
    }

    /// The same answers `docker run -u SPEC` gave for this image.
    #[test]
    fn as_docker_resolves() {
        let home = |h: &str| h.to_owned();
        assert_eq!(user("alice"), (1000, 1000, vec![29, 50], home("/home/alice")));
        assert_eq!(user("1000"), (1000, 1000, vec![29, 50], home("/home/alice")));
        assert_eq!(user("bob"), (1001, 1001, vec![50], home("/home/bob")));
        assert_eq!(user("1234"), (1234, 0, vec![], home("/")));
        assert_eq!(user("1234:50"), (1234, 50, vec![], home("/")));
        assert_eq!(user("alice:audio"), (1000, 29, vec![], home("/home/alice")));
        assert_eq!(user("alice:777"), (1000, 777, vec![], home("/home/alice")));
        assert_eq!(user("root"), (0, 0, vec![], home("/root")));
        assert_eq!(user(":50"), (0, 50, vec![], home("/root")));
        let none = Accounts::default();
        assert_eq!(none.resolve("7").expect("numeric").gid, 0);
    }

    #[test]
    fn unknown_names_are_errors() {
        let e = image().resolve("nosuch").expect_err("no such user").to_string();
        assert!(e.contains("unable to find user \"nosuch\""), "{e}");
        let e = image().resolve("alice:nogroup").expect_err("no such group").to_string();
        assert!(e.contains("unable to find group \"nogroup\""), "{e}");
        assert!(Accounts::default().resolve("alice").is_err());
        assert!(matches!(image().resolve("a:b:c"), Err(ImageError::BadUser(_))));
        assert_eq!(user("alice:"), user("alice"));
    }
}
