//! `--net bridge`: a container on a virtual switch, as Docker's default
//! network is (claims NET-3, NET-4).
//!
//! ```text
//!  host network namespace                     container's network namespace
//!  ───────────────────────                    ─────────────────────────────
//!  minid0 (bridge) 10.89.0.1/24
//!    └─ md1a2b3c4d (veth) ═══════════════════ eth0 10.89.0.2/24
//!                                              default via 10.89.0.1
//!  0.0.0.0:8080 (mini-docker, -p 8080:80) ──▶ 10.89.0.2:80
//! ```
//!
//! In order, every step one netlink request (see the `rtnl` crate; nothing
//! runs `ip`):
//! 1. before `clone` ([`create`]): the bridge `minid0` is made on first use
//!    and given the subnet's first address; the container's address is
//!    leased (see [`ipam`]); `/etc/hosts` and `/etc/resolv.conf` are
//!    written; published ports are bound, so a port in use is an error
//!    before anything runs;
//! 2. in the parent, while the child builds its root filesystem
//!    ([`attach`]): a veth pair is made with its `eth0` end *directly* in
//!    the child's namespace (`IFLA_NET_NS_PID`), the host end plugged
//!    into the bridge and up;
//! 3. in the parent too, right after, inside the child's network
//!    namespace, which it enters for these requests
//!    ([`configure_inside`]): `eth0` up, its address, the default route
//!    via the bridge. The child's command starts only once both are done;
//! 4. once the container runs ([`forward`]): published ports are relayed
//!    by threads of mini-docker itself (see [`publish`]);
//! 5. when it ends ([`remove`]): the lease is freed. The veth pair needs
//!    nothing: the kernel deletes it with the namespace. The bridge stays,
//!    as `docker0` does.
//!
//! Bridge networking needs root: making a bridge and a veth pair in the
//! host's namespace needs CAP_NET_ADMIN there. Rootless containers get a
//! user-mode network stack instead, `--network pasta` (see [`pasta`]),
//! which takes steps 1 (the record, the ports checked), 2 (pasta started
//! for the child, while it waits for "go": pasta joins its namespaces
//! through `/proc/PID/ns/`, which it may open only until the child
//! changes its credentials) and 5 (pasta ended).
//!
//! `network/` owns the bridge, the leases and the published ports, as
//! Docker's engine does (an OCI runtime such as runc knows no network but
//! the namespace it is given). It imports nothing else of mini-docker (the
//! netlink requests are the `rtnl` crate's): it takes an ID, a hostname, a
//! state directory path and a PID. It sits in mini-docker's layer 2 of 2,
//! the engine (see `tests/tests/layers.rs`), and is called only from
//! there: step 1 by `commands/run.rs`, step 5 by `teardown.rs` (for
//! `run`, `rm`, the monitor and the sweep); steps 2 to 4, which fall in
//! the middle of a start, are handed to mini-runc's process model by
//! `commands/run.rs` as hooks in its `Config` (mini-runc knows no
//! network): [`attach`] and [`configure_inside`] run alongside the
//! child's setup (mini-runc's `Hooks::alongside`; pasta's [`attach`] at
//! createRuntime), [`forward`] at poststart. `run`'s `-p` and `--subnet`
//! are parsed in `commands/run.rs` (clap stays there) with
//! [`publish::parse`] and [`ipam::parse_subnet`].

pub mod ipam;
pub mod pasta;
pub mod publish;

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use nix::unistd::{Pid, geteuid};
use thiserror::Error;

use ipam::Subnet;
use publish::Publish;

/// The bridge every `--net bridge` container is plugged into.
pub const BRIDGE: &str = "minid0";

/// The interface name inside the container.
const INSIDE: &str = "eth0";

/// The file in the state directory that says what was made for the
/// container: its lease, its address, its host-side interface, its
/// published ports. One `key value` line each (`publish` once per port);
/// a reader skips the keys it does not know.
const RECORD: &str = "network";

