//! # net-demo: network namespaces
//!
//! The article (section 二.2) says each container has its own network
//! interfaces, IP addresses, routes and ports, that a veth pair connects it to
//! the host, and that Docker's network modes (bridge, host, overlay) decide how
//! containers reach each other. Each experiment below builds the network it
//! talks about with netlink, the interface `ip` itself uses, sends real TCP
//! traffic through it, and prints what the host saw beside what the namespace saw.
//!
//! Read: man 7 network_namespaces, man 4 veth, man 7 rtnetlink, man 8 ip-netns
//! (what `ip netns add` and `ip netns exec` do), man 8 ip-link, man 2 setns.
//!
//! Run: `cargo run -p net-demo` (as root or not), `--list`, `--only NAME`,
//! `--control` (the same steps without `CLONE_NEWNET` for the containers),
//! `--hold`, `--json`, and, as root only, `--real-host`.
//!
//! Safety: by default every experiment first moves its own process into a
//! private network namespace, the "lab host", and plays the host there. The
//! veth pairs, bridges, addresses and servers it makes live and die in
//! namespaces the demo created, so your machine's interfaces, routes and ports
//! are never touched, even in a `--control` run and even if the demo is killed.
//! With `--real-host` (root) the host is your machine's own network namespace
//! instead; every interface made there carries the experiment's PID in its name
//! and a helper process deletes them all when the experiment ends, however it ends.
//! All traffic goes to 10.200.0.0/16 addresses the demo gave its own interfaces,
//! or to 127.0.0.1.

// The netlink helper lives in its own crate, shared with mini-docker.
use rtnl as netlink;

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use lab::{
    Child, DemoFlag, Experiment, Facts, Lab, Observed, Verdict, clone_child, fork_child, ns,
};
use nix::errno::Errno;
use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sched::{CloneFlags, setns, unshare};
use nix::sys::signal::{SigHandler, Signal, signal};
use nix::unistd::{Pid, getppid};

const EXPERIMENTS: &[Experiment] = &[
    Experiment {
        name: "only-lo-down",
        title: "A new network namespace holds only lo, down, with no address and no route",
        claims: &["NET-1"],
        isolation: true,
        explanation: "clone(CLONE_NEWNET) gave the child a network stack of its own, and a new \
            stack starts empty: one loopback interface, down, with no address and no route, so \
            even 127.0.0.1 is unreachable (ENETUNREACH). Bringing lo up (RTM_NEWLINK with IFF_UP, \
            what `ip link set lo up` sends) makes the kernel give it 127.0.0.1/8 and the local \
            routes, and a TCP round trip over 127.0.0.1 works. The host here is the demo's \
            private lab host, whose lo is up like a real machine's.",
        run: only_lo_down,
    },
    Experiment {
        name: "same-port-twice",
        title: "Two namespaces bind 127.0.0.1:8080 at once, and neither reaches the other's server",
        claims: &["NET-2"],
        isolation: true,
        explanation: "Ports, addresses and routes belong to a network namespace, and so does \
            127.0.0.1: each namespace has its own loopback. The host and the namespace both bound \
            127.0.0.1:8080 at the same time without EADDRINUSE. From inside, connecting to \
            127.0.0.1:8080 while only the host listened was refused; after the host closed its \
            server, connecting from the host was refused while the namespace listened on that \
            very address. This is why docker run -p must forward a host port into the container.",
        run: same_port_twice,
    },
    Experiment {
        name: "veth-pair",
        title: "A veth pair with one end moved into the namespace carries a TCP round trip",
        claims: &["NET-3"],
        isolation: true,
        explanation: "Before the pair existed, the namespace had no route to the host's address \
            (ENETUNREACH). The host then created a veth pair (two interfaces joined like the ends \
            of a cable, man 4 veth), moved one end into the namespace by a file descriptor of its \
            /proc/PID/ns/net, and both sides gave their end an address in 10.200.1.0/24 and \
            brought it up. A message sent from the namespace to the host's server came back \
            unchanged. Each side lists only its own end: an interface is in exactly one namespace.",
        run: veth_pair,
    },
    Experiment {
        name: "network-modes",
        title: "Docker's network modes: none (only lo), host (the host's interfaces), bridge",
        claims: &["NET-4"],
        isolation: true,
        explanation: "none: a new network namespace and nothing more, so only lo. host: no new \
            network namespace at all, so exactly the host's interfaces and ports. bridge: two \
            namespaces, each with a veth pair whose other end is a port of a bridge in the host \
            namespace (docker0 is such a bridge); the bridge forwards frames between its ports, \
            so A reached B's server by B's IP address. overlay (not run): a bridge per machine, \
            plus a VXLAN interface that wraps each frame in UDP to the other machine's real \
            address, so containers on different hosts share one layer-2 network.",
        run: network_modes,
    },
    Experiment {
        name: "kept-alive-by-mount",
        title: "A bind mount of /proc/PID/ns/net keeps a network namespace alive with no process in it",
        claims: &["LIFE-1"],
        isolation: true,
        explanation: "The article says a namespace ends with its processes. Not quite: it lives as \
            long as anything refers to it. After its only process exited, a bind mount of its \
            /proc/PID/ns/net (what ip netns add does, on /run/netns/NAME) still held it: a new \
            process entered it with setns() through the file and found lo up, as the vanished \
            process had left it. Once unmounted, setns() on the file fails with EINVAL: the last \
            reference is gone and the kernel frees the namespace.",
        run: kept_alive_by_mount,
    },
];

