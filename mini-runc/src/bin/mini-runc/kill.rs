//! `kill` (runc-kill(8)): a signal to the container's init, which passes
//! it on to the command (container/init.rs); `--all` signals every process
//! of the container.

use std::path::Path;

use clap::Args;
use nix::sys::signal::Signal;

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

/// `TERM`, `SIGTERM`, `term`, `15`, any number from 1 to 64, and the
/// real-time signals by name: `SIGRTMIN+n`, `RTMIN+n`, `SIGRTMAX-n`
/// (signal(7), "Real-time signals": SIGRTMIN is glibc's, above the two
/// the threading library keeps).
pub fn parse_signal(text: &str) -> Result<i32, Failure> {
    let bad = || format!("invalid signal {text:?}");
    if let Ok(n) = text.parse::<i32>() {
        return if (1..=64).contains(&n) { Ok(n) } else { Err(bad()) };
    }
    let upper = text.to_ascii_uppercase();
    let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
    let (min, max) = (libc::SIGRTMIN(), libc::SIGRTMAX());
    let offset = |rest: &str, sign: char| -> Result<i32, Failure> {
        match rest.strip_prefix(sign) {
            None if rest.is_empty() => Ok(0),
            Some(n) => n.parse::<i32>().map_err(|_| bad()),
            None => Err(bad()),
        }
    };
    let number = if let Some(rest) = bare.strip_prefix("RTMIN") {
        min + offset(rest, '+')?
    } else if let Some(rest) = bare.strip_prefix("RTMAX") {
        max - offset(rest, '-')?
    } else {
        let name = format!("SIG{bare}");
        return name.parse::<Signal>().map(|s| s as i32).map_err(|_| bad());
    };
    if (min..=max).contains(&number) { Ok(number) } else { Err(bad()) }
}

pub fn kill(root: &Path, args: &KillArgs) -> Result<(), Failure> {
    let signal = parse_signal(&args.signal)?;
    let record = Record::open(root, &args.id)?;
    let Some(pid) = record.pid().filter(|_| record.alive()) else {
        // runc's words: containerd's shim (checkKillError) matches them to
        // tell "already gone" from a failure.
        return Err(format!("container not running: {:?}", args.id));
    };
    // A created container's init is waiting for `start` with the signals it
    // forwards blocked (container/init.rs), so they would stay pending.
    // runc's init would die of any signal whose default is to end the
    // process; so does this one, by SIGKILL.
    let ignored = [Signal::SIGCHLD, Signal::SIGWINCH, Signal::SIGURG, Signal::SIGCONT];
    let signal = if record.status() == "created" && !ignored.iter().any(|&s| s as i32 == signal) {
        Signal::SIGKILL as i32
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
        // libc's kill: nix's Signal has no real-time signals.
        // SAFETY: kill(2) with a PID of the container's and a signal number.
        if unsafe { libc::kill(target, signal) } != 0 {
            match nix::errno::Errno::last() {
                // One of the others may have ended since it was listed.
                nix::errno::Errno::ESRCH if target != pid => {}
                errno => return Err(format!("kill({target}, {signal}): {errno}")),
            }
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

#[cfg(test)]
mod tests {
    use super::parse_signal;

    #[test]
    fn signal_names_and_numbers() {
        assert_eq!(parse_signal("TERM"), Ok(libc::SIGTERM));
        assert_eq!(parse_signal("sigkill"), Ok(libc::SIGKILL));
        assert_eq!(parse_signal("64"), Ok(64));
        assert_eq!(parse_signal("34"), Ok(34));
        assert_eq!(parse_signal("SIGRTMIN"), Ok(libc::SIGRTMIN()));
        assert_eq!(parse_signal("SIGRTMIN+3"), Ok(libc::SIGRTMIN() + 3));
        assert_eq!(parse_signal("RTMIN+1"), Ok(libc::SIGRTMIN() + 1));
        assert_eq!(parse_signal("SIGRTMAX-2"), Ok(libc::SIGRTMAX() - 2));
        assert_eq!(parse_signal("RTMAX"), Ok(libc::SIGRTMAX()));
        for bad in ["0", "65", "-1", "SIGNOPE", "RTMIN-1", "RTMAX+1", "SIGRTMIN+99", "RTMINx"] {
            assert!(parse_signal(bad).is_err(), "{bad}");
        }
    }
}
