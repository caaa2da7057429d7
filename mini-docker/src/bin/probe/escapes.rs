//! `probe escape CHECK [ARG]`: the first step of a classic container
//! escape, and never the step that does harm. Prints one JSON line,
//! `{"check": CHECK, …}`, whose values are `ok`, an errno name, or what
//! was read.
//!
//! Each check stops where the escape would begin to change the host:
//! - `cgroup-v1` mounts a cgroup v1 hierarchy in the container's own mount
//!   namespace and opens its `release_agent` for writing, then closes it
//!   without writing and unmounts (CVE-2022-0492, cgroups(7));
//! - `core-pattern` opens `/proc/sys/kernel/core_pattern` for writing and
//!   closes it (proc(5));
//! - `sysfs PATH` opens a file of `/sys` for writing and closes it (sysfs(5));
//! - `unix-connect PATH` connects to a Unix socket, sends one line and
//!   reads one line back (the mounted `docker.sock`);
//! - `ptrace PID` looks for the process in `/proc`, seizes it (the attach
//!   permission check, without a stop signal), stops it, and detaches at
//!   once (ptrace(2));
//! - `exe PATH` reads where a `/proc/PID/exe` link points and opens it,
//!   first as `O_PATH`, then for writing (CVE-2019-5736); a file opened for
//!   writing is closed untouched (no `O_TRUNC`, no `write`).
//!
//! Nothing here writes a byte to a kernel setting or to a file of the host.

use std::ffi::CString;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// Runs `escape CHECK [ARG]` when `args` (after the program name) asks for it.
pub fn main_if_asked(args: &[String]) -> Option<i32> {
    match (args.first().map(String::as_str), args.get(1)) {
        (Some("escape"), Some(check)) => {
            let report = match (check.as_str(), args.get(2).map(String::as_str)) {
                ("cgroup-v1", _) => cgroup_v1(),
                ("core-pattern", _) => json!({
                    "check": "core-pattern",
                    "open_write": open_write_only("/proc/sys/kernel/core_pattern"),
                }),
                ("sysfs", Some(path)) => json!({
                    "check": "sysfs",
                    "path": path,
                    "open_write": open_write_only(path),
                }),
                ("unix-connect", Some(path)) => unix_connect(path),
                ("ptrace", Some(pid)) => attach_detach(pid),
                ("exe", Some(path)) => exe(path),
                _ => {
                    eprintln!(
                        "probe escape: unknown check {check:?} (cgroup-v1, core-pattern, sysfs PATH, \
                     unix-connect PATH, ptrace PID, exe PATH)"
                    );
                    return Some(2);
                }
            };
            let text = format!("{report}\n");
            let _ = std::io::Write::write_all(&mut std::io::stdout(), text.as_bytes());
            Some(0)
        }
        _ => None,
    }
}

/// The name of the last error (`EROFS`), or its number.
fn last_errno() -> String {
    io_errno(&std::io::Error::last_os_error())
}

/// The name of an error's errno, or its text when it has none.
fn io_errno(error: &std::io::Error) -> String {
    error.raw_os_error().map_or_else(|| error.to_string(), crate::errno_name)
}

fn c(s: &str) -> CString {
    CString::new(s).unwrap_or_default()
}

// ANCHOR: open_write_only
/// `open(path, O_WRONLY)` then `close`: `ok` or the errno. Opening writes
/// nothing; the kernel checks the mount (EROFS) and the permissions here,
/// and some files check again on `write`.
fn open_write_only(path: &str) -> String {
    let path = c(path);
    let flags = libc::O_WRONLY | libc::O_CLOEXEC | libc::O_NOCTTY;
    // SAFETY: a NUL-terminated path that lives across the call.
    let fd = unsafe { libc::open(path.as_ptr(), flags) };
    if fd < 0 {
        return last_errno();
    }
    // SAFETY: the descriptor was just opened here and is closed once.
    unsafe { libc::close(fd) };
    "ok".to_owned()
}
// ANCHOR_END: open_write_only

/// The cgroup v1 controllers the kernel has bound to a hierarchy, from
/// `/proc/cgroups` (`name hierarchy count enabled`; hierarchy 0 means the
/// controller is on the v2 hierarchy or nowhere).
fn v1_controllers() -> Vec<String> {
    let table = std::fs::read_to_string("/proc/cgroups").unwrap_or_default();
    table
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let fields: Vec<&str> = l.split_whitespace().collect();
            let bound = fields.get(1).is_some_and(|h| *h != "0");
            let enabled = fields.get(3) == Some(&"1");
            (bound && enabled).then(|| fields[0].to_owned())
        })
        .collect()
}

