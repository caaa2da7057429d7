//! The same commands under `docker` and `mini-docker`, side by side, on
//! the same busybox image: the exit statuses, the standard output and
//! the state `ps -a` and `inspect` report must agree.
//!
//! The image is made offline with the real tools, as in
//! `mini_docker_image_config.rs`: a busybox root, `docker import`, then
//! `skopeo copy docker-daemon:… oci:…` to an OCI layout that `mini-docker
//! load` reads. Docker's containers run with `--network none` (nothing
//! of the host's network is touched) and carry names unique to this run;
//! the test removes them, and the image, at its end.
//!
//! Deliberate differences, not compared:
//! - the error lines on stderr: each engine words its own (the statuses
//!   are compared);
//! - `ps`'s table: mini-docker prints three columns (ID, NAME, STATUS),
//!   and its `ps` also lists dead containers; compared through
//!   `--format` instead, and `ps -a` lists every container of Docker's
//!   host, so Docker's is filtered by name;
//! - `inspect`'s JSON: mini-docker's is its own, but for `Id`, `Name` and
//!   `State` (compared through `-f`);
//! - the times in STATUS ("2 seconds ago"), which depend on when each ran;
//! - IDs: both print 64 hex digits, different ones.

use std::process::{Command, Stdio};
use std::time::Duration;

use nslab_tests::mini_docker::{LIMIT, Lab, Ran, eventually, finish};
use nslab_tests::{As, skip};

const BINARIES: [&str; 2] = [env!("CARGO_BIN_EXE_mini-docker"), env!("CARGO_BIN_EXE_probe")];

/// A tool's command to its end (at most [`LIMIT`]).
fn tool(program: &str, args: &[&str]) -> Ran {
    let mut cmd = Command::new(program);
    cmd.args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    finish(cmd.spawn().unwrap_or_else(|e| panic!("{program}: {e}")), LIMIT)
}

/// What Docker made for the test, removed on drop: its containers (by
/// name), then the image (by its unique tag).
struct DockerSide {
    tag: String,
    names: Vec<String>,
}

impl Drop for DockerSide {
    fn drop(&mut self) {
        for name in &self.names {
            let _ = tool("docker", &["rm", "-f", name]);
        }
        let _ = tool("docker", &["rmi", "-f", &self.tag]);
    }
}

/// The two engines, one image, one set of names.
struct Both<'a> {
    lab: &'a Lab,
    docker: DockerSide,
    /// The prefix of Docker's names: Docker's names are global.
    prefix: String,
}

impl Both<'_> {
    /// Runs `args` under both; `IMG` stands for the image and `N:x` for
    /// the container named x. Returns (mini-docker's, Docker's), Docker's
    /// output with its prefix taken out of the names.
    fn run(&mut self, args: &[&str]) -> (Ran, Ran) {
        let mine: Vec<String> = args
            .iter()
            .map(|a| match *a {
                "IMG" => "bb".to_owned(),
                a => a.strip_prefix("N:").unwrap_or(a).to_owned(),
            })
            .collect();
        let theirs: Vec<String> = args
            .iter()
            .map(|a| match *a {
                "IMG" => self.docker.tag.clone(),
                a => match a.strip_prefix("N:") {
                    Some(name) => {
                        let full = format!("{}{name}", self.prefix);
                        if !self.docker.names.contains(&full) {
                            self.docker.names.push(full.clone());
                        }
                        full
                    }
                    None => a.to_owned(),
                },
            })
            .collect();
        // Docker's containers get no network: nothing of the host's is touched.
        let theirs: Vec<String> = match theirs.first().map(String::as_str) {
            Some("run") => {
                [&["run".to_owned(), "--network".into(), "none".into()][..], &theirs[1..]].concat()
            }
            _ => theirs,
        };
        let mine = self.lab.run(&mine);
        let mut theirs = tool("docker", &theirs.iter().map(String::as_str).collect::<Vec<_>>());
        theirs.stdout = theirs.stdout.replace(&self.prefix, "");
        (mine, theirs)
    }

    /// Runs `args` under both and asserts the same exit status and output.
    fn same(&mut self, args: &[&str]) -> String {
        let (mine, theirs) = self.run(args);
        assert_eq!(
            (mine.code, &mine.stdout),
            (theirs.code, &theirs.stdout),
            "{args:?}\n  mini-docker's stderr: {}\n  docker's stderr: {}",
            mine.stderr,
            theirs.stderr
        );
        mine.stdout
    }
}

