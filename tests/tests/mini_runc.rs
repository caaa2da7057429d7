//! mini-runc end to end: a bundle (a busybox-static root filesystem and a
//! `config.json`) turned into a process by the `mini-runc` binary, through
//! runc's command line, as a client such as containerd's shim drives it.
//!
//! As root only (an OCI runtime is started by a privileged client), each
//! test in a throwaway network namespace of its own and a state root of its
//! own under the system's temporary directory, every command bounded in
//! time, its output written to files (a created container inherits the
//! stdio of `create`, so pipes would stay open). Each supported field of
//! `config.json` is asserted to take effect inside the container; refused
//! fields and bad input are asserted to fail with one line naming them and
//! runc's exit status 1; and nothing is left behind (state, cgroups,
//! processes).

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use nslab_tests::clients::{self, Ran, busybox};
use nslab_tests::mini_docker::Netns;
use nslab_tests::{As, can_run, wait_bounded};
use serde_json::{Value, json};

const MINI_RUNC: &str = env!("CARGO_BIN_EXE_mini-runc");
const LIMIT: Duration = Duration::from_secs(20);
static COUNT: AtomicUsize = AtomicUsize::new(0);

/// A test's world: a bundle, a state root, a network namespace.
struct World {
    dir: PathBuf,
    netns: Netns,
}

