//! An OCI bundle's hooks: programs, where the engine's [`Hooks`] are
//! closures.
//!
//! config.md ("POSIX-platform Hooks") names five kinds, each a list of
//! `{path, args, env, timeout}` run at one step of the life cycle
//! (runtime.md, "Lifecycle"), with the container's state JSON (runtime.md,
//! "State") on its standard input:
//!
//! ```text
//! createRuntime    the runtime's namespaces, after the namespaces exist    bin: create.rs
//! createContainer  the container's namespaces, before pivot_root           child.rs
//! startContainer   the container's namespaces and root, before the         init.rs
//!                  user's process is executed
//! poststart        the runtime's namespaces, after the user's process      bin: start.rs
//!                  started (a failure is only reported)
//! poststop         the runtime's namespaces, after `delete` (a failure     bin: delete.rs
//!                  is only reported)
//! ```
//!
//! The process model runs the two that happen inside the container (the
//! binary cannot reach in there); the binary runs the other three. All of
//! them through [`run_all`]: `path` executed with `args` (the first is its
//! `argv[0]`) and only `env`, killed by its PID once `timeout` seconds
//! have passed.
//!
//! It imports nothing of its `container/` siblings.
//!
//! [`Hooks`]: crate::container::Hooks

use std::io::{Read as _, Write as _};
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub use oci_spec::runtime::Hook;

/// How long a hook may run when the bundle sets no `timeout`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The most of a failed hook's standard error kept for the message.
const STDERR_KEPT: usize = 4096;

// ANCHOR: run-all
/// Runs `hooks` one after the other, each given `state` (the state JSON)
/// on its standard input; the first that fails, or outlives its timeout,
/// stops the rest. `kind` names the list in the error, as config.md does
/// (`hooks.poststart`).
pub fn run_all(kind: &str, hooks: &[Hook], state: &str) -> Result<(), String> {
    for (i, hook) in hooks.iter().enumerate() {
        run(hook, state)
            .map_err(|why| format!("{kind}[{i}] ({}): {why}", hook.path().display()))?;
    }
    Ok(())
}

/// Runs every hook of a kind whose failure changes nothing (poststart,
/// poststop): runtime.md says to log a warning and go on "as if the hook
/// had succeeded", the hooks after it included. Returns each failure.
pub fn run_each(kind: &str, hooks: &[Hook], state: &str) -> Vec<String> {
    hooks
        .iter()
        .enumerate()
        .filter_map(|(i, hook)| {
            let why = run(hook, state).err()?;
            Some(format!("{kind}[{i}] ({}): {why}", hook.path().display()))
        })
        .collect()
}
// ANCHOR_END: run-all

/// One hook: spawned, fed the state, waited for within its timeout.
fn run(hook: &Hook, state: &str) -> Result<(), String> {
    let path: &Path = hook.path();
    let args = hook.args().clone().unwrap_or_default();
    let mut cmd = Command::new(path);
    cmd.arg0(args.first().map_or(path.as_os_str(), |a| std::ffi::OsStr::new(a)))
        .args(args.iter().skip(1))
        .env_clear()
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for pair in hook.env().iter().flatten() {
        if let Some((key, value)) = pair.split_once('=') {
            cmd.env(key, value);
        }
    }
    let mut child = cmd.spawn().map_err(|e| e.to_string())?;
    // A hook may exit without reading its stdin (EPIPE then): not an error.
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(state.as_bytes());
    }
    let limit = timeout(hook);
    let deadline = Instant::now() + limit;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            _ => {
                // Child::kill is kill(2) with SIGKILL on the hook's PID,
                // which is still ours to signal: not yet reaped.
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("killed: still running after {limit:?} (timeout)"));
            }
        }
    };
    if status.success() {
        return Ok(());
    }
    let mut stderr = Vec::new();
    if let Some(err) = child.stderr.take() {
        let _ = err.take(STDERR_KEPT as u64).read_to_end(&mut stderr);
    }
    Err(format!("{status}: {}", String::from_utf8_lossy(&stderr).trim()))
}

/// `timeout`, in seconds (config.md: greater than zero; spec.rs refuses
/// the others), or [`DEFAULT_TIMEOUT`].
pub fn timeout(hook: &Hook) -> Duration {
    hook.timeout().filter(|&s| s > 0).map_or(DEFAULT_TIMEOUT, |s| Duration::from_secs(s as u64))
}

/// The state JSON a hook gets, `state` with its `status` replaced (each
/// step of the life cycle has its own, runtime.md "Lifecycle").
pub fn with_status(state: &str, status: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(state) {
        Ok(mut value) => {
            value["status"] = serde_json::json!(status);
            value.to_string()
        }
        Err(_) => state.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(script: &str, timeout: Option<i64>) -> Hook {
        let mut hook = Hook::default();
        hook.set_path("/bin/sh".into());
        hook.set_args(Some(vec!["sh".into(), "-c".into(), script.into()]));
        hook.set_env(Some(vec!["WHO=hook".into()]));
        hook.set_timeout(timeout);
        hook
    }

    #[test]
    fn state_on_stdin_env_and_status() {
        let out = std::env::temp_dir().join(format!("mini-runc-hook-{}", std::process::id()));
        let script = format!("read -r line; echo \"$WHO $line\" > {}", out.display());
        run_all("hooks.poststart", &[hook(&script, None)], "{\"id\":\"x\"}\n").expect("runs");
        let seen = std::fs::read_to_string(&out).expect("the hook wrote");
        let _ = std::fs::remove_file(&out);
        assert_eq!(seen, "hook {\"id\":\"x\"}\n");
        let err = run_all("hooks.poststop", &[hook("echo bad >&2; exit 3", None)], "{}")
            .expect_err("fails");
        assert!(err.starts_with("hooks.poststop[0] (/bin/sh): exit status: 3: bad"), "{err}");
        assert_eq!(with_status("{\"status\":\"creating\"}", "running"), "{\"status\":\"running\"}");
    }

    #[test]
    fn a_hook_past_its_timeout_is_killed() {
        let started = Instant::now();
        let err = run_all("hooks.createRuntime", &[hook("exec sleep 30", Some(1))], "{}")
            .expect_err("killed");
        assert!(err.contains("timeout"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(5), "waited {:?}", started.elapsed());
    }
}
