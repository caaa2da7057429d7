//! Control groups (cgroups): what the container may *use*, where namespaces
//! only decide what it may *see* (claim SEC-4; man 7 cgroups).
//!
//! A cgroup is a directory in a special filesystem, and everything about it
//! is a file in that directory:
//!
//! ```text
//! mkdir /sys/fs/cgroup/memory/mini-docker/ID          a new, empty cgroup
//! echo 16777216 > …/ID/memory.limit_in_bytes          its limit
//! echo PID      > …/ID/cgroup.procs                   a process joins it
//! rmdir …/ID                                          gone (only when empty)
//! ```
//!
//! The kernel charges each page, process or CPU slice to the cgroup of the
//! task that uses it and enforces the limit there: an allocation over
//! `memory.limit_in_bytes` wakes the OOM killer inside that cgroup only
//! (SIGKILL: exit status 137), a `fork` over `pids.max` fails with EAGAIN, a
//! cgroup that used its `cpu.cfs_quota_us` in a period waits for the next.
//! Children are born in their parent's cgroup, so whatever the command
//! starts stays limited.
//!
//! Two versions of the files exist, and both are in use:
//! - **v1** (older distributions, and hosts booted with
//!   `systemd.unified_cgroup_hierarchy=0`; [`v1`]): one hierarchy per
//!   controller, `/sys/fs/cgroup/memory/`, `/sys/fs/cgroup/pids/`,
//!   `/sys/fs/cgroup/cpu/`…
//!   A container gets one directory in each hierarchy it is limited in.
//! - **v2** (most current distributions; [`v2`]): one "unified" tree at
//!   `/sys/fs/cgroup`; a directory's `cgroup.controllers` lists what it may
//!   use, and its parent's `cgroup.subtree_control` switches them on. One
//!   directory per container, with `memory.max`, `pids.max`, `cpu.max`…
//!
//! Device rules differ most: v1 has `devices.allow` and `devices.deny`,
//! v2 a BPF program attached to the cgroup (`device_filter.rs`).
//!
//! A mini-docker container's cgroup is `mini-docker/<id>`; a bundle run by
//! the `mini-runc` binary gets `mini-runc/<id>`, or its `cgroupsPath`
//! ([`placement`]), so that the two never collide.
//!
//! [`Version::detect`] picks one at run time (the filesystem type of
//! `/sys/fs/cgroup`); each module has one `create`, and joining and removing
//! are the same on both ([`join`] and [`remove`] here), so the run path
//! reads the same on either.
//!
//! The order matters (see `container/parent.rs`): the directories are made
//! and filled before `clone`. On v2 the child is born in its cgroup
//! (`clone3` with `CLONE_INTO_CGROUP`, [`clone_target`]); on v1 the child
//! moves itself, first thing, through `tasks` files the parent opened for
//! it ([`tasks_files`]: 0.05 ms a hierarchy, where the parent's move of it
//! cost 9 to 13 ms); on a v2 kernel without `clone3` the parent writes the
//! child's PID into `cgroup.procs` while the child waits on the sync
//! channel. Only after its "go" does the child
//! `unshare(CLONE_NEWCGROUP)`: the cgroup it is in becomes the `/` it sees
//! in `/proc/self/cgroup` (cgroup_namespaces(7), claim CG-NS). So nothing
//! of the command ever runs outside its limits.
//!
//! A mini-docker container without any limit gets no cgroup of its own
//! (it stays in mini-docker's): a start then needs no cgroup write access
//! at all, and does not pay a move's wait for an RCU grace period (several
//! milliseconds when no move happened lately). An OCI bundle's container
//! always gets one ([`Limits::own`]): without a PID namespace, the cgroup
//! is the only list of its processes that `delete` and `kill --all` have.
//!
//! Cleanup: the directories made are listed in `<state>/cgroups` *before*
//! they are made, so the run itself, or the next mini-docker after a
//! killed one (`StateDir::sweep`), can remove them. Only what this crate
//! made is listed: the container's leaf (whose processes [`remove`]
//! kills) and the parents it had to make (removed only when empty). A
//! bundle's `linux.cgroupsPath` naming a cgroup that already exists is
//! refused, so a cgroup someone else made is never killed or removed.
//! The limits asked for are listed there too, for `inspect`
//! ([`read_record`]).
//!
//! mini-runc's layer 2 of 2, kernel-facing (see `tests/tests/layers.rs`):
//! `cgroups/` owns the container's cgroups and imports nothing else of
//! mini-runc: it takes an ID, [`Limits`], a state directory path and a
//! PID. `run`'s flags are parsed in mini-docker's `commands/run.rs` (clap
//! stays there), with this module's parsers, into a plain [`LimitRequest`].

