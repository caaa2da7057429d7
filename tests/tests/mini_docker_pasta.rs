//! Rootless networking end to end: `--network pasta` (claims NET-3,
//! NET-4, for an unprivileged user). As uid 65534, a busybox `httpd`
//! published with `-p 127.0.0.1:PORT:80` serves a page the test fetches
//! over plain TCP; a container reaches a listener on the host's loopback
//! at its gateway address; `--network none` still has only `lo`; and no
//! pasta outlives its container.
//!
//! Network safety: the containers speak only to the host's loopback (the
//! published port is bound on 127.0.0.1, the host's listener too), never
//! past it.
//!
//! pasta opens `/dev/net/tun`, which a distribution leaves to everyone
//! (udev's mode 0666) but a Docker container's `/dev` keeps to root
//! (0600). So the commands here run in a mount namespace of the test's own
//! whose `/dev/net` holds a `tun` node as udev makes it: the same device,
//! open to uid 65534. Nothing else of the host's changes.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nslab_tests::mini_docker::{LIMIT, Lab, Ran};
use nslab_tests::{As, NOBODY};

/// The binaries each lab copies: mini-docker, and the probe it mounts.
const BINARIES: [&str; 2] = [env!("CARGO_BIN_EXE_mini-docker"), env!("CARGO_BIN_EXE_probe")];

/// The page the container serves.
const PAGE: &str = "hello from a rootless container\n";

/// A rootless lab and the mount namespace its commands run in; `None`
/// (one line) without pasta, a failure under CI=true.
fn lab(test: &str) -> Option<(Lab, Tun)> {
    let lab = Lab::new(test, As::Rootless, &BINARIES)?;
    if !["/usr/bin/pasta", "/bin/pasta"].iter().any(|p| Path::new(p).exists()) {
        nslab_tests::skip(test, "no pasta (Debian: passt)");
        return None;
    }
    let image = lab.scratch("image");
    busybox_image(&image, &lab.dir.join("bb.tar"));
    let tun = Tun::new();
    let ran = run(&lab, &tun, &["import", lab.dir.join("bb.tar").to_str().expect("path"), "bb"]);
    assert_eq!(ran.code, 0, "import: {}", ran.stderr);
    Some((lab, tun))
}

/// An image tarball: busybox with the applets used here, and `/www`.
fn busybox_image(dir: &Path, tarball: &Path) {
    let mut builder = tar::Builder::new(File::create(tarball).expect("tarball"));
    builder.append_path_with_name(nslab_tests::clients::busybox(), "bin/busybox").expect("busybox");
    for applet in ["sh", "cat", "httpd", "ip", "wget"] {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Symlink);
        header.set_size(0);
        header.set_mode(0o777);
        builder.append_link(&mut header, format!("bin/{applet}"), "busybox").expect("applet");
    }
    std::fs::write(dir.join("index.html"), PAGE).expect("page");
    builder.append_path_with_name(dir.join("index.html"), "www/index.html").expect("page");
    builder.into_inner().expect("finish the tarball");
    std::os::unix::fs::chown(tarball, Some(NOBODY), Some(NOBODY)).expect("chown");
}

/// A mount namespace with every mount private and a `/dev/net` of its
/// own, holding `tun` (char 10:200) with mode 0666; made on a thread of
/// its own (unshare(CLONE_NEWNS) changes only the calling thread's
/// mounts), held by a descriptor.
struct Tun {
    mnt: File,
}

impl Tun {
    fn new() -> Tun {
        let made = std::thread::spawn(|| -> nix::Result<File> {
            use nix::mount::{MsFlags, mount};
            use nix::sys::stat::{Mode, SFlag, makedev, mknod};
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)?;
            let private = MsFlags::MS_REC | MsFlags::MS_PRIVATE;
            mount(None::<&str>, "/", None::<&str>, private, None::<&str>)?;
            let flags = MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC;
            mount(Some("tmpfs"), "/dev/net", Some("tmpfs"), flags, Some("mode=755,size=64k"))?;
            let everyone = Mode::from_bits_truncate(0o666);
            mknod("/dev/net/tun", SFlag::S_IFCHR, everyone, makedev(10, 200))?;
            // mknod(2) applies the umask.
            std::fs::set_permissions("/dev/net/tun", std::fs::Permissions::from_mode(0o666))
                .map_err(|_| nix::errno::Errno::last())?;
            File::open("/proc/thread-self/ns/mnt").map_err(|_| nix::errno::Errno::last())
        });
        Tun { mnt: made.join().expect("the namespace's thread").expect("a mount namespace") }
    }
}

