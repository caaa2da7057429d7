//! One file per command-line verb, like youki's `commands/`: each turns its
//! arguments into calls on the engine (`image/`, `network/`, the monitor)
//! and on mini-runc (`container/`, `cgroups/`, `security/`), prints, and
//! picks the exit status.
//!
//! mini-docker's layer 1 of 2, the top (see `main.rs` and
//! `tests/tests/layers.rs`): it may import every other module, and none
//! may import it. It is the only place that knows clap: `run`'s flags for
//! `security/`, `cgroups/` and `network/` are clap structs here
//! (`run.rs`), turned into those modules' plain structs. [`Dirs`] stays
//! here too: the layers below get its two paths, `--root` and
//! `--data-root`, as plain paths. So does [`enum@Error`], every module's
//! error in one type, which only `main` needs.

pub mod exec;
pub mod format;
pub mod images;
pub mod info;
pub mod inspect;
pub mod kill;
pub mod load;
pub mod logs;
pub mod port;
pub mod ps;
pub mod restart;
pub mod rm;
pub mod run;
pub mod top;
pub mod wait;

use std::path::PathBuf;

use mini_runc::cgroups::CgroupError;
use mini_runc::container::process;
use mini_runc::container::state::StateDir;
use mini_runc::error::{ContainerError, RootfsError, UsageError};
use mini_runc::security::SecurityError;
use nix::unistd::geteuid;

use crate::image::ImageError;
use crate::network::NetworkError;

