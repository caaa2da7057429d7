//! `--network pasta`: a rootless container's way out, through a user-mode
//! TCP/IP stack (claims NET-3, NET-4, seen from an unprivileged user).
//!
//! A bridge needs a veth pair with one end in the host's network
//! namespace, and making an interface there needs CAP_NET_ADMIN in the
//! user namespace that owns it: the initial one. A rootless user has its
//! capabilities only in the user namespace it made, so the container's
//! network namespace can have interfaces, but none of them can lead to
//! the host. pasta (from the `passt` project) goes round the kernel:
//!
//! ```text
//!  host (uid 1000's sockets)                 container's network namespace
//!  ─────────────────────────                 ─────────────────────────────
//!  pasta ◀══ /dev/net/tun (a tap fd) ═══════ eth0 192.0.2.2/24 (the host's
//!    │  reads Ethernet frames, keeps a              address, copied)
//!    │  TCP/IP state per flow, and             default via 192.0.2.1
//!    ▼  speaks through ordinary sockets
//!  connect(127.0.0.1:PORT)   ◀── 192.0.2.1:PORT (the gateway means the host)
//!  listen(127.0.0.1:8080)    ──▶ 192.0.2.2:80  (-p 127.0.0.1:8080:80)
//! ```
//!
//! pasta joins the container's user and network namespaces (it is given
//! the PID of the container's first process, which waits), opens a tap
//! device there, configures it with the host's own address and routes
//! (`--config-net`), and goes back to the host's namespaces to serve it:
//! every frame the container sends becomes a `connect`, `send` or
//! `sendto` on a host socket of the user's, every published port a
//! listening socket of the user's. Nothing needs privilege but the open of
//! `/dev/net/tun`, which distributions leave to everyone (udev's mode
//! 0666). The gateway address is mapped to the host's loopback, so a
//! server listening on the host's 127.0.0.1 is reached from inside at the
//! gateway.
//!
//! pasta is one more process per container, a child of the container's
//! mini-docker (the foreground `run`, or the monitor of `run -d`):
//! - started in the createRuntime hook ([`start`]), once the ID maps are
//!   written and before the command runs, which waits until pasta has
//!   configured `eth0` (pasta writes its PID file only then);
//! - ended by [`stop`] when the container has ended: SIGKILL to the PID
//!   mini-docker holds as its own child, then `waitpid`. pasta holds the
//!   tap device, so it would keep the container's network namespace alive;
//! - if mini-docker itself is killed, the kernel sends pasta SIGKILL
//!   (`PR_SET_PDEATHSIG`, set between `fork` and `exec`); a later sweep
//!   ends one that still runs (as root pasta changes user, which clears
//!   that setting) only if its PID still names the same process (its
//!   start time, `/proc/PID/stat`).
//!
//! It imports only `network/`'s error type and its `-p` type.

use std::io::ErrorKind;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::{AccessFlags, Pid, access};

use super::NetworkError;
use super::publish::{Proto, Publish};

/// The program, looked up in `PATH`.
const PROGRAM: &str = "pasta";
/// The device pasta opens inside the container's network namespace.
const TUN: &str = "/dev/net/tun";
/// The interface inside, named as on the bridge.
const INSIDE: &str = "eth0";
/// How long pasta may take to configure the container's interface.
const READY_LIMIT: Duration = Duration::from_secs(10);
/// pasta's PID file, written once `eth0` is configured.
const PID_FILE: &str = "pasta.pid";
/// pasta's messages (its errors, when it fails to start).
const LOG: &str = "pasta.log";

/// The pasta mini-docker started and must end: its own child (one
/// container per mini-docker process, so one pasta).
static CHILD: Mutex<Option<Child>> = Mutex::new(None);

