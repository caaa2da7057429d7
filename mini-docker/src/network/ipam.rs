//! IP address management: which container gets which address.
//!
//! One file per address in use, in the state root: `lease-10.89.0.2`,
//! holding the container's ID. A lease is taken by *creating* its file with
//! `O_CREAT | O_EXCL` (`File::create_new`): the kernel makes the check and
//! the creation one step, so of two `run`s racing for the same address
//! exactly one succeeds and the other tries the next. No lock, no daemon.
//! The file is removed when the container ends (or by the sweep of the
//! next mini-docker, when one was killed).

use std::fmt;
use std::io::Write as _;
use std::net::Ipv4Addr;
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

/// Takes the first free address of `subnet` for container `id`.
// ANCHOR: lease
pub fn lease(root: &Path, subnet: &Subnet, id: &str) -> Result<(Ipv4Addr, PathBuf), NetworkError> {
    std::fs::create_dir_all(root).map_err(super::io("creating", root))?;
    for address in subnet.hosts() {
        let path = root.join(format!("lease-{address}"));
        match std::fs::File::create_new(&path) {
            Ok(mut file) => {
                file.write_all(id.as_bytes()).map_err(super::io("writing", &path))?;
                return Ok((address, path));
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(super::io("creating", &path)(e)),
        }
    }
    Err(NetworkError::Exhausted(subnet.to_string()))
}
// ANCHOR_END: lease

/// Frees `lease` if it still belongs to the container of `state_dir`.
pub fn release(lease: &Path, state_dir: &Path) {
    let id = state_dir.file_name().map(|n| n.to_string_lossy().into_owned());
    if std::fs::read_to_string(lease).ok() == id {
        let _ = std::fs::remove_file(lease);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn leases_are_exclusive_and_released() {
        let root = std::env::temp_dir().join(format!("md-ipam-{}", std::process::id()));
        let subnet = parse_subnet("10.1.0.0/30").expect("valid"); // one host: .2
        let (a, path) = lease(&root, &subnet, "aaa").expect("first");
        assert_eq!(a, Ipv4Addr::new(10, 1, 0, 2));
        assert!(matches!(lease(&root, &subnet, "bbb"), Err(NetworkError::Exhausted(_))));
        release(&path, &root.join("bbb")); // not its lease: kept
        assert!(path.exists());
        release(&path, &root.join("aaa"));
        assert!(!path.exists());
        let _ = std::fs::remove_dir_all(&root);
    }
}
