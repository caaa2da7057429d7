//! `mini-docker run`: check the command line, write the bundle (the state
//! directory and its `config.json`, see bundle.rs), start the container
//! from it, clean up whatever happens.
//!
//! Everything that can be refused is refused here, before anything exists
//! (one clear line, exit 125), so a bad flag never leaves a half-made
//! container behind.

use std::io::Read;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::{Args, ValueEnum};
use mini_runc::cgroups::{self, LimitRequest, Limits, Swap};
use mini_runc::container::in_process::{InProcess, SeccompCopy};
use mini_runc::container::spec::{self, Plan};
use mini_runc::container::state::{Keep, StateDir};
use mini_runc::container::{
    Alongside, Config, CreateRuntime, Extras, Hooks, Lower, Namespaces, NetMode, Poststart, parent,
    sharing, tenant,
};
use mini_runc::error::{ContainerError, UsageError};
use mini_runc::rootfs::Volume;
use mini_runc::security::SecurityRequest;
use nix::unistd::geteuid;

use crate::bundle;
use crate::commands::{Dirs, Error, apply_env};
use crate::image::users::Accounts;
use crate::image::{Image, ImageConfig, ImageError, host};
use crate::monitor::Announce;
use crate::network::ipam::{self, Subnet};
use crate::network::pasta;
use crate::network::publish::{self, Publish};
use crate::network::{self, NetworkError};
use crate::teardown;

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Remove the container's state, its upper layer included, when it exits
    #[arg(long)]
    rm: bool,
    /// A name for the container (unique among running and kept containers)
    #[arg(long)]
    name: Option<String>,
    /// The container's hostname [default: the first 12 characters of its
    /// ID] (Docker has -h too; here -h is help)
    #[arg(long)]
    hostname: Option<String>,
    /// Set an environment variable (KEY alone copies mini-docker's own value)
    #[arg(short = 'e', long = "env", value_name = "KEY=VALUE")]
    env: Vec<String>,
    /// Read environment variables from a file: a KEY=VALUE or KEY per line,
    /// # comments (before -e, which wins)
    #[arg(long = "env-file", value_name = "FILE")]
    env_file: Vec<PathBuf>,
    /// Set a label on the container (config.json's annotations; inspect
    /// shows them over the image's)
    #[arg(short = 'l', long = "label", value_name = "KEY[=VALUE]")]
    label: Vec<String>,
    /// Working directory inside the container (created if missing)
    #[arg(short = 'w', long = "workdir", value_name = "DIR")]
    workdir: Option<String>,
    /// Run the command as this user: a name or UID of the image's
    /// /etc/passwd (or any UID), a group of its /etc/group (or any GID)
    #[arg(short = 'u', long = "user", value_name = "USER[:GROUP]")]
    user: Option<String>,
    /// Run this program instead of the image's entrypoint ("" clears it);
    /// the image's default arguments (its Cmd) are then dropped too
    #[arg(long, value_name = "PROGRAM", allow_hyphen_values = true)]
    entrypoint: Option<String>,
    /// Bind-mount a host path into the container (absolute paths; Docker
    /// also takes named volumes)
    /// (options: ro or rw, and a propagation: [r]shared, [r]slave or
    /// [r]private, comma-separated)
    #[arg(short = 'v', long = "volume", value_name = "SRC:DST[:OPTIONS]")]
    volume: Vec<String>,
    /// Mount a new tmpfs at PATH (options: size=, mode=, ro, exec...;
    /// always nosuid, nodev, and noexec unless exec, as Docker's)
    #[arg(long = "tmpfs", value_name = "PATH[:OPTIONS]")]
    tmpfs: Vec<String>,
    /// Mount the container's root filesystem read-only
    #[arg(long)]
    read_only: bool,
    /// Give the container a host device node, allowed by its devices cgroup
    /// (PERMISSIONS: some of r, w, m; default rwm)
    #[arg(long = "device", value_name = "HOST[:CONTAINER][:PERMISSIONS]")]
    device: Vec<String>,
    /// Keep stdin open (without it the command reads /dev/null)
    #[arg(short = 'i', long)]
    interactive: bool,
    /// Allocate a pseudo-terminal for the command (with -i: an interactive shell)
    #[arg(short = 't', long)]
    tty: bool,
    /// Run a reaper as PID 1 that forwards signals to the command and
    /// reaps orphans (Docker's --init runs docker-init, a tini; this one is
    /// mini-runc's own, see mini-runc/src/container/init.rs)
    #[arg(long)]
    init: bool,
    /// Run in the background: print the container's ID; its output (with
    /// -t, its terminal's) goes to `mini-docker logs`
    #[arg(short = 'd', long)]
    detach: bool,
    /// Network: bridge (the bridge minid0; root only), pasta (a user-mode
    /// TCP/IP stack, rootless too), none (only lo), host, or
    /// container:NAME [default: bridge as root; rootless, pasta if usable,
    /// else none]
    #[arg(long = "network", visible_alias = "net", value_name = "MODE")]
    net: Option<String>,
    /// Published ports and the bridge's subnet (with --net bridge)
    #[command(flatten)]
    network: NetworkArgs,
    /// PID namespace: private (the command is PID 1, or 2 after --init's
    /// reaper), host, or container:NAME (another container's; root only)
    #[arg(long, default_value = "private", value_name = "MODE")]
    pid: String,
    /// IPC namespace (System V IPC, POSIX message queues, /dev/shm):
    /// private, shareable (others may join it), host, or container:NAME
    #[arg(long, default_value = "private", value_name = "MODE")]
    ipc: String,
    /// UTS namespace (hostname)
    #[arg(long, value_enum, default_value_t = Share::Private)]
    uts: Share,
    /// Cgroup namespace: private, or host (Docker's default on cgroup v1)
    #[arg(long, value_enum, default_value_t = Share::Private)]
    cgroupns: Share,
    /// The signal `stop` sends first [default: TERM]
    #[arg(long = "stop-signal", value_name = "SIGNAL")]
    stop_signal: Option<String>,
    /// Seconds `stop` waits before SIGKILL [default: 10]
    #[arg(long = "stop-timeout", value_name = "SECONDS")]
    stop_timeout: Option<u64>,
    /// User namespace: auto maps the container's root to root's
    /// /etc/subuid range, or 100000-165535; rootless, to you, and IDs
    /// 1..N to your /etc/subuid range (newuidmap), else you only [default:
    /// auto rootless, host as root] (Docker: the daemon's userns-remap;
    /// Podman: --userns)
    #[arg(long, value_enum)]
    userns: Option<Userns>,
    /// Capabilities, seccomp, --privileged (see `security/`)
    #[command(flatten)]
    security: SecurityArgs,
    /// Resource limits, enforced by cgroups (see `cgroups/`)
    #[command(flatten)]
    limits: LimitArgs,
    /// The image (host, a directory, or a stored image's name), then the
    /// command [default: the image's]; as Docker's, flags end at the image
    #[arg(
        value_names = ["IMAGE", "COMMAND"],
        required = true,
        num_args = 1..,
        trailing_var_arg = true
    )]
    image_and_command: Vec<String>,
}

