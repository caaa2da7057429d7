//! mini-docker: a small Docker-like engine built from the namespaces the
//! demos teach, one at a time, over mini-runc, a small container runtime
//! composed the way runc, crun and youki do it. Docker is layered the same
//! way: its engine keeps images, names, networks and logs, and hands each
//! container to an OCI runtime (runc) that turns it into a process.
//!
//! Read it in the order a container starts:
//! 1. `commands/run.rs`: the command line and the image's defaults are
//!    checked and decided, then written as an OCI bundle (`bundle.rs`): a
//!    `config.json` in the container's state directory, as Docker's engine
//!    writes one for runc;
//! 2. mini-runc's `container/spec.rs` reads the bundle back, as it reads any
//!    bundle its own binary is given, and `container/in_process.rs` adds
//!    what crosses beside it: the image as the overlay's lower layer, the
//!    network's steps as hooks, the engine's name and `--rm`;
//! 3. mini-runc's `container/parent.rs`: one `clone` with the new
//!    namespaces (on cgroup v2 with limits, `clone3` straight into its
//!    cgroup), the ID maps written by the parent while the child waits on
//!    the sync channel;
//! 4. mini-runc's `container/child.rs`: in the child (by default PID 1 of
//!    a new PID namespace), `rootfs/` builds the root filesystem (overlayfs,
//!    volumes, /proc, /sys, /dev) and `pivot_root`s into it, `security/`
//!    confines it, then `container/init.rs` `execve`s the command in its
//!    place (PID 1, as under Docker), or with `--init` forks it and reaps.
//!
//! Two crates, each in layers; a module imports only from its own layer or
//! a lower one, never in a cycle (`tests/tests/layers.rs` checks both):
//! - mini-docker, the engine (this crate):
//!   1. the command line: `main.rs` and `commands/` (one file per verb);
//!      clap's structs live here and nowhere below;
//!   2. the engine: `image/` (the store, imports), `network/` (the bridge,
//!      leases, published ports), `monitor.rs` (the monitor of `run -d`,
//!      its log) and `teardown.rs` (ending a container and removing what
//!      it leaves, one place for every caller);
//! - mini-runc, the runtime (`mini-runc/`), which this crate depends on
//!   and which cannot import it back (it would not compile):
//!   1. the process model, what an OCI runtime does: `container/` (parent,
//!      child, init, tenant, state, lock, sharing…);
//!   2. the parts that talk to the kernel and know nothing of containers:
//!      `rootfs/`, `cgroups/`, `security/`, and `error.rs`, the errors
//!      both crates share.
//!
//! What crosses from the engine to the runtime is the bundle: a
//! `config.json`, typed by the `oci-spec` crate, and what Docker too hands
//! runc beside it (`container::in_process::InProcess`). Below that, what
//! crosses a line downward is plain values: paths, flags, IDs, PIDs and
//! small structs the lower layer defines (`rootfs::Spec`,
//! `cgroups::LimitRequest`, `security::SecurityRequest`). What the engine
//! does in the middle of a start (the network's veth pair, `eth0`'s
//! address, the port relays) crosses as `container::Hooks`: closures the
//! process model runs at the steps the OCI runtime specification names
//! (createRuntime, createContainer, poststart).
//!
//! Exit status, as Docker's: for `run`, the command's own; 125 when
//! mini-docker itself failed (bad flag, unknown image, a mount refused);
//! 126 when the command cannot be invoked; 127 when it is not found. Every
//! other command exits 1 when it fails (`ps`, `inspect`, `rm` a name that
//! finds nothing), 125 for a flag it does not know.
//!
//! Try: `mini-docker info`, then `mini-docker run --rm host sh -c 'echo hi'`.

