//! `mini-docker rm NAME|ID…`: remove kept containers and their upper layer.

use mini_runc::container::state::{Keep, StateDir};
use mini_runc::error::UsageError;

use crate::commands::{Dirs, Error};
use crate::teardown;

pub fn rm(dirs: &Dirs, containers: &[String], force: bool) -> Result<(), Error> {
    // Not while `run` creates a container (see mini-runc's container/lock.rs).
    let _lock = mini_runc::container::lock::StateLock::acquire(&dirs.state)?;
    for key in containers {
        let state = StateDir::find(&dirs.state, key)
            .ok_or_else(|| UsageError::NoSuchContainer(key.clone()))?;
        if state.running() && force {
            // -f: SIGKILL, then wait until its mini-docker has ended.
            teardown::kill_and_wait(&state, key)?;
        }
        if state.running() {
            return Err(UsageError::StillRunning(key.clone()).into());
        }
        // Exited: only its kept files are left. Dead (its mini-docker was
        // killed before it could clean up): its lease and cgroups too.
        teardown::tear_down(&state, Keep::Nothing);
        say!("{key}");
    }
    Ok(())
}
