//! `mini-docker import FILE NAME`: make a stored image from a rootfs
//! tarball (`docker export`, plain or gzip) or an OCI image layout (a
//! directory, or a tar of one: what `docker save` and `skopeo copy oci:`
//! produce).
//!
//! An OCI layout is content-addressed: `index.json` points (by SHA-256
//! digest) to a manifest, which points to a config (the default `Env`,
//! `Cmd`, `Entrypoint`, `WorkingDir`, `User`, and `ExposedPorts` and
//! `Labels`, read by `ImageConfig::from_oci`) and to the layers, tarballs
//! applied in order. A layer deletes a file of the layers below with a *whiteout*,
//! an empty `.wh.NAME` entry, and hides a whole directory's old contents
//! with `.wh..wh..opq`.
//!
//! Archives are untrusted. An entry named `../x` or `/etc/x`, or one that
//! goes through a symbolic link (`link -> /etc`, then `link/passwd`), would
//! write outside the image: each is refused with an error naming the
//! entry. Everything is unpacked into a staging directory that is renamed
//! into place only at the end, so a failed import leaves nothing behind.
//!
//! It takes the data root as a plain path and imports `image/` (its error
//! type among them) and mini-runc's `rootfs::remove_tree`.

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Component, Path, PathBuf};

use mini_runc::rootfs::remove_tree;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::image::{ImageConfig, ImageError, create_dir, store_dir, valid_name};

/// Unpacks `file` into `<store>/NAME/rootfs` (and the OCI config into
/// `<store>/NAME/config.json`), the store being under `data_root`.
pub fn import(data_root: &Path, file: &Path, name: &str) -> Result<(), ImageError> {
    if !valid_name(name) || name == crate::image::HOST {
        return Err(ImageError::BadName(name.to_owned()));
    }
    let store = store_dir(data_root);
    let target = store.join(name);
    if target.exists() {
        return Err(ImageError::Exists(name.to_owned()));
    }
    create_dir(&store, 0o755)?;
    let staging = Staging(store.join(format!(".import-{name}-{}", std::process::id())));
    remove_tree(&staging.0);
    create_dir(&staging.0, 0o755)?;
    let rootfs = staging.0.join("rootfs");
    create_dir(&rootfs, 0o755)?;
    let rootfs = rootfs.canonicalize().map_err(|source| ImageError::Io {
        what: "resolving",
        path: rootfs.clone(),
        source,
    })?;
    let config = unpack(file, &staging.0, &rootfs)?;
    let config_path = staging.0.join("config.json");
    std::fs::write(&config_path, config.to_json()).map_err(|source| ImageError::Io {
        what: "writing",
        path: config_path,
        source,
    })?;
    std::fs::rename(&staging.0, &target).map_err(|source| ImageError::Io {
        what: "renaming into",
        path: target,
        source,
    })?;
    std::mem::forget(staging);
    Ok(())
}

/// A directory removed on drop, unless forgotten: a failed import leaves
/// nothing behind.
struct Staging(PathBuf);

impl Drop for Staging {
    fn drop(&mut self) {
        remove_tree(&self.0);
    }
}

fn unpack(file: &Path, staging: &Path, rootfs: &Path) -> Result<ImageConfig, ImageError> {
    let bad = |why: String| ImageError::BadArchive { file: file.to_owned(), why };
    if file.is_dir() {
        if !file.join("oci-layout").is_file() {
            return Err(bad("a directory must be an OCI image layout (no oci-layout file)".into()));
        }
        return apply_oci(file, rootfs);
    }
    if tar_contains(file, "oci-layout")? {
        let layout = staging.join("layout");
        create_dir(&layout, 0o700)?;
        let layout = layout.canonicalize().map_err(|source| ImageError::Io {
            what: "resolving",
            path: layout,
            source,
        })?;
        apply_layer(open_tar(file)?, &layout, false)?;
        let config = apply_oci(&layout, rootfs)?;
        remove_tree(&layout);
        return Ok(config);
    }
    apply_layer(open_tar(file)?, rootfs, false)?;
    Ok(ImageConfig::default())
}

/// A tar file, gunzipped on the fly when it starts with gzip's magic bytes.
fn open_tar(file: &Path) -> Result<Box<dyn Read>, ImageError> {
    let io = |source| ImageError::Io { what: "reading", path: file.to_owned(), source };
    let mut magic = [0u8; 2];
    let mut probe = File::open(file).map_err(io)?;
    let gzip = probe.read_exact(&mut magic).is_ok() && magic == [0x1f, 0x8b];
    let reader = BufReader::new(File::open(file).map_err(io)?);
    Ok(if gzip { Box::new(flate2::read::GzDecoder::new(reader)) } else { Box::new(reader) })
}

