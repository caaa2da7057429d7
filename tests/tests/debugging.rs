//! The debugging toolbox, end to end: `lsns`, `nsenter`, `findmnt -N`,
//! `/proc/PID/ns`, `NSpid`, `uid_map` and `ip netns identify`, run from
//! outside on a running mini-docker container (as root, and one started by
//! an unprivileged user) and on a demo held open with `--hold`.
//!
//! The tools only look: the one that would change something, `ip netns
//! attach`, runs in a throwaway mount namespace with a tmpfs on `/run`. Each
//! check asserts the fact first, then the transcript (commands and their
//! output, PIDs and inode numbers redacted) is a snapshot the book includes.
//! Every process started is ended and waited for; every wait is bounded.
//!
//! The binaries are other packages' (mini-docker, uts-demo): they are found
//! next to this test's executable, as `claim_index.rs` finds the demos, so
//! build them first (`cargo build -p mini-docker -p uts-demo`, or run
//! `cargo test --workspace`, which does).

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Mutex, MutexGuard, PoisonError, mpsc};
use std::time::Instant;

use nslab_tests::mini_docker::{self, LIMIT, Lab, Ran};
use nslab_tests::{As, can_run, skip};
use regex::Regex;
use serde_json::Value;

/// The tools the chapter teaches; a machine without one skips (util-linux,
/// iproute2 and coreutils provide them).
const TOOLS: [&str; 5] = ["lsns", "nsenter", "findmnt", "ip", "stat"];

fn tools_present(test: &str) -> bool {
    for tool in TOOLS {
        let mut version = Command::new(tool);
        version.arg("--version").stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
        let Ok(mut found) = version.spawn() else {
            skip(test, &format!("needs {tool} (util-linux, iproute2, coreutils)"));
            return false;
        };
        nslab_tests::wait_bounded(&mut found, LIMIT);
    }
    true
}

/// Runs `args` from outside (this test process: root, the host's
/// namespaces), at most [`LIMIT`].
fn tool(args: &[&str]) -> Ran {
    let mut cmd = Command::new(args[0]);
    cmd.args(&args[1..]).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd.env("LC_ALL", "C");
    mini_docker::finish(nslab_tests::spawn_retrying(&mut cmd), LIMIT)
}

/// A transcript of commands and their output, as a reader would type and
/// see them, with what varies from run to run replaced by named placeholders.
struct Transcript {
    text: String,
    /// Whole-word values to replace (host PIDs, the lab's directory).
    names: Vec<(String, String)>,
    inodes: Vec<String>,
}

impl Transcript {
    fn new() -> Transcript {
        Transcript { text: String::new(), names: Vec::new(), inodes: Vec::new() }
    }

    /// From now on `value` is shown as `[placeholder]`.
    fn name(&mut self, value: impl ToString, placeholder: &str) {
        self.names.push((value.to_string(), format!("[{placeholder}]")));
    }

    fn comment(&mut self, line: &str) {
        self.text += &format!("# {line}\n");
    }

    /// Lines another program printed, as comments, redacted; blank ones left out.
    fn quote(&mut self, lines: &[String]) {
        for line in lines.iter().filter(|l| !l.trim().is_empty()) {
            let shown = self.redact(line);
            self.comment(&shown);
        }
    }

    /// Runs `args`, records `$ args` and the output (stderr after stdout),
    /// redacted; returns what ran, unredacted, for the assertions.
    fn run(&mut self, args: &[&str]) -> Ran {
        let ran = tool(args);
        let shown = self.redact(&shell_words(args));
        let mut out = self.redact(&format!("{}{}", ran.stdout, ran.stderr));
        if args[0] == "lsns" {
            out = host_rows(&out);
        }
        self.text += &format!("$ {shown}\n{out}");
        if !out.is_empty() && !out.ends_with('\n') {
            self.text.push('\n');
        }
        ran
    }