// ANCHOR: cgroup_v1
/// Mounts each v1 controller's hierarchy in turn (in the container's mount
/// namespace) until one shows a `release_agent`: that file exists only at
/// the root of a hierarchy, so a mount whose root is the container's own
/// cgroup (the cgroup namespace at work) has none.
fn cgroup_v1() -> Value {
    let controllers = v1_controllers();
    if controllers.is_empty() {
        return json!({ "check": "cgroup-v1", "mount": "no v1 hierarchy" });
    }
    let dir = format!("/tmp/probe-cgroup-{}", std::process::id());
    let target = c(&dir);
    let cgroup = c("cgroup");
    let mut first_error = None;
    // The probe runs inside a container: this directory, and the mounts on
    // it, are in the container's own mount namespace.
    // SAFETY: a NUL-terminated path that lives across the call.
    if unsafe { libc::mkdir(target.as_ptr(), 0o700) } != 0 {
        return json!({ "check": "cgroup-v1", "mount": format!("mkdir: {}", last_errno()) });
    }
    for controller in &controllers {
        let data = c(controller);
        let flags = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
        // SAFETY: NUL-terminated strings that live across the call; the data
        // argument of a cgroup mount is a string too (the controller).
        let mounted = unsafe {
            libc::mount(
                cgroup.as_ptr(),
                target.as_ptr(),
                cgroup.as_ptr(),
                flags,
                data.as_ptr().cast(),
            )
        };
        if mounted != 0 {
            first_error.get_or_insert_with(last_errno);
            continue;
        }
        let agent = format!("{dir}/release_agent");
        let found = std::path::Path::new(&agent).exists();
        let report = json!({
            "check": "cgroup-v1",
            "mount": "ok",
            "controller": controller,
            "release_agent": if found { open_write_only(&agent) } else { "absent".into() },
        });
        // SAFETY: the same NUL-terminated path; a lazy unmount of our mount.
        unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) };
        if found {
            // SAFETY: the same path, now an empty directory again.
            unsafe { libc::rmdir(target.as_ptr()) };
            return report;
        }
        first_error.get_or_insert_with(|| "mounted, no release_agent".to_owned());
    }
    // SAFETY: the same path, an empty directory.
    unsafe { libc::rmdir(target.as_ptr()) };
    json!({ "check": "cgroup-v1", "mount": first_error.unwrap_or_default() })
}
// ANCHOR_END: cgroup_v1

// ANCHOR: unix_connect
/// Connects to the socket at `path`, sends a line, reads the answer (five
/// seconds at most).
fn unix_connect(path: &str) -> Value {
    let answer = (|| -> std::io::Result<String> {
        let mut stream = UnixStream::connect(path)?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        stream.write_all(b"hello from the container\n")?;
        let mut line = String::new();
        BufReader::new(stream).read_line(&mut line)?;
        Ok(line.trim_end().to_owned())
    })();
    match answer {
        Ok(line) => json!({ "check": "unix-connect", "connect": "ok", "answer": line }),
        Err(e) => json!({ "check": "unix-connect", "connect": io_errno(&e) }),
    }
}
// ANCHOR_END: unix_connect

// ANCHOR: attach_detach
/// `PTRACE_SEIZE` on `pid`: the permission check of `PTRACE_ATTACH`
/// (ptrace(2), "Ptrace access mode checking") without the `SIGSTOP` an
/// attach sends. Then `PTRACE_INTERRUPT`, a wait for that stop (five seconds
/// at most) and `PTRACE_DETACH`: the process goes on as before. Should the
/// wait give up, the probe's exit detaches the process all the same, and no
/// stop signal was ever queued for it.
fn attach_detach(pid: &str) -> Value {
    let visible = std::path::Path::new(&format!("/proc/{pid}")).exists();
    let Ok(pid) = pid.parse::<libc::pid_t>() else {
        return json!({ "check": "ptrace", "result": "not a PID" });
    };
    let null = std::ptr::null_mut::<libc::c_void>();
    // SAFETY: ptrace with a PID and null address and data (no options).
    if unsafe { libc::ptrace(libc::PTRACE_SEIZE, pid, null, null) } != 0 {
        return json!({ "check": "ptrace", "visible": visible, "attach": last_errno() });
    }
    // SAFETY: the same, on our tracee.
    let interrupted = unsafe { libc::ptrace(libc::PTRACE_INTERRUPT, pid, null, null) } == 0;
    let start = Instant::now();
    let mut status = 0;
    while interrupted && start.elapsed() < Duration::from_secs(5) {
        // SAFETY: `status` is a live integer the kernel writes.
        match unsafe { libc::waitpid(pid, &mut status, libc::__WALL | libc::WNOHANG) } {
            0 => std::thread::sleep(Duration::from_millis(5)),
            _ => break,
        }
    }
    // SAFETY: ptrace on our tracee, null address and no signal to deliver.
    let attach = if unsafe { libc::ptrace(libc::PTRACE_DETACH, pid, null, null) } == 0 {
        "ok".to_owned()
    } else {
        format!("attached; detach: {}", last_errno())
    };
    json!({ "check": "ptrace", "visible": visible, "attach": attach })
}
// ANCHOR_END: attach_detach

// ANCHOR: exe
/// Where `path` (a `/proc/PID/exe`) points, and whether it opens as
/// `O_PATH` and for writing.
fn exe(path: &str) -> Value {
    let target = match std::fs::read_link(path) {
        Ok(t) => t.display().to_string(),
        Err(e) => io_errno(&e),
    };
    let cpath = c(path);
    // SAFETY: a NUL-terminated path that lives across the call.
    let fd = unsafe { libc::open(cpath.as_ptr(), libc::O_PATH | libc::O_CLOEXEC) };
    let o_path = if fd < 0 {
        last_errno()
    } else {
        // SAFETY: the descriptor was just opened here and is closed once.
        unsafe { libc::close(fd) };
        "ok".to_owned()
    };
    json!({
        "check": "exe",
        "readlink": target,
        "open_path": o_path,
        "open_write": open_write_only(path),
    })
}
// ANCHOR_END: exe
