//! `delete` (runc-delete(8)): removes a stopped container's cgroups and
//! state; with `--force`, kills it first. The container's mounts lived in
//! its own mount namespace and went with its last process.

use std::path::Path;
use std::time::{Duration, Instant};

use clap::Args;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::Failure;
use crate::record::{self, Record};

/// How long a killed init may take to go.
const KILL_WAIT: Duration = Duration::from_secs(5);

#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// Kill the container first if it still runs.
    #[arg(long, short = 'f')]
    force: bool,
    id: String,
}

pub fn delete(root: &Path, args: &DeleteArgs) -> Result<(), Failure> {
    let record = match Record::open(root, &args.id) {
        Ok(record) => record,
        // As runc: --force on a container that does not exist (or whose
        // create failed half-way) succeeds, and removes what is there.
        Err(_) if args.force => {
            record::check_id(&args.id)?;
            let dir = root.join(&args.id);
            if dir.is_dir() {
                record::remove(&dir);
            }
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    let status = record.status();
    if status != "stopped" {
        if !args.force {
            return Err(format!(
                "cannot delete container {:?} that is not stopped: {status}",
                args.id
            ));
        }
        if let Some(pid) = record.pid() {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        let deadline = Instant::now() + KILL_WAIT;
        while record.alive() {
            if Instant::now() > deadline {
                return Err(format!(
                    "container {:?}: init survived SIGKILL for {KILL_WAIT:?}",
                    args.id
                ));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    // Whatever the container left running (without a PID namespace, its
    // init's end does not end the rest): everything in its cgroup goes.
    // record::remove kills what is still there, then removes the cgroup.
    let later = record::LaterHooks::read(&record.dir);
    let stopped = record::oci_state(&record.json, "stopped", 0);
    record::remove(&record.dir);
    // The bundle's poststop hooks, the container gone; a failure is only
    // reported (runtime.md, "Lifecycle").
    record::run_and_warn("hooks.poststop", &later.poststop, &stopped);
    Ok(())
}
