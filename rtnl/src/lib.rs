//! rtnetlink, the kernel's interface for network configuration (man 7 rtnetlink).
//!
//! `ip link`, `ip addr` and `ip route` are thin programs around this: they
//! open a `NETLINK_ROUTE` socket, send one request message (`RTM_NEWLINK`,
//! `RTM_NEWADDR`, ...) and read the kernel's answer: an acknowledgement
//! carrying 0 or an errno, or, for a dump request, a series of messages
//! ended by `NLMSG_DONE` (man 7 netlink). The messages are built and parsed
//! by the `netlink-packet-route` crate; this module only sends and receives.
//!
//! This crate is shared by net-demo (which teaches veth pairs and bridges)
//! and mini-docker (which builds its `--net bridge` networks with it).
//!
//! A netlink socket talks to the network namespace its creator was in when
//! it was opened. Every function here therefore opens a fresh socket: it
//! always acts on the caller's *current* network namespace, even after an
//! `unshare` or `setns`.
//!
//! Each request is built by a function of its own (a [`Request`]: the
//! message, its flags, and its name for errors) before it is sent, so the
//! unit tests can compare its bytes with what `ip` sends for the same
//! command (`captured/ip-requests.txt`). Errors are [`Error`]s that keep the
//! kernel's errno, so a caller matches on it (`e.errno() == Some(EEXIST)`).
//! This crate knows nothing of its callers: it imports no other crate of the
//! workspace.

use std::fs::File;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

use netlink_packet_core::{
    NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage,
    NetlinkPayload,
};
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags, LinkInfo, LinkMessage, State,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::protocols::NETLINK_ROUTE;
use netlink_sys::{Socket, SocketAddr};
use nix::errno::Errno;

/// What went wrong, and where: each variant names the request or system call.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The kernel answered the request with an errno (`EEXIST`, `EPERM`, ...).
    #[error("{request}: {errno}")]
    Refused { request: String, errno: Errno },
    /// A system call on the netlink socket failed, while making `request`.
    #[error("{request}: {call}: {source}")]
    Socket { request: String, call: &'static str, source: std::io::Error },
    /// `if_nametoindex(3)` found no interface of that name here.
    #[error("no interface named {name} in this network namespace: {errno}")]
    NoSuchInterface { name: String, errno: Errno },
    /// An interface name cannot hold a NUL byte.
    #[error("an interface name with a NUL byte: {0:?}")]
    BadName(String),
    /// The kernel's answer did not follow the protocol of netlink(7).
    #[error("{request}: {problem}")]
    Protocol { request: String, problem: String },
    /// [`wait_until_running`] gave up.
    #[error("{name} is still not running after {waited:?}")]
    NotRunning { name: String, waited: Duration },
}

impl Error {
    /// The kernel's errno, when the error carries one.
    pub fn errno(&self) -> Option<Errno> {
        match self {
            Error::Refused { errno, .. } | Error::NoSuchInterface { errno, .. } => Some(*errno),
            Error::Socket { source, .. } => source.raw_os_error().map(Errno::from_raw),
            _ => None,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One request: the message, the `NLM_F_*` flags beyond `NLM_F_REQUEST`,
/// and what to call it in an error (`RTM_NEWLINK bridge minid0`).
#[derive(Debug)]
pub struct Request {
    message: RouteNetlinkMessage,
    flags: u16,
    what: String,
}

/// The kernel answers a request during `sendmsg()` itself; this bound only
/// keeps a confused exchange from hanging the demo.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(2);
/// A dump in these small namespaces is a handful of datagrams.
const MAX_DATAGRAMS: usize = 64;

/// One network interface as `RTM_GETLINK` reports it.
#[derive(Debug, Clone)]
pub struct Link {
    pub index: u32,
    pub name: String,
    /// `IFF_UP`: the administrative state `ip link set ... up` changes.
    pub up: bool,
    /// The bridge this interface is a port of (`IFLA_MASTER`).
    pub master: Option<u32>,
    /// `IFLA_OPERSTATE` is `UP`: up, with carrier (for a veth: both ends up),
    /// and the kernel has finished activating it. `ip link` shows `LOWER_UP`.
    pub running: bool,
}

// ANCHOR: create_veth
/// `ip link add NAME type veth peer name PEER`: two interfaces joined like
/// the ends of a cable; a frame sent into one comes out of the other (man 4 veth).
pub fn create_veth(name: &str, peer: &str) -> Result<()> {
    request(new_veth(name, peer, None))
}

/// `RTM_NEWLINK` of kind `veth`: the peer is described by a link message of
/// its own, nested in `IFLA_INFO_DATA` as `VETH_INFO_PEER` (man 4 veth).
fn new_veth(name: &str, peer: &str, netns_pid: Option<u32>) -> Request {
    let mut peer_msg = LinkMessage::default();
    if let Some(pid) = netns_pid {
        peer_msg.attributes.push(LinkAttribute::NetNsPid(pid));
    }
    peer_msg.attributes.push(LinkAttribute::IfName(peer.into()));
    let mut msg = LinkMessage::default();
    msg.attributes.push(LinkAttribute::IfName(name.into()));
    msg.attributes.push(LinkAttribute::LinkInfo(vec![
        LinkInfo::Kind(InfoKind::Veth),
        LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer_msg))),
    ]));
    let netns = netns_pid.map(|pid| format!(" netns {pid}")).unwrap_or_default();
    Request {
        message: RouteNetlinkMessage::NewLink(msg),
        flags: NLM_F_CREATE | NLM_F_EXCL,
        what: format!("RTM_NEWLINK veth {name} peer {peer}{netns}"),
    }
}
// ANCHOR_END: create_veth

