//! What `mini-docker run` takes from an image's config, against the real
//! `docker run` on the same image.
//!
//! The image is made offline with the real tools: a busybox root whose
//! `/etc/passwd` and `/etc/group` name users with supplementary groups,
//! `docker import` with `--change` for ENV, USER (a name), ENTRYPOINT,
//! CMD, WORKDIR, EXPOSE and LABEL, then `skopeo copy docker-daemon:…
//! oci:…` to an OCI layout that `mini-docker import` reads. Docker's copy
//! is removed by its unique tag when the test ends.
//!
//! Deliberate differences, not compared: HOSTNAME (each container's
//! own), and the order of the environment (compared sorted).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use nslab_tests::mini_docker::{LIMIT, Lab, finish};
use nslab_tests::{As, skip};
use serde_json::{Value, json};

const BINARIES: [&str; 2] = [env!("CARGO_BIN_EXE_mini-docker"), env!("CARGO_BIN_EXE_probe")];

const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
alice:x:1000:1000:Alice:/home/alice:/bin/sh\n\
bob:x:1001:1001::/home/bob:/bin/sh\n";
const GROUP: &str =
    "root:x:0:\nalice:x:1000:\nbob:x:1001:\nstaff:x:50:alice,bob\naudio:x:29:alice\n";

/// The image's config, as `docker import --change` takes it.
const CHANGES: [&str; 7] = [
    "ENV GREETING=hello",
    "USER alice",
    r#"ENTRYPOINT ["/bin/echo", "ep"]"#,
    r#"CMD ["default", "args"]"#,
    "WORKDIR /srv",
    "EXPOSE 80",
    "LABEL a=b",
];

/// A tool's command to its end (at most [`LIMIT`]); its output.
fn tool(program: &str, args: &[&str]) -> nslab_tests::mini_docker::Ran {
    let mut cmd = Command::new(program);
    cmd.args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    finish(cmd.spawn().unwrap_or_else(|e| panic!("{program}: {e}")), LIMIT)
}

/// Docker's copy of the test image, removed (by its unique tag) on drop.
struct DockerImage {
    tag: String,
}

impl Drop for DockerImage {
    fn drop(&mut self) {
        let _ = tool("docker", &["rmi", "-f", &self.tag]);
    }
}

static BUILT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Builds the image in `lab`: Docker's copy, and an OCI layout of it that
/// the lab's user can read. `None` (after one line) without the tools.
fn build_image(test: &str, lab: &Lab) -> Option<(DockerImage, PathBuf)> {
    let Ok(busybox) = std::fs::read("/bin/busybox") else {
        skip(test, "needs /bin/busybox (apt-get install busybox-static)");
        return None;
    };
    nslab_tests::clients::require(test, &["docker", "skopeo", "tar"])?;
    if tool("docker", &["info"]).code != 0 {
        skip(test, "needs a running Docker daemon");
        return None;
    }
    let root = lab.dir.join("image-root");
    for dir in ["bin", "etc", "home/alice", "srv"] {
        std::fs::create_dir_all(root.join(dir)).expect("mkdir");
    }
    let bin = root.join("bin/busybox");
    std::fs::write(&bin, busybox).expect("busybox");
    nslab_tests::mini_docker::chmod(&bin, 0o755);
    for name in ["sh", "id", "env", "pwd", "stat", "cat", "echo", "sleep"] {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(name)).expect("link");
    }
    std::fs::write(root.join("etc/passwd"), PASSWD).expect("passwd");
    std::fs::write(root.join("etc/group"), GROUP).expect("group");
    std::os::unix::fs::chown(root.join("home/alice"), Some(1000), Some(1000)).expect("chown");
    let tarball = lab.dir.join("rootfs.tar");
    lab.tar(&root, &tarball);
    // Unique to this build: the tests run in parallel, each removes its own.
    let n = BUILT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let image = DockerImage { tag: format!("nslab-image-config-test:{}-{n}", std::process::id()) };
    let mut args = vec!["import"];
    for change in &CHANGES {
        args.extend(["--change", change]);
    }
    let tarball = tarball.to_str().expect("path");
    args.extend([tarball, &image.tag]);
    let imported = tool("docker", &args);
    assert_eq!(imported.code, 0, "docker import: {}", imported.stderr);
    let layout = lab.dir.join("layout");
    let source = format!("docker-daemon:{}", image.tag);
    // The layout's ref name becomes the tag `load` gives it: cfg:latest.
    let target = format!("oci:{}:cfg:latest", layout.display());
    let copied = tool("skopeo", &["copy", "--quiet", &source, &target]);
    assert_eq!(copied.code, 0, "skopeo copy: {}", copied.stderr);
    let opened = tool("chmod", &["-R", "a+rX", layout.to_str().expect("path")]);
    assert_eq!(opened.code, 0, "{}", opened.stderr);
    Some((image, layout))
}

