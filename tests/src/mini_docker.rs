//! The scratch world of a mini-docker end-to-end test: a directory with a
//! copy of the binaries, a state root and a data root of its own, and, as
//! root, a throwaway network namespace.
//!
//! As root, `mini-docker run` plugs containers into the bridge `minid0` by
//! default, as Docker does with `docker0`. A test must not make that bridge
//! in the machine's own network namespace, so every command a root [`Lab`]
//! starts first joins a network namespace the lab made (a `pre_exec` that
//! calls `setns` in the forked child, before `exec`). mini-docker takes it
//! for "the host": the bridge, the veth pairs and the published ports live
//! there and die with it. mini-docker itself has no test-only option, and a
//! test that panics halfway leaves nothing on the machine: the lab removes
//! its containers, and the namespace goes with its last descriptor and
//! process.
//!
//! Rootless labs run mini-docker as uid 65534, which cannot join the
//! namespace (`setns` needs CAP_SYS_ADMIN), and needs not: a rootless
//! container gets no bridge.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::{As, NOBODY, can_run, in_ci, skip_note};

/// A network namespace held open by a descriptor: made by a short-lived
/// thread (a network namespace belongs to a thread, so the test process's
/// other threads stay where they are), it lives as long as the [`Netns`]
/// (or a process in it), and dies with this process.
pub struct Netns {
    file: File,
}

