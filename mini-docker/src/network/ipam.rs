//! IP address management: which container gets which address.
//!
//! One file per address in use, in the state root: `lease-10.89.0.2`,
//! holding the container's ID. A lease is taken by *linking* the
//! container's own `<state>/lease` under that name: `link(2)` refuses an
//! existing name (EEXIST), so the kernel makes the check and the creation
//! one step, and of two `run`s racing for the same address exactly one
//! succeeds and the other tries the next. No lock, no daemon.
//!
//! Who uses an address is counted by the kernel: each container using it
//! holds a hard link to the lease file in its own state directory
//! (`<state>/lease`), so the file's link count is the number of holders
//! plus one. Usually that is one container; `--net container:NAME` adds a
//! second holder of the same address ([`hold_shared`]). When a holder ends
//! (or the sweep of the next `run` cleans up after a killed one), it drops
//! its link, and the last one removes the lease ([`release`]): an address
//! is never handed out while a network namespace still uses it.
//!
//! It imports only `network/`'s error type.

use std::fmt;
use std::io::Read as _;
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use super::NetworkError;

/// An IPv4 subnet such as `10.89.0.0/24`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subnet {
    pub network: Ipv4Addr,
    pub prefix: u8,
}

impl fmt::Display for Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl FromStr for Subnet {
    type Err = String;
    fn from_str(text: &str) -> Result<Subnet, String> {
        parse_subnet(text)
    }
}

/// `A.B.C.D/P` with P from 16 to 30 (room for a bridge and containers,
/// and at most 65534 lease files to try).
pub fn parse_subnet(text: &str) -> Result<Subnet, String> {
    let bad = || format!("{text:?} is not a subnet: use e.g. 10.89.0.0/24 (prefix 16 to 30)");
    let (ip, prefix) = text.split_once('/').ok_or_else(bad)?;
    let ip: Ipv4Addr = ip.parse().map_err(|_| bad())?;
    let prefix: u8 = prefix.parse().map_err(|_| bad())?;
    if !(16..=30).contains(&prefix) {
        return Err(bad());
    }
    let mask = u32::MAX << (32 - prefix);
    Ok(Subnet { network: Ipv4Addr::from(u32::from(ip) & mask), prefix })
}

impl Subnet {
    fn host(&self, n: u32) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network) + n)
    }

    /// Whether this subnet and `ip/prefix` share any address: both
    /// networks are equal under the shorter of the two masks.
    pub fn overlaps(&self, ip: Ipv4Addr, prefix: u8) -> bool {
        let shorter = self.prefix.min(prefix).min(32);
        let mask = u32::MAX.checked_shl(32 - u32::from(shorter)).unwrap_or(0);
        u32::from(self.network) & mask == u32::from(ip) & mask
    }

    /// The first address: the bridge's, the containers' gateway.
    pub fn gateway(&self) -> Ipv4Addr {
        self.host(1)
    }

    /// The addresses containers may get: after the gateway, before the
    /// broadcast address.
    fn hosts(&self) -> impl Iterator<Item = Ipv4Addr> + '_ {
        let size = 1u32 << (32 - self.prefix);
        (2..size - 1).map(|n| self.host(n))
    }
}

/// A holder's link to its lease, in its state directory.
const HELD: &str = "lease";

/// Takes the first free address of `subnet` for the container whose state
/// directory is `state_dir`, and holds it.
///
/// The holder's link is made first, holding the container's ID, and the
/// lease is that file linked under the address's name: `link(2)` fails
/// with EEXIST when the name exists, so, like `O_EXCL`, it takes a free
/// address in one step; and a lease is never seen without its ID or its
/// holder (a lease made empty and filled after could be swept, or taken
/// twice, while its maker stalls).
// ANCHOR: lease
pub fn lease(
    root: &Path,
    subnet: &Subnet,
    state_dir: &Path,
) -> Result<(Ipv4Addr, PathBuf), NetworkError> {
    std::fs::create_dir_all(root).map_err(super::io("creating", root))?;
    let id = state_dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let held = state_dir.join(HELD);
    std::fs::write(&held, id).map_err(super::io("writing", &held))?;
    for address in subnet.hosts() {
        let path = root.join(format!("lease-{address}"));
        match std::fs::hard_link(&held, &path) {
            Ok(()) => return Ok((address, path)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                let _ = std::fs::remove_file(&held);
                return Err(super::io("linking", &path)(e));
            }
        }
    }
    let _ = std::fs::remove_file(&held);
    Err(NetworkError::Exhausted(subnet.to_string()))
}
// ANCHOR_END: lease