// ANCHOR: create_veth_into
/// `ip link add NAME type veth peer name PEER netns PID`: the pair is born
/// with its `peer` end already in the network namespace of process `pid`.
/// No move afterwards (a move costs tens of milliseconds), and when that
/// namespace ends the kernel deletes the pair.
pub fn create_veth_into(name: &str, peer: &str, pid: u32) -> Result<()> {
    request(new_veth(name, peer, Some(pid)))
}
// ANCHOR_END: create_veth_into

/// `ip route add default via GATEWAY`: where packets for any address
/// without a more specific route go.
pub fn add_default_route(gateway: Ipv4Addr) -> Result<()> {
    add_route(Ipv4Addr::UNSPECIFIED, 0, gateway)
}

/// `ip route add DESTINATION/PREFIX via GATEWAY` (prefix 0: the default).
pub fn add_route(destination: Ipv4Addr, prefix: u8, gateway: Ipv4Addr) -> Result<()> {
    request(new_route(destination, prefix, gateway))
}

/// `RTM_NEWROUTE` in the main table: a unicast route through a gateway.
fn new_route(destination: Ipv4Addr, prefix: u8, gateway: Ipv4Addr) -> Request {
    let mut msg = RouteMessage::default();
    msg.header.address_family = AddressFamily::Inet;
    msg.header.table = RouteHeader::RT_TABLE_MAIN;
    msg.header.protocol = RouteProtocol::Boot;
    msg.header.scope = RouteScope::Universe;
    msg.header.kind = RouteType::Unicast;
    if prefix > 0 {
        msg.header.destination_prefix_length = prefix;
        msg.attributes.push(RouteAttribute::Destination(RouteAddress::Inet(destination)));
    }
    msg.attributes.push(RouteAttribute::Gateway(RouteAddress::Inet(gateway)));
    Request {
        message: RouteNetlinkMessage::NewRoute(msg),
        flags: NLM_F_CREATE | NLM_F_EXCL,
        what: format!("RTM_NEWROUTE {destination}/{prefix} via {gateway}"),
    }
}

/// `ip link add NAME type bridge`: a virtual switch; interfaces made its ports
/// with [`set_master`] exchange frames through it (what `docker0` is).
pub fn create_bridge(name: &str) -> Result<()> {
    request(new_bridge(name, None))
}

/// [`create_bridge`] with the hardware address `mac`, `ip link add NAME
/// address MAC type bridge`. A bridge without one takes the lowest address
/// among its ports and changes it as ports come and go; whoever cached the
/// old one (a container's ARP entry for its gateway) sends its frames into
/// the void until the entry expires. Docker gives `docker0` an address of
/// its own for that reason.
pub fn create_bridge_with_address(name: &str, mac: [u8; 6]) -> Result<()> {
    request(new_bridge(name, Some(mac)))
}