/// What `run` decided about the network from `--network` (see [`decide`]).
#[derive(Debug, PartialEq, Eq)]
pub struct Decision {
    /// The container gets pasta (to the runtime: a new namespace with
    /// only `lo`, as `none`).
    pub pasta: bool,
    /// Why a rootless container without `--network` gets `none`: one line
    /// for a person at a terminal.
    pub note: Option<String>,
}

/// `--network pasta`: pasta must be usable, else the run is refused.
/// No `--network`, rootless: pasta when usable, otherwise `none` and a
/// note saying why. As root the default stays the bridge.
pub fn decide(network: Option<&str>, root: bool) -> Result<Decision, NetworkError> {
    match network {
        Some("pasta") => {
            usable().map_err(NetworkError::Pasta)?;
            Ok(Decision { pasta: true, note: None })
        }
        None if !root => Ok(match usable() {
            Ok(_) => Decision { pasta: true, note: None },
            Err(why) => Decision {
                pasta: false,
                note: Some(format!("no rootless network ({why}): --network none")),
            },
        }),
        _ => Ok(Decision { pasta: false, note: None }),
    }
}

/// pasta's path, or why it cannot serve this user: not installed, or
/// `/dev/net/tun` not open to the user (in some containers it is 0600).
pub fn usable() -> Result<PathBuf, String> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let program = std::env::split_paths(&path)
        .map(|dir| dir.join(PROGRAM))
        .find(|p| access(p.as_path(), AccessFlags::X_OK).is_ok())
        .ok_or_else(|| format!("{PROGRAM} not found in PATH; Debian's package is passt"))?;
    access(TUN, AccessFlags::R_OK | AccessFlags::W_OK)
        .map_err(|e| format!("{TUN}: {}", e.desc()))?;
    Ok(program)
}

/// pasta's port forward for one `-p`: `[IP/]HOSTPORT:PORT`.
fn forward_spec(p: &Publish) -> String {
    let address =
        if p.host_ip.is_unspecified() { String::new() } else { format!("{}/", p.host_ip) };
    format!("{address}{}:{}", p.host_port, p.port)
}

/// pasta's command line: the container's namespaces (by `pid`), `eth0`
/// configured, only the published ports forwarded from the host, and
/// nothing forwarded from the container's loopback to the host's (pasta's
/// default, `auto`, would bind every port the container listens on, and
/// let the container's 127.0.0.1 reach the host's).
// ANCHOR: command
fn command(program: &Path, publish: &[Publish], state_dir: &Path, pid: Pid) -> Command {
    let mut cmd = Command::new(program);
    cmd.args(["--foreground", "--quiet", "--config-net", "--ns-ifname", INSIDE]);
    for (proto, flag) in [(Proto::Tcp, "--tcp-ports"), (Proto::Udp, "--udp-ports")] {
        let specs: Vec<String> =
            publish.iter().filter(|p| p.proto == proto).map(forward_spec).collect();
        if specs.is_empty() {
            cmd.args([flag, "none"]);
        }
        for spec in specs {
            cmd.arg(flag).arg(spec);
        }
    }
    cmd.args(["--tcp-ns", "none", "--udp-ns", "none"]);
    cmd.arg("--pid").arg(state_dir.join(PID_FILE)).arg(pid.to_string());
    cmd
}
// ANCHOR_END: command

/// The createRuntime step: starts pasta for the container whose first
/// process is `pid` (it waits), and returns once pasta has configured
/// `eth0` inside. Its PID and start time go into the network record.
pub fn start(state_dir: &Path, publish: &[Publish], pid: Pid) -> Result<(), NetworkError> {
    let program = usable().map_err(NetworkError::Pasta)?;
    let log_path = state_dir.join(LOG);
    let log = std::fs::File::create(&log_path).map_err(super::io("creating", &log_path))?;
    let mut cmd = command(&program, publish, state_dir, pid);
    cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(log);
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: between fork and exec, only prctl and getppid (async-signal-safe).
    unsafe {
        cmd.pre_exec(move || {
            // pasta ends with mini-docker, even a killed one.
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The parent may have died before the prctl: then nobody would
            // end pasta.
            if libc::getppid() != parent {
                return Err(std::io::Error::from(ErrorKind::BrokenPipe));
            }
            Ok(())
        });
    }
    let child = cmd.spawn().map_err(|e| NetworkError::Pasta(format!("{PROGRAM}: {e}")))?;
    let child_pid = Pid::from_raw(child.id() as i32);
    *CHILD.lock().unwrap_or_else(|e| e.into_inner()) = Some(child);
    wait_ready(state_dir, &log_path)?;
    let line = format!("pasta {child_pid} {}\n", start_time(child_pid).unwrap_or_default());
    super::append_record(state_dir, &line)
}

