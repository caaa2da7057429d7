//! `mini-docker restart [-t SECS] NAME…`: `stop` if it runs, then start the
//! container again, detached, as `docker restart` does: the same ID, name
//! and upper layer (what it wrote is still there), its log going on, the
//! settings its `run` was given (decided again from the command line
//! `run` recorded, so a `--net container:NAME` or an image is looked up
//! anew). A container run with `--rm` is kept through the restart.
//!
//! The settings are decided before the container is stopped, so one that
//! no longer holds (a volume's source gone) leaves it running, with the
//! reason. Unlike Docker, which keeps what it decided at creation, the
//! command line is parsed again in `restart`'s own directory and
//! environment: a relative path, or an `-e KEY` that copies mini-docker's
//! own value, is read anew.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

use mini_runc::container::tenant;
use mini_runc::error::ContainerError;

use crate::commands::run::{self, Launched, RunArgs};
use crate::commands::{Dirs, Error, find, for_each};

/// The `run` flags of a recorded command line, parsed as `main` parses
/// them (`Err`: clap's message).
pub type ParseRun = fn(Vec<OsString>) -> Result<RunArgs, String>;

/// Each container restarted in turn; a name that finds none, or one that
/// cannot start again, is reported and the others still go (status 1).
pub fn restart(
    dirs: &Dirs,
    seconds: Option<u64>,
    containers: &[String],
    parse: ParseRun,
) -> Result<u8, Error> {
    Ok(for_each(containers, |key| {
        let state = find(dirs, key)?;
        let path = state.dir.join(run::RECORDED_ARGS);
        let recorded = std::fs::read(&path).map_err(|source| ContainerError::Io {
            what: "reading",
            path,
            source,
        })?;
        // Each argument ends with a NUL; an empty one is an argument too.
        let recorded = recorded.strip_suffix(b"\0").unwrap_or(&recorded);
        let argv: Vec<OsString> =
            recorded.split(|&b| b == 0).map(|arg| OsString::from_vec(arg.to_vec())).collect();
        let args = parse(argv).map_err(|why| Error::Recorded(key.to_owned(), why))?;
        let again = run::decide_again(dirs, &state, args)?;
        if let Some(init) = tenant::ready_init(&state) {
            state.mark_restarting()?;
            if let Err(e) = crate::commands::kill::stop_running(&state, init, seconds, key) {
                state.clear_restarting();
                return Err(e);
            }
        }
        match run::start_again(dirs, &state, again)? {
            // The monitor, once the restarted container has ended: its
            // work is done, and the other names are the foreground's.
            Launched::Monitor(code) => std::process::exit(code.into()),
            Launched::Foreground(0) => {
                say!("{key}");
                Ok(())
            }
            // The error line is printed already (see monitor.rs).
            Launched::Foreground(code) => Err(Error::NotRestarted(key.to_owned(), code)),
        }
    }))
}