mod device_filter;
pub mod v1;
pub mod v2;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::unistd::{Pid, geteuid};
use thiserror::Error;

/// The file in the state directory listing the cgroup directories made
/// (absolute paths, one a line), then the limits asked for (`KEY VALUE`
/// lines, such as `memory 67108864`).
const RECORD: &str = "cgroups";

/// The CFS period: the quota is counted per 100 ms, as Docker does.
pub const CPU_PERIOD_US: u64 = 100_000;

/// Below this the container's own setup can be OOM-killed (Docker's minimum).
const MIN_MEMORY: u64 = 6 * 1024 * 1024;

/// Where a mini-docker container's cgroup goes: `mini-docker/<id>`.
pub const ENGINE_PARENT: &str = "mini-docker";

/// Where the `mini-runc` binary puts a bundle's cgroup when its
/// `config.json` has no `linux.cgroupsPath`: `mini-runc/<id>`.
pub const RUNTIME_PARENT: &str = "mini-runc";

/// How long [`remove`] waits for the last processes of a cgroup to go.
const REMOVE_WAIT: Duration = Duration::from_secs(2);

/// What can go wrong with cgroups; exit status 125 like every mini-docker error.
#[derive(Debug, Error)]
pub enum CgroupError {
    /// What this cgroup version cannot do here (the setting names itself).
    #[error("{0}")]
    Unsupported(&'static str),
    #[error("--memory-swap needs --memory (it is memory plus swap)")]
    SwapWithoutMemory,
    #[error("--memory-swap {swap} is smaller than --memory {memory}: it counts memory plus swap")]
    SwapBelowMemory { swap: u64, memory: u64 },
    #[error("--cpus {0} is more than the {1} CPUs this machine has")]
    TooManyCpus(f64, usize),
    #[error(
        "resource limits need root on cgroup v1: its hierarchies under /sys/fs/cgroup belong to \
         root (cgroup v2 with a delegated subtree allows them rootless)"
    )]
    RootlessV1,
    #[error(
        "resource limits need root, or a delegated cgroup v2 subtree (systemd: Delegate=yes); \
         none of the cgroups above {0:?} belongs to this user"
    )]
    NoDelegation(PathBuf),
    #[error("cgroup controller {controller:?} is not available in {path:?}{why}")]
    NoController { controller: &'static str, path: PathBuf, why: String },
    #[error("--cpuset-cpus {cpus}: the kernel refused it (this machine's CPUs: {available})")]
    BadCpuset { cpus: String, available: String },
    /// runc would join an existing cgroup; this runtime kills and removes
    /// its cgroup at `delete`, so it only uses one it made itself.
    #[error(
        "linux.cgroupsPath: cgroup {0:?} already exists (mini-runc only uses a cgroup it makes, \
         as it kills and removes it at delete)"
    )]
    Exists(PathBuf),
    #[error(
        "linux.cgroupsPath {0:?}: names the hierarchy's root, not a cgroup of the container's own"
    )]
    RootPath(PathBuf),
    #[error("{what} {path:?}: {source}")]
    Io { what: &'static str, path: PathBuf, source: std::io::Error },
}

/// `std::fs` errors with what was done and where.
pub(super) fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> CgroupError {
    let path = path.to_owned();
    move |source| CgroupError::Io { what, path, source }
}

/// Writes `value` into the cgroup file `dir/file`. One `write(2)`: the
/// kernel parses the whole value at once.
fn write(dir: &Path, file: &str, value: &str) -> Result<(), CgroupError> {
    let path = dir.join(file);
    std::fs::write(&path, value).map_err(io("writing", &path))
}

fn read(dir: &Path, file: &str) -> Result<String, CgroupError> {
    let path = dir.join(file);
    std::fs::read_to_string(&path).map(|s| s.trim().to_owned()).map_err(io("reading", &path))
}

/// `mkdir`, where "already exists" is fine (another run made it).
fn mkdir(path: &Path) -> Result<(), CgroupError> {
    match std::fs::create_dir(path) {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => Err(io("creating", path)(e)),
        _ => Ok(()),
    }
}

