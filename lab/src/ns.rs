//! Reading namespace identity from `/proc` (man 7 namespaces, man 5 proc).
//!
//! Each process has a symbolic link per namespace type in `/proc/PID/ns/`;
//! its text names the type and the namespace's inode number, e.g.
//! `uts:[4026531838]`. Two processes are in the same namespace exactly when
//! these links are equal.
//!
//! A leaf of this crate: it reads `/proc` and imports nothing of lab.

use std::fs;

use anyhow::{Context, Result};
use nix::unistd::Pid;

/// The namespace types of `/proc/PID/ns`, in the order `ls` shows them.
pub const KINDS: [&str; 10] = [
    "cgroup",
    "ipc",
    "mnt",
    "net",
    "pid",
    "pid_for_children",
    "time",
    "time_for_children",
    "user",
    "uts",
];

fn proc_dir(pid: Option<Pid>) -> String {
    match pid {
        Some(pid) => format!("/proc/{pid}"),
        None => "/proc/self".into(),
    }
}

/// The namespace link of `kind` for `pid` (`None`: this process), e.g.
/// `pid:[4026531836]`.
pub fn link(pid: Option<Pid>, kind: &str) -> Result<String> {
    let path = format!("{}/ns/{kind}", proc_dir(pid));
    let target = fs::read_link(&path).with_context(|| format!("readlink {path}"))?;
    Ok(target.to_string_lossy().into_owned())
}

/// Every namespace link of `pid` that this kernel has, as (type, link).
pub fn links(pid: Option<Pid>) -> Vec<(&'static str, String)> {
    KINDS.iter().filter_map(|kind| Some((*kind, link(pid, kind).ok()?))).collect()
}

/// The inode number inside a link such as `pid:[4026531836]`.
pub fn inode(link: &str) -> Option<u64> {
    link.rsplit_once('[')?.1.strip_suffix(']')?.parse().ok()
}

/// The `NSpid:` line of `/proc/PID/status`: the process's PID in each PID
/// namespace it belongs to, from the one this `/proc` was mounted in down to
/// its own.
pub fn nspid(pid: Option<Pid>) -> Result<Vec<i32>> {
    status_field(pid, "NSpid")?
        .split_whitespace()
        .map(|n| n.parse().context("parsing NSpid"))
        .collect()
}

/// One field of `/proc/PID/status`, e.g. `CapEff` or `NSpid`.
pub fn status_field(pid: Option<Pid>, field: &str) -> Result<String> {
    let path = format!("{}/status", proc_dir(pid));
    let status = fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .map(|value| value.trim().to_owned())
        .with_context(|| format!("{path} has no {field} line"))
}

/// The PIDs listed in the procfs mounted at `proc` (e.g. `/proc`), sorted.
pub fn pids_in(proc: &str) -> Result<Vec<i32>> {
    let mut pids: Vec<i32> = fs::read_dir(proc)
        .with_context(|| format!("listing {proc}"))?
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    pids.sort_unstable();
    Ok(pids)
}

/// How many processes (in this `/proc`) are in the namespace `link` of type
/// `kind`: zero means only a mount or an open file still holds it.
pub fn processes_in(kind: &str, link: &str) -> usize {
    let pids = pids_in("/proc").unwrap_or_default();
    pids.into_iter()
        .filter(|pid| self::link(Some(Pid::from_raw(*pid)), kind).is_ok_and(|l| l == link))
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inode_of_a_link() {
        assert_eq!(inode("pid:[4026531836]"), Some(4026531836));
        assert_eq!(inode("garbage"), None);
    }

    #[test]
    fn own_namespaces_are_readable() {
        let mine = links(None);
        assert!(mine.iter().any(|(kind, _)| *kind == "uts"));
        let pids = nspid(None).expect("NSpid");
        assert_eq!(*pids.last().expect("one entry"), std::process::id() as i32);
    }
}
