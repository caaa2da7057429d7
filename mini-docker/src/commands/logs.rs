//! `mini-docker logs [-f] NAME`: what a detached container (`run -d`) wrote
//! to its stdout and stderr, kept in `<state>/log` by its monitor.

use std::io::{Read, Seek, SeekFrom, Write};
use std::time::Duration;

use mini_runc::container::state::StateDir;
use mini_runc::error::{ContainerError, UsageError};

use crate::commands::{Dirs, Error};
use crate::monitor::log_path;

pub fn logs(dirs: &Dirs, key: &str, follow: bool) -> Result<(), Error> {
    let state = StateDir::find(&dirs.state, key)
        .ok_or_else(|| UsageError::NoSuchContainer(key.to_owned()))?;
    let path = log_path(&state);
    let io = |source| ContainerError::Io { what: "reading", path: path.clone(), source };
    let mut file = std::fs::File::open(&path).map_err(io)?;
    let mut out = std::io::stdout();
    let mut buffer = Vec::new();
    loop {
        // Whether it ran *before* reading: what it wrote last is read too.
        let running = follow && state.running();
        buffer.clear();
        file.read_to_end(&mut buffer).map_err(io)?;
        if out.write_all(&buffer).and_then(|()| out.flush()).is_err() {
            return Ok(()); // the reader went away (`logs -f NAME | head`)
        }
        if !running {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
        // A log truncated meanwhile is read from its start again.
        let position = file.stream_position().map_err(io)?;
        if file.metadata().map_err(io)?.len() < position {
            file.seek(SeekFrom::Start(0)).map_err(io)?;
        }
    }
}
