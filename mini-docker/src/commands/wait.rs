//! `mini-docker wait NAME…`: waits until each container has ended and
//! prints its exit status, one line each, as Docker's `wait`. The status
//! is the one `run` recorded (lifecycle.rs); a container removed on exit
//! (`--rm`) takes it along, so `wait` reports that instead (Docker's
//! daemon keeps it).
//!
//! There is no end to the wait but the container's, as with Docker: the
//! state is looked at every 50 ms (the owner of a container is not a
//! child of `wait`, so there is no waitpid to block in).

use std::time::Duration;

use crate::commands::{Dirs, Error, find, for_each};
use crate::lifecycle::Lifecycle;

pub fn wait(dirs: &Dirs, containers: &[String]) -> Result<u8, Error> {
    Ok(for_each(containers, |key| {
        let state = find(dirs, key)?;
        while state.running() {
            std::thread::sleep(Duration::from_millis(50));
        }
        match Lifecycle::read(&state).exit_code {
            Some(code) => {
                say!("{code}");
                Ok(())
            }
            None if !state.dir.exists() => Err(Error::Gone(key.to_owned())),
            // Dead: its mini-docker was killed, so no status was recorded.
            None => Err(Error::NoStatus(key.to_owned())),
        }
    }))
}
