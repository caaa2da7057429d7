//! A child process, in new namespaces or not, tied to its parent by a
//! two-way channel.
//!
//! Experiments need the parent to act *between* the child's steps: write an
//! ID map before the child goes on, look at the child from outside while it
//! waits, tell it when to exit. The [`Channel`] is a Unix socket pair carrying
//! one JSON value per line, so the child can report structured facts back.
//!
//! Safety rules that every demo relies on, kept here in one place:
//! - the child gets `PR_SET_PDEATHSIG(SIGKILL)`, so a killed demo (Ctrl-C)
//!   takes its children, and their namespaces, with it;
//! - a [`Child`] that is dropped without being waited for is killed and
//!   reaped, so an error path leaves no process and no zombie behind;
//! - the parent's reads have a timeout, so a stuck child cannot hang a demo;
//!   the child's reads have none (a child may wait as long as a reader
//!   holds a namespace open with `--hold`): its parent bounds its life.
//!
//! It knows nothing of experiments or their rendering: it imports nothing
//! of lab, and the model and the CLI build on it.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use anyhow::{Context, Result, anyhow, bail};
use nix::errno::Errno;
use nix::sched::CloneFlags;
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// How long a read waits for the other side before giving up.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// One end of the parent/child channel.
#[derive(Debug)]
pub struct Channel {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl Channel {
    /// A connected pair: one end for the parent (reads time out after
    /// [`DEFAULT_TIMEOUT`]), one for the child (reads wait: if the parent
    /// dies, the child is killed, and if it gives up, it kills the child).
    pub fn pair() -> Result<(Channel, Channel)> {
        let (a, b) = UnixStream::pair().context("socketpair(AF_UNIX)")?;
        Ok((Channel::new(a, Some(DEFAULT_TIMEOUT))?, Channel::new(b, None)?))
    }

    fn new(stream: UnixStream, timeout: Option<Duration>) -> Result<Channel> {
        stream.set_read_timeout(timeout)?;
        Ok(Channel { writer: stream.try_clone()?, reader: BufReader::new(stream) })
    }

    /// Wait at most `limit` for each read (`None`: wait as long as it takes,
    /// used while a reader holds a namespace open with `--hold`).
    pub fn set_timeout(&mut self, limit: Option<Duration>) -> Result<()> {
        self.reader.get_ref().set_read_timeout(limit)?;
        Ok(())
    }

    /// Sends one value.
    pub fn send<T: Serialize>(&mut self, value: &T) -> Result<()> {
        self.send_raw(&serde_json::json!({ "ok": value }))
    }

    /// Receives one value sent with [`send`](Self::send). An error the other
    /// side reported with [`fail`](Self::fail) comes back as an `Err`.
    pub fn recv<T: DeserializeOwned>(&mut self) -> Result<T> {
        let mut line = String::new();
        let n = self.reader.read_line(&mut line).context("reading from the child channel")?;
        if n == 0 {
            bail!("the other side of the channel exited without answering");
        }
        let mut envelope: Value =
            serde_json::from_str(&line).context("a malformed channel message")?;
        if let Some(err) = envelope.get("err").and_then(Value::as_str) {
            return Err(anyhow!("{err}"));
        }
        let value = envelope.get_mut("ok").map(Value::take).unwrap_or(Value::Null);
        serde_json::from_value(value).context("an unexpected channel message")
    }

    /// Tells the other side to go on (a step with no data).
    pub fn go(&mut self) -> Result<()> {
        self.send(&())
    }

    /// Waits until the other side says [`go`](Self::go).
    pub fn wait_go(&mut self) -> Result<()> {
        self.recv::<()>()
    }

    /// Reports an error to the other side; its next `recv` returns it.
    pub fn fail(&mut self, err: &anyhow::Error) {
        let _ = self.send_raw(&serde_json::json!({ "err": format!("{err:#}") }));
    }

    fn raw_fds(&self) -> [RawFd; 2] {
        [self.reader.get_ref().as_raw_fd(), self.writer.as_raw_fd()]
    }

    fn send_raw(&mut self, value: &Value) -> Result<()> {
        let mut line = serde_json::to_string(value)?;
        line.push('\n');
        self.writer.write_all(line.as_bytes()).context("writing to the child channel")
    }
}

/// A child process we started: its PID (as the parent sees it) and our end
/// of its channel. Dropping it without [`wait`](Child::wait) kills and reaps it.
#[derive(Debug)]
pub struct Child {
    pub pid: Pid,
    pub chan: Channel,
    reaped: bool,
}

impl Child {
    /// Waits for the child to end and returns how it ended.
    pub fn wait(&mut self) -> Result<WaitStatus> {
        self.reaped = true;
        waitpid(self.pid, None).with_context(|| format!("waitpid({})", self.pid))
    }

    /// Lets the child go on without us: it is neither killed nor reaped when
    /// this handle goes away. Used to make an orphan on purpose.
    pub fn leave(mut self) {
        self.reaped = true;
    }