/// Makes `dir` and, when missing, its parent (`mini-docker/`), preparing
/// a new parent with `prepare`. Another run may remove an empty parent
/// between our two `mkdir`s (see [`remove`]): then make it again.
fn mkdir_leaf(
    dir: &Path,
    prepare: &dyn Fn(&Path) -> Result<(), CgroupError>,
) -> Result<(), CgroupError> {
    let parent = dir.parent().unwrap_or(dir);
    // The parent is shared, and removed by whoever leaves it empty (another
    // container's teardown): gone between two of these steps, it is made
    // again. A file missing for another reason is an error at once.
    let gone = |e: &std::io::Error| e.kind() == std::io::ErrorKind::NotFound && !parent.exists();
    let mut last = io("creating", dir)(std::io::ErrorKind::NotFound.into());
    for _ in 0..10 {
        mkdir(parent)?;
        match prepare(parent) {
            Err(CgroupError::Io { what, path, source }) if gone(&source) => {
                last = CgroupError::Io { what, path, source };
                continue;
            }
            prepared => prepared?,
        }
        match std::fs::create_dir(dir) {
            Err(e) if gone(&e) => last = io("creating", dir)(e),
            Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
                return Err(io("creating", dir)(e));
            }
            _ => return Ok(()),
        }
    }
    Err(last)
}

/// A bundle's `cgroupsPath`, relative to a hierarchy's root: `/`, `.`
/// and empty parts dropped. One that leaves the hierarchy (`..`) or names
/// its root is refused: the root holds every process of the host.
pub fn below_root(path: &Path) -> Result<PathBuf, CgroupError> {
    use std::path::Component;
    let mut below = PathBuf::new();
    for part in path.components() {
        match part {
            Component::Normal(name) => below.push(name),
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir | Component::Prefix(_) => {
                return Err(CgroupError::RootPath(path.to_owned()));
            }
        }
    }
    if below.as_os_str().is_empty() {
        return Err(CgroupError::RootPath(path.to_owned()));
    }
    Ok(below)
}

// ANCHOR: placement
/// Where a bundle's `cgroupsPath` puts its cgroup in the hierarchy mounted
/// at `mount`, as runc's cgroupfs driver reads it: an absolute path below
/// the hierarchy's root, a relative one below `own` (the runtime's own
/// cgroup there, see [`own_cgroup`]).
pub fn placement(mount: &Path, path: &Path, own: &Path) -> Result<PathBuf, CgroupError> {
    let below = below_root(path)?;
    if path.is_absolute() {
        return Ok(mount.join(below));
    }
    Ok(mount.join(own.strip_prefix("/").unwrap_or(own)).join(below))
}
// ANCHOR_END: placement

/// The cgroup this process is in (cgroups(7), `/proc/self/cgroup`): in
/// the v1 hierarchy of `controller` (a line `4:cpu,cpuacct:/a/b`), or
/// with `None` in the unified one (`0::/a/b`). `/` when not listed.
pub fn own_cgroup(controller: Option<&str>) -> PathBuf {
    let text = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    text.lines()
        .find_map(|line| {
            let mut parts = line.splitn(3, ':');
            let (_, names, path) = (parts.next()?, parts.next()?, parts.next()?);
            let ours = match controller {
                Some(c) => names.split(',').any(|n| n == c),
                None => names.is_empty(),
            };
            ours.then(|| PathBuf::from(path))
        })
        .unwrap_or_else(|| PathBuf::from("/"))
}

/// Makes `leaf` (a bundle's `cgroupsPath` in the hierarchy at `root`),
/// which must not exist yet, and the missing parents on the way, each
/// prepared with `prepare`. `made` gains what this call made, and is
/// recorded before each `mkdir` (with what is about to be made) and after
/// a failure (with only what was made): a cgroup found already there is
/// never listed, so never killed or removed.
fn mkdir_new(
    root: &Path,
    leaf: &Path,
    made: &mut Made,
    record: &dyn Fn(&Made) -> Result<(), CgroupError>,
    prepare: &dyn Fn(&Path) -> Result<(), CgroupError>,
) -> Result<(), CgroupError> {
    if leaf.exists() {
        return Err(CgroupError::Exists(leaf.to_owned()));
    }
    // The parents missing now, outermost first.
    let mut missing: Vec<PathBuf> = leaf
        .ancestors()
        .skip(1)
        .take_while(|p| *p != root && !p.exists())
        .map(Path::to_owned)
        .collect();
    missing.reverse();
    let mut planned = made.clone();
    planned.parents.extend(missing.iter().cloned());
    planned.leaves.push(leaf.to_owned());
    record(&planned)?;
    let result = (|| {
        for parent in &missing {
            match std::fs::create_dir(parent) {
                Ok(()) => made.parents.push(parent.clone()),
                // Made by someone else meanwhile: theirs, neither listed
                // nor prepared.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(io("creating", parent)(e)),
            }
            prepare(parent)?;
        }
        match std::fs::create_dir(leaf) {
            Ok(()) => {
                made.leaves.push(leaf.to_owned());
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Err(CgroupError::Exists(leaf.to_owned()))
            }
            Err(e) => Err(io("creating", leaf)(e)),
        }
    })();
    // Now exactly what was made (the plan listed more on a failure).
    record(made)?;
    result
}

