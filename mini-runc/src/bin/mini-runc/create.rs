//! `create` and `run` (runc-create(8), runc-run(8)).
//!
//! Both read the bundle's `config.json` into the process model's plan
//! (`mini_runc::container::spec`), make the state directory and the
//! cgroups, and start the container. `create` then leaves: the container's
//! init waits on the exec fifo until `start`. `run` stays in the
//! foreground, forwarding signals, and exits with the command's status;
//! it cleans up after itself, as `create` does on every failed path.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Args;
use mini_runc::container::spec::{self, Plan};
use mini_runc::container::state::StateDir;
use mini_runc::container::{Extras, hook_programs, parent, tenant};
use mini_runc::error::ContainerError;
use nix::sys::stat::Mode;

use crate::Failure;
use crate::record::{self, FIFO, Record};

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The bundle: a directory with config.json and the root filesystem.
    #[arg(long, short = 'b', default_value = ".")]
    bundle: PathBuf,
    /// Write init's PID here.
    #[arg(long = "pid-file")]
    pid_file: Option<PathBuf>,
    /// A Unix socket to which the pty's master is sent (process.terminal;
    /// `create` only: `run` relays the terminal through its own stdio).
    #[arg(long = "console-socket")]
    console_socket: Option<PathBuf>,
    /// Accepted: mini-runc never makes a session keyring.
    #[arg(long = "no-new-keyring")]
    no_new_keyring: bool,
    /// Refused: the process model always uses pivot_root.
    #[arg(long = "no-pivot")]
    no_pivot: bool,
    /// Refused unless 0: no descriptor but stdio is passed on.
    #[arg(long = "preserve-fds", default_value_t = 0)]
    preserve_fds: u32,
    /// Refused for `run` (`create` then `start` does it).
    #[arg(long, short = 'd')]
    detach: bool,
    pub id: String,
}

/// A container set up but not started: its plan and its state directory.
struct Prepared {
    plan: Plan,
    state: StateDir,
    record: serde_json::Value,
}

// ANCHOR: create
pub fn create(root: &Path, args: &CreateArgs) -> Result<(), Failure> {
    let prepared = prepare(root, args, Verb::Create)?;
    let state = &prepared.state;
    // Connected before the clone: a socket that is not there fails the
    // create while no container process exists yet.
    let console = match (&args.console_socket, prepared.plan.config.tty) {
        (Some(path), true) => connect_console(path).map(Some),
        _ => Ok(None),
    };
    let result = console.and_then(|console| {
        let fifo = make_fifo(&state.dir)?;
        let extras = Extras { exec_fifo: Some(fifo), ..prepared.plan.extras.clone() };
        let (pid, master) =
            parent::create(&prepared.plan.config, state, &extras).map_err(|e| e.to_string())?;
        let sent = match (console, master) {
            (Some(console), Some(master)) => send_console(&console, &master),
            (None, None) => Ok(()),
            _ => Err("process.terminal: no pty master to send".to_owned()),
        };
        if sent.is_err() {
            // Init is our child, blocked on the exec fifo about to go:
            // end it and reap it before its state is removed.
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            let _ = nix::sys::wait::waitpid(pid, None);
        }
        sent
    });
    if result.is_err() {
        // The process model killed its child on its own failures, and the
        // console's failure killed it above; the rest is ours.
        record::remove(&state.dir);
    }
    result
}
// ANCHOR_END: create

// ANCHOR: run
pub fn run(root: &Path, args: &CreateArgs) -> Result<u8, Failure> {
    if args.detach {
        return Err("run --detach: not supported (use create, then start)".to_owned());
    }
    let mut prepared = prepare(root, args, Verb::Run)?;
    // The bundle's poststart hooks, once init reported ready and goes on
    // to start the command (the process model's poststart step).
    let poststart = prepared.plan.poststart.clone();
    if !poststart.is_empty() {
        let (root, id) = (root.to_owned(), args.id.clone());
        prepared.plan.config.hooks.poststart = Some(Arc::new(move || {
            if let Ok(record) = Record::open(&root, &id) {
                record::run_and_warn("hooks.poststart", &poststart, &record.oci_state());
            }
        }));
    }
    let (plan, state) = (&prepared.plan, &prepared.state);
    let status = parent::run_with(&plan.config, state, &plan.extras).map_err(|e| e.to_string());
    let stopped = Record::open(root, &args.id).map(|r| record::oci_state(&r.json, "stopped", 0));
    record::remove(&prepared.state.dir);
    // poststop: the container is gone (runtime.md, "Lifecycle", step 12).
    if let Ok(stopped) = stopped {
        record::run_and_warn("hooks.poststop", &plan.poststop, &stopped);
    }
    status
}
// ANCHOR_END: run