/// What a command returns to `main`: an error of the engine (an image, the
/// network) or of the layers below it, printed as its one line, and exit
/// status 125.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Usage(#[from] UsageError),
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error(transparent)]
    Network(#[from] NetworkError),
    #[error(transparent)]
    Rootfs(#[from] RootfsError),
    #[error(transparent)]
    Container(#[from] ContainerError),
    #[error(transparent)]
    Cgroup(#[from] CgroupError),
    #[error(transparent)]
    Security(#[from] SecurityError),
    #[error(transparent)]
    WriteBundle(#[from] crate::bundle::BundleError),
    /// The bundle the engine wrote, refused by the runtime's reading of it.
    #[error(transparent)]
    Bundle(#[from] mini_runc::container::spec::SpecError),
    /// A flag of the engine's own, refused (`--env-file`, `--tmpfs`,
    /// `--label`).
    #[error("{0}")]
    Flag(String),
    /// An ID prefix that starts more than one container's ID.
    #[error("container ID prefix {0:?} is ambiguous: it starts {1} IDs (give more of it)")]
    Ambiguous(String, usize),
    /// `logs` of a container run in the foreground.
    #[error("container {0:?} has no log: only a container run with -d keeps one")]
    NoLog(String),
    /// `wait` for a container removed on exit (`--rm`), or dead.
    #[error("container {0:?} was removed on exit (--rm): its status went with it")]
    Gone(String),
    #[error("container {0:?} ended without a recorded status (its mini-docker was killed)")]
    NoStatus(String),
    /// `restart` of a container whose recorded `run` command line no
    /// longer parses (a mini-docker of another version wrote it).
    #[error("container {0:?}: its recorded run command line: {1}")]
    Recorded(String, String),
    /// `restart`: the container did not start again (its error is printed).
    #[error("container {0:?} did not start again (status {1})")]
    NotRestarted(String, u8),
    /// `port NAME PORT` for a port not published.
    #[error("container {0:?} publishes no port {1}")]
    NoPort(String, String),
    /// A `--format` template that cannot be used (see format.rs).
    #[error("--format {0:?}: {1}")]
    Template(String, String),
    /// Of the process model, where one step may fail in several of the
    /// kinds above (see mini-runc's `error.rs`).
    #[error(transparent)]
    Runtime(#[from] mini_runc::error::Error),
}

/// Docker's `-e` of `run` and `exec`, applied to `env` in order:
/// `KEY=VALUE` sets KEY, and `KEY` alone copies mini-docker's own value
/// (or unsets KEY, when mini-docker has none). A later value of a key
/// replaces an earlier one. What reaches the runtime then follows its one
/// rule, `KEY=VALUE` without a NUL byte (mini-runc's
/// `container/process.rs`).
pub fn apply_env(env: &mut Vec<String>, entries: &[String]) -> Result<(), UsageError> {
    for entry in entries {
        let bad = || UsageError::BadEnv(entry.clone());
        if entry.contains('=') {
            process::set_env(env, entry).map_err(|_| bad())?;
            continue;
        }
        if entry.is_empty() || entry.contains('\0') {
            return Err(bad());
        }
        env.retain(|e| e.split_once('=').map(|(key, _)| key) != Some(entry.as_str()));
        if let Ok(value) = std::env::var(entry) {
            process::set_env(env, &format!("{entry}={value}")).map_err(|_| bad())?;
        }
    }
    Ok(())
}

/// The container `key` names: the one whose ID or name it is, else the
/// one whose ID it starts, as Docker looks them up. A prefix that starts
/// several IDs is an error of its own: "no such container" would be
/// wrong.
pub fn find(dirs: &Dirs, key: &str) -> Result<StateDir, Error> {
    let all = StateDir::list(&dirs.state);
    let exact = all.iter().find(|(id, name)| id == key || name == key);
    let prefixed: Vec<&String> =
        all.iter().map(|(id, _)| id).filter(|id| !key.is_empty() && id.starts_with(key)).collect();
    let id: &String = match (exact, prefixed.as_slice()) {
        (Some((id, _)), _) => id,
        (None, [id]) => id,
        (None, []) => return Err(UsageError::NoSuchContainer(key.to_owned()).into()),
        (None, many) => return Err(Error::Ambiguous(key.to_owned(), many.len())),
    };
    Ok(StateDir { dir: dirs.state.join(id) })
}

/// Runs `each` on every container of `keys`, going on past a failure as
/// Docker's `rm`, `stop`, `kill` do: each failure is printed as its own
/// line; the status is 1 if there was any.
pub fn for_each(keys: &[String], mut each: impl FnMut(&str) -> Result<(), Error>) -> u8 {
    let mut status = 0;
    for key in keys {
        if let Err(e) = each(key) {
            say_err!("mini-docker: {e}");
            status = 1;
        }
    }
    status
}

/// The annotations of the bundle `run` wrote (see bundle.rs): the name,
/// the labels, the `stop` settings; empty when there is no bundle.
pub fn annotations(state: &StateDir) -> serde_json::Map<String, serde_json::Value> {
    let text = std::fs::read_to_string(state.dir.join("config.json")).unwrap_or_default();
    let spec: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    spec["annotations"].as_object().cloned().unwrap_or_default()
}

/// Where mini-docker keeps its files: per-container state (upper layers,
/// generated /etc files, mount points) and imported images.
#[derive(Debug, Clone)]
pub struct Dirs {
    pub state: PathBuf,
    pub data: PathBuf,
}

impl Dirs {
    /// The defaults follow the XDG rules when rootless, so an unprivileged
    /// user never needs to write outside their own directories.
    pub fn new(state: Option<PathBuf>, data: Option<PathBuf>) -> Dirs {
        let uid = geteuid();
        let env_dir =
            |key: &str| std::env::var_os(key).filter(|v| !v.is_empty()).map(PathBuf::from);
        let state = state.unwrap_or_else(|| {
            if uid.is_root() {
                PathBuf::from("/run/mini-docker")
            } else if let Some(dir) = env_dir("XDG_RUNTIME_DIR") {
                dir.join("mini-docker")
            } else {
                PathBuf::from(format!("/tmp/mini-docker-{uid}"))
            }
        });
        let data = data.unwrap_or_else(|| {
            if uid.is_root() {
                PathBuf::from("/var/lib/mini-docker")
            } else if let Some(dir) = env_dir("XDG_DATA_HOME") {
                dir.join("mini-docker")
            } else if let Some(home) = env_dir("HOME") {
                home.join(".local/share/mini-docker")
            } else {
                PathBuf::from(format!("/tmp/mini-docker-data-{uid}"))
            }
        });
        Dirs { state, data }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_flags_set_copy_and_unset() {
        // SAFETY: this test alone reads or writes this variable.
        unsafe { std::env::set_var("MINI_DOCKER_TEST_COPIED", "mine") };
        let mut env = vec!["A=1".to_owned(), "MINI_DOCKER_TEST_GONE=x".to_owned()];
        let flags = ["A=2", "MINI_DOCKER_TEST_COPIED", "MINI_DOCKER_TEST_GONE", "B=b=c"];
        apply_env(&mut env, &flags.map(str::to_owned)).expect("valid flags");
        assert_eq!(env, ["A=2", "MINI_DOCKER_TEST_COPIED=mine", "B=b=c"]);
        for bad in ["=x", "", "A=\0", "\0"] {
            let refused = apply_env(&mut env, &[bad.to_owned()]);
            assert!(matches!(refused, Err(UsageError::BadEnv(_))), "{bad:?}: {refused:?}");
        }
    }
}