fn new_bridge(name: &str, mac: Option<[u8; 6]>) -> Request {
    let mut msg = LinkMessage::default();
    // (In `ip`'s order: the address first.)
    if let Some(mac) = mac {
        msg.attributes.push(LinkAttribute::Address(mac.to_vec()));
    }
    msg.attributes.push(LinkAttribute::IfName(name.into()));
    msg.attributes.push(LinkAttribute::LinkInfo(vec![LinkInfo::Kind(InfoKind::Bridge)]));
    Request {
        message: RouteNetlinkMessage::NewLink(msg),
        flags: NLM_F_CREATE | NLM_F_EXCL,
        what: format!("RTM_NEWLINK bridge {name}"),
    }
}

// ANCHOR: move_to_netns
/// `ip link set NAME netns FILE`: moves the interface into the network
/// namespace that `netns` (an open `/proc/PID/ns/net`) names. It disappears
/// from this namespace, with its addresses and routes.
pub fn move_to_netns(name: &str, netns: &File) -> Result<()> {
    request(set_link_netns(index_of(name)?, name, netns.as_raw_fd()))
}

/// `IFLA_NET_NS_FD` holds a descriptor of the target namespace.
fn set_link_netns(index: u32, name: &str, netns: RawFd) -> Request {
    let mut msg = link_by_index(index);
    msg.attributes.push(LinkAttribute::NetNsFd(netns));
    set_link(msg, format!("RTM_NEWLINK {name} IFLA_NET_NS_FD"))
}
// ANCHOR_END: move_to_netns

/// `ip link set NAME up`: sets `IFF_UP`.
pub fn set_up(name: &str) -> Result<()> {
    request(set_link_up(index_of(name)?, name))
}

/// `ifi_change` says which flags to touch, `ifi_flags` their new values
/// (man 7 rtnetlink).
fn set_link_up(index: u32, name: &str) -> Request {
    let mut msg = link_by_index(index);
    msg.header.flags = LinkFlags::Up;
    msg.header.change_mask = LinkFlags::Up;
    set_link(msg, format!("RTM_NEWLINK {name} up"))
}

