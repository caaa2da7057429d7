//! mini-docker's command line as a Docker user meets it: clap's errors
//! shown whole with Docker's exit statuses, flags that end at the image,
//! and the run flags, commands and formats scripts written for Docker use.
//!
//! Docker's client (cobra) answers a flag it does not know, or a value it
//! cannot take, with 125, and a wrong count of arguments with 1; its bare
//! `docker` prints the help and exits 0. These were measured on Docker
//! 20.10 (`docker run --bogus`: 125, `docker ps extra`: 1, `docker
//! inspect`: 1, `docker bogus`: 1).

use std::net::{Ipv4Addr, TcpStream};
use std::time::{Duration, Instant};

use nslab_tests::As;
use nslab_tests::mini_docker::{LIMIT, Lab, eventually};
use serde_json::{Value, json};

/// The binaries each lab copies: mini-docker, and the probe it mounts.
const BINARIES: [&str; 2] = [env!("CARGO_BIN_EXE_mini-docker"), env!("CARGO_BIN_EXE_probe")];

/// Refusals of the command line itself: no container is made, so any user
/// may run them.
#[test]
fn command_line_errors_whole_with_dockers_statuses() {
    let Some(lab) = Lab::new("mini-docker command line", As::Rootless, &BINARIES) else { return };
    // Bare: the help, on stderr as Docker's, and success.
    let bare = lab.run::<&str>(&[]);
    assert_eq!(bare.code, 0, "{}", bare.stderr);
    assert!(bare.stderr.contains("Usage: mini-docker [OPTIONS] <COMMAND>"), "{}", bare.stderr);
    assert!(bare.stderr.contains("\nCommands:\n  run "), "{}", bare.stderr);
    let help = lab.run(&["run", "--help"]);
    assert_eq!(help.code, 0);
    assert!(help.stdout.contains("Usage: mini-docker run [OPTIONS] IMAGE [COMMAND] [ARG...]"));

    for (args, code, lines) in [
        // A flag it does not know: 125, with clap's tip and the usage line.
        (
            &["run", "--memroy", "1m", "host"][..],
            125,
            &[
                "error: unexpected argument '--memroy' found",
                "  tip: a similar argument exists: '--memory'",
                "Usage: mini-docker run [OPTIONS] IMAGE [COMMAND] [ARG...]",
            ][..],
        ),
        (&["ps", "--bogus"], 125, &["error: unexpected argument '--bogus' found"]),
        // A value it cannot take: 125.
        (
            &["run", "-m", "16x", "host"],
            125,
            &["error: invalid value '16x' for '--memory <SIZE>': \"16x\" is not a size: use a \
               number with an optional k, m or g"],
        ),
        // Wrong counts of arguments: 1.
        (
            &["run"],
            1,
            &[
                "error: the following required arguments were not provided:",
                "Usage: mini-docker run [OPTIONS] IMAGE [COMMAND] [ARG...]",
            ],
        ),
        (&["ps", "extra"], 1, &["error: unexpected argument 'extra' found"]),
        (&["inspect"], 1, &["error: the following required arguments were not provided:"]),
        (
            &["exec", "box"],
            1,
            &["error: 2 values required by '<CONTAINER> <COMMAND>...'; only 1 was provided"],
        ),
        (&["bogus"], 1, &["error: unrecognized subcommand 'bogus'"]),
    ] {
        let ran = lab.run(args);
        ran.assert_refused(code, lines[0]);
        for line in lines {
            assert!(
                ran.stderr.lines().any(|l| l == *line),
                "{args:?}: no {line:?}: {}",
                ran.stderr
            );
        }
    }
    assert!(lab.state_entries().is_empty(), "{:?}", lab.state_entries());
}

/// Flags end at the image, as Docker's do: `-c` after it is the command's
/// (before, it would be `--cpu-shares`); so is `--help`.
fn flags_end_at_the_image(who: As) {
    let Some(lab) = Lab::new("mini-docker flags end at the image", who, &BINARIES) else { return };
    let ran = lab.run(&["run", "--rm", "host", "sh", "-c", "echo \"$0 $1\"", "-c", "--help"]);
    assert_eq!((ran.code, ran.stdout.as_str()), (0, "-c --help\n"), "{}", ran.stderr);
    let ran = lab.run(&["run", "--rm", "host", "-c"]);
    ran.assert_refused(127, "\"-c\"");
    assert!(lab.state_entries().is_empty(), "{:?}", lab.state_entries());
}

#[test]
fn flags_end_at_the_image_as_root() {
    flags_end_at_the_image(As::Root);
}

