//! podman drives mini-runc: `podman --runtime PATH` hands the binary to
//! conmon, which runs `mini-runc create --bundle B --pid-file P ID`, then
//! podman `start`, `state`, `kill`, `delete`, and for `podman exec`,
//! `mini-runc exec --process F --detach --pid-file P [--console-socket S]`.
//!
//! podman runs isolated from the host: its storage, run state, temporary
//! files, network configuration and events under the test's directory;
//! cgroupfs, under a cgroup parent of the test's own, removed at the end;
//! and every podman command in a throwaway network and mount namespace of
//! the test's ([`Sandbox`]), so the bridge `podman0`, the veth pairs, the
//! firewall rules netavark writes and the mounts podman makes live and die
//! there. The machine lacks CAP_SYS_RESOURCE, so every container gets the
//! `--ulimit`s below (with any runtime: podman would raise the limits to
//! its defaults, which setrlimit(2) refuses without that capability).
//!
//! Each fact is asserted inside the container, and the same container
//! under runc gives the same answer: the test shows what mini-runc does
//! differently, if anything, and a broken runtime fails it.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use nslab_tests::clients::{self, LIMIT, Ran, Sandbox, Scratch};

const MINI_RUNC: &str = env!("CARGO_BIN_EXE_mini-runc");

/// Without CAP_SYS_RESOURCE, limits podman would otherwise raise.
const ULIMITS: [&str; 4] = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"];

const IMAGE: &str = "localhost/nslab-busybox:test";

/// podman in a world of its own: a directory for its state, the
/// namespaces its commands join, a cgroup parent for its containers.
struct Podman {
    sandbox: Sandbox,
    /// Below each cgroup hierarchy's root: the containers' and conmon's.
    cgroup: String,
    scratch: Scratch,
}

impl Podman {
    fn new(test: &str) -> Option<Podman> {
        clients::require(test, &["podman", "conmon", "runc", "script"])?;
        let scratch = Scratch::new("mini-runc-podman");
        let name = scratch.dir.file_name().expect("a name").to_string_lossy().into_owned();
        let cgroup = format!("nslab-{name}");
        let podman = Podman { sandbox: Sandbox::new(), cgroup, scratch };
        let tarball = podman.dir().join("rootfs.tar");
        clients::busybox_tarball(&tarball);
        let path = tarball.to_str().expect("utf-8");
        let ran = podman.podman("runc", &["import", path, IMAGE]);
        assert_eq!(ran.code, 0, "podman import: {ran:?}");
        Some(podman)
    }

    fn dir(&self) -> &std::path::Path {
        &self.scratch.dir
    }

    /// `podman` with the lab's global options, `--runtime RUNTIME`, then
    /// `args`.
    fn argv(&self, runtime: &str, args: &[&str]) -> Vec<String> {
        let path = |name: &str| self.dir().join(name).display().to_string();
        let mut argv: Vec<String> = vec!["podman".into()];
        for (flag, value) in [
            ("--root", path("storage")),
            ("--runroot", path("run")),
            ("--tmpdir", path("tmp")),
            ("--network-config-dir", path("networks")),
            ("--storage-driver", "vfs".into()),
            ("--cgroup-manager", "cgroupfs".into()),
            ("--events-backend", "file".into()),
            ("--runtime", runtime.into()),
        ] {
            argv.push(flag.into());
            argv.push(value);
        }
        argv.extend(args.iter().map(|a| a.to_string()));
        argv
    }

    /// The environment podman gets, and the sandbox's namespaces.
    fn prepare(&self, cmd: &mut Command) {
        let tmp = self.dir().join("tmp");
        std::fs::create_dir_all(&tmp).expect("tmp");
        // Image layers are unpacked under TMPDIR (default /var/tmp).
        cmd.env("TMPDIR", tmp).env_remove("XDG_RUNTIME_DIR").current_dir("/");
        self.sandbox.enter(cmd);
    }

    fn podman(&self, runtime: &str, args: &[&str]) -> Ran {
        let argv = self.argv(runtime, args);
        let mut cmd = Command::new(&argv[0]);
        cmd.args(&argv[1..]);
        self.prepare(&mut cmd);
        clients::run_in(self.dir(), cmd, LIMIT)
    }

    /// `podman run --cgroup-parent … --ulimit … OPTIONS IMAGE COMMAND…`.
    fn run_args(&self, options: &[&str], command: &[&str]) -> Vec<String> {
        let parent = format!("/{}", self.cgroup);
        let mut args: Vec<String> = vec!["run".into(), "--cgroup-parent".into(), parent];
        args.extend(
            ULIMITS.iter().chain(options).chain(&[IMAGE]).chain(command).map(|a| a.to_string()),
        );
        args
    }

