//! `mini-docker wait NAME…`: waits until each container has ended and
//! prints its exit status, one line each, as Docker's `wait`. The status
//! is the one `run` recorded (lifecycle.rs), read from the `exit` file
//! `wait` opened first: a container removed on exit (`--rm`) takes its
//! directory along, but not the file `wait` holds open, so its status is
//! printed too, as Docker's.
//!
//! There is no end to the wait but the container's, as with Docker: the
//! state is looked at every 50 ms (the owner of a container is not a
//! child of `wait`, so there is no waitpid to block in).

use std::time::Duration;

use crate::commands::{Dirs, Error, find, for_each};
use crate::lifecycle::{self, Lifecycle};

pub fn wait(dirs: &Dirs, containers: &[String]) -> Result<u8, Error> {
    Ok(for_each(containers, |key| {
        let state = find(dirs, key)?;
        let mut exit = lifecycle::open_exit(&state);
        while state.running() {
            std::thread::sleep(Duration::from_millis(50));
        }
        let code = Lifecycle::read(&state).exit_code;
        match code.or_else(|| exit.as_mut().and_then(lifecycle::read_exit)) {
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