#[test]
fn flags_end_at_the_image_rootless() {
    flags_end_at_the_image(As::Rootless);
}

/// `--env-file`, `--tmpfs`, `--cgroupns`, `--label`: what the container
/// sees and what `inspect` says.
fn run_flags(who: As) {
    let Some(lab) = Lab::new("mini-docker run flags", who, &BINARIES) else { return };
    let none = ["--network", "none"];
    // --env-file: comments and blank lines skipped, values as written,
    // then -e over them.
    let env_file = lab.dir.join("env");
    std::fs::write(&env_file, "# comment\nA=1\n\n  B=\"two words\"\nC=c\n").expect("env file");
    nslab_tests::mini_docker::chmod(&env_file, 0o644);
    let file = env_file.to_str().expect("path");
    let ran = lab.run(
        &[
            &["run", "--rm", "--env-file", file, "-e", "C=flag"][..],
            &none,
            &["host", "sh", "-c", "echo \"$A|$B|$C\""],
        ]
        .concat(),
    );
    assert_eq!((ran.code, ran.stdout.as_str()), (0, "1|\"two words\"|flag\n"), "{}", ran.stderr);
    std::fs::write(&env_file, "GOOD=1\nBAD KEY=2\n").expect("env file");
    let ran = lab.run(&["run", "--rm", "--env-file", file, "host", "true"]);
    ran.assert_refused(125, &format!("--env-file {file}:2: \"BAD KEY\" is not a variable name"));
    let ran = lab.run(&["run", "--rm", "--env-file", "/no/such", "host", "true"]);
    ran.assert_refused(125, "mini-docker: --env-file /no/such: No such file or directory");

    // --tmpfs: Docker's nosuid, nodev, noexec, then the options given.
    let ran = lab.run(
        &[
            &["run", "--rm", "--tmpfs", "/x", "--tmpfs", "/y:size=1m,mode=700,exec"][..],
            &none,
            &["host", "sh", "-c", "grep -E ' /(x|y) ' /proc/mounts"],
        ]
        .concat(),
    );
    // Rootless, the kernel names the owner (the container's root) as the
    // initial namespace sees it: the host's user (shmem_show_options).
    let owner = match who {
        As::Root => String::new(),
        As::Rootless => format!(",uid={0},gid={0}", lab.host_uid),
    };
    let expected = format!(
        "tmpfs /x tmpfs rw,nosuid,nodev,noexec,relatime{owner} 0 0\n\
         tmpfs /y tmpfs rw,nosuid,nodev,relatime,size=1024k,mode=700{owner} 0 0\n"
    );
    assert_eq!((ran.code, ran.stdout.as_str()), (0, expected.as_str()), "{}", ran.stderr);
    lab.run(&["run", "--rm", "--tmpfs", "x", "host", "true"])
        .assert_refused(125, "mini-docker: --tmpfs \"x\": the path must be absolute");
    lab.run(&["run", "--rm", "--tmpfs", "/x:uid=5", "host", "true"])
        .assert_refused(125, "tmpfs option \"uid=5\" is not supported");

    // --cgroupns host: the host's cgroup namespace; private (the default):
    // one of its own.
    let host_ns = std::fs::read_link("/proc/self/ns/cgroup").expect("ns").display().to_string();
    for (mode, same) in [("host", true), ("private", false)] {
        let ran = lab.run(
            &[
                &["run", "--rm", "--cgroupns", mode][..],
                &none,
                &["host", "readlink", "/proc/self/ns/cgroup"],
            ]
            .concat(),
        );
        assert_eq!(ran.code, 0, "{}", ran.stderr);
        assert_eq!(ran.stdout.trim() == host_ns, same, "--cgroupns {mode}: {}", ran.stdout);
    }

    // --label: config.json's annotations, and inspect's labels.
    let ran = lab.run(
        &[
            &["run", "--name", "labelled", "--label", "a=b", "-l", "c"][..],
            &none,
            &["host", "true"],
        ]
        .concat(),
    );
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let inspect = lab.run(&["inspect", "labelled"]);
    let inspected: Value = serde_json::from_str(&inspect.stdout).expect("inspect's JSON");
    assert_eq!(inspected[0]["config"]["labels"], json!({ "a": "b", "c": "" }));
    let annotations = &inspected[0]["bundle"]["config"]["annotations"];
    assert_eq!((&annotations["a"], &annotations["c"]), (&json!("b"), &json!("")));
    lab.run(&["run", "--rm", "--label", "org.nslab.mini-docker.name=x", "host", "true"])
        .assert_refused(125, "not a label of the user's");
    assert_eq!(lab.run(&["rm", "labelled"]).code, 0);
    assert!(lab.state_entries().is_empty(), "{:?}", lab.state_entries());
}

