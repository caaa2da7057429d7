//! What an image archive holds, and where: the two formats `load` reads.
//!
//! A **docker-archive** (`docker save`, `podman save`, `skopeo copy …
//! docker-archive:`) is a tar whose `manifest.json` lists each image:
//! ```text
//! [{"Config": "<hex>.json", "RepoTags": ["busybox:1"],
//!   "Layers": ["<id>/layer.tar", …]}]          bottom layer first
//! ```
//! The config (`<hex>.json`, its SHA-256 in its name) is the image's
//! identity and defaults; its `rootfs.diff_ids` gives the SHA-256 of each
//! layer tar, which is how a layer's content is checked.
//!
//! An **OCI image layout** (`podman save --format oci-archive`, `skopeo
//! copy … oci:DIR` or `oci-archive:FILE`; a directory or a tar of one) is
//! content-addressed throughout: `index.json` names manifests by digest,
//! each stored at `blobs/sha256/<hex>`; a manifest names the config and
//! the layers (compressed: `…tar+gzip`, `…tar+zstd`) by digest and size.
//! Docker 25 and later write both at once; `manifest.json` is read first.
//!
//! An archive is read in place: a tar file is indexed once (each member's
//! offset and size) and its blobs read by seeking, so nothing is unpacked
//! twice. Every name in it is a path inside the archive, never on the
//! host, and every byte read is checked against a digest.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::image::ImageError;
use crate::image::layer::normal_parts;
use crate::image::store::{hex, is_hex64, normalize_reference};

/// The largest JSON document read (manifests, indexes, configs).
const JSON_MAX: u64 = 16 << 20;

/// Where an archive's members are.
pub enum Source {
    /// An OCI layout directory.
    Dir(PathBuf),
    /// A tar file, indexed: member name to (offset, size).
    Tar { file: PathBuf, members: HashMap<String, (u64, u64)> },
}

/// One layer of an image to load.
#[derive(Debug, Clone)]
pub struct LayerBlob {
    /// Its member name in the archive.
    pub path: String,
    /// The SHA-256 (hex) of the layer uncompressed: its name in the store.
    pub diff_id: String,
    /// The SHA-256 (hex) of the blob as stored, when the format says it
    /// (OCI descriptors); a docker-archive gives only the diff ID.
    pub digest: Option<String>,
    /// The blob's size in the archive.
    pub size: u64,
}

/// One image of an archive.
#[derive(Debug, Clone)]
pub struct ArchiveImage {
    pub config: Vec<u8>,
    pub tags: Vec<String>,
    pub layers: Vec<LayerBlob>,
}

impl Source {
    /// `path`: an OCI layout directory, or a tar file (uncompressed).
    pub fn open(path: &Path) -> Result<Source, ImageError> {
        if path.is_dir() {
            return Ok(Source::Dir(path.to_owned()));
        }
        let bad = |why: String| ImageError::BadArchive { file: path.to_owned(), why };
        let file = File::open(path).map_err(|source| ImageError::Io {
            what: "reading",
            path: path.to_owned(),
            source,
        })?;
        let mut archive = tar::Archive::new(file);
        let mut members = HashMap::new();
        let mut links = HashMap::new();
        let entries = archive.entries_with_seek().map_err(|e| bad(e.to_string()))?;
        for entry in entries {
            let entry = entry.map_err(|e| bad(format!("not a tar archive: {e}")))?;
            let raw = entry.path().map_err(|e| bad(e.to_string()))?.into_owned();
            let Some(name) = normal_parts(&raw).map(|p| p.to_string_lossy().into_owned()) else {
                continue; // a name no manifest can point to
            };
            let kind = entry.header().entry_type();
            if kind.is_symlink() {
                // podman's `<id>/layer.tar -> ../<hex>.tar`: a name for
                // another member, resolved inside the archive.
                if let Ok(Some(target)) = entry.link_name() {
                    links.insert(name, target.into_owned());
                }
            } else if kind.is_file() || kind == tar::EntryType::Continuous {
                members.insert(name, (entry.raw_file_position(), entry.size()));
            }
        }
        for (name, target) in links {
            let base = Path::new(&name).parent().unwrap_or(Path::new("")).to_owned();
            if let Some(found) = resolve_link(&base, &target).and_then(|t| members.get(&t).copied())
            {
                members.insert(name, found);
            }
        }
        let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        if let Some((name, (offset, len))) =
            members.iter().find(|(_, (offset, len))| offset.saturating_add(*len) > size)
        {
            return Err(bad(format!(
                "member {name:?} declares {len} bytes at offset {offset}, past the archive's end ({size} bytes)"
            )));
        }
        Ok(Source::Tar { file: path.to_owned(), members })
    }

