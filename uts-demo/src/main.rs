//! # uts-demo: UTS namespaces
//!
//! The article (section 二.4) says a container's `sethostname()` changes only
//! the container's name, and that the name is invisible outside. The UTS
//! namespace holds exactly two strings: the hostname (`nodename`) and the NIS
//! domain name. These experiments change them inside and look from both sides,
//! then show how a namespace is entered (`setns`) and kept alive without any
//! process (a bind mount of `/proc/PID/ns/uts`).
//!
//! Read: man 7 uts_namespaces, man 2 sethostname, man 2 setdomainname,
//! man 2 uname, man 2 setns, man 7 namespaces ("The /proc/[pid]/ns/ directory").
//!
//! Safety: a `--control` run skips `CLONE_NEWUTS`, so the child's
//! `sethostname()` hits whatever UTS namespace the host side is in. Each
//! experiment therefore runs its host side in a throwaway UTS namespace during
//! a control run: the machine's real hostname is never changed.

use std::fs::{self, File};

use anyhow::{Context, Result};
use lab::{Experiment, Facts, Lab, Observed, Verdict, clone_child, fork_child, ns};
use nix::errno::Errno;
use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sched::{CloneFlags, setns, unshare};
use nix::sys::utsname::uname;
use nix::unistd::sethostname;

const EXPERIMENTS: &[Experiment] = &[
    Experiment {
        name: "hostname-is-private",
        title: "sethostname() and setdomainname() inside change only the namespace's names",
        claims: &["UTS-1"],
        isolation: true,
        explanation: "The child was cloned with CLONE_NEWUTS, so it started with a copy of the \
            host's names and then changed its copy: uname() inside shows the new hostname and \
            domain name, while the host's uname() shows the same names before and after. This is \
            what docker run --hostname does.",
        run: hostname_is_private,
    },
    Experiment {
        name: "two-containers-two-names",
        title: "Two namespaces hold different hostnames at the same time",
        claims: &["UTS-1"],
        isolation: true,
        explanation: "Each UTS namespace keeps its own copy of the names, so two containers alive \
            at once can each call themselves what they like; neither sees the other's name, and \
            the host keeps its own.",
        run: two_containers_two_names,
    },
    Experiment {
        name: "name-stays-inside",
        title: "The container's hostname is not known outside: the host reaches it by IP or port",
        claims: &["UTS-2"],
        isolation: true,
        explanation: "A hostname set inside a UTS namespace is a label the container gives itself: \
            sethostname() tells no one. The host's own name is unchanged and no host file \
            (/etc/hosts) learns the new one; even /etc/hostname inside is still the host's file, \
            because that is the mount namespace's business (Docker bind-mounts one it writes). \
            Other machines reach a container through its IP address and published ports; a DNS \
            server knows only the names someone registered with it (Docker's: the container's \
            name and the --hostname it was started with), never a name set later inside.",
        run: name_stays_inside,
    },
    Experiment {
        name: "unshare-moves-caller",
        title: "unshare(CLONE_NEWUTS) moves the caller itself into a new UTS namespace",
        claims: &["MECH-1"],
        isolation: true,
        explanation: "For UTS (as for IPC, network, mount and user namespaces) unshare() does what \
            the article says: the calling process's /proc/self/ns/uts changes at once, and its \
            next sethostname() changes only the new namespace. Compare pid-demo's \
            unshare-pid-stays, where the caller stays put.",
        run: unshare_moves_caller,
    },
    Experiment {
        name: "setns-joins",
        title: "A second process joins a running UTS namespace with setns() and sees its hostname",
        claims: &["MECH-3"],
        isolation: true,
        explanation: "setns() on an open /proc/PID/ns/uts file moves the caller into that existing \
            namespace: before, it saw the host's name; after, the container's, and its ns link \
            equals the container's. docker exec and nsenter work this way.",
        run: setns_joins,
    },
    Experiment {
        name: "kept-alive-by-mount",
        title: "A bind mount of /proc/PID/ns/uts keeps the namespace alive with no process in it",
        claims: &["LIFE-1"],
        isolation: true,
        explanation: "The article says a namespace ends with its processes. Not quite: it lives \
            as long as anything refers to it. After its only process exited, a bind mount of its \
            /proc/PID/ns/uts file (what ip netns add does for network namespaces) still held it: \
            a new process entered it through the file and read the hostname set earlier. Once \
            unmounted, the path is an ordinary empty file again and setns() on it fails with \
            EINVAL. With no process, mount or open file left referring to it, the kernel frees \
            the namespace (man 7 namespaces).",
        run: kept_alive_by_mount,
    },
];