/// `mini-docker --root STATE --data-root DATA ARGS…` as uid 65534, in
/// [`Tun`]'s mount namespace: the lab's command, but joining the namespace
/// first (which needs root), then becoming uid 65534.
fn command(lab: &Lab, tun: &Tun, args: &[&str]) -> Command {
    let mut cmd = Command::new(lab.bin("mini-docker"));
    cmd.arg("--root").arg(lab.state()).arg("--data-root").arg(lab.dir.join("data"));
    cmd.args(args).current_dir("/").stdin(Stdio::null()).env_remove("XDG_RUNTIME_DIR");
    let fd = tun.mnt.as_raw_fd();
    // SAFETY: after fork, before exec: setns, setgroups, setgid, setuid.
    unsafe {
        cmd.pre_exec(move || {
            let id = NOBODY as libc::uid_t;
            if libc::setns(fd, libc::CLONE_NEWNS) != 0
                || libc::setgroups(0, std::ptr::null()) != 0
                || libc::setgid(id) != 0
                || libc::setuid(id) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd
}

fn run(lab: &Lab, tun: &Tun, args: &[&str]) -> Ran {
    lab.spawn_command(command(lab, tun, args)).finish()
}

/// A port of the host's loopback that was free a moment ago.
fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind :0");
    listener.local_addr().expect("address").port()
}

/// `GET /` over plain TCP on 127.0.0.1:`port`, until a whole answer comes
/// (the server may not listen yet: pasta then closes the connection), at
/// most [`LIMIT`].
fn fetch(port: u16) -> String {
    let start = Instant::now();
    loop {
        let answer = (|| -> std::io::Result<String> {
            let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port))?;
            stream.set_read_timeout(Some(Duration::from_secs(5)))?;
            stream.write_all(b"GET / HTTP/1.0\r\n\r\n")?;
            let mut answer = String::new();
            stream.read_to_string(&mut answer)?;
            Ok(answer)
        })();
        match answer {
            Ok(text) if text.starts_with("HTTP/") => return text,
            other => {
                assert!(start.elapsed() < LIMIT, "no page on 127.0.0.1:{port}: {other:?}");
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

/// Whether `pid` still names a process (a zombie counts).
fn alive(pid: i32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

// ANCHOR: published
#[test]
fn published_port_serves_the_host() {
    let Some((lab, tun)) = lab("published_port_serves_the_host") else { return };
    let port = free_port();
    let publish = format!("127.0.0.1:{port}:80");
    let ran = run(
        &lab,
        &tun,
        &["run", "-d", "-p", &publish, "bb", "httpd", "-f", "-p", "80", "-h", "/www"],
    );
    assert_eq!(ran.code, 0, "run -d: {}", ran.stderr);
    let id = ran.stdout.trim().to_owned();

    // The host, as any client of it: a plain TCP connection to 127.0.0.1.
    let answer = fetch(port);
    assert!(answer.lines().next().is_some_and(|l| l.ends_with(" 200 OK")), "{answer}");
    assert!(answer.ends_with(PAGE), "the page: {answer}");

    let inspect = run(&lab, &tun, &["inspect", &id]);
    assert_eq!(inspect.code, 0, "{}", inspect.stderr);
    let network = inspect.json()[0]["network"].clone();
    assert_eq!(network["mode"], "pasta");
    let pasta = network["pasta_pid"].as_i64().expect("pasta's PID") as i32;
    assert!(alive(pasta), "pasta runs while the container does");
    let ports = run(&lab, &tun, &["port", &id]);
    assert_eq!(ports.stdout, format!("80/tcp -> 127.0.0.1:{port}\n"), "{}", ports.stderr);

    let removed = run(&lab, &tun, &["rm", "-f", &id]);
    assert_eq!(removed.code, 0, "rm -f: {}", removed.stderr);
    // rm -f returns once the container's monitor has torn it down, and the
    // monitor ends (and reaps) pasta before it goes.
    assert!(!alive(pasta), "pasta {pasta} outlived its container");
    assert!(lab.state_entries().iter().all(|e| e.starts_with('.')), "{:?}", lab.state_entries());

    let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
    let text = format!(
        "$ mini-docker run -d -p 127.0.0.1:[PORT]:80 bb httpd -f -p 80 -h /www\n\
         $ mini-docker port [ID]\n{}\
         $ mini-docker inspect [ID]   (network)\n{}\n\
         host$ GET http://127.0.0.1:[PORT]/\n{}{body}",
        ports.stdout,
        serde_json::to_string_pretty(&network).expect("json"),
        answer.lines().next().map(|l| format!("{l}\n")).unwrap_or_default(),
    )
    .replace(&port.to_string(), "[PORT]")
    .replace(&pasta.to_string(), "[PASTA_PID]");
    insta::assert_snapshot!("published-port", text);
}
// ANCHOR_END: published

/// What the host's loopback listener answers, once.
const HOST_ANSWER: &str = "hello from the host's loopback\n";

#[test]
fn gateway_is_the_host_loopback() {
    let Some((lab, tun)) = lab("gateway_is_the_host_loopback") else { return };
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    let port = listener.local_addr().expect("address").port();
    listener.set_nonblocking(true).expect("nonblocking");
    let served = std::thread::spawn(move || {
        let start = Instant::now();
        loop {
            match listener.accept() {
                Ok((mut client, from)) => {
                    client.set_nonblocking(false).expect("blocking");
                    client.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
                    let mut request = [0u8; 1024];
                    let _ = client.read(&mut request);
                    let reply = format!(
                        "HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n{HOST_ANSWER}",
                        HOST_ANSWER.len()
                    );
                    client.write_all(reply.as_bytes()).expect("reply");
                    return Some(from.ip());
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if start.elapsed() > LIMIT {
                        return None;
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) => panic!("accept: {e}"),
            }
        }
    });
    // No --network: rootless, pasta is the default where it can run.
    let script =
        format!("ip -4 route; set -- $(ip -4 route show default); wget -q -O - http://$3:{port}/");
    let ran = run(&lab, &tun, &["run", "--rm", "bb", "sh", "-c", &script]);
    let from = served.join().expect("the listener's thread");
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert!(ran.stdout.ends_with(HOST_ANSWER), "{}", ran.stdout);
    // The connection came from the host's own loopback: pasta's socket.
    assert_eq!(from, Some(Ipv4Addr::LOCALHOST.into()));
    let gateway = ran.stdout.lines().next().and_then(|l| l.split(' ').nth(2)).expect("route");
    let text = ran.stdout.replace(gateway, "[GATEWAY]").replace(&port.to_string(), "[PORT]");
    let text = redact_routes(&text);
    insta::assert_snapshot!("gateway", text);
}

/// The routes inside name the host's own subnet and address (pasta copies
/// them): `[HOST_SUBNET]`, `[ADDRESS]`; trailing blanks go.
fn redact_routes(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let mut words: Vec<&str> = line.split_whitespace().collect();
        if words.first().is_some_and(|w| w.contains('/')) {
            words[0] = "[HOST_SUBNET]";
        }
        if let Some(i) = words.iter().position(|w| *w == "src")
            && i + 1 < words.len()
        {
            words[i + 1] = "[ADDRESS]";
        }
        out += &words.join(" ");
        out.push('\n');
    }
    out
}

#[test]
fn network_none_has_only_loopback() {
    let Some((lab, tun)) = lab("network_none_has_only_loopback") else { return };
    let ran = run(&lab, &tun, &["run", "--rm", "--network", "none", "bb", "cat", "/proc/net/dev"]);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let interfaces: Vec<&str> =
        ran.stdout.lines().skip(2).filter_map(|l| Some(l.split(':').next()?.trim())).collect();
    assert_eq!(interfaces, ["lo"]);
}

#[test]
fn refusals() {
    let Some((lab, tun)) = lab("refusals") else { return };
    // -p needs a network that can publish.
    let ran = run(&lab, &tun, &["run", "--rm", "--network", "none", "-p", "8080:80", "bb", "cat"]);
    ran.assert_refused(125, "mini-docker: -p/--publish needs --network bridge or pasta");
    // A port in use is refused before the container exists.
    let taken = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    let publish = format!("127.0.0.1:{}:80", taken.local_addr().expect("address").port());
    let ran = run(&lab, &tun, &["run", "--rm", "--network", "pasta", "-p", &publish, "bb", "cat"]);
    ran.assert_refused(125, "Address already in use");
    // Rootless, a port below 1024 is the kernel's to refuse.
    let ran = run(&lab, &tun, &["run", "--rm", "-p", "127.0.0.1:80:80", "bb", "cat"]);
    ran.assert_refused(125, "cannot publish 127.0.0.1:80:80/tcp: Permission denied");
    assert!(lab.state_entries().iter().all(|e| e.starts_with('.')), "{:?}", lab.state_entries());
}

/// Whether `pid` runs: exists and is not a zombie (a process killed
/// after its parent went is reaped by whichever reaper adopted it).
fn running(pid: i32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let state = stat.rfind(')').and_then(|i| stat[i + 1..].split_whitespace().next());
    state.is_some_and(|s| s != "Z")
}

/// A killed mini-docker takes its pasta along (`PR_SET_PDEATHSIG`), as
/// it takes the container.
#[test]
fn killed_run_leaves_no_pasta() {
    let Some((lab, tun)) = lab("killed_run_leaves_no_pasta") else { return };
    let port = free_port();
    let publish = format!("127.0.0.1:{port}:80");
    let args = [
        "run", "--rm", "--name", "web", "-p", &publish, "bb", "httpd", "-f", "-p", "80", "-h",
        "/www",
    ];
    let running_run = lab.spawn_command(command(&lab, &tun, &args));
    assert!(fetch(port).ends_with(PAGE));
    let inspect = run(&lab, &tun, &["inspect", "web"]);
    let pasta = inspect.json()[0]["network"]["pasta_pid"].as_i64().expect("pasta's PID") as i32;
    assert!(running(pasta));
    running_run.kill();
    let start = Instant::now();
    while running(pasta) {
        assert!(start.elapsed() < LIMIT, "pasta {pasta} outlived its killed mini-docker");
        std::thread::sleep(Duration::from_millis(10));
    }
    // Its published port went with it.
    assert!(TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err(), "port {port} still served");
}