impl Netns {
    pub fn new() -> Netns {
        let made = std::thread::spawn(|| -> std::io::Result<File> {
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)?;
            loopback_up()?;
            File::open("/proc/thread-self/ns/net")
        });
        let file = made.join().expect("the namespace's thread").expect("a network namespace");
        Netns { file }
    }

    /// Makes `cmd` join this namespace between `fork` and `exec`.
    pub fn enter(&self, cmd: &mut Command) {
        let fd = self.file.as_raw_fd();
        // SAFETY: after fork, before exec: setns only.
        unsafe {
            cmd.pre_exec(move || {
                if libc::setns(fd, libc::CLONE_NEWNET) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }

    /// Runs `f` on a thread inside the namespace: "the host" of the
    /// containers (a network namespace belongs to a thread, not a process).
    pub fn on_host<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        let netns = self.file.try_clone().expect("dup the netns");
        std::thread::spawn(move || {
            // SAFETY: setns on this thread only.
            let joined = unsafe { libc::setns(netns.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(joined, 0, "setns: {}", std::io::Error::last_os_error());
            f()
        })
        .join()
        .expect("host-side thread")
    }

    /// The interfaces of the namespace, sorted.
    pub fn interfaces(&self) -> Vec<String> {
        self.on_host(|| {
            let dev = std::fs::read_to_string("/proc/thread-self/net/dev").expect("net/dev");
            let mut names: Vec<String> = dev
                .lines()
                .skip(2)
                .filter_map(|l| Some(l.split(':').next()?.trim().to_owned()))
                .collect();
            names.sort();
            names
        })
    }
}

impl Default for Netns {
    fn default() -> Netns {
        Netns::new()
    }
}

/// `ip link set lo up`, by ioctl (netdevice(7)), in the calling thread's
/// network namespace.
fn loopback_up() -> std::io::Result<()> {
    // SAFETY: a plain socket and a zeroed ifreq holding a NUL-terminated name.
    unsafe {
        let sock = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if sock < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let mut req: libc::ifreq = std::mem::zeroed();
        for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
            *dst = *src as libc::c_char;
        }
        let mut result = libc::ioctl(sock, libc::SIOCGIFFLAGS, &mut req);
        if result == 0 {
            req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
            result = libc::ioctl(sock, libc::SIOCSIFFLAGS, &req);
        }
        let error = std::io::Error::last_os_error();
        libc::close(sock);
        if result != 0 {
            return Err(error);
        }
    }
    Ok(())
}

static LABS: AtomicUsize = AtomicUsize::new(0);

/// One test's scratch directory, removed when dropped, and (as root) its
/// network namespace.
pub struct Lab {
    pub dir: PathBuf,
    /// The user mini-docker runs as, on the host.
    pub host_uid: u32,
    netns: Option<Netns>,
}

impl Lab {
    /// `None` (after one line saying why) when `who` cannot run containers
    /// here; under CI=true that is a failure instead. `binaries` are copied
    /// into `bin/` (world-readable, so uid 65534 can run them).
    pub fn new(test: &str, who: As, binaries: &[&str]) -> Option<Lab> {
        can_run(test, who)?;
        let n = LABS.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("mini-docker-test-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let euid = nix::unistd::geteuid();
        let host_uid = if who == As::Rootless && euid.is_root() { NOBODY } else { euid.as_raw() };
        let netns = (who == As::Root).then(Netns::new);
        let lab = Lab { dir, host_uid, netns };
        std::fs::create_dir_all(lab.dir.join("bin")).expect("create the lab");
        for d in [&lab.dir, &lab.dir.join("bin")] {
            chmod(d, 0o755);
        }
        for built in binaries {
            let copy =
                lab.bin(Path::new(built).file_name().and_then(|n| n.to_str()).expect("name"));
            std::fs::copy(built, &copy).expect("copy binary");
            chmod(&copy, 0o755);
        }
        lab.scratch("state");
        lab.scratch("data");
        if who == As::Rootless {
            let mut cmd = lab.command(&["info"]);
            cmd.stdout(Stdio::piped()).stderr(Stdio::null());
            let mut child = crate::spawn_retrying(&mut cmd);
            crate::wait_bounded(&mut child, std::time::Duration::from_secs(30));
            let mut info = String::new();
            if let Some(mut out) = child.stdout.take() {
                std::io::Read::read_to_string(&mut out, &mut info).expect("read info");
            }
            if let Some(line) = info.lines().find(|l| l.contains("user namespaces: blocked")) {
                assert!(!in_ci(), "{test}: {line}; CI=true, so this is a failure, not a skip");
                skip_note(&format!("skipped {test}: {}", line.trim()));
                return None;
            }
        }
        Some(lab)
    }

    pub fn bin(&self, name: &str) -> PathBuf {
        self.dir.join("bin").join(name)
    }

    /// `--root`: container state (and bridge leases).
    pub fn state(&self) -> PathBuf {
        self.dir.join("state")
    }

    /// A directory in the lab that the containers' user owns.
    pub fn scratch(&self, name: &str) -> PathBuf {
        let path = self.dir.join(name);
        std::fs::create_dir_all(&path).expect("create scratch dir");
        std::os::unix::fs::chown(&path, Some(self.host_uid), Some(self.host_uid)).expect("chown");
        chmod(&path, 0o755);
        path
    }

    /// The names in the state root: empty when everything was cleaned up.
    pub fn state_entries(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.state())
            .expect("read state")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// The lab's network namespace ("the host" of its containers); `None`
    /// in a rootless lab.
    pub fn netns(&self) -> Option<&Netns> {
        self.netns.as_ref()
    }

    /// `mini-docker --root STATE --data-root DATA ARGS…`, from `/`, stdin
    /// `/dev/null`: as uid 65534 in a rootless lab, in the lab's network
    /// namespace as root. Not started yet.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(self.bin("mini-docker"));
        cmd.arg("--root").arg(self.state()).arg("--data-root").arg(self.dir.join("data"));
        cmd.args(args).current_dir("/").stdin(Stdio::null());
        if self.host_uid != nix::unistd::geteuid().as_raw() {
            // std also drops the supplementary groups when root changes uid.
            cmd.uid(NOBODY).gid(NOBODY).env_remove("XDG_RUNTIME_DIR");
        }
        if let Some(netns) = &self.netns {
            netns.enter(&mut cmd);
        }
        cmd
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.remove_containers();
        self.netns.take();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Lab {
    /// A test that failed halfway may leave `run -d` containers running.
    /// Their monitors clean up from the state directory (cgroups, lease),
    /// so `mini-docker rm -f` stops them before that directory goes. Runs
    /// while a panic unwinds: it must not panic itself.
    fn remove_containers(&self) {
        let Ok(entries) = std::fs::read_dir(self.state()) else { return };
        let ids: Vec<String> = entries
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|name| name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit()))
            .collect();
        if ids.is_empty() {
            return;
        }
        let mut args = vec!["rm", "-f"];
        args.extend(ids.iter().map(String::as_str));
        let mut cmd = self.command(&args);
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
        let Ok(mut child) = cmd.spawn() else { return };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::time::Instant::now() < deadline {
            if !matches!(child.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// What a finished mini-docker command gave: its exit status (-1 when a
/// signal ended it), its standard output and its standard error.
pub struct Ran {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Waits at most `limit` for `child`, whose stdout and stderr are pipes,
/// and collects them (the commands tested write a few lines: the pipes do
/// not fill while it runs).
pub fn finish(mut child: std::process::Child, limit: std::time::Duration) -> Ran {
    crate::wait_bounded(&mut child, limit);
    let out = child.wait_with_output().expect("output");
    Ran {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// [`finish`] for a child whose stdout and stderr go to the files `out`
/// and `err` (kept in the lab: a failing test's output can be read there).
pub fn finish_to_files(
    mut child: std::process::Child,
    out: &Path,
    err: &Path,
    limit: std::time::Duration,
) -> Ran {
    let status = crate::wait_bounded(&mut child, limit);
    let read = |path: &Path| std::fs::read_to_string(path).unwrap_or_default();
    Ran { code: status.code().unwrap_or(-1), stdout: read(out), stderr: read(err) }
}
