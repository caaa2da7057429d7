//! containerd drives mini-runc: `ctr run --runc-binary PATH` has
//! containerd's runc shim (io.containerd.runc.v2) run the binary with
//! runc's flags: `--root R --log L --log-format json create --bundle B
//! --pid-file P ID`, `start`, `state`, `kill ID 9`, `delete`, and for `ctr
//! task exec`, `exec --process F --detach --pid-file P ID`.
//!
//! The test uses the containerd that answers (the system's at
//! /run/containerd, or Docker's own); if none does, it starts one with its
//! root, state and socket under its own directory, and stops it by its
//! PID. Everything it makes lives in a containerd namespace of its own,
//! `nslab-test` (images, containers, snapshots, content), removed at the
//! end, even when the test fails; a lock keeps two runs apart. The image
//! is the busybox tarball, through `docker import` and `docker save`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nslab_tests::clients::{self, LIMIT, Ran, Scratch};

const MINI_RUNC: &str = env!("CARGO_BIN_EXE_mini-runc");

/// The containerd namespace of the test's images and containers.
const NAMESPACE: &str = "nslab-test";

/// Taken for the whole test: one run at a time owns [`NAMESPACE`].
const LOCK: &str = "/run/nslab-containerd-test.lock";

/// Where a running containerd answers: the system's, then Docker's own.
const ADDRESSES: [&str; 2] =
    ["/run/containerd/containerd.sock", "/var/run/docker/containerd/containerd.sock"];

/// Directories the runc shim makes under /run on the containers' behalf;
/// removed at the end (when empty) if they were not there before.
const SHIM_DIRS: [&str; 4] = [
    "/run/containerd/runc/nslab-test",
    "/run/containerd/runc",
    "/run/containerd/fifo",
    "/run/containerd/s",
];

struct Containerd {
    address: String,
    /// A containerd the test started, stopped (by its PID) at the end.
    own: Option<Child>,
    image: String,
    /// Of [`SHIM_DIRS`] and /run/containerd, those that did not exist.
    absent_before: Vec<&'static str>,
    scratch: Scratch,
    _lock: std::fs::File,
}

impl Containerd {
    fn new(test: &str) -> Option<Containerd> {
        clients::require(
            test,
            &["ctr", "containerd", "containerd-shim-runc-v2", "docker", "runc"],
        )?;
        let lock = clients::lock(LOCK, Duration::from_secs(300));
        let scratch = Scratch::new("mini-runc-containerd");
        let absent_before = SHIM_DIRS
            .iter()
            .chain(&["/run/containerd"])
            .copied()
            .filter(|d| !Path::new(d).exists())
            .collect();
        let mut lab = Containerd {
            address: String::new(),
            own: None,
            image: format!("docker.io/library/nslab-ctr-test:{}", std::process::id()),
            absent_before,
            scratch,
            _lock: lock,
        };
        match ADDRESSES.iter().find(|a| answers(a, &lab.scratch.dir)) {
            Some(address) => lab.address = address.to_string(),
            None => lab.start_own(),
        }
        lab.import();
        Some(lab)
    }

