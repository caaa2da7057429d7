//! The experiment model and the `--json` contract.
//!
//! A [`Demo`] is an ordered list of [`Experiment`]s. An experiment names the
//! article's claims it tests (IDs from `claims.md`), runs real system calls,
//! and returns what each side saw as [`Facts`] plus a [`Verdict`]; the run
//! turns that into an [`Outcome`]. The field names of [`Report`] and
//! [`Outcome`] are a contract: tests, the book's claim index and outside tools
//! read them.
//!
//! This module owns the model only. It imports nothing else of this crate
//! but [`Privilege`]; the text report (`render`) and the command line (`cli`)
//! both build on it, and the model's types come from here alone (`cli`
//! calls `render` to print, `render` knows nothing of the command line).

use std::io::{BufRead, Write};

use nix::sched::CloneFlags;
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::privilege::Privilege;

/// A demo: one namespace type, an ordered list of experiments.
#[derive(Debug)]
pub struct Demo {
    /// Binary name, e.g. `pid-demo`.
    pub name: &'static str,
    /// One line: what the demo shows.
    pub about: &'static str,
    /// The section-7 man page of the namespace, e.g. `pid_namespaces`.
    pub man: &'static str,
    pub experiments: &'static [Experiment],
    /// False for every demo but `user-demo`: without root, lab first enters a
    /// user namespace for the demo. `user-demo` makes its user namespaces
    /// itself, step by step, because they are its lesson.
    pub makes_own_user_namespaces: bool,
}

/// One experiment of a demo: what it tests and the function that runs it.
#[derive(Debug, Clone, Copy)]
pub struct Experiment {
    /// Short kebab-case name, used by `--only`.
    pub name: &'static str,
    /// One line saying what is tested.
    pub title: &'static str,
    /// Claim IDs from `claims.md`.
    pub claims: &'static [&'static str],
    /// True when isolation is the point: a `--control` run, which skips
    /// creating the namespace under test, must then report `fail`.
    pub isolation: bool,
    /// One paragraph: what was shown and why the kernel behaves so.
    pub explanation: &'static str,
    /// Runs the experiment. Called in a fresh process of its own, so it may
    /// change its own namespaces freely.
    pub run: fn(&Lab) -> anyhow::Result<Observed>,
}

/// Whether the namespaces under test are created (`namespace`) or not (`control`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Namespace,
    Control,
}

/// What an experiment may know about the run it is part of.
#[derive(Debug, Clone)]
pub struct Lab {
    pub mode: Mode,
    pub privilege: Privilege,
    pub(crate) hold: bool,
    /// The demo's own flags (see [`crate::cli::main_with_flags`]) that were given.
    pub(crate) flags: Vec<&'static str>,
}

impl Lab {
    /// The namespace flags under test, or none at all in a control run.
    ///
    /// Only the namespaces an experiment is *about* go through here; helper
    /// namespaces that keep the host safe (a private mount namespace for a
    /// `/proc` mount, say) are passed as they are, so a control run changes
    /// exactly one thing.
    pub fn isolate(&self, flags: CloneFlags) -> CloneFlags {
        match self.mode {
            Mode::Namespace => flags,
            Mode::Control => CloneFlags::empty(),
        }
    }

    pub fn is_control(&self) -> bool {
        self.mode == Mode::Control
    }

    pub fn is_rootless(&self) -> bool {
        self.privilege == Privilege::Rootless
    }

    /// Whether the demo's own flag `--name` was given (declared with
    /// [`crate::cli::main_with_flags`]; always false for undeclared names).
    pub fn flag(&self, name: &str) -> bool {
        self.flags.contains(&name)
    }

    /// The `nsenter` command a reader types in another terminal to look into
    /// `pid`'s namespaces; `flags` are nsenter's (`-u`, `-p -r`, ...).
    pub fn nsenter(&self, pid: Pid, flags: &str) -> String {
        match self.privilege {
            Privilege::Root => format!("sudo nsenter -t {pid} {flags}"),
            // Our namespaces are owned by our user namespace: join it first.
            Privilege::Rootless => format!("nsenter -t {pid} -U --preserve-credentials {flags}"),
        }
    }

    /// With `--hold`: keep the caller (and so the namespace's process) alive,
    /// show how to inspect it, and wait for Enter or Ctrl-C. Otherwise a no-op.
    pub fn hold(&self, pid: Pid, commands: &[String]) {
        self.pause(&format!("the namespace's process is PID {pid} on the host."), commands);
    }

