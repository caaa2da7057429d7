//! `mini-docker logs [-f] [--tail N] NAME`: what a detached container
//! (`run -d`) wrote to its stdout and stderr, kept in `<state>/log` by its
//! monitor. A container run in the foreground wrote to the terminal and
//! has no log (Docker keeps one for every container).

use std::io::{Read, Seek, SeekFrom, Write};
use std::time::Duration;

use mini_runc::error::ContainerError;

use crate::commands::{Dirs, Error, find};
use crate::monitor::log_path;

/// `--tail`: every line, or the last N.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tail {
    All,
    Last(usize),
}

/// `all` or a number, as Docker's `--tail` takes it.
pub fn parse_tail(text: &str) -> Result<Tail, String> {
    match text {
        "all" => Ok(Tail::All),
        n => n.parse().map(Tail::Last).map_err(|_| format!("{n:?}: use a number of lines, or all")),
    }
}

pub fn logs(dirs: &Dirs, key: &str, follow: bool, tail: Tail) -> Result<(), Error> {
    let state = find(dirs, key)?;
    let path = log_path(&state);
    let io = |source| ContainerError::Io { what: "reading", path: path.clone(), source };
    let mut file = match std::fs::File::open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::NoLog(key.to_owned()));
        }
        Err(e) => return Err(io(e).into()),
    };
    let mut out = std::io::stdout();
    let mut buffer = Vec::new();
    let mut first = true;
    loop {
        // Whether it ran *before* reading: what it wrote last is read too.
        let running = follow && state.running();
        buffer.clear();
        file.read_to_end(&mut buffer).map_err(io)?;
        let from = if first { tail_start(&buffer, tail) } else { 0 };
        first = false;
        if out.write_all(&buffer[from..]).and_then(|()| out.flush()).is_err() {
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

/// Where the last `tail` lines of `text` start (a last line without its
/// newline counts as one).
fn tail_start(text: &[u8], tail: Tail) -> usize {
    let Tail::Last(lines) = tail else { return 0 };
    if lines == 0 {
        return text.len();
    }
    let body = text.strip_suffix(b"\n").unwrap_or(text);
    body.iter()
        .enumerate()
        .rev()
        .filter(|&(_, &b)| b == b'\n')
        .nth(lines - 1)
        .map_or(0, |(at, _)| at + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tails() {
        let text = b"a\nb\nc\n";
        let from = |tail| String::from_utf8_lossy(&text[tail_start(text, tail)..]).into_owned();
        assert_eq!(from(Tail::All), "a\nb\nc\n");
        assert_eq!(from(Tail::Last(2)), "b\nc\n");
        assert_eq!(from(Tail::Last(5)), "a\nb\nc\n");
        assert_eq!(from(Tail::Last(0)), "");
        assert_eq!(&b"a\nb"[tail_start(b"a\nb", Tail::Last(1))..], b"b");
        assert!(parse_tail("x").is_err());
    }
}
