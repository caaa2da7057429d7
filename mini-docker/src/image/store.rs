//! The image store, content-addressed as Docker's and podman's are: a
//! layer is kept once, under its digest, however many images use it.
//!
//! ```text
//! <data-root>/images/
//!   layers/<hex>/diff/      one layer's files, unpacked (an overlayfs lower
//!                           layer); <hex> is its *diff ID*, the SHA-256 of
//!                           the layer's uncompressed tar
//!   layers/<hex>/size       the bytes its files take (for `images`)
//!   configs/<hex>.json      an image's config, byte for byte as it came:
//!                           <hex>, its SHA-256, is the image ID (the ID
//!                           `docker images` shows for the same image)
//!   tags.json               {"localhost/busybox:1": "sha256:<hex>", …}
//!   .staging/<what>-<pid>/  a load or import under way, locked by it
//!   .lock                   held while the store changes
//! ```
//!
//! An image is its config: the config lists the image's layers by diff
//! ID (`rootfs.diff_ids`, bottom first), so nothing else needs storing.
//!
//! A load or import writes only into its staging directory, holding an
//! exclusive `flock(2)` on it, and moves what it made into place at the
//! end ([`Store::commit`]) with `rename(2)`. Interrupted (Ctrl-C, SIGTERM)
//! it removes the staging directory itself; SIGKILLed, it cannot, but its
//! lock went with it: the next load, import or rmi takes the lock and
//! removes the directory ([`Store::sweep`]). A PID alone would not do: the
//! dead one's may belong to another process by then.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use mini_runc::rootfs::remove_tree;
use sha2::{Digest, Sha256};

use crate::image::{ImageError, create_dir};

/// The store under a data root (`--data-root`).
#[derive(Debug, Clone)]
pub struct Store {
    pub root: PathBuf,
}

/// A stored image, as `images` lists it.
#[derive(Debug, Clone)]
pub struct Stored {
    /// The config's SHA-256, in hex.
    pub id: String,
    /// Its tags (`repository:tag`), sorted; empty when it has none.
    pub tags: Vec<String>,
    /// Seconds since the epoch, from the config's `created`.
    pub created: Option<i64>,
    /// What its layers take, in bytes.
    pub size: u64,
}

/// What a load or import made in its staging directory, to be moved into
/// the store: the image's config (exact bytes) and the tags to point at it.
#[derive(Debug, Clone)]
pub struct NewImage {
    pub config: Vec<u8>,
    pub tags: Vec<String>,
}

impl NewImage {
    /// The image ID: the config's SHA-256 (hex).
    pub fn id(&self) -> String {
        hex(&Sha256::digest(&self.config))
    }
}

/// What [`Store::remove`] did, for `rmi` to print as Docker does.
#[derive(Debug, Default)]
pub struct Removed {
    pub untagged: Vec<String>,
    /// The image ID, then the layers that went with it (`sha256:<hex>`).
    pub deleted: Vec<String>,
}

/// An exclusive `flock(2)`, released when dropped (or when the process
/// dies, however it dies).
#[derive(Debug)]
pub struct Locked {
    _file: File,
}

impl Locked {
    /// Locks `path` (a file or a directory); waits when `wait`, else
    /// `None` when someone else holds it.
    fn take(path: &Path, wait: bool) -> Result<Option<Locked>, ImageError> {
        let file = File::open(path).map_err(io("opening", path))?;
        let how = if wait { libc::LOCK_EX } else { libc::LOCK_EX | libc::LOCK_NB };
        // SAFETY: flock(2) on a descriptor this function owns.
        let got = unsafe { libc::flock(file.as_raw_fd(), how) } == 0;
        Ok(got.then_some(Locked { _file: file }))
    }
}

/// A load's or an import's scratch directory in the store, removed when
/// dropped unless [`Store::commit`] took what it held.
#[derive(Debug)]
pub struct Staging {
    pub dir: PathBuf,
    _lock: Locked,
}

impl Drop for Staging {
    fn drop(&mut self) {
        remove_tree(&self.dir);
    }
}

impl Staging {
    /// Where a layer is unpacked before it moves into the store.
    pub fn layer(&self, hex: &str) -> PathBuf {
        self.dir.join("layers").join(hex)
    }
}

impl Store {
    pub fn new(data_root: &Path) -> Store {
        Store { root: crate::image::store_dir(data_root) }
    }

    /// The directory overlayfs stacks for the layer `hex`.
    pub fn layer_dir(&self, hex: &str) -> PathBuf {
        self.root.join("layers").join(hex).join("diff")
    }

