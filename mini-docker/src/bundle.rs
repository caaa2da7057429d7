//! The bundle `mini-docker run` writes: the container's settings as an OCI
//! `config.json` (the OCI runtime specification, config.md and
//! config-linux.md), in its state directory.
//!
//! Docker's engine does the same before it calls runc: it turns `docker
//! run`'s flags and the image's defaults into a `config.json`, and the
//! runtime turns that file into a process. Here the file is written, shown
//! by `mini-docker inspect`, and read back by mini-runc's `spec::plan`, the
//! translation its own binary uses for any bundle: what the container gets
//! is what the file says. What a `config.json` cannot hold crosses beside
//! it (mini-runc's `container/in_process.rs`).
//!
//! The same directory is a bundle other runtimes accept for most settings:
//! `runc run --bundle <state dir> ID` runs the same command with the same
//! namespaces, IDs, mounts, capabilities, limits and seccomp profile (its
//! `root.path` is the empty mount point of the overlay, which runc would
//! need mounted first, as Docker mounts it).
//!
//! It imports mini-runc's container, cgroup and security types, and
//! nothing of the engine.

use std::path::Path;

use mini_runc::cgroups::{CPU_PERIOD_US, Limits};
use mini_runc::container::{Config, IpcMode, NetMode};
use mini_runc::security::{SecurityError, capabilities, seccomp};
use oci_spec::runtime::Spec;
use serde_json::{Value, json};
use thiserror::Error;

/// A bundle that could not be written.
#[derive(Debug, Error)]
pub enum BundleError {
    /// The seccomp profile (a `--security-opt seccomp=FILE` unreadable).
    #[error(transparent)]
    Seccomp(#[from] SecurityError),
    /// What the engine wrote is not a `config.json` (a bug of the engine).
    #[error("the engine wrote an invalid config.json: {0}")]
    Invalid(serde_json::Error),
}

/// The annotation that names the container (as containerd's
/// `io.kubernetes.cri.container-name` does for Kubernetes).
pub const NAME_ANNOTATION: &str = "org.nslab.mini-docker.name";

// ANCHOR: spec
/// The container's `config.json`, as JSON: what the file holds.
pub fn config(cfg: &Config, limits: &Limits, rootfs: &Path) -> Result<Value, BundleError> {
    let caps: Vec<String> =
        capabilities::list(cfg.security.caps).iter().map(ToString::to_string).collect();
    let mut config = json!({
        "ociVersion": "1.0.2",
        "root": { "path": rootfs, "readonly": cfg.read_only },
        "process": {
            "terminal": cfg.tty,
            "user": { "uid": cfg.user.0, "gid": cfg.user.1 },
            "args": cfg.command,
            "env": cfg.env,
            "cwd": cfg.workdir,
            "capabilities": { "bounding": caps, "effective": caps, "permitted": caps },
            "noNewPrivileges": cfg.security.no_new_privs,
        },
        "mounts": mounts(cfg),
        "linux": {
            "namespaces": namespaces(cfg),
        },
    });
    if !cfg.additional_gids.is_empty() {
        config["process"]["user"]["additionalGids"] = json!(cfg.additional_gids);
    }
    if cfg.namespaces.uts {
        config["hostname"] = json!(cfg.hostname);
    }
    if let Some(name) = &cfg.name {
        config["annotations"] = json!({ NAME_ANNOTATION: name });
    }
    let linux = &mut config["linux"];
    if let Some(map) = &cfg.namespaces.user {
        linux["uidMappings"] =
            json!([{ "containerID": 0, "hostID": map.host_uid, "size": map.count }]);
        linux["gidMappings"] =
            json!([{ "containerID": 0, "hostID": map.host_gid, "size": map.count }]);
    }
    if !cfg.security.privileged {
        linux["maskedPaths"] = json!(cfg.security.masked);
        linux["readonlyPaths"] = json!(cfg.security.read_only);
    }
    if let Some(profile) = seccomp::oci(&cfg.security.seccomp, cfg.security.caps)? {
        linux["seccomp"] = profile;
    }
    if !limits.is_empty() {
        linux["cgroupsPath"] = json!(format!("/mini-docker/{}", cfg.id));
        linux["resources"] = resources(limits);
    }
    Ok(config)
}
// ANCHOR_END: spec

/// The file's JSON as `oci-spec`'s [`Spec`], the type the runtime reads.
/// (The file itself is written from the JSON, not from the [`Spec`]: the
/// engine then carries no code to serialize every type of the
/// specification, only to read them, which keeps its start small.)
pub fn typed(config: Value) -> Result<Spec, BundleError> {
    serde_json::from_value(config).map_err(BundleError::Invalid)
}

/// Docker's usual mounts, then each `-v` as a recursive bind mount.
fn mounts(cfg: &Config) -> Vec<Value> {
    let quiet = ["nosuid", "noexec", "nodev"];
    let sys = if cfg.security.privileged {
        json!(quiet)
    } else {
        json!(["nosuid", "noexec", "nodev", "ro"])
    };
    let mut mounts = vec![
        json!({ "destination": "/proc", "type": "proc", "source": "proc", "options": quiet }),
        json!({ "destination": "/dev", "type": "tmpfs", "source": "tmpfs",
                "options": ["nosuid", "strictatime", "mode=755", "size=65536k"] }),
        json!({ "destination": "/dev/pts", "type": "devpts", "source": "devpts",
                "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"] }),
        json!({ "destination": "/sys", "type": "sysfs", "source": "sysfs", "options": sys }),
        json!({ "destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": quiet }),
        json!({ "destination": "/dev/shm", "type": "tmpfs", "source": "shm",
                "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"] }),
    ];
    for volume in &cfg.volumes {
        let access = if volume.read_only { "ro" } else { "rw" };
        mounts.push(json!({
            "destination": volume.target, "type": "bind", "source": volume.source,
            "options": ["rbind", access],
        }));
    }
    mounts
}