    fn redact(&mut self, text: &str) -> String {
        let mut out = text.to_owned();
        for (value, placeholder) in &self.names {
            let word =
                Regex::new(&format!(r"(^|[^\w/-]|/proc/){}\b", regex::escape(value))).expect("re");
            out = word.replace_all(&out, format!("${{1}}{placeholder}")).into_owned();
            // Paths (the lab's directory) are replaced wherever they appear.
            if value.starts_with('/') {
                out = out.replace(value.as_str(), placeholder);
            }
        }
        // Namespace inode numbers, bare (lsns) or in a link (`uts:[N]`):
        // numbered in order of appearance, as the harness does, so equal
        // numbers stay visibly equal.
        let inode = Regex::new(r"\[?\b(40265\d{5})\b\]?").expect("re");
        let inodes = &mut self.inodes;
        inode
            .replace_all(&out, |c: &regex::Captures| {
                let n = match inodes.iter().position(|i| *i == c[1]) {
                    Some(i) => i + 1,
                    None => {
                        inodes.push(c[1].to_owned());
                        inodes.len()
                    }
                };
                format!("[NS_INODE_{n}]")
            })
            .into_owned()
    }
}

/// A command line as a reader would type it: words with spaces or shell
/// characters in single quotes.
fn shell_words(args: &[&str]) -> String {
    let plain = |a: &str| a.chars().all(|c| c.is_alphanumeric() || "-_./,=:%[]".contains(c));
    let words: Vec<String> =
        args.iter().map(|a| if plain(a) { a.to_string() } else { format!("'{a}'") }).collect();
    words.join(" ")
}

/// `lsns` rows of namespaces the container shares with the host (time, and
/// user as root): their process count and lowest PID are the machine's.
/// Those become `[COUNT]` and `[HOST_PID]`; then the columns are realigned.
fn host_rows(table: &str) -> String {
    let mut rows: Vec<Vec<String>> =
        table.lines().map(|l| l.split_whitespace().map(str::to_owned).collect()).collect();
    for row in rows.iter_mut().skip(1) {
        if row.len() >= 4 && !row[3].starts_with('[') {
            row[2] = "[COUNT]".into();
            row[3] = "[HOST_PID]".into();
        }
    }
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|i| rows.iter().filter_map(|r| r.get(i)).map(String::len).max().unwrap_or(0))
        .collect();
    rows.iter()
        .map(|row| {
            let cells: Vec<String> =
                row.iter().zip(&widths).map(|(cell, w)| format!("{cell:<w$}")).collect();
            cells.join(" ").trim_end().to_owned() + "\n"
        })
        .collect()
}

/// The namespace links of `/proc/PID/ns` as `stat -c %N` prints them.
fn links_of(ran: &Ran) -> Vec<(String, String)> {
    let line = Regex::new(r"^'/proc/[^/]+/ns/(\w+)' -> '(.+)'$").expect("re");
    ran.stdout
        .lines()
        .filter_map(|l| line.captures(l).map(|c| (c[1].to_owned(), c[2].to_owned())))
        .collect()
}

/// `lsns -o NS,TYPE,NPROCS,PID` rows as (type, nprocs, pid).
fn lsns_rows(ran: &Ran) -> Vec<(String, u32, u32)> {
    ran.stdout
        .lines()
        .skip(1)
        .filter_map(|l| {
            let cells: Vec<&str> = l.split_whitespace().collect();
            Some((
                cells.get(1)?.to_string(),
                cells.get(2)?.parse().ok()?,
                cells.get(3)?.parse().ok()?,
            ))
        })
        .collect()
}

fn nspid(pid: u32) -> Vec<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let line = status.lines().find_map(|l| l.strip_prefix("NSpid:")).expect("an NSpid line");
    line.split_whitespace().map(|n| n.parse().expect("a PID")).collect()
}

/// A busybox root filesystem as a plain tarball, the shape `docker export`
/// writes, imported as the image `bb`.
fn import_busybox(test: &str, lab: &Lab) -> bool {
    if !Path::new("/bin/busybox").is_file() {
        skip(test, "needs /bin/busybox (apt-get install busybox-static)");
        return false;
    }
    let files = lab.scratch("files");
    let rootfs = files.join("rootfs");
    std::fs::create_dir_all(rootfs.join("bin")).expect("mkdir rootfs/bin");
    std::fs::copy("/bin/busybox", rootfs.join("bin/busybox")).expect("copy busybox");
    for applet in ["sh", "sleep", "hostname", "ps", "cat", "id"] {
        std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet)).expect("symlink");
    }
    let tarball = files.join("bb.tar");
    lab.tar(&rootfs, &tarball);
    let ran = lab.run(&["import", tarball.to_str().expect("path"), "bb"]);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert!(ran.stdout.starts_with("sha256:"), "{}", ran.stdout);
    true
}