fn main() -> std::process::ExitCode {
    lab::main(&lab::Demo {
        name: "uts-demo",
        about: "UTS namespaces: a hostname and domain name of its own",
        man: "uts_namespaces",
        experiments: EXPERIMENTS,
        makes_own_user_namespaces: false,
    })
}

// ANCHOR: helpers
/// The two names a UTS namespace holds, as `uname()` reports them.
fn names() -> (String, String) {
    let uts = uname().expect("uname() cannot fail on Linux");
    (uts.nodename().to_string_lossy().into_owned(), uts.domainname().to_string_lossy().into_owned())
}

/// nix has no wrapper for setdomainname(2), so call libc directly.
fn setdomainname(name: &str) -> nix::Result<()> {
    // SAFETY: the pointer and length describe a valid byte string.
    let res = unsafe { libc::setdomainname(name.as_ptr().cast(), name.len()) };
    Errno::result(res).map(drop)
}

/// In a control run the child shares our UTS namespace, so its
/// sethostname() would rename the machine. Move this experiment's process
/// into a throwaway UTS namespace first: it starts with the real names, and
/// dies with the process. The returned fact says which host side this is.
fn protect_real_hostname(lab: &Lab) -> Result<Facts> {
    if !lab.is_control() {
        return Ok(Facts::new());
    }
    unshare(CloneFlags::CLONE_NEWUTS).context("unshare(CLONE_NEWUTS) for the control run")?;
    Ok(Facts::new().with("host_side", "a throwaway UTS namespace (control run)"))
}
// ANCHOR_END: helpers

// ANCHOR: hostname_is_private
fn hostname_is_private(lab: &Lab) -> Result<Observed> {
    let host_side = protect_real_hostname(lab)?;
    let (host_name_before, host_domain_before) = names();
    let mut child = clone_child(lab.isolate(CloneFlags::CLONE_NEWUTS), |chan| {
        let (name_before, _) = names();
        sethostname("nslab-box").context("sethostname")?;
        setdomainname("nslab.test").context("setdomainname")?;
        let (name_after, domain_after) = names();
        chan.send(
            &Facts::new()
                .with("hostname_at_start", name_before)
                .with("hostname_after_set", name_after)
                .with("domainname_after_set", domain_after),
        )?;
        chan.wait_go()
    })?;
    let inside: Facts = child.chan.recv()?;
    lab.hold(
        child.pid,
        &[lab.nsenter(child.pid, "-u hostname"), "hostname   # on the host".into()],
    );
    let (host_name_after, host_domain_after) = names();
    child.chan.go()?;
    child.wait_success()?;

    let host = host_side
        .with("hostname_before", &host_name_before)
        .with("hostname_after", &host_name_after)
        .with("domainname_before", &host_domain_before)
        .with("domainname_after", &host_domain_after);
    let verdict = Verdict::check(
        host_name_before == host_name_after
            && host_domain_before == host_domain_after
            && inside.text("hostname_after_set") == Some("nslab-box")
            && inside.text("domainname_after_set") == Some("nslab.test"),
    );
    Ok(Observed::new(verdict, host, inside))
}
// ANCHOR_END: hostname_is_private

// ANCHOR: two_containers_two_names
fn two_containers_two_names(lab: &Lab) -> Result<Observed> {
    let host_side = protect_real_hostname(lab)?;
    let mut containers = Vec::new();
    for name in ["alpha", "beta"] {
        let mut child = clone_child(lab.isolate(CloneFlags::CLONE_NEWUTS), |chan| {
            sethostname(name).context("sethostname")?;
            chan.go()?; // named; now wait until both are
            chan.wait_go()?;
            chan.send(&names().0)
        })?;
        child.chan.wait_go()?;
        containers.push(child);
    }
    let mut inside = Facts::new();
    for (child, label) in containers.iter_mut().zip(["first_sees", "second_sees"]) {
        child.chan.go()?;
        inside.set(label, child.chan.recv::<String>()?);
        child.wait_success()?;
    }
    let host = host_side.with("host_sees", names().0);

    let verdict = Verdict::check(
        inside.text("first_sees") == Some("alpha") && inside.text("second_sees") == Some("beta"),
    );
    Ok(Observed::new(verdict, host, inside))
}
// ANCHOR_END: two_containers_two_names