/// Each new namespace, and those of another container (`container:NAME`)
/// by path, as Docker writes them.
fn namespaces(cfg: &Config) -> Vec<Value> {
    let ns = &cfg.namespaces;
    let mut list = vec![json!({ "type": "mount" }), json!({ "type": "cgroup" })];
    let mut add = |new: bool, kind: &str, joined: Option<&str>| match (new, joined) {
        (_, Some(path)) => list.push(json!({ "type": kind, "path": path })),
        (true, None) => list.push(json!({ "type": kind })),
        (false, None) => {}
    };
    add(ns.pid, "pid", cfg.pid_join.as_ref().and_then(|j| j.path()));
    let net = match &cfg.net_mode {
        NetMode::Container { ns, .. } => ns.path(),
        _ => None,
    };
    add(ns.net, "network", net);
    let ipc = match &cfg.ipc_mode {
        IpcMode::Container { ns, .. } => ns.path(),
        _ => None,
    };
    add(ns.ipc, "ipc", ipc);
    add(ns.uts, "uts", None);
    add(ns.user.is_some(), "user", None);
    list
}

/// `linux.resources`, in the units config-linux.md gives: bytes, a CPU
/// quota over a period in microseconds, shares, and a pids limit.
fn resources(limits: &Limits) -> Value {
    let mut resources = json!({});
    if let Some(memory) = limits.memory {
        // Docker's rule: no total of memory and swap is unlimited swap, -1.
        let swap = limits.memory_swap.map_or(-1, |s| s as i64);
        resources["memory"] = json!({ "limit": memory, "swap": swap });
    }
    if let Some(pids) = limits.pids {
        resources["pids"] = json!({ "limit": pids });
    }
    let mut cpu = json!({});
    if let Some(cpus) = limits.cpus {
        cpu["quota"] = json!((cpus * CPU_PERIOD_US as f64).round() as i64);
        cpu["period"] = json!(CPU_PERIOD_US);
    }
    if let Some(shares) = limits.cpu_shares {
        cpu["shares"] = json!(shares);
    }
    if let Some(set) = &limits.cpuset_cpus {
        cpu["cpus"] = json!(set);
    }
    if cpu != json!({}) {
        resources["cpu"] = cpu;
    }
    resources
}
