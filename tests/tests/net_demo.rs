//! net-demo end to end: the isolation facts, the control run, nothing left
//! behind, the text.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nslab_tests::{As, Demo, assert_verdicts, can_run, experiment, int, text};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_net-demo");

const EXPERIMENTS: [&str; 5] =
    ["only-lo-down", "same-port-twice", "veth-pair", "network-modes", "kept-alive-by-mount"];

/// A list-of-text fact.
fn names(exp: &Value, side: &str, key: &str) -> Vec<String> {
    let list = exp[side][key].as_array().unwrap_or_else(|| panic!("{side}.{key} in {exp:#}"));
    list.iter().map(|v| v.as_str().expect("a name").to_owned()).collect()
}

/// `nsl<PID>-<role>`: the names the demo gives the interfaces it makes.
fn is_ours(name: &str, role: &str) -> bool {
    name.strip_prefix("nsl")
        .and_then(|rest| rest.split_once('-'))
        .is_some_and(|(pid, r)| pid.parse::<u32>().is_ok() && r == role)
}

/// The facts each claim rests on, checked one by one before any snapshot.
fn assert_isolation_facts(report: &Value) {
    assert_verdicts(report, |_| "pass");
    for exp in report["experiments"].as_array().expect("experiments") {
        assert!(
            text(exp, "host", "net_ns").ends_with("(lab host)"),
            "by default the host is a private namespace: {exp:#}"
        );
    }

    let e = experiment(report, "only-lo-down");
    assert_eq!(names(e, "namespace", "interfaces"), ["lo"], "only lo");
    assert_eq!(text(e, "namespace", "lo"), "DOWN");
    assert_eq!(text(e, "namespace", "ipv4_routes"), "none");
    assert_eq!(text(e, "namespace", "connect(127.0.0.1:8080)"), "ENETUNREACH");
    assert_eq!(text(e, "namespace", "lo_after_set_up"), "UP 127.0.0.1/8");
    assert!(text(e, "namespace", "ipv4_routes_after").contains("local 127.0.0.1/32"));
    assert_eq!(text(e, "namespace", "echo_over_127.0.0.1"), "hello over lo");
    assert_eq!(text(e, "host", "lo"), "UP 127.0.0.1/8");
    assert!(!text(e, "host", "net_ns").starts_with(text(e, "namespace", "net_ns")));

    let e = experiment(report, "same-port-twice");
    assert_eq!(text(e, "host", "bind(127.0.0.1:8080)"), "ok");
    assert_eq!(text(e, "namespace", "bind(127.0.0.1:8080)"), "ok", "the same port, at once");
    assert_eq!(text(e, "namespace", "connect(127.0.0.1:8080)"), "ECONNREFUSED");
    assert_eq!(text(e, "host", "connect_after_closing_ours"), "ECONNREFUSED");
    assert_eq!(text(e, "namespace", "own_server_echoed"), "hello from inside");

    let e = experiment(report, "veth-pair");
    assert_eq!(names(e, "namespace", "interfaces_before"), ["lo"]);
    assert_eq!(text(e, "namespace", "connect(10.200.1.1:8080)_before"), "ENETUNREACH");
    let inside = names(e, "namespace", "interfaces_after");
    assert_eq!(inside.len(), 2, "lo and the moved end: {inside:?}");
    assert!(is_ours(&inside[1], "c"), "{inside:?}");
    let host_after = names(e, "host", "interfaces_after");
    assert!(host_after.iter().any(|n| is_ours(n, "h")), "{host_after:?}");
    assert!(!host_after.contains(&inside[1]), "the moved end left the host: {host_after:?}");
    assert!(text(e, "host", "host_end").ends_with("UP 10.200.1.1/24"));
    assert!(text(e, "namespace", "container_end").ends_with("UP 10.200.1.2/24"));
    assert_eq!(text(e, "namespace", "echo_from_host"), "hello through the veth pair");
    assert_eq!(text(e, "host", "server_heard"), "hello through the veth pair");

    let e = experiment(report, "network-modes");
    assert_eq!(names(e, "namespace", "none_mode_interfaces"), ["lo"]);
    let host_list = names(e, "host", "interfaces");
    assert_eq!(names(e, "namespace", "host_mode_interfaces"), host_list);
    assert!(host_list.iter().any(|n| is_ours(n, "br")), "{host_list:?}");
    let ports = names(e, "host", "bridge_ports");
    assert!(ports.iter().all(|n| is_ours(n, "ah") || is_ours(n, "bh")) && ports.len() == 2);
    for (key, role) in [("bridge_a_interfaces", "a"), ("bridge_b_interfaces", "b")] {
        let list = names(e, "namespace", key);
        assert!(list.len() == 2 && list[0] == "lo" && is_ours(&list[1], role), "{list:?}");
    }
    assert_eq!(text(e, "namespace", "b_heard"), "hello B, this is A");
    assert_eq!(text(e, "namespace", "a_got_back"), "hello B, this is A");

    let e = experiment(report, "kept-alive-by-mount");
    assert_eq!(int(e, "host", "processes_left_in_namespace"), 0);
    assert_eq!(
        text(e, "namespace", "net_ns_entered_through_mount"),
        text(e, "namespace", "container_net_ns")
    );
    assert_eq!(text(e, "namespace", "lo_seen_through_mount"), "UP 127.0.0.1/8");
    assert_eq!(text(e, "host", "setns_after_umount"), "EINVAL");
}