/// Waits (at most [`ANSWER_TIMEOUT`]) until `name` can carry traffic. Setting
/// `IFF_UP` returns at once, but the kernel turns the carrier on and attaches
/// the device's queue a moment later, from a work queue ("linkwatch"): a
/// packet sent before that is dropped, and TCP would retry only after a second.
pub fn wait_until_running(name: &str) -> Result<()> {
    let deadline = std::time::Instant::now() + ANSWER_TIMEOUT;
    while std::time::Instant::now() < deadline {
        if links()?.iter().any(|link| link.name == name && link.running) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    Err(Error::NotRunning { name: name.into(), waited: ANSWER_TIMEOUT })
}

/// `ip link set NAME master BRIDGE`: plugs the interface into the bridge.
pub fn set_master(name: &str, bridge: &str) -> Result<()> {
    request(set_link_master(index_of(name)?, name, index_of(bridge)?, bridge))
}

/// `IFLA_MASTER` holds the bridge's interface index.
fn set_link_master(index: u32, name: &str, bridge_index: u32, bridge: &str) -> Request {
    let mut msg = link_by_index(index);
    msg.attributes.push(LinkAttribute::Controller(bridge_index));
    set_link(msg, format!("RTM_NEWLINK {name} master {bridge}"))
}

/// `ip link del NAME`. Deleting one end of a veth pair deletes both.
pub fn delete_link(name: &str) -> Result<()> {
    request(del_link(index_of(name)?, name))
}

fn del_link(index: u32, name: &str) -> Request {
    let message = RouteNetlinkMessage::DelLink(link_by_index(index));
    Request { message, flags: 0, what: format!("RTM_DELLINK {name}") }
}

/// `ip addr add ADDRESS/PREFIX dev NAME`. The kernel also adds the route to
/// the subnet (`10.200.1.0/24 dev NAME`) once the interface is up.
pub fn add_address(name: &str, address: Ipv4Addr, prefix: u8) -> Result<()> {
    request(new_address(index_of(name)?, name, address, prefix))
}

/// `IFA_LOCAL` is the interface's own address, `IFA_ADDRESS` the other
/// end's on a point-to-point link; on a broadcast link both are the same,
/// as `ip` sends them.
fn new_address(index: u32, name: &str, address: Ipv4Addr, prefix: u8) -> Request {
    let mut msg = AddressMessage::default();
    msg.header.family = AddressFamily::Inet;
    msg.header.prefix_len = prefix;
    msg.header.index = index;
    msg.attributes.push(AddressAttribute::Local(IpAddr::V4(address)));
    msg.attributes.push(AddressAttribute::Address(IpAddr::V4(address)));
    Request {
        message: RouteNetlinkMessage::NewAddress(msg),
        flags: NLM_F_CREATE | NLM_F_EXCL,
        what: format!("RTM_NEWADDR {address}/{prefix} dev {name}"),
    }
}

/// `ip link show`: every interface of this network namespace.
pub fn links() -> Result<Vec<Link>> {
    let answers = dump(get_links())?;
    let mut links = Vec::new();
    for answer in answers {
        if let RouteNetlinkMessage::NewLink(msg) = answer {
            let name = msg.attributes.iter().find_map(|a| match a {
                LinkAttribute::IfName(name) => Some(name.clone()),
                _ => None,
            });
            let master = msg.attributes.iter().find_map(|a| match a {
                LinkAttribute::Controller(index) => Some(*index),
                _ => None,
            });
            let running =
                msg.attributes.iter().any(|a| matches!(a, LinkAttribute::OperState(State::Up)));
            links.push(Link {
                index: msg.header.index,
                name: name.unwrap_or_default(),
                up: msg.header.flags.contains(LinkFlags::Up),
                master,
                running,
            });
        }
    }
    Ok(links)
}

/// `ip -4 addr show`: every IPv4 address of this namespace as (interface
/// index, `address/prefix`). IPv6 link-local addresses are left out: they
/// are derived from random MAC addresses and change every run.
pub fn addresses() -> Result<Vec<(u32, String)>> {
    let answers = dump(get_ipv4_addresses())?;
    let mut found = Vec::new();
    for answer in answers {
        if let RouteNetlinkMessage::NewAddress(msg) = answer {
            // IFA_LOCAL is the interface's own address (IFA_ADDRESS is the
            // peer's on point-to-point links); IPv6 sends only IFA_ADDRESS.
            let local = msg.attributes.iter().find_map(|a| match a {
                AddressAttribute::Local(ip) => Some(*ip),
                _ => None,
            });
            let address = msg.attributes.iter().find_map(|a| match a {
                AddressAttribute::Address(ip) => Some(*ip),
                _ => None,
            });
            if let Some(ip) = local.or(address) {
                found.push((msg.header.index, format!("{ip}/{}", msg.header.prefix_len)));
            }
        }
    }
    Ok(found)
}

/// `ip -4 route show table all`: every IPv4 route, in every routing table,
/// as `local 127.0.0.1/32` or `unicast 10.200.1.0/24`.
pub fn ipv4_routes() -> Result<Vec<String>> {
    let routes = ipv4_route_list()?;
    Ok(routes.iter().map(|r| format!("{} {}/{}", r.kind, r.destination, r.prefix)).collect())
}

/// One IPv4 route: its type, destination network and output interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// `local`, `broadcast`, `unicast` or `other`.
    pub kind: &'static str,
    pub destination: Ipv4Addr,
    pub prefix: u8,
    /// The interface index (`RTA_OIF`), when the route names one.
    pub interface: Option<u32>,
}

/// Every IPv4 route of this namespace, in every routing table.
pub fn ipv4_route_list() -> Result<Vec<Route>> {
    let answers = dump(get_ipv4_routes())?;
    let mut routes = Vec::new();
    for answer in answers {
        if let RouteNetlinkMessage::NewRoute(msg) = answer {
            let destination = msg.attributes.iter().find_map(|a| match a {
                RouteAttribute::Destination(RouteAddress::Inet(ip)) => Some(*ip),
                _ => None,
            });
            let interface = msg.attributes.iter().find_map(|a| match a {
                RouteAttribute::Oif(index) => Some(*index),
                _ => None,
            });
            let kind = match msg.header.kind {
                RouteType::Local => "local",
                RouteType::Broadcast => "broadcast",
                RouteType::Unicast => "unicast",
                _ => "other",
            };
            routes.push(Route {
                kind,
                destination: destination.unwrap_or(Ipv4Addr::UNSPECIFIED),
                prefix: msg.header.destination_prefix_length,
                interface,
            });
        }
    }
    Ok(routes)
}

