//! The flags every demo shares, and the loop that runs its experiments.
//!
//! Each experiment runs in a forked process of its own: whatever namespaces it
//! enters, mounts it makes or hostnames it sets die with that process, so one
//! experiment cannot disturb the next and an interrupted run leaves nothing
//! behind.
//!
//! This module owns the command line and the run loop; it builds on the
//! model (`experiment`) and hands finished outcomes to `render` for text.

use std::io::Write;
use std::process::ExitCode;

use clap::{Args as _, FromArgMatches, Parser};
use serde_json::json;

use crate::experiment::{Demo, Experiment, Lab, Mode, Observed, Outcome, Report};
use crate::privilege;
use crate::render::{self, Style};
use crate::spawn::fork_child;

/// Exit codes, documented in every demo's `--help`.
pub mod exit {
    /// Every experiment gave the verdict this mode should give (skips included).
    pub const OK: u8 = 0;
    /// At least one verdict was not the expected one, or an experiment erred.
    pub const UNEXPECTED: u8 = 1;
    /// Bad command line: unknown flag or experiment name.
    pub const USAGE: u8 = 2;
    /// Not root, and the host does not allow unprivileged user namespaces.
    pub const NO_PRIVILEGE: u8 = 3;
}

const ROOTLESS_HELP: &str = "\
Without root, the demo first enters a new user namespace that maps you to 0 and
runs every experiment that allows; the others are reported as skipped, with why.";

const OWN_USERNS_HELP: &str = "\
This demo creates its user namespaces itself, step by step, as an unprivileged
user: started as root, it drops to an unprivileged UID first.";

const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  every experiment gave the expected verdict (skipped ones included)
  1  some verdict was not the expected one, or an experiment failed with an error
  2  bad command line (unknown flag or experiment name)
  3  not root, and user namespaces are blocked here (the message names the setting)";

#[derive(Debug, Parser)]
struct Args {
    /// Print one JSON document instead of the annotated text.
    #[arg(long)]
    json: bool,
    /// List the experiments and the claims they test, without running them.
    #[arg(long)]
    list: bool,
    /// Run only the experiment NAME (see --list).
    #[arg(long, value_name = "NAME")]
    only: Option<String>,
    /// The scientific control: run the same steps WITHOUT creating the
    /// namespaces under test. Isolation experiments should then fail.
    #[arg(long)]
    control: bool,
    /// Keep each namespace's process alive, print commands to inspect it from
    /// another terminal, and wait for Enter.
    #[arg(long)]
    hold: bool,
}

/// The whole of a demo's `main`: parse flags, acquire privileges, run.
pub fn main(demo: &Demo) -> ExitCode {
    main_with_flags(demo, &[])
}

/// A yes/no flag of one demo's own, beyond the common ones: net-demo's
/// `--real-host`, say. Experiments ask for it with [`Lab::flag`].
#[derive(Debug, Clone, Copy)]
pub struct DemoFlag {
    /// The long name without dashes: `real-host` for `--real-host`.
    pub name: &'static str,
    /// One line for `--help`.
    pub help: &'static str,
}

