//! The sync channel between mini-docker and the container's first process.
//!
//! A Unix socket pair, one text line per step. The child is created already
//! inside its new user namespace, but until the parent writes its
//! `uid_map` it is nobody there (the overflow ID 65534, user_namespaces(7));
//! it may not be in its cgroups yet either: so it waits for "go" before it
//! sets anything up. Then the parent waits for "ready" (or an error
//! message) so that a failed mount becomes mini-docker's error (exit 125),
//! not the command's. When the parent has work to do alongside the setup
//! (`Config::works_alongside`: `lo`, the engine's step), a second "go" says
//! it has ended, and the child waits for it before its command may start.
//! With `-t` the child first sends the pty's master descriptor (see
//! `tty.rs`), then "ready".
//!
//! It imports only `error.rs`.

use std::io::{BufRead, BufReader, IoSlice, IoSliceMut, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use nix::sys::socket::{ControlMessage, ControlMessageOwned, MsgFlags, recvmsg, sendmsg};

use crate::error::ContainerError;

/// How long either side waits for the other before giving up.
const TIMEOUT: Duration = Duration::from_secs(10);

/// One end of the channel.
#[derive(Debug)]
pub struct SyncChannel {
    reader: BufReader<UnixStream>,
}

impl std::os::fd::AsRawFd for SyncChannel {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.reader.get_ref().as_raw_fd()
    }
}

impl SyncChannel {
    /// A connected pair: (parent's end, child's end). Both are close-on-exec,
    /// so the command never inherits them.
    pub fn pair() -> Result<(SyncChannel, SyncChannel), ContainerError> {
        let (a, b) = UnixStream::pair().map_err(|e| sync_error("socketpair", &e))?;
        for end in [&a, &b] {
            end.set_read_timeout(Some(TIMEOUT)).map_err(|e| sync_error("timeout", &e))?;
        }
        Ok((SyncChannel { reader: BufReader::new(a) }, SyncChannel { reader: BufReader::new(b) }))
    }

    fn send(&mut self, line: &str) -> Result<(), ContainerError> {
        let mut stream = self.reader.get_ref();
        stream.write_all(format!("{line}\n").as_bytes()).map_err(|e| sync_error("write", &e))
    }

    fn recv(&mut self) -> Result<String, ContainerError> {
        let mut line = String::new();
        match self.reader.read_line(&mut line) {
            Ok(0) => Err(ContainerError::Sync("the other side exited".to_owned())),
            Ok(_) => Ok(line.trim_end().to_owned()),
            Err(e) => Err(sync_error("read", &e)),
        }
    }

    /// Parent: the ID maps are written, the cgroups joined, the veth pair
    /// made; go on.
    pub fn go(&mut self) -> Result<(), ContainerError> {
        self.send("go")
    }

    /// Child: waits for [`go`](Self::go).
    pub fn wait_go(&mut self) -> Result<(), ContainerError> {
        match self.recv()?.as_str() {
            "go" => Ok(()),
            other => Err(ContainerError::Sync(format!("expected \"go\", got {other:?}"))),
        }
    }

    /// Child: the container is set up; the command starts now.
    pub fn ready(&mut self) -> Result<(), ContainerError> {
        self.send("ready")
    }

    /// Child: setting up failed with this message.
    pub fn error(&mut self, message: &str) {
        let _ = self.send(&format!("error {}", message.replace('\n', " ")));
    }

    /// Child (with `-t`): passes the pty master to the parent, as the
    /// ancillary data (SCM_RIGHTS) of a one-byte message "T".
    pub fn send_fd(&mut self, fd: &OwnedFd) -> Result<(), ContainerError> {
        let fds = [fd.as_raw_fd()];
        sendmsg::<()>(
            self.reader.get_ref().as_raw_fd(),
            &[IoSlice::new(b"T")],
            &[ControlMessage::ScmRights(&fds)],
            MsgFlags::empty(),
            None,
        )
        .map(drop)
        .map_err(|errno| ContainerError::Sync(format!("sendmsg(SCM_RIGHTS): {errno}")))
    }

