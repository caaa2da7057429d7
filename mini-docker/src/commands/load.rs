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

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

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

/// Bytes and layers as they go, drawn by `indicatif` on a terminal.
pub struct Bar(Option<ProgressBar>);

impl Bar {
    /// A bar when standard error is a terminal; else nothing is drawn.
    pub fn new() -> Bar {
        if !std::io::stderr().is_terminal() {
            return Bar(None);
        }
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        Bar(Some(bar))
    }
}

impl Progress for Bar {
    fn layer(&self, n: usize, of: usize, digest: &str, total: u64) {
        let Some(bar) = &self.0 else { return };
        if of == 0 {
            // Reading the archive itself (from a pipe, or decompressing).
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} reading the archive: {bytes} ({bytes_per_sec})",
                )
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            return;
        }
        if n == 1 {
            bar.set_position(0);
            if total > 0 {
                bar.set_length(total);
            }
            bar.set_style(
                ProgressStyle::with_template(
                    "{msg} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
        }
        let short = digest.get(..12).unwrap_or(digest);
        bar.set_message(format!("layer {n}/{of} {short}"));
    }

    fn bytes(&self, n: u64) {
        if let Some(bar) = &self.0 {
            bar.inc(n);
        }
    }

    fn done(&self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}