    /// Waits and insists on a clean exit, so an error the child reported
    /// only through its exit status is not lost.
    pub fn wait_success(&mut self) -> Result<()> {
        match self.wait()? {
            WaitStatus::Exited(_, 0) => Ok(()),
            other => bail!("the child ended with {other:?}"),
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if !self.reaped {
            let _ = kill(self.pid, Signal::SIGKILL);
            let _ = waitpid(self.pid, None);
        }
    }
}

/// `clone(2)` with `flags`: the child starts inside the new namespaces and
/// runs `body` with its end of the channel. An error (or panic) in `body` is
/// sent to the parent, whose next `recv` returns it.
///
/// `SIGCHLD` is the exit signal so `waitpid` sees the child like a forked one
/// (man 2 clone). The child gets a copy of our memory, never a shared one
/// (no `CLONE_VM`): it is a process, not a thread.
pub fn clone_child(
    flags: CloneFlags,
    body: impl FnOnce(&mut Channel) -> Result<()>,
) -> Result<Child> {
    let (parent_end, mut child_end) = Channel::pair()?;
    flush_stdio();
    let mut body = Some(body);
    let mut stack = vec![0u8; 256 * 1024];
    let parent_fds = parent_end.raw_fds();
    let callback = Box::new(move || {
        close_fds(parent_fds);
        let body = body.take().expect("the clone callback runs once");
        child_main(&mut child_end, body)
    });
    // SAFETY: the child runs in a copy of this single-threaded process's
    // memory (no CLONE_VM), on its own stack, and leaves with `_exit`.
    let pid = unsafe { nix::sched::clone(callback, &mut stack, flags, Some(libc::SIGCHLD)) }
        .with_context(|| format!("clone({})", flag_names(flags)))?;
    Ok(Child { pid, chan: parent_end, reaped: false })
}

/// `fork(2)`: the child shares every namespace with us, until it calls
/// `unshare` or `setns` itself.
pub fn fork_child(body: impl FnOnce(&mut Channel) -> Result<()>) -> Result<Child> {
    let (parent_end, mut child_end) = Channel::pair()?;
    flush_stdio();
    // SAFETY: demos are single-threaded, so the child's copy of the process
    // holds no lock another thread owned.
    match unsafe { fork() }.context("fork")? {
        ForkResult::Parent { child } => Ok(Child { pid: child, chan: parent_end, reaped: false }),
        ForkResult::Child => {
            close_fds(parent_end.raw_fds());
            std::mem::forget(parent_end); // its fds are closed: nothing left to drop
            let code = child_main(&mut child_end, body);
            // SAFETY: `_exit` ends this process at once, without running the
            // parent's exit handlers or flushing its buffers a second time.
            unsafe { libc::_exit(code as i32) }
        }
    }
}

/// The child closes its copy of the parent's end, so that when the parent
/// dies the child's reads see end-of-file instead of waiting forever.
fn close_fds(fds: [RawFd; 2]) {
    for fd in fds {
        // SAFETY: these fds are the child's copies of the parent's end; the
        // child never uses them (the parent's own copies stay open).
        unsafe { libc::close(fd) };
    }
}

fn child_main(chan: &mut Channel, body: impl FnOnce(&mut Channel) -> Result<()>) -> isize {
    // If the parent dies, so do we (man 2 PR_SET_PDEATHSIG).
    let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL);
    let result = match catch_unwind(AssertUnwindSafe(|| body(chan))) {
        Ok(result) => result,
        Err(panic) => Err(anyhow!("the child panicked: {}", panic_text(&panic))),
    };
    match result {
        Ok(()) => 0,
        Err(err) => {
            chan.fail(&err);
            1
        }
    }
}

/// The child gets a copy of our output buffers: empty them first, or what
/// we printed so far would be printed again by the child.
fn flush_stdio() {
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
}

fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

/// A handle on one process that stays valid if its PID number is reused
/// (man 2 pidfd_open): signalling through it can never hit a stranger.
#[derive(Debug)]
pub struct PidFd(OwnedFd);

impl PidFd {
    pub fn open(pid: Pid) -> Result<PidFd> {
        // SAFETY: pidfd_open takes a PID and flags and returns a new fd or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid.as_raw(), 0) };
        let fd = Errno::result(fd).with_context(|| format!("pidfd_open({pid})"))?;
        // SAFETY: the kernel just gave us this fd; nobody else owns it.
        Ok(PidFd(unsafe { OwnedFd::from_raw_fd(fd as RawFd) }))
    }

    /// Sends `signal`, or with `None` only checks that the process still
    /// exists (`ESRCH` once it has exited and been reaped).
    pub fn signal(&self, signal: Option<Signal>) -> nix::Result<()> {
        let number = signal.map_or(0, |s| s as libc::c_int);
        let fd = self.0.as_raw_fd();
        // SAFETY: a valid pidfd, a signal number, no siginfo, no flags.
        let res = unsafe {
            libc::syscall(libc::SYS_pidfd_send_signal, fd, number, std::ptr::null::<u8>(), 0)
        };
        Errno::result(res).map(drop)
    }
}

/// `CLONE_NEWPID|CLONE_NEWNS` style names for messages.
pub fn flag_names(flags: CloneFlags) -> String {
    if flags.is_empty() {
        return "no new namespaces".into();
    }
    flags.iter_names().map(|(name, _)| name).collect::<Vec<_>>().join("|")
}
