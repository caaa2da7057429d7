//! A container's life as `ps`, `inspect` and `wait` report it, in Docker's
//! terms (its `State`): when the command started, when it ended, and with
//! which exit status.
//!
//! `run` records both ends in `<state>/lifecycle.json`, whether it waits
//! in the foreground or in the monitor of `run -d` (see monitor.rs); the
//! file stays with a kept container (teardown keeps everything but the
//! runtime's parts). The exit status also goes, written in place, into
//! `<state>/exit`, made empty at the start: a `wait` that opened it before
//! the end reads the status from its descriptor even after `--rm` removed
//! the directory, as Docker's `wait` prints the status of a `--rm`
//! container it was waiting for.
//!
//! A container whose mini-docker was SIGKILLed died with it (its PID 1
//! has `PR_SET_PDEATHSIG(SIGKILL)`) and nothing recorded its end; the
//! sweep that reclaims it (teardown.rs) records it as Docker does when a
//! container's shim is killed: exit status 137 (128 + SIGKILL), ended now.
//!
//! Times are written as nanoseconds since the Unix epoch and shown as
//! Docker shows them: RFC 3339 in UTC with nanoseconds
//! (`2024-05-01T12:00:00.123456789Z`), and, in `ps`, as a rough duration
//! ("Exited (3) 2 seconds ago", "Up 5 minutes").
//!
//! mini-docker's layer 2 of 2, the engine (see `tests/tests/layers.rs`).

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mini_runc::container::state::StateDir;
use serde_json::{Value, json};

/// What is known of a container's life; `None` for what has not happened
/// (or was not recorded: a container killed with its monitor).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Lifecycle {
    pub started_at: Option<SystemTime>,
    pub finished_at: Option<SystemTime>,
    pub exit_code: Option<u8>,
}

fn path(state: &StateDir) -> PathBuf {
    state.dir.join("lifecycle.json")
}

/// The exit status alone, written in place (see the module's doc).
fn exit_path(state: &StateDir) -> PathBuf {
    state.dir.join("exit")
}

/// The status a container whose mini-docker was killed ended with: its
/// PID 1 got SIGKILL (128 + 9).
pub const KILLED_WITH_ITS_MONITOR: u8 = 137;

fn nanos(t: SystemTime) -> u128 {
    t.duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos()
}

fn from_nanos(value: &Value) -> Option<SystemTime> {
    let n: u64 = value.as_u64()?;
    Some(UNIX_EPOCH + Duration::from_nanos(n))
}

impl Lifecycle {
    /// The record of `state`; empty when there is none.
    pub fn read(state: &StateDir) -> Lifecycle {
        let text = std::fs::read_to_string(path(state)).unwrap_or_default();
        let Ok(value) = serde_json::from_str::<Value>(&text) else { return Lifecycle::default() };
        Lifecycle {
            started_at: from_nanos(&value["started_at"]),
            finished_at: from_nanos(&value["finished_at"]),
            exit_code: value["exit_code"].as_u64().and_then(|c| u8::try_from(c).ok()),
        }
    }

    /// Written aside and renamed over the old record, so a reader never
    /// sees it half-written (rename(2) is atomic). A failure to write is
    /// not the container's: it only leaves `ps` with less to say.
    fn write(&self, state: &StateDir) {
        let value = json!({
            "started_at": self.started_at.map(nanos),
            "finished_at": self.finished_at.map(nanos),
            "exit_code": self.exit_code,
        });
        let (path, aside) = (path(state), state.dir.join("lifecycle.json.new"));
        if std::fs::write(&aside, value.to_string()).is_ok() {
            let _ = std::fs::rename(&aside, &path);
        }
    }
}

/// Just before the container starts.
pub fn record_start(state: &StateDir) {
    let _ = std::fs::File::create(exit_path(state));
    Lifecycle { started_at: Some(SystemTime::now()), ..Lifecycle::default() }.write(state);
}

/// Once its command has ended with `code` (128 + N for a signal N): into
/// the `exit` file `wait` may hold (the same inode, so no rename), then
/// the record.
pub fn record_exit(state: &StateDir, code: u8) {
    record_status(state, code);
    let mut life = Lifecycle::read(state);
    life.finished_at = Some(SystemTime::now());
    life.exit_code = Some(code);
    life.write(state);
}