/// The limits asked for, each value checked alone (by the parsers below)
/// but not yet together; `run`'s command line fills it (mini-docker's
/// `commands/run.rs`).
#[derive(Debug, Clone, Default)]
pub struct LimitRequest {
    pub memory: Option<u64>,
    pub memory_swap: Option<Swap>,
    /// 0 or negative: no limit.
    pub pids_limit: Option<i64>,
    pub cpus: Option<f64>,
    pub cpu_shares: Option<u64>,
    pub cpuset_cpus: Option<String>,
}

/// `--memory-swap`: a total, or unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Swap {
    Total(u64),
    Unlimited,
}

/// The limits of one container, checked; each `None` means "no limit".
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Limits {
    pub memory: Option<u64>,
    /// Memory plus swap, in bytes; `None` with a memory limit: unlimited swap.
    pub memory_swap: Option<u64>,
    pub pids: Option<u64>,
    pub cpus: Option<f64>,
    pub cpu_shares: Option<u64>,
    pub cpuset_cpus: Option<String>,
    /// Device cgroup rules, in order, as cgroup v1's `devices.allow` and
    /// `devices.deny` take them: `(allow, "c 1:3 rwm")` (an OCI bundle's
    /// `linux.resources.devices`; mini-docker sets none).
    pub devices: Vec<(bool, String)>,
    /// Where the cgroups go (an OCI bundle's `linux.cgroupsPath`, see
    /// [`placement`]); `None`: `<parent>/<id>`.
    pub path: Option<PathBuf>,
    /// The directory holding each container's cgroup when there is no
    /// `path`: [`ENGINE_PARENT`] when `None` (mini-docker's containers),
    /// [`RUNTIME_PARENT`] for the bundles the `mini-runc` binary runs, so
    /// that the two never meet under one ID.
    pub parent: Option<&'static str>,
    /// Make a cgroup even without a limit (an OCI bundle's container: its
    /// cgroup is how `delete` finds every process of it).
    pub own: bool,
}

impl Limits {
    /// Checks the flags together (each alone was checked by its parser).
    pub fn from_request(args: &LimitRequest) -> Result<Limits, CgroupError> {
        let memory_swap = match (args.memory, args.memory_swap) {
            (None, Some(_)) => return Err(CgroupError::SwapWithoutMemory),
            (Some(memory), Some(Swap::Total(swap))) if swap < memory => {
                return Err(CgroupError::SwapBelowMemory { swap, memory });
            }
            (Some(_), Some(Swap::Total(swap))) => Some(swap),
            (Some(_), Some(Swap::Unlimited)) | (None, None) => None,
            // Docker's default: as much swap as memory.
            (Some(memory), None) => Some(memory.saturating_mul(2)),
        };
        if let Some(cpus) = args.cpus {
            let have = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
            if cpus > have as f64 {
                return Err(CgroupError::TooManyCpus(cpus, have));
            }
        }
        Ok(Limits {
            memory: args.memory,
            memory_swap,
            pids: args.pids_limit.filter(|&n| n > 0).map(|n| n as u64),
            cpus: args.cpus,
            cpu_shares: args.cpu_shares,
            cpuset_cpus: args.cpuset_cpus.clone(),
            devices: Vec::new(),
            path: None,
            parent: None,
            own: false,
        })
    }

    /// No limit asked for (where the cgroups go, and whether one is made
    /// anyway, are not limits).
    pub fn is_empty(&self) -> bool {
        Limits { path: None, own: false, parent: None, ..self.clone() } == Limits::default()
    }

    /// Whether the container gets cgroups of its own: with a limit, a
    /// `cgroupsPath`, or when asked to ([`Limits::own`]).
    pub fn wants_cgroup(&self) -> bool {
        !self.is_empty() || self.own || self.path.is_some()
    }

    /// The CFS quota for `--cpus`, in microseconds per [`CPU_PERIOD_US`].
    pub fn cpu_quota_us(&self) -> Option<u64> {
        self.cpus.map(|cpus| ((cpus * CPU_PERIOD_US as f64).round() as u64).max(1000))
    }
}

