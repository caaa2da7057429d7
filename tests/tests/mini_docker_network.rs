//! mini-docker `--net bridge` end to end (claims NET-3, NET-4): two
//! containers talk over the bridge, a published port answers on the host
//! side, 20 containers started at once get 20 addresses, and nothing
//! (veth, lease) outlives a run that succeeds, fails or is killed.
//!
//! The machine's own network is never touched: every mini-docker command
//! runs in a throwaway network namespace of the test's own, which
//! mini-docker takes for "the host" (see `nslab_tests::mini_docker`). The
//! test's own checks from "the host" run on a thread that has joined it.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, TcpListener, TcpStream, UdpSocket};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nslab_tests::mini_docker::{self, LIMIT, Lab, Netns, Ran, Running};
use nslab_tests::{As, NOBODY};
use serde_json::Value;

/// The binaries each lab copies: mini-docker, and the probe it mounts.
const BINARIES: [&str; 2] = [env!("CARGO_BIN_EXE_mini-docker"), env!("CARGO_BIN_EXE_probe")];

/// "The host" of the lab's containers (see [`mini_docker::Netns::on_host`]).
fn host(lab: &Lab) -> &Netns {
    lab.netns().expect("a root lab has a network namespace")
}

/// Starts `run --rm --net bridge -v BIN:/probe:ro OPTIONS… host CMD…`.
fn spawn_run(lab: &Lab, options: &[&str], command: &[&str]) -> Running {
    let mut all = vec!["--rm", "--net", "bridge"];
    all.extend_from_slice(options);
    lab.spawn(&lab.run_args(&all, command))
}

/// [`spawn_run`] to its end, at most [`LIMIT`].
fn run(lab: &Lab, options: &[&str], command: &[&str]) -> Ran {
    spawn_run(lab, options, command).finish()
}

/// The addresses leased now (`lease-A.B.C.D` files in the state root).
fn leases(lab: &Lab) -> Vec<String> {
    let mut leases: Vec<String> = std::fs::read_dir(lab.state())
        .expect("state")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|n| n.strip_prefix("lease-").map(str::to_owned))
        .collect();
    leases.sort();
    leases
}