/// The command's exit status alone, into the `exit` file a `wait` may hold
/// (the same inode, so no rename): all a container about to be removed
/// needs recorded.
pub fn record_status(state: &StateDir, code: u8) {
    use std::io::Write as _;
    if let Ok(mut file) = std::fs::OpenOptions::new().write(true).open(exit_path(state)) {
        let _ = file.write_all(format!("{code}\n").as_bytes());
    }
}

/// The sweep's record of a kept container found dead (see the module's
/// doc): one that started and has no exit status gets 137, ended now.
pub fn record_killed(state: &StateDir) {
    let life = Lifecycle::read(state);
    if life.started_at.is_some() && life.exit_code.is_none() {
        record_exit(state, KILLED_WITH_ITS_MONITOR);
    }
}

/// The `exit` file, opened by `wait` before the container ends.
pub fn open_exit(state: &StateDir) -> Option<std::fs::File> {
    std::fs::File::open(exit_path(state)).ok()
}

/// The status in an `exit` file opened earlier, if it was written.
pub fn read_exit(file: &mut std::fs::File) -> Option<u8> {
    use std::io::{Read as _, Seek as _};
    let mut text = String::new();
    file.seek(std::io::SeekFrom::Start(0)).ok()?;
    file.read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

/// Docker's timestamp: RFC 3339 in UTC, with nanoseconds; Docker's zero
/// time for `None`.
pub fn rfc3339(time: Option<SystemTime>) -> String {
    let Some(time) = time else { return "0001-01-01T00:00:00Z".to_owned() };
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    mini_runc::rfc3339::format(since.as_secs() as i64, Some(since.subsec_nanos()))
}

/// A duration as Docker's `ps` words it ("Less than a second", "2
/// seconds", "About a minute", "3 hours", "2 days"…).
pub fn human(duration: Duration) -> String {
    let seconds = duration.as_secs();
    let minutes = seconds / 60;
    // Hours are rounded, the smaller units cut.
    let hours = (duration.as_secs_f64() / 3600.0 + 0.5) as u64;
    match () {
        _ if seconds < 1 => "Less than a second".to_owned(),
        _ if seconds == 1 => "1 second".to_owned(),
        _ if seconds < 60 => format!("{seconds} seconds"),
        _ if minutes == 1 => "About a minute".to_owned(),
        _ if minutes < 60 => format!("{minutes} minutes"),
        _ if hours == 1 => "About an hour".to_owned(),
        _ if hours < 48 => format!("{hours} hours"),
        _ if hours < 24 * 14 => format!("{} days", hours / 24),
        _ if hours < 24 * 60 => format!("{} weeks", hours / 24 / 7),
        _ if hours < 24 * 730 => format!("{} months", hours / 24 / 30),
        _ => format!("{} years", seconds / 3600 / 24 / 365),
    }
}

/// How long ago `time` was (nothing, for a time in the future).
pub fn ago(time: SystemTime) -> Duration {
    SystemTime::now().duration_since(time).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_as_docker_writes_them() {
        assert_eq!(rfc3339(None), "0001-01-01T00:00:00Z");
        assert_eq!(rfc3339(Some(UNIX_EPOCH)), "1970-01-01T00:00:00.000000000Z");
        // `date -u -d @951782400.5 +%FT%T.%NZ`: the leap day of 2000.
        let leap = UNIX_EPOCH + Duration::from_millis(951_782_400_500);
        assert_eq!(rfc3339(Some(leap)), "2000-02-29T00:00:00.500000000Z");
        let later = UNIX_EPOCH + Duration::from_secs(1_798_761_599);
        assert_eq!(rfc3339(Some(later)), "2026-12-31T23:59:59.000000000Z");
    }

    #[test]
    fn durations_as_docker_words_them() {
        let s = Duration::from_secs;
        for (d, words) in [
            (Duration::from_millis(300), "Less than a second"),
            (s(1), "1 second"),
            (s(59), "59 seconds"),
            (s(61), "About a minute"),
            (s(150), "2 minutes"),
            (s(3600), "About an hour"),
            (s(3 * 3600), "3 hours"),
            (s(3 * 86_400), "3 days"),
            (s(20 * 86_400), "2 weeks"),
            (s(90 * 86_400), "3 months"),
            (s(800 * 86_400), "2 years"),
        ] {
            assert_eq!(human(d), words, "{d:?}");
        }
    }
}