// ANCHOR: name_stays_inside
fn name_stays_inside(lab: &Lab) -> Result<Observed> {
    let host_side = protect_real_hostname(lab)?;
    let (host_name, _) = names();
    let mut child = clone_child(lab.isolate(CloneFlags::CLONE_NEWUTS), |chan| {
        sethostname("nslab-box").context("sethostname")?;
        let etc_hostname = fs::read_to_string("/etc/hostname").unwrap_or_default();
        chan.send(
            &Facts::new()
                .with("uname_nodename", names().0)
                .with("etc_hostname_file", etc_hostname.trim()),
        )
    })?;
    let inside: Facts = child.chan.recv()?;
    child.wait_success()?;

    let etc_hosts = fs::read_to_string("/etc/hosts").unwrap_or_default();
    let host = host_side
        .with("uname_nodename", names().0)
        .with("etc_hosts_mentions_nslab_box", etc_hosts.contains("nslab-box"));
    let verdict = Verdict::check(names().0 == host_name && !etc_hosts.contains("nslab-box"));
    Ok(Observed::new(verdict, host, inside))
}
// ANCHOR_END: name_stays_inside

// ANCHOR: unshare_moves_caller
fn unshare_moves_caller(lab: &Lab) -> Result<Observed> {
    let host_side = protect_real_hostname(lab)?;
    let host_uts = ns::link(None, "uts")?;
    let mut caller = fork_child(|chan| {
        let before = ns::link(None, "uts")?;
        unshare(lab.isolate(CloneFlags::CLONE_NEWUTS)).context("unshare(CLONE_NEWUTS)")?;
        let after = ns::link(None, "uts")?;
        sethostname("nslab-box").context("sethostname")?;
        chan.send(
            &Facts::new()
                .with("uts_before_unshare", before)
                .with("uts_after_unshare", after)
                .with("hostname_after_set", names().0),
        )
    })?;
    let inside: Facts = caller.chan.recv()?;
    caller.wait_success()?;

    let host = host_side.with("uts", &host_uts).with("hostname", names().0);
    let moved = inside.text("uts_after_unshare") != Some(host_uts.as_str());
    let verdict = Verdict::check(moved && host.text("hostname") != Some("nslab-box"));
    Ok(Observed::new(verdict, host, inside))
}
// ANCHOR_END: unshare_moves_caller

// ANCHOR: setns_joins
fn setns_joins(lab: &Lab) -> Result<Observed> {
    let host_side = protect_real_hostname(lab)?;
    let mut container = clone_child(lab.isolate(CloneFlags::CLONE_NEWUTS), |chan| {
        sethostname("nslab-box").context("sethostname")?;
        chan.send(&ns::link(None, "uts")?)?;
        chan.wait_go() // stay alive: a namespace with no process and no reference is gone
    })?;
    let container_uts: String = container.chan.recv()?;
    let path = format!("/proc/{}/ns/uts", container.pid);

    let mut joiner = fork_child(|chan| {
        let before = (names().0, ns::link(None, "uts")?);
        let target = File::open(&path).with_context(|| format!("open {path}"))?;
        setns(&target, CloneFlags::CLONE_NEWUTS).context("setns(CLONE_NEWUTS)")?;
        let after = (names().0, ns::link(None, "uts")?);
        chan.send(&(before, after))
    })?;
    let ((name_before, uts_before), (name_after, uts_after)): ((String, String), (String, String)) =
        joiner.chan.recv()?;
    joiner.wait_success()?;
    lab.hold(container.pid, &[lab.nsenter(container.pid, "-u hostname")]);
    container.chan.go()?;
    container.wait_success()?;

    let host = host_side
        .with("joiner_hostname_before_setns", &name_before)
        .with("joiner_uts_before_setns", &uts_before)
        .with("setns_target", format!("/proc/{}/ns/uts", container.pid));
    let inside = Facts::new()
        .with("container_uts", &container_uts)
        .with("joiner_hostname_after_setns", &name_after)
        .with("joiner_uts_after_setns", &uts_after);
    let verdict = Verdict::check(
        name_before != "nslab-box" && name_after == "nslab-box" && uts_after == container_uts,
    );
    Ok(Observed::new(verdict, host, inside))
}
// ANCHOR_END: setns_joins