/// Waits until `n` addresses are leased.
fn wait_for_leases(lab: &Lab, n: usize) -> Vec<String> {
    let start = Instant::now();
    loop {
        let leases = leases(lab);
        if leases.len() >= n {
            return leases;
        }
        assert!(start.elapsed() < LIMIT, "only {leases:?} leased");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Nothing left but `lo` and the bridge, and no lease (veth pairs go with
/// their namespace, which the kernel tears down asynchronously).
fn assert_clean(lab: &Lab) {
    assert_clean_with(lab, &["lo", "minid0"]);
}

/// [`assert_clean`], with these interfaces left.
fn assert_clean_with(lab: &Lab, interfaces: &[&str]) {
    let start = Instant::now();
    while host(lab).interfaces() != interfaces {
        assert!(start.elapsed() < LIMIT, "left behind: {:?}", host(lab).interfaces());
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(leases(lab).is_empty(), "leases left: {:?}", leases(lab));
    let state = lab.state_entries();
    assert!(state.is_empty(), "state left: {state:?}");
}

/// NET-3, NET-4: a server container answers another container through the
/// bridge, and the host through its published port (127.0.0.1 included).
#[test]
fn bridge_traffic_and_published_port() {
    let Some(lab) = Lab::new("mini-docker --net bridge traffic", As::Root, &BINARIES) else {
        return;
    };
    let server = spawn_run(
        &lab,
        &["--hostname", "srv", "-p", "18080:8000"],
        &["/probe/probe", "serve", "8000", "2"],
    );
    let address = wait_for_leases(&lab, 1).remove(0);
    let target = format!("{address}:8000");
    let client = run(&lab, &[], &["/probe/probe", "connect", &target]);
    assert_eq!(client.code, 0, "{}", client.stderr);
    assert_eq!(client.json()["answer"], "hello from srv");
    let answer = host(&lab).on_host(|| {
        let deadline = Instant::now() + Duration::from_secs(10);
        let stream = loop {
            match TcpStream::connect((Ipv4Addr::LOCALHOST, 18080)) {
                Ok(stream) => break stream,
                Err(e) if Instant::now() > deadline => panic!("published port: {e}"),
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        };
        stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
        let mut line = String::new();
        BufReader::new(stream).read_line(&mut line).expect("answer");
        line
    });
    assert_eq!(answer, "hello from srv\n");
    let server = server.finish();
    assert_eq!((server.code, server.json()["served"].as_u64()), (0, Some(2)), "{}", server.stderr);
    let hosts = run(&lab, &["--hostname", "named"], &["cat", "/etc/hosts"]);
    assert!(
        hosts.stdout.contains("\tnamed\n") && hosts.stdout.contains("10.89.0."),
        "{}",
        hosts.stdout
    );
    assert_clean(&lab);
}

/// `-p HOSTPORT:PORT/udp`: a datagram to the host's port reaches the
/// container, and its answer comes back to the sender.
#[test]
fn published_udp_port() {
    let Some(lab) = Lab::new("mini-docker -p …/udp", As::Root, &BINARIES) else { return };
    let server =
        spawn_run(&lab, &["-p", "15353:5353/udp"], &["/probe/probe", "udp-echo", "5353", "1"]);
    wait_for_leases(&lab, 1);
    let answer = host(&lab).on_host(|| {
        let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
        socket.set_read_timeout(Some(Duration::from_millis(200))).expect("timeout");
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut buf = [0u8; 64];
        // UDP has no handshake: resend until the echo server is up.
        loop {
            socket.send_to(b"ping", (Ipv4Addr::LOCALHOST, 15353)).expect("send");
            match socket.recv_from(&mut buf) {
                Ok((n, _)) => break String::from_utf8_lossy(&buf[..n]).into_owned(),
                Err(e) if Instant::now() > deadline => panic!("no UDP answer: {e}"),
                Err(_) => {}
            }
        }
    });
    assert_eq!(answer, "echo ping");
    let server = server.finish();
    assert_eq!(server.code, 0, "{} {}", server.stdout, server.stderr);
    assert_clean(&lab);
}

/// 20 `run`s at once: 20 different addresses (the O_EXCL leases), each
/// with a default route through the bridge.
#[test]
fn twenty_concurrent_containers_get_distinct_addresses() {
    let Some(lab) = Lab::new("mini-docker --net bridge concurrency", As::Root, &BINARIES) else {
        return;
    };
    let command =
        ["sh", "-c", "/probe/probe ip && grep -c '^eth0\t00000000' /proc/net/route && sleep 1"];
    let children: Vec<Running> = (0..20).map(|_| spawn_run(&lab, &[], &command)).collect();
    let mut addresses = Vec::new();
    for child in children {
        let ran = child.finish();
        assert_eq!(ran.code, 0, "{}", ran.stderr);
        let mut lines = ran.stdout.lines();
        let report: Value = serde_json::from_str(lines.next().expect("ip")).expect("json");
        let found = report["addresses"].as_array().expect("addresses").clone();
        assert_eq!(found.len(), 1, "{report}");
        assert_eq!(lines.next(), Some("1"), "one default route via eth0");
        addresses.push(found[0].as_str().expect("address").to_owned());
    }
    addresses.sort();
    addresses.dedup();
    assert_eq!(addresses.len(), 20, "{addresses:?}");
    assert!(addresses.iter().all(|a| a.starts_with("10.89.0.")), "{addresses:?}");
    assert_clean(&lab);
}

/// A failing command, a port already in use (a start that fails after the
/// lease was taken) and a killed mini-docker (the next run sweeps its
/// lease): nothing is left.
#[test]
fn nothing_left_after_failure_or_kill() {
    let Some(lab) = Lab::new("mini-docker --net bridge cleanup", As::Root, &BINARIES) else {
        return;
    };
    let failed = run(&lab, &[], &["sh", "-c", "exit 3"]);
    assert_eq!(failed.code, 3, "{}", failed.stderr);

    let busy =
        host(&lab).on_host(|| TcpListener::bind((Ipv4Addr::UNSPECIFIED, 18081)).expect("bind"));
    let refused = run(&lab, &["-p", "18081:80"], &["true"]);
    assert_eq!(refused.code, 125, "{}", refused.stderr);
    assert!(refused.stderr.contains("cannot publish 18081:80/tcp"), "{}", refused.stderr);
    drop(busy);
    assert!(leases(&lab).is_empty(), "a failed start kept {:?}", leases(&lab));

    let killed = spawn_run(&lab, &[], &["sleep", "30"]);
    wait_for_leases(&lab, 1);
    let start = Instant::now();
    while host(&lab).interfaces().len() < 3 {
        assert!(start.elapsed() < LIMIT, "no veth appeared");
        std::thread::sleep(Duration::from_millis(5));
    }
    killed.kill();
    // The container dies with mini-docker; its namespace takes the veth pair.
    while host(&lab).interfaces() != ["lo", "minid0"] {
        assert!(
            start.elapsed() < LIMIT,
            "veth outlived the container: {:?}",
            host(&lab).interfaces()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(leases(&lab).len(), 1, "nobody could free the lease yet");
    let next = run(&lab, &[], &["true"]);
    assert_eq!(next.code, 0, "{}", next.stderr);

    // A setup that fails in the child (a volume's mount point that cannot
    // be made) while the parent makes the veth pair beside it: the error
    // is the child's, whichever finishes first (the parent's work then
    // finds the namespace gone), and nothing is left.
    for round in 0..6 {
        let refused = run(&lab, &["-v", "/tmp:/proc/sys/x"], &["true"]);
        assert_eq!(refused.code, 125, "round {round}: {}", refused.stderr);
        assert!(
            refused.stderr.contains("creating \"/proc/sys/x\""),
            "round {round}: not the child's error: {}",
            refused.stderr
        );
    }
    assert_clean(&lab);
}

/// `--net container:NAME`, a Kubernetes pod's shared network: the second
/// container has the first one's address and reaches its server on
/// 127.0.0.1; it takes no lease and no veth of its own.
#[test]
fn joined_network_namespace() {
    let Some(lab) = Lab::new("mini-docker --net container:NAME", As::Root, &BINARIES) else {
        return;
    };
    let serve = ["/probe/probe", "serve", "8000", "2"];
    let pod = ["-d", "--rm", "--name", "pod", "--hostname", "srv"];
    let started = lab.run(&lab.run_args(&pod, &serve));
    assert_eq!(started.code, 0, "{}", started.stderr);
    let leased = wait_for_leases(&lab, 1);
    let joined = lab.run(&lab.run_args(
        &["--rm", "--net", "container:pod"],
        &["sh", "-c", "/probe/probe ip && /probe/probe connect 127.0.0.1:8000"],
    ));
    assert_eq!(joined.code, 0, "{}", joined.stderr);
    let mut lines = joined.stdout.lines();
    let ip: Value = serde_json::from_str(lines.next().unwrap_or("")).expect("probe ip");
    assert_eq!(ip["addresses"], serde_json::json!(leased), "the pod's address");
    let answer: Value = serde_json::from_str(lines.next().unwrap_or("")).expect("probe connect");
    assert_eq!(answer["answer"], "hello from srv", "localhost is shared");
    assert_eq!(leases(&lab), leased, "the joined container takes no lease");
    // The pod's second answer, to a container on the bridge; then it ends.
    let target = format!("{}:8000", leased[0]);
    let neighbour = run(&lab, &[], &["/probe/probe", "connect", &target]);
    assert_eq!(neighbour.json()["answer"], "hello from srv");
    let start = Instant::now();
    while !lab.state_entries().is_empty() {
        assert!(start.elapsed() < LIMIT, "the pod never ended: {:?}", lab.state_entries());
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_clean(&lab);
}

/// Bad network flags: one line, exit 125.
#[test]
fn invalid_network_flags() {
    let Some(lab) = Lab::new("mini-docker network flags", As::Root, &BINARIES) else { return };
    for (args, message) in [
        (&["run", "-p", "80", "host", "true"][..], "is not a port mapping"),
        (&["run", "-p", "8080:80/sctp", "host", "true"], "is not a port mapping"),
        (&["run", "--net", "none", "-p", "8080:80", "host", "true"], "-p/--publish needs"),
        (&["run", "--net", "bridge", "--subnet", "10.0.0.0/8", "host", "true"], "is not a subnet"),
        (&["run", "--net", "bogus", "host", "true"], "use bridge, none, host or container:NAME"),
        (&["run", "--net", "container:", "host", "true"], "use bridge, none, host or container"),
        (&["run", "--net", "container:nope", "host", "true"], "no such container \"nope\""),
    ] {
        let ran = lab.run(args);
        ran.assert_refused(125, message);
    }
    // Rootless: bridge networking needs CAP_NET_ADMIN in the host's namespace.
    let mut cmd = Command::new(lab.dir.join("bin/mini-docker"));
    let state = std::env::temp_dir().join(format!("md-net-rootless-{}", std::process::id()));
    cmd.arg("--root").arg(&state).args(["run", "--rm", "--net", "bridge", "host", "true"]);
    cmd.uid(NOBODY).gid(NOBODY).env_remove("XDG_RUNTIME_DIR").current_dir("/");
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let ran = mini_docker::finish(nslab_tests::spawn_retrying(&mut cmd), LIMIT);
    let _ = std::fs::remove_dir_all(&state);
    assert_eq!(ran.code, 125);
    assert!(ran.stderr.contains("--net bridge needs root"));
}

/// `/proc/net/route` as `ip route` would print it (the kernel writes each
/// address as a native-endian hexadecimal number).
fn routes(table: &str) -> Vec<String> {
    let address = |hex: &str| {
        let n = u32::from_str_radix(hex, 16).unwrap_or_else(|e| panic!("{hex:?}: {e}"));
        Ipv4Addr::from(n.to_ne_bytes())
    };
    table
        .lines()
        .skip(1)
        .map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let (device, destination, gateway, mask) = (f[0], address(f[1]), address(f[2]), f[7]);
            let prefix = address(mask).to_bits().count_ones();
            let mut route = match prefix {
                0 => "default".to_owned(),
                _ => format!("{destination}/{prefix}"),
            };
            if !gateway.is_unspecified() {
                route += &format!(" via {gateway}");
            }
            route + &format!(" dev {device}")
        })
        .collect()
}

/// One side's view, for the snapshot: a title, then `name  value` rows,
/// a value of several lines continued under the first.
fn view(title: &str, rows: &[(&str, Vec<String>)]) -> String {
    let mut text = format!("{title}\n");
    for (name, values) in rows {
        let values = if values.is_empty() { vec!["(none)".to_owned()] } else { values.clone() };
        for (i, value) in values.iter().enumerate() {
            let name = if i == 0 { *name } else { "" };
            text += &format!("  {name:<12} {value}\n");
        }
    }
    text
}

/// What a running container sees of its network, read by `exec`.
struct Inside {
    hostname: String,
    interfaces: Vec<String>,
    addresses: Vec<String>,
    routes: Vec<String>,
    hosts: Vec<String>,
}

impl Inside {
    fn rows(&self) -> Vec<(&'static str, Vec<String>)> {
        vec![
            ("hostname", vec![self.hostname.clone()]),
            ("interfaces", vec![self.interfaces.join(" ")]),
            ("addresses", self.addresses.clone()),
            ("routes", self.routes.clone()),
            ("/etc/hosts", self.hosts.clone()),
        ]
    }
}

/// `mini-docker ARGS…`, which must succeed; its standard output.
fn ok<S: AsRef<OsStr> + std::fmt::Debug>(lab: &Lab, args: &[S]) -> String {
    let ran = lab.run(args);
    assert_eq!(ran.code, 0, "{args:?}: {}", ran.stderr);
    ran.stdout
}

/// `exec NAME sh -c …`: the interfaces, addresses, routes and /etc/hosts
/// of a running container (with the `host` image's own programs and the
/// probe, no `ip` needed).
fn inside(lab: &Lab, name: &str) -> Inside {
    let script = "ls /sys/class/net; echo ==; /probe/probe ip; echo ==; \
                  cat /proc/net/route; echo ==; cat /etc/hosts; echo ==; \
                  cat /proc/sys/kernel/hostname";
    let out = ok(lab, &["exec", name, "sh", "-c", script]);
    let parts: Vec<&str> = out.split("==\n").collect();
    assert_eq!(parts.len(), 5, "{out}");
    let lines = |s: &str| s.lines().map(str::to_owned).collect::<Vec<_>>();
    let ip: Value = serde_json::from_str(parts[1]).expect("probe ip");
    let addresses = ip["addresses"].as_array().expect("addresses");
    Inside {
        hostname: parts[4].trim().to_owned(),
        interfaces: lines(parts[0]),
        addresses: addresses.iter().filter_map(|a| Some(a.as_str()?.to_owned())).collect(),
        routes: routes(parts[2]),
        hosts: lines(parts[3]),
    }
}

/// The host's addresses (`probe ip`, the containers' own reader, run in
/// the lab's namespace) and routes (read on a thread in it).
fn host_addresses_and_routes(lab: &Lab) -> (Vec<String>, Vec<String>) {
    let mut probe = Command::new(lab.bin("probe"));
    probe.arg("ip").stdout(Stdio::piped()).stderr(Stdio::piped());
    host(lab).enter(&mut probe);
    let ran = mini_docker::finish(nslab_tests::spawn_retrying(&mut probe), LIMIT);
    let ip = ran.json();
    let addresses = ip["addresses"].as_array().expect("addresses");
    let addresses = addresses.iter().filter_map(|a| Some(a.as_str()?.to_owned())).collect();
    let route = host(lab).on_host(|| {
        std::fs::read_to_string("/proc/thread-self/net/route").expect("/proc/net/route")
    });
    (addresses, routes(&route))
}

/// Waits until the container `id` has ended and its state is gone.
fn wait_gone(lab: &Lab, id: &str) {
    let start = Instant::now();
    while lab.state_entries().iter().any(|e| e == id) {
        assert!(start.elapsed() < LIMIT, "{id} never ended");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// For the book: one container on the default network as the host and the
/// container see it, a second one in its network namespace
/// (`--net container:web`), and what happens when `web` ends first:
/// `sidecar` keeps the namespace and holds the lease, so the next
/// container gets another address.
#[test]
fn bridge_and_joined_views() {
    let Some(lab) = Lab::new("mini-docker network views", As::Root, &BINARIES) else { return };
    let detached = |name: &str, options: &[&str], command: &[&str]| {
        let mut all = vec!["-d", "--rm", "--name", name, "--hostname", name];
        all.extend_from_slice(options);
        ok(&lab, &lab.run_args(&all, command)).trim().to_owned()
    };
    // Without --net: as root, the bridge (Docker's default).
    let web = detached("web", &[], &["/probe/probe", "serve", "8000", "1"]);
    let veth = format!("md{}", &web[..10]);
    let host_interfaces = host(&lab).interfaces();
    assert_eq!(host_interfaces, ["lo", veth.as_str(), "minid0"]);
    let (host_addresses, host_routes) = host_addresses_and_routes(&lab);
    assert_eq!(host_addresses, ["10.89.0.1"], "the bridge's address");
    assert_eq!(host_routes, ["10.89.0.0/24 dev minid0"]);
    assert_eq!(leases(&lab), ["10.89.0.2"]);
    let in_web = inside(&lab, "web");
    assert_eq!(in_web.hostname, "web");
    assert_eq!(in_web.interfaces, ["eth0", "lo"]);
    assert_eq!(in_web.addresses, ["10.89.0.2"]);
    assert_eq!(in_web.routes, ["default via 10.89.0.1 dev eth0", "10.89.0.0/24 dev eth0"]);
    assert!(in_web.hosts.contains(&"10.89.0.2\tweb".to_owned()), "{:?}", in_web.hosts);

    let sidecar = detached("sidecar", &["--net", "container:web"], &["sleep", "30"]);
    let in_sidecar = inside(&lab, "sidecar");
    assert_eq!(in_sidecar.hostname, "sidecar", "a UTS namespace of its own");
    assert_eq!(in_sidecar.interfaces, in_web.interfaces, "the same interfaces");
    assert_eq!(in_sidecar.addresses, in_web.addresses, "the same address");
    assert_eq!(in_sidecar.routes, in_web.routes);
    assert_eq!(in_sidecar.hosts, in_web.hosts, "web's /etc/hosts, copied");
    let both_interfaces = host(&lab).interfaces();
    assert_eq!(both_interfaces, host_interfaces, "no veth of its own");
    assert_eq!(leases(&lab), ["10.89.0.2"], "no lease of its own");
    let inspected: Value = serde_json::from_str(&ok(&lab, &["inspect", "sidecar"])).expect("json");
    let network = &inspected[0]["network"];
    let mode = format!("container:{web}");
    assert_eq!((&network["mode"], &network["address"]), (&mode.into(), &"10.89.0.2".into()));
    let answer = ok(&lab, &["exec", "sidecar", "/probe/probe", "connect", "127.0.0.1:8000"]);
    let answer: Value = serde_json::from_str(&answer).expect("probe connect");
    assert_eq!(answer["answer"], "hello from web", "127.0.0.1 is web's too");

    // web has answered once and ends; sidecar keeps the namespace alive.
    wait_gone(&lab, &web);
    let after_interfaces = host(&lab).interfaces();
    assert_eq!(after_interfaces, host_interfaces, "web's veth outlives web");
    let after_leases = leases(&lab);
    assert_eq!(after_leases, ["10.89.0.2"], "sidecar holds web's lease");
    let still = inside(&lab, "sidecar");
    assert_eq!(still.addresses, ["10.89.0.2"], "sidecar still uses it");
    let newcomer = ok(&lab, &lab.run_args(&["--rm"], &["/probe/probe", "ip"]));
    let newcomer: Value = serde_json::from_str(&newcomer).expect("probe ip");
    assert_eq!(newcomer["addresses"], serde_json::json!(["10.89.0.3"]), "not given out twice");

    // (Not an exec'd client of a server in sidecar: when that server ends,
    // so does sidecar's PID namespace, and the client may die with it.)
    ok(&lab, &["kill", "sidecar"]);
    wait_gone(&lab, &sidecar);
    assert_clean(&lab);

    // The snapshots; the veth is named after web's random ID.
    let redact = |names: &[String]| names.join(" ").replace(&veth, "md[ID]");
    let mut text = view(
        "the host (the lab's network namespace), while web runs:",
        &[
            ("interfaces", vec![redact(&host_interfaces)]),
            ("addresses", host_addresses),
            ("routes", host_routes),
            ("leases", vec!["10.89.0.2".to_owned()]),
        ],
    );
    text += "\n";
    text += &view("in web (run --hostname web …, no --net: the bridge):", &in_web.rows());
    insta::assert_snapshot!("default-bridge", text);

    let leased = vec!["10.89.0.2".to_owned()];
    let again =
        format!("{} (10.89.0.2 is still taken)", newcomer["addresses"][0].as_str().unwrap_or(""));
    let mut text =
        view("in sidecar (run --hostname sidecar --net container:web …):", &in_sidecar.rows());
    text += "\n";
    text += &view(
        "the host, while both run:",
        &[("interfaces", vec![redact(&both_interfaces)]), ("leases", leased)],
    );
    text += &format!(
        "\nsidecar connects to 127.0.0.1:8000, answered: {}\n\n",
        answer["answer"].as_str().unwrap_or("")
    );
    text += &view(
        "web has ended, sidecar runs on:",
        &[
            ("interfaces", vec![redact(&after_interfaces)]),
            ("leases", after_leases),
            ("sidecar has", still.addresses),
            ("a new run", vec![again]),
        ],
    );
    insta::assert_snapshot!("joined-namespace", text);
}

/// A subnet the host already routes is refused before the bridge is kept:
/// the host would lose its way to that network otherwise. Both kinds: a
/// LAN of its own interfaces, and a network reached through a gateway (a
/// VPN's), which has no local address in it.
#[test]
fn subnet_in_use_is_refused() {
    let Some(lab) = Lab::new("mini-docker --subnet in use", As::Root, &BINARIES) else { return };
    host(&lab).on_host(|| {
        rtnl::create_bridge("lan0").expect("a stand-in for the host's LAN");
        rtnl::add_address("lan0", Ipv4Addr::new(10, 77, 3, 1), 24).expect("its address");
        rtnl::set_up("lan0").expect("up");
        let vpn = Ipv4Addr::new(10, 66, 0, 0);
        rtnl::add_route(vpn, 16, Ipv4Addr::new(10, 77, 3, 254)).expect("a route via the LAN");
    });
    for (subnet, network) in [("10.77.0.0/16", "10.77.3.0/24"), ("10.66.5.0/24", "10.66.0.0/16")] {
        let refused = run(&lab, &["--subnet", subnet], &["true"]);
        assert_eq!(refused.code, 125, "{}", refused.stderr);
        assert_eq!(
            refused.stderr,
            format!(
                "mini-docker: --subnet {subnet} overlaps {network}, which this host already \
                 routes: choose another\n"
            )
        );
        assert_eq!(host(&lab).interfaces(), ["lan0", "lo"], "the new bridge was taken away");
    }
    let next = run(&lab, &["--subnet", "10.78.0.0/24"], &["true"]);
    assert_eq!(next.code, 0, "{}", next.stderr);
    // With minid0 there (made by the run above), every run still checks,
    // and a refused one leaves the bridge to the others.
    let refused = run(&lab, &["--subnet", "10.66.5.0/24"], &["true"]);
    assert_eq!(refused.code, 125, "{}", refused.stderr);
    assert!(refused.stderr.contains("overlaps 10.66.0.0/16"), "{}", refused.stderr);
    let (addresses, _) = host_addresses_and_routes(&lab);
    assert!(!addresses.contains(&"10.66.5.1".to_owned()), "minid0 got it: {addresses:?}");
    assert_clean_with(&lab, &["lan0", "lo", "minid0"]);
}

/// `--init`'s reaper is a copy of mini-docker and never calls execve, so
/// close-on-exec does not clean its descriptors: it must close them itself.
/// With a published port, mini-docker holds a listening socket of the
/// host's namespace; the reaper must keep only stdio and its sync channel,
/// and a command that is PID 1 itself (the second container) nothing.
#[test]
fn init_holds_no_host_descriptor() {
    let Some(lab) = Lab::new("mini-docker init's descriptors", As::Root, &BINARIES) else { return };
    let fds = ["-d", "--rm", "--init", "--name", "fds", "-p", "18090:8000"];
    let started = lab.run(&lab.run_args(&fds, &["sleep", "30"]));
    assert_eq!(started.code, 0, "{}", started.stderr);
    // And one in fds's network namespace: it held it open to join it.
    let joiner = ["run", "-d", "--rm", "--name", "side", "--net", "container:fds"];
    let joined = lab.run(&[&joiner[..], &["host", "sleep", "30"]].concat());
    assert_eq!(joined.code, 0, "{}", joined.stderr);
    let pids_of = |name: &str| {
        let inspected = lab.run(&["inspect", name]);
        let inspected: Value = serde_json::from_str(&inspected.stdout).expect("inspect");
        inspected[0]["pids"].clone()
    };
    let (fds, side) = (pids_of("fds"), pids_of("side"));
    assert_eq!(side["init"], side["command"], "without --init, PID 1 is the command");
    // The reaper keeps its sync channel; the commands hold nothing.
    for (who, pid, expected) in [
        ("the reaper", &fds["init"], 1),
        ("the command", &fds["command"], 0),
        ("PID 1, the command", &side["init"], 0),
    ] {
        let pid = pid.as_u64().unwrap_or_else(|| panic!("no {who} pid"));
        let mut open: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
            .expect("fd list")
            .filter_map(|e| {
                let e = e.ok()?;
                let target = std::fs::read_link(e.path()).ok()?;
                Some(format!("{} -> {}", e.file_name().to_string_lossy(), target.display()))
            })
            .filter(|l| !["0 ", "1 ", "2 "].iter().any(|s| l.starts_with(s)))
            .collect();
        open.sort();
        assert_eq!(open.len(), expected, "{who} holds {open:?}");
        assert!(open.iter().all(|l| l.contains("socket:")), "{who} holds {open:?}");
    }
    // `exec` started with a descriptor it never asked for (a host
    // directory, as a shell's `exec 7<dir` would leave): the command in
    // the container must not inherit it.
    let leaked = std::fs::File::open(&lab.dir).expect("a host directory");
    let fd = std::os::fd::AsRawFd::as_raw_fd(&leaked);
    let mut exec = lab.command(&["exec", "fds", "ls", "/proc/self/fd"]);
    // SAFETY: after fork, before exec: dup2 only (it clears close-on-exec).
    unsafe {
        exec.pre_exec(move || match libc::dup2(fd, 7) {
            -1 => Err(std::io::Error::last_os_error()),
            _ => Ok(()),
        });
    }
    let ran = lab.spawn_command(exec).finish();
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let open: Vec<&str> = ran.stdout.split_whitespace().collect();
    // ls itself has the directory it lists open as 3.
    assert_eq!(open, ["0", "1", "2", "3"], "the command in the container holds {open:?}");
    assert_eq!(lab.run(&["rm", "-f", "side", "fds"]).code, 0);
}