/// `16m`, `512k`, `1g`, `1048576` (bytes; also `kb`, `mb`, `gb`, any case).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let lower = text.trim().to_ascii_lowercase();
    let lower = lower.strip_suffix('b').unwrap_or(&lower);
    let (digits, unit) = match lower.char_indices().last() {
        Some((i, c @ ('k' | 'm' | 'g'))) => (&lower[..i], Some(c)),
        _ => (lower, None),
    };
    let shift = match unit {
        Some('k') => 10,
        Some('m') => 20,
        Some('g') => 30,
        _ => 0,
    };
    let bad = || format!("{text:?} is not a size: use a number with an optional k, m or g");
    let number: u64 = digits.parse().map_err(|_| bad())?;
    let bytes = number.checked_mul(1 << shift).ok_or_else(bad)?;
    if bytes < MIN_MEMORY {
        return Err(format!("{text:?} is below the minimum of 6m"));
    }
    Ok(bytes)
}

pub fn parse_swap(text: &str) -> Result<Swap, String> {
    if text.trim() == "-1" { Ok(Swap::Unlimited) } else { parse_size(text).map(Swap::Total) }
}

/// A positive number of CPUs, at least 0.01 (a 1 ms quota per 100 ms).
pub fn parse_cpus(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(cpus) if cpus.is_finite() && cpus >= 0.01 => Ok(cpus),
        _ => Err(format!("{text:?} is not a number of CPUs: use e.g. 0.5 or 2 (at least 0.01)")),
    }
}

/// cgroup v1's `cpu.shares` accepts 2 to 262144.
pub fn parse_shares(text: &str) -> Result<u64, String> {
    match text.trim().parse::<u64>() {
        Ok(shares) if (2..=262_144).contains(&shares) => Ok(shares),
        _ => Err(format!("{text:?} is not a CPU share: use a number from 2 to 262144")),
    }
}

/// `0-3,6`: CPU numbers and ranges, as `cpuset.cpus` reads them. Whether
/// the CPUs exist is the kernel's to say, when the file is written.
pub fn parse_cpuset(text: &str) -> Result<String, String> {
    let bad = || format!("{text:?} is not a CPU list: use e.g. 0-3 or 0,2");
    let text = text.trim();
    for part in text.split(',') {
        let (first, last) = part.split_once('-').unwrap_or((part, part));
        let (first, last): (u32, u32) =
            (first.parse().map_err(|_| bad())?, last.parse().map_err(|_| bad())?);
        if first > last {
            return Err(bad());
        }
    }
    Ok(text.to_owned())
}

/// Which cgroup files this host has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Version {
    /// One hierarchy per controller under `/sys/fs/cgroup/<controller>`.
    V1,
    /// The unified hierarchy, mounted at this path.
    V2(PathBuf),
}

impl Version {
    /// v2 when `/sys/fs/cgroup` itself is a cgroup2 filesystem; otherwise
    /// v1 (also on a "hybrid" host, where a cgroup2 tree at
    /// `/sys/fs/cgroup/unified` holds no controller that limits anything).
    pub fn detect() -> Version {
        let root = Path::new("/sys/fs/cgroup");
        match nix::sys::statfs::statfs(root) {
            Ok(fs) if fs.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC => {
                Version::V2(root.to_owned())
            }
            _ => Version::V1,
        }
    }
}

/// The `info` line: which version limits use, and where the cgroups go.
pub fn describe() -> String {
    let rootless = !geteuid().is_root();
    match Version::detect() {
        Version::V1 if rootless => "v1: refused rootless (the hierarchies belong to root)".into(),
        Version::V1 => "v1: /sys/fs/cgroup/<controller>/mini-docker/<id>".into(),
        Version::V2(mount) => match v2::base(&mount, None) {
            Ok(base) => format!("v2: {}/<id>", base.display()),
            Err(e) => format!("v2: unavailable: {e}"),
        },
    }
}

/// Makes the container's cgroup directories and writes its limits (nothing
/// when there is no limit). The directories are recorded in `state_dir`
/// first, so that every exit path can [`remove`] them.
// ANCHOR: create
pub fn create(id: &str, limits: &Limits, state_dir: &Path) -> Result<(), CgroupError> {
    if !limits.wants_cgroup() {
        return Ok(());
    }
    let record = |made: &Made| record_limits(state_dir, made, limits);
    let made = match Version::detect() {
        Version::V1 if !geteuid().is_root() => Err(CgroupError::RootlessV1),
        Version::V1 => v1::create(id, limits, &record),
        Version::V2(mount) => v2::create(&mount, id, limits, &record),
    };
    match made {
        // Only `own` asked for (no limit, no path), by a user who may make
        // no cgroup: the container goes without one, as runc's rootless
        // containers do. Both errors come before anything is made.
        Err(CgroupError::RootlessV1 | CgroupError::NoDelegation(_))
            if limits.is_empty() && limits.path.is_none() =>
        {
            Ok(())
        }
        other => other,
    }
}
// ANCHOR_END: create

