//! mini-docker resource limits end to end (claims SEC-4 and CG-NS): a
//! memory limit ends an over-allocation with an OOM kill (exit 137), a
//! pids limit stops a fork loop, a CPU quota slows a busy loop, the
//! container sees its cgroup as `/`, and no cgroup directory outlives its
//! container: after a clean exit, an OOM kill, a failed start or a
//! mini-docker killed with SIGKILL (the next command sweeps it), and a
//! `run --rm` removes them before it returns.
//!
//! The loads are the probe's own (`probe alloc|forks|spin`), bounded in
//! size (64 MiB, 100 processes) and time (one second of spinning). The
//! probe is bind-mounted into a `host` container. Every run gets a state
//! directory of its own and is killed after [`LIMIT`].

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nslab_tests::As;
use nslab_tests::mini_docker::{LIMIT, Lab, Ran};
use serde_json::Value;

/// The binaries each lab copies: mini-docker, and the probe it mounts.
const BINARIES: [&str; 2] = [env!("CARGO_BIN_EXE_mini-docker"), env!("CARGO_BIN_EXE_probe")];

/// The v1 hierarchies mini-docker limits in (on v2: the unified tree).
const CONTROLLERS: [&str; 4] = ["memory", "pids", "cpu", "cpuset"];

/// `run` (kept, not `--rm`: the state directory names the container's ID
/// afterwards) with `options`, then `CMD…` in a `host` container.
fn run(lab: &Lab, options: &[&str], command: &[&str]) -> Ran {
    lab.run(&lab.run_args(options, command))
}

/// The probe's JSON answer to `probe ARGS…` under `options`.
fn probe(lab: &Lab, options: &[&str], probe_args: &[&str]) -> (i32, Value) {
    let mut command = vec!["/probe/probe"];
    command.extend_from_slice(probe_args);
    let ran = run(lab, options, &command);
    let value = serde_json::from_str(&ran.stdout).unwrap_or(Value::Null);
    (ran.code, value)
}

/// Every container this lab ran (kept ones stay listed by ID; the state
/// root also holds the bridge's `lease-ADDRESS` files).
fn ids(lab: &Lab) -> Vec<String> {
    lab.state_entries().into_iter().filter(|n| !n.starts_with("lease-")).collect()
}

/// Fails if a cgroup directory of one of this lab's containers exists.
fn assert_no_cgroups_left(lab: &Lab) {
    for id in ids(lab) {
        let left = cgroup_dirs(&id);
        assert!(left.is_empty(), "cgroups left behind: {left:?}");
    }
}

/// The container's cgroup directories that exist now, v1 or v2.
fn cgroup_dirs(id: &str) -> Vec<PathBuf> {
    // (As root every container has a devices cgroup for its device rules.)
    let mut candidates: Vec<PathBuf> = CONTROLLERS
        .iter()
        .chain(&["devices"])
        .map(|c| Path::new("/sys/fs/cgroup").join(c).join("mini-docker").join(id))
        .collect();
    candidates.push(Path::new("/sys/fs/cgroup/mini-docker").join(id));
    candidates.into_iter().filter(|d| d.exists()).collect()
}

/// The limits file `file` of the container's cgroup (v1 layout).
fn v1_file(controller: &str, id: &str, file: &str) -> String {
    let path = Path::new("/sys/fs/cgroup").join(controller).join("mini-docker").join(id).join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}")).trim().to_owned()
}

fn is_v1() -> bool {
    Path::new("/sys/fs/cgroup/memory/cgroup.procs").exists()
}

/// SEC-4: 64 MiB fit without a limit; under `--memory 16m` the OOM killer
/// ends the allocation, and the shell's convention 128 + SIGKILL is 137.
#[test]
fn memory_limit_oom_kill() {
    let Some(lab) = Lab::new("cgroups memory", As::Root, &BINARIES) else { return };
    let (code, free) = probe(&lab, &[], &["alloc", "64"]);
    assert_eq!((code, &free["allocated_mib"]), (0, &Value::from(64)), "control run");
    let (code, limited) = probe(&lab, &["--memory", "16m"], &["alloc", "64"]);
    assert_eq!(code, 137, "expected an OOM kill, got {limited}");
    assert_eq!(limited, Value::Null, "killed before it could report");
    assert_no_cgroups_left(&lab);
}

