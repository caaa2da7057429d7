//! A container's state on disk, `<root>/<id>/`: the process model's state
//! directory (its overlay's layers, `etc/`, the cgroups record) plus
//!
//! ```text
//! <id>/state.json    id, init's PID and start time, bundle, created, annotations
//! <id>/exec.fifo     present while the container is "created" (see start.rs)
//! <id>/seccomp.json  linux.seccomp, as the profile reader takes it
//! <id>/hooks.json    hooks.poststart and hooks.poststop, for `start` and `delete`
//! <id>/hook-state.json  the state JSON the hooks run inside the container
//!                    read (written once init's PID is known)
//! ```
//!
//! The status is not stored but seen: "stopped" once init is gone (its PID
//! no longer names the process with the recorded start time), "created"
//! while the exec fifo is there, "running" after.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use std::io::Write as _;

use mini_runc::container::hook_programs;
use mini_runc::container::state::{Keep, StateDir, start_time};
use serde_json::{Value, json};

use crate::Failure;

pub const STATE: &str = "state.json";
pub const FIFO: &str = "exec.fifo";

/// runc's rule for IDs: letters, digits, `_`, `+`, `-`, `.`.
pub fn check_id(id: &str) -> Result<(), Failure> {
    let ok = |c: char| c.is_ascii_alphanumeric() || "_+-.".contains(c);
    if id.is_empty() || id == "." || id == ".." || !id.chars().all(ok) {
        return Err(format!("invalid container id {id:?}: use letters, digits, _ + - ."));
    }
    Ok(())
}

/// What `state` and the other verbs read.
#[derive(Debug)]
pub struct Record {
    pub dir: PathBuf,
    pub json: Value,
}

impl Record {
    /// The container `id` under `root`, or runc's "does not exist".
    pub fn open(root: &Path, id: &str) -> Result<Record, Failure> {
        check_id(id)?;
        let dir = root.join(id);
        let text = std::fs::read_to_string(dir.join(STATE))
            .map_err(|_| format!("container {id:?} does not exist"))?;
        let json =
            serde_json::from_str(&text).map_err(|e| format!("{:?}: {e}", dir.join(STATE)))?;
        Ok(Record { dir, json })
    }

    /// Writes `state.json` aside, then renames it into place (rename(2) is
    /// atomic: a concurrent `state` never reads half a file).
    pub fn write(dir: &Path, json: &Value) -> Result<(), Failure> {
        let (path, aside) = (dir.join(STATE), dir.join("state.json.new"));
        std::fs::write(&aside, json.to_string())
            .and_then(|()| std::fs::rename(&aside, &path))
            .map_err(|e| format!("writing {path:?}: {e}"))
    }

    pub fn pid(&self) -> Option<i32> {
        self.json["pid"].as_i64().and_then(|p| i32::try_from(p).ok()).filter(|&p| p > 0)
    }

    /// Whether init still runs: its PID names the process that started
    /// at the recorded time (a reused PID names another one).
    pub fn alive(&self) -> bool {
        let Some(pid) = self.pid() else { return false };
        let recorded = self.json["start"].as_u64();
        recorded.is_some() && start_time(pid as u32) == recorded
    }

    pub fn status(&self) -> &'static str {
        if !self.alive() {
            "stopped"
        } else if self.dir.join(FIFO).exists() {
            "created"
        } else {
            "running"
        }
    }

    /// The OCI state (runtime.md, "State"), with runc's extra `rootfs`,
    /// `created` and `owner`.
    pub fn oci_state(&self) -> Value {
        let status = self.status();
        let pid = if status == "stopped" { 0 } else { self.pid().unwrap_or(0) };
        oci_state(&self.json, status, pid.into())
    }
}

/// The OCI state of the container `record` describes, at `status`, with
/// init's `pid` (0 once stopped): what `state` prints and what hooks read
/// on their stdin.
pub fn oci_state(record: &Value, status: &str, pid: i64) -> Value {
    let mut state = json!({
        "ociVersion": record["ociVersion"],
        "id": record["id"],
        "pid": pid,
        "status": status,
        "bundle": record["bundle"],
        "rootfs": record["rootfs"],
        "created": record["created"],
        "owner": "",
    });
    if record["annotations"].as_object().is_some_and(|a| !a.is_empty()) {
        state["annotations"] = record["annotations"].clone();
    }
    state
}

pub const HOOKS: &str = "hooks.json";
pub const HOOK_STATE: &str = "hook-state.json";

/// The hooks run outside the container after `create`: poststart (by
/// `start`) and poststop (by `delete`), kept in the state directory, since
/// the bundle's `config.json` may change or go meanwhile.
#[derive(Debug, Default)]
pub struct LaterHooks {
    pub poststart: Vec<oci_spec::runtime::Hook>,
    pub poststop: Vec<oci_spec::runtime::Hook>,
}

impl LaterHooks {
    pub fn write(&self, dir: &Path) -> Result<(), Failure> {
        let path = dir.join(HOOKS);
        let text = json!({ "poststart": self.poststart, "poststop": self.poststop }).to_string();
        std::fs::write(&path, text).map_err(|e| format!("writing {path:?}: {e}"))
    }

    /// The hooks recorded in `dir` (none when there is no file).
    pub fn read(dir: &Path) -> LaterHooks {
        let json: Value = std::fs::read_to_string(dir.join(HOOKS))
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_default();
        let list = |key: &str| serde_json::from_value(json[key].clone()).unwrap_or_default();
        LaterHooks { poststart: list("poststart"), poststop: list("poststop") }
    }
}

/// Runs a kind of hooks whose failure cannot change the container's fate
/// (poststart, poststop: runtime.md says to log it): a warning on stderr.
pub fn run_and_warn(kind: &str, hooks: &[oci_spec::runtime::Hook], state: &Value) {
    for failure in hook_programs::run_each(kind, hooks, &state.to_string()) {
        let _ = writeln!(std::io::stderr(), "mini-runc: warning: {failure}");
    }
}

/// The record a new container starts with (no PID yet).
pub fn new_record(id: &str, bundle: &Path, rootfs: &Path, spec: &oci_spec::runtime::Spec) -> Value {
    json!({
        "ociVersion": spec.version(),
        "id": id,
        "pid": 0,
        "start": null,
        "bundle": bundle,
        "rootfs": rootfs,
        "created": rfc3339(SystemTime::now()),
        "annotations": spec.annotations().clone().unwrap_or_default(),
    })
}

/// Fills in init's PID and start time.
pub fn with_pid(mut record: Value, pid: i32) -> Value {
    record["pid"] = json!(pid);
    record["start"] = json!(start_time(pid as u32));
    record
}

/// `2026-12-07T05:22:46.123456789Z`: RFC 3339 in UTC, as runc writes
/// times.
pub fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    mini_runc::rfc3339::format(d.as_secs() as i64, Some(d.subsec_nanos()))
}

/// Removes what a container leaves, through the process model's one
/// teardown: its cgroups, then its state directory (the mounts lived in
/// its mount namespace and went with it).
pub fn remove(dir: &Path) {
    StateDir { dir: dir.to_owned() }.tear_down(Keep::Nothing);
}

#[cfg(test)]
mod tests {
    #[test]
    fn rfc3339_of_known_instants() {
        let at = |s| std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(s);
        assert_eq!(super::rfc3339(at(0)), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(super::rfc3339(at(1_709_251_199)), "2024-02-29T23:59:59.000000000Z");
    }
}