/// `println!` that cannot panic: a closed pipe (`mini-docker images | head
/// -1`) is not a reason to crash.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// `eprintln!` that cannot panic.
macro_rules! say_err {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

mod bundle;
mod commands;
mod image;
mod lifecycle;
mod monitor;
mod network;
mod teardown;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{ArgMatches, Args, FromArgMatches, Parser, Subcommand};
use mini_runc::error::EXIT_RUNTIME;

/// A small container runtime for learning: namespaces, overlayfs,
/// pivot_root and an init process, like `docker run`.
#[derive(Debug, Parser)]
#[command(name = "mini-docker", version)]
struct Cli {
    /// Directory for per-container state (Docker: the daemon's --exec-root)
    /// [default: /run/mini-docker, or $XDG_RUNTIME_DIR/mini-docker (else
    /// /tmp/mini-docker-UID) rootless]
    #[arg(long, global = true, value_name = "DIR")]
    root: Option<PathBuf>,
    /// Directory holding imported images (Docker: the daemon's --data-root)
    /// [default: /var/lib/mini-docker, or $XDG_DATA_HOME/mini-docker
    /// rootless]
    #[arg(long, global = true, value_name = "DIR")]
    data_root: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a command in a new container
    #[command(override_usage = "mini-docker run [OPTIONS] IMAGE [COMMAND] [ARG...]")]
    Run(Deferred<Box<commands::run::RunArgs>>),
    /// List running containers, and dead ones, which need an `rm` (Docker
    /// lists those with -a only)
    Ps(Deferred<PsArgs>),
    /// Run a command in a running container (joins its namespaces with setns)
    #[command(override_usage = "mini-docker exec [OPTIONS] CONTAINER COMMAND [ARG...]")]
    Exec(Deferred<commands::exec::ExecArgs>),
    /// Send a signal to running containers (SIGKILL ends every process)
    Kill(Deferred<KillArgs>),
    /// Stop running containers: SIGTERM (or their --stop-signal), then
    /// SIGKILL after a grace period
    Stop(Deferred<StopArgs>),
    /// Stop running containers as `stop` does, then start them again
    /// (detached, with the same ID, name, settings and written files)
    Restart(Deferred<StopArgs>),
    /// What a container started with run -d wrote to stdout and stderr
    /// (Docker keeps a log for every container)
    Logs(Deferred<LogsArgs>),
    /// What the host knows about containers, as JSON (fields of its own,
    /// not Docker's)
    Inspect(Deferred<InspectArgs>),
    /// Wait until containers end, and print their exit statuses
    Wait(Deferred<WaitArgs>),
    /// The processes of a running container, as the host sees them
    /// (Docker's shows the host's ps -ef columns)
    Top(Deferred<TopArgs>),
    /// The ports a running container publishes (run -p)
    Port(Deferred<PortArgs>),
    /// Remove kept containers (and what they wrote)
    Rm(Deferred<RmArgs>),
    /// What this host supports: privilege, user namespaces, cgroups,
    /// overlayfs
    Info,
    /// List images
    Images(Deferred<ImagesArgs>),
    /// Load the images of an archive (docker save, podman save, skopeo
    /// copy: a docker-archive, an OCI archive or an OCI layout directory)
    Load(Deferred<LoadArgs>),
    /// Make an image of a root file system tarball (plain, gzip or zstd),
    /// as `docker import`
    Import(Deferred<ImportArgs>),
    /// Remove images (a tag, or an image by ID with all its tags)
    Rmi(Deferred<RmiArgs>),
    /// Print a completion script for a shell (bash: `source <(mini-docker
    /// completion bash)`)
    Completion(Deferred<CompletionArgs>),
    /// Print the man page, in roff (`mini-docker man | man -l -`; Docker
    /// ships its pages as files)
    Man(Deferred<ManArgs>),
}

// `ps`'s flags.
#[derive(Debug, Args)]
struct PsArgs {
    /// Show all containers, also those kept (exited, run without --rm)
    #[arg(short = 'a', long)]
    all: bool,
    /// Print the short IDs only
    #[arg(short = 'q', long)]
    quiet: bool,
    /// A template of .ID .Names .Image .Command .State .Status .Ports
    /// ({{.Field}}, {{json .Field}}), or json (a subset of Docker's)
    #[arg(long, value_name = "TEMPLATE")]
    format: Option<String>,
}

// `kill`'s flags.
#[derive(Debug, Args)]
struct KillArgs {
    /// The signal: a name (TERM, SIGKILL) or a number
    #[arg(short = 's', long = "signal", default_value = "KILL")]
    signal: String,
    /// Names or ID prefixes
    #[arg(required = true)]
    containers: Vec<String>,
}

// `stop`'s flags, which are `restart`'s too (it stops them first).
#[derive(Debug, Args)]
struct StopArgs {
    /// Seconds to wait before SIGKILL [default: the container's
    /// --stop-timeout, else 10]
    #[arg(short = 't', long = "time", value_name = "SECONDS")]
    time: Option<u64>,
    /// Names or ID prefixes
    #[arg(required = true)]
    containers: Vec<String>,
}

// `logs`'s flags.
#[derive(Debug, Args)]
struct LogsArgs {
    /// Keep printing what it writes until it stops
    #[arg(short = 'f', long)]
    follow: bool,
    /// Print only the last N lines first (then, with -f, what follows)
    #[arg(short = 'n', long, value_name = "N|all", default_value = "all",
          value_parser = commands::logs::parse_tail)]
    tail: commands::logs::Tail,
    /// Name or ID prefix
    container: String,
}