/// The interface index of `name` in this namespace, by `if_nametoindex(3)`
/// (one `SIOCGIFINDEX` ioctl, netdevice(7)). A `RTM_GETLINK` dump would
/// do too, but it makes the kernel describe every interface and us parse
/// every attribute: about 0.3 MB more of mini-docker's code in memory.
pub fn index_of(name: &str) -> Result<u32> {
    let c_name = std::ffi::CString::new(name).map_err(|_| Error::BadName(name.into()))?;
    // SAFETY: a NUL-terminated string that lives across the call.
    match unsafe { libc::if_nametoindex(c_name.as_ptr()) } {
        0 => Err(Error::NoSuchInterface { name: name.into(), errno: Errno::last() }),
        index => Ok(index),
    }
}

/// A link message that names an existing interface by its index.
fn link_by_index(index: u32) -> LinkMessage {
    let mut msg = LinkMessage::default();
    msg.header.index = index;
    msg
}

/// A change to an existing link, sent as `ip link set` sends it: an
/// `RTM_NEWLINK` without `NLM_F_CREATE`, which the kernel applies to the
/// interface the index names (`RTM_SETLINK` would do the same; rtnetlink(7)).
fn set_link(msg: LinkMessage, what: String) -> Request {
    Request { message: RouteNetlinkMessage::NewLink(msg), flags: 0, what }
}

/// A dump of every link. `ip link show` asks for family `AF_PACKET` and adds
/// `IFLA_EXT_MASK` to leave out VF details and statistics; the plain request
/// of rtnetlink(7) gets every link too.
fn get_links() -> Request {
    let message = RouteNetlinkMessage::GetLink(LinkMessage::default());
    Request { message, flags: NLM_F_DUMP, what: "RTM_GETLINK dump".into() }
}

/// A dump of the IPv4 addresses: the family in the request filters them.
fn get_ipv4_addresses() -> Request {
    let mut query = AddressMessage::default();
    query.header.family = AddressFamily::Inet;
    let message = RouteNetlinkMessage::GetAddress(query);
    Request { message, flags: NLM_F_DUMP, what: "RTM_GETADDR dump".into() }
}

/// A dump of the IPv4 routes; table 0 (`RT_TABLE_UNSPEC`) asks for every table.
fn get_ipv4_routes() -> Request {
    let mut query = RouteMessage::default();
    query.header.address_family = AddressFamily::Inet;
    let message = RouteNetlinkMessage::GetRoute(query);
    Request { message, flags: NLM_F_DUMP, what: "RTM_GETROUTE dump".into() }
}

/// Sends one request and waits for its acknowledgement: `Ok` or the errno.
fn request(req: Request) -> Result<()> {
    let socket = open(&req)?;
    send(&socket, &req, NLM_F_ACK)?;
    for _ in 0..MAX_DATAGRAMS {
        for answer in receive(&socket, &req)? {
            if let NetlinkPayload::Error(error) = answer.payload {
                let Some(code) = error.code else {
                    return Ok(()); // code 0: the acknowledgement
                };
                let errno = Errno::from_raw(-code.get());
                return Err(Error::Refused { request: req.what, errno });
            }
        }
    }
    let problem = "no acknowledgement from the kernel".into();
    Err(Error::Protocol { request: req.what, problem })
}

/// Sends one dump request and collects every answer up to `NLMSG_DONE`.
fn dump(req: Request) -> Result<Vec<RouteNetlinkMessage>> {
    let socket = open(&req)?;
    send(&socket, &req, 0)?;
    let mut answers = Vec::new();
    for _ in 0..MAX_DATAGRAMS {
        for answer in receive(&socket, &req)? {
            match answer.payload {
                NetlinkPayload::InnerMessage(inner) => answers.push(inner),
                NetlinkPayload::Done(_) => return Ok(answers),
                NetlinkPayload::Error(error) if error.code.is_some() => {
                    let errno = Errno::from_raw(-error.raw_code());
                    return Err(Error::Refused { request: req.what, errno });
                }
                _ => {}
            }
        }
    }
    let problem = format!("the dump did not end within {MAX_DATAGRAMS} datagrams");
    Err(Error::Protocol { request: req.what, problem })
}