/// `run -d --init --net none --hostname HOSTNAME bb sleep 60`; returns the
/// container's init and command PIDs, as the host sees them. With
/// `--init` the container has two processes to look at from outside: the
/// reaper as PID 1 and the command as its child.
fn start(lab: &Lab, hostname: &str) -> (u32, u32) {
    let args = ["run", "-d", "--init", "--net", "none", "--name", "dbg", "--hostname", hostname];
    let mut all = args.to_vec();
    all.extend_from_slice(&["bb", "sleep", "60"]);
    let ran = lab.run(&all);
    assert_eq!(ran.code, 0, "run -d: {}", ran.stderr);
    let ran = lab.run(&["inspect", "dbg"]);
    let info: Value = serde_json::from_str(&ran.stdout).expect("inspect prints JSON");
    let pid = |key: &str| info[0]["pids"][key].as_u64().expect("a PID") as u32;
    (pid("init"), pid("command"))
}

/// Stops the container and checks nothing is left.
fn stop(lab: &Lab) {
    assert_eq!(lab.run(&["rm", "-f", "dbg"]).code, 0);
    assert!(lab.state_entries().iter().all(|e| e.len() != 64), "{:?}", lab.state_entries());
}

/// A lab whose mini-docker runs as `who` and holds the image `bb`; `None`
/// (after a line saying why) without root (the tools look from the host,
/// as root), one of the tools, or busybox.
fn busybox_lab(test: &str, who: As) -> Option<Lab> {
    if can_run(test, As::Root).is_none() || !tools_present(test) {
        return None;
    }
    let bin = nslab_tests::workspace_binary("mini-docker");
    let lab = Lab::new(test, who, &[&bin.to_string_lossy()])?;
    import_busybox(test, &lab).then_some(lab)
}

/// The tests of this file run one at a time. `lsns` lists namespaces in
/// the order of their inode numbers, and the kernel gives those out
/// lowest-free-first (`proc_alloc_inum`, an IDA): a namespace another
/// test frees while a container is being made (its cgroup namespace comes
/// last, after it joined its cgroups) could take a lower number than the
/// container's first ones, and reorder the rows of a transcript.
fn one_at_a_time() -> MutexGuard<'static, ()> {
    static ONE: Mutex<()> = Mutex::new(());
    // A test that failed while it held the lock leaves nothing to repair.
    ONE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A root container, looked at with every tool of the chapter.