    pub fn has_layer(&self, hex: &str) -> bool {
        self.layer_dir(hex).is_dir()
    }

    fn config_path(&self, id: &str) -> PathBuf {
        self.root.join("configs").join(format!("{id}.json"))
    }

    /// An image's config, as it was loaded.
    pub fn config(&self, id: &str) -> Result<Vec<u8>, ImageError> {
        let path = self.config_path(id);
        std::fs::read(&path).map_err(io("reading", &path))
    }

    /// The store's tags: `repository:tag` to the image ID (hex).
    pub fn tags(&self) -> BTreeMap<String, String> {
        let text = std::fs::read(self.root.join("tags.json")).unwrap_or_default();
        let map: BTreeMap<String, String> = serde_json::from_slice(&text).unwrap_or_default();
        map.into_iter()
            .map(|(tag, id)| (tag, id.strip_prefix("sha256:").unwrap_or(&id).to_owned()))
            .collect()
    }

    /// Rewrites `tags.json` (aside, then renamed over it: never half-written).
    fn write_tags(&self, tags: &BTreeMap<String, String>) -> Result<(), ImageError> {
        let shown: BTreeMap<&String, String> =
            tags.iter().map(|(tag, id)| (tag, format!("sha256:{id}"))).collect();
        let text = serde_json::to_string_pretty(&shown).unwrap_or_default();
        let (path, aside) = (self.root.join("tags.json"), self.root.join("tags.json.new"));
        std::fs::write(&aside, text + "\n").map_err(io("writing", &aside))?;
        std::fs::rename(&aside, &path).map_err(io("renaming", &path))
    }

