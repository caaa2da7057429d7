//! Images: where a container's root filesystem comes from.
//!
//! An image is only ever the *lower*, read-only layer of an overlayfs mount
//! (see `rootfs/`): the container writes to its own upper layer, so the
//! image is never modified and many containers can share it. Three kinds:
//! - `host`, built in: a skeleton root (generated `/etc`, empty mount
//!   points) over which the host's own `/usr`, `/bin`, `/lib*` are
//!   bind-mounted read-only, so it works right after the build with nothing
//!   to download;
//! - a directory given by path (`./rootfs`, `/srv/alpine`);
//! - a stored image: `<data-root>/images/<name>/rootfs`.
//!
//! mini-docker's layer 2 of 2, the engine (see `tests/tests/layers.rs`):
//! `image/` owns the image store and its imports, as Docker's engine does,
//! and an OCI runtime never sees an image, only a root filesystem. It
//! knows nothing of the command line or of containers: it takes the data
//! root (`--data-root`) as a plain path, defines its own error
//! ([`ImageError`]), and imports nothing else of mini-docker, and of
//! mini-runc only [`mini_runc::rootfs::remove_tree`] and, to read an
//! image's `/etc/passwd` without leaving it, `rootfs::resolve`
//! (`users.rs`). The process model
//! gets from an image only a directory and the host directories to bind
//! over it (`mini_runc::container::Lower`, made in `commands/run.rs`).

pub mod host;
pub mod import;
pub mod users;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use thiserror::Error;

/// The built-in image's name.
pub const HOST: &str = "host";

/// Finding or managing an image.
#[derive(Debug, Error)]
pub enum ImageError {
    #[error(
        "unknown image {0:?} (see `mini-docker images`; a directory image is a path like ./rootfs)"
    )]
    Unknown(String),
    #[error("image directory {path:?} cannot be used: {source}")]
    BadDirectory { path: PathBuf, source: std::io::Error },
    #[error("image directory {0:?} is not a directory")]
    NotADirectory(PathBuf),
    #[error("image path {0:?} contains ',' or ':', which overlayfs options cannot carry")]
    UnusablePath(PathBuf),
    #[error("image {0:?} has no default command: give one after the image name")]
    NoCommand(String),
    #[error("the built-in image {0:?} cannot be removed")]
    BuiltIn(String),
    #[error("{what} {path:?}: {source}")]
    Io { what: &'static str, path: PathBuf, source: std::io::Error },
    #[error("image name {0:?} is not valid: use [a-zA-Z0-9][a-zA-Z0-9_.-]*")]
    BadName(String),
    #[error("an image named {0:?} already exists (remove it with `mini-docker rmi {0}`)")]
    Exists(String),
    #[error("cannot import {file:?}: {why}")]
    BadArchive { file: PathBuf, why: String },
    /// A layer entry that would land outside the image, refused.
    #[error("refused layer entry {entry:?}: {why}")]
    Refused { entry: String, why: String },
    /// `-u NAME` (or the image's `User`) with no such name in the image's
    /// `/etc/passwd` (Docker's words).
    #[error("unable to find user {0:?}: no matching entry in the image's /etc/passwd")]
    NoSuchUser(String),
    #[error("unable to find group {0:?}: no matching entry in the image's /etc/group")]
    NoSuchGroup(String),
    #[error("malformed user {0:?}: expected NAME, UID, NAME:GROUP or UID:GID")]
    BadUser(String),
}

/// A resolved image.
#[derive(Debug, Clone)]
pub enum Image {
    /// The host's programs and libraries, read-only.
    Host,
    /// A directory holding a root filesystem (given by path or stored),
    /// with the defaults an OCI image brought along.
    Directory(PathBuf, ImageConfig),
}

/// An image's defaults for `run` (from an OCI config; empty otherwise).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageConfig {
    pub env: Vec<String>,
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    pub workdir: String,
    /// `NAME`, `UID`, `NAME:GROUP`…, as `-u` takes it (see `users.rs`).
    pub user: String,
    /// `80/tcp`, `53/udp`…: what the image says it listens on. Docker
    /// publishes nothing because of it (only `-P` would); it is shown by
    /// `inspect`, as here.
    pub exposed_ports: Vec<String>,
    /// The image's labels (`LABEL a=b`), shown by `inspect`.
    pub labels: BTreeMap<String, String>,
}

impl ImageConfig {
    /// From the `config` object of an image config, the one parser of it:
    /// an OCI image config (image-spec config.md) and a Docker image
    /// config spell it the same way: `Env`, `Entrypoint`, `Cmd`,
    /// `WorkingDir`, `User`, `ExposedPorts` (an object whose keys are the
    /// ports, its values empty objects) and `Labels`. A field missing, or
    /// `null` as Docker writes an unset one, is empty.
    pub fn from_oci(config: &Value) -> ImageConfig {
        let list = |key: &str| -> Vec<String> {
            config[key]
                .as_array()
                .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
                .unwrap_or_default()
        };
        let text = |key: &str| config[key].as_str().unwrap_or("").to_owned();
        let exposed_ports = config["ExposedPorts"]
            .as_object()
            .map(|ports| ports.keys().cloned().collect())
            .unwrap_or_default();
        let labels = config["Labels"]
            .as_object()
            .map(|labels| {
                labels
                    .iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                    .collect()
            })
            .unwrap_or_default();
        ImageConfig {
            env: list("Env"),
            entrypoint: list("Entrypoint"),
            cmd: list("Cmd"),
            workdir: text("WorkingDir"),
            user: text("User"),
            exposed_ports,
            labels,
        }
    }