/// Makes the container of `state_dir` one more holder of another
/// container's `lease` (a hard link to it in the state directory), under
/// the lease's lock and only while someone still holds it: a lease being
/// freed (or freed and taken again by a new container) must not gain a
/// holder. [`NetworkError::Ended`] when it has none left.
pub fn hold_shared(lease: &Path, state_dir: &Path) -> Result<(), NetworkError> {
    let file = lock(lease).ok_or(NetworkError::Ended)?;
    let (Ok(locked), Ok(name)) = (file.metadata(), std::fs::metadata(lease)) else {
        return Err(NetworkError::Ended);
    };
    if (locked.dev(), locked.ino()) != (name.dev(), name.ino()) || locked.nlink() < 2 {
        return Err(NetworkError::Ended);
    }
    std::fs::hard_link(lease, state_dir.join(HELD)).map_err(super::io("linking", lease))
}

/// The container of `state_dir` lets go of `lease`; the last holder frees
/// the address. Safe to call twice, and from the sweep.
// ANCHOR: release
pub fn release(lease: &Path, state_dir: &Path) {
    let held = state_dir.join(HELD);
    let Ok(mine) = std::fs::metadata(&held) else { return };
    let Some(file) = lock(lease) else {
        let _ = std::fs::remove_file(&held); // freed already (or by hand)
        return;
    };
    let _ = std::fs::remove_file(&held);
    let same = |m: &std::fs::Metadata| (m.dev(), m.ino()) == (mine.dev(), mine.ino());
    if file.metadata().is_ok_and(|m| same(&m)) {
        remove_if_unheld(lease, &file);
    }
}

/// Opens `lease` and waits for its flock(2). Every removal of a lease
/// happens under this lock, after [`remove_if_unheld`] has checked, so two
/// removers (two holders ending at once, a holder and the sweep) cannot
/// both act on one file: without it, a late removal could unlink the
/// *next* container's lease of the same address.
fn lock(lease: &Path) -> Option<std::fs::File> {
    let file = std::fs::File::open(lease).ok()?;
    // SAFETY: flock on a descriptor we own; released when `file` closes.
    while unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
        if nix::errno::Errno::last() != nix::errno::Errno::EINTR {
            return None;
        }
    }
    Some(file)
}

/// Under the lease's lock: removes its name if the name still is this
/// file (not freed and taken again meanwhile) and the name is its only
/// link (no container holds it). A new lease of the address can only be
/// created once the name is gone, so it needs no lock.
fn remove_if_unheld(lease: &Path, locked: &std::fs::File) {
    let (Ok(file), Ok(name)) = (locked.metadata(), std::fs::metadata(lease)) else { return };
    if (file.dev(), file.ino()) == (name.dev(), name.ino()) && file.nlink() == 1 {
        let _ = std::fs::remove_file(lease);
    }
}
// ANCHOR_END: release