/// Whether the archive has a top-level entry `name` (`./name` too).
fn tar_contains(file: &Path, name: &str) -> Result<bool, ImageError> {
    let bad =
        |e: std::io::Error| ImageError::BadArchive { file: file.to_owned(), why: e.to_string() };
    let mut archive = tar::Archive::new(open_tar(file)?);
    for entry in archive.entries().map_err(bad)? {
        let entry = entry.map_err(bad)?;
        let path = entry.path().map_err(bad)?;
        if normal_parts(&path).is_some_and(|p| p == Path::new(name)) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The path without `.` and leading `/`; `None` when it has a `..`.
fn normal_parts(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::Normal(p) => out.push(p),
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) | Component::ParentDir => return None,
        }
    }
    Some(out)
}

/// Unpacks one tar stream into `dest` (a canonical path). With
/// `whiteouts`, `.wh.` entries delete from what earlier layers unpacked.
fn apply_layer(reader: impl Read, dest: &Path, whiteouts: bool) -> Result<(), ImageError> {
    let refused = |entry: &str, why: &str| ImageError::Refused {
        entry: entry.to_owned(),
        why: why.to_owned(),
    };
    let mut archive = tar::Archive::new(reader);
    archive.set_preserve_permissions(true);
    archive.set_preserve_ownerships(nix::unistd::geteuid().is_root());
    archive.set_overwrite(true);
    archive.set_unpack_xattrs(false);
    let bad =
        |e: std::io::Error| ImageError::BadArchive { file: dest.to_owned(), why: e.to_string() };
    let mut written: HashSet<PathBuf> = HashSet::new();
    let mut dir_modes: Vec<(PathBuf, u32)> = Vec::new();
    for entry in archive.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        let raw = entry.path().map_err(bad)?.into_owned();
        let shown = raw.display().to_string();
        if raw.is_absolute() {
            return Err(refused(&shown, "absolute path"));
        }
        let Some(path) = normal_parts(&raw) else {
            return Err(refused(&shown, "a '..' component would leave the image"));
        };
        let kind = entry.header().entry_type();
        if kind.is_hard_link() {
            let target = entry.link_name().map_err(bad)?.unwrap_or_default().into_owned();
            if target.is_absolute() || normal_parts(&target).is_none() {
                return Err(refused(&shown, "hard link to a path outside the image"));
            }
        }
        let file_name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if whiteouts && let Some(hidden) = file_name.strip_prefix(".wh.") {
            let parent = path.parent().unwrap_or(Path::new(""));
            let dir = real_dir(dest, parent, &shown)?;
            if let Some(dir) = dir {
                if hidden == ".wh..opq" {
                    clear_dir(&dir, &dest.join(parent), dest, &written)?;
                } else {
                    remove_tree(&dir.join(hidden));
                }
            }
            continue;
        }
        if kind.is_character_special() || kind.is_block_special() {
            continue; // mini-docker mounts its own /dev; mknod needs real root
        }
        if kind.is_dir() {
            dir_modes.push((path.clone(), entry.header().mode().unwrap_or(0o755)));
        }
        match entry.unpack_in(dest) {
            Ok(true) => {}
            Ok(false) => return Err(refused(&shown, "outside the image")),
            Err(e) => return Err(refused(&shown, &error_chain(&e))),
        }
        if kind.is_dir() {
            // Writable for the entries still to come; the mode is set at the end.
            set_mode(&dest.join(&path), 0o700);
        }
        written.insert(path);
    }
    for (path, mode) in dir_modes.iter().rev() {
        set_mode(&dest.join(path), mode & 0o7777);
    }
    Ok(())
}

/// chmod, but only on a real directory (never through a link).
fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    if path.symlink_metadata().is_ok_and(|m| m.is_dir()) {
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode));
    }
}

/// `dest/parent` when every component is a real directory (no link that
/// could lead out); `None` when it does not exist (nothing to delete).
fn real_dir(dest: &Path, parent: &Path, shown: &str) -> Result<Option<PathBuf>, ImageError> {
    let mut dir = dest.to_owned();
    for part in parent.components() {
        dir.push(part);
        match dir.symlink_metadata() {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(ImageError::Refused {
                    entry: shown.to_owned(),
                    why: "whiteout through a symbolic link or a file".to_owned(),
                });
            }
            Err(_) => return Ok(None),
        }
    }
    Ok(Some(dir))
}

