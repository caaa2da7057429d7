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
//! namespaces, IDs, capabilities, limits and seccomp profile. Two things
//! cross beside the file: the image (`root.path` is the empty mount point
//! of the overlay, which runc would need mounted first, as Docker mounts
//! it) and the files the engine writes for `/etc/hostname`, `/etc/hosts`
//! and `/etc/resolv.conf` (bound by the runtime from the state directory,
//! where Docker lists them as bind mounts).
//!
//! The file is built with `oci-spec`'s builders and written by serde: the
//! engine never parses a `config.json`, so it carries no code to, which
//! keeps its start small (the code that reads every type of the
//! specification is mostly what a runtime's binary is made of).
//!
//! It imports mini-runc's container, cgroup and security types, and
//! nothing of the engine.

use std::collections::{BTreeMap, HashMap};
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

use mini_runc::cgroups::{CPU_PERIOD_US, Limits};
use mini_runc::container::{Config, IpcMode, NetMode};
use mini_runc::security::seccomp::Settled;
use mini_runc::security::{SecurityError, capabilities, paths, precompiled, seccomp};
use nix::unistd::geteuid;
use oci_spec::runtime::{
    Capabilities, Capability, Linux, LinuxCapabilitiesBuilder, LinuxCpuBuilder, LinuxDevice,
    LinuxDeviceBuilder, LinuxDeviceCgroup, LinuxDeviceCgroupBuilder, LinuxDeviceType,
    LinuxIdMappingBuilder, LinuxMemoryBuilder, LinuxNamespace, LinuxNamespaceBuilder,
    LinuxNamespaceType, LinuxPidsBuilder, LinuxResources, LinuxResourcesBuilder, LinuxSeccomp,
    Mount, MountBuilder, Process, RootBuilder, Spec, UserBuilder,
};
use thiserror::Error;

