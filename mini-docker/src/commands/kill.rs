//! `mini-docker kill [-s SIG] NAME…` and `stop [-t SECS] NAME…`.
//!
//! A signal goes to the container's PID 1, as Docker's does: the command
//! itself, or with `--init` the reaper, which forwards it to the command
//! (see mini-runc's `container/init.rs`). SIGKILL ends PID 1, and the
//! kernel then kills every process of the PID namespace
//! (pid_namespaces(7)); with `--pid host` or `container:NAME` the command
//! is not PID 1 there, and its children are on their own. `stop` is
//! SIGTERM, a grace period, then SIGKILL, like `docker stop`: a command
//! that does not handle SIGTERM as PID 1 (a shell) waits out the grace
//! period. Sending and waiting are the engine's `teardown.rs`, which `rm
//! -f` uses too.

use std::time::Duration;

use mini_runc::container::state::StateDir;
use mini_runc::container::tenant;
use mini_runc::error::UsageError;
use nix::sys::signal::Signal;
use nix::unistd::Pid;

use crate::bundle;
use crate::commands::{Dirs, Error, for_each};
use crate::teardown;

/// Docker's grace period before SIGKILL, in seconds.
const DEFAULT_STOP_TIMEOUT: u64 = 10;

/// The running container `key`: its state and its init.
fn running(dirs: &Dirs, key: &str) -> Result<(StateDir, Pid), Error> {
    let state = crate::commands::find(dirs, key)?;
    let init = tenant::ready_init(&state).ok_or_else(|| UsageError::NotRunning(key.to_owned()))?;
    Ok((state, init))
}

/// `KILL`, `SIGKILL` or `9`.
pub fn parse_signal(name: &str) -> Result<Signal, UsageError> {
    let bad = || UsageError::BadSignal(name.to_owned());
    if let Ok(n) = name.parse::<i32>() {
        return Signal::try_from(n).map_err(|_| bad());
    }
    let upper = name.to_ascii_uppercase();
    let full = if upper.starts_with("SIG") { upper } else { format!("SIG{upper}") };
    full.parse().map_err(|_| bad())
}

/// Each container gets the signal; a name that finds no running one is
/// reported and the others still get it (status 1), as Docker's.
pub fn kill(dirs: &Dirs, signal_name: &str, containers: &[String]) -> Result<u8, Error> {
    let sig = parse_signal(signal_name)?;
    Ok(for_each(containers, |key| {
        let (_, init) = running(dirs, key)?;
        teardown::signal(init, sig)?;
        say!("{key}");
        Ok(())
    }))
}

/// `stop`: the container's `--stop-signal` (else SIGTERM), then SIGKILL
/// after `-t` seconds, else its `--stop-timeout`, else 10, as Docker's.
pub fn stop(dirs: &Dirs, seconds: Option<u64>, containers: &[String]) -> Result<u8, Error> {
    Ok(for_each(containers, |key| stop_one(dirs, seconds, key)))
}

fn stop_one(dirs: &Dirs, seconds: Option<u64>, key: &str) -> Result<(), Error> {
    let (state, init) = running(dirs, key)?;
    stop_running(&state, init, seconds, key)?;
    say!("{key}");
    Ok(())
}

/// Stops the running container in `state` whose PID 1 is `init`, and
/// returns once its mini-docker has torn it down (`restart` too).
pub fn stop_running(
    state: &StateDir,
    init: Pid,
    seconds: Option<u64>,
    key: &str,
) -> Result<(), Error> {
    let annotations = crate::commands::annotations(state);
    let recorded = |key: &str| annotations.get(key).and_then(|v| v.as_str());
    let signal = recorded(bundle::STOP_SIGNAL_ANNOTATION)
        .and_then(|name| parse_signal(name).ok())
        .unwrap_or(Signal::SIGTERM);
    let seconds = seconds
        .or_else(|| recorded(bundle::STOP_TIMEOUT_ANNOTATION)?.parse().ok())
        .unwrap_or(DEFAULT_STOP_TIMEOUT);
    let _ = teardown::signal(init, signal);
    if !teardown::ended(state, Duration::from_secs(seconds)) {
        teardown::kill_and_wait(state, key)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn signals() {
        use nix::sys::signal::Signal;
        for (name, sig) in
            [("KILL", Signal::SIGKILL), ("sigterm", Signal::SIGTERM), ("10", Signal::SIGUSR1)]
        {
            assert_eq!(super::parse_signal(name).expect(name), sig);
        }
        assert!(super::parse_signal("NOPE").is_err());
    }
}
