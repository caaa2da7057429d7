//! probe: runs inside a container and prints, as JSON, what it sees.
//!
//! The end-to-end tests bind-mount it into a container and compare its
//! report with what the host sees (namespace inode numbers differ, PID is
//! small, the hostname is the one asked for…). Its report reads only /proc
//! and /sys; the subcommands below make the system calls a test asks for.
//! It uses std, libc and serde_json, so it runs in any image that has the
//! libraries it was linked against (or none, when built static).

use std::collections::BTreeMap;
use std::fs;

use serde_json::{Value, json};

/// `probe alloc|forks|spin N`: loads for the resource-limit tests.
#[path = "probe/load.rs"]
mod load;

/// `probe escape CHECK`: the first, harmless step of a container escape.
#[path = "probe/escapes.rs"]
mod escapes;

/// `probe ip|serve|connect`: the two ends of the network tests.
#[path = "probe/net.rs"]
mod net;

/// `probe try CALL`: one system call, for the security tests.
#[path = "probe/syscalls.rs"]
mod syscalls;

/// The name of an errno the tests look for (`EROFS`), or its number.
fn errno_name(errno: i32) -> String {
    let known = [
        (libc::EPERM, "EPERM"),
        (libc::ENOENT, "ENOENT"),
        (libc::ESRCH, "ESRCH"),
        (libc::EBADF, "EBADF"),
        (libc::EACCES, "EACCES"),
        (libc::EFAULT, "EFAULT"),
        (libc::EBUSY, "EBUSY"),
        (libc::EEXIST, "EEXIST"),
        (libc::ENODEV, "ENODEV"),
        (libc::ENOTDIR, "ENOTDIR"),
        (libc::EINVAL, "EINVAL"),
        (libc::ETXTBSY, "ETXTBSY"),
        (libc::EROFS, "EROFS"),
        (libc::ENOSYS, "ENOSYS"),
        (libc::ENOEXEC, "ENOEXEC"),
        (libc::ECONNREFUSED, "ECONNREFUSED"),
        (libc::ENOKEY, "ENOKEY"),
        (libc::ENXIO, "ENXIO"),
        (libc::EAFNOSUPPORT, "EAFNOSUPPORT"),
        (libc::EOPNOTSUPP, "EOPNOTSUPP"),
    ];
    known
        .iter()
        .find(|(n, _)| *n == errno)
        .map_or_else(|| format!("errno {errno}"), |(_, name)| (*name).to_owned())
}

fn read(path: &str) -> String {
    fs::read_to_string(path).map(|s| s.trim_end().to_owned()).unwrap_or_default()
}

/// A field of /proc/self/status, e.g. `CapEff`.
fn status_field(status: &str, key: &str) -> Value {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .map(|v| Value::String(v.trim().to_owned()))
        .unwrap_or(Value::Null)
}

/// The first (real) ID of a `Uid:`/`Gid:` status line.
fn first_id(status: &str, key: &str) -> Value {
    match status_field(status, key) {
        Value::String(s) => s.split_whitespace().next().and_then(|n| n.parse::<u64>().ok()).into(),
        other => other,
    }
}

/// `uid_map` lines with their padding squeezed: `0 1000 1`.
fn id_map(path: &str) -> Vec<String> {
    read(path).lines().map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ")).collect()
}

/// Each mount: where, which filesystem, the mount's own options.
fn mounts() -> Vec<Value> {
    read("/proc/self/mountinfo")
        .lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let left: Vec<&str> = left.split(' ').collect();
            let fstype = right.split(' ').next()?;
            Some(json!({ "target": left.get(4)?, "fstype": fstype, "options": left.get(5)? }))
        })
        .collect()
}

fn names_in(dir: &str) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .map(|entries| entries.filter_map(|e| e.ok()?.file_name().into_string().ok()).collect())
        .unwrap_or_default();
    names.sort();
    names
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(code) = load::main_if_asked(&args) {
        std::process::exit(code);
    }
    if let Some(code) = net::main_if_asked(&args) {
        std::process::exit(code);
    }
    if let Some(code) = syscalls::main_if_asked(&args) {
        std::process::exit(code);
    }
    if let Some(code) = escapes::main_if_asked(&args) {
        std::process::exit(code);
    }
    let status = read("/proc/self/status");
    let namespaces: BTreeMap<String, String> =
        ["cgroup", "ipc", "mnt", "net", "pid", "user", "uts"]
            .iter()
            .filter_map(|ns| {
                let link = fs::read_link(format!("/proc/self/ns/{ns}")).ok()?;
                Some((ns.to_string(), link.to_string_lossy().into_owned()))
            })
            .collect();
    let report = json!({
        "hostname": read("/proc/sys/kernel/hostname"),
        "pid": std::process::id(),
        "ppid": std::os::unix::process::parent_id(),
        "uid": first_id(&status, "Uid"),
        "gid": first_id(&status, "Gid"),
        "cwd": std::env::current_dir().map(|p| p.display().to_string()).unwrap_or_default(),
        "namespaces": namespaces,
        "uid_map": id_map("/proc/self/uid_map"),
        "gid_map": id_map("/proc/self/gid_map"),
        "cap_eff": status_field(&status, "CapEff"),
        "seccomp": status_field(&status, "Seccomp"),
        "no_new_privs": status_field(&status, "NoNewPrivs"),
        "root_entries": names_in("/"),
        "mounts": mounts(),
        "interfaces": names_in("/sys/class/net"),
        "cgroup": read("/proc/self/cgroup").lines().collect::<Vec<_>>(),
    });
    // Not println!: a closed stdout must not make the probe panic.
    let text = serde_json::to_string_pretty(&report).unwrap_or_default() + "\n";
    let _ = std::io::Write::write_all(&mut std::io::stdout(), text.as_bytes());
}