#[test]
fn run_flags_as_root() {
    run_flags(As::Root);
}

#[test]
fn run_flags_rootless() {
    run_flags(As::Rootless);
}

/// `-dit`, `-di`, `-dt`: detached, and the shell keeps waiting for input
/// (Docker keeps a detached `-i` container's stdin open); `--stop-signal`
/// and `--stop-timeout` are what `stop` uses.
fn detached_interactive_and_stop(who: As) {
    let Some(lab) = Lab::new("mini-docker -dit and stop", who, &BINARIES) else { return };
    let none = ["--network", "none"];
    for (flags, name) in [("-dit", "dit"), ("-itd", "itd"), ("-di", "di")] {
        let ran = lab.run(&[&["run", flags, "--name", name][..], &none, &["host", "sh"]].concat());
        assert_eq!((ran.code, ran.stdout.len()), (0, 65), "{flags}: {}", ran.stderr);
    }
    let ran = lab.run(&[&["run", "-dt", "--name", "dt"][..], &none, &["host", "tty"]].concat());
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert!(
        eventually(|| lab.run(&["logs", "dt"]).stdout.starts_with("/dev/pts/0")),
        "-dt: a terminal: {}",
        lab.run(&["logs", "dt"]).stdout
    );
    // A second later the shells still wait on their stdin.
    std::thread::sleep(Duration::from_secs(1));
    let ps = lab.run(&["ps"]).stdout;
    for name in ["dit", "itd", "di"] {
        assert!(ps.lines().any(|l| l.contains(name) && l.contains(" Up ")), "{name}: {ps}");
    }
    assert_eq!(lab.run(&["rm", "-f", "dit", "itd", "di", "dt"]).code, 0);

    // --stop-signal: the command's trap hears USR1, not TERM.
    let trap = "trap 'echo got USR1; exit 7' USR1; trap 'echo got TERM; exit 8' TERM; \
                echo ready; while :; do sleep 0.1; done";
    let ran = lab.run(
        &[
            &["run", "-d", "--name", "sig", "--stop-signal", "USR1"][..],
            &none,
            &["host", "sh", "-c", trap],
        ]
        .concat(),
    );
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert!(eventually(|| lab.run(&["logs", "sig"]).stdout.contains("ready")));
    assert_eq!(lab.run(&["stop", "sig"]).code, 0);
    assert_eq!(lab.run(&["logs", "sig"]).stdout, "ready\ngot USR1\n");
    // --stop-timeout 1: a command that ignores SIGTERM is killed after
    // one second, not Docker's ten; `stop -t 0` does not wait at all.
    let ignore = "trap '' TERM; while :; do sleep 0.1; done";
    for (run_flags, stop_flags) in
        [(&["--stop-timeout", "1"][..], &[][..]), (&[][..], &["-t", "0"][..])]
    {
        let ran = lab.run(
            &[
                &["run", "-d", "--name", "slow"][..],
                run_flags,
                &none,
                &["host", "sh", "-c", ignore],
            ]
            .concat(),
        );
        assert_eq!(ran.code, 0, "{}", ran.stderr);
        let start = Instant::now();
        assert_eq!(lab.run(&[&["stop"][..], stop_flags, &["slow"]].concat()).code, 0);
        let took = start.elapsed();
        assert!(took < Duration::from_secs(4), "{run_flags:?} {stop_flags:?}: {took:?}");
        assert_eq!(lab.run(&["rm", "slow"]).code, 0);
    }
    lab.run(&["run", "--rm", "--stop-signal", "NOPE", "host", "true"])
        .assert_refused(125, "unknown signal \"NOPE\"");
    assert_eq!(lab.run(&["rm", "sig"]).code, 0);
    assert!(lab.state_entries().is_empty(), "{:?}", lab.state_entries());
}

#[test]
fn detached_interactive_and_stop_as_root() {
    detached_interactive_and_stop(As::Root);
}

#[test]
fn detached_interactive_and_stop_rootless() {
    detached_interactive_and_stop(As::Rootless);
}