#[test]
fn container_from_outside() {
    let _alone = one_at_a_time();
    let Some(lab) = busybox_lab("debugging: a container from outside", As::Root) else { return };
    let (init, command) = start(&lab, "dbgbox");
    let mut t = Transcript::new();
    t.name(lab.dir.display(), "LAB");
    t.name(init, "INIT_HOST_PID");
    t.name(command, "COMMAND_HOST_PID");

    t.comment("mini-docker run -d --net none --hostname dbgbox bb sleep 60");
    t.comment("one process, two PIDs: the host's, then the container's");
    let ran = t.run(&[
        "grep",
        "NSpid",
        &format!("/proc/{init}/status"),
        &format!("/proc/{command}/status"),
    ]);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(nspid(init), [init, 1], "init is PID 1 inside");
    assert_eq!(nspid(command), [command, 2], "the command is its child");

    t.comment("which namespaces: the links of /proc/PID/ns, and ours to compare");
    let theirs = links_of(&t.run(&["sh", "-c", &format!("stat -c %N /proc/{init}/ns/*")]));
    let ours = links_of(&t.run(&["sh", "-c", "stat -c %N /proc/self/ns/uts /proc/self/ns/user"]));
    let link = |links: &[(String, String)], kind: &str| {
        links.iter().find(|(k, _)| k == kind).map(|(_, l)| l.clone()).expect("a link")
    };
    assert_ne!(link(&theirs, "uts"), link(&ours, "uts"), "a UTS namespace of its own");
    assert_eq!(link(&theirs, "user"), link(&ours, "user"), "as root: the host's user namespace");

    t.comment("lsns: each namespace, how many processes, the lowest PID in it");
    let ran = t.run(&["lsns", "-p", &init.to_string(), "-o", "NS,TYPE,NPROCS,PID"]);
    let rows = lsns_rows(&ran);
    for kind in ["mnt", "uts", "ipc", "pid", "net", "cgroup"] {
        let row =
            rows.iter().find(|r| r.0 == kind).unwrap_or_else(|| panic!("no {kind}: {rows:?}"));
        assert_eq!((row.1, row.2), (2, init), "{kind}: init and the command, init first");
    }

    t.comment("nsenter: run a command in some of its namespaces (-u: UTS only) ...");
    let ran = t.run(&["nsenter", "-t", &init.to_string(), "-u", "hostname"]);
    assert_eq!((ran.code, ran.stdout.as_str()), (0, "dbgbox\n"), "{}", ran.stderr);
    t.comment("... or in all of them (-a), root directory included: the image's ps");
    let ran = t.run(&["nsenter", "-t", &init.to_string(), "-a", "ps"]);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let pids: Vec<&str> =
        ran.stdout.lines().skip(1).filter_map(|l| l.split_whitespace().next()).collect();
    assert_eq!(pids, ["1", "2", "3"], "init, sleep, and ps itself: {}", ran.stdout);
    assert!(ran.stdout.contains("sleep 60"), "{}", ran.stdout);

    t.comment("findmnt -N: the container's mount table, read from outside");
    let ran = t.run(&["findmnt", "-N", &init.to_string(), "-o", "TARGET,SOURCE,FSTYPE", "/"]);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert!(
        ran.stdout.lines().nth(1).is_some_and(|l| l.starts_with("/ ") && l.ends_with("overlay")),
        "{}",
        ran.stdout
    );

    t.comment("ip netns identify: names only from /run/netns; a container's has none");
    let ran = t.run(&["ip", "netns", "identify", &init.to_string()]);
    assert_eq!((ran.code, ran.stdout.trim()), (0, ""), "{}", ran.stderr);
    t.comment("give it one, in a throwaway mount namespace with its own /run");
    let script = format!(
        "mount -t tmpfs nslab /run && ip netns attach dbg {init} && ip netns identify {init}"
    );
    let ran = t.run(&["unshare", "-m", "--propagation", "private", "sh", "-c", &script]);
    assert_eq!((ran.code, ran.stdout.as_str()), (0, "dbg\n"), "{}", ran.stderr);

    t.comment("the user namespace's map: as root, the identity map of every UID");
    let ran = t.run(&["cat", &format!("/proc/{init}/uid_map")]);
    let map: Vec<&str> = ran.stdout.split_whitespace().collect();
    assert_eq!(map, ["0", "0", "4294967295"]);

    stop(&lab);
    insta::assert_snapshot!("container", t.text);
}

/// A container started by an unprivileged user: its own user namespace,
/// seen from outside.
#[test]
fn rootless_container_from_outside() {
    let _alone = one_at_a_time();
    let test = "debugging: a rootless container from outside";
    let Some(lab) = busybox_lab(test, As::Rootless) else { return };
    let (init, _) = start(&lab, "rootless");
    let mut t = Transcript::new();
    t.name(lab.dir.display(), "LAB");
    t.name(init, "INIT_HOST_PID");
    if let Some((first, _, count)) = nslab_tests::nobody_subordinate() {
        t.name(first, "SUBUID_FIRST");
        t.name(count, "SUBUID_COUNT");
    }

    t.comment("mini-docker run -d --net none --hostname rootless bb sleep 60, as uid 65534");
    let ran = t.run(&["cat", &format!("/proc/{init}/uid_map")]);
    let map: Vec<String> =
        ran.stdout.lines().map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ")).collect();
    assert_eq!(
        map,
        nslab_tests::rootless_id_map(lab.host_uid, false),
        "root inside is uid 65534 outside, the other IDs its /etc/subuid range"
    );

    t.comment("lsns: now the user namespace is the container's too, and so is USER");
    let ran = t.run(&["lsns", "-p", &init.to_string(), "-o", "NS,TYPE,NPROCS,PID,USER"]);
    let rows = lsns_rows(&ran);
    let user = rows.iter().find(|r| r.0 == "user").expect("a user row");
    assert_eq!((user.1, user.2), (2, init), "a user namespace of its own: {}", ran.stdout);

    t.comment(
        "host root holds every capability in the user namespaces below its own: no -U needed",
    );
    let ran = t.run(&["nsenter", "-t", &init.to_string(), "-u", "hostname"]);
    assert_eq!((ran.code, ran.stdout.as_str()), (0, "rootless\n"), "{}", ran.stderr);
    t.comment("-a joins the user namespace too, and nsenter becomes its root");
    let ran = t.run(&[
        "nsenter",
        "-t",
        &init.to_string(),
        "-a",
        "sh",
        "-c",
        "id -u; cat /proc/self/uid_map",
    ]);
    let mut seen = ran.stdout.lines().map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "));
    assert_eq!(seen.next().as_deref(), Some("0"), "{}", ran.stderr);
    assert_eq!(seen.collect::<Vec<_>>(), nslab_tests::rootless_id_map(lab.host_uid, false));

    stop(&lab);
    insta::assert_snapshot!("rootless-container", t.text);
}