    /// Parent (with `-t`): receives the pty master, or the child's error.
    /// `recvmsg` reads exactly one byte, so nothing is left in the line
    /// buffer (a plain `read` would drop the descriptor).
    pub fn recv_fd(&mut self) -> Result<OwnedFd, ContainerError> {
        let mut byte = [0u8; 1];
        let mut iov = [IoSliceMut::new(&mut byte)];
        let mut space = nix::cmsg_space!(RawFd);
        let socket = self.reader.get_ref().as_raw_fd();
        let msg = recvmsg::<()>(socket, &mut iov, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC)
            .map_err(|errno| ContainerError::Sync(format!("recvmsg: {errno}")))?;
        let mut received = None;
        for cmsg in msg.cmsgs().map_err(|e| ContainerError::Sync(format!("cmsgs: {e}")))? {
            if let ControlMessageOwned::ScmRights(fds) = cmsg {
                for fd in fds {
                    // SAFETY: the kernel just installed this descriptor for us.
                    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
                    received.get_or_insert(fd);
                }
            }
        }
        let bytes = msg.bytes;
        match (bytes, byte[0], received) {
            (1, b'T', Some(fd)) => Ok(fd),
            (0, _, _) => Err(ContainerError::Sync("the other side exited".to_owned())),
            (_, first, _) => {
                // Not the pty: the start of an "error …" line.
                let rest = self.recv()?;
                let line = format!("{}{rest}", first as char);
                match line.split_once(' ') {
                    Some(("error", message)) => Err(ContainerError::Child(message.to_owned())),
                    _ => Err(ContainerError::Sync(format!("expected the pty, got {line:?}"))),
                }
            }
        }
    }

    /// Parent: hands the child the idmapped mounts it made (see
    /// `rootfs/idmap.rs`) as the ancillary data of a one-byte message "M",
    /// then a line naming each in order (`mounts lower 0 3`: the image,
    /// volumes 0 and 3). A name asked for and missing was not made.
    pub fn send_mounts(&mut self, mounts: &[(String, OwnedFd)]) -> Result<(), ContainerError> {
        let fds: Vec<RawFd> = mounts.iter().map(|(_, fd)| fd.as_raw_fd()).collect();
        let rights = [ControlMessage::ScmRights(&fds)];
        let cmsgs: &[ControlMessage] = if fds.is_empty() { &[] } else { &rights };
        let socket = self.reader.get_ref().as_raw_fd();
        sendmsg::<()>(socket, &[IoSlice::new(b"M")], cmsgs, MsgFlags::empty(), None)
            .map_err(|errno| ContainerError::Sync(format!("sendmsg(SCM_RIGHTS): {errno}")))?;
        let names: Vec<&str> = mounts.iter().map(|(name, _)| name.as_str()).collect();
        self.send(format!("mounts {}", names.join(" ")).trim_end())
    }

    /// Child: receives [`send_mounts`](Self::send_mounts)' mounts, named.
    /// Called before anything else is read (the line buffer is empty).
    pub fn recv_mounts(&mut self) -> Result<Vec<(String, OwnedFd)>, ContainerError> {
        let mut byte = [0u8; 1];
        let mut iov = [IoSliceMut::new(&mut byte)];
        let mut space = nix::cmsg_space!([RawFd; 16]);
        let socket = self.reader.get_ref().as_raw_fd();
        let msg = recvmsg::<()>(socket, &mut iov, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC)
            .map_err(|errno| ContainerError::Sync(format!("recvmsg: {errno}")))?;
        let mut fds = Vec::new();
        for cmsg in msg.cmsgs().map_err(|e| ContainerError::Sync(format!("cmsgs: {e}")))? {
            if let ControlMessageOwned::ScmRights(received) = cmsg {
                // SAFETY: the kernel just installed these descriptors for us.
                fds.extend(received.into_iter().map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }));
            }
        }
        if (msg.bytes, byte[0]) != (1, b'M') {
            return Err(ContainerError::Sync("expected the idmapped mounts".to_owned()));
        }
        let line = self.recv()?;
        let names = line.strip_prefix("mounts").map(str::split_whitespace);
        let names: Vec<String> = names.into_iter().flatten().map(str::to_owned).collect();
        if names.len() != fds.len() {
            return Err(ContainerError::Sync(format!("{} mounts for {line:?}", fds.len())));
        }
        Ok(names.into_iter().zip(fds).collect())
    }

    /// Parent: waits for [`ready`](Self::ready) or [`error`](Self::error).
    pub fn wait_ready(&mut self) -> Result<(), ContainerError> {
        let line = self.recv()?;
        match line.split_once(' ') {
            _ if line == "ready" => Ok(()),
            Some(("error", message)) => Err(ContainerError::Child(message.to_owned())),
            _ => Err(ContainerError::Sync(format!("expected \"ready\", got {line:?}"))),
        }
    }
}

fn sync_error(what: &str, e: &std::io::Error) -> ContainerError {
    ContainerError::Sync(format!("{what}: {e}"))
}
