//! `-t`: a pseudo-terminal for the command, as `docker run -t` gives.
//!
//! A pseudo-terminal (pty(7)) is a pair: the *master*, which a terminal
//! emulator (here: mini-docker) reads and writes, and the *slave*, which the
//! program uses as its terminal. It must come from the container's own
//! `devpts` instance (so it is `/dev/pts/0` inside and the host's ptys stay
//! invisible), so the container's init opens `/dev/ptmx` after
//! `pivot_root` and hands the master to mini-docker over the sync socket as
//! an `SCM_RIGHTS` message (unix(7)): the same trick as runc's
//! `--console-socket`. (`exec -t` needs no message: mini-docker exec opens
//! it itself once it is in the container's mount namespace.) The command
//! becomes a session leader with the slave as its controlling terminal;
//! mini-docker copies bytes between its own stdin/stdout and the master,
//! puts its terminal in raw mode with `-i` (so Ctrl-C reaches the
//! container's line discipline as a byte) and passes on window size
//! changes (SIGWINCH).
//!
//! It imports only `error.rs`.

use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd};

use nix::errno::Errno;
use nix::fcntl::{OFlag, open};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::pty::{posix_openpt, ptsname_r, unlockpt};
use nix::sys::signal::{SigSet, Signal, kill};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::stat::Mode;
use nix::sys::termios::{SetArg, Termios, cfmakeraw, tcgetattr, tcsetattr};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{Pid, isatty, read, setsid};

use crate::error::ContainerError;

/// In the container, after `pivot_root`: a new pty from its `devpts`;
/// returns (master, slave).
pub fn open_pty() -> Result<(OwnedFd, OwnedFd), ContainerError> {
    let pty = |call: String| move |errno| ContainerError::Pty { call, errno };
    let master = posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)
        .map_err(pty("posix_openpt(\"/dev/ptmx\")".to_owned()))?;
    unlockpt(&master).map_err(pty("unlockpt".to_owned()))?;
    let name = ptsname_r(&master).map_err(pty("ptsname_r".to_owned()))?;
    let slave =
        open(name.as_str(), OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC, Mode::empty())
            .map_err(pty(format!("open({name:?})")))?;
    // SAFETY: the descriptor was just handed over by the PtyMaster.
    let master = unsafe { OwnedFd::from_raw_fd(master.into_raw_fd()) };
    Ok((master, slave))
}

/// In the command's process: a new session whose controlling terminal is
/// the slave, which also becomes stdin, stdout and stderr.
pub fn become_terminal(slave: &OwnedFd) -> Result<(), Errno> {
    setsid()?;
    // SAFETY: ioctl and dup2 on a valid descriptor.
    unsafe {
        if libc::ioctl(slave.as_raw_fd(), libc::TIOCSCTTY, 0) != 0 {
            return Err(Errno::last());
        }
        for fd in 0..3 {
            if libc::dup2(slave.as_raw_fd(), fd) < 0 {
                return Err(Errno::last());
            }
        }
    }
    Ok(())
}

/// Our terminal in raw mode until dropped (restored on every path).
struct RawMode {
    saved: Termios,
}