/// The `run` flags for the bridge network.
#[derive(Debug, Clone, Args)]
pub struct NetworkArgs {
    /// Publish a container port on a host address [default: all] (with
    /// --network bridge or pasta; Docker also picks a host port when none
    /// is given)
    #[arg(short = 'p', long = "publish", value_name = "[IP:]HOSTPORT:PORT[/tcp|udp]",
          value_parser = publish::parse)]
    pub publish: Vec<Publish>,
    /// The bridge network's subnet, its first address the bridge's
    /// (Docker: docker network create --subnet)
    #[arg(long, value_name = "CIDR", value_parser = ipam::parse_subnet,
          default_value = "10.89.0.0/24")]
    pub subnet: Subnet,
}

/// The security flags of `run`. `exec` has none: its process gets the
/// container's settings, as `run` recorded them (mini-runc/src/container/tenant.rs).
#[derive(Debug, Clone, Default, Args)]
pub struct SecurityArgs {
    /// Give the container every capability, no seccomp filter, the host's
    /// devices and writable /proc/sys and /sys (dangerous: for learning)
    #[arg(long)]
    pub privileged: bool,
    /// Add a capability to the default set (e.g. SYS_ADMIN, NET_ADMIN, ALL)
    #[arg(long = "cap-add", value_name = "CAP")]
    pub cap_add: Vec<String>,
    /// Remove a capability from the default set (e.g. NET_RAW, ALL)
    #[arg(long = "cap-drop", value_name = "CAP")]
    pub cap_drop: Vec<String>,
    /// seccomp=unconfined, seccomp=PROFILE.json (Docker's format), or
    /// no-new-privileges[=true|false] (Docker also takes apparmor, label)
    #[arg(long = "security-opt", value_name = "OPT")]
    pub security_opt: Vec<String>,
}

/// The `run` flags, as Docker spells them.
#[derive(Debug, Clone, Default, Args)]
pub struct LimitArgs {
    /// Memory limit (bytes, or with a k, m or g suffix); over it the
    /// kernel's OOM killer ends the process (exit status 137)
    #[arg(short = 'm', long, value_name = "SIZE", value_parser = cgroups::parse_size)]
    pub memory: Option<u64>,
    /// Memory plus swap (SIZE, or -1: unlimited swap) [default: twice --memory]
    #[arg(long, value_name = "SIZE", value_parser = cgroups::parse_swap, allow_hyphen_values = true)]
    pub memory_swap: Option<Swap>,
    /// Most processes (and threads) at once; 0 or -1: no limit
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// CPU time, in CPUs (1.5 = one and a half CPUs' worth every 100 ms)
    #[arg(long, value_name = "FLOAT", value_parser = cgroups::parse_cpus)]
    pub cpus: Option<f64>,
    /// Relative CPU weight when CPUs are busy (default 1024)
    #[arg(short = 'c', long, value_name = "SHARES", value_parser = cgroups::parse_shares)]
    pub cpu_shares: Option<u64>,
    /// The CPUs the container may run on: 0-3, 0,2
    #[arg(long, value_name = "LIST", value_parser = cgroups::parse_cpuset)]
    pub cpuset_cpus: Option<String>,
}

impl SecurityArgs {
    /// The plain values `security/` checks (clap stays up here).
    fn request(&self) -> SecurityRequest {
        SecurityRequest {
            privileged: self.privileged,
            cap_add: self.cap_add.clone(),
            cap_drop: self.cap_drop.clone(),
            security_opt: self.security_opt.clone(),
        }
    }
}

