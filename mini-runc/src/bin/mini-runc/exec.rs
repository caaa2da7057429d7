//! `exec` (runc-exec(8)): another process in a running container, through
//! the process model's tenant path (container/tenant.rs): join its cgroups
//! and namespaces, fork, take the container's confinement, execve.
//!
//! The process comes from `--process FILE` (an OCI `process` object, as
//! containerd's shim writes it) or from the command line. With `--detach`
//! it is left running and its PID written to `--pid-file`; otherwise this
//! process waits and exits with its status.

use std::path::{Path, PathBuf};

use clap::Args;
use mini_runc::container::tenant::{self, Tenant};
use mini_runc::container::{process, spec};
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;
use nix::unistd::Pid;

use crate::Failure;
use crate::record::Record;

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// An OCI process JSON (args, env, cwd, user, terminal, capabilities…).
    #[arg(long, short = 'p')]
    process: Option<PathBuf>,
    /// Leave the process running; do not wait for it.
    #[arg(long, short = 'd')]
    detach: bool,
    #[arg(long = "pid-file")]
    pid_file: Option<PathBuf>,
    /// A Unix socket to which the pty's master is sent (with a terminal:
    /// `--tty`, or the process file's `terminal`).
    #[arg(long = "console-socket")]
    console_socket: Option<PathBuf>,
    #[arg(long, short = 't')]
    tty: bool,
    #[arg(long)]
    cwd: Option<String>,
    /// KEY=VALUE, added to the container's environment.
    #[arg(long, short = 'e')]
    env: Vec<String>,
    /// UID[:GID]
    #[arg(long, short = 'u')]
    user: Option<String>,
    id: String,
    /// The command, when there is no --process (its own flags pass through).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

pub fn exec(root: &Path, args: &ExecArgs) -> Result<u8, Failure> {
    let record = Record::open(root, &args.id)?;
    if record.status() != "running" {
        return Err(format!("cannot exec in a container that is not running: {}", record.status()));
    }
    let init = Pid::from_raw(record.pid().unwrap_or(0));
    let state = mini_runc::container::state::StateDir { dir: record.dir.clone() };
    let mut tenant = Tenant::load(&state, Vec::new()).map_err(|e| e.to_string())?;
    match &args.process {
        Some(path) => from_process_file(&mut tenant, path)?,
        None => from_flags(&mut tenant, args)?,
    }
    // The process's stdio is this one's, as runc passes it on.
    tenant.interactive = true;
    if let Some(socket) = &args.console_socket {
        return exec_with_console(init, &tenant, args, socket);
    }
    if tenant.tty {
        // runc's rule too: with a terminal and no socket, the terminal
        // would be this process's, which a client has no way to reach.
        return Err("exec with a terminal: --console-socket is required".to_owned());
    }
    if args.detach {
        // The pid file's directory, held open: after joining the
        // container's mount namespace its path names nothing here.
        let dir = match &args.pid_file {
            Some(path) => Some(open_parent(path)?),
            None => None,
        };
        let pid = tenant::exec_detached(init, &tenant).map_err(|e| e.to_string())?;
        if let (Some(dir), Some(path)) = (dir, &args.pid_file) {
            write_at(&dir, path, &pid.to_string())?;
        }
        return Ok(0);
    }
    tenant::exec(init, &tenant).map_err(|e| e.to_string())
}

// ANCHOR: exec-console
/// `--console-socket` (`docker exec -t`: containerd's shim passes it with
/// `--detach`): connected here, while the path still names the client's
/// socket (the tenant joins the container's mount namespace), then given
/// the pty's master as `create` gives init's (create.rs).
fn exec_with_console(
    init: Pid,
    tenant: &Tenant,
    args: &ExecArgs,
    socket: &Path,
) -> Result<u8, Failure> {
    if !tenant.tty {
        return Err("--console-socket given but the process has no terminal".to_owned());
    }
    let console = crate::create::connect_console(socket)?;
    let dir = match (&args.pid_file, args.detach) {
        (Some(path), true) => Some(open_parent(path)?),
        _ => None,
    };
    let send = |master: &std::os::fd::OwnedFd| crate::create::send_console(&console, master);
    let (status, pid) =
        tenant::exec_with_console(init, tenant, args.detach, &send).map_err(|e| e.to_string())?;
    if let (Some(dir), Some(path)) = (dir, &args.pid_file) {
        write_at(&dir, path, &pid.to_string())?;
    }
    Ok(status)
}
// ANCHOR_END: exec-console

