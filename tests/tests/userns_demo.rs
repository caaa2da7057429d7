//! userns-demo end to end: the surface a user namespace opens, the limit
//! that closes it, idmapped mounts; the control run; the text.
//!
//! The first two experiments run as an unprivileged user in both halves (as
//! root the demo drops to 65534 itself). `idmapped-mount` needs root, and is
//! a skip rootless.

use nslab_tests::{As, Demo, assert_verdicts, experiment, int, text};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_userns-demo");

const EXPERIMENTS: [&str; 3] = ["surface-opens", "max-user-namespaces", "idmapped-mount"];

fn host_limit() -> String {
    std::fs::read_to_string("/proc/sys/user/max_user_namespaces").expect("the host's limit")
}

fn ext4_known() -> bool {
    std::fs::read_to_string("/proc/filesystems")
        .expect("/proc/filesystems")
        .lines()
        .any(|l| l.split_whitespace().last() == Some("ext4"))
}

/// A machine that stops unprivileged users from creating user namespaces
/// makes the demo skip, saying why: a failure under `CI=true`, one line on
/// stderr elsewhere (the harness's policy).
fn blocked_here(reason: Option<&str>) -> bool {
    let Some(why) = reason.filter(|r| r.contains("cannot create a user namespace")) else {
        return false;
    };
    nslab_tests::skip("userns-demo", why);
    true
}

/// The user the experiments run as outside their namespaces: 65534 when
/// the tests run as root (either half), otherwise the user running them.
fn outside_uid() -> i64 {
    let euid = nix::unistd::geteuid();
    if euid.is_root() { 65534 } else { euid.as_raw().into() }
}