impl World {
    fn new(test: &str) -> Option<World> {
        can_run(test, As::Root)?;
        let n = COUNT.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("mini-runc-test-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let rootfs = dir.join("bundle/rootfs");
        for sub in ["bin", "tmp", "proc", "sys", "dev", "etc", "data"] {
            std::fs::create_dir_all(rootfs.join(sub)).expect("rootfs dirs");
        }
        std::fs::copy(busybox(), rootfs.join("bin/busybox")).expect("copy busybox");
        for applet in [
            "sh", "echo", "cat", "hostname", "id", "pwd", "sleep", "touch", "wc", "readlink",
            "head", "ls", "grep", "tr",
        ] {
            std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet)).expect("applet");
        }
        std::fs::create_dir_all(dir.join("root")).expect("state root");
        Some(World { dir, netns: Netns::new() })
    }

    fn bundle(&self) -> PathBuf {
        self.dir.join("bundle")
    }

    fn root(&self) -> PathBuf {
        self.dir.join("root")
    }

    /// `mini-runc --root ROOT ARGS…` in the bundle, in the namespace.
    fn run(&self, args: &[&str]) -> Ran {
        self.run_runtime(MINI_RUNC, &self.root(), args)
    }

    /// `RUNTIME --root ROOT ARGS…` in the bundle, in the namespace: the
    /// same command line for mini-runc and for runc.
    fn run_runtime(&self, runtime: &str, root: &Path, args: &[&str]) -> Ran {
        let n = COUNT.fetch_add(1, Ordering::SeqCst);
        let (out, err) = (self.dir.join(format!("out-{n}")), self.dir.join(format!("err-{n}")));
        let mut cmd = Command::new(runtime);
        cmd.arg("--root").arg(root).args(args).current_dir(self.bundle());
        cmd.stdin(Stdio::null())
            .stdout(File::create(&out).expect("out"))
            .stderr(File::create(&err).expect("err"));
        self.netns.enter(&mut cmd);
        let mut child = cmd.spawn().expect("spawn mini-runc");
        let status = wait_bounded(&mut child, LIMIT);
        Ran {
            code: status.code().unwrap_or(-1),
            stdout: std::fs::read_to_string(&out).unwrap_or_default(),
            stderr: std::fs::read_to_string(&err).unwrap_or_default(),
        }
    }

    /// Writes `config.json` from `mini-runc spec`'s default, changed by `edit`.
    fn config(&self, edit: impl FnOnce(&mut Value)) {
        let path = self.bundle().join("config.json");
        let _ = std::fs::remove_file(&path);
        let ran = self.run(&["spec"]);
        assert_eq!(ran.code, 0, "spec: {ran:?}");
        let mut config: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("config.json"))
                .expect("json");
        edit(&mut config);
        std::fs::write(&path, config.to_string()).expect("write config.json");
    }

    fn state(&self, id: &str) -> Value {
        let ran = self.run(&["state", id]);
        assert_eq!(ran.code, 0, "state: {ran:?}");
        serde_json::from_str(&ran.stdout).expect("state JSON")
    }

    /// Waits (bounded) until `state` says `status`.
    fn wait_status(&self, id: &str, status: &str) -> Value {
        let deadline = Instant::now() + LIMIT;
        loop {
            let state = self.state(id);
            if state["status"] == status {
                return state;
            }
            assert!(Instant::now() < deadline, "{id} never became {status}: {state}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Nothing left under the state root.
    fn assert_empty(&self) {
        let left: Vec<_> = std::fs::read_dir(self.root())
            .expect("state root")
            .filter_map(Result::ok)
            .map(|e| e.file_name())
            .collect();
        assert!(left.is_empty(), "left behind in the state root: {left:?}");
    }
}

impl Drop for World {
    fn drop(&mut self) {
        // A failed test may leave containers: remove them (by their ID).
        if let Ok(entries) = std::fs::read_dir(self.root()) {
            for entry in entries.filter_map(Result::ok) {
                let id = entry.file_name().to_string_lossy().into_owned();
                let _ = self.run(&["delete", "--force", &id]);
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn args(config: &mut Value, script: &str) {
    config["process"]["args"] = json!(["sh", "-c", script]);
}

/// The state JSON with what varies between runs named.
fn redact_state(state: &Value, world: &World) -> String {
    let mut state = state.clone();
    for (key, placeholder) in [("pid", "[PID]"), ("created", "[CREATED]")] {
        if state[key] != json!(0) {
            state[key] = json!(placeholder);
        }
    }
    let text = serde_json::to_string_pretty(&state).expect("json");
    text.replace(&world.bundle().display().to_string(), "[BUNDLE]")
}

// ANCHOR: spec-run
#[test]
fn spec_then_run() {
    let Some(world) = World::new("mini-runc spec then run") else { return };
    world.config(|c| args(c, "echo hello from $(hostname); exit 3"));
    let config: Value = serde_json::from_str(
        &std::fs::read_to_string(world.bundle().join("config.json")).expect("config.json"),
    )
    .expect("json");
    assert_eq!(config["hostname"], "mini-runc");
    let ran = world.run(&["run", "hello"]);
    assert_eq!(ran.code, 3, "the command's status passes through: {ran:?}");
    assert_eq!(ran.stdout, "hello from mini-runc\n");
    assert_eq!(ran.stderr, "");
    world.assert_empty();
    insta::assert_snapshot!(ran.stdout);
}
// ANCHOR_END: spec-run

// ANCHOR: lifecycle
#[test]
fn create_start_kill_delete() {
    let Some(world) = World::new("mini-runc life cycle") else { return };
    world.config(|c| args(c, "echo started; exec sleep 30"));
    let pid_file = world.dir.join("pid");
    let ran = world.run(&["create", "--pid-file", pid_file.to_str().expect("utf-8"), "c1"]);
    assert_eq!((ran.code, ran.stderr.as_str()), (0, ""), "create: {ran:?}");
    let created = world.state("c1");
    assert_eq!(created["status"], "created");
    let pid: i64 = std::fs::read_to_string(&pid_file).expect("pid file").parse().expect("a PID");
    assert_eq!(created["pid"], pid);
    assert_eq!(created["id"], "c1");
    // Created, the command has not run yet: init's only child is none.
    assert!(children(pid).is_empty(), "the command ran before start");
    assert_eq!(world.run(&["start", "c1"]).code, 0);
    let running = world.wait_status("c1", "running");
    assert_eq!(running["pid"], pid);
    assert_eq!(world.run(&["start", "c1"]).code, 1, "a second start is refused");
    // exec: a tenant joins the running container (its UTS namespace here).
    let exec = world.run(&["exec", "c1", "sh", "-c", "hostname; exit 4"]);
    assert_eq!((exec.code, exec.stdout.as_str()), (4, "mini-runc\n"), "exec: {exec:?}");
    let refused = world.run(&["delete", "c1"]);
    assert_eq!(refused.code, 1);
    assert!(refused.stderr.contains("not stopped"), "{refused:?}");
    // Any signal number, and the real-time ones by name (PID 1 of a PID
    // namespace ignores those it has no handler for).
    for signal in ["64", "SIGRTMIN+1", "RTMIN+2", "SIGRTMAX-1"] {
        let sent = world.run(&["kill", "c1", signal]);
        assert_eq!(sent.code, 0, "kill {signal}: {sent:?}");
    }
    assert_eq!(world.run(&["kill", "c1", "KILL"]).code, 0);
    let stopped = world.wait_status("c1", "stopped");
    assert_eq!(stopped["pid"], 0);
    // runc's words, which containerd's shim matches.
    let late = world.run(&["kill", "c1", "KILL"]);
    assert_eq!(late.code, 1, "{late:?}");
    assert!(late.stderr.contains("container not running"), "{late:?}");
    assert_eq!(world.run(&["delete", "c1"]).code, 0);
    // Not even a zombie: init went to the host's reaper, which reaped it.
    let deadline = Instant::now() + LIMIT;
    while Path::new(&format!("/proc/{pid}")).exists() {
        assert!(Instant::now() < deadline, "init {pid} is still there (a zombie?)");
        std::thread::sleep(Duration::from_millis(20));
    }
    // A created container that is never started ends with kill's default
    // signal (SIGTERM), as under runc.
    assert_eq!(world.run(&["create", "c2"]).code, 0);
    assert_eq!(world.run(&["kill", "c2"]).code, 0);
    world.wait_status("c2", "stopped");
    assert_eq!(world.run(&["delete", "c2"]).code, 0);
    let gone = world.run(&["state", "c1"]);
    assert_eq!(gone.code, 1);
    assert_eq!(gone.stderr, "mini-runc: container \"c1\" does not exist\n");
    world.assert_empty();
    insta::assert_snapshot!(format!(
        "created:\n{}\nrunning:\n{}\nstopped:\n{}",
        redact_state(&created, &world),
        redact_state(&running, &world),
        redact_state(&stopped, &world)
    ));
}
// ANCHOR_END: lifecycle

/// The children of `pid` (its first thread's).
fn children(pid: i64) -> Vec<String> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

/// What the side-by-side test runs in each container, one command a line
/// of output (`echo $(…)` joins a command's lines).
const LOOKS: &[&str] = &[
    "echo $$ $PPID",
    "hostname",
    "id",
    "ls /",
    "ls /dev",
    "grep -E '^(CapEff|CapAmb|NoNewPrivs|Seccomp):' /proc/self/status",
    "readlink /proc/self/ns/cgroup",
    "grep -c ' /dev/null ' /proc/self/mounts",
    "tr '\\0' ' ' < /proc/1/cmdline",
];

// ANCHOR: side-by-side
/// One bundle, two runtimes: `runc spec`'s config.json, run by runc and
/// by mini-runc with the same command line. The file as runc writes it
/// asks for an ambient capability set that capabilities(7) does not allow
/// (ambient capabilities must also be inheritable, and it lists none):
/// runc runs it with no ambient capability and says nothing, mini-runc
/// refuses it in one line. Without that field, what the container is
/// asked for (hostname, user, root filesystem, /dev, capabilities,
/// no_new_privs, no seccomp) is the same under both, and so is the state
/// after `create`; what differs is each runtime's design: runc execs the
/// command as PID 1, mini-runc keeps its init there and forks it, makes a
/// cgroup namespace always, binds device nodes rather than making them,
/// and puts the primary group among the supplementary ones.
#[test]
fn one_bundle_under_runc_and_mini_runc() {
    let test = "one bundle under runc and mini-runc";
    let Some(world) = World::new(test) else { return };
    let Some(runc) = which("runc") else {
        nslab_tests::skip(test, "runc is missing (Debian: apt-get install runc)");
        return;
    };
    let runc_root = world.dir.join("runc-root");
    let runtimes = [(runc.as_str(), runc_root.as_path()), (MINI_RUNC, &world.root())];
    let spec = world.run_runtime(&runc, &runc_root, &["spec"]);
    assert_eq!(spec.code, 0, "runc spec: {spec:?}");
    let path = world.bundle().join("config.json");
    let mut config: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("config.json")).expect("json");
    let asked = config["process"]["capabilities"]["ambient"].clone();
    assert_eq!(asked.as_array().map(Vec::len), Some(3), "runc spec's ambient set: {asked}");
    // No terminal, and the commands in a script of the root filesystem's,
    // so that the command line of `sh` stays short.
    config["process"]["terminal"] = json!(false);
    let script: String = LOOKS.iter().map(|c| format!("echo @; echo $({c})\n")).collect();
    std::fs::write(world.bundle().join("rootfs/looks"), script).expect("the script");
    config["process"]["args"] = json!(["sh", "/looks"]);
    std::fs::write(&path, config.to_string()).expect("write config.json");
    // Each command's output under one runtime, and its own stderr.
    let run = |(runtime, root): (&str, &Path)| -> Vec<String> {
        let ran = world.run_runtime(runtime, root, &["run", "side"]);
        assert_eq!((ran.code, ran.stderr.as_str()), (0, ""), "{runtime} run: {ran:?}");
        ran.stdout.split("@\n").skip(1).map(|s| s.trim_end().to_owned()).collect()
    };
    // The file as runc spec wrote it: runc drops the ambient set, mini-runc
    // refuses the file.
    let ignored = run(runtimes[0]);
    assert!(ignored[5].contains("CapAmb: 0000000000000000"), "runc's ambient set: {ignored:?}");
    let refused = world.run(&["run", "side"]);
    assert_eq!(refused.code, 1, "{refused:?}");
    assert_eq!(refused.stderr.lines().count(), 1, "one line: {refused:?}");
    assert!(refused.stderr.contains("process.capabilities.ambient"), "{refused:?}");
    world.assert_empty();
    config["process"]["capabilities"].as_object_mut().expect("capabilities").remove("ambient");
    std::fs::write(&path, config.to_string()).expect("write config.json");
    let seen: Vec<Vec<String>> = runtimes.iter().map(|&r| run(r)).collect();
    let (under_runc, under_mini) = (&seen[0], &seen[1]);
    assert_eq!((under_runc.len(), under_mini.len()), (LOOKS.len(), LOOKS.len()), "{seen:?}");
    assert_eq!(under_runc[0], "1 0", "under runc the command is PID 1");
    for i in [0, 1, 3, 4, 5] {
        assert_eq!(under_runc[i], under_mini[i], "the same container otherwise: {}", LOOKS[i]);
    }
    // The supplementary groups: runc sets exactly additionalGids (none
    // here), mini-runc's list starts with the primary group.
    assert_eq!(
        (under_runc[2].as_str(), under_mini[2].as_str()),
        ("uid=0 gid=0", "uid=0 gid=0 groups=0")
    );
    assert_eq!(under_runc[1], "runc", "runc spec's hostname");
    assert!(under_runc[5].contains("CapEff: 0000000020000420"), "runc spec's three capabilities");
    // Where mini-runc does more than the file asks (container/spec.rs): a
    // cgroup namespace always. Its device nodes, as root, are made with
    // mknod as runc's are: no mount on /dev/null under either.
    let host_cgroup_ns = std::fs::read_link("/proc/self/ns/cgroup").expect("ns link");
    let host_cgroup_ns = host_cgroup_ns.display().to_string();
    assert_eq!(under_runc[6], host_cgroup_ns, "runc spec asks for no cgroup namespace");
    assert_ne!(under_mini[6], host_cgroup_ns, "mini-runc always makes one");
    assert_eq!((under_runc[7].as_str(), under_mini[7].as_str()), ("0", "0"), "/dev/null");
    assert_eq!(under_runc[8], "sh /looks", "runc's PID 1 is the command");
    assert_eq!(under_mini[8], "sh /looks", "and so is mini-runc's");
    // `create`, then `state`: the same JSON from both, but for the PID and
    // the time.
    let mut states = Vec::new();
    for (runtime, root) in runtimes {
        let created = world.run_runtime(runtime, root, &["create", "side"]);
        assert_eq!(created.code, 0, "{runtime} create: {created:?}");
        let state = world.run_runtime(runtime, root, &["state", "side"]);
        let deleted = world.run_runtime(runtime, root, &["delete", "--force", "side"]);
        assert_eq!(deleted.code, 0, "{runtime} delete --force: {deleted:?}");
        let state: Value = serde_json::from_str(&state.stdout).expect("state JSON");
        assert_eq!(state["status"], "created", "{runtime}: {state}");
        states.push(state);
    }
    let redacted: Vec<String> = states.iter().map(|s| redact_state(s, &world)).collect();
    assert_eq!(redacted[0], redacted[1], "the same state JSON");
    assert_eq!(std::fs::read_dir(&runc_root).expect("runc's root").count(), 0, "runc's state");
    world.assert_empty();
    let mut text = format!("runc spec's file: process.capabilities.ambient is {asked}\n");
    let runc_ambient = ignored[5].split("CapAmb: ").nth(1).and_then(|r| r.split(' ').next());
    text += &format!("  runc:      runs it, with CapAmb: {}\n", runc_ambient.unwrap_or_default());
    text += &format!("  mini-runc: {}\n", refused.stderr.trim_end());
    text += "without process.capabilities.ambient, both run it:\n";
    for (i, look) in LOOKS.iter().enumerate() {
        let [runc, mini] = [&under_runc[i], &under_mini[i]].map(|seen| {
            let seen = seen.replace(&host_cgroup_ns, "cgroup:[HOST_NS]");
            if i == 6 && seen != "cgroup:[HOST_NS]" { "cgroup:[NEW_NS]".to_owned() } else { seen }
        });
        text += &format!("$ {look}\n  runc:      {runc}\n  mini-runc: {mini}\n");
    }
    insta::assert_snapshot!("one_bundle_run", text);
    insta::assert_snapshot!("one_bundle_state", redacted[0]);
}
// ANCHOR_END: side-by-side

/// The path of `program` in `PATH`, if it is there.
fn which(program: &str) -> Option<String> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| Path::new(dir).join(program))
        .find(|p| p.is_file())
        .map(|p| p.display().to_string())
}

// ANCHOR: fields
/// Each supported field, seen from inside (the command's output) or from
/// the host (the cgroup).
#[test]
fn fields_take_effect() {
    let Some(world) = World::new("mini-runc fields") else { return };
    let volume = world.dir.join("volume");
    std::fs::create_dir_all(&volume).expect("volume");
    std::fs::write(volume.join("note"), "from the host\n").expect("note");
    // A network namespace to join by path: made by a thread of this test,
    // held open here, named through /proc/PID/fd.
    let joined = std::thread::spawn(|| {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).expect("unshare(CLONE_NEWNET)");
        File::open("/proc/thread-self/ns/net").expect("open ns")
    })
    .join()
    .expect("thread");
    let joined_path = format!("/proc/{}/fd/{}", std::process::id(), joined.as_raw_fd());
    let joined_id = std::fs::read_link(&joined_path).expect("ns link").display().to_string();
    let script = "hostname; echo $GREETING; pwd; id -u; id -g; cat /data/note; \
                  touch /data/x 2>/dev/null && echo data writable || echo data read-only; \
                  echo interrupts $(wc -c < /proc/interrupts); readlink /proc/self/ns/net; \
                  cat /proc/sys/net/ipv4/ip_unprivileged_port_start; cat /proc/self/oom_score_adj; \
                  cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max; \
                                    (: < /tmp/fuse) 2>/dev/null && echo fuse opened || echo fuse denied";
    world.config(|c| {
        args(c, script);
        c["hostname"] = json!("box");
        c["process"]["env"] = json!(["PATH=/bin", "GREETING=hello"]);
        c["process"]["cwd"] = json!("/tmp");
        c["process"]["oomScoreAdj"] = json!(100);
        c["process"]["user"] = json!({"uid": 1000, "gid": 1000});
        c["mounts"].as_array_mut().expect("mounts").push(json!({
            "destination": "/data", "type": "bind", "source": volume, "options": ["rbind", "ro"]
        }));
        c["linux"]["maskedPaths"] = json!(["/proc/interrupts"]);
        c["linux"]["sysctl"] = json!({"net.ipv4.ip_unprivileged_port_start": "100"});
        c["linux"]["resources"]["memory"] = json!({"limit": 64 * 1024 * 1024});
        // The device cgroup: everything denied, then /dev/null allowed
        // (and runc's usual devices): /dev/fuse, made below, is not.
        c["linux"]["resources"]["devices"] = json!([
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"}
        ]);
        let namespaces = c["linux"]["namespaces"].as_array_mut().expect("namespaces");
        for ns in namespaces.iter_mut() {
            if ns["type"] == "network" {
                ns["path"] = json!(joined_path);
            }
        }
    });
    // A device node the rules do not allow: /dev/fuse's numbers, mode 0666.
    let fuse = world.bundle().join("rootfs/tmp/fuse");
    let kind = nix::sys::stat::SFlag::S_IFCHR;
    let mode = nix::sys::stat::Mode::from_bits_truncate(0o666);
    nix::sys::stat::mknod(&fuse, kind, mode, nix::sys::stat::makedev(10, 229)).expect("mknod");
    std::fs::set_permissions(&fuse, std::os::unix::fs::PermissionsExt::from_mode(0o666))
        .expect("chmod");
    let ran = world.run(&["create", "f1"]);
    assert_eq!(ran.code, 0, "create: {ran:?}");
    // The memory limit, in the cgroup recorded for the container.
    let record = std::fs::read_to_string(world.root().join("f1/cgroups")).expect("cgroups record");
    // cgroup v1: the memory hierarchy's directory; v2: the only one.
    let dirs: Vec<&str> = record.lines().filter(|l| l.starts_with('/')).collect();
    let memory_dir = dirs
        .iter()
        .find(|l| l.contains("/memory/"))
        .or(dirs.first())
        .expect("a cgroup")
        .to_string();
    let limit = ["memory.limit_in_bytes", "memory.max"]
        .iter()
        .find_map(|f| std::fs::read_to_string(Path::new(&memory_dir).join(f)).ok())
        .expect("a memory limit file");
    assert_eq!(limit.trim(), "67108864");
    assert_eq!(world.run(&["start", "f1"]).code, 0);
    world.wait_status("f1", "stopped");
    // The container's stdout was create's: the file of that command.
    let output = std::fs::read_dir(&world.dir)
        .expect("dir")
        .filter_map(Result::ok)
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .find(|t| t.starts_with("box\n"))
        .expect("the container's output");
    let lines: Vec<&str> = output.lines().collect();
    assert_eq!(lines[..5], ["box", "hello", "/tmp", "1000", "1000"], "{output}");
    assert_eq!(lines[5], "from the host");
    assert_eq!(lines[6], "data read-only");
    assert_eq!(lines[7], "interrupts 0", "/proc/interrupts is masked");
    assert_eq!(lines[8], joined_id, "the network namespace was joined by path");
    assert_eq!(lines[9], "100", "linux.sysctl, in the joined namespace");
    assert_eq!(lines[10], "100", "process.oomScoreAdj");
    assert_eq!(lines[11], "67108864", "the cgroup mount shows the container's own cgroup");
    assert_eq!(lines[12], "fuse denied", "linux.resources.devices");
    assert_eq!(world.run(&["delete", "f1"]).code, 0);
    assert!(!Path::new(&memory_dir).exists(), "cgroup {memory_dir} left behind");
    world.assert_empty();
    insta::assert_snapshot!(output.replace(&joined_id, "net:[JOINED]"));
}
// ANCHOR_END: fields

// ANCHOR: refused
/// Refused fields and bad input: exit status 1, one line that names what
/// is wrong, nothing left behind.
#[test]
fn refusals_and_bad_input() {
    let Some(world) = World::new("mini-runc refusals") else { return };
    let mut lines = Vec::new();
    let mut refused = |world: &World, what: &str, args: &[&str]| {
        let ran = world.run(args);
        assert_eq!(ran.code, 1, "{what}: {ran:?}");
        assert_eq!(ran.stderr.lines().count(), 1, "{what}: one line: {ran:?}");
        world.assert_empty();
        lines.push(format!("{what}: {}", ran.stderr.trim_end()));
        ran.stderr
    };
    world.config(|c| c["linux"]["sysctl"] = json!({"kernel.panic": "1"}));
    assert!(refused(&world, "sysctl", &["create", "r1"]).contains("linux.sysctl"));
    world.config(|c| {
        c["domainname"] = json!("example.org");
        c["hostname"] = Value::Null;
        c["linux"]["namespaces"].as_array_mut().expect("namespaces").retain(|n| n["type"] != "uts");
    });
    assert!(refused(&world, "domainname", &["create", "r1"]).contains("domainname"));
    world.config(|c| c["process"]["sillyField"] = json!(1));
    assert!(refused(&world, "unknown field", &["run", "r1"]).contains("process.sillyField"));
    world.config(|c| {
        c["mounts"].as_array_mut().expect("mounts").push(json!({
            "destination": "/scratch", "type": "tmpfs", "source": "tmpfs",
            "options": ["size=1m", "uid=1000"]
        }))
    });
    assert!(refused(&world, "tmpfs mount", &["create", "r1"]).contains("mounts[7] (/scratch)"));
    world.config(|_| {});
    refused(&world, "missing container", &["state", "nope"]);
    refused(&world, "bad id", &["create", "../x"]);
    refused(&world, "bad signal", &["kill", "nope", "SIGNOPE"]);
    refused(&world, "systemd cgroups", &["--systemd-cgroup", "state", "nope"]);
    refused(&world, "no such bundle", &["create", "--bundle", "/nonexistent", "r1"]);
    let usage = world.run(&["state"]);
    assert_eq!(usage.code, 1, "a usage error exits 1, as runc's: {usage:?}");
    // --log-format json: the error as one JSON object in the log file.
    let log = world.dir.join("log.json");
    let ran = world.run(&[
        "--log",
        log.to_str().expect("utf-8"),
        "--log-format",
        "json",
        "state",
        "nope",
    ]);
    assert_eq!(ran.code, 1);
    let entry: Value = serde_json::from_str(std::fs::read_to_string(&log).expect("log").trim())
        .expect("a JSON line");
    assert_eq!(entry["level"], "error");
    assert_eq!(entry["msg"], "container \"nope\" does not exist");
    insta::assert_snapshot!(lines.join("\n").replace(&world.dir.display().to_string(), "[DIR]"));
}
// ANCHOR_END: refused

/// `docker …`, bounded in time, its output in files of `dir`.
fn docker(args: &[&str], dir: &Path) -> Ran {
    let mut cmd = Command::new("docker");
    cmd.args(args);
    clients::run_in(dir, cmd, clients::LIMIT)
}

const DAEMON_JSON: &str = "/etc/docker/daemon.json";

/// Taken (flock(2)) for the whole of a Docker lab, so that two test runs
/// never interleave their saves and restores of daemon.json.
const LAB_LOCK: &str = "/run/mini-runc-docker-test.lock";

/// How long a lab waits for another run's lab to finish.
const LOCK_WAIT: Duration = Duration::from_secs(300);

/// The state root Docker gives the runtimes it starts (`--root`).
const DOCKER_RUNTIME_ROOT: &str = "/var/run/docker/runtime-runc/moby";

/// mini-runc registered in the Docker daemon's `runtimes`, and an image
/// imported from a busybox tarball; dropping it (even in a panic) removes
/// the test's containers (by their label), the image, and puts
/// daemon.json back byte for byte, asserting nothing on the way.
struct DockerLab {
    dir: PathBuf,
    original: Option<Vec<u8>>,
    image: String,
    /// `mini-runc-test=<PID>`, on every container the test makes.
    label: String,
    /// What the runtime state root held before the test.
    root_before: Vec<std::ffi::OsString>,
    /// Held until the lab is dropped; the lock goes with the descriptor.
    _lock: File,
}

/// The entries of Docker's runtime state root.
fn runtime_root_entries() -> Vec<std::ffi::OsString> {
    std::fs::read_dir(DOCKER_RUNTIME_ROOT)
        .map(|d| d.filter_map(Result::ok).map(|e| e.file_name()).collect())
        .unwrap_or_default()
}

impl DockerLab {
    fn new() -> Option<DockerLab> {
        clients::require("docker --runtime mini-runc", &["docker", "script"])?;
        let lock = clients::lock(LAB_LOCK, LOCK_WAIT);
        let dir = std::env::temp_dir().join(format!("mini-runc-docker-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("scratch dir");
        let info = Command::new("docker").args(["info", "--format", "{{.ServerVersion}}"]).output();
        if !info.as_ref().is_ok_and(|o| o.status.success()) {
            let _ = std::fs::remove_dir_all(&dir);
            nslab_tests::skip(
                "docker --runtime mini-runc",
                "no docker daemon answers `docker info`",
            );
            return None;
        }
        let original = std::fs::read(DAEMON_JSON).ok();
        let image = format!("mini-runc-test:{}", std::process::id());
        let label = format!("mini-runc-test={}", std::process::id());
        let root_before = runtime_root_entries();
        let lab = DockerLab { dir, original, image, label, root_before, _lock: lock };
        let mut config: Value = lab
            .original
            .as_deref()
            .map(|b| serde_json::from_slice(b).expect("daemon.json is JSON"))
            .unwrap_or_else(|| json!({}));
        config["runtimes"]["mini-runc"] = json!({ "path": MINI_RUNC });
        let reloaded = lab.reload(config.to_string().as_bytes(), true);
        assert_eq!(reloaded, Ok(()), "registering mini-runc");
        lab.import();
        Some(lab)
    }

    /// Writes daemon.json, sends the daemon SIGHUP (it reloads its
    /// runtimes, dockerd(8)), and waits (bounded) until `docker info`
    /// agrees. It never panics (Drop uses it): it says what failed.
    fn reload(&self, text: &[u8], registered: bool) -> Result<(), String> {
        std::fs::write(DAEMON_JSON, text).map_err(|e| format!("writing {DAEMON_JSON}: {e}"))?;
        let pid: i32 = std::fs::read_to_string("/var/run/docker.pid")
            .ok()
            .and_then(|t| t.trim().parse().ok())
            .ok_or("no dockerd PID in /var/run/docker.pid")?;
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGHUP)
            .map_err(|errno| format!("SIGHUP dockerd {pid}: {errno}"))?;
        let deadline = Instant::now() + LIMIT;
        loop {
            let runtimes = docker(&["info", "--format", "{{json .Runtimes}}"], &self.dir).stdout;
            if runtimes.contains("\"mini-runc\"") == registered {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("dockerd did not reload its runtimes: {runtimes}"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `docker import` of a tarball holding busybox and its applets.
    fn import(&self) {
        let tarball = self.dir.join("rootfs.tar");
        clients::busybox_tarball(&tarball);
        let ran = docker(&["import", tarball.to_str().expect("utf-8"), &self.image], &self.dir);
        assert_eq!(ran.code, 0, "docker import: {ran:?}");
    }

    /// `docker run --runtime mini-runc OPTIONS IMAGE COMMAND…`.
    fn run(&self, options: &[&str], command: &[&str]) -> Ran {
        let mut args = vec!["run", "--runtime", "mini-runc", "--label", &self.label];
        args.extend(options);
        args.push(&self.image);
        args.extend(command);
        docker(&args, &self.dir)
    }
}

impl Drop for DockerLab {
    fn drop(&mut self) {
        // Nothing here may panic before daemon.json is back: a panic in a
        // panic aborts, and the daemon would keep a runtime that is gone.
        // The test's containers first, while the daemon still knows their
        // runtime; then its image.
        let filter = format!("label={}", self.label);
        let listed = docker(&["ps", "-aq", "--filter", &filter], &self.dir).stdout;
        for id in listed.split_whitespace() {
            let _ = docker(&["rm", "-f", id], &self.dir);
        }
        let _ = docker(&["rmi", "-f", &self.image], &self.dir);
        // An empty `runtimes` first: a reload without the key keeps the
        // runtimes the daemon had; then the file as it was.
        let mut empty: Value = self
            .original
            .as_deref()
            .and_then(|b| serde_json::from_slice(b).ok())
            .unwrap_or_else(|| json!({}));
        empty["runtimes"] = json!({});
        let mut failed = self.reload(empty.to_string().as_bytes(), false).err();
        let restored = match &self.original {
            Some(bytes) => std::fs::write(DAEMON_JSON, bytes),
            None => std::fs::remove_file(DAEMON_JSON),
        };
        if let Err(e) = restored {
            failed = Some(format!("restoring {DAEMON_JSON}: {e}"));
        } else if let Err(e) = self.reload(&std::fs::read(DAEMON_JSON).unwrap_or_default(), false) {
            failed = failed.or(Some(e));
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        if let Some(failed) = failed {
            // Past the harness's capture; the file is back as far as it
            // could be put back.
            use std::io::Write as _;
            let _ = writeln!(std::io::stderr(), "Docker lab cleanup: {failed}");
        }
    }
}

// ANCHOR: docker
/// Docker itself drives the binary: containerd's shim runs `mini-runc
/// create`, `start`, `state`, `kill` and `delete` as it would runc.
#[test]
fn docker_runs_containers_with_mini_runc() {
    let Some(lab) = DockerLab::new() else { return };
    let hi = lab.run(&["--rm"], &["echo", "hi"]);
    assert_eq!((hi.code, hi.stdout.as_str()), (0, "hi\n"), "{hi:?}");
    // The container writes into the root filesystem Docker prepared (bound,
    // not overlaid again), so `docker diff` sees the change.
    let name = format!("mini-runc-diff-{}", std::process::id());
    assert_eq!(lab.run(&["--name", &name], &["touch", "/written"]).code, 0);
    let diff = docker(&["diff", &name], &lab.dir);
    assert_eq!(docker(&["rm", &name], &lab.dir).code, 0);
    assert!(diff.stdout.lines().any(|l| l == "A /written"), "docker diff: {diff:?}");
    // -t: create gets --console-socket and sends the pty's master there.
    let tty = lab.run(&["--rm", "-t"], &["sh", "-c", "tty; exit 3"]);
    assert_eq!((tty.code, tty.stdout.as_str()), (3, "/dev/pts/0\r\n"), "{tty:?}");
    // -it at a terminal: docker attaches the user's terminal to the pty.
    let mut it = vec!["docker", "run", "--runtime", "mini-runc", "--label", &lab.label];
    it.extend(["--rm", "-it", &lab.image, "sh"]);
    let it = clients::in_pty(&lab.dir, &it, "echo typed-$((6 * 7))\nexit 6\n", |_| {});
    assert_eq!(it.code, 6, "{it:?}");
    assert!(it.stdout.contains("typed-42\r\n"), "{it:?}");
    // --cap-drop: the capability is gone from the command's sets.
    let cap = |extra: &[&str]| {
        let mut options = vec!["--rm"];
        options.extend(extra);
        let ran = lab.run(&options, &["grep", "CapEff", "/proc/self/status"]);
        assert_eq!(ran.code, 0, "{ran:?}");
        ran.stdout
    };
    let (all, dropped) = (cap(&[]), cap(&["--cap-drop", "NET_RAW"]));
    assert_ne!(all, dropped, "--cap-drop NET_RAW changed nothing");
    assert_eq!(cap(&["--cap-drop", "ALL"]), "CapEff:\t0000000000000000\n");
    let exit = lab.run(&["--rm"], &["sh", "-c", "exit 7"]);
    assert_eq!(exit.code, 7, "the exit status passes through: {exit:?}");
    // Docker's default bridge: the prestart hook gave the container eth0.
    let net = lab.run(&["--rm"], &["sh", "-c", "ip -o -4 addr show eth0 | wc -l"]);
    assert_eq!(net.stdout.trim(), "1", "{net:?}");
    let none = lab.run(&["--rm", "--network", "none"], &["sh", "-c", "ip -o link | wc -l"]);
    assert_eq!(none.stdout.trim(), "1", "only lo: {none:?}");
    let user = lab.run(&["--rm", "--user", "1000:1000"], &["id", "-u"]);
    assert_eq!(user.stdout, "1000\n", "{user:?}");
    let read_only = lab.run(&["--rm", "--read-only"], &["touch", "/x"]);
    assert_ne!(read_only.code, 0, "--read-only: {read_only:?}");
    assert!(read_only.stderr.contains("Read-only file system"), "--read-only: {read_only:?}");
    // docker exec: containerd's shim runs `mini-runc exec --process F --detach`.
    let sleeper = lab.run(&["-d"], &["sleep", "30"]);
    let sleeper = sleeper.stdout.trim().to_owned();
    let exec = docker(&["exec", &sleeper, "sh", "-c", "echo in exec; exit 5"], &lab.dir);
    assert_eq!((exec.code, exec.stdout.as_str()), (5, "in exec\n"), "{exec:?}");
    let exec_user = docker(&["exec", "-u", "1000", &sleeper, "id", "-u"], &lab.dir);
    assert_eq!(exec_user.stdout, "1000\n", "{exec_user:?}");
    // exec -t: the shim adds --console-socket; the tenant's pty is the
    // container's second (init's command has none here).
    let exec_tty = docker(&["exec", "-t", &sleeper, "sh", "-c", "tty; exit 3"], &lab.dir);
    assert_eq!((exec_tty.code, exec_tty.stdout.as_str()), (3, "/dev/pts/0\r\n"), "{exec_tty:?}");
    // exec -it at a terminal: what is typed reaches the shell, its status
    // comes back.
    let typed = "echo typed-$((6 * 7))\nexit 4\n";
    let exec_it =
        clients::in_pty(&lab.dir, &["docker", "exec", "-it", &sleeper, "sh"], typed, |_| {});
    assert_eq!(exec_it.code, 4, "{exec_it:?}");
    assert!(exec_it.stdout.contains("typed-42\r\n"), "{exec_it:?}");
    assert_eq!(docker(&["rm", "-f", &sleeper], &lab.dir).code, 0);
    let limits = lab.run(
        &["--rm", "--memory", "32m", "--pids-limit", "20"],
        &["cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/pids/pids.max"],
    );
    assert_eq!(limits.stdout, "33554432\n20\n", "{limits:?}");
    // Detached: logs, stop (SIGTERM through init), its status, rm.
    let script = "echo up; trap 'echo bye; exit 0' TERM; while true; do sleep 1; done";
    let detached = lab.run(&["-d"], &["sh", "-c", script]);
    assert_eq!(detached.code, 0, "{detached:?}");
    let id = detached.stdout.trim().to_owned();
    let deadline = Instant::now() + LIMIT;
    while docker(&["logs", &id], &lab.dir).stdout != "up\n" {
        assert!(Instant::now() < deadline, "no output from the detached container");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(docker(&["stop", &id], &lab.dir).code, 0);
    let code = docker(&["inspect", "-f", "{{.State.ExitCode}}", &id], &lab.dir);
    assert_eq!(code.stdout, "0\n");
    assert_eq!(docker(&["logs", &id], &lab.dir).stdout, "up\nbye\n");
    assert_eq!(docker(&["rm", &id], &lab.dir).code, 0);
    // Nothing left in the state root Docker gives its runtimes (`--root`):
    // no entry that was not there before the test.
    let left: Vec<_> =
        runtime_root_entries().into_iter().filter(|e| !lab.root_before.contains(e)).collect();
    assert!(left.is_empty(), "left in {DOCKER_RUNTIME_ROOT}: {left:?}");
    insta::assert_snapshot!(hi.stdout);
}
// ANCHOR_END: docker

/// Waits (bounded) until `pid` is gone; one still there is the test's
/// own container's, so it is killed, by its PID, before the test fails.
fn assert_gone(pid: i32, what: &str) {
    let deadline = Instant::now() + LIMIT;
    while Path::new(&format!("/proc/{pid}")).exists() {
        if Instant::now() > deadline {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
            panic!("{what}: process {pid} is still there");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A PID a container wrote into its root filesystem (bounded wait).
fn read_pid(path: &Path) -> i32 {
    let deadline = Instant::now() + LIMIT;
    loop {
        if let Some(pid) =
            std::fs::read_to_string(path).ok().and_then(|t| t.trim().parse::<i32>().ok())
        {
            return pid;
        }
        assert!(Instant::now() < deadline, "no PID in {path:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A cgroup of the test's own in the v1 pids hierarchy, with a `sleep` of
/// the test's in it; dropping it kills that sleep (by its PID) and removes
/// the cgroup.
struct ForeignCgroup {
    dir: PathBuf,
    sleep: std::process::Child,
}

impl ForeignCgroup {
    fn new(name: &str) -> ForeignCgroup {
        let dir = Path::new("/sys/fs/cgroup/pids").join(name);
        std::fs::create_dir(&dir).expect("mkdir the test's cgroup");
        let sleep = Command::new("sleep").arg("60").stdin(Stdio::null()).spawn();
        let lab = ForeignCgroup { dir, sleep: sleep.expect("spawn sleep") };
        std::fs::write(lab.dir.join("cgroup.procs"), lab.sleep.id().to_string())
            .expect("move the sleep into the test's cgroup");
        lab
    }
}

impl Drop for ForeignCgroup {
    fn drop(&mut self) {
        let _ = self.sleep.kill();
        let _ = self.sleep.wait();
        // rmdir waits for the cgroup to empty (bounded).
        let deadline = Instant::now() + LIMIT;
        while std::fs::remove_dir(&self.dir).is_err() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

// ANCHOR: foreign-cgroup
/// `linux.cgroupsPath` naming a cgroup that already exists is refused
/// (delete would kill and remove it), and so is the hierarchy's root: the
/// process already in that cgroup survives.
#[test]
fn an_existing_cgroup_is_refused_and_left_alone() {
    let Some(world) = World::new("mini-runc existing cgroup") else { return };
    if !Path::new("/sys/fs/cgroup/pids/cgroup.procs").exists() {
        nslab_tests::skip("mini-runc existing cgroup", "no cgroup v1 pids hierarchy");
        return;
    }
    let name = format!("mini-runc-test-foreign-{}", std::process::id());
    let mut foreign = ForeignCgroup::new(&name);
    world.config(|c| c["linux"]["cgroupsPath"] = json!(format!("/{name}")));
    let ran = world.run(&["create", "e1"]);
    assert_eq!(ran.code, 1, "an existing cgroup: {ran:?}");
    assert_eq!(ran.stderr.lines().count(), 1, "one line: {ran:?}");
    assert!(ran.stderr.contains(&foreign.dir.display().to_string()), "names it: {ran:?}");
    assert!(foreign.sleep.try_wait().expect("try_wait").is_none(), "the sleep was killed");
    assert!(foreign.dir.is_dir(), "the test's cgroup was removed");
    let procs = std::fs::read_to_string(foreign.dir.join("cgroup.procs")).expect("procs");
    assert_eq!(procs.trim(), foreign.sleep.id().to_string());
    world.assert_empty();
    for root in ["/", "", "/./"] {
        world.config(|c| c["linux"]["cgroupsPath"] = json!(root));
        let ran = world.run(&["create", "e2"]);
        assert_eq!(ran.code, 1, "cgroupsPath {root:?}: {ran:?}");
        assert!(ran.stderr.contains("linux.cgroupsPath"), "{ran:?}");
        world.assert_empty();
    }
    assert!(foreign.sleep.try_wait().expect("try_wait").is_none(), "the sleep was killed");
    insta::assert_snapshot!(ran.stderr.replace(&name, "[NAME]"));
}
// ANCHOR_END: foreign-cgroup

// ANCHOR: cgroups-path
/// `linux.cgroupsPath` without any limit still makes the cgroup there (and
/// the parents it needs), holds the container in it, and removes only
/// what it made at delete.
#[test]
fn cgroups_path_without_limits_is_used() {
    let Some(world) = World::new("mini-runc cgroupsPath") else { return };
    if !Path::new("/sys/fs/cgroup/pids/cgroup.procs").exists() {
        nslab_tests::skip("mini-runc cgroupsPath", "no cgroup v1 pids hierarchy");
        return;
    }
    let name = format!("mini-runc-test-path-{}", std::process::id());
    let parent = Path::new("/sys/fs/cgroup/pids").join(&name);
    world.config(|c| {
        args(c, "exec sleep 30");
        c["linux"]["cgroupsPath"] = json!(format!("/{name}/c3"));
    });
    let ran = world.run(&["create", "c3"]);
    assert_eq!((ran.code, ran.stderr.as_str()), (0, ""), "create: {ran:?}");
    let pid = world.state("c3")["pid"].as_i64().expect("pid");
    let procs = std::fs::read_to_string(parent.join("c3/cgroup.procs")).unwrap_or_default();
    assert_eq!(procs.trim(), pid.to_string(), "init in the cgroupsPath cgroup");
    assert_eq!(world.run(&["delete", "--force", "c3"]).code, 0);
    assert!(!parent.exists(), "{parent:?} (made for the container) left behind");
    world.assert_empty();
}
// ANCHOR_END: cgroups-path

// ANCHOR: no-pid-namespace
/// Without a PID namespace, a process that leaves init's tree is still the
/// container's: `kill --all` reaches it through the cgroup, and `delete`
/// ends what is left.
#[test]
fn without_a_pid_namespace_nothing_outlives_the_container() {
    let Some(world) = World::new("mini-runc no PID namespace") else { return };
    let marker = world.bundle().join("rootfs/tmp/bg");
    // `( … & )`: the sleep's parent ends at once, so it leaves init's tree.
    world.config(|c| {
        args(c, "(sleep 300 </dev/null >/dev/null 2>&1 & echo $! > /tmp/bg); exec sleep 300");
        c["root"]["readonly"] = json!(false);
        c["linux"]["namespaces"].as_array_mut().expect("namespaces").retain(|n| n["type"] != "pid");
    });
    assert_eq!(world.run(&["create", "k1"]).code, 0);
    assert_eq!(world.run(&["start", "k1"]).code, 0);
    let background = read_pid(&marker);
    let init = world.state("k1")["pid"].as_i64().expect("pid") as i32;
    assert!(!children(init.into()).contains(&background.to_string()), "still init's child");
    let ran = world.run(&["kill", "--all", "k1", "KILL"]);
    assert_eq!(ran.code, 0, "kill --all: {ran:?}");
    assert_gone(background, "kill --all");
    world.wait_status("k1", "stopped");
    assert_eq!(world.run(&["delete", "k1"]).code, 0);
    // The command ends; its background process does not: delete ends it.
    std::fs::remove_file(&marker).expect("marker");
    world.config(|c| {
        args(c, "(sleep 300 </dev/null >/dev/null 2>&1 & echo $! > /tmp/bg)");
        c["root"]["readonly"] = json!(false);
        c["linux"]["namespaces"].as_array_mut().expect("namespaces").retain(|n| n["type"] != "pid");
    });
    assert_eq!(world.run(&["create", "k2"]).code, 0);
    assert_eq!(world.run(&["start", "k2"]).code, 0);
    let background = read_pid(&marker);
    world.wait_status("k2", "stopped");
    assert!(Path::new(&format!("/proc/{background}")).exists(), "ended before delete");
    assert_eq!(world.run(&["delete", "k2"]).code, 0);
    assert_gone(background, "delete");
    world.assert_empty();
}
// ANCHOR_END: no-pid-namespace

// ANCHOR: console-socket-missing
/// `create` with a terminal and a console socket that is not there fails,
/// and leaves no container process behind (none waiting on a fifo that is
/// gone).
#[test]
fn a_missing_console_socket_leaves_no_process() {
    let Some(world) = World::new("mini-runc missing console socket") else { return };
    world.config(|c| {
        args(c, "exec sleep 30");
        c["process"]["terminal"] = json!(true);
    });
    let pid_file = world.dir.join("pid");
    let socket = world.dir.join("nonexistent.sock");
    let ran = world.run(&[
        "create",
        "--console-socket",
        socket.to_str().expect("utf-8"),
        "--pid-file",
        pid_file.to_str().expect("utf-8"),
        "t1",
    ]);
    assert_eq!(ran.code, 1, "{ran:?}");
    assert!(ran.stderr.contains("--console-socket"), "names the socket: {ran:?}");
    // The PID the container's init had, if it got as far as one.
    if let Ok(pid) = std::fs::read_to_string(&pid_file) {
        assert_gone(pid.trim().parse().expect("a PID"), "the container's init");
    }
    world.assert_empty();
}
// ANCHOR_END: console-socket-missing

/// Runs `create` in a throwaway world of `unshare(1)`'s (new PID, mount,
/// network and UTS namespaces, its own /proc), where the shell is PID 1:
/// its namespaces are that world's "host". Prints the sysctl and the
/// hostname before and after, and create's status. Only observes: the
/// feature under test is mini-runc's, and nothing reaches the real host.
fn create_in_throwaway_host(world: &World, root: &Path, id: &str) -> Ran {
    let script = r#"sysctl=/proc/sys/net/ipv4/ip_unprivileged_port_start
        echo "before $(cat $sysctl) $(hostname)"
        "$0" --root "$1" create --bundle "$2" "$3" </dev/null
        echo "status $?"
        echo "after $(cat $sysctl) $(hostname)""#;
    let n = COUNT.fetch_add(1, Ordering::SeqCst);
    let (out, err) = (world.dir.join(format!("out-{n}")), world.dir.join(format!("err-{n}")));
    let mut child = Command::new("unshare")
        .args(["--pid", "--fork", "--mount-proc", "--net", "--uts", "sh", "-c", script])
        .arg(MINI_RUNC)
        .arg(root)
        .arg(world.bundle())
        .arg(id)
        .stdin(Stdio::null())
        .stdout(File::create(&out).expect("out"))
        .stderr(File::create(&err).expect("err"))
        .spawn()
        .expect("spawn unshare");
    let status = wait_bounded(&mut child, LIMIT);
    Ran {
        code: status.code().unwrap_or(-1),
        stdout: std::fs::read_to_string(&out).unwrap_or_default(),
        stderr: std::fs::read_to_string(&err).unwrap_or_default(),
    }
}

// ANCHOR: host-namespace
/// A network or UTS namespace joined by path that is the host's own (PID
/// 1's, here of a throwaway world) takes no sysctl and no hostname.
#[test]
fn sysctl_and_hostname_refused_in_a_joined_host_namespace() {
    let Some(world) = World::new("mini-runc joined host namespace") else { return };
    // A root of its own: the throwaway world's PIDs mean nothing here.
    let root = world.dir.join("throwaway-root");
    std::fs::create_dir_all(&root).expect("state root");
    let mut lines = Vec::new();
    for (what, id) in [("sysctl", "j1"), ("hostname", "j2")] {
        world.config(|c| {
            for ns in c["linux"]["namespaces"].as_array_mut().expect("namespaces") {
                match (what, ns["type"].as_str()) {
                    ("sysctl", Some("network")) => ns["path"] = json!("/proc/1/ns/net"),
                    ("hostname", Some("uts")) => ns["path"] = json!("/proc/1/ns/uts"),
                    _ => {}
                }
            }
            if what == "sysctl" {
                c["linux"]["sysctl"] = json!({"net.ipv4.ip_unprivileged_port_start": "100"});
            } else {
                c["hostname"] = json!("joined-host");
            }
        });
        let ran = create_in_throwaway_host(&world, &root, id);
        let out: Vec<&str> = ran.stdout.lines().collect();
        assert_eq!(out.len(), 3, "{what}: {ran:?}");
        let (before, after) =
            (out[0].strip_prefix("before ").expect("before"), out[2].strip_prefix("after "));
        assert_eq!(Some(before), after, "{what} changed the throwaway host: {ran:?}");
        assert_eq!(out[1], "status 1", "{what}: create must be refused: {ran:?}");
        assert_eq!(ran.stderr.lines().count(), 1, "{what}: one line: {ran:?}");
        assert!(ran.stderr.contains("is the host's"), "{what}: {ran:?}");
        lines.push(ran.stderr.trim_end().to_owned());
    }
    // Had a create got through, its container is gone with the throwaway
    // world; delete (not --force: nothing is signalled) removes its state.
    for entry in std::fs::read_dir(&root).expect("root").filter_map(Result::ok) {
        let id = entry.file_name().to_string_lossy().into_owned();
        let mut delete = Command::new(MINI_RUNC)
            .arg("--root")
            .arg(&root)
            .args(["delete", &id])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn delete");
        wait_bounded(&mut delete, LIMIT);
    }
    let left: Vec<_> = std::fs::read_dir(&root).expect("root").filter_map(Result::ok).collect();
    assert!(left.is_empty(), "left in the throwaway state root: {left:?}");
    insta::assert_snapshot!(lines.join("\n"));
}
// ANCHOR_END: host-namespace

// ANCHOR: exec-process-limits
/// `exec --process`'s `rlimits` and `oomScoreAdj` reach the process run.
#[test]
fn exec_process_takes_its_rlimits_and_oom_score() {
    let Some(world) = World::new("mini-runc exec rlimits") else { return };
    world.config(|c| args(c, "exec sleep 30"));
    assert_eq!(world.run(&["create", "x1"]).code, 0);
    assert_eq!(world.run(&["start", "x1"]).code, 0);
    let process = world.dir.join("process.json");
    let json = json!({
        "args": ["sh", "-c", "ulimit -n; cat /proc/self/oom_score_adj"],
        "cwd": "/",
        "env": ["PATH=/bin"],
        "user": {"uid": 0, "gid": 0},
        "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 123, "hard": 123}],
        "oomScoreAdj": 321
    });
    std::fs::write(&process, json.to_string()).expect("process.json");
    let ran = world.run(&["exec", "--process", process.to_str().expect("utf-8"), "x1"]);
    assert_eq!((ran.code, ran.stdout.as_str()), (0, "123\n321\n"), "{ran:?}");
    assert_eq!(world.run(&["delete", "--force", "x1"]).code, 0);
    world.assert_empty();
}
// ANCHOR_END: exec-process-limits

// ANCHOR: run-terminal
/// `run` with `process.terminal` relays the pty through its own stdio (no
/// console socket, as runc's `run`), sized by `process.consoleSize`.
#[test]
fn run_with_a_terminal_and_its_size() {
    let Some(world) = World::new("mini-runc run with a terminal") else { return };
    std::os::unix::fs::symlink("busybox", world.bundle().join("rootfs/bin/stty")).expect("stty");
    world.config(|c| {
        args(c, "stty size; exit 3");
        c["process"]["terminal"] = json!(true);
        c["process"]["consoleSize"] = json!({"height": 33, "width": 77});
    });
    let ran = world.run(&["run", "t1"]);
    assert_eq!((ran.code, ran.stdout.as_str()), (3, "33 77\r\n"), "{ran:?}");
    world.assert_empty();
    // create still needs the socket to send the pty to.
    let create = world.run(&["create", "t2"]);
    assert_eq!(create.code, 1, "{create:?}");
    assert!(create.stderr.contains("--console-socket"), "{create:?}");
    world.assert_empty();
}
// ANCHOR_END: run-terminal
