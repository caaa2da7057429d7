//! mini-docker end to end: real containers, as root and rootless.
//!
//! Each test gets its own scratch directory (state root, volumes, a
//! world-readable copy of the binaries so uid 65534 can run them) and
//! removes it at the end; every run is bounded in time. The `probe` binary
//! is bind-mounted into the container and reports what it sees; the test
//! compares that with what the test process itself sees on the host.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use nslab_tests::mini_docker::{LIMIT, Lab, chmod};
use nslab_tests::{As, skip};
use serde_json::{Value, json};

/// The binaries each lab copies: mini-docker, and the probe it mounts.
const BINARIES: [&str; 2] = [env!("CARGO_BIN_EXE_mini-docker"), env!("CARGO_BIN_EXE_probe")];

fn strings(v: &Value) -> Vec<&str> {
    v.as_array().expect("array").iter().map(|s| s.as_str().expect("string")).collect()
}

/// The host's mount table, but the mounts Docker and podman make for
/// their own containers (an overlay under /var/lib/docker or
/// /var/lib/containers, a network namespace under /run/docker or
/// /run/netns): other tests, or anyone, start those while this one runs.
/// A mount mini-docker left behind would be anywhere else (its state
/// directory, the container's root).
fn host_mounts() -> String {
    let table = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    let theirs = ["/var/lib/docker/", "/var/lib/containers/", "/run/docker/", "/run/netns/"];
    table
        .lines()
        .filter(|line| {
            let target = line.split(' ').nth(4).unwrap_or_default();
            !theirs.iter().any(|dir| target.starts_with(dir))
        })
        .map(|line| format!("{line}\n"))
        .collect()
}

/// The host's namespace links, as the test process sees them.
fn host_ns(name: &str) -> String {
    std::fs::read_link(format!("/proc/self/ns/{name}")).expect("ns link").display().to_string()
}

/// Rootless, the default network is pasta where it can run, else `none`
/// with a note on stderr (see `mini_docker_pasta.rs`): the tests of other
/// matters ask for `none`, so that their output is the same on every host.
fn no_network(who: As) -> &'static [&'static str] {
    match who {
        As::Root => &[],
        As::Rootless => &["--network", "none"],
    }
}

/// `run`, then `options`, then `rest`.
fn run_args<'a>(options: &[&'a str], rest: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["run"];
    args.extend_from_slice(options);
    args.extend_from_slice(rest);
    args
}

fn hello(who: As) {
    let Some(lab) = Lab::new("mini-docker run host", who, &BINARIES) else { return };
    let ran = lab.run(&run_args(no_network(who), &["--rm", "host", "sh", "-c", "echo hi"]));
    assert_eq!((ran.code, ran.stdout.as_str(), ran.stderr.as_str()), (0, "hi\n", ""));
    assert!(lab.state_entries().is_empty(), "--rm left {:?}", lab.state_entries());
}

/// What the probe sees inside, against what the test sees on the host.
fn isolation(who: As) {
    let Some(lab) = Lab::new("mini-docker isolation", who, &BINARIES) else { return };
    let mut options = vec!["--hostname", "box"];
    options.extend_from_slice(no_network(who));
    let inside = lab.probe(&options);
    assert_eq!(inside["hostname"], "box");
    assert_eq!(inside["pid"], 1, "the command is PID 1, as under Docker");
    assert_eq!(inside["ppid"], 0, "its parent is outside the PID namespace");
    assert_eq!(inside["uid"], 0);
    let mut differ = Vec::new();
    for ns in ["cgroup", "ipc", "mnt", "net", "pid", "user", "uts"] {
        if inside["namespaces"][ns].as_str().expect("ns") != host_ns(ns) {
            differ.push(ns);
        }
    }
    let expected = match who {
        As::Root => vec!["cgroup", "ipc", "mnt", "net", "pid", "uts"],
        As::Rootless => vec!["cgroup", "ipc", "mnt", "net", "pid", "user", "uts"],
    };
    assert_eq!(differ, expected, "namespaces that differ from the host's");
    // Rootless: the user is root inside, and its /etc/subuid range (CI
    // gives uid 65534 one) the other IDs.
    let uid_map = match who {
        As::Root => vec!["0 0 4294967295".to_owned()],
        As::Rootless => nslab_tests::rootless_id_map(lab.host_uid, false),
    };
    assert_eq!(strings(&inside["uid_map"]), uid_map);
    // A new network namespace; as root, Docker's default: on the bridge;
    // rootless, --network none (pasta is mini_docker_pasta.rs's).
    let interfaces = match who {
        As::Root => vec!["eth0", "lo"],
        As::Rootless => vec!["lo"],
    };
    assert_eq!(strings(&inside["interfaces"]), interfaces, "a new network namespace");
    assert_eq!(strings(&inside["cgroup"]).iter().filter(|l| !l.ends_with(":/")).count(), 0);
    // The root is the image: the host's own top-level directories are not there.
    let root = strings(&inside["root_entries"]);
    for present in ["usr", "etc", "proc", "dev", "probe"] {
        assert!(root.contains(&present), "{present} missing from / {root:?}");
    }
    assert!(
        !root.contains(&"work") && !root.contains(&"tmp-not-there"),
        "host files in / {root:?}"
    );
    let mounts = inside["mounts"].as_array().expect("mounts");
    let mount = |target: &str| mounts.iter().find(|m| m["target"] == target);
    assert_eq!(mount("/").expect("/")["fstype"], "overlay");
    for (target, fstype) in
        [("/proc", "proc"), ("/sys", "sysfs"), ("/dev", "tmpfs"), ("/dev/pts", "devpts")]
    {
        assert_eq!(mount(target).unwrap_or_else(|| panic!("no {target}"))["fstype"], fstype);
    }
    for ro in ["/sys", "/usr", "/probe"] {
        let options = mount(ro).expect("mount")["options"].as_str().expect("options");
        assert!(options.starts_with("ro"), "{ro} is {options}");
    }

    // The snapshot: the mount table as the container sees it (file systems
    // of the host's own mounts vary from machine to machine).
    let mine = ["overlay", "proc", "sysfs", "tmpfs", "devpts", "mqueue"];
    let mut text = format!(
        "hostname {}\npid {} ppid {}\nuid_map {}\ninterfaces {}\nnamespaces differing from the host's: {}\nmounts:\n",
        inside["hostname"].as_str().unwrap_or(""),
        inside["pid"],
        inside["ppid"],
        strings(&inside["uid_map"])
            .iter()
            .map(|line| match line.split(' ').collect::<Vec<_>>()[..] {
                ["1", _, _] => "1 [SUBORDINATE_FIRST] [SUBORDINATE_COUNT]".to_owned(),
                _ => line.replace(&lab.host_uid.to_string(), "[HOST_UID]"),
            })
            .collect::<Vec<_>>()
            .join(", "),
        strings(&inside["interfaces"]).join(" "),
        differ.join(" "),
    );
    for m in mounts {
        let target = m["target"].as_str().unwrap_or("");
        // The container's cgroups: one cgroup2 mount, or (cgroup v1) a
        // tmpfs with one mount per hierarchy, which vary from host to host.
        if target.starts_with("/sys/fs/cgroup/") {
            continue;
        }
        let fstype = m["fstype"].as_str().unwrap_or("");
        let fstype = match fstype {
            _ if target == "/sys/fs/cgroup" => "[CGROUPS]",
            _ if mine.contains(&fstype) => fstype,
            _ => "[HOST_FS]",
        };
        let access = m["options"].as_str().unwrap_or("").split(',').next().unwrap_or("");
        text += &format!("  {:<20} {fstype:<10} {access}\n", m["target"].as_str().unwrap_or(""));
    }
    insta::assert_snapshot!(format!("isolation-{}", who.word()), text);
}