/// SEC-4: without a limit 20 processes start; with `--pids-limit 10` the
/// loop stops early with EAGAIN (init and the probe count too).
#[test]
fn pids_limit_stops_fork_loop() {
    let Some(lab) = Lab::new("cgroups pids", As::Root, &BINARIES) else { return };
    let (code, free) = probe(&lab, &[], &["forks", "20"]);
    assert_eq!((code, &free["started"]), (0, &Value::from(20)), "control run");
    let (code, limited) = probe(&lab, &["--pids-limit", "10"], &["forks", "100"]);
    assert_eq!(code, 0, "{limited}");
    let started = limited["started"].as_u64().expect("started");
    assert!(started < 10, "{limited}");
    let error = limited["error"].as_str().expect("error");
    assert!(error.contains("os error 11"), "EAGAIN expected: {limited}");
    assert_no_cgroups_left(&lab);
}

/// SEC-4: two busy loops spin for the same second side by side, one under
/// `--cpus 0.1`; the limited one gets through a fraction of the work.
/// Both see the same competition from other tests, so the ratio holds
/// where a wall-clock threshold would not.
#[test]
fn cpu_quota_slows_busy_loop() {
    let Some(lab) = Lab::new("cgroups cpu", As::Root, &BINARIES) else { return };
    let spin = ["/probe/probe", "spin", "1"];
    let free = lab.spawn(&lab.run_args(&[], &spin));
    let limited = lab.spawn(&lab.run_args(&["--cpus", "0.1"], &spin));
    let (free, limited) = (free.finish(), limited.finish());
    assert_eq!((free.code, limited.code), (0, 0), "{} {}", free.stderr, limited.stderr);
    let count = |ran: &Ran| {
        let v: Value = serde_json::from_str(&ran.stdout).expect("json");
        v["iterations"].as_f64().expect("iterations")
    };
    let ratio = count(&limited) / count(&free);
    assert!(ratio < 0.5, "--cpus 0.1 did {ratio:.2} of the unlimited loop's work");
    assert_no_cgroups_left(&lab);
}

/// CG-NS: inside, every hierarchy's line of /proc/self/cgroup ends in
/// `/`: the container joined its cgroups before its cgroup namespace was
/// made, so they are its root.
#[test]
fn cgroup_namespace_shows_root() {
    let Some(lab) = Lab::new("cgroups namespace", As::Root, &BINARIES) else { return };
    let options = ["--memory", "32m", "--pids-limit", "50", "--cpus", "0.5"];
    let (code, report) = probe(&lab, &options, &[]);
    assert_eq!(code, 0, "{report}");
    let lines: Vec<&str> =
        report["cgroup"].as_array().expect("cgroup").iter().filter_map(Value::as_str).collect();
    assert!(!lines.is_empty());
    for line in lines {
        assert!(line.ends_with(":/"), "{line}: not the namespace's root");
    }
    assert_no_cgroups_left(&lab);
}

/// A `run --rm` in the foreground removes its container's cgroups before
/// it returns the command's status, though it leaves its state directory
/// to the remover it forked (mini-docker's `teardown.rs`): the record
/// naming the cgroups is in that directory, which a caller may remove as
/// soon as `run` has returned (this lab does), and a remover that found no
/// record would leave the cgroups behind. With the host's cgroup namespace the
/// container names its own cgroup.
#[test]
fn rm_cgroups_go_before_run_returns() {
    let Some(lab) = Lab::new("cgroups removed at once", As::Root, &BINARIES) else { return };
    let options = ["--cgroupns", "host", "--memory", "32m", "--pids-limit", "50"];
    let ran = lab.container(&options, &["cat", "/proc/self/cgroup"]);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let own = cgroup_path(&ran.stdout, if is_v1() { "pids" } else { "" });
    let id = own.strip_prefix("/mini-docker/").unwrap_or_else(|| panic!("{own}: not ours"));
    assert_eq!(cgroup_dirs(id), Vec::<PathBuf>::new(), "left when run returned");
    assert!(lab.state_entries().is_empty(), "{:?}", lab.state_entries());
}