/// Builds the image: Docker's copy, and an OCI layout of it imported
/// into the lab as `bb`. `None` (after one line) without the tools.
fn build(test: &str, lab: &Lab) -> Option<DockerSide> {
    let Ok(busybox) = std::fs::read("/bin/busybox") else {
        skip(test, "needs /bin/busybox (apt-get install busybox-static)");
        return None;
    };
    nslab_tests::clients::require(test, &["docker", "skopeo"])?;
    if tool("docker", &["info"]).code != 0 {
        skip(test, "needs a running Docker daemon");
        return None;
    }
    let root = lab.dir.join("image-root");
    std::fs::create_dir_all(root.join("bin")).expect("mkdir");
    std::fs::create_dir_all(root.join("etc")).expect("mkdir");
    let bin = root.join("bin/busybox");
    std::fs::write(&bin, busybox).expect("busybox");
    nslab_tests::mini_docker::chmod(&bin, 0o755);
    for name in ["sh", "echo", "cat", "grep", "sleep", "sort", "true"] {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(name)).expect("link");
    }
    std::fs::write(root.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").expect("passwd");
    std::fs::write(root.join("etc/group"), "root:x:0:\n").expect("group");
    let tarball = lab.dir.join("rootfs.tar");
    lab.tar(&root, &tarball);
    let docker = DockerSide {
        tag: format!("nslab-vs-docker-test:{}", std::process::id()),
        names: Vec::new(),
    };
    let imported = tool("docker", &["import", tarball.to_str().expect("path"), &docker.tag]);
    assert_eq!(imported.code, 0, "docker import: {}", imported.stderr);
    let layout = lab.dir.join("layout");
    let source = format!("docker-daemon:{}", docker.tag);
    // The layout's reference names the image mini-docker loads: bb.
    let target = format!("oci:{}:bb:latest", layout.display());
    let copied = tool("skopeo", &["copy", "--quiet", &source, &target]);
    assert_eq!(copied.code, 0, "skopeo copy: {}", copied.stderr);
    nslab_tests::mini_docker::chmod(&layout, 0o755);
    let ran = lab.run(&["load", "-i", layout.to_str().expect("path")]);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    Some(docker)
}