/// Docker's exit codes, one clear line for each runtime error.
fn exit_codes(who: As) {
    let Some(lab) = Lab::new("mini-docker exit codes", who, &BINARIES) else { return };
    let long = "h".repeat(65);
    let cases: [(&[&str], i32, &str); 12] = [
        (&["run", "--rm", "host", "true"], 0, ""),
        (&["run", "--rm", "host", "sh", "-c", "exit 1"], 1, ""),
        // A shell as PID 1 has no handler for SIGTERM: the kernel drops it
        // (pid_namespaces(7)), as under `docker run`; behind --init's
        // reaper the shell is PID 2, and SIGTERM ends it: 128 + 15.
        (&["run", "--rm", "host", "sh", "-c", "kill -TERM $$"], 0, ""),
        (&["run", "--rm", "--init", "host", "sh", "-c", "kill -TERM $$"], 143, ""),
        (&["run", "--rm", "host", "no-such-command"], 127, "executable file not found"),
        (&["run", "--rm", "host", "/etc/passwd"], 126, "EACCES"),
        (&["run", "--rm", "no-such-image", "true"], 125, "unknown image \"no-such-image\""),
        (&["run", "--rm", "-v", "/tmp", "host", "true"], 125, "malformed volume \"/tmp\""),
        (
            &["run", "--rm", "-v", "/tmp:data", "host", "true"],
            125,
            "volume target \"data\" is relative",
        ),
        (&["run", "--rm", "--hostname", &long, "host", "true"], 125, "longer than 64 bytes"),
        (&["run", "--no-such-flag", "host", "true"], 125, "'--no-such-flag'"),
        (&["run", "--rm", "./no-such-dir", "true"], 125, "image directory \"./no-such-dir\""),
    ];
    for (args, code, message) in cases {
        let args = run_args(no_network(who), &args[1..]);
        let ran = lab.run(&args);
        assert_eq!(ran.code, code, "{args:?}: {}", ran.stderr);
        if (125..=127).contains(&code) {
            ran.assert_refused(code, message);
        }
        assert!(lab.state_entries().is_empty(), "{args:?} left {:?}", lab.state_entries());
    }
}

/// A volume is the same directory on both sides; `:ro` and `--read-only` refuse writes.
fn volumes_and_read_only(who: As) {
    let Some(lab) = Lab::new("mini-docker volumes", who, &BINARIES) else { return };
    let shared = lab.scratch("shared");
    std::fs::write(shared.join("from-host"), "hello from the host\n").expect("write");
    let rw = format!("{}:/data", shared.display());
    let ran = lab.run(&[
        "run",
        "--rm",
        "-v",
        &rw,
        "host",
        "sh",
        "-c",
        "cat /data/from-host && echo back > /data/from-container",
    ]);
    assert_eq!((ran.code, ran.stdout.as_str()), (0, "hello from the host\n"), "{}", ran.stderr);
    assert_eq!(std::fs::read_to_string(shared.join("from-container")).expect("read"), "back\n");

    let ro = format!("{}:/data:ro", shared.display());
    let ran = lab.run(&["run", "--rm", "-v", &ro, "host", "sh", "-c", "echo x > /data/nope"]);
    assert_ne!(ran.code, 0);
    assert!(ran.stderr.contains("Read-only file system"), "{}", ran.stderr);
    assert!(!shared.join("nope").exists());

    let ran = lab.run(&["run", "--rm", "--read-only", "host", "touch", "/x"]);
    assert_eq!(ran.code, 1);
    assert!(ran.stderr.contains("Read-only file system"), "{}", ran.stderr);
    let ran = lab.run(&["run", "--rm", "host", "sh", "-c", "touch /x && touch /usr/x"]);
    assert_eq!(ran.code, 1, "the root is writable, the host's /usr is not");
    assert!(ran.stderr.contains("/usr/x") && ran.stderr.contains("Read-only"), "{}", ran.stderr);
    assert!(lab.state_entries().is_empty());
}

