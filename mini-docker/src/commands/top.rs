//! `mini-docker top NAME`: the container's processes as the host sees
//! them: its init and every process below it, with the host's PIDs and
//! user IDs (in a user namespace, the container's root is a host user of
//! the range). Docker's `top` runs the host's `ps -ef` and keeps the
//! container's lines; this reads the same facts from /proc (proc(5):
//! `stat` for the parent, `status` for the real user ID, `cmdline` for
//! the command), and prints fewer columns.

use std::collections::BTreeMap;

use mini_runc::container::tenant;
use mini_runc::error::UsageError;

use crate::commands::{Dirs, Error, find};

/// One process of /proc: its parent, real UID and command line.
struct Process {
    ppid: i32,
    uid: String,
    command: String,
}

pub fn top(dirs: &Dirs, key: &str) -> Result<(), Error> {
    let state = find(dirs, key)?;
    let init = tenant::init_pid(&state)
        .filter(|_| state.running())
        .ok_or_else(|| UsageError::NotRunning(key.to_owned()))?;
    let all = processes();
    // init's subtree, parents before children.
    let mut inside = vec![init.as_raw()];
    let mut at = 0;
    while at < inside.len() && inside.len() < all.len() + 1 {
        let parent = inside[at];
        inside.extend(all.iter().filter(|(_, p)| p.ppid == parent).map(|(&pid, _)| pid));
        at += 1;
    }
    say!("{:<10} {:<8} {:<8} CMD", "UID", "PID", "PPID");
    for pid in inside {
        if let Some(p) = all.get(&pid) {
            say!("{:<10} {:<8} {:<8} {}", p.uid, pid, p.ppid, p.command);
        }
    }
    Ok(())
}

/// Every process /proc lists now (one that ends meanwhile is left out).
fn processes() -> BTreeMap<i32, Process> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return BTreeMap::new() };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let pid: i32 = entry.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            let (name, rest) = stat.split_once(" (")?.1.rsplit_once(')')?;
            let ppid = rest.split_whitespace().nth(1)?.parse().ok()?;
            let status = std::fs::read_to_string(entry.path().join("status")).ok()?;
            let uid = status
                .lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().next())?
                .to_owned();
            let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            let args: Vec<String> = cmdline
                .split(|&b| b == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            // A kernel thread, or a zombie, has no command line: [name].
            let command = if args.is_empty() { format!("[{name}]") } else { args.join(" ") };
            Some((pid, Process { ppid, uid, command }))
        })
        .collect()
}