#[test]
fn the_same_commands_under_docker_and_mini_docker() {
    let test = "mini-docker beside docker";
    let Some(lab) = Lab::new(test, As::Root, &BINARIES) else { return };
    let Some(docker) = build(test, &lab) else { return };
    let prefix = format!("nslab-vs-{}-", std::process::id());
    let mut both = Both { lab: &lab, docker, prefix };

    // run: statuses, flags that end at the image, the run flags.
    both.same(&["run", "--rm", "IMG", "sh", "-c", "exit 3"]);
    both.same(&["run", "--rm", "IMG", "sh", "-c", "echo \"$0 $1\"", "-c", "--help"]);
    both.same(&["run", "--rm", "IMG", "no-such-command"]);
    let env_file = lab.dir.join("env");
    std::fs::write(&env_file, "# comment\nA=1\n\n  B=\"two words\"\nC=c\n").expect("env file");
    nslab_tests::mini_docker::chmod(&env_file, 0o644);
    let file = env_file.to_str().expect("path");
    let script = "echo \"$A|$B|$C\"";
    both.same(&["run", "--rm", "--env-file", file, "-e", "C=flag", "IMG", "sh", "-c", script]);
    // Sorted: Docker mounts the tmpfs in no set order (a Go map's).
    let mounts = "grep -E ' /(x|y) ' /proc/mounts | sort";
    both.same(&[
        "run",
        "--rm",
        "--tmpfs",
        "/x",
        "--tmpfs",
        "/y:size=1m,mode=700",
        "IMG",
        "sh",
        "-c",
        mounts,
    ]);
    both.same(&["run", "--rm", "--label", "a=b", "IMG", "true"]);

    // Command lines refused: the statuses (the messages differ).
    for args in
        [&["run", "--bogus", "IMG"][..], &["ps", "--bogus"], &["run"], &["inspect"], &["ps", "x"]]
    {
        let (mine, theirs) = both.run(args);
        assert_eq!(mine.code, theirs.code, "{args:?}: {} / {}", mine.stderr, theirs.stderr);
    }

    // A kept container: its state in inspect, ps -a, wait.
    both.same(&["run", "--name", "N:kept", "IMG", "sh", "-c", "exit 3"]);
    let state = "{{.State.Status}} {{.State.Running}} {{.State.ExitCode}} {{.State.Pid}} {{.Name}}";
    assert_eq!(both.same(&["inspect", "-f", state, "N:kept"]), "exited false 3 0 /kept\n");
    let (mine, theirs) = both.run(&["ps", "-a", "--format", "{{.Names}}|{{.State}}|{{.Status}}"]);
    let line = |out: &str| out.lines().find(|l| l.starts_with("kept|")).map(str::to_owned);
    let (mine, theirs) = (line(&mine.stdout), line(&theirs.stdout));
    let cut = |l: Option<String>| l.map(|l| l.split(") ").next().unwrap_or_default().to_owned());
    assert_eq!(cut(mine), cut(theirs), "ps -a: the name, state and status (not the time)");
    assert_eq!(both.same(&["wait", "N:kept"]), "3\n");
    // restart: the exited container runs again, detached, and ends again.
    assert_eq!(both.same(&["restart", "N:kept"]), "kept\n");
    assert_eq!(both.same(&["wait", "N:kept"]), "3\n");
    assert_eq!(both.same(&["inspect", "-f", state, "N:kept"]), "exited false 3 0 /kept\n");

    // A detached one: its ID's shape, its log's tail, stop, its status.
    let script = "trap 'echo bye; exit 0' TERM; echo a; echo b; echo c; \
                  while :; do sleep 0.1; done";
    let (mine, theirs) = both.run(&["run", "-d", "--name", "N:bg", "IMG", "sh", "-c", script]);
    for ran in [&mine, &theirs] {
        let id = ran.stdout.trim();
        assert!(id.len() == 64 && id.chars().all(|c| c.is_ascii_hexdigit()), "{ran:?}");
    }
    assert!(eventually(|| {
        let (mine, theirs) = both.run(&["logs", "N:bg"]);
        mine.stdout == "a\nb\nc\n" && theirs.stdout == "a\nb\nc\n"
    }));
    assert_eq!(both.same(&["logs", "--tail", "2", "N:bg"]), "b\nc\n");
    assert_eq!(both.same(&["inspect", "-f", "{{.State.Running}}", "N:bg"]), "true\n");
    assert_eq!(both.same(&["stop", "-t", "5", "N:bg"]), "bg\n");
    assert_eq!(both.same(&["wait", "N:bg"]), "0\n");
    assert_eq!(both.same(&["logs", "N:bg"]), "a\nb\nc\nbye\n");
    // The command is PID 1 under both: without a handler, SIGTERM is
    // dropped (pid_namespaces(7)), and stop's SIGKILL ends it.
    let (mine, theirs) = both.run(&["run", "-d", "--name", "N:p1", "IMG", "sleep", "30"]);
    assert_eq!((mine.code, theirs.code), (0, 0), "{} / {}", mine.stderr, theirs.stderr);
    assert_eq!(both.same(&["stop", "-t", "1", "N:p1"]), "p1\n");
    assert_eq!(both.same(&["wait", "N:p1"]), "137\n");

    // -dit: detached, its shell waiting on its stdin.
    let (mine, theirs) = both.run(&["run", "-dit", "--name", "N:dit", "IMG", "sh"]);
    assert_eq!((mine.code, theirs.code), (0, 0), "{} / {}", mine.stderr, theirs.stderr);
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(both.same(&["inspect", "-f", "{{.State.Running}}", "N:dit"]), "true\n");
    assert_eq!(both.same(&["rm", "-f", "N:dit"]), "dit\n");

    // Failures that go on: rm past a bad name; inspect of none.
    assert_eq!(both.same(&["rm", "N:kept", "N:nosuch", "N:bg", "N:p1"]), "kept\nbg\np1\n");
    assert_eq!(both.same(&["inspect", "N:nosuch"]), "[]\n");
    both.same(&["kill", "N:nosuch"]);
    both.same(&["wait", "N:nosuch"]);
    assert!(lab.state_entries().is_empty(), "{:?}", lab.state_entries());
}
