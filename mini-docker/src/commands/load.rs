//! `mini-docker load [-i FILE]`: the images of an archive `docker save`,
//! `podman save` or `skopeo copy` wrote (from standard input when no file
//! is given, as `docker load`), into the store (see `image/load.rs`).
//!
//! Prints what Docker prints, one line per tag (`Loaded image:
//! localhost/busybox:1`), or per image without one (`Loaded image ID:
//! sha256:…`). While it works, a progress bar on standard error, only when
//! that is a terminal: a log file or a test gets no bar.

use std::io::IsTerminal;
use std::path::Path;

use crate::commands::{Dirs, Error};
use crate::image::Progress;
use crate::image::load::{self, Input};

pub fn load(dirs: &Dirs, input: Option<&Path>) -> Result<(), Error> {
    let input = match input {
        Some(path) if path != Path::new("-") => Input::Path(path),
        _ => Input::Stdin,
    };
    let bar = Bar::new();
    let loaded = load::load(&dirs.data, input, &bar)?;
    for note in loaded.notes {
        say_err!("mini-docker: {note}");
    }
    for (id, tags) in loaded.images {
        if tags.is_empty() {
            say!("Loaded image ID: sha256:{id}");
        }
        for tag in tags {
            say!("Loaded image: {tag}");
        }
    }
    Ok(())
}

/// Bytes and layers as they go, on one line of a terminal redrawn in
/// place (`\r`), at most ten times a second. Hand-written rather than a
/// crate's: a crate's bar brought floating-point code, and with it libm,
/// into every start of the binary, for a line only `load` draws.
pub struct Bar(Option<std::cell::RefCell<Drawn>>);

/// What the line shows, and when it was last drawn.
struct Drawn {
    label: String,
    done: u64,
    total: u64,
    last: Option<std::time::Instant>,
}

impl Bar {
    /// A bar when standard error is a terminal; else nothing is drawn.
    pub fn new() -> Bar {
        if !std::io::stderr().is_terminal() {
            return Bar(None);
        }
        let drawn =
            Drawn { label: "reading the archive".to_owned(), done: 0, total: 0, last: None };
        Bar(Some(std::cell::RefCell::new(drawn)))
    }

    /// Redraws the line, unless it was drawn less than 100 ms ago.
    fn draw(drawn: &mut Drawn, force: bool) {
        let now = std::time::Instant::now();
        if !force && drawn.last.is_some_and(|t| now.duration_since(t).as_millis() < 100) {
            return;
        }
        drawn.last = Some(now);
        let size = |b: u64| format!("{}.{} MB", b / 1_000_000, b % 1_000_000 / 100_000);
        const WIDTH: u64 = 30;
        let line =
            if let Some(filled) = (drawn.done.min(drawn.total) * WIDTH).checked_div(drawn.total) {
                let filled = filled as usize;
                let bar = format!("{}>{}", "=".repeat(filled), " ".repeat(WIDTH as usize - filled));
                format!("{} [{bar}] {}/{}", drawn.label, size(drawn.done), size(drawn.total))
            } else {
                format!("{}: {}", drawn.label, size(drawn.done))
            };
        // \r back to the line's start, \x1b[K clears what is left of the old one.
        say_err_inline(&format!("\r{line}\x1b[K"));
    }
}

/// Writes to standard error without a newline; a failed write is no
/// reason to stop a load.
fn say_err_inline(text: &str) {
    use std::io::Write as _;
    let mut err = std::io::stderr();
    let _ = err.write_all(text.as_bytes());
    let _ = err.flush();
}

impl Progress for Bar {
    fn layer(&self, n: usize, of: usize, digest: &str, total: u64) {
        let Some(drawn) = &self.0 else { return };
        let mut drawn = drawn.borrow_mut();
        if of == 0 {
            drawn.label = "reading the archive".to_owned();
        } else {
            if n == 1 {
                (drawn.done, drawn.total) = (0, total);
            }
            let short = digest.get(..12).unwrap_or(digest);
            drawn.label = format!("layer {n}/{of} {short}");
        }
        Bar::draw(&mut drawn, true);
    }

    fn bytes(&self, n: u64) {
        let Some(drawn) = &self.0 else { return };
        let mut drawn = drawn.borrow_mut();
        drawn.done += n;
        Bar::draw(&mut drawn, false);
    }

    fn done(&self) {
        if self.0.is_some() {
            say_err_inline("\r\x1b[K");
        }
    }
}