/// A bundle that could not be written.
#[derive(Debug, Error)]
pub enum BundleError {
    /// The seccomp profile (a `--security-opt seccomp=FILE` unreadable).
    #[error(transparent)]
    Seccomp(#[from] SecurityError),
    /// A part the engine built is not valid for `oci-spec` (a bug of the
    /// engine).
    #[error("the engine built an invalid config.json: {0}")]
    Invalid(String),
    /// A `--device` that names no device node, or bad permissions.
    #[error("--device {0:?}: {1}")]
    Device(String, String),
}

/// `--device HOST[:CONTAINER][:PERMISSIONS]`: a device node of the host,
/// made in the container's `/dev` and allowed by its devices cgroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceMapping {
    pub host: PathBuf,
    pub container: String,
    /// `c` or `b`.
    pub kind: char,
    pub major: u64,
    pub minor: u64,
    /// What the cgroup allows: some of `r` (read), `w` (write), `m` (mknod).
    pub access: String,
    /// The host node's permission bits, owner and group.
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

// ANCHOR: parse-device
/// Reads `--device` as Docker does: `/dev/sdc`, `/dev/sdc:/dev/xvdc`,
/// `/dev/sdc:rw`, `/dev/sdc:/dev/xvdc:r`. The host path must be a
/// character or block device (its type and numbers are what the container
/// gets); the container path defaults to it.
pub fn parse_device(text: &str) -> Result<DeviceMapping, BundleError> {
    let bad = |why: &str| BundleError::Device(text.to_owned(), why.to_owned());
    let is_access = |s: &str| !s.is_empty() && s.chars().all(|c| "rwm".contains(c));
    let parts: Vec<&str> = text.split(':').collect();
    let (host, container, access) = match parts[..] {
        [host] => (host, host, "rwm"),
        [host, access] if is_access(access) => (host, host, access),
        [host, container] => (host, container, "rwm"),
        [host, container, access] => (host, container, access),
        _ => return Err(bad("use HOST[:CONTAINER][:PERMISSIONS]")),
    };
    if !is_access(access) {
        return Err(bad("the permissions are some of r, w and m"));
    }
    if !container.starts_with("/dev/") || container.split('/').any(|p| p == "..") {
        return Err(bad("the path in the container must be below /dev"));
    }
    let meta = std::fs::metadata(host).map_err(|e| bad(&e.to_string()))?;
    let kind = match meta.file_type() {
        t if t.is_char_device() => 'c',
        t if t.is_block_device() => 'b',
        _ => return Err(bad("not a character or block device")),
    };
    use std::os::unix::fs::MetadataExt;
    let rdev = meta.rdev();
    Ok(DeviceMapping {
        host: PathBuf::from(host),
        container: container.to_owned(),
        kind,
        major: libc::major(rdev).into(),
        minor: libc::minor(rdev).into(),
        access: access.to_owned(),
        mode: meta.mode() & 0o7777,
        uid: meta.uid(),
        gid: meta.gid(),
    })
}
// ANCHOR_END: parse-device

// ANCHOR: docker-devices
/// Docker's devices cgroup (moby `daemon/pkg/oci/defaults.go`): every
/// device refused, then the few a program expects (null, zero, urandom,
/// random, tty, console) allowed, and fuse refused again. The runtime adds
/// the devices every container's `/dev` holds, as runc does (`full`,
/// `ptmx` and the pty slaves, `tun`), so that `/dev/full` works in both.
/// Whatever a container then creates with `CAP_MKNOD` (`mknod /sda b 8 0`)
/// it cannot open: the kernel asks the cgroup on every open of a device
/// node (Documentation/admin-guide/cgroup-v1/devices.rst).
const DOCKER_DEVICES: [(bool, Option<(i64, i64)>); 8] = [
    (false, None),
    (true, Some((1, 5))),
    (true, Some((1, 3))),
    (true, Some((1, 9))),
    (true, Some((1, 8))),
    (true, Some((5, 0))),
    (true, Some((5, 1))),
    (false, Some((10, 229))),
];
// ANCHOR_END: docker-devices

fn invalid(e: impl std::fmt::Display) -> BundleError {
    BundleError::Invalid(e.to_string())
}

/// The start of the engine's own annotations; a user's `--label` may not
/// take it.
pub const ANNOTATION_PREFIX: &str = "org.nslab.mini-docker.";

/// The annotation that names the container (as containerd's
/// `io.kubernetes.cri.container-name` does for Kubernetes).
pub const NAME_ANNOTATION: &str = "org.nslab.mini-docker.name";

/// `--stop-signal` and `--stop-timeout`, read back by `stop`. They are
/// the engine's business (Docker keeps them in its own container config):
/// the runtime only ever sends the signal it is told.
pub const STOP_SIGNAL_ANNOTATION: &str = "org.nslab.mini-docker.stop-signal";
pub const STOP_TIMEOUT_ANNOTATION: &str = "org.nslab.mini-docker.stop-timeout";

/// What `run` writes into the file that mini-runc's `Config` does not
/// carry: the runtime reads the tmpfs mounts back (its `spec.rs`), and the
/// annotations are left to the engine, as the specification says.
#[derive(Debug, Default, Clone)]
pub struct Additions {
    /// `--tmpfs`: each mount point with its options.
    pub tmpfs: Vec<(String, Vec<String>)>,
    /// `--label` and the `stop` settings.
    pub annotations: BTreeMap<String, String>,
    /// `--device`: host nodes given to the container, with their rules.
    pub devices: Vec<DeviceMapping>,
}

// ANCHOR: spec
/// The container's `config.json`, built as `oci-spec`'s [`Spec`]: each
/// part is set here, none left to the crate's defaults (which are runc's
/// `spec` command's: a shell, its rlimits, its mounts). All of it but
/// `linux.seccomp`, which comes back beside it, settled (see
/// [`precompiled::settle`]): its text, which [`set_seccomp`] puts into the
/// `Spec` before it is written, and the program compiled from it. The
/// plan is made without it: the runtime takes the program as it is, and
/// reading the text into `oci-spec`'s types and writing it out again is
/// work the start need not wait for (but for a user's profile, which
/// [`linux`] reads once to check it).
pub fn spec(
    cfg: &Config,
    additions: &Additions,
    limits: &Limits,
    rootfs: &Path,
) -> Result<(Spec, Option<Settled>), BundleError> {
    let mut spec = Spec::default();
    spec.set_version("1.0.2".to_owned());
    spec.set_root(Some(
        RootBuilder::default().path(rootfs).readonly(cfg.read_only).build().map_err(invalid)?,
    ));
    spec.set_process(Some(process(cfg)?));
    spec.set_mounts(Some(mounts(cfg, &additions.tmpfs)?));
    spec.set_hostname(cfg.namespaces.uts.then(|| cfg.hostname.clone()));
    let mut annotations: HashMap<String, String> =
        additions.annotations.clone().into_iter().collect();
    if let Some(name) = &cfg.name {
        annotations.insert(NAME_ANNOTATION.to_owned(), name.clone());
    }
    spec.set_annotations((!annotations.is_empty()).then_some(annotations));
    let (linux, settled) = linux(cfg, limits, &additions.devices)?;
    spec.set_linux(Some(linux));
    Ok((spec, settled))
}
// ANCHOR_END: spec

/// `linux.seccomp`, from the text [`spec`] handed back beside the `Spec`.
pub fn set_seccomp(spec: &mut Spec, text: &str) -> Result<(), BundleError> {
    let profile: LinuxSeccomp = serde_json::from_str(text).map_err(invalid)?;
    if let Some(linux) = spec.linux_mut() {
        linux.set_seccomp(Some(profile));
    }
    Ok(())
}

/// `process`: the command, its environment, user and directory, its
/// capabilities (one set, as Docker gives them) and `no_new_privs`.
fn process(cfg: &Config) -> Result<Process, BundleError> {
    let caps: Capabilities = capabilities::list(cfg.security.caps)
        .iter()
        // `oci-spec` names them without the prefix ("CHOWN"); the file
        // says "CAP_CHOWN".
        .map(|cap| cap.to_string().trim_start_matches("CAP_").parse::<Capability>())
        .map(|cap| cap.map_err(invalid))
        .collect::<Result<_, _>>()?;
    let mut user = UserBuilder::default().uid(cfg.user.0).gid(cfg.user.1);
    if !cfg.additional_gids.is_empty() {
        user = user.additional_gids(cfg.additional_gids.clone());
    }
    let mut capabilities = LinuxCapabilitiesBuilder::default()
        .bounding(caps.clone())
        .effective(caps.clone())
        .permitted(caps)
        .build()
        .map_err(invalid)?;
    // Not the builder's defaults (runc spec's ambient set): none, as Docker.
    capabilities.set_inheritable(None);
    capabilities.set_ambient(None);
    let mut process = Process::default();
    process.set_terminal(Some(cfg.tty));
    process.set_user(user.build().map_err(invalid)?);
    process.set_args(Some(cfg.command.clone()));
    process.set_env(Some(cfg.env.clone()));
    process.set_cwd(cfg.workdir.clone().into());
    process.set_capabilities(Some(capabilities));
    process.set_no_new_privileges(Some(cfg.security.no_new_privs));
    process.set_rlimits(None);
    Ok(process)
}

/// `linux`: namespaces, ID maps, masked paths, sysctls, devices, the
/// seccomp profile, and the cgroup with its limits and device rules when
/// there are any.
fn linux(
    cfg: &Config,
    limits: &Limits,
    devices: &[DeviceMapping],
) -> Result<(Linux, Option<Settled>), BundleError> {
    let mut linux = Linux::default();
    linux.set_namespaces(Some(namespaces(cfg)?));
    // Every range: rootless with subordinate IDs there are two.
    let maps = |ranges: Vec<mini_runc::container::IdRange>| {
        ranges
            .into_iter()
            .map(|r| {
                let map = LinuxIdMappingBuilder::default().container_id(r.container);
                map.host_id(r.host).size(r.size).build().map_err(invalid)
            })
            .collect::<Result<Vec<_>, _>>()
    };
    if let Some(ids) = &cfg.namespaces.user {
        linux.set_uid_mappings(Some(maps(ids.ranges(false))?));
        linux.set_gid_mappings(Some(maps(ids.ranges(true))?));
    }
    let privileged = cfg.security.privileged;
    // Docker's lists, with the CPUs' thermal_throttle directories that
    // exist on this machine (paths.rs).
    let masked = || [&cfg.security.masked[..], &paths::per_cpu_masked()].concat();
    linux.set_masked_paths((!privileged).then(masked));
    linux.set_readonly_paths((!privileged).then(|| cfg.security.read_only.clone()));
    let mut nodes = if privileged { host_devices()? } else { Vec::new() };
    for device in devices {
        nodes.push(device_node(device)?);
    }
    linux.set_devices((!nodes.is_empty()).then_some(nodes));
    linux.set_sysctl(sysctls(cfg));
    // Read and settled once: compiled for the in-process start, and put
    // into the file as it is written (see `spec`). Docker's default
    // profile reads as `oci-spec`'s type (a test below says so); a user's
    // is read now, so that one it refuses stops `run` (or `restart`)
    // before the container starts.
    let settled = precompiled::settle(&cfg.security.seccomp, cfg.security.caps)?;
    if let (Some(settled), seccomp::Profile::File(path)) = (&settled, &cfg.security.seccomp) {
        serde_json::from_str::<LinuxSeccomp>(&settled.oci).map_err(|e| SecurityError::Profile {
            path: path.clone(),
            why: format!("not a linux.seccomp of the OCI specification: {e}"),
        })?;
    }
    // (Rootless, the host's devices cgroup is not the engine's to write;
    // nor can the container make device nodes: the kernel refuses mknod of
    // a device in a user namespace.)
    let rules = (!privileged && geteuid().is_root()).then(|| device_rules(devices)).transpose()?;
    if limits.is_empty() && rules.is_none() {
        linux.set_resources(None);
    } else {
        // As root the cgroups go there, below each hierarchy's root;
        // rootless they go below the user's own subtree, which the runtime
        // finds itself (see mini-runc's `InProcess`), so no path is named.
        if geteuid().is_root() {
            let path = format!("/{}/{}", mini_runc::cgroups::ENGINE_PARENT, cfg.id);
            linux.set_cgroups_path(Some(path.into()));
        }
        let mut resources = resources(limits)?;
        resources.set_devices(rules);
        linux.set_resources(Some(resources));
    }
    Ok((linux, settled))
}

// ANCHOR: host-devices
/// `--privileged`: every character and block device at the top of the
/// host's `/dev`, listed in `linux.devices` as Docker lists them, with the
/// host's type, numbers, mode and owner; the runtime makes each in the
/// container's `/dev` (`mknod`, or a bind mount of the host's node in a
/// user namespace, where mknod is refused). `ptmx` and `console` stay the
/// container's own.
fn host_devices() -> Result<Vec<LinuxDevice>, BundleError> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let mut devices = Vec::new();
    let Ok(entries) = std::fs::read_dir("/dev") else { return Ok(devices) };
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Ok(meta) = entry.metadata() else { continue };
        let typ = match meta.file_type() {
            t if t.is_char_device() => LinuxDeviceType::C,
            t if t.is_block_device() => LinuxDeviceType::B,
            _ => continue,
        };
        if name == "ptmx" || name == "console" {
            continue;
        }
        let rdev = meta.rdev();
        let device = LinuxDeviceBuilder::default()
            .path(format!("/dev/{name}"))
            .typ(typ)
            .major(nix::sys::stat::major(rdev) as i64)
            .minor(nix::sys::stat::minor(rdev) as i64)
            .file_mode(meta.mode() & 0o777)
            .uid(meta.uid())
            .gid(meta.gid())
            .build()
            .map_err(invalid)?;
        devices.push(device);
    }
    devices.sort_by(|a, b| a.path().cmp(b.path()));
    Ok(devices)
}
// ANCHOR_END: host-devices