/// Waits (at most [`READY_LIMIT`]) for pasta's PID file, which it writes
/// once the container's interface is configured; an exited pasta is an
/// error, with its last message.
fn wait_ready(state_dir: &Path, log: &Path) -> Result<(), NetworkError> {
    let pid_file = state_dir.join(PID_FILE);
    let begun = Instant::now();
    loop {
        if std::fs::metadata(&pid_file).is_ok_and(|m| m.len() > 0) {
            return Ok(());
        }
        let exited = match CHILD.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            Some(child) => child.try_wait().ok().flatten(),
            None => None,
        };
        if let Some(status) = exited {
            return Err(NetworkError::Pasta(format!("{PROGRAM} {status}: {}", last_message(log))));
        }
        if begun.elapsed() > READY_LIMIT {
            return Err(NetworkError::Pasta(format!(
                "{PROGRAM} did not configure {INSIDE} within {}s",
                READY_LIMIT.as_secs()
            )));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// pasta's last line of its own (this version also reports, per message,
/// that it found no syslog to send it to).
fn last_message(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty() && !l.starts_with("Failed to send"))
        .unwrap_or("no message")
        .trim()
        .to_owned()
}

/// The start time of `pid` (field 22 of `/proc/PID/stat`, in clock ticks
/// since boot): with the PID, it names one process for good.
fn start_time(pid: Pid) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The name, field 2, is in parentheses and may hold spaces.
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(19)?.parse().ok()
}

/// Ends the container's pasta, once the container has ended. Its own
/// child: SIGKILL, then reaped. Another mini-docker's (the sweep of a
/// later run, whose killed owner could not): SIGKILL only if `recorded`
/// (PID, start time) still names that process.
pub fn stop(recorded: Option<(Pid, u64)>) {
    let mut held = CHILD.lock().unwrap_or_else(|e| e.into_inner());
    // (No record yet when pasta failed to start.)
    let ours = held
        .as_ref()
        .is_some_and(|c| recorded.is_none_or(|(pid, _)| pid.as_raw() as u32 == c.id()));
    if let Some(mut child) = held.take_if(|_| ours) {
        let _ = child.kill();
        let _ = child.wait();
        return;
    }
    if let Some((pid, started)) = recorded
        && start_time(pid) == Some(started)
    {
        let _ = kill(pid, Signal::SIGKILL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::publish::parse;

    #[test]
    fn forwards() {
        let publish = [parse("127.0.0.1:8080:80").unwrap(), parse("5353:53/udp").unwrap()];
        let cmd = command(Path::new("pasta"), &publish, Path::new("/s"), Pid::from_raw(42));
        let args: Vec<_> = cmd.get_args().map(|a| a.to_string_lossy().into_owned()).collect();
        assert_eq!(
            args.join(" "),
            "--foreground --quiet --config-net --ns-ifname eth0 \
             --tcp-ports 127.0.0.1/8080:80 --udp-ports 5353:53 \
             --tcp-ns none --udp-ns none --pid /s/pasta.pid 42"
        );
    }

    #[test]
    fn own_start_time() {
        let me = Pid::this();
        assert!(start_time(me).is_some_and(|t| t > 0));
        assert_eq!(start_time(me), start_time(me));
    }
}