/// Leases nobody holds whose container has no state directory any more
/// (deleted by hand, or its holder link lost some other way): their
/// addresses would be taken forever.
pub fn sweep(root: &Path) {
    let Ok(entries) = std::fs::read_dir(root) else { return };
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path();
        if !entry.file_name().to_str().is_some_and(|n| n.starts_with("lease-")) {
            continue;
        }
        let Some(mut file) = lock(&path) else { continue };
        let mut id = String::new();
        let _ = file.read_to_string(&mut id);
        if !id.is_empty() && !id.contains('/') && !root.join(&id).exists() {
            remove_if_unheld(&path, &file);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A container's state directory under `root`, made if missing.
    fn state_dir(root: &Path, id: &str) -> PathBuf {
        let dir = root.join(id);
        std::fs::create_dir_all(&dir).expect("state dir");
        dir
    }

    #[test]
    fn overlapping_subnets() {
        let s = parse_subnet("10.89.0.0/24").expect("valid");
        let ip = |text: &str| text.parse::<Ipv4Addr>().expect("ip");
        assert!(s.overlaps(ip("10.89.0.200"), 24), "inside");
        assert!(s.overlaps(ip("10.0.0.1"), 8), "a wider network around it");
        assert!(s.overlaps(ip("10.89.0.77"), 32), "one address inside");
        assert!(!s.overlaps(ip("10.89.1.1"), 24), "the next /24");
        assert!(!s.overlaps(ip("127.0.0.1"), 8));
        assert!(s.overlaps(ip("192.168.1.1"), 0), "a default-route-sized network");
    }

    #[test]
    fn subnets() {
        let s = parse_subnet("10.89.0.7/24").expect("valid");
        assert_eq!(s.to_string(), "10.89.0.0/24");
        assert_eq!(s.gateway(), Ipv4Addr::new(10, 89, 0, 1));
        assert_eq!(s.hosts().next(), Some(Ipv4Addr::new(10, 89, 0, 2)));
        assert_eq!(s.hosts().last(), Some(Ipv4Addr::new(10, 89, 0, 254)));
        for bad in ["10.89.0.0", "10.89.0.0/8", "10.89.0.0/31", "x/24", "10.89.0.0/x"] {
            assert!(parse_subnet(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn leases_are_exclusive_held_and_released() {
        let root = std::env::temp_dir().join(format!("md-ipam-{}", std::process::id()));
        let state = |id: &str| state_dir(&root, id);
        let subnet = parse_subnet("10.1.0.0/30").expect("valid"); // one host: .2
        let (a, path) = lease(&root, &subnet, &state("aaa")).expect("first");
        assert_eq!(a, Ipv4Addr::new(10, 1, 0, 2));
        assert_eq!(std::fs::read_to_string(&path).expect("lease"), "aaa");
        assert!(matches!(lease(&root, &subnet, &state("bbb")), Err(NetworkError::Exhausted(_))));
        release(&path, &state("bbb")); // not a holder: nothing happens
        assert!(path.exists());
        // --net container:aaa: ccc holds the address too, and it stays
        // taken until both have let go.
        hold_shared(&path, &state("ccc")).expect("hold");
        release(&path, &state("aaa"));
        assert!(path.exists(), "ccc still uses the address");
        assert!(matches!(lease(&root, &subnet, &state("ddd")), Err(NetworkError::Exhausted(_))));
        release(&path, &state("ccc"));
        release(&path, &state("ccc")); // twice is harmless
        assert!(!path.exists());
        // A lease nobody holds any more gains no holder.
        let (_, again) = lease(&root, &subnet, &state("eee")).expect("eee");
        std::fs::remove_file(root.join("eee").join(HELD)).expect("eee lets go by hand");
        assert!(hold_shared(&again, &state("fff")).is_err(), "an unheld lease is not shared");
        std::fs::remove_file(&again).expect("rm");
        assert_eq!(lease(&root, &subnet, &state("ddd")).expect("free again").0, a);
        // ddd's state directory goes without a release (deleted by hand):
        // the sweep frees the lease.
        std::fs::remove_dir_all(state("ddd")).expect("rm");
        sweep(&root);
        assert!(!path.exists(), "an orphan lease is swept");
        let _ = std::fs::remove_dir_all(&root);
    }

    /// The race the lock and the name check close: a sweep that found an
    /// unheld lease waits while its last holder removes it and the address
    /// is leased again; it must not remove the new lease.
    #[test]
    fn a_late_sweep_spares_the_next_lease() {
        let root = std::env::temp_dir().join(format!("md-ipam-race-{}", std::process::id()));
        let state = |id: &str| state_dir(&root, id);
        let subnet = parse_subnet("10.1.0.0/30").expect("valid");
        let (_, path) = lease(&root, &subnet, &state("aaa")).expect("aaa's lease");
        // aaa is in the middle of its release: its link gone, the lock held.
        let held = lock(&path).expect("lock");
        std::fs::remove_dir_all(root.join("aaa")).expect("rm");
        let sweeper = {
            let root = root.clone();
            std::thread::spawn(move || sweep(&root)) // waits for the lock
        };
        std::thread::sleep(std::time::Duration::from_millis(50));
        remove_if_unheld(&path, &held);
        lease(&root, &subnet, &state("bbb")).expect("the address again, for bbb");
        drop(held);
        sweeper.join().expect("sweep");
        assert_eq!(std::fs::read_to_string(&path).expect("bbb's lease"), "bbb");
        let _ = std::fs::remove_dir_all(&root);
    }
}
