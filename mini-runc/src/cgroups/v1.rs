//! cgroup v1: one hierarchy per controller.
//!
//! ```text
//! /sys/fs/cgroup/memory/mini-docker/ID/memory.limit_in_bytes        --memory
//!                                     /memory.memsw.limit_in_bytes  --memory-swap
//! /sys/fs/cgroup/pids/mini-docker/ID/pids.max                       --pids-limit
//! /sys/fs/cgroup/cpu/mini-docker/ID/cpu.cfs_quota_us, cpu.cfs_period_us  --cpus
//!                                  /cpu.shares                      --cpu-shares
//! /sys/fs/cgroup/cpuset/mini-docker/ID/cpuset.cpus, cpuset.mems     --cpuset-cpus
//! ```
//!
//! A process is in exactly one cgroup *per hierarchy*, so the container
//! gets a directory in each hierarchy it is limited in, and joins each.
//! Two v1 oddities show here: `memory.memsw.limit_in_bytes` can never be
//! below `memory.limit_in_bytes` (so memory is written first), and a new
//! cpuset cgroup starts with *no* CPUs and *no* memory nodes: a process
//! cannot join it until both are written.
//!
//! It imports only `cgroups/`'s shared helpers.

use std::path::{Path, PathBuf};

use super::{CgroupError, Limits, Made, io, read, write};

/// Where the v1 hierarchies are mounted (one directory each; `cpu` is often
/// a symbolic link to `cpu,cpuacct`).
const ROOT: &str = "/sys/fs/cgroup";

/// Makes `/sys/fs/cgroup/<controller>/mini-docker/<id>` (`mini-runc/<id>`
/// for a bundle, or its `cgroupsPath`) in each hierarchy a limit needs,
/// and writes the limits.
/// Without a limit, the pids hierarchy alone holds the container. `record`
/// is called with the directories before any is made, and again with
/// exactly those made when a step fails.
// ANCHOR: v1-create
pub fn create(
    id: &str,
    limits: &Limits,
    record: &dyn Fn(&Made) -> Result<(), CgroupError>,
) -> Result<(), CgroupError> {
    let memory = limits.memory.is_some();
    let cpu = limits.cpus.is_some() || limits.cpu_shares.is_some();
    let mut controllers: Vec<&'static str> = [
        ("memory", memory),
        ("pids", limits.pids.is_some()),
        ("cpu", cpu),
        ("cpuset", limits.cpuset_cpus.is_some()),
        ("devices", !limits.devices.is_empty()),
    ]
    .into_iter()
    .filter_map(|(name, wanted)| wanted.then_some(name))
    .collect();
    if controllers.is_empty() {
        // No limit, but a cgroup wanted: pids.max stays "max", and
        // cgroup.procs lists every process of the container.
        controllers.push("pids");
    }
    for &controller in &controllers {
        let hierarchy = Path::new(ROOT).join(controller);
        if !hierarchy.join("cgroup.procs").exists() {
            let why = String::from(" (no v1 hierarchy mounted for it)");
            return Err(CgroupError::NoController { controller, path: hierarchy, why });
        }
    }
    let parent = limits.parent.unwrap_or(super::ENGINE_PARENT);
    let dirs: Vec<PathBuf> = controllers
        .iter()
        .map(|c| {
            let hierarchy = Path::new(ROOT).join(c);
            match &limits.path {
                Some(path) => super::placement(&hierarchy, path, &super::own_cgroup(Some(c))),
                None => Ok(hierarchy.join(parent).join(id)),
            }
        })
        .collect::<Result<_, _>>()?;
    let mut made = Made::default();
    for (&controller, dir) in controllers.iter().zip(&dirs) {
        let prepare = |parent: &Path| {
            if controller == "cpuset" { inherit_cpuset(parent) } else { Ok(()) }
        };
        let step = if limits.path.is_some() {
            let hierarchy = Path::new(ROOT).join(controller);
            super::mkdir_new(&hierarchy, dir, &mut made, record, &prepare)
        } else {
            // `mini-docker/` (or `mini-runc/`) and `<id>` below it are this
            // crate's by name.
            let parent = dir.parent().unwrap_or(dir).to_owned();
            made.leaves.push(dir.clone());
            made.parents.push(parent);
            record(&made).and_then(|()| super::mkdir_leaf(dir, &prepare))
        };
        step.and_then(|()| match controller {
            "memory" => memory_limits(dir, limits),
            "pids" => match limits.pids {
                Some(pids) => write(dir, "pids.max", &pids.to_string()),
                None => Ok(()),
            },
            "cpu" => cpu_limits(dir, limits),
            "devices" => device_rules(dir, limits),
            _ => cpuset_limits(dir, limits),
        })?;
    }
    Ok(())
}
// ANCHOR_END: v1-create