impl RawMode {
    fn enter(fd: BorrowedFd) -> Option<RawMode> {
        let saved = tcgetattr(fd).ok()?;
        let mut raw = saved.clone();
        cfmakeraw(&mut raw);
        tcsetattr(fd, SetArg::TCSANOW, &raw).ok()?;
        Some(RawMode { saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = tcsetattr(std::io::stdin().as_fd(), SetArg::TCSANOW, &self.saved);
    }
}

/// Sets the pty's window size, `rows` by `cols` (TIOCSWINSZ, ioctl_tty(2));
/// the program on the slave reads it with TIOCGWINSZ.
pub fn set_window_size(pty: &OwnedFd, rows: u16, cols: u16) -> Result<(), Errno> {
    let size = libc::winsize { ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: TIOCSWINSZ reads one winsize, which lives across the call.
    let done = unsafe { libc::ioctl(pty.as_raw_fd(), libc::TIOCSWINSZ, &size) };
    if done == 0 { Ok(()) } else { Err(Errno::last()) }
}

/// Gives the master our terminal's size; the kernel then sends SIGWINCH
/// to the container's foreground process group.
fn copy_window_size(master: &OwnedFd) {
    // SAFETY: TIOCGWINSZ/TIOCSWINSZ with a zeroed winsize.
    unsafe {
        let mut size: libc::winsize = std::mem::zeroed();
        if libc::ioctl(0, libc::TIOCGWINSZ, &mut size) == 0 {
            libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &size);
        }
    }
}

/// The parent's loop with a pty: copy stdin to the master and the master
/// to stdout, pass signals on, and return the status once `init` (for
/// `exec`, the tenant) ends.
pub fn relay(
    init: Pid,
    master: OwnedFd,
    interactive: bool,
    waited: &SigSet,
) -> Result<u8, ContainerError> {
    let stdin = std::io::stdin();
    let on_terminal = isatty(stdin.as_fd()).unwrap_or(false);
    let _raw = if on_terminal && interactive { RawMode::enter(stdin.as_fd()) } else { None };
    if on_terminal {
        copy_window_size(&master);
    }
    let signals = SignalFd::with_flags(waited, SfdFlags::SFD_CLOEXEC)
        .map_err(ContainerError::sys("signalfd"))?;
    let mut stdin_open = interactive;
    let mut master_open = true;
    let mut buf = [0u8; 4096];
    loop {
        let mut fds = vec![PollFd::new(signals.as_fd(), PollFlags::POLLIN)];
        if master_open {
            fds.push(PollFd::new(master.as_fd(), PollFlags::POLLIN));
        }
        if stdin_open {
            fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Err(Errno::EINTR) => continue,
            Err(errno) => return Err(ContainerError::Sys { call: "poll".into(), errno }),
            Ok(_) => {}
        }
        let ready: Vec<bool> = fds.iter().map(|f| f.any().unwrap_or(false)).collect();
        drop(fds);
        let (mut signal_ready, mut master_ready, mut stdin_ready) = (ready[0], false, false);
        let mut i = 1;
        if master_open {
            master_ready = ready[i];
            i += 1;
        }
        if stdin_open {
            stdin_ready = ready[i];
        }
        if master_ready {
            master_open = copy_out(&master, &mut buf);
        }
        if stdin_ready {
            match read(stdin.as_fd(), &mut buf) {
                Ok(0) | Err(_) => stdin_open = false,
                Ok(n) => write_all(master.as_fd(), &buf[..n]),
            }
        }
        while signal_ready {
            let Ok(Some(info)) = signals.read_signal() else { break };
            signal_ready = false;
            let Ok(sig) = Signal::try_from(info.ssi_signo as i32) else { continue };
            match sig {
                Signal::SIGCHLD => match waitpid(init, Some(WaitPidFlag::WNOHANG)) {
                    Ok(WaitStatus::Exited(_, code)) => return Ok(drain(&master, code as u8)),
                    Ok(WaitStatus::Signaled(_, s, _)) => return Ok(drain(&master, 128 + s as u8)),
                    _ => {}
                },
                Signal::SIGWINCH if on_terminal => copy_window_size(&master),
                other => {
                    let _ = kill(init, other);
                }
            }
        }
    }
}

/// One read from the master to stdout; `false` once the slave side is
/// closed for good (EIO: every process holding it has exited).
fn copy_out(master: &OwnedFd, buf: &mut [u8]) -> bool {
    match read(master.as_fd(), buf) {
        Ok(0) | Err(Errno::EIO) => false,
        Ok(n) => {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(&buf[..n]).and_then(|()| out.flush());
            true
        }
        Err(_) => true,
    }
}

/// What the command wrote just before it ended may still be in the pty.
fn drain(master: &OwnedFd, status: u8) -> u8 {
    let mut buf = [0u8; 4096];
    let mut fds = [PollFd::new(master.as_fd(), PollFlags::POLLIN)];
    while matches!(poll(&mut fds, PollTimeout::ZERO), Ok(n) if n > 0)
        && fds[0].revents().is_some_and(|r| r.contains(PollFlags::POLLIN))
        && copy_out(master, &mut buf)
    {}
    status
}

fn write_all(fd: BorrowedFd, mut data: &[u8]) {
    while !data.is_empty() {
        match nix::unistd::write(fd, data) {
            Ok(n) => data = &data[n..],
            Err(Errno::EINTR) => {}
            Err(_) => return,
        }
    }
}