fn open_parent(path: &Path) -> Result<std::os::fd::OwnedFd, Failure> {
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    nix::fcntl::open(parent, OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty())
        .map_err(|errno| format!("--pid-file: open({parent:?}): {errno}"))
}

/// Writes `text` into `path`'s file name in `dir`, aside then renamed
/// (openat(2), renameat(2): relative to the directory held open).
fn write_at(dir: &std::os::fd::OwnedFd, path: &Path, text: &str) -> Result<(), Failure> {
    let name = path.file_name().ok_or_else(|| format!("--pid-file {path:?}: no file name"))?;
    let aside = format!("{}.mini-runc-tmp", name.to_string_lossy());
    let fail = |errno| format!("--pid-file {path:?}: {errno}");
    let flags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_TRUNC | OFlag::O_CLOEXEC;
    let file = nix::fcntl::openat(dir, aside.as_str(), flags, Mode::from_bits_truncate(0o644))
        .map_err(fail)?;
    nix::unistd::write(&file, text.as_bytes()).map_err(fail)?;
    nix::fcntl::renameat(dir, aside.as_str(), dir, name).map_err(fail)
}

/// `--process FILE`: an OCI process, read into `oci-spec`'s type and
/// checked like config.json's; capabilities and no_new_privileges must be
/// the container's (the tenant takes the container's confinement). Its
/// `rlimits` and `oomScoreAdj` are set on this process, which the tenant
/// is forked from; its `user.umask` is the tenant's own (set in
/// container/process.rs, before the user switch).
fn from_process_file(tenant: &mut Tenant, path: &Path) -> Result<(), Failure> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("--process {path:?}: {e}"))?;
    let process: oci_spec::runtime::Process =
        serde_json::from_str(&text).map_err(|e| format!("--process {path:?}: {e}"))?;
    let parts = spec::process_parts(&process).map_err(|e| e.to_string())?;
    if process.console_size().is_some() {
        return Err("--process: consoleSize: not supported for exec".to_owned());
    }
    let rlimits = spec::rlimits(&process).map_err(|e| format!("--process {path:?}: {e}"))?;
    let security = spec::security(&process).map_err(|e| e.to_string())?;
    let ours = tenant.security();
    // The whole of process.capabilities: the bounding set and, when the
    // container's differ from it, the four others (see spec::security).
    if process.capabilities().is_some()
        && (security.caps != ours.caps || security.sets != ours.sets)
    {
        return Err("--process: capabilities other than the container's: not supported".to_owned());
    }
    if process.no_new_privileges().is_some() && security.no_new_privs != ours.no_new_privs {
        return Err(
            "--process: noNewPrivileges other than the container's: not supported".to_owned()
        );
    }
    // Set here, before the fork: the tenant inherits them into its execve.
    crate::create::inherit_rlimits(&rlimits, process.oom_score_adj())?;
    tenant.command = parts.command;
    tenant.env = parts.env;
    tenant.workdir = parts.cwd;
    tenant.user = parts.user;
    tenant.additional_gids = parts.additional_gids;
    tenant.tty = parts.terminal;
    tenant.umask = parts.umask;
    Ok(())
}

/// The command line's `--cwd`, `--env`, `--user`, `--tty` and command.
fn from_flags(tenant: &mut Tenant, args: &ExecArgs) -> Result<(), Failure> {
    if args.command.is_empty() {
        return Err("exec: give --process FILE or a command".to_owned());
    }
    tenant.command = args.command.clone();
    if let Some(cwd) = &args.cwd {
        tenant.workdir = cwd.clone();
    }
    for pair in &args.env {
        // The process model's one rule (KEY=VALUE, no NUL byte); a later
        // value of a key replaces the container's.
        process::set_env(&mut tenant.env, pair).map_err(|e| format!("--env: {e}"))?;
    }
    if let Some(user) = &args.user {
        let (uid, gid) = user.split_once(':').unwrap_or((user, "0"));
        let parse =
            |s: &str| s.parse::<u32>().map_err(|_| format!("--user {user:?}: expected UID[:GID]"));
        tenant.user = (parse(uid)?, parse(gid)?);
    }
    tenant.tty = args.tty;
    Ok(())
}