    /// Every stored image ID (hex).
    fn ids(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(self.root.join("configs")) else { return Vec::new() };
        entries
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().to_str()?.strip_suffix(".json").map(str::to_owned))
            .filter(|id| is_hex64(id))
            .collect()
    }

    /// The layers (diff IDs in hex, bottom first) an image's config lists.
    pub fn layers_of(config: &[u8]) -> Result<Vec<String>, String> {
        let doc: serde_json::Value =
            serde_json::from_slice(config).map_err(|e| format!("config: {e}"))?;
        let ids = doc["rootfs"]["diff_ids"].as_array().ok_or("config: no rootfs.diff_ids")?;
        ids.iter()
            .map(|d| {
                let d = d.as_str().unwrap_or("");
                d.strip_prefix("sha256:")
                    .filter(|h| is_hex64(h))
                    .map(str::to_owned)
                    .ok_or_else(|| format!("config: diff ID {d:?} is not sha256:<64 hex digits>"))
            })
            .collect()
    }

    /// Every stored image, newest first.
    pub fn list(&self) -> Vec<Stored> {
        let tags = self.tags();
        let mut all: Vec<Stored> = self
            .ids()
            .into_iter()
            .filter_map(|id| {
                let config = self.config(&id).ok()?;
                let doc: serde_json::Value = serde_json::from_slice(&config).ok()?;
                let layers = Store::layers_of(&config).ok()?;
                let size =
                    layers.iter().collect::<BTreeSet<_>>().iter().map(|l| self.layer_size(l)).sum();
                let created = doc["created"].as_str().and_then(mini_runc::rfc3339::parse);
                let mine = tags.iter().filter(|(_, i)| **i == id).map(|(t, _)| t.clone());
                Some(Stored { tags: mine.collect(), created, size, id })
            })
            .collect();
        all.sort_by(|a, b| b.created.cmp(&a.created).then(a.tags.cmp(&b.tags)));
        all
    }

    fn layer_size(&self, hex: &str) -> u64 {
        let path = self.root.join("layers").join(hex).join("size");
        std::fs::read_to_string(path).ok().and_then(|s| s.trim().parse().ok()).unwrap_or(0)
    }

    /// The image `name` stands for: a tag (`busybox` is `busybox:latest`,
    /// and also found as `localhost/…` or `docker.io/library/…`, the names
    /// podman and Docker give), or an image ID or a unique prefix of one
    /// (four hex digits at least, `sha256:` or not).
    pub fn resolve(&self, name: &str) -> Option<String> {
        let tags = self.tags();
        let tagged = if has_tag(name) { name.to_owned() } else { format!("{name}:latest") };
        for candidate in [
            tagged.clone(),
            format!("localhost/{tagged}"),
            format!("docker.io/library/{tagged}"),
            format!("docker.io/{tagged}"),
        ] {
            if let Some(id) = tags.get(&candidate) {
                return Some(id.clone());
            }
        }
        let prefix = name.strip_prefix("sha256:").unwrap_or(name);
        if prefix.len() < 4 || !prefix.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let found: Vec<String> =
            self.ids().into_iter().filter(|id| id.starts_with(prefix)).collect();
        match found.as_slice() {
            [id] => Some(id.clone()),
            _ => None,
        }
    }

    /// Takes the store's lock: one change to the store at a time.
    pub fn lock(&self) -> Result<Locked, ImageError> {
        create_dir(&self.root, 0o755)?;
        let path = self.root.join(".lock");
        std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io("creating", &path))?;
        Ok(Locked::take(&path, true)?.expect("a blocking flock either locks or fails"))
    }

    /// A new staging directory for `what` ("load", "import"), locked by
    /// this process; the leftovers of dead loads and imports go first.
    pub fn staging(&self, what: &str) -> Result<Staging, ImageError> {
        self.sweep();
        let parent = self.root.join(".staging");
        create_dir(&parent, 0o700)?;
        let dir = parent.join(format!("{what}-{}", std::process::id()));
        remove_tree(&dir);
        create_dir(&dir, 0o700)?;
        let lock = Locked::take(&dir, false)?;
        let Some(lock) = lock else {
            return Err(ImageError::Io {
                what: "locking",
                path: dir,
                source: std::io::Error::from(std::io::ErrorKind::WouldBlock),
            });
        };
        Ok(Staging { dir, _lock: lock })
    }

    /// Removes the staging directories of loads and imports that were
    /// killed: those whose lock nobody holds any more.
    pub fn sweep(&self) {
        let Ok(entries) = std::fs::read_dir(self.root.join(".staging")) else { return };
        for entry in entries.filter_map(Result::ok) {
            if let Ok(Some(_unlocked)) = Locked::take(&entry.path(), false) {
                remove_tree(&entry.path());
            }
        }
    }

    /// Moves what a load or import made into the store, under the store's
    /// lock: the new layers (a layer another load stored meanwhile is
    /// kept, ours dropped), then each image's config, then its tags. A tag
    /// that named another image moves to the new one (the old image stays,
    /// untagged, as Docker leaves it). Returns the new images' IDs.
    pub fn commit(&self, staging: &Staging, images: &[NewImage]) -> Result<(), ImageError> {
        let _lock = self.lock()?;
        create_dir(&self.root.join("layers"), 0o755)?;
        create_dir(&self.root.join("configs"), 0o755)?;
        if let Ok(made) = std::fs::read_dir(staging.dir.join("layers")) {
            for layer in made.filter_map(Result::ok) {
                let target = self.root.join("layers").join(layer.file_name());
                if !target.exists() {
                    std::fs::rename(layer.path(), &target).map_err(io("storing", &target))?;
                }
            }
        }
        let mut tags = self.tags();
        for image in images {
            let layers = Store::layers_of(&image.config)
                .map_err(|why| ImageError::BadArchive { file: staging.dir.clone(), why })?;
            if let Some(gone) = layers.iter().find(|l| !self.has_layer(l)) {
                // A layer present when the load began, removed since by `rmi`.
                return Err(ImageError::LayerGone(gone.clone()));
            }
            let id = image.id();
            let (path, aside) = (self.config_path(&id), staging.dir.join(format!("{id}.json")));
            std::fs::write(&aside, &image.config).map_err(io("writing", &aside))?;
            std::fs::rename(&aside, &path).map_err(io("storing", &path))?;
            for tag in &image.tags {
                tags.insert(tag.clone(), id.clone());
            }
        }
        self.write_tags(&tags)
    }

    /// `rmi NAME`: untags NAME when it is a tag, or every tag of the image
    /// when it is an ID; then deletes the image once it has no tag left
    /// and no container uses it (`in_use`), and every layer no other image
    /// lists. A used image is refused without `force`; with it, it is
    /// untagged and kept (`<none>`) until its containers are gone, so a
    /// running container never loses a lower layer.
    pub fn remove(
        &self,
        name: &str,
        force: bool,
        in_use: &BTreeMap<String, Vec<String>>,
    ) -> Result<Removed, ImageError> {
        let _lock = self.lock()?;
        self.sweep();
        let id = self.resolve(name).ok_or_else(|| ImageError::Unknown(name.to_owned()))?;
        let mut tags = self.tags();
        let by_tag = tags.iter().find(|(t, i)| **i == id && tag_matches(t, name)).map(|(t, _)| t);
        let untag: Vec<String> = match by_tag {
            Some(tag) => vec![tag.clone()],
            None => tags.iter().filter(|(_, i)| **i == id).map(|(t, _)| t.clone()).collect(),
        };
        let last = tags.values().filter(|i| **i == id).count() == untag.len();
        if let Some(users) = in_use.get(&id).filter(|_| last && !force) {
            return Err(ImageError::InUse { name: name.to_owned(), containers: users.join(", ") });
        }
        if untag.len() > 1 && !force {
            return Err(ImageError::ManyTags(name.to_owned(), untag.join(", ")));
        }
        let mut removed = Removed::default();
        for tag in untag {
            tags.remove(&tag);
            removed.untagged.push(tag);
        }
        self.write_tags(&tags)?;
        if !last || in_use.contains_key(&id) {
            return Ok(removed);
        }
        let path = self.config_path(&id);
        std::fs::remove_file(&path).map_err(io("removing", &path))?;
        removed.deleted.push(format!("sha256:{id}"));
        // The layers no remaining image lists (and so no container uses:
        // a used image is never deleted).
        let kept: BTreeSet<String> = self
            .ids()
            .iter()
            .filter_map(|other| Store::layers_of(&self.config(other).ok()?).ok())
            .flatten()
            .collect();
        let Ok(layers) = std::fs::read_dir(self.root.join("layers")) else { return Ok(removed) };
        for layer in layers.filter_map(Result::ok) {
            let hex = layer.file_name().to_string_lossy().into_owned();
            if !kept.contains(&hex) {
                remove_tree(&layer.path());
                removed.deleted.push(format!("sha256:{hex}"));
            }
        }
        Ok(removed)
    }
}