fn memory_limits(dir: &Path, limits: &Limits) -> Result<(), CgroupError> {
    let Some(memory) = limits.memory else { return Ok(()) };
    write(dir, "memory.limit_in_bytes", &memory.to_string())?;
    // memsw exists only with swap accounting (CONFIG_MEMCG_SWAP, swapaccount=1).
    let swap = limits.memory_swap.map_or("-1".to_owned(), |s| s.to_string());
    if dir.join("memory.memsw.limit_in_bytes").exists() {
        write(dir, "memory.memsw.limit_in_bytes", &swap)?;
    }
    Ok(())
}

fn cpu_limits(dir: &Path, limits: &Limits) -> Result<(), CgroupError> {
    if let Some(quota) = limits.cpu_quota_us() {
        write(dir, "cpu.cfs_period_us", &super::CPU_PERIOD_US.to_string())?;
        write(dir, "cpu.cfs_quota_us", &quota.to_string())?;
    }
    if let Some(shares) = limits.cpu_shares {
        write(dir, "cpu.shares", &shares.to_string())?;
    }
    Ok(())
}

/// The device cgroup's rules, in order: `devices.deny` with `a` forbids
/// every device, then `devices.allow` opens single ones
/// (Documentation/admin-guide/cgroup-v1/devices.rst). The kernel takes one
/// rule per `write(2)`, but each file is opened once: Docker's default
/// list is some twenty rules, and an open of a cgroup file costs as much
/// as the write.
fn device_rules(dir: &Path, limits: &Limits) -> Result<(), CgroupError> {
    use std::io::Write as _;
    let (mut allow_file, mut deny_file) = (None, None);
    for (allow, rule) in &limits.devices {
        let (slot, name) = if *allow {
            (&mut allow_file, "devices.allow")
        } else {
            (&mut deny_file, "devices.deny")
        };
        let path = dir.join(name);
        let file = match slot {
            Some(file) => file,
            None => slot.insert(
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .map_err(io("opening", &path))?,
            ),
        };
        file.write_all(rule.as_bytes()).map_err(io("writing", &path))?;
    }
    Ok(())
}

fn cpuset_limits(dir: &Path, limits: &Limits) -> Result<(), CgroupError> {
    let Some(cpus) = &limits.cpuset_cpus else { return Ok(()) };
    let parent = dir.parent().unwrap_or(dir);
    write(dir, "cpuset.cpus", cpus).map_err(|_| CgroupError::BadCpuset {
        cpus: cpus.clone(),
        available: read(parent, "cpuset.cpus").unwrap_or_default(),
    })?;
    write(dir, "cpuset.mems", &read(parent, "cpuset.mems")?)
}

/// A new cpuset cgroup is empty: give `mini-docker/` its parent's CPUs and
/// memory nodes (once; later runs find them set).
fn inherit_cpuset(dir: &Path) -> Result<(), CgroupError> {
    let above = dir.parent().unwrap_or(dir);
    for file in ["cpuset.cpus", "cpuset.mems"] {
        if read(dir, file)?.is_empty() {
            write(dir, file, &read(above, file)?)?;
        }
    }
    Ok(())
}