/// `-p IP:HOSTPORT:PORT`: the relay listens on that address only (in the
/// lab's network namespace, "the host": 127.0.0.1 answers, the bridge's
/// address does not).
#[test]
fn publish_on_one_address() {
    let Some(lab) = Lab::new("mini-docker -p IP:HOST:PORT", As::Root, &BINARIES) else { return };
    let ran =
        lab.run(&["run", "-d", "--name", "web", "-p", "127.0.0.1:18090:80", "host", "sleep", "30"]);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let inspected: Value =
        serde_json::from_str(&lab.run(&["inspect", "web"]).stdout).expect("inspect's JSON");
    let ports = &inspected[0]["network"]["ports"];
    assert_eq!(
        ports,
        &json!([{ "host_ip": "127.0.0.1", "host_port": 18090, "port": 80, "proto": "tcp" }])
    );
    let gateway = inspected[0]["network"]["gateway"].as_str().expect("gateway").to_owned();
    let netns = lab.netns().expect("a root lab's namespace");
    let (local, bridge) = netns.on_host(move || {
        let local = TcpStream::connect((Ipv4Addr::LOCALHOST, 18090)).map(|_| ());
        let gateway: Ipv4Addr = gateway.parse().expect("an address");
        let bridge = TcpStream::connect((gateway, 18090)).map_err(|e| e.kind());
        (local, bridge)
    });
    assert!(local.is_ok(), "127.0.0.1:18090: {local:?}");
    assert_eq!(bridge.map(|_| ()), Err(std::io::ErrorKind::ConnectionRefused));
    // `port`, as Docker's prints it.
    let port = lab.run(&["port", "web"]);
    assert_eq!((port.code, port.stdout.as_str()), (0, "80/tcp -> 127.0.0.1:18090\n"));
    assert_eq!(lab.run(&["port", "web", "80"]).stdout, "127.0.0.1:18090\n");
    lab.run(&["port", "web", "81/udp"])
        .assert_refused(1, "mini-docker: container \"web\" publishes no port 81/udp");
    let ps = lab.run(&["ps", "--format", "{{.Names}} {{.Ports}}"]);
    assert_eq!(ps.stdout, "web 127.0.0.1:18090->80/tcp\n");
    assert_eq!(lab.run(&["rm", "-f", "web"]).code, 0);
    lab.run(&["run", "--rm", "-p", "::1:80:80", "host", "true"])
        .assert_refused(125, "is not a port mapping: use [IP:]HOSTPORT:PORT[/tcp|udp]");
}

