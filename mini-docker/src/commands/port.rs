//! `mini-docker port NAME [PORT[/PROTO]]`: the container's published
//! ports (`run -p`), as Docker's `port` prints them: `80/tcp ->
//! 0.0.0.0:8080` for each, or only the host side of the one asked for.
//! They exist while the container runs (the network record, see
//! `network/`).

use crate::commands::{Dirs, Error, find};

pub fn port(dirs: &Dirs, key: &str, asked: Option<&str>) -> Result<(), Error> {
    let state = find(dirs, key)?;
    let record = crate::network::Record::read(&state.dir);
    let mut found = false;
    for p in &record.publish {
        let inside = format!("{}/{}", p.port, p.proto.word());
        let host = format!("{}:{}", p.host_ip, p.host_port);
        match asked {
            None => say!("{inside} -> {host}"),
            // `80` means `80/tcp`, as Docker reads it.
            Some(port) if port == inside || format!("{port}/tcp") == inside => say!("{host}"),
            Some(_) => continue,
        }
        found = true;
    }
    match asked {
        Some(port) if !found => Err(Error::NoPort(key.to_owned(), port.to_owned())),
        _ => Ok(()),
    }
}