/// A demo held open with `--hold`: the commands it prints work, from outside.
#[test]
fn held_demo_from_outside() {
    let _alone = one_at_a_time();
    let test = "debugging: uts-demo --hold from outside";
    if can_run(test, As::Root).is_none() || !tools_present(test) {
        return;
    }
    let bin = nslab_tests::workspace_binary("uts-demo");
    let mut cmd = Command::new(&bin);
    cmd.args(["--hold", "--only", "hostname-is-private"]).env("NO_COLOR", "1");
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut demo = Demo(nslab_tests::spawn_retrying(&mut cmd));

    // Its stderr, line by line, on a thread: each read below waits a bounded time.
    let (lines, from_demo) = mpsc::channel();
    let stderr = demo.0.stderr.take().expect("stderr");
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + LIMIT;
    let mut held = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = from_demo.recv_timeout(left).expect("the demo says it is holding");
        let done = line.contains("Press Enter");
        held.push(line);
        if done {
            break;
        }
    }
    let pid_line = Regex::new(r"process is PID (\d+) on the host").expect("re");
    let pid: u32 = held
        .iter()
        .find_map(|l| pid_line.captures(l).map(|c| c[1].parse().expect("a PID")))
        .unwrap_or_else(|| panic!("no PID in {held:#?}"));
    let printed: Vec<String> = held
        .iter()
        .map(|l| l.trim().to_owned())
        .filter(|l| l.starts_with("sudo nsenter"))
        .collect();
    assert!(!printed.is_empty(), "the demo prints nsenter commands: {held:#?}");

    let mut t = Transcript::new();
    t.name(pid, "DEMO_HOST_PID");
    t.comment("uts-demo --hold --only hostname-is-private, waiting for Enter; it printed:");
    t.quote(&held);
    t.comment("the command it printed, run as it says (sudo aside: we are root)");
    for command in &printed {
        let args: Vec<&str> = command.split_whitespace().skip(1).collect();
        let ran = t.run(&args);
        assert_eq!(
            (ran.code, ran.stdout.as_str()),
            (0, "nslab-box\n"),
            "{command}: {}",
            ran.stderr
        );
    }
    let ran = t.run(&["lsns", "-p", &pid.to_string(), "-t", "uts", "-o", "NS,TYPE,NPROCS,PID"]);
    let rows = lsns_rows(&ran);
    assert_eq!(rows.len(), 1, "{}", ran.stdout);
    assert_eq!((rows[0].0.as_str(), rows[0].1, rows[0].2), ("uts", 1, pid), "one process in it");
    let ran = t.run(&["grep", "NSpid", &format!("/proc/{pid}/status")]);
    assert_eq!(
        ran.stdout.split_whitespace().skip(1).collect::<Vec<_>>(),
        [pid.to_string()],
        "no PID namespace: one PID"
    );

    // Enter: the demo finishes its experiment and exits.
    let mut stdin = demo.0.stdin.take().expect("stdin");
    stdin.write_all(b"\n").expect("press Enter");
    drop(stdin);
    let status = nslab_tests::wait_bounded(&mut demo.0, LIMIT);
    let mut out = String::new();
    std::io::Read::read_to_string(&mut demo.0.stdout.take().expect("stdout"), &mut out)
        .expect("read");
    assert!(status.success() && out.contains("verdict:    PASS"), "{out}");
    insta::assert_snapshot!("held-demo", t.text);
}

/// The demo process: killed and reaped if a check fails before it ends.
struct Demo(std::process::Child);

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