/// The directories this crate made for one container: the leaves it
/// lives in, and the parents made on the way (outermost first).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Made {
    pub leaves: Vec<PathBuf>,
    pub parents: Vec<PathBuf>,
}

/// Records the directories alone (what is left to remove).
fn record(state_dir: &Path, made: &Made) -> Result<(), CgroupError> {
    record_limits(state_dir, made, &Limits::default())
}

fn record_limits(state_dir: &Path, made: &Made, limits: &Limits) -> Result<(), CgroupError> {
    let mut text: String = made.leaves.iter().map(|d| format!("{}\n", d.display())).collect();
    text.extend(made.parents.iter().map(|d| format!("parent {}\n", d.display())));
    let mut line = |key: &str, value: Option<String>| {
        if let Some(value) = value {
            text += &format!("{key} {value}\n");
        }
    };
    line("memory", limits.memory.map(|m| m.to_string()));
    // With --memory, no total means unlimited swap: -1, as on the command line.
    let swap = limits.memory_swap.map_or("-1".to_owned(), |s| s.to_string());
    line("memory-swap", limits.memory.map(|_| swap));
    line("pids", limits.pids.map(|p| p.to_string()));
    line("cpus", limits.cpus.map(|c| c.to_string()));
    line("cpu-shares", limits.cpu_shares.map(|c| c.to_string()));
    line("cpuset-cpus", limits.cpuset_cpus.clone());
    let path = state_dir.join(RECORD);
    std::fs::write(&path, text).map_err(io("writing", &path))
}

/// What a container's `cgroups` record says: the limits asked for and the
/// cgroup directories made for them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Recorded {
    pub limits: Limits,
    pub dirs: Vec<PathBuf>,
    /// Parents this crate made for them (removed when empty, never killed).
    pub parents: Vec<PathBuf>,
}

/// The record in `state_dir`; `None` when there is none (no limit, or the
/// container has ended). A record that lists only directories (written
/// before limits were recorded) reads as directories without limits.
pub fn read_record(state_dir: &Path) -> Option<Recorded> {
    let text = std::fs::read_to_string(state_dir.join(RECORD)).ok()?;
    let mut recorded = Recorded::default();
    let limits = &mut recorded.limits;
    for line in text.lines() {
        if line.starts_with('/') {
            recorded.dirs.push(PathBuf::from(line));
            continue;
        }
        match line.split_once(' ') {
            Some(("memory", v)) => limits.memory = v.parse().ok(),
            Some(("memory-swap", v)) => limits.memory_swap = v.parse().ok(), // -1: None
            Some(("pids", v)) => limits.pids = v.parse().ok(),
            Some(("cpus", v)) => limits.cpus = v.parse().ok(),
            Some(("cpu-shares", v)) => limits.cpu_shares = v.parse().ok(),
            Some(("cpuset-cpus", v)) => limits.cpuset_cpus = Some(v.to_owned()),
            Some(("parent", v)) => recorded.parents.push(PathBuf::from(v)),
            _ => {}
        }
    }
    Some(recorded)
}

/// The cgroup directories recorded for the container in `state_dir`.
fn recorded(state_dir: &Path) -> Vec<PathBuf> {
    read_record(state_dir).map(|r| r.dirs).unwrap_or_default()
}

/// On cgroup v2, the container's one cgroup directory, opened for
/// `clone3(CLONE_INTO_CGROUP)`: the child is then born in it and no move
/// is needed (see container/parent.rs). `None` on v1 (the flag takes a
/// cgroup2 directory only) and without limits (no cgroup of its own).
pub fn clone_target(state_dir: &Path) -> Option<std::os::fd::OwnedFd> {
    let Version::V2(_) = Version::detect() else { return None };
    let [dir] = recorded(state_dir).try_into().ok()?;
    let flags = nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_DIRECTORY;
    nix::fcntl::open(&dir, flags | nix::fcntl::OFlag::O_CLOEXEC, nix::sys::stat::Mode::empty()).ok()
}

/// Moves `pid` into each of the container's cgroups by writing it into
/// `cgroup.procs`; its children will be born there. The parent calls it
/// while the child waits on the sync channel, on cgroup v2 when `clone3`
/// could not put the child there.
// ANCHOR: join
pub fn join(state_dir: &Path, pid: Pid) -> Result<(), CgroupError> {
    for dir in recorded(state_dir) {
        write(&dir, "cgroup.procs", &pid.to_string())?;
    }
    Ok(())
}
// ANCHOR_END: join

