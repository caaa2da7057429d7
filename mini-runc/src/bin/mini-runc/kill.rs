//! `kill` (runc-kill(8)): a signal to the container's init, which passes
//! it on to the command (container/init.rs); `--all` signals every process
//! of the container.

use std::path::Path;

use clap::Args;
use nix::sys::signal::{Signal, kill as send};
use nix::unistd::Pid;

use crate::Failure;
use crate::record::Record;

#[derive(Debug, Args)]
pub struct KillArgs {
    /// Signal every process of the container, not only init.
    #[arg(long, short = 'a')]
    all: bool,
    id: String,
    /// A name (TERM, SIGKILL) or a number; SIGTERM by default.
    #[arg(default_value = "SIGTERM")]
    signal: String,
}

/// `TERM`, `SIGTERM`, `term` or `15`.
pub fn parse_signal(text: &str) -> Result<Signal, Failure> {
    if let Ok(n) = text.parse::<i32>() {
        return Signal::try_from(n).map_err(|_| format!("invalid signal {text:?}"));
    }
    let upper = text.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") { upper } else { format!("SIG{upper}") };
    name.parse().map_err(|_| format!("invalid signal {text:?}"))
}

pub fn kill(root: &Path, args: &KillArgs) -> Result<(), Failure> {
    let signal = parse_signal(&args.signal)?;
    let record = Record::open(root, &args.id)?;
    let Some(pid) = record.pid().filter(|_| record.alive()) else {
        return Err(format!("container {:?} is not running", args.id));
    };
    // A created container's init is waiting for `start` with the signals it
    // forwards blocked (container/init.rs), so they would stay pending.
    // runc's init would die of any signal whose default is to end the
    // process; so does this one, by SIGKILL.
    let ignored = [Signal::SIGCHLD, Signal::SIGWINCH, Signal::SIGURG, Signal::SIGCONT];
    let signal = if record.status() == "created" && !ignored.contains(&signal) {
        Signal::SIGKILL
    } else {
        signal
    };
    let mut targets = vec![pid];
    if args.all {
        targets.extend(descendants(pid));
        // Without a PID namespace, a process may have left init's tree
        // (a daemon's double fork): its cgroup still lists it.
        targets.extend(mini_runc::cgroups::processes(&record.dir).iter().map(|p| p.as_raw()));
        targets.sort_unstable();
        targets.dedup();
    }
    for target in targets {
        match send(Pid::from_raw(target), signal) {
            // One of the others may have ended since it was listed.
            Err(nix::errno::Errno::ESRCH) if target != pid => {}
            Err(errno) => return Err(format!("kill({target}, {signal}): {errno}")),
            Ok(()) => {}
        }
    }
    Ok(())
}

/// Every descendant of `pid` (from /proc/PID/task/*/children), bounded
/// by the number of processes a kernel can have.
fn descendants(pid: i32) -> Vec<i32> {
    let mut found = Vec::new();
    let mut next = vec![pid];
    while let Some(p) = next.pop() {
        if found.len() > 4_194_304 {
            break;
        }
        for child in mini_runc::container::tenant::children(p) {
            found.push(child);
            next.push(child);
        }
    }
    found
}
