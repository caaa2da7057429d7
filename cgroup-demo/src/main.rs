//! # cgroup-demo: cgroup namespaces
//!
//! Not in the article (claim CG-NS, *beyond*): a container reads
//! `/proc/self/cgroup` and sees `/`, as if it sat at the top of the machine's
//! cgroup tree, while the host sees the container's full path. A cgroup
//! namespace does not move a process or change a limit: it only changes which
//! cgroup the process's view of the tree starts from (its *root*), and that
//! root is the cgroup the process was in when the namespace was made.
//!
//! The experiments that create a scratch cgroup (`nslab-<PID>`, removed again
//! on every path) need root; the first one runs rootless too. On a v1 or
//! hybrid machine the scratch cgroup goes into the `pids` hierarchy; on a
//! cgroup2-only machine, or with `--unified` on a hybrid one, into cgroup2.
//!
//! Read: man 7 cgroup_namespaces, man 7 cgroups ("/proc files"),
//! man 2 unshare, man 5 proc (`/proc/PID/cgroup`, `/proc/PID/mountinfo`).
//!
//! Run: `cargo run -p cgroup-demo` (as root or not), `--list`, `--only NAME`,
//! `--control` (the same steps without `CLONE_NEWCGROUP`), `--hold`, `--json`,
//! `--unified`.

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use lab::{
    Child, DemoFlag, Experiment, Facts, Lab, Observed, Verdict, clone_child, fork_child, ns,
};
use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sched::{CloneFlags, unshare};
use nix::sys::signal::{SigHandler, Signal, signal};
use nix::unistd::{Pid, getpid};

const EXPERIMENTS: &[Experiment] = &[
    Experiment {
        name: "root-view",
        title: "Inside a new cgroup namespace /proc/self/cgroup shows /; the host sees the full path",
        claims: &["CG-NS", "NS-1"],
        isolation: true,
        explanation: "The child was cloned with CLONE_NEWCGROUP. It is still in exactly the \
            cgroups it was in (same limits, same accounting), but /proc/self/cgroup now prints \
            every path relative to the namespace's root, the child's own cgroups: so every line \
            reads /. The host reads /proc/CHILD/cgroup from its own namespace and sees where the \
            child really is. So /proc/PID/cgroup no longer tells a container where it sits in \
            the host's tree (a cgroup file system mounted before the unshare still does: see \
            mountinfo-until-remount).",
        run: root_view,
    },
    Experiment {
        name: "root-is-where-unshared",
        title: "The namespace's root is the cgroup the process was in at unshare() time",
        claims: &["CG-NS", "MECH-1"],
        isolation: true,
        explanation: "The host made a scratch cgroup and moved the child into it; the child then \
            called unshare(CLONE_NEWCGROUP), which moved the caller itself into a new cgroup \
            namespace (unlike PID and time namespaces). Its path went from the scratch cgroup to \
            /: the scratch cgroup became the namespace's root. The demo's own process is \
            outside that subtree, so from inside its path starts with /.. (just /.. when it \
            sits at the top of the hierarchy): above the root, like a path that leaves a \
            chroot. The host still sees the scratch path.",
        run: root_is_where_unshared,
    },
    Experiment {
        name: "mountinfo-until-remount",
        title: "A cgroupfs mounted before the unshare keeps the host's tree until it is mounted again inside",
        claims: &["CG-NS", "MNT-1"],
        isolation: true,
        explanation: "A cgroup namespace changes /proc/PID/cgroup at once, but not the cgroup file \
            system already mounted: inside, mountinfo shows that mount's root as /.. (the top of \
            the tree lies above the namespace's root) and the directory still lists the host's \
            cgroups, the scratch one included. In a private mount namespace the child unmounted \
            it and mounted the hierarchy again: the new mount's root is the namespace's root, \
            shown as /, its top directory is the scratch cgroup (only the child in cgroup.procs). \
            Container runtimes mount /sys/fs/cgroup this way, after the unshare.",
        run: mountinfo_until_remount,
    },
];

