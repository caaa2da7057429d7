//! Running an experiment's steps as an ordinary user.
//!
//! user-demo and userns-demo teach what a user namespace gives a user who is
//! *not* root, so they make their user namespaces themselves, as such a user:
//! started as root, each experiment forks a process that drops to 65534
//! (`nobody`) for good and checks that it holds no capability before it
//! goes on. This module is that plumbing; the namespaces and ID maps, the
//! lessons, stay in the demos.
//!
//! It builds on the model (`experiment`), `spawn`, `privilege` and `ns`, and
//! nothing above them.

use anyhow::{Context, Result, ensure};
use nix::sys::prctl;
use nix::sys::signal::Signal;
use nix::sys::wait::WaitStatus;
use nix::unistd::{Gid, Pid, Uid, geteuid, setgid, setgroups, setuid};

use crate::experiment::{Lab, Observed};
use crate::spawn::{Channel, fork_child};
use crate::{ns, privilege};

// ANCHOR: as_unprivileged
/// The unprivileged user and group the demos become when started as root.
pub const NOBODY: u32 = 65534;

/// Runs `steps` in a child process that is not root: started as root, the
/// child drops to 65534 first; started by an ordinary user, it already is one.
pub fn as_unprivileged(lab: &Lab, steps: impl FnOnce() -> Result<Observed>) -> Result<Observed> {
    let mut user = fork_child(|chan| {
        if geteuid().is_root() {
            drop_root()?;
        }
        ensure!(capeff()? == 0, "still holding capabilities after dropping root");
        match user_namespaces_blocked() {
            Some(why) if !lab.is_control() => chan.send(&Observed::skip(why)),
            _ => chan.send(&steps()?),
        }
    })?;
    // Wait for it first: each of its steps is bounded, except a --hold,
    // which lasts as long as the reader likes. Its report waits in the channel.
    let status = user.wait()?;
    let observed = user.chan.recv::<Observed>()?;
    ensure!(matches!(status, WaitStatus::Exited(_, 0)), "ended with {status:?}");
    Ok(observed)
}

/// Root becomes user and group 65534 for good, in the only order that works.
pub fn drop_root() -> Result<()> {
    // Supplementary groups first (or we would keep root's, group 0 among
    // them), then the GID: both need CAP_SETGID, which setuid() takes away.
    setgroups(&[]).context("setgroups([])")?;
    setgid(Gid::from_raw(NOBODY)).context("setgid(65534)")?;
    // Real, effective and saved UID all leave 0: the kernel empties the
    // permitted, effective and ambient capability sets (man 7 capabilities,
    // "Effect of user ID changes on capabilities").
    setuid(Uid::from_raw(NOBODY)).context("setuid(65534)")?;
    // Changing the effective UID also reset two attributes (commit_creds() in
    // kernel/cred.c; man 2 prctl, PR_SET_DUMPABLE, documents the first).
    // "Dumpable": without it our children's /proc/PID files belong to root,
    // and we could not write their uid_map. And lab's parent-death signal.
    prctl::set_dumpable(true).context("prctl(PR_SET_DUMPABLE, 1)")?;
    prctl::set_pdeathsig(Signal::SIGKILL).context("prctl(PR_SET_PDEATHSIG)")?;
    Ok(())
}

/// Whether the host stops an unprivileged user from creating a user
/// namespace (a sysctl, AppArmor, a seccomp filter): lab's own check, made
/// in a throwaway process. `Some(why)` names the setting and the fix.
pub fn user_namespaces_blocked() -> Option<String> {
    let mut probe = fork_child(|chan| chan.send(&privilege::acquire(true).err())).ok()?;
    let blocked = probe.chan.recv::<Option<String>>().ok().flatten();
    let _ = probe.wait();
    blocked
}
// ANCHOR_END: as_unprivileged

/// The effective capability set (`CapEff:` in /proc/self/status) as a mask.
pub fn capeff() -> Result<u64> {
    let hex = ns::status_field(None, "CapEff")?;
    u64::from_str_radix(&hex, 16).with_context(|| format!("parsing CapEff {hex}"))
}

/// Every capability this kernel knows: bits 0 ..= cap_last_cap.
pub fn full_capability_set() -> Result<u64> {
    let last = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .context("reading /proc/sys/kernel/cap_last_cap")?;
    let last: u32 = last.trim().parse().context("parsing cap_last_cap")?;
    ensure!(last < 64, "cap_last_cap {last} does not fit CapEff's 64 bits");
    Ok(u64::MAX >> (63 - last))
}

/// Waits for the parent's go with no time limit: meanwhile the parent may
/// hold the namespace open for the reader (`--hold`). Still bounded: the
/// parent sends go or kills us, and if it dies, PR_SET_PDEATHSIG kills us.
pub fn wait_go_while_held(chan: &mut Channel) -> Result<()> {
    chan.set_timeout(None)?;
    chan.wait_go()
}

/// `nsenter` into `pid`'s user namespace and `more` of its namespaces, for
/// `--hold` (rootless, [`Lab::nsenter`] adds `-U` itself).
pub fn nsenter_user(lab: &Lab, pid: Pid, more: &str) -> String {
    if lab.is_rootless() { lab.nsenter(pid, more) } else { lab.nsenter(pid, &format!("-U {more}")) }
}
