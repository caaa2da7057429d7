//! mini-runc end to end, one `config.json` field at a time: `domainname`,
//! the five kinds of `hooks`, `linux.devices`, a `time` namespace with
//! `linux.timeOffsets`, where the cgroup goes (`linux.cgroupsPath`, or
//! `mini-runc/<id>` without one), `annotations`, cgroup v2's device rules
//! (a BPF program), `linux.maskedPaths` and `readonlyPaths`, the five
//! capability sets, `linux.rootfsPropagation` and bind propagation (the
//! host's later mounts come in, the container's never go out), several ID
//! ranges and `user.additionalGids`, and user and mount namespaces joined
//! by `path` (held by a `sleep` the test starts in new namespaces).
//!
//! Each test writes a bundle (a busybox-static root and `mini-runc spec`'s
//! `config.json`, changed), drives the real `mini-runc` binary through
//! runc's verbs in a throwaway network namespace, and asserts the fact
//! inside the container from what it printed or wrote: the names `uname`
//! and `/proc/sys/kernel/domainname` give, the state JSON each hook read on
//! its stdin, a device node's type and numbers from `stat`, the clock that
//! `/proc/uptime` shows, the cgroup that lists init's PID. As root only;
//! every command bounded in time; nothing left behind.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use mini_runc::cgroups::{Limits, Made, Version};
use nslab_tests::mini_docker::Netns;
use nslab_tests::{As, can_run, wait_bounded};
use serde_json::{Value, json};

const MINI_RUNC: &str = env!("CARGO_BIN_EXE_mini-runc");
const LIMIT: Duration = Duration::from_secs(20);
static COUNT: AtomicUsize = AtomicUsize::new(0);

/// A bundle, a state root and a network namespace for one test.
struct Bundle {
    dir: PathBuf,
    /// The state root, `<dir>/root`, for `--root`.
    root: String,
    netns: Netns,
}

/// One command's exit status and output.
#[derive(Debug)]
struct Ran {
    code: i32,
    stdout: String,
    stderr: String,
}

const APPLETS: &[&str] = &[
    "sh", "cat", "echo", "hostname", "uname", "stat", "sleep", "readlink", "head", "wc", "ls",
    "mount", "id",
];