/// The state scripts read: exit statuses and times (`ps -a`, `inspect`,
/// `wait`), `ps -q` and `--format`, `inspect -f`, `logs --tail`, `top`,
/// and failures that go on and exit 1 as Docker's.
fn scripts(who: As) {
    let Some(lab) = Lab::new("mini-docker for scripts", who, &BINARIES) else { return };
    let none = ["--network", "none"];
    let run = |flags: &[&str], command: &[&str]| {
        lab.run(&[&["run"][..], flags, &none, &["host"], command].concat())
    };
    // A foreground container, kept: its status and times are recorded.
    assert_eq!(run(&["--name", "ex"], &["sh", "-c", "exit 3"]).code, 3);
    let ps = lab.run(&["ps", "-a"]).stdout;
    let line = ps.lines().find(|l| l.contains(" ex ")).unwrap_or_default();
    assert!(line.contains(" Exited (3) ") && line.ends_with(" ago"), "{ps}");
    assert!(!lab.run(&["ps"]).stdout.contains(" ex "), "plain ps: running ones only");
    let state = "{{.State.Status}} {{.State.Running}} {{.State.ExitCode}} {{.State.Pid}} {{.Name}}";
    let ran = lab.run(&["inspect", "-f", state, "ex"]);
    assert_eq!((ran.code, ran.stdout.as_str()), (0, "exited false 3 0 /ex\n"), "{}", ran.stderr);
    let times = lab.run(&["inspect", "-f", "{{.State.StartedAt}} {{.State.FinishedAt}}", "ex"]);
    let times: Vec<&str> = times.stdout.split_whitespace().collect();
    let shape = |t: &&str| t.chars().map(|c| if c.is_ascii_digit() { 'd' } else { c }).collect();
    let shapes: Vec<String> = times.iter().map(shape).collect();
    assert_eq!(shapes, ["dddd-dd-ddTdd:dd:dd.dddddddddZ"; 2], "RFC 3339, as Docker's: {times:?}");
    assert!(times[0] <= times[1], "started before it finished: {times:?}");
    let waited = lab.run(&["wait", "ex"]);
    assert_eq!((waited.code, waited.stdout.as_str()), (0, "3\n"));
    lab.run(&["logs", "ex"]).assert_refused(1, "has no log: only a container run with -d");

    // A detached one: its log's tail, then wait for its status.
    let script = "echo a; echo b; echo c; sleep 1; exit 4";
    assert_eq!(run(&["-d", "--name", "bg"], &["sh", "-c", script]).code, 0);
    assert!(eventually(|| lab.run(&["logs", "bg"]).stdout == "a\nb\nc\n"));
    assert_eq!(lab.run(&["logs", "--tail", "2", "bg"]).stdout, "b\nc\n");
    let waited = lab.run(&["wait", "bg", "ex"]);
    assert_eq!((waited.code, waited.stdout.as_str()), (0, "4\n3\n"));
    assert_eq!(lab.run(&["inspect", "-f", "{{.State.ExitCode}}", "bg"]).stdout, "4\n");

    // A running one: its PID as the host numbers it, top, ps -q, --format.
    let ran = run(&["-d", "--name", "up"], &["sleep", "30"]);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let id = ran.stdout.trim().to_owned();
    let pid = lab.run(&["inspect", "-f", "{{.State.Pid}}", "up"]).stdout.trim().to_owned();
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    assert_eq!(cmdline, b"sleep\x0030\x00", "State.Pid {pid} is the command");
    let top = lab.run(&["top", "up"]);
    assert_eq!(top.stdout.lines().next(), Some("UID        PID      PPID     CMD"));
    assert!(
        top.stdout
            .lines()
            .any(|l| l.split_whitespace().nth(1) == Some(pid.as_str()) && l.ends_with(" sleep 30")),
        "{}",
        top.stdout
    );
    assert_eq!(lab.run(&["ps", "-q"]).stdout, format!("{}\n", &id[..12]));
    let ps = lab.run(&["ps", "--format", "{{.ID}} {{.Names}}"]);
    assert_eq!(ps.stdout, format!("{} up\n", &id[..12]));
    let json = lab.run(&["ps", "-a", "--format", "json"]).stdout;
    let names: Vec<String> = json
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("one JSON object a line"))
        .map(|v| {
            format!("{} {}", v["Names"].as_str().unwrap_or(""), v["State"].as_str().unwrap_or(""))
        })
        .collect();
    let mut names = names;
    names.sort();
    assert_eq!(names, ["bg exited", "ex exited", "up running"]);
    lab.run(&["ps", "--format", "{{.Bogus}}"]).assert_refused(1, "no field \"Bogus\"");
    let ran = lab.run(&["stop", "-t", "1", "up"]);
    assert_eq!((ran.code, ran.stdout.as_str()), (0, "up\n"), "{}", ran.stderr);
    // sleep is PID 1 and has no handler for SIGTERM, so the kernel drops
    // it (pid_namespaces(7)); stop's SIGKILL a second later ends it: 128 +
    // 9, as Docker records it.
    assert_eq!(lab.run(&["wait", "up"]).stdout, "137\n");

    // Failures: rm goes on past a bad name and reports it; exit 1.
    let ran = lab.run(&["rm", "ex", "nosuch", "bg"]);
    assert_eq!((ran.code, ran.stdout.as_str()), (1, "ex\nbg\n"));
    assert_eq!(ran.stderr, "mini-docker: no such container \"nosuch\" (see `mini-docker ps`)\n");
    let ran = lab.run(&["inspect", "nosuch"]);
    assert_eq!((ran.code, ran.stdout.as_str()), (1, "[]\n"), "{}", ran.stderr);
    // An ID prefix two containers share is reported as such. (Two kept
    // containers' state directories, as teardown leaves them, with IDs
    // chosen to share a prefix.)
    for id in ["abc1", "abc2"] {
        let dir = lab.state().join(format!("{id}{}", "0".repeat(60)));
        std::fs::create_dir(&dir).expect("mkdir");
        std::fs::write(dir.join("name"), id).expect("name");
        for path in [&dir, &dir.join("name")] {
            let owner = Some(lab.host_uid);
            std::os::unix::fs::chown(path, owner, owner).expect("the containers' user owns it");
        }
    }
    lab.run(&["inspect", "abc"]).assert_refused(
        1,
        "mini-docker: container ID prefix \"abc\" is ambiguous: it starts 2 IDs (give more of it)",
    );
    assert_eq!(lab.run(&["rm", "abc1", "abc2", "up"]).code, 0);
    assert!(lab.state_entries().is_empty(), "{:?}", lab.state_entries());
}

#[test]
fn scripts_as_root() {
    scripts(As::Root);
}

#[test]
fn scripts_rootless() {
    scripts(As::Rootless);
}

/// `mini-docker` run directly, no container involved: its output.
fn mini_docker(args: &[&str]) -> nslab_tests::mini_docker::Ran {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_mini-docker"));
    cmd.args(args).stdin(std::process::Stdio::null());
    cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    nslab_tests::mini_docker::finish(cmd.spawn().expect("mini-docker"), LIMIT)
}

