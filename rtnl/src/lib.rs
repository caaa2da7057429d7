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

use std::fs::File;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

use anyhow::{Context, Result, bail};
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
    let mut peer_msg = LinkMessage::default();
    peer_msg.attributes.push(LinkAttribute::IfName(peer.into()));
    let mut msg = LinkMessage::default();
    msg.attributes.push(LinkAttribute::IfName(name.into()));
    msg.attributes.push(LinkAttribute::LinkInfo(vec![
        LinkInfo::Kind(InfoKind::Veth),
        LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer_msg))),
    ]));
    request(RouteNetlinkMessage::NewLink(msg), NLM_F_CREATE | NLM_F_EXCL)
        .with_context(|| format!("RTM_NEWLINK veth {name} peer {peer}"))
}
// ANCHOR_END: create_veth

// ANCHOR: create_veth_into
/// `ip link add NAME type veth peer name PEER netns PID`: the pair is born
/// with its `peer` end already in the network namespace of process `pid`.
/// No move afterwards (a move costs tens of milliseconds), and when that
/// namespace ends the kernel deletes the pair.
pub fn create_veth_into(name: &str, peer: &str, pid: u32) -> Result<()> {
    let mut peer_msg = LinkMessage::default();
    peer_msg.attributes.push(LinkAttribute::IfName(peer.into()));
    peer_msg.attributes.push(LinkAttribute::NetNsPid(pid));
    let mut msg = LinkMessage::default();
    msg.attributes.push(LinkAttribute::IfName(name.into()));
    msg.attributes.push(LinkAttribute::LinkInfo(vec![
        LinkInfo::Kind(InfoKind::Veth),
        LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer_msg))),
    ]));
    request(RouteNetlinkMessage::NewLink(msg), NLM_F_CREATE | NLM_F_EXCL)
        .with_context(|| format!("RTM_NEWLINK veth {name} peer {peer} netns {pid}"))
}
// ANCHOR_END: create_veth_into

/// `ip route add default via GATEWAY`: where packets for any address
/// without a more specific route go.
pub fn add_default_route(gateway: Ipv4Addr) -> Result<()> {
    add_route(Ipv4Addr::UNSPECIFIED, 0, gateway)
}

/// `ip route add DESTINATION/PREFIX via GATEWAY` (prefix 0: the default).
pub fn add_route(destination: Ipv4Addr, prefix: u8, gateway: Ipv4Addr) -> Result<()> {
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
    request(RouteNetlinkMessage::NewRoute(msg), NLM_F_CREATE | NLM_F_EXCL)
        .with_context(|| format!("RTM_NEWROUTE {destination}/{prefix} via {gateway}"))
}

/// Whether `error` (from this crate) is the kernel's `errno`, e.g. EEXIST
/// for a bridge another process made first.
pub fn is_errno(error: &anyhow::Error, errno: Errno) -> bool {
    error.downcast_ref::<Errno>() == Some(&errno)
}

/// `ip link add NAME type bridge`: a virtual switch; interfaces made its ports
/// with [`set_master`] exchange frames through it (what `docker0` is).
pub fn create_bridge(name: &str) -> Result<()> {
    let mut msg = LinkMessage::default();
    msg.attributes.push(LinkAttribute::IfName(name.into()));
    msg.attributes.push(LinkAttribute::LinkInfo(vec![LinkInfo::Kind(InfoKind::Bridge)]));
    request(RouteNetlinkMessage::NewLink(msg), NLM_F_CREATE | NLM_F_EXCL)
        .with_context(|| format!("RTM_NEWLINK bridge {name}"))
}

// ANCHOR: move_to_netns
/// `ip link set NAME netns FILE`: moves the interface into the network
/// namespace that `netns` (an open `/proc/PID/ns/net`) names. It disappears
/// from this namespace, with its addresses and routes.
pub fn move_to_netns(name: &str, netns: &File) -> Result<()> {
    let mut msg = link_by_index(index_of(name)?);
    msg.attributes.push(LinkAttribute::NetNsFd(netns.as_raw_fd() as RawFd));
    request(RouteNetlinkMessage::SetLink(msg), 0)
        .with_context(|| format!("RTM_SETLINK {name} IFLA_NET_NS_FD"))
}
// ANCHOR_END: move_to_netns

/// `ip link set NAME up`: sets `IFF_UP`.
pub fn set_up(name: &str) -> Result<()> {
    let mut msg = link_by_index(index_of(name)?);
    msg.header.flags = LinkFlags::Up;
    msg.header.change_mask = LinkFlags::Up;
    request(RouteNetlinkMessage::SetLink(msg), 0).with_context(|| format!("RTM_SETLINK {name} up"))
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
    bail!("{name} is still not running after {ANSWER_TIMEOUT:?}")
}

/// `ip link set NAME master BRIDGE`: plugs the interface into the bridge.
pub fn set_master(name: &str, bridge: &str) -> Result<()> {
    let mut msg = link_by_index(index_of(name)?);
    msg.attributes.push(LinkAttribute::Controller(index_of(bridge)?));
    request(RouteNetlinkMessage::SetLink(msg), 0)
        .with_context(|| format!("RTM_SETLINK {name} master {bridge}"))
}

/// `ip link del NAME`. Deleting one end of a veth pair deletes both.
pub fn delete_link(name: &str) -> Result<()> {
    let msg = link_by_index(index_of(name)?);
    request(RouteNetlinkMessage::DelLink(msg), 0).with_context(|| format!("RTM_DELLINK {name}"))
}