fn main() -> std::process::ExitCode {
    lab::main_with_flags(
        &lab::Demo {
            name: "cgroup-demo",
            about: "cgroup namespaces: / inside, the full path outside",
            man: "cgroup_namespaces",
            experiments: EXPERIMENTS,
            makes_own_user_namespaces: false,
        },
        &[DemoFlag {
            name: "unified",
            help: "On a hybrid v1/v2 machine, make the scratch cgroup in the cgroup2 hierarchy \
                   (/sys/fs/cgroup/unified) instead of v1's pids hierarchy",
        }],
    )
}

// ANCHOR: helpers
/// The one cgroup hierarchy the demo makes its scratch cgroup in.
#[derive(Debug, Clone)]
struct Hierarchy {
    /// Where it is mounted: `/sys/fs/cgroup/pids`, `/sys/fs/cgroup`, ...
    mount_point: String,
    /// `None` for cgroup2; the controller's name for a v1 hierarchy.
    v1_controller: Option<&'static str>,
}

impl Hierarchy {
    /// Reads /proc/self/mountinfo: cgroup2 when it is the only hierarchy
    /// (or with --unified), else the v1 hierarchy of the pids controller.
    fn detect(lab: &Lab) -> Result<Hierarchy> {
        let mountinfo = fs::read_to_string("/proc/self/mountinfo").context("read mountinfo")?;
        let mut v2 = None;
        let mut v1_pids = None;
        for line in mountinfo.lines() {
            // ID PARENT MAJ:MIN ROOT MOUNT_POINT OPTIONS ... - FSTYPE SOURCE SUPER_OPTIONS
            let fields: Vec<&str> = line.split_whitespace().collect();
            let Some(dash) = fields.iter().position(|f| *f == "-") else { continue };
            let (mount_point, fstype) = (fields[4].to_owned(), fields[dash + 1]);
            let super_options = fields.get(dash + 3).copied().unwrap_or("");
            if fstype == "cgroup2" {
                v2 = Some(mount_point);
            } else if fstype == "cgroup" && super_options.split(',').any(|o| o == "pids") {
                v1_pids = Some(mount_point);
            }
        }
        match (v1_pids, v2) {
            (Some(mount_point), None) => Ok(Hierarchy { mount_point, v1_controller: Some("pids") }),
            (Some(mount_point), Some(_)) if !lab.flag("unified") => {
                Ok(Hierarchy { mount_point, v1_controller: Some("pids") })
            }
            (_, Some(mount_point)) => Ok(Hierarchy { mount_point, v1_controller: None }),
            (None, None) => bail!("no cgroup2 and no v1 pids hierarchy is mounted"),
        }
    }

    fn describe(&self) -> String {
        match self.v1_controller {
            Some(c) => format!("{} (cgroup v1, {c} controller)", self.mount_point),
            None => format!("{} (cgroup2)", self.mount_point),
        }
    }

    /// The path of `pid` (`None`: ourselves) in this hierarchy, as
    /// /proc/PID/cgroup prints it to the reader: relative to the reader's
    /// cgroup namespace root.
    fn path_of(&self, pid: Option<Pid>) -> Result<String> {
        let file = match pid {
            Some(pid) => format!("/proc/{pid}/cgroup"),
            None => "/proc/self/cgroup".into(),
        };
        let text = fs::read_to_string(&file).with_context(|| format!("read {file}"))?;
        // Lines are ID:CONTROLLERS:PATH; cgroup2's is 0::PATH.
        text.lines()
            .filter_map(|line| line.splitn(3, ':').collect::<Vec<_>>().try_into().ok())
            .find(|[id, controllers, _]: &[&str; 3]| match self.v1_controller {
                Some(c) => controllers.split(',').any(|name| name == c),
                None => *id == "0" && controllers.is_empty(),
            })
            .map(|[_, _, path]| path.to_owned())
            .with_context(|| format!("{file} has no line for {}", self.describe()))
    }

