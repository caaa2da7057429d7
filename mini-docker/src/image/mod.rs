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
//! - a stored image: layers in a content-addressed store (`store.rs`),
//!   stacked as the overlay's lower layers; `load` brings in what `docker
//!   save` and `podman save` write (`load.rs`, `archive.rs`), `import` a
//!   root file system tarball (`import.rs`); `layer.rs` unpacks a layer.
//!
//! mini-docker's layer 2 of 2, the engine (see `tests/tests/layers.rs`):
//! `image/` owns the image store and its imports, as Docker's engine does,
//! and an OCI runtime never sees an image, only a root filesystem. It
//! knows nothing of the command line or of containers: it takes the data
//! root (`--data-root`) as a plain path, defines its own error
//! ([`ImageError`]), and imports nothing else of mini-docker, and of
//! mini-runc only [`mini_runc::rootfs::remove_tree`], to read an image's
//! `/etc/passwd` without leaving it, `rootfs::resolve` (`users.rs`), and,
//! to unpack a layer rootless with the owners a container will see,
//! `mini_runc::userns` (`layer.rs`). The process model gets from an image only directories
//! (one, or a stack of layers) and the host directories to bind over it
//! (`mini_runc::container::Lower`, made in `commands/run.rs`).

pub mod archive;
pub mod host;
pub mod import;
pub mod interrupt;
pub mod layer;
pub mod load;
pub mod store;
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
    #[error(
        "image name {0:?} is not valid: use REPOSITORY[:TAG], lower case (e.g. localhost/busybox:1)"
    )]
    BadName(String),
    #[error("cannot load {file:?}: {why}")]
    BadArchive { file: PathBuf, why: String },
    /// What unpacking a layer in a mapped user namespace failed with (see
    /// `layer::unpack_mapped`), in its own words.
    #[error("{0}")]
    Mapped(String),
    /// A layer that is not a readable tar stream.
    #[error("cannot read a layer: {0}")]
    BadLayer(String),
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
    #[error(
        "{0} is an image archive (docker save, podman save, an OCI layout), not a root file system: use `mini-docker load -i {0}`"
    )]
    ImageArchive(String),
    #[error("interrupted by {0}: nothing was stored")]
    Interrupted(String),
    #[error("layer sha256:{0} was removed while loading: load again")]
    LayerGone(String),
    #[error(
        "image {name:?} is used by container(s) {containers}: remove them first, or use rmi -f"
    )]
    InUse { name: String, containers: String },
    #[error("image {0:?} has several tags ({1}): remove one by its tag, or all with rmi -f")]
    ManyTags(String, String),
}

/// A resolved image.
#[derive(Debug, Clone)]
pub enum Image {
    /// The host's programs and libraries, read-only.
    Host,
    /// A directory holding a root filesystem, given by path.
    Directory(PathBuf, ImageConfig),
    /// A stored image: its ID (the config's SHA-256, hex), its layers'
    /// directories top first, its defaults.
    Stored { id: String, layers: Vec<PathBuf>, config: ImageConfig },
}

/// What a long load or import reports as it goes (`commands/` draws it).
pub trait Progress {
    /// Layer `n` of `of` begins (0 of 0: the archive itself is being
    /// read); `total` is the bytes all the layers hold together (0: not
    /// known).
    fn layer(&self, n: usize, of: usize, digest: &str, total: u64);
    /// `n` more bytes read.
    fn bytes(&self, n: u64);
    /// The end, however it came.
    fn done(&self);
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
}