// ANCHOR: tasks-files
/// On cgroup v1, the `tasks` file of each of the container's cgroups,
/// opened for writing before `clone`: the child joins them itself with
/// [`join_self`]. Empty on v2 (see [`clone_target`]) and without cgroups.
///
/// Why the child, and why `tasks` with "0": writing a PID into
/// `cgroup.procs` moves a whole thread group, so the kernel takes the
/// global `cgroup_threadgroup_rwsem` for writing, and taking a per-CPU
/// rwsem for writing waits for an RCU grace period (kernel/cgroup/cgroup.c,
/// `cgroup_procs_write_start`; `percpu_down_write`): a median of 9 to 13 ms
/// per move on the development machine (twenty moves 50 ms apart into a
/// devices cgroup), once per hierarchy (memory, pids, cpu, devices…).
/// Writing "0" (the writer itself) into `tasks` moves one thread, the
/// caller: it cannot exit or `execve` meanwhile, so the kernel skips that
/// lock, and the move took 0.05 ms there. A single-threaded
/// process moving itself is the whole process moved (cgroups(7), "tasks").
///
/// The files are opened here, by the runtime as root on the host: the
/// child may by then be in a user namespace and its own mount namespace,
/// and cgroup v1 checks the credentials the file was *opened* with
/// (`__cgroup1_procs_write`), so an inherited descriptor works there too.
pub fn tasks_files(state_dir: &Path) -> Result<Vec<std::os::fd::OwnedFd>, CgroupError> {
    if Version::detect() != Version::V1 {
        return Ok(Vec::new());
    }
    recorded(state_dir)
        .iter()
        .map(|dir| {
            let path = dir.join("tasks");
            // (std opens with O_CLOEXEC: nothing the command execs keeps it.)
            let file = std::fs::OpenOptions::new().write(true).open(&path);
            file.map(std::os::fd::OwnedFd::from).map_err(io("opening", &path))
        })
        .collect()
}

/// In the container's child, first thing after `clone`: "0" into each of
/// [`tasks_files`], moving the calling (single-threaded) process into each
/// cgroup. Its children are born there.
pub fn join_self(tasks: &[std::os::fd::OwnedFd]) -> Result<(), nix::errno::Errno> {
    for file in tasks {
        nix::unistd::write(file, b"0")?;
    }
    Ok(())
}
// ANCHOR_END: tasks-files

/// `exec`: moves the calling process (single-threaded) into each of the
/// container's cgroups, before it joins the container's namespaces; on
/// v1 as the container's child does ([`join_self`]).
pub fn join_current(state_dir: &Path) -> Result<(), CgroupError> {
    let tasks = tasks_files(state_dir)?;
    if tasks.is_empty() {
        return join(state_dir, nix::unistd::getpid());
    }
    join_self(&tasks).map_err(|errno| {
        let path = PathBuf::from("tasks");
        CgroupError::Io { what: "writing 0 into", path, source: errno.into() }
    })
}

/// Removes the container's cgroups. `rmdir` is the only way, and it fails
/// with EBUSY while a process is still in the cgroup: the container's
/// processes are dying (its init is gone, or mini-docker was killed), so
/// wait a little, killing any that remain (they are the container's own).
// ANCHOR: remove
pub fn remove(state_dir: &Path) {
    let Some(Recorded { dirs, parents, .. }) = read_record(state_dir) else { return };
    let deadline = Instant::now() + REMOVE_WAIT;
    let mut left = Vec::new();
    // Innermost first (v2 nests nothing per container, but be general).
    for dir in dirs.iter().rev() {
        loop {
            match std::fs::remove_dir(dir) {
                Ok(()) => break,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
                Err(_) if Instant::now() < deadline => {
                    kill_all(dir);
                    std::thread::sleep(Duration::from_millis(2));
                }
                Err(_) => {
                    left.push(dir.clone());
                    break;
                }
            }
        }
    }
    // The parents made for it (such as the shared `mini-docker/`), when
    // nothing else uses them: rmdir refuses a directory with a cgroup in
    // it, and nothing is killed there. Innermost first.
    for parent in parents.iter().rev() {
        let _ = std::fs::remove_dir(parent);
    }
    if left.is_empty() {
        let _ = std::fs::remove_file(state_dir.join(RECORD));
    } else {
        let _ = record(state_dir, &Made { leaves: left, parents });
    }
}
// ANCHOR_END: remove

/// SIGKILL to every process still listed in the cgroup.
fn kill_all(dir: &Path) {
    for pid in procs(dir) {
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
    }
}