/// An opaque whiteout: remove what earlier layers put in `dir`, keeping
/// what this layer already wrote there.
fn clear_dir(
    dir: &Path,
    relative_to: &Path,
    dest: &Path,
    written: &HashSet<PathBuf>,
) -> Result<(), ImageError> {
    let entries = std::fs::read_dir(dir).map_err(|source| ImageError::Io {
        what: "reading",
        path: dir.to_owned(),
        source,
    })?;
    for entry in entries.filter_map(Result::ok) {
        let full = relative_to.join(entry.file_name());
        let rel = full.strip_prefix(dest).unwrap_or(&full).to_owned();
        if !written.contains(&rel) {
            remove_tree(&entry.path());
        }
    }
    Ok(())
}

/// Applies an OCI image layout's layers into `rootfs`; returns its config.
fn apply_oci(layout: &Path, rootfs: &Path) -> Result<ImageConfig, ImageError> {
    let bad = |why: String| ImageError::BadArchive { file: layout.to_owned(), why };
    let mut doc = read_json(&layout.join("index.json"))?;
    // An index may point to another index (one per platform): follow, bounded.
    for _ in 0..4 {
        if doc.get("layers").is_some() {
            break;
        }
        let manifests = doc["manifests"].as_array().ok_or_else(|| bad("no manifests".into()))?;
        let chosen = manifests
            .iter()
            .find(|m| {
                let p = &m["platform"];
                p.is_null() || (p["os"] == "linux" && p["architecture"] == host_architecture())
            })
            .ok_or_else(|| bad(format!("no manifest for linux/{}", host_architecture())))?;
        doc = read_json(&blob(layout, chosen)?)?;
    }
    let layers = doc["layers"].as_array().ok_or_else(|| bad("no layers in the manifest".into()))?;
    let config = read_json(&blob(layout, &doc["config"])?)?;
    for layer in layers {
        let path = blob(layout, layer)?;
        let media = layer["mediaType"].as_str().unwrap_or("");
        let file = File::open(&path).map_err(|source| ImageError::Io {
            what: "reading",
            path: path.clone(),
            source,
        })?;
        let reader = BufReader::new(file);
        if media.ends_with("tar+gzip") || media.ends_with("tar.gzip") {
            apply_layer(flate2::read::GzDecoder::new(reader), rootfs, true)?;
        } else if media.ends_with(".tar") || media.ends_with("tar") {
            apply_layer(reader, rootfs, true)?;
        } else {
            return Err(bad(format!("layer media type {media:?} is not supported")));
        }
    }
    Ok(ImageConfig::from_oci(&config["config"]))
}

fn host_architecture() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

fn read_json(path: &Path) -> Result<Value, ImageError> {
    let text = std::fs::read(path).map_err(|source| ImageError::Io {
        what: "reading",
        path: path.to_owned(),
        source,
    })?;
    serde_json::from_slice(&text)
        .map_err(|e| ImageError::BadArchive { file: path.to_owned(), why: e.to_string() })
}

/// The blob a descriptor names, after checking its SHA-256 digest: the
/// digest is also the file name, so it is checked before it becomes a path.
fn blob(layout: &Path, descriptor: &Value) -> Result<PathBuf, ImageError> {
    let digest = descriptor["digest"].as_str().unwrap_or("");
    let bad = |why: &str| ImageError::BadArchive {
        file: layout.to_owned(),
        why: format!("blob {digest:?}: {why}"),
    };
    let hex =
        digest.strip_prefix("sha256:").ok_or_else(|| bad("only sha256 digests are supported"))?;
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return Err(bad("malformed digest"));
    }
    let path = layout.join("blobs/sha256").join(hex);
    let mut file = File::open(&path).map_err(|_| bad("missing"))?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher).map_err(|_| bad("unreadable"))?;
    let actual: String = hasher.finalize().iter().map(|b| format!("{b:02x}")).collect();
    if actual != hex {
        return Err(bad("content does not match its digest"));
    }
    Ok(path)
}

/// An error and its causes on one line (the tar crate puts the system
/// call's error in `source`).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text = format!("{text}: {c}");
        cause = c.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_paths() {
        assert_eq!(normal_parts(Path::new("./a/./b")), Some(PathBuf::from("a/b")));
        assert_eq!(normal_parts(Path::new("a/../b")), None);
        assert_eq!(normal_parts(Path::new("/a")), None);
    }
}
