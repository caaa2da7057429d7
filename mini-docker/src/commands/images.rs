//! `mini-docker images [-q]`, `import FILE|- [REPOSITORY[:TAG]]` and
//! `rmi [-f] IMAGE…`: the image store (see `image/store.rs`).
//!
//! `images` prints Docker's columns: REPOSITORY, TAG, IMAGE ID (the first
//! 12 hex digits of the config's SHA-256: the same ID Docker and podman
//! show for the same image), CREATED (from the config), SIZE (what the
//! layers' files take, in Docker's decimal units). The built-in `host`
//! image is listed first; it is not stored, but assembled for each
//! container from the host's own files.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use mini_runc::container::state::StateDir;

use crate::commands::load::Bar;
use crate::commands::run::IMAGE_RECORD;
use crate::commands::{Dirs, Error};
use crate::image::store::Store;
use crate::image::{self, ImageError};

/// Lists the built-in image and every stored one, newest first.
pub fn images(dirs: &Dirs, quiet: bool) -> Result<(), Error> {
    let store = Store::new(&dirs.data);
    // What a killed load or import left, gone before it can be counted.
    store.sweep();
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
    let mut rows: Vec<[String; 5]> = Vec::new();
    for image in store.list() {
        let id = image.id[..12].to_owned();
        if quiet {
            say!("{id}");
            continue;
        }
        let created = image.created.map_or("N/A".to_owned(), |t| human_duration(now - t) + " ago");
        let size = human_size(image.size);
        let tags =
            if image.tags.is_empty() { vec!["<none>:<none>".to_owned()] } else { image.tags };
        for tag in tags {
            let (repository, tag) = tag.rsplit_once(':').unwrap_or((&tag, ""));
            let row = [repository, tag, &id, &created, &size].map(str::to_owned);
            rows.push(row);
        }
    }
    if quiet {
        return Ok(());
    }
    let header = ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"].map(str::to_owned);
    let host = [image::HOST, "<built-in>", "-", "-", "-"].map(str::to_owned);
    rows.insert(0, host);
    rows.insert(0, header);
    // Columns as wide as their widest cell, three spaces apart (Docker's
    // tabwriter).
    let widths: Vec<usize> =
        (0..5).map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0)).collect();
    for row in rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            if c < 4 {
                line.push_str(&format!("{cell:<width$}   ", width = widths[c]));
            } else {
                line.push_str(cell);
            }
        }
        say!("{line}");
    }
    Ok(())
}

/// Imports a root file system tarball (see `image/import.rs`); prints the
/// new image's ID, as `docker import` does.
pub fn import(dirs: &Dirs, file: &Path, reference: Option<&str>) -> Result<(), Error> {
    let file = (file != Path::new("-")).then_some(file);
    let imported = image::import::import(&dirs.data, file, reference, &Bar::new())?;
    for note in imported.notes {
        say_err!("mini-docker: {note}");
    }
    say!("sha256:{}", imported.id);
    Ok(())
}

/// Removes images (or tags of them), as `docker rmi`: a tag is untagged,
/// and the image deleted with its unshared layers once nothing names or
/// uses it. An image a container uses (running or kept) is refused
/// without `-f`.
pub fn rmi(dirs: &Dirs, names: &[String], force: bool) -> Result<(), Error> {
    let store = Store::new(&dirs.data);
    for name in names {
        if name == image::HOST {
            return Err(ImageError::BuiltIn(name.clone()).into());
        }
        let removed = store.remove(name, force, &in_use(&dirs.state))?;
        for tag in removed.untagged {
            say!("Untagged: {tag}");
        }
        for id in removed.deleted {
            say!("Deleted: {id}");
        }
    }
    Ok(())
}

/// The stored images containers use: image ID (hex) to the containers
/// (name or short ID, and their status), from the record `run` wrote in
/// each one's state (a kept container keeps it).
fn in_use(state_root: &Path) -> BTreeMap<String, Vec<String>> {
    let mut users: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (id, name) in StateDir::list(state_root) {
        let state = StateDir { dir: state_root.join(&id) };
        let Ok(text) = std::fs::read(state.dir.join(IMAGE_RECORD)) else { continue };
        let Ok(record) = serde_json::from_slice::<serde_json::Value>(&text) else { continue };
        let Some(image) = record["id"].as_str() else { continue };
        let image = image.strip_prefix("sha256:").unwrap_or(image).to_owned();
        let shown = if name.is_empty() { id[..id.len().min(12)].to_owned() } else { name };
        users.entry(image).or_default().push(format!("{shown} ({})", state.status()));
    }
    users
}

/// Bytes in Docker's decimal units, three significant digits: `4.26MB`.
fn human_size(bytes: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB", "PB"];
    let mut size = bytes as f64;
    let mut unit = 0;
    while size >= 1000.0 && unit + 1 < units.len() {
        size /= 1000.0;
        unit += 1;
    }
    // %.3g: three significant digits, trailing zeros dropped.
    let decimals = if size >= 100.0 {
        0
    } else if size >= 10.0 {
        1
    } else {
        2
    };
    let text = format!("{size:.decimals$}");
    let text =
        if text.contains('.') { text.trim_end_matches('0').trim_end_matches('.') } else { &text };
    format!("{text}{}", units[unit])
}

/// Docker's way of saying how long ago: `About an hour`, `3 days`.
fn human_duration(seconds: i64) -> String {
    let (minutes, hours) = (seconds / 60, (seconds as f64 / 3600.0 + 0.5) as i64);
    match seconds {
        s if s < 1 => "Less than a second".to_owned(),
        1 => "1 second".to_owned(),
        s if s < 60 => format!("{s} seconds"),
        _ if minutes == 1 => "About a minute".to_owned(),
        _ if minutes < 60 => format!("{minutes} minutes"),
        _ if hours == 1 => "About an hour".to_owned(),
        _ if hours < 48 => format!("{hours} hours"),
        _ if hours < 24 * 7 * 2 => format!("{} days", hours / 24),
        _ if hours < 24 * 30 * 2 => format!("{} weeks", hours / 24 / 7),
        _ if hours < 24 * 365 * 2 => format!("{} months", hours / 24 / 30),
        _ => format!("{} years", seconds / 3600 / 24 / 365),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_as_docker_prints_them() {
        for (bytes, shown) in [
            (0, "0B"),
            (999, "999B"),
            (1000, "1kB"),
            (4_261_000, "4.26MB"),
            (12_340_000, "12.3MB"),
            (2_003_968, "2MB"),
            (123_456_789, "123MB"),
        ] {
            assert_eq!(human_size(bytes), shown, "{bytes}");
        }
    }

    #[test]
    fn durations_as_docker_prints_them() {
        for (seconds, shown) in [
            (0, "Less than a second"),
            (45, "45 seconds"),
            (90, "About a minute"),
            (600, "10 minutes"),
            (3600, "About an hour"),
            (5 * 3600, "5 hours"),
            (3 * 86_400, "3 days"),
            (30 * 86_400, "4 weeks"),
            (800 * 86_400, "2 years"),
        ] {
            assert_eq!(human_duration(seconds), shown, "{seconds}");
        }
    }
}