// ANCHOR: bundle
/// `run` writes the container's settings as an OCI `config.json` in its
/// state directory (the bundle), which `inspect` shows; each flag is in the
/// field the OCI runtime specification gives it, and the container gets
/// what the file says.
fn bundle(who: As) {
    let Some(lab) = Lab::new("mini-docker bundle", who, &BINARIES) else { return };
    let shared = lab.scratch("shared");
    let volume = format!("{}:/data:ro", shared.display());
    // Rootless, the container has one ID mapped: its root.
    let (user, uid) = if who == As::Root { ("1000:1000", 1000) } else { ("0:0", 0) };
    let mut flags = vec!["--net", "none", "-e", "GREETING=hi", "-u", user, "-w", "/tmp"];
    flags.extend(["--hostname", "box", "-v", &volume, "--read-only", "--cap-drop", "NET_RAW"]);
    if who == As::Root {
        flags.extend(["--pids-limit", "50"]);
    }
    let script = r#"echo "$(id -u):$(id -g) $(hostname) $(pwd) $GREETING""#;
    let ran = lab.run(&lab.run_args(&[&["--rm"], &flags[..]].concat(), &["sh", "-c", script]));
    let expected = format!("{uid}:{uid} box /tmp hi\n");
    assert_eq!((ran.code, ran.stdout.as_str()), (0, expected.as_str()), "{}", ran.stderr);

    let ran =
        lab.run(&lab.run_args(&[&["-d", "--name", "b"], &flags[..]].concat(), &["sleep", "30"]));
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let id = ran.stdout.trim().to_owned();
    let inspected: Value = serde_json::from_str(&lab.run(&["inspect", "b"]).stdout).expect("json");
    let config = &inspected[0]["bundle"]["config"];
    let on_disk = std::fs::read_to_string(lab.state().join(&id).join("config.json")).expect("file");
    assert_eq!(&serde_json::from_str::<Value>(&on_disk).expect("config.json"), config);
    let process = &config["process"];
    assert_eq!(strings(&process["args"]), ["sleep", "30"]);
    assert!(strings(&process["env"]).contains(&"GREETING=hi"), "{process}");
    assert_eq!((&process["user"]["uid"], &process["user"]["gid"]), (&uid.into(), &uid.into()));
    assert_eq!((&process["cwd"], &config["hostname"]), (&"/tmp".into(), &"box".into()));
    let bounding = strings(&process["capabilities"]["bounding"]);
    assert!(bounding.contains(&"CAP_CHOWN") && !bounding.contains(&"CAP_NET_RAW"), "{bounding:?}");
    for set in ["inheritable", "ambient"] {
        assert!(process["capabilities"][set].is_null(), "Docker gives no {set} set: {process}");
    }
    assert_eq!(config["root"]["readonly"], true);
    let root = lab.state().join(&id).join("rootfs");
    assert_eq!(config["root"]["path"], root.display().to_string());
    let data =
        config["mounts"].as_array().expect("mounts").iter().find(|m| m["destination"] == "/data");
    let data = data.expect("the volume is a mount");
    assert_eq!(
        (&data["type"], &data["source"]),
        (&"bind".into(), &shared.display().to_string().into())
    );
    assert_eq!(strings(&data["options"]), ["rbind", "ro", "rprivate"]);
    let linux = &config["linux"];
    let kinds: Vec<&str> = linux["namespaces"]
        .as_array()
        .expect("ns")
        .iter()
        .map(|n| n["type"].as_str().expect("type"))
        .collect();
    for kind in ["mount", "cgroup", "pid", "network", "ipc", "uts"] {
        assert!(kinds.contains(&kind), "{kind} missing from {kinds:?}");
    }
    assert_eq!(kinds.contains(&"user"), who == As::Rootless, "{kinds:?}");
    // The default seccomp profile, written out: an allow-list (EPERM for
    // what it does not name, keyctl among them), settled for this
    // container's capabilities (no includes/excludes left).
    let seccomp = &linux["seccomp"];
    assert_eq!(
        (&seccomp["defaultAction"], &seccomp["defaultErrnoRet"]),
        (&json!("SCMP_ACT_ERRNO"), &json!(1))
    );
    let rules = seccomp["syscalls"].as_array().expect("syscalls");
    let named = |name: &str| {
        rules.iter().any(|rule| {
            rule["names"].as_array().is_some_and(|names| names.iter().any(|n| n == name))
        })
    };
    assert!(named("read") && !named("keyctl") && !named("mount"), "{seccomp}");
    assert!(rules.iter().all(|rule| rule["includes"].is_null() && rule["excludes"].is_null()));
    if who == As::Root {
        assert_eq!(linux["resources"]["pids"]["limit"], 50);
        assert_eq!(linux["cgroupsPath"], format!("/mini-docker/{id}"));
    } else {
        assert_eq!(linux["uidMappings"][0]["containerID"], 0, "{linux}");
    }
    if who == As::Root {
        insta::assert_snapshot!("bundle-config", readable(config, &id, &lab));
    }
    assert_eq!(lab.run(&["rm", "-f", "b"]).code, 0);
    assert!(lab.state_entries().is_empty());
}

/// The bundle's `config.json` for the book: the container's ID and the
/// lab's paths redacted, and the seccomp profile's rules summed up in one
/// line each (the whole list is Docker's, and long: the allow-list's first
/// names and their count).
fn readable(config: &Value, id: &str, lab: &Lab) -> String {
    let mut config = config.clone();
    // A set, written in no particular order.
    if let Some(sets) = config["process"]["capabilities"].as_object_mut() {
        for set in sets.values_mut() {
            if let Some(list) = set.as_array_mut() {
                list.sort_by_key(|cap| cap.to_string());
            }
        }
    }
    // A map, written in no particular order either (oci-spec's HashMap).
    if let Some(sysctl) = config["linux"]["sysctl"].as_object_mut() {
        let sorted: std::collections::BTreeMap<String, Value> =
            std::mem::take(sysctl).into_iter().collect();
        sysctl.extend(sorted);
    }
    if let Some(rules) = config["linux"]["seccomp"]["syscalls"].as_array_mut() {
        for rule in rules.iter_mut() {
            // The allow-list's long rule: its first names and its length.
            let all = strings(&rule["names"]);
            let names = match all.len() {
                n if n > 8 => format!("{} … ({n} names)", all[..6].join(" ")),
                _ => all.join(" "),
            };
            let action = rule["action"].as_str().unwrap_or_default().to_owned();
            let args = if rule["args"].is_null() { "" } else { " (when an argument matches)" };
            *rule = Value::from(format!("{names}: {action}{args}"));
        }
    }
    compact(&config, 0)
        .replace(id, "[ID]")
        .replace(&lab.state().display().to_string(), "[STATE]")
        .replace(&lab.scratch("shared").display().to_string(), "[VOLUME]")
        .replace(&lab.probe_volume().split(':').next().unwrap_or_default().to_string(), "[PROBE]")
}

/// JSON as `to_string_pretty` writes it, but an array of short plain values
/// (a list of capabilities, a mount's options) or a small object of plain
/// values on one line.
fn compact(value: &Value, indent: usize) -> String {
    let plain = |v: &Value| !v.is_array() && !v.is_object();
    let short = |v: &Value| plain(v) && v.to_string().len() <= 32;
    let pad = "  ".repeat(indent + 1);
    match value {
        Value::Array(items) if items.iter().all(short) => {
            serde_json::to_string(value).expect("json").replace(",", ", ")
        }
        Value::Object(map) if map.values().all(plain) && map.len() <= 4 => {
            let fields: Vec<String> = map.iter().map(|(k, v)| format!("{k:?}: {v}")).collect();
            format!("{{ {} }}", fields.join(", "))
        }
        Value::Array(items) => {
            let items: Vec<String> =
                items.iter().map(|v| format!("{pad}{}", compact(v, indent + 1))).collect();
            format!("[\n{}\n{}]", items.join(",\n"), "  ".repeat(indent))
        }
        Value::Object(map) => {
            let fields: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{pad}{k:?}: {}", compact(v, indent + 1)))
                .collect();
            format!("{{\n{}\n{}}}", fields.join(",\n"), "  ".repeat(indent))
        }
        plain => plain.to_string(),
    }
}
// ANCHOR_END: bundle