/// `docker run --rm ARGS…`, bounded in time.
fn docker_run(args: &[&str]) -> nslab_tests::mini_docker::Ran {
    let mut all = vec!["run", "--rm", "--net", "none"];
    all.extend_from_slice(args);
    tool("docker", &all)
}

/// The lines of `/proc/self/status` that say who a process is.
fn identity(status: &str) -> String {
    status
        .lines()
        .filter(|l| ["Uid:", "Gid:", "Groups:"].iter().any(|k| l.starts_with(k)))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The environment, sorted, without HOSTNAME (each container's own).
fn environment(env: &str) -> Vec<String> {
    let mut lines: Vec<String> =
        env.lines().filter(|l| !l.starts_with("HOSTNAME=")).map(str::to_owned).collect();
    lines.sort();
    lines
}

/// As root: the same image under `mini-docker run` and `docker run`.
#[test]
fn image_config_as_docker_runs_it() {
    let test = "mini-docker run: the image's config";
    let Some(lab) = Lab::new(test, As::Root, &BINARIES) else { return };
    let Some((image, layout)) = build_image(test, &lab) else { return };
    let imported = lab.run(&["load", "-i", layout.to_str().expect("path")]);
    assert_eq!(imported.code, 0, "{}", imported.stderr);
    let tag = image.tag.as_str();
    // Entrypoint and Cmd, the arguments, --entrypoint: the same output.
    for flags in [
        &[][..],
        &["--entrypoint", "/bin/id"],
        &["--entrypoint", "/bin/pwd"],
        &["--entrypoint", "/bin/echo"],
    ] {
        for args in [&[][..], &["x", "y"]] {
            let mine = lab.run(&[&["run", "--rm"], flags, &["cfg"], args].concat());
            let theirs = docker_run(&[flags, &[tag], args].concat());
            assert_eq!(
                (mine.code, &mine.stdout),
                (theirs.code, &theirs.stdout),
                "{flags:?} {args:?}: {} / {}",
                mine.stderr,
                theirs.stderr
            );
        }
    }
    assert_eq!(lab.run(&["run", "--rm", "cfg"]).stdout, "ep default args\n");
    // --entrypoint "": no command left (both say so, exit 125), or the arguments.
    let cleared = lab.run(&["run", "--rm", "--entrypoint", "", "cfg"]);
    assert_eq!((cleared.code, cleared.stderr.lines().count()), (125, 1), "{}", cleared.stderr);
    assert_eq!(docker_run(&["--entrypoint", "", tag]).code, 125);
    let mine = lab.run(&["run", "--rm", "--entrypoint", "", "cfg", "/bin/pwd"]);
    assert_eq!(mine.stdout, docker_run(&["--entrypoint", "", tag, "/bin/pwd"]).stdout);
    // Env (HOME from alice's passwd entry) and -e.
    for flags in [&[][..], &["-e", "FOO=bar", "-e", "GREETING=bye"]] {
        let mine =
            lab.run(&[&["run", "--rm", "--entrypoint", "/bin/env"], flags, &["cfg"]].concat());
        let theirs = docker_run(&[&["--entrypoint", "/bin/env"], flags, &[tag]].concat());
        assert_eq!(environment(&mine.stdout), environment(&theirs.stdout), "{flags:?}");
        assert!(mine.stdout.contains("HOME=/home/alice\n"), "{}", mine.stdout);
    }
    // Users: the image's User (a name), -u by name, UID, unknown UID, and
    // with a group: the same UID, GID and groups as under Docker.
    for user in ["", "bob", "1000", "1234", "1234:50", "alice:audio", "alice:777", "root", ":50"] {
        let flag: &[&str] = if user.is_empty() { &[] } else { &["-u", user] };
        let args = [&["--entrypoint", "/bin/cat"], flag].concat();
        let mine = lab.run(&[&["run", "--rm"], &args[..], &["cfg", "/proc/self/status"]].concat());
        let theirs = docker_run(&[&args[..], &[tag, "/proc/self/status"]].concat());
        assert_eq!(mine.code, 0, "-u {user}: {}", mine.stderr);
        assert_eq!(identity(&mine.stdout), identity(&theirs.stdout), "-u {user:?}");
    }
    let alice = lab.run(&["run", "--rm", "--entrypoint", "/bin/id", "cfg"]);
    assert_eq!(
        alice.stdout,
        "uid=1000(alice) gid=1000(alice) groups=29(audio),50(staff),1000(alice)\n"
    );
    // A missing user or group: one line, exit 125, nothing left behind.
    for (user, word) in [("nosuch", "user"), ("alice:nogroup", "group")] {
        let ran = lab.run(&["run", "--rm", "-u", user, "cfg"]);
        assert_eq!(ran.code, 125, "{}", ran.stderr);
        assert_eq!(ran.stderr.lines().count(), 1, "{}", ran.stderr);
        assert!(ran.stderr.contains(&format!("unable to find {word}")), "{}", ran.stderr);
        assert_eq!(docker_run(&["-u", user, tag]).code, 125);
        assert!(lab.state_entries().is_empty(), "{:?}", lab.state_entries());
    }
    // inspect: the exposed ports and the labels, as the image gave them.
    let ran = lab.run(&["run", "-d", "--name", "c", "--entrypoint", "/bin/sleep", "cfg", "30"]);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let inspected: Value = serde_json::from_str(&lab.run(&["inspect", "c"]).stdout).expect("json");
    let config = &inspected[0]["config"];
    assert_eq!(inspected[0]["image"], "cfg");
    assert_eq!(config["exposed_ports"], json!({ "80/tcp": {} }));
    assert_eq!(config["labels"], json!({ "a": "b" }));
    assert_eq!(config["groups"], json!([29, 50]));
    let theirs = tool("docker", &["inspect", "--format", "{{json .Config.Labels}}", tag]);
    assert_eq!(serde_json::from_str::<Value>(&theirs.stdout).expect("labels"), config["labels"]);
    assert_eq!(lab.run(&["rm", "-f", "c"]).code, 0);
    assert!(lab.state_entries().is_empty());
}

/// The owners of `paths` inside a container of `cfg` (`uid:gid path`).
fn owners(lab: &Lab, flags: &[&str], paths: &[&str]) -> String {
    let mut args = vec!["run", "--rm", "-u", "root", "--entrypoint", "/bin/stat"];
    args.extend_from_slice(flags);
    // Flags end at the image: `-c` is stat's (a `--` would be too, as
    // Docker passes it on).
    args.extend(["cfg", "-c", "%u:%g %n"]);
    args.extend_from_slice(paths);
    let ran = lab.run(&args);
    assert_eq!(ran.code, 0, "{flags:?}: {}", ran.stderr);
    assert_eq!(ran.stderr, "", "no notice expected on this filesystem");
    ran.stdout
}

/// As root, `--userns auto`: the container's root owns `/` and the image's
/// files (an idmapped lower layer), while on the host the image keeps its
/// owners: nothing was chowned or copied.
#[test]
fn userns_auto_owns_the_image() {
    let test = "mini-docker --userns auto: idmapped image";
    let Some(lab) = Lab::new(test, As::Root, &BINARIES) else { return };
    let Some((_image, layout)) = build_image(test, &lab) else { return };
    let imported = lab.run(&["load", "-i", layout.to_str().expect("path")]);
    assert_eq!(imported.code, 0, "{}", imported.stderr);
    let paths = ["/", "/bin/busybox", "/etc/passwd", "/home/alice"];
    let expected = "0:0 /\n0:0 /bin/busybox\n0:0 /etc/passwd\n1000:1000 /home/alice\n";
    assert_eq!(owners(&lab, &["--userns", "auto"], &paths), expected);
    // Root in the container may change its files (copied up, the image untouched).
    let script =
        "chown 1000 /etc/passwd && echo new > /bin/new && stat -c '%u %n' /etc/passwd /bin/new";
    let ran = lab.run(&[
        "run",
        "--rm",
        "--userns",
        "auto",
        "-u",
        "root",
        "--entrypoint",
        "/bin/sh",
        "cfg",
        "-c",
        script,
    ]);
    assert_eq!(
        (ran.code, ran.stdout.as_str()),
        (0, "1000 /etc/passwd\n0 /bin/new\n"),
        "{}",
        ran.stderr
    );
    // On the host: the image's files keep their owners, in place.
    // The image's one layer, as stored (data/images/layers/<diff ID>/diff).
    let layers = std::fs::read_dir(lab.dir.join("data/images/layers")).expect("layers");
    let layers: Vec<_> = layers.map(|l| l.expect("layer").path().join("diff")).collect();
    assert_eq!(layers.len(), 1, "{layers:?}");
    let rootfs = &layers[0];
    let host = |path: &str| {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::symlink_metadata(rootfs.join(path)).expect("stat");
        (meta.uid(), meta.gid())
    };
    assert_eq!(
        (host("bin/busybox"), host("etc/passwd"), host("home/alice")),
        ((0, 0), (0, 0), (1000, 1000))
    );
    assert!(!Path::new(&rootfs.join("bin/new")).exists());
    // And the container's user namespace is not the host's: container 0 is not host 0.
    let map = lab.run(&[
        "run",
        "--rm",
        "--userns",
        "auto",
        "-u",
        "root",
        "--entrypoint",
        "/bin/cat",
        "cfg",
        "/proc/self/uid_map",
    ]);
    let fields: Vec<&str> = map.stdout.split_whitespace().collect();
    assert_eq!(fields.first(), Some(&"0"));
    assert_ne!(fields.get(1), Some(&"0"), "{}", map.stdout);
    assert!(lab.state_entries().is_empty());
}

/// Rootless: the image's Entrypoint, Cmd, Env and WorkingDir as above;
/// its User alice cannot be (one ID, the caller's, is mapped), so `-u
/// root` runs it, and the image's files are the caller's: root's inside.
#[test]
fn image_config_rootless() {
    let test = "mini-docker run: the image's config, rootless";
    let Some(lab) = Lab::new(test, As::Rootless, &BINARIES) else { return };
    let Some((_image, layout)) = build_image(test, &lab) else { return };
    let imported = lab.run(&["load", "-i", layout.to_str().expect("path")]);
    assert_eq!(imported.code, 0, "{}", imported.stderr);
    let ran = lab.run(&["run", "--rm", "-u", "root", "cfg"]);
    assert_eq!((ran.code, ran.stdout.as_str()), (0, "ep default args\n"), "{}", ran.stderr);
    let ran = lab.run(&["run", "--rm", "-u", "root", "--entrypoint", "/bin/pwd", "cfg"]);
    assert_eq!(ran.stdout, "/srv\n");
    let ran = lab.run(&["run", "--rm", "-u", "root", "--entrypoint", "/bin/env", "cfg"]);
    assert!(
        ran.stdout.contains("GREETING=hello\n") && ran.stdout.contains("HOME=/root\n"),
        "{}",
        ran.stdout
    );
    assert_eq!(owners(&lab, &[], &["/", "/bin/busybox"]), "0:0 /\n0:0 /bin/busybox\n");
    let ran = lab.run(&["run", "--rm", "-u", "nosuch", "cfg"]);
    assert_eq!(ran.code, 125, "{}", ran.stderr);
    assert!(lab.state_entries().is_empty());
}
