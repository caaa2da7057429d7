//! Real clients driving the `mini-runc` binary: Docker, podman and
//! containerd's `ctr`. What their tests share: finding a client (a
//! missing one is a failure under CI=true), a lock for host files a test
//! edits (Docker's daemon.json), the busybox image they import, a bounded
//! run of a client with its output in files, and a world of namespaces for
//! a client that must not touch the host's network.
//!
//! The clients are the host's programs: a test starts them, waits for them
//! (bounded by [`LIMIT`]) and reads what they printed; it changes nothing
//! of theirs but what it registers, and puts that back.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub use crate::mini_docker::Ran;
use crate::mini_docker::{Netns, chmod};
use crate::{As, can_run, skip};

/// No client command a test starts may run longer than this.
pub const LIMIT: Duration = Duration::from_secs(60);

static RUNS: AtomicUsize = AtomicUsize::new(0);

/// Whether `program` is on the PATH (as `command -v` finds it).
pub fn have(program: &str) -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).any(|dir| dir.join(program).is_file())
}

/// `Some(())` when the test may run as root and finds every one of
/// `programs`; otherwise one line saying what is missing (a failure under
/// CI=true, which installs them all: `.ci/run`).
pub fn require(test: &str, programs: &[&str]) -> Option<()> {
    can_run(test, As::Root)?;
    if let Some(missing) = programs.iter().find(|p| !have(p)) {
        skip(test, &format!("`{missing}` is not installed (Debian: see .ci/run)"));
        return None;
    }
    Some(())
}

/// A scratch directory of a test, removed when dropped.
pub struct Scratch {
    pub dir: PathBuf,
}