impl Bundle {
    fn new(test: &str) -> Option<Bundle> {
        can_run(test, As::Root)?;
        let n = COUNT.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("mini-runc-fields-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let rootfs = dir.join("bundle/rootfs");
        for sub in ["bin", "tmp", "proc", "sys", "dev", "etc"] {
            std::fs::create_dir_all(rootfs.join(sub)).expect("rootfs dirs");
        }
        let busybox = ["/bin/busybox", "/usr/bin/busybox"]
            .iter()
            .find(|p| Path::new(p).exists())
            .expect("busybox-static (Debian: busybox-static)");
        std::fs::copy(busybox, rootfs.join("bin/busybox")).expect("copy busybox");
        for applet in APPLETS {
            std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet)).expect("applet");
        }
        std::fs::create_dir_all(dir.join("root")).expect("state root");
        std::fs::create_dir_all(dir.join("out")).expect("hooks' output");
        let root = dir.join("root").display().to_string();
        Some(Bundle { dir, root, netns: Netns::new() })
    }

    fn path(&self) -> PathBuf {
        self.dir.join("bundle")
    }

    /// Where hooks on the host write (`out/`).
    fn out(&self, name: &str) -> PathBuf {
        self.dir.join("out").join(name)
    }

    /// `mini-runc --root ROOT ARGS…` in the bundle, in the namespace; its
    /// output in files (a created container inherits create's stdio).
    fn run(&self, args: &[&str]) -> Ran {
        let mut cmd = Command::new(MINI_RUNC);
        cmd.args(args);
        self.run_command(cmd)
    }

    fn run_command(&self, mut cmd: Command) -> Ran {
        let n = COUNT.fetch_add(1, Ordering::SeqCst);
        let (out, err) =
            (self.dir.join(format!("stdout-{n}")), self.dir.join(format!("stderr-{n}")));
        cmd.current_dir(self.path())
            .stdin(Stdio::null())
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

    /// `mini-runc spec`'s `config.json`, writable root, `script` as the
    /// command, then changed by `edit`.
    fn config(&self, script: &str, edit: impl FnOnce(&mut Value)) {
        let path = self.path().join("config.json");
        let _ = std::fs::remove_file(&path);
        assert_eq!(self.verb(&["spec"]).code, 0, "spec");
        let mut config: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("config.json"))
                .expect("json");
        config["process"]["args"] = json!(["sh", "-c", script]);
        config["process"]["terminal"] = json!(false);
        config["root"]["readonly"] = json!(false);
        edit(&mut config);
        std::fs::write(&path, config.to_string()).expect("write config.json");
    }

    /// A verb with `--root`.
    fn verb(&self, args: &[&str]) -> Ran {
        let mut all = vec!["--root", self.root.as_str()];
        all.extend_from_slice(args);
        self.run(&all)
    }

    fn state(&self, id: &str) -> Value {
        let ran = self.verb(&["state", id]);
        assert_eq!(ran.code, 0, "state: {ran:?}");
        serde_json::from_str(&ran.stdout).expect("state JSON")
    }

    /// Waits (bounded) until the container has stopped.
    fn wait_stopped(&self, id: &str) {
        let deadline = Instant::now() + LIMIT;
        while self.state(id)["status"] != "stopped" {
            assert!(Instant::now() < deadline, "{id} never stopped");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `run ID`: the command's status and output.
    fn run_container(&self, id: &str) -> Ran {
        self.verb(&["run", id])
    }

    /// A refusal: exit 1, one line naming `field`, nothing left.
    fn assert_refused(&self, field: &str) -> String {
        let ran = self.verb(&["create", "refused"]);
        assert_eq!(ran.code, 1, "{field}: {ran:?}");
        assert_eq!(ran.stderr.lines().count(), 1, "{field}: one line: {ran:?}");
        assert!(ran.stderr.contains(field), "{field} named: {ran:?}");
        self.assert_empty();
        ran.stderr
    }

    fn assert_empty(&self) {
        let left: Vec<_> = std::fs::read_dir(self.dir.join("root"))
            .expect("state root")
            .filter_map(Result::ok)
            .map(|e| e.file_name())
            .collect();
        assert!(left.is_empty(), "left behind in the state root: {left:?}");
    }
}

impl Drop for Bundle {
    fn drop(&mut self) {
        if let Ok(entries) = std::fs::read_dir(self.dir.join("root")) {
            for entry in entries.filter_map(Result::ok) {
                let id = entry.file_name().to_string_lossy().into_owned();
                let _ = self.verb(&["delete", "--force", &id]);
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn namespaces(config: &mut Value) -> &mut Vec<Value> {
    config["linux"]["namespaces"].as_array_mut().expect("namespaces")
}

// ANCHOR: domainname
/// `hostname` and `domainname` are set in the container's UTS namespace:
/// `uname -n` and `/proc/sys/kernel/domainname` show them inside, the
/// host's stay as they were. Without a UTS namespace of its own the
/// domain name is refused, as the hostname is.
#[test]
fn domainname_in_its_uts_namespace() {
    let Some(bundle) = Bundle::new("mini-runc domainname") else { return };
    let host = std::fs::read_to_string("/proc/sys/kernel/domainname").expect("domainname");
    bundle.config("uname -n; cat /proc/sys/kernel/domainname", |c| {
        c["hostname"] = json!("box");
        c["domainname"] = json!("lab.example");
    });
    let ran = bundle.run_container("d1");
    assert_eq!((ran.code, ran.stderr.as_str()), (0, ""), "{ran:?}");
    assert_eq!(ran.stdout, "box\nlab.example\n");
    let after = std::fs::read_to_string("/proc/sys/kernel/domainname").expect("domainname");
    assert_eq!(after, host, "the host's domain name changed");
    bundle.config("true", |c| {
        c["domainname"] = json!("lab.example");
        c["hostname"] = Value::Null;
        namespaces(c).retain(|n| n["type"] != "uts");
    });
    bundle.assert_refused("domainname");
    bundle.assert_empty();
}
// ANCHOR_END: domainname

/// A hook that copies its stdin (the state JSON) to `out/<name>.json` and
/// writes the host name it sees and `$HOOK_ENV` beside it.
fn recorder(path: &Path, name: &str) -> Value {
    let file = path.join(name).display().to_string();
    json!({
        "path": "/bin/sh",
        "args": ["sh", "-c",
                 format!("cat > {file}.json; hostname > {file}.host; echo \"$HOOK_ENV\" > {file}.env")],
        "env": ["HOOK_ENV=from-config"],
        "timeout": 5
    })
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path:?}: {e}: {text:?}"))
}

fn read_line(path: PathBuf) -> String {
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}")).trim().to_owned()
}

// ANCHOR: hooks
/// Every kind of hook runs at its step, with the state JSON on its stdin
/// (the container's ID, init's PID, the status of that step) and only its
/// own `env`: createRuntime in the runtime's namespaces (the host's name),
/// createContainer in the container's (its name) on the host's paths,
/// startContainer inside the container's root before the command (which
/// reads what the hook wrote), poststart once started, poststop once
/// deleted.
#[test]
fn hooks_run_at_each_step_with_the_state() {
    let Some(bundle) = Bundle::new("mini-runc hooks") else { return };
    let out = bundle.dir.join("out");
    let host_name = nix::unistd::gethostname().expect("hostname").to_string_lossy().into_owned();
    bundle.config("cat /tmp/startContainer.host > /tmp/seen-by-command", |c| {
        c["hostname"] = json!("box");
        c["hooks"] = json!({
            "createRuntime": [recorder(&out, "createRuntime")],
            "createContainer": [recorder(&out, "createContainer")],
            // Resolved in the container's root: busybox's sh, its /tmp.
            "startContainer": [recorder(Path::new("/tmp"), "startContainer")],
            "poststart": [recorder(&out, "poststart")],
            "poststop": [recorder(&out, "poststop")],
        });
    });
    let ran = bundle.verb(&["create", "h1"]);
    assert_eq!((ran.code, ran.stderr.as_str()), (0, ""), "create: {ran:?}");
    let pid = bundle.state("h1")["pid"].as_i64().expect("pid");
    assert!(!bundle.out("startContainer.json").exists());
    assert!(!bundle.out("poststart.json").exists(), "poststart ran before start");
    let ran = bundle.verb(&["start", "h1"]);
    assert_eq!((ran.code, ran.stderr.as_str()), (0, ""), "start: {ran:?}");
    bundle.wait_stopped("h1");
    assert!(!bundle.out("poststop.json").exists(), "poststop ran before delete");
    let ran = bundle.verb(&["delete", "h1"]);
    assert_eq!((ran.code, ran.stderr.as_str()), (0, ""), "delete: {ran:?}");

    let inside = bundle.path().join("rootfs/tmp");
    let steps = [
        ("createRuntime", out.clone(), "creating", pid, host_name.as_str()),
        ("createContainer", out.clone(), "creating", pid, "box"),
        ("startContainer", inside.clone(), "created", pid, "box"),
        ("poststart", out.clone(), "running", pid, host_name.as_str()),
        ("poststop", out.clone(), "stopped", 0, host_name.as_str()),
    ];
    let mut seen = Vec::new();
    for (step, dir, status, pid, name) in steps {
        let state = read_json(&dir.join(format!("{step}.json")));
        assert_eq!(state["id"], "h1", "{step}: {state}");
        assert_eq!(state["status"], status, "{step}: {state}");
        assert_eq!(state["pid"], pid, "{step}: {state}");
        assert_eq!(state["bundle"], bundle.path().display().to_string(), "{step}: {state}");
        assert_eq!(read_line(dir.join(format!("{step}.host"))), name, "{step}: its UTS namespace");
        assert_eq!(read_line(dir.join(format!("{step}.env"))), "from-config", "{step}: env");
        seen.push(format!("{step}: {status}, {}", if pid > 0 { "init's PID" } else { "pid 0" }));
    }
    assert_eq!(
        read_line(inside.join("seen-by-command")),
        "box",
        "startContainer before the command"
    );
    bundle.assert_empty();
    insta::assert_snapshot!(seen.join("\n"));
}
// ANCHOR_END: hooks

/// A createRuntime hook past its `timeout` is killed and stops the
/// create, and so does a failing createContainer hook (nothing left
/// behind); a failing poststart or poststop hook is only reported: the
/// verb succeeds.
#[test]
fn hook_timeouts_and_failures() {
    let Some(bundle) = Bundle::new("mini-runc hook failures") else { return };
    let slow = json!({"path": "/bin/sh", "args": ["sh", "-c", "exec sleep 60"], "timeout": 1});
    bundle.config("true", |c| c["hooks"] = json!({"createRuntime": [slow]}));
    let started = Instant::now();
    let ran = bundle.verb(&["create", "t1"]);
    assert_eq!(ran.code, 1, "{ran:?}");
    assert!(ran.stderr.contains("hooks.createRuntime[0] (/bin/sh)"), "{ran:?}");
    assert!(ran.stderr.contains("timeout"), "{ran:?}");
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
    bundle.assert_empty();

    let failing = json!({"path": "/bin/sh", "args": ["sh", "-c", "echo broken >&2; exit 7"]});
    // A failing createContainer hook, in the child: the create fails with
    // the hook's words, and the half-made container goes.
    bundle.config("true", |c| c["hooks"] = json!({"createContainer": [failing]}));
    let ran = bundle.verb(&["create", "t0"]);
    assert_eq!(ran.code, 1, "{ran:?}");
    assert!(
        ran.stderr.contains("hooks.createContainer[0] (/bin/sh): exit status: 7: broken"),
        "{ran:?}"
    );
    bundle.assert_empty();
    bundle.config("true", |c| c["hooks"] = json!({"poststart": [failing], "poststop": [failing]}));
    assert_eq!(bundle.verb(&["create", "t2"]).code, 0);
    let ran = bundle.verb(&["start", "t2"]);
    assert_eq!(ran.code, 0, "a poststart failure is not the start's: {ran:?}");
    assert!(ran.stderr.contains("warning: hooks.poststart[0]"), "{ran:?}");
    assert!(ran.stderr.contains("broken"), "{ran:?}");
    bundle.wait_stopped("t2");
    let ran = bundle.verb(&["delete", "t2"]);
    assert_eq!(ran.code, 0, "{ran:?}");
    assert!(ran.stderr.contains("warning: hooks.poststop[0]"), "{ran:?}");
    bundle.assert_empty();

    let relative = json!({"path": "sh"});
    bundle.config("true", |c| c["hooks"] = json!({"startContainer": [relative]}));
    bundle.assert_refused("hooks.startContainer[0].path");
}

// ANCHOR: devices
/// `linux.devices`: a character device and a FIFO made with mknod in the
/// container's `/dev` (a subdirectory too), with the type, numbers, mode
/// and owner the file asks for; the character device is /dev/null's
/// numbers, so writing to it works. In a user namespace, where mknod is
/// refused, the host's node is bind-mounted instead.
#[test]
fn device_nodes_are_made() {
    let Some(bundle) = Bundle::new("mini-runc devices") else { return };
    let script = "stat -c '%n %F %t:%T %a %u:%g' /dev/lab/null2 /dev/fifo0; \
                  echo hi > /dev/lab/null2 && echo writable";
    bundle.config(script, |c| {
        c["linux"]["devices"] = json!([
            {"path": "/dev/lab/null2", "type": "c", "major": 1, "minor": 3,
             "fileMode": 0o646, "uid": 1, "gid": 2},
            {"path": "/dev/fifo0", "type": "p", "fileMode": 0o600},
        ]);
    });
    let ran = bundle.run_container("v1");
    assert_eq!((ran.code, ran.stderr.as_str()), (0, ""), "{ran:?}");
    assert_eq!(
        ran.stdout,
        "/dev/lab/null2 character special file 1:3 646 1:2\n/dev/fifo0 fifo 0:0 600 0:0\nwritable\n"
    );

    // A user namespace (container root is host 100000): the host's
    // /dev/kmsg (1:11), bound.
    bundle.config("stat -c '%n %F %t:%T' /dev/kmsg", |c| {
        namespaces(c).push(json!({"type": "user"}));
        c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        c["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        c["linux"]["devices"] =
            json!([{"path": "/dev/kmsg", "type": "c", "major": 1, "minor": 11}]);
    });
    let ran = bundle.run_container("v2");
    assert_eq!((ran.code, ran.stderr.as_str()), (0, ""), "{ran:?}");
    assert_eq!(ran.stdout, "/dev/kmsg character special file 1:b\n");

    for bad in ["/etc/passwd", "/dev/../etc/x", "/dev", "/dev/./x"] {
        bundle.config("true", |c| {
            c["linux"]["devices"] = json!([{"path": bad, "type": "c", "major": 1, "minor": 3}]);
        });
        bundle.assert_refused("linux.devices[0]");
    }
    bundle.assert_empty();
}
// ANCHOR_END: devices

/// The first number of `/proc/uptime`, in seconds.
fn uptime(text: &str) -> f64 {
    text.split_whitespace()
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{text:?}"))
}

// ANCHOR: time
/// A `time` namespace with `linux.timeOffsets`: inside, `/proc/uptime`
/// (CLOCK_BOOTTIME) is ahead of the host's by the boottime offset, in the
/// command, in a process `exec` starts later, and in a second container
/// that joins the namespace by path; the host's is not moved.
/// Offsets without a time namespace are refused.
#[test]
fn time_namespace_moves_uptime() {
    let Some(bundle) = Bundle::new("mini-runc time namespace") else { return };
    const OFFSET: f64 = 10.0 * 365.0 * 86_400.0;
    bundle.config("cat /proc/uptime; exec sleep 30", |c| {
        namespaces(c).push(json!({"type": "time"}));
        c["linux"]["timeOffsets"] = json!({
            "boottime": {"secs": OFFSET as i64, "nanosecs": 0},
            "monotonic": {"secs": 86_400}
        });
    });
    let before = uptime(&std::fs::read_to_string("/proc/uptime").expect("uptime"));
    assert_eq!(bundle.verb(&["create", "u1"]).code, 0);
    let ran = bundle.verb(&["start", "u1"]);
    assert_eq!(ran.code, 0, "{ran:?}");
    let ran = bundle.verb(&["exec", "u1", "cat", "/proc/uptime"]);
    assert_eq!(ran.code, 0, "exec: {ran:?}");
    let after = uptime(&std::fs::read_to_string("/proc/uptime").expect("uptime"));
    let inside = uptime(&ran.stdout);
    assert!(
        inside >= before + OFFSET && inside <= after + OFFSET + 1.0,
        "exec's uptime {inside} is not the host's {before}..{after} plus {OFFSET}"
    );
    // A second container joins the first's time namespace by path (the
    // one for its first process's children, which that process entered at
    // its execve of the command).
    let init = bundle.state("u1")["pid"].as_i64().expect("pid");
    let path = format!("/proc/{init}/ns/time_for_children");
    bundle.config("cat /proc/uptime", |c| {
        namespaces(c).push(json!({"type": "time", "path": path}));
    });
    let ran = bundle.run_container("u2");
    assert_eq!(ran.code, 0, "joined by path: {ran:?}");
    assert!(uptime(&ran.stdout) >= before + OFFSET, "joined: {}", ran.stdout);
    assert_eq!(bundle.verb(&["delete", "--force", "u1"]).code, 0);
    // The command's own line, in create's output.
    let command = std::fs::read_dir(&bundle.dir)
        .expect("dir")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("stdout-"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .find(|t| t.split_whitespace().count() == 2 && uptime(t) > OFFSET)
        .expect("the command's /proc/uptime");
    assert!(uptime(&command) <= after + OFFSET + 1.0, "{command}");

    bundle.config("true", |c| c["linux"]["timeOffsets"] = json!({"boottime": {"secs": 5}}));
    bundle.assert_refused("linux.timeOffsets");
    bundle.assert_empty();
}
// ANCHOR_END: time

/// The directory of a cgroup in the hierarchy that holds a bundle's
/// container without limits: v1's pids hierarchy, or the unified one.
fn hierarchy() -> PathBuf {
    match Version::detect() {
        Version::V1 => PathBuf::from("/sys/fs/cgroup/pids"),
        Version::V2(mount) => mount,
    }
}

/// A cgroup this test makes and removes, for mini-runc to run in.
struct TestCgroup(PathBuf);

impl Drop for TestCgroup {
    fn drop(&mut self) {
        // Innermost first; each is empty once mini-runc has exited.
        let mut dirs: Vec<PathBuf> = vec![self.0.join("leaf").join("rel"), self.0.join("rel")];
        dirs.extend([self.0.join("leaf"), self.0.clone()]);
        for dir in dirs {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

// ANCHOR: cgroups
/// Without `linux.cgroupsPath` the container's cgroup is
/// `mini-runc/<id>` (mini-docker's containers are under `mini-docker/`);
/// a relative `cgroupsPath` is below the runtime's own cgroup (v1) or its
/// parent (v2), as runc's cgroupfs driver places it.
#[test]
fn where_the_cgroup_goes() {
    let Some(bundle) = Bundle::new("mini-runc cgroup placement") else { return };
    let hierarchy = hierarchy();
    let id = format!("g{}", std::process::id());
    bundle.config("exec sleep 30", |_| {});
    assert_eq!(bundle.verb(&["create", &id]).code, 0);
    let pid = bundle.state(&id)["pid"].as_i64().expect("pid");
    let dir = hierarchy.join("mini-runc").join(&id);
    let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
    assert_eq!(procs.trim(), pid.to_string(), "init in {dir:?}");
    assert!(!hierarchy.join("mini-docker").join(&id).exists(), "in the engine's parent");
    assert_eq!(bundle.verb(&["delete", "--force", &id]).code, 0);
    assert!(!dir.exists(), "{dir:?} left behind");

    // mini-runc run from a cgroup of the test's: `rel` lands below it.
    let own = TestCgroup(hierarchy.join(format!("mini-runc-test-own-{}", std::process::id())));
    std::fs::create_dir_all(own.0.join("leaf")).expect("the test's cgroup");
    bundle.config("exec sleep 30", |c| c["linux"]["cgroupsPath"] = json!("rel"));
    let procs = own.0.join("leaf/cgroup.procs");
    let mut cmd = Command::new("/bin/sh");
    cmd.args(["-c", "echo $$ > \"$0\" && exec \"$@\"", procs.to_str().expect("utf-8"), MINI_RUNC])
        .args(["--root", bundle.root.as_str(), "create", "r1"]);
    let ran = bundle.run_command(cmd);
    assert_eq!((ran.code, ran.stderr.as_str()), (0, ""), "create from {:?}: {ran:?}", own.0);
    let expected = match Version::detect() {
        Version::V1 => own.0.join("leaf/rel"),
        Version::V2(_) => own.0.join("rel"),
    };
    let pid = bundle.state("r1")["pid"].as_i64().expect("pid");
    let procs = std::fs::read_to_string(expected.join("cgroup.procs")).unwrap_or_default();
    assert_eq!(procs.trim(), pid.to_string(), "init in {expected:?}");
    assert_eq!(bundle.verb(&["delete", "--force", "r1"]).code, 0);
    assert!(!expected.exists(), "{expected:?} left behind");
    bundle.assert_empty();
}
// ANCHOR_END: cgroups

/// `annotations` are kept and shown by `state`.
#[test]
fn annotations_in_the_state() {
    let Some(bundle) = Bundle::new("mini-runc annotations") else { return };
    bundle.config("exec sleep 30", |c| {
        c["annotations"] = json!({"org.example.owner": "lab", "org.example.n": "1"});
    });
    assert_eq!(bundle.verb(&["create", "a1"]).code, 0);
    let state = bundle.state("a1");
    assert_eq!(state["annotations"], json!({"org.example.owner": "lab", "org.example.n": "1"}));
    assert_eq!(bundle.verb(&["delete", "--force", "a1"]).code, 0);
    bundle.assert_empty();
}

/// `sh -c SCRIPT` moved into the cgroup `dir` first; its output.
fn in_cgroup(dir: &Path, script: &str) -> String {
    let procs = dir.join("cgroup.procs");
    let mut child = Command::new("/bin/sh")
        .args(["-c", &format!("echo $$ > {} && {script}", procs.display())])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("sh");
    wait_bounded(&mut child, LIMIT);
    let mut text = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().expect("stdout"), &mut text)
        .expect("output");
    text
}

// ANCHOR: bpf
/// cgroup v2's device rules, a BPF program on the container's cgroup
/// (`cgroups/device_filter.rs`), through the v2 code that `create` runs on
/// a v2 host, on the host's cgroup2 tree (on a v1 host the one at
/// `/sys/fs/cgroup/unified`: a device program needs no controller). With
/// "deny all, then `c 1:3 r`", a process in the cgroup reads /dev/null,
/// may not write it, and may not read /dev/zero (1:5); in a cgroup without
/// the program, the same script may do all three.
#[test]
fn v2_device_rules_are_a_bpf_program() {
    let Some(_) = can_run("mini-runc v2 device rules", As::Root) else { return };
    let mount = match Version::detect() {
        Version::V2(mount) => mount,
        Version::V1 => PathBuf::from("/sys/fs/cgroup/unified"),
    };
    if !mount.join("cgroup.procs").exists() {
        nslab_tests::skip("mini-runc v2 device rules", "no cgroup2 hierarchy mounted");
        return;
    }
    let script = "cat /dev/null && echo read null; \
                  (echo x > /dev/null) 2>/dev/null && echo wrote null || echo write denied; \
                  (head -c1 /dev/zero > /dev/null) 2>/dev/null && echo read zero || echo zero denied";
    let mut outputs = Vec::new();
    for (name, rules) in [
        ("filtered", vec![(false, "a *:* rwm".to_owned()), (true, "c 1:3 r".to_owned())]),
        ("control", Vec::new()),
    ] {
        let path = format!("/mini-runc-test-bpf-{name}-{}", std::process::id());
        let limits =
            Limits { path: Some(path.clone().into()), devices: rules, ..Limits::default() };
        let record = |_: &Made| Ok(());
        mini_runc::cgroups::v2::create(&mount, "unused", &limits, &record).expect("v2 create");
        let dir = mount.join(path.trim_start_matches('/'));
        let output = in_cgroup(&dir, script);
        let _ = std::fs::remove_dir(&dir);
        assert!(!dir.exists(), "{dir:?} left behind");
        outputs.push(output);
    }
    assert_eq!(outputs[0], "read null\nwrite denied\nzero denied\n", "with the program");
    assert_eq!(outputs[1], "read null\nwrote null\nread zero\n", "without it");
}
// ANCHOR_END: bpf

// ANCHOR: masked-paths
/// `linux.maskedPaths` and `readonlyPaths` are covered as listed: a file
/// masked reads empty, a directory masked is empty, a path read-only
/// refuses writes, and a path the bundle does not list
/// (`/proc/interrupts`, in Docker's list) is not covered.
#[test]
fn masked_and_read_only_paths_as_listed() {
    let Some(bundle) = Bundle::new("mini-runc maskedPaths") else { return };
    let secret = bundle.path().join("rootfs/etc/secret");
    std::fs::create_dir_all(&secret).expect("dir");
    std::fs::write(secret.join("key"), "hidden\n").expect("file");
    std::fs::write(bundle.path().join("rootfs/etc/motd"), "hello\n").expect("file");
    let script = "wc -c < /proc/version; cat /etc/secret/key 2>/dev/null || echo gone; \
                  echo x 2>/dev/null > /tmp/x || echo read-only; cat /etc/motd; \
                  head -c 4 /proc/interrupts | wc -c";
    bundle.config(script, |c| {
        c["linux"]["maskedPaths"] = json!(["/proc/version", "/etc/secret"]);
        c["linux"]["readonlyPaths"] = json!(["/tmp"]);
    });
    let ran = bundle.run_container("m1");
    assert_eq!(ran.code, 0, "{ran:?}");
    assert_eq!(ran.stdout, "0\ngone\nread-only\nhello\n4\n", "{ran:?}");
    bundle.config("true", |c| c["linux"]["maskedPaths"] = json!(["/proc/../etc"]));
    bundle.assert_refused("linux.maskedPaths");
}
// ANCHOR_END: masked-paths

/// The `CapXxx:` lines of `/proc/self/status` as the command prints them.
fn cap_lines(stdout: &str) -> Vec<(String, u64)> {
    stdout
        .lines()
        .filter_map(|l| {
            let (name, hex) = l.strip_prefix("Cap")?.split_once(':')?;
            Some((name.to_owned(), u64::from_str_radix(hex.trim(), 16).ok()?))
        })
        .collect()
}

// ANCHOR: capability-sets
/// `process.capabilities` as five sets: a user other than root keeps
/// `CAP_NET_BIND_SERVICE` (bit 10) across execve through the ambient set,
/// so its effective, permitted, inheritable and ambient sets all hold that
/// one capability, and the bounding set is the bundle's. The kernel's rule
/// that ambient needs permitted and inheritable is checked before start.
#[test]
fn five_capability_sets() {
    let Some(bundle) = Bundle::new("mini-runc capabilities") else { return };
    let bind = 1u64 << 10;
    bundle.config("cat /proc/self/status", |c| {
        c["process"]["user"] = json!({ "uid": 1000, "gid": 1000 });
        c["process"]["capabilities"] = json!({
            "bounding": ["CAP_NET_BIND_SERVICE", "CAP_CHOWN"],
            "effective": ["CAP_NET_BIND_SERVICE"],
            "permitted": ["CAP_NET_BIND_SERVICE"],
            "inheritable": ["CAP_NET_BIND_SERVICE"],
            "ambient": ["CAP_NET_BIND_SERVICE"],
        });
    });
    let ran = bundle.run_container("c1");
    assert_eq!(ran.code, 0, "{ran:?}");
    let caps = cap_lines(&ran.stdout);
    let get = |name: &str| caps.iter().find(|(n, _)| n == name).map(|(_, v)| *v);
    assert_eq!(get("Inh"), Some(bind), "{caps:?}");
    assert_eq!(get("Prm"), Some(bind), "{caps:?}");
    assert_eq!(get("Eff"), Some(bind), "{caps:?}");
    assert_eq!(get("Amb"), Some(bind), "{caps:?}");
    assert_eq!(get("Bnd"), Some(bind | 1), "{caps:?}");
    // The control: without the ambient set, uid 1000 holds nothing.
    bundle.config("cat /proc/self/status", |c| {
        c["process"]["user"] = json!({ "uid": 1000, "gid": 1000 });
        c["process"]["capabilities"] = json!({
            "bounding": ["CAP_NET_BIND_SERVICE"], "effective": ["CAP_NET_BIND_SERVICE"],
            "permitted": ["CAP_NET_BIND_SERVICE"], "inheritable": ["CAP_NET_BIND_SERVICE"],
        });
    });
    let ran = bundle.run_container("c2");
    let caps = cap_lines(&ran.stdout);
    assert!(caps.iter().any(|(n, v)| n == "Eff" && *v == 0), "{caps:?}");
    bundle.config("true", |c| {
        c["process"]["capabilities"]["ambient"] = json!(["CAP_SYS_ADMIN"]);
    });
    bundle.assert_refused("process.capabilities.ambient");
}
// ANCHOR_END: capability-sets

// ANCHOR: propagation
/// `linux.rootfsPropagation`: the root mount's propagation, as mountinfo's
/// optional fields show it (proc(5)). The bundle sits in a shared mount on
/// the host (as under systemd), so the root, bound from the container's
/// copy of it, is by default its slave (`master:`), as under runc;
/// `runbindable` and `private` cut it off, `rslave` keeps it; a type that
/// does not exist is refused.
#[test]
fn rootfs_propagation() {
    let Some(bundle) = Bundle::new("mini-runc rootfsPropagation") else { return };
    let _shared = SharedMount::new(&bundle.path());
    let root_line = "cat /proc/self/mountinfo | while read -r id parent major root mnt rest; do \
                     [ \"$mnt\" = / ] && echo \"$rest\"; done; true";
    let mut seen = Vec::new();
    let asked = [None, Some("runbindable"), Some("private"), Some("rslave")];
    for (n, propagation) in asked.into_iter().enumerate() {
        bundle.config(root_line, |c| {
            if let Some(p) = propagation {
                c["linux"]["rootfsPropagation"] = json!(p);
            }
        });
        let ran = bundle.run_container(&format!("p{n}"));
        assert_eq!(ran.code, 0, "{ran:?}");
        seen.push(ran.stdout);
    }
    assert!(seen[0].contains("master:") && !seen[0].contains("shared:"), "{seen:?}");
    assert!(seen[1].contains("unbindable") && !seen[1].contains("master:"), "{seen:?}");
    assert!(!seen[2].contains("master:") && !seen[2].contains("shared:"), "{seen:?}");
    assert!(seen[3].contains("master:") && !seen[3].contains("shared:"), "{seen:?}");
    bundle.config("true", |c| c["linux"]["rootfsPropagation"] = json!("sideways"));
    bundle.assert_refused("linux.rootfsPropagation");
}
// ANCHOR_END: propagation

/// A directory of the test's, bound on itself and made shared on the host
/// (what systemd makes of `/`), so that a container's copies of it have a
/// master to follow and, were anything wrong, a peer to leak to. The
/// mount and whatever is below it go on drop.
struct SharedMount(PathBuf);

impl SharedMount {
    fn new(dir: &Path) -> SharedMount {
        use nix::mount::{MsFlags, mount};
        std::fs::create_dir_all(dir).expect("shared dir");
        mount(Some(dir), dir, None::<&str>, MsFlags::MS_BIND, None::<&str>).expect("bind");
        let guard = SharedMount(dir.to_owned());
        mount(None::<&str>, dir, None::<&str>, MsFlags::MS_SHARED, None::<&str>).expect("shared");
        guard
    }
}

impl Drop for SharedMount {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH);
    }
}

/// The mount points of `pid`'s namespace, as its root shows them, each
/// with its source (field 5, and the field after the filesystem type).
fn mount_points(pid: i64) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).expect("mountinfo");
    text.lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let point = left.split_whitespace().nth(4)?;
            Some((point.to_owned(), right.split_whitespace().nth(1)?.to_owned()))
        })
        .collect()
}

// ANCHOR: propagation-in-out
/// The direction of propagation: what the host mounts later below a bind
/// source reaches the container through an `rslave` or `rshared` bind, and
/// not through an `rprivate` one (the control); what the container mounts
/// (it holds CAP_SYS_ADMIN here), on its `shared` root or in its `rshared`
/// bind, never reaches the host, whose sources are shared mounts.
#[test]
fn propagation_reaches_in_never_out() {
    let Some(bundle) = Bundle::new("mini-runc propagation in and out") else { return };
    let _root = SharedMount::new(&bundle.path());
    let source = bundle.dir.join("source");
    let _source = SharedMount::new(&source);
    for dir in [source.join("in"), source.join("out"), bundle.path().join("rootfs/mnt")] {
        std::fs::create_dir_all(dir).expect("mount point");
    }
    let script = "mount -t tmpfs nslab-out-root /mnt && mount -t tmpfs nslab-out-bind /shared/out \
                  && exec sleep 30";
    let source_text = source.display().to_string();
    bundle.config(script, |c| {
        c["linux"]["rootfsPropagation"] = json!("shared");
        for set in ["bounding", "effective", "permitted"] {
            c["process"]["capabilities"][set]
                .as_array_mut()
                .expect(set)
                .push(json!("CAP_SYS_ADMIN"));
        }
        let mounts = c["mounts"].as_array_mut().expect("mounts");
        for kind in ["slave", "shared", "private"] {
            mounts.push(json!({ "destination": format!("/{kind}"), "type": "bind",
                                "source": source_text, "options": ["rbind", format!("r{kind}")] }));
        }
    });
    assert_eq!(bundle.verb(&["create", "s1"]).code, 0);
    assert_eq!(bundle.verb(&["start", "s1"]).code, 0);
    let init = bundle.state("s1")["pid"].as_i64().expect("pid");
    wait_for(|| mount_points(init).iter().any(|(_, source)| source == "nslab-out-bind"));
    nix::mount::mount(
        Some("nslab-in"),
        &source.join("in"),
        Some("tmpfs"),
        nix::mount::MsFlags::empty(),
        None::<&str>,
    )
    .expect("the host's mount below the source");
    let inside = mount_points(init);
    let has = |point: &str| inside.iter().any(|(p, s)| p == point && s == "nslab-in");
    assert!(has("/slave/in"), "rslave: the host's mount came in: {inside:?}");
    assert!(has("/shared/in"), "rshared: the host's mount came in: {inside:?}");
    assert!(!has("/private/in"), "rprivate: cut off from the host: {inside:?}");
    let host = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    assert!(!host.contains("nslab-out"), "a container's mount reached the host: {host}");
    let root = std::fs::read_to_string(format!("/proc/{init}/mountinfo")).expect("mountinfo");
    let root = root.lines().find(|l| l.split_whitespace().nth(4) == Some("/")).expect("root");
    assert!(root.contains("shared:") && root.contains("master:"), "{root}");
    assert_eq!(bundle.verb(&["delete", "--force", "s1"]).code, 0);
    bundle.assert_empty();
}
// ANCHOR_END: propagation-in-out

/// Waits (bounded) until `done` holds.
fn wait_for(done: impl Fn() -> bool) {
    let deadline = Instant::now() + LIMIT;
    while !done() {
        assert!(Instant::now() < deadline, "timed out");
        std::thread::sleep(Duration::from_millis(20));
    }
}

// ANCHOR: id-ranges
/// `linux.uidMappings` with two ranges, and `additionalGids`: the
/// namespace's `uid_map` has both lines, and the command runs with the
/// supplementary groups the bundle lists.
#[test]
fn id_ranges_and_supplementary_groups() {
    let Some(bundle) = Bundle::new("mini-runc uidMappings") else { return };
    // The bundle's files must belong to the mapped root to be usable.
    let script = "cat /proc/self/uid_map; cat /proc/self/gid_map; \
                  grep -E '^(Uid|Gid|Groups):' /proc/self/status";
    bundle.config(script, |c| {
        namespaces(c).push(json!({ "type": "user" }));
        let ranges = json!([
            { "containerID": 0, "hostID": 200000, "size": 1000 },
            { "containerID": 1000, "hostID": 300000, "size": 10 },
        ]);
        c["linux"]["uidMappings"] = ranges.clone();
        c["linux"]["gidMappings"] = ranges;
        c["process"]["user"] = json!({ "uid": 1000, "gid": 1000, "additionalGids": [5, 1001] });
    });
    let ran = bundle.run_container("u1");
    assert_eq!(ran.code, 0, "{ran:?}");
    let words: Vec<Vec<&str>> =
        ran.stdout.lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(words[0], ["0", "200000", "1000"], "{}", ran.stdout);
    assert_eq!(words[1], ["1000", "300000", "10"], "{}", ran.stdout);
    assert_eq!(words[4], ["Uid:", "1000", "1000", "1000", "1000"], "{}", ran.stdout);
    assert_eq!(words[6], ["Groups:", "5", "1000", "1001"], "{}", ran.stdout);
    bundle.config("true", |c| {
        namespaces(c).push(json!({ "type": "user" }));
        let ranges = json!([{ "containerID": 1, "hostID": 200000, "size": 10 }]);
        c["linux"]["uidMappings"] = ranges.clone();
        c["linux"]["gidMappings"] = ranges;
    });
    bundle.assert_refused("linux.uidMappings");
}
// ANCHOR_END: id-ranges

// ANCHOR: join-cgroup
/// A `cgroup` namespace joined by `path`: the second container is in the
/// first's (the same `/proc/self/ns/cgroup` link), not a new one.
#[test]
fn cgroup_namespace_joined_by_path() {
    let Some(bundle) = Bundle::new("mini-runc cgroup namespace path") else { return };
    bundle.config("exec sleep 30", |_| {});
    assert_eq!(bundle.verb(&["create", "g1"]).code, 0);
    assert_eq!(bundle.verb(&["start", "g1"]).code, 0);
    let init = bundle.state("g1")["pid"].as_i64().expect("pid");
    let first = std::fs::read_link(format!("/proc/{init}/ns/cgroup")).expect("ns link");
    let host = std::fs::read_link("/proc/self/ns/cgroup").expect("ns link");
    assert_ne!(first, host, "the first container has a cgroup namespace of its own");
    let path = format!("/proc/{init}/ns/cgroup");
    bundle.config("readlink /proc/self/ns/cgroup", |c| {
        namespaces(c).retain(|n| n["type"] != "cgroup");
        namespaces(c).push(json!({ "type": "cgroup", "path": path }));
    });
    let ran = bundle.run_container("g2");
    assert_eq!(ran.code, 0, "{ran:?}");
    assert_eq!(ran.stdout.trim(), first.display().to_string());
    assert_eq!(bundle.verb(&["delete", "--force", "g1"]).code, 0);
    bundle.assert_empty();
}
// ANCHOR_END: join-cgroup

/// A process of the test's own, `sleep` in new namespaces (`flags`, for
/// `unshare(2)`), which holds them for a bundle to join; a new mount
/// namespace is cut off from the host's peer groups first, as unshare(1)
/// does. Killed and reaped, by its PID, on drop.
struct Holder(std::process::Child);

impl Holder {
    fn new(flags: libc::c_int) -> Holder {
        use std::os::unix::process::CommandExt as _;
        let mut cmd = Command::new("sleep");
        cmd.arg("60").stdin(Stdio::null());
        // SAFETY: after fork, before exec: raw system calls only, no
        // allocation (the test process has other threads).
        unsafe {
            cmd.pre_exec(move || {
                if libc::unshare(flags) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                let private = (libc::MS_REC | libc::MS_PRIVATE) as libc::c_ulong;
                let null = std::ptr::null();
                if flags & libc::CLONE_NEWNS != 0
                    && libc::mount(null, c"/".as_ptr(), null, private, null.cast()) != 0
                {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        Holder(cmd.spawn().expect("a namespace holder"))
    }

    /// Its namespace of `kind`, as a path and as the link's text.
    fn namespace(&self, kind: &str) -> (String, String) {
        let path = format!("/proc/{}/ns/{kind}", self.0.id());
        let link = std::fs::read_link(&path).expect("ns link").display().to_string();
        (path, link)
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The user namespace that owns the namespace at `path`: `NS_GET_USERNS`
/// (ioctl_ns(2)) opens it; its link's text names it.
fn owner(path: &str) -> String {
    use std::os::fd::{AsRawFd as _, FromRawFd as _};
    let ns = File::open(path).expect("ns");
    // SAFETY: `_IO(0xb7, 0x1)` without an argument on an open namespace.
    let fd = unsafe { libc::ioctl(ns.as_raw_fd(), 0xb701 as _) };
    assert!(fd >= 0, "NS_GET_USERNS({path}): {}", std::io::Error::last_os_error());
    // SAFETY: a new descriptor the ioctl returned, owned by nothing else.
    let owner = unsafe { File::from_raw_fd(fd) };
    let link = std::fs::read_link(format!("/proc/self/fd/{}", owner.as_raw_fd()));
    link.expect("owner link").display().to_string()
}

// ANCHOR: join-user
/// A `user` namespace joined by `path`: the container is in it (the same
/// `/proc/self/ns/user` link), runs as its root through its map, and its
/// new namespaces belong to it (the UTS namespace's owner, and the
/// hostname its setup could set there); `exec` joins it too. No mappings
/// may come with it, and the runtime's own user namespace is refused.
#[test]
fn user_namespace_joined_by_path() {
    let Some(bundle) = Bundle::new("mini-runc user namespace path") else { return };
    let holder = Holder::new(libc::CLONE_NEWUSER);
    for file in ["uid_map", "gid_map"] {
        let path = format!("/proc/{}/{file}", holder.0.id());
        std::fs::write(&path, "0 200000 65536\n").expect("the holder's map");
    }
    let (path, link) = holder.namespace("user");
    let script =
        "readlink /proc/self/ns/user; id -u; cat /proc/self/uid_map; hostname; exec sleep 30";
    bundle.config(script, |c| {
        c["hostname"] = json!("joined");
        namespaces(c).push(json!({ "type": "user", "path": path }));
    });
    assert_eq!(bundle.verb(&["create", "j1"]).code, 0);
    let started = bundle.verb(&["start", "j1"]);
    assert_eq!(started.code, 0, "{started:?}");
    let init = bundle.state("j1")["pid"].as_i64().expect("pid");
    assert_eq!(owner(&format!("/proc/{init}/ns/uts")), link, "the UTS namespace's owner");
    assert_eq!(owner(&format!("/proc/{init}/ns/mnt")), link, "the mount namespace's owner");
    let exec = bundle.verb(&["exec", "j1", "sh", "-c", "readlink /proc/self/ns/user; id -u"]);
    assert_eq!(exec.code, 0, "{exec:?}");
    assert_eq!(exec.stdout, format!("{link}\n0\n"));
    assert_eq!(bundle.verb(&["delete", "--force", "j1"]).code, 0);
    bundle.config("readlink /proc/self/ns/user; id -u; cat /proc/self/uid_map; hostname", |c| {
        c["hostname"] = json!("joined");
        namespaces(c).push(json!({ "type": "user", "path": path }));
    });
    let ran = bundle.run_container("j2");
    assert_eq!((ran.code, ran.stderr.as_str()), (0, ""), "{ran:?}");
    let lines: Vec<&str> = ran.stdout.lines().collect();
    assert_eq!(lines[0], link, "in the joined namespace: {ran:?}");
    assert_eq!(lines[1], "0", "its root: {ran:?}");
    assert_eq!(lines[2].split_whitespace().collect::<Vec<_>>(), ["0", "200000", "65536"]);
    assert_eq!(lines[3], "joined", "set in a UTS namespace the joined one owns: {ran:?}");
    bundle.config("true", |c| {
        namespaces(c).push(json!({ "type": "user", "path": path }));
        let map = json!([{ "containerID": 0, "hostID": 200000, "size": 65536 }]);
        c["linux"]["uidMappings"] = map.clone();
        c["linux"]["gidMappings"] = map;
    });
    bundle.assert_refused("linux.uidMappings");
    bundle.config("true", |c| {
        namespaces(c).push(json!({ "type": "user", "path": "/proc/self/ns/user" }));
    });
    bundle.assert_refused("linux.namespaces (user).path");
    bundle.assert_empty();
}
// ANCHOR_END: join-user

// ANCHOR: join-mount
/// A `mount` namespace joined by `path`: the container is in it (the same
/// `/proc/self/ns/mnt` link) and its root was built and pivoted there:
/// the holder, whose root was the old one, now has the bundle's root as
/// its `/` (pivot_root(2) moves every process of the namespace), while
/// the host's mount table never held it. The host's own mount namespace,
/// a namespace of another type, and a bundle without any mount namespace
/// are refused.
#[test]
fn mount_namespace_joined_by_path() {
    let Some(bundle) = Bundle::new("mini-runc mount namespace path") else { return };
    let holder = Holder::new(libc::CLONE_NEWNS);
    let (path, link) = holder.namespace("mnt");
    let joined = |c: &mut Value, path: &str| {
        namespaces(c).retain(|n| n["type"] != "mount");
        namespaces(c).push(json!({ "type": "mount", "path": path }));
    };
    bundle.config("readlink /proc/self/ns/mnt", |c| joined(c, &path));
    let ran = bundle.run_container("m1");
    assert_eq!((ran.code, ran.stderr.as_str()), (0, ""), "{ran:?}");
    assert_eq!(ran.stdout.trim(), link, "in the joined namespace");
    let rootfs = bundle.path().join("rootfs").display().to_string();
    let mountinfo = std::fs::read_to_string(format!("/proc/{}/mountinfo", holder.0.id()));
    let mountinfo = mountinfo.expect("the holder's mountinfo");
    let root = mountinfo.lines().find(|l| l.split_whitespace().nth(4) == Some("/"));
    assert_eq!(
        root.and_then(|l| l.split_whitespace().nth(3)),
        Some(rootfs.as_str()),
        "{mountinfo}"
    );
    let host = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    assert!(!host.contains(&rootfs), "the container's root is on the host: {host}");
    bundle.assert_empty();
    bundle.config("true", |c| joined(c, "/proc/self/ns/mnt"));
    bundle.assert_refused("linux.namespaces (mount).path");
    bundle.config("true", |c| joined(c, &holder.namespace("user").0));
    bundle.assert_refused("linux.namespaces (mount).path");
    bundle.config("true", |c| namespaces(c).retain(|n| n["type"] != "mount"));
    bundle.assert_refused("linux.namespaces");
}
// ANCHOR_END: join-mount

// ANCHOR: bind-options
/// A bind mount's options: `bind` takes the one mount, `rbind` the mounts
/// below it too (the host's `/sys` has `/sys/fs/cgroup` mounted below it);
/// `unbindable` shows in mountinfo, `rprivate` leaves no tag (see
/// [`propagation_reaches_in_never_out`] for `rslave` and `rshared`); an
/// option that does not exist is refused.
#[test]
fn bind_mount_options() {
    let Some(bundle) = Bundle::new("mini-runc bind options") else { return };
    let script = "ls /a/fs/cgroup | wc -l; ls /b/fs/cgroup | wc -l; \
                  cat /proc/self/mountinfo | while read -r id parent major root mnt rest; do \
                  case $mnt in /a|/b) echo \"$mnt $rest\";; esac; done; true";
    bundle.config(script, |c| {
        let mounts = c["mounts"].as_array_mut().expect("mounts");
        mounts.push(json!({ "destination": "/a", "type": "bind", "source": "/sys",
                            "options": ["bind", "ro", "unbindable"] }));
        mounts.push(json!({ "destination": "/b", "type": "bind", "source": "/sys",
                            "options": ["rbind", "ro", "rprivate"] }));
    });
    let ran = bundle.run_container("b1");
    assert_eq!(ran.code, 0, "{ran:?}");
    let lines: Vec<&str> = ran.stdout.lines().collect();
    assert_eq!(lines[0], "0", "bind: no submount of /sys comes along: {ran:?}");
    assert_ne!(lines[1], "0", "rbind: /sys/fs/cgroup comes along: {ran:?}");
    let line = |mnt: &str| lines.iter().find(|l| l.starts_with(&format!("{mnt} "))).copied();
    assert!(line("/a").is_some_and(|l| l.contains("unbindable")), "{ran:?}");
    assert!(
        line("/b").is_some_and(|l| !l.contains("shared:") && !l.contains("master:")),
        "{ran:?}"
    );
    bundle.config("true", |c| {
        let mounts = c["mounts"].as_array_mut().expect("mounts");
        mounts.push(json!({ "destination": "/a", "type": "bind", "source": "/sys",
                            "options": ["rbind", "sideways"] }));
    });
    bundle.assert_refused("mounts[");
}
// ANCHOR_END: bind-options

// ANCHOR: rlimits
/// `process.rlimits` are the container's, not the runtime's: with files
/// limited to 0 bytes the command sees the limit (`ulimit -f`, read
/// through a pipe, which the limit does not cover), while `mini-runc run`
/// itself still writes its state and cleans up; set on the runtime, the
/// limit would kill it with SIGXFSZ at its first write (exit 153) and
/// leave its state directory behind.
#[test]
fn rlimits_are_the_containers_own() {
    let Some(bundle) = Bundle::new("mini-runc rlimits") else { return };
    bundle.config(r#"[ "$(ulimit -f)" = 0 ]"#, |c| {
        c["process"]["rlimits"] = json!([{ "type": "RLIMIT_FSIZE", "soft": 0, "hard": 0 }]);
    });
    let ran = bundle.run_container("r1");
    assert_eq!(ran.code, 0, "the command saw its limit, the runtime was not held to it: {ran:?}");
    bundle.assert_empty();
}
// ANCHOR_END: rlimits