/// A directory as the image: busybox-static as the only program.
fn directory_image(who: As) {
    let test = "mini-docker directory image";
    let Some(lab) = Lab::new(test, who, &BINARIES) else { return };
    let busybox = Path::new("/bin/busybox");
    if !busybox.is_file() {
        return skip(test, "needs /bin/busybox (apt-get install busybox-static)");
    }
    let rootfs = lab.dir.join("rootfs");
    std::fs::create_dir_all(rootfs.join("bin")).expect("mkdir");
    std::fs::copy(busybox, rootfs.join("bin/busybox")).expect("copy busybox");
    std::os::unix::fs::symlink("busybox", rootfs.join("bin/sh")).expect("symlink");
    // A hostile link: a volume on /escape/inside must land in the image's
    // /tmp, not the host's.
    std::fs::create_dir(rootfs.join("tmp")).expect("mkdir");
    std::os::unix::fs::symlink("/../../../../tmp", rootfs.join("escape")).expect("symlink");
    for d in [&rootfs, &rootfs.join("bin"), &rootfs.join("tmp")] {
        chmod(d, 0o755);
    }
    // A rootless user's image is theirs: in its user namespace, files of
    // unmapped owners cannot be copied up into the container's layer.
    for p in ["", "bin", "bin/busybox", "bin/sh", "tmp", "escape"] {
        std::os::unix::fs::lchown(rootfs.join(p), Some(lab.host_uid), Some(lab.host_uid))
            .expect("chown");
    }
    let shared = lab.scratch("shared");
    let volume = format!("{}:/escape/inside", shared.display());
    let image = rootfs.display().to_string();
    let ran = lab.run(&[
        "run",
        "--rm",
        "-v",
        &volume,
        &image,
        "/bin/sh",
        "-c",
        "echo new > /written; ls /; busybox ls /tmp",
    ]);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let listing: Vec<&str> = ran.stdout.lines().collect();
    assert_eq!(listing, ["bin", "dev", "escape", "etc", "proc", "sys", "tmp", "written", "inside"]);
    assert!(!rootfs.join("written").exists(), "the image was written to");
    assert!(!Path::new("/tmp/inside").exists(), "the volume escaped the root");
    let mut left: Vec<_> =
        std::fs::read_dir(&rootfs).expect("ls").map(|e| e.expect("e").file_name()).collect();
    left.sort();
    assert_eq!(left, ["bin", "escape", "tmp"], "the image is unchanged");
    assert_eq!(std::fs::read_dir(rootfs.join("tmp")).expect("ls").count(), 0);
}

// ANCHOR: pid1-signals
/// SIGTERM and SIGINT to `mini-docker run`, which passes them on to the
/// container's PID 1. `sleep` as PID 1 has no handler for them, so the
/// kernel drops them (pid_namespaces(7)) and it sleeps on, as under
/// `docker run`; behind `--init`'s reaper `sleep` is PID 2, and the signal
/// ends it: 128 + N.
fn signals(who: As) {
    let Some(lab) = Lab::new("mini-docker SIGTERM", who, &BINARIES) else { return };
    let started = || {
        let start = Instant::now();
        while lab.state_entries().is_empty() {
            assert!(start.elapsed() < LIMIT, "the container never started");
            std::thread::sleep(Duration::from_millis(5));
        }
        // Let the container get to its command before the signal.
        std::thread::sleep(Duration::from_millis(300));
        start
    };
    for (signal, status) in [(nix::sys::signal::SIGTERM, 143), (nix::sys::signal::SIGINT, 130)] {
        let running = lab.spawn(&["run", "--rm", "--init", "host", "sleep", "60"]);
        let start = started();
        nix::sys::signal::kill(running.pid(), signal).expect("kill");
        let ran = running.finish();
        assert!(start.elapsed() < Duration::from_secs(20), "sleep 60 was not stopped");
        assert_eq!(ran.code, status, "--init: 128 + {signal}: {}", ran.stderr);
        assert!(lab.state_entries().is_empty(), "left {:?}", lab.state_entries());
        // Without --init: the signal is dropped, and only SIGKILL (which
        // `kill` sends) ends it.
        let running = lab.spawn(&["run", "--rm", "--name", "pid1", "host", "sleep", "60"]);
        started();
        nix::sys::signal::kill(running.pid(), signal).expect("kill");
        std::thread::sleep(Duration::from_millis(500));
        assert!(!lab.state_entries().is_empty(), "{signal} ended sleep as PID 1");
        assert_eq!(lab.run(&["kill", "pid1"]).code, 0);
        let ran = running.finish();
        assert_eq!(ran.code, 137, "128 + SIGKILL: {}", ran.stderr);
        assert!(lab.state_entries().is_empty(), "left {:?}", lab.state_entries());
    }
}
// ANCHOR_END: pid1-signals