/// net-demo's own flag: the machine's network namespace plays the host.
const REAL_HOST: &str = "real-host";
const REAL_HOST_FLAG: DemoFlag = DemoFlag {
    name: REAL_HOST,
    help: "Play the host in this machine's own network namespace instead of a private one \
           (root only; everything made there is deleted afterwards)",
};

fn main() -> std::process::ExitCode {
    lab::main_with_flags(
        &lab::Demo {
            name: "net-demo",
            about: "Network namespaces: interfaces, ports, veth pairs and a bridge",
            man: "network_namespaces",
            experiments: EXPERIMENTS,
            makes_own_user_namespaces: false,
        },
        &[REAL_HOST_FLAG],
    )
}

// ANCHOR: lab_host
/// The port every server here listens on.
const PORT: u16 = 8080;
/// Bounds every connect, accept and read.
const TIMEOUT: Duration = Duration::from_secs(2);

/// Who plays the host in an experiment.
struct Host {
    /// The host's `/proc/self/ns/net` link, and which host it is.
    net_ns: String,
    /// Tells `ip` commands for `--hold` where to look.
    real: bool,
    /// With `--real-host` only: the process that deletes what we made.
    janitor: Option<Child>,
}

impl Host {
    /// Every experiment starts here. By default this process moves into a
    /// network namespace of its own (`unshare(CLONE_NEWNET)`), brings its `lo`
    /// up as a real machine's is, and plays the host there: a lab host that
    /// dies with this process. `None` when `--real-host` cannot be honoured.
    fn enter(lab: &Lab) -> Result<Option<Host>> {
        if !lab.flag(REAL_HOST) {
            unshare(CloneFlags::CLONE_NEWNET).context("unshare(CLONE_NEWNET) for the lab host")?;
            netlink::set_up("lo")?;
            let net_ns = format!("{} (lab host)", ns::link(None, "net")?);
            return Ok(Some(Host { net_ns, real: false, janitor: None }));
        }
        // Rootless, the machine's namespace is not ours to change; in a
        // control run the containers would be configured on the machine itself.
        if lab.is_rootless() || lab.is_control() {
            return Ok(None);
        }
        let net_ns = format!("{} (this machine)", ns::link(None, "net")?);
        Ok(Some(Host { net_ns, real: true, janitor: Some(start_janitor()?) }))
    }

