//! `mini-docker ps`: the containers in the state directory, running or
//! kept (run without `--rm`: their upper layer holds what they wrote).

use crate::commands::Dirs;
use crate::container::state::StateDir;
use crate::error::Error;

pub fn ps(dirs: &Dirs) -> Result<(), Error> {
    StateDir::sweep(&dirs.state);
    say!("{:<14} {:<20} STATUS", "CONTAINER ID", "NAME");
    for (id, name, running) in StateDir::list(&dirs.state) {
        let status = if running { "running" } else { "exited (kept)" };
        say!("{:<14} {:<20} {status}", &id[..id.len().min(12)], name);
    }
    Ok(())
}
