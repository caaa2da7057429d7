//! `mini-docker rm NAME|ID…`: remove kept containers and their upper layer.

use crate::commands::Dirs;
use crate::container::state::StateDir;
use crate::error::{Error, UsageError};

pub fn rm(dirs: &Dirs, containers: &[String]) -> Result<(), Error> {
    for key in containers {
        let state = StateDir::find(&dirs.state, key)
            .ok_or_else(|| UsageError::NoSuchContainer(key.clone()))?;
        if state.running() {
            return Err(UsageError::StillRunning(key.clone()).into());
        }
        state.remove();
        say!("{key}");
    }
    Ok(())
}