    /// The command a reader types to look at the host's side with `--hold`.
    fn look(&self, lab: &Lab, command: &str) -> String {
        if self.real {
            format!("{command}   # on the host")
        } else {
            lab.nsenter(Pid::this(), &format!("-n {command}   # the lab host"))
        }
    }
}

const REAL_HOST_ONLY: &str = "--real-host needs root and cannot be combined with --control";

/// The name of an interface this experiment makes: `nsl<PID>-<role>`. The PID
/// of the experiment's process keeps names unique across runs at the same time.
fn ifname(role: &str) -> String {
    format!("nsl{}-{role}", std::process::id())
}

/// With `--real-host` our interfaces live in the machine's namespace and would
/// outlive a killed demo. This process deletes every interface named
/// `nsl<our PID>-…` when we say we are done, or as soon as it sees we died
/// (it is then re-parented). It ignores Ctrl-C, which reaches the whole
/// process group.
fn start_janitor() -> Result<Child> {
    let ours = ifname("");
    fork_child(move |chan| {
        nix::sys::prctl::set_pdeathsig(None)?; // it must outlive us
        for sig in [Signal::SIGINT, Signal::SIGQUIT, Signal::SIGHUP, Signal::SIGTERM] {
            // SAFETY: SIG_IGN installs no handler code.
            unsafe { signal(sig, SigHandler::SigIgn) }.context("signal(SIG_IGN)")?;
        }
        let experiment = getppid();
        chan.set_timeout(Some(Duration::from_millis(100)))?;
        // At most an hour: a --hold session's patience.
        for _ in 0..36_000 {
            if chan.wait_go().is_ok() || getppid() != experiment {
                break;
            }
        }
        for link in netlink::links()? {
            if link.name.starts_with(&ours) {
                let _ = netlink::delete_link(&link.name); // fails if gone with its veth peer
            }
        }
        Ok(())
    })
}

impl Drop for Host {
    fn drop(&mut self) {
        if let Some(janitor) = &mut self.janitor {
            let _ = janitor.chan.go();
            let _ = janitor.wait();
        }
    }
}
// ANCHOR_END: lab_host

// ANCHOR: only_lo_down
fn only_lo_down(lab: &Lab) -> Result<Observed> {
    let Some(host) = Host::enter(lab)? else { return Ok(Observed::skip(REAL_HOST_ONLY)) };
    let loopback = SocketAddrV4::new(Ipv4Addr::LOCALHOST, PORT);
    // A new network namespace starts with a loopback device only (man 7 network_namespaces),
    // plus the fallback tunnels (tunl0, sit0, ...) of any tunnel module that is loaded,
    // unless net.core.fb_tunnels_only_for_init_net says otherwise.
    let mut child = clone_child(lab.isolate(CloneFlags::CLONE_NEWNET), |chan| {
        let mut facts = Facts::new()
            .with("net_ns", ns::link(None, "net")?)
            .with("interfaces", interface_names()?)
            .with("lo", describe("lo")?)
            .with("ipv4_routes", listed(netlink::ipv4_routes()?))
            .with("connect(127.0.0.1:8080)", outcome(connect(loopback)));
        // What every container runtime does first: `ip link set lo up`.
        netlink::set_up("lo")?;
        facts.set("lo_after_set_up", describe("lo")?);
        facts.set("ipv4_routes_after", listed(netlink::ipv4_routes()?));
        facts.set("echo_over_127.0.0.1", echo_within_namespace(loopback, "hello over lo")?);
        chan.send(&facts)?;
        chan.wait_go()
    })?;
    let inside: Facts = child.chan.recv()?;
    lab.hold(child.pid, &[lab.nsenter(child.pid, "-n ip addr"), host.look(lab, "ip addr")]);
    child.chan.go()?;
    child.wait_success()?;

    let host_facts = Facts::new()
        .with("net_ns", &host.net_ns)
        .with("interfaces", interface_names()?)
        .with("lo", describe("lo")?);
    let verdict = Verdict::check(
        texts(&inside, "interfaces") == ["lo"]
            && inside.text("lo") == Some("DOWN")
            && inside.text("ipv4_routes") == Some("none")
            && inside.text("connect(127.0.0.1:8080)") == Some("ENETUNREACH")
            && inside.text("echo_over_127.0.0.1") == Some("hello over lo"),
    );
    Ok(Observed::new(verdict, host_facts, inside))
}
// ANCHOR_END: only_lo_down