    pub fn has(&self, name: &str) -> bool {
        match self {
            Source::Dir(dir) => dir.join(name).is_file(),
            Source::Tar { members, .. } => members.contains_key(name),
        }
    }

    /// The size of member `name`.
    pub fn size(&self, name: &str) -> Option<u64> {
        match self {
            Source::Dir(dir) => std::fs::symlink_metadata(dir.join(name)).ok().map(|m| m.len()),
            Source::Tar { members, .. } => members.get(name).map(|m| m.1),
        }
    }

    /// Member `name`, to read. In a directory, a member must be a plain
    /// file of it (no link, no `..`).
    pub fn read(&self, name: &str) -> Result<Box<dyn Read>, ImageError> {
        let missing = || self.bad(format!("{name:?} is missing"));
        match self {
            Source::Dir(dir) => {
                let path = normal_parts(Path::new(name)).ok_or_else(missing)?;
                let path = dir.join(path);
                if !std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_file()) {
                    return Err(missing());
                }
                let file = File::open(&path).map_err(|_| missing())?;
                Ok(Box::new(file))
            }
            Source::Tar { file, members } => {
                let (offset, size) = *members.get(name).ok_or_else(missing)?;
                let io = |source| ImageError::Io { what: "reading", path: file.clone(), source };
                let mut f = File::open(file).map_err(io)?;
                f.seek(SeekFrom::Start(offset)).map_err(io)?;
                Ok(Box::new(f.take(size)))
            }
        }
    }

    fn name(&self) -> PathBuf {
        match self {
            Source::Dir(dir) => dir.clone(),
            Source::Tar { file, .. } => file.clone(),
        }
    }

    fn bad(&self, why: String) -> ImageError {
        ImageError::BadArchive { file: self.name(), why }
    }

    /// A small JSON member, read whole (at most [`JSON_MAX`] bytes).
    fn bytes(&self, name: &str) -> Result<Vec<u8>, ImageError> {
        let size = self.size(name).ok_or_else(|| self.bad(format!("{name:?} is missing")))?;
        if size > JSON_MAX {
            return Err(
                self.bad(format!("{name:?} is {size} bytes, more than a JSON document may be"))
            );
        }
        let mut bytes = Vec::new();
        self.read(name)?
            .take(JSON_MAX)
            .read_to_end(&mut bytes)
            .map_err(|e| self.bad(format!("{name:?}: {e}")))?;
        Ok(bytes)
    }

    fn json(&self, name: &str) -> Result<(Vec<u8>, Value), ImageError> {
        let bytes = self.bytes(name)?;
        let value = serde_json::from_slice(&bytes).map_err(|e| self.bad(format!("{name}: {e}")))?;
        Ok((bytes, value))
    }

    /// Every image the archive holds.
    pub fn images(&self) -> Result<Vec<ArchiveImage>, ImageError> {
        if self.has("manifest.json") {
            self.docker_archive()
        } else if self.has("oci-layout") {
            self.oci_layout()
        } else {
            Err(self.bad(
                "neither a docker-archive (no manifest.json) nor an OCI layout (no oci-layout); a root file system tarball is imported with `mini-docker import`".into(),
            ))
        }
    }

    fn docker_archive(&self) -> Result<Vec<ArchiveImage>, ImageError> {
        let (_, manifest) = self.json("manifest.json")?;
        let list =
            manifest.as_array().ok_or_else(|| self.bad("manifest.json: not a list".into()))?;
        let mut images = Vec::new();
        for item in list {
            let config_name = item["Config"].as_str().unwrap_or("");
            let config = self.bytes(config_name)?;
            // The config's name is its digest (`<hex>.json`, or
            // `blobs/sha256/<hex>` from Docker 25 on).
            let stem = Path::new(config_name).file_name().and_then(|n| n.to_str()).unwrap_or("");
            let stem = stem.strip_suffix(".json").unwrap_or(stem);
            if is_hex64(stem) && hex(&Sha256::digest(&config)) != stem {
                return Err(self.bad(format!("{config_name}: content does not match its digest")));
            }
            let diff_ids = crate::image::store::Store::layers_of(&config)
                .map_err(|why| self.bad(format!("{config_name}: {why}")))?;
            let names: Vec<&str> = item["Layers"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            if names.len() != diff_ids.len() {
                return Err(self.bad(format!(
                    "{config_name}: {} layers in manifest.json, {} diff IDs in the config",
                    names.len(),
                    diff_ids.len()
                )));
            }
            let mut layers = Vec::new();
            for (name, diff_id) in names.iter().zip(diff_ids) {
                let path = normal_name(name);
                let size =
                    self.size(&path).ok_or_else(|| self.bad(format!("{name:?} is missing")))?;
                layers.push(LayerBlob { path, diff_id, digest: None, size });
            }
            let tags = self.tags(item["RepoTags"].as_array().into_iter().flatten())?;
            images.push(ArchiveImage { config, tags, layers });
        }
        Ok(images)
    }

    fn oci_layout(&self) -> Result<Vec<ArchiveImage>, ImageError> {
        let (_, index) = self.json("index.json")?;
        let mut images = Vec::new();
        for descriptor in index["manifests"].as_array().into_iter().flatten() {
            let tag = descriptor["annotations"]["io.containerd.image.name"]
                .as_str()
                .or_else(|| descriptor["annotations"]["org.opencontainers.image.ref.name"].as_str())
                // A bare tag (skopeo's `oci:DIR:1`) names no repository.
                .filter(|name| name.contains(['/', ':']));
            let mut manifest = self.blob_json(descriptor)?;
            // An index inside the index (one manifest per platform): the
            // one for this machine, bounded.
            for _ in 0..4 {
                if manifest.get("layers").is_some() {
                    break;
                }
                let chosen = manifest["manifests"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|m| {
                        let p = &m["platform"];
                        p.is_null()
                            || (p["os"] == "linux" && p["architecture"] == host_architecture())
                    })
                    .cloned()
                    .ok_or_else(|| {
                        self.bad(format!("no manifest for linux/{}", host_architecture()))
                    })?;
                manifest = self.blob_json(&chosen)?;
            }
            let config_name = self.blob_name(&manifest["config"])?;
            let config = self.bytes(&config_name)?;
            self.check_digest(&manifest["config"], &config)?;
            let diff_ids = crate::image::store::Store::layers_of(&config)
                .map_err(|why| self.bad(format!("config: {why}")))?;
            let descriptors = manifest["layers"].as_array().cloned().unwrap_or_default();
            if descriptors.len() != diff_ids.len() {
                return Err(self.bad(format!(
                    "{} layers in the manifest, {} diff IDs in the config",
                    descriptors.len(),
                    diff_ids.len()
                )));
            }
            let mut layers = Vec::new();
            for (layer, diff_id) in descriptors.iter().zip(diff_ids) {
                let media = layer["mediaType"].as_str().unwrap_or("");
                if !media.contains("tar") || media.contains("encrypted") {
                    return Err(self.bad(format!("layer media type {media:?} is not supported")));
                }
                let path = self.blob_name(layer)?;
                let digest = path.rsplit('/').next().map(str::to_owned);
                let size = self.declared_size(layer, &path)?;
                layers.push(LayerBlob { path, diff_id, digest, size });
            }
            let tags = self.tags(tag.map(Value::from).iter())?;
            images.push(ArchiveImage { config, tags, layers });
        }
        if images.is_empty() {
            return Err(self.bad("index.json lists no image".into()));
        }
        Ok(images)
    }

    /// `blobs/sha256/<hex>` for a descriptor's digest (checked to be one
    /// before it becomes a name).
    fn blob_name(&self, descriptor: &Value) -> Result<String, ImageError> {
        let digest = descriptor["digest"].as_str().unwrap_or("");
        match digest.strip_prefix("sha256:").filter(|h| is_hex64(h)) {
            Some(hex) => Ok(format!("blobs/sha256/{hex}")),
            None => Err(self.bad(format!("digest {digest:?} is not sha256:<64 hex digits>"))),
        }
    }

    /// The size a descriptor declares, which must be the blob's.
    fn declared_size(&self, descriptor: &Value, name: &str) -> Result<u64, ImageError> {
        let actual = self.size(name).ok_or_else(|| self.bad(format!("{name:?} is missing")))?;
        let declared = descriptor["size"].as_u64().unwrap_or(actual);
        if declared != actual {
            return Err(self.bad(format!(
                "{name}: the descriptor declares {declared} bytes, the archive holds {actual}"
            )));
        }
        Ok(actual)
    }

    fn check_digest(&self, descriptor: &Value, bytes: &[u8]) -> Result<(), ImageError> {
        let name = self.blob_name(descriptor)?;
        if !name.ends_with(&hex(&Sha256::digest(bytes))) {
            return Err(self.bad(format!("{name}: content does not match its digest")));
        }
        Ok(())
    }

    fn blob_json(&self, descriptor: &Value) -> Result<Value, ImageError> {
        let name = self.blob_name(descriptor)?;
        self.declared_size(descriptor, &name)?;
        let (bytes, value) = self.json(&name)?;
        self.check_digest(descriptor, &bytes)?;
        Ok(value)
    }

    /// The tags an archive gives, checked (a name is refused rather than
    /// stored when it is not a valid reference).
    fn tags<'v>(&self, names: impl Iterator<Item = &'v Value>) -> Result<Vec<String>, ImageError> {
        names
            .filter_map(Value::as_str)
            .map(|name| {
                normalize_reference(name)
                    .ok_or_else(|| self.bad(format!("tag {name:?} is not a valid image reference")))
            })
            .collect()
    }
}

/// A manifest's member name as the index spells it (`./x` is `x`).
fn normal_name(name: &str) -> String {
    normal_parts(Path::new(name)).map(|p| p.to_string_lossy().into_owned()).unwrap_or_default()
}

/// A symbolic link's target inside the archive, relative to the link's
/// directory; `None` when it leaves the archive.
fn resolve_link(base: &Path, target: &Path) -> Option<String> {
    if target.is_absolute() {
        return None;
    }
    let mut parts: Vec<String> = base.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    for part in target.components() {
        match part {
            std::path::Component::Normal(p) => parts.push(p.to_string_lossy().into_owned()),
            std::path::Component::ParentDir => {
                parts.pop()?;
            }
            std::path::Component::CurDir => {}
            _ => return None,
        }
    }
    Some(parts.join("/"))
}

pub fn host_architecture() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_stay_inside() {
        let base = Path::new("0465b0");
        assert_eq!(resolve_link(base, Path::new("../c7fd.tar")).as_deref(), Some("c7fd.tar"));
        assert_eq!(resolve_link(base, Path::new("../../etc/passwd")), None);
        assert_eq!(resolve_link(base, Path::new("/etc/passwd")), None);
    }
}