/// With the host's PID namespace, nothing ends what the command leaves
/// running when it exits: `run --rm` kills it with the container's cgroups
/// before it returns.
#[test]
fn rm_with_host_pids_kills_what_is_left() {
    let Some(lab) = Lab::new("cgroups host pids", As::Root, &BINARIES) else { return };
    let script = "sleep 60 & echo $!";
    let ran = lab.container(&["--pid", "host", "--net", "none"], &["sh", "-c", script]);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let pid: u32 = ran.stdout.trim().parse().unwrap_or_else(|_| panic!("{:?}", ran.stdout));
    // Gone, or a zombie until init reaps it: field 3 of /proc/PID/stat
    // (a process of another name has the PID since: gone too).
    let state = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .filter(|stat| stat.contains(" (sleep) "))
        .and_then(|stat| stat.rsplit_once(") ").and_then(|(_, rest)| rest.chars().next()));
    assert!(matches!(state, None | Some('Z') | Some('X')), "sleep {pid} still {state:?}");
}

/// The limits as the host sees them while the container runs; then
/// mini-docker is killed with SIGKILL (its container dies with it, the
/// cgroups stay: nobody could remove them) and the next run removes them.
#[test]
fn limits_on_the_host_and_killed_cleanup() {
    let Some(lab) = Lab::new("cgroups files", As::Root, &BINARIES) else { return };
    if !is_v1() {
        nslab_tests::not_here("limits_on_the_host", "checks the v1 file names; this host has v2");
        return;
    }
    let options =
        ["--rm", "-m", "16m", "--pids-limit", "20", "--cpus", "0.5", "--cpuset-cpus", "0"];
    let running = lab.spawn(&lab.run_args(&options, &["sleep", "30"]));
    let start = Instant::now();
    let id = loop {
        assert!(start.elapsed() < LIMIT, "the container never joined its cgroup");
        if let Some(id) = ids(&lab).pop()
            && std::fs::read_to_string(
                Path::new("/sys/fs/cgroup/pids/mini-docker").join(&id).join("cgroup.procs"),
            )
            .is_ok_and(|procs| procs.lines().count() >= 1)
        {
            break id;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    assert_eq!(v1_file("memory", &id, "memory.limit_in_bytes"), (16u64 << 20).to_string());
    assert_eq!(v1_file("pids", &id, "pids.max"), "20");
    assert_eq!(v1_file("cpu", &id, "cpu.cfs_quota_us"), "50000");
    assert_eq!(v1_file("cpu", &id, "cpu.cfs_period_us"), "100000");
    assert_eq!(v1_file("cpuset", &id, "cpuset.cpus"), "0");
    running.kill();
    // The container dies with mini-docker (PR_SET_PDEATHSIG): its cgroups empty.
    let procs = Path::new("/sys/fs/cgroup/pids/mini-docker").join(&id).join("cgroup.procs");
    while std::fs::read_to_string(&procs).is_ok_and(|p| !p.trim().is_empty()) {
        assert!(start.elapsed() < LIMIT, "the container outlived mini-docker");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(cgroup_dirs(&id).len(), 5, "nothing could remove them yet");
    let ran = lab.run(&["run", "--rm", "host", "true"]);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert!(cgroup_dirs(&id).is_empty(), "not swept: {:?}", cgroup_dirs(&id));
    assert!(ids(&lab).is_empty(), "state not swept: {:?}", ids(&lab));
}

/// A start that fails after the cgroups were made removes them: a CPU the
/// machine lacks (refused by the kernel once the memory cgroup exists),
/// and a command that does not exist (127).
#[test]
fn failed_starts_leave_no_cgroup() {
    let Some(lab) = Lab::new("cgroups failed start", As::Root, &BINARIES) else { return };
    let ran = run(&lab, &["-m", "16m", "--cpuset-cpus", "4000"], &["true"]);
    assert_eq!(ran.code, 125);
    assert!(ran.stderr.contains("--cpuset-cpus 4000: the kernel refused it"), "{}", ran.stderr);
    assert!(ids(&lab).is_empty(), "a failed start left state: {:?}", ids(&lab));
    let ran = run(&lab, &["-m", "16m", "--pids-limit", "10"], &["/no/such/command"]);
    assert_eq!(ran.code, 127, "{}", ran.stderr);
    assert_no_cgroups_left(&lab);
}

/// Invalid values: one line, exit 125, nothing created.
#[test]
fn invalid_limits() {
    let Some(lab) = Lab::new("cgroups invalid values", As::Root, &BINARIES) else { return };
    for (flags, message) in [
        (&["--memory", "16x"][..], "\"16x\" is not a size"),
        (&["--memory", "1m"], "below the minimum of 6m"),
        (&["--memory-swap", "32m"], "--memory-swap needs --memory"),
        (&["-m", "32m", "--memory-swap", "16m"], "is smaller than --memory"),
        (&["--cpus", "0"], "is not a number of CPUs"),
        (&["--cpus", "100000"], "more than the"),
        (&["--cpu-shares", "1"], "from 2 to 262144"),
        (&["--cpuset-cpus", "1-0"], "is not a CPU list"),
        (&["--pids-limit", "many"], "--pids-limit"),
    ] {
        let ran = run(&lab, flags, &["true"]);
        ran.assert_refused(125, message);
    }
    assert!(ids(&lab).is_empty(), "{:?}", ids(&lab));
}

/// Rootless on v1 the limits are refused with the reason; on v2 they need
/// a delegated subtree, which this test cannot arrange.
#[test]
fn rootless_limits_refused() {
    let Some(lab) = Lab::new("cgroups rootless", As::Rootless, &BINARIES) else { return };
    if !is_v1() {
        nslab_tests::not_here("rootless_limits_refused", "cgroup v2 here: delegation not tested");
        return;
    }
    let ran = run(&lab, &["--rm", "-m", "16m"], &["true"]);
    assert_eq!(ran.code, 125, "{}", ran.stderr);
    assert!(ran.stderr.contains("resource limits need root on cgroup v1"), "{}", ran.stderr);
    assert!(ids(&lab).is_empty(), "{:?}", ids(&lab));
    // Without limits a rootless container needs no cgroup at all.
    let ran = run(&lab, &["--rm"], &["true"]);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
}

/// The line of `/proc/PID/cgroup` (`ID:CONTROLLERS:PATH`) of the hierarchy
/// that holds `controller`: its path.
fn cgroup_path<'a>(proc_cgroup: &'a str, controller: &str) -> &'a str {
    proc_cgroup
        .lines()
        .find_map(|line| {
            let mut fields = line.splitn(3, ':');
            let (_, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
            controllers.split(',').any(|c| c == controller).then_some(path)
        })
        .unwrap_or_else(|| panic!("no {controller} line in {proc_cgroup}"))
}

/// The host PID of the container's init: the process of its cgroup that
/// is PID 1 in its own PID namespace (the last field of `NSpid`).
fn init_of(id: &str) -> u32 {
    let procs = Path::new("/sys/fs/cgroup/pids/mini-docker").join(id).join("cgroup.procs");
    let procs = std::fs::read_to_string(&procs).unwrap_or_else(|e| panic!("{procs:?}: {e}"));
    procs
        .lines()
        .filter_map(|pid| pid.parse::<u32>().ok())
        .find(|pid| {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
            status
                .lines()
                .find_map(|l| l.strip_prefix("NSpid:"))
                .is_some_and(|ids| ids.split_whitespace().last() == Some("1"))
        })
        .unwrap_or_else(|| panic!("no init among {procs}"))
}

/// `MemTotal` of a `/proc/meminfo`, in kB.
fn mem_total(meminfo: &str) -> u64 {
    meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:")?.trim().strip_suffix(" kB")?.parse().ok())
        .unwrap_or_else(|| panic!("no MemTotal in {meminfo}"))
}

/// For the book (SEC-4, CG-NS): one container's cgroups from both sides.
/// The host sees its init in `/mini-docker/ID` of each limited hierarchy
/// and the limits in that directory's files; the same process, read from
/// inside, is at `/`, and nothing inside shows a limit: no cgroup file
/// system is mounted, and /proc/meminfo is the host's.
#[test]
fn limits_seen_from_both_sides() {
    let Some(lab) = Lab::new("cgroups from both sides", As::Root, &BINARIES) else { return };
    if !is_v1() {
        nslab_tests::not_here("limits_seen_from_both_sides", "shows v1 files; this host has v2");
        return;
    }
    let limits = ["--memory", "64m", "--pids-limit", "50", "--cpus", "0.5"];
    let mut options = vec!["-d", "--rm", "--name", "limited"];
    options.extend_from_slice(&limits);
    let started = run(&lab, &options, &["sleep", "30"]);
    assert_eq!(started.code, 0, "{}", started.stderr);
    let id = started.stdout.trim().to_owned();
    let init = init_of(&id);
    let on_host = std::fs::read_to_string(format!("/proc/{init}/cgroup")).expect("cgroup");
    let script = "cat /proc/1/cgroup; echo ==; \
                  cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max; \
                  echo ==; cat /proc/meminfo";
    let ran = lab.run(&["exec", "limited", "sh", "-c", script]);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let parts: Vec<&str> = ran.stdout.split("==\n").collect();
    let [inside, listing, meminfo] = parts[..] else { panic!("{}", ran.stdout) };

    let controllers = ["memory", "pids", "cpu"];
    let own = format!("/mini-docker/{id}");
    for controller in controllers {
        assert_eq!(cgroup_path(&on_host, controller), own, "{controller} on the host");
        assert_eq!(cgroup_path(inside, controller), "/", "{controller} inside");
    }
    assert!(inside.lines().all(|l| l.ends_with(":/")), "CG-NS: {inside}");
    let files = [
        ("memory", "memory.limit_in_bytes", (64u64 << 20).to_string()),
        ("pids", "pids.max", "50".to_owned()),
        ("cpu", "cpu.cfs_quota_us", "50000".to_owned()),
        ("cpu", "cpu.cfs_period_us", "100000".to_owned()),
    ];
    for (controller, file, value) in &files {
        assert_eq!(&v1_file(controller, &id, file), value, "{file}");
    }
    // Its own cgroups, mounted read-only at /sys/fs/cgroup as in Docker:
    // the cgroup namespace makes them the root of each hierarchy.
    assert_eq!(listing, format!("{}\n50\n", 64u64 << 20), "the limits, read inside");
    let host_meminfo = std::fs::read_to_string("/proc/meminfo").expect("meminfo");
    assert_eq!(mem_total(meminfo), mem_total(&host_meminfo), "the host's /proc/meminfo");
    assert!(mem_total(meminfo) > 64 << 10, "more than the limit");

    let killed = lab.run(&["kill", "limited"]);
    assert_eq!(killed.code, 0, "{}", killed.stderr);
    let start = Instant::now();
    while ids(&lab).contains(&id) {
        assert!(start.elapsed() < LIMIT, "the container never ended");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(cgroup_dirs(&id).is_empty(), "left: {:?}", cgroup_dirs(&id));

    let mut text =
        format!("run -d --name limited {} host sleep 30 (cgroup v1)\n\n", limits.join(" "));
    text += "its init, /proc/[HOST_PID]/cgroup read on the host:\n";
    for controller in controllers {
        text += &format!("  {controller:<8} {}\n", cgroup_path(&on_host, controller));
    }
    text += "the same process, /proc/1/cgroup read inside (exec limited …):\n";
    for controller in controllers {
        text += &format!("  {controller:<8} {}\n", cgroup_path(inside, controller));
    }
    text += "  (every other line ends in / too)\n\nthe limits, in the host's files:\n";
    for (controller, file, value) in &files {
        let path = format!("/sys/fs/cgroup/{controller}/mini-docker/[ID]/{file}");
        text += &format!("  {path:<62} {value}\n");
    }
    text += "inside:\n";
    text +=
        "  /sys/fs/cgroup/memory/memory.limit_in_bytes   67108864 (its own cgroup, read-only)\n";
    text += "  /sys/fs/cgroup/pids/pids.max                  50\n";
    text += "  /proc/meminfo    MemTotal: [HOST_MEMTOTAL] kB, the host's, not 64 MiB\n";
    let text = text.replace(&id, "[ID]");
    insta::assert_snapshot!("both-sides", text);
}