#[derive(Debug, Error)]
pub enum NetworkError {
    #[error("--net bridge needs root (rootless containers have --net none or host)")]
    Rootless,
    #[error("-p/--publish needs --network bridge or pasta")]
    PublishWithoutBridge,
    #[error("--network pasta: {0}")]
    Pasta(String),
    #[error("--subnet {subnet} overlaps {network}, which this host already routes: choose another")]
    SubnetInUse { subnet: String, network: String },
    #[error("the container whose network is shared has ended")]
    Ended,
    #[error("no free address left in {0}")]
    Exhausted(String),
    #[error("cannot publish {spec}: {source}")]
    Bind { spec: String, source: std::io::Error },
    #[error(transparent)]
    Netlink(#[from] rtnl::Error),
    #[error("{what} {path:?}: {source}")]
    Io { what: &'static str, path: PathBuf, source: std::io::Error },
}

fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> NetworkError {
    let path = path.to_owned();
    move |source| NetworkError::Io { what, path, source }
}

/// The networks `network/` makes something for.
#[derive(Debug, Clone)]
pub enum Kind {
    /// `--network bridge`, on this subnet.
    Bridge(Subnet),
    /// `--network pasta` (see [`pasta`]).
    Pasta,
}

/// What a `--network bridge` or `pasta` container gets, decided before
/// anything exists.
#[derive(Debug, Clone)]
pub struct Plan {
    pub kind: Kind,
    pub publish: Vec<Publish>,
}

impl Plan {
    /// `None` when the container is neither on the bridge (`bridge`) nor
    /// on pasta (`pasta`); `subnet` and `publish` are `run`'s `--subnet`
    /// and `-p`.
    pub fn new(
        subnet: Subnet,
        publish: &[Publish],
        bridge: bool,
        pasta: bool,
    ) -> Result<Option<Plan>, NetworkError> {
        let kind = match (bridge, pasta) {
            (true, _) if !geteuid().is_root() => return Err(NetworkError::Rootless),
            (true, _) => Kind::Bridge(subnet),
            (false, true) => Kind::Pasta,
            (false, false) if !publish.is_empty() => {
                return Err(NetworkError::PublishWithoutBridge);
            }
            (false, false) => return Ok(None),
        };
        Ok(Some(Plan { kind, publish: publish.to_vec() }))
    }
}

/// What [`create`] recorded; read back by the parent, the child, the
/// cleanup and `inspect`.
#[derive(Debug, Default)]
pub struct Record {
    pub address: Option<Ipv4Addr>,
    pub prefix: u8,
    pub gateway: Option<Ipv4Addr>,
    pub lease: Option<PathBuf>,
    pub veth: Option<String>,
    pub publish: Vec<Publish>,
    /// `pasta`, for a `--network pasta` container (the runtime records
    /// `none`: a namespace it made and nothing in it).
    pub mode: Option<String>,
    /// The container's pasta: its PID and start time (see [`pasta`]).
    pub pasta: Option<(Pid, u64)>,
}

impl Record {
    /// The record in `state_dir`; all empty when there is none (not on the
    /// bridge, or the container has ended).
    pub fn read(state_dir: &Path) -> Record {
        let text = std::fs::read_to_string(state_dir.join(RECORD)).unwrap_or_default();
        let mut record = Record::default();
        for line in text.lines() {
            match line.split_once(' ') {
                Some(("address", a)) => {
                    let (ip, prefix) = a.split_once('/').unwrap_or((a, "24"));
                    record.address = ip.parse().ok();
                    record.prefix = prefix.parse().unwrap_or(24);
                }
                Some(("gateway", g)) => record.gateway = g.parse().ok(),
                Some(("lease", l)) => record.lease = Some(PathBuf::from(l)),
                Some(("veth", v)) => record.veth = Some(v.to_owned()),
                Some(("publish", p)) => record.publish.extend(publish::parse(p).ok()),
                Some(("mode", m)) => record.mode = Some(m.to_owned()),
                Some(("pasta", p)) => {
                    let mut words = p.split(' ').map(str::parse);
                    if let (Some(Ok(pid)), Some(Ok(started))) = (words.next(), words.next()) {
                        record.pasta = Some((Pid::from_raw(pid as i32), started));
                    }
                }
                _ => {}
            }
        }
        record
    }
}

/// Step 1: bridge, lease, /etc files, published ports. `state_root` holds
/// the leases; `state_dir` is the container's.
// ANCHOR: create
pub fn create(
    id: &str,
    hostname: &str,
    plan: Option<&Plan>,
    state_root: &Path,
    state_dir: &Path,
) -> Result<(), NetworkError> {
    let Some(plan) = plan else { return Ok(()) };
    let subnet = match &plan.kind {
        Kind::Bridge(subnet) => subnet,
        Kind::Pasta => return create_pasta(plan, state_dir),
    };
    let gateway = subnet.gateway();
    ensure_bridge(subnet)?;
    let (address, lease) = ipam::lease(state_root, subnet, state_dir)?;
    let veth = format!("md{}", &id[..id.len().min(10)]);
    let mut text = format!(
        "lease {}\naddress {address}/{}\ngateway {gateway}\nveth {veth}\n",
        lease.display(),
        subnet.prefix
    );
    for p in &plan.publish {
        text += &format!("publish {p}\n");
    }
    let path = state_dir.join(RECORD);
    std::fs::write(&path, text).map_err(io("writing", &path))?;
    write_hosts(state_dir, hostname, address)?;
    write_resolv_conf(state_dir)?;
    publish::bind(&plan.publish, address)
}

/// Step 1 for `--network pasta`: the record (the mode, the published
/// ports) and the resolvers. pasta binds the ports itself, once started;
/// each is tried here first, so that a port in use (or one below 1024,
/// rootless) is refused before anything runs, as on the bridge.
fn create_pasta(plan: &Plan, state_dir: &Path) -> Result<(), NetworkError> {
    let mut text = "mode pasta\n".to_owned();
    for p in &plan.publish {
        text += &format!("publish {p}\n");
    }
    let path = state_dir.join(RECORD);
    std::fs::write(&path, text).map_err(io("writing", &path))?;
    write_resolv_conf(state_dir)?;
    publish::try_bind(&plan.publish)
}

/// Adds `line` to the network record.
fn append_record(state_dir: &Path, line: &str) -> Result<(), NetworkError> {
    use std::io::Write as _;
    let path = state_dir.join(RECORD);
    std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .and_then(|mut f| f.write_all(line.as_bytes()))
        .map_err(io("writing", &path))
}
// ANCHOR_END: create

/// `--net container:NAME`: the container joins `other`'s network namespace,
/// so it uses `other`'s address too, and holds its lease (see [`ipam`]):
/// the address stays taken until both have ended, even if `other` ends
/// first. It records the address (for `inspect`), but no gateway and no
/// veth: there is nothing to make or configure.
pub fn share(other: &Path, state_dir: &Path) -> Result<(), NetworkError> {
    let record = Record::read(other);
    let (Some(lease), Some(address)) = (record.lease, record.address) else { return Ok(()) };
    // The record first: whatever happens next, the cleanup finds the lease.
    let text = format!("lease {}\naddress {address}/{}\n", lease.display(), record.prefix);
    let path = state_dir.join(RECORD);
    std::fs::write(&path, text).map_err(io("writing", &path))?;
    ipam::hold_shared(&lease, state_dir)
}

/// `minid0`, made by the first container that needs it. Two runs may race
/// to make it: EEXIST means the other won, which is just as good.
fn ensure_bridge(subnet: &Subnet) -> Result<(), NetworkError> {
    let exists = |e: &rtnl::Error| e.errno() == Some(nix::errno::Errno::EEXIST);
    // Every run checks its subnet (a later one may ask for another), and
    // before it makes anything: a bridge it made and took away again could
    // be the one another run has just plugged a container into.
    refuse_subnet_in_use(subnet)?;
    if let Err(e) = rtnl::create_bridge_with_address(BRIDGE, bridge_address())
        && !exists(&e)
    {
        return Err(NetworkError::Netlink(e));
    }
    if let Err(e) = rtnl::add_address(BRIDGE, subnet.gateway(), subnet.prefix)
        && !exists(&e)
    {
        return Err(NetworkError::Netlink(e));
    }
    rtnl::set_up(BRIDGE).map_err(NetworkError::Netlink)
}

/// The bridge's own hardware address (see rtnl's
/// `create_bridge_with_address`: one that never changes as containers come
/// and go): random, with the "locally administered" bit set and the
/// "multicast" bit clear, as IEEE 802 reserves such addresses for ones made
/// up on the spot.
fn bridge_address() -> [u8; 6] {
    use std::io::Read as _;
    let mut mac = [0u8; 6];
    let read = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut mac));
    if read.is_err() {
        mac = [0, 0x89, 0, 0, 0, 1];
    }
    mac[0] = (mac[0] & 0xfe) | 0x02;
    mac
}