// ANCHOR: shell-as-pid1
/// The pid chapter's PID-6 in a container: SIGTERM to a shell that is PID
/// 1 is dropped (it has no handler, pid_namespaces(7)); behind `--init`'s
/// reaper the shell is PID 2, the reaper forwards the signal, and the
/// shell dies of it. The transcript is the book's.
#[test]
fn shell_as_pid1_with_and_without_init() {
    let Some(lab) = Lab::new("mini-docker PID 1 and --init", As::Root, &BINARIES) else { return };
    let script = "echo \"I am PID $$\"; while :; do sleep 1; done";
    let mut text = String::new();
    for init in [false, true] {
        let mut args = vec!["run", "--rm", "--name", "shell"];
        args.extend(init.then_some("--init"));
        args.extend(["host", "sh", "-c", script]);
        let shown = args.join(" ").replace(script, &format!("'{script}'"));
        // Its output comes once it has ended; it is shown where it appeared.
        let mut steps = String::new();
        let running = lab.spawn(&args);
        let start = Instant::now();
        while lab.run(&["exec", "shell", "true"]).code != 0 {
            assert!(start.elapsed() < LIMIT, "the container never started");
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(lab.run(&["kill", "-s", "TERM", "shell"]).code, 0);
        steps += "$ mini-docker kill -s TERM shell\n";
        std::thread::sleep(Duration::from_millis(500));
        let alive = !lab.state_entries().is_empty();
        assert_eq!(alive, !init, "the shell survives SIGTERM only as PID 1");
        if alive {
            steps += "(half a second later, still running)\n$ mini-docker kill shell\n";
            assert_eq!(lab.run(&["kill", "shell"]).code, 0);
        }
        let ran = running.finish();
        let expected = if init { ("I am PID 2\n", 143) } else { ("I am PID 1\n", 137) };
        assert_eq!((ran.stdout.as_str(), ran.code), expected, "{}", ran.stderr);
        text += &format!(
            "$ mini-docker {shown}\n{}{steps}(run's exit status: {})\n",
            ran.stdout, ran.code
        );
    }
    assert!(lab.state_entries().is_empty(), "left {:?}", lab.state_entries());
    insta::assert_snapshot!("shell-as-pid1", text);
}
// ANCHOR_END: shell-as-pid1

#[test]
fn hello_as_root() {
    hello(As::Root);
}

#[test]
fn hello_rootless() {
    hello(As::Rootless);
}

#[test]
fn isolation_as_root() {
    isolation(As::Root);
}

#[test]
fn isolation_rootless() {
    isolation(As::Rootless);
}

#[test]
fn exit_codes_as_root() {
    exit_codes(As::Root);
}

#[test]
fn exit_codes_rootless() {
    exit_codes(As::Rootless);
}

#[test]
fn volumes_and_read_only_as_root() {
    volumes_and_read_only(As::Root);
}

#[test]
fn volumes_and_read_only_rootless() {
    volumes_and_read_only(As::Rootless);
}

#[test]
fn bundle_as_root() {
    bundle(As::Root);
}

#[test]
fn bundle_rootless() {
    bundle(As::Rootless);
}

#[test]
fn directory_image_as_root() {
    directory_image(As::Root);
}

#[test]
fn directory_image_rootless() {
    directory_image(As::Rootless);
}

#[test]
fn signals_as_root() {
    signals(As::Root);
}

#[test]
fn signals_rootless() {
    signals(As::Rootless);
}

/// With `--init`, PID 1 is mini-docker's reaper: an orphan re-parented to
/// it is reaped, and the command's status reaches the host.
fn init_reaps_orphans(who: As) {
    let Some(lab) = Lab::new("mini-docker init", who, &BINARIES) else { return };
    // The inner shell exits at once, so its background `true` becomes an
    // orphan; a zombie would show state Z in /proc.
    let script = r#"sh -c "true &"; sleep 0.3
        for f in /proc/[0-9]*/stat; do read -r l < "$f"; s=${l#*) }; echo "${s%% *}"; done | grep -c Z
        read -r l < /proc/1/stat; echo "${l%% *} ${l#* }" | cut -d' ' -f1,2; exit 3"#;
    let ran = lab.run(&["run", "--rm", "--init", "host", "sh", "-c", script]);
    assert_eq!(ran.code, 3, "{}", ran.stderr);
    assert_eq!(ran.stdout, "0\n1 (mini-docker)\n", "no zombie; PID 1 is mini-docker's reaper");
}

#[test]
fn init_reaps_orphans_as_root() {
    init_reaps_orphans(As::Root);
}

#[test]
fn init_reaps_orphans_rootless() {
    init_reaps_orphans(As::Rootless);
}

/// `-t`: the command's terminal is a pty of the container's own devpts.
fn tty(who: As) {
    let Some(lab) = Lab::new("mini-docker -t", who, &BINARIES) else { return };
    let script = "tty; test -t 0 && test -t 1 && echo is-a-tty; ls /dev/pts; exit 4";
    let ran = lab.run(&["run", "--rm", "-t", "host", "sh", "-c", script]);
    assert_eq!(ran.code, 4, "{}", ran.stderr);
    // The terminal's line discipline turns \n into \r\n.
    assert_eq!(ran.stdout, "/dev/pts/0\r\nis-a-tty\r\n0  ptmx\r\n");
    // -i: what we write reaches the command through the pty.
    let input = "echo from-stdin $((6 * 7))\nexit 5\n";
    let ran = lab.spawn_with_input(&["run", "--rm", "-it", "host", "sh"], input).finish();
    assert_eq!(ran.code, 5, "{}", ran.stderr);
    assert!(ran.stdout.contains("from-stdin 42\r\n"), "{:?}", ran.stdout);
    assert!(lab.state_entries().is_empty());
}

#[test]
fn tty_as_root() {
    tty(As::Root);
}

#[test]
fn tty_rootless() {
    tty(As::Rootless);
}

/// mini-docker killed with SIGKILL: its container dies with it (no
/// process left), no mount is left, and the next run sweeps the state.
fn killed(who: As) {
    let Some(lab) = Lab::new("mini-docker SIGKILL", who, &BINARIES) else { return };
    let before = host_mounts();
    // In the host's PID namespace the command is not killed with PID 1:
    // mini-docker's init must take it along by itself.
    for (n, pid_ns) in ["private", "host"].iter().enumerate() {
        // A unique argument, to find the container's process from the host
        // (sleep takes fractions: 60.<test PID><lab><n> seconds).
        let number = MARKERS.fetch_add(1, Ordering::Relaxed);
        let marker = format!("60.{}{number:03}{n}", std::process::id());
        let args = ["run", "--rm", "--pid", pid_ns, "host", "sleep", &marker];
        let running = lab.spawn(&args);
        let start = Instant::now();
        while sleepers(&marker) == 0 {
            assert!(start.elapsed() < LIMIT, "the container never started");
            std::thread::sleep(Duration::from_millis(5));
        }
        running.kill();
        while sleepers(&marker) > 0 {
            assert!(start.elapsed() < LIMIT, "--pid {pid_ns}: the command outlived mini-docker");
            std::thread::sleep(Duration::from_millis(5));
        }
        // Left for the sweep: the container's state and, as root (on the
        // bridge by default), its address lease.
        let left = lab.state_entries();
        let leases = left.iter().filter(|n| n.starts_with("lease-")).count();
        let leased = usize::from(who == As::Root);
        assert_eq!((left.len(), leases), (1 + leased, leased), "nothing could clean up yet");
        let ran = lab.run(&["run", "--rm", "host", "true"]);
        assert_eq!(ran.code, 0, "{}", ran.stderr);
        assert!(lab.state_entries().is_empty(), "not swept: {:?}", lab.state_entries());
    }
    assert_eq!(host_mounts(), before);
}

static MARKERS: AtomicUsize = AtomicUsize::new(0);

/// How many processes run `sleep MARKER`.
fn sleepers(marker: &str) -> usize {
    let wanted = format!("sleep\0{marker}\0");
    std::fs::read_dir("/proc")
        .expect("/proc")
        .filter_map(|e| std::fs::read(e.ok()?.path().join("cmdline")).ok())
        .filter(|cmdline| cmdline == wanted.as_bytes())
        .count()
}

#[test]
fn killed_as_root() {
    killed(As::Root);
}

#[test]
fn killed_rootless() {
    killed(As::Rootless);
}

/// All mounts live in the containers' own mount namespaces.
#[test]
fn no_mounts_left_behind() {
    let Some(lab) = Lab::new("mini-docker mounts", As::Root, &BINARIES) else { return };
    let before = host_mounts();
    for args in [
        &["run", "--rm", "host", "true"][..],
        &["run", "--rm", "host", "false"],
        &["run", "--rm", "host", "no-such-command"],
        &["run", "--rm", "--read-only", "--userns", "auto", "host", "true"],
        &["run", "--rm", "-v", "/tmp:rel", "host", "true"],
    ] {
        lab.run(args);
    }
    let after = host_mounts();
    assert_eq!(before, after);
    assert!(lab.state_entries().is_empty());
}

/// Without --rm the upper layer, the name and the bundle's `config.json`
/// stay; a name is unique.
#[test]
fn kept_container_and_names() {
    let Some(lab) = Lab::new("mini-docker --name", As::Root, &BINARIES) else { return };
    let ran = lab.run(&["run", "--name", "keep", "host", "sh", "-c", "echo data > /kept"]);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let kept = lab.state_entries();
    assert_eq!(kept.len(), 1);
    let dir = lab.state().join(&kept[0]);
    assert_eq!(std::fs::read_to_string(dir.join("upper/kept")).expect("upper"), "data\n");
    let mut left: Vec<_> =
        std::fs::read_dir(&dir).expect("ls").map(|e| e.expect("e").file_name()).collect();
    left.sort();
    // The bundle, the image's record, its life (start, end, status, the
    // status again in `exit` for `wait`) and the command line `restart`
    // starts it again from stay with it (as Docker keeps a container's
    // config and state).
    let expected =
        ["config.json", "exit", "image.json", "lifecycle.json", "name", "run.argv", "upper"];
    assert_eq!(left, expected);
    let ran = lab.run(&["run", "--rm", "--name", "keep", "host", "true"]);
    assert_eq!(ran.code, 125);
    assert_eq!(ran.stderr, "mini-docker: container name \"keep\" is already in use\n");
    // As `docker ps`: running containers only; -a shows the kept one too.
    let ps = lab.run(&["ps"]);
    assert_eq!(ps.stdout.lines().count(), 1, "only the header: {}", ps.stdout);
    let ps = lab.run(&["ps", "-a"]);
    let line = ps.stdout.lines().nth(1).unwrap_or_default().to_owned();
    let start = format!("{:<14} {:<20} Exited (0) ", &kept[0][..12], "keep");
    assert!(line.starts_with(&start) && line.ends_with(" ago"), "{}", ps.stdout);
    assert_eq!(lab.run(&["rm", "keep"]).code, 0);
    assert!(lab.state_entries().is_empty());
    let ran = lab.run(&["rm", "keep"]);
    assert_eq!(
        (ran.code, ran.stderr.as_str()),
        (1, "mini-docker: no such container \"keep\" (see `mini-docker ps`)\n")
    );
}

/// As root, --userns auto maps container root to an unprivileged range.
#[test]
fn userns_auto_as_root() {
    let Some(lab) = Lab::new("mini-docker --userns auto", As::Root, &BINARIES) else { return };
    let inside = lab.probe(&["--userns", "auto"]);
    let map = strings(&inside["uid_map"]);
    let fields: Vec<&str> = map[0].split(' ').collect();
    assert_eq!(fields[0], "0");
    assert_ne!(fields[1], "0", "container root is not host root");
    assert_ne!(inside["namespaces"]["user"].as_str().expect("user"), host_ns("user"));
    assert_eq!(inside["uid"], 0);
}

#[test]
fn info_and_images() {
    let Some(lab) = Lab::new("mini-docker info", As::Rootless, &BINARIES) else { return };
    let info = lab.run(&["info"]);
    assert_eq!(info.code, 0);
    for key in ["kernel:", "privilege:", "user namespaces:", "cgroups:", "overlayfs:"] {
        assert!(info.stdout.contains(key), "{key} missing: {}", info.stdout);
    }
    let images = lab.run(&["images"]);
    assert_eq!(images.code, 0);
    assert!(images.stdout.lines().any(|l| l.starts_with("host ")), "{}", images.stdout);
}

/// What goes into a test tarball.
enum Entry<'a> {
    Dir(&'a str),
    File(&'a str, &'a [u8], u32),
    Symlink(&'a str, &'a str),
}

/// A tar stream; names are written raw, so a hostile `../x` or `/x` is possible.
fn tar_bytes(entries: &[Entry]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for entry in entries {
        let mut header = tar::Header::new_gnu();
        let (name, data): (&str, &[u8]) = match entry {
            Entry::Dir(name) => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_mode(0o755);
                (name, b"")
            }
            Entry::File(name, data, mode) => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(*mode);
                (name, data)
            }
            Entry::Symlink(name, target) => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_mode(0o777);
                header.set_link_name(target).expect("link name");
                (name, b"")
            }
        };
        let raw = &mut header.as_old_mut().name;
        raw.fill(0);
        raw[..name.len()].copy_from_slice(name.as_bytes());
        header.set_size(data.len() as u64);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        header.set_cksum();
        builder.append(&header, data).expect("append");
    }
    builder.into_inner().expect("finish tar")
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).expect("gzip");
    encoder.finish().expect("gzip")
}