/// Which verb prepares: they differ in where a terminal goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verb {
    /// The pty's master goes to `--console-socket`: this process leaves.
    Create,
    /// This process stays and relays the pty to its own stdio, as runc's
    /// `run` does with the caller's terminal.
    Run,
}

/// Everything before the start: the flags, the plan, the state directory,
/// the seccomp filter and the cgroups. On failure nothing is left.
fn prepare(root: &Path, args: &CreateArgs, verb: Verb) -> Result<Prepared, Failure> {
    record::check_id(&args.id)?;
    if args.no_pivot {
        return Err(
            "--no-pivot: not supported (the root is always switched with pivot_root)".to_owned()
        );
    }
    if args.preserve_fds > 0 {
        return Err("--preserve-fds: not supported (only stdio is passed on)".to_owned());
    }
    if root.join(&args.id).exists() {
        return Err(format!("container with id exists: {}", args.id));
    }
    let bundle = std::fs::canonicalize(&args.bundle)
        .map_err(|e| format!("bundle {:?}: {e}", args.bundle))?;
    let spec = spec::load(&bundle).map_err(|e| e.to_string())?;
    let plan = spec::plan(&spec, &bundle, &args.id).map_err(|e| e.to_string())?;
    if plan.config.tty && args.console_socket.is_none() && verb == Verb::Create {
        return Err("process.terminal is set: --console-socket is required".to_owned());
    }
    if verb == Verb::Run && args.console_socket.is_some() {
        return Err(
            "run --console-socket: not supported (run relays the terminal itself; use create)"
                .to_owned(),
        );
    }
    if !plan.config.tty && args.console_socket.is_some() {
        return Err("--console-socket given but process.terminal is false".to_owned());
    }
    let rootfs = match &plan.config.lower {
        mini_runc::container::Lower::Directory(dir) => dir.clone(),
        // (A bundle's root is one directory: only mini-docker stacks layers.)
        mini_runc::container::Lower::Layers(layers) => layers[0].clone(),
        mini_runc::container::Lower::Skeleton(_) => bundle.join("rootfs"),
    };
    let record = record::new_record(&args.id, &bundle, &rootfs, &spec);
    let state = StateDir::create(root, &plan.config).map_err(|e| e.to_string())?;
    let mut prepared = Prepared { plan, state, record };
    let later = record::LaterHooks {
        poststart: prepared.plan.poststart.clone(),
        poststop: prepared.plan.poststop.clone(),
    };
    let ready = Record::write(&prepared.state.dir, &prepared.record)
        .and_then(|()| later.write(&prepared.state.dir))
        .and_then(|()| compile_seccomp(&mut prepared))
        .and_then(|()| {
            // What a later `exec` gives its process (container/tenant.rs).
            tenant::record(&prepared.state, &prepared.plan.config).map_err(|e| e.to_string())
        })
        .and_then(|()| {
            let Prepared { plan, state, .. } = &prepared;
            mini_runc::cgroups::create(&args.id, &plan.limits, &state.dir)
                .map_err(|e| e.to_string())
        });
    match ready {
        Ok(()) => {
            let (dir, initial, pid_file) =
                (prepared.state.dir.clone(), prepared.record.clone(), args.pid_file.clone());
            let prestart = prepared.plan.prestart.clone();
            let create_runtime = prepared.plan.create_runtime.clone();
            // The hooks run inside the container read their state from a
            // file in the state directory, written below.
            let extras = &mut prepared.plan.extras;
            let inside = !extras.create_container.is_empty() || !extras.start_container.is_empty();
            let hook_state = inside.then(|| dir.join(record::HOOK_STATE));
            extras.hook_state = hook_state.clone();
            // The createRuntime step of the start, once init exists: record
            // it, then run the bundle's prestart and createRuntime hooks.
            prepared.plan.config.hooks.create_runtime = Some(Arc::new(move |pid| {
                let record = record::with_pid(initial.clone(), pid.as_raw());
                Record::write(&dir, &record)?;
                write_pid_file(pid_file.as_deref(), pid.as_raw())?;
                let state = record::oci_state(&record, "creating", pid.as_raw().into()).to_string();
                if let Some(path) = &hook_state {
                    std::fs::write(path, &state).map_err(|e| format!("writing {path:?}: {e}"))?;
                }
                // Each list under its own name; the error names the hook
                // itself (the process model adds no prefix to it).
                hook_programs::run_all("hooks.prestart", &prestart, &state)
                    .and_then(|()| {
                        hook_programs::run_all("hooks.createRuntime", &create_runtime, &state)
                    })
                    .map_err(ContainerError::HookProgram)?;
                Ok(())
            }));
            Ok(prepared)
        }
        Err(e) => {
            record::remove(&prepared.state.dir);
            Err(e)
        }
    }
}