    /// The ROOT field (the 4th) of this hierarchy's line in our mountinfo.
    fn mount_root(&self) -> Result<String> {
        let mountinfo = fs::read_to_string("/proc/self/mountinfo").context("read mountinfo")?;
        mountinfo
            .lines()
            .rev() // the last mount on a path is on top: the one a lookup finds
            .map(|line| line.split_whitespace().collect::<Vec<_>>())
            .find(|fields| fields.get(4) == Some(&self.mount_point.as_str()))
            .map(|fields| fields[3].to_owned())
            .with_context(|| format!("{} is not in mountinfo", self.mount_point))
    }

    /// Mounts this hierarchy at its usual place (in the caller's mount namespace).
    fn mount_again(&self) -> Result<()> {
        let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
        let (fstype, options) = match self.v1_controller {
            Some(c) => ("cgroup", Some(c)),
            None => ("cgroup2", None),
        };
        mount(Some(fstype), self.mount_point.as_str(), Some(fstype), flags, options)
            .with_context(|| format!("mount -t {fstype} on {}", self.mount_point))
    }
}

/// The distinct paths in a /proc/PID/cgroup file (one line per hierarchy).
fn distinct_paths(file: &str) -> Result<Vec<String>> {
    let text = fs::read_to_string(file).with_context(|| format!("read {file}"))?;
    let mut paths: Vec<String> =
        text.lines().filter_map(|l| Some(l.splitn(3, ':').nth(2)?.to_owned())).collect();
    paths.sort();
    paths.dedup();
    Ok(paths)
}

/// A cgroup this demo made: a directory in the hierarchy, removed (rmdir)
/// when this is dropped, once the processes moved into it have exited.
///
/// A guardian process does the rmdir: it outlives a demo stopped with
/// Ctrl-C (whose children the kernel kills), sees its channel close, and
/// cleans up after it. Nothing is left behind on any path but SIGKILL of
/// the guardian itself.
#[derive(Debug)]
struct ScratchCgroup {
    dir: PathBuf,
    /// Its path as the host's /proc/PID/cgroup prints it: `/nslab-4242`.
    path: String,
    guardian: Child,
}

impl ScratchCgroup {
    fn create(hierarchy: &Hierarchy) -> Result<ScratchCgroup> {
        let name = format!("nslab-{}", getpid());
        let dir = Path::new(&hierarchy.mount_point).join(&name);
        fs::create_dir(&dir).with_context(|| format!("mkdir {}", dir.display()))?;
        let guardian = fork_child(|chan| {
            // Outlive the demo, and ignore the Ctrl-C (or hangup, or
            // terminate) that stops it: at most five more seconds.
            nix::sys::prctl::set_pdeathsig(None)?;
            for stop in [Signal::SIGINT, Signal::SIGHUP, Signal::SIGTERM] {
                // SAFETY: SIG_IGN installs no handler code.
                unsafe { signal(stop, SigHandler::SigIgn) }?;
            }
            let _ = chan.wait_go(); // "go" from Drop, or end-of-file if the demo died
            remove_when_empty(&dir);
            Ok(())
        });
        let guardian = match guardian {
            Ok(guardian) => guardian,
            Err(e) => {
                let _ = fs::remove_dir(&dir);
                return Err(e);
            }
        };
        Ok(ScratchCgroup { dir, path: format!("/{name}"), guardian })
    }

    /// Moves `pid` (a whole process) into this cgroup.
    fn add(&self, pid: Pid) -> Result<()> {
        let procs = self.dir.join("cgroup.procs");
        fs::write(&procs, pid.to_string()).with_context(|| format!("write {}", procs.display()))
    }
}

impl Drop for ScratchCgroup {
    fn drop(&mut self) {
        let _ = self.guardian.chan.go();
        let _ = self.guardian.wait();
        if self.dir.exists() {
            eprintln!("cgroup-demo: could not remove {}: rmdir it by hand", self.dir.display());
        }
    }
}

