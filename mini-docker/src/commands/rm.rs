//! `mini-docker rm [-f] NAME|ID…`: remove kept containers and their upper
//! layer. As Docker's, it goes on past a name it cannot remove, reports
//! each one on a line of its own, and exits 1 if there was any.

use mini_runc::container::state::Keep;
use mini_runc::error::UsageError;

use crate::commands::{Dirs, Error, find, for_each};
use crate::teardown;

pub fn rm(dirs: &Dirs, containers: &[String], force: bool) -> Result<u8, Error> {
    // Not while `run` creates a container (see mini-runc's container/lock.rs).
    let _lock = mini_runc::container::lock::StateLock::acquire(&dirs.state)?;
    Ok(for_each(containers, |key| {
        let state = find(dirs, key)?;
        if state.running() && force {
            // -f: SIGKILL, then wait until its mini-docker has ended.
            teardown::kill_and_wait(&state, key)?;
        }
        if state.running() {
            return Err(UsageError::StillRunning(key.to_owned()).into());
        }
        // Exited: only its kept files are left. Dead (its mini-docker was
        // killed before it could clean up): its lease and cgroups too.
        teardown::tear_down(&state, Keep::Nothing);
        say!("{key}");
        Ok(())
    }))
}