    /// Like [`hold`](Self::hold), for a moment that is not about one process
    /// (a namespace kept alive by a mount, say): `situation` says what to look at.
    pub fn pause(&self, situation: &str, commands: &[String]) {
        if !self.hold {
            return;
        }
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "\n  holding: {situation}");
        let _ = writeln!(err, "  From another terminal, look inside:");
        for command in commands {
            let _ = writeln!(err, "      {command}");
        }
        let _ =
            writeln!(err, "  Press Enter to continue, or Ctrl-C to stop (nothing is left behind).");
        let _ = err.flush();
        let mut line = String::new();
        let _ = std::io::stdin().lock().read_line(&mut line);
    }
}

/// Named observations from one side, in the order they were made.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Facts(Map<String, Value>);

impl Facts {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) one observation.
    pub fn with(mut self, key: &str, value: impl Serialize) -> Self {
        self.set(key, value);
        self
    }

    pub fn set(&mut self, key: &str, value: impl Serialize) {
        let value = serde_json::to_value(value).unwrap_or_else(|e| Value::String(e.to_string()));
        self.0.insert(key.to_owned(), value);
    }

    /// Appends every fact of `other`.
    pub fn extend(&mut self, other: Facts) {
        self.0.extend(other.0);
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key)
    }

    /// An integer fact, for verdicts.
    pub fn int(&self, key: &str) -> Option<i64> {
        self.0.get(key)?.as_i64()
    }

    /// A text fact, for verdicts.
    pub fn text(&self, key: &str) -> Option<&str> {
        self.0.get(key)?.as_str()
    }

    /// A list-of-integers fact (e.g. an `NSpid` line), for verdicts.
    pub fn ints(&self, key: &str) -> Vec<i64> {
        let items = self.0.get(key).and_then(Value::as_array);
        items.map(|a| a.iter().filter_map(Value::as_i64).collect()).unwrap_or_default()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &Value)> {
        self.0.iter()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// `ok`, or the errno's name (`ESRCH`): how a fact records a system call's result.
pub fn ok_or_errno<T>(result: &nix::Result<T>) -> String {
    match result {
        Ok(_) => "ok".into(),
        Err(errno) => format!("{errno:?}"),
    }
}

/// Did the run show what the claim (or its correction) says? In `--json`:
/// `"pass"`, `"fail"` or `"skip"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    Fail,
    /// Could not run here; the outcome's `reason` says why.
    Skip,
}

impl Verdict {
    /// `Pass` when the expected behaviour was observed, `Fail` otherwise.
    pub fn check(observed: bool) -> Self {
        if observed { Verdict::Pass } else { Verdict::Fail }
    }

    /// The verdict this mode should give: `Pass`, except for an isolation
    /// experiment in a control run, which must `Fail`.
    pub fn expected(exp: &Experiment, mode: Mode) -> Self {
        if mode == Mode::Control && exp.isolation { Verdict::Fail } else { Verdict::Pass }
    }
}

/// What an experiment's run returns. Made by [`Observed::new`] or
/// [`Observed::skip`], so a skip always carries its reason.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Observed {
    verdict: Verdict,
    /// Why it was skipped (only with [`Verdict::Skip`]).
    skip_reason: Option<String>,
    host: Facts,
    namespace: Facts,
}

impl Observed {
    /// The facts of a run and its verdict. A skip belongs in
    /// [`Observed::skip`], which says why; one made here says that it
    /// gave no reason.
    pub fn new(verdict: Verdict, host: Facts, namespace: Facts) -> Self {
        let skip_reason = (verdict == Verdict::Skip).then(|| "skipped, no reason given".to_owned());
        Self { verdict, skip_reason, host, namespace }
    }

    /// The experiment cannot run here; `reason` says why, in one line.
    pub fn skip(reason: impl Into<String>) -> Self {
        Self {
            verdict: Verdict::Skip,
            skip_reason: Some(reason.into()),
            host: Facts::new(),
            namespace: Facts::new(),
        }
    }
}

/// The `--json` document of a run.
#[derive(Debug, Serialize, Deserialize)]
pub struct Report {
    pub demo: String,
    pub mode: Mode,
    pub privilege: Privilege,
    pub experiments: Vec<Outcome>,
}

/// One experiment's entry in [`Report`].
#[derive(Debug, Serialize, Deserialize)]
pub struct Outcome {
    pub name: String,
    pub title: String,
    pub claims: Vec<String>,
    /// Whether isolation is the point (see [`Experiment::isolation`]).
    pub isolation: bool,
    pub verdict: Verdict,
    /// What this run should show (see [`Verdict::expected`]).
    pub expected: Verdict,
    /// Why it was skipped, or the error that made it fail.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reason: Option<String>,
    pub host: Facts,
    pub namespace: Facts,
    pub explanation: String,
}

