//! `mini-docker ps`: the containers in the state directory, running or
//! kept (run without `--rm`: their upper layer holds what they wrote), or
//! dead: their mini-docker (or `run -d`'s monitor) was killed, so nobody
//! cleaned up; `rm` does (and so does the next `run`).

use crate::commands::Dirs;
use crate::container::state::StateDir;
use crate::error::Error;

pub fn ps(dirs: &Dirs) -> Result<(), Error> {
    say!("{:<14} {:<20} STATUS", "CONTAINER ID", "NAME");
    for (id, name, running) in StateDir::list(&dirs.state) {
        let dead = !running && dirs.state.join(&id).join("owner").exists();
        let status = match (running, dead) {
            (true, _) => "running",
            (false, true) => "dead",
            (false, false) => "exited (kept)",
        };
        say!("{:<14} {:<20} {status}", &id[..id.len().min(12)], name);
    }
    Ok(())
}
