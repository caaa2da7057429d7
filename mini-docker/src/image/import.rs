//! `mini-docker import FILE|- [REPOSITORY[:TAG]]`: an image of one layer
//! from a root file system tarball (`docker export`, `tar -C rootfs -c .`;
//! plain, gzip or zstd), as `docker import` makes one.
//!
//! The tarball becomes the image's only layer, unpacked and stored as any
//! loaded layer is (`layer.rs`, `store.rs`); the image's config is written
//! here: no defaults, and `rootfs.diff_ids` holding the SHA-256 of the
//! uncompressed tar, computed while it is unpacked.
//!
//! An image archive (`docker save`, `podman save`, an OCI layout) is not a
//! root file system: unpacked as one, its `manifest.json` and layer
//! tarballs would end up as files in `/`. One is recognised by its
//! top-level `manifest.json` or `oci-layout`, and refused with a pointer
//! to `load`.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::image::archive::host_architecture;
use crate::image::interrupt::{self, Watched};
use crate::image::layer::{self, Hashing, Notes};
use crate::image::store::{NewImage, Store, normalize_reference};
use crate::image::{ImageError, Progress, create_dir};

/// What an import stored: the image ID (hex) and what it could not make.
#[derive(Debug)]
pub struct Imported {
    pub id: String,
    pub notes: Vec<String>,
}

/// Imports `file` (`None`: standard input) as `reference`, if given.
pub fn import(
    data_root: &Path,
    file: Option<&Path>,
    reference: Option<&str>,
    progress: &dyn Progress,
) -> Result<Imported, ImageError> {
    let tag = match reference {
        Some(r) => Some(normalize_reference(r).ok_or_else(|| ImageError::BadName(r.to_owned()))?),
        None => None,
    };
    let shown = file.map_or(PathBuf::from("-"), Path::to_owned);
    if file.is_some_and(Path::is_dir) {
        return Err(ImageError::ImageArchive(shown.display().to_string()));
    }
    interrupt::catch();
    let store = Store::new(data_root);
    let staging = store.staging("import")?;
    let result = (|| {
        let io = |source| ImageError::Io { what: "reading", path: shown.clone(), source };
        let (reader, size): (Box<dyn Read>, u64) = match file {
            Some(path) => {
                let f = File::open(path).map_err(io)?;
                let size = f.metadata().map(|m| m.len()).unwrap_or(0);
                (Box::new(f), size)
            }
            None => (Box::new(std::io::stdin().lock()), 0),
        };
        progress.layer(1, 1, "", size);
        let watched = Watched { inner: reader, progress: |n| progress.bytes(n) };
        let bad = |e: std::io::Error| ImageError::BadArchive {
            file: shown.clone(),
            why: layer::error_chain(&e),
        };
        let mut tar = Hashing::new(layer::decompress(watched).map_err(bad)?);
        let work = staging.dir.join("layer");
        create_dir(&work.join("diff"), 0o755)?;
        let mut notes = Notes::default();
        let markers = ["manifest.json", "oci-layout"];
        let bytes = layer::unpack_mapped(&mut tar, &work.join("diff"), &mut notes, &markers)
            .map_err(|e| match e {
                ImageError::ImageArchive(_) => {
                    ImageError::ImageArchive(shown.display().to_string())
                }
                other => other,
            })?;
        let (diff_id, _) = tar.finish().map_err(bad)?;
        let size_file = work.join("size");
        std::fs::write(&size_file, format!("{bytes}\n")).map_err(|source| ImageError::Io {
            what: "writing",
            path: size_file,
            source,
        })?;
        let layer_dir = staging.layer(&diff_id);
        create_dir(layer_dir.parent().unwrap_or(&staging.dir), 0o700)?;
        std::fs::rename(&work, &layer_dir).map_err(|source| ImageError::Io {
            what: "renaming",
            path: layer_dir,
            source,
        })?;
        if let Some(signal) = interrupt::caught() {
            return Err(ImageError::Interrupted(signal.to_string()));
        }
        let image = NewImage { config: config(&diff_id), tags: tag.into_iter().collect() };
        store.commit(&staging, std::slice::from_ref(&image))?;
        Ok(Imported { id: image.id(), notes: notes.lines() })
    })();
    progress.done();
    match (result, interrupt::caught()) {
        (_, Some(signal)) => Err(ImageError::Interrupted(signal.to_string())),
        (result, None) => result,
    }
}

/// The config of an imported image: what `docker import` writes, without
/// defaults (`--change` is not supported).
fn config(diff_id: &str) -> Vec<u8> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
    let created = mini_runc::rfc3339::format(now, None);
    let config = serde_json::json!({
        "architecture": host_architecture(),
        "os": "linux",
        "created": created,
        "config": {},
        "rootfs": { "type": "layers", "diff_ids": [format!("sha256:{diff_id}")] },
        "history": [{ "created": created, "comment": "imported by mini-docker" }],
    });
    serde_json::to_vec(&config).unwrap_or_default()
}