// ANCHOR: same_port_twice
fn same_port_twice(lab: &Lab) -> Result<Observed> {
    let Some(host) = Host::enter(lab)? else { return Ok(Observed::skip(REAL_HOST_ONLY)) };
    let loopback = SocketAddrV4::new(Ipv4Addr::LOCALHOST, PORT);
    let mut child = clone_child(lab.isolate(CloneFlags::CLONE_NEWNET), |chan| {
        netlink::set_up("lo")?; // a container's lo starts down (only-lo-down)
        chan.wait_go()?;
        // The host listens on 127.0.0.1:8080. Can we reach it from here?
        let mut facts = Facts::new().with("connect(127.0.0.1:8080)", outcome(connect(loopback)));
        // Our own server on the same address and port, while the host holds it.
        let server = TcpListener::bind(loopback);
        facts.set("bind(127.0.0.1:8080)", outcome(server.as_ref()));
        if let Ok(server) = &server {
            facts.set("own_server_echoed", echo_through(server, loopback, "hello from inside")?);
        }
        chan.send(&facts)?;
        chan.wait_go() // keep listening while the host tries
    })?;
    // The host's server on the host's 127.0.0.1, made after the clone: a child
    // gets a copy of every open file descriptor, and a listening socket stays
    // open (and answers) while any copy of it does.
    let host_server = TcpListener::bind(loopback);
    let host_bind = outcome(host_server.as_ref());
    child.chan.go()?;
    let inside: Facts = child.chan.recv()?;
    // Close the host's server: now only the namespace listens on 127.0.0.1:8080.
    drop(host_server);
    let host_connect = outcome(connect(loopback));
    lab.hold(child.pid, &[lab.nsenter(child.pid, "-n ss -tln"), host.look(lab, "ss -tln")]);
    child.chan.go()?;
    child.wait_success()?;

    let host_facts = Facts::new()
        .with("net_ns", &host.net_ns)
        .with("bind(127.0.0.1:8080)", &host_bind)
        .with("connect_after_closing_ours", &host_connect);
    let verdict = Verdict::check(
        host_bind == "ok"
            && inside.text("bind(127.0.0.1:8080)") == Some("ok")
            && inside.text("connect(127.0.0.1:8080)") == Some("ECONNREFUSED")
            && host_connect == "ECONNREFUSED"
            && inside.text("own_server_echoed") == Some("hello from inside"),
    );
    Ok(Observed::new(verdict, host_facts, inside))
}
// ANCHOR_END: same_port_twice

// ANCHOR: veth_pair
/// NET-3's network: 10.200.1.0/24, a private range (RFC 1918).
const HOST_IP: Ipv4Addr = Ipv4Addr::new(10, 200, 1, 1);
const CONTAINER_IP: Ipv4Addr = Ipv4Addr::new(10, 200, 1, 2);