/// What bash completes after `words` (the last one being typed), with the
/// script `completion bash` prints.
fn bash_completes(script: &std::path::Path, words: &[&str]) -> Vec<String> {
    let line = words.iter().map(|w| format!("'{w}'")).collect::<Vec<_>>().join(" ");
    let (current, previous) = (words[words.len() - 1], words[words.len() - 2]);
    let probe = format!(
        "source '{}'; COMP_WORDS=({line}); COMP_CWORD={}; \
         _mini__docker mini-docker '{current}' '{previous}'; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        script.display(),
        words.len() - 1
    );
    let mut bash = std::process::Command::new("bash");
    bash.args(["--norc", "-c", &probe]).stdin(std::process::Stdio::null());
    bash.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let ran = nslab_tests::mini_docker::finish(bash.spawn().expect("bash"), LIMIT);
    assert_eq!((ran.code, ran.stderr.as_str()), (0, ""), "bash: {probe}");
    ran.stdout.lines().map(str::to_owned).collect()
}

/// The completions come from clap's definitions: bash completes the
/// commands, a subcommand's flags and a flag's values; zsh's and fish's
/// scripts are written too.
#[test]
fn shell_completions() {
    let bash = mini_docker(&["completion", "bash"]);
    assert_eq!(bash.code, 0, "{}", bash.stderr);
    let dir = std::env::temp_dir().join(format!("mini-docker-completion-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("mkdir");
    let script = dir.join("mini-docker.bash");
    std::fs::write(&script, &bash.stdout).expect("write the script");
    let commands = bash_completes(&script, &["mini-docker", "wa"]);
    let network = bash_completes(&script, &["mini-docker", "run", "--netw"]);
    let shells = bash_completes(&script, &["mini-docker", "completion", "z"]);
    let cgroupns = bash_completes(&script, &["mini-docker", "run", "--cgroupns", ""]);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(commands, ["wait"]);
    assert_eq!(network, ["--network"], "a subcommand's flags");
    assert_eq!(shells, ["zsh"]);
    assert_eq!(cgroupns, ["private", "host"]);
    let zsh = mini_docker(&["completion", "zsh"]);
    assert!(zsh.stdout.starts_with("#compdef mini-docker\n"), "{}", zsh.stdout);
    assert!(zsh.stdout.contains("--stop-timeout"));
    let fish = mini_docker(&["completion", "fish"]);
    assert!(
        fish.stdout
            .contains("complete -c mini-docker -n \"__fish_mini_docker_using_subcommand run\"")
    );
    mini_docker(&["completion", "tcsh"]).assert_refused(125, "invalid value 'tcsh'");
}

/// The man pages come from clap's definitions: the sections a man page
/// has, every command in the main one, a command's flags in its own; groff
/// renders each without a warning (`-ww`).
#[test]
fn man_pages() {
    let main = mini_docker(&["man"]);
    assert_eq!(main.code, 0, "{}", main.stderr);
    for section in
        [".TH mini-docker 1", ".SH NAME", ".SH SYNOPSIS", ".SH OPTIONS", ".SH SUBCOMMANDS"]
    {
        assert!(
            main.stdout.lines().any(|l| l.starts_with(section)),
            "no {section}: {}",
            main.stdout
        );
    }
    for command in ["run", "ps", "inspect", "wait", "top", "port", "completion"] {
        assert!(main.stdout.contains(&format!("mini\\-docker\\-{command}(1)")), "{command}");
    }
    let run = mini_docker(&["man", "run"]);
    assert!(run.stdout.contains(".TH mini-docker-run 1"), "{}", run.stdout);
    assert!(run.stdout.contains("\\fB\\-\\-network\\fR"), "{}", run.stdout);
    mini_docker(&["man", "bogus"]).assert_refused(1, "mini-docker: man \"bogus\": no such command");

    if !std::path::Path::new("/usr/bin/groff").exists() {
        nslab_tests::skip("man pages rendered", "needs groff (apt-get install groff-base)");
        return;
    }
    for page in [&main, &run] {
        let dir = std::env::temp_dir();
        let path =
            dir.join(format!("mini-docker-man-{}-{}.1", std::process::id(), page.stdout.len()));
        std::fs::write(&path, &page.stdout).expect("write the page");
        let mut groff = std::process::Command::new("groff");
        groff.args(["-man", "-Tutf8", "-ww"]).arg(&path).stdin(std::process::Stdio::null());
        groff.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
        let rendered = nslab_tests::mini_docker::finish(groff.spawn().expect("groff"), LIMIT);
        let _ = std::fs::remove_file(&path);
        assert_eq!((rendered.code, rendered.stderr.as_str()), (0, ""), "groff's warnings");
        assert!(rendered.stdout.contains("General Commands Manual"), "{}", rendered.stdout);
    }
}

/// Starts `sleep 60` detached as `name`, with no network, then SIGKILLs
/// its monitor (the PID in its state's `owner` file), as a crash would;
/// returns that PID.
fn detached_with_its_monitor_killed(lab: &Lab, name: &str) -> i32 {
    let ran = lab.run(&["run", "-d", "--name", name, "--network", "none", "host", "sleep", "60"]);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let id = ran.stdout.trim().to_owned();
    let owner = std::fs::read_to_string(lab.state().join(&id).join("owner")).expect("owner");
    let monitor: i32 = owner.split_whitespace().next().and_then(|p| p.parse().ok()).expect("pid");
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(monitor), nix::sys::signal::Signal::SIGKILL)
        .expect("SIGKILL the monitor");
    monitor
}

/// `wait` on a `run --rm -d` container prints its status, as Docker's does
/// when the wait began before the end; and a container whose mini-docker
/// (the monitor) was SIGKILLed shows, once `ps` has reclaimed it, as
/// Docker shows one whose shim was killed: `Exited (137)`, with its
/// `State` filled in.
#[test]
fn wait_on_rm_and_a_killed_monitor() {
    let Some(lab) = Lab::new("mini-docker wait --rm, killed monitor", As::Rootless, &BINARIES)
    else {
        return;
    };
    let none = ["--network", "none"];
    let ran = lab.run(
        &[
            &["run", "--rm", "-d", "--name", "brief"][..],
            &none,
            &["host", "sh", "-c", "sleep 1; exit 3"],
        ]
        .concat(),
    );
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let waited = lab.run(&["wait", "brief"]);
    assert_eq!((waited.code, waited.stdout.as_str(), waited.stderr.as_str()), (0, "3\n", ""));
    assert!(eventually(|| lab.state_entries().is_empty()), "{:?}", lab.state_entries());
    // Gone by now: as Docker's, an error, exit 1.
    lab.run(&["wait", "brief"]).assert_refused(1, "no such container \"brief\"");

    detached_with_its_monitor_killed(&lab, "orphan");
    // Its PID 1 dies with it (PR_SET_PDEATHSIG); ps reclaims and records it.
    assert!(eventually(|| lab
        .run(&["ps", "-a", "--format", "{{.Status}}"])
        .stdout
        .starts_with("Exited (137) ")));
    let ps = lab.run(&["ps", "-a", "--format", "{{.Names}} {{.State}} {{.Status}}"]);
    assert!(
        ps.stdout.starts_with("orphan exited Exited (137) ") && ps.stdout.ends_with(" ago\n"),
        "{}",
        ps.stdout
    );
    let state = "{{.State.Status}} {{.State.Running}} {{.State.ExitCode}} {{.State.Pid}}";
    let ran = lab.run(&["inspect", "-f", state, "orphan"]);
    assert_eq!((ran.code, ran.stdout.as_str()), (0, "exited false 137 0\n"), "{}", ran.stderr);
    let finished = lab.run(&["inspect", "-f", "{{.State.FinishedAt}}", "orphan"]);
    assert_ne!(finished.stdout, "0001-01-01T00:00:00Z\n", "FinishedAt is recorded");
    let waited = lab.run(&["wait", "orphan"]);
    assert_eq!((waited.code, waited.stdout.as_str()), (0, "137\n"));
    assert_eq!(lab.run(&["rm", "orphan"]).code, 0);
}

/// `restart`: a running container is stopped and started again, detached,
/// with the same ID and name; what it wrote to its root is still there and
/// its log goes on; an exited one starts again; a `--rm` one is kept
/// through it; a bad name is reported and the others still restart (1).
fn restart(who: As) {
    let Some(lab) = Lab::new("mini-docker restart", who, &BINARIES) else { return };
    let none = ["--network", "none"];
    // Each start appends a line to a file in the container's root and
    // prints how many there are.
    let count = "echo x >> /count; wc -l < /count; exec sleep 60";
    let ran = lab.run(
        &[&["run", "-d", "--name", "again"][..], &none, &["host", "sh", "-c", count]].concat(),
    );
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let id = ran.stdout.trim().to_owned();
    assert!(eventually(|| lab.run(&["logs", "again"]).stdout == "1\n"));
    let pid = |lab: &Lab| lab.run(&["inspect", "-f", "{{.State.Pid}}", "again"]).stdout;
    let first = pid(&lab);
    let restarted = lab.run(&["restart", "-t", "1", "again"]);
    assert_eq!((restarted.code, restarted.stdout.as_str()), (0, "again\n"), "{}", restarted.stderr);
    // The same container, a new process, the file kept: "2", after "1".
    assert!(eventually(|| lab.run(&["logs", "again"]).stdout == "1\n2\n"));
    let ps = lab.run(&["ps", "-q"]);
    assert_eq!(ps.stdout.trim(), &id[..12], "{}", ps.stderr);
    assert_ne!(pid(&lab), first, "a new PID 1");
    let status = lab.run(&["inspect", "-f", "{{.State.Status}}", "again"]);
    assert_eq!(status.stdout, "running\n");

    // Exited: started again, with its status recorded anew.
    let ran = lab
        .run(&[&["run", "--name", "exits"][..], &none, &["host", "sh", "-c", "exit 3"]].concat());
    assert_eq!(ran.code, 3, "{}", ran.stderr);
    let restarted = lab.run(&["restart", "nosuch", "exits"]);
    assert_eq!(restarted.code, 1);
    assert_eq!(restarted.stdout, "exits\n");
    assert!(restarted.stderr.contains("no such container \"nosuch\""), "{}", restarted.stderr);
    assert_eq!(lab.run(&["wait", "exits"]).stdout, "3\n");

    // --rm: kept through the restart (as Docker's), removed when it ends.
    let ran = lab.run(
        &[&["run", "-d", "--rm", "--name", "brief"][..], &none, &["host", "sleep", "60"]].concat(),
    );
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let restarted = lab.run(&["restart", "-t", "0", "brief"]);
    assert_eq!((restarted.code, restarted.stdout.as_str()), (0, "brief\n"), "{}", restarted.stderr);
    let status = lab.run(&["inspect", "-f", "{{.State.Status}}", "brief"]);
    assert_eq!(status.stdout, "running\n", "{}", status.stderr);
    assert_eq!(lab.run(&["kill", "brief"]).code, 0);
    assert!(eventually(|| lab.run(&["ps", "-a", "-q"]).stdout.lines().count() == 2));

    // An empty argument is an argument: it survives the restart.
    let ran = lab.run(
        &[&["run", "-d", "--name", "empty"][..], &none, &["host", "/bin/echo", "[", "", "]"]]
            .concat(),
    );
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert!(eventually(|| lab.run(&["logs", "empty"]).stdout == "[  ]\n"));
    // (Its command has ended: restarted as it is being torn down, or after.)
    let restarted = lab.run(&["restart", "empty"]);
    assert_eq!(restarted.code, 0, "{}", restarted.stderr);
    assert!(eventually(|| lab.run(&["logs", "empty"]).stdout == "[  ]\n[  ]\n"));

    // Dead (its monitor killed, nothing swept yet): reclaimed, then started.
    let monitor = detached_with_its_monitor_killed(&lab, "dead");
    assert!(eventually(|| !std::path::Path::new(&format!("/proc/{monitor}")).exists()));
    let restarted = lab.run(&["restart", "dead"]);
    assert_eq!((restarted.code, restarted.stdout.as_str()), (0, "dead\n"), "{}", restarted.stderr);
    let status = lab.run(&["inspect", "-f", "{{.State.Status}}", "dead"]);
    assert_eq!(status.stdout, "running\n", "{}", status.stderr);

    // A setting that no longer holds: refused before the stop, so the
    // container runs on; its --rm still holds when it ends.
    let source = lab.scratch("gone");
    let volume = format!("{}:/v", source.display());
    let ran = lab.run(
        &[
            &["run", "-d", "--rm", "--name", "vol", "-v", &volume][..],
            &none,
            &["host", "sleep", "60"],
        ]
        .concat(),
    );
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    std::fs::remove_dir(&source).expect("rmdir the volume's source");
    let restarted = lab.run(&["restart", "-t", "0", "vol"]);
    assert_eq!(restarted.code, 1, "{}", restarted.stderr);
    assert!(restarted.stderr.contains("vol"), "{}", restarted.stderr);
    let status = lab.run(&["inspect", "-f", "{{.State.Status}}", "vol"]);
    assert_eq!(status.stdout, "running\n", "{}", status.stderr);
    assert_eq!(lab.run(&["kill", "vol"]).code, 0);

    let removed = lab.run(&["rm", "-f", "again", "exits", "empty", "dead"]);
    assert_eq!(removed.code, 0, "{}", removed.stderr);
    assert!(eventually(|| lab.state_entries().is_empty()), "{:?}", lab.state_entries());
}

#[test]
fn restart_as_root() {
    restart(As::Root);
}

#[test]
fn restart_rootless() {
    restart(As::Rootless);
}
