//! uts-demo end to end: the isolation facts, the control run, the text.

use nslab_tests::{As, assert_verdicts, experiment, int, text};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_uts-demo");

const EXPERIMENTS: [&str; 6] = [
    "hostname-is-private",
    "two-containers-two-names",
    "name-stays-inside",
    "unshare-moves-caller",
    "setns-joins",
    "kept-alive-by-mount",
];

fn real_hostname() -> String {
    nix::unistd::gethostname().expect("gethostname").to_string_lossy().into_owned()
}

fn assert_isolation_facts(report: &Value) {
    assert_verdicts(report, |_| "pass");
    let host = real_hostname();

    let e = experiment(report, "hostname-is-private");
    assert_eq!(text(e, "host", "hostname_before"), host);
    assert_eq!(text(e, "host", "hostname_after"), host, "the host's name must not change");
    assert_eq!(
        text(e, "namespace", "hostname_at_start"),
        host,
        "a new UTS namespace starts as a copy"
    );
    assert_eq!(text(e, "namespace", "hostname_after_set"), "nslab-box");
    assert_eq!(text(e, "namespace", "domainname_after_set"), "nslab.test");

    let e = experiment(report, "two-containers-two-names");
    assert_eq!(text(e, "namespace", "first_sees"), "alpha");
    assert_eq!(text(e, "namespace", "second_sees"), "beta");
    assert_eq!(text(e, "host", "host_sees"), host);

    let e = experiment(report, "name-stays-inside");
    assert_eq!(text(e, "host", "uname_nodename"), host);
    assert_eq!(e["host"]["etc_hosts_mentions_nslab_box"], false);
    assert_eq!(text(e, "namespace", "uname_nodename"), "nslab-box");

    let e = experiment(report, "unshare-moves-caller");
    assert_eq!(text(e, "namespace", "uts_before_unshare"), text(e, "host", "uts"));
    assert_ne!(
        text(e, "namespace", "uts_after_unshare"),
        text(e, "host", "uts"),
        "the caller itself moved"
    );

    let e = experiment(report, "setns-joins");
    assert_eq!(text(e, "host", "joiner_hostname_before_setns"), host);
    assert_eq!(text(e, "namespace", "joiner_hostname_after_setns"), "nslab-box");
    assert_eq!(
        text(e, "namespace", "joiner_uts_after_setns"),
        text(e, "namespace", "container_uts")
    );

    let e = experiment(report, "kept-alive-by-mount");
    assert_eq!(int(e, "host", "processes_left_in_namespace"), 0);
    assert_eq!(text(e, "namespace", "hostname_read_through_mount"), "nslab-kept");
    assert_eq!(
        text(e, "namespace", "uts_entered_through_mount"),
        text(e, "namespace", "container_uts")
    );
    assert_eq!(text(e, "host", "setns_after_umount"), "EINVAL");

    assert_eq!(real_hostname(), host, "the machine's hostname is untouched");
}

/// Without CLONE_NEWUTS every experiment fails, and still the machine's
/// hostname is untouched: the control run works in a throwaway namespace.
fn assert_control_flips(report: &Value) {
    assert_verdicts(report, |_| "fail");
    let e = experiment(report, "hostname-is-private");
    assert_eq!(
        text(e, "host", "hostname_after"),
        "nslab-box",
        "without the namespace the host side is renamed"
    );
    let before = text(e, "host", "hostname_before");
    assert_eq!(real_hostname(), before, "the control run must not rename the machine");
}

nslab_tests::demo_tests! {
    demo: "uts-demo",
    bin: BIN,
    experiments: EXPERIMENTS,
    facts: |report: &Value, _: As| assert_isolation_facts(report),
    control: |report: &Value, _: As| assert_control_flips(report),
}