fn busybox_bytes(test: &str) -> Option<Vec<u8>> {
    match std::fs::read("/bin/busybox") {
        Ok(bytes) => Some(bytes),
        Err(_) => {
            skip(test, "needs /bin/busybox (apt-get install busybox-static)");
            None
        }
    }
}

/// `sha256:<hex>` of `bytes`.
fn diff_id(bytes: &[u8]) -> String {
    use sha2::Digest;
    let hex: String = sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// Writes `bytes` as a blob of an OCI layout; returns its descriptor.
fn oci_blob(layout: &Path, media_type: &str, bytes: &[u8]) -> Value {
    use sha2::Digest;
    let hex: String = sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect();
    std::fs::write(layout.join("blobs/sha256").join(&hex), bytes).expect("blob");
    serde_json::json!({ "mediaType": media_type, "digest": format!("sha256:{hex}"), "size": bytes.len() })
}

/// A two-layer OCI layout: the second layer deletes a file of the first
/// (whiteout) and hides a directory's old contents (opaque whiteout).
fn oci_layout(dir: &Path, busybox: &[u8]) {
    std::fs::create_dir_all(dir.join("blobs/sha256")).expect("mkdir");
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).expect("write");
    let base_tar = tar_bytes(&[
        Entry::Dir("bin"),
        Entry::File("bin/busybox", busybox, 0o755),
        Entry::Symlink("bin/sh", "busybox"),
        Entry::Dir("etc"),
        Entry::File("etc/old", b"old\n", 0o644),
        Entry::File("etc/kept", b"kept\n", 0o644),
        Entry::Dir("d"),
        Entry::File("d/a", b"a\n", 0o644),
    ]);
    let base = gzip(&base_tar);
    let top = tar_bytes(&[
        Entry::File("etc/.wh.old", b"", 0o644),
        Entry::Dir("d"),
        Entry::File("d/b", b"b\n", 0o644),
        Entry::File("d/.wh..wh..opq", b"", 0o644),
    ]);
    let layers = [
        oci_blob(dir, "application/vnd.oci.image.layer.v1.tar+gzip", &base),
        oci_blob(dir, "application/vnd.oci.image.layer.v1.tar", &top),
    ];
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "config": {
            "Env": ["GREETING=hello from the image", "PATH=/bin"],
            "Entrypoint": ["/bin/sh", "-c"],
            "Cmd": ["echo $GREETING; pwd; ls /etc /d"],
            "WorkingDir": "/d"
        },
        // Each layer's digest uncompressed: how its content is checked.
        "rootfs": { "type": "layers", "diff_ids": [diff_id(&base_tar), diff_id(&top)] }
    });
    let config =
        oci_blob(dir, "application/vnd.oci.image.config.v1+json", config.to_string().as_bytes());
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": config,
        "layers": layers,
    });
    let manifest = oci_blob(
        dir,
        "application/vnd.oci.image.manifest.v1+json",
        manifest.to_string().as_bytes(),
    );
    let index = serde_json::json!({ "schemaVersion": 2, "manifests": [manifest] });
    std::fs::write(dir.join("index.json"), index.to_string()).expect("index");
}