impl Scratch {
    /// `$TMPDIR/NAME-PID-N`: unique to the test, even among the tests
    /// of one process, which run at once.
    pub fn new(name: &str) -> Scratch {
        let n = RUNS.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("{name}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch dir");
        chmod(&dir, 0o755);
        Scratch { dir }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs `cmd` to its end (at most `limit`; past that, it is killed and the
/// test fails), stdin `/dev/null`, its output in two files of `dir`:
/// a detached container may hold a pipe open long after its client left.
pub fn run_in(dir: &Path, mut cmd: Command, limit: Duration) -> Ran {
    let n = RUNS.fetch_add(1, Ordering::Relaxed);
    let (out, err) = (dir.join(format!("client-{n}.out")), dir.join(format!("client-{n}.err")));
    cmd.stdin(Stdio::null())
        .stdout(File::create(&out).expect("out file"))
        .stderr(File::create(&err).expect("err file"));
    let mut child = crate::spawn_retrying(&mut cmd);
    let status = crate::wait_bounded(&mut child, limit);
    let read = |path: &Path| std::fs::read_to_string(path).unwrap_or_default();
    Ran { code: status.code().unwrap_or(-1), stdout: read(&out), stderr: read(&err) }
}

/// `cmd` on a pseudo-terminal of its own, as a user at a terminal would
/// run it: `script(1)` (util-linux) makes the pty, runs `cmd` there and
/// copies it out; `input` is what the user types. The output holds the
/// terminal's echo and `\r\n` line ends.
pub fn in_pty(dir: &Path, cmd: &[&str], input: &str, wrap: impl FnOnce(&mut Command)) -> Ran {
    let line: Vec<String> = cmd.iter().map(|a| shell_quote(a)).collect();
    let mut script = Command::new("script");
    script.args(["-qec", &line.join(" "), "/dev/null"]);
    wrap(&mut script);
    let n = RUNS.fetch_add(1, Ordering::Relaxed);
    let typed = dir.join(format!("client-{n}.in"));
    std::fs::write(&typed, input).expect("input file");
    let (out, err) = (dir.join(format!("client-{n}.out")), dir.join(format!("client-{n}.err")));
    script
        .stdin(File::open(&typed).expect("input"))
        .stdout(File::create(&out).expect("out file"))
        .stderr(File::create(&err).expect("err file"));
    let mut child = crate::spawn_retrying(&mut script);
    let status = crate::wait_bounded(&mut child, LIMIT);
    let read = |path: &Path| std::fs::read_to_string(path).unwrap_or_default();
    Ran { code: status.code().unwrap_or(-1), stdout: read(&out), stderr: read(&err) }
}

/// `'…'` for sh(1), a single quote inside written `'\''`.
fn shell_quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// Takes an exclusive flock(2) on `path` (made if missing), waiting
/// (bounded) for another test run to let it go; the lock goes with the
/// returned descriptor.
pub fn lock(path: &str, wait: Duration) -> File {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .unwrap_or_else(|e| panic!("{path}: {e}"));
    let deadline = Instant::now() + wait;
    // SAFETY: flock(2) on a descriptor this function owns.
    while unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        assert!(Instant::now() < deadline, "{path}: still locked after {wait:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    file
}

/// The host's static busybox (Debian: busybox-static).
pub fn busybox() -> PathBuf {
    ["/bin/busybox", "/usr/bin/busybox"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .expect("busybox-static (Debian: busybox-static)")
}

/// The applets the clients' tests run.
pub const APPLETS: &[&str] = &[
    "sh", "echo", "cat", "grep", "hostname", "id", "ip", "ls", "ps", "readlink", "sleep", "touch",
    "tty", "wc",
];

/// A root filesystem tarball: busybox at `/bin/busybox` and its
/// [`APPLETS`] as symbolic links, what `docker import` and `podman
/// import` make an image of.
pub fn busybox_tarball(path: &Path) {
    let mut builder = tar::Builder::new(File::create(path).expect("tarball"));
    builder.append_path_with_name(busybox(), "bin/busybox").expect("busybox");
    for applet in APPLETS {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Symlink);
        header.set_size(0);
        header.set_mode(0o777);
        builder.append_link(&mut header, format!("bin/{applet}"), "busybox").expect("applet");
    }
    builder.into_inner().expect("finish the tarball");
}

// ANCHOR: sandbox
/// A throwaway network namespace and mount namespace, held open by
/// descriptors, for a client that makes bridges, firewall rules and
/// mounts as it goes (podman): each command [`enter`](Self::enter)s both
/// between fork and exec, so all of them share one world, and nothing
/// they make reaches the host's. The mount namespace has every mount
/// private (nothing propagates back) and a tmpfs of its own on `/run`,
/// where such clients put their network namespace files and locks. Both
/// go when the last descriptor and process in them do.
pub struct Sandbox {
    netns: Netns,
    mnt: File,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        let netns = Netns::new();
        // A thread of its own: unshare(CLONE_NEWNS) changes only the
        // calling thread's mounts (it unshares CLONE_FS, unshare(2)).
        let made = std::thread::spawn(|| -> std::io::Result<File> {
            use nix::mount::{MsFlags, mount};
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)?;
            mount(
                None::<&str>,
                "/",
                None::<&str>,
                MsFlags::MS_REC | MsFlags::MS_PRIVATE,
                None::<&str>,
            )?;
            let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
            mount(Some("tmpfs"), "/run", Some("tmpfs"), flags, Some("mode=755,size=64m"))?;
            File::open("/proc/thread-self/ns/mnt")
        });
        let mnt = made.join().expect("the namespace's thread").expect("a mount namespace");
        Sandbox { netns, mnt }
    }

    /// Makes `cmd` join both namespaces between fork and exec (setns(2)
    /// into a mount namespace also moves to its root directory).
    pub fn enter(&self, cmd: &mut Command) {
        self.netns.enter(cmd);
        let fd = self.mnt.as_raw_fd();
        // SAFETY: after fork, before exec: setns only.
        unsafe {
            cmd.pre_exec(move || {
                if libc::setns(fd, libc::CLONE_NEWNS) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }

    /// The interfaces of the sandbox's network namespace.
    pub fn interfaces(&self) -> Vec<String> {
        self.netns.interfaces()
    }
}

impl Default for Sandbox {
    fn default() -> Sandbox {
        Sandbox::new()
    }
}
// ANCHOR_END: sandbox

/// The interfaces of the host's (the test's) network namespace, but the
/// veth ends of Docker's containers: those of other tests, or anyone's,
/// come and go while a test runs (a veth end being made may not be on
/// docker0 yet, so any `veth…` not on a bridge of podman's counts as
/// Docker's; podman's bridge itself, `podman0`, is always listed).
pub fn host_interfaces() -> Vec<String> {
    let dev = std::fs::read_to_string("/proc/self/net/dev").expect("net/dev");
    let dockers = |name: &str| {
        let master = std::fs::read_link(format!("/sys/class/net/{name}/master"));
        match master {
            Ok(master) => master.ends_with("docker0"),
            Err(_) => name.starts_with("veth"),
        }
    };
    let mut names: Vec<String> = dev
        .lines()
        .skip(2)
        .filter_map(|l| Some(l.split(':').next()?.trim().to_owned()))
        .filter(|name| !dockers(name))
        .collect();
    names.sort();
    names
}

/// Removes the cgroup `name` (a path below each hierarchy's root) and
/// what is below it, in every hierarchy of `/sys/fs/cgroup`, deepest
/// first; a cgroup that still holds a process stays (rmdir(2) refuses).
/// Returns what is left.
pub fn remove_cgroups(name: &str) -> Vec<PathBuf> {
    let mut left = Vec::new();
    let Ok(hierarchies) = std::fs::read_dir("/sys/fs/cgroup") else { return left };
    let mut roots: Vec<PathBuf> =
        hierarchies.filter_map(Result::ok).map(|e| e.path().join(name)).collect();
    // cgroup v2 mounted on /sys/fs/cgroup itself.
    roots.push(Path::new("/sys/fs/cgroup").join(name));
    for root in roots.into_iter().filter(|r| r.is_dir()) {
        let mut dirs = Vec::new();
        collect_dirs(&root, &mut dirs, 0);
        dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
        for dir in dirs {
            if std::fs::remove_dir(&dir).is_err() {
                left.push(dir);
            }
        }
    }
    left
}

fn collect_dirs(dir: &Path, all: &mut Vec<PathBuf>, depth: usize) {
    if depth > 8 {
        return;
    }
    all.push(dir.to_owned());
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.filter_map(Result::ok) {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            collect_dirs(&entry.path(), all, depth + 1);
        }
    }
}