/// Whether the stored tag `tag` is what the user wrote as `name`
/// (`busybox` for `docker.io/library/busybox:latest`).
fn tag_matches(tag: &str, name: &str) -> bool {
    let tagged = if has_tag(name) { name.to_owned() } else { format!("{name}:latest") };
    [
        tagged.clone(),
        format!("localhost/{tagged}"),
        format!("docker.io/library/{tagged}"),
        format!("docker.io/{tagged}"),
    ]
    .contains(&tag.to_owned())
}

/// `repo:tag` has a tag; `host:5000/repo` has not (the colon is before a '/').
pub fn has_tag(reference: &str) -> bool {
    reference.rsplit_once(':').is_some_and(|(_, tag)| !tag.contains('/'))
}

/// An image reference as a tag the store can keep: `repository[:tag]`,
/// the tag defaulting to `latest`, in the characters Docker allows
/// (lower case path components, an optional `host[:port]/`, a tag of
/// letters, digits, `_`, `.`, `-`).
pub fn normalize_reference(reference: &str) -> Option<String> {
    let (repo, tag) = match reference.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (repo, tag),
        _ => (reference, "latest"),
    };
    let tag_ok = !tag.is_empty()
        && tag.len() <= 128
        && tag.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
    let component_ok = |c: &str| {
        !c.is_empty()
            && c.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
            && c.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
    };
    let parts: Vec<&str> = repo.split('/').collect();
    // Only a first component followed by more may be a registry, `host:port`.
    let registry_ok = |c: &str| match c.split_once(':') {
        Some((host, port)) => {
            component_ok(host) && !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit())
        }
        None => component_ok(c),
    };
    let repo_ok = repo.len() <= 255
        && !repo.contains("..")
        && parts
            .iter()
            .enumerate()
            .all(|(i, c)| if i == 0 && parts.len() > 1 { registry_ok(c) } else { component_ok(c) });
    (tag_ok && repo_ok).then(|| format!("{repo}:{tag}"))
}

pub fn is_hex64(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> ImageError {
    let path = path.to_owned();
    move |source| ImageError::Io { what, path, source }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references() {
        assert_eq!(normalize_reference("bb").as_deref(), Some("bb:latest"));
        assert_eq!(normalize_reference("localhost/lx:1").as_deref(), Some("localhost/lx:1"));
        assert_eq!(normalize_reference("host:5000/a/b").as_deref(), Some("host:5000/a/b:latest"));
        for bad in ["", "Upper", "a/../b", "/abs", "a:", "a b", "a:t/x"] {
            assert_eq!(normalize_reference(bad), None, "{bad}");
        }
        assert!(tag_matches("docker.io/library/busybox:latest", "busybox"));
        assert!(!tag_matches("localhost/lx:1", "lx"));
    }
}