/// What a lab's store holds: its layers and image configs (and, if one
/// is left half-made, a staging directory).
fn stored(lab: &Lab) -> Vec<String> {
    let mut names = Vec::new();
    for dir in ["layers", "configs", ".staging"] {
        let path = lab.dir.join("data/images").join(dir);
        let Ok(entries) = std::fs::read_dir(&path) else { continue };
        names.extend(
            entries.map(|e| format!("{dir}/{}", e.expect("e").file_name().to_string_lossy())),
        );
    }
    names.sort();
    names
}

/// A `docker export`-style tarball (`import`) and an OCI layout, directory
/// and tar (`load`).
fn import(who: As) {
    let test = "mini-docker import";
    let Some(lab) = Lab::new(test, who, &BINARIES) else { return };
    let Some(busybox) = busybox_bytes(test) else { return };
    let files = lab.scratch("files");

    let tarball = files.join("busybox.tar.gz");
    let rootfs = tar_bytes(&[
        Entry::Dir("./bin"),
        Entry::File("./bin/busybox", &busybox, 0o755),
        Entry::Symlink("./bin/sh", "busybox"),
    ]);
    std::fs::write(&tarball, gzip(&rootfs)).expect("write");
    let ran = lab.run(&["import", tarball.to_str().expect("path"), "bb"]);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert!(ran.stdout.starts_with("sha256:"), "{}", ran.stdout);
    let ran = lab.run(&["run", "--rm", "bb", "/bin/sh", "-c", "echo hi from bb"]);
    assert_eq!((ran.code, ran.stdout.as_str()), (0, "hi from bb\n"), "{}", ran.stderr);

    let layout = files.join("layout");
    oci_layout(&layout, &busybox);
    let expected =
        "hello from the image\n/d\n/d:\nb\n\n/etc:\nhostname\nhosts\nkept\nresolv.conf\n";
    // A layout without a ref name: loaded untagged, run by its ID.
    let ran = lab.run(&["load", "-i", layout.to_str().expect("path")]);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let id = ran.stdout.strip_prefix("Loaded image ID: sha256:").expect("an ID")[..12].to_owned();
    let ran = lab.run(&["run", "--rm", &id]);
    assert_eq!((ran.code, ran.stdout.as_str()), (0, expected), "{}", ran.stderr);
    // Arguments replace Cmd and keep the Entrypoint.
    let ran = lab.run(&["run", "--rm", &id, "echo $GREETING again"]);
    assert_eq!(ran.stdout, "hello from the image again\n", "{}", ran.stderr);

    let layout_tar = files.join("layout.tar");
    lab.tar(&layout, &layout_tar);
    assert_eq!(lab.run(&["rmi", &id]).code, 0);
    let ran = lab.run(&["load", "-i", layout_tar.to_str().expect("path")]);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let ran = lab.run(&["run", "--rm", &id]);
    assert_eq!((ran.code, ran.stdout.as_str()), (0, expected), "{}", ran.stderr);
    // An image archive is not a root file system.
    let ran = lab.run(&["import", layout_tar.to_str().expect("path"), "oci-tar"]);
    assert_eq!(ran.code, 1, "{}", ran.stderr);
    assert!(ran.stderr.contains("use `mini-docker load -i"), "{}", ran.stderr);

    let images = lab.run(&["images"]);
    let names: Vec<&str> =
        images.stdout.lines().skip(1).filter_map(|l| l.split_whitespace().next()).collect();
    assert_eq!(names.len(), 3, "{}", images.stdout);
    assert!(names.contains(&"host") && names.contains(&"bb"), "{}", images.stdout);
    assert_eq!(lab.run(&["rmi", "bb"]).code, 0);
    assert_eq!(lab.run(&["rmi", &id]).code, 0);
    assert_eq!(stored(&lab), Vec::<String>::new());
    assert!(lab.state_entries().is_empty());
}

/// Entries that would write outside the image are refused, and a refused
/// import leaves nothing behind.
fn hostile_tarballs(who: As) {
    let Some(lab) = Lab::new("mini-docker import (hostile)", who, &BINARIES) else { return };
    let files = lab.scratch("files");
    let outside = lab.scratch("outside");
    let link_target = outside.to_str().expect("path");
    let cases: [(&str, Vec<Entry>, &str); 4] = [
        ("dotdot", vec![Entry::Dir("ok"), Entry::File("ok/../../evil", b"x", 0o644)], "'..'"),
        ("absolute", vec![Entry::File("/evil", b"x", 0o644)], "absolute path"),
        (
            "symlink",
            vec![Entry::Symlink("link", link_target), Entry::File("link/evil", b"x", 0o644)],
            "symbolic link",
        ),
        (
            "symlink-dotdot",
            vec![Entry::Symlink("up", "../../../.."), Entry::File("up/evil", b"x", 0o644)],
            "symbolic link",
        ),
    ];
    for (name, entries, why) in cases {
        let file = files.join(format!("{name}.tar"));
        std::fs::write(&file, tar_bytes(&entries)).expect("write");
        let ran = lab.run(&["import", file.to_str().expect("path"), name]);
        assert_eq!(ran.code, 1, "{name}: {}", ran.stderr);
        assert!(
            ran.stderr.starts_with("mini-docker: refused layer entry"),
            "{name}: {}",
            ran.stderr
        );
        assert!(ran.stderr.contains(why), "{name}: {}", ran.stderr);
        assert_eq!(ran.stderr.lines().count(), 1, "{name}: {}", ran.stderr);
        assert!(stored(&lab).is_empty(), "{name} left {:?}", stored(&lab));
        assert_eq!(std::fs::read_dir(&outside).expect("ls").count(), 0, "{name} wrote outside");
    }
    assert!(!lab.dir.join("evil").exists() && !Path::new("/evil").exists());
}

#[test]
fn import_as_root() {
    import(As::Root);
}

#[test]
fn import_rootless() {
    import(As::Rootless);
}

#[test]
fn hostile_tarballs_as_root() {
    hostile_tarballs(As::Root);
}