fn veth_pair(lab: &Lab) -> Result<Observed> {
    let Some(host) = Host::enter(lab)? else { return Ok(Observed::skip(REAL_HOST_ONLY)) };
    let (host_end, container_end) = (ifname("h"), ifname("c"));
    let host_server = SocketAddrV4::new(HOST_IP, PORT);
    let host_before = interface_names()?;

    let mut child = clone_child(lab.isolate(CloneFlags::CLONE_NEWNET), |chan| {
        let mut facts = Facts::new()
            .with("interfaces_before", interface_names()?)
            // No interface, no route: the host's address cannot be reached yet.
            .with("connect(10.200.1.1:8080)_before", outcome(connect(host_server)));
        chan.go()?; // ready for the pair
        chan.wait_go()?; // the host moved our end in
        netlink::add_address(&container_end, CONTAINER_IP, 24)?;
        netlink::set_up(&container_end)?;
        netlink::wait_until_running(&container_end)?; // carrier: both ends are up now
        facts.set("interfaces_after", interface_names()?);
        facts.set("container_end", format!("{container_end} {}", describe(&container_end)?));
        facts.set("echo_from_host", round_trip(host_server, "hello through the veth pair")?);
        chan.send(&facts)?;
        chan.wait_go()
    })?;
    child.chan.wait_go()?;
    // 1. The pair: two linked interfaces, both in the host's namespace for now (man 4 veth).
    netlink::create_veth(&host_end, &container_end)?;
    // 2. One end into the container's namespace, named by an open /proc/PID/ns/net
    //    (RTM_NEWLINK on an existing link, with IFLA_NET_NS_FD, man 7 rtnetlink;
    //    what `ip link set DEV netns PID` sends).
    let path = format!("/proc/{}/ns/net", child.pid);
    let container_ns = File::open(&path).with_context(|| format!("open {path}"))?;
    netlink::move_to_netns(&container_end, &container_ns)?;
    // 3. The host's end: an address (the kernel adds the route to 10.200.1.0/24), then up.
    netlink::add_address(&host_end, HOST_IP, 24)?;
    netlink::set_up(&host_end)?;
    // 4. A server on the host's end; the container does its half of 3 and connects.
    let server = TcpListener::bind(host_server).context("bind 10.200.1.1:8080")?;
    child.chan.go()?;
    let heard = echo_one(&server)?;
    let inside: Facts = child.chan.recv()?;
    // Look now: once the container exits, its namespace goes, and the pair with it.
    let host_after = interface_names()?;
    let host_end_now = format!("{host_end} {}", describe(&host_end)?);
    lab.hold(child.pid, &[lab.nsenter(child.pid, "-n ip -br addr"), host.look(lab, "ip -br addr")]);
    child.chan.go()?;
    child.wait_success()?;

    let host_facts = Facts::new()
        .with("net_ns", &host.net_ns)
        .with("interfaces_before", &host_before)
        .with("interfaces_after", &host_after)
        .with("host_end", &host_end_now)
        .with("server_heard", &heard);
    let verdict = Verdict::check(
        inside.text("connect(10.200.1.1:8080)_before") == Some("ENETUNREACH")
            && texts(&inside, "interfaces_after") == ["lo", container_end.as_str()]
            && !host_after.contains(&container_end)
            && inside.text("echo_from_host") == Some("hello through the veth pair"),
    );
    Ok(Observed::new(verdict, host_facts, inside))
}
// ANCHOR_END: veth_pair

// ANCHOR: network_modes
/// Bridge mode's network: 10.200.2.0/24.
const A_IP: Ipv4Addr = Ipv4Addr::new(10, 200, 2, 2);
const B_IP: Ipv4Addr = Ipv4Addr::new(10, 200, 2, 3);