    fn run(&self, runtime: &str, options: &[&str], command: &[&str]) -> Ran {
        let args = self.run_args(options, command);
        self.podman(runtime, &args.iter().map(String::as_str).collect::<Vec<_>>())
    }

    /// `podman … ARGS` on a terminal of its own, `input` typed.
    fn at_terminal(&self, runtime: &str, args: &[String], input: &str) -> Ran {
        let argv = self.argv(runtime, &args.iter().map(String::as_str).collect::<Vec<_>>());
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        clients::in_pty(self.dir(), &argv, input, |cmd| self.prepare(cmd))
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        // The test's containers (a failed test may leave some running),
        // each through the runtime that made it; then their cgroups.
        for runtime in [MINI_RUNC, "runc"] {
            let _ = self.podman(runtime, &["rm", "--all", "--force", "--time", "0"]);
        }
        let left = clients::remove_cgroups(&self.cgroup);
        if !left.is_empty() {
            use std::io::Write as _;
            let _ = writeln!(std::io::stderr(), "podman lab cleanup: cgroups left: {left:?}");
        }
    }
}

// ANCHOR: podman-compare
/// Each container, under mini-runc and under runc: the same exit status
/// and the same output, and the fact itself.
#[test]
fn podman_runs_containers_with_mini_runc() {
    let Some(lab) = Podman::new("podman --runtime mini-runc") else { return };
    let host_before = clients::host_interfaces();
    let memory = "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null \
                  || cat /sys/fs/cgroup/memory.max; \
                  cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max";
    let cases: &[(&[&str], &[&str], i32, &str)] = &[
        (&[], &["echo", "hi"], 0, "hi\n"),
        (&[], &["sh", "-c", "exit 3"], 3, ""),
        (&["--memory", "32m", "--pids-limit", "20"], &["sh", "-c", memory], 0, "33554432\n20\n"),
        (&["--user", "1000:1000"], &["sh", "-c", "id -u; id -g"], 0, "1000\n1000\n"),
        (
            &["--cap-drop", "ALL"],
            &["grep", "CapEff", "/proc/self/status"],
            0,
            "CapEff:\t0000000000000000\n",
        ),
        (&["--network", "none"], &["sh", "-c", "ip -o link | wc -l"], 0, "1\n"),
        // podman's default network: eth0 with an address, on podman0.
        (&[], &["sh", "-c", "ip -o -4 addr show eth0 | wc -l"], 0, "1\n"),
        // --read-only: the root refuses writes; podman adds tmpfs
        // mounts on /tmp, /var/tmp and /run, which take them.
        (
            &["--read-only"],
            &["sh", "-c", "touch /x 2>/dev/null || echo refused; touch /tmp/x && echo tmp ok"],
            0,
            "refused\ntmp ok\n",
        ),
    ];
    for (options, command, code, stdout) in cases {
        let mut all = vec!["--rm"];
        all.extend_from_slice(options);
        let ours = lab.run(MINI_RUNC, &all, command);
        assert_eq!(
            (ours.code, ours.stdout.as_str()),
            (*code, *stdout),
            "{options:?} {command:?}: {ours:?}"
        );
        let runc = lab.run("runc", &all, command);
        assert_eq!(
            (runc.code, runc.stdout),
            (ours.code, ours.stdout),
            "runc differs: {options:?} {command:?}"
        );
    }
    // --cap-drop of one capability: CapEff loses it, under both runtimes.
    let cap = |runtime: &str, extra: &[&str]| {
        let mut options = vec!["--rm"];
        options.extend(extra);
        let ran = lab.run(runtime, &options, &["grep", "CapEff", "/proc/self/status"]);
        assert_eq!(ran.code, 0, "{ran:?}");
        ran.stdout
    };
    let (all, dropped) = (cap(MINI_RUNC, &[]), cap(MINI_RUNC, &["--cap-drop", "CHOWN"]));
    assert_ne!(all, dropped, "--cap-drop CHOWN changed nothing");
    assert_eq!((all, dropped), (cap("runc", &[]), cap("runc", &["--cap-drop", "CHOWN"])));
    // The bridge and the veth pairs are made in the sandbox, not here
    // (netavark removes the bridge with the last container on it).
    let ran = lab.run(MINI_RUNC, &["-d"], &["sleep", "60"]);
    assert_eq!(ran.code, 0, "{ran:?}");
    let bridged = lab.sandbox.interfaces();
    assert!(bridged.contains(&"podman0".to_owned()), "no podman0 in the sandbox: {bridged:?}");
    assert_eq!(clients::host_interfaces(), host_before, "the host's interfaces changed");
    assert_eq!(lab.podman(MINI_RUNC, &["rm", "-f", "-t", "0", ran.stdout.trim()]).code, 0);
}
// ANCHOR_END: podman-compare