// ANCHOR: kept_alive_by_mount
fn kept_alive_by_mount(lab: &Lab) -> Result<Observed> {
    let host_side = protect_real_hostname(lab)?;
    // Our bind mount must never appear on the host: give this process a
    // private mount namespace and a scratch tmpfs. Both vanish when it exits,
    // even if it is killed.
    unshare(CloneFlags::CLONE_NEWNS).context("unshare(CLONE_NEWNS)")?;
    mount(None::<&str>, "/", None::<&str>, MsFlags::MS_REC | MsFlags::MS_PRIVATE, None::<&str>)
        .context("mount(MS_REC|MS_PRIVATE) on /")?;
    mount(Some("nslab"), "/tmp", Some("tmpfs"), MsFlags::empty(), Some("size=16k"))
        .context("mount tmpfs on /tmp")?;
    let keeper = "/tmp/uts-keeper";
    File::create(keeper).with_context(|| format!("create {keeper}"))?;

    let host_uts = ns::link(None, "uts")?;
    let mut container = clone_child(lab.isolate(CloneFlags::CLONE_NEWUTS), |chan| {
        sethostname("nslab-kept").context("sethostname")?;
        chan.send(&ns::link(None, "uts")?)?;
        chan.wait_go()
    })?;
    let container_uts: String = container.chan.recv()?;
    // The same call `ip netns add` makes: bind the namespace file onto a path.
    let source = format!("/proc/{}/ns/uts", container.pid);
    mount(Some(source.as_str()), keeper, None::<&str>, MsFlags::MS_BIND, None::<&str>)
        .with_context(|| format!("bind mount {source} on {keeper}"))?;
    container.chan.go()?;
    container.wait_success()?; // the namespace's only process has exited
    let processes_left = ns::processes_in("uts", &container_uts);
    // The keeper file lives in this process's mount namespace; /proc/PID/root reaches it.
    let through_mount = format!("--uts=/proc/{}/root{keeper} hostname", std::process::id());
    lab.pause(
        &format!("no process is left in the namespace; only the mount on {keeper} holds it."),
        &[lab.nsenter(nix::unistd::getpid(), &through_mount)],
    );

    let (name_through_mount, uts_through_mount) = enter_and_look(keeper)?;
    umount2(keeper, MntFlags::MNT_DETACH).with_context(|| format!("umount {keeper}"))?;
    let after_umount = match enter_and_look(keeper) {
        Ok(_) => "ok".to_owned(),
        Err(e) => e.root_cause().to_string(),
    };

    let host = host_side
        .with("host_uts", &host_uts)
        .with("bind_mount", format!("{source} -> {keeper}"))
        .with("processes_left_in_namespace", processes_left)
        .with("setns_after_umount", &after_umount);
    let inside = Facts::new()
        .with("container_uts", &container_uts)
        .with("uts_entered_through_mount", &uts_through_mount)
        .with("hostname_read_through_mount", &name_through_mount);
    let verdict = Verdict::check(
        container_uts != host_uts
            && processes_left == 0
            && uts_through_mount == container_uts
            && name_through_mount == "nslab-kept"
            && after_umount == "EINVAL",
    );
    Ok(Observed::new(verdict, host, inside))
}

/// A new process enters the UTS namespace named by `path` and reads the
/// hostname and its own ns link there.
fn enter_and_look(path: &str) -> Result<(String, String)> {
    let mut visitor = fork_child(|chan| {
        let file = File::open(path).with_context(|| format!("open {path}"))?;
        setns(&file, CloneFlags::CLONE_NEWUTS).map_err(|errno| anyhow::anyhow!("{errno:?}"))?;
        chan.send(&(names().0, ns::link(None, "uts")?))
    })?;
    let seen = visitor.chan.recv();
    let _ = visitor.wait();
    seen
}

// ANCHOR_END: kept_alive_by_mount
