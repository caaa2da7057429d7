//! `mini-docker ps [-a]`: the containers in the state directory. Each is
//! running; kept (exited, run without `--rm`: its upper layer holds what
//! it wrote); or dead: its mini-docker (or `run -d`'s monitor) was killed,
//! so nobody cleaned up; `rm` does (and so does the next `run`).
//!
//! As with `docker ps`, plain `ps` lists the running containers and
//! `ps -a` (`--all`) every one.

use mini_runc::container::state::StateDir;

use crate::commands::{Dirs, Error};

pub fn ps(dirs: &Dirs, all: bool) -> Result<(), Error> {
    say!("{:<14} {:<20} STATUS", "CONTAINER ID", "NAME");
    for (id, name) in StateDir::list(&dirs.state) {
        let status = match (StateDir { dir: dirs.state.join(&id) }).status() {
            "exited" => "exited (kept)",
            other => other,
        };
        // Docker's `ps` shows only running containers; ours also shows the
        // dead ones. A dead container did not end by itself, and it still
        // holds what a running one holds (its cgroups, its bridge address,
        // its state) until `rm` or the next `run` frees them: hiding it
        // behind `-a` would hide what needs attention. A kept one holds
        // only its upper layer, on purpose.
        if !all && status == "exited (kept)" {
            continue;
        }
        say!("{:<14} {:<20} {status}", &id[..id.len().min(12)], name);
    }
    Ok(())
}