impl LimitArgs {
    /// The plain values `cgroups/` checks (clap stays up here).
    fn request(&self) -> LimitRequest {
        LimitRequest {
            memory: self.memory,
            memory_swap: self.memory_swap,
            pids_limit: self.pids_limit,
            cpus: self.cpus,
            cpu_shares: self.cpu_shares,
            cpuset_cpus: self.cpuset_cpus.clone(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Share {
    Private,
    Host,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Userns {
    Auto,
    Host,
}

/// Runs the container; returns the command's exit status.
pub fn run(dirs: &Dirs, mut args: RunArgs) -> Result<u8, Error> {
    let detach = args.detach;
    let limits = cgroups::Limits::from_request(&args.limits.request())?;
    let network = args.network.clone();
    let user_mode = user_mode_network(&mut args)?;
    let (decided, image, additions) = config(dirs, args, None)?;
    let bridge = network_plan(&decided, &network, user_mode.pasta)?;
    // Why a rootless container has no network, for a person at a
    // terminal; a script keeps Docker's one-line errors on its stderr.
    if let Some(note) = user_mode.note
        && nix::unistd::isatty(std::io::stderr()).unwrap_or(false)
    {
        say_err!("mini-docker: {note}");
    }
    // Checking the name and creating the state, under the state lock.
    let lock = mini_runc::container::lock::StateLock::acquire(&dirs.state)?;
    teardown::sweep(&dirs.state);
    if let Some(name) = &decided.name {
        StateDir::check_name(&dirs.state, name)?;
    }
    let state = StateDir::make(&dirs.state, &decided.id)?;
    // The command line, for `restart` (see [`RECORDED_ARGS`]).
    let argv: Vec<u8> = std::env::args_os()
        .flat_map(|arg| arg.into_encoded_bytes().into_iter().chain([0]))
        .collect();
    let plan = std::fs::write(state.dir.join(RECORDED_ARGS), argv)
        .map_err(|source| {
            let path = state.dir.join(RECORDED_ARGS);
            ContainerError::Io { what: "writing", path, source }.into()
        })
        .and_then(|()| image.record(&state))
        .and_then(|()| write_bundle(decided, &additions, &limits, &state));
    let bundle = match plan {
        Ok(bundle) => bundle,
        Err(e) => {
            state.remove();
            return Err(e);
        }
    };
    drop(lock);
    match launch(dirs, &state, bundle, bridge, detach, Announce::Id)? {
        Launched::Foreground(code) | Launched::Monitor(code) => Ok(code),
    }
}

/// How long the published ports' relays may take, once the container has
/// ended, to pass on what it last said (see `network::publish::drain`).
const RELAY_DRAIN: Duration = Duration::from_secs(1);

/// How long `restart` waits for a container that has just ended to be torn
/// down by its monitor.
const RESTART_WAIT: Duration = Duration::from_secs(5);

/// The file in a container's state directory that keeps the command line
/// of the `run` that made it, NUL after each argument: `restart` parses it
/// again, as a `docker restart` starts the container as it was created.
pub const RECORDED_ARGS: &str = "run.argv";

/// A kept container's settings, decided again for `restart` (see
/// [`decide_again`]) before it is stopped.
pub struct Again {
    decided: Config,
    image: ImageRecord,
    additions: bundle::Additions,
    limits: Limits,
    bridge: Option<network::Plan>,
}

/// `restart`, first half: the container in `state` decided again from
/// `args`, its recorded command line, under its own ID. Done while it may
/// still run, so that a setting that no longer holds (an image removed, a
/// volume's source gone) leaves it as it is, with the reason.
pub fn decide_again(dirs: &Dirs, state: &StateDir, mut args: RunArgs) -> Result<Again, Error> {
    let network = args.network.clone();
    let limits = cgroups::Limits::from_request(&args.limits.request())?;
    let user_mode = user_mode_network(&mut args)?;
    let id = state.dir.file_name().map(|n| n.to_string_lossy().into_owned());
    let (decided, image, additions) = config(dirs, args, id)?;
    let bridge = network_plan(&decided, &network, user_mode.pasta)?;
    Ok(Again { decided, image, additions, limits, bridge })
}

/// `restart`, second half, once the container has stopped: started again
/// under the same ID, name and upper layer, detached, as `docker restart`
/// does. What a killed monitor left is reclaimed first (the sweep), as the
/// next `run` would.
pub fn start_again(dirs: &Dirs, state: &StateDir, again: Again) -> Result<Launched, Error> {
    let Again { decided, image, additions, limits, bridge } = again;
    // A container whose command has just ended may still be tearing down
    // (its monitor removes what it used): that is soon over.
    teardown::ended(state, RESTART_WAIT);
    let lock = mini_runc::container::lock::StateLock::acquire(&dirs.state);
    let reopened = lock.map_err(Error::from).and_then(|lock| {
        if state.running() {
            return Err(UsageError::StillRunning(decided.id.clone()).into());
        }
        teardown::sweep(&dirs.state);
        Ok((lock, state.reopen()?))
    });
    let lock = match reopened {
        Ok((lock, ())) => lock,
        Err(e) => {
            state.clear_restarting();
            return Err(e);
        }
    };
    let bundle =
        image.record(state).and_then(|()| write_bundle(decided, &additions, &limits, state));
    let bundle = match bundle {
        Ok(bundle) => bundle,
        Err(e) => {
            teardown::tear_down(state, state.keeps());
            return Err(e);
        }
    };
    drop(lock);
    launch(dirs, state, bundle, bridge, true, Announce::Nothing)
}

/// How [`launch`] returned: in the process that called it, or (`-d`) in
/// the monitor, once the container it ran has ended. A caller that goes
/// on to other containers must let the monitor exit instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Launched {
    Foreground(u8),
    Monitor(u8),
}

/// `--network pasta` (asked for, or rootless by default where pasta can
/// run) is, to the runtime, a namespace of its own with only lo (`none`);
/// the engine starts pasta for it (see network/pasta.rs).
fn user_mode_network(args: &mut RunArgs) -> Result<pasta::Decision, Error> {
    let user_mode = pasta::decide(args.net.as_deref(), geteuid().is_root())?;
    if user_mode.pasta {
        args.net = Some("none".to_owned());
    }
    Ok(user_mode)
}

/// The network the engine makes (the bridge's `--subnet` and `-p`, or
/// pasta's forwards), checked before anything exists; `None` for the
/// others.
fn network_plan(
    decided: &Config,
    network: &NetworkArgs,
    pasta: bool,
) -> Result<Option<network::Plan>, Error> {
    let on_bridge = matches!(decided.net_mode, NetMode::Bridge);
    Ok(network::Plan::new(network.subnet, &network.publish, on_bridge, pasta)?)
}

/// From a bundle to the end: the container runs (under a monitor with
/// `detach`), and what it leaves is torn down when it ends.
fn launch(
    dirs: &Dirs,
    state: &StateDir,
    bundle: Bundle,
    bridge: Option<network::Plan>,
    detach: bool,
    announce: Announce,
) -> Result<Launched, Error> {
    let Bundle { plan: Plan { config: mut cfg, limits, extras, .. }, spec, seccomp } = bundle;
    // `run --rm` in the foreground: the container's mount namespace, held
    // from its start, so that its unmounting waits until the status is
    // back (see teardown::tear_down_later), and others with it (below).
    // Not with `--pid container:NAME`: this process's children are born in
    // that container's PID namespace then, and the process that finishes
    // the removal would end with it.
    let hold = (cfg.remove && !detach && cfg.pid_join.is_none()).then(HeldSlot::default);
    // Held too, those of the container's own whose end the kernel finishes
    // in work it queues at the command's exit (cleanup_net, free_ipc),
    // which then competes with this process's wakeup; not a network
    // namespace with a veth on the bridge, whose address is given back
    // at once and must not live on in it.
    let mut held_kinds = vec!["mnt"];
    if cfg.namespaces.ipc {
        held_kinds.push("ipc");
    }
    if cfg.namespaces.net && bridge.is_none() {
        held_kinds.push("net");
    }
    let files = BundleFiles {
        dir: state.dir.clone(),
        spec: Mutex::new(spec),
        seccomp,
        exec_record: mini_runc::container::tenant::record_text(&cfg),
    };
    let network = bridge.as_ref().map(|plan| &plan.kind);
    let hold_what = hold.clone().map(|slot| (slot, held_kinds));
    cfg.hooks = engine_hooks(state, network, hold_what, detach, files);
    // -d: from here on a monitor process runs the container and cleans up.
    if detach {
        use crate::monitor::{Side, detach};
        match detach(state, &cfg, announce) {
            Ok(Side::Monitor) => {}
            Ok(Side::Foreground(code)) => return Ok(Launched::Foreground(code)),
            Err(e) => {
                teardown::tear_down(state, Keep::Nothing);
                return Err(e.into());
            }
        }
    }
    // The cgroups exist before the container's first process (it is born
    // in them, or moved into them before its setup runs) and go when it
    // has ended, whatever the outcome (an OOM kill included).
    let result = mini_runc::cgroups::create(&cfg.id, &limits, &state.dir)
        .map_err(Error::from)
        .and_then(|()| {
            let (id, host) = (&cfg.id, &cfg.hostname);
            network::create(id, host, bridge.as_ref(), &dirs.state, &state.dir)?;
            share_network(&cfg, state)
        })
        .and_then(|()| start(&cfg, state, &extras));
    // -p: what the container said last reaches its clients first.
    network::publish::drain(RELAY_DRAIN);
    // A container being restarted keeps its upper layer, --rm or not.
    let keep = match result {
        Ok(_) if !cfg.remove || state.restarting() => Keep::Upper,
        _ => Keep::Nothing,
    };
    // Recorded for every container that ran: `ps -a`, `inspect`, `wait`;
    // of one about to be removed, only the status a `wait` may hold open
    // (its `exit` file).
    match &result {
        Ok(code) if keep == Keep::Nothing => crate::lifecycle::record_status(state, *code),
        Ok(code) => crate::lifecycle::record_exit(state, *code),
        Err(_) => {}
    }
    let held =
        hold.map(|slot| std::mem::take(&mut *slot.lock().unwrap_or_else(|e| e.into_inner())));
    match held {
        Some(Held::Remover(remover)) if keep == Keep::Nothing && result.is_ok() => {
            teardown::tear_down_later(state, remover)
        }
        // (A remover dropped reads end-of-file, ends, and is waited for.)
        held => {
            drop(held);
            teardown::tear_down(state, keep)
        }
    }
    let code = result?;
    Ok(if detach { Launched::Monitor(code) } else { Launched::Foreground(code) })
}

// ANCHOR: write-bundle
/// The bundle: the decisions as an OCI `Spec`, which mini-runc plans from
/// as from any bundle (`spec::plan`), with what crosses beside it (see
/// mini-runc's `container/in_process.rs`). The same `Spec` is written as
/// `config.json` into the state directory, while the container's first
/// process sets up, and before its command starts (see [`BundleFiles`]):
/// what runs is what the file says. The seccomp profile goes into it
/// there, and into the plan as the program compiled from it (see
/// `bundle::spec`).
fn write_bundle(
    decided: Config,
    additions: &bundle::Additions,
    limits: &Limits,
    state: &StateDir,
) -> Result<Bundle, Error> {
    let (spec, settled) = bundle::spec(&decided, additions, limits, &state.rootfs())?;
    let mut plan = spec::plan(&spec, &state.dir, &decided.id)?.in_process(InProcess {
        name: decided.name,
        remove: decided.remove,
        interactive: decided.interactive,
        init: decided.init,
        lower: decided.lower,
        idmap_lower: decided.idmap_lower,
        hooks: Hooks::default(),
        ipc_mode: decided.ipc_mode,
        net_mode: decided.net_mode,
        pid_join: decided.pid_join,
        hostname: decided.hostname,
        privileged: decided.security.privileged,
    });
    let seccomp = settled.map(|settled| plan.seccomp_settled(&state.dir, settled));
    state.fill(&plan.config)?;
    Ok(Bundle { plan, spec, seccomp })
}
// ANCHOR_END: write-bundle

/// A container's bundle: the plan it starts from, and the `Spec` that plan
/// was made from, still to be written as `config.json`.
struct Bundle {
    plan: Plan,
    spec: oci_spec::runtime::Spec,
    /// `linux.seccomp`, unwritten: for `config.json` and `exec` (see
    /// [`BundleFiles`]).
    seccomp: Option<SeccompCopy>,
}

/// The files only later commands read, written by the engine while the
/// container's first process builds its root filesystem on the other CPU
/// (mini-runc's `Hooks::alongside`): the bundle's `config.json`
/// (`inspect`), the record `exec` reads (mini-runc's
/// `container/tenant.rs`) with the seccomp profile it names, and the start
/// time (`ps`, see lifecycle.rs).
/// What the child itself reads (`etc/`, the upper layer, the `owner` that
/// keeps a sweep away) is written before it exists. The child's command
/// waits until these are on disk; a failure stops the start.
struct BundleFiles {
    dir: PathBuf,
    /// All of `config.json` but its `linux.seccomp`, which `seccomp` holds
    /// (see `bundle::spec`) and which is put in here, by the hook (an `Fn`,
    /// called once).
    spec: Mutex<oci_spec::runtime::Spec>,
    seccomp: Option<SeccompCopy>,
    exec_record: String,
}

impl BundleFiles {
    fn write(&self) -> Result<(), Error> {
        let write = |path: PathBuf, text: &str| {
            std::fs::write(&path, text).map_err(|source| ContainerError::Io {
                what: "writing",
                path,
                source,
            })
        };
        let mut spec = self.spec.lock().unwrap_or_else(|e| e.into_inner());
        // Into config.json, and its copy written before exec's record,
        // which names it.
        if let Some(copy) = &self.seccomp {
            bundle::set_seccomp(&mut spec, &copy.text)?;
            write(copy.path.clone(), &copy.text)?;
        }
        let config = serde_json::to_string_pretty(&*spec).unwrap_or_default();
        write(self.dir.join("config.json"), &config)?;
        let state = StateDir { dir: self.dir.clone() };
        mini_runc::container::tenant::write_record(&state, &self.exec_record)?;
        crate::lifecycle::record_start(&state);
        Ok(())
    }
}

/// What [`engine_hooks`] keeps of a `run --rm` in the foreground: the
/// container's namespaces (its mount namespace first), opened once the
/// container exists, then the [`teardown::Remover`] they are handed to once
/// the container runs.
#[derive(Debug, Default)]
enum Held {
    #[default]
    Nothing,
    Namespaces(Vec<OwnedFd>),
    Remover(teardown::Remover),
}

/// Where [`engine_hooks`] puts what it holds.
type HeldSlot = Arc<Mutex<Held>>;

/// The engine's steps in the middle of the start, handed to the process
/// model as hooks. With `network` (`--net bridge` or pasta, see
/// `network/`): pasta once the child exists; on the bridge, the veth pair,
/// `eth0`'s address and route alongside the child's setup; the published
/// ports' relays once it runs. Alongside the setup too: the bundle's late
/// `files`. With `hold`, the child's
/// namespaces of the kinds it names (`/proc/PID/ns/mnt`…, namespaces(7):
/// an open descriptor keeps a namespace alive after its last process),
/// opened once the child exists and handed to the process that will
/// remove the container once it runs (its fork then costs the end of `run`
/// nothing, see `teardown::Remover`). With `monitor` (`-d`): once
/// the container runs, the monitor gives back the memory the start used
/// (mini-runc's `process::release_unused_memory`): it lives as long as
/// the container, one per container, and once the `run` it was forked
/// from has exited, every page of that run's work it still maps is its own.
fn engine_hooks(
    state: &StateDir,
    network: Option<&network::Kind>,
    hold: Option<(HeldSlot, Vec<&'static str>)>,
    monitor: bool,
    files: BundleFiles,
) -> Hooks {
    let (dir, pasta_dir) = (state.dir.clone(), state.dir.clone());
    let held = hold.as_ref().map(|(slot, _)| slot.clone());
    let for_remover = StateDir { dir: state.dir.clone() };
    let on_bridge = matches!(network, Some(network::Kind::Bridge(_)));
    let on_pasta = matches!(network, Some(network::Kind::Pasta));
    let wants_runtime_step = hold.is_some() || on_pasta;
    // Before "go": pasta, and this process rootless, may open the child's
    // /proc/PID/ns/ files only until the child changes its credentials
    // (it then stops being dumpable, which ptrace access mode checks).
    let create_runtime: CreateRuntime = Arc::new(move |pid| {
        if let Some((slot, kinds)) = &hold {
            let open = |kind| std::fs::File::open(format!("/proc/{pid}/ns/{kind}")).ok();
            let held: Option<Vec<OwnedFd>> =
                kinds.iter().map(|k| open(k).map(OwnedFd::from)).collect();
            if let Some(held) = held {
                *slot.lock().unwrap_or_else(|e| e.into_inner()) = Held::Namespaces(held);
            }
        }
        if on_pasta {
            network::attach(&pasta_dir, pid)?;
        }
        Ok(())
    });
    let alongside: Alongside = Arc::new(move |pid| {
        if on_bridge {
            network::attach(&dir, pid)?;
            // eth0's address and route, set from inside the container's
            // network namespace, which this process (root: the bridge is
            // root's) enters for them.
            let inside = || network::configure_inside(&dir);
            mini_runc::rootfs::in_network_namespace_of(pid.as_raw(), inside)??;
        }
        Ok(files.write()?)
    });
    let poststart: Poststart = Arc::new(move || {
        // (Forked first, while this process has one thread: the relays
        // are threads.)
        if let Some(slot) = &held {
            let mut slot = slot.lock().unwrap_or_else(|e| e.into_inner());
            if let Held::Namespaces(ns) = std::mem::take(&mut *slot) {
                *slot =
                    teardown::Remover::fork(&for_remover, ns).map_or(Held::Nothing, Held::Remover);
            }
        }
        if on_bridge || on_pasta {
            network::forward();
        }
        if monitor {
            mini_runc::container::process::release_unused_memory();
        }
    });
    Hooks {
        create_runtime: wants_runtime_step.then_some(create_runtime),
        create_container: None,
        poststart: Some(poststart),
        alongside: Some(alongside),
    }
}

/// `--net container:NAME`, once this container's state exists: it holds
/// the other one's address lease (see `network::share`), and only then is
/// the other one checked to be still running. Held descriptor or not, a
/// namespace whose container has ended is not to be joined: its address
/// was freed and may already be someone else's. (A container's lease is
/// released only after its init is gone, so a check after the hold is
/// enough: the hold keeps the address from then on.)
fn share_network(cfg: &Config, state: &StateDir) -> Result<(), Error> {
    let NetMode::Container { state: other, name, init, .. } = &cfg.net_mode else { return Ok(()) };
    let ended = || UsageError::NotJoinable("network", name.clone(), "it has ended".to_owned());
    match network::share(other, &state.dir) {
        Err(NetworkError::Ended) => return Err(ended().into()),
        shared => shared?,
    }
    if tenant::ready_init(&StateDir { dir: other.clone() }) != Some(*init) {
        return Err(ended().into());
    }
    Ok(())
}

/// The start, with what the bundle adds to the settings (its devices, a
/// writable `/sys`: see mini-runc's `Extras`).
fn start(cfg: &Config, state: &StateDir, extras: &Extras) -> Result<u8, Error> {
    if let Lower::Skeleton(_) = cfg.lower {
        host::build_skeleton(&state.lower())?;
    }
    Ok(parent::run_with(cfg, state, extras)?)
}

/// What `inspect` shows of the image a container came from: its name,
/// a stored image's ID, and the defaults it brought (`image.json` in the
/// state directory; `rmi` reads the ID to know the image is in use).
struct ImageRecord {
    name: String,
    id: Option<String>,
    config: ImageConfig,
}

impl ImageRecord {
    fn record(&self, state: &StateDir) -> Result<(), Error> {
        let path = state.dir.join(IMAGE_RECORD);
        let text = serde_json::json!({
            "name": self.name,
            "id": self.id,
            "config": self.config.to_oci(),
        });
        std::fs::write(&path, text.to_string())
            .map_err(|source| ContainerError::Io { what: "writing", path, source }.into())
    }
}

/// The file [`ImageRecord`] writes, read by `inspect`.
pub const IMAGE_RECORD: &str = "image.json";

/// The command: Docker's rule. The arguments replace the image's Cmd,
/// never its Entrypoint; `--entrypoint` replaces the Entrypoint and drops
/// the Cmd (the Cmd was written for the image's entrypoint, not for the
/// new one), and `--entrypoint ""` leaves only the arguments.
fn command(image: &ImageConfig, entrypoint: Option<String>, args: Vec<String>) -> Vec<String> {
    let (mut command, cmd) = match entrypoint {
        Some(program) if program.is_empty() => (Vec::new(), Vec::new()),
        Some(program) => (vec![program], Vec::new()),
        None => (image.entrypoint.clone(), image.cmd.clone()),
    };
    command.extend(if args.is_empty() { cmd } else { args });
    command
}

/// The image's account files: the host image's generated ones, or those
/// inside a directory image (see `image/users.rs`).
fn accounts(image: &Image) -> Result<Accounts, ImageError> {
    match image {
        Image::Host => Ok(host::accounts()),
        Image::Directory(dir, _) => Accounts::read(dir),
        // Read through the layers, as overlayfs will show them.
        Image::Stored { .. } => Ok(Accounts {
            passwd: image.read_text("/etc/passwd"),
            group: image.read_text("/etc/group"),
        }),
    }
}

/// The command line and the image's defaults, checked and decided: the
/// settings [`write_bundle`] writes as `config.json` (and what it adds to
/// them), and what the image brought.
/// The decisions for a container: everything `args` asks for, checked,
/// under a new ID (or `id`, a restarted container's own).
fn config(
    dirs: &Dirs,
    args: RunArgs,
    id: Option<String>,
) -> Result<(Config, ImageRecord, bundle::Additions), Error> {
    if let Some(name) = &args.name
        && !crate::image::valid_name(name)
    {
        return Err(UsageError::BadName(name.clone()).into());
    }
    // clap makes sure of the image: the positional is required.
    let mut words = args.image_and_command.into_iter();
    let image_name = words.next().unwrap_or_default();
    let image = Image::resolve(&image_name, &dirs.data)?;
    let image_id = image.id();
    let defaults = image.config();
    let command = command(&defaults, args.entrypoint, words.collect());
    if command.is_empty() {
        return Err(ImageError::NoCommand(image_name).into());
    }
    let id = match id {
        Some(id) => id,
        None => new_id().map_err(|source| ContainerError::Io {
            what: "reading",
            path: PathBuf::from("/dev/urandom"),
            source,
        })?,
    };
    let hostname = match args.hostname {
        Some(h) => check_hostname(h)?,
        None => id[..12].to_owned(),
    };
    let workdir = match args.workdir {
        Some(dir) => dir,
        None if !defaults.workdir.is_empty() => defaults.workdir.clone(),
        None => "/".to_owned(),
    };
    if !workdir.starts_with('/') {
        return Err(UsageError::RelativeWorkdir(workdir).into());
    }
    // -u, else the image's User, else root: resolved in the image's own
    // /etc/passwd and /etc/group, as Docker does.
    let user = accounts(&image)?.resolve(args.user.as_deref().unwrap_or(&defaults.user))?;
    let lower = match image {
        Image::Host => Lower::Skeleton(host::bound_dirs()),
        Image::Directory(dir, _) => Lower::Directory(dir),
        Image::Stored { layers, .. } => Lower::Layers(layers),
    };
    let volumes = args.volume.iter().map(|v| parse_volume(v)).collect::<Result<Vec<_>, _>>()?;
    let rootless = !geteuid().is_root();
    let user_ns = match (args.userns, rootless) {
        (Some(Userns::Host), true) => return Err(UsageError::RootlessNeedsUserns.into()),
        (Some(Userns::Auto), _) | (None, true) => Some(parent::id_map()),
        (_, false) => None,
    };
    // A user namespace that maps one ID (rootless without a range) denies setgroups
    // (user_namespaces(7)): the command keeps its primary group only.
    let additional_gids = match &user_ns {
        Some(map) if map.single() => Vec::new(),
        _ => user.additional_gids.clone(),
    };
    let ipc_mode = sharing::parse_ipc(&args.ipc, &dirs.state)?;
    let pid_join = sharing::parse_pid(&args.pid, &dirs.state)?;
    let net_mode = sharing::parse_net(args.net.as_deref(), &dirs.state)?;
    let namespaces = Namespaces {
        cgroup: args.cgroupns == Share::Private,
        net: net_mode.new_namespace(),
        pid: args.pid == "private",
        ipc: ipc_mode.new_namespace(),
        uts: args.uts == Share::Private,
        user: user_ns,
    };
    // --env-file first, then -e: a later value of a key wins, as Docker's.
    let mut given = Vec::new();
    for file in &args.env_file {
        given.extend(read_env_file(file)?);
    }
    given.extend(args.env);
    let env = environment(&defaults.env, &given, &hostname, &user.home)?;
    let security = mini_runc::security::Security::decide(&args.security.request())?;
    if security.privileged {
        say_err!("{}", mini_runc::security::Security::PRIVILEGED_WARNING);
    }
    let record = ImageRecord { name: image_name, id: image_id, config: defaults };
    // As root with --userns auto, the container's root owns the image's
    // files through an idmapped mount (mini-runc's rootfs/idmap.rs).
    // Rootless there is no need (and no right): the image's files are the
    // user's, the container's root, or, with subordinate IDs, were
    // unpacked with the owners the same map gives them (image/layer.rs).
    let idmap_lower = !rootless && namespaces.user.as_ref().is_some_and(|map| !map.single());
    let additions =
        additions(&args.tmpfs, &args.label, &args.device, args.stop_signal, args.stop_timeout)?;
    let config = Config {
        id,
        name: args.name,
        lower,
        idmap_lower,
        hostname,
        command,
        env,
        workdir,
        user: (user.uid, user.gid),
        additional_gids,
        volumes,
        read_only: args.read_only,
        interactive: args.interactive,
        tty: args.tty,
        remove: args.rm,
        init: args.init,
        namespaces,
        security,
        ipc_mode,
        pid_join,
        net_mode,
        hooks: Hooks::default(),
    };
    Ok((config, record, additions))
}

/// What `run` writes into `config.json` beside the [`Config`]: each
/// `--tmpfs` (Docker's options first: nosuid, nodev, noexec), the labels
/// and the `stop` settings, as annotations, and each `--device`.
fn additions(
    tmpfs: &[String],
    labels: &[String],
    devices: &[String],
    stop_signal: Option<String>,
    stop_timeout: Option<u64>,
) -> Result<bundle::Additions, Error> {
    let mut additions = bundle::Additions::default();
    for device in devices {
        additions.devices.push(bundle::parse_device(device)?);
    }
    for flag in tmpfs {
        let (path, options) = flag.split_once(':').unwrap_or((flag, ""));
        if !path.starts_with('/') {
            return Err(Error::Flag(format!("--tmpfs {flag:?}: the path must be absolute")));
        }
        let mut all = vec!["nosuid".to_owned(), "nodev".to_owned()];
        let given: Vec<String> =
            options.split(',').filter(|o| !o.is_empty()).map(str::to_owned).collect();
        // `exec` undoes Docker's default noexec; mount(8) has no option for it.
        if !given.iter().any(|o| o == "exec") {
            all.push("noexec".to_owned());
        }
        all.extend(given.into_iter().filter(|o| o != "exec" && o != "rw"));
        additions.tmpfs.push((path.to_owned(), all));
    }
    for label in labels {
        let (key, value) = label.split_once('=').unwrap_or((label, ""));
        if key.is_empty() || key.starts_with(bundle::ANNOTATION_PREFIX) {
            return Err(Error::Flag(format!("--label {label:?}: not a label of the user's")));
        }
        additions.annotations.insert(key.to_owned(), value.to_owned());
    }
    if let Some(signal) = stop_signal {
        crate::commands::kill::parse_signal(&signal)?;
        additions.annotations.insert(bundle::STOP_SIGNAL_ANNOTATION.to_owned(), signal);
    }
    if let Some(seconds) = stop_timeout {
        additions
            .annotations
            .insert(bundle::STOP_TIMEOUT_ANNOTATION.to_owned(), seconds.to_string());
    }
    Ok(additions)
}

/// Docker's `--env-file`: one `KEY=VALUE` (taken as written, quotes and
/// all) or `KEY` (copied from mini-docker's environment) per line; blank
/// lines and lines starting with `#` are skipped.
fn read_env_file(path: &Path) -> Result<Vec<String>, Error> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::Flag(format!("--env-file {}: {e}", path.display())))?;
    let mut entries = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let key = line.split_once('=').map_or(line, |(key, _)| key);
        if key.is_empty() || key.contains(char::is_whitespace) {
            let at = format!("{}:{}", path.display(), n + 1);
            return Err(Error::Flag(format!("--env-file {at}: {key:?} is not a variable name")));
        }
        entries.push(line.to_owned());
    }
    Ok(entries)
}

/// 32 random bytes in hex, like a Docker container ID.
fn new_id() -> std::io::Result<String> {
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// sethostname(2) takes at most 64 bytes (HOST_NAME_MAX); we also keep to
/// the characters a hostname may have.
fn check_hostname(hostname: String) -> Result<String, UsageError> {
    if hostname.len() > 64 {
        return Err(UsageError::HostnameTooLong(hostname));
    }
    let ok = !hostname.is_empty()
        && hostname.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
    if !ok {
        return Err(UsageError::BadHostname(hostname));
    }
    Ok(hostname)
}

// ANCHOR: parse-volume
/// `SRC:DST` or `SRC:DST:OPTIONS`, both absolute, SRC existing. OPTIONS,
/// comma-separated as Docker takes them: `ro` or `rw`, and one of the
/// propagation types Docker accepts (`shared`, `slave`, `private`, each
/// also with `r`), `rprivate` without one, as Docker's default.
fn parse_volume(spec: &str) -> Result<Volume, UsageError> {
    use mini_runc::rootfs::propagation_flags;
    let malformed = || UsageError::MalformedVolume(spec.to_owned());
    let parts: Vec<&str> = spec.split(':').collect();
    let (source, target, options) = match parts.as_slice() {
        [s, t] => (*s, *t, ""),
        [s, t, o] if !o.is_empty() => (*s, *t, *o),
        _ => return Err(malformed()),
    };
    let (mut access, mut propagation) = (None, None);
    for option in options.split(',').filter(|_| !options.is_empty()) {
        let docker_kind = !option.contains("unbindable");
        match (option, propagation_flags(option)) {
            ("ro" | "rw", _) if access.is_none() => access = Some(option == "ro"),
            (_, Some(flags)) if docker_kind && propagation.is_none() => propagation = Some(flags),
            _ => return Err(malformed()),
        }
    }
    let read_only = access.unwrap_or(false);
    let propagation = propagation.or(propagation_flags("rprivate"));
    if source.is_empty() || target.is_empty() {
        return Err(UsageError::MalformedVolume(spec.to_owned()));
    }
    if !source.starts_with('/') {
        return Err(UsageError::RelativeVolumeSource(source.to_owned()));
    }
    if !target.starts_with('/') {
        return Err(UsageError::RelativeVolumeTarget(target.to_owned()));
    }
    let meta = Path::new(source)
        .metadata()
        .map_err(|e| UsageError::VolumeSource { path: source.to_owned(), source: e })?;
    Ok(Volume {
        source: PathBuf::from(source),
        target: target.to_owned(),
        read_only,
        source_is_dir: meta.is_dir(),
        restrict: nix::mount::MsFlags::empty(),
        tmpfs: None,
        // Docker's -v: the mounts below the source come along (rbind).
        recursive: true,
        propagation,
        idmap: false,
    })
}
// ANCHOR_END: parse-volume

/// The command's environment: Docker's defaults, the image's `Env`, then
/// each `-e` (a later value of a key replaces an earlier one, see
/// [`apply_env`]), and HOME from the user's passwd entry (`/` without
/// one).
fn environment(
    image: &[String],
    given: &[String],
    hostname: &str,
    home: &str,
) -> Result<Vec<String>, UsageError> {
    let mut env = vec![
        format!("PATH={}", mini_runc::container::process::DEFAULT_PATH),
        format!("HOSTNAME={hostname}"),
    ];
    apply_env(&mut env, image)?;
    apply_env(&mut env, given)?;
    // Last, and only when neither the image nor -e set it, as Docker adds it.
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push(format!("HOME={home}"));
    }
    Ok(env)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volumes() {
        let v = parse_volume("/tmp:/data:ro").expect("valid");
        assert_eq!(
            (v.source.to_str(), v.target.as_str(), v.read_only),
            (Some("/tmp"), "/data", true)
        );
        assert!(v.source_is_dir);
        let flags = |word| mini_runc::rootfs::propagation_flags(word);
        assert_eq!(v.propagation, flags("rprivate"), "Docker's default");
        let v = parse_volume("/tmp:/data:rslave").expect("valid");
        assert_eq!((v.read_only, v.propagation), (false, flags("rslave")));
        let v = parse_volume("/tmp:/data:shared,ro").expect("valid");
        assert_eq!((v.read_only, v.propagation), (true, flags("shared")));
        for (spec, message) in [
            ("/tmp", "malformed volume \"/tmp\""),
            ("/tmp:/a:rx", "malformed volume"),
            ("/tmp:/a:", "malformed volume"),
            ("/tmp:/a:ro,rw", "malformed volume"),
            ("/tmp:/a:rslave,shared", "malformed volume"),
            ("/tmp:/a:unbindable", "malformed volume"),
            ("/tmp::ro", "malformed volume"),
            ("tmp:/a", "volume source \"tmp\" is relative"),
            ("/tmp:a", "volume target \"a\" is relative"),
            ("/no/such/path:/a", "volume source \"/no/such/path\" cannot be used"),
        ] {
            let e = parse_volume(spec).expect_err(spec).to_string();
            assert!(e.starts_with(message), "{spec}: {e}");
        }
    }

    /// Checked against `docker run` with an image whose Entrypoint is
    /// `/bin/echo ep` and Cmd `default args`.
    #[test]
    fn entrypoint_and_cmd() {
        let image = ImageConfig {
            entrypoint: vec!["/bin/echo".into(), "ep".into()],
            cmd: vec!["default".into(), "args".into()],
            ..ImageConfig::default()
        };
        let words = |v: &[&str]| v.iter().map(|w| w.to_string()).collect::<Vec<_>>();
        assert_eq!(command(&image, None, vec![]), ["/bin/echo", "ep", "default", "args"]);
        assert_eq!(command(&image, None, words(&["x"])), ["/bin/echo", "ep", "x"]);
        assert_eq!(command(&image, Some("/bin/id".into()), vec![]), ["/bin/id"]);
        assert_eq!(command(&image, Some("/bin/id".into()), words(&["-g"])), ["/bin/id", "-g"]);
        assert!(command(&image, Some(String::new()), vec![]).is_empty());
        assert_eq!(command(&image, Some(String::new()), words(&["/bin/id"])), ["/bin/id"]);
    }

    #[test]
    fn hostnames() {
        assert_eq!(check_hostname("a".repeat(64)).expect("64 bytes is the limit").len(), 64);
        assert!(matches!(check_hostname("a".repeat(65)), Err(UsageError::HostnameTooLong(_))));
        assert!(matches!(check_hostname("a b".into()), Err(UsageError::BadHostname(_))));
    }

    #[test]
    fn environment_order() {
        let image = ["PATH=/bin".to_owned(), "A=image".to_owned()];
        let given = ["A=flag".to_owned()];
        let env = environment(&image, &given, "box", "/root").expect("env");
        assert_eq!(env, ["HOSTNAME=box", "PATH=/bin", "A=flag", "HOME=/root"]);
        let given = ["HOME=/x".to_owned()];
        let env = environment(&[], &given, "box", "/root").expect("env");
        assert_eq!(env[2..], ["HOME=/x"]);
        assert!(environment(&[], &["=x".to_owned()], "box", "/").is_err());
    }
}