/// `process.rlimits` and `oomScoreAdj`, set on this process for the
/// processes it starts: setrlimit(2) limits and /proc/self/oom_score_adj
/// are inherited across fork(2) and kept across execve(2) (proc(5)).
/// `exec` uses it too, before it forks the tenant.
pub fn inherit_rlimits(
    rlimits: &[(libc::c_int, u64, u64)],
    oom_score_adj: Option<i32>,
) -> Result<(), Failure> {
    for &(resource, soft, hard) in rlimits {
        let limit = libc::rlimit { rlim_cur: soft, rlim_max: hard };
        // SAFETY: a valid rlimit for a resource number from libc.
        if unsafe { libc::setrlimit(resource as _, &limit) } != 0 {
            let errno = nix::errno::Errno::last();
            return Err(format!("process.rlimits: setrlimit({resource}, {soft}, {hard}): {errno}"));
        }
    }
    if let Some(score) = oom_score_adj {
        std::fs::write("/proc/self/oom_score_adj", score.to_string())
            .map_err(|e| format!("process.oomScoreAdj: writing /proc/self/oom_score_adj: {e}"))?;
    }
    Ok(())
}

/// `linux.seccomp`: written into the state directory and compiled to BPF
/// by the profile reader mini-docker's `--security-opt seccomp=FILE` uses.
fn compile_seccomp(prepared: &mut Prepared) -> Result<(), Failure> {
    let Prepared { plan, state, .. } = prepared;
    plan.compile_seccomp(&state.dir).map_err(|e| format!("linux.seccomp: {e}"))
}

/// The exec fifo (mode 0622, so that init may open it for writing even
/// as a mapped user), as runc makes it.
fn make_fifo(dir: &Path) -> Result<PathBuf, Failure> {
    let path = dir.join(FIFO);
    nix::unistd::mkfifo(&path, Mode::from_bits_truncate(0o622))
        .map_err(|errno| format!("mkfifo({path:?}): {errno}"))?;
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o622))
        .map_err(|e| format!("chmod({path:?}): {e}"))?;
    Ok(path)
}

/// `--pid-file`: written aside and renamed, as runc does, so a client
/// never reads it half-written.
fn write_pid_file(path: Option<&Path>, pid: i32) -> Result<(), Failure> {
    let Some(path) = path else { return Ok(()) };
    let aside = path.with_extension("mini-runc-tmp");
    std::fs::write(&aside, pid.to_string())
        .and_then(|()| std::fs::rename(&aside, path))
        .map_err(|e| format!("--pid-file {path:?}: {e}"))
}

// ANCHOR: console-socket
/// The console-socket handshake: connect to the client's Unix socket and
/// send the pty's master as SCM_RIGHTS (unix(7)), with its name as the
/// message, as runc does; the client relays the terminal from then on.
pub fn connect_console(socket: &Path) -> Result<Console, Failure> {
    let stream = std::os::unix::net::UnixStream::connect(socket)
        .map_err(|e| format!("--console-socket {socket:?}: {e}"))?;
    Ok(Console { stream, path: socket.to_owned() })
}

/// A connected console socket, and its path for errors.
pub struct Console {
    stream: std::os::unix::net::UnixStream,
    path: PathBuf,
}

pub fn send_console(console: &Console, master: &OwnedFd) -> Result<(), Failure> {
    use nix::sys::socket::{ControlMessage, MsgFlags, sendmsg};
    let (stream, socket) = (&console.stream, &console.path);
    let name = b"/dev/ptmx";
    let iov = [std::io::IoSlice::new(name)];
    let fds = [master.as_raw_fd()];
    sendmsg::<()>(
        stream.as_raw_fd(),
        &iov,
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    )
    .map_err(|errno| format!("sendmsg to --console-socket {socket:?}: {errno}"))?;
    Ok(())
}
// ANCHOR_END: console-socket