fn network_modes(lab: &Lab) -> Result<Observed> {
    let Some(host) = Host::enter(lab)? else { return Ok(Observed::skip(REAL_HOST_ONLY)) };
    let newnet = lab.isolate(CloneFlags::CLONE_NEWNET);

    // bridge: the host's side first. A bridge (like docker0), up ...
    let bridge = ifname("br");
    netlink::create_bridge(&bridge)?;
    netlink::set_up(&bridge)?;
    // ... and two containers, each with a veth pair whose host end is a bridge port.
    let (mut a, a_names, a_end) = plug_into_bridge(newnet, &bridge, "a", A_IP)?;
    let (mut b, b_names, b_end) = plug_into_bridge(newnet, &bridge, "b", B_IP)?;
    let host_names = interface_names()?;

    // none: a new network namespace, nothing added.
    let none = list_interfaces_from(newnet)?;
    // host: no network namespace of its own (docker run --network host).
    let host_mode = list_interfaces_from(CloneFlags::empty())?;

    // bridge, the traffic: A connects to B's server at 10.200.2.3 through the bridge.
    b.chan.go()?;
    b.chan.wait_go()?; // B listens
    a.chan.go()?;
    let a_got: String = a.chan.recv()?;
    let b_heard: String = b.chan.recv()?;
    // Look now: once A and B exit, their namespaces go, and their veth pairs with them.
    let ports = bridge_ports(&bridge)?;
    lab.hold(a.pid, &[lab.nsenter(a.pid, "-n ip -br addr"), host.look(lab, "bridge link")]);
    for child in [&mut a, &mut b] {
        child.chan.go()?;
        child.wait_success()?;
    }

    let host_facts = Facts::new()
        .with("net_ns", &host.net_ns)
        .with("interfaces", &host_names)
        .with("bridge_ports", &ports);
    let inside = Facts::new()
        .with("none_mode_interfaces", &none)
        .with("host_mode_interfaces", &host_mode)
        .with("bridge_a_interfaces", &a_names)
        .with("bridge_b_interfaces", &b_names)
        .with("a_sent_to_10.200.2.3:8080", "hello B, this is A")
        .with("b_heard", &b_heard)
        .with("a_got_back", &a_got);
    let verdict = Verdict::check(
        none == ["lo"]
            && host_mode == host_names
            && a_names == ["lo", a_end.as_str()]
            && b_names == ["lo", b_end.as_str()]
            && a_got == "hello B, this is A",
    );
    Ok(Observed::new(verdict, host_facts, inside))
}

/// A bridge-mode container: a process in a new network namespace (`newnet`),
/// linked to `bridge` by a veth pair. Returns it, the interfaces it sees,
/// and the name of its end.
fn plug_into_bridge(
    newnet: CloneFlags,
    bridge: &str,
    role: &str,
    ip: Ipv4Addr,
) -> Result<(Child, Vec<String>, String)> {
    let (port, end) = (ifname(&format!("{role}h")), ifname(role));
    let mut child = clone_child(newnet, |chan| {
        chan.wait_go()?; // our end has arrived
        netlink::add_address(&end, ip, 24)?;
        netlink::set_up(&end)?;
        netlink::wait_until_running(&end)?;
        chan.send(&interface_names()?)?;
        // B serves one echo; A sends B a message.
        let b_server = SocketAddrV4::new(B_IP, PORT);
        chan.wait_go()?;
        if ip == B_IP {
            let server = TcpListener::bind(b_server).context("bind 10.200.2.3:8080")?;
            chan.go()?; // listening
            chan.send(&echo_one(&server)?)?;
        } else {
            chan.send(&round_trip(b_server, "hello B, this is A")?)?;
        }
        chan.wait_go()
    })?;
    // The same three steps as veth-pair, and one more: plug the host end into the bridge.
    netlink::create_veth(&port, &end)?;
    let path = format!("/proc/{}/ns/net", child.pid);
    let netns = File::open(&path).with_context(|| format!("open {path}"))?;
    netlink::move_to_netns(&end, &netns)?;
    netlink::set_master(&port, bridge)?;
    netlink::set_up(&port)?;
    child.chan.go()?;
    let names = child.chan.recv()?;
    Ok((child, names, end))
}

/// The interfaces a process created with `flags` sees.
fn list_interfaces_from(flags: CloneFlags) -> Result<Vec<String>> {
    let mut child = clone_child(flags, |chan| chan.send(&interface_names()?))?;
    let names = child.chan.recv()?;
    child.wait_success()?;
    Ok(names)
}

/// The interfaces plugged into `bridge` (`bridge link` lists them).
fn bridge_ports(bridge: &str) -> Result<Vec<String>> {
    let bridge_index = netlink::index_of(bridge)?;
    let links = netlink::links()?;
    Ok(links.into_iter().filter(|l| l.master == Some(bridge_index)).map(|l| l.name).collect())
}
// ANCHOR_END: network_modes