fn expected(name: &str, who: As, otherwise: &'static str) -> &'static str {
    match (name, who) {
        ("idmapped-mount", As::Rootless) => "skip",
        _ => otherwise,
    }
}

fn assert_facts(report: &Value, who: As) {
    assert_verdicts(report, |name| expected(name, who, "pass"));

    let e = experiment(report, "surface-opens");
    assert_eq!(int(e, "host", "getuid"), outside_uid(), "an ordinary user outside");
    assert_eq!(text(e, "host", "CapEff"), "0000000000000000");
    assert_eq!(text(e, "host", "fsopen(tmpfs)"), "EPERM", "outside, the mount API is closed");
    assert_eq!(text(e, "namespace", "unshare(NEWUSER|NEWNS)"), "ok");
    assert_eq!(int(e, "namespace", "getuid"), 0);
    assert_eq!(
        text(e, "namespace", "CapEff"),
        nslab_tests::full_capeff().expect("cap_last_cap"),
        "every capability inside"
    );
    assert_eq!(text(e, "namespace", "mount(tmpfs on /tmp)"), "ok");
    assert_eq!(text(e, "namespace", "fsopen(tmpfs)"), "ok");
    assert_eq!(text(e, "namespace", "fsconfig(tmpfs, size=16k)"), "ok");
    assert_eq!(text(e, "namespace", "fsconfig(tmpfs, CMD_CREATE)"), "ok");
    if ext4_known() {
        assert_eq!(text(e, "namespace", "fsopen(ext4)"), "ok", "a context for any file system");
        assert_eq!(text(e, "namespace", "fsconfig(ext4, errors=remount-ro)"), "ok", "parsed");
        assert_eq!(text(e, "namespace", "fsconfig(ext4, nslab=1)"), "EINVAL", "parsed, refused");
        assert_eq!(text(e, "namespace", "fsconfig(ext4, CMD_CREATE)"), "EPERM", "not mountable");
    }

    let e = experiment(report, "max-user-namespaces");
    assert_eq!(text(e, "namespace", "unshare(CLONE_NEWUSER)"), "ok");
    assert_eq!(int(e, "namespace", "max_user_namespaces_at_start"), i64::from(i32::MAX));
    assert_eq!(text(e, "namespace", "write 0 to max_user_namespaces"), "ok");
    assert_eq!(int(e, "namespace", "max_user_namespaces_now"), 0);
    assert_eq!(text(e, "namespace", "unshare(CLONE_NEWUSER) below it"), "ENOSPC");
    assert_eq!(e["host"]["max_user_namespaces_unchanged"], true);
    assert_eq!(text(e, "host", "unshare(CLONE_NEWUSER)"), "ok", "the host is not limited");

    let e = experiment(report, "idmapped-mount");
    if who == As::Rootless {
        assert!(e["reason"].as_str().is_some_and(|r| r.contains("needs root")), "{e:#}");
        return;
    }
    assert_eq!(int(e, "host", "owner_on_disk"), 0, "the image is root's");
    for (label, base) in [("first", 1000), ("second", 2000)] {
        assert_eq!(text(e, "host", &format!("{label}_map")), format!("0 {base} 1"));
        for call in ["open_tree(CLONE)", "mount_setattr(IDMAP)", "move_mount"] {
            assert_eq!(text(e, "host", &format!("{label}_{call}")), "ok", "{label} {call}");
        }
        assert_eq!(
            int(e, "host", &format!("owner_through_{label}")),
            base,
            "disk 0 is host {base}"
        );
        assert_eq!(int(e, "host", &format!("made_by_{label}_owner_on_disk")), 0);
        assert_eq!(int(e, "namespace", &format!("{label}_getuid")), 0);
        let plain = format!("{label}_owner_through_image");
        assert_eq!(int(e, "namespace", &plain), 65534, "host root is unmapped inside");
        let denied = format!("{label}_create_through_image");
        assert_eq!(text(e, "namespace", &denied), "EACCES");
        let idmapped = format!("{label}_owner_through_{label}");
        assert_eq!(int(e, "namespace", &idmapped), 0, "uid 0 through the idmapped mount");
        assert_eq!(text(e, "namespace", &format!("{label}_create_file")), "ok");
    }
}

/// The facts, unless this host blocks unprivileged user namespaces (then
/// the demo skips, saying why, and so does the test).
fn assert_namespace_run(report: &Value, who: As) {
    if blocked_here(experiment(report, "surface-opens")["reason"].as_str()) {
        return;
    }
    assert_facts(report, who);
}

/// Without CLONE_NEWUSER the same user gets EPERM at once, the limit is
/// never written (it would be the host's), and mount_setattr() refuses the
/// host's user namespace.
fn assert_control_run(report: &Value, who: As) {
    assert_verdicts(report, |name| expected(name, who, "fail"));
    let e = experiment(report, "surface-opens");
    assert_eq!(text(e, "namespace", "unshare(NEWUSER|NEWNS)"), "EPERM");
    assert_eq!(text(e, "namespace", "CapEff"), "0000000000000000");
    assert_eq!(text(e, "namespace", "fsopen(tmpfs)"), "EPERM");
    let e = experiment(report, "max-user-namespaces");
    assert!(
        text(e, "namespace", "write 0 to max_user_namespaces").starts_with("not tried"),
        "{e:#}"
    );
    assert_eq!(text(e, "namespace", "unshare(CLONE_NEWUSER) below it"), "ok");
    if who == As::Root {
        let e = experiment(report, "idmapped-mount");
        assert_eq!(text(e, "host", "first_mount_setattr(IDMAP)"), "EPERM");
    }
}

/// The demo's text, or none where this host blocks user namespaces.
fn userns_text(demo: &Demo, args: &[&str]) -> Option<String> {
    let text = demo.text(args)?;
    (!blocked_here(Some(text.as_str()))).then_some(text)
}

nslab_tests::demo_tests! {
    demo: "userns-demo",
    bin: BIN,
    experiments: EXPERIMENTS,
    facts: assert_namespace_run,
    control: assert_control_run,
    text: userns_text,
    verdict: |who: As, name: &str| expected(name, who, "pass"),
}

/// Neither a run nor a control run, as root or not, changes the host's own
/// `user.max_user_namespaces`: the demo writes only the limit of a user
/// namespace it made.
#[test]
fn host_limit_untouched() {
    for who in [As::Root, As::Rootless] {
        for args in [&[][..], &["--control"][..]] {
            let limit = host_limit();
            let Some(_) = Demo::new("userns-demo", BIN, who).report(args, &EXPERIMENTS) else {
                continue;
            };
            assert_eq!(host_limit(), limit, "{who:?} {args:?}: the host's limit is untouched");
        }
    }
}