/// `ip addr add ADDRESS/PREFIX dev NAME`. The kernel also adds the route to
/// the subnet (`10.200.1.0/24 dev NAME`) once the interface is up.
pub fn add_address(name: &str, address: Ipv4Addr, prefix: u8) -> Result<()> {
    let mut msg = AddressMessage::default();
    msg.header.family = AddressFamily::Inet;
    msg.header.prefix_len = prefix;
    msg.header.index = index_of(name)?;
    msg.attributes.push(AddressAttribute::Local(IpAddr::V4(address)));
    msg.attributes.push(AddressAttribute::Address(IpAddr::V4(address)));
    request(RouteNetlinkMessage::NewAddress(msg), NLM_F_CREATE | NLM_F_EXCL)
        .with_context(|| format!("RTM_NEWADDR {address}/{prefix} dev {name}"))
}

/// `ip link show`: every interface of this network namespace.
pub fn links() -> Result<Vec<Link>> {
    let answers =
        dump(RouteNetlinkMessage::GetLink(LinkMessage::default())).context("RTM_GETLINK dump")?;
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
    let mut query = AddressMessage::default();
    query.header.family = AddressFamily::Inet;
    let answers = dump(RouteNetlinkMessage::GetAddress(query)).context("RTM_GETADDR dump")?;
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
    let mut query = RouteMessage::default();
    query.header.address_family = AddressFamily::Inet;
    let answers = dump(RouteNetlinkMessage::GetRoute(query)).context("RTM_GETROUTE dump")?;
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
    let c_name = std::ffi::CString::new(name).context("an interface name with a NUL byte")?;
    // SAFETY: a NUL-terminated string that lives across the call.
    match unsafe { libc::if_nametoindex(c_name.as_ptr()) } {
        0 => Err(anyhow::Error::new(Errno::last()))
            .with_context(|| format!("no interface named {name} in this network namespace")),
        index => Ok(index),
    }
}

/// A link message that names an existing interface by its index.
fn link_by_index(index: u32) -> LinkMessage {
    let mut msg = LinkMessage::default();
    msg.header.index = index;
    msg
}

/// Sends one request and waits for its acknowledgement: `Ok` or the errno.
fn request(message: RouteNetlinkMessage, flags: u16) -> Result<()> {
    let socket = open()?;
    send(&socket, message, NLM_F_REQUEST | NLM_F_ACK | flags)?;
    for _ in 0..MAX_DATAGRAMS {
        for answer in receive(&socket)? {
            if let NetlinkPayload::Error(error) = answer.payload {
                return match error.code {
                    None => Ok(()), // code 0: the acknowledgement
                    Some(code) => Err(Errno::from_raw(-code.get()).into()),
                };
            }
        }
    }
    bail!("no acknowledgement from the kernel")
}

/// Sends one dump request and collects every answer up to `NLMSG_DONE`.
fn dump(message: RouteNetlinkMessage) -> Result<Vec<RouteNetlinkMessage>> {
    let socket = open()?;
    send(&socket, message, NLM_F_REQUEST | NLM_F_DUMP)?;
    let mut answers = Vec::new();
    for _ in 0..MAX_DATAGRAMS {
        for answer in receive(&socket)? {
            match answer.payload {
                NetlinkPayload::InnerMessage(inner) => answers.push(inner),
                NetlinkPayload::Done(_) => return Ok(answers),
                NetlinkPayload::Error(error) if error.code.is_some() => {
                    return Err(Errno::from_raw(-error.raw_code()).into());
                }
                _ => {}
            }
        }
    }
    bail!("the kernel's dump did not end within {MAX_DATAGRAMS} datagrams")
}

/// A `NETLINK_ROUTE` socket in the caller's current network namespace.
fn open() -> Result<Socket> {
    let mut socket = Socket::new(NETLINK_ROUTE).context("socket(AF_NETLINK, NETLINK_ROUTE)")?;
    socket.bind_auto().context("bind(AF_NETLINK)")?;
    socket.connect(&SocketAddr::new(0, 0)).context("connect(AF_NETLINK) to the kernel")?;
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
    Errno::result(set).context("setsockopt(SO_RCVTIMEO) on the netlink socket")?;
    Ok(socket)
}

fn send(socket: &Socket, message: RouteNetlinkMessage, flags: u16) -> Result<()> {
    let mut packet = NetlinkMessage::new(NetlinkHeader::default(), NetlinkPayload::from(message));
    packet.header.flags = flags;
    packet.header.sequence_number = 1;
    packet.finalize();
    let mut buf = vec![0; packet.buffer_len()];
    packet.serialize(&mut buf);
    socket.send(&buf, 0).context("send(AF_NETLINK)")?;
    Ok(())
}

/// One datagram from the kernel, split into its netlink messages.
fn receive(socket: &Socket) -> Result<Vec<NetlinkMessage<RouteNetlinkMessage>>> {
    let (datagram, _) = socket.recv_from_full().context("recv(AF_NETLINK)")?;
    let mut messages = Vec::new();
    let mut offset = 0;
    while offset < datagram.len() {
        let message: NetlinkMessage<RouteNetlinkMessage> =
            NetlinkMessage::deserialize(&datagram[offset..])
                .map_err(|e| anyhow::anyhow!("a netlink answer that does not parse: {e}"))?;
        let length = message.header.length as usize;
        messages.push(message);
        if length == 0 {
            break;
        }
        offset += length.next_multiple_of(4); // NLMSG_ALIGN
    }
    Ok(messages)
}