/// Docker's usual mounts, then each `-v` as a recursive bind mount, then
/// each `--tmpfs`.
fn mounts(cfg: &Config, tmpfs: &[(String, Vec<String>)]) -> Result<Vec<Mount>, BundleError> {
    let mount = |destination: &str, typ: &str, source: &str, options: &[&str]| {
        MountBuilder::default()
            .destination(destination)
            .typ(typ)
            .source(source)
            .options(options.iter().map(|o| o.to_string()).collect::<Vec<_>>())
            .build()
            .map_err(invalid)
    };
    let quiet = ["nosuid", "noexec", "nodev"];
    let sys: &[&str] =
        if cfg.security.privileged { &quiet } else { &[&quiet[..], &["ro"]].concat() };
    let mut mounts = vec![
        mount("/proc", "proc", "proc", &quiet)?,
        mount(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "noexec", "strictatime", "mode=755", "size=65536k"],
        )?,
        mount(
            "/dev/pts",
            "devpts",
            "devpts",
            &["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
        )?,
        mount("/sys", "sysfs", "sysfs", sys)?,
        mount("/dev/mqueue", "mqueue", "mqueue", &quiet)?,
        mount(
            "/dev/shm",
            "tmpfs",
            "shm",
            &["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
        )?,
    ];
    // The container's own cgroups (its cgroup namespace's view), read-only
    // as in Docker: limits are the engine's to set. With `--cgroupns host`
    // there is none: mini-runc mounts this file system only from a cgroup
    // namespace of the container's own (see its spec.rs), and runc's way on
    // v1, binding the host's directories, would show the host's tree.
    if cfg.namespaces.cgroup {
        let options = ["ro", "nosuid", "noexec", "nodev"];
        mounts.insert(4, mount("/sys/fs/cgroup", "cgroup", "cgroup", &options)?);
    }
    for volume in &cfg.volumes {
        let access = if volume.read_only { "ro" } else { "rw" };
        let source = volume.source.to_string_lossy();
        // Its propagation, as Docker writes it (`rprivate` by default).
        let propagation = volume.propagation.and_then(mini_runc::rootfs::propagation_word);
        let options: Vec<&str> = ["rbind", access].into_iter().chain(propagation).collect();
        mounts.push(mount(&volume.target, "bind", &source, &options)?);
    }
    for (target, options) in tmpfs {
        let options: Vec<&str> = options.iter().map(String::as_str).collect();
        mounts.push(mount(target, "tmpfs", "tmpfs", &options)?);
    }
    Ok(mounts)
}

/// Each new namespace, and those of another container (`container:NAME`)
/// by path, as Docker writes them.
fn namespaces(cfg: &Config) -> Result<Vec<LinuxNamespace>, BundleError> {
    let ns = &cfg.namespaces;
    let joined = |path: Option<&str>| path.map(str::to_owned);
    let net = match &cfg.net_mode {
        NetMode::Container { ns, .. } => joined(ns.path()),
        _ => None,
    };
    let ipc = match &cfg.ipc_mode {
        IpcMode::Container { ns, .. } => joined(ns.path()),
        _ => None,
    };
    let pid = joined(cfg.pid_join.as_ref().and_then(|j| j.path()));
    let mut list = Vec::new();
    for (new, typ, path) in [
        (true, LinuxNamespaceType::Mount, None),
        (ns.cgroup, LinuxNamespaceType::Cgroup, None),
        (ns.pid, LinuxNamespaceType::Pid, pid),
        (ns.net, LinuxNamespaceType::Network, net),
        (ns.ipc, LinuxNamespaceType::Ipc, ipc),
        (ns.uts, LinuxNamespaceType::Uts, None),
        (ns.user.is_some(), LinuxNamespaceType::User, None),
    ] {
        let entry = match (new, path) {
            (_, Some(path)) => LinuxNamespaceBuilder::default().typ(typ).path(path).build(),
            (true, None) => LinuxNamespaceBuilder::default().typ(typ).build(),
            (false, None) => continue,
        };
        list.push(entry.map_err(invalid)?);
    }
    Ok(list)
}

// ANCHOR: sysctls
/// Docker's two sysctls for a container with a network namespace of its
/// own (moby `daemon/oci_linux.go`): any port may be bound without
/// `CAP_NET_BIND_SERVICE` (`ip_unprivileged_port_start=0`), and any group
/// may open ICMP echo sockets, so `ping` works without `CAP_NET_RAW`
/// (`ping_group_range`, icmp(7)). The second only without a user
/// namespace, as in Docker: the kernel takes only group IDs the namespace
/// maps, and 2147483647 is not among a rootless container's. Each only
/// where this kernel has it.
fn sysctls(cfg: &Config) -> Option<HashMap<String, String>> {
    if !cfg.namespaces.net {
        return None;
    }
    let mut sysctl = HashMap::new();
    let exists = |key: &str| Path::new("/proc/sys").join(key.replace('.', "/")).exists();
    if cfg.namespaces.user.is_none() && exists("net.ipv4.ping_group_range") {
        sysctl.insert("net.ipv4.ping_group_range".into(), "0 2147483647".into());
    }
    if exists("net.ipv4.ip_unprivileged_port_start") {
        sysctl.insert("net.ipv4.ip_unprivileged_port_start".into(), "0".into());
    }
    (!sysctl.is_empty()).then_some(sysctl)
}

/// `linux.resources.devices`: Docker's rules, then one per `--device`.
fn device_rules(devices: &[DeviceMapping]) -> Result<Vec<LinuxDeviceCgroup>, BundleError> {
    let rule =
        |allow: bool, typ: Option<LinuxDeviceType>, number: Option<(i64, i64)>, access: &str| {
            let mut rule = LinuxDeviceCgroupBuilder::default().allow(allow).access(access);
            if let Some(typ) = typ {
                rule = rule.typ(typ);
            }
            if let Some((major, minor)) = number {
                rule = rule.major(major).minor(minor);
            }
            rule.build().map_err(invalid)
        };
    let mut rules = Vec::new();
    for (allow, number) in DOCKER_DEVICES {
        // The first, for every device, names no type: "a".
        let typ = number.map(|_| LinuxDeviceType::C);
        rules.push(rule(allow, typ, number, "rwm")?);
    }
    for d in devices {
        let number = Some((d.major as i64, d.minor as i64));
        rules.push(rule(true, Some(device_type(d)), number, &d.access)?);
    }
    Ok(rules)
}

fn device_type(d: &DeviceMapping) -> LinuxDeviceType {
    if d.kind == 'b' { LinuxDeviceType::B } else { LinuxDeviceType::C }
}

/// `linux.devices`: the node a `--device` makes in the container.
fn device_node(d: &DeviceMapping) -> Result<LinuxDevice, BundleError> {
    LinuxDeviceBuilder::default()
        .path(d.container.clone())
        .typ(device_type(d))
        .major(d.major as i64)
        .minor(d.minor as i64)
        .file_mode(d.mode)
        .uid(d.uid)
        .gid(d.gid)
        .build()
        .map_err(invalid)
}
// ANCHOR_END: sysctls

/// `linux.resources`, in the units config-linux.md gives: bytes, a CPU
/// quota over a period in microseconds, shares, and a pids limit.
fn resources(limits: &Limits) -> Result<LinuxResources, BundleError> {
    let mut resources = LinuxResourcesBuilder::default();
    if let Some(memory) = limits.memory {
        // Docker's rule: no total of memory and swap is unlimited swap, -1.
        let swap = limits.memory_swap.map_or(-1, |s| s as i64);
        let memory = LinuxMemoryBuilder::default()
            .limit(memory as i64)
            .swap(swap)
            .build()
            .map_err(invalid)?;
        resources = resources.memory(memory);
    }
    if let Some(pids) = limits.pids {
        resources = resources
            .pids(LinuxPidsBuilder::default().limit(pids as i64).build().map_err(invalid)?);
    }
    if limits.cpus.is_some() || limits.cpu_shares.is_some() || limits.cpuset_cpus.is_some() {
        let mut cpu = LinuxCpuBuilder::default();
        if let Some(cpus) = limits.cpus {
            cpu = cpu.quota((cpus * CPU_PERIOD_US as f64).round() as i64).period(CPU_PERIOD_US);
        }
        if let Some(shares) = limits.cpu_shares {
            cpu = cpu.shares(shares);
        }
        if let Some(set) = &limits.cpuset_cpus {
            cpu = cpu.cpus(set.clone());
        }
        resources = resources.cpu(cpu.build().map_err(invalid)?);
    }
    let mut resources = resources.build().map_err(invalid)?;
    // The builder's default is a device list denying nothing: the caller
    // sets Docker's.
    resources.set_devices(None);
    Ok(resources)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Docker's default profile, as `spec` hands it back beside the
    /// `Spec` (precompiled or compiled now), reads as `oci-spec`'s type,
    /// which `set_seccomp` puts into `config.json` without a check before
    /// the start.
    #[test]
    fn default_profile_reads_as_oci() {
        let caps = capabilities::mask(&capabilities::DEFAULT);
        let settled = [
            precompiled::settle(&seccomp::Profile::Default, caps),
            seccomp::settle(&seccomp::Profile::Default, caps),
        ];
        for settled in settled {
            let settled = settled.expect("settled").expect("a profile");
            let mut spec = Spec::default();
            set_seccomp(&mut spec, &settled.oci).expect("reads as LinuxSeccomp");
            let profile = spec.linux().as_ref().and_then(|l| l.seccomp().clone());
            let syscalls = profile.expect("set").syscalls().clone().unwrap_or_default();
            assert!(syscalls.len() > 10, "the profile's rules: {}", syscalls.len());
        }
    }
}