// `inspect`'s flags.
#[derive(Debug, Args)]
struct InspectArgs {
    /// Print a template of each one's fields instead ({{.State.Pid}},
    /// {{json .State}}; a subset of Docker's)
    #[arg(short = 'f', long, value_name = "TEMPLATE")]
    format: Option<String>,
    /// Names or ID prefixes
    #[arg(required = true)]
    containers: Vec<String>,
}

// `wait`'s flags.
#[derive(Debug, Args)]
struct WaitArgs {
    /// Names or ID prefixes
    #[arg(required = true)]
    containers: Vec<String>,
}

// `top`'s flags.
#[derive(Debug, Args)]
struct TopArgs {
    /// Name or ID prefix
    container: String,
}

// `port`'s flags.
#[derive(Debug, Args)]
struct PortArgs {
    /// Name or ID prefix
    container: String,
    /// Only this container port: PORT[/tcp|udp]
    port: Option<String>,
}

// `rm`'s flags.
#[derive(Debug, Args)]
struct RmArgs {
    /// Kill a running container first (SIGKILL)
    #[arg(short = 'f', long)]
    force: bool,
    /// Names or ID prefixes
    #[arg(required = true)]
    containers: Vec<String>,
}

// `images`'s flags.
#[derive(Debug, Args)]
struct ImagesArgs {
    /// Only the image IDs
    #[arg(short = 'q', long)]
    quiet: bool,
}

// `load`'s flags.
#[derive(Debug, Args)]
struct LoadArgs {
    /// The archive or layout directory [default: standard input]
    #[arg(short = 'i', long = "input", value_name = "FILE")]
    input: Option<PathBuf>,
}

// `import`'s flags.
#[derive(Debug, Args)]
struct ImportArgs {
    /// The tarball, or - for standard input
    file: PathBuf,
    /// The new image's name
    #[arg(value_name = "REPOSITORY[:TAG]")]
    reference: Option<String>,
}

// `rmi`'s flags.
#[derive(Debug, Args)]
struct RmiArgs {
    /// Also an image containers use, or one with several tags
    #[arg(short = 'f', long)]
    force: bool,
    /// Tags or image IDs
    #[arg(required = true)]
    images: Vec<String>,
}

// `completion`'s flags.
#[derive(Debug, Args)]
struct CompletionArgs {
    /// The shell
    #[arg(value_enum)]
    shell: Shell,
}

// `man`'s flags.
#[derive(Debug, Args)]
struct ManArgs {
    /// A command's own page (mini-docker-run(1)) instead of the main one
    command: Option<String>,
}

/// A command's flags, added to its `clap::Command` only once clap needs
/// that command, to parse it or to show its help (`Command::defer`): a
/// `run` builds `run`'s flags and none of the other commands'. Building
/// them all took about 0.1 ms of every start (bench/README.md).
#[derive(Debug)]
struct Deferred<T>(T);

impl<T: Args> Args for Deferred<T> {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        cmd.defer(|cmd| keeping_about(cmd, T::augment_args))
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        cmd.defer(|cmd| keeping_about(cmd, T::augment_args_for_update))
    }
}

/// `augment` applied to `cmd`, whose description stays the command's own
/// (the `Command` variant's doc comment): a struct of flags sets its own
/// doc comment as the description, and applied after the command's, now
/// that it comes later, it would win.
fn keeping_about(cmd: clap::Command, augment: fn(clap::Command) -> clap::Command) -> clap::Command {
    let (about, long_about) = (cmd.get_about().cloned(), cmd.get_long_about().cloned());
    let mut cmd = augment(cmd);
    if let Some(about) = about {
        cmd = cmd.about(about);
    }
    if let Some(long_about) = long_about {
        cmd = cmd.long_about(long_about);
    }
    cmd
}

impl<T: FromArgMatches> FromArgMatches for Deferred<T> {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        T::from_arg_matches(matches).map(Deferred)
    }

    fn from_arg_matches_mut(matches: &mut ArgMatches) -> Result<Self, clap::Error> {
        T::from_arg_matches_mut(matches).map(Deferred)
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        self.0.update_from_arg_matches(matches)
    }

    fn update_from_arg_matches_mut(&mut self, matches: &mut ArgMatches) -> Result<(), clap::Error> {
        self.0.update_from_arg_matches_mut(matches)
    }
}

/// The shells `completion` writes for.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Shell {
    Bash,
    Zsh,
    Fish,
}

