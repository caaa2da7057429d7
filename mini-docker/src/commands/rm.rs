//! `mini-docker rm NAME|ID…`: remove kept containers and their upper layer.

use mini_runc::container::state::StateDir;
use mini_runc::error::UsageError;

use crate::commands::{Dirs, Error};

pub fn rm(dirs: &Dirs, containers: &[String], force: bool) -> Result<(), Error> {
    // Not while `run` creates a container (see mini-runc's container/lock.rs).
    let _lock = mini_runc::container::lock::StateLock::acquire(&dirs.state)?;
    for key in containers {
        let state = StateDir::find(&dirs.state, key)
            .ok_or_else(|| UsageError::NoSuchContainer(key.clone()))?;
        if state.running() && force {
            // -f: SIGKILL, then wait for its mini-docker to end (see kill.rs).
            crate::commands::kill::kill_and_wait(&state, key)?;
        }
        if state.running() {
            return Err(UsageError::StillRunning(key.clone()).into());
        }
        if state.dir.join("owner").exists() {
            // Dead: its mini-docker was killed before it could clean up
            // what lives outside the state directory.
            mini_runc::cgroups::remove(&state.dir);
            crate::network::remove(&state.dir);
        }
        state.remove();
        say!("{key}");
    }
    Ok(())
}