/// Without CLONE_NEWNET for the containers every experiment must fail, and
/// the host is still the private lab host: a control run never touches the
/// machine's network either.
fn assert_control_flips(report: &Value) {
    assert_eq!(report["mode"], "control");
    assert_verdicts(report, |_| "fail");
    for exp in report["experiments"].as_array().expect("experiments") {
        assert!(text(exp, "host", "net_ns").ends_with("(lab host)"), "{exp:#}");
    }
    let e = experiment(report, "only-lo-down");
    assert_eq!(text(e, "namespace", "lo"), "UP 127.0.0.1/8", "the child shares the lab host's lo");
    let e = experiment(report, "same-port-twice");
    assert_eq!(text(e, "namespace", "bind(127.0.0.1:8080)"), "EADDRINUSE");
}

/// The harness's redaction, checked: no interface name may still hold the
/// PID of the process that made it (`nsl4242-br`).
fn net_text(demo: &Demo, args: &[&str]) -> Option<String> {
    let text = demo.text(args)?;
    let unredacted = text
        .match_indices("nsl")
        .any(|(i, _)| text[i + 3..].starts_with(|c: char| c.is_ascii_digit()));
    assert!(!unredacted, "{args:?}: an interface name still holds a PID: {text}");
    Some(text)
}

nslab_tests::demo_tests! {
    demo: "net-demo",
    bin: BIN,
    experiments: EXPERIMENTS,
    facts: |report: &Value, _: As| assert_isolation_facts(report),
    control: |report: &Value, _: As| assert_control_flips(report),
    text: net_text,
}

/// `--real-host` changes the machine's own namespace, so it is refused
/// (every experiment skipped, with why) where that would be wrong: without
/// root, and in a control run. Neither case touches the machine.
#[test]
fn real_host_is_refused_rootless_and_in_control_runs() {
    let cases = [(As::Rootless, vec!["--real-host"]), (As::Root, vec!["--real-host", "--control"])];
    for (who, args) in cases {
        let Some(()) = can_run("net-demo --real-host", who) else {
            continue;
        };
        let Some(report) = Demo::new("net-demo", BIN, who).json(&args) else {
            continue;
        };
        assert_verdicts(&report, |_| "skip");
        let reason = report["experiments"][0]["reason"].as_str().expect("a reason");
        assert!(reason.contains("--real-host needs root"), "{reason}");
    }
}

/// What the demo could leave behind on the machine: interfaces, mounts
/// (a bind-mounted namespace file among them) and `ip netns` names.
fn machine_state() -> (BTreeSet<String>, BTreeSet<String>, BTreeSet<String>) {
    let list = |dir: &str| -> BTreeSet<String> {
        std::fs::read_dir(dir)
            .map(|entries| {
                entries.filter_map(|e| Some(e.ok()?.file_name().to_str()?.to_owned())).collect()
            })
            .unwrap_or_default()
    };
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    (list("/sys/class/net"), mounts.lines().map(str::to_owned).collect(), list("/run/netns"))
}

/// The machine looks as it did, allowing a moment for the kernel's
/// asynchronous clean-up after killed processes.
fn assert_nothing_left(before: &(BTreeSet<String>, BTreeSet<String>, BTreeSet<String>)) {
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut now = machine_state();
    while now != *before && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        now = machine_state();
    }
    assert_eq!(now.0, before.0, "interfaces in /sys/class/net");
    assert_eq!(now.1, before.1, "mounts in /proc/self/mountinfo");
    assert_eq!(now.2, before.2, "names in /run/netns");
}

/// After a complete run, as root and rootless, and after a run killed in
/// the middle (SIGKILL while it holds a bridge and two veth pairs), the
/// machine has no new interface, mount or namespace file.
#[test]
fn nothing_is_left_behind() {
    let Some(()) = can_run("net-demo leak check", As::Root) else {
        return;
    };
    let before = machine_state();
    for who in [As::Root, As::Rootless] {
        let Some(output) = Demo::new("net-demo", BIN, who).run(&[]) else {
            continue;
        };
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stdout));
        assert_nothing_left(&before);
    }

    let mut demo = Command::new(BIN)
        .args(["--only", "network-modes", "--hold"])
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped()) // kept open: the demo holds until killed
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn net-demo --hold");
    let stderr = demo.stderr.take().expect("stderr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut holding = false;
    while !holding && Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(100)) {
            holding = line.contains("holding");
        }
    }
    assert!(holding, "the demo did not reach its hold");
    demo.kill().expect("SIGKILL the demo"); // what an impatient reader's `kill -9` does
    demo.wait().expect("reap the demo");
    assert_nothing_left(&before);
}

/// `--help` lists the demo's own flag with the common ones.
#[test]
fn help_lists_real_host() {
    let help = Command::new(BIN).arg("--help").output().expect("run");
    assert!(help.status.success());
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("--real-host"), "{help}");
    let list = Command::new(BIN).args(["--list", "--json"]).output().expect("run");
    let list: Value = serde_json::from_slice(&list.stdout).expect("json");
    assert_eq!(experiment(&list, "network-modes")["claims"], json!(["NET-4"]));
    insta::assert_snapshot!("help", help);
}
