//! `mini-docker load`: every image of a docker-archive or an OCI layout
//! (a directory or a tar of one, plain or compressed, from a file or from
//! standard input) into the store.
//!
//! In order:
//! 1. the input becomes a [`Source`]: a directory or a tar file is read in
//!    place; a pipe (`podman save | mini-docker load`) or a compressed tar
//!    is first copied, decompressed, into the staging directory, since an
//!    archive's index (`manifest.json`) may come after the layers;
//! 2. the source lists its images (`archive.rs`), configs and manifests
//!    checked against their digests;
//! 3. each layer the store lacks is unpacked into the staging directory
//!    (`layer.rs`), while two digests are computed on the way through:
//!    the blob's (OCI: as stored, compressed) and the diff ID (the tar's,
//!    uncompressed), which the image's config lists; a mismatch refuses
//!    the whole load;
//! 4. one `rename(2)` per new layer and image moves the result into the
//!    store ([`Store::commit`]).
//!
//! A failure or a signal at any step leaves only the staging directory,
//! removed on the way out (and by the next load if this one was killed).

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use crate::image::archive::{ArchiveImage, Source};
use crate::image::interrupt::{self, Watched};
use crate::image::layer::{self, Hashing, Notes};
use crate::image::store::{NewImage, Staging, Store};
use crate::image::{ImageError, Progress, create_dir};

/// Where `load` reads from.
pub enum Input<'a> {
    /// `-i PATH`: a file or an OCI layout directory.
    Path(&'a Path),
    /// Standard input.
    Stdin,
}

/// What a load stored: each image's ID (hex) and tags.
#[derive(Debug)]
pub struct Loaded {
    pub images: Vec<(String, Vec<String>)>,
    pub notes: Vec<String>,
}

pub fn load(data_root: &Path, input: Input, progress: &dyn Progress) -> Result<Loaded, ImageError> {
    interrupt::catch();
    let store = Store::new(data_root);
    let staging = store.staging("load")?;
    let result = load_into(&store, &staging, input, progress);
    progress.done();
    match (result, interrupt::caught()) {
        (_, Some(signal)) => Err(ImageError::Interrupted(signal.to_string())),
        (result, None) => result,
    }
}

fn load_into(
    store: &Store,
    staging: &Staging,
    input: Input,
    progress: &dyn Progress,
) -> Result<Loaded, ImageError> {
    let source = open(input, staging, progress)?;
    let images = source.images()?;
    // Each layer once, however many images of the archive list it, and
    // not at all when the store has it already.
    let mut wanted = Vec::new();
    let mut seen = BTreeSet::new();
    for image in &images {
        for layer in &image.layers {
            if !store.has_layer(&layer.diff_id) && seen.insert(layer.diff_id.clone()) {
                wanted.push(layer.clone());
            }
        }
    }
    let total: u64 = wanted.iter().map(|l| l.size).sum();
    let mut notes = Notes::default();
    for (n, layer) in wanted.iter().enumerate() {
        progress.layer(n + 1, wanted.len(), &layer.diff_id, total);
        let dir = staging.layer(&layer.diff_id);
        let diff = dir.join("diff");
        create_dir(&diff, 0o755)?;
        let reader = Watched { inner: source.read(&layer.path)?, progress: |n| progress.bytes(n) };
        let mut blob = Hashing::new(reader);
        let bad = |why: String| ImageError::BadArchive { file: PathBuf::from(&layer.path), why };
        let mut tar = Hashing::new(
            layer::decompress(&mut blob).map_err(|e| bad(format!("decompressing: {e}")))?,
        );
        let size = layer::unpack_mapped(&mut tar, &diff, &mut notes, &[])?;
        let (diff_id, _) = tar.finish().map_err(|e| bad(layer::error_chain(&e)))?;
        let (digest, _) = blob.finish().map_err(|e| bad(layer::error_chain(&e)))?;
        // ANCHOR: verify
        if layer.digest.as_ref().is_some_and(|d| *d != digest) {
            return Err(bad(format!("content does not match its digest sha256:{digest}")));
        }
        if diff_id != layer.diff_id {
            return Err(bad(format!(
                "uncompressed, its digest is sha256:{diff_id}, not the config's diff ID sha256:{}",
                layer.diff_id
            )));
        }
        // ANCHOR_END: verify
        let size_file = dir.join("size");
        std::fs::write(&size_file, format!("{size}\n")).map_err(|source| ImageError::Io {
            what: "writing",
            path: size_file,
            source,
        })?;
    }
    if let Some(signal) = interrupt::caught() {
        return Err(ImageError::Interrupted(signal.to_string()));
    }
    let new: Vec<NewImage> = images
        .iter()
        .map(|ArchiveImage { config, tags, .. }| NewImage {
            config: config.clone(),
            tags: tags.clone(),
        })
        .collect();
    store.commit(staging, &new)?;
    Ok(Loaded {
        images: new.iter().map(|i| (i.id(), i.tags.clone())).collect(),
        notes: notes.lines(),
    })
}

/// The input as a [`Source`]: read in place when it can be, else copied
/// (and decompressed) into the staging directory first.
fn open(input: Input, staging: &Staging, progress: &dyn Progress) -> Result<Source, ImageError> {
    let (reader, name): (Box<dyn Read>, PathBuf) = match input {
        Input::Path(path) if path.is_dir() => return Source::open(path),
        Input::Path(path) => {
            let io = |source| ImageError::Io { what: "reading", path: path.to_owned(), source };
            let mut file = BufReader::new(File::open(path).map_err(io)?);
            let start = file.fill_buf().map_err(io)?;
            if layer::Compression::sniff(start) == layer::Compression::None {
                return Source::open(path);
            }
            (Box::new(file), path.to_owned())
        }
        Input::Stdin => {
            // A file given as `< FILE` is read in place like `-i FILE`.
            let stdin = Path::new("/proc/self/fd/0");
            if std::fs::metadata(stdin).is_ok_and(|m| m.is_file()) {
                return open(Input::Path(stdin), staging, progress);
            }
            (Box::new(std::io::stdin().lock()), PathBuf::from("standard input"))
        }
    };
    let spooled = staging.dir.join("archive.tar");
    let io = |what, path: &Path| {
        let path = path.to_owned();
        move |source| ImageError::Io { what, path, source }
    };
    let mut out = File::create(&spooled).map_err(io("creating", &spooled))?;
    progress.layer(0, 0, "", 0);
    let watched = Watched { inner: reader, progress: |n| progress.bytes(n) };
    let mut plain = layer::decompress(watched).map_err(io("reading", &name))?;
    std::io::copy(&mut plain, &mut out).map_err(io("reading", &name))?;
    drop(out);
    Source::open(&spooled)
}