/// `restart`'s parser: the `run` flags of a command line `run` recorded,
/// parsed by the same definitions.
fn recorded_run(argv: Vec<std::ffi::OsString>) -> Result<commands::run::RunArgs, String> {
    match Cli::try_parse_from(argv) {
        Ok(Cli { command: Command::Run(Deferred(args)), .. }) => Ok(*args),
        Ok(_) => Err("it is not a run command".to_owned()),
        Err(e) => Err(e.kind().to_string()),
    }
}

fn main() -> ExitCode {
    cloexec_inherited();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // No command (a bare `mini-docker`, or only --root): the help,
        // on stderr and with success, as Docker's.
        Err(e) if e.kind() == clap::error::ErrorKind::MissingSubcommand => {
            use clap::CommandFactory;
            say_err!("{}", Cli::command().render_help());
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            // clap's whole message: the argument, its "similar argument"
            // tip, the usage line. --help and --version are no failures.
            let _ = e.print();
            return ExitCode::from(usage_status(&e));
        }
    };
    let dirs = commands::Dirs::new(cli.root, cli.data_root);
    // Docker's statuses for a failure of mini-docker itself: 125 for
    // `run` (the command's own are 126, 127 and its exit status), 1 for
    // every other command.
    let failed = if matches!(cli.command, Command::Run(_)) { EXIT_RUNTIME } else { 1 };
    let result = match cli.command {
        Command::Run(Deferred(args)) => commands::run::run(&dirs, *args),
        Command::Ps(Deferred(PsArgs { all, quiet, format })) => {
            commands::ps::ps(&dirs, all, quiet, format.as_deref()).map(|()| 0)
        }
        Command::Exec(Deferred(args)) => commands::exec::exec(&dirs, args),
        Command::Kill(Deferred(KillArgs { signal, containers })) => {
            commands::kill::kill(&dirs, &signal, &containers)
        }
        Command::Stop(Deferred(StopArgs { time, containers })) => {
            commands::kill::stop(&dirs, time, &containers)
        }
        Command::Restart(Deferred(StopArgs { time, containers })) => {
            commands::restart::restart(&dirs, time, &containers, recorded_run)
        }
        Command::Logs(Deferred(LogsArgs { follow, tail, container })) => {
            commands::logs::logs(&dirs, &container, follow, tail).map(|()| 0)
        }
        Command::Inspect(Deferred(InspectArgs { format, containers })) => {
            commands::inspect::inspect(&dirs, &containers, format.as_deref())
        }
        Command::Wait(Deferred(WaitArgs { containers })) => {
            commands::wait::wait(&dirs, &containers)
        }
        Command::Top(Deferred(TopArgs { container })) => {
            commands::top::top(&dirs, &container).map(|()| 0)
        }
        Command::Port(Deferred(PortArgs { container, port })) => {
            commands::port::port(&dirs, &container, port.as_deref()).map(|()| 0)
        }
        Command::Rm(Deferred(RmArgs { force, containers })) => {
            commands::rm::rm(&dirs, &containers, force)
        }
        Command::Info => commands::info::info(&dirs).map(|()| 0),
        Command::Images(Deferred(ImagesArgs { quiet })) => {
            commands::images::images(&dirs, quiet).map(|()| 0)
        }
        Command::Load(Deferred(LoadArgs { input })) => {
            commands::load::load(&dirs, input.as_deref()).map(|()| 0)
        }
        Command::Import(Deferred(ImportArgs { file, reference })) => {
            commands::images::import(&dirs, &file, reference.as_deref()).map(|()| 0)
        }
        Command::Rmi(Deferred(RmiArgs { force, images })) => {
            commands::images::rmi(&dirs, &images, force).map(|()| 0)
        }
        Command::Completion(Deferred(CompletionArgs { shell })) => {
            completion(shell);
            Ok(0)
        }
        Command::Man(Deferred(ManArgs { command })) => man(command.as_deref()),
    };
    match result {
        Ok(status) => ExitCode::from(status),
        Err(e) => {
            say_err!("mini-docker: {e}");
            ExitCode::from(failed)
        }
    }
}

/// The completion script for `shell`, written by `clap_complete` from the
/// same definitions clap parses with.
fn completion(shell: Shell) {
    use clap::CommandFactory;
    let shell = match shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    // Into memory first: clap_complete panics on a failed write, and a
    // closed pipe (`completion bash | head`) is no reason to.
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "mini-docker", &mut script);
    // clap_complete 4.6's bash script names the state after a subcommand
    // of a program with a hyphen in its name two ways: the loop that reads
    // the words arrives at `mini__docker__subcmd__run`, the arms that
    // offer its flags are labelled `mini__subcmd__docker__subcmd__run`, so
    // no flag of a subcommand would ever complete. One spelling for both.
    let script = String::from_utf8_lossy(&script).replace("mini__subcmd__docker", "mini__docker");
    use std::io::Write as _;
    let _ = std::io::stdout().write_all(script.as_bytes());
}