/// A bridge on a subnet the host already reaches otherwise (a LAN, a VPN)
/// would make that network unreachable from the host: the kernel would
/// route it to the bridge. Docker skips such ranges when it picks
/// docker0's; mini-docker's subnet is given (`--subnet`), so it refuses one
/// that overlaps a route of the host.
fn refuse_subnet_in_use(subnet: &Subnet) -> Result<(), NetworkError> {
    // The host's routes, in every table: a network of its own interfaces
    // ("local" and the subnet's "unicast" route), and one reached through
    // a gateway (a VPN's). Routes through the bridge itself are left out:
    // another run may already have given it its address. The default
    // route (prefix 0) overlaps everything and means nothing here.
    let clash = || -> rtnl::Result<Option<String>> {
        // (No bridge yet: no route of its own to leave out.)
        let bridge = rtnl::index_of(BRIDGE).ok();
        let mut found = None;
        for route in rtnl::ipv4_route_list()? {
            if route.prefix == 0
                || (bridge.is_some() && route.interface == bridge)
                || !subnet.overlaps(route.destination, route.prefix)
            {
                continue;
            }
            let network = format!("{}/{}", route.destination, route.prefix);
            // Name a network rather than a single local address.
            if route.kind == "unicast" {
                return Ok(Some(network));
            }
            found.get_or_insert(network);
        }
        Ok(found)
    };
    match clash().map_err(NetworkError::Netlink)? {
        Some(network) => Err(NetworkError::SubnetInUse { subnet: subnet.to_string(), network }),
        None => Ok(()),
    }
}