/// A `NETLINK_ROUTE` socket in the caller's current network namespace,
/// for `req`.
fn open(req: &Request) -> Result<Socket> {
    let failed = |call| move |source| Error::Socket { request: req.what.clone(), call, source };
    let mut socket = Socket::new(NETLINK_ROUTE).map_err(failed("socket(AF_NETLINK)"))?;
    socket.bind_auto().map_err(failed("bind(AF_NETLINK)"))?;
    socket.connect(&SocketAddr::new(0, 0)).map_err(failed("connect(AF_NETLINK)"))?;
    let timeout = libc::timeval { tv_sec: ANSWER_TIMEOUT.as_secs() as libc::time_t, tv_usec: 0 };
    // SAFETY: a valid socket and a pointer to a timeval of the given size.
    let set = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&timeout as *const libc::timeval).cast(),
            size_of::<libc::timeval>() as libc::socklen_t,
        )
    };
    if set != 0 {
        return Err(failed("setsockopt(SO_RCVTIMEO)")(std::io::Error::last_os_error()));
    }
    Ok(socket)
}

/// The bytes of `req` as one netlink message (man 7 netlink): a
/// `struct nlmsghdr` with `NLM_F_REQUEST`, the request's flags and
/// `extra_flags`, then the payload. The sequence number is 1: each socket
/// carries one request, so there is nothing to tell apart.
fn encode(req: &Request, extra_flags: u16) -> Vec<u8> {
    let payload = NetlinkPayload::from(req.message.clone());
    let mut packet = NetlinkMessage::new(NetlinkHeader::default(), payload);
    packet.header.flags = NLM_F_REQUEST | req.flags | extra_flags;
    packet.header.sequence_number = 1;
    packet.finalize();
    let mut buf = vec![0; packet.buffer_len()];
    packet.serialize(&mut buf);
    buf
}

fn send(socket: &Socket, req: &Request, extra_flags: u16) -> Result<()> {
    let bytes = encode(req, extra_flags);
    let failed =
        |source| Error::Socket { request: req.what.clone(), call: "send(AF_NETLINK)", source };
    socket.send(&bytes, 0).map_err(failed)?;
    Ok(())
}

/// One datagram from the kernel, split into its netlink messages.
fn receive(socket: &Socket, req: &Request) -> Result<Vec<NetlinkMessage<RouteNetlinkMessage>>> {
    let failed =
        |source| Error::Socket { request: req.what.clone(), call: "recv(AF_NETLINK)", source };
    let (datagram, _) = socket.recv_from_full().map_err(failed)?;
    let mut messages = Vec::new();
    let mut offset = 0;
    while offset < datagram.len() {
        let message: NetlinkMessage<RouteNetlinkMessage> =
            NetlinkMessage::deserialize(&datagram[offset..]).map_err(|e| Error::Protocol {
                request: req.what.clone(),
                problem: format!("an answer that does not parse: {e}"),
            })?;
        let length = message.header.length as usize;
        messages.push(message);
        if length == 0 {
            break;
        }
        offset += length.next_multiple_of(4); // NLMSG_ALIGN
    }
    Ok(messages)
}

#[cfg(test)]
mod tests {
    //! Every request this crate builds, byte for byte, beside what `ip` sent
    //! for the same command (`captured/ip-requests.txt`, and the notes there
    //! on how it was captured). No netlink socket is opened: these run
    //! without root.

    use super::*;

    const CAPTURED: &str = include_str!("../captured/ip-requests.txt");
    // The interface indices and the PID the capture had (see its header).
    const NSL1: u32 = 3;
    const BR0: u32 = 6;
    const NETNS_HOLDER: u32 = 26037;

    /// The bytes `ip` sent for `command`, its sequence number set to ours.
    fn ip_sent(command: &str) -> Vec<u8> {
        let block = CAPTURED
            .split("\n$ ")
            .find_map(|b| b.strip_prefix(command)?.strip_prefix('\n'))
            .unwrap_or_else(|| panic!("no capture of `{command}`"));
        let mut bytes: Vec<u8> = block
            .split_whitespace()
            .map(|h| u8::from_str_radix(h, 16).expect("two hex digits"))
            .collect();
        bytes[8..12].copy_from_slice(&1u32.to_ne_bytes());
        bytes
    }