impl Outcome {
    /// The entry for `exp` run in `mode`; an error is a result too: the
    /// experiment did not show the claim, and the error says why.
    pub fn new(exp: &Experiment, mode: Mode, result: anyhow::Result<Observed>) -> Self {
        let (verdict, reason, host, namespace) = match result {
            Ok(o) => (o.verdict, o.skip_reason, o.host, o.namespace),
            Err(e) => {
                let error = format!("{e:#}");
                let namespace = Facts::new().with("error", &error);
                (Verdict::Fail, Some(error), Facts::new(), namespace)
            }
        };
        Self {
            name: exp.name.into(),
            title: exp.title.into(),
            claims: exp.claims.iter().map(|c| c.to_string()).collect(),
            isolation: exp.isolation,
            verdict,
            expected: Verdict::expected(exp, mode),
            reason,
            host,
            namespace,
            explanation: exp.explanation.into(),
        }
    }

    /// The verdict is what this mode should give (a skip is never a surprise).
    pub fn as_expected(&self) -> bool {
        self.verdict == Verdict::Skip || self.verdict == self.expected
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn observe(_: &Lab) -> anyhow::Result<Observed> {
        Ok(Observed::new(Verdict::Pass, Facts::new(), Facts::new()))
    }

    const ISOLATION: Experiment = Experiment {
        name: "first-pid-is-1",
        title: "t",
        claims: &["PID-1"],
        isolation: true,
        explanation: "e",
        run: observe,
    };
    const NOT_ISOLATION: Experiment = Experiment { isolation: false, ..ISOLATION };

    #[test]
    fn a_control_run_expects_isolation_to_fail() {
        assert_eq!(Verdict::expected(&ISOLATION, Mode::Namespace), Verdict::Pass);
        assert_eq!(Verdict::expected(&ISOLATION, Mode::Control), Verdict::Fail);
        assert_eq!(Verdict::expected(&NOT_ISOLATION, Mode::Control), Verdict::Pass);
    }

    #[test]
    fn an_error_is_a_fail_with_its_reason() {
        let out = Outcome::new(&ISOLATION, Mode::Namespace, Err(anyhow::anyhow!("setns: EPERM")));
        assert_eq!(out.verdict, Verdict::Fail);
        assert_eq!(out.reason.as_deref(), Some("setns: EPERM"));
        assert_eq!(out.namespace.text("error"), Some("setns: EPERM"));
        assert!(!out.as_expected());
        // The same failure is what a control run of an isolation experiment expects.
        let control = Outcome::new(&ISOLATION, Mode::Control, Err(anyhow::anyhow!("x")));
        assert!(control.as_expected());
    }

    #[test]
    fn a_skip_is_never_a_surprise_and_keeps_its_reason() {
        let out = Outcome::new(&ISOLATION, Mode::Namespace, Ok(Observed::skip("needs root")));
        assert_eq!(out.verdict, Verdict::Skip);
        assert_eq!(out.reason.as_deref(), Some("needs root"));
        assert!(out.as_expected());
    }

    #[test]
    fn the_json_contract_spells_verdicts_as_words() {
        let out = Outcome::new(&ISOLATION, Mode::Control, Ok(Observed::skip("why")));
        let json = serde_json::to_value(&out).expect("serialisable");
        assert_eq!(json["verdict"], "skip");
        assert_eq!(json["expected"], "fail");
        assert_eq!(json["reason"], "why");
        let pass = Outcome::new(&ISOLATION, Mode::Namespace, observe_ok());
        let json = serde_json::to_value(&pass).expect("serialisable");
        assert_eq!(json["verdict"], "pass");
        assert!(json.get("reason").is_none(), "no reason key without a reason: {json}");
    }

    fn observe_ok() -> anyhow::Result<Observed> {
        let host = Facts::new().with("clone_returned", 4242);
        let namespace = Facts::new().with("getpid", 1).with("nspid", [4242, 1]);
        Ok(Observed::new(Verdict::check(true), host, namespace))
    }

    #[test]
    fn facts_keep_their_order_and_types() {
        let observed = observe_ok().expect("observed");
        let keys: Vec<_> = observed.namespace.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["getpid", "nspid"]);
        assert_eq!(observed.namespace.int("getpid"), Some(1));
        assert_eq!(observed.namespace.ints("nspid"), [4242, 1]);
        assert_eq!(observed.host.text("clone_returned"), None, "an int is not text");
    }

    #[test]
    fn a_syscall_result_is_ok_or_the_errno_name() {
        assert_eq!(ok_or_errno(&Ok::<(), nix::Error>(())), "ok");
        assert_eq!(ok_or_errno(&Err::<(), _>(nix::errno::Errno::ESRCH)), "ESRCH");
    }
}