    /// A containerd of the test's: root, state and socket in its
    /// directory; waits (bounded) until it answers.
    fn start_own(&mut self) {
        let dir = &self.scratch.dir;
        let address = dir.join("containerd.sock").display().to_string();
        let config = dir.join("config.toml");
        std::fs::write(
            &config,
            "version = 2\ndisabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n",
        )
        .expect("config.toml");
        let log = std::fs::File::create(dir.join("containerd.log")).expect("log");
        let child = Command::new("containerd")
            .arg("--config")
            .arg(&config)
            .arg("--root")
            .arg(dir.join("root"))
            .arg("--state")
            .arg(dir.join("state"))
            .args(["--address", &address])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("spawn containerd");
        self.own = Some(child);
        self.address = address;
        let deadline = Instant::now() + LIMIT;
        while !answers(&self.address, dir) {
            assert!(Instant::now() < deadline, "the test's containerd never answered");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `ctr --address A -n nslab-test ARGS…`.
    fn ctr(&self, args: &[&str]) -> Ran {
        let mut cmd = Command::new("ctr");
        cmd.args(["--address", &self.address, "--namespace", NAMESPACE]).args(args);
        clients::run_in(&self.scratch.dir, cmd, LIMIT)
    }

    /// The busybox tarball as a Docker image, saved, imported here.
    fn import(&self) {
        let dir = &self.scratch.dir;
        let (tarball, saved) = (dir.join("rootfs.tar"), dir.join("image.tar"));
        clients::busybox_tarball(&tarball);
        let short = self.image.trim_start_matches("docker.io/library/");
        let docker = |args: &[&str]| {
            let mut cmd = Command::new("docker");
            cmd.args(args);
            clients::run_in(dir, cmd, LIMIT)
        };
        let imported = docker(&["import", tarball.to_str().expect("utf-8"), short]);
        assert_eq!(imported.code, 0, "docker import: {imported:?}");
        let saved_ran = docker(&["save", "-o", saved.to_str().expect("utf-8"), short]);
        let _ = docker(&["rmi", short]);
        assert_eq!(saved_ran.code, 0, "docker save: {saved_ran:?}");
        let ran = self.ctr(&["images", "import", saved.to_str().expect("utf-8")]);
        assert_eq!(ran.code, 0, "ctr images import: {ran:?}");
    }

    /// `ctr run --runc-binary RUNTIME OPTIONS IMAGE ID COMMAND…`.
    fn run(&self, runtime: &str, options: &[&str], id: &str, command: &[&str]) -> Ran {
        let mut args = vec!["run", "--runc-binary", runtime];
        args.extend(options);
        args.extend([self.image.as_str(), id]);
        args.extend(command);
        self.ctr(&args)
    }

    /// Lines of `ctr LIST ls -q` (or the first column of `ls`).
    fn names(&self, what: &str) -> Vec<String> {
        let listed = self.ctr(&[what, "ls"]).stdout;
        listed
            .lines()
            .skip(1)
            .filter_map(|l| l.split_whitespace().next())
            .map(str::to_owned)
            .collect()
    }

    /// Waits (bounded) until the task `id` is STOPPED.
    fn wait_stopped(&self, id: &str) {
        let deadline = Instant::now() + LIMIT;
        loop {
            let tasks = self.ctr(&["task", "ls"]).stdout;
            let stopped = tasks.lines().any(|l| l.starts_with(id) && l.contains("STOPPED"));
            if stopped {
                return;
            }
            assert!(Instant::now() < deadline, "{id} never stopped: {tasks}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Whether a containerd answers on `address` (`ctr version`, bounded).
fn answers(address: &str, dir: &Path) -> bool {
    if !Path::new(address).exists() {
        return false;
    }
    let mut cmd = Command::new("ctr");
    cmd.args(["--address", address, "--connect-timeout", "3s", "--timeout", "10s", "version"]);
    clients::run_in(dir, cmd, LIMIT).code == 0
}

impl Drop for Containerd {
    /// Everything in the namespace, then the namespace; never panics.
    fn drop(&mut self) {
        for id in self.names("containers") {
            let _ = self.ctr(&["task", "kill", "--signal", "SIGKILL", &id]);
            let _ = self.ctr(&["task", "delete", "--force", &id]);
            let _ = self.ctr(&["containers", "rm", &id]);
        }
        for image in self.names("images") {
            let _ = self.ctr(&["images", "rm", "--sync", &image]);
        }
        // A snapshot goes only once its children have: a few passes.
        for _ in 0..4 {
            let snapshots = self.names("snapshots");
            if snapshots.is_empty() {
                break;
            }
            for key in snapshots.iter().rev() {
                let _ = self.ctr(&["snapshots", "rm", key]);
            }
        }
        for digest in self.names("content") {
            let _ = self.ctr(&["content", "rm", &digest]);
        }
        let _ = self.ctr(&["namespaces", "rm", NAMESPACE]);
        if let Some(mut own) = self.own.take() {
            // SIGTERM, by its PID: containerd exits cleanly on it.
            let pid = nix::unistd::Pid::from_raw(own.id() as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(10);
            while matches!(own.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = own.kill();
            let _ = own.wait();
        }
        // rmdir(2) only: a directory another container uses is not empty.
        // An exiting shim removes its socket from /run/containerd/s a
        // moment after the task is gone: a few tries, bounded.
        let deadline = Instant::now() + Duration::from_secs(5);
        for dir in SHIM_DIRS.iter().chain(&["/run/containerd"]) {
            if self.absent_before.contains(dir) {
                while std::fs::remove_dir(dir).is_err()
                    && Path::new(dir).exists()
                    && Instant::now() < deadline
                {
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
        clients::remove_cgroups(NAMESPACE);
    }
}

/// The namespace link of the test process (the host's view).
fn host_ns(kind: &str) -> String {
    std::fs::read_link(format!("/proc/self/ns/{kind}")).expect("ns link").display().to_string()
}

// ANCHOR: containerd
#[test]
fn containerd_runs_containers_with_mini_runc() {
    let Some(lab) = Containerd::new("ctr run --runc-binary mini-runc") else { return };
    // --rm in the foreground: the command's output and status pass through,
    // as under runc.
    let hi = lab.run(MINI_RUNC, &["--rm"], "c1", &["sh", "-c", "echo hi; exit 3"]);
    assert_eq!((hi.code, hi.stdout.as_str()), (3, "hi\n"), "{hi:?}");
    let runc = lab.run("runc", &["--rm"], "r1", &["sh", "-c", "echo hi; exit 3"]);
    assert_eq!((runc.code, runc.stdout.as_str()), (3, "hi\n"), "{runc:?}");
    // Namespaces of its own: PID (a handful of processes), UTS, network
    // (only lo), mount; containerd's default /run is a tmpfs.
    let facts = "for ns in pid uts net; do readlink /proc/self/ns/$ns; done; \
                 ls -d /proc/[0-9]* | wc -l; ip -o link | wc -l; \
                 grep -c '^tmpfs /run tmpfs' /proc/mounts";
    let ran = lab.run(MINI_RUNC, &["--rm"], "c2", &["sh", "-c", facts]);
    assert_eq!(ran.code, 0, "{ran:?}");
    let lines: Vec<&str> = ran.stdout.lines().collect();
    assert_eq!(lines.len(), 6, "{ran:?}");
    for (line, kind) in lines.iter().zip(["pid", "uts", "net"]) {
        assert_ne!(*line, host_ns(kind), "the {kind} namespace is the host's");
    }
    let processes: usize = lines[3].trim().parse().expect("a count");
    assert!(processes <= 5, "the container sees {processes} processes");
    assert_eq!(lines[4..], ["1", "1"], "only lo; /run a tmpfs: {ran:?}");
    // Detached: ctr task exec, kill, delete.
    let ran = lab.run(MINI_RUNC, &["-d"], "c3", &["sleep", "60"]);
    assert_eq!(ran.code, 0, "ctr run -d: {ran:?}");
    let exec =
        lab.ctr(&["task", "exec", "--exec-id", "e1", "c3", "sh", "-c", "echo in exec; exit 5"]);
    assert_eq!((exec.code, exec.stdout.as_str()), (5, "in exec\n"), "{exec:?}");
    let tasks = lab.ctr(&["task", "ls"]).stdout;
    let pid: i32 = tasks
        .lines()
        .find(|l| l.starts_with("c3 "))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or_else(|| panic!("no c3 in {tasks}"));
    assert!(tasks.contains("RUNNING"), "{tasks}");
    assert_eq!(lab.ctr(&["task", "kill", "--signal", "SIGKILL", "c3"]).code, 0);
    lab.wait_stopped("c3");
    assert_eq!(lab.ctr(&["task", "delete", "c3"]).code, 0);
    assert_eq!(lab.ctr(&["containers", "rm", "c3"]).code, 0);
    let deadline = Instant::now() + LIMIT;
    while PathBuf::from(format!("/proc/{pid}")).exists() {
        assert!(Instant::now() < deadline, "init {pid} is still there");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Nothing left in the runtime's state root (the shim's --root).
    let root = Path::new("/run/containerd/runc").join(NAMESPACE);
    let left: Vec<_> = std::fs::read_dir(&root)
        .map(|d| d.filter_map(Result::ok).map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "left in {}: {left:?}", root.display());
}
// ANCHOR_END: containerd