// ANCHOR: kept_alive_by_mount
fn kept_alive_by_mount(lab: &Lab) -> Result<Observed> {
    let Some(host) = Host::enter(lab)? else { return Ok(Observed::skip(REAL_HOST_ONLY)) };
    // Our bind mount must never appear on the host: give this process a
    // private mount namespace and a scratch tmpfs. Both vanish when it exits.
    unshare(CloneFlags::CLONE_NEWNS).context("unshare(CLONE_NEWNS)")?;
    mount(None::<&str>, "/", None::<&str>, MsFlags::MS_REC | MsFlags::MS_PRIVATE, None::<&str>)
        .context("mount(MS_REC|MS_PRIVATE) on /")?;
    mount(Some("nslab"), "/tmp", Some("tmpfs"), MsFlags::empty(), Some("size=16k"))
        .context("mount tmpfs on /tmp")?;
    let keeper = "/tmp/netns-keeper"; // ip netns add NAME uses /run/netns/NAME
    File::create(keeper).with_context(|| format!("create {keeper}"))?;

    let mut container = clone_child(lab.isolate(CloneFlags::CLONE_NEWNET), |chan| {
        netlink::set_up("lo")?; // leave a mark in the namespace: lo is up
        chan.send(&ns::link(None, "net")?)?;
        chan.wait_go()
    })?;
    let container_net: String = container.chan.recv()?;
    // The same call `ip netns add` makes (man 8 ip-netns): bind the namespace file onto a path.
    let source = format!("/proc/{}/ns/net", container.pid);
    mount(Some(source.as_str()), keeper, None::<&str>, MsFlags::MS_BIND, None::<&str>)
        .with_context(|| format!("bind mount {source} on {keeper}"))?;
    let through_root = format!("--net=/proc/{}/root{keeper} ip addr", std::process::id());
    lab.hold(container.pid, &[lab.nsenter(container.pid, &through_root)]);
    container.chan.go()?;
    container.wait_success()?; // the namespace's only process has exited
    let processes_left = ns::processes_in("net", &container_net);

    let (net_through_mount, lo_through_mount) = enter_and_look(keeper)?;
    umount2(keeper, MntFlags::MNT_DETACH).with_context(|| format!("umount {keeper}"))?;
    let after_umount = match enter_and_look(keeper) {
        Ok(_) => "ok".to_owned(),
        Err(e) => e.root_cause().to_string(),
    };

    let host_facts = Facts::new()
        .with("net_ns", &host.net_ns)
        .with("bind_mount", format!("{source} -> {keeper}"))
        .with("processes_left_in_namespace", processes_left)
        .with("setns_after_umount", &after_umount);
    let inside = Facts::new()
        .with("container_net_ns", &container_net)
        .with("net_ns_entered_through_mount", &net_through_mount)
        .with("lo_seen_through_mount", &lo_through_mount);
    let verdict = Verdict::check(
        !host.net_ns.starts_with(&container_net)
            && processes_left == 0
            && net_through_mount == container_net
            && lo_through_mount.starts_with("UP")
            && after_umount == "EINVAL",
    );
    Ok(Observed::new(verdict, host_facts, inside))
}

/// A new process enters the network namespace named by `path` with setns()
/// and reports its ns link and the state of lo there.
fn enter_and_look(path: &str) -> Result<(String, String)> {
    let mut visitor = fork_child(|chan| {
        let file = File::open(path).with_context(|| format!("open {path}"))?;
        setns(&file, CloneFlags::CLONE_NEWNET).map_err(|errno| anyhow::anyhow!("{errno:?}"))?;
        chan.send(&(ns::link(None, "net")?, describe("lo")?))
    })?;
    let seen = visitor.chan.recv();
    let _ = visitor.wait();
    seen
}

// ANCHOR_END: kept_alive_by_mount