#[test]
fn hostile_tarballs_rootless() {
    hostile_tarballs(As::Rootless);
}

/// The harness's promise, checked: a lab dropped while a detached
/// container still runs (a test that failed halfway) leaves neither the
/// container nor its cgroups behind.
#[test]
fn dropped_lab_leaves_no_container() {
    let Some(lab) = Lab::new("mini-docker lab cleanup", As::Root, &BINARIES) else { return };
    let ran = lab.run(&["run", "-d", "--pids-limit", "20", "host", "sleep", "30"]);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let id = ran.stdout.trim().to_owned();
    let cgroups = [
        Path::new("/sys/fs/cgroup/pids/mini-docker").join(&id),
        Path::new("/sys/fs/cgroup/mini-docker").join(&id),
    ];
    assert!(cgroups.iter().any(|c| c.exists()), "no cgroup for {id}");
    let inspected: Value = serde_json::from_str(&lab.run(&["inspect", &id]).stdout).expect("json");
    let pids: Vec<u64> = ["mini_docker", "init", "command"]
        .iter()
        .map(|p| inspected[0]["pids"][p].as_u64().unwrap_or_else(|| panic!("no {p} pid")))
        .collect();
    drop(lab);
    let left: Vec<_> = cgroups.iter().filter(|c| c.exists()).collect();
    assert!(left.is_empty(), "left behind: {left:?}");
    // The monitor, init and the command: gone (a zombie re-parented to the
    // machine's PID 1 is that init's to reap).
    let start = Instant::now();
    let alive = |pid: &&u64| {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let reaped_by_pid_1 = status.contains("State:\tZ") && status.contains("PPid:\t1\n");
        !status.is_empty() && !reaped_by_pid_1
    };
    while let Some(pid) = pids.iter().find(alive) {
        assert!(start.elapsed() < LIMIT, "process {pid} outlived the lab");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// `run --rm` returns the command's status before its state directory is
/// removed (see mini-docker's teardown::tear_down_later), and no command
/// after it sees the container half-removed: its name is free at once and
/// `ps -a` lists nothing; the removal completes; a removal cut short (its
/// process killed) is finished by the next `run`.
/// A new network namespace's `lo` starts down (network_namespaces(7)); a
/// container's is up, brought up from outside by the parent as root, by
/// the child itself rootless: IFF_UP (0x1) beside IFF_LOOPBACK (0x8).
fn loopback_up(who: As) {
    let Some(lab) = Lab::new("mini-docker lo up", who, &BINARIES) else { return };
    for round in 0..3 {
        let flags = ["run", "--rm", "--network", "none", "host", "cat", "/sys/class/net/lo/flags"];
        let ran = lab.run(&flags);
        assert_eq!((ran.code, ran.stdout.as_str()), (0, "0x9\n"), "round {round}: {}", ran.stderr);
    }
}

#[test]
fn loopback_up_as_root() {
    loopback_up(As::Root);
}

#[test]
fn loopback_up_rootless() {
    loopback_up(As::Rootless);
}

/// `run` writes the files only later commands read (the bundle's
/// `config.json`, the record `exec` reads, the start time) while the
/// container sets up, and its command waits for them: the command finds
/// them in its own state directory, bound into it.
#[test]
fn bundle_files_before_the_command() {
    let Some(lab) = Lab::new("mini-docker files before the command", As::Root, &BINARIES) else {
        return;
    };
    let volume = format!("{}:/state:ro", lab.state().display());
    // The state directory's name is the ID, whose first 12 characters are
    // the hostname.
    let list = "cd /state/$(hostname)* && ls config.json exec.json lifecycle.json";
    for round in 0..5 {
        let ran =
            lab.run(&["run", "--rm", "--network", "none", "-v", &volume, "host", "sh", "-c", list]);
        assert_eq!(ran.code, 0, "round {round}: {}", ran.stderr);
        let files: Vec<&str> = ran.stdout.lines().collect();
        assert_eq!(files, ["config.json", "exec.json", "lifecycle.json"], "round {round}");
    }
}

#[test]
fn rm_removal_after_the_status() {
    let Some(lab) = Lab::new("mini-docker run --rm removal", As::Root, &BINARIES) else { return };
    let none = ["--network", "none"];
    for round in 0..20 {
        let ran = lab.run(
            &[&["run", "--rm", "--name", "brief"][..], &none, &["host", "sh", "-c", "exit 7"]]
                .concat(),
        );
        assert_eq!(ran.code, 7, "round {round}: {}", ran.stderr);
        let ps = lab.run(&["ps", "-a", "-q"]);
        assert_eq!((ps.code, ps.stdout.as_str()), (0, ""), "round {round}");
    }
    assert!(lab.state_entries().is_empty(), "left {:?}", lab.state_entries());

    // A removal cut short: a retired directory, as a killed process leaves it.
    let retired = lab.state().join(".removing-0123456789abcdef");
    std::fs::create_dir_all(retired.join("upper/deep")).expect("mkdir");
    std::fs::write(retired.join("config.json"), "{}").expect("write");
    let ps = lab.run(&["ps", "-a", "-q"]);
    assert_eq!(ps.stdout, "", "a retired directory is no container");
    let ran = lab.run(&[&["run", "--rm"][..], &none, &["host", "true"]].concat());
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert!(!retired.exists(), "the next run's sweep removes it");

    // One whose remover is alive (it holds a lock on it) is left to it.
    let busy = lab.state().join(".removing-fedcba9876543210");
    std::fs::create_dir_all(busy.join("upper")).expect("mkdir");
    let lock = std::fs::File::open(&busy).expect("open the directory");
    let held = nix::fcntl::Flock::lock(lock, nix::fcntl::FlockArg::LockExclusiveNonblock)
        .map_err(|(_, e)| e)
        .expect("flock");
    let ran = lab.run(&[&["run", "--rm"][..], &none, &["host", "true"]].concat());
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert!(busy.exists(), "a removal under way is not the sweep's");
    drop(held);
    let ran = lab.run(&[&["run", "--rm"][..], &none, &["host", "true"]].concat());
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert!(!busy.exists(), "its remover gone, the sweep finishes it");
    assert!(lab.state_entries().is_empty(), "left {:?}", lab.state_entries());

    // The remover holds none of run's sockets: a published port is free
    // again once run has returned, while the removal may go on.
    let publish = "127.0.0.1:18561:80";
    let many = "mkdir /many && cd /many && seq 1 20000 | xargs touch";
    let ran = lab.run(&["run", "--rm", "-p", publish, "host", "sh", "-c", many]);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let ran = lab.run(&["run", "--rm", "-p", publish, "host", "true"]);
    assert_eq!(ran.code, 0, "the port is free at once: {}", ran.stderr);
    assert!(lab.state_entries().is_empty(), "left {:?}", lab.state_entries());
}