impl Image {
    /// `name` is `host`, a path (it starts with `.` or `/`), a stored
    /// image's tag or ID (looked up under `data_root`, `--data-root`), or
    /// else a relative path to a directory (`rootfs/`).
    pub fn resolve(name: &str, data_root: &Path) -> Result<Image, ImageError> {
        if name == HOST {
            return Ok(Image::Host);
        }
        if name.starts_with('.') || name.starts_with('/') {
            return Image::directory(name);
        }
        let store = store::Store::new(data_root);
        let Some(id) = store.resolve(name) else {
            // A relative path such as `rootfs/` or `images/alpine`.
            if name.contains('/') && Path::new(name).is_dir() {
                return Image::directory(name);
            }
            return Err(ImageError::Unknown(name.to_owned()));
        };
        let bytes = store.config(&id)?;
        let broken = |why: String| ImageError::BadArchive { file: store.root.join("configs"), why };
        let doc: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|e| broken(e.to_string()))?;
        let mut layers: Vec<PathBuf> = Vec::new();
        // Top first, each once (a layer listed twice, as empty layers may
        // be, is already covered by its upper copy).
        for hex in store::Store::layers_of(&bytes).map_err(broken)?.iter().rev() {
            let dir = store.layer_dir(hex);
            if !dir.is_dir() {
                return Err(ImageError::LayerGone(hex.clone()));
            }
            if !layers.contains(&dir) {
                layers.push(dir);
            }
        }
        if layers.is_empty() {
            return Err(broken(format!("image {name:?} has no layers")));
        }
        if let Some(bad) = layers.iter().find(|l| l.to_string_lossy().contains([',', ':'])) {
            return Err(ImageError::UnusablePath(bad.clone()));
        }
        Ok(Image::Stored { id, layers, config: ImageConfig::from_oci(&doc["config"]) })
    }

    /// A directory given by path, as the overlay's one lower layer.
    fn directory(name: &str) -> Result<Image, ImageError> {
        let config = ImageConfig::default();
        let dir = PathBuf::from(name)
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
            Image::Directory(_, config) | Image::Stored { config, .. } => config.clone(),
        }
    }

    /// The stored image's ID (`sha256:<hex>`), which `run` records in the
    /// container's state (`image.json`) so that `rmi` knows the image is
    /// in use.
    pub fn id(&self) -> Option<String> {
        match self {
            Image::Stored { id, .. } => Some(format!("sha256:{id}")),
            _ => None,
        }
    }

    /// A small text file of a stored image (`/etc/passwd`) as the
    /// container will see it: through the layers top first, as overlayfs
    /// merges them. A whiteout, or anything but a directory on the way,
    /// hides it; an opaque directory on the way hides the layers below.
    /// No symbolic link is followed, in the path or at its end (a layer
    /// directory is on the host: a link in it would resolve there), and
    /// at most 4 MiB are read.
    pub fn read_text(&self, path: &str) -> Option<String> {
        use std::io::Read;
        let Image::Stored { layers, .. } = self else { return None };
        let relative = layer::normal_parts(Path::new(path.trim_start_matches('/')))?;
        let count = relative.components().count();
        for dir in layers {
            let mut here = dir.clone();
            let mut hides_below = false;
            for (n, part) in relative.components().enumerate() {
                here.push(part);
                let last = n + 1 == count;
                match here.symlink_metadata() {
                    Err(_) if hides_below => return None,
                    Err(_) => break,
                    Ok(m) if last && m.is_file() => {
                        let mut text = String::new();
                        let file = std::fs::File::open(&here).ok()?;
                        file.take(4 << 20).read_to_string(&mut text).ok()?;
                        return Some(text);
                    }
                    Ok(m) if !last && m.is_dir() => hides_below |= opaque(&here),
                    Ok(_) => return None,
                }
            }
        }
        None
    }
}

/// Whether a directory of a layer is marked opaque (see `layer.rs`).
fn opaque(dir: &Path) -> bool {
    let Ok(path) = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()) else { return false };
    let mut value = [0u8; 1];
    ["trusted.overlay.opaque", "user.overlay.opaque"].iter().any(|name| {
        let Ok(name) = std::ffi::CString::new(*name) else { return false };
        // SAFETY: NUL-terminated path and name, a buffer with its length.
        let n = unsafe {
            libc::lgetxattr(path.as_ptr(), name.as_ptr(), value.as_mut_ptr().cast(), value.len())
        };
        n == 1 && value[0] == b'y'
    })
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