// ANCHOR: helpers
/// The names of this namespace's interfaces, in index order (`ip -br link`).
fn interface_names() -> Result<Vec<String>> {
    Ok(netlink::links()?.into_iter().map(|link| link.name).collect())
}

/// `UP 10.200.1.1/24` or `DOWN`: an interface's state and IPv4 addresses.
fn describe(name: &str) -> Result<String> {
    let index = netlink::index_of(name)?;
    let link = netlink::links()?.into_iter().find(|l| l.index == index);
    let mut text = if link.is_some_and(|l| l.up) { "UP" } else { "DOWN" }.to_owned();
    for (on, address) in netlink::addresses()? {
        if on == index {
            text = format!("{text} {address}");
        }
    }
    Ok(text)
}

/// A list-of-text fact (interface names), for verdicts.
fn texts(facts: &Facts, key: &str) -> Vec<String> {
    let items = facts.get(key).and_then(|v| v.as_array());
    items
        .map(|a| a.iter().filter_map(|v| Some(v.as_str()?.to_owned())).collect())
        .unwrap_or_default()
}

/// A list as one fact: `a, b, c`, or `none`.
fn listed(items: Vec<String>) -> String {
    if items.is_empty() { "none".into() } else { items.join(", ") }
}

/// `ok`, or the errno's name (`ECONNREFUSED`), of a socket call.
fn outcome<T>(result: Result<T, impl std::borrow::Borrow<std::io::Error>>) -> String {
    match result {
        Ok(_) => "ok".into(),
        Err(e) => match e.borrow().raw_os_error() {
            Some(code) => format!("{:?}", Errno::from_raw(code)),
            None => e.borrow().kind().to_string(),
        },
    }
}

/// `connect()` to a TCP server, giving up after [`TIMEOUT`].
fn connect(to: SocketAddrV4) -> std::io::Result<TcpStream> {
    let stream = TcpStream::connect_timeout(&to.into(), TIMEOUT)?;
    stream.set_read_timeout(Some(TIMEOUT))?;
    stream.set_write_timeout(Some(TIMEOUT))?;
    Ok(stream)
}

/// Client side: connect, send one line, return the line that comes back.
fn round_trip(to: SocketAddrV4, message: &str) -> Result<String> {
    let stream = connect(to).with_context(|| format!("connect to {to}"))?;
    send_line(&stream, message)?;
    read_line(&stream)
}

/// Server side: accept one connection within [`TIMEOUT`], read one line,
/// send it back, and return it.
fn echo_one(server: &TcpListener) -> Result<String> {
    server.set_nonblocking(true)?;
    let deadline = Instant::now() + TIMEOUT;
    let stream = loop {
        match server.accept() {
            Ok((stream, _)) => break stream,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(2));
            }
            Err(e) => return Err(e).context("accept"),
        }
    };
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(TIMEOUT))?;
    let line = read_line(&stream)?;
    send_line(&stream, &line)?;
    Ok(line)
}

/// Both sides in one process: connect to our own `server` at `to`, and echo.
fn echo_through(server: &TcpListener, to: SocketAddrV4, message: &str) -> Result<String> {
    let client = connect(to).with_context(|| format!("connect to {to}"))?;
    send_line(&client, message)?;
    echo_one(server)?; // the connection is already queued: accept returns at once
    read_line(&client)
}

/// A server at `to` in this namespace, and a round trip to it.
fn echo_within_namespace(to: SocketAddrV4, message: &str) -> Result<String> {
    let server = TcpListener::bind(to).with_context(|| format!("bind {to}"))?;
    echo_through(&server, to, message)
}

fn send_line(mut stream: &TcpStream, line: &str) -> Result<()> {
    stream.write_all(format!("{line}\n").as_bytes()).context("send")
}

fn read_line(stream: &TcpStream) -> Result<String> {
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).context("recv")?;
    Ok(line.trim_end().to_owned())
}
// ANCHOR_END: helpers