/// The man page of mini-docker, or of one of its commands (named
/// `mini-docker-run` as git's and Docker's are), in roff, written by
/// `clap_mangen` from clap's definitions.
fn man(command: Option<&str>) -> Result<u8, commands::Error> {
    use clap::CommandFactory;
    let mut cli = Cli::command();
    cli.build();
    let page = match command {
        None => cli,
        // After `build`, clap names each command's page `mini-docker-NAME`
        // (its display name), and its usage line `mini-docker NAME`.
        Some(name) => cli
            .find_subcommand(name)
            .cloned()
            .ok_or_else(|| commands::Error::Flag(format!("man {name:?}: no such command")))?,
    };
    let mut roff = Vec::new();
    clap_mangen::Man::new(page)
        .render(&mut roff)
        .map_err(|e| commands::Error::Flag(format!("man: {e}")))?;
    use std::io::Write as _;
    let _ = std::io::stdout().write_all(&roff);
    Ok(0)
}

/// The exit status of a command line clap refused, as Docker's client
/// (cobra) picks it: 125 for a flag it does not know or a value it
/// cannot take, 1 for a wrong count of arguments (`docker inspect` with
/// no name, `docker ps extra`, an unknown command), 0 for a help or the
/// version asked for.
fn usage_status(e: &clap::Error) -> u8 {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => 0,
        ErrorKind::MissingRequiredArgument | ErrorKind::InvalidSubcommand => 1,
        // Too few words for a positional (`exec NAME` without a command).
        ErrorKind::TooFewValues | ErrorKind::WrongNumberOfValues
            if matches!(e.get(ContextKind::InvalidArg),
                        Some(ContextValue::String(arg)) if arg.starts_with('<')) =>
        {
            1
        }
        // An unexpected word: a flag (125), or one argument too many (1).
        ErrorKind::UnknownArgument => match e.get(ContextKind::InvalidArg) {
            Some(ContextValue::String(arg)) if !arg.starts_with('-') => 1,
            _ => EXIT_RUNTIME,
        },
        _ => EXIT_RUNTIME,
    }
}

/// mini-docker may start with descriptors open that it never asked for (a
/// shell's `exec 7<file`, a careless parent). Nothing it runs in a
/// container, through `run` or `exec`, may inherit them: a directory of
/// the host open inside a container is a way out of its root (runc's
/// CVE-2024-21626 was such a leak). So every descriptor above stderr is
/// made close-on-exec first: `close_range(2)` with `CLOSE_RANGE_CLOEXEC`
/// (Linux 5.11), else `fcntl(F_SETFD)` on each one `/proc/self/fd` lists.
fn cloexec_inherited() {
    // SAFETY: only sets a flag on descriptors; nothing is closed.
    let marked =
        unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, libc::CLOSE_RANGE_CLOEXEC) };
    if marked == 0 {
        return;
    }
    let Ok(entries) = std::fs::read_dir("/proc/self/fd") else { return };
    let fds: Vec<i32> = entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter(|&fd| fd > 2)
        .collect();
    for fd in fds {
        // SAFETY: as above; a descriptor that is gone (the listing's own)
        // just answers EBADF.
        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;

    /// clap's own checks of the definitions, and a one-line help for every
    /// command and flag: `-h` shows that line, `--help` the rest.
    #[test]
    fn every_command_and_flag_has_one_line_of_help() {
        let cli = Cli::command();
        cli.clone().debug_assert();
        // Built, so that each command has its flags (see `Deferred`).
        let mut cli = cli;
        cli.build();
        let mut missing = Vec::new();
        for sub in cli.get_subcommands() {
            let name = sub.get_name();
            if sub.get_about().is_none_or(|a| a.to_string().contains('\n')) {
                missing.push(name.to_owned());
            }
            for arg in sub.get_arguments() {
                let id = arg.get_id().as_str();
                if id != "help" && arg.get_help().is_none_or(|h| h.to_string().contains('\n')) {
                    missing.push(format!("{name} {id}"));
                }
            }
        }
        assert!(missing.is_empty(), "no one-line help: {missing:?}");
        let flags: usize = cli.get_subcommands().map(|sub| sub.get_arguments().count()).sum();
        assert!(flags > 100, "the loop saw {flags} flags: are the commands built?");
    }
}
