//! mini-runc: an OCI runtime with runc's command line, over the process
//! model of the `mini_runc` library (the one mini-docker calls
//! in-process).
//!
//! Real clients speak runc's command line, so this binary speaks it too:
//! Docker's and containerd's shims run `RUNTIME --root R --log L
//! --log-format json create --bundle B --pid-file P ID`, then `start ID`,
//! `state ID`, `kill ID 9`, `delete ID`; conmon (podman) the same. The
//! life cycle is the OCI runtime specification's (runtime.md): `create`
//! leaves the container set up with its init waiting on an "exec fifo" in
//! the state directory, `start` opens that fifo and the command runs,
//! `delete` removes what is left. See runc(8) and runc-create(8) and
//! friends for the flags.
//!
//! One file per verb group: `create.rs` (create and run), `start.rs`, `exec.rs`,
//! `kill.rs`, `delete.rs`, `query.rs` (state, list), `info.rs` (spec,
//! features); `record.rs` is the state on disk they share.

mod create;
mod delete;
mod exec;
mod info;
mod kill;
mod query;
mod record;
mod start;

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// What runc prints for `--version`: its own version, then the
/// specification's.
const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), "\nspec: 1.2.0");

#[derive(Debug, Parser)]
#[command(name = "mini-runc", version = VERSION, about = "An OCI runtime with runc's command line, for teaching")]
struct Cli {
    /// Where containers' state lives (a tmpfs is best: it goes at boot).
    #[arg(long, global = true, default_value = "/run/mini-runc")]
    root: PathBuf,
    /// Append errors (and with --debug, each command) to this file.
    #[arg(long, global = true)]
    log: Option<PathBuf>,
    #[arg(long = "log-format", global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[arg(long, global = true)]
    debug: bool,
    /// Refused: mini-runc manages cgroups through cgroupfs only.
    #[arg(long = "systemd-cgroup", global = true)]
    systemd_cgroup: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create a container from a bundle; its command waits for `start`.
    Create(create::CreateArgs),
    /// Run the created container's command.
    Start { id: String },
    /// Create and start, in the foreground; exits with the command's status.
    Run(create::CreateArgs),
    /// Print the container's state (the OCI state JSON).
    State { id: String },
    /// Run another process in a running container.
    Exec(exec::ExecArgs),
    /// Send a signal (default SIGTERM) to the container's init.
    Kill(kill::KillArgs),
    /// Remove a stopped container (with --force, kill it first).
    Delete(delete::DeleteArgs),
    /// List the containers under --root.
    List(query::ListArgs),
    /// Write a default config.json.
    Spec(info::SpecArgs),
    /// Print what this runtime supports (the OCI features JSON).
    Features,
}

/// An error of any verb: one line, for stderr and the log.
type Failure = String;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // --help and --version print and succeed; a usage error exits
            // 1, as runc does (not clap's 2).
            let code = if e.use_stderr() { 1 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    // Opened now: `exec` moves this process into the container's mount
    // namespace, where the path may not exist.
    let mut log_file = cli
        .log
        .as_ref()
        .and_then(|path| std::fs::OpenOptions::new().create(true).append(true).open(path).ok());
    if cli.debug {
        log(&mut log_file, cli.log_format, "debug", &format!("{:?}", cli.command));
    }
    match dispatch(&cli) {
        Ok(code) => ExitCode::from(code),
        Err(message) => {
            log(&mut log_file, cli.log_format, "error", &message);
            let _ = writeln!(std::io::stderr(), "mini-runc: {message}");
            ExitCode::from(1)
        }
    }
}

fn dispatch(cli: &Cli) -> Result<u8, Failure> {
    if cli.systemd_cgroup {
        return Err(
            "--systemd-cgroup: not supported (mini-runc manages cgroups through cgroupfs only)"
                .to_owned(),
        );
    }
    let root = &cli.root;
    match &cli.command {
        Command::Create(args) => create::create(root, args).map(|()| 0),
        Command::Run(args) => create::run(root, args),
        Command::Start { id } => start::start(root, id).map(|()| 0),
        Command::State { id } => query::state(root, id).map(|()| 0),
        Command::Exec(args) => exec::exec(root, args),
        Command::Kill(args) => kill::kill(root, args).map(|()| 0),
        Command::Delete(args) => delete::delete(root, args).map(|()| 0),
        Command::List(args) => query::list(root, args).map(|()| 0),
        Command::Spec(args) => info::spec(args).map(|()| 0),
        Command::Features => info::features().map(|()| 0),
    }
}

/// One line in the `--log` file, in the format clients parse: logrus's
/// text (`time="…" level=error msg="…"`) or JSON, one object a line
/// (containerd's shim and conmon read the last error from it).
fn log(file: &mut Option<std::fs::File>, format: LogFormat, level: &str, message: &str) {
    let Some(file) = file else { return };
    let time = record::rfc3339(std::time::SystemTime::now());
    let line = match format {
        LogFormat::Json => {
            serde_json::json!({ "level": level, "msg": message, "time": time }).to_string()
        }
        LogFormat::Text => format!("time={time:?} level={level} msg={message:?}"),
    };
    let _ = writeln!(file, "{line}");
}