    fn same_bytes(req: &Request, extra_flags: u16, command: &str) {
        let ours = encode(req, extra_flags);
        let ip = ip_sent(command);
        assert_eq!(hex(&ours), hex(&ip), "{} vs `{command}`", req.what);
    }

    fn hex(bytes: &[u8]) -> Vec<String> {
        bytes.chunks(16).map(|l| l.iter().map(|b| format!("{b:02x}")).collect()).collect()
    }

    /// netlink-packet-route ends `IFLA_INFO_KIND` with a NUL (`veth\0`, 9
    /// bytes) where `ip` does not (8). The kernel accepts both: the
    /// attribute's policy is `NLA_STRING`, and `nla_strscpy`, which reads
    /// the kind, stops at a NUL or at the attribute's end (lib/nlattr.c). So
    /// these requests are compared with `ip`'s bytes after [`with_kind_nul`],
    /// byte for byte, and `ip`'s own bytes must parse to the same message.
    fn same_message_but_kind_nul(req: &Request, command: &str) {
        let ip = ip_sent(command);
        assert_eq!(hex(&encode(req, NLM_F_ACK)), hex(&with_kind_nul(&ip)), "{command}");
        let parsed = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&ip).expect("ip's bytes");
        assert_eq!(parsed.header.flags, NLM_F_REQUEST | NLM_F_ACK | req.flags);
        assert_eq!(parsed.payload, NetlinkPayload::InnerMessage(req.message.clone()), "{command}");
    }

    /// `ip`'s `RTM_NEWLINK` with a NUL after the kind string: that attribute
    /// (`IFLA_INFO_KIND`, 1, nested in `IFLA_LINKINFO`, 18, after the 16-byte
    /// `nlmsghdr` and the 16-byte `ifinfomsg`) is rewritten, padded to four
    /// bytes, and the two lengths that hold it grow by what it grew.
    fn with_kind_nul(ip: &[u8]) -> Vec<u8> {
        let u16_at = |b: &[u8], at: usize| u16::from_ne_bytes([b[at], b[at + 1]]) as usize;
        let mut at = 32;
        while u16_at(ip, at + 2) != 18 {
            at += u16_at(ip, at).next_multiple_of(4);
        }
        let (info, kind) = (at, at + 4);
        assert_eq!(u16_at(ip, kind + 2), 1, "IFLA_INFO_KIND comes first in IFLA_LINKINFO");
        let old_len = u16_at(ip, kind);
        let mut attr = ip[kind..kind + old_len].to_vec();
        attr.push(0);
        let new_len = attr.len() as u16;
        attr[..2].copy_from_slice(&new_len.to_ne_bytes());
        attr.resize(attr.len().next_multiple_of(4), 0);
        let grew = attr.len() - old_len.next_multiple_of(4);
        let mut out = [&ip[..kind], &attr, &ip[kind + old_len.next_multiple_of(4)..]].concat();
        let info_len = u16_at(&out, info) + grew;
        out[info..info + 2].copy_from_slice(&(info_len as u16).to_ne_bytes());
        let total = u32::from_ne_bytes([out[0], out[1], out[2], out[3]]) + grew as u32;
        out[..4].copy_from_slice(&total.to_ne_bytes());
        out
    }

    #[test]
    fn veth_pair() {
        let command = "ip link add nsl1 type veth peer name nsl2";
        same_message_but_kind_nul(&new_veth("nsl1", "nsl2", None), command);
    }

    #[test]
    fn veth_pair_born_in_another_namespace() {
        let command = "ip link add nsl3 type veth peer name nsl4 netns 26037";
        same_message_but_kind_nul(&new_veth("nsl3", "nsl4", Some(NETNS_HOLDER)), command);
    }

    #[test]
    fn bridge() {
        // `bridge\0` is 7 bytes, `bridge` 6: both pad to 8, only nla_len differs.
        same_message_but_kind_nul(&new_bridge("br0", None), "ip link add br0 type bridge");
    }

    #[test]
    fn bridge_with_its_own_address() {
        let mac = [0x02, 0x42, 0xac, 0x11, 0x00, 0x01];
        let command = "ip link add br0 address 02:42:ac:11:00:01 type bridge";
        same_message_but_kind_nul(&new_bridge("br0", Some(mac)), command);
    }

    #[test]
    fn link_up() {
        same_bytes(&set_link_up(NSL1, "nsl1"), NLM_F_ACK, "ip link set nsl1 up");
    }

    #[test]
    fn link_into_a_bridge() {
        same_bytes(
            &set_link_master(NSL1, "nsl1", BR0, "br0"),
            NLM_F_ACK,
            "ip link set nsl1 master br0",
        );
    }

    #[test]
    fn link_deleted() {
        same_bytes(&del_link(NSL1, "nsl1"), NLM_F_ACK, "ip link del nsl1");
    }

    #[test]
    fn address() {
        let req = new_address(BR0, "br0", Ipv4Addr::new(10, 200, 1, 1), 24);
        same_bytes(&req, NLM_F_ACK, "ip addr add 10.200.1.1/24 dev br0");
    }

    #[test]
    fn default_route() {
        let req = new_route(Ipv4Addr::UNSPECIFIED, 0, Ipv4Addr::new(10, 200, 1, 254));
        same_bytes(&req, NLM_F_ACK, "ip route add default via 10.200.1.254");
    }

    #[test]
    fn route_to_a_network() {
        let req = new_route(Ipv4Addr::new(10, 9, 0, 0), 16, Ipv4Addr::new(10, 200, 1, 254));
        same_bytes(&req, NLM_F_ACK, "ip route add 10.9.0.0/16 via 10.200.1.254");
    }

    #[test]
    fn address_and_route_dumps() {
        same_bytes(&get_ipv4_addresses(), 0, "ip -4 addr show");
        same_bytes(&get_ipv4_routes(), 0, "ip -4 route show table all");
    }

    /// `ip link show` sends more than rtnl needs (see [`get_links`]), so this
    /// request is checked against rtnetlink(7) instead: a header of type
    /// `RTM_GETLINK` (18) with `NLM_F_REQUEST | NLM_F_DUMP` (0x301), then an
    /// all-zero `struct ifinfomsg` (family `AF_UNSPEC`: every link).
    #[test]
    fn link_dump() {
        let mut expected = vec![32, 0, 0, 0, 18, 0, 0x01, 0x03, 1, 0, 0, 0, 0, 0, 0, 0];
        expected.extend([0; 16]);
        assert_eq!(encode(&get_links(), 0), expected);
    }

    /// `ip link set DEV netns NAME` opens `/run/netns/NAME`, which this lab
    /// never makes; the layout is rtnetlink(7)'s: `RTM_NEWLINK` (16) with
    /// `NLM_F_REQUEST | NLM_F_ACK`, the `ifinfomsg` naming the link, then
    /// one attribute `IFLA_NET_NS_FD` (28) of four bytes holding the descriptor.
    #[test]
    fn link_moved_to_a_namespace() {
        let bytes = encode(&set_link_netns(NSL1, "nsl1", 7), NLM_F_ACK);
        let mut expected = vec![40, 0, 0, 0, 16, 0, 0x05, 0, 1, 0, 0, 0, 0, 0, 0, 0];
        expected.extend([0, 0, 0, 0, NSL1 as u8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        expected.extend([8, 0, 28, 0, 7, 0, 0, 0]);
        assert_eq!(bytes, expected);
    }

    #[test]
    fn errors_keep_the_errno_and_name_the_request() {
        let refused =
            Error::Refused { request: new_bridge("br0", None).what, errno: Errno::EEXIST };
        assert_eq!(refused.errno(), Some(Errno::EEXIST));
        assert_eq!(refused.to_string(), "RTM_NEWLINK bridge br0: EEXIST: File exists");
        let missing = index_of("no-such-if0").expect_err("no such interface");
        assert_eq!(missing.errno(), Some(Errno::ENODEV));
        assert!(missing.to_string().starts_with("no interface named no-such-if0"), "{missing}");
        assert!(matches!(index_of("a\0b"), Err(Error::BadName(_))));
    }
}