/// [`main`] for a demo with flags of its own, listed after the common ones.
pub fn main_with_flags(demo: &Demo, own_flags: &[DemoFlag]) -> ExitCode {
    let mut command = Args::augment_args(clap::Command::new(demo.name))
        .about(demo.about)
        .version(env!("CARGO_PKG_VERSION"))
        .after_help(format!(
            "{}\n\n{EXIT_CODES_HELP}",
            if demo.makes_own_user_namespaces { OWN_USERNS_HELP } else { ROOTLESS_HELP }
        ));
    for flag in own_flags {
        let arg = clap::Arg::new(flag.name).long(flag.name).help(flag.help);
        command = command.arg(arg.action(clap::ArgAction::SetTrue));
    }
    let parsed = command.try_get_matches().and_then(|m| Ok((Args::from_arg_matches(&m)?, m)));
    let (args, matches) = match parsed {
        Ok(parsed) => parsed,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { exit::USAGE } else { exit::OK });
        }
    };
    let given: Vec<&'static str> =
        own_flags.iter().map(|f| f.name).filter(|name| matches.get_flag(name)).collect();

    let selected: Vec<&Experiment> = match &args.only {
        None => demo.experiments.iter().collect(),
        Some(name) => match demo.experiments.iter().find(|e| e.name == name) {
            Some(e) => vec![e],
            None => {
                let names: Vec<_> = demo.experiments.iter().map(|e| e.name).collect();
                eprintln!(
                    "{}: no experiment named '{name}' (there are: {})",
                    demo.name,
                    names.join(", ")
                );
                return ExitCode::from(exit::USAGE);
            }
        },
    };

    if args.list {
        print_list(demo, &selected, args.json);
        return ExitCode::from(exit::OK);
    }

    let acquired = match privilege::acquire(!demo.makes_own_user_namespaces) {
        Ok(a) => a,
        Err(message) => {
            eprintln!("{}: {message}", demo.name);
            return ExitCode::from(exit::NO_PRIVILEGE);
        }
    };
    let mode = if args.control { Mode::Control } else { Mode::Namespace };
    let lab = Lab { mode, privilege: acquired.privilege, hold: args.hold, flags: given };
    let style = Style::detect();

    if !args.json {
        emit(&render::header(
            demo,
            mode,
            &acquired.describe(demo.makes_own_user_namespaces),
            style,
        ));
    }
    let mut outcomes = Vec::new();
    for (i, exp) in selected.iter().enumerate() {
        let outcome = Outcome::new(exp, mode, run_in_own_process(exp, &lab));
        if !args.json {
            emit(&render::outcome(i + 1, selected.len(), &outcome, mode, style));
        }
        outcomes.push(outcome);
    }

    let all_as_expected = outcomes.iter().all(Outcome::as_expected);
    if args.json {
        let report = Report {
            demo: demo.name.into(),
            mode,
            privilege: lab.privilege,
            experiments: outcomes,
        };
        emit(&(serde_json::to_string_pretty(&report).unwrap_or_default() + "\n"));
    } else {
        emit(&render::summary(&outcomes, mode));
    }
    ExitCode::from(if all_as_expected { exit::OK } else { exit::UNEXPECTED })
}

/// Forks, runs the experiment in the child, and brings its observations back.
fn run_in_own_process(exp: &Experiment, lab: &Lab) -> anyhow::Result<Observed> {
    let mut runner = fork_child(|chan| {
        let observed = (exp.run)(lab)?;
        chan.send(&observed)
    })?;
    if lab.hold {
        // The reader decides how long to look around.
        runner.chan.set_timeout(None)?;
    }
    let observed = match runner.chan.recv::<Observed>() {
        Ok(observed) => observed,
        // No answer in time (or none at all): the runner is stuck or gone.
        // Dropping it kills and reaps it, where a wait could block forever.
        Err(e) => {
            drop(runner);
            return Err(e);
        }
    };
    runner.wait()?;
    Ok(observed)
}

fn print_list(demo: &Demo, selected: &[&Experiment], as_json: bool) {
    if as_json {
        let experiments: Vec<_> = selected
            .iter()
            .map(|e| json!({ "name": e.name, "title": e.title, "claims": e.claims, "isolation": e.isolation }))
            .collect();
        let doc = json!({ "demo": demo.name, "experiments": experiments });
        emit(&(serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n"));
    } else {
        emit(&render::list(selected));
    }
}

/// Writes to stdout now. When the reader has gone (`pid-demo --list | head`),
/// stop quietly: a closed pipe is not an error worth a backtrace.
fn emit(text: &str) {
    let mut stdout = std::io::stdout().lock();
    if stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()).is_err() {
        std::process::exit(exit::OK.into());
    }
}
