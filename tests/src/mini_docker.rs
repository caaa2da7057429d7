//! The scratch world of a mini-docker end-to-end test, and how a test runs
//! mini-docker in it. A [`Lab`] is a directory with a copy of the
//! binaries, a state root and a data root of its own, and, as root, a
//! throwaway network namespace. The commands it starts ([`Lab::run`],
//! [`Lab::spawn`]) are bounded in time by [`LIMIT`], write their output to
//! files of the lab and end in a [`Ran`]; [`Lab::container`] and
//! [`Lab::probe`] run a container of the `host` image with the lab's
//! binaries mounted at `/probe`, so that `/probe/probe` can report what it
//! sees inside.
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
//!
//! Output goes to files, not pipes: a pipe is read only once the command
//! has ended, so a chatty command could fill it and stall, and a process
//! left holding it (a detached container's) would keep the read waiting.

use std::ffi::OsStr;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

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

/// No command a lab starts may run longer than this, and no test waits
/// longer than this for anything.
pub const LIMIT: Duration = Duration::from_secs(30);

/// Polls `check` every 20 ms until it holds, at most [`LIMIT`]; whether
/// it did. For what mini-docker does after a command has returned (a
/// monitor's teardown, a removal, a log line), which a test waits for but
/// never times.
pub fn eventually(mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + LIMIT;
    while !check() {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

static LABS: AtomicUsize = AtomicUsize::new(0);

/// One test's scratch directory, removed when dropped, and (as root) its
/// network namespace.
pub struct Lab {
    pub dir: PathBuf,
    /// The user mini-docker runs as, on the host.
    pub host_uid: u32,
    netns: Option<Netns>,
    /// Numbers the files the commands' output goes to.
    runs: AtomicUsize,
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
        let lab = Lab { dir, host_uid, netns, runs: AtomicUsize::new(0) };
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
            let info = lab.run(&["info"]).stdout;
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

    /// `tar -C DIR -cf TARBALL .`, as a user would pack an image, the
    /// tarball owned by the containers' user (who imports it).
    pub fn tar(&self, dir: &Path, tarball: &Path) {
        let mut tar = Command::new("tar");
        tar.arg("-C").arg(dir).arg("-cf").arg(tarball).arg(".").stdin(Stdio::null());
        let status = crate::wait_bounded(&mut tar.spawn().expect("tar"), LIMIT);
        assert!(status.success(), "tar -C {} -cf {}: {status}", dir.display(), tarball.display());
        std::os::unix::fs::chown(tarball, Some(self.host_uid), Some(self.host_uid)).expect("chown");
    }

    /// The names in the state root: empty when everything was cleaned up.
    ///
    /// A `run --rm` returns before its state directory is gone: it renames
    /// it `.removing-ID` and a process of its own removes it (mini-docker's
    /// `teardown::tear_down_later`). The entries are listed once no such
    /// removal is under way, waiting as [`eventually`] does: a `.removing-`
    /// entry still there then is listed, a leftover like any other.
    pub fn state_entries(&self) -> Vec<String> {
        let list = || {
            let mut names: Vec<String> = std::fs::read_dir(self.state())
                .expect("read state")
                .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            names
        };
        eventually(|| !list().iter().any(|n| n.starts_with(".removing-")));
        list()
    }

    /// The lab's network namespace ("the host" of its containers); `None`
    /// in a rootless lab.
    pub fn netns(&self) -> Option<&Netns> {
        self.netns.as_ref()
    }

    /// `mini-docker --root STATE --data-root DATA ARGS…`, from `/`, stdin
    /// `/dev/null`: as uid 65534 in a rootless lab, in the lab's network
    /// namespace as root. Not started yet.
    pub fn command<S: AsRef<OsStr>>(&self, args: &[S]) -> Command {
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

    /// Starts `mini-docker ARGS…` (see [`command`](Self::command)), its
    /// output going to files of the lab.
    pub fn spawn<S: AsRef<OsStr>>(&self, args: &[S]) -> Running {
        self.spawn_command(self.command(args))
    }

    /// [`spawn`](Self::spawn), reading `input` on stdin (from a file of
    /// the lab: what a user would type, all at once).
    pub fn spawn_with_input<S: AsRef<OsStr>>(&self, args: &[S], input: &str) -> Running {
        let mut cmd = self.command(args);
        let files = self.next_files();
        let path = files.with_extension("in");
        std::fs::write(&path, input).expect("input file");
        cmd.stdin(File::open(&path).expect("input"));
        Running::start(cmd, &files)
    }

    /// Starts `cmd`, a [`command`](Self::command) a test changed further,
    /// its output going to files of the lab.
    pub fn spawn_command(&self, cmd: Command) -> Running {
        Running::start(cmd, &self.next_files())
    }

    /// `run-N` in the lab: the next command's files are `run-N.out`,
    /// `run-N.err` (and `run-N.in`).
    fn next_files(&self) -> PathBuf {
        self.dir.join(format!("run-{}", self.runs.fetch_add(1, Ordering::Relaxed)))
    }

    /// `mini-docker ARGS…` to its end, at most [`LIMIT`].
    pub fn run<S: AsRef<OsStr>>(&self, args: &[S]) -> Ran {
        self.spawn(args).finish()
    }

    /// `BIN:/probe:ro`: the lab's binaries, read-only at `/probe` in a
    /// container (a `-v` value).
    pub fn probe_volume(&self) -> String {
        format!("{}:/probe:ro", self.dir.join("bin").display())
    }

    /// `run -v BIN:/probe:ro OPTIONS… host COMMAND…`: the arguments of a
    /// container of the `host` image that can run `/probe/probe`.
    pub fn run_args(&self, options: &[&str], command: &[&str]) -> Vec<String> {
        let mut args = vec!["run".to_owned(), "-v".to_owned(), self.probe_volume()];
        args.extend(options.iter().map(|o| o.to_string()));
        args.push("host".to_owned());
        args.extend(command.iter().map(|c| c.to_string()));
        args
    }

    /// `run --rm -v BIN:/probe:ro OPTIONS… host COMMAND…` to its end, at
    /// most [`LIMIT`].
    pub fn container(&self, options: &[&str], command: &[&str]) -> Ran {
        let mut all = vec!["--rm"];
        all.extend_from_slice(options);
        self.run(&self.run_args(&all, command))
    }

    /// The probe's report (its JSON) from a `--rm` container with
    /// `options`; the probe must succeed.
    pub fn probe(&self, options: &[&str]) -> Value {
        let ran = self.container(options, &["/probe/probe"]);
        assert_eq!(ran.code, 0, "probe failed: {}", ran.stderr);
        ran.json()
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
        end_within(&mut child, Duration::from_secs(10));
    }
}

/// Waits at most `limit` for `child`, then kills it; never panics (it runs
/// while a panic unwinds, too).
fn end_within(child: &mut Child, limit: Duration) {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if !matches!(child.try_wait(), Ok(None)) {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Sets the permission bits of `path` (a lab must let uid 65534 in).
pub fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// A mini-docker command a [`Lab`] started, its standard output and error
/// going to two files of the lab. Dropped unfinished (a test failed
/// first), it is killed: no `run … sleep 60` outlives its test.
pub struct Running {
    /// `None` once finished.
    child: Option<Child>,
    out: PathBuf,
    err: PathBuf,
}

impl Running {
    /// Spawns `cmd` with its output in `FILES.out` and `FILES.err`.
    fn start(mut cmd: Command, files: &Path) -> Running {
        let (out, err) = (files.with_extension("out"), files.with_extension("err"));
        let create = |path: &Path| File::create(path).expect("output file");
        cmd.stdout(create(&out)).stderr(create(&err));
        Running { child: Some(crate::spawn_retrying(&mut cmd)), out, err }
    }

    /// mini-docker's PID (to send it a signal).
    pub fn pid(&self) -> nix::unistd::Pid {
        let child = self.child.as_ref().expect("a running command");
        nix::unistd::Pid::from_raw(child.id() as i32)
    }

    /// Waits at most [`LIMIT`] for mini-docker to end (past that, kills it
    /// and fails): what it gave.
    pub fn finish(mut self) -> Ran {
        let mut child = self.child.take().expect("a running command");
        let status = crate::wait_bounded(&mut child, LIMIT);
        let read = |path: &Path| std::fs::read_to_string(path).unwrap_or_default();
        Ran { code: status.code().unwrap_or(-1), stdout: read(&self.out), stderr: read(&self.err) }
    }

    /// SIGKILL to mini-docker (not to its container), then
    /// [`finish`](Self::finish).
    pub fn kill(mut self) -> Ran {
        self.child.as_mut().expect("a running command").kill().expect("SIGKILL");
        self.finish()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            end_within(child, Duration::from_secs(10));
        }
    }
}

/// What a finished command gave: its exit status (-1 when a signal ended
/// it), its standard output and its standard error.
#[derive(Debug)]
pub struct Ran {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    /// A refusal, in one of the two shapes mini-docker prints: its own one
    /// line (`mini-docker: ...`), or, for a command line clap could not
    /// parse, clap's whole error (`error: ...` with `message`, then its
    /// tips and usage, ending with the pointer to `--help`).
    pub fn assert_refused(&self, code: i32, message: &str) {
        let context = format!("exit {} and stderr:\n{}", self.code, self.stderr);
        assert_eq!(self.code, code, "{context}");
        assert!(self.stderr.contains(message), "no {message:?}: {context}");
        let first = self.stderr.lines().next().unwrap_or("");
        if first.starts_with("error: ") {
            let last = self.stderr.trim_end().lines().last().unwrap_or("");
            assert_eq!(last, "For more information, try '--help'.", "{context}");
        } else {
            assert!(first.starts_with("mini-docker: "), "{context}");
            assert_eq!(self.stderr.lines().count(), 1, "one line: {context}");
        }
    }

    /// The standard output as JSON (the probe's reports).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("{e}: {} {}", self.stdout, self.stderr))
    }
}

/// Waits at most `limit` for `child`, a command other than mini-docker
/// whose stdout and stderr are pipes, and collects them (the commands
/// write a few lines: the pipes do not fill while it runs).
pub fn finish(mut child: Child, limit: Duration) -> Ran {
    crate::wait_bounded(&mut child, limit);
    let out = child.wait_with_output().expect("output");
    Ran {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}