// ANCHOR: podman-terminal
/// `-it` at a terminal: conmon gets the pty's master through
/// `--console-socket`; what is typed reaches the shell.
#[test]
fn podman_run_it_and_exec_t() {
    let Some(lab) = Podman::new("podman --runtime mini-runc -it") else { return };
    let typed = "echo typed-$((6 * 7))\nexit 6\n";
    let args = lab.run_args(&["--rm", "-it"], &["sh"]);
    let it = lab.at_terminal(MINI_RUNC, &args, typed);
    assert_eq!(it.code, 6, "{it:?}");
    assert!(it.stdout.contains("typed-42\r\n"), "{it:?}");
    let ran = lab.run(MINI_RUNC, &["-d"], &["sleep", "60"]);
    assert_eq!(ran.code, 0, "{ran:?}");
    let id = ran.stdout.trim().to_owned();
    // exec -t: `mini-runc exec --tty --console-socket`.
    let tty = lab.podman(MINI_RUNC, &["exec", "-t", &id, "sh", "-c", "tty; exit 3"]);
    assert_eq!(tty.code, 3, "{tty:?}");
    assert!(tty.stdout.starts_with("/dev/pts/"), "{tty:?}");
    let args: Vec<String> = ["exec", "-it", &id, "sh"].iter().map(|a| a.to_string()).collect();
    let exec_it = lab.at_terminal(MINI_RUNC, &args, typed);
    assert_eq!(exec_it.code, 6, "{exec_it:?}");
    assert!(exec_it.stdout.contains("typed-42\r\n"), "{exec_it:?}");
    assert_eq!(lab.podman(MINI_RUNC, &["rm", "-f", "-t", "0", &id]).code, 0);
}
// ANCHOR_END: podman-terminal

// ANCHOR: podman-detached
/// `-d`, then `exec`, `logs`, `stop` (SIGTERM through init, its status
/// kept), `rm`, and `rm -f` of a running one.
#[test]
fn podman_detached_exec_logs_stop_rm() {
    let Some(lab) = Podman::new("podman --runtime mini-runc -d") else { return };
    let script = "echo up; trap 'echo bye; exit 0' TERM; while true; do sleep 1; done";
    let ran = lab.run(MINI_RUNC, &["-d"], &["sh", "-c", script]);
    assert_eq!(ran.code, 0, "{ran:?}");
    let id = ran.stdout.trim().to_owned();
    let deadline = Instant::now() + LIMIT;
    while lab.podman(MINI_RUNC, &["logs", &id]).stdout != "up\n" {
        assert!(Instant::now() < deadline, "no output from the detached container");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let exec = lab.podman(MINI_RUNC, &["exec", &id, "sh", "-c", "echo in exec; exit 5"]);
    assert_eq!((exec.code, exec.stdout.as_str()), (5, "in exec\n"), "{exec:?}");
    let user = lab.podman(MINI_RUNC, &["exec", "-u", "1000", &id, "id", "-u"]);
    assert_eq!(user.stdout, "1000\n", "{user:?}");
    assert_eq!(lab.podman(MINI_RUNC, &["stop", "-t", "10", &id]).code, 0);
    let code = lab.podman(MINI_RUNC, &["inspect", "-f", "{{.State.ExitCode}}", &id]);
    assert_eq!(code.stdout, "0\n", "{code:?}");
    assert_eq!(lab.podman(MINI_RUNC, &["logs", &id]).stdout, "up\nbye\n");
    assert_eq!(lab.podman(MINI_RUNC, &["rm", &id]).code, 0);
    let ran = lab.run(MINI_RUNC, &["-d"], &["sleep", "60"]);
    let id = ran.stdout.trim().to_owned();
    let pid = lab.podman(MINI_RUNC, &["inspect", "-f", "{{.State.Pid}}", &id]).stdout;
    let pid: i32 = pid.trim().parse().expect("the container's PID");
    assert_eq!(lab.podman(MINI_RUNC, &["rm", "-f", "-t", "0", &id]).code, 0);
    let deadline = Instant::now() + LIMIT;
    while PathBuf::from(format!("/proc/{pid}")).exists() {
        assert!(Instant::now() < deadline, "init {pid} outlived rm -f");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let left = lab.podman(MINI_RUNC, &["ps", "-a", "-q"]);
    assert_eq!((left.code, left.stdout.as_str()), (0, ""), "{left:?}");
}
// ANCHOR_END: podman-detached
