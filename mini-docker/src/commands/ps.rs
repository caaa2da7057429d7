//! `mini-docker ps [-a] [-q] [--format …]`: the containers in the state
//! directory. Each is running; or kept (exited, run without `--rm`: its
//! upper layer holds what it wrote). A container whose mini-docker (or
//! `run -d`'s monitor) was killed, so that nobody cleaned up, is reclaimed
//! first, as `run` does: torn down, and kept or gone as it would have been.
//!
//! As with `docker ps`, plain `ps` lists the running containers and
//! `ps -a` (`--all`) every one; the STATUS column words a container's life
//! as Docker's does ("Up 5 seconds", "Exited (3) 2 minutes ago", from
//! `lifecycle.rs`). `-q` prints the short IDs alone; `--format` takes a
//! template of the fields below (see format.rs), or `json` for one JSON
//! object per line, as Docker's.

use mini_runc::container::lock::StateLock;
use mini_runc::container::state::StateDir;
use serde_json::{Value, json};

use crate::commands::format::Template;
use crate::commands::run::IMAGE_RECORD;
use crate::commands::{Dirs, Error};
use crate::lifecycle::{Lifecycle, ago, human};
use crate::teardown;

pub fn ps(dirs: &Dirs, all: bool, quiet: bool, format: Option<&str>) -> Result<(), Error> {
    let template = match format {
        Some("json") | None => None,
        Some(text) => Some(Template::parse(text)?),
    };
    // The sweep `run` makes, under the same lock; not where there is no
    // state directory yet (`ps` creates nothing).
    if dirs.state.is_dir() {
        let _lock = StateLock::acquire(&dirs.state)?;
        teardown::sweep(&dirs.state);
    }
    let mut lines = Vec::new();
    for (id, name) in StateDir::list(&dirs.state) {
        let state = StateDir { dir: dirs.state.join(&id) };
        let summary = summary(&state, &id, &name);
        // Docker's `ps` shows only running containers; ours also shows a
        // dead one (its mini-docker killed between the sweep above and
        // here): it still holds what a running one holds until the next
        // sweep frees it, and hiding it behind `-a` would hide what needs
        // attention. A kept one holds only its upper layer, on purpose.
        if !all && summary["State"] == "exited" {
            continue;
        }
        let line = match (&template, format, quiet) {
            (_, _, true) => id[..id.len().min(12)].to_owned(),
            (Some(template), _, _) => template.render(&summary)?,
            (None, Some("json"), _) => summary.to_string(),
            _ => format!(
                "{:<14} {:<20} {}",
                &id[..id.len().min(12)],
                name,
                summary["Status"].as_str().unwrap_or_default()
            ),
        };
        lines.push(line);
    }
    if format.is_none() && !quiet {
        say!("{:<14} {:<20} STATUS", "CONTAINER ID", "NAME");
    }
    for line in lines {
        say!("{line}");
    }
    Ok(())
}

/// One container as `docker ps --format` sees one: every field a string.
fn summary(state: &StateDir, id: &str, name: &str) -> Value {
    let life = Lifecycle::read(state);
    let (state_word, status) = match state.status() {
        "running" => (
            "running",
            match life.started_at {
                Some(at) => format!("Up {}", human(ago(at))),
                None => "Up".to_owned(),
            },
        ),
        "exited" => (
            "exited",
            match (life.exit_code, life.finished_at) {
                (Some(code), Some(at)) => format!("Exited ({code}) {} ago", human(ago(at))),
                _ => "Exited".to_owned(),
            },
        ),
        other => (other, other.to_owned()),
    };
    let read = |file: &str| std::fs::read_to_string(state.dir.join(file)).unwrap_or_default();
    let image: Value = serde_json::from_str(&read(IMAGE_RECORD)).unwrap_or_default();
    let bundle: Value = serde_json::from_str(&read("config.json")).unwrap_or_default();
    let command: Vec<&str> = bundle["process"]["args"]
        .as_array()
        .map(|args| args.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let ports: Vec<String> = crate::network::Record::read(&state.dir)
        .publish
        .iter()
        .map(|p| format!("{}:{}->{}/{}", p.host_ip, p.host_port, p.port, p.proto.word()))
        .collect();
    json!({
        "ID": &id[..id.len().min(12)],
        "Names": name,
        "Image": image["name"].as_str().unwrap_or_default(),
        "Command": format!("\"{}\"", command.join(" ")),
        "State": state_word,
        "Status": status,
        "Ports": ports.join(", "),
    })
}