/// rmdir fails with EBUSY while a process is still in the cgroup; a killed
/// or reaped one leaves it within moments. Try for at most five seconds.
fn remove_when_empty(dir: &Path) {
    for _ in 0..500 {
        match fs::remove_dir(dir) {
            Err(e) if e.kind() != ErrorKind::NotFound => {
                std::thread::sleep(Duration::from_millis(10))
            }
            _ => return,
        }
    }
}
// ANCHOR_END: helpers

// ANCHOR: root_view
fn root_view(lab: &Lab) -> Result<Observed> {
    let mut child = clone_child(lab.isolate(CloneFlags::CLONE_NEWCGROUP), |chan| {
        chan.send(
            &Facts::new()
                .with("cgroup_ns", ns::link(None, "cgroup")?)
                .with("paths_in_proc_self_cgroup", distinct_paths("/proc/self/cgroup")?),
        )?;
        chan.wait_go()
    })?;
    let inside: Facts = child.chan.recv()?;
    let seen_from_host = distinct_paths(&format!("/proc/{}/cgroup", child.pid))?;
    lab.hold(
        child.pid,
        &[
            format!("cat /proc/{}/cgroup", child.pid),
            lab.nsenter(child.pid, &format!("-C cat /proc/{}/cgroup", child.pid)),
        ],
    );
    child.chan.go()?;
    child.wait_success()?;

    if seen_from_host == ["/"] {
        return Ok(Observed::skip(
            "this process sits at the root of every hierarchy: there is no path to hide",
        ));
    }
    let host = Facts::new()
        .with("cgroup_ns", ns::link(None, "cgroup")?)
        .with("paths_in_proc_child_cgroup", &seen_from_host);
    let verdict = Verdict::check(
        inside
            .get("paths_in_proc_self_cgroup")
            .and_then(|v| v.as_array())
            .is_some_and(|a| a == &["/"])
            && inside.get("cgroup_ns") != host.get("cgroup_ns"),
    );
    Ok(Observed::new(verdict, host, inside))
}
// ANCHOR_END: root_view

// ANCHOR: root_is_where_unshared
fn root_is_where_unshared(lab: &Lab) -> Result<Observed> {
    if lab.is_rootless() {
        return Ok(Observed::skip("creating a scratch cgroup needs root"));
    }
    let hierarchy = Hierarchy::detect(lab)?;
    let scratch = ScratchCgroup::create(&hierarchy)?;
    let demo = getpid();
    let mut child = fork_child(|chan| {
        chan.wait_go()?; // the host moves us into the scratch cgroup first
        let before = hierarchy.path_of(None)?;
        unshare(lab.isolate(CloneFlags::CLONE_NEWCGROUP)).context("unshare(CLONE_NEWCGROUP)")?;
        chan.send(
            &Facts::new()
                .with("path_before_unshare", before)
                .with("path_after_unshare", hierarchy.path_of(None)?)
                .with("demo_process_seen_from_inside", hierarchy.path_of(Some(demo))?),
        )?;
        chan.wait_go()
    })?;
    scratch.add(child.pid)?;
    child.chan.go()?;
    let inside: Facts = child.chan.recv()?;
    let seen_from_host = hierarchy.path_of(Some(child.pid))?;
    lab.hold(
        child.pid,
        &[
            format!("cat {}/cgroup.procs", scratch.dir.display()),
            lab.nsenter(child.pid, &format!("-C cat /proc/{}/cgroup", child.pid)),
        ],
    );
    child.chan.go()?;
    child.wait_success()?;

    let host = Facts::new()
        .with("hierarchy", hierarchy.describe())
        .with("scratch_cgroup", &scratch.path)
        .with("child_seen_from_host", &seen_from_host)
        .with("demo_process_seen_from_host", hierarchy.path_of(None)?);
    let verdict = Verdict::check(
        inside.text("path_before_unshare") == Some(scratch.path.as_str())
            && inside.text("path_after_unshare") == Some("/")
            && inside.text("demo_process_seen_from_inside").is_some_and(|p| p.starts_with("/.."))
            && seen_from_host == scratch.path,
    );
    Ok(Observed::new(verdict, host, inside))
}
// ANCHOR_END: root_is_where_unshared