/// The processes in one cgroup directory.
fn procs(dir: &Path) -> Vec<Pid> {
    let text = read(dir, "cgroup.procs").unwrap_or_default();
    text.lines().filter_map(|pid| pid.parse().ok()).map(Pid::from_raw).collect()
}

/// Every process in the container's cgroups (each once): what `kill
/// --all` signals, and what `delete` must not leave behind.
pub fn processes(state_dir: &Path) -> Vec<Pid> {
    let mut all: Vec<Pid> = recorded(state_dir).iter().flat_map(|dir| procs(dir)).collect();
    all.sort_by_key(|pid| pid.as_raw());
    all.dedup();
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("16m"), Ok(16 << 20));
        assert_eq!(parse_size("16M"), Ok(16 << 20));
        assert_eq!(parse_size("8192k"), Ok(8 << 20));
        assert_eq!(parse_size("1g"), Ok(1 << 30));
        assert_eq!(parse_size("1gb"), Ok(1 << 30));
        assert_eq!(parse_size("7340032"), Ok(7 << 20));
        for bad in ["", "m", "16x", "-5m", "1.5g", "99999999999999g"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
        assert!(parse_size("4m").expect_err("too small").contains("minimum"));
        assert_eq!(parse_swap("-1"), Ok(Swap::Unlimited));
    }

    #[test]
    fn cpus_and_sets() {
        assert_eq!(parse_cpus("0.5"), Ok(0.5));
        for bad in ["0", "-1", "abc", "NaN", "inf", "0.001"] {
            assert!(parse_cpus(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_cpuset("0-1,3"), Ok("0-1,3".to_owned()));
        for bad in ["", "a", "1-", "3-1", "0,,1"] {
            assert!(parse_cpuset(bad).is_err(), "{bad}");
        }
        assert!(parse_shares("1").is_err());
        assert_eq!(parse_shares("512"), Ok(512));
    }

    #[test]
    fn record_round_trip() {
        let state = std::env::temp_dir().join(format!("md-cg-record-{}", std::process::id()));
        std::fs::create_dir_all(&state).expect("state dir");
        assert_eq!(read_record(&state), None);
        let dirs = [PathBuf::from("/sys/fs/cgroup/memory/mini-docker/x")];
        let limits = Limits {
            memory: Some(64 << 20),
            pids: Some(50),
            cpus: Some(0.5),
            cpuset_cpus: Some("0".to_owned()),
            ..Limits::default()
        };
        let parents = [PathBuf::from("/sys/fs/cgroup/memory/mini-docker")];
        let made = Made { leaves: dirs.to_vec(), parents: parents.to_vec() };
        record_limits(&state, &made, &limits).expect("record");
        let text = std::fs::read_to_string(state.join(RECORD)).expect("record");
        assert!(text.contains("\nmemory-swap -1\n"), "unlimited swap: {text}");
        let read = read_record(&state).expect("recorded");
        assert_eq!((read.limits, read.dirs.as_slice()), (limits, &dirs[..]));
        assert_eq!(read.parents, parents, "the parents made are told apart from the leaves");
        // The older record, directories only, still reads.
        std::fs::write(state.join(RECORD), "/a\n/b\n").expect("old record");
        assert_eq!(recorded(&state), [PathBuf::from("/a"), PathBuf::from("/b")]);
        assert!(read_record(&state).expect("old").limits.is_empty());
        let _ = std::fs::remove_dir_all(&state);
    }

    #[test]
    fn limits_together() {
        let args = |memory: Option<u64>, swap: Option<Swap>| LimitRequest {
            memory,
            memory_swap: swap,
            ..LimitRequest::default()
        };
        let m = 16 << 20;
        assert!(matches!(
            Limits::from_request(&args(None, Some(Swap::Unlimited))),
            Err(CgroupError::SwapWithoutMemory)
        ));
        assert!(matches!(
            Limits::from_request(&args(Some(m), Some(Swap::Total(m - 1)))),
            Err(CgroupError::SwapBelowMemory { .. })
        ));
        let limits = Limits::from_request(&args(Some(m), None)).expect("valid");
        assert_eq!(limits.memory_swap, Some(2 * m));
        assert!(Limits::from_request(&LimitRequest::default()).expect("none").is_empty());
        let pids = LimitRequest { pids_limit: Some(-1), ..LimitRequest::default() };
        assert!(Limits::from_request(&pids).expect("unlimited").is_empty());
        let cpus = LimitRequest { cpus: Some(0.5), ..LimitRequest::default() };
        assert_eq!(Limits::from_request(&cpus).expect("cpus").cpu_quota_us(), Some(50_000));
    }
}