/// `/etc/hosts` names the container's address.
fn write_hosts(state_dir: &Path, hostname: &str, address: Ipv4Addr) -> Result<(), NetworkError> {
    let hosts = format!(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n{address}\t{hostname}\n"
    );
    let path = state_dir.join("etc").join("hosts");
    std::fs::write(&path, hosts).map_err(io("writing", &path))
}

/// `/etc/resolv.conf` is the host's, without loopback name servers
/// (127.0.0.53 is the host's own resolver, unreachable from another
/// namespace).
fn write_resolv_conf(state_dir: &Path) -> Result<(), NetworkError> {
    let resolv: String = std::fs::read_to_string("/etc/resolv.conf")
        .unwrap_or_default()
        .lines()
        .filter(|l| !(l.starts_with("nameserver 127.") || l.starts_with("nameserver ::1")))
        .map(|l| format!("{l}\n"))
        .collect();
    let path = state_dir.join("etc").join("resolv.conf");
    std::fs::write(&path, resolv).map_err(io("writing", &path))
}

/// Step 2, in the parent while the child sets up: the veth pair, born
/// with its `eth0` end in the child's namespace, the host end on the
/// bridge. (For pasta, at createRuntime: pasta started for the child.)
// ANCHOR: attach
pub fn attach(state_dir: &Path, pid: Pid) -> Result<(), NetworkError> {
    let record = Record::read(state_dir);
    if record.mode.as_deref() == Some("pasta") {
        return pasta::start(state_dir, &record.publish, pid);
    }
    let Some(veth) = record.veth else { return Ok(()) };
    rtnl::create_veth_into(&veth, INSIDE, pid.as_raw() as u32).map_err(NetworkError::Netlink)?;
    rtnl::set_master(&veth, BRIDGE).map_err(NetworkError::Netlink)?;
    rtnl::set_up(&veth).map_err(NetworkError::Netlink)
}
// ANCHOR_END: attach

/// Step 3, in the parent while the child sets up, from inside the child's
/// network namespace (the caller enters it, see `commands/run.rs`): address
/// and route. Netlink acts on the namespace its socket was made in.
// ANCHOR: configure-inside
pub fn configure_inside(state_dir: &Path) -> Result<(), NetworkError> {
    let record = Record::read(state_dir);
    let (Some(address), Some(gateway)) = (record.address, record.gateway) else { return Ok(()) };
    rtnl::set_up(INSIDE).map_err(NetworkError::Netlink)?;
    rtnl::add_address(INSIDE, address, record.prefix).map_err(NetworkError::Netlink)?;
    rtnl::add_default_route(gateway).map_err(NetworkError::Netlink)
}
// ANCHOR_END: configure-inside

/// Step 4 (poststart), in the parent once the container runs: relays
/// published ports.
pub fn forward() {
    publish::start();
}

/// Step 5: frees the lease, ends pasta. The veth pair is not deleted
/// here: it goes with the container's network namespace, when its last
/// process has ended (network_namespaces(7)); a `RTM_DELLINK` would make
/// mini-docker wait for RCU grace periods.
/// Safe to call more than once, and from the sweep of a later run.
pub fn remove(state_dir: &Path) {
    let record = Record::read(state_dir);
    // Before the record goes: it names another mini-docker's pasta.
    pasta::stop(record.pasta);
    if let Some(lease) = &record.lease {
        ipam::release(lease, state_dir);
    }
    let _ = std::fs::remove_file(state_dir.join(RECORD));
}