// ANCHOR: mountinfo_until_remount
fn mountinfo_until_remount(lab: &Lab) -> Result<Observed> {
    if lab.is_rootless() {
        return Ok(Observed::skip("creating a scratch cgroup needs root"));
    }
    let hierarchy = Hierarchy::detect(lab)?;
    let scratch = ScratchCgroup::create(&hierarchy)?;
    let scratch_name = scratch.path.trim_start_matches('/').to_owned();
    let mut child = fork_child(|chan| {
        chan.wait_go()?; // in the scratch cgroup now
        // The mount namespace is a helper: it keeps the umount and mount below
        // away from the host, in a control run too.
        let flags = lab.isolate(CloneFlags::CLONE_NEWCGROUP) | CloneFlags::CLONE_NEWNS;
        unshare(flags).context("unshare(CLONE_NEWCGROUP|CLONE_NEWNS)")?;
        let private = MsFlags::MS_REC | MsFlags::MS_PRIVATE;
        mount(None::<&str>, "/", None::<&str>, private, None::<&str>)
            .context("mount(MS_REC|MS_PRIVATE) on /")?;
        let lists_scratch = |h: &Hierarchy| Path::new(&h.mount_point).join(&scratch_name).exists();
        let mut facts = Facts::new()
            .with("mount_root_before", hierarchy.mount_root()?)
            .with("mount_lists_scratch_before", lists_scratch(&hierarchy));
        // Mounting the same hierarchy on top of itself fails with EBUSY:
        // take the old mount away first (only in this mount namespace).
        umount2(hierarchy.mount_point.as_str(), MntFlags::MNT_DETACH)
            .with_context(|| format!("umount {}", hierarchy.mount_point))?;
        hierarchy.mount_again()?;
        let procs = fs::read_to_string(Path::new(&hierarchy.mount_point).join("cgroup.procs"))?;
        let procs: Vec<i32> = procs.lines().filter_map(|l| l.parse().ok()).collect();
        facts.set("mount_root_after_remount", hierarchy.mount_root()?);
        facts.set("mount_lists_scratch_after", lists_scratch(&hierarchy));
        facts.set("top_cgroup_procs_host_pids", procs);
        chan.send(&facts)?;
        chan.wait_go()
    })?;
    scratch.add(child.pid)?;
    child.chan.go()?;
    let inside: Facts = child.chan.recv()?;
    lab.hold(
        child.pid,
        &[
            lab.nsenter(
                child.pid,
                &format!("-C -m grep {} /proc/self/mountinfo", hierarchy.mount_point),
            ),
            format!("grep {} /proc/self/mountinfo   # on the host", hierarchy.mount_point),
        ],
    );
    let host_root = hierarchy.mount_root()?; // ours: untouched
    child.chan.go()?;
    child.wait_success()?;

    let host = Facts::new()
        .with("hierarchy", hierarchy.describe())
        .with("scratch_cgroup", &scratch.path)
        .with("child_host_pid", child.pid.as_raw())
        .with("mount_root", &host_root);
    let verdict = Verdict::check(
        inside.text("mount_root_before") == Some("/..")
            && inside.get("mount_lists_scratch_before") == Some(&true.into())
            && inside.text("mount_root_after_remount") == Some("/")
            && inside.get("mount_lists_scratch_after") == Some(&false.into())
            && inside.ints("top_cgroup_procs_host_pids") == [child.pid.as_raw() as i64]
            && host_root == "/",
    );
    Ok(Observed::new(verdict, host, inside))
}
// ANCHOR_END: mountinfo_until_remount
