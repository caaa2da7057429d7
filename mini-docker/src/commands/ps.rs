//! `mini-docker ps [-a]`: the containers in the state directory. Each is
//! running; or kept (exited, run without `--rm`: its upper layer holds
//! what it wrote). A container whose mini-docker (or `run -d`'s monitor)
//! was killed, so that nobody cleaned up, is reclaimed first, as `run`
//! does: torn down, and kept or gone as it would have been.
//!
//! As with `docker ps`, plain `ps` lists the running containers and
//! `ps -a` (`--all`) every one.

use mini_runc::container::lock::StateLock;
use mini_runc::container::state::StateDir;

use crate::commands::{Dirs, Error};
use crate::teardown;

pub fn ps(dirs: &Dirs, all: bool) -> Result<(), Error> {
    // The sweep `run` makes, under the same lock; not where there is no
    // state directory yet (`ps` creates nothing).
    if dirs.state.is_dir() {
        let _lock = StateLock::acquire(&dirs.state)?;
        teardown::sweep(&dirs.state);
    }
    say!("{:<14} {:<20} STATUS", "CONTAINER ID", "NAME");
    for (id, name) in StateDir::list(&dirs.state) {
        let status = match (StateDir { dir: dirs.state.join(&id) }).status() {
            "exited" => "exited (kept)",
            other => other,
        };
        // Docker's `ps` shows only running containers; ours also shows a
        // dead one (its mini-docker killed between the sweep above and
        // here): it still holds what a running one holds until the next
        // sweep frees it, and hiding it behind `-a` would hide what needs
        // attention. A kept one holds only its upper layer, on purpose.
        if !all && status == "exited (kept)" {
            continue;
        }
        say!("{:<14} {:<20} {status}", &id[..id.len().min(12)], name);
    }
    Ok(())
}