    /// The `config` object, in the same OCI spelling [`from_oci`](Self::from_oci) reads.
    pub fn to_oci(&self) -> Value {
        let ports: serde_json::Map<String, Value> =
            self.exposed_ports.iter().map(|p| (p.clone(), json!({}))).collect();
        json!({
            "Env": self.env,
            "Entrypoint": self.entrypoint,
            "Cmd": self.cmd,
            "WorkingDir": self.workdir,
            "User": self.user,
            "ExposedPorts": ports,
            "Labels": self.labels,
        })
    }

    /// Stored next to the image's rootfs, in the same OCI spelling.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(&json!({ "config": self.to_oci() })).unwrap_or_default()
    }

    fn load(path: &Path) -> ImageConfig {
        std::fs::read(path)
            .ok()
            .and_then(|text| serde_json::from_slice::<Value>(&text).ok())
            .map(|doc| ImageConfig::from_oci(&doc["config"]))
            .unwrap_or_default()
    }
}

impl Image {
    /// `name` is `host`, a path (it contains a `/` or starts with `.`), or
    /// the name of a stored image.
    /// Stored images are looked up under `data_root` (`--data-root`).
    pub fn resolve(name: &str, data_root: &Path) -> Result<Image, ImageError> {
        if name == HOST {
            return Ok(Image::Host);
        }
        let mut config = ImageConfig::default();
        let dir = if name.contains('/') || name.starts_with('.') {
            PathBuf::from(name)
        } else if valid_name(name) && store_dir(data_root).join(name).join("rootfs").is_dir() {
            config = ImageConfig::load(&store_dir(data_root).join(name).join("config.json"));
            store_dir(data_root).join(name).join("rootfs")
        } else {
            return Err(ImageError::Unknown(name.to_owned()));
        };
        let dir = dir
            .canonicalize()
            .map_err(|source| ImageError::BadDirectory { path: PathBuf::from(name), source })?;
        if !dir.is_dir() {
            return Err(ImageError::NotADirectory(dir));
        }
        if dir.to_string_lossy().contains([',', ':']) {
            return Err(ImageError::UnusablePath(dir));
        }
        Ok(Image::Directory(dir, config))
    }

    /// The image's defaults (the host image's command is `/bin/sh`).
    pub fn config(&self) -> ImageConfig {
        match self {
            Image::Host => ImageConfig { cmd: vec!["/bin/sh".to_owned()], ..Default::default() },
            Image::Directory(_, config) => config.clone(),
        }
    }
}

/// The image store under `data_root` (`--data-root`): one directory per image.
pub fn store_dir(data_root: &Path) -> PathBuf {
    data_root.join("images")
}

/// A stored image's name: no path tricks.
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

/// Every stored image under `data_root`, sorted by name.
pub fn stored(data_root: &Path) -> Result<Vec<(String, PathBuf)>, ImageError> {
    let store = store_dir(data_root);
    let entries = match std::fs::read_dir(&store) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(ImageError::Io { what: "reading", path: store, source }),
    };
    let mut all: Vec<(String, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let rootfs = e.path().join("rootfs");
            (valid_name(&name) && rootfs.is_dir()).then_some((name, rootfs))
        })
        .collect();
    all.sort();
    Ok(all)
}

/// Makes `path` (and its parents) with `mode`, for errors that name it.
pub fn create_dir(path: &Path, mode: u32) -> Result<(), ImageError> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(mode)
        .create(path)
        .and_then(|()| std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)))
        .map_err(|source| ImageError::Io { what: "creating", path: path.to_owned(), source })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `docker import --change 'EXPOSE 80' --change 'LABEL a=b' …`
    /// writes (Docker spells an unset list `null`), read and written back.
    #[test]
    fn config_round_trip() {
        let docker = json!({
            "User": "alice", "ExposedPorts": { "80/tcp": {} }, "Env": ["GREETING=hello"],
            "Entrypoint": ["/bin/echo", "ep"], "Cmd": null, "WorkingDir": "/srv",
            "Labels": { "a": "b" },
        });
        let config = ImageConfig::from_oci(&docker);
        assert_eq!(config.exposed_ports, ["80/tcp"]);
        assert_eq!(config.labels.get("a").map(String::as_str), Some("b"));
        assert!(config.cmd.is_empty());
        assert_eq!(ImageConfig::from_oci(&config.to_oci()), config);
        assert_eq!(ImageConfig::from_oci(&Value::Null), ImageConfig::default());
    }
}
